"""PR-AUC per injected anomaly kind for every tsseq detector, on seeded synthetic series.

For each kind (spike, level_shift, variance_change, flatline, seasonal_break) and seed,
:func:`tsseq.data.synthetic.generate` makes a daily-seasonal hourly series with a few
anomalies of that kind after ``--train-rows`` clean rows. Every detector is trained on
those clean rows and scores the rest causally (the score of ``t`` from rows up to ``t``);
the PR-AUC (average precision, :func:`tsseq.anomaly.metrics.pr_auc`) of the scored rows
against the injected labels is averaged over the seeds and printed as a table (random
scores give about the anomaly rate, shown in the last row).

Detectors: the reconstruction autoencoders and the AR forecast-residual detector of
:mod:`tsseq.anomaly.detectors` (absolute error, ``"last"`` aggregation), the same AR
residual through the Numenta likelihood scorer, and
:class:`tsseq.anomaly.online.OnlineResidualDetector` without and with its optional alarm
suppression (off by default; it zeroes the rows after an alarm: good for NAB's one-alarm-per-window
rule, bad for point-wise PR-AUC on long anomalies), and the interval detectors (tail
probability ``-log10 p`` under a predictive distribution): ``interval`` over AR's
Gaussian intervals and over an LSTM trained with a normal likelihood, and
:class:`tsseq.anomaly.online_interval.OnlineIntervalDetector`. Run (about a few minutes on 2 cores)::

    python pipelines/benchmarks/synthetic_detectors.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.metrics import pr_auc
from tsseq.anomaly.online import OnlineResidualDetector
from tsseq.data.synthetic import ANOMALY_KINDS, generate

SMALL_TRAINING = {"epochs": 15, "batch_size": 64, "learning_rate": 3e-3, "seed": 0, "device": "cpu"}


def detectors(window: int) -> dict:
    """Label -> a function ``(train (T0, 1), full (T, 1)) -> scores (T,)`` of one detector."""

    def batch(name: str, **params):
        def score(train: pd.DataFrame, full: pd.DataFrame) -> np.ndarray:
            detector = make_detector(name, threshold=None, causal=True, window_length=window, **params)
            return detector.fit(train).score(full).to_numpy()

        return score

    def online(**params):
        def score(train: pd.DataFrame, full: pd.DataFrame) -> np.ndarray:
            return OnlineResidualDetector(**params).stream(full.iloc[:, 0], train_rows=len(train)).to_numpy()

        return score

    def online_interval(**params):
        def score(train: pd.DataFrame, full: pd.DataFrame) -> np.ndarray:
            detector = make_detector("online_interval", threshold=None, **params)
            return detector.stream(full, train_rows=len(train)).to_numpy()

        return score

    neural = {"model_params": {"hidden_size": 16}, "training": SMALL_TRAINING}
    return {
        "lstm_ae": batch("lstm_ae", **neural),
        "gru_ae": batch("gru_ae", **neural),
        "segment_ae": batch("segment_ae", **neural),
        "dilated_ae": batch("dilated_ae", **neural),
        "lstm_vae": batch("lstm_vae", **neural),
        "ar_residual": batch("ar_residual"),
        "ar_residual + likelihood": batch("ar_residual", scorer="likelihood"),
        "online_residual": online(),  # suppression off: its default
        "online_residual, suppression 0.2": online(suppression=0.2),
        "interval (ar)": batch("interval"),
        "interval (lstm, normal loss)": batch(
            "interval", forecaster="lstm",
            forecaster_params={"hidden_size": 16, "training": {**SMALL_TRAINING, "loss": "normal"}},
        ),  # fmt: skip
        "online_interval": online_interval(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--per-kind", type=int, default=3, help="anomalies of the kind per series")
    parser.add_argument("--window", type=int, default=32, help="window length of the batch detectors")
    parser.add_argument("--only", nargs="*", default=None, help="detector labels to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen = {k: v for k, v in detectors(args.window).items() if args.only is None or k in args.only}
    table = {label: {} for label in chosen}
    rates = {}
    seconds = {label: 0.0 for label in chosen}
    for kind in ANOMALY_KINDS:
        results = {label: [] for label in chosen}
        kind_rates = []
        for seed in args.seeds:
            series = generate(
                args.length, anomalies={kind: args.per_kind}, clean_start=args.train_rows, noise=0.2,
                seasonalities=((24, 1.0), (168, 0.5)), seed=seed,
            )
            frame, labels = series.frame, series.is_anomaly
            scored = slice(args.train_rows, None)
            kind_rates.append(labels[scored].mean())
            for label, score in chosen.items():
                started = time.perf_counter()
                scores = score(frame.iloc[: args.train_rows], frame)[scored]
                seconds[label] += time.perf_counter() - started
                scores = np.where(np.isnan(scores), np.nanmin(scores), scores)  # unscored rows rank lowest
                results[label].append(pr_auc(scores, labels[scored]))
        for label in chosen:
            table[label][kind] = float(np.mean(results[label]))
        rates[kind] = float(np.mean(kind_rates))
        print(f"{kind}: done", flush=True)
    frame = pd.DataFrame(table).T[list(ANOMALY_KINDS)]
    frame["mean"] = frame.mean(axis=1)
    frame["seconds"] = pd.Series(seconds)
    frame.loc["(anomaly rate = random)"] = {**rates, "mean": float(np.mean(list(rates.values()))), "seconds": np.nan}
    print(f"\nPR-AUC (average precision) on rows {args.train_rows}..{args.length - 1}, mean over seeds {args.seeds}, "
          f"{args.per_kind} anomalies of one kind per series:")
    print(frame.to_string(float_format=lambda value: f"{value:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
