"""Every registered detector on the simulated plant: PR-AUC and event-level F1 per anomaly kind, wall time.

For each seed, :func:`tsseq.data.plant.generate_plant` simulates the coupled plant
(setpoint -> flow -> pressure -> temperature, power; five columns) with the default mix
of faults (spikes, shifts, drifts, stuck sensors, oscillations, broken couplings; 10 to
300 rows long) after ``--train-rows`` fault-free rows. Each detector is trained on those
rows and scores the rest causally (:func:`tsseq.anomaly.streaming.score_stream`: the
score of ``t`` from rows up to ``t``; ``bilstm_ae``, offline only, in batch mode: its
training rows are scored too but left out of the figures). A
detector that takes one channel only (``online_residual``, ``online_interval``) scores
each sensor on its own; its score is the largest of the channels' and its flags their union.

Threshold (stated, not tuned on the labels): the ``--quantile`` quantile of the
detector's own validation scores, i.e. of its normal training rows held out from its fit
(``threshold="quantile"``); detectors that refuse it keep their default (the online
detectors' alarm level). ``--threshold default`` gives every detector ``tsseq detect``'s
default in its default (causal) mode instead (``adaptive`` for the windowed ones and
``auto``: :func:`tsseq.anomaly.job.adapted_default`). ``auto`` (the default of ``tsseq detect``) combines
its members (:data:`tsseq.anomaly.auto.DEFAULT_MEMBERS`: ``lstm_ae`` on centred windows,
``var_residual`` and ``interval`` with a screened, shrunk VAR, each scoring a row by its largest
channel), each also run as its own row here (``lstm_ae_in_auto``, ``var_residual_in_auto``,
``interval_in_auto``), and ``auto_forecast_members`` (``auto`` without its autoencoder), its
threshold the same quantile of its combined validation scores (or the same default).

Per kind ``k`` (rows of the other kinds left out):

* PR-AUC (average precision, :func:`tsseq.anomaly.metrics.pr_auc`) of the scores over the
  scored rows that are normal or of kind ``k`` (random scores give about the kind's share);
* event F1 (:func:`tsseq.anomaly.metrics.event_precision_recall_f1`, ``--gap`` rows bridged):
  recall over the true events of kind ``k``; a flagged event overlapping none of them is a
  false alarm unless it overlaps another kind's event (then it counts in neither).

``--process nonlinear`` simulates the plant with its physical, nonlinear laws instead (a
valve, a quadratic pressure drop, hydraulic power), where a linear model of the sensors is
right only locally; the schedule, noises and faults are those of the linear plant.

Averaged over the seeds. Run (torch at one thread; a few minutes for three detectors)::

    python pipelines/benchmarks/plant_detectors.py --seeds 0 --detectors ar_residual lstm_ae online_residual
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch

from tsseq.anomaly.auto import DEFAULT_MEMBERS
from tsseq.anomaly.detectors import detector_names, detector_parameters, make_detector
from tsseq.anomaly.job import adapted_default
from tsseq.anomaly.metrics import event_precision_recall_f1, pr_auc
from tsseq.anomaly.streaming import score_stream
from tsseq.data.plant import PLANT_ANOMALY_KINDS, SENSORS, generate_plant
from tsseq.errors import ConfigError, DataError

RECURRENT = ("lstm_ae", "gru_ae", "bilstm_ae", "segment_ae", "dilated_ae", "lstm_vae")


def detector_params(name: str, window: int, epochs: int, quantile: float | None) -> dict:
    """Small, equal settings for every detector: the window, a short training, the threshold (the quantile;
    None: ``tsseq detect``'s default in its default, causal mode)."""
    detector, change = VARIANTS.get(name, (name, {}))
    accepted = detector_parameters(detector)
    if quantile is None:
        adapted = adapted_default(detector, "causal", {})
        params: dict = {} if adapted is None else {"threshold": adapted}
    else:
        params = {"threshold": "quantile", "threshold_params": {"q": quantile}}
    if "window_length" in accepted:
        params["window_length"] = window
    training = {"epochs": epochs, "batch_size": 64, "learning_rate": 3e-3, "seed": 0, "device": "cpu",
                "progress": False, "threads": 1}  # fmt: skip
    if "training" in accepted:
        params["training"] = training
    if detector in RECURRENT:
        params["model_params"] = {"hidden_size": 16}
    if name == "interval":  # an AR forecaster's Gaussian intervals, as the interval detector's default
        params["forecaster"] = "ar"
    if name in AUTO_ROWS:  # its members as their rows are run here
        params["members"] = [{"name": VARIANTS[row][0], "params": member_params(row)} for row in AUTO_ROWS[name]]
    return {**params, **change}


# Rows that are a registered detector configured another way: row name -> (detector name, the parameters changed).
# auto's members, each also run as its own row ("<detector>_in_auto"), configured as auto configures them.
VARIANTS = {f"{member['name']}_in_auto": (member["name"], dict(member["params"])) for member in DEFAULT_MEMBERS}
AUTO_MEMBER_ROWS = tuple(VARIANTS)  # auto's members, in its order
# auto's rows -> the member rows each combines: auto, and auto without its reconstruction member (what the autoencoder
# adds; threshold_study.md, after the thirteenth study)
AUTO_ROWS = {"auto": AUTO_MEMBER_ROWS, "auto_forecast_members": AUTO_MEMBER_ROWS[1:]}
VARIANTS["auto_forecast_members"] = ("auto", {})


def member_params(row: str) -> dict:
    """The parameters of ``auto``'s member run as ``row`` here: its change, and a recurrent row's size."""
    detector, change = VARIANTS[row]
    return {"model_params": {"hidden_size": 16}, **change} if detector in RECURRENT else dict(change)


def registered(name: str) -> str:
    """The registered detector of a row (:data:`VARIANTS`)."""
    return VARIANTS.get(name, (name,))[0]


def _scores_and_flags(name: str, params: dict, frame: pd.DataFrame, train_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T,)`` scores (NaN on unscored rows) and flags of one detector on one multichannel frame."""
    try:
        result = score_stream(make_detector(registered(name), causal=True, **params), frame, train_rows=train_rows).frame
    except ConfigError as error:
        if "causal=False" not in str(error):
            raise
        # offline only (bilstm_ae): trained on the same rows, scores every row with windows both sides
        detector = make_detector(registered(name), causal=False, **params).fit(frame.iloc[:train_rows])
        result = detector.detect(frame)
    return result["score"].to_numpy(dtype=np.float64), result["is_anomaly"].to_numpy(dtype=bool)


def run_detector(name: str, params: dict, frame: pd.DataFrame, train_rows: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Scores and flags; a one-channel detector runs on each sensor (score max, flags union)."""
    try:
        return (*_scores_and_flags(name, params, frame, train_rows), "")
    except ConfigError as error:
        if "quantile" not in str(error) or "threshold" not in params:
            raise
        params = {key: value for key, value in params.items() if key not in ("threshold", "threshold_params")}
        return (*_scores_and_flags(name, params, frame, train_rows), " (default threshold)")
    except DataError as error:
        if "univariate" not in str(error) and "one-column" not in str(error):
            raise
    scores, flags, note = [], [], " (per channel)"
    for sensor in SENSORS:
        try:
            score, flag = _scores_and_flags(name, params, frame[[sensor.name]], train_rows)
        except ConfigError:
            bare = {key: value for key, value in params.items() if key not in ("threshold", "threshold_params")}
            score, flag = _scores_and_flags(name, bare, frame[[sensor.name]], train_rows)
            note = " (per channel, default threshold)"
        scores.append(score)
        flags.append(flag)
    stacked = np.column_stack(scores)
    combined = np.full(len(stacked), np.nan)
    scored = ~np.isnan(stacked).all(axis=1)  # training rows have no score in any channel
    combined[scored] = np.nanmax(stacked[scored], axis=1)
    return combined, np.column_stack(flags).any(axis=1), note


def evaluate(scores: np.ndarray, flags: np.ndarray, kinds: np.ndarray, gap: int) -> tuple[dict, dict]:
    """PR-AUC and event F1 per kind (and over all kinds) of the scored rows."""
    scores = np.where(np.isnan(scores), np.nanmin(scores), scores)  # unscored rows rank lowest
    anomalous = kinds != ""
    pr, f1 = {}, {}
    for kind in (*PLANT_ANOMALY_KINDS, "all"):
        wanted = anomalous if kind == "all" else kinds == kind
        if not wanted.any():
            continue
        others = anomalous & ~wanted
        kept = ~others
        pr[kind] = pr_auc(scores[kept], wanted[kept])
        f1[kind] = event_precision_recall_f1(flags, wanted, gap=gap, ignore=others).f1
    return pr, f1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--detectors", nargs="+", default=None, help="detector names (default: every registered one)")
    parser.add_argument("--length", type=int, default=4000, help="rows per plant (5 min steps)")
    parser.add_argument("--train-rows", type=int, default=1200)
    parser.add_argument("--process", choices=["linear", "nonlinear"], default="linear",
                        help="the plant's sensor laws (tsseq.data.plant; nonlinear: a valve, a quadratic drop, hydraulic power)")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--threshold", choices=["quantile", "default"], default="quantile",
                        help="quantile: the --quantile quantile of each detector's validation scores; default: "
                        "tsseq detect's default threshold in its default (causal) mode")  # fmt: skip
    parser.add_argument("--gap", type=int, default=3, help="unflagged rows bridged between flagged events")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.detectors or [name for name in detector_names() if name != "forecast_residual"] + list(VARIANTS)
    pr_rows, f1_rows, seconds = {}, {}, {}
    for name in names:
        pr_runs, f1_runs, started = [], [], time.perf_counter()
        for seed in args.seeds:
            plant = generate_plant(args.length, clean_start=args.train_rows, process=args.process, seed=seed)
            params = detector_params(name, args.window, args.epochs, args.quantile if args.threshold == "quantile" else None)
            scores, flags, note = run_detector(name, params, plant.frame, args.train_rows)
            scored = slice(args.train_rows, None)
            kinds = plant.labels["kind"].to_numpy(dtype=object)
            pr, f1 = evaluate(scores[scored], flags[scored], kinds[scored], args.gap)
            pr_runs.append(pr)
            f1_runs.append(f1)
        label = name + note
        seconds[label] = (time.perf_counter() - started) / len(args.seeds)
        pr_rows[label] = pd.DataFrame(pr_runs).mean()
        f1_rows[label] = pd.DataFrame(f1_runs).mean()
        print(f"{label}: done in {seconds[label]:.1f} s per seed", flush=True)
    share = {}
    for seed in args.seeds:
        plant = generate_plant(args.length, clean_start=args.train_rows, process=args.process, seed=seed)
        kinds = plant.labels["kind"].to_numpy()
        kinds = kinds[args.train_rows :]
        for kind in (*PLANT_ANOMALY_KINDS, "all"):
            wanted = (kinds != "") if kind == "all" else kinds == kind
            kept = ~((kinds != "") & ~wanted)
            share.setdefault(kind, []).append(wanted[kept].mean())
    pr_table = pd.DataFrame(pr_rows).T
    pr_table.loc["(anomaly share = random)"] = {kind: float(np.mean(values)) for kind, values in share.items()}
    f1_table = pd.DataFrame(f1_rows).T
    f1_table["seconds"] = pd.Series(seconds)
    fmt = lambda value: f"{value:.3f}"  # noqa: E731
    print(f"\nPR-AUC per kind on rows {args.train_rows}..{args.length - 1}, mean over seeds {args.seeds}:")
    print(pr_table.to_string(float_format=fmt))
    threshold = f"{args.quantile} quantile of validation scores" if args.threshold == "quantile" else "tsseq detect's default"
    print(f"\nEvent F1 per kind (threshold: {threshold}; gap {args.gap}), "
          f"wall seconds per seed:")  # fmt: skip
    print(f1_table.to_string(float_format=fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
