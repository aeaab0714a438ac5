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


def test_in_a_panel_the_short_series_model_reads_the_future_covariates_of_its_own_series() -> None:
    (long_y, _, long_future), (short_y, _, short_future) = promoted(seed=1), promoted(rows=12, seed=2)
    y = pd.concat({"long": long_y, "new": short_y}, names=["series", "time"])
    future = pd.concat({"long": long_future, "new": short_future}, names=["series", "time"])
    auto = tsseq.create("auto", horizon=HORIZON, candidates=["naive", "seasonal_naive", "ar", "ensemble"],
                        time_budget_s=None, verbose=False)
    with pytest.warns(UserWarning, match="1 of 2 series have fewer than 16 rows.*'new'"):
        auto.fit(y, future_covariates=future)
    assert auto.chosen_["name"] == "ar" and auto.short_series_choice_ == auto.chosen_["label"]  # ARX, series by series
    forecast = auto.predict(HORIZON, future_covariates=future)
    alone = tsseq.create("ar", **auto.chosen_["params"]).fit(short_y, future_covariates=short_future)
    np.testing.assert_allclose(forecast.loc["new"].to_numpy(), alone.predict(HORIZON, future_covariates=short_future)
                               .to_numpy(), rtol=0, atol=1e-9)  # fmt: skip
    flipped = future.copy()
    flipped.loc["new"] = (1 - flipped.loc["new"]).to_numpy()
    moved = auto.predict(HORIZON, future_covariates=flipped) - forecast
    assert np.abs(moved.loc["new"].to_numpy()).min() > 1 and np.abs(moved.loc["long"].to_numpy()).max() == 0


def test_auto_on_a_short_series_drops_the_past_covariates_no_candidate_it_can_score_takes_and_says_so() -> None:
    y, past, future = promoted(rows=200)
    auto = tsseq.create("auto", horizon=HORIZON, time_budget_s=None, verbose=False)
    with pytest.warns(UserWarning, match=r"auto: past covariates dropped: no candidate that takes them can be scored "
                                         r"on these data \(segrnn\(.*fewer than 1,000"):
        auto.fit(y, past_covariates=past)
    assert list(auto.dropped_covariates_) == ["past"] and "fewer than 1,000" in auto.dropped_covariates_["past"]
    assert auto.covariate_spec_.kinds == ("past",)  # auto still takes them: forecasts and backtests pass them
    assert getattr(auto.chosen_model_, "covariate_spec_", None) is None  # the choice was fitted on the values alone
    board = auto.leaderboard_.set_index("candidate")
    segrnn = next(label for label in board.index if label.startswith("segrnn("))
    assert board.loc[segrnn, "skipped"].endswith("the past covariates it takes are dropped")
    assert pd.isna(board.loc["naive", "skipped"]) and np.isfinite(board.loc["naive", "score"])  # scored, without them
    assert "past covariates dropped (no candidate that takes them can be scored on these data)" in auto.report()
    forecast = auto.predict(HORIZON)
    assert forecast.shape == (HORIZON, 1) and np.isfinite(forecast.to_numpy()).all()
    with pytest.warns(UserWarning, match="past covariates dropped"):  # each refit of the backtest decides alike
        backtest = auto.historical_forecasts(y, start=180, horizon=HORIZON, stride=HORIZON, past_covariates=past)
    assert np.isfinite(backtest["y"]).all()


def test_auto_on_a_short_series_keeps_the_future_covariates_for_arx_and_drops_the_rest() -> None:
    y, past, future = promoted(rows=200)
    static = pd.DataFrame({"shop": ["north"]})
    auto = tsseq.create("auto", horizon=HORIZON, time_budget_s=None, verbose=False)
    with pytest.warns(UserWarning, match=r"past and static covariates dropped: .*choice fitted with the future covariates"):
        auto.fit(y, past_covariates=past, future_covariates=future, static_covariates=static)
    assert list(auto.dropped_covariates_) == ["past", "static"]
    assert auto.chosen_["name"] == "ar" and auto.chosen_model_.covariate_spec_.kinds == ("future",)
    assert any(label.startswith("arx(") for label in auto.leaderboard_["candidate"])
    assert "future covariates (candidates limited to the models that take them, AR as ARX)" in auto.report()
    forecast = auto.predict(HORIZON, future_covariates=future)
    arx = tsseq.create("ar", **auto.chosen_["params"]).fit(y, future_covariates=future)
    np.testing.assert_allclose(forecast.to_numpy(), arx.predict(HORIZON, future_covariates=future).to_numpy())


def test_auto_falls_back_to_the_baselines_when_no_candidate_taking_the_covariates_can_be_scored() -> None:
    # Enough rows for segrnn's 1,000 windows, but no time for it: the same rule drops the past covariates.
    y, past, future = promoted(rows=1_400)
    auto = tsseq.create("auto", horizon=HORIZON, candidates=["segrnn"], time_budget_s=1e-9, verbose=False)
    with pytest.warns(UserWarning, match=r"past covariates dropped: .*segrnn\(.*time budget"):
        auto.fit(y, past_covariates=past)
    assert auto.chosen_["name"] in ("naive", "seasonal_naive", "ar") and "time budget" in auto.dropped_covariates_["past"]
    assert np.isfinite(auto.predict(HORIZON).to_numpy()).all()
