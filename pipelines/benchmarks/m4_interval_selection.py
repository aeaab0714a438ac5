"""Choose an AR interval recipe for an M4 frequency without looking at its test values.

Every configuration of a small grid (largest lag, order-selection criterion, innovation
variance) is scored by the M4 protocol twice: on a validation split cut from the
training values alone (each series' last ``H`` training values held out, the rest to
fit on) and on the real test values. The recipe is chosen on validation only: the
lowest validation MSIS among configurations whose validation coverage is within
``--max-acd`` of the nominal level. Its test figures are the honest ones; the test
columns of the others are printed for reference, not for choosing.

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/m4_interval_selection.py --dataset m4-hourly
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import pandas as pd

import tsseq
from tsseq.protocols import M4_FREQUENCIES, evaluate_m4


def validation_split(train: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training values of each series without their last ``horizon`` rows, and those rows."""
    position = train.groupby(level=0, sort=False).cumcount(ascending=False)
    return train[position >= horizon], train[position < horizon]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="m4-hourly")
    parser.add_argument("--max-orders", type=int, nargs="+", default=[48, 96, 168])
    parser.add_argument("--criteria", nargs="+", default=["aic", "bic", "hqic"])
    parser.add_argument("--variances", nargs="+", default=["mle", "unbiased"])
    parser.add_argument("--interval", type=float, default=0.95)
    parser.add_argument("--max-acd", type=float, default=0.01)
    args = parser.parse_args()
    frequency = args.dataset.split("-", 1)[1].title()
    horizon = M4_FREQUENCIES[frequency][0]
    loaded = tsseq.load(args.dataset)
    fit_part, held_out = validation_split(loaded.frame, horizon)
    rows = []
    for max_order, criterion, variance in itertools.product(args.max_orders, args.criteria, args.variances):
        params = dict(max_order=max_order, criterion=criterion, variance=variance)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # explosive fits on a few series: the figures say what they cost
            validation = evaluate_m4(tsseq.create("ar", **params), frequency=frequency, train=fit_part, test=held_out, interval=args.interval)
            test = evaluate_m4(tsseq.create("ar", **params), frequency=frequency, train=loaded.frame, test=loaded.test, interval=args.interval)
        rows.append({
            **params,
            "val_msis": validation.msis, "val_acd": validation.acd, "val_owa": validation.owa,
            "test_msis": test.msis, "test_coverage": test.coverage, "test_acd": test.acd,
            "test_smape": test.smape, "test_owa": test.owa, "seconds": time.perf_counter() - started,
        })
        print(" ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}" for key, value in rows[-1].items()), flush=True)
    table = pd.DataFrame(rows)
    eligible = table[table["val_acd"] <= args.max_acd]
    chosen = (eligible if len(eligible) else table).sort_values("val_msis").iloc[0]
    print(f"\n{len(table)} configurations; chosen on validation (lowest MSIS with ACD <= {args.max_acd}):")
    print(chosen.to_string())


if __name__ == "__main__":
    main()
