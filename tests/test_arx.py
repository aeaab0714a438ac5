"""ARX, AR with exogenous regressors, by batched least squares, against statsmodels' ``AutoReg(..., exog=...)``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from tsseq import ar
from tsseq.base import split_frame
from tsseq.baselines import AR
from tsseq.errors import ConfigError, DataError

FUTURE = 12  # regressor rows simulated beyond each series, for the out-of-sample forecasts


def simulate_arx(coef: list[float], exog_coef: list[float], length: int, seed: int, intercept: float = 2.0):
    """``y (length,)`` and ``x (length + FUTURE, K)``: one stationary and one trending regressor, then dummies."""
    rng = np.random.default_rng(seed)
    steps = length + FUTURE + 100
    columns = [rng.normal(size=steps), 5 + 0.1 * np.cumsum(rng.normal(size=steps)), (np.arange(steps) % 7 == 0) * 1.0]
    exog = np.column_stack(columns[: len(exog_coef)])
    values = np.zeros(steps)
    for t in range(len(coef), steps):
        values[t] = intercept + np.dot(coef, values[t - len(coef) : t][::-1]) + exog[t] @ exog_coef + rng.normal()
    return values[100 : 100 + length], exog[100:]


@pytest.fixture(scope="module", params=[1, 2], ids=["K=1", "K=2"])
def batch(request) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Four series of different lengths and levels with ``K`` regressors: ``(values, exog incl. FUTURE rows)``."""
    k = request.param
    specs = [([0.6], 80, 1), ([0.4, -0.3, 0.5], 150, 2), ([1.2, -0.5], 64, 3), ([0.3, 0.0, 0.0, 0.4], 200, 4)]
    simulated = [simulate_arx(coef, [1.5, -0.7][:k], length, seed) for coef, length, seed in specs]
    return [values for values, _ in simulated], [exog for _, exog in simulated]


@pytest.mark.parametrize("order", [1, 3, 5])
def test_coefficients_and_forecasts_equal_statsmodels_autoreg_with_exog(batch, order: int) -> None:
    values, exog = batch
    fit = ar.fit_ar(values, order=order, exog=[x[: len(y)] for y, x in zip(values, exog)])
    assert fit.exog_coef.shape == (4, exog[0].shape[1])
    history = np.stack([y[-order:] for y in values])
    future = np.stack([x[len(y) : len(y) + FUTURE] for y, x in zip(values, exog)])  # (B, H, K)
    forecast = ar.forecast_recursive(fit.intercept, fit.coef, history, FUTURE, exog_effect=ar.exog_effect(fit.exog_coef, future))
    for position, (y, x) in enumerate(zip(values, exog)):
        result = AutoReg(y, lags=order, trend="c", exog=x[: len(y)]).fit()  # params: const, lags, exog
        ours = np.r_[fit.intercept[position], fit.coef[position], fit.exog_coef[position]]
        np.testing.assert_allclose(ours, result.params, rtol=0, atol=1e-6)
        assert fit.sigma2[position] == pytest.approx(result.sigma2, rel=1e-9)
        expected = result.predict(start=len(y), end=len(y) + FUTURE - 1, exog_oos=x[len(y) : len(y) + FUTURE])
        np.testing.assert_allclose(forecast[position], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_order_selection_with_exog_equals_ar_select_order(batch, criterion: str) -> None:
    values, exog = batch
    max_order = 6
    fit = ar.fit_ar(values, max_order=max_order, criterion=criterion, exog=[x[: len(y)] for y, x in zip(values, exog)])
    for position, (y, x) in enumerate(zip(values, exog)):
        selection = ar_select_order(y, maxlag=max_order, ic=criterion, trend="c", exog=x[: len(y)])
        assert fit.order[position] == (0 if selection.ar_lags is None else selection.ar_lags[-1])
        by_order = {0 if key == 0 else len(key): value for key, value in getattr(selection, criterion).items()}
        np.testing.assert_allclose(fit.criteria[position], [by_order[p] for p in range(max_order + 1)], rtol=1e-10)
        params = selection.model.fit().params
        order = fit.order[position]
        ours = np.r_[fit.intercept[position], fit.coef[position, :order], fit.exog_coef[position]]
        np.testing.assert_allclose(ours, params, rtol=0, atol=1e-6)


def test_exog_gram_equals_the_product_of_the_design(batch) -> None:
    values, exog = batch
    padded, lengths = ar.pad_series(values)
    regressors = np.zeros(padded.shape + (exog[0].shape[1],))
    for position, (y, x) in enumerate(zip(values, exog)):
        regressors[position, : len(y)] = x[: len(y)]
    first, stop = np.array([5, 7, 4, 9]), lengths - np.array([0, 3, 0, 10])
    gram = ar.exog_gram(padded, regressors, first, stop, np.array([1, 2, 3, 0]))
    for y, x, start, end, result in zip(values, exog, first, stop, gram):
        rows = np.arange(start, end)
        design = np.column_stack([np.ones(len(rows)), x[rows]] + [y[rows - lag] for lag in (1, 2, 3, 0)])
        np.testing.assert_allclose(result, design.T @ design, rtol=1e-10)


def test_a_known_future_driver_makes_arx_far_better_than_ar() -> None:
    # y is driven by a known-future input (a price or a promotion): the AR alone cannot foresee it.
    rng = np.random.default_rng(8)
    driver = (rng.random(260) < 0.2) * 10.0
    values = np.zeros(260)
    for t in range(1, 260):
        values[t] = 5 + 0.5 * values[t - 1] + driver[t] + 0.5 * rng.normal()
    train, test = values[:200], values[200:224]
    arx = ar.fit_ar([train], max_order=5, exog=[driver[:200, None]])
    plain = ar.fit_ar([train], max_order=5)
    with_driver = ar.forecast_recursive(arx.intercept, arx.coef, train[None, -5:], 24,
                                        exog_effect=ar.exog_effect(arx.exog_coef, driver[None, 200:224, None]))
    without = ar.forecast_recursive(plain.intercept, plain.coef, train[None, -5:], 24)
    assert np.mean((with_driver[0] - test) ** 2) < 0.1 * np.mean((without[0] - test) ** 2)


# --- the estimator's array methods, which the covariate API calls ----------------------------------------


def two_series_two_channels(k: int):
    """A long frame of 2 series x 2 channels, their regressors (shared by the channels) and future regressors."""
    first_a, exog_1 = simulate_arx([0.6], [1.5, -0.7][:k], 120, seed=11)
    first_b, _ = simulate_arx([0.3, 0.2], [0.0], 120, seed=12)  # a channel the regressors do not drive
    second_a, exog_2 = simulate_arx([0.5, -0.2], [0.8, 0.4][:k], 90, seed=13)
    second_b = second_a * 0.5 + np.random.default_rng(14).normal(size=90)
    parts = []
    for name, columns in (("s1", {"a": first_a, "b": first_b}), ("s2", {"a": second_a, "b": second_b})):
        length = len(columns["a"])
        index = pd.MultiIndex.from_arrays([[name] * length, pd.date_range("2024-01-01", periods=length, freq="D")],
                                          names=["series", "day"])
        parts.append(pd.DataFrame(columns, index=index))
    frame = pd.concat(parts)
    return frame, [exog_1[:120], exog_2[:90]], [exog_1[120:], exog_2[90:]]


def fitted_arx(params: dict, k: int):
    frame, exog, future = two_series_two_channels(k)
    series, layout = split_frame(frame)
    model = AR(**params)
    model._fit_exog(series, exog)
    model.layout_, model.n_channels_ = layout, layout.n_channels  # what the covariate API's fit will set
    return model, frame, exog, future


@pytest.mark.parametrize("k", [1, 2])
def test_estimator_array_methods_equal_statsmodels_per_channel(k: int) -> None:
    model, frame, exog, future = fitted_arx({"order": 2}, k)
    assert model.exog_coef_.shape == (2, 2, k)
    points = model._predict(8, future_covariates=future)
    quantiles = model._predict_quantiles(8, np.array([0.025, 0.975]), future_covariates=future)
    for position, name in enumerate(["s1", "s2"]):
        for channel, column in enumerate(["a", "b"]):
            y = frame.loc[name, column].to_numpy()
            result = AutoReg(y, lags=2, trend="c", exog=exog[position]).fit()
            expected = result.predict(start=len(y), end=len(y) + 7, exog_oos=future[position][:8])
            np.testing.assert_allclose(points[position][:, channel], expected, rtol=0, atol=1e-6)
            prediction = result.get_prediction(start=len(y), end=len(y) + 7, exog_oos=future[position][:8])
            np.testing.assert_allclose(quantiles[position][:, channel], prediction.conf_int(alpha=0.05), rtol=0, atol=1e-6)
    paths = model._sample(8, 5, np.random.default_rng(0), future_covariates=future)
    assert paths[0].shape == (5, 8, 2) and np.isfinite(paths[1]).all()


def test_estimator_with_selected_orders_equals_ar_select_order() -> None:
    model, frame, exog, future = fitted_arx({"max_order": 6, "criterion": "bic"}, 2)
    for position, name in enumerate(["s1", "s2"]):
        for channel, column in enumerate(["a", "b"]):
            y = frame.loc[name, column].to_numpy()
            selection = ar_select_order(y, maxlag=6, ic="bic", trend="c", exog=exog[position])
            assert model.order_[position, channel] == (0 if selection.ar_lags is None else selection.ar_lags[-1])
            np.testing.assert_allclose(model.exog_coef_[position, channel], selection.model.fit().params[-2:], atol=1e-6)


def test_estimator_refuses_missing_or_misshapen_regressors() -> None:
    model, frame, exog, future = fitted_arx({"order": 2}, 2)
    with pytest.raises(DataError, match=r"fitted with 2 exogenous regressor\(s\); forecasting needs their future values"):
        model.predict(4)
    with pytest.raises(DataError, match=r"series 1 have shape \(3, 2\); a forecast of 4 steps needs at least \(4, 2\)"):
        model._predict(4, future_covariates=[future[0], future[1][:3]])
    with pytest.raises(DataError, match="needs their values over each window's horizon"):
        model._predict_windows(np.zeros((1, 5, 2)), 3)
    series, _ = split_frame(frame)
    with pytest.raises(DataError, match="Series 1 has 90 values but 89 rows of regressors"):
        AR(order=2)._fit_exog(series, [exog[0], exog[1][:89]])
    with pytest.raises(ConfigError, match="strategy='recursive' only"):
        AR(order=2, strategy="direct", horizon=3)._fit_exog(series, exog)
    plain = AR(order=2).fit(frame)
    assert plain.exog_coef_ is None
    with pytest.raises(DataError, match="fitted without exogenous regressors"):
        plain._predict(3, future_covariates=future)
