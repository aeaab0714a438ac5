"""Batched AR fit with AIC order selection on all M4 Hourly series, versus statsmodels per series.

Fits AR models with the order chosen by AIC over lags 0..96 to the 414 M4 Hourly
training series and forecasts 48 steps, in one batch (tsseq.ar), and times
statsmodels' ``ar_select_order`` + ``AutoReg`` + ``forecast`` on a random sample of
series, extrapolated to all 414. It checks that the selected orders, the
coefficients and the forecasts agree with statsmodels on the sample, and exits with
status 1 if they do not or if the batch is less than 50 times faster.

Both run with the same number of BLAS threads (``--blas-threads``, default 1):
statsmodels' per-series SVDs slow down many times over when OpenBLAS threads
compete for a busy machine, which would flatter the ratio. The series come from
the catalog (``tsseq.data.catalog.load("m4-hourly")``: ``--data-dir``, else
``$TSSEQ_DATA_DIR``, else the tsseq cache). With tsseq installed (``pip install -e .``):

    TSSEQ_DATA_DIR=/work/shared/datasets python pipelines/benchmarks/bench_ar.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
from statsmodels.tsa.ar_model import ar_select_order
from threadpoolctl import threadpool_limits

from tsseq.ar import fit_ar, forecast_recursive
from tsseq.base import split_frame
from tsseq.baselines import AR
from tsseq.data.catalog import load

from timing import Stopwatch, median_seconds  # this folder's helper module

REQUIRED_SPEEDUP = 50.0


def batched(series: list[np.ndarray], max_order: int, horizon: int):
    """tsseq: one AIC-selected AR fit of all series ``(T_i,)`` and their ``(S, horizon)`` forecasts."""
    fit = fit_ar(series, max_order=max_order, criterion="aic")
    width = fit.coef.shape[1]
    history = np.stack([values[len(values) - width :] for values in series])
    return fit, forecast_recursive(fit.intercept, fit.coef, history, horizon)


def statsmodels_one(values: np.ndarray, max_order: int, horizon: int):
    """statsmodels on one series ``(T,)``: (selected order, ``(1 + order,)`` params, ``(horizon,)`` forecast)."""
    selection = ar_select_order(values, maxlag=max_order, ic="aic", trend="c")
    order = 0 if selection.ar_lags is None else int(selection.ar_lags[-1])
    result = selection.model.fit()
    return order, np.asarray(result.params), np.asarray(result.forecast(horizon))


def relative_difference(ours: np.ndarray, expected: np.ndarray) -> float:
    """Largest ``|ours - expected|``, relative to ``|expected|`` where that exceeds 1 (absolute below)."""
    return float(np.max(np.abs(ours - expected) / np.maximum(np.abs(expected), 1.0)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $TSSEQ_DATA_DIR, then the tsseq cache")
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
    frame = load("m4-hourly", data_dir=args.data_dir).frame  # long, indexed by (series, timestamp)
    arrays, layout = split_frame(frame)
    series, series_ids = [values[:, 0] for values in arrays], layout.series_ids  # (T_i,) each
    print(f"M4 Hourly: {len(series)} series of {min(map(len, series))}-{max(map(len, series))} values; "
          f"AIC over orders 0..{args.max_order}, horizon {args.horizon}; {os.cpu_count()} CPU(s), "
          f"{args.blas_threads} BLAS thread(s)")

    batched(series[:2], args.max_order, args.horizon)  # warm-up
    batch_seconds = median_seconds(lambda: batched(series, args.max_order, args.horizon), args.repeats)
    fit, forecast = batched(series, args.max_order, args.horizon)
    print(f"tsseq.ar fit_ar + forecast_recursive, all {len(series)} series: median {batch_seconds:.3f} s "
          f"over {args.repeats} repeats")

    model = AR(max_order=args.max_order)
    estimator_seconds = median_seconds(lambda: model.fit(frame).predict(args.horizon), args.repeats)
    print(f"tsseq AR estimator fit + predict on the long frame (incl. validation, pandas): "
          f"median {estimator_seconds:.3f} s")

    sample = np.sort(np.random.default_rng(args.seed).choice(len(series), size=args.sample, replace=False))
    per_series, failures = [], []
    for position in sample:
        with Stopwatch() as watch:
            order, params, expected_forecast = statsmodels_one(series[position], args.max_order, args.horizon)
        per_series.append(watch.seconds)
        ours = np.r_[fit.intercept[position], fit.coef[position, :order]]
        coef_error = relative_difference(ours, params)
        forecast_error = relative_difference(forecast[position], expected_forecast)
        agrees = fit.order[position] == order and coef_error < 1e-6 and forecast_error < 1e-6
        print(f"  {series_ids[position]}: order {fit.order[position]} (statsmodels {order}), max relative difference "
              f"coefficients {coef_error:.1e}, forecast {forecast_error:.1e}, statsmodels {per_series[-1]:.3f} s")
        if not agrees:
            failures.append(position)

    statsmodels_seconds = statistics.median(per_series)
    extrapolated = statsmodels_seconds * len(series)
    speedup = extrapolated / batch_seconds
    print(f"statsmodels per series: median {statsmodels_seconds:.3f} s over {args.sample} sampled series; "
          f"extrapolated to {len(series)} series: {extrapolated:.1f} s")
    print(f"speed-up of the batched fit: {speedup:.0f}x (required >= {REQUIRED_SPEEDUP:.0f}x); "
          f"of the estimator: {extrapolated / estimator_seconds:.0f}x")
    if failures:
        print(f"FAILED: results differ from statsmodels on series {[series_ids[p] for p in failures]}")
        return 1
    if speedup < REQUIRED_SPEEDUP:
        print("FAILED: the batched fit is not fast enough")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
