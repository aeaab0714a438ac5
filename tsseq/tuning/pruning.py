"""Pruning as an engine callback: report each epoch's validation loss, stop a hopeless trial.

:class:`PruningCallback` is given to ``estimator.fit(..., callbacks=[...])``. At the
end of every epoch it reports the monitored loss (the validation loss, or the training
loss when there is no validation data) to the Optuna trial at step ``epoch``, and asks
the study's pruner whether the trial is worse than the others were at that epoch; if
so it raises ``optuna.TrialPruned``, which leaves ``fit`` at once (the engine's
callbacks see it in ``on_exception``) and ends the trial PRUNED.
"""

from __future__ import annotations

from typing import Any

from tsseq.engine import Callback
from tsseq.signals import deferred


class PruningCallback(Callback):
    """Report the per-epoch loss to ``trial``; raise ``optuna.TrialPruned`` when the pruner says so.

    Attributes
    ----------
    epochs_reported : int
        Epochs reported so far (the trial's cost in epochs, pruned or not).
    """

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.epochs_reported = 0

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, float]) -> None:
        import optuna

        loss = metrics.get("val_loss", metrics["train_loss"])
        with deferred():  # a signal must not cut the study storage's write in half: acted on after it
            self.trial.report(float(loss), epoch)
        self.epochs_reported += 1
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned after epoch {epoch + 1}/{trainer.config.epochs}: loss {loss:.6g}"
            )
