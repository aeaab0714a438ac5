"""The closed-form direct linear forecaster (tsseq.linear): known answers, anchors, GCV, intervals, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from tsseq.errors import ConfigError, DataError, MissingValuesError
from tsseq.linear import PENALTY_GRID, Linear


def frame(values: np.ndarray, start: str = "2024-01-01") -> pd.DataFrame:
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    index = pd.date_range(start, periods=len(values), freq="h")
    return pd.DataFrame(values, index=index, columns=[f"c{k}" for k in range(values.shape[1])])


def ar_channels(rows: int = 400, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Independent AR(2) channels around different levels."""
    rng = np.random.default_rng(seed)
    values = np.zeros((rows, channels))
    for t in range(2, rows):
        values[t] = 0.6 * values[t - 1] - 0.2 * values[t - 2] + rng.standard_normal(channels)
    return values + np.arange(channels) * 5.0


def pooled_design(arrays: list[np.ndarray], length: int, horizon: int, anchor: str, scale: str = "none"):
    """The pooled, anchored (and scaled) design built row by row: (inputs (n, L), targets (n, H))."""
    rows_x, rows_y = [], []
    for values in arrays:
        for channel in range(values.shape[1]):
            column = values[:, channel]
            for start in range(len(column) - length - horizon + 1):
                x, y = column[start : start + length], column[start + length : start + length + horizon]
                level = {"last": x[-1], "mean": x.mean(), "none": 0.0}[anchor]
                spread = x.std() if scale == "window" else 1.0
                rows_x.append((x - level) / spread)
                rows_y.append((y - level) / spread)
    return np.array(rows_x), np.array(rows_y)


@pytest.mark.parametrize("anchor, scale", [("none", "none"), ("mean", "none"), ("last", "window")])
def test_least_squares_equals_a_row_by_row_fit_of_the_pooled_design(anchor, scale):
    values = ar_channels()
    model = Linear(input_length=12, horizon=4, anchor=anchor, scale=scale, penalty=0.0).fit(frame(values))
    inputs, targets = pooled_design([values], 12, 4, anchor, scale)
    design = np.column_stack([inputs, np.ones(len(inputs))])
    solution = np.linalg.lstsq(design, targets, rcond=None)[0]
    np.testing.assert_allclose(model.coef_, solution[:-1].T, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, solution[-1], atol=1e-8)
    rank = np.linalg.matrix_rank(inputs - inputs.mean(axis=0))  # 12; 11 for the mean anchor (the inputs sum to 0)
    assert model.n_windows_ == len(inputs) and model.penalty_ == 0.0 and model.df_ == pytest.approx(1.0 + rank)


def test_a_fixed_penalty_equals_sklearn_ridge_on_the_anchored_design_across_series():
    first, second = ar_channels(300, 2, seed=1), ar_channels(250, 2, seed=2) * 3.0
    long = pd.concat({"s1": frame(first), "s2": frame(second)}, names=["series", "timestamp"])
    model = Linear(input_length=10, horizon=3, anchor="last", scale="none", penalty=0.3).fit(long)
    inputs, targets = pooled_design([first, second], 10, 3, "last")
    centred = inputs - inputs.mean(axis=0)
    alpha = 0.3 * np.trace(centred.T @ centred) / inputs.shape[1]  # lambda n s^2
    reference = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(inputs, targets)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-8)


def test_gcv_picks_the_grid_point_of_least_gcv_computed_from_the_hat_matrix():
    values = ar_channels(160, 2, seed=3)
    model = Linear(input_length=16, horizon=2, anchor="last").fit(frame(values))
    inputs, targets = pooled_design([values], 16, 2, "last", "window")
    n = len(inputs)
    centred, centred_targets = inputs - inputs.mean(axis=0), targets - targets.mean(axis=0)
    unit = np.trace(centred.T @ centred) / inputs.shape[1]
    scores = []
    for penalty in PENALTY_GRID:
        gram = centred.T @ centred + penalty * unit * np.eye(inputs.shape[1])
        hat = centred @ np.linalg.pinv(gram) @ centred.T
        df = 1.0 + np.trace(hat)
        rss = np.sum((centred_targets - hat @ centred_targets) ** 2)
        scores.append(np.inf if df >= n else (rss / (n * 2)) / (1 - df / n) ** 2)
    best = max(i for i, score in enumerate(scores) if score <= min(scores) * (1 + 1e-12))
    assert model.penalty_ == pytest.approx(PENALTY_GRID[best])
    assert model.df_ == pytest.approx(1.0 + np.trace(centred @ np.linalg.pinv(
        centred.T @ centred + PENALTY_GRID[best] * unit * np.eye(16)) @ centred.T), rel=1e-8)  # fmt: skip


def test_scaled_windows_make_the_forecast_scale_equivariant_whatever_the_series_are_pooled_with():
    first, second = ar_channels(300, 1, seed=5), ar_channels(280, 1, seed=6)

    def pooled(factor: float, scale: str) -> np.ndarray:
        long = pd.concat({"s1": frame(first), "s2": frame(factor * second + 3.0)}, names=["series", "timestamp"])
        forecast = Linear(input_length=24, horizon=6, scale=scale).fit(long).predict(6)
        return forecast.xs("s2", level="series").to_numpy()

    np.testing.assert_allclose(pooled(1000.0, "window") - 3.0, 1000.0 * (pooled(1.0, "window") - 3.0), rtol=1e-8)
    assert not np.allclose(pooled(1000.0, "none") - 3.0, 1000.0 * (pooled(1.0, "none") - 3.0), rtol=1e-3)


def test_the_data_units_do_not_change_the_fit():
    values = ar_channels(300, 2, seed=7)
    for scale in ("none", "window"):
        big, tiny = (Linear(input_length=12, horizon=4, scale=scale).fit(frame(values * factor)) for factor in (1.0, 1e-9))
        np.testing.assert_allclose(tiny.coef_, big.coef_, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(tiny.predict(4).to_numpy(), 1e-9 * big.predict(4).to_numpy(), rtol=1e-6)
        assert tiny.penalty_ == big.penalty_


def test_a_noise_free_linear_recurrence_is_forecast_exactly():
    steps = np.arange(300)
    values = np.column_stack([np.sin(2 * np.pi * steps / 24), 2 + np.cos(2 * np.pi * steps / 17)])
    model = Linear(input_length=30, horizon=10, penalty=0.0).fit(frame(values[:250]))
    forecast = model.predict(10).to_numpy()
    np.testing.assert_allclose(forecast, values[250:260], atol=1e-8)


@pytest.mark.parametrize("anchor, moves", [("last", True), ("mean", True), ("none", False)])
def test_an_anchored_forecast_moves_with_the_level_of_its_window(anchor, moves):
    values = ar_channels()
    model = Linear(input_length=24, horizon=6, anchor=anchor).fit(frame(values))
    windows = np.lib.stride_tricks.sliding_window_view(values, 24, axis=0).transpose(0, 2, 1)[:5]
    shifted = model.predict_windows(windows + 100.0, 6) - model.predict_windows(windows, 6)
    assert np.allclose(shifted, 100.0, atol=1e-8) == moves


def test_intervals_scale_with_the_window_and_cover_new_windows():
    values = ar_channels(3000, 2, seed=4)
    model = Linear(input_length=24, horizon=4).fit(frame(values[:2000]))
    windows = np.lib.stride_tricks.sliding_window_view(values[2000:], 28, axis=0).transpose(0, 2, 1)
    inputs, truth = windows[:, :24], windows[:, 24:]
    bounds = model.predict_windows(inputs, 4, quantiles=[0.1, 0.9])  # (N, H, C, 2)
    covered = (truth >= bounds[..., 0]) & (truth <= bounds[..., 1])
    assert 0.75 < covered.mean() < 0.85  # nominal 0.8 on windows it was not fitted on
    width = np.diff(bounds, axis=-1)[..., 0]
    wider = model.predict_windows(inputs[:3] * 2.0, 4, quantiles=[0.1, 0.9])
    np.testing.assert_allclose(np.diff(wider, axis=-1)[..., 0], 2.0 * width[:3], rtol=1e-10)
    constant = np.full((1, 24, 2), 7.0)  # no change at all: the channel's typical scale, not an empty interval
    flat = model.predict_windows(constant, 4, quantiles=[0.1, 0.9])
    assert (np.diff(flat, axis=-1) > 0).all()
    paths = model.sample(4, 2000, seed=0).to_numpy().reshape(2000, 4, 2)
    sd = (model.predict(4, quantiles=[0.5, 0.8413447460685429]).to_numpy().reshape(4, 2, 3)[..., 2]
          - model.predict(4).to_numpy())  # fmt: skip
    np.testing.assert_allclose(paths.std(axis=0), sd, rtol=0.06)


def test_bad_parameters_and_data_are_refused_by_name():
    data = frame(ar_channels(100, 1))
    with pytest.raises(ConfigError, match="The 'anchor' parameter must be one of last, mean, none. Got 'lats'"):
        Linear(anchor="lats").fit(data)
    with pytest.raises(ConfigError, match="The 'scale' parameter must be one of window, none. Got 'std'"):
        Linear(scale="std").fit(data)
    with pytest.raises(DataError, match="Every training window of 16 rows is constant: Linear with scale='window'"):
        Linear(input_length=12, horizon=4).fit(frame(np.full(50, 2.0)))
    with pytest.raises(ConfigError, match="The 'penalty' parameter must be a finite float >= 0 or 'gcv'. Got -1"):
        Linear(penalty=-1).fit(data)
    with pytest.raises(ConfigError, match="'penalty' parameter must be a finite float >= 0 or 'gcv'. Got 'gvc'"):
        Linear(penalty="gvc").fit(data)
    with pytest.raises(ConfigError, match="'input_length' parameter must be an int >= 1"):
        Linear(input_length=0).fit(data)
    with pytest.raises(DataError, match="fits on windows of 120 rows; the longest series has 100"):
        Linear(input_length=96, horizon=24).fit(data)
    with pytest.raises(DataError, match="The series has 100 rows; Linear with input_length=120 needs at least 120"):
        Linear(input_length=120, horizon=4).fit(data)
    gappy = data.copy()
    gappy.iloc[40, 0] = np.nan
    with pytest.raises(MissingValuesError, match="Linear cannot use missing values: the series, channel 0"):
        Linear(input_length=12, horizon=4).fit(gappy)
    model = Linear(input_length=12, horizon=4).fit(data)
    with pytest.raises(ConfigError, match="fitted for horizon=4; it cannot forecast 5 steps"):
        model.predict(5)
    with pytest.raises(DataError, match="windows of 8 steps; Linear with input_length=12 reads 12 values"):
        model.predict_windows(np.zeros((2, 8, 1)), 4)
