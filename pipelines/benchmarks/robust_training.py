"""Robust training (``training.trim_fraction``) on contaminated training rows: test PR-AUC and F1.

Real training periods are not clean. For each seed, the data source (``--data``: the
univariate generator :func:`tsseq.data.synthetic.generate`, hourly with a daily season,
or the five-column plant :func:`tsseq.data.plant.generate_plant`) makes one series whose
test rows (after ``--train-rows``) hold the source's usual mix of labelled anomalies, and
whose training rows are contaminated at ``--rates`` (0, 2, 5, 10 % of the training rows)
with anomalies of the same kinds. Both generators give the same series without anomalies
for the same seed, differing only inside the labelled stretches, so the contamination is
made by copying whole labelled stretches of a heavily contaminated draw (same seed) into
the clean training rows, in a seeded random order, until the contaminated rows reach the
rate (the last stretch may overshoot by its length; the measured share is printed).

Each detector is trained on the training rows (its last ``validation_fraction`` = 20 %
held out for early stopping, scorer and threshold, contaminated alike) and scores every
row causally (``"last"`` aggregation); the figures are over the test rows:

* PR-AUC (average precision, :func:`tsseq.anomaly.metrics.pr_auc`; the anomaly share is
  what random scores give);
* point F1 and event F1 (:func:`~tsseq.anomaly.metrics.point_precision_recall_f1`,
  :func:`~tsseq.anomaly.metrics.event_precision_recall_f1` with ``--gap`` rows bridged)
  of the flags of a stated threshold: the ``--quantile`` quantile of the detector's own
  validation scores (``threshold="quantile"``), not tuned on the labels;
* ``dropped``: the training windows that sat the last epoch out (of about
  ``0.8 * train_rows - window``).

Detectors (``--detectors``): ``lstm_ae`` (reconstruction) and ``lstm_residual`` (the
forecast-residual detector over the registered ``lstm`` forecaster), each trained plainly
and with ``training.trim_fraction`` at each of ``--trims`` (warm-up ``--warmup`` epochs;
``auto``: the windows whose loss is an outlier, :mod:`tsseq.engine.trimming`);
``lstm_ae+refit`` is the detector's older two-fit option ``contamination`` (fit, drop the
top fraction of windows once, refit) at the first fixed trim value and at ``auto`` when
given (the same fence), for comparison.

Mean over seeds. Run (torch at one thread; on 2 shared, busy cores the synthetic run took
9 minutes, the plant 14)::

    python pipelines/benchmarks/robust_training.py --data synthetic --seeds 0 1 2
    python pipelines/benchmarks/robust_training.py --data plant --seeds 0 1 2 --detectors lstm_ae
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.metrics import event_precision_recall_f1, label_segments, point_precision_recall_f1, pr_auc
from tsseq.data.plant import generate_plant
from tsseq.data.synthetic import ANOMALY_KINDS, generate

SOURCES = ("synthetic", "plant")
DETECTORS = ("lstm_ae", "lstm_residual", "lstm_ae+refit")


def make_series(
    data: str, length: int, train_rows: int, rate: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray, float]:
    """``(frame (T, C), labels (T,) bool, contaminated share of the training rows)``, module docstring."""
    if data == "synthetic":
        def draw(anomalies, clean_start):
            series = generate(length, anomalies=anomalies, anomaly_length=(5, 30), clean_start=clean_start, seed=seed)
            return series.frame, series.is_anomaly

        mix = {kind: 2 for kind in ANOMALY_KINDS}
        heavy = {kind: 8 for kind in ANOMALY_KINDS}
    else:
        def draw(anomalies, clean_start):
            plant = generate_plant(length, anomalies=anomalies, anomaly_length=(5, 60), clean_start=clean_start,
                                   seed=seed)  # fmt: skip
            return plant.frame, plant.is_anomaly

        mix = None  # the plant's default mix
        heavy = {"spike": 12, "shift": 6, "drift": 6, "stuck": 6, "oscillation": 6, "broken_coupling": 6}
    clean, _ = draw({}, 0)
    tested, test_labels = draw(mix, train_rows)  # anomalies after the training rows only
    frame, labels = clean.copy(), test_labels.copy()
    frame.iloc[train_rows:] = tested.iloc[train_rows:]
    if rate > 0:
        dirty, dirty_labels = draw(heavy, 0)
        stretches = [(a, b) for a, b in label_segments(dirty_labels) if b <= train_rows]
        order = np.random.default_rng(1000 + seed).permutation(len(stretches))
        wanted = rate * train_rows
        for position in order:
            if labels[:train_rows].sum() >= wanted:
                break
            a, b = stretches[position]
            frame.iloc[a:b] = dirty.iloc[a:b]
            labels[a:b] = True
    return frame, labels, float(labels[:train_rows].mean())


def detector(name: str, trim: float | str, args) -> object:
    training = {"epochs": args.epochs, "batch_size": 64, "learning_rate": 3e-3, "seed": 0, "device": "cpu",
                "threads": 1, "progress": False, "trim_fraction": trim, "trim_warmup_epochs": args.warmup}  # fmt: skip
    common = {"window_length": args.window, "threshold": "quantile", "threshold_params": {"q": args.quantile}}
    if name == "lstm_ae":
        return make_detector("lstm_ae", model_params={"hidden_size": 32}, training=training, **common)
    if name == "lstm_ae+refit":
        training["trim_fraction"] = 0.0
        return make_detector("lstm_ae", model_params={"hidden_size": 32}, training=training,
                             contamination=trim if trim == "auto" else float(trim), **common)  # fmt: skip
    return make_detector("forecast_residual", forecaster="lstm",
                         forecaster_params={"hidden_size": 32, "training": training}, **common)  # fmt: skip


def dropped_windows(fitted) -> int:
    """Training windows that sat the last epoch out (0 untrimmed), or that the refit left out."""
    if hasattr(fitted, "contamination_dropped_"):
        return len(fitted.contamination_dropped_)
    history = getattr(fitted, "history_", None) or getattr(getattr(fitted, "forecaster_", None), "history_", None)
    return len(history.trimmed[-1]) if history is not None and history.trimmed else 0


def evaluate(frame: pd.DataFrame, labels: np.ndarray, fitted, train_rows: int, gap: int) -> dict:
    result = fitted.detect(frame).iloc[train_rows:]
    scores = result["score"].to_numpy(dtype=np.float64)
    scores = np.where(np.isnan(scores), np.nanmin(scores), scores)
    flags, truth = result["is_anomaly"].to_numpy(dtype=bool), labels[train_rows:]
    return {
        "pr_auc": pr_auc(scores, truth),
        "point_f1": point_precision_recall_f1(flags, truth).f1,
        "event_f1": event_precision_recall_f1(flags, truth, gap=gap).f1,
        "dropped": dropped_windows(fitted),
    }


def trim_value(text: str) -> float | str:
    """A ``--trims`` value: a fraction, or ``auto`` (the outlier fence of tsseq.engine.trimming)."""
    return text if text == "auto" else float(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=SOURCES, default="synthetic")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.10])
    parser.add_argument("--trims", type=trim_value, nargs="+", default=[0.1, 0.2, "auto"])
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    parser.add_argument("--length", type=int, default=3000)
    parser.add_argument("--train-rows", type=int, default=1500)
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--gap", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, started = [], time.perf_counter()
    for rate in args.rates:
        for seed in args.seeds:
            frame, labels, share = make_series(args.data, args.length, args.train_rows, rate, seed)
            for name in args.detectors:
                fractions = [trim for trim in args.trims if trim != "auto"]
                refits = fractions[:1] + [trim for trim in args.trims if trim == "auto"]
                trims = refits if name.endswith("+refit") else [0.0, *args.trims]
                for trim in trims:
                    fitted = detector(name, trim, args).fit(frame.iloc[: args.train_rows])
                    figures = evaluate(frame, labels, fitted, args.train_rows, args.gap)
                    rows.append({"rate": rate, "share": share, "seed": seed, "detector": name, "trim": str(trim),
                                 "test_share": labels[args.train_rows :].mean(), **figures})  # fmt: skip
            print(f"rate {rate:.2f} seed {seed}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    summary = table.groupby(["detector", "trim", "rate"]).agg(
        share=("share", "mean"), pr_auc=("pr_auc", "mean"), pr_auc_sd=("pr_auc", "std"),
        point_f1=("point_f1", "mean"), event_f1=("event_f1", "mean"), dropped=("dropped", "mean"),
    )  # fmt: skip
    print(f"\n--data {args.data}: test rows {args.train_rows}..{args.length - 1}, mean over seeds {args.seeds} "
          f"(share: contaminated share of the training rows; random PR-AUC = test anomaly share "
          f"{table['test_share'].mean():.3f}); threshold: {args.quantile} quantile of validation scores")  # fmt: skip
    print(summary.to_string(float_format=lambda value: f"{value:.3f}"))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
