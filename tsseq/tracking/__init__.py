"""MLflow tracking: runs that log what trained, how, on what data, and how well; model comparison.

Everything works embedded (a SQLite store in ``./mlflow/``) and scales out by one
setting: ``TSSEQ_TRACKING_URI`` (or ``MLFLOW_TRACKING_URI``, or an explicit
``tracking_uri``) pointing at an ``mlflow server`` (:mod:`.store`; ``mlflow/README.md``).

The public API (imported on first use, so ``import tsseq.tracking`` loads no MLflow):

* :func:`tracked_run` ``(experiment=, run_name=, nested=False, tags=, tracking_uri=,
  killed_on=())``: a context manager around one MLflow run, yielding a
  :class:`TrackedRun`; the run ends FINISHED, FAILED (exception) or KILLED (Ctrl-C,
  ``SystemExit``, ``killed_on``), never RUNNING (:mod:`.runs`). ``TrackedRun`` logs:
  ``log_config(dataclass, prefix)`` (flattened parameters), ``log_estimator``,
  ``log_dataset(catalog_identity("ETTh1"))``, ``log_metrics({...}, step=)``,
  ``log_history(estimator.history_)``, ``log_model(estimator, history)`` (pyfunc),
  ``log_figure``, ``log_artifact``, ``set_tags``; ``run.callback()`` is an
  :class:`MlflowCallback` for that run.
* :class:`MlflowCallback` ``(run_id=None, tracking_uri=None, prefix="")``: an engine
  callback (``estimator.fit(y, callbacks=[...])``) logging ``train_loss``,
  ``val_loss``, ``lr``, ``grad_norm_mean``, ``grad_norm_max``, ``epoch_time_s`` with
  ``step`` = epoch; rank 0 only under ``torch.distributed`` (:mod:`.callback`).
* :func:`log_forecaster` and the pyfunc flavour: a fitted forecaster as an MLflow
  model predicting from given history windows, without pickle (:mod:`.pyfunc`).
* :func:`compare_runs`, :func:`register_best`: the ``tsseq compare`` command, ranking
  only runs of the same data and evaluation settings (:mod:`.compare`, :mod:`.cli`).
* :func:`catalog_identity`, :func:`file_identity`: what identifies a run's data (:mod:`.identity`).
* :func:`resolve_tracking_uri`: the store in use; :func:`check_store`: that URI vetted
  (a ConfigError naming its setting for a path, a non-MLflow file, a server that does
  not answer) (:mod:`.store`).

Optuna trials as child runs of a study's run (the tuning package)::

    with tracked_run(experiment="etth1-lstm-study", run_name="study") as study_run:
        def objective(trial):
            with tracked_run(run_name=f"trial {trial.number}", nested=True,
                             tags={"optuna.trial": trial.number},
                             killed_on=(optuna.TrialPruned,)) as run:
                run.log_config(config, "model")
                estimator.fit(train, validation=validation, callbacks=[run.callback(), pruning_callback])
                run.log_metrics({"best_val_loss": min(estimator.history_.val_loss)})
                return min(estimator.history_.val_loss)

A YAML pipeline opts in with a ``tracking:`` section (:class:`tsseq.config.TrackingConfig`):
one run per model, in the experiment named after the pipeline (:mod:`.jobs`).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from tsseq.progress import should_show

# MLflow draws its own bars while it moves artifacts; the one rule of tsseq.progress holds for them too: on a
# terminal only, never into a log file or a pipe (a user's own setting of the variable wins).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true" if should_show() else "false")

_LAZY = {
    "tracked_run": "tsseq.tracking.runs",
    "TrackedRun": "tsseq.tracking.runs",
    "flatten": "tsseq.tracking.runs",
    "MlflowCallback": "tsseq.tracking.callback",
    "log_forecaster": "tsseq.tracking.pyfunc",
    "forecast_from_history": "tsseq.tracking.pyfunc",
    "compare_runs": "tsseq.tracking.compare",
    "register_best": "tsseq.tracking.compare",
    "catalog_identity": "tsseq.tracking.identity",
    "file_identity": "tsseq.tracking.identity",
    "DatasetIdentity": "tsseq.tracking.identity",
    "resolve_tracking_uri": "tsseq.tracking.store",
    "check_store": "tsseq.tracking.store",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tsseq.tracking' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
