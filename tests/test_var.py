"""The vector autoregression: statsmodels' VAR to 1e-8, one channel is an AR, stability, windows, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.api import VAR as StatsmodelsVAR

import tsseq
from tsseq.errors import ConfigError, DataError, MissingValuesError
from tsseq.testing import check_forecaster


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


def test_an_explosive_fit_is_replaced_with_a_warning_naming_the_series():
    rng = np.random.default_rng(3)
    growth = 1.04 ** np.arange(120)
    frame = pd.DataFrame(
        {"a": growth * (1 + 0.01 * rng.normal(size=120)), "b": 2 * growth + rng.normal(size=120)},
        index=pd.date_range("2024-01-01", periods=120, freq="D"),
    )
    with pytest.warns(UserWarning, match=r"VAR: 1 fitted model\(s\) were explosive.*the series: order \d+ -> \d+ \(root modulus"):
        model = tsseq.create("var", max_order=4).fit(frame)
    assert model.replaced_order_[0] > model.order_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = tsseq.create("var", max_order=4, stable=False).fit(frame)
    assert kept.replaced_order_[0] == -1
    from tsseq.var import companion_radius

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
    with pytest.raises(DataError, match=r"Series 0 has 5 rows; VAR with 3 channel\(s\) needs at least 6 rows"):
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
