"""auto: season inference, the candidates' validation backtest, the choice and its guarantee, budget, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq import persistence
from tsseq.auto import AutoForecaster, frequency_season, season_test
from tsseq.backtesting import historical_forecasts
from tsseq.baselines import seasonality_test
from tsseq.conformal import signed_score_quantile
from tsseq.errors import ConfigError, DataError

BASELINE_CANDIDATES = ["naive", "seasonal_naive", "ar", "ensemble"]  # no network: fast


def hourly(values: np.ndarray, name: str = "y") -> pd.DataFrame:
    return pd.DataFrame({name: values}, index=pd.date_range("2023-01-01", periods=len(values), freq="h", name="time"))


def seasonal_hourly(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A strong daily cycle with a little noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    return hourly(10 + 3 * np.sin(2 * np.pi * steps / 24) + 0.3 * rng.standard_normal(rows))


def random_walk(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    return hourly(np.cumsum(np.random.default_rng(seed).standard_normal(rows)))


def trend_mult(rows: int = 500, seed: int = 0) -> pd.DataFrame:
    """Daily: a linear trend times a weekly season, with multiplicative noise; AR's constant spread is too narrow late."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    values = (100 + 2 * steps) * (1 + 0.25 * np.sin(2 * np.pi * steps / 7)) * (1 + 0.03 * rng.standard_normal(rows))
    return pd.DataFrame({"y": values}, index=pd.date_range("2021-01-01", periods=rows, freq="D", name="timestamp"))


def mixed(rows: int = 500, seed: int = 0) -> pd.DataFrame:
    """A season whose amplitude drifts, a trend and AR(1) noise: no baseline is right by construction."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    noise = np.zeros(rows)
    for t in range(1, rows):
        noise[t] = 0.7 * noise[t - 1] + rng.standard_normal()
    amplitude = 2 + np.sin(2 * np.pi * steps / rows * rng.uniform(1, 3))
    return hourly(amplitude * np.sin(2 * np.pi * steps / 24) + 0.01 * rng.uniform(-1, 1) * steps + 0.5 * noise)


def fit_auto(frame: pd.DataFrame, horizon: int = 24, **params) -> AutoForecaster:
    return tsseq.create("auto", horizon=horizon, verbose=False, **params).fit(frame)


def score_of(model: AutoForecaster, name: str) -> float:
    board = model.leaderboard_
    (score,) = board.loc[board["candidate"].str.startswith(name + "(") | (board["candidate"] == name), "score"]
    return float(score)


# --------------------------------------------------------------------------- season


@pytest.mark.parametrize(
    ("freq", "season"),
    [("h", 24), ("D", 7), ("W-SUN", 52), ("MS", 12), ("ME", 12), ("QS", 4), ("YS", 1), ("15min", 96), ("2h", 12),
     ("B", 5), ("s", 60)],
)
def test_the_season_of_a_frequency(freq, season):
    assert frequency_season(freq) == season


@pytest.mark.parametrize(("freq", "period", "season"), [("h", 24, 24), ("D", 7, 7), ("MS", 12, 12)])
def test_the_season_is_inferred_from_the_frequency_and_confirmed_by_the_seasonality_test(freq, period, season):
    rng = np.random.default_rng(0)
    rows = 20 * period
    values = 5 + np.sin(2 * np.pi * np.arange(rows) / period) + 0.2 * rng.standard_normal(rows)
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2000-01-01", periods=rows, freq=freq))
    model = fit_auto(frame, horizon=period, candidates=BASELINE_CANDIDATES)
    assert model.season_length_ == season
    assert f"season {season}" in model.report()


def test_white_noise_has_no_season_though_its_frequency_suggests_one():
    model = fit_auto(hourly(np.random.default_rng(0).standard_normal(600)), candidates=BASELINE_CANDIDATES)
    assert model.season_length_ == 1
    # seasonal naive is scored at the frequency's season all the same: said, so that choosing it contradicts nothing
    assert ("no season for AR and the networks (frequency h suggests 24; seasonality test 0/1; seasonal_naive(m=24) "
            "is a candidate all the same)") in model.report()


@pytest.mark.parametrize("seed", [0, 2, 3])  # seed 1: one of the test's 10% of false alarms
def test_a_random_walk_has_no_season_though_its_levels_are_autocorrelated_at_every_lag(seed):
    model = fit_auto(random_walk(seed=seed), candidates=BASELINE_CANDIDATES)
    assert model.season_length_ == 1  # 24 before: M4's test on the levels reads persistence as a season


def test_the_kpss_statistic_is_statsmodels():
    import math
    import warnings

    from statsmodels.tsa.stattools import kpss

    from tsseq.auto import _kpss_level

    rng = np.random.default_rng(0)
    for values in (np.cumsum(rng.normal(size=365)), rng.normal(size=120), np.sin(np.arange(700) / 3.8)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its p-value lies outside the table: the statistic is what is compared
            expected = kpss(values, regression="c", nlags=int(3 * math.sqrt(len(values)) / 13))[0]
        assert _kpss_level(values) == pytest.approx(expected, rel=1e-12)


def test_the_season_test_finds_random_walks_seasonal_at_about_its_nominal_rate_where_m4s_finds_them_all():
    rng = np.random.default_rng(0)
    walks = [np.cumsum(rng.standard_normal(365)) for _ in range(100)]
    assert sum(bool(seasonality_test(walk, 7)) for walk in walks) == 100  # Naive2's test, as M4 defines it
    assert sum(season_test(walk, 7) for walk in walks) <= 15


@pytest.mark.filterwarnings("ignore:.*were explosive")  # AR on a trend
def test_the_season_of_a_trending_series_is_found_on_its_differences():
    # 5 years of monthly values rising 20 a month around a season of amplitude 100: M4's test on the levels finds
    # the season in none of 100 such draws (the trend's autocorrelations swamp its bound), on the differences in all.
    steps = np.arange(60)
    values = 1000 + 20 * steps + 100 * np.sin(2 * np.pi * steps / 12) + 10 * np.random.default_rng(0).standard_normal(60)
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2019-01-01", periods=60, freq="MS"))
    assert not seasonality_test(values, 12)
    model = fit_auto(frame, horizon=12, candidates=BASELINE_CANDIDATES)
    assert model.season_length_ == 12
    assert "season 12 (frequency MS; seasonality test 1/1)" in model.report()


@pytest.mark.filterwarnings("ignore:.*isolated extreme value")  # named: test_auto_inputs.py
def test_one_spike_hides_no_season():
    # A daily series of 50 with a weekly cycle of 5 and one 5000 (a typing error): M4's test found no season in it.
    steps = np.arange(365)
    values = 50 + 5 * np.sin(2 * np.pi * steps / 7) + np.random.default_rng(0).standard_normal(365)
    values[300] = 5000
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2022-01-01", periods=365, freq="D"))
    assert not seasonality_test(values, 7)
    model = fit_auto(frame, horizon=14, candidates=BASELINE_CANDIDATES)
    assert model.season_length_ == 7


# --------------------------------------------------------------------------- the choice


def test_a_strongly_seasonal_series_gets_a_seasonal_model_that_beats_naive_on_validation():
    model = fit_auto(seasonal_hourly())
    members = [m["name"] for m in model.chosen_["params"].get("members", [])]
    assert model.chosen_["name"] in ("seasonal_naive", "ar") or {"seasonal_naive", "ar"} & set(members)
    assert model.validation_score_ < 0.5 * score_of(model, "naive")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_walk_gets_naive_or_ar(seed):
    model = fit_auto(random_walk(seed=seed))
    assert model.chosen_["name"] in ("naive", "ar")


@pytest.mark.parametrize("seed", range(6))
def test_never_worse_on_its_validation_backtest_than_the_best_of_naive_seasonal_naive_and_ar(seed):
    frame = mixed(seed=seed)
    model = fit_auto(frame, horizon=12)
    board = model.leaderboard_
    baselines = board[board["candidate"].str.match(r"^(naive|seasonal_naive|ar)\b")]
    assert len(baselines) == 3 and baselines["score"].notna().all()
    assert model.validation_score_ <= baselines["score"].min()
    assert model.baseline_score_ == baselines["score"].min()


def test_the_validation_score_is_mase_of_a_backtest_without_refit_on_the_last_rows():
    frame = seasonal_hourly(rows=400)
    model = fit_auto(frame, candidates=BASELINE_CANDIDATES, validation_origins=5)
    first = len(frame) - 24 - 4 * 12  # 5 origins 12 rows apart, the last 24 rows before the end
    forecasts = historical_forecasts(tsseq.create("naive"), frame, start=first, horizon=24, stride=12)
    truth = frame["y"].reindex(pd.DatetimeIndex(forecasts["timestamp"])).to_numpy()
    history = frame["y"].to_numpy()[:first]
    scale = np.mean(np.abs(history[24:] - history[:-24]))
    assert model.validation_origins_ == 5
    assert score_of(model, "naive") == pytest.approx(np.mean(np.abs(forecasts["y"].to_numpy() - truth)) / scale)


def test_linear_is_scored_when_asked_for_over_the_networks_input_and_not_by_default():
    steps = np.arange(700)
    frame = hourly(10 + np.sin(2 * np.pi * steps / 24) + 0.5 * np.sin(2 * np.pi * steps / 60))  # two cycles, no noise
    model = fit_auto(frame, candidates=[*BASELINE_CANDIDATES, "linear"])
    # 7 seasons of input (168 rows), within the 448 rows before the 20 validation origins: half of them less H
    assert score_of(model, "linear(L=168)") < 1e-6  # exact on a sum of sines: chosen over every baseline
    assert model.chosen_["name"] == "linear" and model.chosen_["params"] == {"input_length": 168, "horizon": 24}
    default = fit_auto(frame).leaderboard_["candidate"]  # the networks skipped: too few windows here
    assert not default.str.startswith("linear").any() and default.str.startswith("segrnn").any()


def test_many_series_are_scored_on_the_last_horizon_of_each_and_all_forecast():
    parts = {f"s{i}": seasonal_hourly(rows=300 + 20 * i, seed=i) for i in range(4)}
    frame = pd.concat(parts, names=["series", "time"])
    model = fit_auto(frame, candidates=BASELINE_CANDIDATES)
    assert model.validation_origins_ == 1 and "4 series x 1 origin(s)" in model.report()
    forecast = model.predict(24)
    assert forecast.groupby(level="series").size().to_dict() == {name: 24 for name in parts}


def test_it_says_what_it_chose_and_why():
    model = fit_auto(seasonal_hourly())
    board = model.leaderboard_
    assert list(board.columns) == ["candidate", "score", "fit_seconds", "skipped"]
    scored = board["score"].notna()
    assert board["score"][scored].is_monotonic_increasing and not scored[scored.idxmin():].any()  # best first, skipped last
    skipped = board.set_index("candidate")["skipped"]
    assert "fewer than 1,000" in skipped.filter(like="segrnn").iloc[0]  # 600 rows: too few windows
    line = model.report()
    assert line.startswith(f"auto: chose {model.chosen_['label']} (") and "\n" not in line
    rebuilt = tsseq.create(model.chosen_["name"], **model.chosen_["params"])
    assert model.chosen_model_.get_params(deep=False) == rebuilt.get_params(deep=False)


def test_verbose_prints_the_report_line_on_stderr(capsys):
    model = tsseq.create("auto", horizon=24, candidates=BASELINE_CANDIDATES).fit(seasonal_hourly())
    assert capsys.readouterr().err.strip() == model.report()


# --------------------------------------------------------------------------- budget and networks


def test_the_time_budget_skips_the_networks_and_says_so():
    frame = seasonal_hourly(rows=3000)  # 2,500 windows before the validation: segrnn is a candidate
    model = fit_auto(frame, time_budget_s=1e-6)
    skipped = model.leaderboard_.set_index("candidate")["skipped"]
    assert skipped.filter(like="segrnn").iloc[0].startswith("time budget")
    assert "time budget" in model.report()
    assert model.chosen_["name"] != "segrnn"


def test_a_network_candidate_is_probed_against_the_budget_trained_and_scored():
    frame = seasonal_hourly(rows=1500)
    model = fit_auto(frame, candidates=["segrnn"], training={"epochs": 2, "threads": 1}, time_budget_s=300)
    board = model.leaderboard_.set_index("candidate")
    (segrnn,) = [label for label in board.index if label.startswith("segrnn")]
    assert np.isfinite(board.loc[segrnn, "score"]) and board.loc[segrnn, "skipped"] is None
    assert not model.probabilistic or model.chosen_["name"] != "segrnn"


# --------------------------------------------------------------------------- forecasts and persistence


def test_forecasts_quantiles_paths_and_windows_are_the_chosen_models_without_calibration():
    frame = seasonal_hourly()
    model = fit_auto(frame, candidates=BASELINE_CANDIDATES, calibrate=False)
    chosen = model.chosen_model_
    pd.testing.assert_frame_equal(model.predict(24, quantiles=[0.1, 0.9]), chosen.predict(24, quantiles=[0.1, 0.9]))
    pd.testing.assert_frame_equal(model.sample(24, 5, seed=3), chosen.sample(24, 5, seed=3))
    windows = frame.to_numpy()[None, -200:]
    np.testing.assert_array_equal(model.predict_windows(windows, 24), chosen.predict_windows(windows, 24))
    np.testing.assert_array_equal(model.predict_windows(windows, 24, quantiles=[0.1, 0.9]),
                                  chosen.predict_windows(windows, 24, quantiles=[0.1, 0.9]))
    assert model.calibration_ == {"applied": False, "why": "calibrate=False"} and model.calibration_scores_ is None
    assert "quantiles the chosen model's own (calibrate=False)" in model.report()
    calibrated = fit_auto(frame, candidates=BASELINE_CANDIDATES)  # the points stay the chosen model's
    pd.testing.assert_frame_equal(calibrated.predict(24), chosen.predict(24))
    np.testing.assert_array_equal(calibrated.predict_windows(windows, 24), chosen.predict_windows(windows, 24))


def test_probabilistic_unless_a_point_network_may_be_chosen():
    assert tsseq.create("auto", horizon=5, candidates=BASELINE_CANDIDATES).probabilistic
    assert not tsseq.create("auto", horizon=5).probabilistic
    assert tsseq.create("auto", horizon=5, training={"loss": "quantile"}).probabilistic
    with pytest.raises(ConfigError, match="point forecasts only.*loss': 'quantile'"):
        tsseq.create("auto", horizon=5).require_probabilistic()


def test_asked_for_quantiles_auto_trains_its_networks_on_the_quantile_loss_unless_a_loss_is_set():
    model = tsseq.create("auto", horizon=5, training={"epochs": 3})
    ready = model.for_quantiles()
    assert ready.probabilistic and ready.training == {"epochs": 3, "loss": "quantile"}
    assert model.training == {"epochs": 3}  # a copy: the model asked is left as it was
    pinned = tsseq.create("auto", horizon=5, training={"loss": "mae"})
    assert pinned.for_quantiles() is pinned and not pinned.probabilistic  # the user's loss stands (then refused)
    naive = tsseq.create("naive")
    assert naive.for_quantiles() is naive


def test_save_and_load_keep_the_chosen_model_and_the_leaderboard(tmp_path):
    frame = seasonal_hourly()
    model = fit_auto(frame)
    persistence.save(model, tmp_path / "auto.pt")
    loaded = tsseq.load_model(tmp_path / "auto.pt")
    assert type(loaded) is AutoForecaster and loaded.chosen_ == model.chosen_
    pd.testing.assert_frame_equal(loaded.leaderboard_, model.leaderboard_)
    pd.testing.assert_frame_equal(loaded.predict(24), model.predict(24))
    assert loaded.report() == model.report()


def test_save_and_load_keep_the_calibrated_quantiles_and_paths(tmp_path):
    model = fit_auto(trend_mult(), horizon=14, candidates=BASELINE_CANDIDATES)
    assert model.calibration_["applied"]
    loaded = persistence.load(persistence.save(model, tmp_path / "auto.tsseq"))
    assert loaded.calibration_ == model.calibration_
    np.testing.assert_array_equal(loaded.calibration_scores_, model.calibration_scores_)
    levels = [0.05, 0.1, 0.5, 0.9, 0.95]
    pd.testing.assert_frame_equal(loaded.predict(14, quantiles=levels), model.predict(14, quantiles=levels))
    pd.testing.assert_frame_equal(loaded.sample(14, 20, seed=1), model.sample(14, 20, seed=1))


# --------------------------------------------------------------------------- calibration


def test_signed_score_quantiles_take_the_conformal_rank_of_each_tail():
    scores = np.arange(1.0, 20.0)  # n = 19
    got = signed_score_quantile(scores, np.array([0.01, 0.1, 0.5, 0.9, 0.99]))
    # 0.9: the ceil(20 x 0.9) = 18th smallest; 0.1: the floor(20 x 0.1) = 2nd; 0.5: 0; 0.01 and 0.99 past the
    # scores (rank 0 and 20): the extremes
    np.testing.assert_array_equal(got, [1.0, 2.0, 0.0, 18.0, 19.0])


def test_the_calibration_scores_are_the_choices_validation_errors_over_half_its_68_percent_interval():
    frame = trend_mult()
    model = fit_auto(frame, horizon=14, candidates=BASELINE_CANDIDATES)
    assert model.chosen_["name"] == "ar" and model.validation_origins_ == 20
    first = len(frame) - 14 - 19 * 7  # 20 origins ceil(14 / 2) rows apart, the last 14 rows before the end
    chosen = tsseq.create(model.chosen_["name"], **model.chosen_["params"])
    forecasts = historical_forecasts(chosen, frame, start=first, horizon=14, stride=7, quantiles=[0.16, 0.5, 0.84])
    truth = frame["y"].reindex(pd.DatetimeIndex(forecasts["timestamp"])).to_numpy()
    scores = (truth - forecasts["y_q0.5"]) / ((forecasts["y_q0.84"] - forecasts["y_q0.16"]) / 2)
    per_step = np.sort(scores.to_numpy().reshape(20, 14).T, axis=1)  # (steps, origins)
    np.testing.assert_allclose(model.calibration_scores_, per_step, rtol=1e-12)
    assert model.calibration_ == {"applied": True, "scores_per_step": 20, "steps": 14}
    assert "quantiles calibrated on its validation errors (20 a step;" in model.report()


def test_calibrated_quantiles_widen_the_models_own_to_the_conformal_quantile_of_its_scaled_errors():
    model = fit_auto(trend_mult(), horizon=14, candidates=BASELINE_CANDIDATES)
    own = model.chosen_model_.predict(14, quantiles=[0.1, 0.16, 0.5, 0.84, 0.9])
    median, spread = own["y_q0.5"].to_numpy(), (own["y_q0.84"] - own["y_q0.16"]).to_numpy() / 2
    scores = model.calibration_scores_  # (14, 20) sorted: the 0.9 level is the 19th, the 0.1 level the 2nd
    upper = np.maximum(own["y_q0.9"].to_numpy(), median + spread * scores[:, 18])
    lower = np.minimum(own["y_q0.1"].to_numpy(), median + spread * scores[:, 1])
    got = model.predict(14, quantiles=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(got["y_q0.9"], upper, rtol=1e-12)
    np.testing.assert_allclose(got["y_q0.1"], lower, rtol=1e-12)
    np.testing.assert_array_equal(got["y_q0.5"], got["y"])  # the median stays the point forecast
    assert (got["y_q0.9"] > own["y_q0.9"]).any()  # AR's Gaussian intervals are too narrow here
    windows = trend_mult().to_numpy()[None, -100:]
    window = model.predict_windows(windows, 14, quantiles=[0.1, 0.9])[0, :, 0]  # the same rule on any window
    own_window = model.chosen_model_.predict_windows(windows, 14, quantiles=[0.1, 0.16, 0.5, 0.84, 0.9])[0, :, 0]
    half = (own_window[:, 3] - own_window[:, 1]) / 2
    np.testing.assert_allclose(window[:, 1], np.maximum(own_window[:, 4], own_window[:, 2] + half * scores[:, 18]))


def test_calibration_brings_the_coverage_of_overconfident_intervals_near_nominal():
    # A trend times a weekly season: AR's constant spread is too narrow where the series has grown.
    inside = {False: [], True: []}
    for seed in range(3):
        frame = trend_mult(seed=seed)
        for calibrate in inside:
            model = tsseq.create("auto", horizon=14, verbose=False, candidates=BASELINE_CANDIDATES, calibrate=calibrate)
            forecasts = historical_forecasts(model, frame, start=-98, horizon=14, stride=14, refit=True,
                                             quantiles=[0.1, 0.9])
            truth = frame["y"].reindex(pd.DatetimeIndex(forecasts["timestamp"])).to_numpy()
            inside[calibrate].append((truth >= forecasts["y_q0.1"]) & (truth <= forecasts["y_q0.9"]))
    own, calibrated = (float(np.mean(np.concatenate(inside[flag]))) for flag in (False, True))
    assert own < 0.6 and 0.75 < calibrated < 0.9  # 0.54 and 0.82 of 294 values inside the 80% intervals


def test_calibrated_quantiles_never_cross_and_their_intervals_are_finite_and_never_empty():
    model = fit_auto(trend_mult(), horizon=14, candidates=BASELINE_CANDIDATES)
    levels = [0.001, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999]  # the extremes past 20 errors
    values = model.predict(20, quantiles=levels).to_numpy()[:, 1:]  # 20 steps: past the validation's 14 too
    assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()
    interval = model.predict_interval(20, coverage=0.8)
    assert (interval["y_upper"] > interval["y_lower"]).all()


def test_calibrated_paths_have_the_calibrated_quantiles_and_keep_the_models_ranks():
    model = fit_auto(trend_mult(), horizon=14, candidates=BASELINE_CANDIDATES)
    paths = model.sample(14, 4000, seed=0)["y"].to_numpy().reshape(4000, 14)
    quantiles = model.predict(14, quantiles=[0.1, 0.9])
    spread = (quantiles["y_q0.9"] - quantiles["y_q0.1"]).to_numpy()
    np.testing.assert_allclose(np.quantile(paths, [0.1, 0.9], axis=0).T, quantiles[["y_q0.1", "y_q0.9"]],
                               atol=0.05 * spread.min())
    own = model.chosen_model_.sample(14, 4000, seed=0)["y"].to_numpy().reshape(4000, 14)  # the same draws, moved out
    assert (np.diff(np.take_along_axis(paths, own.argsort(axis=0), axis=0), axis=0) >= 0).all()


def test_too_few_validation_errors_a_step_or_a_panels_series_leave_or_calibrate_as_counted():
    few = fit_auto(trend_mult(), horizon=14, candidates=BASELINE_CANDIDATES, validation_origins=5)
    assert few.calibration_ == {"applied": False, "why": "5 validation errors per step, fewer than 20"}
    assert "quantiles the chosen model's own (5 validation errors per step" in few.report()
    pd.testing.assert_frame_equal(few.predict(14, quantiles=[0.1, 0.9]),
                                  few.chosen_model_.predict(14, quantiles=[0.1, 0.9]))
    panel = pd.concat({f"s{i}": seasonal_hourly(rows=200, seed=i) for i in range(25)}, names=["series", "time"])
    many = fit_auto(panel, candidates=BASELINE_CANDIDATES)  # one origin per series: 25 errors a step
    assert many.calibration_ == {"applied": True, "scores_per_step": 25, "steps": 24}
    assert np.isfinite(many.predict(24, quantiles=[0.1, 0.9]).to_numpy()).all()


def test_calibrate_must_be_a_bool():
    with pytest.raises(ConfigError, match="'calibrate' parameter must be True or False. Got 'yes'"):
        fit_auto(seasonal_hourly(), calibrate="yes")


# --------------------------------------------------------------------------- errors


def test_a_missing_horizon_is_named():
    with pytest.raises(ConfigError, match="'horizon' parameter must be an int >= 1.*Got None"):
        tsseq.create("auto").fit(seasonal_hourly())


def test_too_short_data_name_the_rows_needed():
    with pytest.raises(DataError, match="auto needs at least 34 rows per series for horizon=24.* have 30 rows"):
        fit_auto(seasonal_hourly(rows=30))
    with pytest.raises(DataError, match=r"at least 82 rows.*5 validation origins 12 rows apart.* have 80 rows"):
        fit_auto(seasonal_hourly(rows=80), validation_origins=5)


def short_panel(**short_rows: int) -> pd.DataFrame:
    """Two long seasonal series ``long_a`` and ``long_b`` around the short ones, named with their rows."""
    parts = {"long_a": seasonal_hourly(rows=800, seed=1)}
    parts.update({name: seasonal_hourly(rows=rows, seed=2 + k) for k, (name, rows) in enumerate(short_rows.items())})
    parts["long_b"] = seasonal_hourly(rows=800, seed=9)
    return pd.concat(parts, names=["series", "time"])


def test_short_series_of_a_panel_are_left_out_of_the_validation_and_forecast_by_their_own_model():
    # M4 Yearly's shortest series cannot hold out a horizon and still be fitted; the panel is not refused for them.
    panel = short_panel(short=20)
    with pytest.warns(UserWarning, match="1 of 3 series have fewer than 34 rows.*'short'.*fitted on the other 2"):
        model = tsseq.create("auto", horizon=24, verbose=False, candidates=BASELINE_CANDIDATES).fit(panel)
    assert model.short_series_ == ("short",) and "1 shorter ones left out of the validation" in model.report()
    # The choice is scored and refitted on the long series alone: as auto on them, where nothing is left out, and a
    # short series no longer rules out seasonal naive for them.
    alone = tsseq.create("auto", horizon=24, verbose=False, candidates=BASELINE_CANDIDATES).fit(
        panel.drop(index="short", level="series"))
    columns = ["candidate", "score", "skipped"]
    assert alone.short_series_ == () and alone.leaderboard_[columns].equals(model.leaderboard_[columns])
    assert score_of(model, "seasonal_naive") > 0
    forecast, long_only = model.predict(24, quantiles=[0.1, 0.9]), alone.predict(24, quantiles=[0.1, 0.9])
    pd.testing.assert_frame_equal(forecast.drop(index="short", level="series"), long_only)
    # The short one's model forecasts each series alone and was chosen as the validation ranked it.
    assert model.short_series_choice_ == model.chosen_["label"]
    own = tsseq.create(model.chosen_["name"], **model.chosen_["params"]).fit(panel.loc[["short"]])
    pd.testing.assert_frame_equal(forecast.loc[["short"]], own.predict(24, quantiles=[0.1, 0.9]))
    assert f"forecast by {model.short_series_choice_})" in model.report()
    with pytest.raises(DataError, match="Series 'shorter' has 15 rows"):  # with no series long enough: refused
        fit_auto(pd.concat({"short": seasonal_hourly(rows=20), "shorter": seasonal_hourly(rows=15)}, names=["series", "time"]))


def test_a_one_row_series_of_a_panel_is_forecast_by_naive_and_the_long_ones_as_without_it(tmp_path):
    # AR cannot fit one row and seasonal naive not a series shorter than its season: naive takes the short series, where
    # before AR failed its refit on every series and naive forecast them all.
    panel = short_panel(new=1, short=20)
    with pytest.warns(UserWarning, match="2 of 4 series have fewer than 34 rows.*'new', 'short'"):
        model = tsseq.create("auto", horizon=24, verbose=False, candidates=BASELINE_CANDIDATES).fit(panel)
    assert model.chosen_["name"] != "naive" and model.short_series_choice_ == "naive"
    alone = tsseq.create("auto", horizon=24, verbose=False, candidates=BASELINE_CANDIDATES).fit(
        panel.drop(index=["new", "short"], level="series"))
    forecast = model.predict(24)
    pd.testing.assert_frame_equal(forecast.drop(index=["new", "short"], level="series"), alone.predict(24))
    assert (forecast.loc["new", "y"] == panel.loc["new", "y"].iloc[-1]).all()
    assert (forecast.loc["short", "y"] == panel.loc["short", "y"].iloc[-1]).all()
    with pytest.raises(DataError, match="needs at least 2 values for an interval.*series 'new' has 1"):
        model.sample(24, n=3, seed=0)  # one value has no spread to draw from: refused, never an empty interval
    # Saved and loaded, both models forecast as before.
    loaded = persistence.load(persistence.save(model, tmp_path / "auto.tsseq"))
    assert loaded.short_series_choice_ == "naive"
    pd.testing.assert_frame_equal(loaded.predict(24), forecast)


def test_with_a_windowed_choice_the_short_series_get_the_best_scored_baseline():
    panel = short_panel(short=20)
    with pytest.warns(UserWarning, match="'short'"):
        model = tsseq.create("auto", horizon=24, verbose=False, candidates=[*BASELINE_CANDIDATES, "linear"]).fit(panel)
    assert model.chosen_["name"] == "linear"  # a global model over 168-row windows: it cannot forecast 20 rows
    board = model.leaderboard_
    baselines = board[board["candidate"].str.match(r"(naive|seasonal_naive|ar)\b") & board["skipped"].isna()]
    assert model.short_series_choice_ == baselines.sort_values("score")["candidate"].iloc[0]
    forecast = model.predict(24)
    assert forecast.loc["short"].shape == (24, 1) and np.isfinite(forecast.to_numpy()).all()
    pd.testing.assert_frame_equal(forecast.drop(index="short", level="series"), model.chosen_model_.predict(24))
    assert model.chosen_model_.layout_.series_ids == ("long_a", "long_b")
    paths = model.sample(24, n=3, seed=0)
    assert set(paths.index.get_level_values("series")) == {"long_a", "short", "long_b"}


def test_unknown_candidates_and_metrics_are_named():
    with pytest.raises(ConfigError, match="Unknown candidate 'segrn'.*Did you mean 'segrnn'"):
        fit_auto(seasonal_hourly(), candidates=["segrn"])
    with pytest.raises(ConfigError, match="'metric' parameter must be one of mase, smape"):
        fit_auto(seasonal_hourly(), metric="mse")


def test_it_logs_its_choice_to_the_active_mlflow_run(tmp_path, empty_mlflow_store):
    mlflow = pytest.importorskip("mlflow")
    from tsseq.tracking import tracked_run

    with tracked_run(experiment="auto", tracking_uri=empty_mlflow_store(tmp_path / "mlflow.db")) as run:
        model = fit_auto(seasonal_hourly(), candidates=BASELINE_CANDIDATES)
    tags = mlflow.MlflowClient(run.tracking_uri).get_run(run.run_id).data.tags
    assert tags["tsseq.auto.chosen"] == model.chosen_["label"] and tags["tsseq.auto.report"] == model.report()
