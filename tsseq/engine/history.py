"""What training records: per-step losses and gradient norms, per-epoch summaries.

Every step keeps its loss and its gradient norm as 0-dim device tensors
(:class:`StepRecorder`), so the loop never waits for the GPU; the epoch's figures
reach the host in one copy at the end of the epoch, where a non-finite loss is found
and reported as :class:`TrainingDivergedError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from tsseq.errors import TsseqError

_ADVICE = (
    "Lower the learning rate, clip the gradients (TrainingConfig(clip_norm=1.0)), "
    "or check the data for huge or non-finite values."
)


class TrainingDivergedError(TsseqError, FloatingPointError):
    """The loss became NaN or infinite during training.

    A :class:`~tsseq.errors.TsseqError`: divergence comes from the caller's choices (a
    learning rate too high, no gradient clipping, unscaled or non-finite data), and
    the message says which epoch and batch and what to change. The last checkpoint
    written before it is kept: a diverged state is never saved.
    """


@dataclass
class TrainingHistory:
    """Figures of a training run; epoch ``e`` (counting from 0) is index ``e`` of the lists.

    ``grad_norm_*`` and ``step_grad_norms`` are global L2 norms of the gradients
    *before* clipping, so that exploding gradients stay visible when clipping hides
    them from the optimizer. ``val_loss`` is empty without validation data.
    ``best_epoch`` is the epoch of the lowest monitored loss (validation loss, else
    training loss), None before the first epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norm_mean: list[float] = field(default_factory=list)
    grad_norm_max: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    step_loss: list[list[float]] = field(default_factory=list)
    step_grad_norms: list[list[float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return len(self.train_loss)

    @property
    def monitored_loss(self) -> list[float]:
        """The loss early stopping and ``restore_best`` look at: validation, else training."""
        return self.val_loss if self.val_loss else self.train_loss

    @property
    def best_loss(self) -> float | None:
        return None if self.best_epoch is None else self.monitored_loss[self.best_epoch]

    def append_epoch(self, steps: EpochSteps, val_loss: float | None, learning_rate: float, seconds: float) -> None:
        """Add one finished epoch (``best_epoch`` and ``stopped_early`` are the trainer's to set)."""
        self.train_loss.append(steps.mean_loss)
        if val_loss is not None:
            self.val_loss.append(val_loss)
        self.learning_rate.append(learning_rate)
        self.grad_norm_mean.append(sum(steps.grad_norms) / len(steps.grad_norms))
        self.grad_norm_max.append(max(steps.grad_norms))
        self.epoch_time_s.append(seconds)
        self.step_loss.append(steps.losses)
        self.step_grad_norms.append(steps.grad_norms)

    def epoch_metrics(self) -> dict[str, float]:
        """The last epoch's figures, as callbacks' ``on_epoch_end`` receives them."""
        metrics = {"train_loss": self.train_loss[-1]}
        if self.val_loss:
            metrics["val_loss"] = self.val_loss[-1]
        metrics.update(
            lr=self.learning_rate[-1],
            grad_norm_mean=self.grad_norm_mean[-1],
            grad_norm_max=self.grad_norm_max[-1],
            epoch_time_s=self.epoch_time_s[-1],
            best_epoch=self.best_epoch,
        )
        return metrics

    def to_dict(self) -> dict:
        """Plain lists and numbers (what checkpoints and MLflow store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingHistory:
        return cls(**values)


@dataclass(frozen=True)
class EpochSteps:
    """One epoch's per-step figures on the host."""

    losses: list[float]
    grad_norms: list[float]
    weights: list[int]  # what each step's loss averages over (windows, or stream steps)

    @property
    def mean_loss(self) -> float:
        return sum(loss * weight for loss, weight in zip(self.losses, self.weights)) / sum(self.weights)


class StepRecorder:
    """Per-step loss and gradient norm of epoch ``epoch``, kept on the device, read back once.

    On the CPU, where reading a value costs no synchronisation, a non-finite loss stops
    training at once; on an accelerator it is found when the epoch ends (the steps
    after it are wasted, but no step waits for the device).
    """

    def __init__(self, n_steps: int, device: torch.device, epoch: int, epochs: int) -> None:
        self.losses: list[torch.Tensor] = []  # 0-dim device tensors: holding them launches no kernel
        self.grad_norms: list[torch.Tensor] = []
        self.weights: list[int] = []
        self.n_steps, self.epoch, self.epochs = n_steps, epoch, epochs
        self.check_each_step = device.type == "cpu"

    def check(self, loss: torch.Tensor) -> None:
        """Raise :class:`TrainingDivergedError` if ``loss`` is not finite (CPU only; else no-op)."""
        if self.check_each_step and not bool(torch.isfinite(loss)):
            raise diverged(float(loss.detach()), self.epoch, self.epochs, len(self.weights), self.n_steps)

    def record(self, loss: torch.Tensor, grad_norm: torch.Tensor, weight: int) -> None:
        """Keep the step's detached loss and gradient norm (no synchronisation)."""
        self.losses.append(loss)
        self.grad_norms.append(grad_norm)
        self.weights.append(weight)

    def finish(self) -> EpochSteps:
        """The epoch's steps on the host; raises :class:`TrainingDivergedError` on a non-finite loss."""
        figures = torch.stack([torch.stack(self.losses).float(), torch.stack(self.grad_norms).float()])
        losses, grad_norms = figures.tolist()  # the one synchronisation of the epoch
        for step, loss in enumerate(losses):
            if not math.isfinite(loss):
                raise diverged(loss, self.epoch, self.epochs, step, self.n_steps)
        return EpochSteps(losses, grad_norms, self.weights)


def diverged(loss: float, epoch: int, epochs: int, batch: int | None = None, batches: int = 0) -> TrainingDivergedError:
    """The error for a non-finite ``loss`` at ``epoch`` (and training ``batch``; None: validation)."""
    where = "the validation loss" if batch is None else f"the training loss of batch {batch} (of {batches})"
    return TrainingDivergedError(
        f"Training diverged: {where} was {loss} in epoch {epoch} (of {epochs}; epochs and batches count "
        f"from 0). {_ADVICE} The checkpoint of the last finished epoch, if any, is kept."
    )
