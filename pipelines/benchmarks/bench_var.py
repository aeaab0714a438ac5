"""VAR order selection: tsseq's one QR for every order, against statsmodels' ``VAR.fit(maxlags, ic)``.

``tsseq.var.VAR`` selects the order on the common sample from one QR of the largest design
(:func:`tsseq.var.nested_covariances`); statsmodels' ``select_order`` solves one least
squares per order. Both then fit the chosen order. For each size (channels x rows of a
seeded random walk plus noise) this times both fits, alternating, and prints the medians and
their ratio; it exits with status 1 if the selected orders or the coefficients differ
(1e-8). Both run with the BLAS threads of ``--blas-threads`` (default 1). Run::

    python pipelines/benchmarks/bench_var.py --sizes 5x4000 20x10000 50x10000 100x20000

With ``--cross-penalty gcv`` (or a float) it times instead tsseq's fit with that
``cross_penalty`` (the cross terms shrunk, refitted at the order the least-squares criteria
select: :mod:`tsseq.var`) against its least-squares fit, alternating, and prints the medians,
their ratio and the median penalty chosen; it exits with status 1 if the orders differ.
``--order P`` fixes both fits' order there (the penalised refit's cost without the selection's).
``--cross-screen ALPHA`` adds (or, alone, makes) the screen of unrelated channels
(``cross_screen``) to that fit, and the share of channel pairs it relates is printed::

    python pipelines/benchmarks/bench_var.py --cross-penalty gcv --sizes 5x4000 20x10000 50x10000
    python pipelines/benchmarks/bench_var.py --cross-penalty gcv --cross-screen 0.01 --sizes 5x4000 20x10000 50x10000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.api import VAR as StatsmodelsVAR
from threadpoolctl import threadpool_limits

import tsseq


def frame(channels: int, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, channels)).cumsum(axis=0) * 0.01 + rng.normal(size=(rows, channels))
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="s"))


def quiet_fit(data: pd.DataFrame, **params) -> tsseq.Forecaster:
    """tsseq's VAR fitted on ``data``, an explosive fit's replacement warning silenced (the orders are compared)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tsseq.create("var", stable=False, **params).fit(data)


def cross_penalty_argument(text: str) -> float | str:
    """``--cross-penalty``: ``gcv`` or a float."""
    return text if text == "gcv" else float(text)


def compare_cross_penalty(data: pd.DataFrame, args: argparse.Namespace) -> bool:
    """Time the penalised fit against the least-squares one on ``data``, print the medians; whether the orders agree."""
    params = {"order": args.order, "max_order": args.max_order, "criterion": args.criterion}
    times: dict[str, list[float]] = {"least squares": [], "penalised": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        ols = quiet_fit(data, **params)
        times["least squares"].append(time.perf_counter() - started)
        started = time.perf_counter()
        penalised = quiet_fit(data, cross_penalty=args.cross_penalty, cross_screen=args.cross_screen, **params)
        times["penalised"].append(time.perf_counter() - started)
    same = ols.order_.tolist() == penalised.order_.tolist()
    medians = {name: statistics.median(values) for name, values in times.items()}
    channels, rows = data.shape[1], len(data)
    related = penalised.cross_related_[0][~np.eye(channels, dtype=bool)].mean() if channels > 1 else 1.0
    print(f"{channels:>4} channels x {rows:>6} rows: order {int(penalised.order_[0])}, "
          f"least squares {medians['least squares']:.3f} s, cross_penalty={args.cross_penalty} "
          f"cross_screen={args.cross_screen} {medians['penalised']:.3f} s, "
          f"ratio {medians['penalised'] / medians['least squares']:.2f}x, "
          f"median penalty {np.median(penalised.cross_penalty_):.3g}, pairs related {related:.3f}"
          f"{'' if same else '  ORDER MISMATCH'}")  # fmt: skip
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["5x4000", "20x10000", "50x10000"], help="CHANNELSxROWS")
    parser.add_argument("--max-order", type=int, default=10)
    parser.add_argument("--criterion", default="aic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument(
        "--cross-penalty", type=cross_penalty_argument, default=None,
        help="'gcv' or a float: time tsseq's VAR with this cross_penalty against its least squares instead",
    )  # fmt: skip
    parser.add_argument("--cross-screen", type=float, default=None,
                        help="a level in (0, 1): the penalised fit also screens unrelated channels out (cross_screen)")
    parser.add_argument("--order", type=int, default=None, help="with --cross-penalty: a fixed order for both fits")
    args = parser.parse_args()
    failed = False
    with threadpool_limits(args.blas_threads):
        for size in args.sizes:
            channels, rows = map(int, size.split("x"))
            data = frame(channels, rows)
            if args.cross_penalty is not None or args.cross_screen is not None:
                failed |= not compare_cross_penalty(data, args)
                continue
            times: dict[str, list[float]] = {"tsseq": [], "statsmodels": []}
            for _ in range(args.repeats):
                started = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an explosive fit's replacement warning: compared below
                    ours = tsseq.create("var", max_order=args.max_order, criterion=args.criterion, stable=False).fit(data)
                times["tsseq"].append(time.perf_counter() - started)
                started = time.perf_counter()
                theirs = StatsmodelsVAR(data.to_numpy()).fit(maxlags=args.max_order, ic=args.criterion)
                times["statsmodels"].append(time.perf_counter() - started)
            order = int(ours.order_[0])
            same = order == theirs.k_ar and np.allclose(ours.coef_[0, :order], theirs.coefs, atol=1e-8)
            failed |= not same
            medians = {name: statistics.median(values) for name, values in times.items()}
            print(f"{channels:>4} channels x {rows:>6} rows: order {order} (statsmodels {theirs.k_ar}), "
                  f"tsseq {medians['tsseq']:.3f} s, statsmodels {medians['statsmodels']:.3f} s, "
                  f"ratio {medians['statsmodels'] / medians['tsseq']:.2f}x{'' if same else '  MISMATCH'}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
