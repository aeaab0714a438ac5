"""tsseq compare ranks only comparable runs: same data, same evaluation settings.

The experiment of a new user: sunspots at H=6, sunspots at H=24 and co2 at H=6, all
in one experiment. co2's MSE (~1) is not better than sunspots' (~hundreds); registering
"the best" of them must be refused until the user says which runs are meant.
"""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from tsseq import pipeline
from tsseq.cli import main
from tsseq.config import DataConfig, EvaluationConfig, ModelConfig, OutputConfig, PipelineConfig, TrackingConfig
from tsseq.errors import ConfigError
from tsseq.tracking import compare_runs, register_best, tracked_run

EXPERIMENT = "sun-h6"
NO_OUTPUT = OutputConfig(forecast_csv=None, plot=None, results_json=None)
JOBS = [("sunspots", 6), ("sunspots", 24), ("co2", 6)]  # in this order: co2's runs are the newest


@pytest.fixture(scope="module")
def experiment(store_uri, tmp_path_factory) -> str:
    """Three tracked jobs (AR and naive each) in one experiment, as the probe logged them."""
    base = tmp_path_factory.mktemp("jobs")
    for dataset, horizon in JOBS:
        config = PipelineConfig(
            name=f"{dataset}-h{horizon}",
            data=DataConfig(dataset=dataset, missing="interpolate"),
            models=[ModelConfig("ar", {"max_order": 4}), ModelConfig("naive")],
            evaluation=EvaluationConfig(protocol="holdout", horizon=horizon),
            output=NO_OUTPUT,
            tracking=TrackingConfig(enabled=True, experiment=EXPERIMENT, tracking_uri=store_uri),
        )
        pipeline.run(config, base_dir=base)
    return EXPERIMENT


def _settings(table, store_uri) -> set[tuple[str, str]]:
    client = MlflowClient(store_uri)
    runs = [client.get_run(run_id).data.params for run_id in table["run_id"]]
    return {(params["dataset.name"], params["evaluation.horizon"]) for params in runs}


def test_only_the_runs_comparable_with_the_newest_are_ranked_and_the_others_are_named(store_uri, experiment):
    comparison = compare_runs(experiment, metric="mse", tracking_uri=store_uri)
    assert _settings(comparison.table, store_uri) == {("co2", "6")} and len(comparison.table) == 2
    assert comparison.settings["dataset.name"] == "co2" and comparison.settings["evaluation.horizon"] == "6"
    assert sorted(group.runs for group in comparison.incomparable) == [2, 2]
    note = comparison.left_out()
    assert note.startswith("4 runs of other data or evaluation settings left out")
    assert "2 with dataset.name='sunspots' (not 'co2'), evaluation.horizon='24' (not '6')" in note
    assert "2 with dataset.name='sunspots' (not 'co2')." in note or "2 with dataset.name='sunspots' (not 'co2');" in note
    assert "dataset.sha256" not in note  # another data set's bytes differ, needless to say
    # The shared settings are no "key parameters" of the table: they do not vary in it.
    assert "dataset.name" not in comparison.table.columns and "evaluation.horizon" not in comparison.table.columns


def test_data_and_where_choose_the_group(store_uri, experiment):
    sunspots = compare_runs(experiment, tracking_uri=store_uri, data="SUNSPOTS")  # names are case-insensitive
    assert _settings(sunspots.table, store_uri) == {("sunspots", "24")}  # the newest sunspots runs
    assert [group.describe() for group in sunspots.incomparable] == ["2 with evaluation.horizon='6' (not '24')"]
    chosen = compare_runs(experiment, tracking_uri=store_uri, data="sunspots", where={"evaluation.horizon": 6})
    assert _settings(chosen.table, store_uri) == {("sunspots", "6")} and chosen.incomparable == ()
    assert list(chosen.table["model"]) == ["ar", "naive"] and chosen.left_out() is None
    with pytest.raises(ConfigError, match="no run of experiment 'sun-h6' .* on that data set. Did you mean 'sunspots'"):
        compare_runs(experiment, tracking_uri=store_uri, data="sunspot")
    with pytest.raises(ConfigError, match="its runs have evaluation.horizon = 24, 6"):
        compare_runs(experiment, tracking_uri=store_uri, where={"evaluation.horizon": 12})
    with pytest.raises(ConfigError, match="logged the parameter 'evaluation.horizn'. Did you mean 'evaluation.horizon'"):
        compare_runs(experiment, tracking_uri=store_uri, where={"evaluation.horizn": 6})


def test_registering_is_refused_while_runs_of_other_data_are_left_out(store_uri, experiment):
    comparison = compare_runs(experiment, tracking_uri=store_uri)
    with pytest.raises(ConfigError, match=r"not all comparable.*dataset.name='sunspots' \(not 'co2'\).*--data sunspots"):
        register_best(comparison, "sun", tracking_uri=store_uri)
    client = MlflowClient(store_uri, registry_uri=store_uri)
    assert not client.search_registered_models(filter_string="name = 'sun'")


def test_the_command_refuses_to_register_with_exit_2_and_writes_nothing(store_uri, experiment, tmp_path, capsys):
    plot = tmp_path / "compare.png"
    arguments = ["compare", "--experiment", experiment, "--metric", "mse", "--tracking-uri", store_uri]
    assert main([*arguments, "--register", "sun-cli", "--plot", str(plot)]) == 2
    captured = capsys.readouterr()
    assert "4 runs of other data or evaluation settings left out" in captured.out
    assert "Not registering a best run of 'sun-h6'" in captured.err and "evaluation.horizon='24'" in captured.err
    assert not plot.exists()
    client = MlflowClient(store_uri, registry_uri=store_uri)
    assert not client.search_registered_models(filter_string="name = 'sun-cli'")

    chosen = [*arguments, "--data", "sunspots", "--where", "evaluation.horizon=6", "--register", "sun-cli"]
    assert main(chosen) == 0
    out = capsys.readouterr().out
    assert "left out" not in out and out.splitlines()[-1].startswith("registered sun-cli version 1 as @champion")
    champion = client.get_model_version_by_alias("sun-cli", "champion")
    params = client.get_run(champion.run_id).data.params
    assert (params["dataset.name"], params["evaluation.horizon"], params["model.name"]) == ("sunspots", "6", "ar")

    with pytest.raises(SystemExit) as usage:  # argparse's usage error: exit 2
        main([*arguments, "--where", "evaluation.horizon"])
    assert usage.value.code == 2
    assert "expected SETTING=VALUE" in capsys.readouterr().err


def test_trials_take_the_settings_of_their_study_run(store_uri):
    """Tuning trials log their data set only; a study's validation settings are on its (parent) run."""
    for horizon, scores in ((6, (0.3, 0.2)), (24, (0.1,))):
        with tracked_run(experiment="two-studies", run_name=f"study-h{horizon}", tracking_uri=store_uri) as study:
            study.log_params({"validation.horizon": horizon, "dataset.name": "sunspots"})
            for number, score in enumerate(scores):
                with tracked_run(run_name=f"h{horizon}-trial-{number}", nested=True) as trial:
                    trial.log_params({"dataset.name": "sunspots"})
                    trial.log_metrics({"validation_mse": score})
    comparison = compare_runs("two-studies", metric="validation_mse", tracking_uri=store_uri)
    assert list(comparison.table["run_name"]) == ["h24-trial-0"]  # the newest study's trial alone
    assert [group.describe() for group in comparison.incomparable] == ["2 with validation.horizon='6' (not '24')"]
    six = compare_runs("two-studies", metric="validation_mse", tracking_uri=store_uri, where={"validation.horizon": "6"})
    assert list(six.table["run_name"]) == ["h6-trial-1", "h6-trial-0"]


def test_settings_that_change_only_some_metrics_matter_only_for_those(store_uri):
    for interval, coverage in ((0.8, 0.79), (0.95, 0.93)):
        with tracked_run(experiment="intervals", run_name=f"ar-{interval}", tracking_uri=store_uri) as run:
            run.log_params({"dataset.name": "co2", "evaluation.horizon": 6, "evaluation.interval": interval})
            run.log_metrics({"mse": 1.0 - interval, "coverage": coverage}, prefix="test_")
    assert len(compare_runs("intervals", metric="mse", tracking_uri=store_uri).table) == 2
    by_coverage = compare_runs("intervals", metric="coverage", maximize=True, tracking_uri=store_uri)
    assert list(by_coverage.table["run_name"]) == ["ar-0.95"]
    assert [group.describe() for group in by_coverage.incomparable] == ["1 with evaluation.interval='0.8' (not '0.95')"]


def test_the_plot_notes_the_left_out_runs(store_uri, experiment, tmp_path):
    from tsseq.tracking.compare import write_plot
    from tsseq.tracking.plots import comparison_figure, pyplot

    comparison = compare_runs(experiment, tracking_uri=store_uri)
    assert comparison.short_note() == "4 runs of other dataset.name, evaluation.horizon left out"
    assert write_plot(comparison, tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    figure = comparison_figure(comparison.table, comparison.metric, note=comparison.short_note())
    assert comparison.short_note() in [text.get_text() for text in figure.texts]
    pyplot().close(figure)
    mlflow.set_tracking_uri(store_uri)  # nothing above changed the store it points at
