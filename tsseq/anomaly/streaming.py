"""Streaming (causal) anomaly scoring: the score of ``t`` uses the series up to ``t`` only.

Two ways to drive a causal detector (``causal=True``, :mod:`tsseq.anomaly.detectors`):

* :func:`score_stream` replays a whole series as a stream, fast. The detector is
  trained on the first ``train_rows`` rows (e.g. NAB's probationary period) and scores
  every later row; with ``refit_every`` it is refitted, every ``refit_every`` rows, on all
  the rows seen before (the last ``max_train_rows`` of them, if given). Between refits the
  model does not change, so the windows ending at every ``t`` of a stretch are scored in
  one batch: each window ends at its own ``t`` and holds no later row, which is causal.
  Only what is genuinely sequential runs point by point: the likelihood scorer's rolling
  statistics (vectorised, causal) and the thresholder's online updates (SPOT/DSPOT).
* :class:`OnlineDetector` takes one row at a time (``update``), for a live feed: it
  keeps the last ``L`` rows, scores the window ending at the new row, and updates the
  temporal scorer and the thresholder by that one score (``contributions=True``: also the
  row's per-channel contributions, equal to :func:`score_stream`'s).

A detector that learns online (``learns_online``, e.g.
:class:`~tsseq.anomaly.online.OnlineResidualDetector`) is fitted once on the training
rows and then scores every later row with its own online updates (no refits).

Recurrent state: a reconstruction autoencoder encodes a whole window, so the window ending
at ``t`` is re-encoded from its first row rather than carried from ``t - 1``; a
forecast-residual detector's forecaster reads the ``L`` rows before ``t`` likewise. Both
equal a recurrence bounded to the window, and re-encoding in batches is what makes
replay fast (one batched kernel call over all windows instead of ``T`` sequential steps).

Policy: rows before ``train_rows`` are the training data and get NaN scores (scoring them
with a model trained on them would look ahead). Across refits the point-wise scorer and scaling change
with the model, while the likelihood scorer and the thresholder (fitted once, at the
first fit) keep their online state.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError
from tsseq.parameters import check_is_fitted, clone


@dataclass(frozen=True)
class StreamResult:
    """What :func:`score_stream` returns.

    ``frame``: indexed like the input, columns ``score`` and, with a threshold,
    ``is_anomaly`` (bool) and ``threshold`` (the threshold each score was compared with
    where the thresholder exposes it, else NaN). ``refits``: the timestamps at which a
    model was (re)fitted, the first being the end of the training rows. ``causal`` is True.
    With ``contributions=True`` the frame also has ``contribution_<channel>`` columns
    (per-channel contributions, summing to ``score``). ``detector``: the first fitted
    detector (its threshold and, for ``auto``, its :meth:`report`).
    """

    frame: pd.DataFrame
    train_rows: int
    refits: tuple[pd.Timestamp, ...]
    causal: bool = True
    detector: object = None


def _check_causal(detector) -> None:
    if not getattr(detector, "causal", False):
        raise ConfigError(
            f"Streaming scores each point from the data up to it: the detector must be built with causal=True. "
            f"Got {type(detector).__name__}(causal={getattr(detector, 'causal', None)!r})."
        )


def score_stream(
    detector,
    y: pd.DataFrame | pd.Series,
    *,
    train_rows: int,
    refit_every: int | None = None,
    max_train_rows: int | None = None,
    contributions: bool = False,
) -> StreamResult:
    """Replay ``y`` as a stream through a clone of ``detector`` (module docstring).

    Parameters
    ----------
    detector : AnomalyDetector
        Unfitted or fitted (it is cloned, not changed); ``causal=True``.
    y : DataFrame or Series
        One wide series with a DatetimeIndex.
    train_rows : int
        Rows the first fit uses; scoring starts after them.
    refit_every : int, optional
        Refit every this many rows on the rows seen so far (None: never).
    max_train_rows : int, optional
        A refit uses at most this many of the latest rows.
    contributions : bool
        Also the per-channel contributions to each score (``detector.contributions``),
        from the same windows, so as causal as the scores; a detector that gives none
        (``gives_contributions`` False) raises its :class:`~tsseq.errors.ConfigError`.
    """
    _check_causal(detector)
    frame = y.to_frame() if isinstance(y, pd.Series) else y
    train_rows = check_positive_int(train_rows, "train_rows")
    if train_rows >= len(frame):
        raise DataError(f"train_rows={train_rows} leaves none of the {len(frame)} rows to score.")
    every = len(frame) if refit_every is None else check_positive_int(refit_every, "refit_every")
    if max_train_rows is not None:
        check_positive_int(max_train_rows, "max_train_rows")
    if contributions and not getattr(detector, "gives_contributions", False):
        detector.contributions(frame)  # its own words on why it has none
        raise ConfigError(f"{type(detector).__name__} gives no per-channel contributions.")
    if getattr(detector, "learns_online", False):
        return _score_online_stream(detector, frame, train_rows, refit_every, max_train_rows, contributions)
    raw = np.full(len(frame), np.nan)
    parts = np.full((len(frame), frame.shape[1]), np.nan) if contributions else None
    first = None
    refits = []
    for start in range(train_rows, len(frame), every):
        stop = min(start + every, len(frame))
        fit_from = 0 if max_train_rows is None or start == train_rows else max(0, start - max_train_rows)
        fitted = clone(detector).fit(frame.iloc[fit_from:start])
        first = fitted if first is None else first
        refits.append(frame.index[start - 1])
        context = max(0, start - fitted.context_rows())  # rows the windows ending in [start, stop) reach back to
        if contributions:
            stretch, stretch_parts = fitted.raw_scores_and_contributions(frame.iloc[context:stop])
            raw[start:stop], parts[start:stop] = stretch[start - context :], stretch_parts[start - context :]
        else:
            raw[start:stop] = fitted.raw_scores(frame.iloc[context:stop])[start - context :]
    scores = raw.copy()
    if first.temporal_scorer_ is not None:  # continues from the first fit's calibration scores
        scores[train_rows:] = first.temporal_scorer_.score(raw[train_rows:])
        if contributions:  # the likelihood split in the shares of the raw score's contributions
            from tsseq.anomaly.scorers import split_by_shares

            parts = split_by_shares(scores, parts)
    return _result(first, frame, scores, train_rows, refits, parts)


def _score_online_stream(detector, frame, train_rows, refit_every, max_train_rows, contributions) -> StreamResult:
    """A detector that learns online (``learns_online``): fit once, then its own updates, row by row."""
    if refit_every is not None or max_train_rows is not None:
        raise ConfigError(
            f"{type(detector).__name__} learns online from every row it scores; refit_every and max_train_rows "
            "do not apply to it. Leave them unset."
        )
    fitted = clone(detector).fit(frame.iloc[:train_rows])
    scores = np.full(len(frame), np.nan)
    scores[train_rows:] = fitted.score(frame.iloc[train_rows:]).to_numpy()
    parts = None
    if contributions:
        parts = np.full((len(frame), frame.shape[1]), np.nan)
        parts[train_rows:] = fitted.contributions(frame.iloc[train_rows:]).to_numpy()
    return _result(fitted, frame, scores, train_rows, [frame.index[train_rows - 1]], parts)


def _result(fitted, frame, scores: np.ndarray, train_rows: int, refits: list, parts=None) -> StreamResult:
    from tsseq.anomaly.detectors import contribution_columns
    from tsseq.anomaly.thresholds import smooths_scores

    result = pd.DataFrame({"score": scores}, index=frame.index)
    if fitted.thresholder_ is not None:
        # The threshold starts at the first scored row (a smoothing window continues from the fit's scores,
        # not from the training rows' missing ones); the training rows show the threshold as fitted.
        thresholder = copy.deepcopy(fitted.thresholder_)
        flags, thresholds = np.zeros(len(scores), dtype=bool), np.full(len(scores), float(thresholder.threshold_))
        if smooths_scores(thresholder):  # the scores the threshold compares, written beside them
            result["smoothed_score"] = np.concatenate([np.full(train_rows, np.nan), thresholder.smooth(scores[train_rows:])])
        flags[train_rows:], thresholds[train_rows:] = _stream_thresholds(thresholder, scores[train_rows:])
        result["is_anomaly"], result["threshold"] = flags, thresholds
    if parts is not None:
        result[contribution_columns(frame.columns)] = parts
    result.attrs["causal"] = True
    return StreamResult(result, train_rows, tuple(refits), detector=fitted)


def _stream_thresholds(thresholder, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flags and the threshold each score met: ``run`` gives both (SPOT/DSPOT, Telemanom, ...); a fixed
    threshold is one value; any other is stepped point by point."""
    from tsseq.anomaly.thresholds import QuantileThresholder

    if hasattr(thresholder, "run"):
        flags, thresholds = thresholder.run(scores)
        return np.asarray(flags, dtype=bool), np.asarray(thresholds, dtype=np.float64)
    if isinstance(thresholder, QuantileThresholder):  # quantile and k-sigma: fixed after fit
        return np.asarray(thresholder.predict(scores), dtype=bool), np.full(len(scores), thresholder.threshold_)
    flags, thresholds = np.zeros(len(scores), dtype=bool), np.empty(len(scores))
    for i, score in enumerate(scores):
        flags[i] = bool(thresholder.predict(np.array([score]))[0])
        thresholds[i] = thresholder.threshold_
    return flags, thresholds


class OnlineDetector:
    """Score a live feed one row at a time with a fitted causal detector.

    ``update(row)`` takes the next row's values ``(C,)`` and returns ``(score, is_anomaly)``
    (NaN and False until ``L`` rows (reconstruction) or ``L + 1`` rows (forecast residual)
    have arrived). The detector's scorers and thresholder are copied, so the detector
    itself is unchanged; ``refit_every`` rows, the copy's model is refitted on the
    rows kept so far (at most ``max_train_rows``, default all), a blocking call.

    With ``contributions=True`` ``update`` returns ``(score, is_anomaly, contributions)``,
    the row's per-channel contributions ``(C,)`` summing to its score (NaN in the warm-up):
    the detector's own split, as its ``contributions`` and :func:`score_stream` give them
    (``raw_scores_and_contributions`` of the window ending at the row; a temporal scorer's
    score split in the shares of the raw score's; :class:`~tsseq.anomaly.online_interval.OnlineIntervalDetector`'s
    ``update_with_contributions``). They use the rows up to the new one only. A detector
    that gives none (``gives_contributions`` False: ``online_residual``, one channel) is refused.
    """

    def __init__(
        self,
        detector,
        *,
        refit_every: int | None = None,
        max_train_rows: int | None = None,
        contributions: bool = False,
    ) -> None:
        _check_causal(detector)
        self._learns_online = getattr(detector, "learns_online", False)
        check_is_fitted(detector, "state_" if self._learns_online else "thresholder_")  # auto has no scaler_
        if self._learns_online and (refit_every is not None or max_train_rows is not None):
            raise ConfigError(
                f"{type(detector).__name__} learns online from every row; refit_every and max_train_rows do not apply."
            )
        if not isinstance(contributions, bool):
            raise ConfigError(f"The 'contributions' parameter must be True or False. Got {contributions!r} instead.")
        if contributions and not getattr(detector, "gives_contributions", False):
            raise ConfigError(
                f"{type(detector).__name__} gives no per-channel contributions (it scores one channel: nothing to "
                "split); build OnlineDetector with contributions=False, or use a multichannel detector."
            )
        self.contributions = contributions
        self.detector = copy.deepcopy(detector)
        self.refit_every = refit_every
        self.max_train_rows = max_train_rows
        self._window = deque(maxlen=1 if self._learns_online else detector.context_rows() + 1)
        self._seen: list[np.ndarray] = []
        self._temporal = getattr(self.detector, "temporal_scorer_", None)
        self._thresholder = self.detector.thresholder_
        self._count = 0

    def update(self, values) -> tuple[float, bool] | tuple[float, bool, np.ndarray]:
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(row) != len(self.detector.columns_):
            columns = self.detector.columns_
            raise DataError(f"update expects {len(columns)} values ({columns}). Got {len(row)}.")
        self._window.append(row)
        self._count += 1
        if self.refit_every is not None:
            self._seen.append(row)
            if self._count % self.refit_every == 0:
                self._refit()
        if len(self._window) < self._window.maxlen:  # warm-up: no window ends here yet
            return (float("nan"), False, np.full(len(row), np.nan)) if self.contributions else (float("nan"), False)
        rows = np.stack(self._window)
        window = pd.DataFrame(rows, columns=self.detector.columns_, index=_dummy_index(len(rows)))
        parts = None
        if self._learns_online:  # the detector's own online update, one row
            if self.contributions:
                scores, split = self.detector.update_with_contributions(window)
                score, parts = float(scores.iloc[0]), split.to_numpy()[0]
            else:
                score = float(self.detector.update(window).iloc[0])
        else:
            if self.contributions:
                raws, split = self.detector.raw_scores_and_contributions(window)
                raw, parts = float(raws[-1]), split[-1]
            else:
                raw = float(self.detector.raw_scores(window)[-1])
            score = raw if self._temporal is None else self._temporal.update(raw)
            if parts is not None and self._temporal is not None:  # as the batch path: the raw score's shares
                from tsseq.anomaly.scorers import split_by_shares

                parts = split_by_shares(np.array([score]), parts[None])[0]
        flag = False if self._thresholder is None else bool(self._thresholder.predict(np.array([score]))[0])
        return (float(score), flag, parts) if self.contributions else (float(score), flag)

    def _refit(self) -> None:
        rows = np.stack(self._seen[-self.max_train_rows :] if self.max_train_rows else self._seen)
        frame = pd.DataFrame(rows, columns=self.detector.columns_, index=_dummy_index(len(rows)))
        refitted = clone(self.detector).fit(frame)
        for name in ("scaler_", "scorer_", "module_", "forecaster_", "members_", "normalisers_"):  # last two: auto's
            if hasattr(refitted, name):
                setattr(self.detector, name, getattr(refitted, name))


def _dummy_index(length: int) -> pd.DatetimeIndex:
    """A regular index for rows whose timestamps the model does not use."""
    return pd.date_range("2000-01-01", periods=length, freq="s")
