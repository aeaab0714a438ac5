"""Covariates through ensemble and auto: members and candidates get the kinds they take, and say so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq.errors import ConfigError

HORIZON = 6


def promoted(rows: int = 300, seed: int = 0):
    """(y, sensor, promo) over ``rows + HORIZON`` hours; y stops HORIZON rows before the covariates."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=rows + HORIZON, freq="h", name="time")
    promo = (rng.random(len(index)) < 0.3).astype(float)
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(len(index)) / 24) + 4 * promo + 0.2 * rng.normal(size=len(index))
    y = pd.DataFrame({"y": values}, index=index).iloc[:rows]
    return y, pd.DataFrame({"sensor": rng.normal(size=len(index))}, index=index), pd.DataFrame({"promo": promo}, index=index)


def test_an_ensemble_gives_each_member_the_covariates_it_takes() -> None:
    y, _, future = promoted()
    ensemble = tsseq.create("ensemble", members=["naive", {"name": "ar", "params": {"order": 2}}])
    ensemble.fit(y, future_covariates=future)
    assert ensemble.member_covariates_ == {"naive": [], "ar": ["future"]}
    assert ensemble.supported_covariates == frozenset({"future"})
    naive = tsseq.create("naive").fit(y).predict(HORIZON)
    arx = tsseq.create("ar", order=2).fit(y, future_covariates=future).predict(HORIZON, future_covariates=future)
    forecast = ensemble.predict(HORIZON, future_covariates=future)
    np.testing.assert_allclose(forecast.to_numpy(), (naive.to_numpy() + arx.to_numpy()) / 2, rtol=0, atol=1e-9)
    quantiles = ensemble.predict(HORIZON, future_covariates=future, quantiles=[0.1, 0.9])
    assert (quantiles["y_q0.1"] <= quantiles["y_q0.9"]).all()
    # A backtest passes each window's covariates to the members fitted with them.
    options = {"start": 250, "horizon": HORIZON, "stride": 7}
    backtest = ensemble.historical_forecasts(y, future_covariates=future, **options)
    members = [tsseq.create("naive").historical_forecasts(y, **options),
               tsseq.create("ar", order=2).historical_forecasts(y, future_covariates=future, **options)]
    np.testing.assert_allclose(backtest["y"], (members[0]["y"] + members[1]["y"]) / 2, rtol=0, atol=1e-9)


def test_weighted_ensembles_score_their_members_with_covariates() -> None:
    y, _, future = promoted()
    ensemble = tsseq.create("ensemble", members=["naive", {"name": "ar", "params": {"order": 2}}], combine="weighted",
                            validation_length=24)
    ensemble.fit(y, future_covariates=future)
    assert ensemble.weights_[1] > 0.9, ensemble.weights_  # the ARX, which sees the promotions, takes the weight
    with pytest.raises(ConfigError, match="needs the windows' covariates"):
        ensemble.predict_windows(y.to_numpy()[None, -24:], HORIZON)


def test_auto_restricts_its_candidates_to_the_models_that_take_the_covariates_and_says_so() -> None:
    y, past, future = promoted()
    auto = tsseq.create("auto", horizon=HORIZON, candidates=["naive", "seasonal_naive", "ar", "ensemble"],
                        time_budget_s=None, verbose=False)
    auto.fit(y, future_covariates=future)
    board = auto.leaderboard_.set_index("candidate")
    assert board.loc["naive", "skipped"] == "takes no future covariates"
    assert any(label.startswith("arx(") for label in board.index) and auto.chosen_["name"] == "ar"
    assert "future covariates (candidates limited to the models that take them, AR as ARX)" in auto.report()
    forecast = auto.predict(HORIZON, future_covariates=future)
    flipped = future.copy()
    flipped.iloc[len(y) :] = 1 - flipped.iloc[len(y) :]
    assert np.abs(auto.predict(HORIZON, future_covariates=flipped).to_numpy() - forecast.to_numpy()).min() > 1
    backtest = auto.historical_forecasts(y, start=270, horizon=HORIZON, stride=12, future_covariates=future)
    assert np.isfinite(backtest["y"]).all()
    with pytest.raises(ConfigError, match=r"auto does not take past covariates: it takes future covariates only. "
                                          r"naive takes none; seasonal_naive takes none; ar takes future"):
        auto.fit(y, past_covariates=past)
