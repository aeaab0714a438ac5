r"""A fast causal interval detector for streams: an online AR's Gaussian (or Student-t) predictive distribution.

:class:`OnlineIntervalDetector` scores each row by the tail probability of its value under
the one-step predictive distribution that the rows before it give
(:mod:`tsseq.anomaly.tails`), and keeps learning from every row it has scored. It is the
interval counterpart of :class:`tsseq.anomaly.online.OnlineResidualDetector`, with the
same forecaster, the same ``fit``/``score``/``update``/``stream``/``detect`` interface
and no torch; per channel ``c`` of a series ``(T, C)``:

1. **Forecast.** ``x`` is standardised with the training rows' mean and std. An AR model
   predicts ``xhat_t = w . f_t`` from ``f_t = (1, x_{t-1}, .., x_{t-p})``, plus
   ``x_{t-S-1}, x_{t-S}, x_{t-S+1}`` (``S`` rows in one ``seasonal_period``) when the
   training rows hold two periods; ``w`` is ridge regression on the training rows, then
   recursive least squares with forgetting factor ``lambda`` on every scored row (as
   :mod:`tsseq.anomaly.online`).
2. **Predictive distribution.** ``x_t ~ D(xhat_t, s_t^2 (1 + f_t' P f_t))``: ``P`` is
   RLS's matrix, so ``f' P f`` is the leverage of ``f_t``, the share of parameter
   uncertainty (large right after an unusual row); ``s_t`` is the noise scale from the
   residuals before ``t``, ``e_r = (x_r - xhat_r) / sqrt(1 + f_r' P f_r)``, through an
   exponentially weighted mean (half-life ``scale_halflife`` rows) of ``e^2``
   (``scale="squared"``, the residual variance; default) or of ``|e|`` (``"absolute"``,
   robust: a spike of ``k`` sigma moves it by ``k (1 - decay)``, not ``k^2 (1 - decay)``;
   which also means the rows right after a spike are judged against a narrower
   distribution and alarm more: on NAB the variance does better), converted to the
   scale of ``D``: ``"normal"``, or ``"student_t"`` with ``df`` degrees of freedom
   (heavier tails: a monotone map of the same standardised residual, so it changes the
   scores' calibration, not their order).
3. **Tail score.** ``-log10 p_c`` with ``p_c = 2 min(F(x_t), 1 - F(x_t))``; the channels
   are combined into one ``-log10 p`` (``combine``, :func:`~tsseq.anomaly.tails.combine_channel_scores`;
   per-channel scores: :meth:`OnlineIntervalDetector.channel_scores`).
4. **Alarm suppression** (optional, off by default): after a score >= ``alarm_level``
   the next ``suppression * training rows`` rows score 0, so one event raises one alarm.

The score of ``t`` uses the rows up to ``t`` only. Replaying a stored series
(``stream(y, train_rows=...)``) is exactly what a live feed would give. One numba loop
per channel does steps 1-2 (:func:`tsseq.anomaly.online.rls_stream`, shared with the residual detector).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tsseq.anomaly.online import OnlineResidualDetector, rls_stream
from tsseq.anomaly.scorers import split_by_shares
from tsseq.anomaly.tails import COMBINATIONS, combine_channel_scores, normal_tail_score, student_t_tail_score
from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, MissingValuesError, closest_match
from tsseq.parameters import check_is_fitted

SCALES = ("squared", "absolute")
DISTRIBUTIONS = ("normal", "student_t")


@dataclass(frozen=True, eq=False)
class _IntervalState:
    """Everything the stream carries from one row to the next, per channel (never mutated in place)."""

    weights: np.ndarray  # (C, n_features)
    precision: np.ndarray  # (C, n_features, n_features), RLS's P
    scale_sum: np.ndarray  # (C,) EWMA of |e| or e^2 = scale_sum / scale_weight
    scale_weight: np.ndarray  # (C,)
    recent: np.ndarray  # (max lag, C) the last standardised values
    seen: int  # rows seen so far
    last_alarm: int  # row of the last alarm (-1: none yet)


class OnlineIntervalDetector(OnlineResidualDetector):
    """Causal tail-probability scores ``-log10 p`` of a stream (module docstring); higher = more anomalous.

    Parameters
    ----------
    order, seasonal_period, forgetting, ridge, scale_halflife
        The online AR and its residual scale, as :class:`~tsseq.anomaly.online.OnlineResidualDetector`.
    scale : {"squared", "absolute"}
        The noise scale from the EWMA of ``e^2`` (the residual variance) or of ``|e|`` (robust).
    distribution : {"normal", "student_t"}
        The predictive distribution's family.
    df : float
        Student-t degrees of freedom (> 2), for ``distribution="student_t"``.
    combine : {"sidak", "bonferroni", "fisher"}
        How channels' tail probabilities become one (:mod:`tsseq.anomaly.tails`).
    suppression : float
        Rows after an alarm that score 0, as a fraction of the training rows (0: off).
    alarm_level : float
        Score ``-log10 p`` that counts as an alarm, for the suppression and for
        ``threshold="alarm_level"`` (5: ``p <= 1e-5``, NuPIC's red zone).
    threshold, threshold_params, validation_fraction, causal
        As :class:`~tsseq.anomaly.online.OnlineResidualDetector` (``"alarm_level"`` by
        default: the scores are calibrated tail probabilities, one level fits every series).

    Fitted: ``mean_``, ``std_`` ``(C,)``, ``lags_``, ``n_train_``, ``columns_``, ``state_``,
    ``validation_scores_`` (or None), ``thresholder_`` and ``threshold_``.
    """

    def __init__(
        self,
        *,
        order: int = 16,
        seasonal_period: str | None = "1D",
        forgetting: float = 0.999,
        ridge: float = 1.0,
        scale_halflife: float = 500.0,
        scale: str = "squared",
        distribution: str = "normal",
        df: float = 5.0,
        combine: str = "sidak",
        suppression: float = 0.0,
        alarm_level: float = 5.0,
        threshold: str | None = "alarm_level",
        threshold_params: Mapping | None = None,
        validation_fraction: float = 0.2,
        causal: bool = True,
    ) -> None:
        self.order = order
        self.seasonal_period = seasonal_period
        self.forgetting = forgetting
        self.ridge = ridge
        self.scale_halflife = scale_halflife
        self.scale = scale
        self.distribution = distribution
        self.df = df
        self.combine = combine
        self.suppression = suppression
        self.alarm_level = alarm_level
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.validation_fraction = validation_fraction
        self.causal = causal

    gives_contributions = True  # many channels: contributions() splits each score over them

    def channel_scores(self, y: pd.Series | pd.DataFrame) -> pd.DataFrame:
        """Per-channel ``-log10 p_c`` ``(T, C)`` of the rows ``y`` that follow those seen (no suppression; unchanged detector)."""
        check_is_fitted(self, "state_")
        values, index = self._values(y, "y")
        scores, _ = self._channel_scores(self.state_, values)
        return pd.DataFrame(scores, index=index, columns=self.columns_)

    def contributions(self, y: pd.Series | pd.DataFrame) -> pd.DataFrame:
        """Per-channel contributions ``(T, C)`` to :meth:`score` of the rows ``y``: each row sums to its score.

        The combined ``-log10 p`` (after suppression) split in proportion to the channels'
        own ``-log10 p_c`` (:meth:`tsseq.anomaly.tails.TailScorer.contributions`); causal
        as the scores; the detector is unchanged.
        """
        check_is_fitted(self, "state_")
        values, index = self._values(y, "y")
        _, parts, _ = self._continue_with_contributions(self.state_, values)
        return pd.DataFrame(parts, index=index, columns=self.columns_)

    def update_with_contributions(self, y: pd.Series | pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        """:meth:`update` (score the rows ``y`` and keep learning) and the rows' :meth:`contributions`, in one pass."""
        check_is_fitted(self, "state_")
        values, index = self._values(y, "y")
        scores, parts, self.state_ = self._continue_with_contributions(self.state_, values)
        series = pd.Series(scores, index=index, name="score")
        series.attrs["causal"] = True
        return series, pd.DataFrame(parts, index=index, columns=self.columns_)

    # ------------------------------------------------------------------ steps
    def _fit_stream(self, y: pd.Series | pd.DataFrame) -> None:
        """Steps 1-2 on the training rows: scaling, lags, the first AR fit, the residual scale."""
        values, index = self._values(y, "y", fitting=True)  # (T, C)
        self.n_train_ = len(values)
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)
        self.std_ = np.where(std > 0, std, np.maximum(np.abs(self.mean_), 1.0))  # a flat start: any positive unit
        self.lags_ = self._lags(index)
        if self.n_train_ <= self.lags_.max():
            raise DataError(f"fit needs more than {self.lags_.max()} rows for lags up to {self.lags_.max()}. Got {self.n_train_}.")
        x = (values - self.mean_) / self.std_
        first_fits = [self._ridge(x[:, c]) for c in range(x.shape[1])]  # (weights, P) per channel
        weights, precision = (np.stack([fit[i] for fit in first_fits]) for i in range(2))
        zeros = np.zeros(x.shape[1])
        _, *state = self._run(x, np.empty((0, x.shape[1])), weights, precision, zeros, zeros, learn=False)
        self.state_ = _IntervalState(*state, recent=x[-int(self.lags_.max()) :], seen=self.n_train_, last_alarm=-1)

    def _channel_scores(self, state: _IntervalState, values: np.ndarray) -> tuple[np.ndarray, _IntervalState]:
        """Steps 1-3 per channel: ``-log10 p_c`` ``(T, C)`` and the state after the rows ``values`` ``(T, C)``."""
        x = (values - self.mean_) / self.std_
        ratios, weights, precision, scale_sum, scale_weight = self._run(
            x, state.recent, state.weights, state.precision, state.scale_sum, state.scale_weight, learn=True
        )
        standardised = ratios * self._unit()
        if self.distribution == "normal":
            scores = normal_tail_score(standardised)
        else:
            scores = student_t_tail_score(standardised, self.df)
        new_state = replace(
            state, weights=weights, precision=precision, scale_sum=scale_sum, scale_weight=scale_weight,
            recent=np.concatenate([state.recent, x])[-len(state.recent) :], seen=state.seen + len(values),
        )  # fmt: skip
        return scores, new_state

    def _run(self, x, recent, weights, precision, scale_sum, scale_weight, *, learn: bool):
        """Steps 1-2 on each channel of ``x`` ``(T, C)``: ``(ratios (T, C), weights, precision, scale_sum, scale_weight)``."""
        ratios, parts = np.empty_like(x), []
        for c in range(x.shape[1]):
            ratios[:, c], *part = rls_stream(
                x[:, c], recent[:, c], self.lags_, weights[c], precision[c], scale_sum[c], scale_weight[c],
                self._decay(), self.forgetting, learn, True, self.scale == "squared", np.nan,
            )  # fmt: skip
            parts.append(part)
        return (ratios, *(np.stack([np.asarray(part[i]) for part in parts]) for i in range(4)))

    def _continue(self, state: _IntervalState, values: np.ndarray) -> tuple[np.ndarray, _IntervalState]:
        scores, _, new_state = self._continue_with_contributions(state, values)
        return scores, new_state

    def _continue_with_contributions(self, state: _IntervalState, values: np.ndarray):
        """Steps 1-4: ``(scores (T,), contributions (T, C), state after the rows)``; the combined score
        (after suppression) split in proportion to the channels' own ``-log10 p_c``."""
        channel, new_state = self._channel_scores(state, values)
        scores = combine_channel_scores(channel, self.combine)
        scores, last_alarm = self._suppress(scores, state.seen, state.last_alarm)
        return scores, split_by_shares(scores, channel), replace(new_state, last_alarm=last_alarm)

    def _unit(self) -> float:
        """``c`` with ``u = ratio * c`` in the standard units of ``D``.

        ``ratio`` is the residual over the EWMA level; the level of a standard ``D``
        variable is ``E|D|`` (``scale="absolute"``) or ``sd(D)`` (``"squared"``), so a
        residual at the usual level maps to the usual standard value.
        """
        if self.distribution == "normal":
            return math.sqrt(2.0 / math.pi) if self.scale == "absolute" else 1.0
        df = float(self.df)
        if self.scale == "squared":
            return math.sqrt(df / (df - 2.0))
        return 2.0 * math.sqrt(df) * math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / (math.sqrt(math.pi) * (df - 1))

    # ------------------------------------------------------------------ helpers
    def _values(self, y, name: str, fitting: bool = False) -> tuple[np.ndarray, pd.Index]:
        frame = y.to_frame() if isinstance(y, pd.Series) else y
        if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0:
            raise DataError(f"{name} must be a pandas Series or DataFrame of value columns. Got {type(y).__name__}.")
        if not fitting and hasattr(self, "columns_"):
            if frame.shape[1] != len(self.columns_) or (isinstance(y, pd.DataFrame) and list(frame.columns) != self.columns_):
                raise DataError(f"{name} must have the columns {self.columns_} it was fitted on. Got {list(frame.columns)}.")
        if fitting:
            self.columns_ = list(frame.columns)
        values = frame.to_numpy(dtype=np.float64)
        bad = np.argwhere(~np.isfinite(values))
        if len(bad):
            row, column = bad[0]
            raise MissingValuesError(
                f"{name}: row {row} ({frame.index[row]}), column {frame.columns[column]!r} has the non-finite value "
                f"{values[row, column]}; fill or drop it first."
            )
        if not len(values):
            raise DataError(f"{name} has no rows.")
        return values, frame.index

    def _check_parameters(self) -> None:
        if self.causal is not True:
            raise ConfigError(
                f"OnlineIntervalDetector is causal only: it learns online from every row it scores, so it has no "
                f"batch mode. Got causal={self.causal!r}; use causal=True (tsseq detect --mode causal)."
            )
        if not isinstance(self.validation_fraction, (int, float)) or not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"The 'validation_fraction' parameter must be in [0, 1). Got {self.validation_fraction!r} instead."
            )
        check_positive_int(self.order, "order")
        if not 0 < self.forgetting <= 1:
            raise ConfigError(f"The 'forgetting' parameter must be in (0, 1]. Got {self.forgetting!r} instead.")
        for name in ("ridge", "scale_halflife", "alarm_level"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"The {name!r} parameter must be > 0. Got {getattr(self, name)!r} instead.")
        if not self.suppression >= 0:
            raise ConfigError(f"The 'suppression' parameter must be >= 0. Got {self.suppression!r} instead.")
        for name, allowed in (("scale", SCALES), ("distribution", DISTRIBUTIONS), ("combine", COMBINATIONS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"The {name!r} parameter must be one of {list(allowed)}. Got {value!r} instead."
                    f"{closest_match(str(value), allowed)}"
                )
        if self.distribution == "student_t" and not (isinstance(self.df, (int, float)) and self.df > 2):
            raise ConfigError(f"The 'df' parameter must be a number > 2 (a finite variance). Got {self.df!r} instead.")
        if self.seasonal_period is not None:
            try:
                pd.Timedelta(self.seasonal_period)
            except ValueError:
                raise ConfigError(f"The 'seasonal_period' parameter must be a pandas offset such as '1D', or None. Got {self.seasonal_period!r} instead.") from None
