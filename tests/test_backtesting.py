"""Historical forecasts and backtests: exact answers against loops, windows, quantiles, many series, the CLI."""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq import pipeline
from tsseq.backtesting import backtest, historical_forecasts, score_forecasts
from tsseq.baselines import AR, Naive
from tsseq.cli import main
from tsseq.config import ModelConfig
from tsseq.errors import ConfigError, DataError

HORIZON = 5


def random_walks(rows: int = 240, channels: int = 2, seed: int = 0, start: str = "2021-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=rows, freq="h", name="time")
    season = np.sin(2 * np.pi * np.arange(rows) / 24)[:, None]
    values = np.cumsum(rng.normal(size=(rows, channels)), axis=0) + 3 * season
    return pd.DataFrame(values, index=index, columns=[f"y{c}" for c in range(channels)])


def stacked(forecasts: pd.DataFrame, columns: list[str], horizon: int = HORIZON) -> np.ndarray:
    """The forecast frame's target columns -> ``(N, H, C)``."""
    return forecasts[columns].to_numpy().reshape(-1, horizon, len(columns))


def counting_predict_windows(monkeypatch, cls) -> list[int]:
    """Count ``cls.predict_windows`` calls (and their windows) for one test."""
    calls: list[int] = []
    original = cls.predict_windows

    @functools.wraps(original)  # keeps the signature (window_starts of neural models)
    def counted(self, inputs, horizon, **options):
        calls.append(len(inputs))
        return original(self, inputs, horizon, **options)

    monkeypatch.setattr(cls, "predict_windows", counted)
    return calls


# ---------------------------------------------------------------------------- exact answers


@pytest.mark.parametrize("model", [Naive(), AR(max_order=12)], ids=["naive", "ar"])
def test_without_refit_one_pass_equals_a_loop_of_forecasts_from_the_whole_history(model, monkeypatch):
    frame = random_walks()
    first = 150
    calls = counting_predict_windows(monkeypatch, type(model))
    forecasts = historical_forecasts(model, frame, start=first, horizon=HORIZON)
    origins = np.arange(first, len(frame) - HORIZON + 1)
    assert calls == [len(origins)]  # every origin in one predict_windows call
    fitted = type(model)(**model.get_params()).fit(frame.iloc[:first])
    values = frame.to_numpy()
    expected = np.concatenate([fitted.predict_windows(values[None, :origin], HORIZON) for origin in origins])
    np.testing.assert_allclose(stacked(forecasts, list(frame.columns)), expected, rtol=0, atol=1e-10)
    assert list(forecasts.columns) == ["cutoff", "timestamp", "y0", "y1"]
    np.testing.assert_array_equal(forecasts["cutoff"].unique(), frame.index[origins - 1])
    np.testing.assert_array_equal(forecasts["timestamp"][:HORIZON], frame.index[first : first + HORIZON])


def test_refit_at_every_origin_equals_a_loop_of_fit_and_predict():
    frame = random_walks(rows=140)
    forecasts = historical_forecasts(AR(max_order=6), frame, start=120, horizon=HORIZON, refit=True)
    expected = np.stack([AR(max_order=6).fit(frame.iloc[:origin]).predict(HORIZON).to_numpy() for origin in range(120, 136)])
    np.testing.assert_allclose(stacked(forecasts, list(frame.columns)), expected, rtol=0, atol=1e-10)


def test_refit_every_k_origins_fits_at_every_kth_and_forecasts_the_others_from_that_fit():
    frame = random_walks(rows=140)
    forecasts = historical_forecasts(AR(max_order=6), frame, start=120, horizon=HORIZON, refit=3, stride=2)
    origins = np.arange(120, 136, 2)
    values, expected = frame.to_numpy(), []
    for position, origin in enumerate(origins):
        if position % 3 == 0:
            fitted = AR(max_order=6).fit(frame.iloc[:origin])
        expected.append(fitted.predict_windows(values[None, :origin], HORIZON)[0])
    np.testing.assert_allclose(stacked(forecasts, list(frame.columns)), np.stack(expected), rtol=0, atol=1e-10)


def test_sliding_window_fits_on_the_last_train_length_rows_and_differs_from_expanding():
    frame = random_walks(rows=200)
    options = dict(start=150, horizon=HORIZON, refit=True, stride=10)
    sliding = historical_forecasts(AR(max_order=5), frame, window="sliding", train_length=60, **options)
    expanding = historical_forecasts(AR(max_order=5), frame, **options)
    origins = np.arange(150, 196, 10)
    expected = np.stack([AR(max_order=5).fit(frame.iloc[origin - 60 : origin]).predict(HORIZON).to_numpy() for origin in origins])
    np.testing.assert_allclose(stacked(sliding, list(frame.columns)), expected, rtol=0, atol=1e-10)
    assert not np.allclose(sliding[["y0", "y1"]], expanding[["y0", "y1"]])
    # The default sliding window holds the rows before the first origin.
    default = historical_forecasts(AR(max_order=5), frame, window="sliding", **options)
    assert np.allclose(default.iloc[:HORIZON][["y0", "y1"]], expanding.iloc[:HORIZON][["y0", "y1"]])
    assert not np.allclose(default[["y0", "y1"]], expanding[["y0", "y1"]])


def test_mean_reads_a_sliding_context_of_the_first_fits_rows():
    frame = random_walks(rows=100, channels=1)
    forecasts = historical_forecasts(tsseq.create("mean"), frame, start=40, horizon=2, stride=30)
    values = frame["y0"].to_numpy()
    expected = [values[origin - 40 : origin].mean() for origin in (40, 70)]
    np.testing.assert_allclose(forecasts["y0"].to_numpy()[::2], expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- origins, quantiles, layouts


@pytest.mark.parametrize("start", [150, -90, 0.625, "2021-01-07 06:00", pd.Timestamp("2021-01-07 05:30")])
def test_start_as_position_from_the_end_fraction_or_timestamp_and_stride(start):
    frame = random_walks()  # 240 rows: row 150 is 2021-01-07 06:00
    forecasts = historical_forecasts(Naive(), frame, start=start, horizon=HORIZON, stride=7)
    cutoffs = pd.DatetimeIndex(forecasts["cutoff"].unique())
    np.testing.assert_array_equal(cutoffs, frame.index[np.arange(150, 236, 7) - 1])
    assert len(forecasts) == len(cutoffs) * HORIZON


def test_quantile_columns_follow_each_target_never_cross_and_equal_predict():
    frame = random_walks(rows=120)
    levels = [0.1, 0.5, 0.9]
    forecasts = historical_forecasts(AR(max_order=4), frame, start=110, horizon=HORIZON, refit=True, quantiles=levels)
    assert list(forecasts.columns) == ["cutoff", "timestamp", "y0", "y0_q0.1", "y0_q0.5", "y0_q0.9", "y1", "y1_q0.1", "y1_q0.5", "y1_q0.9"]
    for target in ("y0", "y1"):
        quantiles = forecasts[[f"{target}_q{level}" for level in levels]].to_numpy()
        assert (np.diff(quantiles, axis=1) >= 0).all()
    last = AR(max_order=4).fit(frame.iloc[:115]).predict(HORIZON, quantiles=levels)
    np.testing.assert_allclose(forecasts.iloc[-HORIZON:][list(last.columns)].to_numpy(), last.to_numpy(), rtol=0, atol=1e-10)


def test_a_long_frame_is_backtested_series_by_series_and_a_too_short_series_is_left_out():
    parts = {"a": random_walks(rows=200, seed=1), "b": random_walks(rows=170, seed=2), "short": random_walks(rows=60, seed=3)}
    frame = pd.concat(parts, names=["store"])
    with pytest.warns(UserWarning, match=r"1 of 3 series are left out.*series 'short'"):
        forecasts = historical_forecasts(AR(max_order=5), frame, start="2021-01-06", horizon=HORIZON, stride=4)
    assert list(forecasts.columns[:3]) == ["store", "cutoff", "timestamp"]
    assert list(forecasts["store"].unique()) == ["a", "b"]
    for name in ("a", "b"):
        alone = historical_forecasts(AR(max_order=5), parts[name], start="2021-01-06", horizon=HORIZON, stride=4)
        mine = forecasts[forecasts["store"] == name].drop(columns="store").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)


def test_the_warnings_of_each_fit_name_its_series_and_cutoff_and_a_series_refits_warn_once():
    rng = np.random.default_rng(0)
    index = pd.date_range("2021-01-01", periods=120, freq="h", name="time")
    growing = 100 * 1.05 ** np.arange(120) * (1 + 0.01 * rng.standard_normal(120))  # every AR order explodes
    frame = pd.concat({"a": random_walks(rows=120, channels=1), "B": pd.DataFrame({"y0": growing}, index=index)},
                      names=["store"])  # fmt: skip
    with pytest.warns(UserWarning, match=r"^backtest: fit of series 'B' up to cutoff 2021-01-05 03:00:00: AR: 1 fitted "
                                         r"model\(s\) were explosive"):  # fmt: skip
        historical_forecasts(AR(max_order=3), frame, start=100, horizon=HORIZON, stride=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        historical_forecasts(AR(max_order=3), frame, start=100, horizon=HORIZON, stride=5, refit=True)
    (explosive,) = [str(w.message) for w in caught if "were explosive" in str(w.message)]  # 4 refits, each its modulus
    assert explosive.startswith("backtest: fit of series 'B' up to cutoff 2021-01-05 03:00:00 and 3 later fits: AR: ")
    assert {w.filename for w in caught} == {__file__}  # the call above, not a library line


def test_a_neural_model_forecasts_every_origin_in_one_pass(monkeypatch):
    from tsseq.estimators.neural import NeuralForecaster

    frame = random_walks(rows=200)
    model = tsseq.create("lstm", input_length=24, horizon=6, training={"epochs": 2, "progress": False, "device": "cpu"})
    calls = counting_predict_windows(monkeypatch, NeuralForecaster)
    forecasts = historical_forecasts(model, frame, start=120, horizon=6, stride=2)
    assert calls == [len(range(120, 195, 2))]
    assert forecasts.shape == (len(calls) and calls[0] * 6, 4) and np.isfinite(forecasts[["y0", "y1"]].to_numpy()).all()
    assert not hasattr(model, "module_")  # the model passed in is never fitted: clones are


# ---------------------------------------------------------------------------- scores


def test_backtest_scores_per_step_and_overall_with_named_and_callable_metrics():
    frame = random_walks(rows=160)
    options = dict(start=120, horizon=HORIZON, stride=3)

    def max_error(y_true, y_pred):
        return float(np.max(np.abs(y_true - y_pred)))

    scores = backtest(AR(max_order=4), frame, metric=["mae", "mase", max_error], season_length=1, **options)
    forecasts = historical_forecasts(AR(max_order=4), frame, **options)
    truth = frame.reindex(forecasts["timestamp"]).to_numpy().reshape(-1, HORIZON, 2)
    errors = np.abs(truth - stacked(forecasts, ["y0", "y1"]))
    assert list(scores.columns) == ["metric", "step", "value"]
    assert list(scores["metric"].unique()) == ["mae", "mase", "max_error"]
    mae_rows = scores[scores["metric"] == "mae"]
    assert list(mae_rows["step"]) == [1, 2, 3, 4, 5, "all"]
    np.testing.assert_allclose(mae_rows["value"], [*errors.mean(axis=(0, 2)), errors.mean()], rtol=1e-12)
    origins = np.arange(120, 156, 3)
    values = frame.to_numpy()
    scale = np.stack([np.abs(np.diff(values[:origin], axis=0)).mean(axis=0) for origin in origins])  # (N, C)
    mase_all = scores[(scores["metric"] == "mase") & (scores["step"] == "all")]["value"].item()
    assert mase_all == pytest.approx((errors / scale[:, None, :]).mean(), rel=1e-12)
    assert scores[(scores["metric"] == "max_error") & (scores["step"] == "all")]["value"].item() == pytest.approx(errors.max())


def test_probabilistic_scores_and_missing_truths_left_out():
    frame = random_walks(rows=160)
    forecasts = historical_forecasts(AR(max_order=4), frame, start=100, horizon=HORIZON, quantiles=[0.05, 0.5, 0.95])
    scores = score_forecasts(forecasts, frame, metric=["crps", "coverage", "interval_width"])
    overall = scores[scores["step"] == "all"].set_index("metric")["value"]
    truth = frame.reindex(forecasts["timestamp"]).to_numpy()
    lower, upper = forecasts[["y0_q0.05", "y1_q0.05"]].to_numpy(), forecasts[["y0_q0.95", "y1_q0.95"]].to_numpy()
    assert overall["coverage"] == pytest.approx(((lower <= truth) & (truth <= upper)).mean(), rel=1e-12)
    assert overall["interval_width"] == pytest.approx((upper - lower).mean(), rel=1e-12) and overall["crps"] > 0
    holed = frame.copy()
    holed.iloc[-3:] = np.nan  # truths not observed: left out of the scores, never NaN-poisoned
    masked = score_forecasts(forecasts, holed, metric="mae").set_index("step")["value"]
    truth = holed.reindex(forecasts["timestamp"]).to_numpy()
    errors = np.abs(truth - forecasts[["y0", "y1"]].to_numpy())
    assert masked["all"] == pytest.approx(np.nanmean(errors), rel=1e-12)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(start="2030-01-01"), DataError, r"start='2030-01-01' leaves no complete forecast of horizon=5.*last origin is 2021-01-10 19:00"),
        (dict(start=10, horizon=240), DataError, r"horizon=240 is not shorter than the 240 rows"),
        (dict(start=0), DataError, r"start=0 leaves no row before the first origin"),
        (dict(start=10, input_length=24), DataError, r"leaves 10 rows before the first cutoff .*input_length=24 .* needs at least 24"),
        (dict(start=1.5), ConfigError, r"fraction of the rows, in \(0, 1\)"),
        (dict(start="not a date"), ConfigError, r"'start' parameter 'not a date' is neither a number nor a timestamp"),
        (dict(start=100, refit=-1), ConfigError, r"'refit' parameter must be True, False or an int >= 0"),
        (dict(start=100, window="slide"), ConfigError, r"Did you mean 'sliding'"),
        (dict(start=100, train_length=50), ConfigError, r"pass window='sliding'"),
        (dict(start=100, window="sliding", train_length=150), DataError, r"train_length=150 needs 150 rows .* leaves 100"),
        (dict(start=100, stride=0), ConfigError, r"'stride' parameter must be an int >= 1"),
    ],
)
def test_bad_arguments_are_refused_naming_the_parameter(options, error, message):
    options = {"horizon": HORIZON, **options}
    with pytest.raises(error, match=message):
        historical_forecasts(Naive(), random_walks(), **options)


def test_a_start_with_a_time_zone_on_naive_data_is_refused_naming_both_and_what_to_pass():
    # pandas cannot compare them (a raw TypeError before); one check for all series, not a skip of each
    long = pd.concat({"a": random_walks(rows=200, seed=1), "b": random_walks(rows=170, seed=2)}, names=["store"])
    for frame in (random_walks(), long):
        with pytest.raises(DataError, match=r"start=Timestamp\('2021-01-07 06:00:00\+0000', tz='UTC'\) has a time zone "
                           r"\(UTC\), but the data's timestamps have none \(tz-naive\).*start='2021-01-07 06:00:00'"):
            historical_forecasts(Naive(), frame, start=pd.Timestamp("2021-01-07 06:00", tz="UTC"), horizon=HORIZON)
    # the reverse: a start without a time zone is read in the data's zone, unless its clocks skip that wall time
    aware = random_walks(rows=2200).tz_localize("UTC").tz_convert("Europe/Berlin")  # past the DST change of March 28
    forecasts = historical_forecasts(Naive(), aware, start="2021-01-07 06:00", horizon=HORIZON, stride=7)
    assert forecasts["cutoff"].iloc[0] == pd.Timestamp("2021-01-07 05:00", tz="Europe/Berlin")
    with pytest.raises(DataError, match=r"start='2021-03-28 02:30' has no time zone and is read in the data's "
                       r"\(Europe/Berlin\), whose clocks skip or repeat it.*start='2021-03-28T02:30:00\+00:00'"):
        historical_forecasts(Naive(), aware, start="2021-03-28 02:30", horizon=HORIZON)


def test_a_context_shorter_than_the_fitted_ar_order_names_input_length_and_what_to_pass():
    with pytest.raises(DataError, match=r"^input_length=3 \(--input-length\): the model fitted up to cutoff 2021-01-05 "
                       r"03:00:00 cannot forecast from windows of 3 rows\..*AR reads the last 6 values of each channel, "
                       r"its fitted order \(order=6\).*Pass a larger input_length, or leave it out"):  # fmt: skip
        historical_forecasts(AR(order=6), random_walks(channels=1), start=100, horizon=HORIZON, input_length=3)


def test_a_context_other_than_the_models_own_input_length_is_refused_before_any_fit(monkeypatch):
    lstm = tsseq.create("lstm", input_length=24, horizon=HORIZON)
    monkeypatch.setattr(type(lstm), "fit", lambda *args, **kwargs: pytest.fail("fitted"))
    with pytest.raises(ConfigError, match=r"input_length=5 differs from the model's own input_length=24.*--param input_length=5"):
        historical_forecasts(lstm, random_walks(), start=100, horizon=HORIZON, input_length=5)  # ran on 5 rows before


def test_bad_metrics_and_point_only_quantiles_are_refused_before_any_fit(monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before the arguments were checked")

    monkeypatch.setattr(Naive, "fit", no_fit)
    with pytest.raises(ConfigError, match=r"Unknown metric 'maee'.*Did you mean 'mae'"):
        backtest(Naive(), random_walks(), metric="maee", start=100, horizon=HORIZON)
    with pytest.raises(ConfigError, match=r"'crps' scores quantile forecasts; pass quantiles="):
        backtest(Naive(), random_walks(), metric=["mae", "crps"], start=100, horizon=HORIZON)
    lstm = tsseq.create("lstm", input_length=24, horizon=6)
    with pytest.raises(ConfigError, match="gives point forecasts only"):
        historical_forecasts(lstm, random_walks(), start=100, horizon=6, quantiles=[0.1, 0.9])


def test_coverage_of_fewer_than_two_levels_is_refused_before_any_fit_and_not_a_cli_default(tmp_path, walks_csv, capsys,
                                                                                          monkeypatch):  # fmt: skip
    report = tmp_path / "m.json"
    code = main(["backtest", str(walks_csv), "--model", "naive", "--horizon", "3", "--quantiles", "0.5", "--output",
                 str(tmp_path / "b.csv"), "--metrics-json", str(report)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert set(json.loads(report.read_text())["metrics"]) == {"mae", "mse", "crps"}  # coverage of [q0.5, q0.5] was 0
    monkeypatch.setattr(Naive, "fit", lambda *args, **kwargs: pytest.fail("fitted"))
    for metric in ("coverage", "interval_width"):
        with pytest.raises(ConfigError, match=rf"'{metric}' scores the interval between the lowest and the highest "
                           r"quantile level, so quantiles \(--quantiles\) needs two levels at least; got \[0.5\]"):
            backtest(Naive(), random_walks(), metric=metric, start=100, horizon=HORIZON, quantiles=[0.5])
    code = main(["backtest", str(walks_csv), "--model", "naive", "--horizon", "3", "--quantiles", "0.5", "--metric",
                 "coverage", "--output", str(tmp_path / "c.csv")])  # fmt: skip
    assert code == 2 and "needs two levels at least" in capsys.readouterr().err


def test_a_metric_undefined_on_the_data_is_nan_with_a_warning_and_the_others_are_scored(tmp_path, capsys):
    zeros = pd.DataFrame({"y": np.zeros(60)}, index=pd.date_range("2021-01-01", periods=60, freq="D", name="date"))
    with pytest.warns(UserWarning, match=r"The metric 'mape' is undefined on these forecasts \(NaN\) at every step and "
                      r"overall: mape: y_true has 30 value\(s\) equal to 0"):  # fmt: skip
        scores = backtest(Naive(), zeros, metric=["mape", "mae"], start=48, horizon=3)
    values = scores.set_index(["metric", "step"])["value"]
    assert values["mape"].isna().all() and (values["mae"] == 0).all()
    output, report = tmp_path / "b.csv", tmp_path / "m.json"
    zeros.to_csv(tmp_path / "zeros.csv")
    with pytest.warns(UserWarning, match="'mape' is undefined"):
        code = main(["backtest", str(tmp_path / "zeros.csv"), "--model", "naive", "--horizon", "3", "--metric", "mape",
                     "--metric", "mae", "--output", str(output), "--metrics-json", str(report)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == "mape=undefined, mae=0"
    assert len(pd.read_csv(output)) == 3 * 10  # the forecasts are written all the same
    metrics = json.loads(report.read_text())["metrics"]
    assert metrics["mape"] == {"all": None, "steps": [None, None, None]} and metrics["mae"]["all"] == 0


def test_mase_pools_the_series_it_can_scale_and_names_a_constant_one():
    """A series constant before its cutoffs (scale 0) is left out of MASE, named; alone it is MASE's known answer."""
    index = pd.date_range("2021-01-01", periods=60, freq="D", name="date")
    walk = pd.DataFrame({"y": np.cumsum(np.random.default_rng(0).normal(size=60))}, index=index)
    panel = pd.concat({"walk": walk, "zeros": walk * 0.0}, names=["id"])
    with pytest.warns(UserWarning, match=r"'mase' leaves out series 'zeros', column 'y': constant before the cutoff"):
        pooled = backtest(Naive(), panel, metric=["mase", "mae"], start=48, horizon=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = backtest(Naive(), walk, metric="mase", start=48, horizon=3)
    values = pooled.set_index(["metric", "step"])["value"]
    assert values["mase"].to_numpy() == pytest.approx(alone["value"].to_numpy(), rel=1e-12)
    mae_alone = backtest(Naive(), walk, metric="mae", start=48, horizon=3).iloc[-1]["value"]
    assert values[("mae", "all")] == pytest.approx(mae_alone / 2)  # MAE keeps the zeros' errors, all 0


# ---------------------------------------------------------------------------- command line


@pytest.fixture
def walks_csv(tmp_path):
    path = tmp_path / "walks.csv"
    random_walks(rows=160).to_csv(path)
    return path


def test_cli_writes_the_forecasts_and_the_metrics_json(walks_csv, tmp_path, capsys):
    output, report = tmp_path / "out" / "backtest.csv", tmp_path / "out" / "m.json"
    code = main(["backtest", str(walks_csv), "--model", "ar", "--param", "max_order=4", "--horizon", "5", "--start", "120",
                 "--stride", "4", "--refit", "2", "--quantiles", "0.1,0.9", "--output", str(output), "--metrics-json", str(report)])
    assert code == 0
    forecasts = pd.read_csv(output, parse_dates=["cutoff", "timestamp"])
    assert list(forecasts.columns) == ["cutoff", "timestamp", "y0", "y0_q0.1", "y0_q0.9", "y1", "y1_q0.1", "y1_q0.9"]
    assert len(forecasts) == 9 * 5 and forecasts["cutoff"].iloc[0] == pd.Timestamp("2021-01-05 23:00")
    expected = historical_forecasts(AR(max_order=4, horizon=5), random_walks(rows=160), start=120, horizon=5, stride=4,
                                    refit=2, quantiles=[0.1, 0.9])
    np.testing.assert_allclose(forecasts[["y0", "y1_q0.9"]], expected[["y0", "y1_q0.9"]], rtol=1e-12)
    metrics = json.loads(report.read_text())
    assert metrics["n_forecasts"] == 9 and metrics["refit"] == 2 and set(metrics["metrics"]) == {"mae", "mse", "crps", "coverage"}
    assert len(metrics["metrics"]["mae"]["steps"]) == 5
    assert capsys.readouterr().out.startswith("mae=")


def test_cli_defaults_backtest_what_tsseq_forecast_would_fit_over_the_last_fifth(walks_csv, tmp_path, capsys):
    # no --model, no --start: auto, as `tsseq forecast` fits it, from the origin at 80% of the rows; --target is
    # tsseq forecast's name for --columns
    output, report = tmp_path / "backtest.csv", tmp_path / "m.json"
    code = main(["backtest", str(walks_csv), "--target", "y1", "--horizon", "5", "--stride", "5", "--output", str(output),
                 "--metrics-json", str(report)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "auto: chose" in captured.err
    forecasts = pd.read_csv(output, parse_dates=["cutoff", "timestamp"])
    assert list(forecasts.columns) == ["cutoff", "timestamp", "y1"]
    expected = historical_forecasts(pipeline.build_model(ModelConfig("auto", {}), {"horizon": 5}),
                                    random_walks(rows=160)[["y1"]], start=0.8, horizon=5, stride=5)  # fmt: skip
    pd.testing.assert_frame_equal(forecasts, expected, check_dtype=False, check_freq=False)
    metrics = json.loads(report.read_text())
    assert metrics["model"] == "auto" and metrics["start"] == 0.8 and metrics["first_cutoff"] == str(expected["cutoff"].min())


def test_cli_writes_parquet_for_a_parquet_output_and_the_same_metrics_json(walks_csv, tmp_path, capsys):
    # the suffix names the format, as tsseq forecast's --output: a .parquet name holds Parquet, not CSV text
    written = {}
    for suffix in ("csv", "parquet"):
        output, report = tmp_path / f"backtest.{suffix}", tmp_path / f"m_{suffix}.json"
        code = main(["backtest", str(walks_csv), "--model", "ar", "--param", "max_order=4", "--horizon", "5", "--start",
                     "120", "--stride", "4", "--output", str(output), "--metrics-json", str(report)])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        written[suffix] = output, report.read_text()
    assert written["parquet"][0].read_bytes()[:4] == b"PAR1"
    forecasts = pd.read_parquet(written["parquet"][0])
    pd.testing.assert_frame_equal(forecasts, pd.read_csv(written["csv"][0], parse_dates=["cutoff", "timestamp"]),
                                  check_dtype=False)  # fmt: skip
    assert written["parquet"][1] == written["csv"][1]


@pytest.mark.parametrize("start", ["2030-01-01", "0"])
def test_cli_bad_start_exits_2_and_writes_nothing(walks_csv, tmp_path, capsys, start):
    output, report = tmp_path / "backtest.csv", tmp_path / "m.json"
    code = main(["backtest", str(walks_csv), "--horizon", "5", "--start", start, "--output", str(output), "--metrics-json", str(report)])
    assert code == 2
    assert "tsseq backtest: error: start=" in capsys.readouterr().err
    assert not output.exists() and not report.exists()


def test_cli_start_with_a_time_zone_on_naive_data_exits_2_naming_both(tmp_path, capsys):
    long = pd.concat({"A": random_walks(rows=200, seed=1), "B": random_walks(rows=170, seed=2)}, names=["store"])
    data = tmp_path / "long.csv"
    long.to_csv(data)
    output, report = tmp_path / "backtest.csv", tmp_path / "m.json"
    code = main(["backtest", str(data), "--series-column", "store", "--timestamp-column", "time", "--model", "ar",
                 "--horizon", "5", "--start=2021-01-07T06:00:00+01:00", "--output", str(output),
                 "--metrics-json", str(report)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("tsseq backtest: error: start='2021-01-07T06:00:00+01:00' has a time zone (UTC+01:00), but the data's "
            "timestamps have none (tz-naive)") in err and "start='2021-01-07 06:00:00'" in err
    assert not output.exists() and not report.exists()


def test_every_forecaster_backtests_itself_through_the_same_functions():
    frame, model = random_walks(), AR(max_order=12)
    options = {"start": 150, "horizon": HORIZON, "stride": 7, "quantiles": [0.1, 0.9]}
    pd.testing.assert_frame_equal(model.historical_forecasts(frame, **options), historical_forecasts(model, frame, **options))
    pd.testing.assert_frame_equal(
        model.backtest(frame, metric=["mae", "coverage"], **options), backtest(model, frame, metric=["mae", "coverage"], **options)
    )
    assert not hasattr(model, "layout_")  # cloned for every fit, never fitted itself
