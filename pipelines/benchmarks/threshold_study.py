"""Which default threshold transfers: threshold rules across corpora with different anomaly kinds.

Each detector family is trained ONCE per corpus series (``--detectors``; 1 torch thread)
on the series' normal training rows and scores every row causally (the score of ``t``
from rows up to ``t``, the model fixed after training). Its raw scores are cached in
``--cache`` (``<corpus>_<series>_<detector>.npz``: ``train`` = the in-sample scores of
the training rows, ``validation`` = the detector's held-out ``validation_scores_``, the
last 20% of the training rows scored by a model that did not see them, ``test`` = the
rows after the training rows, ``labels``), so threshold rules are compared without
retraining. No rule sees a label: each is fitted on normal-period scores from one of two
sources, ``validation`` or ``normal`` (= every training row's score, the validation rows
included; the online detectors, which have no in-sample scores, use their streamed
validation scores for both).

Corpora (``--corpora``; fixed before any result was seen):

* ``plant``: :func:`tsseq.data.plant.generate_plant` (5 coupled sensors; spikes, shifts,
  drifts, stuck sensors, oscillations, broken couplings, 10-300 rows), 4000 rows, the
  first 1200 fault-free for training, seeds ``--seeds``;
* ``synthetic``: :func:`tsseq.data.synthetic.generate`, univariate hourly with daily and
  weekly seasonality, noise 0.2, one series per seed with every kind (2 spikes, and one
  level shift, variance change, flatline, seasonal break of 10-50 rows), 3000 rows, the
  first 900 clean for training;
* ``nab``: NAB's ``realKnownCause`` category (7 real series, labelled windows), trained on
  NAB's probationary period (``min(0.15 n, 750)`` rows) - few normal scores, as in the
  issue's industrial case. Timestamps are replaced by a regular grid of the median step;
* ``wide4``, ``wide8`` (eighth study): 4 or 8 plants (seeds ``1000 + 10 s + k``) side by side,
  20 or 40 channels, faults in the first plant only, the first 1200 rows for training;
* ``nplant`` (session 19): ``plant`` with the nonlinear laws (``process="nonlinear"``: a
  valve, a quadratic pressure drop, hydraulic power), the same schedule, noises and faults.

Rules (each with causal smoothing of the scores, :func:`tsseq.anomaly.thresholds.causal_smooth`,
moving mean over ``k`` rows, ``k`` in ``--smoothing``, and a moving median for ``k > 1``):

* ``spot`` / ``dspot``: :class:`~tsseq.anomaly.thresholds.SPOT` / ``DSPOT``, ``level = 0.98``,
  ``q = 1e-4`` (SPOT: the detectors' default before this study) and ``q = 1e-3`` (the
  job-file example), fitted on the validation scores, streaming, unsmoothed only: on
  drifting scores every row is a peak and SPOT refits its tail at each (quadratic time);
  a run over ``SPOT_SECONDS`` on one series is recorded as unfinished (NaN, its corpus
  mean over the other series; a rule unfinished on a whole corpus cannot be chosen);
* ``quantile r``: the ``1 - r`` quantile of the normal scores, false-alarm rate ``r`` in
  1%, 0.5%, 0.1%; ``pot r``: a GPD tail over the 0.98 quantile, fixed, at ``r`` in 1e-2,
  1e-3 (:class:`~tsseq.anomaly.thresholds.FalseAlarmThresholder`);
* ``alarm_level 0.5`` (``online_residual`` only, its default before this study): the
  fixed level of its calibrated likelihood score, nothing fitted.

Reference: the ORACLE, the best fixed training-quantile threshold per corpus and detector:
one quantile ``q`` of the ``normal`` scores (no smoothing) for every series of the corpus,
``q`` chosen on the test labels among ``1 - geomspace(1e-4, 0.3, 40)``. Point F1 and event
F1 (``--gap`` rows bridged) are averaged over the corpus's series; the gap is oracle F1
minus the rule's (negative: better than the oracle). The default of each family is the
rule with the smallest worst-case point-F1 gap over the corpora (ties: mean gap), i.e.
chosen across corpora, never on one. Run::

    OMP_NUM_THREADS=1 TSSEQ_DATA_DIR=/work/shared/datasets python pipelines/benchmarks/threshold_study.py \\
        --corpora plant synthetic nab --seeds 0 1 --output tmp/cache/threshold_study_long.csv

Second study (pre-registered in ``threshold_study.md`` before it ran; ``TRANSDUCTIVE_RULES``):
thresholds adapted to the scored period for batch jobs,
:class:`~tsseq.anomaly.thresholds.TransductiveThresholder` (Otsu, Otsu lower only, a
two-component mixture, kneedle, an estimated F1), fitted on the normal scores and applied
to the test rows (``scored``) or to the training and test rows (``train+scored``, as
``tsseq detect --mode batch`` scores a file), against the same oracle; criterion: the
worst-case point-F1 gap over the corpora and ``CRITERION_FAMILIES``. Added after the
first study as well: SPOT on causally smoothed scores (``SPOT_SMOOTHED``) and
the ``online_interval`` family (its ``alarm_level 5``).

Third study (pre-registered likewise; ``SMOOTHED_RULES``, source ``smoothed``): the normal and
the scored scores smoothed by a centred moving mean or median before Otsu's split, confirmed
on series no rule had been tried on (``--seeds 4 5 --nab-category realAdExchange``, with
``--no-spot`` and a separate ``--cache``); the centred mean of 9 rows won and is the batch
default now.

Fourth study (pre-registered likewise; ``CAUSAL_RULES``, source ``causal``): causal thresholds for
the streamed (default) mode of ``tsseq detect``: the floor lowered to Otsu's split of the scored
rows seen so far (:class:`~tsseq.anomaly.thresholds.AdaptiveThresholder`), run over the scored
rows as a stream, confirmed on ``--seeds 6 7 --nab-category realTweets``.

Fifth to seventh studies (pre-registered likewise; ``VARIANTS``, :func:`report_members`): not a
threshold but ``auto``'s members, each under the two defaults above, against the same oracle,
with the PR-AUC of its scores: the forecasting members as a vector autoregression
(``auto_var``, adopted after the sixth), then the autoencoder on centred windows for
multichannel data (``auto_var_centred``, adopted after the seventh); confirmed on plant seeds
8-11, 12-15 and 16-19 with clean plant seeds 4-7, 8-11 and 12-15.

Fourteenth study (pre-registered likewise; ``FOURTEENTH_RULES``, source ``fourteenth``): both
defaults with the ``gate`` of :class:`~tsseq.anomaly.thresholds.AdaptiveThresholder` (a flagged
row's own score above the 0.9 quantile of the normal scores), adopted in both modes; scored by
``auto_shipped`` (``auto`` as ``tsseq detect`` runs it) on the corpora above, the ``daily`` corpus
(a file as a user first tries one) and NAB's ``realAWSCloudwatch``.

Fifteenth study (pre-registered likewise): not a threshold but ``auto``'s forecasting members
reading rows cleaned by the lag filter (:mod:`tsseq.anomaly.lag_filter`; the rows of
:data:`LAG_CLIPPED`), under the gated defaults; adopted on one-channel data.

The result, and the defaults chosen from it: ``threshold_study.md`` next to this script.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.metrics import event_precision_recall_f1, point_precision_recall_f1, pr_auc
from tsseq.anomaly.thresholds import DSPOT, SPOT, causal_smooth, make_thresholder
from tsseq.errors import DataError

FAMILIES = ("lstm_ae", "gru_ae", "ar_residual", "interval", "online_residual", "online_interval", "auto")
ONLINE = ("online_residual", "online_interval")  # causal only, each with its own calibrated alarm level
ALARM_LEVELS = {"online_residual": 0.5, "online_interval": 5.0}
TRAINING = {"epochs": 10, "batch_size": 64, "learning_rate": 3e-3, "seed": 0, "device": "cpu",
            "progress": False, "threads": 1}  # fmt: skip
ORACLE_QUANTILES = 1.0 - np.geomspace(1e-4, 0.3, 40)
FLAG_ALL = "flag every row"
SPOT_SECONDS = 20  # a streaming SPOT/DSPOT run longer than this on one series is recorded as unfinished (NaN)


def _timeout(signum, frame):
    raise TimeoutError


signal.signal(signal.SIGALRM, _timeout)


# --------------------------------------------------------------------------- corpora
# Eighth study: wide logs, this many independent plants side by side (5 sensors each; 20 and 40 channels).
WIDE_PLANTS = {"wide4": 4, "wide8": 8}
# Session 20: short series, 30% of their rows for training as `tsseq detect` takes by default, with fewer and
# shorter faults than the long corpora so that the scored rows are not mostly faulty.
SHORT = {"synthetic-short": (600, {"spike": 1, "level_shift": 1, "flatline": 1}),
         "plant-short": (1000, {"spike": 1, "shift": 1, "stuck": 1, "oscillation": 1}),
         # Session 22: a file as a user first tries: 1500 hourly rows, a daily cycle alone, one spike, one level shift.
         "daily": (1500, {"spike": 1, "level_shift": 1})}  # fmt: skip


# Session 20: the synthetic corpus with a linear trend (synthetic-trend): its level rises by 0.9 over the training
# rows and 2.1 more over the scored ones, against a daily cycle of amplitude 1 and noise 0.2.
TREND = 0.001


def synthetic_series(length: int, kinds: dict, train_rows: int, seed: int, trend: float = 0.0,
                     seasonalities: tuple = ((24, 1.0), (168, 0.5))):
    """One series of the synthetic corpora (hourly, daily and weekly cycles, noise 0.2), as :func:`corpus_series`
    yields it."""
    from tsseq.data.synthetic import generate

    series = generate(length, anomalies=kinds, clean_start=train_rows, noise=0.2, trend=trend,
                      seasonalities=seasonalities, seed=seed)  # fmt: skip
    return f"seed{seed}", series.frame, np.asarray(series.is_anomaly, dtype=bool), train_rows


def short_series(corpus: str, seeds: list[int], clean: bool):
    """:func:`corpus_series` of the :data:`SHORT` corpora."""
    length, kinds = SHORT[corpus]
    kinds, train_rows = {} if clean else kinds, int(0.3 * length)
    for seed in seeds:
        if corpus == "synthetic-short":
            yield synthetic_series(length, kinds, train_rows, seed)
        elif corpus == "daily":
            yield synthetic_series(length, kinds, train_rows, seed, seasonalities=((24, 1.0),))
        else:
            from tsseq.data.plant import generate_plant

            plant = generate_plant(length, clean_start=train_rows, seed=seed, anomalies=kinds, anomaly_length=(10, 60))
            yield f"seed{seed}", plant.frame, np.asarray(plant.is_anomaly, dtype=bool), train_rows


def corpus_series(corpus: str, seeds: list[int], nab_category: str = "realKnownCause"):
    """Yield ``(series name, frame (T, C) on a regular grid, labels (T,) bool, training rows)``."""
    clean = corpus.endswith("-clean")  # the same generator with no anomaly: what a rule flags is a false alarm
    if corpus.removesuffix("-clean") in SHORT:  # session 20: few training rows
        yield from short_series(corpus.removesuffix("-clean"), seeds, clean)
    elif corpus.removesuffix("-clean") in ("plant", "nplant"):
        from tsseq.data.plant import generate_plant

        process = "nonlinear" if corpus.startswith("nplant") else "linear"
        for seed in seeds:
            plant = generate_plant(4000, clean_start=1200, seed=seed, anomalies={} if clean else None, process=process)
            yield f"seed{seed}", plant.frame, plant.is_anomaly.astype(bool), 1200
    elif corpus.removesuffix("-clean") in WIDE_PLANTS:  # eighth study: plants side by side, a wide log
        from tsseq.data.plant import generate_plant

        plants = WIDE_PLANTS[corpus.removesuffix("-clean")]
        for seed in seeds:
            # faults in the first plant only: a fifth of the rows faulty or fewer, as on one plant, not most of them
            parts = [generate_plant(4000, clean_start=1200, seed=1000 + 10 * seed + k,
                                    anomalies={} if clean or k > 0 else None) for k in range(plants)]  # fmt: skip
            frame = pd.concat([part.frame.add_suffix(f"_{k}") for k, part in enumerate(parts)], axis=1)
            yield f"seed{seed}", frame, np.any([part.is_anomaly for part in parts], axis=0), 1200
    elif corpus.removesuffix("-clean") in ("synthetic", "synthetic-trend"):
        kinds = {} if clean else {"spike": 2, "level_shift": 1, "variance_change": 1, "flatline": 1, "seasonal_break": 1}
        trend = TREND if corpus.startswith("synthetic-trend") else 0.0
        for seed in seeds:
            yield synthetic_series(3000, kinds, 900, seed, trend)
    elif corpus == "nab":
        from tsseq.anomaly.nab import probationary_rows
        from tsseq.data.catalog import load

        dataset = load("nab")
        for key in sorted(dataset.anomaly_windows):
            if not key.startswith(f"{nab_category}/"):
                continue
            raw = dataset.frame.loc[key]["value"]
            stamps = pd.DatetimeIndex(raw.index)
            labels = np.zeros(len(raw), dtype=bool)
            for start, end in dataset.anomaly_windows[key]:
                labels |= (stamps >= pd.Timestamp(start)) & (stamps <= pd.Timestamp(end))
            step = pd.Series(stamps).diff().median()
            index = pd.date_range(stamps[0], periods=len(raw), freq=step)
            frame = pd.DataFrame({"value": raw.to_numpy(dtype=np.float64)}, index=index)
            yield key.split("/")[1].removesuffix(".csv"), frame, labels, probationary_rows(len(raw))
    else:
        raise SystemExit(f"unknown corpus {corpus!r}; expected plant, nplant, synthetic, nab, wide4, wide8, "
                         "synthetic-short, plant-short, daily or synthetic-trend (-clean: without faults)")


# --------------------------------------------------------------------------- scores
# auto's members as the studies configure them; the fifth to seventh studies' VARIANTS swap them.
LSTM_MEMBER = {"name": "lstm_ae", "params": {"model_params": {"hidden_size": 16}, "training": TRAINING}}
AR_INTERVAL = {"name": "interval", "params": {"forecaster": "ar"}}
# The least-squares VAR, said explicitly: the interval detector screens and shrinks a VAR by default since the tenth study.
LEAST_SQUARES_VAR = {"cross_penalty": None, "cross_screen": None}
VAR_INTERVAL = {"name": "interval", "params": {"forecaster": "var", "forecaster_params": LEAST_SQUARES_VAR}}
# var_residual's default until the eleventh study, said explicitly: the least-squares VAR, the channels' mean error.
MEAN = {"scorer_params": {"reduction": "mean"}}
VAR_RESIDUAL = {"name": "var_residual", "params": {"forecaster_params": LEAST_SQUARES_VAR, **MEAN}}
# Seventh study: the autoencoder fed centred windows (ReconstructionDetector's centre_windows).
CENTRED_MEMBER = {"name": "lstm_ae", "params": {**LSTM_MEMBER["params"], "centre_windows": "multichannel"}}
# Eighth study: the VAR members with their cross-channel terms shrunk (tsseq.var, cross_penalty="gcv").
SHRUNK = {"forecaster_params": {"cross_penalty": "gcv", "cross_screen": None}}
SHRUNK_INTERVAL = {"name": "interval", "params": {**VAR_INTERVAL["params"], **SHRUNK}}
# Fifth to eighth studies: a registered detector configured another way -> (its name, the parameters changed).
VARIANTS = {
    "interval_var": ("interval", VAR_INTERVAL["params"]),
    "var_residual_least_squares": ("var_residual", VAR_RESIDUAL["params"]),  # the earlier studies' var_residual
    "auto_var": ("auto", {"members": [LSTM_MEMBER, VAR_RESIDUAL, VAR_INTERVAL]}),  # auto's default in the sixth
    "auto_var_ar": ("auto", {"members": [LSTM_MEMBER, VAR_RESIDUAL, AR_INTERVAL]}),
    "lstm_ae_centred": ("lstm_ae", {"centre_windows": True}),
    "auto_var_centred": ("auto", {"members": [CENTRED_MEMBER, VAR_RESIDUAL, VAR_INTERVAL]}),  # in the seventh
    "var_residual_shrunk": ("var_residual", {**SHRUNK, **MEAN}),
    "interval_var_shrunk": ("interval", SHRUNK_INTERVAL["params"]),
    # auto's default since the eighth study
    "auto_shrunk": ("auto", {"members": [CENTRED_MEMBER, {"name": "var_residual", "params": {**SHRUNK, **MEAN}},
                                         SHRUNK_INTERVAL]}),  # fmt: skip
}
# Ninth study: the same, with the channels that a test on innovations finds unrelated left out (cross_screen).
SCREENED = {"forecaster_params": {"cross_penalty": "gcv", "cross_screen": 0.01}}
SCREENED_INTERVAL = {"name": "interval", "params": {**VAR_INTERVAL["params"], **SCREENED}}
VARIANTS |= {
    "var_residual_screened": ("var_residual", {**SCREENED, **MEAN}),
    "interval_var_screened": ("interval", SCREENED_INTERVAL["params"]),
    "auto_screened": ("auto", {"members": [CENTRED_MEMBER, {"name": "var_residual", "params": {**SCREENED, **MEAN}},
                                           SCREENED_INTERVAL]}),  # fmt: skip
    # Eleventh study: the screened VAR's residual scored by its largest channel instead of the channels' mean; since
    # then var_residual's default (the row "var_residual"; the earlier studies' is "var_residual_least_squares").
    "var_residual_screened_max": ("var_residual", {**SCREENED, "scorer_params": {"reduction": "max"}}),
}
# Twelfth study: auto's members each scoring a row by its largest channel (the interval detector's Sidak combination
# already asks about its most extreme channel), its VAR members screened.
LARGEST = {"scorer_params": {"reduction": "max"}}
VARIANTS["auto_max"] = ("auto", {"members": [{"name": "lstm_ae", "params": {**CENTRED_MEMBER["params"], **LARGEST}},
                                             {"name": "var_residual", "params": {**SCREENED, **LARGEST}},
                                             SCREENED_INTERVAL]})  # fmt: skip
# Session 19's exploration of the wide logs (threshold_study.md): auto_max without its autoencoder.
VARIANTS["auto_max_var_only"] = ("auto", {"members": VARIANTS["auto_max"][1]["members"][1:]})
# Session 20: auto_max whose normalisers and threshold read cross-fitted training scores (each half of the
# training rows scored by the members fitted on the other half); its "train" scores are those (raw_scores).
VARIANTS["auto_max_cross"] = ("auto", {**VARIANTS["auto_max"][1], "reference": "cross_fitted"})
# Session 20's exploration of trending series (threshold_study.md): auto_max with its autoencoder centred on one
# channel too.
CENTRED_ALWAYS = {"name": "lstm_ae", "params": {**VARIANTS["auto_max"][1]["members"][0]["params"], "centre_windows": True}}
VARIANTS["auto_max_centred"] = ("auto", {"members": [CENTRED_ALWAYS, *VARIANTS["auto_max"][1]["members"][1:]]})
# ... and its forecasting members the closed-form linear forecaster anchored on each window's last value (tsseq.linear,
# NLinear's anchor): a level the training rows never held moves the forecast with it.
ANCHORED = {"forecaster": "linear", "forecaster_params": {"anchor": "last"}}
VARIANTS["auto_max_anchored"] = ("auto", {"members": [
    CENTRED_ALWAYS, {"name": "ar_residual", "params": {**ANCHORED, **LARGEST}}, {"name": "interval", "params": ANCHORED}]})


# Session 22: auto exactly as `tsseq detect` runs it (its own window of 48 rows, autoencoder and training defaults),
# where every row above fixes the studies' window (--window, 32), a smaller autoencoder and a faster training.
SHIPPED = "auto_shipped"
# ... and as `tsseq detect --mode batch` runs it: not causal, each row's error the mean over the windows holding it.
SHIPPED_BATCH = "auto_shipped_batch"
# Fifteenth study: auto_shipped with its forecasting members reading rows cleaned by the lag filter on any number of
# channels (lag_clip: each row in their lags at most c residual scales from its own forecast, tsseq.anomaly.lag_filter)
# -> (c, lag_clip_run: the longest run of clipped rows cleaned, a longer one entering the lags as observed; None: every
# run, within 2L rows). Adopted on one channel (auto's default since); auto_unfiltered is auto_shipped before it.
LAG_CLIPPED = {"auto_lag_clip3": (3.0, None), "auto_lag_clip2": (2.0, None),
               "auto_lag_clip3_run2": (3.0, 2), "auto_lag_clip3_run6": (3.0, 6), "auto_unfiltered": (None, None)}  # fmt: skip
# Sixteenth study: auto_shipped whose threshold reads its forecasting members' fitted rows with their errors divided by
# 1 - df / n (in_sample_correction); its "train" scores are those (raw_scores). Adopted: auto_shipped runs it since,
# and auto_uncorrected is auto_shipped before it.
CORRECTED = {"auto_corrected": True, "auto_uncorrected": False}


def lag_clipped_members(clip: float | None, run: int | None) -> list[dict]:
    """auto's default members, its forecasting ones (var_residual, interval) with the lag filter on any data."""
    from tsseq.anomaly.auto import DEFAULT_MEMBERS

    lag_filter = {"lag_clip": clip, "lag_clip_run": run or 10**9, "lag_clip_univariate_only": False}
    return [{**m, "params": {**m["params"], **lag_filter}} if m["name"] in ("var_residual", "interval") else m
            for m in DEFAULT_MEMBERS]  # fmt: skip


def detector_params(name: str, window: int) -> dict:
    params: dict = {"threshold": None, "causal": True}
    if name == SHIPPED:
        return params
    if name in CORRECTED:
        return {**params, "in_sample_correction": CORRECTED[name]}
    if name in LAG_CLIPPED:
        return {**params, "members": lag_clipped_members(*LAG_CLIPPED[name])}
    if name == SHIPPED_BATCH:
        return {"threshold": None, "causal": False, "aggregation": "mean"}
    if name in ("lstm_ae", "gru_ae"):
        params.update(window_length=window, model_params={"hidden_size": 16}, training=TRAINING)
    elif name in ("ar_residual", "var_residual"):
        params.update(window_length=window)
    elif name == "interval":
        params.update(window_length=window, **AR_INTERVAL["params"])
    elif name == "auto":
        params.update(members=[LSTM_MEMBER, "ar_residual", AR_INTERVAL], window_length=window)
    elif name in VARIANTS:
        detector, change = VARIANTS[name]
        params = {**detector_params(detector, window), **change}
    return params


def detector_name(name: str) -> str:
    """The registered detector of a study name (:data:`VARIANTS`, :data:`SHIPPED`, :data:`SHIPPED_BATCH`, :data:`LAG_CLIPPED`)."""
    if name in (SHIPPED, SHIPPED_BATCH) or name in LAG_CLIPPED or name in CORRECTED:
        return "auto"
    return VARIANTS[name][0] if name in VARIANTS else name


def _online_scores(column: pd.DataFrame, train_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation scores, scores of every row) of online_residual, suppression off (explicit)."""
    fitted = make_detector("online_residual", suppression=0.0, threshold="quantile").fit(column.iloc[:train_rows])
    streamed = make_detector("online_residual", suppression=0.0, threshold=None)
    scores = streamed.stream(column.iloc[:, 0], train_rows=train_rows).to_numpy(dtype=np.float64)
    return np.asarray(fitted.validation_scores_, dtype=np.float64), scores


def raw_scores(name: str, frame: pd.DataFrame, train_rows: int, window: int) -> dict[str, np.ndarray]:
    if name == "online_interval":  # every channel at once (its Sidak combination), learning online
        fitted = make_detector("online_interval", threshold="quantile").fit(frame.iloc[:train_rows])
        validation = np.asarray(fitted.validation_scores_, dtype=np.float64)
        test = fitted.score(frame.iloc[train_rows:]).to_numpy(dtype=np.float64)
        return {"train": validation, "validation": validation, "test": test}
    if name == "online_residual":  # one channel: each sensor alone, the largest score
        parts = [_online_scores(frame[[column]], train_rows) for column in frame.columns]
        validation = np.max([p[0] for p in parts], axis=0)
        full = np.max([p[1] for p in parts], axis=0)
        return {"train": validation, "validation": validation, "test": full[train_rows:]}
    detector = make_detector(detector_name(name), **detector_params(name, window)).fit(frame.iloc[:train_rows])
    full = detector.score(frame).to_numpy(dtype=np.float64)
    validation = np.asarray(detector.validation_scores_, dtype=np.float64)
    if getattr(detector, "reference_", "in_sample") == "cross_fitted":  # every training row scored out of sample
        return {"train": validation, "validation": validation, "test": full[train_rows:]}
    if getattr(detector, "in_sample_correction", False):  # the training rows as the threshold reads them
        return {"train": detector.normal_raw_scores(frame.iloc[:train_rows]), "validation": validation,
                "test": full[train_rows:]}  # fmt: skip
    return {"train": full[:train_rows], "validation": validation, "test": full[train_rows:]}


def cached_scores(cache: Path, corpus: str, series: str, name: str, frame, labels, train_rows, window) -> dict:
    path = cache / f"{corpus}_{series}_{name}.npz"
    if path.exists():
        with np.load(path) as stored:
            return dict(stored)
    started = time.perf_counter()
    scores = raw_scores(name, frame, train_rows, window)
    scores["labels"] = labels[train_rows:]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **scores)
    print(f"  {corpus}/{series} {name}: trained and scored in {time.perf_counter() - started:.1f} s", flush=True)
    return scores


# --------------------------------------------------------------------------- rules
def rules(smoothing: list[int], spot: bool = True) -> list[tuple[str, str, int, str]]:
    """``(rule, source, k, smoother)``: every candidate, spot/dspot on the validation scores only."""
    smoothers = [(k, "mean") for k in smoothing] + [(k, "median") for k in smoothing if k > 1]
    out = []
    for k, how in smoothers:
        if k == 1 and spot:  # streaming SPOT/DSPOT refit the tail at every peak: unsmoothed only (today's rules)
            out += [("spot 1e-4", "validation", k, how), ("spot 1e-3", "validation", k, how),
                    ("dspot 1e-3", "validation", k, how)]  # fmt: skip
        for source in ("validation", "normal"):
            out += [(f"quantile {r:g}", source, k, how) for r in (0.01, 0.005, 0.001)]
            out += [(f"pot {r:g}", source, k, how) for r in (0.01, 0.001)]
    return out


def flags_of(rule: str, source: str, k: int, how: str, scores: dict) -> np.ndarray:
    normal = scores["train"] if source == "normal" else scores["validation"]
    kind, rate = rule.split()
    if kind in ("spot", "dspot"):
        smoothed_normal = causal_smooth(normal, k, how)
        smoothed_test = causal_smooth(scores["test"], k, how, history=normal)
        cls = SPOT if kind == "spot" else DSPOT
        signal.alarm(SPOT_SECONDS)
        try:
            return cls(q=float(rate), level=0.98).fit(smoothed_normal).predict(smoothed_test)
        except DataError:  # no tail to fit in the calibration scores: the rule fails, no flags
            return np.zeros(len(smoothed_test), dtype=bool)
        except TimeoutError:  # drifting scores: every row a peak, a GPD refit each (quadratic)
            return None
        finally:
            signal.alarm(0)
    tail = "quantile" if kind == "quantile" else "pot"
    thresholder = make_thresholder("false_alarm", rate=float(rate), tail=tail, smoothing=k, smoother=how)
    try:
        return thresholder.fit(normal).predict(scores["test"])
    except DataError:
        return np.zeros(len(scores["test"]), dtype=bool)


# Second study (pre-registered in threshold_study.md): thresholds adapted to the scored period.
# Each rule: label -> (threshold method, its parameters); FLOOR is the causal default before the fourth study.
FLOOR = ("false_alarm", {"rate": 0.01})
# The adapted thresholds as the studies before the fourteenth ran them: no gate (their default since).
UNGATED = {"gate": None}
TRANSDUCTIVE_RULES = {
    "floor": FLOOR,
    "otsu": ("transductive", {"method": "otsu", "lower_only": False, "smoothing": 1, **UNGATED}),
    "otsu lower only": ("transductive", {"method": "otsu", "lower_only": True, "smoothing": 1, **UNGATED}),  # the winner
    "mixture": ("transductive", {"method": "mixture", "lower_only": False, "smoothing": 1, **UNGATED}),
    "knee": ("transductive", {"method": "knee", "lower_only": False, "smoothing": 1, **UNGATED}),
    "estimated_f1": ("transductive", {"method": "estimated_f1", "lower_only": False, "smoothing": 1, **UNGATED}),
}
CRITERION_FAMILIES = ("lstm_ae", "gru_ae", "ar_residual", "interval", "auto")


# Third study (pre-registered in threshold_study.md): the scores smoothed (centred) before the batch split.
SMOOTHED_RULES = {
    "floor": FLOOR,
    "otsu lower only": ("transductive", {"smoothing": 1, **UNGATED}),  # the second study's winner
    "centred mean 17": ("transductive", {"smoothing": 17, "smoother": "mean", **UNGATED}),
    "centred mean 9": ("transductive", {"smoothing": 9, "smoother": "mean", **UNGATED}),  # the winner: the batch default
    "centred median 17": ("transductive", {"smoothing": 17, "smoother": "median", **UNGATED}),
}


# Fourth study (pre-registered in threshold_study.md): causal thresholds adapted to the scores seen so far.
CAUSAL_RULES = {
    "floor": FLOOR,
    "floor + causal mean 9": ("false_alarm", {"rate": 0.01, "smoothing": 9}),
    "adaptive mean 9, excess 1.5": ("adaptive", {"smoothing": 9, "min_excess": 1.5, **UNGATED}),
    "adaptive mean 4, excess 1.5": ("adaptive", {"smoothing": 4, "min_excess": 1.5, **UNGATED}),
    "adaptive mean 9, excess 2": ("adaptive", {"smoothing": 9, "min_excess": 2.0, **UNGATED}),
}


# Eighth study's exploration of clean wide logs (threshold_study.md; explored, not adopted): the threshold fitted on
# the held-out scores alone, always or where the in-sample ones do not stand for new rows.
EIGHTH_RULES = {
    "adaptive mean 9, excess 2": CAUSAL_RULES["adaptive mean 9, excess 2"],  # the causal default before
    "adaptive, overfit fallback": CAUSAL_RULES["adaptive mean 9, excess 2"],
    "centred mean 9": SMOOTHED_RULES["centred mean 9"],  # the batch default before
    "centred mean 9, overfit fallback": SMOOTHED_RULES["centred mean 9"],
    "adaptive, held-out scores": CAUSAL_RULES["adaptive mean 9, excess 2"],
    "centred mean 9, held-out scores": SMOOTHED_RULES["centred mean 9"],
}
OVERFIT_FALLBACK = ("adaptive, overfit fallback", "centred mean 9, overfit fallback")
HELD_OUT_ONLY = ("adaptive, held-out scores", "centred mean 9, held-out scores")


# Fourteenth study (pre-registered in threshold_study.md): both defaults with a flagged row's own score gated at the
# 0.9 quantile of the normal scores; adopted in both modes, so the gated rows are the defaults now.
FOURTEENTH_RULES = {
    f"{rule}{suffix}": (method, {**params, **gate})
    for rule, (method, params) in (("adaptive mean 9, excess 2", CAUSAL_RULES["adaptive mean 9, excess 2"]),
                                   ("centred mean 9", SMOOTHED_RULES["centred mean 9"]))
    for suffix, gate in (("", {}), (", gate 0.9", {"gate": 0.9}))
}  # fmt: skip


def held_out_outscore_share(in_sample: np.ndarray, held_out: np.ndarray) -> float:
    """The share of (held-out, in-sample) score pairs in which the held-out one is higher, ties half (Mann-Whitney
    ``U / (n m)``): 0.5 when a model scores the rows it was fitted on as it scores new ones."""
    ins = np.sort(in_sample[np.isfinite(in_sample)])
    out = held_out[np.isfinite(held_out)]
    below = np.searchsorted(ins, out, side="left")
    ties = np.searchsorted(ins, out, side="right") - below
    return float((below + 0.5 * ties).sum() / max(ins.size * out.size, 1))


OVERFIT_SHARE = 0.9  # the fallback rules' trigger: held-out rows outscore in-sample rows in more pairs than this


def threshold_normal_scores(rule: str, scores: dict) -> np.ndarray:
    """The normal scores a rule's threshold is fitted on: every training row's, or (the eighth study's fallback
    rules) the held-out ones alone where the in-sample ones do not stand for new rows."""
    normal = scores["train"]
    if rule in HELD_OUT_ONLY:
        return scores["validation"]
    if rule in OVERFIT_FALLBACK:
        held_out = scores["validation"]
        if held_out_outscore_share(normal[: len(normal) - len(held_out)], held_out) > OVERFIT_SHARE:
            return held_out
    return normal


def rule_flags(rule: str, scores: dict, with_training: bool, table: dict = TRANSDUCTIVE_RULES) -> np.ndarray:
    """Flags of the test rows; the threshold fitted on the normal scores and applied to the test
    rows alone (``scored``; a causal threshold runs over them as a stream) or to the training and
    test rows together (``train+scored``, as ``tsseq detect`` in batch mode scores the whole file)."""
    method, params = table[rule]
    thresholder = make_thresholder(method, **params).fit(threshold_normal_scores(rule, scores))
    test = scores["test"]
    scored = np.concatenate([scores["train"], test]) if with_training else test
    return np.asarray(thresholder.predict(scored), dtype=bool)[-len(test):]


# The studies' rules applied to whole periods, by the key of their cached tables: (rule table, (source,
# with the training rows) of each application of a rule).
PERIOD_STUDIES = {
    "transductive": (TRANSDUCTIVE_RULES, (("scored", False), ("train+scored", True))),
    "smoothed": (SMOOTHED_RULES, (("smoothed", False),)),  # the third study: on the scored rows, its own source
    "causal": (CAUSAL_RULES, (("causal", False),)),  # the fourth: streamed over the scored rows
    "eighth": (EIGHTH_RULES, (("eighth", False),)),  # the two defaults and the rules explored beside them
    "fourteenth": (FOURTEENTH_RULES, (("fourteenth", False),)),  # the two defaults, ungated and gated
}


def evaluated_period_rules(args, corpus: str, series: str, name: str, scores: dict, study: str) -> pd.DataFrame:
    """The rules of a study (``PERIOD_STUDIES[study]``) on one cached series, each application its own source."""
    table, applications = PERIOD_STUDIES[study]

    def rows(truth):
        for rule in table:
            for source, with_training in applications:
                point, event = f1s(rule_flags(rule, scores, with_training, table), truth, args.gap)
                yield corpus, series, name, rule, source, point, event

    return cached_table(args.cache / f"{corpus}_{series}_{name}_{study}_gap{args.gap}.csv", rows, scores)


def report_clean(args) -> None:
    """Added to the fourth study before its confirmation run: the share of an anomaly-free series' scored rows
    that each period rule flags (every flag a false alarm), per family; the mean over ``--clean-seeds``."""
    rows = []
    for corpus in args.clean_corpora:
        for series, frame, labels, train_rows in corpus_series(corpus, args.clean_seeds):
            for name in args.detectors:
                if name in ONLINE:
                    continue
                scores = cached_scores(args.clean_cache, corpus, series, name, frame, labels, train_rows, args.window)
                for study in ("smoothed", "causal", "eighth", "fourteenth"):
                    table, ((source, with_training),) = PERIOD_STUDIES[study]
                    for rule in table:
                        flagged = float(rule_flags(rule, scores, with_training, table).mean())
                        rows.append((corpus, series, name, f"{study}: {rule}", flagged))
    clean = pd.DataFrame(rows, columns=["corpus", "series", "detector", "rule", "flagged"])
    share = clean.groupby(["rule", "detector", "corpus"])["flagged"].mean().unstack(["corpus"])
    print("\nAnomaly-free series: share of the scored rows flagged (false alarms), mean over seeds "
          f"{' '.join(map(str, args.clean_seeds))}:")  # fmt: skip
    print(share.unstack("detector").to_string(float_format=lambda value: f"{value:.3f}"))
    print("\nLargest share over the families and both generators, by rule:")
    print(share.max(axis=1).groupby("rule").max().sort_values().to_string(float_format=lambda value: f"{value:.3f}"))


def report_flag_all(long: pd.DataFrame, oracle: pd.DataFrame) -> pd.Series:
    """Whether the oracle beats flagging every scored row, per family and corpus (True: its scores inform).

    Point F1 rewards flagging many rows where anomalies are common (a quarter of the plant's test
    rows, a tenth of NAB's): flagging all of them scores ``2 p / (1 + p)`` for a share ``p``. A cell
    whose best fixed quantile does not beat that has no threshold to match but "flag everything".
    """
    fmt = lambda value: f"{value:.3f}"  # noqa: E731
    flag_all = long[long["rule"] == FLAG_ALL].groupby(["detector", "corpus"])["point_f1"].mean()
    table = pd.DataFrame({"oracle": oracle["point_f1"], "flag every row": flag_all})
    table["oracle - flag every row"] = table["oracle"] - table["flag every row"]
    print("\nPoint F1 of the oracle against flagging every scored row (mean over series; added after the second study):")
    print(table.unstack("corpus").to_string(float_format=fmt))
    return table["oracle - flag every row"] > 0


def report_transductive(long: pd.DataFrame, oracle: pd.DataFrame, informative: pd.Series,
                        study: str = "Second study", sources: tuple = ("scored", "train+scored"),
                        rules: dict = TRANSDUCTIVE_RULES) -> None:  # fmt: skip
    """The second (or third) study's tables: every rule's F1 and gap per family and corpus, and the criterion.

    ``informative`` marks the (detector, corpus) cells whose oracle beats flagging every row; the
    criterion is also given over those cells alone.
    """
    fmt = lambda value: f"{value:.3f}"  # noqa: E731
    part = long[long["source"].isin(sources) & long["rule"].isin(list(rules))]
    mean = part.groupby(["source", "rule", "detector", "corpus"])[["point_f1", "event_f1"]].mean()
    best = oracle.reindex(mean.index.droplevel(["source", "rule"]))
    mean["point_gap"] = best["point_f1"].to_numpy() - mean["point_f1"].to_numpy()
    mean["event_gap"] = best["event_f1"].to_numpy() - mean["event_f1"].to_numpy()
    for source in sources:
        table = mean.loc[source]
        print(f"\n{study}, applied to the {source} rows: point-F1 gap to the oracle (mean over series)")
        gap = table["point_gap"].unstack("corpus")
        print(gap.to_string(float_format=fmt))
        print(f"\n{study}, {source}: event-F1 gap to the oracle (mean over series)")
        print(table["event_gap"].unstack("corpus").to_string(float_format=fmt))
        print(f"\n{study}, {source}: point F1 / event F1")
        print(table[["point_f1", "event_f1"]].unstack("corpus").to_string(float_format=fmt))
        inside = table.loc[table.index.get_level_values("detector").isin(CRITERION_FAMILIES)]
        cells = inside.index.droplevel("rule")
        informed = inside.loc[informative.reindex(cells, fill_value=False).to_numpy()]
        summary = pd.DataFrame({
            "worst point gap": inside["point_gap"].groupby("rule").max(),
            "mean point gap": inside["point_gap"].groupby("rule").mean(),
            "worst event gap": inside["event_gap"].groupby("rule").max(),
            "cells <= 0.03": (inside["point_gap"] <= 0.03).groupby("rule").sum(),
            "cells": inside["point_gap"].groupby("rule").size(),
            "worst point gap, informative cells": informed["point_gap"].groupby("rule").max(),
            "informative cells <= 0.03": (informed["point_gap"] <= 0.03).groupby("rule").sum(),
            "informative cells": informed["point_gap"].groupby("rule").size(),
        }).sort_values(["worst point gap", "mean point gap"])
        print(f"\n{study} criterion ({source}; over {', '.join(CRITERION_FAMILIES)} x the corpora):")
        print(summary.to_string(float_format=fmt))


# The defaults of tsseq detect (third and fourth studies, gated since the fourteenth): batch and causal.
DEFAULT_RULES = {"batch": ("centred mean 9, gate 0.9", "fourteenth"),
                 "causal": ("adaptive mean 9, excess 2, gate 0.9", "fourteenth")}  # fmt: skip


def report_members(long: pd.DataFrame, oracle: pd.DataFrame, ranking: pd.DataFrame) -> None:
    """Fifth study: each detector's ranking (PR-AUC), oracle F1 and the gaps of the two defaults, per corpus."""
    keys = ["detector", "rule", "source", "corpus"]
    mean = long.groupby(keys)[["point_f1", "event_f1"]].mean()
    table = pd.DataFrame({"pr_auc": ranking.groupby(["detector", "corpus"])["pr_auc"].mean(),
                          "oracle point F1": oracle["point_f1"], "oracle event F1": oracle["event_f1"]})  # fmt: skip
    for mode, (rule, source) in DEFAULT_RULES.items():
        applied = mean.xs((rule, source), level=("rule", "source")).reindex(table.index)
        table[f"{mode} point gap"] = table["oracle point F1"] - applied["point_f1"]
        table[f"{mode} event gap"] = table["oracle event F1"] - applied["event_f1"]
    print("\nFifth study: PR-AUC, oracle F1 and the default thresholds' gaps (mean over series):")
    print(table.to_string(float_format=lambda value: f"{value:.3f}"))


SPOT_SMOOTHED = [(f"spot {q}", k, how) for q in ("1e-4", "1e-3") for k, how in ((4, "mean"), (4, "median"))]


def evaluated_spot_smoothed(args, corpus: str, series: str, name: str, scores: dict) -> pd.DataFrame:
    """SPOT on causally smoothed scores (added after the first study; same timeout, validation scores)."""
    def rows(truth):
        for rule, k, how in SPOT_SMOOTHED:
            flags = flags_of(rule, "validation", k, how, scores)
            point, event = (np.nan, np.nan) if flags is None else f1s(flags, truth, args.gap)
            yield corpus, series, name, f"{rule} + {how} {k}", "validation", point, event

    return cached_table(args.cache / f"{corpus}_{series}_{name}_spot_smoothed_gap{args.gap}.csv", rows, scores)


def cached_table(path: Path, rows, scores: dict) -> pd.DataFrame:
    """The table of ``rows(truth)`` (tuples of COLUMNS) for one cached series, read from ``path`` once written there."""
    if path.exists():
        return pd.read_csv(path)
    table = pd.DataFrame(list(rows(scores["labels"].astype(bool))), columns=COLUMNS)
    table.to_csv(path, index=False)
    return table


def f1s(flags: np.ndarray, labels: np.ndarray, gap: int) -> tuple[float, float]:
    return point_precision_recall_f1(flags, labels).f1, event_precision_recall_f1(flags, labels, gap=gap).f1


COLUMNS = ["corpus", "series", "detector", "rule", "source", "point_f1", "event_f1"]


def evaluated(args, corpus: str, series: str, name: str, scores: dict, candidates) -> pd.DataFrame:
    """Every rule and the oracle grid on one cached series; cached as CSV too (keyed by the grid)."""
    def rows(truth):
        for rule, source, k, how in candidates:
            flags = flags_of(rule, source, k, how, scores)
            point, event = (np.nan, np.nan) if flags is None else f1s(flags, truth, args.gap)
            yield corpus, series, name, rule if k == 1 else f"{rule} + {how} {k}", source, point, event
        finite = scores["train"][np.isfinite(scores["train"])]
        for q in ORACLE_QUANTILES:
            point, event = f1s(scores["test"] > np.quantile(finite, q), truth, args.gap)
            yield corpus, series, name, f"oracle q={q:.5f}", "normal", point, event

    key = f"k{'-'.join(map(str, args.smoothing))}_gap{args.gap}"
    return cached_table(args.cache / f"{corpus}_{series}_{name}_{key}.csv", rows, scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=["plant", "synthetic", "nab"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--detectors", nargs="+", default=list(FAMILIES))
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--smoothing", type=int, nargs="+", default=[1, 4, 16], help="k of the causal moving mean")
    parser.add_argument("--gap", type=int, default=3, help="unflagged rows bridged between flagged events")
    parser.add_argument("--cache", type=Path, default=Path("tmp/cache/threshold_study"))
    parser.add_argument("--output", type=Path, default=None, help="also write the long table as CSV")
    parser.add_argument("--nab-category", default="realKnownCause",
                        help="the NAB category of the nab corpus (realTraffic, realAdExchange, realTweets: held-out sets)")
    parser.add_argument("--spot", action=argparse.BooleanOptionalAction, default=True,
                        help="run the SPOT/DSPOT rules (slow on drifting scores; --no-spot for the third study)")
    parser.add_argument("--clean-seeds", type=int, nargs="*", default=[],
                        help="also report the false alarms of the period rules on anomaly-free plant and synthetic "
                        "series of these seeds (the fourth study's clean check)")
    parser.add_argument("--clean-cache", type=Path, default=Path("tmp/cache/threshold_clean"))
    parser.add_argument("--clean-corpora", nargs="+", default=["plant-clean", "synthetic-clean"],
                        help="the anomaly-free corpora of --clean-seeds (wide4-clean, wide8-clean: the eighth study)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.clean_seeds:
        report_clean(args)
    candidates = rules(args.smoothing, args.spot)
    rows, ranking = [], []
    for corpus in args.corpora:
        for series, frame, labels, train_rows in corpus_series(corpus, args.seeds, args.nab_category):
            if not labels[train_rows:].any():  # e.g. a NAB file whose windows all lie in its probationary period
                print(f"  {corpus}/{series}: no anomaly after the training rows, nothing to score; left out")
                continue
            for name in args.detectors:
                scores = cached_scores(args.cache, corpus, series, name, frame, labels, train_rows, args.window)
                rows.append(evaluated(args, corpus, series, name, scores, candidates))
                rows += [evaluated_period_rules(args, corpus, series, name, scores, study) for study in PERIOD_STUDIES]
                if args.spot:
                    rows.append(evaluated_spot_smoothed(args, corpus, series, name, scores))
                scored = np.isfinite(scores["test"])
                ranking.append((corpus, series, name, pr_auc(scores["test"][scored], scores["labels"][scored].astype(bool))))
                every = np.ones_like(scores["labels"], dtype=bool)  # the trivial reference: flag every scored row
                point, event = f1s(every, scores["labels"].astype(bool), args.gap)
                rows.append(pd.DataFrame([(corpus, series, name, FLAG_ALL, "scored", point, event)], columns=COLUMNS))
                if name in ONLINE:  # its own default: the fixed alarm level (no fit)
                    level = ALARM_LEVELS[name]
                    point, event = f1s(scores["test"] >= level, scores["labels"].astype(bool), args.gap)
                    rows.append(pd.DataFrame([(corpus, series, name, f"alarm_level {level:g}", "validation", point,
                                               event)], columns=COLUMNS))  # fmt: skip
    long = pd.concat(rows, ignore_index=True)
    if args.output:
        long.to_csv(args.output, index=False)
    second = long["source"].isin(["scored", "train+scored", "smoothed", "causal", "eighth", "fourteenth"])
    keys = ["detector", "rule", "source", "corpus"]
    mean = long[~second].groupby(keys)[["point_f1", "event_f1"]].mean().reset_index()
    is_oracle = mean["rule"].str.startswith("oracle")
    oracle = mean[is_oracle].groupby(["detector", "corpus"])[["point_f1", "event_f1"]].max()
    table = mean[~is_oracle].set_index(["detector", "rule", "source", "corpus"])
    gaps = oracle.reindex(table.index.droplevel(["rule", "source"])).to_numpy() - table.to_numpy()
    table[["point_gap", "event_gap"]] = gaps
    wide = table.unstack("corpus")
    worst = wide["point_gap"].max(axis=1, skipna=False)  # a rule unfinished on a corpus cannot win
    wide[("worst point gap", "")] = worst
    wide[("mean point gap", "")] = wide["point_gap"].mean(axis=1)
    fmt = lambda value: f"{value:.3f}"  # noqa: E731
    pd.set_option("display.width", 250)
    print("\nOracle (best fixed quantile of the normal scores per corpus, chosen on the test labels), "
          "point / event F1, mean over series:")  # fmt: skip
    print(oracle.unstack("corpus").to_string(float_format=fmt))
    chosen = {}
    for name in args.detectors:
        part = wide.loc[name].sort_values([("worst point gap", ""), ("mean point gap", "")])
        print(f"\n{name}: the 8 rules with the smallest worst-case point-F1 gap, then SPOT (1e-4: the old default; "
              "smoothed: added after the first study):")
        spots = [("spot 1e-4", "validation"), ("spot 1e-3", "validation")]
        spots += [(f"{rule} + {how} {k}", "validation") for rule, k, how in SPOT_SMOOTHED]
        show = pd.concat([part.head(8), part.loc[[key for key in spots if key in part.index]]])
        print(show[["point_f1", "point_gap", "event_f1", "worst point gap"]].to_string(float_format=fmt))
        chosen[name] = part.index[0]
    print("\nBest rule per family (smallest worst-case point-F1 gap over the corpora):")
    for name, (rule, source) in chosen.items():
        print(f"  {name}: {rule} on the {source} scores")
    # One rule for every windowed family and auto: the one whose worst-case gap is nearest each
    # family's best (the largest excess over the families); online_residual keeps alarm_level if best.
    windowed = [name for name in args.detectors if name not in ONLINE]
    if windowed:
        per_family = worst.unstack("detector")[windowed].dropna()
        excess = (per_family - per_family.min()).max(axis=1).sort_values()
        print("\nOne rule for the windowed families and auto: excess of its worst-case point-F1 gap over each "
              "family's best, largest over the families (the 5 smallest):")  # fmt: skip
        print(excess.head(5).to_string(float_format=fmt))
    print("\nThe defaults in the code (FalseAlarmThresholder: quantile 0.01 on the normal scores; "
          "online_residual: alarm_level 0.5) against the old ones (SPOT q=1e-4 on the validation scores):")  # fmt: skip
    keys = [(name, (f"alarm_level {ALARM_LEVELS[name]:g}" if name in ONLINE else "quantile 0.01"),
             ("validation" if name in ONLINE else "normal")) for name in args.detectors]  # fmt: skip
    keys += [(name, "spot 1e-4", "validation") for name in args.detectors if name not in ONLINE]
    summary = wide.loc[[key for key in keys if key in wide.index]]
    print(summary[["point_f1", "point_gap", "event_f1", "event_gap"]].to_string(float_format=fmt))
    informative = report_flag_all(long, oracle)
    report_transductive(long, oracle, informative)
    report_transductive(long, oracle, informative, "Third study", ("smoothed",), SMOOTHED_RULES)
    report_transductive(long, oracle, informative, "Fourth study", ("causal",), CAUSAL_RULES)
    report_transductive(long, oracle, informative, "Eighth study", ("eighth",), EIGHTH_RULES)
    if any(name in VARIANTS for name in args.detectors):
        report_members(long, oracle, pd.DataFrame(ranking, columns=["corpus", "series", "detector", "pr_auc"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
