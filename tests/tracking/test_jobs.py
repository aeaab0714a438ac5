"""Pipelines with ``tracking: {enabled: true}``: one run per model with everything it should log."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from mlflow import MlflowClient

from tsseq import pipeline
from tsseq.config import DataConfig, EvaluationConfig, ModelConfig, OutputConfig, PipelineConfig, TrackingConfig
from tsseq.errors import DataError

NO_OUTPUT = OutputConfig(forecast_csv=None, plot=None, results_json=None)


@pytest.fixture
def csv(tmp_path, hourly):
    path = tmp_path / "load.csv"
    hourly.to_csv(path)
    return path


def _config(csv, store_uri, models, experiment="pipeline-runs") -> PipelineConfig:
    return PipelineConfig(
        name="tracked-job",
        data=DataConfig(csv=str(csv)),
        models=models,
        evaluation=EvaluationConfig(protocol="windows", input_length=24, horizon=6, scale="standard"),
        output=NO_OUTPUT,
        tracking=TrackingConfig(enabled=True, experiment=experiment, tracking_uri=store_uri),
    )


def test_each_model_is_one_finished_run_with_params_data_metrics_history_plot_and_model(csv, store_uri, tmp_path):
    models = [
        ModelConfig("naive"),
        ModelConfig("lstm", {"hidden_size": 8, "training": {"epochs": 2, "seed": 0}}, label="small lstm"),
    ]
    result = pipeline.run(_config(csv, store_uri, models), base_dir=tmp_path)
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("pipeline-runs")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"naive", "small lstm"} and {run.info.status for run in runs.values()} == {"FINISHED"}
    lstm = runs["small lstm"]
    params, tags = lstm.data.params, lstm.data.tags
    assert params["model.name"] == "lstm" and params["model.label"] == "small lstm"
    assert params["model.hidden_size"] == "8" and params["model.input_length"] == "24" and params["training.epochs"] == "2"
    assert params["evaluation.protocol"] == "windows" and params["data.csv"] == str(csv)
    assert params["dataset.sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    for run in runs.values():  # the MLflow UI's Dataset column
        (dataset_input,) = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == "load.csv" and dataset_input.dataset.digest == params["dataset.sha256"][:36]
    assert tags["tsseq.input_scale"] == "standard" and tags["tsseq.model"] == "small lstm"
    for name, run in runs.items():
        assert run.data.metrics["test_mse"] == pytest.approx(result.scores.loc[name, "mse"], rel=1e-12)
    assert [metric.step for metric in client.get_metric_history(lstm.info.run_id, "val_loss")] == [0, 1]
    assert [artifact.path for artifact in client.list_artifacts(lstm.info.run_id, "plots")] == ["plots/forecast_vs_truth.png"]
    assert tags["tsseq.model_uri"].startswith("models:/")


def test_a_model_fitted_with_covariates_is_tracked_without_the_model_it_cannot_log(tmp_path, hourly, store_uri):
    """The logged MLflow model (and its window plot) take a history only: a model that needs its covariates is not
    logged, the tag says why, and the job and its run finish (it failed with a ConfigError from the plot)."""
    path = tmp_path / "promo.csv"
    hourly.assign(promo=(hourly.index.hour >= 18).astype(float)).to_csv(path)
    config = dataclasses.replace(_config(path, store_uri, [ModelConfig("ar", {"max_order": 24})], "covariate-runs"),
                                 data=DataConfig(csv=str(path), target=["load"], future_covariates=["promo"]),
                                 evaluation=EvaluationConfig(protocol="holdout", horizon=6))  # fmt: skip
    result = pipeline.run(config, base_dir=tmp_path)
    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("covariate-runs").experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["test_mse"] == pytest.approx(result.scores.loc["ar", "mse"])
    assert run.data.tags["tsseq.model_not_logged"].startswith("fitted with future covariates, which the MLflow model")
    assert "tsseq.model_uri" not in run.data.tags


def test_a_model_that_fails_leaves_a_failed_run_and_the_job_raises(csv, store_uri, tmp_path):
    models = [ModelConfig("gru", {"input_length": 10_000}, label="broken")]  # longer than the series: fails in fit
    with pytest.raises(DataError, match="input_length"):
        pipeline.run(_config(csv, store_uri, models, experiment="pipeline-failure"), base_dir=tmp_path)
    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pipeline-failure").experiment_id])
    assert run.info.status == "FAILED" and "input_length" in run.data.tags["tsseq.error"]


def test_tracking_is_off_unless_enabled(csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TSSEQ_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = PipelineConfig(name="plain", data=DataConfig(csv=str(csv)), models=[ModelConfig("naive")], output=NO_OUTPUT)
    assert config.tracking == TrackingConfig() and not config.tracking.enabled
    pipeline.run(config, base_dir=tmp_path)
    assert not (tmp_path / "mlflow").exists()


def test_interval_scores_land_in_the_metrics_and_the_window_plot_is_a_fan_with_actuals(csv, store_uri, tmp_path, monkeypatch):
    import tsseq.plotting

    drawn = []
    figure = tsseq.plotting.forecast_figure
    monkeypatch.setattr(tsseq.plotting, "forecast_figure", lambda *a, **k: drawn.append((a, k)) or figure(*a, **k))
    config = dataclasses.replace(
        _config(csv, store_uri, [ModelConfig("naive")], experiment="pipeline-intervals"),
        evaluation=EvaluationConfig(protocol="windows", input_length=24, horizon=6, scale="standard", interval=0.9),
        tracking=TrackingConfig(enabled=True, experiment="pipeline-intervals", tracking_uri=store_uri, log_model=False),
    )
    result = pipeline.run(config, base_dir=tmp_path)
    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pipeline-intervals").experiment_id])
    for name in ("coverage", "acd", "msis", "interval_width"):
        assert run.data.metrics[f"test_{name}"] == pytest.approx(result.scores.loc["naive", name], rel=1e-12)
    assert run.data.params["evaluation.interval"] == "0.9"
    ((args, keywords),) = drawn
    forecast = args[1]
    assert list(forecast.columns) == ["load", "load_q0.05", "load_q0.95"]  # the 90% interval it was scored on
    assert keywords["actuals"].index.equals(forecast.index) and len(forecast) == 6
    assert [artifact.path for artifact in client.list_artifacts(run.info.run_id, "plots")] == ["plots/forecast_vs_truth.png"]


@pytest.mark.shared_data
def test_the_ett_protocols_crps_lands_in_the_metrics(data_dir, store_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(data_dir))
    config = PipelineConfig(
        name="ett-crps",
        data=DataConfig(dataset="ETTh1"),
        models=[ModelConfig("naive")],
        evaluation=EvaluationConfig(protocol="ett", setting="S", input_length=24, horizon=24),
        output=NO_OUTPUT,
        tracking=TrackingConfig(enabled=True, tracking_uri=store_uri, log_model=False),
    )
    result = pipeline.run(config, base_dir=tmp_path)
    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("ett-crps").experiment_id])
    for name in ("crps", "coverage_80", "coverage_90", "mse"):
        assert run.data.metrics[f"test_{name}"] == pytest.approx(result.scores.loc["naive", name], rel=1e-12)


def test_a_job_stopped_in_training_keeps_its_epochs_and_the_resumed_run_logs_each_epoch_once(
    csv, store_uri, tmp_path, monkeypatch
):
    from tsseq.engine.trainer import Trainer

    run_epoch = Trainer._run_epoch

    def stopped_at_epoch_2(self, epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt  # Ctrl-C in the third epoch
        return run_epoch(self, epoch, *args, **kwargs)

    models = [ModelConfig("lstm", {"hidden_size": 8, "training": {"epochs": 4, "seed": 0}}, label="lstm")]
    config = dataclasses.replace(
        _config(csv, store_uri, models, experiment="pipeline-stopped"), checkpoint_dir=str(tmp_path / "checkpoints")
    )
    monkeypatch.setattr(Trainer, "_run_epoch", stopped_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, base_dir=tmp_path)
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("pipeline-stopped").experiment_id
    (killed,) = client.search_runs([experiment])
    assert killed.info.status == "KILLED"
    for metric in ("train_loss", "val_loss", "lr", "epoch_time_s"):  # logged as each epoch ended
        assert [m.step for m in client.get_metric_history(killed.info.run_id, metric)] == [0, 1], metric

    monkeypatch.setattr(Trainer, "_run_epoch", run_epoch)
    pipeline.run(config, base_dir=tmp_path)  # resumes from epoch 2's checkpoint
    (resumed,) = [run for run in client.search_runs([experiment]) if run.info.run_id != killed.info.run_id]
    assert resumed.info.status == "FINISHED"
    history = client.get_metric_history(resumed.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]  # epochs 0-1 from the checkpoint's history, 2-3 live
    first = {m.step: m.value for m in client.get_metric_history(killed.info.run_id, "train_loss")}
    assert {m.step: m.value for m in history if m.step < 2} == first
