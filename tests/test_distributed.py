"""Data-parallel training (tsseq.engine.distributed): two gloo processes train like one.

The two processes are started as torchrun starts them (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` in the environment) and each trains
with ``TrainingConfig(distributed="auto")``, the default; the same function trains
once in this process alone, and the results are compared.
"""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import tsseq
from tsseq.data.windows import BatchSampler, make_windows
from tsseq.engine import Callback, ProgressBar, Trainer, TrainingConfig, init_distributed
from tsseq.engine.distributed import ShardedBatches, launch_context
from tsseq.errors import ConfigError

WORLD_SIZE = 2
INPUT_LENGTH, HORIZON, BATCH = 12, 3, 16
# The last global batch holds 3 windows (shares of 2 and 1, their losses scaled by 4/3 and 2/3), or 1 (the
# second process's share is empty: it runs a stand-in window with scale 0).
TRAIN_WINDOWS = {"windows": 5 * BATCH + 3, "windows_last_one": 5 * BATCH + 1}
VALIDATION_WINDOWS = 21  # shares of 11 and 10 windows
SEQUENCE_CONFIG = {"epochs": 2, "tbptt_steps": 16, "learning_rate": 0.01, "device": "cpu", "progress": False}


class LSTMForecaster(nn.Module):
    """``(B, L, 1) -> (B, H, 1)``: an LSTM and a linear head on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.head = nn.Linear(8, HORIZON)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(inputs)  # (B, L, 8)
        return self.head(outputs[:, -1]).unsqueeze(-1)  # (B, H, 1)


class StatefulGRU(nn.Module):
    """The TBPTT contract: ``(inputs (B, k, 1), state) -> (outputs (B, k, 1), state)``."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(1, 6, batch_first=True)
        self.head = nn.Linear(6, 1)

    def forward(self, inputs: torch.Tensor, state=None):
        outputs, state = self.gru(inputs, state)  # (B, k, 6)
        return self.head(outputs), state


class SeenBy(Callback):
    """Records what a callback sees of the process: rank, world size, main or not, epoch metrics."""

    def __init__(self) -> None:
        self.process: tuple | None = None
        self.metrics: list[dict] = []

    def on_train_begin(self, trainer):
        self.process = (trainer.rank, trainer.world_size, trainer.is_main_process)

    def on_epoch_end(self, trainer, epoch, metrics):
        self.metrics.append(metrics)


def series(rows: int, seed: int) -> np.ndarray:
    """``(rows, 1)`` float32: a noisy daily sine."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    return (np.sin(2 * np.pi * steps / 24) + 0.2 * rng.standard_normal(rows)).astype(np.float32)[:, None]


def train_windows(checkpoint_dir: Path, n_windows: int, **training) -> dict:
    """Train the LSTM on windows (shuffled, clipped, validated); what the comparison needs."""
    window = INPUT_LENGTH + HORIZON
    values = series(n_windows + window - 1, seed=1)
    if training.get("trim_fraction"):
        values[[20, 50]] += 8.0  # outliers: the windows reading them sit epochs out
    train = make_windows(values, INPUT_LENGTH, HORIZON)
    validation = make_windows(series(VALIDATION_WINDOWS + window - 1, seed=2), INPUT_LENGTH, HORIZON)
    torch.manual_seed(0)
    model = LSTMForecaster()
    config = TrainingConfig(
        epochs=3, batch_size=BATCH, learning_rate=0.01, clip_norm=2.0, device="cpu", progress=False,
        checkpoint_dir=str(checkpoint_dir), **training,
    )
    stream, seen = io.StringIO(), SeenBy()
    history = Trainer(config, [ProgressBar(stream), seen]).fit(model, train, validation)
    return {
        "history": history.to_dict(),
        "weights": model.state_dict(),
        "progress": stream.getvalue(),
        "process": seen.process,
        "metrics": seen.metrics,
    }


def train_sequence() -> dict:
    """Truncated BPTT over 4 streams (2 per process), validated on one stream."""
    torch.manual_seed(0)
    model = StatefulGRU()
    history = Trainer(TrainingConfig(**SEQUENCE_CONFIG)).fit_sequence(
        model, series(161, seed=3), series(65, seed=4), streams=4
    )
    return {"history": history.to_dict(), "weights": model.state_dict()}


def fit_estimator() -> dict:
    """An LSTM estimator's fit (its own validation split)."""
    index = pd.date_range("2000-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"load": series(200, seed=5)[:, 0].astype(np.float64)}, index=index)
    training = {"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False}
    model = tsseq.create("lstm", input_length=24, horizon=4, hidden_size=8, training=training).fit(frame)
    return {"weights": model.module_.state_dict(), "train_loss": model.history_.train_loss}


def _process(rank: int, port: int, folder: str) -> None:
    """One of the processes torchrun would start (``torch.multiprocessing.spawn`` passes ``rank``)."""
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
    )
    torch.save(run_all(Path(folder), str(rank)), Path(folder) / f"rank-{rank}.pt")
    torch.distributed.destroy_process_group()


def run_all(folder: Path, name: str) -> dict:
    results = {kind: train_windows(folder / f"{kind}-{name}", n) for kind, n in TRAIN_WINDOWS.items()}
    # "auto" trimming: how many windows sit out depends on float losses, so rank 0's choice is the one.
    results["trimmed"] = train_windows(folder / f"trimmed-{name}", TRAIN_WINDOWS["windows"], trim_fraction="auto")
    return {**results, "sequence": train_sequence(), "estimator": fit_estimator()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Results of each of the two processes (``0``, ``1``) and of one process alone (``"alone"``)."""
    folder = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_process, args=(free_port(), str(folder)), nprocs=WORLD_SIZE, join=True)
    results = {rank: torch.load(folder / f"rank-{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)}
    results["alone"] = run_all(folder, "alone")
    results["folder"] = folder
    return results


def assert_same_weights(first: dict, second: dict, exact: bool) -> None:
    assert first.keys() == second.keys()
    for name in first:
        if exact:
            assert torch.equal(first[name], second[name]), name
        else:
            torch.testing.assert_close(first[name], second[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", [*TRAIN_WINDOWS, "trimmed", "sequence"])
def test_two_processes_train_like_one(runs, kind):
    first, second, alone = runs[0][kind], runs[1][kind], runs["alone"][kind]
    assert first["history"]["trimmed"] == second["history"]["trimmed"] == alone["history"]["trimmed"]
    # The processes agree exactly: averaged gradients, all-reduced losses.
    assert first["history"]["train_loss"] == second["history"]["train_loss"]
    assert first["history"]["val_loss"] == second["history"]["val_loss"]
    assert first["history"]["step_loss"] == second["history"]["step_loss"]
    assert first["history"]["best_epoch"] == second["history"]["best_epoch"]
    assert_same_weights(first["weights"], second["weights"], exact=True)
    # ... and with one process taking the same global batches, up to float rounding.
    for figure in ("train_loss", "val_loss", "grad_norm_max"):
        np.testing.assert_allclose(first["history"][figure], alone["history"][figure], rtol=1e-5)
    for figure in ("step_loss", "step_grad_norms"):  # pre-clip norms: the averaged gradient is the global one
        np.testing.assert_allclose(
            np.concatenate(first["history"][figure]), np.concatenate(alone["history"][figure]), rtol=1e-5
        )
    assert first["history"]["best_epoch"] == alone["history"]["best_epoch"]
    assert_same_weights(first["weights"], alone["weights"], exact=False)


def test_trimmed_training_drops_the_same_windows_on_every_process(runs):
    trimmed = runs[0]["trimmed"]["history"]["trimmed"]
    assert trimmed[0] == [] and all(dropped for dropped in trimmed[1:])  # after the warm-up epoch


def test_the_loss_curve_is_the_global_one(runs):
    history = runs[0]["windows"]["history"]
    assert len(history["step_loss"][0]) == 6  # 5 full global batches and a smaller one
    assert history["train_loss"][1] < history["train_loss"][0]  # it learns


def test_only_the_main_process_writes(runs):
    folder = runs["folder"]
    assert sorted(path.name for path in (folder / "windows-0").iterdir()) == ["last.pt"]
    assert not (folder / "windows-1").exists()
    assert "epoch 3/3" in runs[0]["windows"]["progress"]
    assert runs[1]["windows"]["progress"] == ""


def test_callbacks_run_on_every_process_with_the_same_metrics(runs):
    assert runs[0]["windows"]["process"] == (0, WORLD_SIZE, True)
    assert runs[1]["windows"]["process"] == (1, WORLD_SIZE, False)
    assert runs["alone"]["windows"]["process"] == (0, 1, True)
    strip_time = [{k: v for k, v in m.items() if k != "epoch_time_s"} for m in runs[0]["windows"]["metrics"]]
    assert strip_time == [{k: v for k, v in m.items() if k != "epoch_time_s"} for m in runs[1]["windows"]["metrics"]]


def test_an_estimator_fits_under_torchrun(runs):
    assert runs[0]["estimator"]["train_loss"] == runs[1]["estimator"]["train_loss"]
    assert_same_weights(runs[0]["estimator"]["weights"], runs[1]["estimator"]["weights"], exact=True)
    assert_same_weights(runs[0]["estimator"]["weights"], runs["alone"]["estimator"]["weights"], exact=False)


@pytest.mark.parametrize("windows", [14, 47, 48])
def test_shards_partition_each_global_batch(windows):
    batch_size, world_size = 6, 3
    batches = list(BatchSampler(windows, batch_size, seed=7))
    shards = [list(ShardedBatches(BatchSampler(windows, batch_size, seed=7), rank, world_size)) for rank in range(3)]
    for step, batch in enumerate(batches):
        parts = [shards[rank][step] for rank in range(world_size)]
        taken = torch.cat([part.indices for part in parts if part.windows])
        assert torch.equal(taken, batch)  # disjoint contiguous shares, in order
        # DDP's mean over processes of scale_r * (mean loss of share r) weighs every window 1 / len(batch).
        for part in parts:
            if part.windows:
                assert part.loss_scale / (world_size * part.windows) == pytest.approx(1 / len(batch))
        assert sum(part.loss_scale for part in parts) / world_size == pytest.approx(1.0)
        for part in parts:
            assert len(part.indices) >= 1  # an empty share runs one stand-in window with scale 0
            assert part.loss_scale == (0.0 if part.windows == 0 else part.windows * world_size / len(batch))


@pytest.fixture
def torchrun_environment(monkeypatch):
    """The environment torchrun gives rank 0 of 2 (no process group is started by the tests using it)."""
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)


def test_the_global_batch_must_split_evenly(torchrun_environment):
    windows = make_windows(series(40, seed=0), INPUT_LENGTH, HORIZON)
    with pytest.raises(ConfigError, match=r"'batch_size' is global.*multiple of 2\. Got batch_size=15"):
        Trainer(TrainingConfig(batch_size=15, device="cpu", progress=False)).fit(LSTMForecaster(), windows)
    with pytest.raises(ConfigError, match=r"'streams' is global.*multiple of 2\. Got streams=3"):
        Trainer(TrainingConfig(**SEQUENCE_CONFIG)).fit_sequence(StatefulGRU(), series(40, seed=0), streams=3)
    with pytest.raises(ConfigError, match="needs TrainingConfig\\(seed=...\\)"):
        Trainer(TrainingConfig(seed=None, device="cpu", progress=False)).fit(LSTMForecaster(), windows)


def test_distributed_off_trains_alone_under_torchrun(torchrun_environment):
    trainer = Trainer(TrainingConfig(distributed="off", device="cpu"))
    assert (trainer.distributed, trainer.rank, trainer.world_size, trainer.is_main_process) == (None, 0, 1, True)
    assert Trainer(TrainingConfig(device="cpu")).world_size == 2


def test_each_process_trains_on_its_own_device(torchrun_environment):
    with pytest.raises(ConfigError, match=r"each process trains on its own GPU, cuda:LOCAL_RANK \(here cuda:0\)"):
        Trainer(TrainingConfig(device="cuda:1"))


def test_the_process_group_it_starts_is_destroyed_at_exit(torchrun_environment, monkeypatch):
    # Its connections closed before the interpreter's teardown, not during it.
    from tsseq.engine import distributed

    at_exit, real_init = [], torch.distributed.init_process_group

    def one_process_group(backend, rank, world_size):  # rank 0 of 2 as torchrun says, started as a group of one
        assert (backend, rank, world_size) == ("gloo", 0, 2)
        real_init(backend, store=torch.distributed.HashStore(), rank=0, world_size=1)

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")  # unused: the group of one meets in a HashStore
    monkeypatch.setattr(torch.distributed, "init_process_group", one_process_group)
    monkeypatch.setattr(distributed.atexit, "register", at_exit.append)
    assert init_distributed("gloo").rank == 0 and torch.distributed.is_initialized()
    assert at_exit == [distributed.destroy_at_exit]
    at_exit[0]()
    assert not torch.distributed.is_initialized()
    at_exit[0]()  # a group the script destroyed itself: nothing to do


def test_a_world_size_without_a_rank_is_an_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ConfigError, match="WORLD_SIZE=2 is set but RANK is not"):
        launch_context("auto")
    assert launch_context("off") is None


def test_the_distributed_setting_is_checked():
    with pytest.raises(ConfigError, match="'distributed' parameter must be one of 'auto', 'off'"):
        TrainingConfig(distributed="on")
