"""Backtest speed: a year of daily origins forecast in one vectorised pass, versus a loop of predictions.

On hourly ETTh1 (all 7 columns) the last 365 origins 24 rows apart, each forecasting the
next 24 rows, without refitting (:func:`tsseq.backtesting.historical_forecasts`): the
model is fitted once on the rows before the first origin, then every origin is forecast
in one ``predict_windows`` pass (:func:`tsseq.backtesting.forecast_origins`). The loop
does what a user without it would write: one ``predict_windows`` call per origin on the
same window. Both are timed on the same fitted model (the fit is timed once, apart); the
forecasts must agree (AR to 1e-9, the network to 1e-4 relative: float32 batches), else the
script exits 1. torch and BLAS run on one thread (``--blas-threads``). Models: AR with ``max_order`` 96 (its context is every row before the
first origin) and a small SegRNN (one epoch; ``input_length`` 96).

    TSSEQ_DATA_DIR=/work/shared/datasets python pipelines/benchmarks/bench_backtest.py --dataset ETTh1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import tsseq
from tsseq.backtesting import forecast_origins
from tsseq.data.catalog import load

from timing import Stopwatch  # this folder's helper module

REPO_ROOT = Path(__file__).resolve().parents[2]


def models(horizon: int, epochs: int) -> dict[str, object]:
    segrnn = tsseq.create(
        "segrnn", input_length=96, horizon=horizon, hidden_size=32,
        training={"epochs": epochs, "batch_size": 128, "progress": False, "device": "cpu", "seed": 0, "threads": 1},
    )
    return {"ar(max_order=96)": tsseq.create("ar", max_order=96), "segrnn(hidden=32)": segrnn}


def looped(model, values: np.ndarray, origins: np.ndarray, length: int, horizon: int) -> np.ndarray:
    """One predict_windows call per origin: ``(N, H, C)``."""
    return np.concatenate([model.predict_windows(values[None, origin - length : origin], horizon) for origin in origins])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ETTh1", help="an hourly catalog data set (default: ETTh1)")
    parser.add_argument("--data-dir", type=Path, help="default: $TSSEQ_DATA_DIR, else ../shared/datasets")
    parser.add_argument("--origins", type=int, default=365)
    parser.add_argument("--stride", type=int, default=24)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    parser.add_argument("--epochs", type=int, default=1, help="SegRNN training epochs")
    parser.add_argument("--blas-threads", type=int, default=1, help="numpy BLAS threads (AR)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        return run(args)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path(os.environ.get("TSSEQ_DATA_DIR", REPO_ROOT.parent / "shared" / "datasets"))
    frame = load(args.dataset, data_dir=data_dir).frame
    values = frame.to_numpy(dtype=np.float64)
    first = len(frame) - args.horizon - (args.origins - 1) * args.stride
    origins = np.arange(first, len(frame) - args.horizon + 1, args.stride)
    print(f"{args.dataset}: {len(frame)} rows x {frame.shape[1]} columns; {len(origins)} origins every {args.stride} "
          f"rows from {frame.index[first]}, horizon {args.horizon}, no refit; torch threads 1, BLAS threads "
          f"{args.blas_threads}; median of {args.repeats}")
    failed = False
    for name, model in models(args.horizon, args.epochs).items():
        with Stopwatch() as fit:
            model.fit(frame.iloc[:first])
        length = getattr(model, "input_length", None) or first  # as historical_forecasts chooses
        vectorised_times, loop_times = [], []
        for _ in range(args.repeats):
            with Stopwatch() as watch:
                one_pass, _ = forecast_origins(model, frame, origins, length, args.horizon)
            vectorised_times.append(watch.seconds)
            with Stopwatch() as watch:
                loop = looped(model, values, origins, length, args.horizon)
            loop_times.append(watch.seconds)
        vectorised, loop_time = statistics.median(vectorised_times), statistics.median(loop_times)
        difference = float(np.max(np.abs(one_pass - loop) / np.maximum(np.abs(loop), 1.0)))
        tolerance = 1e-9 if name.startswith("ar") else 1e-4
        failed |= not difference <= tolerance
        print(f"  {name:18s} fit {fit.seconds:7.2f} s | one pass {vectorised:8.4f} s | loop of {len(origins)} "
              f"predictions {loop_time:8.4f} s | ratio {loop_time / vectorised:7.1f}x | context {length} rows | "
              f"max relative difference {difference:.1e} ({'ok' if difference <= tolerance else 'MISMATCH'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
