"""Hooks into the training loop, and the progress bar built on them.

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

This module imports nothing from the trainer (the hooks receive it, described by
:class:`TrainerView`), so that the trainer can import the callbacks without a circle.

Order of the calls::

    on_train_begin
    for each epoch:  on_epoch_begin, on_batch_end (each step), on_epoch_end
    on_train_end          (or on_exception, if anything raised)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from tsseq.engine.config import TrainingConfig
    from tsseq.engine.history import TrainingHistory


class TrainerView(Protocol):
    """What a callback may read from (and set on) the trainer that calls it (:class:`tsseq.engine.Trainer`)."""

    config: TrainingConfig
    model: torch.nn.Module | None
    optimizer: torch.optim.Optimizer | None
    history: TrainingHistory
    state: Any  # TrainingState (tsseq.engine.checkpoint): epochs_done, ... of the current run
    batches_per_epoch: int
    should_stop: bool
    rank: int
    world_size: int
    is_main_process: bool


class Callback:
    """Base class of training callbacks; every hook does nothing."""

    def on_train_begin(self, trainer: TrainerView) -> None:
        """Before the first epoch (of this call: after a resume, the first remaining one)."""

    def on_epoch_begin(self, trainer: TrainerView, epoch: int) -> None:
        """Before epoch ``epoch`` (counting from 0)."""

    def on_batch_end(self, trainer: TrainerView, epoch: int, batch: int, loss: torch.Tensor) -> None:
        """After optimizer step ``batch`` of ``epoch``.

        ``loss`` is the step's detached 0-dim loss on the training device; ``float(loss)``
        waits for the device, so a callback that needs it every step slows CUDA training.
        The parameters' ``.grad`` still hold the step's (clipped) gradients.
        """

    def on_epoch_end(self, trainer: TrainerView, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch's validation and checkpoint.

        ``metrics``: ``train_loss``, ``val_loss`` (only with validation data), ``lr``,
        ``grad_norm_mean``, ``grad_norm_max``, ``epoch_time_s``, ``best_epoch``.
        """

    def on_train_end(self, trainer: TrainerView, history: TrainingHistory) -> None:
        """After the last epoch, once the best weights are restored (``restore_best``)."""

    def on_exception(self, trainer: TrainerView, exception: BaseException) -> None:
        """When anything raised during training, before the exception propagates."""


class ProgressBar(Callback):
    """A tqdm bar on ``stream`` (stderr) over the optimizer steps of a whole fit.

    It shows the epoch, steps done and per second, the time left, and the last finished
    epoch's losses and learning rate (reading no loss during an epoch, so it never waits
    for the device); redrawn at most ``refresh_s`` apart. A resumed fit starts the bar
    at the epochs already done. Silent on every process but the main one. The trainer
    adds one when ``TrainingConfig.progress`` is True, or None and stderr is a terminal
    (:mod:`tsseq.progress`); given explicitly, it draws on ``stream`` whatever that is.
    """

    def __init__(self, stream: IO[str] | None = None, refresh_s: float = 0.2) -> None:
        self.stream = stream
        self.refresh_s = refresh_s
        self._bar = None

    def on_train_begin(self, trainer: TrainerView) -> None:
        from tsseq.progress import progress

        if not trainer.is_main_process:
            return
        epochs, steps = trainer.config.epochs, trainer.batches_per_epoch
        done = getattr(trainer.state, "epochs_done", 0)
        self._bar = progress(
            total=epochs * steps,
            initial=done * steps,
            desc=f"epoch {min(done + 1, epochs)}/{epochs}",
            unit="step",
            show=True,
            stream=self.stream,
            refresh_s=self.refresh_s,
        )

    def on_epoch_begin(self, trainer: TrainerView, epoch: int) -> None:
        if self._bar is not None:
            self._bar.set_description_str(f"epoch {epoch + 1}/{trainer.config.epochs}", refresh=False)

    def on_batch_end(self, trainer: TrainerView, epoch: int, batch: int, loss: torch.Tensor) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, trainer: TrainerView, epoch: int, metrics: dict[str, float]) -> None:
        if self._bar is None:
            return
        losses = f"train {metrics['train_loss']:.4g}"
        if "val_loss" in metrics:
            losses += f", val {metrics['val_loss']:.4g}"
        self._bar.set_postfix_str(f"{losses}, lr {metrics['lr']:.3g}")  # redraws

    def on_train_end(self, trainer: TrainerView, history: TrainingHistory) -> None:
        self._close()

    def on_exception(self, trainer: TrainerView, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CheckpointReport(Callback):
    """One line on ``stream`` (stderr) when a fit with a checkpoint folder starts: where it starts from.

    ``label`` names the fit (e.g. ``"segrnn [holdout]"``); ``resume``: whether the fit
    was asked to continue a checkpoint (False: a checkpoint found there is being replaced).
    The lines: resuming at epoch ``k + 1`` of ``E`` from the checkpoint; the checkpoint
    already holding the finished training; starting over, replacing it; or training from
    epoch 1 with checkpoints in the folder. Written with ``tqdm.write``, so progress bars
    on the same terminal stay intact; only on the main process.
    """

    def __init__(self, label: str, resume: bool, stream: IO[str] | None = None) -> None:
        self.label, self.resume, self.stream = label, resume, stream

    def on_train_begin(self, trainer: TrainerView) -> None:
        folder = trainer.config.checkpoint_dir
        if folder is None or not trainer.is_main_process:
            return
        done, epochs = trainer.state.epochs_done, trainer.config.epochs
        if done >= epochs or (done and trainer.history.stopped_early):
            line = f"the checkpoint in {folder} holds its finished training ({done} epochs): nothing left to train"
        elif done:
            line = f"resuming at epoch {done + 1}/{epochs} from the checkpoint in {folder}"
        elif not self.resume and Path(folder).is_dir() and any(Path(folder).iterdir()):
            line = f"starting over at epoch 1/{epochs} (no resume), replacing the checkpoint in {folder}"
        else:
            line = f"training from epoch 1/{epochs}; a checkpoint after each epoch in {folder}"
        from tqdm import tqdm

        tqdm.write(f"tsseq: {self.label}: {line}", file=sys.stderr if self.stream is None else self.stream)
