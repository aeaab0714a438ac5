"""Benchmark of tsseq.anomaly detectors: batch scoring throughput in points per second.

Each detector is trained on the first ``--train-rows`` rows of a seeded synthetic series
(``tsseq.data.synthetic.generate``, spikes and level shifts injected) and then scores
the whole series: ``score`` (batch: all windows in one pass of the fitted model) and
``score_stream`` (the causal replay, the same batched scoring plus the online threshold).
Prints the median seconds and points/s of each, and the ROC-AUC on the scored rows as a
sanity check. Fitting time is printed apart. With tsseq installed (``pip install -e .``):

    python pipelines/benchmarks/bench_detectors.py [--rows 20000] [--window 48] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys

import torch
from sklearn.metrics import roc_auc_score

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.streaming import score_stream
from tsseq.data.synthetic import generate

from timing import Stopwatch, median_seconds  # this folder's helper module

TRAINING = {"epochs": 5, "batch_size": 64, "learning_rate": 0.005, "device": "cpu", "progress": False}
DETECTORS = {
    "lstm_ae": {"model_params": {"hidden_size": 32}, "training": TRAINING},
    "gru_ae": {"model_params": {"hidden_size": 32}, "training": TRAINING},
    "segment_ae": {"model_params": {"hidden_size": 32, "segment_length": 8}, "training": TRAINING},
    "lstm_vae": {"model_params": {"hidden_size": 32}, "training": TRAINING},
    "ar_residual": {"forecaster_params": {"max_order": 32}},
    "ar_residual+likelihood": {"forecaster_params": {"max_order": 32}, "scorer": "likelihood"},
    "var_residual": {},
    # the lag filter (tsseq.anomaly.lag_filter): L one-step forecasts of every window, one batched call each
    "var_residual+lag_clip": {"lag_clip": 3.0},
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--window", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the test machine has 2 shared cores)")
    parser.add_argument("--detectors", nargs="*", default=list(DETECTORS), choices=list(DETECTORS))
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    series = generate(args.rows, anomalies={"spike": 20, "level_shift": 5}, clean_start=args.train_rows, seed=0)
    frame, labels = series.frame, series.is_anomaly
    print(f"command: python {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.rows} rows, window {args.window}, trained on {args.train_rows} rows")  # fmt: skip
    header = ("fit s", 7), ("score s", 8), ("points/s", 10), ("stream s", 9), ("points/s", 10), ("ROC-AUC", 8)
    print(f"{'detector':24s} " + " ".join(f"{name:>{width}s}" for name, width in header))
    for label in args.detectors:
        name = label.split("+")[0]
        detector = make_detector(name, window_length=args.window, threshold="spot", **DETECTORS[label])
        with Stopwatch() as fitting:
            detector.fit(frame.iloc[: args.train_rows])
        scores = detector.score(frame)
        batch_seconds = median_seconds(lambda: detector.score(frame), args.repeats)
        stream_seconds = median_seconds(lambda: score_stream(detector, frame, train_rows=args.train_rows), 1)
        scored = scores.iloc[args.train_rows :]
        finite = scored.notna().to_numpy()
        auc = roc_auc_score(labels[args.train_rows :][finite], scored.to_numpy()[finite])
        print(f"{label:24s} {fitting.seconds:7.2f} {batch_seconds:8.3f} {args.rows / batch_seconds:10.0f} "
              f"{stream_seconds:9.2f} {(args.rows - args.train_rows) / stream_seconds:10.0f} {auc:8.3f}")  # fmt: skip
    print("stream s includes the fit on the training rows; its points/s counts the streamed rows.")


if __name__ == "__main__":
    main()
