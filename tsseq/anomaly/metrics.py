"""Anomaly-detection metrics over one series: per-timestamp labels against flags or scores.

Labels and flags are 1-D arrays of booleans (or 0/1), one per timestamp; scores are
1-D floats where higher is more anomalous. An anomaly *segment* (range) is a maximal run
of consecutive ``True`` labels, written as a half-open index pair ``(start, end)``:
it covers ``start, ..., end - 1`` (:func:`label_segments`).

* Point metrics: :func:`point_precision_recall_f1`, :func:`point_f1`.
* Threshold-free, from scores (scikit-learn): :func:`roc_auc`, :func:`pr_auc` (average
  precision), and :func:`vus_pr` (Paparrizos et al. 2022).
* :func:`point_adjusted_f1`: the point-adjust protocol. It inflates results (one lucky
  point detects a whole segment); report it separately from the point F1, never instead.
* :func:`range_precision_recall` (Tatbul et al. 2018): precision and recall of ranges
  with existence and positional-overlap rewards.
* :func:`event_precision_recall_f1`: events as units. A true segment is detected when any
  flagged event overlaps it; a flagged event that overlaps no true segment is a false
  alarm; :func:`merge_segments` joins events a few unflagged rows apart (``gap``).

Zero-division convention (as scikit-learn's ``zero_division=0``): a precision with no
flagged point, a recall with no labelled anomaly, and F1 when both are 0, are 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsseq.errors import ConfigError, DataError, closest_match

__all__ = [
    "PrecisionRecallF1",
    "event_precision_recall_f1",
    "label_segments",
    "merge_segments",
    "point_adjust",
    "point_adjusted_f1",
    "point_f1",
    "point_precision_recall_f1",
    "pr_auc",
    "range_precision_recall",
    "roc_auc",
    "vus_pr",
]


@dataclass(frozen=True)
class PrecisionRecallF1:
    precision: float
    recall: float
    f1: float


def _f1(precision: float, recall: float) -> PrecisionRecallF1:
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return PrecisionRecallF1(float(precision), float(recall), float(f1))


def _boolean(values: object, name: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{where}: {name} must be one-dimensional, one value per timestamp. Got shape {array.shape}.")
    if array.dtype != np.bool_:
        if array.size and not np.isin(array, (0, 1)).all():
            bad = array[~np.isin(array, (0, 1))][0]
            raise DataError(f"{where}: {name} must be booleans or 0/1. Got the value {bad.item()!r}.")
        array = array.astype(bool)
    return array


def _pair(predictions: object, labels: object, where: str, name: str = "predictions") -> tuple[np.ndarray, np.ndarray]:
    truth = _boolean(labels, "labels", where)
    if name == "scores":
        flags = np.asarray(predictions, dtype=np.float64)
        if flags.ndim != 1:
            raise DataError(f"{where}: scores must be one-dimensional. Got shape {flags.shape}.")
        if not np.isfinite(flags).all():
            count = int(np.count_nonzero(~np.isfinite(flags)))
            raise DataError(f"{where}: scores has {count} NaN or infinite value(s); drop or fill them first.")
    else:
        flags = _boolean(predictions, name, where)
    if flags.size != truth.size:
        raise DataError(f"{where}: {name} and labels must have the same length. Got {flags.size} and {truth.size}.")
    return flags, truth


def label_segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of ``True`` as half-open ``(start, end)``: ``labels[start:end]`` is the run."""
    truth = _boolean(labels, "labels", "label_segments")
    edges = np.diff(np.concatenate(([0], truth.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def merge_segments(segments: list[tuple[int, int]], gap: int = 0) -> list[tuple[int, int]]:
    """Join consecutive half-open segments separated by at most ``gap`` uncovered rows.

    ``(0, 3)`` and ``(5, 6)`` are two rows apart (rows 3 and 4): they merge into ``(0, 6)``
    for ``gap >= 2`` and stay apart for ``gap <= 1``. ``gap=0`` returns the segments as given.
    """
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ConfigError(f"The 'gap' parameter must be an int >= 0 (unflagged rows bridged). Got {gap!r} instead.")
    merged: list[tuple[int, int]] = []
    for start, end in segments:
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def event_precision_recall_f1(
    predictions: np.ndarray, labels: np.ndarray, *, gap: int = 0, ignore: np.ndarray | None = None
) -> PrecisionRecallF1:
    """Event-level precision, recall and F1: each segment counts once, whatever its length.

    True events are the labelled segments (:func:`label_segments`); flagged events are
    the flagged segments joined across at most ``gap`` unflagged rows
    (:func:`merge_segments`). ``recall = detected true events / true events`` where a
    true event is detected when any flagged event overlaps it; ``precision = flagged
    events overlapping a true event / flagged events``, so a flagged event that overlaps
    no true event is a false alarm. ``ignore`` (boolean, one per row) marks rows that
    are neither normal nor of interest, e.g. anomalies of another kind when scoring one
    kind: a flagged event that overlaps no true event but some ignored row counts in
    neither count.
    """
    flags, truth = _pair(predictions, labels, "event_precision_recall_f1")
    where = "event_precision_recall_f1"
    skipped = np.zeros_like(truth) if ignore is None else _pair(ignore, labels, where, "ignore")[0]
    real = label_segments(truth)
    predicted = merge_segments(label_segments(flags), gap)
    in_events = np.zeros_like(flags)  # the flagged events' rows, bridged gaps included
    for start, end in predicted:
        in_events[start:end] = True
    hits = np.concatenate(([0], np.cumsum(truth)))  # hits[end] - hits[start]: labelled rows in [start, end)
    covered = np.concatenate(([0], np.cumsum(in_events)))
    held = np.concatenate(([0], np.cumsum(skipped)))
    detected = sum(1 for start, end in real if covered[end] > covered[start])
    true_alarms = sum(1 for start, end in predicted if hits[end] > hits[start])
    false_alarms = sum(1 for start, end in predicted if hits[end] == hits[start] and held[end] == held[start])
    recall = detected / len(real) if real else 0.0
    counted = true_alarms + false_alarms
    precision = true_alarms / counted if counted else 0.0
    return _f1(precision, recall)


def point_precision_recall_f1(predictions: np.ndarray, labels: np.ndarray) -> PrecisionRecallF1:
    """Precision, recall and F1 counting every timestamp as one sample."""
    flags, truth = _pair(predictions, labels, "point_precision_recall_f1")
    true_positives = np.count_nonzero(flags & truth)
    precision = true_positives / flags.sum() if flags.any() else 0.0
    recall = true_positives / truth.sum() if truth.any() else 0.0
    return _f1(precision, recall)


def point_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    return point_precision_recall_f1(predictions, labels).f1


def point_adjust(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Flags with every labelled segment that has at least one flag set entirely to ``True``."""
    flags, truth = _pair(predictions, labels, "point_adjust")
    adjusted = flags.copy()
    for start, end in label_segments(truth):
        if flags[start:end].any():
            adjusted[start:end] = True
    return adjusted


def point_adjusted_f1(predictions: np.ndarray, labels: np.ndarray) -> PrecisionRecallF1:
    """Point F1 after :func:`point_adjust` (the protocol of e.g. OmniAnomaly, Su et al. 2019).

    This INFLATES results: flagging one point of a long segment earns credit for all of
    it, so random scores can look strong (Kim et al. 2022, "Towards a Rigorous Evaluation
    of Time-Series Anomaly Detection"). Report it separately, next to the point F1.
    """
    return point_precision_recall_f1(point_adjust(predictions, labels), labels)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of the scores (``sklearn.metrics.roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score

    values, truth = _pair(scores, labels, "roc_auc", name="scores")
    _need_both_classes(truth, "roc_auc")
    return float(roc_auc_score(truth, values))


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (``average_precision_score``).

    AP is the step-wise sum ``sum_n (R_n - R_{n-1}) P_n`` over the thresholds, not the
    trapezoidal area (which is optimistic for PR curves); random scores give about the
    anomaly rate.
    """
    from sklearn.metrics import average_precision_score

    values, truth = _pair(scores, labels, "pr_auc", name="scores")
    _need_both_classes(truth, "pr_auc")
    return float(average_precision_score(truth, values))


def _need_both_classes(truth: np.ndarray, where: str) -> None:
    if truth.all() or not truth.any():
        kind = "anomalous" if truth.all() else "normal"
        raise DataError(f"{where}: needs both normal and anomalous labels; every label is {kind}.")


# --- range-based precision and recall (Tatbul et al. 2018) ------------------------------------

_BIASES = ("flat", "front", "back", "middle")
_CARDINALITIES = ("one", "reciprocal")


def _positional_weights(length: int, bias: str) -> np.ndarray:
    """delta(i, length) for i = 1..length (Tatbul et al. 2018, Figure 2)."""
    position = np.arange(1, length + 1, dtype=np.float64)
    if bias == "flat":
        return np.ones(length)
    if bias == "front":
        return length - position + 1
    if bias == "back":
        return position
    return np.where(position <= length / 2, position, length - position + 1)  # middle


def _range_rewards(
    targets: list[tuple[int, int]], others: list[tuple[int, int]], alpha: float, bias: str, cardinality: str
) -> np.ndarray:
    """alpha * Existence + (1 - alpha) * Cardinality * Overlap for each target range."""
    other_starts = np.array([start for start, _ in others], dtype=np.int64)
    other_ends = np.array([end for _, end in others], dtype=np.int64)
    rewards = np.zeros(len(targets))
    for k, (start, end) in enumerate(targets):
        first = int(np.searchsorted(other_ends, start, side="right"))  # first other ending after start
        stop = int(np.searchsorted(other_starts, end, side="left"))  # others starting before end
        n_overlapping = stop - first
        if n_overlapping <= 0:
            continue
        covered = np.zeros(end - start, dtype=bool)
        for other_start, other_end in zip(other_starts[first:stop], other_ends[first:stop]):
            covered[max(other_start, start) - start : min(other_end, end) - start] = True
        weights = _positional_weights(end - start, bias)
        overlap = weights[covered].sum() / weights.sum()
        factor = 1.0 / n_overlapping if cardinality == "reciprocal" and n_overlapping > 1 else 1.0
        rewards[k] = alpha + (1.0 - alpha) * factor * overlap
    return rewards


def range_precision_recall(
    predictions: np.ndarray,
    labels: np.ndarray,
    *,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: str = "one",
) -> PrecisionRecallF1:
    """Range-based precision, recall and their F1 (Tatbul et al. 2018, NeurIPS, §4).

    For real ranges ``R_i`` and predicted ranges ``P_j`` (:func:`label_segments`):

    * ``Recall(R_i) = alpha * Existence(R_i) + (1 - alpha) * Cardinality(R_i) * Overlap(R_i)``
      where Existence is 1 if any ``P_j`` overlaps ``R_i``; ``Overlap = sum over covered
      positions of delta(i, |R_i|) / sum over all positions of delta`` with the positional
      ``bias`` delta: "flat" 1, "front" ``|R| - i + 1``, "back" ``i``, "middle" rising to
      the centre then falling; ``Cardinality`` is 1 when at most one ``P_j`` overlaps and
      otherwise 1 ("one") or ``1 / number of overlapping P_j`` ("reciprocal").
      Recall is the mean over the real ranges.
    * ``Precision(P_j)`` is the same with the roles swapped and no existence reward
      (alpha = 0); precision is the mean over the predicted ranges.

    With ``alpha=0``, flat bias and one point per range this is the point precision/recall.
    """
    if not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"range_precision_recall: alpha must be a number in [0, 1]. Got alpha={alpha!r}.")
    for name, value, allowed in (("bias", bias, _BIASES), ("cardinality", cardinality, _CARDINALITIES)):
        if value not in allowed:
            raise ConfigError(
                f"range_precision_recall: {name} must be one of {', '.join(allowed)}. Got {value!r}."
                + closest_match(str(value), allowed)
            )
    flags, truth = _pair(predictions, labels, "range_precision_recall")
    real, predicted = label_segments(truth), label_segments(flags)
    recall = _range_rewards(real, predicted, alpha, bias, cardinality).mean() if real else 0.0
    precision = _range_rewards(predicted, real, 0.0, bias, cardinality).mean() if predicted else 0.0
    return _f1(precision, recall)


# --- VUS-PR (Paparrizos et al. 2022) ------------------------------------------------------------


def _soft_labels(truth: np.ndarray, buffer: int) -> np.ndarray:
    """Labels widened by ``buffer // 2`` points of sqrt-decaying slope before and after each segment.

    As the VUS reference code (TheDatumOrg/VUS, ported in aeon's ``_vus_metrics.py``):
    before a segment starting at ``s`` the label at ``s - d`` (``1 <= d <= buffer // 2``)
    is ``sqrt(1 - d / buffer)``; after a segment whose last point is ``e`` the label at
    ``e + d`` (``1 <= d < buffer // 2``) is ``sqrt(1 - d / buffer)``; overlaps clip at 1.
    """
    soft = truth.astype(np.float64)
    if buffer <= 1:
        return soft
    half, n = buffer // 2, truth.size
    for start, end in label_segments(truth):
        after = np.arange(end, min(end - 1 + half, n))
        soft[after] += np.sqrt(1.0 - (after - end + 1) / buffer)
        before = np.arange(max(start - half, 0), start)
        soft[before] += np.sqrt(1.0 - (start - before) / buffer)
    return np.minimum(soft, 1.0)


def vus_pr(scores: np.ndarray, labels: np.ndarray, *, max_buffer: int = 500, n_thresholds: int = 250) -> float:
    """Volume under the range-PR surface (Paparrizos et al. 2022, "Volume Under the Surface", VLDB).

    The mean over buffer lengths ``0..max_buffer`` of the range-based PR-AUC: labels are
    widened by :func:`_soft_labels`; at each of ``n_thresholds`` thresholds sampled
    evenly from the sorted scores (flags ``score >= threshold``),
    ``precision = TP / flagged`` and ``recall = min(TP / P, 1) * existence`` where TP sums
    the soft labels of the flagged points, ``P`` averages the hard and soft label sums
    and ``existence`` is the fraction of widened segments holding a flag; the area is the
    trapezoidal rule from (recall 0, precision 1). Definitions follow the authors'
    reference code (as ported in aeon) so that values are comparable with published ones.
    """
    if not isinstance(max_buffer, (int, np.integer)) or isinstance(max_buffer, bool) or max_buffer < 0:
        raise ConfigError(f"vus_pr: max_buffer must be an integer >= 0. Got max_buffer={max_buffer!r}.")
    if not isinstance(n_thresholds, (int, np.integer)) or n_thresholds < 1:
        raise ConfigError(f"vus_pr: n_thresholds must be an integer >= 1. Got n_thresholds={n_thresholds!r}.")
    values, truth = _pair(scores, labels, "vus_pr", name="scores")
    if not truth.any():
        raise DataError("vus_pr: labels contain no anomaly, so recall is undefined.")
    order = np.argsort(-values, kind="stable")
    ascending = values[order][::-1]
    thresholds = values[order][np.linspace(0, values.size - 1, n_thresholds).astype(np.int64)]
    flagged = values.size - np.searchsorted(ascending, thresholds, side="left")  # count of score >= t
    areas = np.empty(max_buffer + 1)
    for buffer in range(max_buffer + 1):
        soft = _soft_labels(truth, buffer)
        true_positives = np.cumsum(soft[order])[flagged - 1]
        positives = (truth.sum() + soft.sum()) / 2
        segment_max = np.array([values[start:end].max() for start, end in label_segments(soft > 0)])
        existence = (segment_max[None, :] >= thresholds[:, None]).mean(axis=1)
        recall = np.concatenate(([0.0], np.minimum(true_positives / positives, 1.0) * existence))
        precision = np.concatenate(([1.0], true_positives / flagged))
        areas[buffer] = np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2)
    return float(areas.mean())
