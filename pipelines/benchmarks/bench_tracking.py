"""Benchmark: the cost of MLflow tracking next to the training it tracks (goal: at most 5%).

The recurrent benchmark's LSTM (``etth1_S24_recurrent.yaml``: 64 x 2 layers, last-value
normalisation, L=96, H=24, batch 32, learning rate 3e-4, 5 epochs) is trained on the
ETT protocol's scaled ETTh1 "S" train split with its validation rows, twice per repeat,
in turns (:func:`timing.interleaved_repeats`):

* ``plain``: ``fit`` alone;
* ``tracked``: the whole tracked run in a SQLite store (``tracked_run``: start, parameters,
  data set identity, ``fit`` with :class:`~tsseq.tracking.MlflowCallback`, final
  metrics, the model logged as a pyfunc model, end).

Printed, over the repeats: median seconds of each; the median of the per-repeat ratios
``tracked / plain`` in wall seconds (whole run, and the ``fit`` call with the callback
alone), in CPU seconds of this process (``time.process_time``: less sensitive to other
processes than wall time), and of the best runs; and the seconds spent in the tracking
calls themselves (around ``fit`` and inside the callback's hooks) as a share of the
median plain fit, the steadiest figure on a busy machine. The store is created (and
timed) before the repeats: that happens once per store. Without the data
(``--data-dir``, ``$TSSEQ_DATA_DIR``, the tsseq cache) a seeded random walk of the
same length stands in.

    python pipelines/benchmarks/bench_tracking.py [--repeats 3] [--epochs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsseq import create
from tsseq.data.catalog import load
from tsseq.data.scaling import Scaler
from tsseq.data.splits import split_preset
from tsseq.errors import DatasetUnavailableError
from tsseq.tracking import MlflowCallback, catalog_identity, tracked_run

from timing import Stopwatch, interleaved_repeats  # this folder's helper module

L, H = 96, 24


def scaled_split(data_dir: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """ETTh1 "OT", train and validation rows of the ETT protocol, standardised with train statistics."""
    try:
        frame = load("ETTh1", data_dir=data_dir, download=False).frame[["OT"]]
        source = "ETTh1 OT"
    except DatasetUnavailableError:
        index = pd.date_range("2016-07-01", periods=14400, freq="h")
        frame = pd.DataFrame({"OT": np.cumsum(np.random.default_rng(0).normal(size=14400))}, index=index)
        source = "random walk (ETTh1 unavailable)"
    split = split_preset(frame, "ETTh1", input_length=L)
    scaler = Scaler("standard").fit(split.train)
    return scaler.transform(split.train), scaler.transform(split.validation), source


class TimedCallback(MlflowCallback):
    """MlflowCallback that adds up the seconds spent in its own hooks (the logging itself)."""

    seconds = 0.0

    def on_train_begin(self, trainer) -> None:
        with Stopwatch() as watch:
            super().on_train_begin(trainer)
        self.seconds += watch.seconds

    def on_epoch_end(self, trainer, epoch, metrics) -> None:
        with Stopwatch() as watch:
            super().on_epoch_end(trainer, epoch, metrics)
        self.seconds += watch.seconds

    def on_train_end(self, trainer, history) -> None:
        with Stopwatch() as watch:
            super().on_train_end(trainer, history)
        self.seconds += watch.seconds


def lstm(epochs: int, seed: int):
    training = {"epochs": epochs, "batch_size": 32, "learning_rate": 3e-4, "seed": seed, "progress": False, "device": "cpu"}
    return create("lstm", hidden_size=64, num_layers=2, normalization="last", input_length=L, horizon=H, training=training)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=0, help="repeats run first and discarded")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, validation, source = scaled_split(args.data_dir)
    store = tempfile.TemporaryDirectory(prefix="bench-tracking-")
    uri = f"sqlite:///{Path(store.name) / 'mlflow.db'}"
    identity = catalog_identity("ETTh1")
    with Stopwatch() as first_use:  # creating the store (MLflow's migrations) happens once per store
        with tracked_run(experiment="bench-tracking", run_name="store creation", tracking_uri=uri):
            pass

    def plain(repeat: int) -> dict:
        cpu = time.process_time()
        with Stopwatch() as whole:
            lstm(args.epochs, repeat).fit(train, validation=validation)
        return {"whole": whole.seconds, "fit": whole.seconds, "cpu": time.process_time() - cpu}

    def tracked(repeat: int) -> dict:
        estimator = lstm(args.epochs, repeat)
        cpu = time.process_time()
        with Stopwatch() as whole:
            with tracked_run(experiment="bench-tracking", run_name=f"repeat {repeat}", tracking_uri=uri) as run:
                run.log_estimator(estimator, "lstm")
                run.log_dataset(identity)
                callback = TimedCallback(run_id=run.run_id, tracking_uri=uri)
                with Stopwatch() as fit:
                    estimator.fit(train, validation=validation, callbacks=[callback])
                run.log_metrics({"val_loss": min(estimator.history_.val_loss)}, prefix="best_")
                run.log_model(estimator, train)
        return {"whole": whole.seconds, "fit": fit.seconds, "logging": whole.seconds - fit.seconds + callback.seconds,
                "cpu": time.process_time() - cpu}

    results = interleaved_repeats({"plain": plain, "tracked": tracked}, repeats=args.repeats, warmup=args.warmup)
    print(f"data: {source}; LSTM 64x2, L={L}, H={H}, {args.epochs} epochs, batch 32; {args.threads} threads; "
          f"{args.repeats} repeats after {args.warmup} warm-up; torch {torch.__version__}")
    print(f"store creation (once per store, not in the figures below): {first_use.seconds:.2f} s")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for name, runs in results.items():
        print(f"{name:8s} median {statistics.median(r['whole'] for r in runs):7.2f} s   per repeat: "
              + ", ".join(f"{r['whole']:.2f}" for r in runs))
    pairs = list(zip(results["plain"], results["tracked"]))
    whole_ratio = statistics.median(t["whole"] / p["whole"] for p, t in pairs)
    fit_ratio = statistics.median(t["fit"] / p["fit"] for p, t in pairs)
    cpu_ratio = statistics.median(t["cpu"] / p["cpu"] for p, t in pairs)
    print(f"tracked / plain, whole run in CPU seconds of this process: median {cpu_ratio:.4f}  (overhead {100 * (cpu_ratio - 1):+.2f}%)")
    around = statistics.median(t["whole"] - t["fit"] for _, t in pairs)
    print(f"tracked / plain, whole run: median {whole_ratio:.4f}  (overhead {100 * (whole_ratio - 1):+.2f}%)")
    print(f"tracked / plain, fit with the callback: median {fit_ratio:.4f}  (overhead {100 * (fit_ratio - 1):+.2f}%)")
    print(f"seconds around fit (run start/end, parameters, metrics, model): median {around:.2f}")
    logging = statistics.median(t["logging"] for t in results["tracked"])
    plain_fit = statistics.median(p["fit"] for p in results["plain"])
    print(f"seconds in tracking calls (around fit + in the callback): median {logging:.2f} = "
          f"{100 * logging / plain_fit:.2f}% of the median plain fit ({plain_fit:.2f} s)")
    best = min(t["whole"] for t in results["tracked"]) / min(p["whole"] for p in results["plain"])
    print(f"best tracked / best plain, whole run: {best:.4f}  (overhead {100 * (best - 1):+.2f}%)")
    store.cleanup()


if __name__ == "__main__":
    main()
