"""Comparing the runs of an experiment: a sorted table, a plot, the best model registered.

The table has one row per FINISHED run: ``run_name``, ``model`` (the registered name
that built the run's model, its parameter ``model.name``, e.g. ``lstm``; else the tag
``tsseq.model``), the chosen metric first, the other final metrics, then the *key
parameters*, those whose values differ between the listed runs (what the comparison
is about), and ``run_id``. Runs that did not log the metric (a study's parent run
beside its trials, say) are left out: they would make every parameter look like a
difference. ``metric="mse"`` also finds the final metric ``test_mse`` that tsseq runs
log. Pruned trials of a study (runs KILLED by ``optuna.TrialPruned``) have no final
metric and are left out too; :attr:`Comparison.pruned` counts them, and the command
and the plot say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsseq import io
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.tracking.runs import ERROR_TAG, MODEL_TAG, MODEL_URI_TAG
from tsseq.tracking.store import resolve_tracking_uri, use_store

FINAL_METRIC_PREFIX = "test_"
EPOCH_METRIC_NAMES = ("train_loss", "val_loss", "lr", "grad_norm_mean", "grad_norm_max", "epoch_time_s")
PRUNED_ERROR = "TrialPruned"  # how the error tag of a run that optuna.TrialPruned ended starts


@dataclass(frozen=True)
class Comparison:
    """The runs of ``experiment`` sorted by ``metric`` (the best first)."""

    experiment: str
    metric: str  # the metric key as logged, e.g. "test_mse"
    maximize: bool
    table: pd.DataFrame
    model_uris: dict[str, str]  # run id -> logged model URI, for the runs that logged one
    pruned: int = 0  # pruned trials of the experiment, left out (no final metric)

    def left_out(self) -> str | None:
        """``"3 pruned trials left out (...)"``, or None when there are none."""
        if not self.pruned:
            return None
        trials = "trial" if self.pruned == 1 else "trials"
        return f"{self.pruned} pruned {trials} left out (stopped early by the pruner: no final metric)"


def compare_runs(
    experiment: str, *, metric: str = "mse", top: int | None = 10, maximize: bool = False, tracking_uri: str | None = None
) -> Comparison:
    """The table of the finished runs of ``experiment``, sorted by ``metric`` (ascending unless ``maximize``)."""
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = [item.name for item in client.search_experiments()]
        raise ConfigError(
            f"No experiment {experiment!r} in {uri}.{closest_match(experiment, names)} Experiments: {', '.join(names) or 'none'}."
        )
    runs = _finished_runs(client, found.experiment_id)
    if not runs:
        raise DataError(f"Experiment {experiment!r} has no finished run to compare.")
    key = _metric_key(metric, runs, experiment)
    rows, uris = [], {}
    for run in (run for run in runs if key in run.data.metrics):
        metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
        row = {"run_name": run.info.run_name, "model": params.get("model.name", tags.get(MODEL_TAG, ""))}
        row |= {name: value for name, value in metrics.items() if name not in EPOCH_METRIC_NAMES}
        row |= {f"param:{name}": value for name, value in params.items()}
        row["run_id"] = run.info.run_id
        rows.append(row)
        if MODEL_URI_TAG in tags:
            uris[run.info.run_id] = tags[MODEL_URI_TAG]
    table = pd.DataFrame(rows).sort_values(key, ascending=not maximize, kind="stable")
    if top is not None:
        table = table.head(top)
    pruned = [run for run in _runs(client, found.experiment_id, "KILLED") if _was_pruned(run)]
    return Comparison(experiment, key, maximize, _arrange(table, key), uris, pruned=len(pruned))


def _finished_runs(client, experiment_id: str) -> list:
    return _runs(client, experiment_id, "FINISHED")


def _runs(client, experiment_id: str, status: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"attributes.status = '{status}'", page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _was_pruned(run) -> bool:
    return run.data.tags.get(ERROR_TAG, "").startswith(PRUNED_ERROR)


def _metric_key(metric: str, runs: list, experiment: str) -> str:
    logged = sorted({name for run in runs for name in run.data.metrics})
    for key in (metric, FINAL_METRIC_PREFIX + metric):
        if key in logged:
            return key
    raise ConfigError(
        f"No run of experiment {experiment!r} logged the metric {metric!r}.{closest_match(metric, logged)} "
        f"Logged metrics: {', '.join(logged)}."
    )


def _arrange(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Columns in reading order; of the parameters only those that differ between the rows."""
    params = [column for column in table.columns if column.startswith("param:")]
    varying = [column for column in params if table[column].astype(str).nunique(dropna=False) > 1]
    metrics = [c for c in table.columns if c not in params and c not in ("run_name", "model", "run_id", metric)]
    arranged = table[["run_name", "model", metric, *sorted(metrics), *sorted(varying), "run_id"]]
    return arranged.rename(columns={column: column[len("param:") :] for column in varying}).reset_index(drop=True)


def format_table(comparison: Comparison, digits: int = 4) -> str:
    """The table as plain text."""
    return comparison.table.to_string(index=False, float_format=lambda value: f"{value:.{digits}g}")


def write_plot(comparison: Comparison, path: str | Path) -> Path:
    """Bar chart of the metric per run, written atomically as PNG."""
    from tsseq.tracking.plots import comparison_figure, pyplot

    order = "higher is better" if comparison.maximize else "lower is better"
    title = f"{comparison.experiment}: {comparison.metric} ({order})"
    figure = comparison_figure(comparison.table, comparison.metric, title, note=comparison.left_out())
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        pyplot().close(figure)


def register_best(comparison: Comparison, model_name: str, *, alias: str = "champion", tracking_uri: str | None = None):
    """Register the model of the best run (first row) as a new version of ``model_name`` with ``alias``.

    Returns MLflow's ``ModelVersion``; ``models:/<model_name>@<alias>`` then loads it.
    """
    import mlflow

    best = comparison.table.iloc[0]
    if pd.isna(best[comparison.metric]):
        raise DataError(f"No run of {comparison.experiment!r} has the metric {comparison.metric!r}: nothing to register.")
    uri = comparison.model_uris.get(best["run_id"])
    if uri is None:
        raise DataError(
            f"The best run {best['run_name']!r} ({best['run_id']}) logged no model, so it cannot be registered. "
            "Log runs with tracking.log_model: true (or TrackedRun.log_model)."
        )
    # The registry resolves "models:/<id>" sources through the fluent API's store: point it at ours.
    tracking = use_store(tracking_uri)
    client = mlflow.MlflowClient(tracking, registry_uri=tracking)
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name,
        source=uri,
        run_id=best["run_id"],
        tags={"experiment": comparison.experiment, comparison.metric: str(best[comparison.metric])},
        model_id=uri.removeprefix("models:/"),
    )
    client.set_registered_model_alias(model_name, alias, version.version)
    return version
