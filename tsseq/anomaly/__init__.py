"""Anomaly detection: a model that reconstructs or forecasts, a scorer, a thresholder.

A higher score always means more anomalous. The pieces, one module each:

* :mod:`.detectors`: :class:`ReconstructionDetector` (recurrent autoencoders of
  :mod:`tsseq.nn.autoencoders`: EncDec-AD, bidirectional, segment/dilated, LSTM-VAE, and
  PatchTST's reconstruction) and :class:`ForecastResidualDetector` (any registered
  forecaster, Telemanom-style), by name through :func:`make_detector`;
  :mod:`.online`: :class:`OnlineResidualDetector`, an online AR forecaster with Numenta's
  anomaly likelihood, the best detector on NAB here;
* interval detectors, the tail probability ``-log10 p`` of each value under its causal
  predictive distribution: :class:`IntervalDetector` (any probabilistic registered
  forecaster) and :mod:`.online_interval`'s :class:`OnlineIntervalDetector` (the online
  AR's Gaussian predictive); :mod:`.tails`: tail probabilities and channel combination;
* :mod:`.scorers`: errors to scores (absolute, squared, Mahalanobis, anomaly likelihood);
* :mod:`.thresholds`: quantile, k-sigma, SPOT/DSPOT, Telemanom's dynamic threshold, and the
  best-F1 oracle (evaluation only);
* :mod:`.streaming`: the causal mode, the score at ``t`` from data up to ``t`` only;
* :mod:`.metrics`: point, point-adjusted, range-based and event-level precision/recall,
  ROC-AUC, PR-AUC, VUS-PR; :mod:`.nab`: the NAB score and its corpus threshold sweep;
* :mod:`.events`: flagged points merged into events (start, end, peak, channels);
* :mod:`.job`: a detection job (:func:`~.job.run_detection`), and :func:`~.job.detrended`, what
  its ``detrend`` option hands the detector; :mod:`.cli`: ``tsseq detect``.

Names are imported on first use, so ``import tsseq.anomaly`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AnomalyDetector": "tsseq.anomaly.detectors",
    "ReconstructionDetector": "tsseq.anomaly.detectors",
    "ForecastResidualDetector": "tsseq.anomaly.detectors",
    "make_detector": "tsseq.anomaly.detectors",
    "detector_names": "tsseq.anomaly.detectors",
    "OnlineResidualDetector": "tsseq.anomaly.online",
    "IntervalDetector": "tsseq.anomaly.interval",
    "OnlineIntervalDetector": "tsseq.anomaly.online_interval",
    "combine_channel_scores": "tsseq.anomaly.tails",
    "normal_tail_score": "tsseq.anomaly.tails",
    "quantile_z": "tsseq.anomaly.tails",
    "make_scorer": "tsseq.anomaly.scorers",
    "make_thresholder": "tsseq.anomaly.thresholds",
    "SPOT": "tsseq.anomaly.thresholds",
    "DSPOT": "tsseq.anomaly.thresholds",
    "best_f1_threshold": "tsseq.anomaly.thresholds",
    "score_stream": "tsseq.anomaly.streaming",
    "nab_score": "tsseq.anomaly.nab",
    "optimize_threshold": "tsseq.anomaly.nab",
    "roc_auc": "tsseq.anomaly.metrics",
    "pr_auc": "tsseq.anomaly.metrics",
    "point_adjusted_f1": "tsseq.anomaly.metrics",
    "range_precision_recall": "tsseq.anomaly.metrics",
    "event_precision_recall_f1": "tsseq.anomaly.metrics",
    "find_events": "tsseq.anomaly.events",
    "detrended": "tsseq.anomaly.job",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tsseq.anomaly' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
