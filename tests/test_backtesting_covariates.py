"""Backtests of models fitted with covariates: equal to the loop of fits and predicts, and free of leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq.data.covariates import WindowCovariates
from tsseq.errors import ConfigError, DataError

HORIZON, LENGTH = 4, 16
TINY = {"input_length": LENGTH, "horizon": HORIZON, "hidden_size": 8, "num_layers": 1,
        "training": {"epochs": 1, "seed": 0, "threads": 1}}

TINY_TRANSFORMER = {"input_length": LENGTH, "horizon": HORIZON, "hidden_size": 8, "n_heads": 2, "num_encoder_layers": 1,
                    "training": TINY["training"]}


def promoted(rows: int = 160, seed: int = 0):
    """(y, past, future) frames over the same rows: a seasonal series lifted by 3 on promotion hours."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2022-03-01", periods=rows, freq="h", name="timestamp")
    promo = (rng.random(rows) < 0.3).astype(float)
    values = np.sin(np.arange(rows) * 2 * np.pi / 24) + 3 * promo + 0.1 * rng.normal(size=rows)
    return (
        pd.DataFrame({"y": values}, index=index),
        pd.DataFrame({"sensor": rng.normal(size=rows)}, index=index),
        pd.DataFrame({"promo": promo}, index=index),
    )


def at(forecasts: pd.DataFrame, cutoff) -> np.ndarray:
    return forecasts.loc[forecasts["cutoff"] == cutoff, "y"].to_numpy()


@pytest.mark.parametrize(
    "name, params, kinds",
    [("ar", {"order": 3}, ("future",)), ("gru", TINY, ("past", "future")), ("transformer_seq2seq", {**TINY_TRANSFORMER}, ("past", "future"))],
)
def test_a_refitting_backtest_equals_the_loop_of_fits_and_predicts(name, params, kinds) -> None:
    y, past, future = promoted()
    frames = {"past_covariates": past, "future_covariates": future}
    given = {f"{kind}_covariates": frames[f"{kind}_covariates"] for kind in kinds}
    model = tsseq.create(name, **params)
    forecasts = model.historical_forecasts(y, start=140, horizon=HORIZON, stride=6, refit=True, **given)
    origins = range(140, len(y) - HORIZON + 1, 6)
    assert forecasts["cutoff"].nunique() == len(origins) and not hasattr(model, "layout_")
    for origin in origins:
        fitted = tsseq.create(name, **params).fit(y.iloc[:origin], **given)
        expected = fitted.predict(HORIZON, future_covariates=given.get("future_covariates"))["y"].to_numpy()
        np.testing.assert_allclose(at(forecasts, y.index[origin - 1]), expected, rtol=0, atol=1e-6)


def test_one_fit_forecasts_every_origin_in_one_pass_as_window_by_window() -> None:
    y, past, future = promoted()
    forecasts = tsseq.create("gru", **TINY).historical_forecasts(
        y, start=120, horizon=HORIZON, past_covariates=past, future_covariates=future
    )
    fitted = tsseq.create("gru", **TINY).fit(y.iloc[:120], past_covariates=past, future_covariates=future)
    first = fitted.predict(HORIZON, future_covariates=future)["y"].to_numpy()
    np.testing.assert_allclose(at(forecasts, y.index[119]), first, rtol=0, atol=1e-6)  # the first origin: predict's
    values, p, f = (frame.to_numpy() for frame in (y, past, future))
    for origin in (125, 140, len(y) - HORIZON):  # one window at a time
        window = WindowCovariates(past=p[None, origin - LENGTH : origin], future=f[None, origin - LENGTH : origin + HORIZON])
        alone = fitted.predict_windows(values[None, origin - LENGTH : origin], HORIZON, covariates=window)[0, :, 0]
        np.testing.assert_allclose(at(forecasts, y.index[origin - 1]), alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("refit", [False, 5])
def test_a_cutoff_reads_past_covariates_up_to_it_and_future_ones_over_its_horizon(refit) -> None:
    y, past, future = promoted()
    covariates = {"past_covariates": past, "future_covariates": future}
    options = {"start": 130, "horizon": HORIZON, "refit": refit, "stride": 5}
    base = tsseq.create("gru", **TINY).historical_forecasts(y, **options, **covariates)
    origin = 140
    cutoff = y.index[origin - 1]
    changed_past = past.copy()
    changed_past.iloc[origin:] = 1e3  # after the cutoff
    later_future = future.copy()
    later_future.iloc[origin + HORIZON :] = -7.0  # after the cutoff's horizon
    for frames in ({**covariates, "past_covariates": changed_past}, {**covariates, "future_covariates": later_future}):
        again = tsseq.create("gru", **TINY).historical_forecasts(y, **options, **frames)
        np.testing.assert_array_equal(at(again, cutoff), at(base, cutoff))
    inside = future.copy()
    inside.iloc[origin : origin + HORIZON] = 1 - inside.iloc[origin : origin + HORIZON]  # the cutoff's horizon
    again = tsseq.create("gru", **TINY).historical_forecasts(y, **options, **{**covariates, "future_covariates": inside})
    assert np.abs(at(again, cutoff) - at(base, cutoff)).max() > 1e-4
    earlier = y.index[origin - 6]  # a cutoff whose horizon ends before the changed rows
    np.testing.assert_array_equal(at(again, earlier), at(base, earlier))


def test_long_frames_with_static_covariates_quantiles_and_a_score() -> None:
    parts = {name: promoted(seed=seed) for seed, name in enumerate(["a", "b"])}
    y, past, future = (pd.concat({name: part[k] for name, part in parts.items()}, names=["store"]) for k in range(3))
    static = pd.DataFrame({"region": ["north", "south"]}, index=["a", "b"])
    model = tsseq.create("gru", **{**TINY, "training": {**TINY["training"], "loss": "normal"}})
    covariates = {"past_covariates": past, "future_covariates": future, "static_covariates": static}
    forecasts = model.historical_forecasts(y, start=150, horizon=HORIZON, quantiles=[0.1, 0.9], **covariates)
    assert list(forecasts.columns) == ["store", "cutoff", "timestamp", "y", "y_q0.1", "y_q0.9"]
    assert forecasts["store"].unique().tolist() == ["a", "b"] and len(forecasts) == 2 * 7 * HORIZON
    assert (forecasts["y_q0.1"] <= forecasts["y_q0.9"]).all()
    scores = model.backtest(y, start=150, horizon=HORIZON, metric=["mae", "crps"], quantiles=[0.1, 0.9], **covariates)
    assert np.isfinite(scores["value"]).all()


def test_refusals_name_the_model_the_kind_and_what_is_missing() -> None:
    y, past, future = promoted(80)
    with pytest.raises(ConfigError, match=r"naive does not take future covariates"):
        tsseq.create("naive").historical_forecasts(y, start=60, horizon=HORIZON, future_covariates=future)
    with pytest.raises(ConfigError, match=r"ar does not take past covariates"):
        tsseq.create("ar").backtest(y, start=60, horizon=HORIZON, past_covariates=past)
    fitted = tsseq.create("ar", order=2).fit(y.iloc[:60], future_covariates=future)
    with pytest.raises(ConfigError, match=r"predict_windows .* needs the windows' covariates.*historical_forecasts"):
        fitted.predict_windows(y.to_numpy()[None, :10], HORIZON)
    with pytest.raises(DataError, match=r"covariates.future of 1 windows must have shape \(1, 14, 1\)"):
        fitted.predict_windows(y.to_numpy()[None, :10], HORIZON, covariates=WindowCovariates(future=np.zeros((1, 10, 1))))
    with pytest.raises(DataError, match=r"future covariate 'promo' has no value at .*every backtest row"):
        tsseq.create("ar", order=2).historical_forecasts(y, start=60, horizon=HORIZON, future_covariates=future.iloc[:70])
