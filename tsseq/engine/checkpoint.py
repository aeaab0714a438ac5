"""Checkpoints: everything needed to continue training exactly where it stopped.

One file, ``<checkpoint_dir>/last.pt``, rewritten atomically after every epoch
(:func:`tsseq.io.write_atomic`: a crash mid-write leaves the previous one intact). It
holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code runs), with these keys:

``format`` (int), ``mode`` ("windows" or "sequence"), ``epoch`` (epochs completed),
``config`` (``asdict`` of the TrainingConfig), ``model``, ``optimizer``,
``scheduler`` (None for a constant rate) and ``scaler`` (the fp16 GradScaler) state
dicts, ``history`` (:meth:`TrainingHistory.to_dict`, which names the best epoch),
``best`` (``model``: the weights of the best epoch, None without ``restore_best``;
``epochs_without_improvement``: early stopping's count), and ``rng``: the states of
torch's CPU generator, of the training CUDA device's generator (None on the CPU), and
of the batch sampler's generator; ``job``: the identity of what is trained (below), None
when the caller gave none.

Randomness that lives elsewhere (Python's ``random``, NumPy) is not saved: models
should draw their noise from torch.

A process killed at any moment (SIGKILL included) leaves ``last.pt`` of its last
finished epoch (or none): the rename is atomic, and a temporary file it leaves behind is
removed when the next run starts. SIGTERM and SIGINT wait for a write in progress to end
(:func:`tsseq.signals.deferred`), so the epoch that just finished is kept. Resuming
(``Trainer.fit(..., resume=True)``) continues bit-identically to an uninterrupted run.

Resuming a *job*: the estimators (``NeuralForecaster.fit(y, resume=True)``) give the
trainer a :class:`CheckpointJob` among the callbacks, naming what they train (a
:class:`JobIdentity`: the model's parameters and the training settings that change the
result, and a :func:`fingerprint` of the arrays the engine trains and validates on).
Every checkpoint records it; resuming continues only a checkpoint of the same job and
refuses any other with a :class:`CheckpointMismatchError` that names what differs; a
job started over (``resume=False``) says that it replaces the checkpoint there.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tsseq.engine.callbacks import Callback
from tsseq.engine.config import TrainingConfig
from tsseq.engine.history import TrainingHistory
from tsseq.errors import ConfigError, DataError, DataFileNotFoundError
from tsseq.io import write_atomic
from tsseq.signals import deferred

CHECKPOINT_NAME = "last.pt"
FORMAT = 1
# TrainingConfig fields that do not change what training computes: not part of a job's identity.
# (Threads and the device can change the last bits of float sums; moving a job between them is allowed.)
RESULT_NEUTRAL = frozenset({"checkpoint_dir", "progress", "threads", "device"})


class CheckpointMismatchError(ConfigError):
    """The checkpoint to resume from was written by another job: other settings, or other data."""


@dataclass(frozen=True)
class JobIdentity:
    """What a training run computes: ``settings`` (name -> canonical text) and ``data`` (a :func:`fingerprint`)."""

    settings: Mapping[str, str]
    data: str

    def to_dict(self) -> dict:
        return {"settings": dict(self.settings), "data": self.data}

    def differences(self, saved: Mapping | None) -> list[str]:
        """What differs between this job and the one a checkpoint recorded (``saved``); empty: the same job."""
        if not saved:
            return ["it records no job (written by Trainer.fit without a CheckpointJob), so it cannot be matched"]
        differences = []
        changed = setting_differences(saved["settings"], self.settings, "the checkpoint")
        if changed:
            differences.append(f"its configuration differs ({changed})")
        if saved["data"] != self.data:
            differences.append(
                f"its data differs (the training and validation arrays have fingerprint {saved['data'][:12]} in the "
                f"checkpoint, {self.data[:12]} now)"
            )
        return differences


class CheckpointJob(Callback):
    """Tells the trainer what it trains and whether to continue a checkpoint of it (see the module docstring).

    Given among ``Trainer.fit``'s (or ``fit_sequence``'s) callbacks; its hooks do nothing.
    With ``resume=True`` the trainer continues ``checkpoint_dir/last.pt`` when there is one
    (refusing it with :class:`CheckpointMismatchError` when it is of another job) and starts
    afresh when there is none; with ``resume=False`` it starts afresh and warns when it is
    about to replace a checkpoint.
    """

    def __init__(self, identity: JobIdentity, resume: bool) -> None:
        if not isinstance(resume, bool):
            raise ConfigError(f"The 'resume' parameter must be True or False. Got {resume!r} instead.")
        self.identity, self.resume = identity, resume

    def should_resume(self, checkpoint_dir: str | os.PathLike | None) -> bool:
        """Whether the run continues the checkpoint in ``checkpoint_dir`` (None: the config has none)."""
        if checkpoint_dir is None:
            if self.resume:
                raise ConfigError(
                    "resume=True needs training.checkpoint_dir, the folder where the checkpoint of each epoch is "
                    "written (e.g. training={'checkpoint_dir': 'checkpoints/lstm'})."
                )
            return False
        path = checkpoint_path(checkpoint_dir)
        if self.resume:
            return path.is_file()
        if path.is_file():
            warnings.warn(
                f"Starting over (resume=False): the checkpoint {str(path)!r} of an earlier run is replaced at the end "
                "of the first epoch. Pass resume=True to continue it instead.",
                stacklevel=2,
            )
        return False


def fingerprint(*parts: Sequence[np.ndarray] | None) -> str:
    """SHA-256 of the shapes and float32 bytes of some lists of arrays (None counts as a part too).

    What the estimators give :class:`JobIdentity` as the data's identity: the scaled
    training and validation arrays the engine sees. Hashing runs at about 1 GB/s.
    """
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"none;")
            continue
        digest.update(f"{len(part)} arrays;".encode())
        for array in part:
            array = np.ascontiguousarray(array, dtype=np.float32)
            digest.update(f"{array.shape};".encode())
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def setting_differences(
    before: Mapping[str, str], now: Mapping[str, str], where: str, short: Callable[[str, str | None], str] | None = None
) -> str:
    """``"name: <before> in <where>, <now> now; ..."`` for the settings that differ (6 named, then how many more);
    "" when none. ``short(name, value)`` shows a value (default: cut at 60 characters, ``(absent)`` for None)."""
    short = short or (lambda name, value: _short(value))
    changed = sorted(name for name in {*before, *now} if before.get(name) != now.get(name))
    shown = [f"{name}: {short(name, before.get(name))} in {where}, {short(name, now.get(name))} now" for name in changed[:6]]
    more = f"; and {len(changed) - 6} more" if len(changed) > 6 else ""
    return "; ".join(shown) + more


def _short(value: str | None, limit: int = 60) -> str:
    if value is None:
        return "(absent)"
    return value if len(value) <= limit else value[: limit - 3] + "..."


@dataclass
class TrainingState:
    """The objects of a run that a checkpoint saves and restores."""

    mode: str  # "windows" (Trainer.fit) or "sequence" (Trainer.fit_sequence)
    config: TrainingConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None  # a torch.optim.lr_scheduler scheduler
    scaler: torch.amp.GradScaler
    sampler_generator: torch.Generator
    history: TrainingHistory
    best_model: dict[str, torch.Tensor] | None = None  # the weights of history.best_epoch
    epochs_without_improvement: int = 0
    epochs_done: int = 0
    job: JobIdentity | None = field(default=None)  # what is trained, from a CheckpointJob

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are: the training device."""
        return next(self.model.parameters()).device

    def to_dict(self) -> dict:
        """The checkpoint's contents (module docstring): tensors, numbers, strings, lists, dicts."""
        config = {  # a pathlib.Path would not load with weights_only=True
            name: os.fspath(value) if isinstance(value, os.PathLike) else value
            for name, value in asdict(self.config).items()
        }
        return {
            "mode": self.mode,
            "epoch": self.epochs_done,
            "config": config,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history.to_dict(),
            "best": {"epochs_without_improvement": self.epochs_without_improvement, "model": self.best_model},
            "rng": capture_rng(self.sampler_generator, self.device),
            "job": None if self.job is None else self.job.to_dict(),
        }

    def save(self, checkpoint_dir: str | os.PathLike) -> Path:
        """Write ``checkpoint_dir/last.pt`` atomically; SIGTERM and SIGINT wait for the write to end."""
        with deferred():
            return save_checkpoint(checkpoint_path(checkpoint_dir), self.to_dict())

    def restore(self, checkpoint_dir: str | os.PathLike | None) -> None:
        """Load ``checkpoint_dir/last.pt`` into these objects (RNG states included)."""
        if checkpoint_dir is None:
            raise ConfigError("resume=True needs TrainingConfig(checkpoint_dir=...), the folder of the checkpoint.")
        path = checkpoint_path(checkpoint_dir)
        state = load_checkpoint(path, self.mode)
        if self.job is not None:
            differences = self.job.differences(state.get("job"))
            if differences:
                raise CheckpointMismatchError(
                    f"Cannot resume from the checkpoint {str(path)!r}: {'; and '.join(differences)}. Pass "
                    "resume=False to start over (replacing it), or give this job a checkpoint_dir of its own."
                )
        changed = [] if self.job is not None else changed_settings(state["config"], asdict(self.config))
        if changed:
            warnings.warn(
                f"Resuming from {str(path)!r} with different settings ({', '.join(changed)}): the run will "
                "not match an uninterrupted one, and the optimizer's and schedule's settings (learning rate, "
                "weight decay, ...) continue as the checkpoint has them.",
                stacklevel=4,  # the caller of Trainer.fit
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when gradient scaling is off
            self.scaler.load_state_dict(state["scaler"])
        self.history = TrainingHistory.from_dict(state["history"])
        best = state["best"]
        self.epochs_without_improvement = best["epochs_without_improvement"]
        if best["model"] is not None:
            self.best_model = {name: value.to(self.device) for name, value in best["model"].items()}
        restore_rng(state["rng"], self.sampler_generator, self.device)
        self.epochs_done = state["epoch"]


def checkpoint_path(checkpoint_dir: str | os.PathLike) -> Path:
    return Path(checkpoint_dir) / CHECKPOINT_NAME


def remove_temporaries(checkpoint_dir: str | os.PathLike) -> None:
    """Remove the temporary files of writes cut short by a killed process (``.last.pt.*.tmp``, :mod:`tsseq.io`)."""
    for temporary in Path(checkpoint_dir).glob(f".{CHECKPOINT_NAME}.*.tmp"):
        try:
            temporary.unlink()
        except OSError:  # another process's, gone already, or not ours to remove
            pass


def save_checkpoint(path: Path, state: dict) -> Path:
    """Write ``state`` to ``path`` through a temporary file renamed into place."""
    return write_atomic(path, lambda temporary: torch.save({"format": FORMAT, **state}, temporary))


def load_checkpoint(path: Path, mode: str) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` for a ``mode`` run (tensors on the CPU)."""
    if not path.is_file():
        raise DataFileNotFoundError(
            f"resume=True but there is no checkpoint at {str(path)!r}; train once with "
            "TrainingConfig(checkpoint_dir=...) to write one, or pass resume=False."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: unpickling errors of many kinds
        raise DataError(f"The checkpoint {str(path)!r} cannot be read: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise DataError(f"{str(path)!r} is not a tsseq checkpoint of format {FORMAT} (found {found!r}).")
    if state["mode"] != mode:
        method = {"windows": "fit", "sequence": "fit_sequence"}
        raise ConfigError(
            f"The checkpoint {str(path)!r} was written by Trainer.{method[state['mode']]}; "
            f"resume it with that method, not Trainer.{method[mode]}."
        )
    return state


def capture_rng(sampler_generator: torch.Generator, device: torch.device) -> dict:
    """The states of every random generator training on ``device`` draws from."""
    return {
        "torch": torch.get_rng_state(),
        # Only the training GPU's: asking for every GPU's state would initialise CUDA on all of them.
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "sampler": sampler_generator.get_state(),
    }


def restore_rng(states: dict, sampler_generator: torch.Generator, device: torch.device) -> None:
    """Put back the states saved by :func:`capture_rng` (the CUDA one when training on CUDA again)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)
    sampler_generator.set_state(states["sampler"])


def changed_settings(saved: dict, current: dict) -> list[str]:
    """Config fields that differ between a checkpoint and this run, other than the harmless ones."""
    harmless = {"epochs", "checkpoint_dir", "progress", "early_stopping_patience", "device"}
    defaults = asdict(TrainingConfig())  # a field newer than the checkpoint had its default there
    return sorted(
        name for name in current if name not in harmless and saved.get(name, defaults.get(name)) != current[name]
    )
