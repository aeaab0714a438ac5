"""Pipeline pieces: protocol defaults for model parameters, and the windows protocol."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pandas as pd
import pytest

from tsseq import fitting, metrics, pipeline, registry
from tsseq.config import DataConfig, EvaluationConfig, ModelConfig, OutputConfig, PipelineConfig, from_mapping
from tsseq.engine.checkpoint import CheckpointMismatchError
from tsseq.errors import ConfigError
from tsseq.pipeline import build_model, score_windows


def test_protocol_defaults_fill_only_what_the_model_takes_and_leaves_out():
    defaults = {"input_length": 48, "horizon": 12}
    gru = build_model(ModelConfig("gru", {"horizon": 6}), defaults)
    assert (gru.input_length, gru.horizon, gru.cell) == (48, 6, "gru")
    assert build_model(ModelConfig("naive"), defaults).get_params() == {}


def test_windows_protocol_scores_every_test_window():
    index = pd.date_range("2020-01-01", periods=300, freq="h")
    frame = pd.DataFrame({"x": np.sin(np.arange(300) / 5.0)}, index=index)
    evaluation = EvaluationConfig(protocol="windows", input_length=24, horizon=6, scale="standard")
    models = [ModelConfig("naive"), ModelConfig("gru", {"hidden_size": 8, "training": {"epochs": 1}})]
    scores, protocol = score_windows(frame, models, evaluation)
    test_rows = int(0.2 * 300) + 24  # the test fraction, plus input_length rows of context before it
    assert protocol["n_windows"] == test_rows - 24 - 6 + 1
    assert list(scores.index) == ["naive", "gru"] and np.isfinite(scores.to_numpy()).all()


# ---------------------------------------------------------------------------- intervals and quantiles
# (issue 12: evaluation.interval, output.quantiles, the protocols' probabilistic scores)

def _seasonal(rows: int = 240, columns=("load", "temp"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=rows, freq="h", name="time")
    values = {c: 5 * (i + 1) + np.sin(np.arange(rows) * 2 * np.pi / 24) + 0.3 * rng.standard_normal(rows) for i, c in enumerate(columns)}
    return pd.DataFrame(values, index=index)


def test_holdout_intervals_are_scored_from_the_models_quantiles():
    frame = _seasonal()
    evaluation = EvaluationConfig(horizon=24, season_length=24, metrics=["mse", "mase"], interval=0.9)
    scores, protocol = pipeline.score_holdout(frame, [ModelConfig("naive"), ModelConfig("seasonal_naive", {"season_length": 24})], evaluation)
    assert protocol["interval"] == 0.9 and list(scores.columns) == ["mse", "mase", "coverage", "acd", "msis", "interval_width"]
    train, test = frame.iloc[:-24], frame.iloc[-24:]
    forecast = registry.create("naive").fit(train).predict(24, quantiles=[0.05, 0.95])
    lower, upper = (forecast[[f"{c}_q{level}" for c in frame.columns]].to_numpy() for level in ("0.05", "0.95"))
    truth = test.to_numpy()
    share = metrics.coverage(truth, lower, upper)
    expected = {
        "coverage": share,
        "acd": abs(share - 0.9),
        "msis": metrics.msis(truth, lower, upper, insample=train.to_numpy(), season_length=24, alpha=0.1),
        "interval_width": metrics.mean_interval_width(lower, upper),
        "mase": metrics.mase(truth, forecast[list(frame.columns)].to_numpy(), insample=train.to_numpy(), season_length=24),
    }
    for name, value in expected.items():
        assert scores.loc["naive", name] == pytest.approx(value, rel=1e-9), name
    assert scores.loc["seasonal_naive", "msis"] < scores.loc["naive", "msis"]  # the seasonal model knows the cycle


def test_holdout_intervals_of_many_series_are_scaled_per_series():
    one, other = _seasonal(columns=("load",), seed=1), 10 * _seasonal(columns=("load",), seed=2)
    frame = pd.concat({"a": one, "b": other}, names=["series"])
    evaluation = EvaluationConfig(horizon=12, season_length=24, interval=0.8)
    scores, _ = pipeline.score_holdout(frame, [ModelConfig("naive")], evaluation)
    per_series = []
    for part in (one, other):  # equal horizons: the MSIS of the set is the mean of the series' MSIS
        train, test = part.iloc[:-12], part.iloc[-12:]
        bounds = registry.create("naive").fit(train).predict_interval(12, coverage=0.8)
        per_series.append(metrics.msis(test.to_numpy(), bounds[["load_lower"]].to_numpy(), bounds[["load_upper"]].to_numpy(),
                                       insample=train.to_numpy(), season_length=24, alpha=0.2))
    assert scores.loc["naive", "msis"] == pytest.approx(np.mean(per_series), rel=1e-12)


def test_windows_protocol_scores_intervals_of_every_window():
    index = pd.date_range("2020-01-01", periods=300, freq="h")
    frame = pd.DataFrame({"x": np.sin(np.arange(300) / 5.0) + 0.1 * np.random.default_rng(0).standard_normal(300)}, index=index)
    evaluation = EvaluationConfig(protocol="windows", input_length=24, horizon=6, scale="standard", interval=0.9)
    lstm = {"hidden_size": 8, "training": {"loss": "quantile", "epochs": 1, "seed": 0}}
    scores, protocol = score_windows(frame, [ModelConfig("naive"), ModelConfig("lstm", lstm)], evaluation)
    assert protocol["interval"] == 0.9
    for model in ("naive", "lstm"):
        row = scores.loc[model]
        assert 0 <= row["coverage"] <= 1 and row["acd"] == pytest.approx(abs(row["coverage"] - 0.9))
        assert row["interval_width"] > 0 and row["msis"] >= row["interval_width"] / 100  # finite, positive


def test_intervals_refuse_a_point_only_model_before_any_model_is_fitted(point_only, monkeypatch):
    def never(self, series, validation=None):
        raise AssertionError("fitted before the point-only model was refused")

    monkeypatch.setattr(registry.get("naive"), "_fit", never)
    evaluation = EvaluationConfig(horizon=6, interval=0.9)
    with pytest.raises(ConfigError, match="point_only gives point forecasts only.*conformal"):
        pipeline.score_holdout(_seasonal(), [ModelConfig("naive"), ModelConfig(point_only)], evaluation)


def test_interval_metrics_come_from_evaluation_interval_not_metrics():
    with pytest.raises(ConfigError, match="'coverage' comes with evaluation.interval"):
        pipeline.score_holdout(_seasonal(), [ModelConfig("naive")], EvaluationConfig(horizon=6, metrics=["mse", "coverage"]))


def test_interval_and_quantiles_keys_are_checked():
    assert from_mapping(EvaluationConfig, {"protocol": "m4", "interval": 0.95}).interval == 0.95
    assert from_mapping(OutputConfig, {"quantiles": [0.9, 0.1, 0.5]}).quantiles == [0.9, 0.1, 0.5]
    with pytest.raises(ConfigError, match=r"evaluation.interval: expected a coverage in \(0, 1\)"):
        from_mapping(EvaluationConfig, {"interval": 1.5}, where="evaluation")
    with pytest.raises(ConfigError, match="'ett' protocol scores no intervals"):
        EvaluationConfig(protocol="ett", interval=0.9)
    with pytest.raises(ConfigError, match="output.quantiles"):
        OutputConfig(quantiles=[0.5, 1.0])
    with pytest.raises(ConfigError, match="unknown key 'intervall'. Did you mean 'interval'?"):
        from_mapping(EvaluationConfig, {"intervall": 0.9}, where="evaluation")


def test_run_writes_quantile_columns_and_prints_the_interval_scores(tmp_path):
    csv = tmp_path / "plant.csv"
    _seasonal().to_csv(csv)
    config = PipelineConfig(
        name="intervals",
        data=DataConfig(csv=str(csv)),
        models=[ModelConfig("naive")],
        evaluation=EvaluationConfig(horizon=12, interval=0.95),
        output=OutputConfig(directory=str(tmp_path / "out"), quantiles=[0.05, 0.5, 0.95]),
    )
    result = pipeline.run(config)
    assert set(result.to_dict()["scores"]["naive"]) == {"mse", "mae", "coverage", "acd", "msis", "interval_width"}
    forecast = pd.read_csv(result.files["forecast_csv"], index_col=0)
    assert list(forecast.columns) == [f"{c}{s}" for c in ("load", "temp") for s in ("", "_q0.05", "_q0.5", "_q0.95")]
    assert (forecast["load_q0.05"] <= forecast["load_q0.5"]).all() and (forecast["load_q0.5"] <= forecast["load_q0.95"]).all()
    assert result.files["plot"].read_bytes()[:4] == b"\x89PNG"


def test_holdout_plot_draws_every_models_held_out_forecast(tmp_path, monkeypatch):
    drawn = {}

    def capture(history, actuals, forecasts, path, **kwargs):
        drawn.update(history=history, actuals=actuals, forecasts=forecasts)
        return plot_holdout(history, actuals, forecasts, path, **kwargs)

    from tsseq.plotting import plot_holdout

    monkeypatch.setattr("tsseq.plotting.plot_holdout", capture)
    csv = tmp_path / "plant.csv"
    _seasonal().to_csv(csv)
    config = PipelineConfig(
        name="holdout",
        data=DataConfig(csv=str(csv)),
        models=[ModelConfig("naive"), ModelConfig("drift")],
        evaluation=EvaluationConfig(horizon=12, interval=0.9),
        output=OutputConfig(directory=str(tmp_path / "out"), holdout_plot="holdout.png", plot=None, forecast_csv=None),
    )
    result = pipeline.run(config)
    assert result.files["holdout_plot"].read_bytes()[:4] == b"\x89PNG"
    assert list(drawn["forecasts"]) == ["naive", "drift"] and len(drawn["actuals"]) == 12
    assert drawn["history"].index[-1] < drawn["actuals"].index[0]
    assert {"load_lower", "load_upper"} <= set(drawn["forecasts"]["naive"].columns)


def test_run_refuses_output_quantiles_of_a_point_only_model_before_scoring(point_only, tmp_path, monkeypatch):
    monkeypatch.setattr(registry.get(point_only), "_fit", lambda self, series, validation=None: pytest.fail("fitted"))
    config = PipelineConfig(
        name="no-quantiles",
        data=DataConfig(csv="unused.csv"),
        models=[ModelConfig(point_only)],
        output=OutputConfig(directory=str(tmp_path), quantiles=[0.1, 0.9]),
    )
    with pytest.raises(ConfigError, match=r"not quantiles \(output.quantiles\)"):
        pipeline.run(config)


def _fake_catalog(monkeypatch, frame, test=None):
    import tsseq.data.catalog

    monkeypatch.setattr(tsseq.data.catalog, "load", lambda name, **_: types.SimpleNamespace(frame=frame, test=test))


def test_m4_protocol_scores_intervals_and_describes_the_interval(monkeypatch):
    hours = 24 * 12
    series = {
        name: pd.DataFrame(
            {"value": 50 + 10 * np.sin(np.arange(hours + 48) * 2 * np.pi / 24 + phase) + np.arange(hours + 48) * 0.01},
            index=pd.date_range("2020-01-01", periods=hours + 48, freq="h", name="timestamp"),
        )
        for name, phase in (("H1", 0.0), ("H2", 1.0), ("H3", 2.0))
    }
    long = pd.concat(series, names=["series"])
    position = long.groupby(level=0).cumcount()
    _fake_catalog(monkeypatch, long[position < hours], long[position >= hours])
    models = [ModelConfig("naive"), ModelConfig("seasonal_naive")]
    scores, description = pipeline.score_protocol(DataConfig(dataset="m4-hourly"), models, EvaluationConfig(protocol="m4", interval=0.95))
    assert description["interval"] == 0.95 and "interval" not in scores.columns
    assert {"smape", "mase", "owa", "msis", "coverage", "acd"} <= set(scores.columns)
    assert scores.loc["naive", "acd"] == pytest.approx(abs(scores.loc["naive", "coverage"] - 0.95))
    # The protocol's season length reaches seasonal_naive: a 24-hourly cycle it repeats almost exactly.
    assert scores.loc["seasonal_naive", "smape"] < 0.1 * scores.loc["naive", "smape"]


def test_ett_protocol_reports_crps_for_probabilistic_models_only(monkeypatch, point_only):
    rows = 24 * 30 * 20  # the 12/4/4-month ETTh split
    index = pd.date_range("2016-07-01", periods=rows, freq="h", name="date")
    rng = np.random.default_rng(0)
    _fake_catalog(monkeypatch, pd.DataFrame({"OT": np.cumsum(rng.standard_normal(rows)) * 0.1}, index=index))
    evaluation = EvaluationConfig(protocol="ett", setting="S", input_length=24, horizon=12)
    scores, description = pipeline.score_protocol(DataConfig(dataset="ETTh1"), [ModelConfig("naive"), ModelConfig(point_only)], evaluation)
    assert list(scores.columns) == ["mse", "mae", "crps", "coverage_80", "coverage_90"]
    assert np.isfinite(scores.loc["naive"]).all() and scores.loc["point_only", ["crps", "coverage_80", "coverage_90"]].isna().all()
    assert scores.loc["point_only", "mse"] == pytest.approx(scores.loc["naive", "mse"])  # both repeat the last value
    assert description["crps_levels"] == "0.05:0.95:0.05" and description["n_windows"] == 2881 - 12
    as_dict = pipeline.scores_to_dict(scores)
    assert "crps" in as_dict["naive"] and set(as_dict["point_only"]) == {"mse", "mae"}
    table = pipeline.format_scores(scores)
    (row,) = [line for line in table.splitlines() if line.startswith("point_only")]
    assert "nan" not in table.lower() and len(row.split()) == 3  # name, mse, mae; blank where there is no CRPS


def test_a_parameter_that_takes_a_mapping_names_itself_and_the_fields():
    with pytest.raises(ConfigError, match=r"Model 'segrnn': the 'training' parameter must be a mapping of TrainingConfig fields"):
        build_model(ModelConfig("segrnn", {"training": 5}))
    with pytest.raises(ConfigError, match=r"training\.learning_rate: expected a number; got 'fast'"):
        build_model(ModelConfig("segrnn", {"training": {"learning_rate": "fast"}}))
    model = build_model(ModelConfig("segrnn", {"training": {"learning_rate": "1e-3"}, "input_length": "4.8e1"}))
    assert model.training_config().learning_rate == 1e-3 and model.input_length == 48


def test_run_writes_every_file_or_none(tmp_path, monkeypatch):
    import tsseq.plotting

    index = pd.date_range("2021-01-01", periods=60, freq="D", name="date")
    path = tmp_path / "daily.csv"
    pd.DataFrame({"y": np.arange(60.0)}, index=index).to_csv(path)
    config = PipelineConfig(
        "job", DataConfig(csv=str(path)), [ModelConfig("naive")], EvaluationConfig(horizon=5),
        OutputConfig(directory=str(tmp_path / "out"), holdout_plot="holdout.png"),
    )  # fmt: skip

    def crash(*args, **kwargs):
        raise RuntimeError("no renderer")

    monkeypatch.setattr(tsseq.plotting, "plot_holdout", crash)
    with pytest.raises(RuntimeError, match="no renderer"):
        pipeline.run(config)
    assert not (tmp_path / "out").exists()
    monkeypatch.undo()
    result = pipeline.run(config)
    written = {"forecast.csv", "forecast.png", "holdout.png", "results.json"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == written
    assert set(result.files) == {"forecast_csv", "plot", "holdout_plot", "results_json"}


def test_score_protocol_collects_failures_when_asked(monkeypatch):
    import tsseq.data.catalog
    import tsseq.protocols

    monkeypatch.setattr(tsseq.data.catalog, "load", lambda name: types.SimpleNamespace(frame=None))

    def evaluate_ett(forecaster, **options):
        if forecaster.max_order == 2:
            raise ConfigError("max_order=2 is too large for this series")
        return types.SimpleNamespace(to_dict=lambda: {"mse": 1.0, "mae": 0.5, "dataset": "x"})

    monkeypatch.setattr(tsseq.protocols, "evaluate_ett", evaluate_ett)
    models = [ModelConfig("ar", {"max_order": 1}, label="ar1"), ModelConfig("ar", {"max_order": 2}, label="ar2")]
    evaluation = EvaluationConfig(protocol="ett")
    failures = {}
    scores, description = pipeline.score_protocol(DataConfig(dataset="x"), models, evaluation, failures=failures)
    assert list(scores.index) == ["ar1"] and description["dataset"] == "x"
    assert str(failures["ar2"]) == "max_order=2 is too large for this series"
    with pytest.raises(ConfigError, match="too large"):
        pipeline.score_protocol(DataConfig(dataset="x"), models, evaluation)


# ---------------------------------------------------------------------------- threads and checkpoints of a job


def test_threads_go_into_every_neural_model_that_does_not_set_its_own():
    models = [
        ModelConfig("lstm", {"training": {"epochs": 2}}),
        ModelConfig("gru", {"training": {"threads": 3}}),
        ModelConfig("ar", {"max_order": 4}),
        ModelConfig("conformal", {"model": "segrnn"}, label="wrapped"),
    ]
    lstm, gru, ar, conformal = fitting.with_threads(models, 1)
    assert lstm.params == {"training": {"epochs": 2, "threads": 1}} and gru.params == {"training": {"threads": 3}}
    assert ar == models[2]
    assert conformal.params == {"model": "segrnn", "model_params": {"training": {"threads": 1}}} and conformal.label == "wrapped"
    assert fitting.with_threads(models, None) == models
    assert build_model(lstm).training_config().threads == 1


def test_the_jobs_threads_checkpoint_dir_and_resume_keys():
    mapping = {"name": "j", "data": {"dataset": "co2"}, "models": [{"name": "ar"}]}
    config = from_mapping(PipelineConfig, {**mapping, "checkpoint_dir": "ck", "resume": False, "threads": 2})
    assert (config.checkpoint_dir, config.resume, config.threads) == ("ck", False, 2)
    default = from_mapping(PipelineConfig, mapping)
    assert (default.checkpoint_dir, default.resume, default.threads) == (None, True, None)
    with pytest.raises(ConfigError, match=r"threads: expected a number of threads >= 1 \(or null for the default\); got 0"):
        from_mapping(PipelineConfig, {**mapping, "threads": 0})
    with pytest.raises(ConfigError, match=r"^resume: expected bool; got 'yes please'"):
        from_mapping(PipelineConfig, {**mapping, "resume": "yes please"})


def _daily_job(tmp_path, models, **job) -> PipelineConfig:
    index = pd.date_range("2021-01-01", periods=120, freq="D", name="date")
    path = tmp_path / "daily.csv"
    pd.DataFrame({"y": np.sin(np.arange(120) / 5) + 0.01 * np.arange(120)}, index=index).to_csv(path)
    output = OutputConfig(directory=str(tmp_path / "out"), plot=None)
    return PipelineConfig("job", DataConfig(csv=str(path)), models, EvaluationConfig(horizon=5), output, **job)


TINY_LSTM = {"input_length": 12, "hidden_size": 4, "training": {"epochs": 1, "seed": 0, "device": "cpu"}}


def _checkpoints(folder) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.pt"))


def test_each_fit_of_a_neural_model_keeps_its_checkpoint_in_a_folder_of_its_own(tmp_path, capsys):
    folder = tmp_path / "ck"
    models = [ModelConfig("lstm", TINY_LSTM, label="lstm:small"), ModelConfig("ar")]  # ar: no checkpoints
    first = pipeline.run(_daily_job(tmp_path, models, checkpoint_dir=str(folder), threads=1))
    assert _checkpoints(folder) == ["lstm_small/holdout/last.pt", "lstm_small/refit/last.pt"]
    reports = capsys.readouterr().err
    assert "lstm:small [holdout]: training from epoch 1/1" in reports and "lstm:small [refit]: training" in reports
    again = pipeline.run(_daily_job(tmp_path, models, checkpoint_dir=str(folder), threads=1))  # resumes both fits
    assert "lstm:small [holdout]: the checkpoint" in capsys.readouterr().err
    pd.testing.assert_frame_equal(first.scores, again.scores)
    pd.testing.assert_frame_equal(first.forecast, again.forecast)

    own = {**TINY_LSTM, "training": {**TINY_LSTM["training"], "checkpoint_dir": str(tmp_path / "own")}}
    windows = dataclasses.replace(_daily_job(tmp_path, [ModelConfig("lstm", own)], checkpoint_dir=str(folder)),
                                  evaluation=EvaluationConfig(protocol="windows", input_length=12, horizon=5))  # fmt: skip
    pipeline.run(windows)
    assert _checkpoints(tmp_path / "own") == ["refit/last.pt", "windows/last.pt"]  # a model's own folder comes first


def test_a_changed_job_refuses_the_checkpoint_naming_the_fit_until_resume_is_off(tmp_path, capsys):
    folder = str(tmp_path / "ck")
    pipeline.run(_daily_job(tmp_path, [ModelConfig("lstm", TINY_LSTM)], checkpoint_dir=folder))
    longer = {**TINY_LSTM, "training": {**TINY_LSTM["training"], "epochs": 2}}
    with pytest.raises(CheckpointMismatchError, match=r"lstm \[holdout\]: Cannot resume .* --no-resume starts it over"):
        pipeline.run(_daily_job(tmp_path, [ModelConfig("lstm", longer)], checkpoint_dir=folder))
    capsys.readouterr()
    pipeline.run(_daily_job(tmp_path, [ModelConfig("lstm", longer)], checkpoint_dir=folder, resume=False))
    assert "lstm [holdout]: starting over at epoch 1/2 (no resume)" in capsys.readouterr().err


def test_the_published_protocols_pass_the_checkpoint_options_to_fit(monkeypatch, tmp_path):
    import tsseq.protocols

    seen = {}

    def evaluate_ett(forecaster, fit_options=None, **options):
        seen.update(folder=forecaster.training_config().checkpoint_dir, options=fit_options)
        return types.SimpleNamespace(to_dict=lambda: {"mse": 1.0, "mae": 0.5})

    monkeypatch.setattr(tsseq.protocols, "evaluate_ett", evaluate_ett)
    monkeypatch.setattr("tsseq.data.catalog.load", lambda name: types.SimpleNamespace(frame=None))
    checkpoints = fitting.Checkpoints(tmp_path, resume=False)
    evaluation = EvaluationConfig(protocol="ett", input_length=12, horizon=5)
    pipeline.score_protocol(DataConfig(dataset="ETTh1"), [ModelConfig("lstm", TINY_LSTM)], evaluation, checkpoints=checkpoints)
    assert seen["folder"] == str(tmp_path / "lstm" / "ett") and seen["options"]["resume"] is False
