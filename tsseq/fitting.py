"""How a job fits its neural models: the job's threads, a checkpoint folder per fit, resuming.

A job (``tsseq run``, ``tsseq forecast``, a pipeline file) fits each model once or more:
on the holdout's training rows, on the windows protocol's, inside a published protocol,
and again on all rows for the forecast. For the neural models among them:

* :func:`with_threads`: the job's ``threads`` (``--threads``) go into the training
  settings of every model that does not set its own ``training.threads``;
* :class:`Checkpoints` and :func:`checkpointed`: each fit keeps its per-epoch checkpoint
  in a folder of its own, ``<checkpoint_dir>/<model label>/<fit>``, so that fits on
  different data never meet each other's checkpoints, and continues from it when the
  job is run again (``resume``, :meth:`tsseq.estimators.neural.NeuralForecaster.fit`):
  a job killed at any point loses at most the epoch in progress;
* :func:`require_checkpoints`: an explicit ``--resume`` needs somewhere to resume from.

Other models (AR, the naive family, the conformal wrapper) are left as they are.
Imports nothing heavy: the neural modules are imported only for neural models.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tsseq import registry
from tsseq.config import ModelConfig, with_training_defaults
from tsseq.errors import ConfigError


def with_threads(models: list[ModelConfig], threads: int | None) -> list[ModelConfig]:
    """The models, each neural one with ``training.threads = threads`` unless it sets its own (None: unchanged)."""
    if threads is None:
        return list(models)
    return [
        dataclasses.replace(
            model,
            params=with_training_defaults(model.params, registry.parameters(model.name), {"threads": threads}),
        )
        for model in models
    ]


@dataclass(frozen=True)
class Checkpoints:
    """Where each fit of a job's neural models keeps its per-epoch checkpoint, and whether it resumes.

    ``directory``: the job's checkpoint folder (``checkpoint_dir``, ``--checkpoint-dir``);
    a fit's folder is ``<directory>/<model label>/<fit>`` (the label made safe for a
    path), or ``<training.checkpoint_dir>/<fit>`` for a model that sets its own, so that
    the fits of one job (on the holdout's training rows, on all rows, ...) never meet
    each other's checkpoints. ``resume``: continue a fit from its checkpoint when it is
    one of the same job (:meth:`tsseq.estimators.neural.NeuralForecaster.fit`).
    """

    directory: str | Path | None = None
    resume: bool = True

    def folder(self, estimator, label: str, fit: str) -> Path | None:
        """The checkpoint folder of ``estimator``'s ``fit`` (e.g. ``"holdout"``); None: no checkpoints."""
        own = estimator.training_config().checkpoint_dir
        if own is not None:
            return Path(own) / fit
        return None if self.directory is None else Path(self.directory) / _path_safe(label) / fit


def _path_safe(label: str) -> str:
    """A model label as one folder name: ``ar:max_order=96`` -> ``ar_max_order_96``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"


def _resumable(estimator) -> bool:
    """Whether ``estimator`` trains with the engine and can continue from a checkpoint (the neural models)."""
    return hasattr(estimator, "training_config") and "resume" in inspect.signature(estimator.fit).parameters


@contextmanager
def checkpointed(estimator, label: str, fit: str, checkpoints: Checkpoints | None) -> Iterator[dict]:
    """The keyword arguments of ``estimator.fit`` that make this fit resumable ({} for other models).

    Points the estimator's ``training.checkpoint_dir`` at the fit's folder
    (:meth:`Checkpoints.folder`) for the fit (its own ``training`` is given back after)
    and asks for ``resume``; a line on stderr says whether the fit resumes (from which
    epoch) or starts at epoch 1 (:class:`~tsseq.engine.callbacks.CheckpointReport`). A checkpoint of another job is
    refused with a :class:`~tsseq.engine.checkpoint.CheckpointMismatchError` that names
    the model and the fit, and says how to start over. Usage::

        with checkpointed(estimator, "segrnn", "holdout", checkpoints) as options:
            estimator.fit(train, **options)
    """
    folder = checkpoints.folder(estimator, label, fit) if checkpoints is not None and _resumable(estimator) else None
    if folder is None:
        yield {}
        return
    from tsseq.engine.callbacks import CheckpointReport
    from tsseq.engine.checkpoint import CheckpointMismatchError

    training = estimator.get_params(deep=False)["training"]
    estimator.set_params(training={**asdict(estimator.training_config()), "checkpoint_dir": str(folder)})
    report = CheckpointReport(f"{label} [{fit}]", resume=checkpoints.resume)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Starting over \(resume=False\)")  # the report says it
            yield {"resume": checkpoints.resume, "callbacks": [report]}
    except CheckpointMismatchError as error:
        raise CheckpointMismatchError(
            f"{label} [{fit}]: {error} With tsseq run or forecast: --no-resume starts it over, or "
            "--checkpoint-dir gives the job another folder (in a pipeline file: resume: false, checkpoint_dir)."
        ) from None
    finally:
        estimator.set_params(training=training)  # the fitted model keeps the settings it was given


def require_checkpoints(models: list[ModelConfig], checkpoint_dir: str | Path | None) -> None:
    """An explicit ``--resume`` needs a checkpoint folder: the job's, or a model's ``training.checkpoint_dir``."""
    own = [m for m in models if isinstance(m.params.get("training"), dict) and m.params["training"].get("checkpoint_dir")]
    if checkpoint_dir is None and not own:
        raise ConfigError(
            "--resume needs a checkpoint folder to resume from: --checkpoint-dir DIR (in a pipeline file: "
            "checkpoint_dir: DIR, or a model's training.checkpoint_dir)."
        )
