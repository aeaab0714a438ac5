"""The lag filter (lag_clip): known answers, a spike that no longer echoes, a lasting change let in, exact chunking."""

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.lag_filter import filtered_windows, residual_scale
from tsseq.anomaly.streaming import OnlineDetector, score_stream
from tsseq.errors import ConfigError


def last_value(windows: np.ndarray) -> np.ndarray:
    """A forecaster that repeats each window's last row."""
    return windows[:, -1]


def test_known_answer_a_spike_is_clipped_in_every_window_that_holds_it() -> None:
    values = np.zeros((8, 1))
    values[4] = 10.0
    windows = filtered_windows(values, 2, last_value, np.array([1.0]), clip=3.0, longest_run=2)
    raw = np.lib.stride_tricks.sliding_window_view(values, 2, axis=0).transpose(0, 2, 1)
    assert windows.shape == raw.shape == (7, 2, 1)
    # The spike enters the lags as its forecast (0) plus 3 scales; the rows after it are forecast from that.
    np.testing.assert_array_equal(windows[3, :, 0], [0.0, 3.0])  # the window ending at the spike
    np.testing.assert_array_equal(windows[4, :, 0], [3.0, 0.0])  # 0 is 3 below its forecast 3: not clipped
    # The window ending at row 6 starts cleaning from the observed rows 3-4, the spike among them: its first forecasts
    # echo it, and its rows 5-6 are clipped towards them (10 - 3, then 7 - 3); a third such row would end the run.
    np.testing.assert_array_equal(windows[5, :, 0], [7.0, 4.0])
    np.testing.assert_array_equal(windows[[0, 1, 2, 6]], raw[[0, 1, 2, 6]])


def test_a_loose_clip_gives_the_observed_windows_and_nans_pass_through() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 2))
    values[20, 1] = np.nan
    raw = np.lib.stride_tricks.sliding_window_view(values, 5, axis=0).transpose(0, 2, 1)
    windows = filtered_windows(values, 5, lambda w: w.mean(axis=1), np.ones(2), clip=100.0, longest_run=2)
    np.testing.assert_array_equal(windows, raw)  # NaN where the observed windows hold it, nowhere else


def test_a_run_longer_than_longest_run_enters_the_lags_as_observed() -> None:
    values = np.zeros((12, 1))
    values[4:] = 10.0  # a level shift that stays
    kept = filtered_windows(values, 4, last_value, np.array([1.0]), clip=1.0, longest_run=2)
    # rows 4 and 5 are clipped (1, then 2); row 6 is the third clipped row: the run is a lasting change, observed
    np.testing.assert_array_equal(kept[2, :, 0], [0.0, 0.0, 1.0, 2.0])  # the window ending at row 5
    np.testing.assert_array_equal(kept[3, :, 0], [0.0, 10.0, 10.0, 10.0])  # ... at row 6
    held = filtered_windows(values, 4, last_value, np.array([1.0]), clip=1.0, longest_run=100)
    np.testing.assert_array_equal(held[3, :, 0], [0.0, 1.0, 2.0, 3.0])
    # finite memory: the window ending at row 11 starts cleaning from the observed rows 4-7, all at the new level
    np.testing.assert_array_equal(held[8, :, 0], [10.0] * 4)


def test_residual_scale_is_the_median_absolute_residual_with_a_fallback_and_a_floor() -> None:
    residuals = np.array([[1.0, 0.0, 0.0, np.nan], [-1.0, 0.0, 0.0, np.nan], [3.0, 0.0, 0.0, np.nan],
                          [-3.0, 0.0, 5.0, np.nan], [0.0, np.nan, 0.0, np.nan]])  # fmt: skip
    # median |r|; all zero: the floor; mostly zero: 1.2533 mean |r|; no finite residual: the floor
    np.testing.assert_allclose(residual_scale(residuals), [1.4826 * 1.0, 1e-6, 1.2533 * 1.0, 1e-6])


def test_residual_scale_of_a_quantised_series_does_not_collapse() -> None:
    # A series sitting at one value, which the forecaster misses by the same 0.03 on most rows: the spread about
    # the residuals' median is zero there, the spread about the forecast is not.
    residuals = np.r_[np.full(95, 0.03), np.linspace(-5.0, 5.0, 5)][:, None]
    np.testing.assert_allclose(residual_scale(residuals), [1.4826 * 0.03])
    windows = filtered_windows(np.r_[np.full(10, 0.03), 0.0, 0.03][:, None], 2, lambda w: np.zeros((len(w), 1)),
                               residual_scale(residuals), clip=3.0, longest_run=2)  # fmt: skip
    raw = np.lib.stride_tricks.sliding_window_view(np.r_[np.full(10, 0.03), 0.0, 0.03], 2)
    np.testing.assert_array_equal(windows[:, :, 0], raw)  # no normal row is clipped


def ar1_with_a_spike(rows: int = 700, spike: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.zeros(rows)
    for t in range(1, rows):
        x[t] = 0.9 * x[t - 1] + rng.normal()
    x[spike] += 25.0
    return pd.DataFrame({"x": x}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))


@pytest.mark.parametrize("name", ["var_residual", "interval"])
def test_the_rows_after_a_spike_score_as_normal_rows_only_with_the_filter(name: str) -> None:
    frame = ar1_with_a_spike()
    scores = {}
    for clip in (None, 3.0):
        detector = make_detector(name, window_length=8, lag_clip=clip, threshold=None).fit(frame.iloc[:400])
        scores[clip] = detector.score(frame).to_numpy()
    normal = np.nanquantile(scores[3.0][:400], 0.99)
    assert scores[None][500] > 5 * normal and scores[3.0][500] == scores[None][500]  # the spike itself alike
    assert scores[None][501] > 3 * normal  # unfiltered, the lags echo it: 0.9 * 25 off
    assert scores[3.0][501] < normal


def test_scores_stream_and_chunk_as_the_whole_series() -> None:
    frame = ar1_with_a_spike()
    detector = make_detector("var_residual", window_length=8, lag_clip=3.0).fit(frame.iloc[:400])
    assert detector.context_rows() == 16  # the window and the rows its cleaning starts from
    whole = detector.score(frame).to_numpy()
    streamed = score_stream(detector, frame, train_rows=400).frame["score"].to_numpy()
    np.testing.assert_allclose(streamed[400:], whole[400:], rtol=1e-12)
    online = OnlineDetector(detector)
    for row in frame.iloc[400 - detector.context_rows() : 400].to_numpy():
        online.update(row)
    live = [online.update(row)[0] for row in frame.iloc[400:].to_numpy()]
    np.testing.assert_allclose(live, whole[400:], rtol=1e-12)


@pytest.mark.parametrize("bad", [0, -1.0, "3", True])
def test_a_bad_lag_clip_is_refused_by_name(bad) -> None:
    frame = ar1_with_a_spike()
    with pytest.raises(ConfigError, match="lag_clip"):
        make_detector("var_residual", lag_clip=bad).fit(frame.iloc[:400])
    with pytest.raises(ConfigError, match="lag_clip_run"):
        make_detector("interval", lag_clip=3.0, lag_clip_run=0).fit(frame.iloc[:400])


def test_it_scores_from_the_same_row_and_needs_no_more_training_rows() -> None:
    frame = ar1_with_a_spike(rows=200, spike=150)
    train = frame.iloc[:60]  # 48 training rows after the validation tail: one more than a window of 47 needs
    plain, filtered = (make_detector("var_residual", window_length=47, lag_clip=clip).fit(train) for clip in (None, 3.0))
    assert plain.first_scored_row() == filtered.first_scored_row() == 47 and filtered.context_rows() == 94
    scores = filtered.score(frame).to_numpy()
    assert np.isnan(scores[:47]).all() and np.isfinite(scores[47:]).all()
