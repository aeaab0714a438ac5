"""Training speed against torch's thread count, with and without another process holding a core.

torch's intra-op threads wait for each other at every operation, so when another process
holds one of the cores they run on, every step waits for the thread that is not running:
issue 13 measured the same segrnn epoch at 6,591 windows/s with one thread and 202 with
torch's default of one thread per core, on 2 cores with one busy. tsseq's default,
``training.threads`` None, is one less than the CPUs this process may use (affinity and
cgroup quota, :func:`tsseq.engine.device.resolve_threads`); ``--threads N`` on the
command line sets it.

Each measurement is one training epoch of ``segrnn`` (L=96, H=24, batch 32, on the
CPU) over the first ``--windows`` windows of the series: ETTh1's ``OT`` column (the
catalog: ``--data-dir``, else ``$TSSEQ_DATA_DIR``, else the cache) or, with
``--dataset synthetic`` (or when ETTh1 is unavailable), a seeded daily-and-weekly sine
with noise of the same length. Four conditions, in a rotated order within each repeat:

* 1 and 2 threads (``--threads-list``), each
* with nothing else running, and with a busy-loop process pinned to the first CPU of
  this process's affinity (started before the epoch, stopped after it).

Reported: windows per second (median and best of ``--repeats``), and each median as a
ratio to the one-thread, idle median, in one table.

    python pipelines/benchmarks/bench_threads.py [--dataset ETTh1|synthetic] [--windows 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq import registry
from tsseq.engine.device import resolve_threads, usable_cpus

INPUT_LENGTH, HORIZON, BATCH = 96, 24, 32
TRAIN_ROWS = 8640  # ETTh1's training rows


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ETTh1", "synthetic"], default="ETTh1")
    parser.add_argument("--data-dir", type=Path, help="where ETTh1 is (default: $TSSEQ_DATA_DIR, else the cache)")
    parser.add_argument("--windows", type=int, default=1024, help="training windows of the epoch (default 1024)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads-list", default="1,2", help="thread counts to compare (default 1,2)")
    return parser.parse_args()


def load_series(dataset: str, data_dir: Path | None, rows: int) -> tuple[pd.DataFrame, str]:
    index = pd.date_range("2016-07-01", periods=rows, freq="h")
    if dataset == "ETTh1":
        from tsseq.data.catalog import load
        from tsseq.errors import DatasetUnavailableError

        try:
            frame = load("ETTh1", data_dir=data_dir).frame[["OT"]].iloc[:TRAIN_ROWS].iloc[:rows]
            return frame, f"ETTh1 OT, first {len(frame)} rows"
        except DatasetUnavailableError as error:
            print(f"ETTh1 unavailable ({type(error).__name__}); synthetic data instead", file=sys.stderr)
    steps = np.arange(rows)
    noise = np.random.default_rng(0).normal(scale=0.2, size=rows)
    values = np.sin(2 * np.pi * steps / 24) + 0.5 * np.sin(2 * np.pi * steps / 168) + noise
    return pd.DataFrame({"OT": values}, index=index), f"synthetic daily + weekly sine, {rows} rows"


@contextmanager
def busy_core(cpu: int | None):
    """A busy-loop process pinned to ``cpu`` for the duration of the block (None: nothing)."""
    if cpu is None:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(process.pid, {cpu})
        time.sleep(0.3)  # let it start spinning
        yield
    finally:
        process.kill()
        process.wait()


def epoch_windows_per_second(frame: pd.DataFrame, threads: int) -> float:
    """Windows per second of one training epoch of segrnn at ``threads`` intra-op threads."""
    training = {"epochs": 1, "batch_size": BATCH, "threads": threads, "device": "cpu", "seed": 0, "progress": False}
    model = registry.create("segrnn", input_length=INPUT_LENGTH, horizon=HORIZON, validation_fraction=0.0,
                            training=training)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame)
    windows = len(frame) - INPUT_LENGTH - HORIZON + 1
    return windows / model.history_.epoch_time_s[0]


def main() -> None:
    args = parse_arguments()
    thread_counts = [int(item) for item in args.threads_list.split(",")]
    rows = args.windows + INPUT_LENGTH + HORIZON - 1
    frame, source = load_series(args.dataset, args.data_dir, rows)
    cpus = sorted(os.sched_getaffinity(0))
    conditions = [(threads, busy) for busy in (False, True) for threads in thread_counts]
    epoch_windows_per_second(frame, 1)  # warm-up: first-call costs of torch
    rates: dict[tuple[int, bool], list[float]] = {condition: [] for condition in conditions}
    for repeat in range(args.repeats):
        shift = repeat % len(conditions)
        for threads, busy in conditions[shift:] + conditions[:shift]:
            with busy_core(cpus[0] if busy else None):
                rates[threads, busy].append(epoch_windows_per_second(frame, threads))
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    reference = statistics.median(rates[thread_counts[0], False])
    windows = len(frame) - INPUT_LENGTH - HORIZON + 1
    print(f"segrnn (L={INPUT_LENGTH}, H={HORIZON}, batch {BATCH}, CPU), one epoch of {windows} windows of {source}; "
          f"{args.repeats} repeats")  # fmt: skip
    print(f"CPUs this process may use: {usable_cpus()} (affinity {cpus}); the busy process runs on CPU {cpus[0]}")
    print(f"{'threads':>7s}  {'competitor':18s} {'windows/s median':>17s} {'best':>8s} {'ratio':>7s}")
    for threads, busy in conditions:
        values = rates[threads, busy]
        competitor = "busy loop on 1 CPU" if busy else "none"
        median = statistics.median(values)
        print(f"{threads:7d}  {competitor:18s} {median:17.0f} {max(values):8.0f} {median / reference:7.2f}")
    print(f"ratio: to the {thread_counts[0]}-thread median with no competitor. "
          f"tsseq's default here: training.threads = {resolve_threads(None)}")


if __name__ == "__main__":
    main()
