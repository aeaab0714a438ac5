"""Benchmark of the causal thresholds: microseconds per scored row of a stream (``run`` over one long call).

Each method of :func:`tsseq.anomaly.thresholds.make_thresholder` that streams is fitted
on ``--normal`` |N(0, 1)| scores and runs over ``--rows`` more with a collective anomaly
(2 added to a tenth of them, so that the adaptive split is accepted for a while); the
methods are timed in turn within each repeat (``timing.interleaved_repeats``) and the
median and best of ``--repeats`` are printed. ``adaptive`` (the default of ``tsseq
detect``) recomputes Otsu's split of its last ``memory`` rows every ``refresh`` rows; the
``adaptive without_brief_gate`` is the same with ``brief_gate=None`` (the brief gate's cost: a
Python step per flagged row); the others are a fixed threshold or SPOT's online peaks (its tail refitted at every peak: slow
while the anomaly lasts). Run (one thread)::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/bench_thresholds.py [--rows 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tsseq.anomaly.thresholds import make_thresholder

from timing import interleaved_repeats, median_and_best  # this folder's helper module

METHODS = {"false_alarm": {}, "false_alarm smoothed": {"smoothing": 9}, "adaptive": {}, "adaptive without_brief_gate": {"brief_gate": None},
           "spot": {"q": 1e-3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--normal", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    normal = np.abs(rng.standard_normal(args.normal))
    scores = np.abs(rng.standard_normal(args.rows))
    scores[args.rows // 4 : args.rows // 4 + args.rows // 10] += 2.0

    def timed(label: str):
        method = label.split()[0]

        def run(_: int) -> float:
            thresholder = make_thresholder(method, **METHODS[label]).fit(normal)
            started = time.perf_counter()
            thresholder.run(scores)
            return time.perf_counter() - started

        return run

    times = interleaved_repeats({label: timed(label) for label in METHODS}, args.repeats, warmup=1)
    print(f"{args.rows} rows, {args.normal} normal scores, median / best of {args.repeats}:")
    for label, seconds in times.items():
        median, best = median_and_best(seconds)
        print(f"  {label:28s} {1e6 * median / args.rows:8.2f} / {1e6 * best / args.rows:8.2f} us a row")


if __name__ == "__main__":
    main()
