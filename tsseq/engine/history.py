"""What training records: per-step losses and gradient norms, per-epoch summaries.

Every step keeps its loss and its gradient norm as 0-dim device tensors
(:class:`StepRecorder`), so the loop never waits for the GPU; the epoch's figures
reach the host in one copy at the end of the epoch, where a non-finite loss is found
and reported as :class:`TrainingDivergedError`.

A loss can also diverge while staying finite (an LSTM under Adam at learning rate 1e6
forecasts millions for data near 10). :func:`exploded` catches it at the end of each
epoch: the monitored loss (validation, else training) more than :data:`EXPLOSION_FACTOR`
times both its best so far and the untrained model's (on the validation rows, or on the
first training batch if that is larger: a model that starts perfect on validation rows
of zeros keeps a scale). On the estimators' standardised scale the untrained model
scores about what predicting zero scores (an MSE near 1, a few on validation rows that
drifted), so the limit sits about 30 standard deviations of error away; the spikes of a merely high learning rate that training recovers from
stay within 2-50 times, while the runaway case is 1e8 times and more. Training stops
with :class:`TrainingDivergedError` rather than restoring the best weights: by then the
best epoch has usually diverged too (the first step at such a rate already does).
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
EXPLOSION_FACTOR = 1e3


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
    training loss), None before the first epoch. ``untrained_loss`` is the loss of the
    model before training, the scale :func:`exploded` judges against: the larger (in
    magnitude) of its validation loss before the first epoch and its loss on the first
    training batch (before any step). ``trimmed`` (only when
    ``TrainingConfig.trim_fraction`` is > 0 or "auto"): per epoch, the indices of the training windows
    that sat it out, highest loss first (empty in the warm-up; :mod:`tsseq.engine.trimming`).
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
    untrained_loss: float | None = None
    trimmed: list[list[int]] = field(default_factory=list)

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


def exploded(
    loss: float, history: TrainingHistory, epoch: int, epochs: int, validation: bool, learning_rate: float
) -> TrainingDivergedError | None:
    """The error for a finite monitored ``loss`` of ``epoch`` that ran away (module docstring), else None."""
    best = history.best_loss
    scale = max(abs(history.untrained_loss or 0.0), abs(best or 0.0), 1e-8)  # NLL losses may be negative
    if loss <= EXPLOSION_FACTOR * scale:
        return None
    which = "validation" if validation else "training"
    references = []
    if history.untrained_loss is not None:
        references.append(f"the untrained model's ({history.untrained_loss:.4g})")
    if best is not None:
        references.append(f"its best so far ({best:.4g}, epoch {history.best_epoch})")
    return TrainingDivergedError(
        f"Training diverged: the {which} loss was {loss:.4g} in epoch {epoch} (of {epochs}; counting from 0), more "
        f"than {EXPLOSION_FACTOR:g} times {' and '.join(references) or '1e-8'}, although finite. The learning rate ({learning_rate:g}) is probably too high: lower it, or clip the gradients "
        "(TrainingConfig(clip_norm=1.0)); or check the data for huge values. The checkpoint of the last finished "
        "epoch, if any, is kept."
    )
