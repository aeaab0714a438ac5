"""False alarms of `tsseq detect`'s default on clean series, by the length of the file.

`tsseq detect` trains on 30% of a file's rows, so a short file gives its detector few
training rows. This runs the default detection job (:func:`tsseq.anomaly.job.detect_frame`
with ``DetectionConfig``'s defaults: ``auto``, causal and batch modes) on anomaly-free
series of several lengths and prints the share of the scored rows it flags: every flag is a
false alarm, and the stated false-alarm rate of the default threshold's floor is 1%.

Kinds (``--kinds``), each one series per seed (``--seeds``), hourly stamps:

* ``cycle7``: ``10 + 3 sin(2 pi t / 7 + phase)`` plus white noise of s.d. 0.5 (a daily
  series' weekly cycle);
* ``synthetic``: :func:`tsseq.data.synthetic.generate` with no anomaly, noise 0.2 (a daily
  cycle);
* ``ar1``: an AR(1) of coefficient 0.8 and unit noise;
* ``trend``: ``cycle7`` plus a linear trend of 0.005 a row (not in the default ``--kinds``:
  the level leaves the training rows' range, which no study corpus does).

``--params`` (YAML) are handed to the detector, e.g. ``"{reference: cross_fitted}"``;
``--detrend linear`` or ``difference`` is the job's ``detrend``. The
figures quoted in ``threshold_study.md`` (after the thirteenth study)::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/short_series_false_alarms.py
    OMP_NUM_THREADS=1 python pipelines/benchmarks/short_series_false_alarms.py --params "{reference: cross_fitted}"
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

from tsseq.anomaly.config import DETRENDS, DetectionConfig, DetectorConfig
from tsseq.anomaly.job import detect_frame
from tsseq.config import DataConfig

KINDS = ("cycle7", "synthetic", "ar1", "trend")


def clean_series(kind: str, rows: int, seed: int) -> pd.DataFrame:
    """One anomaly-free series ``(rows, 1)`` of a kind (module docstring)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=rows, freq="h")
    t = np.arange(rows)
    if kind in ("cycle7", "trend"):
        values = 10 + 3 * np.sin(2 * np.pi * t / 7 + rng.uniform(0, 6)) + rng.normal(0, 0.5, rows)
        values += 0.005 * t if kind == "trend" else 0.0
    elif kind == "synthetic":
        from tsseq.data.synthetic import generate

        return generate(rows, anomalies={}, noise=0.2, seed=seed).frame
    elif kind == "ar1":
        noise, values = rng.normal(0, 1, rows), np.zeros(rows)
        for row in range(1, rows):
            values[row] = 0.8 * values[row - 1] + noise[row]
    else:
        raise SystemExit(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return pd.DataFrame({"y": values}, index=index)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS[:3]), choices=KINDS)
    parser.add_argument("--lengths", nargs="+", type=int, default=[500, 1000, 2000], help="rows of each file")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--modes", nargs="+", default=["causal", "batch"], choices=["causal", "batch"])
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--params", default="{}", help="detector parameters (YAML mapping)")
    parser.add_argument("--refit-every", type=int, default=None, help="causal mode: refit every N scored rows")
    parser.add_argument("--detrend", choices=DETRENDS, help="the job's detrend (default: none)")
    args = parser.parse_args()
    params = yaml.safe_load(args.params) or {}
    torch.set_num_threads(1)
    rows = []
    for kind in args.kinds:
        for length in args.lengths:
            for seed in args.seeds:
                frame = clean_series(kind, length, seed)
                for mode in args.modes:
                    torch.manual_seed(seed)
                    refit = args.refit_every if mode == "causal" else None
                    config = DetectionConfig(name=f"{kind}{length}_{seed}", data=DataConfig(csv="clean.csv"), mode=mode,
                                             detector=DetectorConfig(name=args.detector, params=params),
                                             refit_every=refit, detrend=args.detrend)  # fmt: skip
                    started = time.perf_counter()
                    with warnings.catch_warnings():  # the job's notes on its threshold: what this measures anyway
                        warnings.simplefilter("ignore")
                        result = detect_frame(config, frame, config.name)
                    flagged = result.table["is_anomaly"].to_numpy()[config.training_rows(length) :]
                    rows.append((kind, length, seed, mode, float(flagged.mean()), time.perf_counter() - started))
    table = pd.DataFrame(rows, columns=["kind", "rows", "seed", "mode", "flagged", "seconds"])
    detrend = f" detrend {args.detrend}" if args.detrend else ""
    print(f"{args.detector} {params or ''}{detrend}: share of a clean series' scored rows flagged, mean over seeds "
          f"{' '.join(map(str, args.seeds))} ({table['seconds'].sum():.0f} s in all)")  # fmt: skip
    shares = table.pivot_table(index=["kind", "rows"], columns="mode", values="flagged", aggfunc="mean")
    print(shares.to_string(float_format=lambda value: f"{value:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
