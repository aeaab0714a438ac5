"""Training speed of peer libraries' LSTM forecasters on the configuration of tsseq's engine benchmark.

ETTh1 OT, train rows [0, 8640) standardised with their own statistics, L=96, H=24, LSTM
hidden 64 x 2 layers, batch 32, 2 threads, CPU: the training windows per second of one
epoch of Darts' BlockRNNModel and RNNModel, beside tsseq's ``Trainer.fit`` and a bare
PyTorch loop timed in the same process, so that the ratios compare like with like.
Peers missing from the environment are skipped with a line saying so; install them in
a separate virtual environment (torch==2.13.0 first), e.g.::

    python -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0 darts pytorch-lightning
    /tmp/peers/bin/pip install -e . && /tmp/peers/bin/python pipelines/benchmarks/bench_peers.py
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import warnings

import numpy as np
import torch
from torch import nn

from timing import Stopwatch
from tsseq.data.catalog import load
from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig

INPUT_LENGTH, HORIZON, HIDDEN, LAYERS, BATCH = 96, 24, 64, 2, 32


class LastStepLSTM(nn.Module):
    """nn.LSTM 64 x 2 and a linear head on the last step: ``(B, L, 1) -> (B, H, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, HORIZON)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(inputs)  # (B, L, H)
        return self.head(outputs[:, -1]).unsqueeze(-1)  # (B, H, 1)


def train_series(data_dir: str | None) -> np.ndarray:
    values = load("ETTh1", data_dir=data_dir).frame["OT"].to_numpy(np.float32)[:8640]
    return (values - values.mean()) / values.std()


def tsseq_epoch(series: np.ndarray, seed: int) -> float:
    windows = make_windows(series[:, None], INPUT_LENGTH, HORIZON)
    torch.manual_seed(seed)
    trainer = Trainer(TrainingConfig(epochs=1, batch_size=BATCH, device="cpu", seed=seed, progress=False))
    with Stopwatch() as watch:
        trainer.fit(LastStepLSTM(), windows)
    return len(windows) / watch.seconds


def bare_epoch(series: np.ndarray, seed: int) -> float:
    windows = make_windows(series[:, None], INPUT_LENGTH, HORIZON)
    inputs, targets = windows.inputs.contiguous(), windows.targets.contiguous()
    torch.manual_seed(seed)
    model = LastStepLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with Stopwatch() as watch:
        for batch in torch.randperm(len(inputs)).split(BATCH):
            loss = nn.functional.mse_loss(model(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return len(inputs) / watch.seconds


def darts_epoch(series: np.ndarray, seed: int, model_name: str) -> float:
    from darts import TimeSeries
    from darts.models import BlockRNNModel, RNNModel

    common = dict(
        input_chunk_length=INPUT_LENGTH,
        hidden_dim=HIDDEN,
        n_rnn_layers=LAYERS,
        batch_size=BATCH,
        n_epochs=1,
        random_state=seed,
        pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False, "logger": False, "enable_model_summary": False},
    )
    if model_name == "BlockRNNModel":
        model = BlockRNNModel(model="LSTM", output_chunk_length=HORIZON, **common)
        windows = len(series) - INPUT_LENGTH - HORIZON + 1
    else:  # RNNModel trains one-step-ahead on sequences of input_chunk_length (training_length)
        model = RNNModel(model="LSTM", training_length=INPUT_LENGTH, **common)
        windows = len(series) - INPUT_LENGTH
    target = TimeSeries.from_values(series.astype(np.float32))
    with Stopwatch() as watch:
        model.fit(target)
    return windows / watch.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $TSSEQ_DATA_DIR, then the tsseq cache")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per library (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    series = train_series(args.data_dir)
    print(f"ETTh1 OT train rows [0, 8640), L={INPUT_LENGTH}, H={HORIZON}, LSTM {HIDDEN}x{LAYERS}, batch {BATCH}, "
          f"{args.threads} threads, CPU; median of {args.repeats} one-epoch runs")
    runs = {"bare PyTorch loop": bare_epoch, "tsseq Trainer.fit": tsseq_epoch}
    if importlib.util.find_spec("darts") is not None:
        runs["Darts BlockRNNModel"] = lambda s, seed: darts_epoch(s, seed, "BlockRNNModel")
        runs["Darts RNNModel"] = lambda s, seed: darts_epoch(s, seed, "RNNModel")
    else:
        print("Darts is not installed in this environment: skipped (see the module docstring)")
    rates = {name: [] for name in runs}
    for repeat in range(args.repeats):  # libraries interleaved, so load changes hit them alike
        for name, epoch in runs.items():
            rates[name].append(epoch(series, repeat))
    bare = statistics.median(rates["bare PyTorch loop"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:22s} windows/s median {median:7.0f}  ({median / bare:.3f} of the bare loop)")


if __name__ == "__main__":
    main()
