"""`tsseq detect`'s ``detrend`` options against none, on the threshold study's labelled corpora.

Runs the detection job as a user runs it (:func:`tsseq.anomaly.job.detect_frame`: the
detector ``--detector``, default ``auto``, its mode's default threshold, trained on each
series' training rows) once per ``--detrends`` value (``none``, ``linear``, ``difference``)
and mode, on corpora of :func:`threshold_study.corpus_series` (``--corpora``, e.g.
``synthetic-trend synthetic nab``; ``-clean`` corpora have no fault). Prints, averaged over
each corpus' series, the point F1 and the event F1 (``--gap`` rows bridged) of the flags
after the training rows, and the share of those rows flagged (on a clean corpus, every
flag is a false alarm). Quoted in ``threshold_study.md`` (after the thirteenth study)::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/detrend_study.py --corpora synthetic-trend synthetic \\
        synthetic-trend-clean synthetic-clean nab --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

from threshold_study import corpus_series  # this folder is on sys.path when the script runs
from tsseq.anomaly.config import DETRENDS as JOB_DETRENDS
from tsseq.anomaly.config import DetectionConfig, DetectorConfig
from tsseq.anomaly.job import detect_frame
from tsseq.anomaly.metrics import event_precision_recall_f1, point_precision_recall_f1
from tsseq.config import DataConfig

DETRENDS = ("none", *JOB_DETRENDS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=["synthetic-trend", "synthetic"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3], help="series of the synthetic corpora")
    parser.add_argument("--detrends", nargs="+", default=list(DETRENDS), choices=DETRENDS)
    parser.add_argument("--modes", nargs="+", default=["causal", "batch"], choices=["causal", "batch"])
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--gap", type=int, default=3, help="unflagged rows bridged between flagged events")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for corpus in args.corpora:
        for series, frame, labels, train_rows in corpus_series(corpus, args.seeds):
            truth = labels[train_rows:]
            for detrend in args.detrends:
                for mode in args.modes:
                    torch.manual_seed(0)
                    config = DetectionConfig(name=series, data=DataConfig(csv=f"{series}.csv"), mode=mode,
                                             detector=DetectorConfig(name=args.detector), train_rows=train_rows,
                                             detrend=None if detrend == "none" else detrend)  # fmt: skip
                    started = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = detect_frame(config, frame, series)
                    flags = result.table["is_anomaly"].to_numpy(dtype=bool)[train_rows:]
                    point = point_precision_recall_f1(flags, truth).f1 if truth.any() else np.nan
                    event = event_precision_recall_f1(flags, truth, gap=args.gap).f1 if truth.any() else np.nan
                    seconds = time.perf_counter() - started
                    rows.append((corpus, series, detrend, mode, point, event, float(flags.mean()), seconds))
                    print(f"{corpus} {series} {detrend} {mode}: point F1 {point:.3f}, event F1 {event:.3f}, "
                          f"flagged {flags.mean():.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
    table = pd.DataFrame(rows, columns=["corpus", "series", "detrend", "mode", "point_f1", "event_f1", "flagged", "s"])
    print(f"{args.detector}, the job's default threshold; means over each corpus' series ({table['s'].sum():.0f} s)")
    means = table.pivot_table(index=["corpus", "detrend"], columns="mode", values=["point_f1", "event_f1", "flagged"],
                              aggfunc="mean", dropna=False)  # fmt: skip
    print(means.to_string(float_format=lambda value: f"{value:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
