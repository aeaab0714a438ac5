"""One tracked run: a context manager that never leaves a run RUNNING, and what a run logs.

:func:`tracked_run` starts an MLflow run (nested under the active run with
``nested=True``) and yields a :class:`TrackedRun`, whose methods log to that run:
configuration dataclasses as flattened parameters, the data set identity (parameters
and an MLflow dataset input, the UI's Dataset column), metrics,
the per-epoch history of a fitted model, the fitted model (pyfunc), figures and
files. The run ends

* ``FINISHED`` when the block completes;
* ``FAILED`` when an exception leaves it (its type and message are the tag
  ``tsseq.error``);
* ``KILLED`` on ``KeyboardInterrupt`` (Ctrl-C), on ``SystemExit`` and on the
  exception types listed in ``killed_on`` (e.g. ``optuna.TrialPruned``: a trial
  stopped on purpose). SIGTERM ends it KILLED too where :func:`tsseq.signals.terminating`
  turns it into :class:`~tsseq.signals.Terminated`, a ``KeyboardInterrupt`` (the CLI
  does, around every command).

The exception always propagates. Starting and ending the run hold SIGTERM and SIGINT
back until they are done (:func:`tsseq.signals.deferred`), so that a signal cannot
fall between the run's creation and the block that ends it, nor cut its ending short.
A process killed outright (SIGKILL, power loss) cannot end its run; MLflow shows it
RUNNING until someone ends it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tsseq.signals import deferred
from tsseq.tracking.identity import DatasetIdentity
from tsseq.tracking.store import DEFAULT_EXPERIMENT, experiment_id, use_store

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value
MODEL_URI_TAG = "tsseq.model_uri"  # where compare finds a run's logged model
MODEL_TAG = "tsseq.model"  # the model's display name (a pipeline's label); compare's "model" column without model.name
ERROR_TAG = "tsseq.error"


def flatten(config: Any, prefix: str = "") -> dict[str, str]:
    """Dataclasses and mappings, nested, -> ``{"a.b.c": "value"}`` (MLflow parameters are strings)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        flat: dict[str, str] = {}
        for key, value in config.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    text = json.dumps(config, default=str) if isinstance(config, (list, tuple)) else str(config)
    return {prefix: text[:MAX_PARAM_LENGTH]}


def estimator_params(estimator: Any, name: str | None = None) -> dict[str, str]:
    """``model.name``, ``model.<argument>``, and ``training.*`` (the full TrainingConfig).

    ``model.name`` defaults to the registered name that builds the estimator, its preset's
    (``lstm``, not ``rnn``): :func:`tsseq.registry.name_of`.
    """
    from tsseq.registry import name_of

    params = dict(estimator.get_params(deep=False))
    flat = {"model.name": name or name_of(estimator)}
    if hasattr(estimator, "training_config"):
        params.pop("training", None)
        flat.update(flatten(estimator.training_config(), "training"))
    flat.update(flatten(params, "model"))
    return flat


class TrackedRun:
    """The run of a :func:`tracked_run` block; every method logs to this run."""

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log already flat parameters (values become strings)."""
        from mlflow.entities import Param

        items = [Param(str(key), str(value)[:MAX_PARAM_LENGTH]) for key, value in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 parameters a call
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_config(self, config: Any, prefix: str = "") -> None:
        """Log a configuration dataclass (or mapping), flattened: ``prefix.field.subfield``."""
        self.log_params(flatten(config, prefix))

    def log_estimator(self, estimator: Any, name: str | None = None) -> None:
        """Log an estimator's parameters (:func:`estimator_params`); ``name``: its registry name, e.g. ``"lstm"``."""
        self.log_params(estimator_params(estimator, name))

    def log_dataset(self, identity: DatasetIdentity, context: str = "training") -> None:
        """Log the data set: ``dataset.name``, ``.source``, ``.sha256`` and an MLflow dataset input of ``context``.

        The input (name, source, digest; :meth:`DatasetIdentity.mlflow_input`) is what
        ``mlflow.log_input`` records; the UI shows it in the Dataset column. A data set
        of several files also logs their hashes as ``dataset.json``.
        """
        self.log_params(identity.params())
        self.client.log_inputs(self.run_id, datasets=[identity.mlflow_input(context)])
        if len(identity.files) > 1:
            self.client.log_dict(self.run_id, {"name": identity.name, "files": identity.files}, "dataset.json")

    def log_metrics(self, metrics: Mapping[str, float | None], step: int = 0, prefix: str = "") -> None:
        """Log numbers in one call; None values are left out."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(f"{prefix}{key}", float(value), now, step) for key, value in metrics.items() if value is not None]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def log_history(self, history: Any, skip_epochs: Collection[int] = ()) -> None:
        """Log a finished :class:`~tsseq.engine.TrainingHistory` per epoch, as :class:`MlflowCallback` does live.

        ``skip_epochs``: epochs already logged (by that callback), left out so that no step is logged twice.
        """
        from mlflow.entities import Metric

        from tsseq.tracking.callback import EPOCH_METRICS

        now = int(time.time() * 1000)
        skip = set(skip_epochs)
        items = []
        for key, values in EPOCH_METRICS.items():
            items.extend(
                Metric(key, float(value), now, epoch)
                for epoch, value in enumerate(getattr(history, values))
                if epoch not in skip
            )
        for start in range(0, len(items), 1000):  # MLflow takes at most 1000 metrics a call
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])
        if history.best_epoch is not None:
            self.client.set_tag(self.run_id, "tsseq.best_epoch", str(history.best_epoch))

    def log_model(self, estimator: Any, history: Any, *, horizon: int | None = None, name: str = "model"):
        """Log the fitted model (pyfunc, :mod:`tsseq.tracking.pyfunc`); returns MLflow's ``ModelInfo``."""
        from tsseq.tracking.pyfunc import log_forecaster

        info = log_forecaster(estimator, history, name=name, horizon=horizon)
        self.client.set_tag(self.run_id, MODEL_URI_TAG, info.model_uri)
        return info

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Log a matplotlib figure, e.g. ``"plots/forecast.png"``."""
        self.client.log_figure(self.run_id, figure, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Log a file (e.g. a plot a job wrote) under ``artifact_path``."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def callback(self):
        """An engine callback logging each epoch of a fit to this run (:class:`MlflowCallback`)."""
        from tsseq.tracking.callback import MlflowCallback

        return MlflowCallback(run_id=self.run_id, tracking_uri=self.tracking_uri)


@contextmanager
def tracked_run(
    *,
    experiment: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    killed_on: tuple[type[BaseException], ...] = (),
    run_id: str | None = None,
) -> Iterator[TrackedRun]:
    """Run the block inside an MLflow run; see the module docstring for how the run ends.

    Parameters
    ----------
    experiment : str, optional
        Experiment name, created if new. Default: the active run's experiment when
        ``nested``, else ``"tsseq"``.
    run_name, tags
        Shown in the MLflow UI; ``tags`` values become strings.
    nested : bool
        Start a child run of the active run (e.g. an Optuna trial under its study's run).
    tracking_uri : str, optional
        The store (:func:`tsseq.tracking.store.resolve_tracking_uri`). A nested run
        without one uses its parent's store.
    killed_on : tuple of exception types
        Exceptions that end the run KILLED instead of FAILED.
    run_id : str, optional
        Resume this existing run of the store instead of starting one (e.g. a study's
        run, which every worker of the study reopens); ``experiment``, ``run_name`` and
        ``nested`` then do not apply, and ``tags`` are added to the run.
    """
    import mlflow

    parent = mlflow.active_run()
    if nested and parent is not None and tracking_uri is None:
        uri = mlflow.get_tracking_uri()
    else:
        uri = use_store(tracking_uri)
    tags = {key: str(value) for key, value in (tags or {}).items()}
    if run_id is None:
        if experiment is None and nested and parent is not None:
            experiment_key = parent.info.experiment_id
        else:
            experiment_key = experiment_id(experiment or DEFAULT_EXPERIMENT, uri)
    run: TrackedRun | None = None
    try:
        with deferred():  # a signal during the start is acted on inside the try, once the run can be ended
            if run_id is not None:
                active = mlflow.start_run(run_id=run_id, tags=tags)
            else:
                active = mlflow.start_run(experiment_id=experiment_key, run_name=run_name, nested=nested, tags=tags)
            run = TrackedRun(active.info.run_id, uri)
        yield run
    except (KeyboardInterrupt, SystemExit, *killed_on) as interruption:
        if run is not None:
            _end(run, "KILLED", interruption)
        raise
    except BaseException as error:  # noqa: BLE001 - every failure ends the run FAILED, then propagates
        if run is not None:
            _end(run, "FAILED", error)
        raise
    else:
        _end(run, "FINISHED", None)


def _end(run: TrackedRun, status: str, exception: BaseException | None) -> None:
    """End the run with ``status``; a failure to record the error must not hide the error itself.

    SIGTERM and SIGINT wait until the run is ended (a second Ctrl-C cannot leave it RUNNING).
    """
    with deferred():
        _end_now(run, status, exception)


def _end_now(run: TrackedRun, status: str, exception: BaseException | None) -> None:
    import mlflow

    if exception is not None:
        try:
            run.client.set_tag(run.run_id, ERROR_TAG, f"{type(exception).__name__}: {exception}"[:5000])
        except Exception:  # noqa: BLE001 - the store may be what failed
            pass
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run.run_id:
        mlflow.end_run(status)
    else:  # the block ended our run's fluent context itself; still record the status
        run.client.set_terminated(run.run_id, status)
