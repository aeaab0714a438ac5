"""What `tsseq detect`'s default finds on short labelled series, by the length of the file.

The companion of ``short_series_false_alarms.py`` (which counts the flags on clean series):
on a short file the job trains on more than 30% of the rows and shortens the detector's
window (:func:`tsseq.anomaly.job._fit_to_a_short_series`); this measures what those
defaults still detect. Each series is :func:`tsseq.data.synthetic.generate`'s daily cycle
(period 24, noise 0.2, hourly) with ``--anomalies`` (default two spikes and a level shift,
of 5 to 15 rows) placed after the first ``--clean-share`` of the rows, so that none falls in
the rows the job trains on; :func:`tsseq.anomaly.job.detect_frame` runs the default job
(``DetectionConfig``'s defaults: ``auto``, causal and batch modes). On the rows it scores
(causal: those after its training rows; batch: from its first window's end, training rows
included): event recall and F1 (:func:`tsseq.anomaly.metrics.event_precision_recall_f1`),
point F1, PR-AUC of the score, and the shares of the rows flagged and labelled, each the mean
over ``--seeds``. Measured (session 30, 6 s): event recall 1.000 at every length and mode;
point F1 0.69-0.71 at 100 rows, 0.61-0.66 from 160 to 500 (where the default window of 48 is
kept); PR-AUC 0.78-0.88; flagged 1.8 to 2.3 times the labelled share at every length::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/short_series_detection.py --lengths 100 160 250 330 500
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch
import yaml

from tsseq.anomaly.config import DetectionConfig, DetectorConfig
from tsseq.anomaly.job import detect_frame
from tsseq.anomaly.metrics import event_precision_recall_f1, point_precision_recall_f1, pr_auc
from tsseq.config import DataConfig
from tsseq.data.synthetic import generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", nargs="+", type=int, default=[100, 160, 250, 330, 500], help="rows of each file")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--modes", nargs="+", default=["causal", "batch"], choices=["causal", "batch"])
    parser.add_argument("--anomalies", default="{spike: 2, level_shift: 1}", help="kind -> count (YAML mapping)")
    parser.add_argument("--clean-share", type=float, default=0.5, help="leading share of the rows kept clean")
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--params", default="{}", help="detector parameters (YAML mapping)")
    args = parser.parse_args()
    anomalies, params = yaml.safe_load(args.anomalies), yaml.safe_load(args.params) or {}
    torch.set_num_threads(1)
    rows = []
    for length in args.lengths:
        for seed in args.seeds:
            series = generate(length, anomalies=anomalies, anomaly_length=(5, 15), noise=0.2,
                              clean_start=int(args.clean_share * length), seed=seed)  # fmt: skip
            labels = series.is_anomaly
            for mode in args.modes:
                torch.manual_seed(seed)
                config = DetectionConfig(name=f"labelled{length}_{seed}", data=DataConfig(csv="labelled.csv"), mode=mode,
                                         detector=DetectorConfig(name=args.detector, params=params))  # fmt: skip
                started = time.perf_counter()
                with warnings.catch_warnings():  # the job's notes: what this measures anyway
                    warnings.simplefilter("ignore")
                    table = detect_frame(config, series.frame, config.name).table
                scored = table["score"].notna().to_numpy()  # the rows after the ones it trained on
                flags, truth = table["is_anomaly"].to_numpy()[scored], labels[scored]
                events, points = event_precision_recall_f1(flags, truth), point_precision_recall_f1(flags, truth)
                rows.append((length, seed, mode, int(scored.sum()), events.recall, events.f1, points.f1,
                             pr_auc(table["score"].to_numpy()[scored], truth), float(flags.mean()), float(truth.mean()),
                             time.perf_counter() - started))  # fmt: skip
    table = pd.DataFrame(rows, columns=["rows", "seed", "mode", "scored", "event_recall", "event_f1", "point_f1",
                                        "pr_auc", "flagged", "labelled", "seconds"])  # fmt: skip
    print(f"{args.detector} {params or ''} on {anomalies}: means over seeds {' '.join(map(str, args.seeds))} "
          f"({table['seconds'].sum():.0f} s in all)")
    columns = ["scored", "event_recall", "event_f1", "point_f1", "pr_auc", "flagged", "labelled"]
    means = table.groupby(["rows", "mode"])[columns].mean()
    print(means.to_string(float_format=lambda value: f"{value:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
