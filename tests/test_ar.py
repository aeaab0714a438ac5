"""AR by batched least squares (tsseq.ar and the AR estimator) against statsmodels and plain OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from tsseq import ar
from tsseq.baselines import AR
from tsseq.errors import ConfigError, DataError


def simulate_ar(coef: list[float], length: int, seed: int, intercept: float = 1.0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burn_in = 100
    values = np.zeros(length + burn_in)
    for t in range(len(coef), len(values)):
        values[t] = intercept + np.dot(coef, values[t - len(coef) : t][::-1]) + noise * rng.normal()
    return values[burn_in:]


@pytest.fixture(scope="module")
def batch() -> list[np.ndarray]:
    """Series of different lengths, orders and levels."""
    return [
        simulate_ar([0.6], 80, seed=1),
        simulate_ar([0.4, -0.3, 0.5], 150, seed=6, intercept=20.0),
        simulate_ar([1.2, -0.5], 64, seed=3, intercept=-3.0, noise=0.5),
        simulate_ar([0.3, 0.0, 0.0, 0.4], 200, seed=4, intercept=1000.0, noise=10.0),
    ]


def lag_matrix(values: np.ndarray, lags: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain regression design ``[1, y_{t-1}, ..., y_{t-lags}]`` and target ``y_t`` for ``t >= first``."""
    rows = np.arange(first, len(values))
    design = np.column_stack([np.ones(len(rows))] + [values[rows - lag] for lag in range(1, lags + 1)])
    return design, values[rows]


def test_lagged_gram_equals_the_product_of_the_lag_matrix(batch: list[np.ndarray]) -> None:
    values, lengths = ar.pad_series(batch)
    first, stop = np.array([5, 7, 4, 9]), lengths - np.array([0, 3, 0, 10])
    gram = ar.lagged_gram(values, first, stop, np.array([1, 2, 3, 4, 0]))
    for series, start, end, result in zip(batch, first, stop, gram):
        design, target = lag_matrix(series[:end], 4, start)
        augmented = np.column_stack([design, target])
        np.testing.assert_allclose(result, augmented.T @ augmented, rtol=1e-10)


@pytest.mark.parametrize("order", [1, 2, 5, 12])
def test_fixed_order_coefficients_equal_statsmodels(batch: list[np.ndarray], order: int) -> None:
    fit = ar.fit_ar(batch, order=order)
    assert fit.criteria is None and fit.coef.shape == (4, order)
    for series, intercept, coef in zip(batch, fit.intercept, fit.coef):
        params = AutoReg(series, lags=order, trend="c").fit().params
        np.testing.assert_allclose(np.r_[intercept, coef], params, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("criterion", ["aic", "bic", "hqic"])
def test_selected_order_and_refit_equal_ar_select_order(batch: list[np.ndarray], criterion: str) -> None:
    max_order = 8
    fit = ar.fit_ar(batch, max_order=max_order, criterion=criterion)
    for series, order, intercept, coef, criteria in zip(batch, fit.order, fit.intercept, fit.coef, fit.criteria):
        selection = ar_select_order(series, maxlag=max_order, ic=criterion, trend="c")
        expected_order = 0 if selection.ar_lags is None else int(selection.ar_lags[-1])
        assert order == expected_order
        by_order = {0 if key == 0 else len(key): value for key, value in getattr(selection, criterion).items()}
        np.testing.assert_allclose(criteria, [by_order[p] for p in range(max_order + 1)], rtol=1e-10)
        params = selection.model.fit().params  # refit on the sample from the selected order
        np.testing.assert_allclose(np.r_[intercept, coef[:order]], params, rtol=1e-9, atol=1e-6)
        assert np.all(coef[order:] == 0)


def test_selection_prefers_the_simulated_orders(batch: list[np.ndarray]) -> None:
    fit = ar.fit_ar(batch, max_order=6, criterion="bic")
    np.testing.assert_array_equal(fit.order, [1, 3, 2, 4])


def test_recursive_forecast_equals_statsmodels(batch: list[np.ndarray]) -> None:
    fit = ar.fit_ar(batch, order=3)
    histories = np.stack([series[-3:] for series in batch])
    forecast = ar.forecast_recursive(fit.intercept, fit.coef, histories, horizon=10)
    for series, result in zip(batch, forecast):
        np.testing.assert_allclose(result, AutoReg(series, lags=3, trend="c").fit().forecast(10), rtol=1e-9)


def test_direct_models_equal_a_per_horizon_ols(batch: list[np.ndarray]) -> None:
    order, horizon = np.array([2, 3, 1, 4]), 5
    intercept, coef = ar.fit_direct(batch, order, horizon)
    assert intercept.shape == (4, horizon) and coef.shape == (4, horizon, 4)
    for series, p, series_intercept, series_coef in zip(batch, order, intercept, coef):
        for h in range(1, horizon + 1):
            origins = np.arange(p - 1, len(series) - h)
            design = np.column_stack([np.ones(len(origins))] + [series[origins - lag] for lag in range(p)])
            params = np.linalg.lstsq(design, series[origins + h], rcond=None)[0]
            np.testing.assert_allclose(np.r_[series_intercept[h - 1], series_coef[h - 1, :p]], params, rtol=1e-9, atol=1e-8)
            assert np.all(series_coef[h - 1, p:] == 0)
    forecast = ar.forecast_direct(intercept, coef, np.stack([series[-4:] for series in batch]), horizon=3)
    expected = intercept[:, :3] + np.einsum("bhp,bp->bh", coef[:, :3], np.stack([series[::-1][:4] for series in batch]))
    np.testing.assert_allclose(forecast, expected)


def test_constant_series_selects_order_zero_and_forecasts_the_constant() -> None:
    fit = ar.fit_ar([np.full(40, 7.5), simulate_ar([0.5], 40, seed=5)], max_order=4)
    assert fit.order[0] == 0 and fit.intercept[0] == pytest.approx(7.5)
    forecast = ar.forecast_recursive(fit.intercept, fit.coef, np.stack([np.full(4, 7.5), np.zeros(4)]), 3)
    np.testing.assert_allclose(forecast[0], 7.5)


def test_exactly_periodic_series_is_fitted_without_error() -> None:
    # y_t = y_{t-4}: the lags beyond 4 are collinear with the first ones.
    series = np.tile([1.0, 3.0, 2.0, 5.0], 12)
    fit = ar.fit_ar([series], order=8)
    forecast = ar.forecast_recursive(fit.intercept, fit.coef, series[None, -8:], horizon=8)
    np.testing.assert_allclose(forecast[0], np.tile([1.0, 3.0, 2.0, 5.0], 2), atol=1e-8)


def wide_frame(batch: list[np.ndarray]) -> pd.DataFrame:
    index = pd.date_range("2021-03-01", periods=80, freq="h", name="timestamp")
    return pd.DataFrame({"x": batch[0], "y": batch[1][-80:], "z": batch[2][-64:].repeat(2)[:80]}, index=index)


def test_estimator_on_a_multichannel_frame_equals_statsmodels_per_channel(batch: list[np.ndarray]) -> None:
    frame = wide_frame(batch)
    model = AR(max_order=5)
    assert model.fit(frame) is model
    assert model.order_.shape == (1, 3) and model.coef_.shape == (1, 3, model.order_.max())
    forecast = model.predict(6)
    assert list(forecast.columns) == ["x", "y", "z"]
    assert forecast.index[0] == frame.index[-1] + pd.Timedelta(hours=1) and len(forecast) == 6
    for channel, column in enumerate(frame.columns):
        selection = ar_select_order(frame[column].to_numpy(), maxlag=5, ic="aic", trend="c")
        assert model.order_[0, channel] == (0 if selection.ar_lags is None else selection.ar_lags[-1])
        result = selection.model.fit()
        np.testing.assert_allclose(model.intercept_[0, channel], result.params[0], rtol=1e-9)
        np.testing.assert_allclose(forecast[column].to_numpy(), result.forecast(6), rtol=1e-9)


def test_estimator_on_a_long_frame_with_series_of_different_lengths(batch: list[np.ndarray]) -> None:
    parts = []
    for name, series in zip("abcd", batch):
        index = pd.MultiIndex.from_arrays(
            [[name] * len(series), pd.date_range("2021-01-01", periods=len(series), freq="D")], names=["series", "timestamp"]
        )
        parts.append(pd.DataFrame({"value": series}, index=index))
    model = AR(order=2).fit(pd.concat(parts))
    forecast = model.predict(4)
    assert forecast.index.names == ["series", "timestamp"] and len(forecast) == 16
    for name, series in zip("abcd", batch):
        expected = AutoReg(series, lags=2, trend="c").fit().forecast(4)
        np.testing.assert_allclose(forecast.loc[name, "value"].to_numpy(), expected, rtol=1e-9)
    with pytest.raises(DataError, match="fitted on 4 series"):
        model.predict_windows(np.zeros((1, 5, 1)), 2)


@pytest.mark.parametrize("params", [{"max_order": 4}, {"order": 3, "strategy": "direct", "horizon": 6}])
def test_predict_windows_matches_predict_on_the_last_window(batch: list[np.ndarray], params: dict) -> None:
    frame = wide_frame(batch)
    model = AR(**params).fit(frame)
    windows = np.stack([frame.to_numpy()[-20:], frame.to_numpy()[-30:-10]])  # (2, 20, 3)
    result = model.predict_windows(windows, 5)
    assert result.shape == (2, 5, 3)
    np.testing.assert_allclose(result[0], model.predict(5).to_numpy(), rtol=1e-12)


def test_direct_estimator_uses_the_direct_models(batch: list[np.ndarray]) -> None:
    frame = wide_frame(batch)
    model = AR(order=2, strategy="direct", horizon=4).fit(frame)
    assert model.direct_coef_.shape == (1, 3, 4, 2)
    values = frame["y"].to_numpy()
    origins = np.arange(1, len(values) - 4)  # every origin with 2 lags and an observed y_{t+4}
    design = np.column_stack([np.ones(len(origins)), values[origins], values[origins - 1]])
    params = np.linalg.lstsq(design, values[origins + 4], rcond=None)[0]
    assert model.predict(4)["y"].iloc[3] == pytest.approx(params @ [1.0, values[-1], values[-2]], rel=1e-9)
    with pytest.raises(ConfigError, match="up to horizon=4"):
        model.predict(5)


def test_clone_and_get_params() -> None:
    model = AR(order=3, criterion="bic", strategy="direct", horizon=12)
    params = model.get_params()
    assert params == {
        "order": 3, "max_order": 10, "criterion": "bic", "strategy": "direct", "horizon": 12, "variance": "mle",
        "stable": True, "stable_tol": 0.01,
    }
    copy = clone(model)
    assert copy is not model and copy.get_params() == params
    assert copy.set_params(order=None).order is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order": 0}, "The 'order' parameter must be an int >= 1. Got 0 instead."),
        ({"max_order": -2}, "The 'max_order' parameter must be an int >= 1. Got -2 instead."),
        ({"criterion": "aicc"}, "Did you mean 'aic'?"),
        ({"strategy": "direkt"}, "Did you mean 'direct'?"),
        ({"strategy": "direct"}, "'horizon' parameter must be an int >= 1 when strategy='direct'"),
    ],
)
def test_bad_parameters_raise_config_errors(batch: list[np.ndarray], params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        AR(**params).fit(wide_frame(batch))


def test_data_errors_name_the_series(batch: list[np.ndarray]) -> None:
    frame = wide_frame(batch)
    with pytest.raises(DataError, match=r"The series has 80 rows; AR with order=40 needs at least 82 rows \(2 \* order \+ 2\)"):
        AR(order=40).fit(frame)
    frame.iloc[10, 1] = np.nan
    with pytest.raises(DataError, match="the series, channel 1 has 1 missing"):
        AR().fit(frame)
    model = AR(order=6).fit(wide_frame(batch))
    with pytest.raises(DataError, match="at least 6 steps"):
        model.predict_windows(np.zeros((2, 5, 3)), 3)
