"""Hooks into the training loop, and the progress line built on them.

A callback subclasses :class:`Callback` and overrides the hooks it needs. The trainer
calls them in the order the callbacks were given, with itself as first argument, so
a callback can read ``trainer.model``, ``trainer.optimizer``, ``trainer.config``,
``trainer.history`` and ``trainer.batches_per_epoch``, and stop training at the end
of the current epoch by setting ``trainer.should_stop = True``.

Under distributed training (:mod:`tsseq.engine.distributed`) every process calls its
callbacks, with the same ``metrics`` (losses are all-reduced); a callback that writes
(files, tracking, output) does so only where ``trainer.is_main_process`` (rank 0), as
:class:`ProgressBar` does; ``trainer.rank`` and ``trainer.world_size`` say the rest. An exception raised
by a callback (such as Optuna's ``TrialPruned`` from ``on_epoch_end``) propagates
out of ``fit`` after every callback's ``on_exception`` has seen it.

Order of the calls::

    on_train_begin
    for each epoch:  on_epoch_begin, on_batch_end (each step), on_epoch_end
    on_train_end          (or on_exception, if anything raised)
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tsseq.engine.history import TrainingHistory
    from tsseq.engine.trainer import Trainer


class Callback:
    """Base class of training callbacks; every hook does nothing."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch (of this call: after a resume, the first remaining one)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (counting from 0)."""

    def on_batch_end(self, trainer: Trainer, epoch: int, batch: int, loss: torch.Tensor) -> None:
        """After optimizer step ``batch`` of ``epoch``.

        ``loss`` is the step's detached 0-dim loss on the training device; ``float(loss)``
        waits for the device, so a callback that needs it every step slows CUDA training.
        The parameters' ``.grad`` still hold the step's (clipped) gradients.
        """

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch's validation and checkpoint.

        ``metrics``: ``train_loss``, ``val_loss`` (only with validation data), ``lr``,
        ``grad_norm_mean``, ``grad_norm_max``, ``epoch_time_s``, ``best_epoch``.
        """

    def on_train_end(self, trainer: Trainer, history: TrainingHistory) -> None:
        """After the last epoch, once the best weights are restored (``restore_best``)."""

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        """When anything raised during training, before the exception propagates."""


class ProgressBar(Callback):
    """One line on ``stream`` (stderr) per epoch, redrawn at most ``refresh_s`` apart.

    During an epoch it shows steps done and steps per second (reading no loss, so it
    never waits for the device); at the end of the epoch, its losses and time. Silent
    on every process but the main one.
    """

    def __init__(self, stream: IO[str] | None = None, refresh_s: float = 0.2, width: int = 24) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.refresh_s = refresh_s
        self.width = width
        self._epoch_start = self._last_draw = 0.0
        self._silent = False

    def on_train_begin(self, trainer: Trainer) -> None:
        self._silent = not trainer.is_main_process

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self._epoch_start = self._last_draw = time.perf_counter()
        self._draw(trainer, epoch, 0)

    def on_batch_end(self, trainer: Trainer, epoch: int, batch: int, loss: torch.Tensor) -> None:
        now = time.perf_counter()
        if now - self._last_draw >= self.refresh_s:
            self._last_draw = now
            self._draw(trainer, epoch, batch + 1)

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        losses = f"train {metrics['train_loss']:.4g}"
        if "val_loss" in metrics:
            losses += f"  val {metrics['val_loss']:.4g}"
        self._write(
            f"{self._prefix(trainer, epoch)} {losses}  lr {metrics['lr']:.3g}  "
            f"|grad| max {metrics['grad_norm_max']:.3g}  {metrics['epoch_time_s']:.1f}s\n"
        )

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        self._write("\n")

    def _draw(self, trainer: Trainer, epoch: int, done: int) -> None:
        total = max(trainer.batches_per_epoch, 1)
        filled = self.width * done // total
        rate = done / max(time.perf_counter() - self._epoch_start, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        self._write(f"{self._prefix(trainer, epoch)} [{bar}] {done}/{total}  {rate:.1f} steps/s")

    def _prefix(self, trainer: Trainer, epoch: int) -> str:
        return f"\r\x1b[Kepoch {epoch + 1}/{trainer.config.epochs}"  # \x1b[K clears the rest of the line

    def _write(self, text: str) -> None:
        if self._silent:
            return
        self.stream.write(text)
        self.stream.flush()
