"""The vector autoregression: statsmodels' VAR to 1e-8, one channel is an AR, stability, windows, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.tsa.api import VAR as StatsmodelsVAR

import tsseq
from tsseq.errors import ConfigError, DataError, MissingValuesError
from tsseq.testing import check_forecaster
from tsseq.var import companion_radius, cross_penalised_least_squares, haugh_statistic, lagged, related_channels


def coupled(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Three channels where each follows the one before it (a driver, a follower, the follower's follower)."""
    rng = np.random.default_rng(seed)
    values = np.zeros((rows, 3))
    for t in range(2, rows):
        values[t, 0] = 0.7 * values[t - 1, 0] + rng.normal()
        values[t, 1] = 0.5 * values[t - 1, 1] + 0.8 * values[t - 1, 0] + 0.3 * rng.normal()
        values[t, 2] = 0.4 * values[t - 1, 2] + 0.6 * values[t - 2, 1] + 0.3 * rng.normal() + 5.0
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="h"), columns=["u", "q", "p"])


@pytest.mark.parametrize("criterion", ["aic", "bic", "hqic"])
def test_equals_statsmodels_selection_coefficients_and_intervals(criterion):
    frame = coupled()
    model = tsseq.create("var", max_order=6, criterion=criterion).fit(frame)
    reference = StatsmodelsVAR(frame.to_numpy()).fit(maxlags=6, ic=criterion)
    assert model.order_.tolist() == [reference.k_ar]
    np.testing.assert_allclose(model.coef_[0, : reference.k_ar], reference.coefs, atol=1e-8)
    np.testing.assert_allclose(model.intercept_[0], reference.intercept, atol=1e-8)
    np.testing.assert_allclose(model.sigma_u_[0], reference.sigma_u, atol=1e-8)
    point, lower, upper = reference.forecast_interval(frame.to_numpy()[-reference.k_ar :], 12, alpha=0.1)
    forecast = model.predict(12, quantiles=[0.05, 0.95])
    np.testing.assert_allclose(forecast[list(frame.columns)].to_numpy(), point, atol=1e-8)
    np.testing.assert_allclose(forecast[[f"{c}_q0.05" for c in frame.columns]].to_numpy(), lower, atol=1e-8)
    np.testing.assert_allclose(forecast[[f"{c}_q0.95" for c in frame.columns]].to_numpy(), upper, atol=1e-8)
    criteria = np.asarray(StatsmodelsVAR(frame.to_numpy()).select_order(6).ics[criterion])
    np.testing.assert_allclose(model.criteria_[0] - model.criteria_[0, 0], criteria - criteria[0], atol=1e-10)


def test_fixed_order_equals_statsmodels_and_finds_the_coupling():
    frame = coupled()
    model = tsseq.create("var", order=2).fit(frame)
    reference = StatsmodelsVAR(frame.to_numpy()).fit(2)
    np.testing.assert_allclose(model.coef_[0], reference.coefs, atol=1e-8)
    assert model.criteria_ is None
    # known answer: q follows u one step back (0.8), p follows q two steps back (0.6)
    assert model.coef_[0, 0, 1, 0] == pytest.approx(0.8, abs=0.05)
    assert model.coef_[0, 1, 2, 1] == pytest.approx(0.6, abs=0.05)


def test_one_channel_is_the_ar():
    frame = coupled()[["u"]]
    var = tsseq.create("var", max_order=8, criterion="bic").fit(frame)
    ar = tsseq.create("ar", max_order=8, criterion="bic").fit(frame)
    assert var.order_[0] == ar.order_[0, 0]
    np.testing.assert_allclose(var.predict(10).to_numpy(), ar.predict(10).to_numpy(), atol=1e-9)


def test_predict_windows_from_the_training_end_equals_predict():
    frame = coupled()
    model = tsseq.create("var", max_order=4).fit(frame)
    windows = np.stack([frame.to_numpy()[-20:], frame.to_numpy()[-21:-1]])
    forecasts = model.predict_windows(windows, 5)
    assert forecasts.shape == (2, 5, 3)
    np.testing.assert_allclose(forecasts[0], model.predict(5).to_numpy(), atol=1e-10)
    quantiles = model.predict_windows(windows, 5, quantiles=[0.1, 0.5, 0.9])
    assert quantiles.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(quantiles[..., 1], forecasts, atol=1e-10)  # the median is the point forecast
    assert np.all(quantiles[..., 2] > quantiles[..., 0])


def test_sample_paths_have_the_forecast_mean_and_the_residual_covariance():
    frame = coupled()
    model = tsseq.create("var", order=2).fit(frame)
    paths = model.sample(3, n=20000, seed=1)
    values = paths.to_numpy().reshape(20000, 3, 3)  # (sample, step, channel)
    np.testing.assert_allclose(values.mean(axis=0), model.predict(3).to_numpy(), atol=0.05)
    np.testing.assert_allclose(np.cov(values[:, 0].T), model.sigma_u_[0], atol=0.05)


def growing() -> pd.DataFrame:
    """Two channels growing 4% a row: least squares fits an explosive VAR."""
    rng = np.random.default_rng(3)
    growth = 1.04 ** np.arange(120)
    return pd.DataFrame(
        {"a": growth * (1 + 0.01 * rng.normal(size=120)), "b": 2 * growth + rng.normal(size=120)},
        index=pd.date_range("2024-01-01", periods=120, freq="D"),
    )


def test_an_explosive_fit_is_replaced_with_a_warning_naming_the_series():
    frame = growing()
    with pytest.warns(UserWarning, match=r"VAR: 1 fitted model\(s\) were explosive.*the series: order \d+ -> \d+ \(root modulus"):
        model = tsseq.create("var", max_order=4).fit(frame)
    assert model.replaced_order_[0] > model.order_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = tsseq.create("var", max_order=4, stable=False).fit(frame)
    assert kept.replaced_order_[0] == -1

    assert companion_radius(model.coef_[0, : model.order_[0]]) <= 1.01
    assert companion_radius(kept.coef_[0, : kept.order_[0]]) > 1.01


def test_long_frames_fit_one_model_per_series():
    first, second = coupled(300, seed=1), coupled(260, seed=2)
    long = pd.concat({"a": first, "b": second}, names=["series", "timestamp"])
    together = tsseq.create("var", max_order=3).fit(long)
    alone = tsseq.create("var", max_order=3).fit(second)
    np.testing.assert_allclose(together.predict(4).loc["b"].to_numpy(), alone.predict(4).to_numpy(), atol=1e-10)
    with pytest.raises(DataError, match="one series"):
        together.predict_windows(np.zeros((1, 10, 3)), 2)


def test_a_short_series_of_a_panel_is_forecast_as_alone_though_the_long_ones_order_is_higher():
    # The panel's coefficients are as wide as its highest order, 14 here; the short series has 8 rows.
    rng = np.random.default_rng(0)
    steps = np.arange(600)
    cycle = np.c_[np.sin(2 * np.pi * steps / 24), np.cos(2 * np.pi * steps / 24)] + 0.1 * rng.normal(size=(600, 2))

    def frame(values: np.ndarray) -> pd.DataFrame:
        stamps = pd.date_range("2023-01-01", periods=len(values), freq="h", name="time")
        return pd.DataFrame(values, columns=["a", "b"], index=stamps)

    panel = pd.concat({"long": frame(cycle), "short": frame(cycle[:8])}, names=["series", "time"])
    model = tsseq.create("var", max_order=30).fit(panel)
    assert model.order_[0] > 8
    alone = tsseq.create("var", max_order=30).fit(frame(cycle[:8]))
    np.testing.assert_allclose(model.predict(3).loc["short"].to_numpy(), alone.predict(3).to_numpy(), rtol=1e-12)


def test_a_constant_channel_gives_finite_forecasts():
    frame = coupled()
    frame["setpoint"] = 3.0
    model = tsseq.create("var", max_order=3).fit(frame)
    forecast = model.predict(6, quantiles=[0.05, 0.95])
    assert np.isfinite(forecast.to_numpy()).all()
    np.testing.assert_allclose(forecast["setpoint"], 3.0, atol=1e-8)
    assert np.isfinite(model.sample(4, n=10).to_numpy()).all()


def test_bad_input_and_parameters_are_named():
    frame = coupled()
    with pytest.raises(ConfigError, match="'criterion'.*Did you mean 'bic'"):
        tsseq.create("var", criterion="bicc").fit(frame)
    with pytest.raises(ConfigError, match="'order' parameter must be an int >= 0"):
        tsseq.create("var", order=-1).fit(frame)
    with pytest.raises(DataError, match=r"The series has 5 rows; VAR with 3 channel\(s\) needs at least 6 rows"):
        tsseq.create("var").fit(frame.iloc[:5])
    with pytest.raises(DataError, match="order=4 and 3 channel"):
        tsseq.create("var", order=4).fit(frame.iloc[:12])
    holes = frame.copy()
    holes.iloc[7, 1] = np.nan
    with pytest.raises(MissingValuesError, match="channel 1 has 1 missing"):
        tsseq.create("var").fit(holes)
    model = tsseq.create("var", order=3).fit(frame)
    with pytest.raises(DataError, match="windows of 2 steps; VAR has order 3"):
        model.predict_windows(np.zeros((1, 2, 3)), 1)


def test_the_order_is_capped_by_the_length():
    frame = coupled(40)
    model = tsseq.create("var", max_order=30, stable=False).fit(frame)
    # 40 rows of 3 channels: at most min(40 // 4, (40 - 3 - 1) // 4) = 9 lags, as statsmodels can estimate
    assert np.isfinite(model.criteria_[0, :10]).all()
    assert np.isinf(model.criteria_[0, 10:]).all()


def test_contract():
    check_forecaster(tsseq.create("var", max_order=3))


# cross_penalty: ridge on the other channels' lags, the intercept and own lags free (tsseq.var module docstring)


def independent_regimes(channels: int = 30, rows: int = 2400, seed: int = 0) -> pd.DataFrame:
    """Unrelated channels, each an AR(1) around piecewise-constant random levels held 200-400 rows (a wide log)."""
    rng = np.random.default_rng(seed)
    values = np.zeros((rows, channels))
    for channel in range(channels):
        changes = np.cumsum(rng.integers(200, 400, size=rows // 200 + 1))
        levels = rng.normal(0, 3, size=len(changes) + 1)[np.searchsorted(changes, np.arange(rows), side="right")]
        noise = rng.normal(size=rows)
        wander = np.zeros(rows)
        for t in range(1, rows):
            wander[t] = 0.7 * wander[t - 1] + noise[t]
        values[:, channel] = levels + wander
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="min"))


def driver_and_follower(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``b`` follows ``a`` one step back (0.8), ``c`` follows nothing."""
    rng = np.random.default_rng(seed)
    values = np.zeros((rows, 3))
    for t in range(1, rows):
        values[t, 0] = 0.7 * values[t - 1, 0] + rng.normal()
        values[t, 1] = 0.5 * values[t - 1, 1] + 0.8 * values[t - 1, 0] + 0.3 * rng.normal()
        values[t, 2] = 0.6 * values[t - 1, 2] + rng.normal()
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="min"), columns=["a", "b", "c"])


def one_step_mse(model, values: np.ndarray, start: int) -> np.ndarray:
    """Per channel, the mean squared error of the one-step forecasts of rows ``start..`` from the rows before each."""
    lags = int(np.max(model.order_))  # a VAR's windows need its widest order; an AR's its channels' widest
    windows = np.lib.stride_tricks.sliding_window_view(values[start - lags : -1], lags, axis=0).transpose(0, 2, 1)
    return np.mean((model.predict_windows(windows, 1)[:, 0] - values[start:]) ** 2, axis=0)


@pytest.mark.parametrize("order", [1, 3, None])
def test_a_zero_cross_penalty_is_the_least_squares(order):
    frame = coupled()
    frame["w"] = np.random.default_rng(5).normal(size=len(frame)).cumsum() * 0.1
    ols = tsseq.create("var", order=order, max_order=4).fit(frame)
    ridge = tsseq.create("var", order=order, max_order=4, cross_penalty=0.0).fit(frame)
    assert ridge.order_.tolist() == ols.order_.tolist()
    np.testing.assert_allclose(ridge.coef_, ols.coef_, atol=1e-8)
    np.testing.assert_allclose(ridge.intercept_, ols.intercept_, atol=1e-8)
    np.testing.assert_allclose(ridge.sigma_u_, ols.sigma_u_, atol=1e-8)  # df 1 + C p: statsmodels' denominator
    assert ridge.cross_penalty_.shape == (1, 4) and not ridge.cross_penalty_.any()
    np.testing.assert_array_equal(ols.cross_penalty_, 0.0)


@pytest.mark.parametrize("penalty", [1e8, float("inf")])
def test_a_huge_cross_penalty_is_the_per_channel_ar(penalty):
    frame = coupled()
    values, lags = frame.to_numpy(), 2
    model = tsseq.create("var", order=lags, cross_penalty=penalty).fit(frame)
    rows = np.arange(lags, len(values))
    for channel in range(3):
        design = np.column_stack([np.ones(len(rows))] + [values[rows - i, channel] for i in range(1, lags + 1)])
        reference = np.linalg.lstsq(design, values[rows, channel], rcond=None)[0]
        assert model.intercept_[0, channel] == pytest.approx(reference[0], abs=1e-6)
        np.testing.assert_allclose(model.coef_[0, :, channel, channel], reference[1:], atol=1e-6)
        others = np.delete(model.coef_[0, :, channel], channel, axis=1)
        np.testing.assert_allclose(others, 0.0, atol=1e-6)
    np.testing.assert_array_equal(model.cross_penalty_, penalty)


@pytest.mark.parametrize("penalty", [0.5, "gcv"])
def test_one_channel_has_no_cross_terms_to_shrink(penalty):
    frame = coupled()[["u"]]
    ols = tsseq.create("var", max_order=6).fit(frame)
    ridge = tsseq.create("var", max_order=6, cross_penalty=penalty).fit(frame)
    for name in ("order_", "coef_", "intercept_", "sigma_u_", "cross_penalty_"):
        np.testing.assert_array_equal(getattr(ridge, name), getattr(ols, name))
    np.testing.assert_array_equal(ridge.cross_penalty_, 0.0)


def residualised_cross_design(values: np.ndarray, lags: int, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Equation ``channel``'s other-channel lags and target, the intercept and own lags partialled out; columns at unit RMS."""
    n_channels = values.shape[1]
    rows = np.arange(lags, len(values))
    own = np.column_stack([np.ones(len(rows))] + [values[rows - i, channel] for i in range(1, lags + 1)])
    cross = np.column_stack([values[rows - i, k] for i in range(1, lags + 1) for k in range(n_channels) if k != channel])
    partial = lambda m: m - own @ np.linalg.lstsq(own, m, rcond=None)[0]  # noqa: E731
    design = partial(cross)
    return design / np.sqrt(np.mean(design**2, axis=0)), partial(values[rows, channel])


def ridge_hat(design: np.ndarray, penalty: float) -> np.ndarray:
    """The hat matrix of the ridge with penalty ``penalty n`` (least squares at 0)."""
    if penalty == 0:
        return design @ np.linalg.pinv(design)
    return design @ np.linalg.solve(design.T @ design + penalty * len(design) * np.eye(design.shape[1]), design.T)


def reference_gcv_penalty(values: np.ndarray, lags: int, channel: int) -> float:
    """The GCV choice of one equation by brute force: explicit ridge on the residualised, unit-RMS cross design."""
    design, response = residualised_cross_design(values, lags, channel)
    n = len(design)
    grid = np.r_[0.0, np.logspace(-6, 2, 33)]
    scores = []
    for penalty in grid:
        hat = ridge_hat(design, penalty)
        rss = np.sum((response - hat @ response) ** 2)
        df = 1 + lags + np.trace(hat)
        scores.append(n * rss / (n - df) ** 2 if n > df else np.inf)
    scores = np.array(scores)
    return float(grid[np.flatnonzero(scores == scores.min()).max()])  # ties: the larger penalty


def test_sigma_u_of_a_penalised_fit_divides_by_the_mean_degrees_of_freedom():
    frame = coupled()
    values, lags, penalty = frame.to_numpy(), 2, 0.01
    model = tsseq.create("var", order=lags, cross_penalty=penalty).fit(frame)
    n = len(values) - lags
    solution = np.vstack([model.intercept_[0], np.concatenate(list(model.coef_[0]), axis=1).T])
    residuals = values[lags:] - lagged(values, lags) @ solution
    df = [1 + lags + np.trace(ridge_hat(residualised_cross_design(values, lags, j)[0], penalty)) for j in range(3)]
    assert 1 + lags < np.mean(df) < 1 + 3 * lags  # between the per-channel AR's and the least squares'
    np.testing.assert_allclose(model.sigma_u_[0], residuals.T @ residuals / (n - np.mean(df)), rtol=1e-8)


def test_gcv_picks_the_penalty_of_a_brute_force_search():
    rows = 80  # few, so that the degrees of freedom weigh in GCV
    rng = np.random.default_rng(0)
    values = np.zeros((rows, 5))
    for t in range(1, rows):  # each channel leans a little on the one before it
        values[t] = 0.5 * values[t - 1] + 0.1 * np.roll(values[t - 1], 1) + rng.normal(size=5)
    values[:, 1] = values[:, 0] + 0.3 * rng.normal(size=rows)  # once channel 0's lags are out, little is left of 1's
    values[:, 3] += 10.0  # and units do not matter
    values[:, 4] *= 100.0
    frame = pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="min"))
    model = tsseq.create("var", order=2, cross_penalty="gcv").fit(frame)
    expected = [reference_gcv_penalty(values, 2, channel) for channel in range(5)]
    np.testing.assert_allclose(model.cross_penalty_[0], expected, rtol=1e-12)
    assert any(0 < penalty < 100 for penalty in expected)  # not only the ends of the grid


def test_gcv_shrinks_spurious_cross_terms_of_unrelated_channels():
    frame = independent_regimes()
    values, train = frame.to_numpy(), 1200
    ols = tsseq.create("var", order=1).fit(frame.iloc[:train])
    gcv = tsseq.create("var", order=1, cross_penalty="gcv").fit(frame.iloc[:train])
    per_channel = tsseq.create("ar", order=1).fit(frame.iloc[:train])
    errors = {name: one_step_mse(model, values, train).mean() for name, model in [("ols", ols), ("gcv", gcv), ("ar", per_channel)]}
    # seeds 0-3: ols 1.80, 1.87, 1.73, 1.86; gcv 1.55, 1.59, 1.51, 1.59; ar 1.29, 1.25, 1.28, 1.28
    assert errors["gcv"] < 0.92 * errors["ols"]
    assert errors["gcv"] < 1.35 * errors["ar"]
    assert (gcv.cross_penalty_ > 0).all()


def test_gcv_keeps_a_real_coupling():
    frame = driver_and_follower()
    values, train = frame.to_numpy(), 1000
    ols = tsseq.create("var", max_order=4).fit(frame.iloc[:train])
    gcv = tsseq.create("var", max_order=4, cross_penalty="gcv").fit(frame.iloc[:train])
    assert gcv.order_.tolist() == ols.order_.tolist()  # the order is selected by the least-squares criteria
    np.testing.assert_array_equal(gcv.criteria_, ols.criteria_)
    # b on a one step back: 0.8 (seeds 0-4: OLS and GCV agree to 3e-4)
    assert gcv.coef_[0, 0, 1, 0] == pytest.approx(ols.coef_[0, 0, 1, 0], abs=0.01)
    assert gcv.coef_[0, 0, 1, 0] == pytest.approx(0.8, abs=0.05)
    assert gcv.cross_penalty_[0, 1] < 0.01
    assert np.all(one_step_mse(gcv, values, train) <= 1.03 * one_step_mse(ols, values, train))


def test_a_constant_channel_with_a_cross_penalty():
    frame = coupled()
    frame["setpoint"] = 3.0
    model = tsseq.create("var", max_order=3, cross_penalty="gcv").fit(frame)
    assert np.isfinite(model.coef_).all() and np.isfinite(model.cross_penalty_).all()
    forecast = model.predict(6, quantiles=[0.05, 0.95])
    assert np.isfinite(forecast.to_numpy()).all()
    np.testing.assert_allclose(forecast["setpoint"], 3.0, atol=1e-8)
    np.testing.assert_allclose(model.coef_[0, :, :, 3], 0.0, atol=1e-12)  # a constant is the intercept's
    assert model.cross_penalty_[0, 3] == 100.0  # nothing to explain: every GCV is 0, and ties go to the largest
    assert np.isfinite(model.sample(4, n=10).to_numpy()).all()
    ols = tsseq.create("var", max_order=3).fit(frame)
    zero = tsseq.create("var", max_order=3, cross_penalty=0.0).fit(frame)
    np.testing.assert_allclose(zero.predict(6).to_numpy(), ols.predict(6).to_numpy(), atol=1e-8)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), "abc", True, [0.1]])
def test_a_bad_cross_penalty_is_named(bad):
    with pytest.raises(ConfigError, match=r"'cross_penalty' parameter must be None, a float >= 0 or 'gcv'"):
        tsseq.create("var", cross_penalty=bad).fit(coupled())


def test_a_misspelt_gcv_is_suggested():
    with pytest.raises(ConfigError, match="Did you mean 'gcv'"):
        tsseq.create("var", cross_penalty="GCV").check_params()


def test_quantiles_samples_and_windows_with_a_cross_penalty():
    frame = coupled()
    model = tsseq.create("var", max_order=4, cross_penalty="gcv").fit(frame)
    assert model.get_params()["cross_penalty"] == "gcv"
    quantiles = model.predict(5, quantiles=[0.1, 0.5, 0.9])
    assert quantiles.shape == (5, 3 + 9) and np.isfinite(quantiles.to_numpy()).all()
    windows = np.stack([frame.to_numpy()[-20:], frame.to_numpy()[-21:-1]])
    point = model.predict_windows(windows, 5)
    assert point.shape == (2, 5, 3) and np.isfinite(point).all()
    np.testing.assert_allclose(point[0], model.predict(5).to_numpy(), atol=1e-10)
    bands = model.predict_windows(windows, 5, quantiles=[0.1, 0.5, 0.9])
    assert bands.shape == (2, 5, 3, 3) and np.all(bands[..., 2] > bands[..., 0])
    paths = model.sample(3, n=20000, seed=1).to_numpy().reshape(20000, 3, 3)
    np.testing.assert_allclose(paths.mean(axis=0), model.predict(3).to_numpy(), atol=0.05)
    np.testing.assert_allclose(np.cov(paths[:, 0].T), model.sigma_u_[0], atol=0.05)


def test_an_explosive_penalised_fit_is_replaced_and_long_frames_get_one_penalty_per_equation():
    frame = growing()
    with pytest.warns(UserWarning, match=r"VAR: 1 fitted model\(s\) were explosive"):
        model = tsseq.create("var", max_order=4, cross_penalty="gcv").fit(frame)

    assert companion_radius(model.coef_[0, : model.order_[0]]) <= 1.01
    long = pd.concat({"x": coupled(300, seed=1), "y": coupled(260, seed=2)}, names=["series", "timestamp"])
    together = tsseq.create("var", max_order=3, cross_penalty="gcv").fit(long)
    alone = tsseq.create("var", max_order=3, cross_penalty="gcv").fit(coupled(260, seed=2))
    assert together.cross_penalty_.shape == (2, 3)
    np.testing.assert_array_equal(together.cross_penalty_[1], alone.cross_penalty_[0])
    np.testing.assert_allclose(together.predict(4).loc["y"].to_numpy(), alone.predict(4).to_numpy(), atol=1e-10)


def test_contract_with_a_cross_penalty():
    check_forecaster(tsseq.create("var", max_order=3, cross_penalty="gcv"))


# cross_screen: a channel enters another's equation only if Haugh's test relates their innovations


def reference_haugh(values: np.ndarray, whitening: int, max_lag: int) -> np.ndarray:
    """Haugh's statistic, one pair and one lag at a time: each channel's own-AR residuals, standardised."""
    residuals = []
    for channel in range(values.shape[1]):
        rows = np.arange(whitening, len(values))
        design = np.column_stack([np.ones(len(rows))] + [values[rows - i, channel] for i in range(1, whitening + 1)])
        target = values[rows, channel]
        e = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
        residuals.append((e - e.mean()) / e.std())
    n, channels = len(residuals[0]), values.shape[1]
    statistic = np.zeros((channels, channels))
    for j in range(channels):
        for k in range(channels):
            for lag in range(-max_lag, max_lag + 1):
                a, b = (residuals[j][lag:], residuals[k][: n - lag]) if lag >= 0 else (residuals[j][:lag], residuals[k][-lag:])
                statistic[j, k] += (np.sum(a * b) / n) ** 2
    return n * statistic


def test_haughs_statistic_equals_a_direct_computation():
    values = driver_and_follower(rows=300).to_numpy()
    statistic, degrees = haugh_statistic(values)
    assert degrees == 21  # lags -10..10
    np.testing.assert_allclose(statistic, reference_haugh(values, 10, 10), rtol=1e-10)
    np.testing.assert_allclose(statistic, statistic.T, rtol=1e-12)
    short = values[:20]  # the whitening order capped at 20 // 4 = 5
    short_statistic, short_degrees = haugh_statistic(short)
    assert short_degrees == 21
    np.testing.assert_allclose(short_statistic, reference_haugh(short, 5, 10), rtol=1e-10)
    noise = np.random.default_rng(3).normal(size=(200, 8))  # each pair tested at alpha / 7
    statistic, degrees = haugh_statistic(noise)
    related = related_channels(noise, 0.5)
    expected = (statistic > scipy.stats.chi2.ppf(1 - 0.5 / 7, degrees)) | np.eye(8, dtype=bool)
    np.testing.assert_array_equal(related, expected)
    assert related.sum() == 8 + 2 * 3  # 3 pairs (15 without the Bonferroni correction)


def test_the_screen_holds_its_level_on_independent_channels():
    # two independent AR(1) channels, one nearly a random walk: related in 5.25% of 400 draws at alpha 0.05
    related = []
    for seed in range(400):
        rng = np.random.default_rng(seed)
        values, noise = np.zeros((600, 2)), rng.normal(size=(600, 2))
        for t in range(1, 600):
            values[t] = np.array([0.7, 0.9]) * values[t - 1] + noise[t]
        related.append(related_channels(values, 0.05)[0, 1])
    assert 0.03 <= np.mean(related) <= 0.08


def test_the_screen_keeps_a_real_coupling_and_leaves_the_rest_out():
    frame = driver_and_follower()
    values, train = frame.to_numpy(), 1000
    ols = tsseq.create("var", max_order=4).fit(frame.iloc[:train])
    screened = tsseq.create("var", max_order=4, cross_screen=0.01).fit(frame.iloc[:train])
    # a and b are related (both ways: b's lags help predict a too), c to neither (seeds 0-4 alike)
    np.testing.assert_array_equal(screened.cross_related_[0], [[True, True, False], [True, True, False], [False, False, True]])
    assert screened.order_.tolist() == ols.order_.tolist()  # selected by the least-squares criteria
    np.testing.assert_array_equal(screened.criteria_, ols.criteria_)
    assert screened.coef_[0, 0, 1, 0] == pytest.approx(ols.coef_[0, 0, 1, 0], abs=0.005)  # 0.8152 against 0.8153
    np.testing.assert_array_equal(screened.coef_[0, :, 2, :2], 0.0)  # exactly: c's equation has no a or b columns
    np.testing.assert_array_equal(screened.coef_[0, :, :2, 2], 0.0)
    np.testing.assert_array_equal(screened.cross_penalty_, 0.0)  # a screen alone: least squares on what it keeps
    assert np.all(one_step_mse(screened, values, train) <= 1.01 * one_step_mse(ols, values, train))


def test_the_screen_alone_is_the_least_squares_on_the_channels_it_keeps():
    frame = driver_and_follower()
    values, lags = frame.to_numpy(), 2
    model = tsseq.create("var", order=lags, cross_screen=0.01).fit(frame)
    related = model.cross_related_[0]
    rows = np.arange(lags, len(values))
    for channel in range(3):
        kept = np.flatnonzero(related[channel])
        design = np.column_stack([np.ones(len(rows))] + [values[rows - i][:, kept] for i in range(1, lags + 1)])
        reference = np.linalg.lstsq(design, values[rows, channel], rcond=None)[0]
        assert model.intercept_[0, channel] == pytest.approx(reference[0], abs=1e-8)
        np.testing.assert_allclose(model.coef_[0, :, channel][:, kept].ravel(), reference[1:], atol=1e-8)


def test_a_screen_relating_every_channel_or_none():
    values, lags = coupled().to_numpy(), 2
    everything, nothing = np.ones((4, 4), dtype=bool), np.eye(4, dtype=bool)
    penalised = cross_penalised_least_squares(values, lags, "gcv")
    for got, expected in zip(cross_penalised_least_squares(values, lags, "gcv", everything), penalised):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    per_channel = cross_penalised_least_squares(values, lags, float("inf"))
    for got, expected in zip(cross_penalised_least_squares(values, lags, 0.0, nothing)[:3], per_channel[:3]):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_the_screen_leaves_independent_level_regimes_out():
    frame = independent_regimes()
    values, train = frame.to_numpy(), 1200
    gcv = tsseq.create("var", order=1, cross_penalty="gcv").fit(frame.iloc[:train])
    screened = tsseq.create("var", order=1, cross_penalty="gcv", cross_screen=0.01).fit(frame.iloc[:train])
    per_channel = tsseq.create("ar", order=1).fit(frame.iloc[:train])
    assert screened.cross_related_.shape == (1, 30, 30)
    assert screened.cross_related_[0][~np.eye(30, dtype=bool)].mean() <= 0.01  # seeds 0-3: none related
    errors = {name: one_step_mse(model, values, train).mean() for name, model in [("gcv", gcv), ("screened", screened), ("ar", per_channel)]}
    # seeds 0-3: gcv 1.55, 1.59, 1.51, 1.59; screened 1.29, 1.26, 1.28, 1.29, each the AR's
    assert errors["screened"] < 0.9 * errors["gcv"]
    assert errors["screened"] < 1.01 * errors["ar"]


def test_one_channel_and_a_constant_channel_with_a_screen():
    frame = coupled()
    alone = tsseq.create("var", max_order=6, cross_screen=0.01).fit(frame[["u"]])
    plain = tsseq.create("var", max_order=6).fit(frame[["u"]])
    for name in ("order_", "coef_", "intercept_", "sigma_u_", "cross_penalty_"):
        np.testing.assert_array_equal(getattr(alone, name), getattr(plain, name))
    np.testing.assert_array_equal(alone.cross_related_, [[[True]]])
    frame["setpoint"] = 3.0
    model = tsseq.create("var", max_order=3, cross_screen=0.01).fit(frame)
    np.testing.assert_array_equal(model.cross_related_[0, 3], [False, False, False, True])
    np.testing.assert_array_equal(model.cross_related_[0, :, 3], [False, False, False, True])
    forecast = model.predict(6, quantiles=[0.05, 0.95])
    assert np.isfinite(forecast.to_numpy()).all()
    np.testing.assert_allclose(forecast["setpoint"], 3.0, atol=1e-8)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan"), "0.01", True, [0.01]])
def test_a_bad_cross_screen_is_named(bad):
    with pytest.raises(ConfigError, match=r"'cross_screen' parameter must be None or a significance level in \(0, 1\)"):
        tsseq.create("var", cross_screen=bad).fit(coupled())


def test_contract_with_a_screen():
    model = tsseq.create("var", max_order=3, cross_penalty="gcv", cross_screen=0.01)
    assert model.get_params()["cross_screen"] == 0.01
    check_forecaster(model)
