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

Only runs that measured the same thing are ranked together. Runs are *comparable* when
they share the identity of their data (:data:`DATA_SETTINGS`: the data set's name and
sha256, the columns forecast, ...) and the evaluation settings that define the metric
(:data:`EVALUATION_SETTINGS`: protocol, horizon, input length, split, scale; for some
metrics also :data:`METRIC_SETTINGS`), as the runs logged them (a tuning trial, which
logs its data set only, takes the rest from its study's run, its parent). An MSE on
co2 is not better than one on sunspots, nor one at H=6 than one at H=24. The table
ranks one group of comparable runs: that of the newest run among those the caller
selected (``data=`` a data set name, ``where=`` settings such as
``{"evaluation.horizon": "6"}``); :attr:`Comparison.incomparable` lists the groups left
out and the settings in which they differ, which the command prints.
:func:`register_best` refuses while any are left out: which group's winner to register
is the caller's choice (``--data``, ``--where``), not the clock's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tsseq import io
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.tracking.runs import ERROR_TAG, MODEL_TAG, MODEL_URI_TAG
from tsseq.tracking.store import check_store, use_store

FINAL_METRIC_PREFIX = "test_"
EPOCH_METRIC_NAMES = ("train_loss", "val_loss", "lr", "grad_norm_mean", "grad_norm_max", "epoch_time_s")
PRUNED_ERROR = "TrialPruned"  # how the error tag of a run that optuna.TrialPruned ended starts
PARENT_RUN_TAG = "mlflow.parentRunId"

# What a run's metric was measured on and how (parameters as tsseq logs them). Runs that
# differ in one of these measured different things; paths (dataset.source, data.csv) are
# not among them: the same bytes under another path are the same data.
DATA_SETTINGS = (
    "dataset.name", "dataset.sha256", "data.columns", "data.target", "data.series_column",
    "data.freq", "data.missing", "data.reindex",
)  # fmt: skip
EVALUATION_SETTINGS = (
    "evaluation.protocol", "evaluation.horizon", "evaluation.input_length", "evaluation.setting",
    "evaluation.train_fraction", "evaluation.validation_fraction", "evaluation.scale", "evaluation.drop_last",
    "validation.preset", "validation.horizon", "validation.input_length", "validation.train_fraction",
    "validation.test_fraction",
)  # fmt: skip
# Settings that change only some metrics: the MASE family's seasonal scale, the scored interval.
METRIC_SETTINGS = {
    "evaluation.season_length": ("mase", "msis", "owa"),
    "evaluation.interval": ("coverage", "acd", "msis", "interval_width"),
}
SHORT_VALUE = 12  # characters of a sha256 shown in messages


@dataclass(frozen=True)
class LeftOutGroup:
    """Runs left out of a comparison: ``runs`` of them, whose ``differences`` from the ranked group are
    ``{setting: (their value, the ranked runs' value)}`` (None: not logged)."""

    runs: int
    differences: dict[str, tuple[str | None, str | None]]

    def selection(self) -> str:
        """The command-line options that rank this group, e.g. ``--data co2 --where evaluation.horizon=24``."""
        options = []
        for name, (theirs, _) in self.differences.items():
            if theirs is None or name == "dataset.sha256" and "dataset.name" in self.differences:
                continue
            options.append(f"--data {theirs}" if name == "dataset.name" else f"--where {name}={theirs}")
        return " ".join(options)

    def describe(self) -> str:
        """``"2 with dataset.name='co2' (not 'sunspots'), evaluation.horizon='24' (not '6')"``."""
        settings = ", ".join(
            f"{name}={_shown(theirs)} (not {_shown(ours)})" for name, (theirs, ours) in self.differences.items()
        )
        return f"{self.runs} with {settings}"


@dataclass(frozen=True)
class Comparison:
    """The comparable runs of ``experiment`` sorted by ``metric`` (the best first)."""

    experiment: str
    metric: str  # the metric key as logged, e.g. "test_mse"
    maximize: bool
    table: pd.DataFrame
    model_uris: dict[str, str]  # run id -> logged model URI, for the runs that logged one
    pruned: int = 0  # pruned trials of the experiment, left out (no final metric)
    settings: dict[str, str] = field(default_factory=dict)  # what the ranked runs share (DATA_SETTINGS, ...)
    incomparable: tuple[LeftOutGroup, ...] = ()  # runs of other data or evaluation settings, left out

    def left_out(self) -> str | None:
        """What the table leaves out, and why (pruned trials, runs of other data or settings); None when nothing."""
        notes = []
        if self.pruned:
            trials = "trial" if self.pruned == 1 else "trials"
            notes.append(f"{self.pruned} pruned {trials} left out (stopped early by the pruner: no final metric)")
        if self.incomparable:
            count = sum(group.runs for group in self.incomparable)
            runs = "run" if count == 1 else "runs"
            notes.append(
                f"{count} {runs} of other data or evaluation settings left out, not comparable with the ranked runs: "
                f"{'; '.join(group.describe() for group in self.incomparable)}. Rank another group with --data NAME "
                f"and --where SETTING=VALUE{_example(self.incomparable)}."
            )
        return "\n".join(notes) or None

    def short_note(self) -> str | None:
        """:meth:`left_out` in one short line (under a plot)."""
        notes = []
        if self.pruned:
            notes.append(f"{self.pruned} pruned {'trial' if self.pruned == 1 else 'trials'} left out")
        if self.incomparable:
            count = sum(group.runs for group in self.incomparable)
            differing = sorted({name for group in self.incomparable for name in group.differences})
            notes.append(f"{count} {'run' if count == 1 else 'runs'} of other {', '.join(differing)} left out")
        return "; ".join(notes) or None


def compare_runs(
    experiment: str,
    *,
    metric: str = "mse",
    top: int | None = 10,
    maximize: bool = False,
    tracking_uri: str | None = None,
    setting: str = "tracking_uri",
    data: str | None = None,
    where: Mapping[str, object] | None = None,
) -> Comparison:
    """The table of the comparable finished runs of ``experiment``, sorted by ``metric`` (ascending unless ``maximize``).

    ``data``: only the runs on this data set (its logged name, e.g. ``"sunspots"`` or
    ``"load.csv"``; case-insensitive). ``where``: only the runs whose parameters have these
    values, e.g. ``{"evaluation.horizon": 6}``. Of the runs selected, those comparable with
    the newest are ranked; the others are :attr:`Comparison.incomparable` (module docstring).
    The store must exist (this reads; it creates nothing); ``setting`` names ``tracking_uri``
    in the errors (``"--tracking-uri"``).
    """
    from mlflow import MlflowClient

    uri = check_store(tracking_uri, setting=setting, must_exist=True)
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
    measured = [run for run in runs if key in run.data.metrics]
    settings = _comparable_settings(client, measured, key)
    selected = _selected(measured, settings, experiment, data, where)
    ranked, incomparable = _newest_group(selected, settings)
    rows, uris = [], {}
    for run in ranked:
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
    shared = {name: value for name, value in settings[ranked[0].info.run_id].items() if value is not None}
    return Comparison(
        experiment, key, maximize, _arrange(table, key), uris, pruned=len(pruned), settings=shared, incomparable=incomparable
    )


def _comparable_settings(client, runs: list, metric: str) -> dict[str, dict[str, str | None]]:
    """Run id -> the settings that define ``metric`` (module docstring), a child run's missing ones from its parent."""
    names = [*DATA_SETTINGS, *EVALUATION_SETTINGS]
    base = metric.removeprefix(FINAL_METRIC_PREFIX)
    names += [name for name, metrics in METRIC_SETTINGS.items() if base in metrics]
    parents: dict[str, dict[str, str]] = {}
    settings = {}
    for run in runs:
        params = run.data.params
        parent_id = run.data.tags.get(PARENT_RUN_TAG)
        if parent_id is not None and parent_id not in parents:
            parents[parent_id] = _params_of(client, parent_id)
        inherited = parents.get(parent_id, {})
        settings[run.info.run_id] = {name: params.get(name, inherited.get(name)) for name in names}
    return settings


def _params_of(client, run_id: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_run(run_id).data.params)
    except MlflowException:  # the parent was deleted for good: nothing to inherit
        return {}


def _selected(runs: list, settings: dict, experiment: str, data: str | None, where: Mapping[str, object] | None) -> list:
    """The runs on data set ``data`` whose parameters have the values of ``where`` (ConfigError naming the choices if none)."""
    selected = runs
    if data is not None:
        names = sorted({str(settings[run.info.run_id]["dataset.name"]) for run in runs})
        selected = [run for run in selected if str(settings[run.info.run_id]["dataset.name"]).lower() == data.lower()]
        if not selected:
            raise ConfigError(
                f"data={data!r}: no run of experiment {experiment!r} that logged the metric is on that data set."
                f"{closest_match(data, names)} Data sets of its runs: {', '.join(names)}."
            )
    for name, value in (where or {}).items():
        logged = {run.info.run_id: _setting_or_param(run, settings, name) for run in runs}
        if all(text is None for text in logged.values()):
            params = sorted({param for run in runs for param in run.data.params})
            raise ConfigError(
                f"where {name}={value}: no run of experiment {experiment!r} logged the parameter {name!r}."
                f"{closest_match(name, params)}"
            )
        matching = [run for run in selected if _same_value(logged[run.info.run_id], value)]
        if not matching:
            values = sorted({text for text in (logged[run.info.run_id] for run in selected) if text is not None})
            raise ConfigError(
                f"where {name}={value}: no selected run of experiment {experiment!r} has that value; "
                f"its runs have {name} = {', '.join(values) or 'nothing logged'}."
            )
        selected = matching
    return selected


def _setting_or_param(run, settings: dict, name: str) -> str | None:
    own = settings[run.info.run_id]
    return own[name] if name in own else run.data.params.get(name)


def _same_value(logged: str | None, wanted: object) -> bool:
    """Whether a logged parameter (a string) says ``wanted``: ``"6"`` is 6 and ``"6.0"``, ``"True"`` is true."""
    if logged is None:
        return False
    wanted_text = str(wanted).strip()
    if logged == wanted_text or logged.lower() == wanted_text.lower():
        return True
    try:
        return float(logged) == float(wanted_text)
    except ValueError:
        return False


def _newest_group(runs: list, settings: dict) -> tuple[list, tuple[LeftOutGroup, ...]]:
    """The runs comparable with the newest run, and the other groups described by how they differ from it."""
    newest = max(runs, key=lambda run: (run.info.start_time or 0, run.info.run_id))
    ours = settings[newest.info.run_id]
    groups: dict[tuple, list] = {}
    for run in runs:
        groups.setdefault(tuple(settings[run.info.run_id].items()), []).append(run)
    ranked = groups.pop(tuple(ours.items()))
    left_out = []
    for key, members in sorted(groups.items(), key=lambda item: -len(item[1])):
        theirs = dict(key)
        differences = {name: (theirs[name], ours[name]) for name in ours if theirs[name] != ours[name]}
        if "dataset.name" in differences:  # another data set: that its bytes differ goes without saying
            differences.pop("dataset.sha256", None)
        left_out.append(LeftOutGroup(len(members), differences))
    return ranked, tuple(left_out)


def _example(groups: tuple[LeftOutGroup, ...]) -> str:
    options = groups[0].selection()
    return f" (e.g. {options})" if options else ""


def _shown(value: str | None) -> str:
    """A setting's value in a message: quoted, a sha256 shortened, None as 'not logged'."""
    if value is None:
        return "not logged"
    if len(value) == 64 and all(character in "0123456789abcdef" for character in value):
        return repr(value[:SHORT_VALUE] + "…")
    return repr(value)


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
    """Columns in reading order; of the parameters only those that differ between the rows that logged them.

    A parameter only one model family logs, with one value (an LSTM's ``training.*`` beside
    AR and naive runs), says nothing the ``model`` column does not: left out, so that a
    comparison of families stays a few columns wide.
    """
    params = [column for column in table.columns if column.startswith("param:")]
    varying = [column for column in params if table[column].dropna().astype(str).nunique() > 1]
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
    figure = comparison_figure(comparison.table, comparison.metric, title, note=comparison.short_note())
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        pyplot().close(figure)


def check_comparable(comparison: Comparison) -> None:
    """Raise a ConfigError naming what differs when runs of other data or settings were left out of ``comparison``.

    Registering "the best" of such an experiment would pick a group by the clock (the
    newest run's); :func:`register_best` and ``tsseq compare --register`` refuse.
    """
    if not comparison.incomparable:
        return
    count = sum(group.runs for group in comparison.incomparable)
    raise ConfigError(
        f"Not registering a best run of {comparison.experiment!r}: its runs are not all comparable. Besides the "
        f"{len(comparison.table)} ranked (those comparable with the newest run), {count} used other data or "
        f"evaluation settings: {'; '.join(group.describe() for group in comparison.incomparable)}. Choose the runs "
        f"to rank with --data NAME and --where SETTING=VALUE{_example(comparison.incomparable)}, "
        "or compare_runs(data=..., where=...)."
    )


def register_best(comparison: Comparison, model_name: str, *, alias: str = "champion", tracking_uri: str | None = None):
    """Register the model of the best run (first row) as a new version of ``model_name`` with ``alias``.

    Returns MLflow's ``ModelVersion``; ``models:/<model_name>@<alias>`` then loads it.
    Refuses (ConfigError) a comparison that left out runs of other data or settings
    (:func:`check_comparable`).
    """
    import mlflow

    check_comparable(comparison)
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

