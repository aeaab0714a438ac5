"""Analytic forecast intervals and sample paths of AR and the naive baselines.

AR's Gaussian intervals against statsmodels' ``AutoReg.get_prediction``; the naive
family against R's ``forecast`` formulas, rebuilt from statsmodels (SARIMAX with the
scale concentrated out for the random walks, OLS for the mean and the drift) and by
hand; then the public column layout, intervals and samples of :class:`Forecaster`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tsseq import ar
from tsseq.baselines import AR, Drift, Mean, Naive, Naive2, SeasonalNaive, seasonal_indices
from tsseq.errors import ConfigError, DataError

ALPHAS = (0.05, 0.2)  # two interval levels: 95% and 80%
LEVELS = sorted({a / 2 for a in ALPHAS} | {1 - a / 2 for a in ALPHAS})


def simulate_ar(coef: list[float], length: int, seed: int, intercept: float = 1.0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.zeros(length + 100)
    for t in range(len(coef), len(values)):
        values[t] = intercept + np.dot(coef, values[t - len(coef) : t][::-1]) + noise * rng.normal()
    return values[100:]


def wide(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    length = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2023-01-01", periods=length, freq="h", name="timestamp"))


def long(series: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {"value": values},
            index=pd.MultiIndex.from_arrays(
                [[name] * len(values), pd.date_range("2023-01-01", periods=len(values), freq="D")], names=["series", "time"]
            ),
        )
        for name, values in series.items()
    ]
    return pd.concat(parts)


def statsmodels_bounds(values: np.ndarray, order: int, horizon: int) -> np.ndarray:
    """``(H, 4)``: AutoReg's lower and upper bounds of the 95% and 80% intervals, in the order of LEVELS."""
    result = AutoReg(values, lags=order, trend="c").fit()
    prediction = result.get_prediction(start=len(values), end=len(values) + horizon - 1)
    wide95, wide80 = (np.asarray(prediction.conf_int(alpha)) for alpha in ALPHAS)
    return np.column_stack([wide95[:, 0], wide80[:, 0], wide80[:, 1], wide95[:, 1]])


# --- AR ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 3, 6])
def test_ar_quantiles_equal_statsmodels_autoreg_intervals_on_two_channels(order: int) -> None:
    frame = wide({"a": simulate_ar([0.7], 120, seed=1, intercept=5.0), "b": simulate_ar([1.1, -0.4, 0.2], 150, seed=2)[-120:]})
    model = AR(order=order).fit(frame)
    for horizon in (1, 7, 24):
        forecast = model.predict(horizon, quantiles=LEVELS)
        for column in frame.columns:
            expected = statsmodels_bounds(frame[column].to_numpy(), order, horizon)
            labels = [f"{column}_q{level:g}" for level in LEVELS]
            np.testing.assert_allclose(forecast[labels].to_numpy(), expected, rtol=0, atol=1e-6)


def test_ar_quantiles_equal_statsmodels_on_a_long_frame_with_selected_orders() -> None:
    series = {"s1": simulate_ar([0.5, 0.3], 90, seed=3, intercept=100.0, noise=4.0), "s2": simulate_ar([-0.6], 140, seed=4)}
    model = AR(max_order=5).fit(long(series))
    forecast = model.predict(12, quantiles=LEVELS)
    for position, (name, values) in enumerate(series.items()):
        expected = statsmodels_bounds(values, int(model.order_[position, 0]), 12)
        labels = [f"value_q{level:g}" for level in LEVELS]
        np.testing.assert_allclose(forecast.loc[name, labels].to_numpy(), expected, rtol=0, atol=1e-6)
        assert model.sigma2_[position, 0] == pytest.approx(AutoReg(values, lags=int(model.order_[position, 0]), trend="c").fit().sigma2, rel=1e-10)


def test_unbiased_variance_divides_by_the_residual_degrees_of_freedom() -> None:
    values = simulate_ar([0.5, 0.3], 90, seed=3, intercept=100.0, noise=4.0)
    mle, unbiased = (AR(order=2, variance=kind).fit(wide({"y": values})) for kind in ("mle", "unbiased"))
    result = AutoReg(values, lags=2, trend="c").fit()
    assert unbiased.sigma2_[0, 0] == pytest.approx(result.ssr / (result.nobs - 3), rel=1e-10)  # 3 parameters
    ratio = np.sqrt(result.nobs / (result.nobs - 3))
    spread = {name: model.predict(5, quantiles=[0.1, 0.9]) for name, model in (("mle", mle), ("unbiased", unbiased))}
    widths = {name: (frame["y_q0.9"] - frame["y_q0.1"]).to_numpy() for name, frame in spread.items()}
    np.testing.assert_allclose(widths["unbiased"], widths["mle"] * ratio, rtol=1e-10)
    with pytest.raises(ConfigError, match="'variance' parameter must be one of mle, unbiased"):
        AR(variance="ols").fit(wide({"y": values}))


def test_ma_weights_and_variance_equal_statsmodels_arma2ma() -> None:
    from statsmodels.tsa.arima_process import arma2ma

    coef = np.array([[0.5, -0.2, 0.1], [1.2, -0.5, 0.0]])
    psi = ar.ma_weights(coef, 15)
    for row, weights in zip(coef, psi):
        np.testing.assert_allclose(weights, arma2ma(np.r_[1, -row], np.ones(1), lags=15), rtol=1e-12)
    np.testing.assert_allclose(ar.forecast_variance(coef, np.array([2.0, 0.5]), 15), np.array([[2.0], [0.5]]) * np.cumsum(psi**2, axis=1))
    np.testing.assert_allclose(ar.spectral_radius(np.array([[0.5], [1.5], [0.0]])), [0.5, 1.5, 0.0])


def test_ar_sample_quantiles_converge_to_the_analytic_ones_and_paths_are_ancestral() -> None:
    frame = wide({"y": simulate_ar([0.8, -0.3], 200, seed=5, intercept=2.0)})
    model = AR(order=2).fit(frame)
    horizon, n = 6, 20000
    paths = model.sample(horizon, n, seed=11)["y"].to_numpy().reshape(n, horizon)
    analytic = model.predict(horizon, quantiles=[0.05, 0.5, 0.95])[["y_q0.05", "y_q0.5", "y_q0.95"]].to_numpy()
    sd = (analytic[:, 2] - analytic[:, 1]) / norm.ppf(0.95)
    empirical = np.quantile(paths, [0.05, 0.5, 0.95], axis=0).T
    assert np.all(np.abs(empirical - analytic) < 0.06 * sd[:, None])
    # Ancestral: step 2 carries psi_1 times the first innovation, cov(y_1, y_2) = sigma2 psi_1.
    covariance = np.cov(paths[:, 0], paths[:, 1])[0, 1]
    assert covariance == pytest.approx(model.sigma2_[0, 0] * model.coef_[0, 0, 0], rel=0.05)


def test_ar_direct_strategy_uses_each_horizons_residual_variance() -> None:
    values = simulate_ar([0.6, 0.2], 150, seed=6)
    model = AR(order=2, strategy="direct", horizon=4).fit(wide({"y": values}))
    forecast = model.predict(4, quantiles=[0.1, 0.9])
    for h in range(1, 5):
        origins = np.arange(1, len(values) - h)
        design = np.column_stack([np.ones(len(origins)), values[origins], values[origins - 1]])
        residual = values[origins + h] - design @ np.linalg.lstsq(design, values[origins + h], rcond=None)[0]
        sd = np.sqrt(np.mean(residual**2))
        row = forecast.iloc[h - 1]
        assert row["y_q0.9"] - row["y"] == pytest.approx(norm.ppf(0.9) * sd, rel=1e-8)
    paths = model.sample(4, 5, seed=0)
    assert paths.shape == (20, 1)


def test_ar_windows_quantiles_are_the_point_forecast_plus_the_fitted_spread() -> None:
    frame = wide({"a": simulate_ar([0.5], 100, seed=7), "b": simulate_ar([0.2], 100, seed=8)})
    model = AR(order=2).fit(frame)
    inputs = np.stack([frame.to_numpy()[-10:], frame.to_numpy()[-20:-10]])  # (2, 10, 2)
    quantiles = model.predict_windows(inputs, 5, quantiles=[0.05, 0.5, 0.95])
    assert quantiles.shape == (2, 5, 2, 3)
    np.testing.assert_allclose(quantiles[..., 1], model.predict_windows(inputs, 5))
    np.testing.assert_allclose(quantiles[0], model.predict(5, quantiles=[0.05, 0.5, 0.95]).drop(columns=["a", "b"]).to_numpy().reshape(5, 2, 3))
    np.testing.assert_allclose(quantiles[0, :, :, 2] - quantiles[0, :, :, 1], quantiles[1, :, :, 2] - quantiles[1, :, :, 1])


def test_an_explosive_ar_warns_naming_the_series_and_channel() -> None:
    rng = np.random.default_rng(0)
    frame = long({"boom": 1.08 ** np.arange(50) + rng.normal(size=50), "calm": rng.normal(size=50)})
    model = AR(order=2, stable=False).fit(frame)  # kept explosive (stable=True replaces it: test_ar_stable.py)
    assert ar.spectral_radius(model.coef_[0, 0]) > 1.05
    with pytest.warns(UserWarning, match=r"explosive.*series 'boom' channel 'value'.*over 12 steps"):
        model.predict(12, quantiles=[0.1, 0.9])
    with pytest.warns(UserWarning, match="explosive"):
        model.sample(12, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(2)  # the root grows a deviation by less than 1.5 in 2 steps: silent
        AR(order=2, stable=False).fit(frame.loc[["calm"]]).predict(12, quantiles=[0.1, 0.9])  # stable: silent


# --- the naive family --------------------------------------------------------------------------------


def test_naive_interval_by_hand_on_a_tiny_series() -> None:
    frame = wide({"y": np.array([1.0, 2.0, 4.0, 3.0])})
    forecast = Naive().fit(frame).predict(3, quantiles=[0.1, 0.5, 0.9])
    # Changes 1, 2, -1: sigma^2 = (1 + 4 + 1) / 3 = 2, sd of step h = sqrt(2 h).
    z = 1.2815515655446004
    np.testing.assert_allclose(forecast["y_q0.9"], 3 + z * np.sqrt(2 * np.array([1, 2, 3])), rtol=1e-12)
    np.testing.assert_allclose(forecast["y_q0.1"], 3 - z * np.sqrt(2 * np.array([1, 2, 3])), rtol=1e-12)
    np.testing.assert_allclose(forecast["y_q0.5"], 3.0)


@pytest.mark.parametrize(("model", "seasonal_order"), [(Naive(), (0, 0, 0, 0)), (SeasonalNaive(season_length=4), (0, 1, 0, 4))])
def test_random_walk_intervals_equal_statsmodels_arima(model, seasonal_order) -> None:
    values = 10 + np.cumsum(np.random.default_rng(3).normal(size=60))
    order = (0, 1, 0) if seasonal_order[1] == 0 else (0, 0, 0)
    # Naive = ARIMA(0,1,0) and seasonal naive = ARIMA(0,0,0)(0,1,0)_m, sigma2 the exact MLE (R's lagwalk).
    result = SARIMAX(values, order=order, seasonal_order=seasonal_order, concentrate_scale=True).smooth([])
    forecast = model.fit(wide({"y": values})).predict(10, quantiles=[0.05, 0.95])
    np.testing.assert_allclose(forecast[["y_q0.05", "y_q0.95"]].to_numpy(), result.get_forecast(10).conf_int(alpha=0.1), atol=1e-8)


def test_mean_interval_equals_an_ols_prediction_interval_with_student_t() -> None:
    values = np.random.default_rng(4).normal(5, 2, size=25)
    expected = sm.OLS(values, np.ones(25)).fit().get_prediction(np.ones((1, 1))).conf_int(obs=True, alpha=0.1)
    forecast = Mean().fit(wide({"y": values})).predict(3, quantiles=[0.05, 0.95])
    np.testing.assert_allclose(forecast[["y_q0.05", "y_q0.95"]].to_numpy(), np.repeat(expected, 3, axis=0), rtol=1e-12)


def test_drift_interval_adds_the_drift_standard_error_as_r_rwf_does() -> None:
    values = np.cumsum(np.random.default_rng(5).normal(0.3, 1.0, size=40))
    drift = sm.OLS(np.diff(values), np.ones(39)).fit()  # R: lm(diff(y) ~ 1)
    steps = np.arange(1, 9)
    sd = np.sqrt(drift.scale * steps + (steps * drift.bse[0]) ** 2)
    forecast = Drift().fit(wide({"y": values})).predict(8, quantiles=[0.1, 0.9])
    np.testing.assert_allclose(forecast["y"], values[-1] + steps * drift.params[0], rtol=1e-12)
    np.testing.assert_allclose(forecast["y_q0.9"] - forecast["y"], norm.ppf(0.9) * sd, rtol=1e-10)


def test_naive2_interval_is_the_adjusted_naive_interval_reseasonalised() -> None:
    rng = np.random.default_rng(6)
    season = np.array([0.8, 1.0, 1.3, 0.9])
    values = 50 * np.tile(season, 15) * np.exp(np.cumsum(rng.normal(0, 0.02, 60)))
    forecast = Naive2(season_length=4).fit(wide({"y": values})).predict(8, quantiles=[0.1, 0.9])
    indices = seasonal_indices(values, 4)
    adjusted = values / indices[np.arange(60) % 4]
    sigma = np.sqrt(np.mean(np.diff(adjusted) ** 2))
    future = indices[(60 + np.arange(8)) % 4]
    np.testing.assert_allclose(forecast["y_q0.9"], future * (adjusted[-1] + norm.ppf(0.9) * sigma * np.sqrt(np.arange(1, 9))), rtol=1e-10)
    assert not np.allclose(indices, 1)  # the series was found seasonal


@pytest.mark.parametrize("model", [Naive(), SeasonalNaive(season_length=3), Drift(), Mean(), Naive2(season_length=3)], ids=lambda m: type(m).__name__)
def test_baseline_samples_match_their_quantiles(model) -> None:
    rng = np.random.default_rng(7)
    frame = wide({"y": 20 + np.cumsum(rng.normal(size=30)) + np.tile([0.0, 3.0, -2.0], 10)})
    model.fit(frame)
    horizon, n = 7, 20000
    paths = model.sample(horizon, n, seed=2)["y"].to_numpy().reshape(n, horizon)
    analytic = model.predict(horizon, quantiles=[0.1, 0.5, 0.9])[["y_q0.1", "y_q0.5", "y_q0.9"]].to_numpy()
    width = analytic[:, 2] - analytic[:, 0]
    assert np.all(np.abs(np.quantile(paths, [0.1, 0.5, 0.9], axis=0).T - analytic) < 0.04 * width[:, None])


def test_baseline_window_quantiles_use_each_windows_own_history() -> None:
    values = np.random.default_rng(8).normal(size=(40, 2)).cumsum(axis=0)
    frame = wide({"a": values[:, 0], "b": values[:, 1]})
    model = Drift().fit(frame)
    quantiles = model.predict_windows(np.stack([values, values[::-1]]), 4, quantiles=[0.25, 0.75])
    assert quantiles.shape == (2, 4, 2, 2)
    expected = model.predict(4, quantiles=[0.25, 0.75])[["a_q0.25", "b_q0.25", "a_q0.75", "b_q0.75"]].to_numpy()
    np.testing.assert_allclose(quantiles[0].transpose(0, 2, 1).reshape(4, 4), expected)
    with pytest.raises(DataError, match="at least 3 steps"):
        model.predict_windows(values[None, :2], 4, quantiles=[0.25, 0.75])


def test_intervals_need_a_residual() -> None:
    model = Drift().fit(wide({"y": np.array([1.0, 2.0])}))
    assert len(model.predict(2)) == 2  # the point forecast needs 2 values
    with pytest.raises(DataError, match="Drift needs at least 3 values for an interval.*series 0 has 2"):
        model.predict(2, quantiles=[0.1, 0.9])


# --- the public layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [AR(order=2), Naive(), SeasonalNaive(season_length=4), Drift(), Mean(), Naive2(season_length=4)], ids=lambda m: type(m).__name__)
def test_quantile_columns_layout_noncrossing_and_median(model) -> None:
    rng = np.random.default_rng(9)
    frame = wide({"load": 10 + rng.normal(size=48).cumsum(), "temp": 5 + rng.normal(size=48)})
    forecast = model.fit(frame).predict(6, quantiles=[0.95, 0.05, 0.5])  # any order in, increasing out
    assert list(forecast.columns) == ["load", "load_q0.05", "load_q0.5", "load_q0.95", "temp", "temp_q0.05", "temp_q0.5", "temp_q0.95"]
    assert forecast.index.equals(model.predict(6).index)
    for column in frame.columns:
        block = forecast[[f"{column}_q0.05", f"{column}_q0.5", f"{column}_q0.95"]].to_numpy()
        assert np.all(np.diff(block, axis=1) >= 0)
        np.testing.assert_allclose(block[:, 1], forecast[column], rtol=1e-12)
    interval = model.predict_interval(6, coverage=0.9)
    assert list(interval.columns) == ["load", "load_lower", "load_upper", "temp", "temp_lower", "temp_upper"]
    np.testing.assert_allclose(interval["load_lower"], forecast["load_q0.05"], rtol=1e-12)
    np.testing.assert_allclose(interval["temp_upper"], forecast["temp_q0.95"], rtol=1e-12)


def test_sample_shape_index_and_seed_reproducibility() -> None:
    frame = wide({"a": simulate_ar([0.5], 60, seed=10), "b": simulate_ar([0.3], 60, seed=11)})
    model = AR(order=1).fit(frame)
    paths = model.sample(5, 4, seed=3)
    assert paths.shape == (20, 2) and list(paths.columns) == ["a", "b"]
    assert paths.index.names == ["sample", "timestamp"]
    assert list(paths.index.get_level_values("sample").unique()) == [0, 1, 2, 3]
    assert paths.loc[0].index.equals(model.predict(5).index)
    pd.testing.assert_frame_equal(paths, model.sample(5, 4, seed=3))
    assert not np.allclose(paths.to_numpy(), model.sample(5, 4, seed=4).to_numpy())
    many = long({"x": np.arange(30.0) % 7, "y": np.arange(20.0) % 5 + 1})
    naive_paths = SeasonalNaive(season_length=7).fit(many).sample(3, 2, seed=0)
    assert naive_paths.index.names == ["series", "sample", "time"]
    assert len(naive_paths.loc["x"]) == 6 and naive_paths.loc[("y", 1)].index[0] == pd.Timestamp("2023-01-21")


# --- the published M4 Hourly Naive intervals (the competition's results file) ----------------------


@pytest.mark.shared_data
def test_naive_95_percent_intervals_reproduce_the_published_m4_hourly_msis(data_dir) -> None:
    def read(path) -> list[np.ndarray]:
        table = pd.read_csv(path, index_col="V1")
        return [row[~np.isnan(row)] for row in table.to_numpy(dtype=np.float64)]

    train, test = read(data_dir / "m4" / "Hourly-train.csv"), read(data_dir / "m4" / "Hourly-test.csv")
    frame = long({f"H{number:03d}": values for number, values in enumerate(train, start=1)})
    interval = Naive().fit(frame).predict_interval(48, coverage=0.95)
    lower = interval["value_lower"].to_numpy().reshape(len(train), 48)
    upper = interval["value_upper"].to_numpy().reshape(len(train), 48)
    truth = np.stack(test)
    scale = np.array([np.mean(np.abs(values[24:] - values[:-24])) for values in train])[:, None]
    penalty = (upper - lower) + 40 * (lower - truth) * (truth < lower) + 40 * (truth - upper) * (truth > upper)
    assert np.mean(penalty / scale) == pytest.approx(71.245, abs=5e-4)  # MSIS, alpha = 0.05
