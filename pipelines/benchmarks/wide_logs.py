"""Wide logs: many loosely related channels, where a VAR's least-squares cross terms are noise.

``--plants K`` simulated plants (:func:`tsseq.data.plant.generate_plant`, seeds ``--seed``
to ``--seed + K - 1``, 5 channels each) side by side make a ``5 K``-channel log of 4000
rows; the first 1200 are for training, the last 240 of those held out. Two reports:

1. ``errors``: median over rows of the channels' mean absolute one-step error (the log
   standardised by its fitting rows), in sample / held out / on the 2800 test rows, of a
   VAR by least squares, the same with its cross-channel terms shrunk
   (``cross_penalty="gcv"``), the same with the channels that Haugh's test finds unrelated
   left out of each equation (``cross_screen=0.01``) and one AR per channel, all of order
   ``--order`` fitted on the first 960 rows (anomaly-free plants);
2. ``detect`` (``--detect [DETECTOR ...]``): ``tsseq detect`` with no option but
   ``--train-rows 1200`` (and ``--detector`` when one is named; none: its default, ``auto``)
   on the anomaly-free log, in a subprocess as a user runs it: the share of the test rows it
   flags (each a false alarm);
3. ``--penalties``: the share ``var_residual`` flags on the anomaly-free log under the causal
   default threshold (``adaptive``), its VAR's ``cross_penalty`` each of the values given
   (``inf``: one AR per channel; ``screened``: ``"gcv"`` with ``cross_screen=0.01``), window 32,
   the channels' mean error (the detector's defaults before the eleventh study).

Run (one torch thread)::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/wide_logs.py --plants 1 4 8 --seed 100 --order 3 --detect
    OMP_NUM_THREADS=1 python pipelines/benchmarks/wide_logs.py --plants 1 4 8 --detect auto var_residual interval
    OMP_NUM_THREADS=1 python pipelines/benchmarks/wide_logs.py --plants 4 8 --penalties gcv 0.1 1 inf screened
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq.anomaly.detectors import SCREENED_VAR
from tsseq.data.plant import generate_plant
from tsseq.var import VAR

ROWS, TRAIN_ROWS, HELD_OUT = 4000, 1200, 240


def wide_log(plants: int, seed: int) -> pd.DataFrame:
    """``plants`` anomaly-free plants side by side, columns ``<sensor>_<k>``."""
    parts = [generate_plant(ROWS, seed=seed + k, anomalies={}).frame.add_suffix(f"_{k}") for k in range(plants)]
    return pd.concat(parts, axis=1)


def one_step_errors(model, values: np.ndarray, order: int) -> np.ndarray:
    """``(T - order,)``: each row's mean absolute one-step error over the channels, from the ``order`` rows before it."""
    windows = np.lib.stride_tricks.sliding_window_view(values[:-1], order, axis=0).transpose(0, 2, 1)
    predictions = model.predict_windows(np.ascontiguousarray(windows), 1)[:, 0]
    return np.abs(values[order:] - predictions).mean(axis=1)


FITS = {  # cross_penalty=inf is one AR per channel on the same rows (tests/test_var.py)
    "least squares": {},
    "cross_penalty=gcv": {"cross_penalty": "gcv"},
    "screened (cross_screen=0.01) and gcv": SCREENED_VAR,  # the detectors' VAR
    "AR per channel": {"cross_penalty": float("inf")},
}


def report_errors(frame: pd.DataFrame, order: int) -> str:
    fit_rows = TRAIN_ROWS - HELD_OUT
    values = frame.to_numpy()
    values = (values - values[:fit_rows].mean(axis=0)) / values[:fit_rows].std(axis=0)
    fitted = pd.DataFrame(values[:fit_rows], index=frame.index[:fit_rows])
    rows = np.arange(order, len(values))
    spans = (rows < fit_rows, (rows >= fit_rows) & (rows < TRAIN_ROWS), rows >= TRAIN_ROWS)
    parts = []
    for label, params in FITS.items():
        errors = one_step_errors(VAR(order=order, **params).fit(fitted), values, order)
        parts.append(f"{label} " + " / ".join(f"{np.median(errors[span]):.3f}" for span in spans))
    return "; ".join(parts)


def report_detect(frame: pd.DataFrame, detector: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        data, output = Path(folder) / "wide.csv", Path(folder) / "scores.csv"
        frame.to_csv(data, index_label="timestamp")
        started = time.perf_counter()
        command = ["tsseq", "detect", str(data), "--train-rows", str(TRAIN_ROWS), "--output", str(output), "--threads", "1"]
        command += [] if detector == "auto" else ["--detector", detector]
        subprocess.run(command, check=True, capture_output=True)
        flagged = pd.read_csv(output)["is_anomaly"].to_numpy()[TRAIN_ROWS:]
    named = "" if detector == "auto" else f" --detector {detector}"
    return f"tsseq detect{named} flags {flagged.mean():.3f} of the test rows ({time.perf_counter() - started:.0f} s)"


def report_penalties(frame: pd.DataFrame, penalties: list[str]) -> str:
    from tsseq.anomaly.detectors import make_detector

    parts = []
    for text in penalties:
        # each VAR as named and nothing else: var_residual's own screen and largest channel (its defaults since the
        # eleventh study) would otherwise come with every penalty
        if text == "screened":
            params = SCREENED_VAR
        else:
            params = {"cross_penalty": text if text == "gcv" else float(text), "cross_screen": None}
        detector = make_detector("var_residual", window_length=32, threshold="adaptive", forecaster_params=params,
                                 scorer_params={"reduction": "mean"}).fit(frame.iloc[:TRAIN_ROWS])  # fmt: skip
        parts.append(f"{text} {detector.predict(frame).to_numpy()[TRAIN_ROWS:].mean():.3f}")
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plants", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--detect", nargs="*", default=None, metavar="DETECTOR",
                        help="also run tsseq detect on the anomaly-free log (with each detector named; none: auto)")
    parser.add_argument("--penalties", nargs="*", default=[],
                        help="also the share var_residual flags with each cross_penalty (gcv, numbers, inf; "
                             "screened: gcv with cross_screen=0.01)")
    args = parser.parse_args()
    for plants in args.plants:
        frame = wide_log(plants, args.seed)
        print(f"{frame.shape[1]} channels, median one-step error in sample / held out / test, order {args.order}: "
              f"{report_errors(frame, args.order)}", flush=True)  # fmt: skip
        for detector in [] if args.detect is None else args.detect or ["auto"]:
            print(f"{frame.shape[1]} channels: {report_detect(frame, detector)}", flush=True)
        if args.penalties:
            print(f"{frame.shape[1]} channels, share var_residual flags by cross_penalty: "
                  f"{report_penalties(frame, args.penalties)}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
