"""The training engine every tsseq model shares.

Usage::

    from tsseq.data.windows import make_windows
    from tsseq.engine import Trainer, TrainingConfig

    train = make_windows(values, input_length=96, horizon=24, device="cuda")  # (T, C) -> windows on the GPU
    history = Trainer(TrainingConfig(epochs=20, clip_norm=1.0)).fit(model, train, validation)

* :class:`TrainingConfig` (:mod:`.config`): every training setting, one frozen dataclass;
* :class:`Trainer` (:mod:`.trainer`): ``fit`` (windows), ``fit_sequence`` (truncated
  BPTT over one long series, :mod:`.tbptt`), ``evaluate``, ``predict``;
* :class:`Callback` and :class:`ProgressBar` (:mod:`.callbacks`): hooks into the loop
  (MLflow tracking and Optuna pruning are callbacks);
* :class:`TrainingHistory` and :class:`TrainingDivergedError` (:mod:`.history`);
* robust training on contaminated data, ``TrainingConfig(trim_fraction=...)``: the
  windows of highest loss (a fixed fraction, or ``"auto"``: those whose loss is an
  outlier) sit each epoch out (:mod:`.trimming`);
* data-parallel training over processes started by ``torchrun``
  (:mod:`.distributed`: :func:`init_distributed`, :class:`DistributedContext`);
* checkpoints and resuming (:mod:`.checkpoint`, :class:`CheckpointMismatchError`),
  devices and precision (:mod:`.device`), losses
  (:mod:`.losses`), optimizers and schedules (:mod:`.optim`).
"""

from __future__ import annotations

from tsseq.engine.callbacks import Callback, ProgressBar
from tsseq.engine.checkpoint import CheckpointMismatchError
from tsseq.engine.config import TrainingConfig
from tsseq.engine.device import to_device
from tsseq.engine.distributed import DistributedContext, init_distributed
from tsseq.engine.history import TrainingDivergedError, TrainingHistory
from tsseq.engine.losses import masked_mae, masked_mse
from tsseq.engine.tbptt import Streams, detach_state, make_streams
from tsseq.engine.trainer import Trainer

__all__ = [
    "Callback",
    "CheckpointMismatchError",
    "DistributedContext",
    "ProgressBar",
    "Streams",
    "Trainer",
    "TrainingConfig",
    "TrainingDivergedError",
    "TrainingHistory",
    "detach_state",
    "init_distributed",
    "make_streams",
    "masked_mae",
    "masked_mse",
    "to_device",
]
