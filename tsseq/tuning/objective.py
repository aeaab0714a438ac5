"""What one trial does: build the estimator from the trial's parameters, train it, score it.

The score every trial returns, whatever the model, is the **validation MSE**: the mean
squared error of ``predict_windows`` over every validation window (stride 1), on the
scale of the training rows standardised per channel (their mean and population
standard deviation), as the ETT protocol scores its test windows. The neural
estimators also train with the validation rows as their early-stopping and best-epoch
data, and report the engine's per-epoch validation loss to the pruner
(:class:`~tsseq.tuning.pruning.PruningCallback`); a tracked trial's MLflow callback
comes before it, so that the run of a pruned trial holds the epoch that pruned it. The
test rows, left out of every trial, score the refitted best configuration the same way
(:meth:`Objective.test_mse`).

With the study's ``checkpoint_dir``, a neural trial writes its checkpoints to
``<checkpoint_dir>/<study>/trial-<number>`` and records that folder as its user
attribute ``checkpoint_dir``. A retry (a copy of a trial its worker could not finish,
queued with the same parameters and user attributes) finds the attribute and resumes
from that checkpoint (``fit(..., resume=True)``, which refuses a checkpoint of another
job); a new trial starts afresh.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsseq import registry
from tsseq.errors import ConfigError, TsseqError, located
from tsseq.tuning.config import StudyConfig, ValidationConfig
from tsseq.tuning.pruning import PruningCallback
from tsseq.tuning.spaces import Space, configure, suggest

# (trial) -> a context manager yielding the trial's tsseq.tracking TrackedRun, or None when untracked.
TrialRun = Callable[[Any], AbstractContextManager]
CHECKPOINT_ATTR = "checkpoint_dir"  # trial user attribute: the folder of the trial's checkpoints


def build_estimator(config: StudyConfig, params: Mapping[str, Any]) -> Any:
    """The study's model with its fixed parameters, then the trial's ``params`` (space names)."""
    return configure(registry.create(config.model.name, **config.model.params), params)


def window_geometry(estimator: Any, validation: ValidationConfig) -> tuple[int, int]:
    """``(input_length, horizon)`` of the validation windows: the study's, else the model's."""
    sizes = []
    for name in ("input_length", "horizon"):
        value = getattr(validation, name)
        value = getattr(estimator, name, None) if value is None else value
        if value is None:
            raise ConfigError(
                f"validation.{name}: {type(estimator).__name__} has no {name!r} of its own, so the study must give "
                f"the validation windows' {name}, e.g. validation: {{input_length: 96, horizon: 24}}."
            )
        sizes.append(int(value))
    return sizes[0], sizes[1]


def split_rows(frame: pd.DataFrame, validation: ValidationConfig, input_length: int):
    """The train, validation and test rows (a :class:`~tsseq.data.splits.Split`); validation and test
    start ``input_length`` rows early (their first inputs)."""
    from tsseq.data.splits import split_by_fraction, split_preset

    if validation.preset is not None:
        return split_preset(frame, validation.preset, input_length=input_length)
    return split_by_fraction(frame, validation.train_fraction, validation.test_fraction, input_length=input_length)


def windows_mse(estimator: Any, train: pd.DataFrame, rows: pd.DataFrame, input_length: int, horizon: int) -> float:
    """The study's score of a fitted estimator on ``rows`` (validation or test; see the module docstring)."""
    from tsseq.data.windows import make_windows

    windows = make_windows(rows.to_numpy(np.float64), input_length, horizon)
    inputs, targets = windows.inputs.numpy(), windows.targets.numpy()  # (N, L, C), (N, H, C)
    if getattr(estimator, "covariates", ()):
        starts = rows.index[windows.starts.numpy()]
        predictions = estimator.predict_windows(inputs, horizon, window_starts=starts)
    else:
        predictions = estimator.predict_windows(inputs, horizon)
    scale = train.to_numpy(np.float64).std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # a constant channel: errors on the raw scale
    errors = ((predictions - targets) / scale) ** 2
    observed = np.ones_like(errors, dtype=bool) if windows.target_mask is None else windows.target_mask.numpy()
    return float(errors[observed].mean())


class Objective:
    """``objective(trial) -> validation MSE``, for ``study.optimize``.

    Parameters
    ----------
    config : StudyConfig
    frame : DataFrame
        The whole series (wide); the study's validation settings split it per trial.
    space : dict
        The search space (:func:`tsseq.tuning.spaces.search_space`).
    trial_run : callable, optional
        ``trial_run(trial)`` -> a context manager around the trial yielding its MLflow run
        (a :class:`tsseq.tracking.runs.TrackedRun`) or None; default: untracked.
    """

    def __init__(self, config: StudyConfig, frame: pd.DataFrame, space: Space, trial_run: TrialRun | None = None) -> None:
        self.config = config
        self.frame = frame
        self.space = space
        self.trial_run = trial_run
        self.interrupted: int | None = None  # the number of the trial a KeyboardInterrupt (or SIGTERM) stopped

    def __call__(self, trial: Any) -> float:
        try:
            return self._trial(trial)
        except KeyboardInterrupt:
            self.interrupted = trial.number
            raise
        except TsseqError as error:
            # A job error the up-front checks could not see (a combination of values): the study stops
            # with the trial and its values named; Optuna records the trial FAIL.
            drawn = ", ".join(f"{name}={value!r}" for name, value in trial.params.items())
            located(error, f"trial {trial.number} ({drawn})" if drawn else f"trial {trial.number}")
            raise

    def _trial(self, trial: Any) -> float:
        import optuna

        from tsseq.engine import TrainingDivergedError

        estimator = build_estimator(self.config, suggest(trial, self.space))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # who ran it, in a shared study
        resume = self._checkpoints(trial, estimator)
        with self._run(trial) as run:
            callbacks: list = []
            if run is not None:
                trial.set_user_attr("mlflow_run_id", run.run_id)
                run.log_estimator(estimator)
                callbacks.append(run.callback())  # first: the epoch that prunes the trial is logged too
            callbacks.append(PruningCallback(trial))
            try:
                score = self.fit_and_score(estimator, callbacks, resume=resume)
            except TrainingDivergedError as error:
                # As hopeless as a trial the pruner stops, and TPE learns from pruned trials.
                trial.set_user_attr("diverged", str(error))
                raise optuna.TrialPruned(f"trial {trial.number} diverged: {error}") from None
            if run is not None:
                run.log_metrics({"validation_mse": score})
        return score

    def _checkpoints(self, trial: Any, estimator: Any) -> bool:
        """Point a neural trial's training at its checkpoint folder (module docstring); whether it resumes."""
        from tsseq.estimators import NeuralForecaster

        if self.config.checkpoint_dir is None or not isinstance(estimator, NeuralForecaster):
            return False
        inherited = trial.user_attrs.get(CHECKPOINT_ATTR)  # a retry's: the folder of the attempt it repeats
        folder = inherited or str(Path(self.config.checkpoint_dir) / self.config.name / f"trial-{trial.number}")
        trial.set_user_attr(CHECKPOINT_ATTR, folder)
        estimator.set_params(training__checkpoint_dir=folder)
        return inherited is not None

    def fit_and_score(self, estimator: Any, callbacks: list | tuple = (), *, resume: bool = False) -> float:
        """Fit ``estimator`` on the train rows (callbacks, ``resume``: neural estimators only); its validation MSE."""
        from tsseq.engine import TrainingDivergedError
        from tsseq.estimators import NeuralForecaster

        train, validation, input_length, horizon = self.rows(estimator)
        if isinstance(estimator, NeuralForecaster):
            estimator.fit(train, validation=validation, callbacks=callbacks, resume=resume)
        else:
            estimator.fit(train)
        score = windows_mse(estimator, train, validation, input_length, horizon)
        if not math.isfinite(score):
            raise TrainingDivergedError(f"the validation MSE is {score}: the model forecasts non-finite values.")
        return score

    def rows(self, estimator: Any) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
        """``(train, validation, input_length, horizon)`` for this estimator's window geometry."""
        input_length, horizon = window_geometry(estimator, self.config.validation)
        split = split_rows(self.frame, self.config.validation, input_length)
        return split.train, split.validation, input_length, horizon

    def test_mse(self, estimator: Any) -> float | None:
        """A fitted estimator's MSE on the test rows, which no trial saw, scored as trials are.

        None when the test rows hold no window of ``input_length + horizon`` rows.
        """
        input_length, horizon = window_geometry(estimator, self.config.validation)
        split = split_rows(self.frame, self.config.validation, input_length)
        if len(split.test) < input_length + horizon:
            return None
        return windows_mse(estimator, split.train, split.test, input_length, horizon)

    def _run(self, trial: Any) -> AbstractContextManager:
        from contextlib import nullcontext

        return nullcontext() if self.trial_run is None else self.trial_run(trial)
