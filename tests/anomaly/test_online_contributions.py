"""Per-channel contributions of the one-row-at-a-time OnlineDetector: the batch path's, summing to the score, causal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.streaming import OnlineDetector, score_stream
from tsseq.errors import ConfigError

TINY = {"epochs": 2, "batch_size": 64, "seed": 0, "progress": False, "threads": 1}
TRAIN_ROWS = 300

DETECTORS = {
    "ar_residual absolute": ("ar_residual", {"scorer": "absolute", "threshold": "quantile"}),
    "ar_residual mahalanobis": ("ar_residual", {"scorer": "mahalanobis"}),
    "ar_residual likelihood": ("ar_residual", {"scorer": "likelihood", "scorer_params": {"historic_window": 60}}),
    "var_residual": ("var_residual", {}),
    "gru_ae": ("gru_ae", {"training": TINY, "model_params": {"hidden_size": 8}}),
    "interval": ("interval", {}),
    "auto": ("auto", {"training": TINY}),
    "online_interval": ("online_interval", {"suppression": 0.05, "alarm_level": 3.0}),
}


def _wide(rows: int = 380) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    values = np.column_stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24), np.sin(2 * np.pi * t / 12)])
    values = values + 0.1 * rng.standard_normal(values.shape)
    values[340, 1] += 2.0  # a spike in channel b, a shift in channel c
    values[360:370, 2] += 1.5
    return pd.DataFrame(values, columns=["a", "b", "c"], index=pd.date_range("2024-01-01", periods=rows, freq="h"))


def _detector(label: str):
    name, params = DETECTORS[label]
    window = {} if name == "online_interval" else {"window_length": 24}
    return make_detector(name, **window, **params)


def _online(fitted, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(T - TRAIN_ROWS,)`` and contributions ``(T - TRAIN_ROWS, C)`` fed one row at a time."""
    context = 0 if getattr(fitted, "learns_online", False) else fitted.context_rows()
    online = OnlineDetector(fitted, contributions=True)
    updates = [online.update(row) for row in frame.iloc[TRAIN_ROWS - context :].to_numpy()]
    assert all(np.isnan(parts).all() for _, _, parts in updates[:context])  # the warm-up
    scores = np.array([score for score, _, _ in updates])[context:]
    return scores, np.stack([parts for _, _, parts in updates])[context:]


@pytest.mark.parametrize("label", list(DETECTORS))
def test_online_contributions_equal_the_batch_paths_and_sum_to_the_score(label: str) -> None:
    frame = _wide()
    replay = score_stream(_detector(label), frame, train_rows=TRAIN_ROWS, contributions=True).frame
    scores, parts = _online(_detector(label).fit(frame.iloc[:TRAIN_ROWS]), frame)
    batch_parts = replay[["contribution_a", "contribution_b", "contribution_c"]].to_numpy()[TRAIN_ROWS:]
    np.testing.assert_allclose(scores, replay["score"].to_numpy()[TRAIN_ROWS:], rtol=0, atol=1e-5)  # paths agree
    np.testing.assert_allclose(parts, batch_parts, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parts.sum(axis=1), scores, rtol=1e-10, atol=1e-12)


def test_online_contributions_are_exact_for_an_additive_scorer_and_name_the_faulty_channel() -> None:
    frame = _wide()
    fitted = _detector("ar_residual absolute").fit(frame.iloc[:TRAIN_ROWS])
    _, parts = _online(fitted, frame)
    # The absolute scorer's contribution of channel c is |e_c| / C: the spike's row is channel b's.
    assert np.argmax(parts[340 - TRAIN_ROWS]) == 1 and np.argmax(parts[360 - TRAIN_ROWS]) == 2
    forecaster = fitted.forecaster_
    scaled = fitted.scaler_.transform(frame.to_numpy())
    window = np.ascontiguousarray(scaled[340 - 24 : 340][None])
    error = scaled[340] - forecaster.predict_windows(window, 1)[0, 0]
    np.testing.assert_allclose(parts[340 - TRAIN_ROWS], np.abs(error) / 3, rtol=1e-10)


@pytest.mark.parametrize("label", ["ar_residual likelihood", "online_interval"])
def test_online_contributions_are_causal(label: str) -> None:
    frame = _wide()
    changed = frame.copy()
    changed.iloc[350:] = changed.iloc[350:] * 3.0 + 7.0  # every later row
    fitted = _detector(label).fit(frame.iloc[:TRAIN_ROWS])
    (left_scores, left), (right_scores, right) = _online(fitted, frame), _online(fitted, changed)
    np.testing.assert_array_equal(left[:50], right[:50])  # rows 300 .. 349: unchanged, bit for bit
    assert not np.allclose(left_scores[50:], right_scores[50:])


def test_online_interval_update_with_contributions_is_update_and_contributions_in_one_pass() -> None:
    frame = _wide()
    one = _detector("online_interval").fit(frame.iloc[:TRAIN_ROWS])
    other = _detector("online_interval").fit(frame.iloc[:TRAIN_ROWS])
    expected = one.contributions(frame.iloc[TRAIN_ROWS:340])  # leaves the detector unchanged
    scores, parts = one.update_with_contributions(frame.iloc[TRAIN_ROWS:340])
    pd.testing.assert_frame_equal(parts, expected)
    pd.testing.assert_series_equal(scores, other.update(frame.iloc[TRAIN_ROWS:340]))
    pd.testing.assert_series_equal(one.score(frame.iloc[340:]), other.score(frame.iloc[340:]))  # same state after


def test_online_detector_refuses_contributions_it_cannot_give() -> None:
    frame = _wide()[["a"]]
    fitted = make_detector("online_residual").fit(frame.iloc[:TRAIN_ROWS])
    with pytest.raises(ConfigError, match="gives no per-channel contributions"):
        OnlineDetector(fitted, contributions=True)
    with pytest.raises(ConfigError, match="'contributions' parameter must be True or False"):
        OnlineDetector(fitted, contributions="yes")
    assert len(OnlineDetector(fitted).update([0.0])) == 2  # without contributions: (score, is_anomaly) as before
