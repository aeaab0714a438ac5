"""Benchmark of tsseq.engine.Trainer against a bare PyTorch loop, and TBPTT against sliding windows.

Model: nn.LSTM 64 x 2 (batch_first) with a linear head on the last step predicting
H=24 values. Data: ETTh1 "S" (the OT column), train rows [0, 8640), standardised
with the train mean and standard deviation (from the catalog: ``--data-dir``, else
``$TSSEQ_DATA_DIR``, else the tsseq cache; a seeded random walk of the same length
when it is unavailable). L=96, batch 32.

1. Training windows per second of ``Trainer.fit`` (the whole call: one epoch over the
   first ``--batches`` batches of windows) and of a bare loop over pre-built window
   tensors (randperm, index, forward, backward, Adam step), paired repeats in ABBA
   order; medians, best runs and their ratios (the machine is shared: the best runs show the
   cost of the code, the medians what a busy machine gives). In both loops, hooks time
   forward, backward and optimizer step alike (:class:`WorkClock`); the rest of the
   epoch is each loop's own cost: its share of epoch time (the goal is < 5%).
2. One epoch of truncated BPTT (``Trainer.fit_sequence``, 32 streams, k1=96, with
   k2=k1 and k2=2 k1) over the same train series, next to one epoch of sliding-window
   training: each step of the series is run once per epoch in TBPTT, ``L`` times
   (once per window covering it) with windows.

With tsseq installed (``pip install -e .``):

    python pipelines/benchmarks/bench_engine.py [--repeats 10] [--batches 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from tsseq.data.catalog import load
from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import DatasetUnavailableError

from timing import Stopwatch, interleaved_repeats, median_and_best  # this folder's helper module

TRAIN_ROWS = 8640


class LSTMForecaster(nn.Module):
    """``(B, L, C) -> (B, H, C)``: LSTM, linear head on the last step's hidden state."""

    def __init__(self, channels: int, horizon: int, hidden_size: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        self.channels, self.horizon = channels, horizon
        self.lstm = nn.LSTM(channels, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon * channels)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(inputs)  # (B, L, hidden)
        return self.head(outputs[:, -1]).view(-1, self.horizon, self.channels)  # (B, H, C)


class StatefulLSTM(nn.Module):
    """The TBPTT contract: ``(inputs (B, k, C), state) -> (next-value predictions (B, k, C), state)``."""

    def __init__(self, channels: int, hidden_size: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, channels)

    def forward(self, inputs: torch.Tensor, state=None):
        outputs, state = self.lstm(inputs, state)  # (B, k, hidden)
        return self.head(outputs), state


class WorkClock:
    """Seconds spent in forward, backward and optimizer step, timed by hooks (identical for both loops).

    Forward: around the model's call (:class:`Timed`); backward: from the gradient of the
    model's output to the last parameter gradient accumulated; step: torch's global
    optimizer step pre- and post-hooks. Everything else in an epoch is the loop's own.
    """

    def __init__(self) -> None:
        self.work_s = 0.0
        self._backward_start = self._last_gradient = self._step_start = 0.0
        self._handles = []

    def __enter__(self) -> WorkClock:
        self._handles = [
            register_optimizer_step_pre_hook(self._step_begins),
            register_optimizer_step_post_hook(self._step_ends),
        ]
        return self

    def __exit__(self, *exception: object) -> None:
        for handle in self._handles:
            handle.remove()

    def watch(self, model: nn.Module) -> nn.Module:
        for parameter in model.parameters():
            self._handles.append(parameter.register_post_accumulate_grad_hook(self._gradient_ready))
        return Timed(model, self)

    def _backward_begins(self, gradient: torch.Tensor) -> None:
        self._backward_start = time.perf_counter()

    def _gradient_ready(self, parameter: torch.Tensor) -> None:
        self._last_gradient = time.perf_counter()

    def _step_begins(self, optimizer, args, kwargs) -> None:
        self._step_start = time.perf_counter()
        self.work_s += self._last_gradient - self._backward_start

    def _step_ends(self, optimizer, args, kwargs) -> None:
        self.work_s += time.perf_counter() - self._step_start


class Timed(nn.Module):
    """The wrapped model, its forward timed and its backward's start marked for a :class:`WorkClock`."""

    def __init__(self, model: nn.Module, clock: WorkClock) -> None:
        super().__init__()
        self.model, self.clock = model, clock

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with Stopwatch() as forward:
            outputs = self.model(inputs)
        self.clock.work_s += forward.seconds
        if outputs.requires_grad:
            outputs.register_hook(self.clock._backward_begins)
        return outputs


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $TSSEQ_DATA_DIR, then the tsseq cache")
    parser.add_argument("--input-length", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10, help="timed epochs of each loop, alternating")
    parser.add_argument("--batches", type=int, default=20, help="batches a timed epoch (0: the whole train split)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--streams", type=int, default=32, help="TBPTT: parallel streams")
    parser.add_argument("--tbptt-steps", type=int, default=96, help="TBPTT: k1")
    return parser.parse_args()


def load_train_series(data_dir: Path | None) -> tuple[np.ndarray, str]:
    """ETTh1 OT train rows ``(8640, 1)``, standardised with their own mean and std."""
    try:
        values = load("ETTh1", data_dir=data_dir).frame[["OT"]].to_numpy(dtype=np.float64)[:TRAIN_ROWS]
        source = "ETTh1 OT, rows [0, 8640)"
    except DatasetUnavailableError as error:  # no data here: same-sized random walk, so the timing still runs
        values = np.cumsum(np.random.default_rng(0).normal(size=(TRAIN_ROWS, 1)), axis=0)
        source = f"random walk of {TRAIN_ROWS} rows (ETTh1 unavailable: {type(error).__name__})"
    return (values - values.mean(0)) / values.std(0), source


def bare_epoch(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int):
    """One epoch of the plainest loop; returns (seconds, seconds in forward + backward + step)."""
    with WorkClock() as clock:
        timed = clock.watch(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(seed)
        with Stopwatch() as epoch:
            for indices in torch.randperm(len(inputs), generator=generator).split(batch_size):
                optimizer.zero_grad(set_to_none=True)
                nn.functional.mse_loss(timed(inputs[indices]), targets[indices]).backward()
                optimizer.step()
        return epoch.seconds, clock.work_s


def tsseq_epoch(model: nn.Module, windows, batch_size: int, seed: int):
    """One epoch of ``Trainer.fit`` (the whole call); returns (seconds, seconds in forward + backward + step)."""
    config = TrainingConfig(epochs=1, batch_size=batch_size, device="cpu", seed=seed, progress=False)
    with WorkClock() as clock:
        timed = clock.watch(model)
        with Stopwatch() as epoch:
            Trainer(config).fit(timed, windows)
        return epoch.seconds, clock.work_s


def bench_window_training(values: np.ndarray, args: argparse.Namespace) -> float:
    """Print the side-by-side figures; return tsseq's median seconds per window (for the TBPTT comparison)."""
    all_windows = make_windows(values, args.input_length, args.horizon)
    n = len(all_windows) if args.batches == 0 else min(len(all_windows), args.batches * args.batch_size)
    # The first n windows: an "epoch" of a fixed number of batches, short enough to repeat often.
    windows = make_windows(values[: n + args.input_length + args.horizon - 1], args.input_length, args.horizon)
    inputs, targets = windows.inputs.float().contiguous(), windows.targets.float().contiguous()  # pre-built
    torch.manual_seed(0)
    initial = LSTMForecaster(values.shape[1], args.horizon)
    bare_epoch(copy.deepcopy(initial), inputs, targets, args.batch_size, 0)  # warm-up: first calls load code paths
    tsseq_epoch(copy.deepcopy(initial), windows, args.batch_size, 0)
    size = args.batch_size
    runs = {  # paired repeats in ABBA order (bare first), so that drifting load hits both alike
        "bare PyTorch loop": lambda repeat: bare_epoch(copy.deepcopy(initial), inputs, targets, size, repeat),
        "tsseq Trainer.fit": lambda repeat: tsseq_epoch(copy.deepcopy(initial), windows, size, repeat),
    }
    results = interleaved_repeats(runs, args.repeats)  # name -> [(seconds, work seconds)] a repeat
    print(f"window training: {n} windows a timed epoch ({-(-n // args.batch_size)} steps), L={args.input_length}, "
          f"H={args.horizon}, batch {args.batch_size}; {args.repeats} paired repeats (ABBA)")
    summary = {}
    for name in ("tsseq Trainer.fit", "bare PyTorch loop"):
        summary[name] = median_and_best([seconds for seconds, _ in results[name]])
        outside = [1 - work / total for total, work in results[name]]
        print(f"  {name:18s} windows/s median {n / summary[name][0]:6.0f}  best {n / summary[name][1]:6.0f}   "
              f"share of epoch outside forward/backward/step: median {statistics.median(outside):5.1%}")
    (tsseq_median, tsseq_best), (bare_median, bare_best) = summary["tsseq Trainer.fit"], summary["bare PyTorch loop"]
    pairs = zip(results["tsseq Trainer.fit"], results["bare PyTorch loop"])
    paired = statistics.median(bare[0] / tsseq[0] for tsseq, bare in pairs)
    print(f"  tsseq / bare throughput: {paired:.3f} (median of paired repeats), {bare_median / tsseq_median:.3f} "
          f"(ratio of medians), {bare_best / tsseq_best:.3f} (best runs)")
    return tsseq_median / n


def bench_tbptt(values: np.ndarray, args: argparse.Namespace, seconds_per_window: float) -> None:
    k1 = args.tbptt_steps
    steps = (len(values) - 1) // args.streams
    print(f"truncated BPTT: {args.streams} streams of {steps} steps, k1={k1} "
          f"({-(-steps // k1)} updates an epoch); medians of {args.repeats} epochs")
    n_windows = len(values) - args.input_length - args.horizon + 1
    window_epoch_s = seconds_per_window * n_windows
    print(f"  sliding windows           epoch {window_epoch_s:6.2f} s   "
          f"{n_windows * args.input_length / window_epoch_s:9.0f} input steps/s (each step run {args.input_length}x; "
          f"{n_windows} windows at the rate above)")
    for backprop_steps in (k1, 2 * k1):
        times = []
        for repeat in range(args.repeats):
            torch.manual_seed(0)
            model = StatefulLSTM(values.shape[1])
            config = TrainingConfig(
                epochs=1, device="cpu", seed=repeat, progress=False, tbptt_steps=k1, tbptt_backprop_steps=backprop_steps
            )
            with Stopwatch() as epoch:
                Trainer(config).fit_sequence(model, values, streams=args.streams)
            times.append(epoch.seconds)
        seconds = statistics.median(times)
        print(f"  TBPTT k2={backprop_steps:<4d}            epoch {seconds:6.2f} s   "
              f"{args.streams * steps / seconds:9.0f} series steps/s   ({window_epoch_s / seconds:5.1f}x faster "
              f"an epoch than sliding windows)")


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    values, source = load_train_series(args.data_dir)
    print("command: python " + shlex.join(sys.argv))
    print(f"data: {source}; torch {torch.__version__}, {args.threads} threads, CPU, fp32")
    seconds_per_window = bench_window_training(values, args)
    bench_tbptt(values, args, seconds_per_window)


if __name__ == "__main__":
    main()
