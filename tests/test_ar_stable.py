"""AR that cannot explode: orders capped by the series' length, explosive fits replaced (stable order or random walk).

The failure this guards against (issue 14): a ``max_order`` that suits long series,
on short weekly series, selected explosive fits whose forecasts ran off to enormous
values. statsmodels' ``ar_select_order`` reproduces that behaviour (tsseq's selection
equalled it), so it serves as the "before".
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from tsseq import ar
from tsseq.baselines import AR
from tsseq.errors import ConfigError


def weekly(seed: int, length: int = 60) -> np.ndarray:
    """A short weekly series: a trend, a yearly cycle and noise, about 100 to 160."""
    rng = np.random.default_rng(seed)
    weeks = np.arange(length)
    return 100 + 0.8 * weeks + 10 * np.sin(2 * np.pi * weeks / 52) + rng.normal(0, 3, length)


def long(series: dict[str, np.ndarray], column: str = "sales") -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {column: values},
            index=pd.MultiIndex.from_arrays(
                [[name] * len(values), pd.date_range("2022-01-02", periods=len(values), freq="W")], names=["series", "week"]
            ),
        )
        for name, values in series.items()
    ]
    return pd.concat(parts)


def stable_radius(params: np.ndarray) -> float:
    return float(ar.spectral_radius(np.asarray(params[1:])[None])[0])


def test_a_year_of_weekly_values_with_max_order_26_exploded_before() -> None:
    # The selection tsseq equalled: order 26 on 60 values, a root of modulus 1.06 or more.
    for seed, floor in ((126, 5000.0), (30, 20000.0)):
        values = weekly(seed)
        selection = ar_select_order(values, maxlag=26, ic="aic", trend="c")
        assert selection.ar_lags[-1] == 26
        assert np.abs(selection.model.fit().forecast(52)).max() > floor  # the data stay below 160


def test_short_weekly_series_forecast_bounded_and_the_warning_names_the_replaced_series() -> None:
    frame = long({"store_126": weekly(126), "store_30": weekly(30), "store_long": weekly(7, 400)})
    with pytest.warns(UserWarning, match=r"1 fitted model\(s\) were explosive.*series 'store_126' channel 'sales': "
                      r"order 9 -> 2 \(root modulus 1\.061\).*stable=False") as record:
        model = AR(max_order=26).fit(frame)
    assert len([w for w in record if "explosive" in str(w.message)]) == 1
    np.testing.assert_array_equal(model.max_order_[:, 0], [15, 15, 26])  # T // 4 caps the short ones
    np.testing.assert_array_equal(model.replaced_order_[:, 0], [9, -1, -1])
    assert np.all(ar.spectral_radius(model.coef_) <= 1 + ar.STABLE_TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no explosive-forecast warning either
        forecast = model.predict(52, quantiles=[0.05, 0.95])
    for name, values in (("store_126", weekly(126)), ("store_30", weekly(30)), ("store_long", weekly(7, 400))):
        assert forecast.loc[name, "sales"].between(0.5 * values.min(), 1.5 * values.max()).all()
    assert np.isfinite(forecast.to_numpy()).all()

    kept = AR(max_order=26, stable=False).fit(frame)  # the check off: today's behaviour, with the warning
    with pytest.warns(UserWarning, match=r"explosive.*series 'store_126' channel 'sales'"):
        runaway = kept.predict(52)
    assert runaway.loc["store_126", "sales"].abs().max() > 1000


def test_the_replacement_is_the_stable_lower_order_of_minimal_criterion_and_equals_statsmodels() -> None:
    values = weekly(126)
    fit = ar.fit_ar([values], max_order=26, criterion="aic")
    assert fit.max_order[0] == 15 and fit.replaced_order[0] == 9
    # Brute force with statsmodels: the criteria of the common sample t >= 15, the refits on their own samples.
    selection = ar_select_order(values, maxlag=15, ic="aic", trend="c")
    assert selection.ar_lags[-1] == 9  # the capped selection alone is still explosive
    criteria = {0 if key == 0 else len(key): value for key, value in selection.aic.items()}
    stable = [q for q in range(9) if q == 0 or stable_radius(AutoReg(values, lags=q, trend="c").fit().params) <= 1.01]
    best = min(stable, key=lambda q: (criteria[q], q))
    assert fit.order[0] == best == 2
    result = AutoReg(values, lags=best, trend="c").fit()
    np.testing.assert_allclose(np.r_[fit.intercept[0], fit.coef[0]], result.params, rtol=1e-9, atol=1e-8)
    assert fit.sigma2[0] == pytest.approx(result.sigma2, rel=1e-10)
    np.testing.assert_allclose(fit.criteria[0, :16], [criteria[p] for p in range(16)], rtol=1e-10)
    assert np.all(np.isinf(fit.criteria[0, 16:]))


def test_intervals_follow_the_replaced_order() -> None:
    frame = long({"store_126": weekly(126)})
    with pytest.warns(UserWarning, match="were explosive"):
        model = AR(max_order=26).fit(frame)
    forecast = model.predict(20, quantiles=[0.025, 0.975])
    result = AutoReg(weekly(126), lags=2, trend="c").fit()
    bounds = np.asarray(result.get_prediction(start=60, end=79).conf_int(alpha=0.05))
    np.testing.assert_allclose(forecast[["sales_q0.025", "sales_q0.975"]].to_numpy(), bounds, rtol=0, atol=1e-6)
    np.testing.assert_allclose(forecast["sales"].to_numpy(), result.forecast(20), rtol=1e-9)


def test_a_growing_series_falls_back_to_the_random_walk_with_drift_not_the_mean() -> None:
    # Every order's fit of a series growing 8% a step is explosive (AR(1) too); the mean model, the
    # only stable order, forecast the training mean (about 80) below a last value near 45 * 1.08.
    rng = np.random.default_rng(0)
    boom = 1.08 ** np.arange(50) + rng.normal(size=50)
    with pytest.warns(UserWarning, match=r"series 'boom' channel 'sales': order 2 -> a random walk with drift "
                      r"\(root modulus 1\.079\)"):  # fmt: skip
        model = AR(order=2).fit(long({"boom": boom, "calm": rng.normal(size=50)}))
    np.testing.assert_array_equal(model.order_[:, 0], [1, 2])
    np.testing.assert_array_equal(model.random_walk_[:, 0], [True, False])
    assert model.coef_[0, 0, 0] == 1.0 and model.coef_[0, 0, 1] == 0.0
    # Known answer: y_T + h d, d the mean step; the h-step variance h * sigma2, sigma2 the steps' MLE variance.
    steps = np.diff(boom)
    drift, sigma2 = steps.mean(), np.mean((steps - steps.mean()) ** 2)
    horizon = np.arange(1, 7)
    forecast = model.predict(6, quantiles=[0.025, 0.975])
    np.testing.assert_allclose(forecast.loc["boom", "sales"].to_numpy(), boom[-1] + horizon * drift, rtol=1e-10)
    half = 1.959963984540054 * np.sqrt(horizon * sigma2)
    np.testing.assert_allclose(forecast.loc["boom", "sales_q0.025"].to_numpy(), boom[-1] + horizon * drift - half, rtol=1e-8)
    np.testing.assert_allclose(forecast.loc["boom", "sales_q0.975"].to_numpy(), boom[-1] + horizon * drift + half, rtol=1e-8)


def test_the_random_walk_wins_only_by_the_criterion_and_regressors_keep_the_stable_orders() -> None:
    # The criterion decides: on store_126 (trend, yearly cycle) the stable order 2 stays ahead of it.
    fit = ar.fit_ar([weekly(126)], max_order=26, criterion="aic")
    assert fit.order[0] == 2 and not fit.random_walk[0]
    walk_criterion, drift = ar._random_walk(*[np.asarray(v) for v in (weekly(126)[None], [60], [15])], "aic")
    assert walk_criterion[0] > fit.criteria[0, 2] and drift[0] == pytest.approx(np.diff(weekly(126)).mean())
    # With regressors a random walk is no candidate (its drift would ignore them): the stable orders only.
    rng = np.random.default_rng(0)
    boom = 1.08 ** np.arange(50) + rng.normal(size=50)
    fit_x = ar.fit_ar([boom], order=2, exog=[rng.normal(size=(50, 1))])
    assert fit_x.replaced_order[0] == 2 and fit_x.order[0] == 0 and not fit_x.random_walk[0]


def test_a_yearly_series_growing_five_percent_keeps_growing() -> None:
    # The probe's case (statsmodels' copper consumption behaves alike): 30 yearly values growing 5%.
    rng = np.random.default_rng(0)
    values = 100 * 1.05 ** np.arange(30) * (1 + 0.02 * rng.standard_normal(30))
    frame = pd.DataFrame({"y": values}, index=pd.date_range("1990", periods=30, freq="YS"))
    with pytest.warns(UserWarning, match="order 2 -> a random walk with drift"):
        forecast = AR().fit(frame).predict(3)["y"].to_numpy()
    assert np.all(np.diff(forecast) > 0) and forecast[0] > values[-1]  # the mean model gave 220.9, flat
    np.testing.assert_allclose(forecast, values[-1] + np.arange(1, 4) * np.diff(values).mean(), rtol=1e-10)


def test_stable_fits_are_untouched_by_the_check() -> None:
    rng = np.random.default_rng(3)
    batch = [weekly(seed, 200) for seed in range(5)] + [np.cumsum(rng.normal(size=150)) + 50]
    for params in ({"max_order": 12}, {"order": 4}):
        checked, unchecked = ar.fit_ar(batch, **params), ar.fit_ar(batch, stable=False, **params)
        assert np.all(checked.replaced_order == -1) and unchecked.replaced_order is None
        for name in ("order", "intercept", "coef", "sigma2"):
            np.testing.assert_array_equal(getattr(checked, name), getattr(unchecked, name))


def test_batched_replacement_equals_fitting_each_series_alone() -> None:
    batch = [weekly(seed, 50 + seed % 30) for seed in range(120)]
    fit = ar.fit_ar(batch, max_order=26, criterion="aic")
    assert np.sum(fit.replaced_order >= 0) >= 5  # several explosive first choices among them
    assert np.all(ar.spectral_radius(fit.coef) <= 1 + ar.STABLE_TOL)
    for position in np.flatnonzero(fit.replaced_order >= 0)[:8].tolist() + [0, 1]:
        alone = ar.fit_ar([batch[position]], max_order=26, criterion="aic")
        order = fit.order[position]
        assert alone.order[0] == order and alone.replaced_order[0] == fit.replaced_order[position]
        np.testing.assert_allclose(alone.coef[0, :order], fit.coef[position, :order], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(alone.intercept[0], fit.intercept[position], rtol=1e-9)


def test_order_cap_follows_the_length_and_short_series_are_no_longer_refused() -> None:
    np.testing.assert_array_equal(ar.max_order_for_length(np.array([3, 8, 20, 60, 700, 960])), [0, 2, 5, 15, 175, 240])
    np.testing.assert_array_equal(ar.max_order_for_length(np.array([8, 20]), horizon=6), [0, 5])
    values = weekly(4, 20)  # 20 values: max_order=10 needed 22 before
    model = AR(max_order=10).fit(long({"short": values}))
    assert model.max_order_[0, 0] == 5 and model.criteria_.shape == (1, 1, 11)
    selection = ar_select_order(values, maxlag=5, ic="aic", trend="c")
    assert model.order_[0, 0] == (0 if selection.ar_lags is None else selection.ar_lags[-1])


def test_a_panel_whose_short_series_is_shorter_than_the_long_ones_orders_forecasts_each_as_alone() -> None:
    # The panel's coefficients are as wide as its longest series' order; the short one has fewer rows than that.
    rng = np.random.default_rng(0)
    steps = np.arange(300)
    cycle = {name: 10 + 3 * np.sin(2 * np.pi * steps / 24) + 0.3 * rng.standard_normal(300) for name in ("a", "b")}
    panel = {**cycle, "short": cycle["a"][:12]}
    for strategy in ("recursive", "direct"):
        model = AR(max_order=96, strategy=strategy, horizon=6).fit(long(panel))
        assert model.coef_.shape[-1] > 12 and model.max_order_[2, 0] < 12
        alone = AR(max_order=96, strategy=strategy, horizon=6).fit(long({"short": panel["short"]}))
        np.testing.assert_allclose(model.predict(6).loc["short"].to_numpy(), alone.predict(6).to_numpy(), rtol=1e-9)


def test_direct_models_are_not_checked_and_bad_parameters_are_refused() -> None:
    frame = long({"store_126": weekly(126)})
    model = AR(max_order=26, strategy="direct", horizon=8).fit(frame)
    assert model.replaced_order_[0, 0] == -1 and model.max_order_[0, 0] == 15
    with pytest.raises(ConfigError, match="'stable_tol' parameter must be a float >= 0. Got -0.1"):
        AR(stable_tol=-0.1).fit(frame)
    with pytest.raises(ConfigError, match="'stable' parameter must be True or False"):
        AR(stable="yes").fit(frame)


def test_white_noise_selects_order_zero_everywhere_and_forecasts_its_mean():
    index = pd.date_range("2020-01-01", periods=600, freq="h")
    noise = pd.DataFrame({"y": np.random.default_rng(1).normal(size=600)}, index=index)
    model = AR(max_order=96).fit(noise)
    assert model.order_.tolist() == [[0]]  # every order 0: the stability check has no lag to look at
    np.testing.assert_allclose(model.predict(3)["y"], noise["y"].mean())
    assert np.isfinite(model.predict_interval(3).to_numpy()).all()
