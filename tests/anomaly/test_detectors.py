"""Tests of tsseq.anomaly.detectors: injected anomalies found, NaN policy, causal rules, sklearn contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tsseq.anomaly.detectors import (
    DETECTORS,
    ForecastResidualDetector,
    ReconstructionDetector,
    make_detector,
)
from tsseq.data.synthetic import generate
from tsseq.errors import ConfigError, DataError

TINY = {"epochs": 3, "batch_size": 64, "learning_rate": 0.01, "progress": False}
WINDOW = 16


def tiny(name: str, **params: object):
    if name == "patchtst_ae":
        params = {"training": TINY, **params}
    elif DETECTORS[name][0] is ReconstructionDetector:
        params = {"training": TINY, "model_params": {"hidden_size": 8}, **params}
    return make_detector(name, window_length=WINDOW, **params)


@pytest.fixture(scope="module")
def spiky():
    """600 hourly rows; 6 spikes of 5 std after the 300 clean training rows."""
    return generate(600, channels=1, anomalies={"spike": 6}, magnitude=5.0, clean_start=320, seed=7)


def _auc(series, scores: pd.Series) -> float:
    """ROC-AUC of ``scores`` (any stretch of the series) against the injected labels, where scored."""
    labels = series.labels.any(axis=1).reindex(scores.index).to_numpy()
    finite = scores.notna().to_numpy()
    return roc_auc_score(labels[finite], scores.to_numpy()[finite])


@pytest.mark.parametrize(
    "name, params",
    [
        ("lstm_ae", {}),
        ("gru_ae", {"scorer": "squared"}),
        ("segment_ae", {"model_params": {"hidden_size": 8, "segment_length": 4}}),
        ("dilated_ae", {"model_params": {"hidden_size": 8}, "scorer": "mahalanobis"}),
        ("lstm_vae", {}),
        ("patchtst_ae", {"model_params": {"patch_length": 4}}),
        ("ar_residual", {}),
        ("ar_residual", {"scorer": "likelihood", "scorer_params": {"historic_window": 200, "averaging_window": 1}}),
        ("bilstm_ae", {"causal": False, "aggregation": "max"}),
    ],
)
def test_detectors_rank_injected_spikes_first(spiky, name: str, params: dict) -> None:
    detector = tiny(name, **params).fit(spiky.frame.iloc[:300])
    scores = detector.score(spiky.frame)
    assert _auc(spiky, scores.iloc[300:]) > 0.97
    assert scores.attrs["causal"] is detector.causal


def test_multivariate_mahalanobis_detector_finds_spikes_in_either_channel() -> None:
    series = generate(600, channels=3, anomalies={"spike": 6}, magnitude=6.0, clean_start=320, seed=3)
    detector = tiny("gru_ae", scorer="mahalanobis").fit(series.frame.iloc[:300])
    result = detector.detect(series.frame)
    assert list(result.columns) == ["score", "is_anomaly"] and result.index.equals(series.frame.index)
    assert _auc(series, result["score"].iloc[300:]) > 0.97


def test_nan_policy_for_the_first_points() -> None:
    frame = generate(300, seed=1).frame
    causal_ae = tiny("lstm_ae").fit(frame)
    scores = causal_ae.score(frame)
    assert scores.iloc[: WINDOW - 1].isna().all() and scores.iloc[WINDOW - 1 :].notna().all()
    forecast = tiny("ar_residual").fit(frame)
    assert forecast.score(frame).iloc[:WINDOW].isna().all() and forecast.score(frame).iloc[WINDOW:].notna().all()
    offline = tiny("lstm_ae", causal=False, aggregation="mean").fit(frame)
    assert offline.score(frame).notna().all()
    flags = causal_ae.predict(frame)
    assert flags.dtype == bool and not flags.iloc[: WINDOW - 1].any()


def test_causal_mode_refuses_what_looks_ahead() -> None:
    frame = generate(200, seed=1).frame
    with pytest.raises(ConfigError, match="aggregation='last'"):
        tiny("lstm_ae", aggregation="mean").fit(frame)
    with pytest.raises(ConfigError, match="bidirectional"):
        tiny("bilstm_ae").fit(frame)
    with pytest.raises(ConfigError, match="batch_size"):
        tiny("ar_residual", threshold="telemanom").fit(frame)
    tiny("ar_residual", threshold="telemanom", threshold_params={"batch_size": 1}).fit(frame)


def test_contamination_refits_without_the_worst_training_windows() -> None:
    series = generate(500, anomalies={"level_shift": 2}, anomaly_length=(10, 15), magnitude=5.0, seed=4)
    detector = tiny("gru_ae", contamination=0.1, threshold="quantile", threshold_params={"q": 0.99}).fit(series.frame)
    assert np.isfinite(detector.contamination_threshold_)
    assert _auc(series, detector.score(series.frame)) > 0.8
    with pytest.raises(ConfigError, match="contamination"):
        tiny("gru_ae", contamination=0.7).fit(series.frame)


def test_get_params_clone_and_set_params() -> None:
    detector = make_detector("segment_ae", window_length=32, scorer_params={"reduction": "max"})
    assert detector.get_params()["model"] == "segment_ae"
    copy = clone(detector)
    assert copy.get_params() == detector.get_params() and copy is not detector
    assert copy.set_params(window_length=8).window_length == 8 and detector.window_length == 32
    forecast = ForecastResidualDetector(forecaster="naive")
    assert clone(forecast).get_params() == forecast.get_params()


def test_threshold_is_fitted_on_the_normal_rows_scores() -> None:
    """Every training row's score (in-sample, then the held-out rows'), no labels (threshold_study.py)."""
    frame = generate(400, seed=2).frame
    detector = tiny("ar_residual", threshold="quantile", threshold_params={"q": 0.9}).fit(frame)
    assert len(detector.validation_scores_) == 80  # validation_fraction 0.2 of 400 rows
    assert len(detector.normal_scores_) == 400
    np.testing.assert_allclose(detector.normal_scores_, detector.score(frame).to_numpy())
    np.testing.assert_allclose(detector.normal_scores_[-80:], detector.validation_scores_)
    assert detector.threshold_ == pytest.approx(np.nanquantile(detector.normal_scores_, 0.9))
    unthresholded = tiny("ar_residual", threshold=None).fit(frame)
    assert unthresholded.threshold_ is None
    with pytest.raises(ConfigError, match="threshold=None"):
        unthresholded.predict(frame)


def test_bad_names_parameters_and_data_are_reported() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'lstm_ae'"):
        make_detector("lstm_ea")
    with pytest.raises(ConfigError, match="no parameter 'windowlength'"):
        make_detector("lstm_ae", windowlength=3)
    with pytest.raises(ConfigError, match="Unknown reconstruction model"):
        ReconstructionDetector(model="cnn_ae", training=TINY).fit(generate(100, seed=0).frame)
    frame = generate(200, channels=2, seed=0).frame
    fitted = tiny("ar_residual").fit(frame)
    with pytest.raises(DataError, match="columns"):
        fitted.score(frame.rename(columns={"channel_1": "other"}))
    with pytest.raises(DataError, match="DatetimeIndex"):
        fitted.score(frame.to_numpy())


@pytest.mark.parametrize("name", ["ar_residual", "var_residual", "interval"])
def test_a_noise_free_series_is_not_flagged_for_its_rounding_and_its_spike_is(name: str) -> None:
    # A pure sine is forecast to within 1e-14; new rows round a few times worse than the training rows did, and a
    # third of them were flagged before residuals under RESOLUTION counted as zero.
    steps = np.arange(1500)
    frame = pd.DataFrame({"v": np.sin(2 * np.pi * steps / 24)}, index=pd.date_range("2024-01-01", periods=1500, freq="h"))
    detector = make_detector(name, causal=True).fit(frame.iloc[:450])
    assert not detector.predict(frame).iloc[450:].any()
    frame.iloc[1000, 0] += 0.5
    flags = detector.predict(frame)
    assert flags.iloc[1000] and flags.iloc[450:].sum() <= 8
