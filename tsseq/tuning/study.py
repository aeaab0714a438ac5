"""Running a study: create or resume it, run trials, track them, refit the best configuration.

:func:`tune` is what ``tsseq tune`` runs::

    from tsseq.tuning import load_study, tune

    config, base_dir = load_study("pipelines/tune_lstm_etth1_S24.yaml")
    result = tune(config, base_dir=base_dir)
    result.best_value, result.best_params

Before any study is opened, the job is checked (:mod:`tsseq.tuning.checks`: the model,
the validation windows, each search-space entry, then the split of the data), so that
a job error fails in one line naming its key and leaves no failed trial behind. The
study is named ``config.name`` in the storage (:mod:`tsseq.tuning.storage`): running
the same job again, or several workers at once, adds trials to the same study
(``load_if_exists``); a job that would score its trials otherwise (other data, model,
pinned parameters, validation or search space) is refused, naming what differs
(:mod:`tsseq.tuning.identity`). Its sampler is TPE, seeded; its pruner works on the
per-epoch validation loss (:mod:`tsseq.tuning.pruning`). Each trial returns the
validation MSE (:mod:`tsseq.tuning.objective`). A tsseq error inside a trial (a
combination of values no check could see) stops the worker: the trial is FAIL, the
error propagates naming the trial, without Optuna's traceback.

With ``tracking.enabled``, the study has one MLflow run (its id is the study's user
attribute ``mlflow_run_id``, so resumed studies and other workers reuse it, and workers
that start a new study together agree on one); each trial
is a child run of it, with the trial's parameters, per-epoch losses and score, ended
KILLED when pruned (its per-epoch losses up to the epoch that pruned it); the refitted
best configuration is one more child run, tagged ``tsseq.tuning.role=best``, with its
validation MSE, its ``test_mse`` on the test rows that no trial saw, and the fitted
model, so that ``tsseq compare --register`` gives the registered champion a test
metric. Every run (the study's, each trial's, the best's) records the data set as an
MLflow dataset input and as ``dataset.*`` parameters, and ``model.name`` is the
registered (preset) name, ``lstm`` rather than ``rnn``. Progress goes to stderr, one
line per finished trial.

The best configuration is refitted once per best trial: the study's user attribute
``refitted`` records the trial, the model file and the best run, so a worker (or a rerun
of the job) that ends with a best trial already refitted for it says so and refits nothing
(:func:`_refitted_already`; workers ending at the same moment may still both refit).

Stopped by SIGTERM or Ctrl-C (a :class:`~tsseq.signals.Terminated` or
``KeyboardInterrupt`` out of the objective), a worker leaves the study as a killed
worker's heartbeat would: the running trial is FAIL (Optuna marks it; a trial the
signal caught while its state was being written is marked here), a copy with the same
parameters is queued (at most ``storage.max_retry`` times) for the next worker, which
continues from the trial's checkpoint when the study has a ``checkpoint_dir``; the
trial's MLflow run and the study's end KILLED; the interruption propagates, without
Optuna's traceback of it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tsseq.errors import ConfigError, TsseqError, located
from tsseq.signals import deferred
from tsseq.tuning.config import PrunerConfig, StudyConfig
from tsseq.tuning.identity import dataset_identity
from tsseq.tuning.objective import Objective, build_estimator
from tsseq.tuning.spaces import family_space, pinned_parameters, study_space
from tsseq.tuning.storage import open_storage, redacted, storage_url

PARENT_RUN_ATTR = "mlflow_run_id"  # study user attribute: the study's MLflow run
REFIT_ATTR = "refitted"  # study user attribute: the trial last refitted, its model file, best run and test MSE
ROLE_TAG = "tsseq.tuning.role"  # "study", "trial" or "best"
STUDY_RUN_RACE_S = 60.0  # how far back workers starting a new study together look for each other's runs


@dataclass(frozen=True)
class TuningResult:
    """Where a study stands after this worker's trials (counts over every worker's trials)."""

    study_name: str
    storage: str  # the URL, password hidden
    best_trial: int | None  # None: no trial completed yet
    best_value: float | None
    best_params: dict[str, Any]
    states: dict[str, int]  # trial state name -> trials, e.g. {"COMPLETE": 20, "PRUNED": 10}
    epochs: int  # epochs trained by all trials (pruned ones included)
    mlflow_run_id: str | None = None
    best_model_path: str | None = None
    best_test_mse: float | None = None  # of the refitted best configuration, on the test rows
    pinned: dict[str, Any] = dataclasses.field(default_factory=dict)  # family parameters model.params fixes

    def summary(self) -> str:
        states = ", ".join(f"{count} {state.lower()}" for state, count in sorted(self.states.items()))
        lines = [f"study {self.study_name!r} in {self.storage}: {states}; {self.epochs} epochs trained"]
        if self.pinned:
            pinned = ", ".join(f"{name} = {value!r}" for name, value in self.pinned.items())
            lines.append(f"pinned by model.params, not searched: {pinned}")
        if self.best_trial is None:
            lines.append("no trial completed yet")
        else:
            lines.append(f"best trial {self.best_trial}: validation MSE {self.best_value:.6g}")
            lines.extend(f"  {name} = {value!r}" for name, value in self.best_params.items())
            if self.best_test_mse is not None:
                lines.append(f"refitted best: test MSE {self.best_test_mse:.6g} (on the rows left out of tuning)")
        if self.mlflow_run_id:
            lines.append(f"MLflow run: {self.mlflow_run_id}")
        if self.best_model_path:
            lines.append(f"best model: {self.best_model_path}")
        return "\n".join(lines)


def make_pruner(config: PrunerConfig):
    """The Optuna pruner of ``config.kind``."""
    import optuna

    if config.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=config.n_startup_trials, n_warmup_steps=config.n_warmup_steps)
    if config.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=config.min_resource, reduction_factor=config.reduction_factor)
    return optuna.pruners.NopPruner()


def open_study(config: StudyConfig, *, base_dir: str | Path = ".", space=None, dataset=None):
    """Create study ``config.name`` in its storage, or load it if it exists; returns the ``optuna.Study``.

    A new study records the settings that define its trials' scores; an existing one must
    record the same, else a :class:`~tsseq.tuning.identity.StudyMismatchError` names what
    differs (:mod:`tsseq.tuning.identity`). ``space`` (the search space) and ``dataset``
    (the data set's identity) are worked out from ``config`` when not given; ``base_dir``
    is the folder a data file's path is relative to.
    """
    import optuna

    from tsseq.tuning.identity import reconcile, study_settings

    if space is None:
        space = study_space(config)
    if dataset is None:
        dataset = dataset_identity(config, Path(base_dir))
    settings = study_settings(config, space, dataset)
    storage = open_storage(config.storage)
    try:
        existing = len(storage.get_all_trials(storage.get_study_id_from_name(config.name), deepcopy=False))
    except KeyError:
        existing = 0
    seed = config.sampler.seed
    # Offset by the trials already run, so that a resumed study does not draw its first trials' parameters again.
    sampler = optuna.samplers.TPESampler(
        seed=None if seed is None else seed + existing, n_startup_trials=config.sampler.n_startup_trials
    )
    with _quiet_optuna():
        study = optuna.create_study(
            study_name=config.name,
            storage=storage,
            sampler=sampler,
            pruner=make_pruner(config.pruner),
            direction="minimize",
            load_if_exists=True,
        )
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ConfigError(f"Study {config.name!r} in the storage maximises; tsseq studies minimise the validation MSE.")
    reconcile(study, settings, _storage_name(config))
    return study


def tune(
    config: StudyConfig, *, base_dir: str | Path = ".", stream: IO[str] | None = None, source: str | None = None
) -> TuningResult:
    """Run ``config.n_trials`` trials (or for ``config.timeout_s``) of study ``config.name``; see the module docstring.

    ``source`` names the job file in the messages of the checks made before the study is
    opened (e.g. ``"tune.yaml: model.params.horizon = 400 ..."``).
    """
    from tsseq.pipeline import load_frame
    from tsseq.tuning.checks import check_data, check_study
    from tsseq.tuning.identity import UnrecordedStudyWarning

    stream = sys.stderr if stream is None else stream
    base_dir = Path(base_dir)
    try:  # everything a job error can be found by, before the study is created or opened
        space = check_study(config)
        frame = load_frame(config.data, base_dir)
        check_data(config, frame, space)
        identity = dataset_identity(config, base_dir)
        with warnings.catch_warnings(record=True) as caught, _quiet_optuna():
            warnings.simplefilter("always", UnrecordedStudyWarning)
            study = open_study(config, space=space, dataset=identity)
    except TsseqError as error:
        raise located(error, source) if source else error
    for warning in caught:  # a line of the run's log, as the trials' are; any other warning as it came
        if issubclass(warning.category, UnrecordedStudyWarning):
            stream.write(f"[{config.name}] warning: {warning.message}\n")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    family = family_space(config.model.name)
    pinned = {name: value for name, value in pinned_parameters(config.model.params).items() if name in family}
    with _quiet_optuna():
        with _study_run(study, config, identity) as parent:
            trial_run = None if parent is None else _trial_run(config, identity)
            objective = Objective(config, frame, space, trial_run)
            progress = _Progress(config, stream)
            try:
                study.optimize(
                    objective,
                    n_trials=config.n_trials,
                    timeout=config.timeout_s,
                    callbacks=[progress],
                    gc_after_trial=False,
                )
            except KeyboardInterrupt:  # SIGTERM (Terminated) or Ctrl-C
                with deferred():  # a second signal must not cut this short
                    _after_interruption(study, config, objective.interrupted)
                raise
            finally:
                progress.close()
            best_model_path, test_mse = _refit(study, config, objective, parent, identity, stream)
    return _result(study, config, parent, best_model_path, test_mse, pinned)


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's INFO log off: the progress lines of :class:`_Progress` replace its per-trial lines.

    Its warnings about a trial that an interruption or a tsseq error stopped (a
    traceback, then the trial's value) are left out too: the error propagates, and the
    CLI says in one line that the job was stopped, or what was wrong.
    """
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    logger, stops = logging.getLogger("optuna.study._optimize"), _StoppedTrialFilter()
    logger.addFilter(stops)
    try:
        yield
    finally:
        logger.removeFilter(stops)
        optuna.logging.set_verbosity(verbosity)


class _StoppedTrialFilter(logging.Filter):
    """Drops Optuna's two warnings about a trial failed by KeyboardInterrupt or a tsseq error (its traceback, then its value)."""

    def __init__(self) -> None:
        super().__init__()
        self.trial: str | None = None  # "Trial N " of the stopped trial, whose second warning comes next

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], (KeyboardInterrupt, TsseqError)):
            self.trial = " ".join(record.getMessage().split()[:2]) + " "
            return False
        if self.trial is not None and record.getMessage().startswith(self.trial + "failed with value"):
            self.trial = None
            return False
        return True


def _after_interruption(study, config: StudyConfig, number: int | None) -> None:
    """Leave the study as a dead worker's heartbeat would (module docstring): trials FAIL, the interrupted queued again."""
    from optuna.trial import TrialState

    from tsseq.tuning.storage import retry_callback

    worker = f"{socket.gethostname()}:{os.getpid()}"
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") == worker or trial.number == number:  # ours, left RUNNING
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if number is None:
        return
    (trial,) = [trial for trial in study.get_trials(deepcopy=False) if trial.number == number]
    if trial.state == TrialState.FAIL:  # not pruned nor complete after all: run it again
        retry_callback(config.storage.max_retry)(study, trial)


# --------------------------------------------------------------------------- tracking


@contextmanager
def _study_run(study, config: StudyConfig, identity=None) -> Iterator[Any]:
    """The study's MLflow run, created on first use and resumed after; None when untracked."""
    if not config.tracking.enabled:
        yield None
        return
    import mlflow
    from mlflow.exceptions import MlflowException

    from tsseq.tracking.runs import tracked_run
    from tsseq.tracking.store import use_store

    uri = use_store(config.tracking.tracking_uri)
    client = mlflow.MlflowClient(uri)
    run_id = study.user_attrs.get(PARENT_RUN_ATTR)
    if run_id is not None:
        try:
            client.get_run(run_id)
        except MlflowException:  # the study was tracked in another store: start over in this one
            run_id = None
    if run_id is None:
        run_id = _new_study_run(study, config, client, identity)
    with tracked_run(run_id=run_id, tracking_uri=uri) as run:
        yield run


def _new_study_run(study, config: StudyConfig, client, identity=None) -> str:
    """Create the study's run and record it on the study; returns the run every worker will use.

    Workers that start a new study at the same moment each create a run before either
    has recorded one. Each then looks for the study's runs created in the last
    ``STUDY_RUN_RACE_S`` seconds: it sees its own and every run created before it, so
    all of them elect the earliest, and the others delete theirs. Older runs with the
    same tags belong to an earlier study of the same name (deleted from the storage
    since) and are left alone. Across machines this relies on the clocks agreeing to
    within the time a worker takes to create its run and search.
    """
    from tsseq.tracking.runs import TrackedRun
    from tsseq.tracking.store import experiment_id

    uri = client.tracking_uri
    experiment = experiment_id(config.tracking.experiment or config.name, uri)
    tags = {ROLE_TAG: "study", "optuna.study": config.name, "optuna.storage": _storage_name(config)}
    own = client.create_run(experiment, run_name=config.name, tags=tags).info.run_id
    since = client.get_run(own).info.start_time - int(STUDY_RUN_RACE_S * 1000)
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{ROLE_TAG}` = 'study' and attributes.start_time >= {since}", max_results=1000
    )
    candidates = [run for run in runs if all(run.data.tags.get(key) == value for key, value in tags.items())]
    elected = min(candidates, key=lambda run: (run.info.start_time, run.info.run_id)).info.run_id
    if elected == own:
        run = TrackedRun(own, uri)
        run.log_config({key: value for key, value in dataclasses.asdict(config).items() if key != "storage"})
        run.log_dataset(identity or dataset_identity(config))
    else:
        client.delete_run(own)
    study.set_user_attr(PARENT_RUN_ATTR, elected)
    return elected


def _storage_name(config: StudyConfig) -> str:
    return redacted(storage_url(config.storage.url))


def _trial_run(config: StudyConfig, identity):
    """``trial -> tracked_run`` of that trial, a child of the study's (active) run, with the data set logged."""
    import optuna

    from tsseq.tracking.runs import tracked_run

    @contextmanager
    def trial_run(trial):
        tags = {ROLE_TAG: "trial", "optuna.study": config.name, "optuna.trial": trial.number}
        name = f"{config.name}-trial-{trial.number}"
        with tracked_run(nested=True, run_name=name, tags=tags, killed_on=(optuna.TrialPruned,)) as run:
            run.log_dataset(identity)
            yield run

    return trial_run


# --------------------------------------------------------------------------- progress, refit, result


class _Progress:
    """One stderr line per finished trial (state, score, epochs, time, best so far), under a bar of trials.

    The lines go to every stream (a scheduler's log keeps them); the tqdm bar over the
    trials (:mod:`tsseq.progress`) only to a terminal, with the lines written above it.
    """

    def __init__(self, config: StudyConfig, stream: IO[str]) -> None:
        from tsseq.progress import progress

        self.config, self.stream = config, stream
        self.done, self.started = 0, time.perf_counter()
        self.bar = progress(total=config.n_trials, desc=f"[{config.name}] trials", unit="trial", stream=stream, leave=False)

    def __call__(self, study, trial) -> None:
        self.done += 1
        value = f" value {trial.value:.6g}" if trial.state.name == "COMPLETE" else ""
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        try:
            best = f"best {study.best_value:.6g} (trial {study.best_trial.number})"
        except ValueError:  # no completed trial yet
            best = "no best yet"
        of = f"/{self.config.n_trials}" if self.config.n_trials else ""
        line = (
            f"[{self.config.name}] trial {trial.number} {trial.state.name}{value}, "
            f"{len(trial.intermediate_values)} epochs, {seconds:.1f}s | {best} | this worker {self.done}{of}, "
            f"{time.perf_counter() - self.started:.0f}s"
        )
        if self.bar.disable:
            self.stream.write(line + "\n")
            self.stream.flush()
        else:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
            self.bar.set_postfix_str(best)

    def close(self) -> None:
        self.bar.close()


def _refit(study, config: StudyConfig, objective: Objective, parent, identity, stream: IO[str]):
    """Fit the best trial's configuration again, score it on the test rows; log it (tracked), save it.

    Returns ``(best_model_path or None, test MSE or None)``.
    """
    if not config.refit or not _completed(study):
        return None, None
    best = study.best_trial
    done = _refitted_already(study, config, best.number, parent is not None)
    if done is not None:
        path, test = done.get("path"), done.get("test_mse")
        where = ", ".join(f"{k} {v}" for k, v in (("model file", path), ("MLflow run", done.get("run_id"))) if v)
        stream.write(f"[{config.name}] trial {best.number}'s configuration is refitted already (by another worker, or "
                     f"a run of this job before){': ' + where if where else ''}\n")  # fmt: skip
        return path, test
    estimator = build_estimator(config, best.params)
    if parent is None:
        score = objective.fit_and_score(estimator)
        test = objective.test_mse(estimator)
    else:
        from tsseq.tracking.runs import tracked_run

        tags = {ROLE_TAG: "best", "optuna.study": config.name, "optuna.trial": best.number}
        with tracked_run(nested=True, run_name=f"{config.name}-best", tags=tags) as run:
            run.log_dataset(identity)
            run.log_estimator(estimator)
            score = objective.fit_and_score(estimator, [run.callback()])
            test = objective.test_mse(estimator)
            run.log_metrics({"validation_mse": score, "test_mse": test})  # None (no test window) is left out
            if config.tracking.log_model:
                train, _, _, horizon = objective.rows(estimator)
                run.log_model(estimator, train, horizon=horizon)
        parent.set_tags({"best.trial": best.number, "best.run_id": run.run_id, "best.validation_mse": best.value})
        parent.log_metrics({"best_validation_mse": best.value, "best_test_mse": test}, step=len(study.trials))
    tested = "no test window" if test is None else f"test MSE {test:.6g}"
    stream.write(f"[{config.name}] refitted trial {best.number}'s configuration: validation MSE {score:.6g}, {tested}\n")
    path = None
    if config.best_model_path is not None:
        from tsseq import persistence

        persistence.save(estimator, config.best_model_path)  # every estimator (AR has no save method of its own)
        path = str(config.best_model_path)
    run_id = None if parent is None else run.run_id
    record = {"trial": best.number, "path": path, "run_id": run_id, "test_mse": None if test is None else float(test)}
    study.set_user_attr(REFIT_ATTR, record)
    return path, test


def _refitted_already(study, config: StudyConfig, number: int, tracked: bool) -> dict | None:
    """The record of trial ``number``'s refit when it is done for what this job asks (its model file, its run).

    Workers sharing a study each finish with a refit of the best trial: the second finding the
    same best refitted (model file written, best run logged when tracked) leaves it as it is.
    Two workers ending at the same moment can still both refit: the later write wins, whole.
    """
    record = study.user_attrs.get(REFIT_ATTR)
    if not isinstance(record, dict) or record.get("trial") != number:
        return None
    if config.best_model_path is not None and (
        record.get("path") != str(config.best_model_path) or not Path(config.best_model_path).is_file()
    ):
        return None
    if tracked and not record.get("run_id"):
        return None
    return record


def _completed(study) -> list:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _result(
    study, config: StudyConfig, parent, best_model_path: str | None, test_mse: float | None, pinned: dict[str, Any]
) -> TuningResult:
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    best = study.best_trial if _completed(study) else None
    return TuningResult(
        study_name=config.name,
        storage=_storage_name(config),
        best_trial=None if best is None else best.number,
        best_value=None if best is None else best.value,
        best_params={} if best is None else dict(best.params),
        states=states,
        epochs=sum(len(trial.intermediate_values) for trial in trials),
        mlflow_run_id=None if parent is None else parent.run_id,
        best_model_path=best_model_path,
        best_test_mse=test_mse,
        pinned=pinned,
    )
