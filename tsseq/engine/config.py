"""The training configuration: one frozen dataclass of plain values, validated once.

Plain fields (numbers, strings, booleans, None) so that MLflow can log
``dataclasses.asdict(config)``, Optuna can build trials with ``dataclasses.replace``,
and a YAML ``training:`` mapping converts to it one key per field.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields

from tsseq.base import check_positive_int
from tsseq.engine.distributions import DEFAULT_LEVELS, check_training_levels
from tsseq.engine.trimming import AUTO
from tsseq.errors import ConfigError, closest_match

OPTIMIZERS = ("adam", "adamw", "sgd")
LOSS_NAMES = ("mse", "mae", "quantile", "normal", "student_t", "negative_binomial")
LR_SCHEDULES = ("constant", "cosine", "step", "plateau")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DISTRIBUTED_MODES = ("auto", "off")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True, repr=False)
class TrainingConfig:
    """How :class:`~tsseq.engine.Trainer` trains a model.

    Parameters
    ----------
    epochs : int
        Passes over the training data.
    loss : {"mse", "mae", "quantile", "normal", "student_t", "negative_binomial"}
        The training (and validation) loss over observed targets, unless ``fit`` is given
        a loss callable. ``"mse"`` and ``"mae"`` train point forecasts (MAE is the choice of
        several published long-horizon recipes, e.g. SegRNN on ETT, even when the
        benchmark reports MSE); the others make the model's head predict a distribution
        per target value (:mod:`tsseq.engine.distributions`): quantiles with the pinball
        loss, or Normal, Student-t or negative binomial parameters by negative
        log-likelihood.
    quantiles : sequence of float
        The levels a ``"quantile"`` head predicts (at least two, increasing, in (0, 1));
        forecasts can be read at any level between the first and the last.
    batch_size : int
        Windows per optimizer step (:meth:`Trainer.fit`); :meth:`Trainer.fit_sequence`
        uses ``streams`` instead. Under distributed training it is the global batch: each
        of ``W`` processes takes ``batch_size / W`` windows of it (a multiple of ``W``).
    eval_batch_size : int, optional
        Windows per forward pass for validation and :meth:`Trainer.predict` (on each
        process); default ``batch_size``.
    learning_rate, weight_decay : float
        Step size (> 0) and L2 penalty (>= 0; decoupled for ``"adamw"``).
    optimizer : {"adam", "adamw", "sgd"}
    momentum : float
        SGD momentum in [0, 1) (ignored by Adam and AdamW).
    lr_schedule : {"constant", "cosine", "step", "plateau"}
        Learning rate per epoch: constant; cosine annealing from ``learning_rate`` to
        ``min_learning_rate`` over ``epochs``; multiplied by ``lr_decay`` every
        ``lr_step_epochs``; or multiplied by ``lr_decay`` when the monitored loss has not
        improved for ``lr_plateau_patience`` epochs (torch.optim.lr_scheduler).
    lr_step_epochs, lr_decay, lr_plateau_patience, min_learning_rate
        The schedules' parameters (``lr_decay`` in (0, 1)).
    lr_hold_epochs : int
        ``"step"`` only: epochs at ``learning_rate`` before the steps start counting, so
        epoch ``k`` runs at ``learning_rate * lr_decay ** (max(0, k - lr_hold_epochs) //
        lr_step_epochs)``. PatchTST's published recipe ("type3") is ``lr_hold_epochs=3``,
        ``lr_step_epochs=1``, ``lr_decay=0.9``.
    clip_norm : float, optional
        Rescale the gradients so that their global L2 norm is at most this.
    clip_value : float, optional
        Clamp every gradient element to ``[-clip_value, clip_value]``. At most one of the two.
    early_stopping_patience : int, optional
        Stop after this many epochs without improvement of the monitored loss (the
        validation loss, or the training loss without validation data) by more than
        ``min_delta``. None: never stop early.
    restore_best : bool
        At the end, load the weights of the epoch with the lowest monitored loss.
    shuffle, drop_last : bool
        How :class:`~tsseq.data.windows.BatchSampler` draws the training windows.
    tbptt_steps : int
        ``k1`` of truncated backpropagation through time (:meth:`Trainer.fit_sequence`):
        the time steps of one chunk; the weights are updated once per chunk.
    tbptt_backprop_steps : int, optional
        ``k2``: the time steps each update backpropagates through, a multiple of ``k1``
        (default ``k1``). Each update costs ``k2 / k1`` chunk forward and backward passes.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        Under distributed training ``"auto"`` and ``"cuda"`` mean ``cuda:LOCAL_RANK``.
    distributed : {"auto", "off"}
        ``"auto"``: train data-parallel with the other processes when launched by
        ``torchrun`` with more than one process (``WORLD_SIZE`` > 1) or when a default
        process group of several processes is initialised (:mod:`tsseq.engine.distributed`);
        ``"off"``: every process trains alone.
    precision : {"auto", "fp32", "bf16", "fp16"}
        ``"auto"``: mixed precision on CUDA (bf16 where supported, else fp16 with gradient
        scaling), fp32 on CPU. ``"bf16"`` on CPU autocasts to bfloat16; ``"fp16"`` needs CUDA.
    compile : bool
        Run the forward pass through :func:`torch.compile`.
    threads : int, optional
        torch's intra-op threads while training and predicting (on the CPU). None: one
        less than the CPUs this process may use (affinity and cgroup quota; at least 1),
        because a thread that another process preempts stalls every operation.
    seed : int, optional
        Seeds torch's global RNG (weight noise, dropout) and the batch sampler at the start
        of training. None: leave the RNG alone (not reproducible).
    checkpoint_dir : str, optional
        Write ``checkpoint_dir/last.pt`` after every epoch; needed for ``resume=True``.
    progress : bool, optional
        Show a progress bar (tqdm) on stderr; None: only when stderr is a terminal.
    trim_fraction : float or "auto"
        Robust training on data that is not clean (trimmed loss, small-loss selection;
        :mod:`tsseq.engine.trimming`): before each epoch after the warm-up, every training
        window's loss under the current weights is computed (eval mode, no gradients) and
        the ``floor(trim_fraction * N)`` windows of highest loss sit that epoch out. In
        [0, 0.5); 0 (the default) trains on every window; ``"auto"``: the windows whose
        loss is an outlier among all windows' losses sit out (at most a quarter).
        :meth:`Trainer.fit` only (not truncated BPTT); the dropped windows are recorded in
        ``TrainingHistory.trimmed``.
    trim_warmup_epochs : int
        Epochs trained on every window before trimming starts (>= 0, and below ``epochs``
        when trimming): the model must first fit the bulk of the data for the
        losses to single out what it does not explain.
    """

    epochs: int = 10
    loss: str = "mse"
    quantiles: tuple[float, ...] = DEFAULT_LEVELS
    batch_size: int = 32
    eval_batch_size: int | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.0
    lr_schedule: str = "constant"
    lr_step_epochs: int = 10
    lr_decay: float = 0.1
    lr_plateau_patience: int = 2
    lr_hold_epochs: int = 0
    min_learning_rate: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    shuffle: bool = True
    drop_last: bool = False
    tbptt_steps: int = 64
    tbptt_backprop_steps: int | None = None
    device: str = "auto"
    distributed: str = "auto"
    precision: str = "auto"
    compile: bool = False
    threads: int | None = None
    seed: int | None = 0
    checkpoint_dir: str | None = None
    progress: bool | None = None
    trim_fraction: float | str = 0.0
    trim_warmup_epochs: int = 1

    def __repr__(self) -> str:
        """The fields that differ from their defaults, as an estimator's repr shows its parameters.

        The dataclass's own repr lists all 33 fields, which buried an estimator's repr
        after ``set_params(training__epochs=3)``.
        """
        changed = (f"{field.name}={getattr(self, field.name)!r}" for field in fields(self)
                   if getattr(self, field.name) != field.default)  # fmt: skip
        return f"{type(self).__name__}({', '.join(changed)})"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lr_step_epochs", "lr_plateau_patience", "tbptt_steps"):
            check_positive_int(getattr(self, name), name)
        for name in ("eval_batch_size", "early_stopping_patience", "tbptt_backprop_steps", "threads"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.seed is not None:
            check_positive_int(self.seed, "seed", minimum=0)
        check_positive_int(self.lr_hold_epochs, "lr_hold_epochs", minimum=0)
        if self.lr_hold_epochs and self.lr_schedule != "step":
            raise ConfigError(
                f"'lr_hold_epochs' delays the 'step' schedule; lr_schedule is {self.lr_schedule!r}. "
                "Set lr_schedule='step' or lr_hold_epochs=0."
            )
        _check_float(self.learning_rate, "learning_rate", "> 0", lambda x: x > 0)
        _check_float(self.min_learning_rate, "min_learning_rate", ">= 0", lambda x: x >= 0)
        _check_float(self.weight_decay, "weight_decay", ">= 0", lambda x: x >= 0)
        _check_float(self.momentum, "momentum", "in [0, 1)", lambda x: 0 <= x < 1)
        _check_float(self.lr_decay, "lr_decay", "in (0, 1)", lambda x: 0 < x < 1)
        _check_float(self.min_delta, "min_delta", ">= 0", lambda x: x >= 0)
        for name in ("clip_norm", "clip_value"):
            if getattr(self, name) is not None:
                _check_float(getattr(self, name), name, "> 0 (or None: no clipping)", lambda x: x > 0)
        if self.clip_norm is not None and self.clip_value is not None:
            raise ConfigError(
                "Give at most one of 'clip_norm' (rescale the global gradient norm) and 'clip_value' "
                f"(clamp each element). Got clip_norm={self.clip_norm!r} and clip_value={self.clip_value!r}."
            )
        _check_choice(self.loss, "loss", LOSS_NAMES)
        object.__setattr__(self, "quantiles", check_training_levels(self.quantiles))  # lists from YAML -> tuple
        _check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        _check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        _check_choice(self.precision, "precision", PRECISIONS)
        _check_choice(self.distributed, "distributed", DISTRIBUTED_MODES)
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise ConfigError(
                f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'. Got {self.device!r} instead."
            )
        for name in ("restore_best", "shuffle", "drop_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"The {name!r} parameter must be True or False. Got {getattr(self, name)!r} instead.")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise ConfigError(f"The 'progress' parameter must be True, False or None. Got {self.progress!r} instead.")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            raise ConfigError(
                f"The 'checkpoint_dir' parameter must be a folder path or None. Got {self.checkpoint_dir!r} instead."
            )
        self._check_tbptt()
        self._check_trimming()

    @property
    def trims(self) -> bool:
        """Whether training windows of highest loss sit epochs out (``trim_fraction`` "auto" or > 0)."""
        return self.trim_fraction == AUTO or self.trim_fraction > 0

    def _check_trimming(self) -> None:
        if self.trim_fraction != AUTO:
            _check_float(self.trim_fraction, "trim_fraction", "in [0, 0.5) (0: no trimming), or 'auto'",
                         lambda x: 0 <= x < 0.5)  # fmt: skip
        check_positive_int(self.trim_warmup_epochs, "trim_warmup_epochs", minimum=0)
        if self.trims and self.trim_warmup_epochs >= self.epochs:
            raise ConfigError(
                f"The 'trim_warmup_epochs' parameter must be below 'epochs' ({self.epochs}) for trim_fraction="
                f"{self.trim_fraction} to drop anything: trimming starts after the warm-up. Got "
                f"{self.trim_warmup_epochs} instead."
            )

    def _check_tbptt(self) -> None:
        k1, k2 = self.tbptt_steps, self.backprop_steps
        if k2 < k1 or k2 % k1:
            raise ConfigError(
                f"The 'tbptt_backprop_steps' parameter (k2) must be a multiple of 'tbptt_steps' (k1={k1}), "
                f"e.g. {k1} or {2 * k1}: each update re-runs the k2 - k1 steps before its chunk from the state "
                f"saved at a chunk boundary. Got {k2} instead."
            )

    @property
    def backprop_steps(self) -> int:
        """``k2``: ``tbptt_backprop_steps``, or ``tbptt_steps`` when it is None."""
        return self.tbptt_steps if self.tbptt_backprop_steps is None else self.tbptt_backprop_steps

    @property
    def evaluation_batch_size(self) -> int:
        """``eval_batch_size``, or ``batch_size`` when it is None."""
        return self.batch_size if self.eval_batch_size is None else self.eval_batch_size


def _check_float(value: object, name: str, expected: str, accept) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not accept(value):
        raise ConfigError(f"The {name!r} parameter must be a number {expected}. Got {value!r} instead.")


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"The {name!r} parameter must be one of {', '.join(map(repr, choices))}. "
            f"Got {value!r} instead.{closest_match(str(value), choices)}"
        )
