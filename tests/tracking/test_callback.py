"""MlflowCallback: one step per epoch, the engine's figures, rank 0 only."""

from __future__ import annotations

import pytest
import torch.distributed
from mlflow import MlflowClient

from tsseq import create
from tsseq.errors import ConfigError
from tsseq.tracking import MlflowCallback, tracked_run


def _lstm(epochs: int = 3):
    return create("lstm", input_length=24, horizon=6, hidden_size=8, training={"epochs": epochs, "batch_size": 64, "seed": 0})


def test_every_epoch_is_logged_with_step_equal_to_the_epoch(store_uri, hourly):
    lstm = _lstm()
    with tracked_run(experiment="callback", tracking_uri=store_uri) as run:
        lstm.fit(hourly, callbacks=[MlflowCallback()])  # the active run
    client, history = MlflowClient(store_uri), lstm.history_
    for key, values in {"train_loss": history.train_loss, "val_loss": history.val_loss, "lr": history.learning_rate,
                        "grad_norm_mean": history.grad_norm_mean, "grad_norm_max": history.grad_norm_max}.items():
        logged = client.get_metric_history(run.run_id, key)
        assert [metric.step for metric in logged] == [0, 1, 2]
        assert [metric.value for metric in logged] == pytest.approx(values, rel=1e-12)
    assert client.get_run(run.run_id).data.tags["tsseq.best_epoch"] == str(history.best_epoch)


def test_a_finished_history_logs_the_same_metrics_as_the_live_callback(store_uri, hourly):
    lstm = _lstm(epochs=2)
    with tracked_run(experiment="callback", tracking_uri=store_uri) as live:
        lstm.fit(hourly, callbacks=[live.callback()])
    with tracked_run(experiment="callback", tracking_uri=store_uri) as afterwards:
        afterwards.log_history(lstm.history_)
    client = MlflowClient(store_uri)
    for key in ("train_loss", "val_loss", "lr", "grad_norm_max"):
        assert [(m.step, m.value) for m in client.get_metric_history(live.run_id, key)] == [
            (m.step, m.value) for m in client.get_metric_history(afterwards.run_id, key)
        ]


class _Trainer:
    """What the callback reads of a trainer; ``is_main_process`` as the distributed engine sets it."""

    def __init__(self, **attributes) -> None:
        self.__dict__.update(attributes)


EPOCH = {"train_loss": 1.0, "lr": 0.1, "grad_norm_mean": 1.0, "grad_norm_max": 2.0, "epoch_time_s": 0.5, "best_epoch": 0}


@pytest.mark.parametrize("distributed_rank", [None, 1])
def test_ranks_other_than_0_log_nothing(store_uri, monkeypatch, distributed_rank):
    if distributed_rank is None:  # the engine says so
        trainer = _Trainer(is_main_process=False)
    else:  # a process group says so
        monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: distributed_rank)
        trainer = _Trainer()
    with tracked_run(experiment="callback", tracking_uri=store_uri) as run:
        callback = run.callback()
        callback.on_train_begin(trainer)
        callback.on_epoch_end(trainer, 0, EPOCH)
    assert MlflowClient(store_uri).get_run(run.run_id).data.metrics == {}
    monkeypatch.undo()
    with tracked_run(experiment="callback", tracking_uri=store_uri) as rank0:
        callback = rank0.callback()
        callback.on_train_begin(_Trainer(is_main_process=True))
        callback.on_epoch_end(_Trainer(is_main_process=True), 0, EPOCH)
    assert MlflowClient(store_uri).get_run(rank0.run_id).data.metrics["grad_norm_max"] == 2.0


def test_without_a_run_the_callback_says_what_to_do(hourly):
    with pytest.raises(ConfigError, match="MlflowCallback has no run to log to"):
        _lstm(epochs=1).fit(hourly, callbacks=[MlflowCallback()])
