"""An engine callback that logs each epoch of training to an MLflow run.

Per epoch (``step`` = the epoch, counting from 0): ``train_loss``, ``val_loss`` (with
validation data), ``lr``, ``grad_norm_mean``, ``grad_norm_max`` (global L2 norms
before clipping) and ``epoch_time_s``, in one ``log_batch`` call, so a remote server
costs one request per epoch and nothing per step. Under ``torch.distributed`` only
rank 0 logs; the other ranks' callbacks do nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tsseq.engine.callbacks import Callback
from tsseq.errors import ConfigError
from tsseq.signals import deferred

if TYPE_CHECKING:
    from tsseq.engine.history import TrainingHistory
    from tsseq.engine.trainer import Trainer

# Metric name -> the TrainingHistory list it comes from (also what on_epoch_end's metrics are called).
EPOCH_METRICS = {
    "train_loss": "train_loss",
    "val_loss": "val_loss",
    "lr": "learning_rate",
    "grad_norm_mean": "grad_norm_mean",
    "grad_norm_max": "grad_norm_max",
    "epoch_time_s": "epoch_time_s",
}


def is_logging_rank() -> bool:
    """False on the ranks other than 0 of an initialised ``torch.distributed`` process group."""
    import torch.distributed as distributed

    return not (distributed.is_available() and distributed.is_initialized() and distributed.get_rank() != 0)


class MlflowCallback(Callback):
    """Log every epoch's figures to MLflow run ``run_id`` (default: the run active when training begins).

    Parameters
    ----------
    run_id : str, optional
        The run to log to; default: ``mlflow.active_run()`` at ``on_train_begin``.
    tracking_uri : str, optional
        Its store; default: MLflow's current tracking URI.
    prefix : str
        Put before every metric name, e.g. ``"fine_tune/"`` for a second phase.
    """

    def __init__(self, run_id: str | None = None, *, tracking_uri: str | None = None, prefix: str = "") -> None:
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.prefix = prefix
        self._client = None
        self._run_id: str | None = None
        self.logged_epochs: list[int] = []  # what is in the run already (a job logs the rest of a resumed history)

    def on_train_begin(self, trainer: Trainer) -> None:
        import mlflow

        if not (getattr(trainer, "is_main_process", True) and is_logging_rank()):
            self._client = None
            return
        run_id = self.run_id
        if run_id is None:
            active = mlflow.active_run()
            if active is None:
                raise ConfigError(
                    "MlflowCallback has no run to log to: pass run_id, or train inside tsseq.tracking.tracked_run(...) "
                    "(or mlflow.start_run())."
                )
            run_id = active.info.run_id
        self._client, self._run_id = mlflow.MlflowClient(self.tracking_uri), run_id

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        if self._client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(f"{self.prefix}{name}", float(metrics[name]), now, epoch)
            for name in EPOCH_METRICS
            if metrics.get(name) is not None
        ]
        with deferred():  # a signal must not cut the store's write in half (the run must still end KILLED after it)
            self._client.log_batch(self._run_id, metrics=items)
        self.logged_epochs.append(epoch)

    def on_train_end(self, trainer: Trainer, history: TrainingHistory) -> None:
        if self._client is not None and history.best_epoch is not None:
            self._client.set_tag(self._run_id, f"tsseq.{self.prefix}best_epoch", str(history.best_epoch))
