"""Batched AR fit with AIC order selection on all M4 Hourly series, versus statsmodels per series.

Fits AR models with the order chosen by AIC over lags 0..96 to the 414 M4 Hourly
training series and forecasts 48 steps, in one batch (tsseq.ar), and times
statsmodels' ``ar_select_order`` + ``AutoReg`` + ``forecast`` on a random sample of
series, extrapolated to all 414. It checks that the selected orders, the
coefficients and the forecasts agree with statsmodels on the sample, and exits with
status 1 if they do not or if the batch is less than 50 times faster.

Both run with the same number of BLAS threads (``--blas-threads``, default 1):
statsmodels' per-series SVDs slow down many times over when OpenBLAS threads
compete for a busy machine, which would flatter the ratio.

    TSSEQ_DATA_DIR=/work/shared/datasets python pipelines/benchmarks/bench_ar.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import ar_select_order
from threadpoolctl import threadpool_limits

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing tsseq

from tsseq.ar import fit_ar, forecast_recursive  # noqa: E402
from tsseq.baselines import AR  # noqa: E402
REQUIRED_SPEEDUP = 50.0


def read_m4_hourly(data_dir: Path) -> list[np.ndarray]:
    """The training series of ``m4/Hourly-train.csv`` (wide, ragged rows) as float arrays."""
    table = pd.read_csv(data_dir / "m4" / "Hourly-train.csv", index_col="V1")
    return [row[~np.isnan(row)] for row in table.to_numpy(dtype=np.float64)]


def long_frame(series: list[np.ndarray]) -> pd.DataFrame:
    """The series as a long frame indexed by (series, timestamp), hourly from 2000-01-01."""
    ids = np.repeat([f"H{number}" for number in range(1, len(series) + 1)], [len(values) for values in series])
    start = pd.Timestamp("2000-01-01")
    timestamps = np.concatenate([start + pd.to_timedelta(np.arange(len(values)), unit="h") for values in series])
    index = pd.MultiIndex.from_arrays([ids, timestamps], names=["series", "timestamp"])
    return pd.DataFrame({"value": np.concatenate(series)}, index=index)


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batched(series: list[np.ndarray], max_order: int, horizon: int):
    fit = fit_ar(series, max_order=max_order, criterion="aic")
    width = fit.coef.shape[1]
    history = np.stack([values[len(values) - width :] for values in series])
    return fit, forecast_recursive(fit.intercept, fit.coef, history, horizon)


def statsmodels_one(values: np.ndarray, max_order: int, horizon: int):
    selection = ar_select_order(values, maxlag=max_order, ic="aic", trend="c")
    order = 0 if selection.ar_lags is None else int(selection.ar_lags[-1])
    result = selection.model.fit()
    return order, np.asarray(result.params), np.asarray(result.forecast(horizon))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_dir = os.environ.get("TSSEQ_DATA_DIR", str(REPO_ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--data-dir", type=Path, default=Path(default_dir))
    parser.add_argument("--max-order", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats of the batched fit (median)")
    parser.add_argument("--sample", type=int, default=5, help="series fitted with statsmodels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads for both methods")
    args = parser.parse_args()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        return run(args)


def run(args: argparse.Namespace) -> int:

    series = read_m4_hourly(args.data_dir)
    print(f"M4 Hourly: {len(series)} series of {min(map(len, series))}-{max(map(len, series))} values; "
          f"AIC over orders 0..{args.max_order}, horizon {args.horizon}; {os.cpu_count()} CPU(s), "
          f"{args.blas_threads} BLAS thread(s)")

    batched(series[:2], args.max_order, args.horizon)  # warm-up
    batch_seconds = median_seconds(lambda: batched(series, args.max_order, args.horizon), args.repeats)
    fit, forecast = batched(series, args.max_order, args.horizon)
    print(f"tsseq.ar fit_ar + forecast_recursive, all {len(series)} series: median {batch_seconds:.3f} s "
          f"over {args.repeats} repeats")

    frame = long_frame(series)
    model = AR(max_order=args.max_order)
    estimator_seconds = median_seconds(lambda: model.fit(frame).predict(args.horizon), args.repeats)
    print(f"tsseq AR estimator fit + predict on the long frame (incl. validation, pandas): median {estimator_seconds:.3f} s")

    sample = np.sort(np.random.default_rng(args.seed).choice(len(series), size=args.sample, replace=False))
    per_series, failures = [], []
    for position in sample:
        start = time.perf_counter()
        order, params, expected_forecast = statsmodels_one(series[position], args.max_order, args.horizon)
        per_series.append(time.perf_counter() - start)
        ours = np.r_[fit.intercept[position], fit.coef[position, :order]]
        coef_error = np.max(np.abs(ours - params) / np.maximum(np.abs(params), 1.0))
        forecast_error = np.max(np.abs(forecast[position] - expected_forecast) / np.maximum(np.abs(expected_forecast), 1.0))
        agrees = fit.order[position] == order and coef_error < 1e-6 and forecast_error < 1e-6
        print(f"  H{position + 1}: order {fit.order[position]} (statsmodels {order}), max relative difference "
              f"coefficients {coef_error:.1e}, forecast {forecast_error:.1e}, statsmodels {per_series[-1]:.3f} s")
        if not agrees:
            failures.append(position)

    extrapolated = statistics.median(per_series) * len(series)
    speedup = extrapolated / batch_seconds
    print(f"statsmodels per series: median {statistics.median(per_series):.3f} s over {args.sample} sampled series; "
          f"extrapolated to {len(series)} series: {extrapolated:.1f} s")
    print(f"speed-up of the batched fit: {speedup:.0f}x (required >= {REQUIRED_SPEEDUP:.0f}x); "
          f"of the estimator: {extrapolated / estimator_seconds:.0f}x")
    if failures:
        print(f"FAILED: results differ from statsmodels on series {[f'H{p + 1}' for p in failures]}")
        return 1
    if speedup < REQUIRED_SPEEDUP:
        print("FAILED: the batched fit is not fast enough")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
