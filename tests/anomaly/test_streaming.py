"""Tests of tsseq.anomaly.streaming: the score of t is bit-identical whatever follows t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.streaming import OnlineDetector, score_stream
from tsseq.data.synthetic import generate
from tsseq.errors import ConfigError, DataError

TINY = {"epochs": 2, "batch_size": 64, "progress": False}
TRAIN_ROWS, CUT = 200, 290

CAUSAL_DETECTORS = {
    "lstm_ae": dict(model_params={"hidden_size": 8}, training=TINY),
    "lstm_ae_centred": dict(model_params={"hidden_size": 8}, training=TINY, centre_windows=True),
    "gru_ae_likelihood": dict(model_params={"hidden_size": 8}, training=TINY, scorer="likelihood",
                              scorer_params={"historic_window": 100}),
    "segment_ae_mahalanobis": dict(model_params={"hidden_size": 8, "segment_length": 4}, training=TINY,
                                   scorer="mahalanobis", threshold="dspot", threshold_params={"q": 1e-3, "level": 0.9}),
    "lstm_vae": dict(model_params={"hidden_size": 8}, training=TINY, threshold="ksigma"),
    "patchtst_ae": dict(model_params={"patch_length": 4, "d_model": 8}, training=TINY, threshold="quantile"),
    "online_residual": dict(historic_window=50, reestimation_period=10, suppression=0.0),
    "ar_residual": dict(threshold="telemanom", threshold_params={"batch_size": 1, "window_size": 20}),
    "var_residual": dict(scorer="mahalanobis", threshold="adaptive"),
    "interval": dict(combine="fisher", threshold="spot", threshold_params={"q": 1e-3, "level": 0.9}),
    "interval_lstm_normal": dict(forecaster="lstm", threshold="quantile", forecaster_params={
        "hidden_size": 8, "training": {**TINY, "loss": "normal"}}, steps_ahead=2),
    "online_interval": dict(suppression=0.1, alarm_level=3.0),
}  # fmt: skip
NO_WINDOW = ("online_residual", "online_interval")
NAMES = {"lstm_ae_centred": "lstm_ae", "gru_ae_likelihood": "gru_ae", "segment_ae_mahalanobis": "segment_ae",
         "interval_lstm_normal": "interval"}  # fmt: skip


def _detector(kind: str):
    window = {} if kind in NO_WINDOW else {"window_length": 16}
    return make_detector(NAMES.get(kind, kind), **window, **CAUSAL_DETECTORS[kind])


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return generate(400, channels=2, anomalies={"spike": 3}, clean_start=TRAIN_ROWS, seed=5).frame


def _perturbed_after(frame: pd.DataFrame, cut: int) -> pd.DataFrame:
    changed = frame.copy()
    changed.iloc[cut + 1 :] = np.random.default_rng(9).normal(0, 5, size=changed.iloc[cut + 1 :].shape)
    return changed


@pytest.mark.parametrize(
    "kind, refit_every",
    [(kind, None) for kind in CAUSAL_DETECTORS] + [("lstm_ae", 60), ("ar_residual", 60), ("interval", 60)],
)
def test_scores_up_to_t_ignore_every_later_point(series: pd.DataFrame, kind: str, refit_every) -> None:
    series = series.iloc[:, :1] if kind == "online_residual" else series  # univariate only
    original = score_stream(_detector(kind), series, train_rows=TRAIN_ROWS, refit_every=refit_every).frame
    perturbed = _perturbed_after(series, CUT)
    changed = score_stream(_detector(kind), perturbed, train_rows=TRAIN_ROWS, refit_every=refit_every).frame
    before, after = original.iloc[: CUT + 1], changed.iloc[: CUT + 1]
    assert before["score"].iloc[TRAIN_ROWS:].notna().all()
    for column in original.columns:
        left, right = before[column].to_numpy(), after[column].to_numpy()
        same = (left == right) | (np.isnan(left) & np.isnan(right)) if left.dtype.kind == "f" else left == right
        assert same.all(), f"{kind}: {column} before t changed when only points after t did"
    assert (original["score"].iloc[CUT + 1 :] != changed["score"].iloc[CUT + 1 :]).any()  # the test can fail


def test_stream_result_layout_and_refits(series: pd.DataFrame) -> None:
    result = score_stream(_detector("ar_residual"), series, train_rows=TRAIN_ROWS, refit_every=80)
    # Telemanom's threshold compares the smoothed errors: written beside the scores
    assert list(result.frame.columns) == ["score", "smoothed_score", "is_anomaly", "threshold"]
    assert result.frame["score"].iloc[:TRAIN_ROWS].isna().all() and result.causal and result.frame.attrs["causal"]
    assert result.refits == tuple(series.index[[TRAIN_ROWS - 1, TRAIN_ROWS + 79, TRAIN_ROWS + 159]])


def test_streaming_refuses_non_causal_detectors_and_bad_rows(series: pd.DataFrame) -> None:
    offline = make_detector("bilstm_ae", window_length=16, causal=False, aggregation="mean", training=TINY)
    with pytest.raises(ConfigError, match="causal=True"):
        score_stream(offline, series, train_rows=TRAIN_ROWS)
    with pytest.raises(DataError, match="train_rows"):
        score_stream(_detector("ar_residual"), series, train_rows=len(series))


@pytest.mark.parametrize("kind", ["lstm_ae", "gru_ae_likelihood", "ar_residual", "interval"])
def test_online_detector_point_by_point_matches_the_replay(series: pd.DataFrame, kind: str) -> None:
    detector = _detector(kind)
    replay = score_stream(detector, series, train_rows=TRAIN_ROWS).frame
    online = OnlineDetector(detector.fit(series.iloc[:TRAIN_ROWS]))
    context = detector.context_rows()
    updates = [online.update(row) for row in series.iloc[TRAIN_ROWS - context :].to_numpy()]
    scores = np.array([score for score, _ in updates])[context:]
    flags = np.array([flag for _, flag in updates])[context:]
    np.testing.assert_allclose(scores, replay["score"].iloc[TRAIN_ROWS:], rtol=0, atol=1e-5)
    assert (flags == replay["is_anomaly"].iloc[TRAIN_ROWS:].to_numpy()).mean() > 0.99


def test_online_detector_refits_on_the_rows_it_received(series: pd.DataFrame) -> None:
    detector = _detector("ar_residual").fit(series.iloc[:TRAIN_ROWS])
    fitted_coef = detector.forecaster_.coef_.copy()
    online = OnlineDetector(detector, refit_every=100, max_train_rows=80)
    before = online.detector.forecaster_
    scores = [online.update(row)[0] for row in series.iloc[TRAIN_ROWS:].to_numpy()]
    assert online.detector.forecaster_ is not before  # refitted ...
    assert not np.array_equal(online.detector.forecaster_.coef_, fitted_coef)
    assert np.array_equal(detector.forecaster_.coef_, fitted_coef)  # ... on a copy of the detector
    assert np.isfinite(scores[16:]).all()
    with pytest.raises(DataError, match="2 values"):
        online.update([1.0])


def test_detect_refits_on_the_last_refit_window_rows(series: pd.DataFrame, capsys) -> None:
    """tsseq detect's refit_window is score_stream's max_train_rows: each refit reads only the last rows."""
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig
    from tsseq.anomaly.job import detect_frame
    from tsseq.cli import main
    from tsseq.config import DataConfig

    def job(**refits) -> pd.DataFrame:
        config = DetectionConfig(
            name="s", data=DataConfig(csv="s.csv"), detector=DetectorConfig("ar_residual"), window=16,
            train_rows=TRAIN_ROWS, **refits,
        )  # fmt: skip
        return detect_frame(config, series, "s.csv").table

    sliding = job(refit_every=80, refit_window=100)
    expected = score_stream(_detector("ar_residual"), series, train_rows=TRAIN_ROWS, refit_every=80, max_train_rows=100)
    np.testing.assert_allclose(sliding["score"], expected.frame["score"], rtol=0, atol=1e-12)
    expanding = job(refit_every=80)
    assert (sliding["score"].iloc[TRAIN_ROWS + 80 :] != expanding["score"].iloc[TRAIN_ROWS + 80 :]).any()
    with pytest.raises(ConfigError, match="refit_window must be >= 1 and needs refit_every"):
        DetectionConfig(name="s", data=DataConfig(csv="s.csv"), refit_window=100)
    with pytest.raises(ConfigError, match="refit_window"):
        DetectionConfig(name="s", data=DataConfig(csv="s.csv"), refit_every=80, refit_window=0)
    assert main(["detect", "s.csv", "--output", "out.csv", "--refit-window", "100"]) == 2
    assert "needs refit_every" in capsys.readouterr().err
