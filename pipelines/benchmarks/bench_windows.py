"""Benchmark of tsseq.data.windows on ETTh1-sized data: building windows, memory, batch gathering.

Building all windows of a (17420, 7) series with L=96, H=96 should take well under a
millisecond and hold no copy of the data (the windows are views of the series), and
gathering batches of 32 windows should run at tens of thousands of batches per second.
Uses ETTh1 from the catalog (``tsseq.data.catalog.load("ETTh1")``: ``--data-dir``, else
``$TSSEQ_DATA_DIR``, else the tsseq cache) when it is available, otherwise seeded random
data of the same shape. With tsseq installed (``pip install -e .``):

    python pipelines/benchmarks/bench_windows.py [--repeats 2000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from tsseq.data.catalog import load
from tsseq.data.windows import BatchSampler, make_multi_series_windows, make_windows
from tsseq.errors import DatasetUnavailableError

from timing import Stopwatch, median_seconds  # this folder's helper module

ETTH1_SHAPE = (17420, 7)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $TSSEQ_DATA_DIR, then the tsseq cache")
    parser.add_argument("--input-length", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2000, help="repeats of building the windows")
    parser.add_argument("--copy-repeats", type=int, default=5, help="repeats of materialising all windows")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of gathering every batch")
    return parser.parse_args()


def load_values(data_dir: Path | None) -> tuple[np.ndarray, str]:
    """ETTh1's ``(17420, 7)`` values when the catalog finds them, else seeded random data of that shape."""
    try:
        return load("ETTh1", data_dir=data_dir).frame.to_numpy(dtype=np.float64), "ETTh1 (tsseq catalog)"
    except DatasetUnavailableError:  # no data here: same-shaped random data, so the timing still runs
        return np.random.default_rng(0).normal(size=ETTH1_SHAPE), "random data (ETTh1 unavailable)"


def resident_bytes() -> int | None:
    """This process's resident memory (Linux), None elsewhere."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def extra_bytes(windows, values: np.ndarray) -> int:
    """Bytes of the storages the windows hold other than the series' own."""
    tensors = [windows.inputs, windows.targets, windows.input_mask, windows.target_mask]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors if t is not None}
    return sum(nbytes for pointer, nbytes in storages.items() if pointer != values.ctypes.data)


def bench_building(values: np.ndarray, args: argparse.Namespace) -> None:
    length, horizon = args.input_length, args.horizon
    make_windows(values, length, horizon)  # warm-up: first calls load code paths and grow Python's heap
    before = resident_bytes()  # measured before the large clones below disturb the allocator
    kept = [make_windows(values, length, horizon) for _ in range(1000)]
    after = resident_bytes()
    windows = kept[0]
    build = median_seconds(lambda: make_windows(values, length, horizon), args.repeats)
    copy = median_seconds(lambda: (windows.inputs.clone(), windows.targets.clone()), args.copy_repeats)
    copy_bytes = (windows.inputs.numel() + windows.targets.numel()) * windows.inputs.element_size()
    shared = windows.inputs.untyped_storage().data_ptr() == values.ctypes.data
    print(f"  {values.dtype}: {len(windows)} windows, inputs {tuple(windows.inputs.shape)}, "
          f"targets {tuple(windows.targets.shape)}")
    print(f"    build (views)            median {build * 1e6:9.1f} us   over {args.repeats} repeats")
    print(f"    materialise (clone)      median {copy * 1e3:9.1f} ms   over {args.copy_repeats} repeats "
          f"-> views are {copy / build:,.0f}x faster")
    print(f"    memory: views share the series' storage: {shared}; bytes held beyond the series: "
          f"{extra_bytes(windows, values)}; a materialised copy needs {copy_bytes / 2**20:,.1f} MiB")
    if before is not None:
        print(f"    keeping {len(kept)} Windows alive grows resident memory by {(after - before) / 2**10:,.0f} KiB "
              f"(about {(after - before) / len(kept):,.0f} bytes each: Python and tensor headers, no data)")


def bench_missing(values: np.ndarray, args: argparse.Namespace) -> None:
    with_nan = values.copy()
    with_nan[::97, 3] = np.nan
    build = median_seconds(lambda: make_windows(with_nan, args.input_length, args.horizon), max(args.repeats // 10, 1))
    windows = make_windows(with_nan, args.input_length, args.horizon)
    print(f"  {values.dtype} with NaN: build median {build * 1e6:9.1f} us; bytes held beyond the series: "
          f"{extra_bytes(windows, with_nan):,} (one filled copy {with_nan.nbytes:,} + one bool mask "
          f"{with_nan.size:,}, never per window)")


def gather_rate(windows, args: argparse.Namespace) -> tuple[float, float]:
    """(median batches per second over epochs, median microseconds per batch)."""
    sampler = BatchSampler(len(windows), args.batch_size, seed=0)
    epoch_times, batch_times = [], []
    for _ in range(args.epochs):
        with Stopwatch() as epoch:
            for indices in sampler:
                with Stopwatch() as batch:
                    windows.gather(indices)
                batch_times.append(batch.seconds)
        epoch_times.append(epoch.seconds)
    return len(sampler) / statistics.median(epoch_times), statistics.median(batch_times) * 1e6


def bench_gathering(values: np.ndarray, args: argparse.Namespace) -> None:
    single = make_windows(values, args.input_length, args.horizon)
    lengths = [1000, 3000, 1500, 2420, 4000, 2500, 3000]  # 7 series laid end to end, 17420 rows
    multi = make_multi_series_windows(values, args.input_length, args.horizon, lengths=lengths)
    for name, windows in (("one series", single), (f"{len(lengths)} series in one buffer", multi)):
        rate, per_batch = gather_rate(windows, args)
        print(f"  {values.dtype}, {name}: {len(windows)} windows, batches of {args.batch_size}: "
              f"median {rate:,.0f} batches/s per epoch (sampler included), {per_batch:.1f} us per gather")


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(1)  # the machine is shared; one thread gives stable medians
    values, source = load_values(args.data_dir)
    print("command: python " + shlex.join(sys.argv))
    print(f"data: {source}, shape {values.shape}; L={args.input_length}, H={args.horizon}; torch {torch.__version__}, "
          f"1 thread")
    for dtype in (np.float32, np.float64):
        typed = np.ascontiguousarray(values, dtype=dtype)
        print("building all windows:")
        bench_building(typed, args)
        bench_missing(typed, args)
        print("gathering batches:")
        bench_gathering(typed, args)


if __name__ == "__main__":
    main()
