"""tsseq compare: table contents and order, the plot, registering the best model under an alias."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tsseq import create
from tsseq.cli import main
from tsseq.errors import ConfigError
from tsseq.tracking import compare_runs, register_best, tracked_run
from tsseq.tracking.pyfunc import input_example
from tsseq.tracking.runs import MODEL_TAG

# (run name, model, order, test_mse, test_mae)
RUNS = [("ar-1", "ar", 1, 0.30, 0.41), ("ar-3", "ar", 3, 0.10, 0.25), ("naive", "naive", None, 0.50, 0.55), ("ar-2", "ar", 2, 0.20, 0.35)]


@pytest.fixture(scope="module")
def experiment(store_uri, tmp_path_factory) -> str:
    """Four finished runs with known metrics (each with a fitted model), one finished without metrics, one failed."""
    import pandas as pd

    index = pd.date_range("2021-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"load": np.sin(np.arange(200) / 4.0) + 0.01 * np.arange(200)}, index=index)
    for name, model, order, mse, mae in RUNS:
        with tracked_run(experiment="compare", run_name=name, tracking_uri=store_uri, tags={MODEL_TAG: model}) as run:
            estimator = create(model, **({"order": order} if order else {})).fit(frame)
            run.log_estimator(estimator, model)
            run.log_params({"data.dataset": "synthetic"})
            run.log_metrics({"mse": mse, "mae": mae}, prefix="test_")
            run.log_model(estimator, frame, horizon=3)
    with tracked_run(experiment="compare", run_name="study", tracking_uri=store_uri) as run:
        run.log_params({"n_trials": 4})  # finished, but without the compared metric: left out
    with pytest.raises(RuntimeError):
        with tracked_run(experiment="compare", run_name="crashed", tracking_uri=store_uri) as run:
            run.log_metrics({"test_mse": 0.01})
            raise RuntimeError("out of memory")
    for trial in range(2):  # pruned trials of a study: KILLED, no final metric
        with pytest.raises(TrialPruned):
            with tracked_run(experiment="compare", run_name=f"trial {trial}", tracking_uri=store_uri, killed_on=(TrialPruned,)):
                raise TrialPruned(f"trial {trial} pruned after epoch 1/6")
    return "compare"


class TrialPruned(Exception):
    """Stands for optuna.TrialPruned (what the error tag of a pruned trial's run starts with)."""


def test_the_table_lists_finished_runs_best_first_with_key_parameters(store_uri, experiment):
    comparison = compare_runs(experiment, metric="mse", tracking_uri=store_uri)
    table = comparison.table
    assert comparison.metric == "test_mse"
    assert list(table["run_name"]) == ["ar-3", "ar-2", "ar-1", "naive"]  # neither the FAILED run nor "study"
    assert "n_trials" not in table.columns
    assert list(table["test_mse"]) == [0.10, 0.20, 0.30, 0.50] and list(table["test_mae"]) == [0.25, 0.35, 0.41, 0.55]
    assert list(table["model"]) == ["ar", "ar", "ar", "naive"]
    # Key parameters: those that differ between runs (model.order, model.name), not the shared ones.
    assert list(table["model.order"][:3]) == ["3", "2", "1"] and table["model.order"].isna()[3]
    assert list(table["model.name"]) == ["ar", "ar", "ar", "naive"] and "data.dataset" not in table.columns
    # A parameter only AR logs, the same in every AR run, says no more than the model column: left out.
    assert "model.strategy" not in table.columns and "model.criterion" not in table.columns
    assert list(table.columns[:3]) == ["run_name", "model", "test_mse"] and table.columns[-1] == "run_id"
    assert comparison.pruned == 2 and comparison.left_out().startswith("2 pruned trials left out")


def test_runs_are_labelled_by_the_registered_model_name(store_uri):
    from tsseq.tracking.plots import comparison_figure, comparison_label, pyplot

    for label, params, mse in (("small", {"hidden_size": 4}, 0.1), ("lstm", {}, 0.2)):
        with tracked_run(experiment="compare-labels", run_name=label, tracking_uri=store_uri, tags={MODEL_TAG: label}) as run:
            run.log_estimator(create("lstm", **params))  # logs model.name = lstm, the preset (the class is rnn's)
            run.log_metrics({"mse": mse}, prefix="test_")
    comparison = compare_runs("compare-labels", tracking_uri=store_uri)
    assert list(comparison.table["model"]) == ["lstm", "lstm"] and comparison.left_out() is None
    assert [comparison_label(*row) for row in comparison.table[["run_name", "model"]].to_numpy()] == ["small (lstm)", "lstm"]
    figure = comparison_figure(comparison.table, "test_mse", note="1 pruned trial left out")
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == ["small (lstm)", "lstm"] and "1 pruned trial left out" in [text.get_text() for text in figure.texts]
    pyplot().close(figure)


def test_top_and_maximize_choose_rows_and_order(store_uri, experiment):
    assert list(compare_runs(experiment, metric="test_mae", top=2, tracking_uri=store_uri).table["run_name"]) == ["ar-3", "ar-2"]
    worst_first = compare_runs(experiment, metric="mae", maximize=True, tracking_uri=store_uri).table
    assert list(worst_first["run_name"]) == ["naive", "ar-1", "ar-2", "ar-3"]


def test_unknown_metric_or_experiment_is_a_config_error_naming_the_choices(store_uri, experiment):
    with pytest.raises(ConfigError, match="Did you mean 'test_mse'.*Logged metrics: test_mae, test_mse"):
        compare_runs(experiment, metric="test_mes", tracking_uri=store_uri)
    with pytest.raises(ConfigError, match="No experiment 'compar'.*Did you mean 'compare'"):
        compare_runs("compar", tracking_uri=store_uri)


def test_registering_the_best_run_sets_the_alias_to_its_model(store_uri, experiment):
    comparison = compare_runs(experiment, tracking_uri=store_uri)
    version = register_best(comparison, "compare-best", alias="champion", tracking_uri=store_uri)
    client = MlflowClient(store_uri, registry_uri=store_uri)
    aliased = client.get_model_version_by_alias("compare-best", "champion")
    assert aliased.version == version.version and aliased.run_id == comparison.table["run_id"][0]
    mlflow.set_tracking_uri(store_uri)
    model = mlflow.pyfunc.load_model("models:/compare-best@champion")
    history = input_example(create("ar", order=3), _frame())
    assert len(model.predict(history)) == 3


def _frame():
    import pandas as pd

    index = pd.date_range("2021-01-01", periods=50, freq="h")
    return pd.DataFrame({"load": np.cos(np.arange(50) / 3.0)}, index=index)


def test_the_command_prints_the_table_writes_the_plot_and_registers(store_uri, experiment, tmp_path, capsys, monkeypatch):
    # MLflow's global store points elsewhere: the command must use --tracking-uri alone (and touch nothing else).
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri("sqlite:///elsewhere.db")
    plot = tmp_path / "compare.png"
    arguments = ["compare", "--experiment", experiment, "--top", "3", "--plot", str(plot), "--tracking-uri", store_uri]
    assert main([*arguments, "--register", "compare-cli", "--alias", "best"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run_name", "model", "test_mse"]
    assert [line.split()[0] for line in lines[1:4]] == ["ar-3", "ar-2", "ar-1"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert lines[-1].startswith("registered compare-cli version 1 as @best")
    assert lines[4] == "2 pruned trials left out (stopped early by the pruner: no final metric)"  # after the 3 rows
    assert main(["compare", "--experiment", experiment, "--metric", "f1", "--tracking-uri", store_uri]) == 2
    assert "logged the metric 'f1'" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere.db").exists()
