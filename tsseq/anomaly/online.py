"""A fast causal detector for streams: an online AR forecaster, its residual, Numenta's anomaly likelihood.

:class:`OnlineResidualDetector` scores a univariate stream point by point, the score of
``t`` using the rows up to ``t`` only, and keeps learning from every row it has scored.
It is built for NAB's protocol (train on a short probationary period, then stream):

1. **Forecast.** ``x`` is standardised with the training rows' mean and std. An AR model
   predicts ``xhat_t = w . f_t`` from ``f_t = (1, x_{t-1}, .., x_{t-p}, x_{t-S-1}, x_{t-S},
   x_{t-S+1})``, where ``S`` is the number of rows in one ``seasonal_period`` (a day by
   default, from the median time step) -- the seasonal lags are used when the training
   rows hold at least two periods. ``w`` is ridge regression on the training rows, then
   recursive least squares with forgetting factor ``lambda`` on every scored row:
   ``k = P f / (lambda + f' P f)``, ``w += k (x_t - xhat_t)``, ``P = (P - k f' P) / lambda``.
2. **Normalised residual.** ``z_t = |x_t - xhat_t| / m_{t-1}``, ``m`` the exponentially
   weighted mean of past ``|residuals|`` (half-life ``scale_halflife`` rows), squashed to
   a raw score ``a_t = min(z_t / error_scale, 1)`` in ``[0, 1]``, as an HTM raw anomaly score.
3. **Anomaly likelihood** (:class:`tsseq.anomaly.scorers.LikelihoodScorer`, NuPIC's
   ``AnomalyLikelihood`` as NAB's ``numenta`` detector configures it, over the raw scores
   and values of the training rows and every row after them): a normal distribution of
   the ``averaging_window`` means of the raw scores, re-estimated every
   ``reestimation_period`` rows from at most ``historic_window`` rows, the training rows
   being its probationary period. The score is NuPIC's log-likelihood
   ``log(1.0000000001 - L) / log(1e-10)`` in ``[0, 1]`` (0.5 for ``L = 1 - 1e-5``).
   With ``novelty_window`` set, a second raw score joins: the pattern novelty of the last
   ``novelty_window`` values (:mod:`tsseq.anomaly.novelty`: their distance to the nearest
   earlier window, normalised by its running mean, saturating at ``novelty_scale``), through
   its own likelihood; the score is the larger of the two log-likelihoods. The residual
   of an AR that keeps learning returns to normal within a few rows of a new pattern;
   the pattern stays novel until it has been seen before. With ``novelty_warmup`` ``w``
   the novelty joins only from ``(1 + w) * training rows`` rows seen on (it is computed
   and its likelihood learns before that): right after a short training period the
   nearest earlier window is searched among few rows, and ordinary patterns not met
   yet look novel (on NAB, 42 of the 252 false alarms of ``w = 0`` fell within one
   training period after it; ``w = 2.5`` scores 72.7 against 71.6).
4. **Spatial anomaly** (NAB's ``numenta`` detector): a value beyond the range seen so far
   by more than ``spatial_tolerance`` of that range scores 1.
5. **Alarm suppression** (optional, off by default; CAD OSE's rest period): after a score
   >= ``alarm_level`` the next ``suppression * training rows`` rows score 0, so one event
   raises one alarm (NAB's configuration sets ``suppression: 0.2``).

Usage: ``fit(train)`` on the first rows, then ``score(rest)`` for the rows that follow
(the detector itself is left unchanged; the online learning happens on a copy of its
state), ``update(rows)`` to score the next rows of a live feed and keep learning, or
``stream(y, train_rows=...)`` to fit and score one stored series. Replaying a stored series this
way is exactly what a live feed would produce. One numba-compiled loop does steps 1-2;
steps 3-5 are vectorised or a single pass.
"""

from __future__ import annotations

import copy
import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numba
import numpy as np
import pandas as pd

from tsseq.anomaly.novelty import NoveltyState, novelty_raw
from tsseq.anomaly.scorers import LikelihoodScorer
from tsseq.base import check_positive_int
from tsseq.data.splits import held_out_rows
from tsseq.errors import ConfigError, DataError, MissingValuesError
from tsseq.parameters import Estimator, check_is_fitted


@dataclass(frozen=True, eq=False)
class _StreamState:
    """Everything the stream carries from one row to the next (never mutated in place)."""

    weights: np.ndarray  # (n_features,)
    precision: np.ndarray  # (n_features, n_features), RLS's P
    scale_sum: float  # EWMA of |residual| = scale_sum / scale_weight (pandas' adjust=True form)
    scale_weight: float
    recent: np.ndarray  # (max lag,) the last standardised values
    likelihood: LikelihoodScorer  # step 3, fitted on the training rows' raw scores and values
    seen: int  # rows seen so far
    low: float  # the smallest and largest value seen
    high: float
    last_alarm: int  # row of the last alarm (-1: none yet)
    novelty: NoveltyState | None = None  # step 3's pattern novelty (novelty_window set), and its likelihood
    novelty_likelihood: LikelihoodScorer | None = None


@numba.njit(cache=True)
def rls_stream(x, recent, lags, weights, precision, scale_sum, scale_weight, decay, forgetting, learn,
               leverage_corrected, squared, unscaled):
    """Steps 1-2 of an online AR over one standardised channel ``x`` ``(T,)`` after the values ``recent`` ``(H,)``.

    Returns ``(ratio (T,), weights, precision, scale_sum, scale_weight)``: ``ratio_t`` is
    the signed error ``e_t`` over the residual scale of the rows before ``t``, the EWMA
    of ``|e|`` (or the root of the EWMA of ``e^2``, ``squared``); ``e_t`` is the residual
    ``x_t - w . f_t``, divided by ``sqrt(1 + f_t' P f_t)`` when ``leverage_corrected``.
    Rows whose lags reach before ``recent`` get NaN; a row scored before any residual
    exists gets ``unscaled``. ``learn``: update ``weights``, ``precision`` by RLS with
    forgetting factor ``forgetting``. Shared by :class:`OnlineResidualDetector` and
    :class:`tsseq.anomaly.online_interval.OnlineIntervalDetector`.
    """
    history = len(recent)
    buffer = np.concatenate((recent, x))
    weights, precision = weights.copy(), precision.copy()
    n = len(weights)
    ratio = np.full(len(x), np.nan)
    features = np.empty(n)
    features[0] = 1.0
    for t in range(len(x)):
        row = history + t
        if row < lags.max():
            continue
        for j in range(len(lags)):
            features[j + 1] = buffer[row - lags[j]]
        residual = x[t] - weights @ features
        gain_direction = precision @ features
        leverage = features @ gain_direction
        error = residual / math.sqrt(1.0 + max(leverage, 0.0)) if leverage_corrected else residual
        if scale_weight > 0:
            level = scale_sum / scale_weight
            level = math.sqrt(level) if squared else level
            ratio[t] = error / max(level, 1e-6)
        else:
            ratio[t] = unscaled
        scale_sum = decay * scale_sum + (error * error if squared else abs(error))
        scale_weight = decay * scale_weight + 1.0
        if learn:
            gain = gain_direction / (forgetting + leverage)
            weights = weights + gain * residual
            precision = (precision - np.outer(gain, gain_direction)) / forgetting
    return ratio, weights, precision, scale_sum, scale_weight


def _ar_stream(x, recent, lags, weights, precision, scale_sum, scale_weight, decay, forgetting, learn):
    """Steps 1-2 of the class docstring: ``(z (T,), weights, precision, scale_sum, scale_weight)``, ``z = |e| / m``."""
    ratio, *state = rls_stream(
        x, recent, lags, weights, precision, scale_sum, scale_weight, decay, forgetting, learn, False, False, 0.0
    )
    return (np.abs(ratio), *state)


_COLUMNS_SHOWN = 10  # columns a message lists


def _one_channel_only(detector: str, name: str, columns: list[object]) -> str:
    """The refusal of a multi-column frame: the columns found, how to pick one, and the detector that takes them all."""
    shown = ", ".join(repr(str(column)) for column in columns[:_COLUMNS_SHOWN])
    more = f", ... ({len(columns) - _COLUMNS_SHOWN} more)" if len(columns) > _COLUMNS_SHOWN else ""
    first = str(columns[0])
    return (
        f"{detector} scores one channel (a univariate series), but {name} has {len(columns)} columns: {shown}{more}. "
        f"Choose one with --columns {shlex.quote(first)} (tsseq detect; in Python {name}[[{first!r}]]), or score "
        "all the channels together with the detector online_interval (OnlineIntervalDetector)."
    )


class AlarmLevel:
    """The fixed threshold of ``threshold="alarm_level"``: flags ``score >= level`` (NaN: never).

    A thresholder (:class:`tsseq.anomaly.thresholds.Thresholder`): ``fit`` learns nothing,
    ``predict(scores)`` flags, ``run(scores)`` gives the flags and the threshold of each.
    """

    def __init__(self, level: float) -> None:
        self.threshold_ = float(level)

    def fit(self, validation_scores: object = None) -> "AlarmLevel":
        return self

    def predict(self, scores: object) -> np.ndarray:
        return np.asarray(scores, dtype=np.float64) >= self.threshold_

    def run(self, scores: object) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(scores), np.full(np.shape(scores), self.threshold_)


class OnlineResidualDetector(Estimator):
    """Causal anomaly scores of a univariate stream (module docstring); higher = more anomalous.

    Parameters
    ----------
    order : int
        ``p``, the AR lags ``1..p``.
    seasonal_period : str or None
        A pandas offset (``"1D"``); adds the lags ``S - 1, S, S + 1``. None: no seasonal lags.
    forgetting : float
        RLS forgetting factor ``lambda`` in ``(0, 1]``.
    ridge : float
        Ridge penalty of the first fit, and RLS's initial ``P = (X'X + ridge I)^-1``.
    scale_halflife : float
        Half-life, in rows, of the residual scale ``m``.
    error_scale : float
        Normalised residual that gives the raw score 1.
    averaging_window, historic_window, reestimation_period : int
        The anomaly likelihood's short average, history and re-estimation period (rows).
    novelty_window : int or None
        ``W`` of the pattern novelty score (step 3); None (default): off. NAB's configuration: 16.
    novelty_scale : float
        Distance, in running means of the past distances, that gives the novelty raw score 1.
    novelty_history : int
        Rows back that the nearest earlier window is searched for (the cost per row is
        ``O(novelty_history * novelty_window)``).
    novelty_warmup : float
        The novelty's warm-up after the training rows, in multiples of their number: it
        counts from row ``(1 + novelty_warmup) * n_train`` on (step 3). 0 (default): at
        once. NAB's configuration: 2.5.
    spatial_tolerance : float or None
        Fraction of the seen range beyond it that scores 1; None: off.
    suppression : float
        Rows after an alarm that score 0, as a fraction of the training rows (0, the
        default: off; an explicit option, e.g. 0.2 in ``pipelines/benchmarks/nab.yaml``).
    alarm_level : float
        Score that counts as an alarm, for the suppression and for ``threshold="alarm_level"``
        (0.5: likelihood 0.99999, NuPIC's red zone).
    threshold : str or None
        How :meth:`detect` flags rows. ``"alarm_level"`` (default): ``score >= alarm_level``,
        fixed: the score is already a calibrated tail probability, and the alarm level is
        the one the suppression uses (NAB's corpus-optimised thresholds for this detector
        are 0.50-0.51). A name of :func:`tsseq.anomaly.thresholds.make_thresholder`
        (``"quantile"``, ``"spot"``, ...): fitted on validation scores (below). None: scores only.
    threshold_params : mapping, optional
        The named thresholder's arguments.
    validation_fraction : float
        With a named thresholder and no ``validation``: ``fit`` learns from the first rows
        and streams the last ``validation_fraction`` of ``y`` (learning from them too);
        their causal scores are the validation scores.
    causal : bool
        Must be True: the detector learns online from the rows it scores, so it has no
        batch mode (present so that it takes the same arguments as the other detectors).

    Fitted: ``mean_``, ``std_``, ``lags_`` ``(n_lags,)``, ``n_train_``, ``columns_``,
    ``state_``, ``validation_scores_`` (or None), ``thresholder_`` and ``threshold_`` (None
    without a threshold).
    """

    def __init__(
        self,
        *,
        order: int = 16,
        seasonal_period: str | None = "1D",
        forgetting: float = 0.999,
        ridge: float = 1.0,
        scale_halflife: float = 500.0,
        error_scale: float = 6.0,
        averaging_window: int = 10,
        historic_window: int = 8640,
        reestimation_period: int = 100,
        novelty_window: int | None = None,
        novelty_scale: float = 6.0,
        novelty_history: int = 4032,
        novelty_warmup: float = 0.0,
        spatial_tolerance: float | None = 0.05,
        suppression: float = 0.0,
        alarm_level: float = 0.5,
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
        self.error_scale = error_scale
        self.averaging_window = averaging_window
        self.historic_window = historic_window
        self.reestimation_period = reestimation_period
        self.novelty_window = novelty_window
        self.novelty_scale = novelty_scale
        self.novelty_history = novelty_history
        self.novelty_warmup = novelty_warmup
        self.spatial_tolerance = spatial_tolerance
        self.suppression = suppression
        self.alarm_level = alarm_level
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.validation_fraction = validation_fraction
        self.causal = causal

    learns_online = True  # streaming replays it with its own online updates, never refits it
    gives_contributions = False  # one channel: nothing to split (contributions() says so)

    # ------------------------------------------------------------------ public
    def fit(self, y: pd.Series | pd.DataFrame, validation: pd.Series | pd.DataFrame | None = None) -> "OnlineResidualDetector":
        """Learn from the training rows ``y`` (e.g. NAB's probationary period); fit the threshold.

        ``validation``, if given, holds the rows that follow ``y``: they are scored (without
        learning from them) for the validation scores; else a named thresholder gets the
        scores of ``y``'s last ``validation_fraction`` rows (``threshold`` in the class docstring).
        """
        self._check_parameters()
        tail = None
        if validation is None and self.threshold not in (None, "alarm_level"):
            self._values(y, "y")  # a clear error for what cannot be split
            held = held_out_rows(self.validation_fraction, len(y))
            if held == 0:
                raise ConfigError(
                    f"threshold={self.threshold!r} is fitted on validation scores, but validation_fraction="
                    f"{self.validation_fraction} of {len(y)} rows holds none out; pass validation or raise it."
                )
            y, tail = y.iloc[: len(y) - held], y.iloc[len(y) - held :]
        self._fit_stream(y)
        self.validation_scores_ = None
        if tail is not None:
            self.validation_scores_ = self.update(tail).to_numpy()
        elif validation is not None:
            self.validation_scores_ = self.score(validation).to_numpy()
        self.thresholder_ = self._thresholder()
        self.threshold_ = None if self.thresholder_ is None else float(self.thresholder_.threshold_)
        return self

    def detect(self, y: pd.Series | pd.DataFrame) -> pd.DataFrame:
        """:meth:`score` of the rows ``y`` and their flags: columns ``score``, ``is_anomaly`` (bool)."""
        scores = self.score(y)
        if self.thresholder_ is None:
            raise ConfigError("This detector has threshold=None: it scores but does not flag. Set 'threshold'.")
        flags = np.asarray(copy.deepcopy(self.thresholder_).predict(scores.to_numpy()), dtype=bool)
        result = pd.DataFrame({"score": scores, "is_anomaly": flags}, index=scores.index)
        result.attrs["causal"] = True
        return result

    def predict(self, y: pd.Series | pd.DataFrame) -> pd.Series:
        """``True`` where the rows ``y`` are anomalous (:meth:`detect`)."""
        return self.detect(y)["is_anomaly"]

    def _fit_stream(self, y: pd.Series | pd.DataFrame) -> None:
        """Steps 1-3 on the training rows: scaling, lags, the first AR fit, the likelihood's history."""
        values, index = self._values(y, "y", fitting=True)
        self.n_train_ = len(values)
        self.mean_ = float(values.mean())
        std = float(values.std())
        self.std_ = std if std > 0 else max(abs(self.mean_), 1.0)  # a flat start: any positive unit
        self.lags_ = self._lags(index)
        if self.n_train_ <= self.lags_.max():
            raise DataError(f"fit needs more than {self.lags_.max()} rows for lags up to {self.lags_.max()}. Got {self.n_train_}.")
        x = (values - self.mean_) / self.std_
        weights, precision = self._ridge(x)
        z, weights, precision, scale_sum, scale_weight = _ar_stream(
            x, np.empty(0), self.lags_, weights, precision, 0.0, 0.0, self._decay(), self.forgetting, False
        )
        likelihood = self._likelihood().fit(self._raw(z), values)
        novelty = novelty_likelihood = None
        if self.novelty_window is not None:
            raw, novelty = self._novelty(x, None)
            novelty_likelihood = self._likelihood().fit(raw, values)
        self.state_ = _StreamState(
            weights, precision, scale_sum, scale_weight, x[-int(self.lags_.max()) :], likelihood,
            seen=self.n_train_, low=float(values.min()), high=float(values.max()), last_alarm=-1,
            novelty=novelty, novelty_likelihood=novelty_likelihood,
        )

    def _thresholder(self):
        params = dict(self.threshold_params or {})
        if self.threshold is None:
            return None
        if self.threshold == "alarm_level":
            if params:
                raise ConfigError(
                    f"threshold='alarm_level' takes no threshold_params (got {sorted(params)}); "
                    "its level is the 'alarm_level' parameter."
                )
            return AlarmLevel(self.alarm_level)
        from tsseq.anomaly.thresholds import make_thresholder

        return make_thresholder(self.threshold, **params).fit(self.validation_scores_)

    def score(self, y: pd.Series | pd.DataFrame) -> pd.Series:
        """Causal scores ``(T,)`` in ``[0, 1]`` of the rows ``y`` that follow the rows seen so far."""
        check_is_fitted(self, "state_")
        values, index = self._values(y, "y")
        scores, _ = self._continue(self.state_, values)
        series = pd.Series(scores, index=index, name="score")
        series.attrs["causal"] = True
        return series

    def contributions(self, y: pd.Series | pd.DataFrame) -> pd.DataFrame:
        """Not available: this detector scores one channel, so there is nothing to split over channels."""
        raise ConfigError(
            "OnlineResidualDetector scores one channel only, so it gives no per-channel contributions. For many "
            "channels with contributions use online_interval, interval, ar_residual, an autoencoder or auto."
        )

    def update(self, y: pd.Series | pd.DataFrame) -> pd.Series:
        """As :meth:`score`, and the detector keeps what it learnt: the next rows continue after ``y``."""
        check_is_fitted(self, "state_")
        values, index = self._values(y, "y")
        scores, self.state_ = self._continue(self.state_, values)
        series = pd.Series(scores, index=index, name="score")
        series.attrs["causal"] = True
        return series

    def stream(self, y: pd.Series | pd.DataFrame, *, train_rows: int) -> pd.Series:
        """``fit`` on the first ``train_rows`` rows of ``y``, ``score`` the rest; training rows score NaN."""
        train_rows = check_positive_int(train_rows, "train_rows")
        if not train_rows < len(y):
            raise DataError(f"train_rows={train_rows} leaves none of the {len(y)} rows to score.")
        scores = self.fit(y.iloc[:train_rows]).score(y.iloc[train_rows:])
        series = pd.concat([pd.Series(np.nan, index=y.index[:train_rows]), scores]).rename("score")
        series.attrs["causal"] = True
        return series

    # ------------------------------------------------------------------ steps
    def _continue(self, state: _StreamState, values: np.ndarray) -> tuple[np.ndarray, _StreamState]:
        x = (values - self.mean_) / self.std_
        z, weights, precision, scale_sum, scale_weight = _ar_stream(
            x, state.recent, self.lags_, state.weights, state.precision, state.scale_sum, state.scale_weight,
            self._decay(), self.forgetting, True,
        )
        likelihood = copy.deepcopy(state.likelihood)
        scores = likelihood.update(self._raw(z), values)
        novelty, novelty_likelihood = state.novelty, state.novelty_likelihood
        if novelty is not None:
            raw, novelty = self._novelty(x, novelty)
            novelty_likelihood = copy.deepcopy(novelty_likelihood)
            novelty_scores = novelty_likelihood.update(raw, values)
            # Warm-up: rows before (1 + novelty_warmup) n_train (counted from the stream's start) ignore it.
            rows = state.seen + np.arange(len(values))
            counts = rows - self.n_train_ >= self.novelty_warmup * self.n_train_
            scores = np.where(counts, np.fmax(scores, novelty_scores), scores)
        scores, low, high = self._spatial(values, scores, state.low, state.high)
        scores, last_alarm = self._suppress(scores, state.seen, state.last_alarm)
        new_state = replace(
            state, weights=weights, precision=precision, scale_sum=scale_sum, scale_weight=scale_weight,
            recent=np.concatenate([state.recent, x])[-len(state.recent) :], likelihood=likelihood,
            seen=state.seen + len(values), low=low, high=high, last_alarm=last_alarm,
            novelty=novelty, novelty_likelihood=novelty_likelihood,
        )
        return scores, new_state

    def _spatial(self, values: np.ndarray, scores: np.ndarray, low: float, high: float):
        """Step 4: scores 1 beyond the range seen before each row; returns the new range too."""
        if self.spatial_tolerance is None:
            return scores, min(low, values.min()), max(high, values.max())
        highs = np.maximum.accumulate(np.r_[high, values])[:-1]  # the range before each row
        lows = np.minimum.accumulate(np.r_[low, values])[:-1]
        margin = (highs - lows) * self.spatial_tolerance
        outside = (highs > lows) & ((values > highs + margin) | (values < lows - margin))
        return np.where(outside, 1.0, scores), float(min(low, values.min())), float(max(high, values.max()))

    def _suppress(self, scores: np.ndarray, first_row: int, last_alarm: int):
        """Step 5: zero the scores within the rest period after each alarm (also one from before ``first_row``)."""
        rest = int(self.suppression * self.n_train_)
        if rest <= 0:
            return scores, last_alarm
        scores = scores.copy()
        i = 0 if last_alarm < 0 else max(0, last_alarm + rest + 1 - first_row)
        scores[:i] = 0.0
        while True:
            alarms = np.flatnonzero(scores[i:] >= self.alarm_level)
            if not alarms.size:
                return scores, last_alarm
            i += int(alarms[0])
            last_alarm = first_row + i
            scores[i + 1 : i + 1 + rest] = 0.0
            i += rest + 1

    # ------------------------------------------------------------------ helpers
    def _likelihood(self) -> LikelihoodScorer:
        return LikelihoodScorer(
            averaging_window=self.averaging_window, historic_window=self.historic_window,
            reestimation_period=self.reestimation_period, log_scale=True,
        )  # fmt: skip

    def _novelty(self, x: np.ndarray, state: NoveltyState | None) -> tuple[np.ndarray, NoveltyState]:
        return novelty_raw(
            x, state, window=self.novelty_window, history=self.novelty_history,
            halflife=self.scale_halflife, scale=self.novelty_scale,
        )  # fmt: skip

    def _raw(self, z: np.ndarray) -> np.ndarray:
        return np.nan_to_num(np.minimum(z / self.error_scale, 1.0), nan=0.0)  # no forecast yet: no error

    def _decay(self) -> float:
        return float(np.exp(-np.log(2.0) / self.scale_halflife))

    def _lags(self, index: pd.Index) -> np.ndarray:
        lags = list(range(1, self.order + 1))
        if self.seasonal_period is not None and isinstance(index, pd.DatetimeIndex) and len(index) > 1:
            step = float(np.median((index[1:] - index[:-1]).total_seconds()))
            period = pd.Timedelta(self.seasonal_period).total_seconds()
            season = int(round(period / step)) if step > 0 else 0
            if season > self.order + 1 and 2 * (season + 1) < len(index):
                lags += [season - 1, season, season + 1]
        return np.asarray(lags, dtype=np.int64)

    def _ridge(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ridge AR fit on the training rows: ``(weights, P = (X'X + ridge I)^-1)``."""
        width = int(self.lags_.max())
        rows = np.arange(width, len(x))
        features = np.column_stack([np.ones(len(rows)), *[x[rows - lag] for lag in self.lags_]])
        gram = features.T @ features + self.ridge * np.eye(features.shape[1])
        precision = np.linalg.inv(gram)
        return precision @ (features.T @ x[rows]), precision

    def _values(self, y, name: str, fitting: bool = False) -> tuple[np.ndarray, pd.Index]:
        frame = y.to_frame() if isinstance(y, pd.Series) else y
        if isinstance(frame, pd.DataFrame) and frame.shape[1] > 1:
            raise DataError(_one_channel_only(type(self).__name__, name, list(frame.columns)))
        if not isinstance(frame, pd.DataFrame) or frame.shape[1] != 1:
            raise DataError(f"{name} must be a univariate Series or one-column DataFrame. Got {type(y).__name__} of shape {np.shape(y)}.")
        if not fitting and hasattr(self, "columns_") and list(frame.columns) != self.columns_ and not isinstance(y, pd.Series):
            raise DataError(f"{name} must have the column {self.columns_} it was fitted on. Got {list(frame.columns)}.")
        if fitting:
            self.columns_ = list(frame.columns)
        values = frame.iloc[:, 0].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MissingValuesError(f"{name}: row {bad[0]} ({frame.index[bad[0]]}) has the non-finite value {values[bad[0]]}; fill or drop it first.")
        if not len(values):
            raise DataError(f"{name} has no rows.")
        return values, frame.index

    def _check_parameters(self) -> None:
        if self.causal is not True:
            raise ConfigError(
                f"OnlineResidualDetector is causal only: it learns online from every row it scores, so it has no "
                f"batch mode. Got causal={self.causal!r}; use causal=True (tsseq detect --mode causal)."
            )
        if not isinstance(self.validation_fraction, (int, float)) or not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"The 'validation_fraction' parameter must be in [0, 1). Got {self.validation_fraction!r} instead."
            )
        for name in ("order", "averaging_window", "historic_window", "reestimation_period", "novelty_history"):
            check_positive_int(getattr(self, name), name)
        if self.novelty_window is not None and check_positive_int(self.novelty_window, "novelty_window") < 2:
            raise ConfigError(f"The 'novelty_window' parameter must be an int >= 2 or None. Got {self.novelty_window!r} instead.")
        if not 0 < self.forgetting <= 1:
            raise ConfigError(f"The 'forgetting' parameter must be in (0, 1]. Got {self.forgetting!r} instead.")
        for name in ("ridge", "scale_halflife", "error_scale", "novelty_scale"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"The {name!r} parameter must be > 0. Got {getattr(self, name)!r} instead.")
        if not (isinstance(self.novelty_warmup, (int, float)) and self.novelty_warmup >= 0):
            raise ConfigError(f"The 'novelty_warmup' parameter must be a number >= 0. Got {self.novelty_warmup!r} instead.")
        if not self.suppression >= 0:
            raise ConfigError(f"The 'suppression' parameter must be >= 0. Got {self.suppression!r} instead.")
        if self.spatial_tolerance is not None and not self.spatial_tolerance >= 0:
            raise ConfigError(f"The 'spatial_tolerance' parameter must be >= 0 or None. Got {self.spatial_tolerance!r} instead.")
        if self.seasonal_period is not None:
            try:
                pd.Timedelta(self.seasonal_period)
            except ValueError:
                raise ConfigError(f"The 'seasonal_period' parameter must be a pandas offset such as '1D', or None. Got {self.seasonal_period!r} instead.") from None
