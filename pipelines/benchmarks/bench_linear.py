"""tsseq's closed-form ``linear`` fit against scikit-learn's ridge on the materialised design.

:class:`tsseq.linear.Linear` sums the moments of the pooled windows block by block and
takes every penalty's fit from one ``eigh`` of the ``L x L`` Gram matrix. The well-kept
alternative is to build the ``(n, L)`` design of every window of every channel (anchored
and scaled as Linear does) and hand it to scikit-learn: ``Ridge`` at one penalty, or
``RidgeCV`` over the same grid (its efficient leave-one-out, not GCV). For each size
(channels x rows, input length L, horizon H, a seeded AR(2) per channel) this times both,
alternating, prints the medians, the ratio of the two grid searches (RidgeCV over Linear's
GCV) and the peak memory of each (``tracemalloc``: numpy's allocations), and exits with
status 1 if Linear's coefficients at its chosen penalty differ from ``Ridge``'s at the same
penalty by more than 1e-6. Run (one BLAS thread)::

    python pipelines/benchmarks/bench_linear.py --sizes 7x8640:720:96 7x8640:96:24 1x20000:168:24
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge, RidgeCV
from threadpoolctl import threadpool_limits

from tsseq.linear import PENALTY_GRID, Linear, anchors, window_scales


def frame(channels: int, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.zeros((rows, channels))
    for t in range(2, rows):
        values[t] = 0.6 * values[t - 1] - 0.2 * values[t - 2] + rng.standard_normal(channels)
    return pd.DataFrame(values, index=pd.date_range("2020-01-01", periods=rows, freq="h"))


def design(values: np.ndarray, length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of every channel, anchored on its last value and divided by its standard deviation."""
    windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(values[:, c], length + horizon)
                              for c in range(values.shape[1])])  # fmt: skip
    inputs, targets = windows[:, :length], windows[:, length:]
    level, scale = anchors(inputs, "last"), window_scales(inputs)[:, None]
    return (inputs - level) / scale, (targets - level) / scale


def penalty_unit(inputs: np.ndarray) -> float:
    """Linear's ``n s^2``: the centred inputs' sum of squares over their columns, what its relative penalty multiplies."""
    centred = inputs - inputs.mean(axis=0)
    return float(np.sum(centred * centred)) / inputs.shape[1]


def timed(fit) -> tuple[float, float, object]:
    """(seconds, peak MiB of numpy allocations, result)."""
    tracemalloc.start()
    started = time.perf_counter()
    result = fit()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["7x8640:720:96", "7x8640:96:24", "1x20000:168:24"],
                        help="CHANNELSxROWS:L:H")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args()
    failed = False
    print(f"{'size':>18} {'tsseq s':>8} {'MiB':>7} {'Ridge s':>8} {'MiB':>7} {'RidgeCV s':>9} {'MiB':>7} "
          f"{'RidgeCV/tsseq':>13} {'max |coef diff|':>15}")  # fmt: skip
    with threadpool_limits(args.blas_threads):
        for size in args.sizes:
            shape, length, horizon = size.split(":")
            channels, rows = (int(part) for part in shape.split("x"))
            length, horizon = int(length), int(horizon)
            data = frame(channels, rows)
            ours, ridge, ridge_cv = [], [], []
            for _ in range(args.repeats):
                ours.append(timed(lambda: Linear(input_length=length, horizon=horizon).fit(data)))

                def sklearn_ridge(penalty=ours[-1][2].penalty_):
                    inputs, targets = design(data.to_numpy(), length, horizon)
                    return Ridge(alpha=penalty * penalty_unit(inputs), solver="cholesky").fit(inputs, targets)

                def sklearn_ridge_cv():
                    inputs, targets = design(data.to_numpy(), length, horizon)
                    return RidgeCV(alphas=np.maximum(PENALTY_GRID, 1e-12) * penalty_unit(inputs)).fit(inputs, targets)

                ridge.append(timed(sklearn_ridge))
                ridge_cv.append(timed(sklearn_ridge_cv))
            difference = float(np.max(np.abs(ours[-1][2].coef_ - ridge[-1][2].coef_)))
            failed |= not difference <= 1e-6
            median = lambda runs, k: statistics.median(run[k] for run in runs)  # noqa: E731
            print(f"{size:>18} {median(ours, 0):8.2f} {median(ours, 1):7.0f} {median(ridge, 0):8.2f} {median(ridge, 1):7.0f} "
                  f"{median(ridge_cv, 0):9.2f} {median(ridge_cv, 1):7.0f} {median(ridge_cv, 0) / median(ours, 0):13.2f} "
                  f"{difference:15.2e}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
