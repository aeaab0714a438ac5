"""The NAB score (Lavin & Ahmad 2015, the Numenta Anomaly Benchmark), standalone from detectors.

NAB scores binary detections on a corpus of files, each with labelled anomaly windows,
as NAB v1.1's ``nab/sweeper.py`` does (row positions, not time, measure everything):

* The first ``min(floor(0.15 * rows), 750)`` rows of a file are its probationary period
  (:func:`probationary_rows`): detections there are ignored, and a window that ends
  there is not scored.
* Window ``k`` spans rows ``s_k .. e_k`` (the first rows holding its start and end
  timestamps), width ``w_k = e_k - s_k + 1``. A detection at row ``i`` inside it earns
  ``A_TP * sigma(-(e_k - i + 1) / w_k) / sigma(-1)``, where
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (:func:`scaled_sigmoid`, ``-1`` for ``y > 3``):
  exactly ``A_TP`` at the window's first row, falling towards 0 at its last. Only the
  best, i.e. the first, detection of a window counts; a window without one costs ``-A_FN``.
* A detection outside every window costs ``A_FP * sigma((i - e_k) / (w_k - 1))`` for the
  closest window ``k`` that ended before it (near ``-A_FP`` from ``3 w_k`` rows on; a
  width-1 window counts as infinitely far), or ``-A_FP`` with no window before it.
  Every false positive counts.
* The raw corpus score is the sum over files; the reported score is
  ``100 * (raw - null) / (perfect - null)``, where the null detector (no detection)
  scores ``null = -A_FN * windows`` and the perfect one ``perfect = A_TP * windows``.
* :func:`optimize_threshold` turns anomaly scores into detections (``score >= threshold``)
  with the one threshold, per profile, that maximises the corpus' raw score: NAB's
  sweep over every distinct score, done in one sort (O(n log n) for n rows).

Profiles (NAB's ``config/profiles.json``): :data:`PROFILES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.errors import ConfigError, DataError, closest_match

PROBATIONARY_FRACTION = 0.15
PROBATIONARY_CAP = 750  # NAB: 0.15 * 5000 rows


@dataclass(frozen=True)
class Profile:
    """NAB's cost matrix: the weights of a true positive, a false positive and a false negative."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


@dataclass(frozen=True)
class NabResult:
    """The NAB score of a corpus under one profile.

    ``score`` is normalised (null detector 0, perfect detector 100; NaN without any
    scored window); ``raw``, ``null`` and ``perfect`` are the unnormalised sums;
    ``threshold`` is the anomaly-score threshold used (None when scoring detections,
    ``inf`` when detecting nothing is best); ``detected_windows``, ``missed_windows``
    and ``false_positives`` (rows) count the scored part; ``per_file`` holds each file's
    raw score.
    """

    profile: str
    score: float
    raw: float
    null: float
    perfect: float
    threshold: float | None
    detected_windows: int
    missed_windows: int
    false_positives: int
    per_file: dict[str, float]


@dataclass(frozen=True, eq=False)
class _LabelledRows:
    """One file's rows: ``window`` ``(T,)`` (window index, -1 outside), ``weight`` ``(T,)``
    (the reward of a detection there), ``scored`` ``(T,)`` (False in the probationary period),
    ``scored_windows`` (windows ending after the probationary period)."""

    window: np.ndarray
    weight: np.ndarray
    scored: np.ndarray
    scored_windows: np.ndarray


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's ``sigma(y) = 2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3`` (far past a window)."""
    position = np.asarray(position, dtype=np.float64)
    with np.errstate(over="ignore"):
        values = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position > 3.0, -1.0, values)


def probationary_rows(n_rows: int) -> int:
    """Rows at the start of a file that NAB does not score: ``min(floor(0.15 * n_rows), 750)``."""
    return int(min(math.floor(PROBATIONARY_FRACTION * n_rows), PROBATIONARY_CAP))


def get_profile(profile: str | Profile) -> Profile:
    """A :class:`Profile` by name (a key of :data:`PROFILES`), or ``profile`` itself."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ConfigError(
            f"Unknown NAB profile {profile!r}.{closest_match(str(profile), PROFILES)} Profiles: {', '.join(PROFILES)}."
        )
    return PROFILES[profile]


def _window_rows(name: str, timestamps: pd.DatetimeIndex, windows: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` row indices of ``windows``: the first rows at their start and end timestamps."""
    starts, ends = np.empty(len(windows), dtype=np.int64), np.empty(len(windows), dtype=np.int64)
    for k, window in enumerate(windows):
        if len(window) != 2:
            raise DataError(f"{name}: anomaly window {k} must be a (start, end) pair. Got {window!r}.")
        for bound, stamp, out in (("starts", window[0], starts), ("ends", window[1], ends)):
            rows = np.flatnonzero(timestamps == pd.Timestamp(stamp))
            if rows.size == 0:
                raise DataError(f"{name}: anomaly window {k} {bound} at {stamp}, which is not a timestamp of the series.")
            out[k] = rows[0]
        if starts[k] > ends[k] or (k > 0 and starts[k] <= ends[k - 1]):
            raise DataError(
                f"{name}: anomaly windows must be in time order and disjoint; window {k} ({window[0]} .. {window[1]}) "
                f"covers rows {starts[k]} .. {ends[k]}, the window before it ends at row {ends[k - 1] if k else None}."
            )
    return starts, ends


def _label_rows(name: str, timestamps: pd.DatetimeIndex, windows: Sequence, profile: Profile) -> _LabelledRows:
    """The window and the reward of a detection at every row of one file (module docstring)."""
    starts, ends = _window_rows(name, timestamps, windows)
    rows = np.arange(len(timestamps))
    inside = np.searchsorted(starts, rows, side="right") - 1  # last window starting at or before the row
    in_window = (inside >= 0) & (rows <= ends[np.maximum(inside, 0)]) if len(starts) else np.zeros(len(rows), bool)
    window = np.where(in_window, inside, -1)
    weight = np.full(len(rows), -profile.fp_weight)
    if len(starts):
        widths = (ends - starts + 1).astype(np.float64)
        k = window[in_window]
        weight[in_window] = (
            scaled_sigmoid(-(ends[k] - rows[in_window] + 1) / widths[k]) * profile.tp_weight / scaled_sigmoid(-1.0)
        )
        before = np.searchsorted(ends, rows, side="left") - 1  # last window ending before the row
        after_window = ~in_window & (before >= 0)
        k = before[after_window]
        with np.errstate(divide="ignore"):
            distance = (rows[after_window] - ends[k]) / (widths[k] - 1.0)  # width 1: inf, i.e. far away
        weight[after_window] = scaled_sigmoid(distance) * profile.fp_weight
    first_scored = probationary_rows(len(rows))
    return _LabelledRows(window, weight, rows >= first_scored, np.flatnonzero(ends >= first_scored))


def _files(values: Mapping[str, pd.Series], windows: Mapping[str, Sequence], what: str):
    """Yield ``(name, values (T,), timestamps)`` after checking every file has labels and a DatetimeIndex."""
    if not isinstance(values, Mapping) or not values:
        raise DataError(f"{what} must be a non-empty mapping of file name -> pandas Series. Got {type(values).__name__}.")
    for name, series in values.items():
        if name not in windows:
            raise DataError(f"{what}: file {name!r} has no anomaly windows.{closest_match(str(name), windows)}")
        index = getattr(series, "index", None)
        if not isinstance(index, pd.DatetimeIndex):
            raise DataError(
                f"{what}: file {name!r} must be a pandas Series indexed by its timestamps (a DatetimeIndex). "
                f"Got {type(series).__name__} with index {type(index).__name__}."
            )
        yield name, np.asarray(series), index


def nab_score(
    detections: Mapping[str, pd.Series],
    windows: Mapping[str, Sequence],
    profile: str | Profile = "standard",
    *,
    threshold: float | None = None,
) -> NabResult:
    """The NAB score of binary detections (module docstring).

    Parameters
    ----------
    detections : mapping file name -> Series of bool ``(T_f,)``
        Each file's detections, indexed by its raw timestamps (repeats allowed: windows
        are located by row, at the first row holding a timestamp).
    windows : mapping file name -> sequence of (start, end)
        The anomaly windows of every file in ``detections`` (more files may be there),
        e.g. ``tsseq.data.catalog.load("nab").anomaly_windows``.
    profile : str or Profile
        A key of :data:`PROFILES` or a custom :class:`Profile`.
    threshold : float, optional
        Only recorded in the result (the threshold the detections came from).
    """
    profile = get_profile(profile)
    raw_by_file, detected_windows, missed_windows, false_positives, n_windows = {}, 0, 0, 0, 0
    for name, flags, timestamps in _files(detections, windows, "detections"):
        flags = flags.astype(bool)
        rows = _label_rows(name, timestamps, windows[name], profile)
        hits = flags & rows.scored
        outside = hits & (rows.window < 0)
        total = float(rows.weight[outside].sum())
        false_positives += int(outside.sum())
        for k in rows.scored_windows:
            hit_rows = np.flatnonzero(hits & (rows.window == k))
            if hit_rows.size:
                total += float(rows.weight[hit_rows[0]])  # the first detection, the largest reward
                detected_windows += 1
            else:
                total -= profile.fn_weight
                missed_windows += 1
        n_windows += len(rows.scored_windows)
        raw_by_file[name] = total
    return _result(profile, raw_by_file, n_windows, threshold, detected_windows, missed_windows, false_positives)


def _result(profile: Profile, raw_by_file: dict, n_windows: int, threshold, detected: int, missed: int, fps: int) -> NabResult:
    raw = float(sum(raw_by_file.values()))
    null, perfect = -profile.fn_weight * n_windows, profile.tp_weight * n_windows
    score = 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")
    return NabResult(profile.name, score, raw, null, perfect, threshold, detected, missed, fps, raw_by_file)


def threshold_curve(
    scores: Mapping[str, pd.Series], windows: Mapping[str, Sequence], profile: str | Profile = "standard"
) -> tuple[np.ndarray, np.ndarray]:
    """The corpus' raw NAB score at every distinct threshold, as NAB's sweeper computes it.

    Returns ``(thresholds (K + 1,), raw (K + 1,))``, thresholds descending: ``inf``
    (nothing detected), then each distinct finite score of a scored row; ``raw[j]`` is the
    raw score of the detections ``score >= thresholds[j]``. NaN scores are never detections.

    One sort of all scored rows: walking down the scores, false positives add their
    weights (a cumulative sum) and a window's term moves from ``-A_FN`` to the reward of
    its best row so far (a running maximum per window; adding its increments to the
    cumulative sum gives every window's term at every threshold).
    """
    profile = get_profile(profile)
    values, weights, window_ids, offset, n_scored_windows = [], [], [], 0, 0
    for name, file_scores, timestamps in _files(scores, windows, "scores"):
        rows = _label_rows(name, timestamps, windows[name], profile)
        file_scores = file_scores.astype(np.float64)
        keep = rows.scored & ~np.isnan(file_scores)
        values.append(file_scores[keep])
        weights.append(rows.weight[keep])
        window_ids.append(np.where(rows.window[keep] >= 0, rows.window[keep] + offset, -1))  # ids unique in the corpus
        offset += len(windows[name])
        n_scored_windows += len(rows.scored_windows)
    null = -profile.fn_weight * n_scored_windows
    values, weights, window_ids = np.concatenate(values), np.concatenate(weights), np.concatenate(window_ids)
    order = np.argsort(-values, kind="stable")
    values, weights, window_ids = values[order], weights[order], window_ids[order]
    increments = np.where(window_ids < 0, weights, 0.0)
    hit = np.flatnonzero(window_ids >= 0)
    if hit.size:
        # Per-window running maximum of the reward, in sweep order: sort the hits by
        # (window, sweep position) and offset each window's reward ranks so that one
        # cumulative maximum never carries across windows.
        by_window = hit[np.lexsort((hit, window_ids[hit]))]
        reward_levels, ranks = np.unique(weights[by_window], return_inverse=True)
        group = window_ids[by_window]
        offset = group * (len(reward_levels) + 1)
        best = reward_levels[np.maximum.accumulate(ranks + offset) - offset]
        first = np.r_[True, group[1:] != group[:-1]]
        previous = np.where(first, -profile.fn_weight, np.r_[0.0, best[:-1]])
        increments[by_window] = best - previous
    raw = null + np.cumsum(increments)
    last_of_tie = np.r_[values[1:] != values[:-1], True] if values.size else np.zeros(0, bool)
    return np.r_[np.inf, values[last_of_tie]], np.r_[null, raw[last_of_tie]]


def optimize_threshold(
    scores: Mapping[str, pd.Series], windows: Mapping[str, Sequence], profile: str | Profile = "standard"
) -> NabResult:
    """The NAB score with the one threshold that maximises the corpus' raw score (NAB's optimiser).

    ``scores`` maps each file to its anomaly scores, indexed by its raw timestamps
    (higher = more anomalous; NaN = no score). Every distinct score is tried
    (:func:`threshold_curve`); among equal best totals the highest threshold wins, as in
    NAB. The result is :func:`nab_score` of ``score >= threshold``.
    """
    profile = get_profile(profile)
    thresholds, raw = threshold_curve(scores, windows, profile)
    best = float(thresholds[int(np.argmax(raw))])
    detections = {name: series >= best for name, series in scores.items()}
    return nab_score(detections, windows, profile, threshold=best)
