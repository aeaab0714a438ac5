"""Scorers: errors -> anomaly scores, higher = more anomalous (small, Darts-style).

Two kinds, both with ``fit(validation) -> self``, ``score(x) -> scores`` and a streaming
``update(x_t) -> score_t``:

* point-wise scorers map error vectors ``(..., C)`` (a model's residuals ``x - xhat``,
  per channel) to one score each ``(...)``: :class:`AbsoluteScorer`,
  :class:`SquaredScorer`, :class:`MahalanobisScorer`. A detector scores every step of
  every window, then maps the window scores to timestamps
  (:func:`tsseq.data.windows.windows_to_timestamps`).
* temporal scorers (``temporal = True``) map a time-ordered sequence of raw scores
  ``(T,)`` to scores ``(T,)`` and are causal: the score at ``t`` uses raw scores up to
  ``t`` only. :class:`LikelihoodScorer` is Numenta's anomaly likelihood.

Per-channel contributions: every point-wise scorer's ``contributions(errors)`` ``(..., C)``
says how much each channel adds to ``score(errors)`` ``(...)``, and they sum to it over
the channels (to float rounding):

* absolute / squared, ``reduction="mean"``: ``|e_c| / C`` or ``e_c^2 / C`` (additive: exact);
  ``reduction="max"``: the largest channel carries the whole score, the others 0;
* Mahalanobis, ``d^2 = sum_c m_c`` with ``m_c = (e - mu)_c (S^-1 (e - mu))_c``: the
  contributions to ``d`` are ``m_c / d`` (they sum to ``d^2 / d = d``; :meth:`MahalanobisScorer.terms`
  gives the ``m_c``). A term is negative when the channel's error is *expected* given the
  others' (correlated channels moving together): it lowers the distance;
* a temporal scorer's score (the likelihood) is split over the channels in the shares of
  the raw score it was computed from (:func:`split_by_shares`): a stated attribution,
  since the likelihood is not a sum over channels.

``make_scorer(name, **params)`` builds one by name (:data:`SCORERS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import erfc

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

REDUCTIONS = {"mean": np.mean, "max": np.max}


def _errors(errors: object, what: str) -> np.ndarray:
    array = np.asarray(errors, dtype=np.float64)
    if array.ndim == 0:
        raise DataError(f"{what} expects error vectors of shape (..., C). Got a scalar.")
    return array


class Scorer:
    """Base of the scorers: ``update`` scores one error vector with the fitted state."""

    temporal = False

    def fit(self, validation_errors: object) -> "Scorer":
        return self

    def score(self, errors: object) -> np.ndarray:
        raise NotImplementedError

    def update(self, error: object) -> float:
        """The score of one error vector ``(C,)``."""
        return float(self.score(np.asarray(error, dtype=np.float64)[None])[0])

    def contributions(self, errors: object) -> np.ndarray:
        """Per-channel contributions ``(..., C)`` summing to :meth:`score` ``(...)`` (module docstring)."""
        raise ConfigError(f"{type(self).__name__} gives no per-channel contributions.")


def split_by_shares(scores: object, parts: object) -> np.ndarray:
    """``s_t * p_{t,c} / sum_c p_{t,c}``: scores ``(...)`` split over channels in the shares of ``parts`` ``(..., C)``.

    Rows whose parts sum to 0 are split evenly; NaN parts count as 0; a NaN score gives
    NaN contributions. The result sums to ``scores`` over the last axis.
    """
    scores = np.asarray(scores, dtype=np.float64)
    parts = np.nan_to_num(np.asarray(parts, dtype=np.float64))
    total = parts.sum(axis=-1, keepdims=True)
    even = np.full_like(parts, 1.0 / parts.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total != 0, parts / np.where(total != 0, total, 1.0), even)
    return scores[..., None] * shares


def _reduced_contributions(per_channel: np.ndarray, reduction: str) -> np.ndarray:
    """``mean``: each channel's value over ``C``; ``max``: the (first) largest channel's value, 0 elsewhere."""
    if reduction == "mean":
        return per_channel / per_channel.shape[-1]
    largest = np.argmax(np.nan_to_num(per_channel, nan=-np.inf), axis=-1)[..., None]  # (..., 1)
    chosen = np.arange(per_channel.shape[-1]) == largest
    out = np.where(chosen, per_channel, 0.0)
    return np.where(np.isnan(per_channel).any(axis=-1, keepdims=True), np.nan, out)  # np.max gives NaN there


class AbsoluteScorer(Scorer):
    """``reduce_c |e_c|``: the absolute error of each channel, reduced over channels (mean or max)."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in REDUCTIONS:
            raise ConfigError(
                f"The 'reduction' parameter must be one of {list(REDUCTIONS)}. Got {reduction!r} instead."
            )
        self.reduction = reduction

    def score(self, errors: object) -> np.ndarray:
        return REDUCTIONS[self.reduction](np.abs(_errors(errors, "AbsoluteScorer")), axis=-1)

    def contributions(self, errors: object) -> np.ndarray:
        return _reduced_contributions(np.abs(_errors(errors, "AbsoluteScorer")), self.reduction)


class SquaredScorer(AbsoluteScorer):
    """``reduce_c e_c^2``: the squared error of each channel, reduced over channels (mean or max)."""

    def score(self, errors: object) -> np.ndarray:
        return REDUCTIONS[self.reduction](np.square(_errors(errors, "SquaredScorer")), axis=-1)

    def contributions(self, errors: object) -> np.ndarray:
        return _reduced_contributions(np.square(_errors(errors, "SquaredScorer")), self.reduction)


class MahalanobisScorer(Scorer):
    """``sqrt((e - mu)^T S^-1 (e - mu))`` with ``mu``, ``S`` fitted on validation errors (EncDec-AD).

    EncDec-AD fits a Gaussian to the error vectors of normal validation data and scores
    by their Mahalanobis distance (the square root of its negative log-density, up to
    constants). The covariance is regularised so that correlated or nearly constant
    channels do not make it singular:

    * ``covariance="ledoit_wolf"`` (default): scikit-learn's Ledoit-Wolf shrinkage
      towards a scaled identity, the shrinkage chosen from the data;
    * ``covariance="ridge"``: the empirical covariance plus ``ridge`` times the mean
      variance on the diagonal.

    With ``mu = 0`` and ``S = I`` the score is the Euclidean norm of ``e``. Errors are
    the signed residuals: their distribution is closer to a Gaussian than ``|e|``.
    Fitted: ``mean_ (C,)``, ``covariance_``, ``precision_ (C, C)``.
    """

    def __init__(self, covariance: str = "ledoit_wolf", ridge: float = 1e-3) -> None:
        self.covariance = covariance
        self.ridge = ridge

    def fit(self, validation_errors: object) -> "MahalanobisScorer":
        errors = _errors(validation_errors, "MahalanobisScorer")
        errors = errors.reshape(-1, errors.shape[-1])
        errors = errors[np.isfinite(errors).all(axis=1)]
        if len(errors) < 2:
            raise DataError(f"MahalanobisScorer needs at least 2 finite validation error vectors. Got {len(errors)}.")
        if self.covariance == "ledoit_wolf":
            from sklearn.covariance import LedoitWolf

            covariance = LedoitWolf().fit(errors).covariance_
        elif self.covariance == "ridge":
            if not self.ridge >= 0:
                raise ConfigError(f"The 'ridge' parameter must be >= 0. Got {self.ridge!r} instead.")
            covariance = np.atleast_2d(np.cov(errors, rowvar=False, bias=True))
            mean_variance = max(np.trace(covariance) / len(covariance), 1e-12)
            covariance = covariance + self.ridge * mean_variance * np.eye(len(covariance))
        else:
            raise ConfigError(
                f"The 'covariance' parameter must be 'ledoit_wolf' or 'ridge'. Got {self.covariance!r} instead."
                f"{closest_match(str(self.covariance), ('ledoit_wolf', 'ridge'))}"
            )
        self.mean_ = errors.mean(axis=0)
        self.covariance_ = covariance
        self.precision_ = np.linalg.pinv(covariance, hermitian=True)
        return self

    def score(self, errors: object) -> np.ndarray:
        centred = _errors(errors, "MahalanobisScorer") - self.mean_  # (..., C)
        squared = np.einsum("...i,ij,...j->...", centred, self.precision_, centred)
        return np.sqrt(np.maximum(squared, 0.0))

    def terms(self, errors: object) -> np.ndarray:
        """``m_c = (e - mu)_c (S^-1 (e - mu))_c`` ``(..., C)``: they sum to the squared distance ``d^2``."""
        centred = _errors(errors, "MahalanobisScorer") - self.mean_  # (..., C)
        return centred * (centred @ self.precision_)  # precision_ is symmetric

    def contributions(self, errors: object) -> np.ndarray:
        """``m_c / d`` ``(..., C)``: they sum to the distance ``d`` (0 where ``d = 0``)."""
        terms = self.terms(errors)
        distance = np.sqrt(np.maximum(terms.sum(axis=-1, keepdims=True), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(distance > 0, terms / np.where(distance > 0, distance, 1.0), 0.0)


_RED = 1e-5  # NuPIC's red zone: a tail probability below it is a likelihood >= 0.99999
_YELLOW = 1e-3
_MIN_MEAN, _MIN_VARIANCE, _FLAT_VARIANCE = 0.03, 0.0003, 1.5e-5  # NuPIC's estimateNormal bounds
_NULL_MEAN, _NULL_STD = 0.5, 1e6  # a distribution so wide that every likelihood is 0.5


class LikelihoodScorer(Scorer):
    """Numenta's anomaly likelihood of a raw score sequence: a causal 0..1 score.

    As NuPIC's ``AnomalyLikelihood`` (Ahmad et al. 2017) configured by NAB's ``numenta``
    detector. Rows are counted from the first raw score given to :meth:`fit`; those
    ``T0`` rows are the probationary period, its first half the learning period.

    * ``abar_t`` is the mean of the finite raw scores among the last ``averaging_window``;
    * a normal distribution is estimated from the ``abar`` of at most ``historic_window``
      rows before row ``s`` (learning-period rows skipped): mean floored at 0.03,
      variance at 0.0003 (NuPIC's bounds for raw scores in [0, 1]); ``s`` is the end of
      the probationary period, then every multiple of ``reestimation_period``; each
      estimate serves the rows up to the next one. With no rows to estimate from, and
      over a flat metric (``values`` given and their variance over the same rows below
      1.5e-5), the distribution is so wide that the likelihood is 0.5;
    * ``L_t = 1 - Q(|abar_t - mu| / sigma)``, ``Q`` the Gaussian tail: both tails, as
      NuPIC (an average far below the usual one is unlikely too; with raw scores >= 0 and
      the mean floored it rarely reaches the red zone);
    * when this row's and the previous row's tail probabilities are both below 1e-5
      (NuPIC's red zone; the previous row's taken under this row's distribution) the
      row's is raised to 1e-3, so a run of extreme rows alarms once.

    ``log_scale=True`` returns NuPIC's ``computeLogLikelihood``,
    ``log(1.0000000001 - L) / log(1e-10)``, which spreads the values near 1 (0.5 for
    ``L = 1 - 1e-5``; NAB's ``logScore``). A NaN raw score (no window yet) scores NaN
    and is skipped by the averages and estimates.

    ``fit(raw_scores (T0,), values=None)`` starts the stream; ``score(raw_scores (T,),
    values=None)`` scores the rows that follow without changing the scorer; ``update``
    does the same and moves the stream on (a float for a scalar raw score). ``values``
    (the metric values of the same rows) switch on the flat-metric rule: given to ``fit``,
    they are needed by ``score``/``update`` too. Fitted: ``probationary_rows_``,
    ``rows_seen_``, ``history_`` (the last raw scores the next estimates can use),
    ``values_history_`` (or None).
    """

    temporal = True

    def __init__(
        self,
        averaging_window: int = 10,
        historic_window: int = 8640,
        reestimation_period: int = 100,
        log_scale: bool = False,
    ) -> None:
        self.averaging_window = averaging_window
        self.historic_window = historic_window
        self.reestimation_period = reestimation_period
        self.log_scale = log_scale

    def fit(self, validation_scores: object, values: object = None) -> "LikelihoodScorer":
        for name in ("averaging_window", "historic_window", "reestimation_period"):
            check_positive_int(getattr(self, name), name)
        raw = np.asarray(validation_scores, dtype=np.float64).reshape(-1)
        values = self._matching_values(values, raw, "fit")
        keep = self._history_rows()
        self.probationary_rows_ = self.rows_seen_ = len(raw)
        self.history_ = raw[-keep:]
        self.values_history_ = None if values is None else values[-keep:]
        return self

    def score(self, errors: object, values: object = None) -> np.ndarray:
        """The likelihoods ``(T,)`` of the raw scores ``errors`` of the rows after those seen."""
        likelihood, _ = self._continue(errors, values)
        return likelihood

    def update(self, error: object, values: object = None) -> float | np.ndarray:
        """As :meth:`score`, and the next rows continue after these."""
        likelihood, (self.history_, self.values_history_, self.rows_seen_) = self._continue(error, values)
        return float(likelihood[0]) if np.ndim(error) == 0 else likelihood

    def _continue(self, errors: object, values: object):
        if not hasattr(self, "history_"):
            raise ConfigError("This LikelihoodScorer is not fitted yet: call fit(raw_scores) first.")
        raw = np.asarray(errors, dtype=np.float64).reshape(-1)
        values = self._matching_values(values, raw, "score")
        if (values is None) != (self.values_history_ is None):
            given = "were" if self.values_history_ is not None else "were not"
            raise DataError(f"LikelihoodScorer: values {given} given to fit, so score and update need them {given} too.")
        all_raw = np.concatenate([self.history_, raw])
        all_values = None if values is None else np.concatenate([self.values_history_, values])
        first_row = self.rows_seen_ - len(self.history_)  # stream row of all_raw[0]
        likelihood = self._likelihood(all_raw, all_values, first_row)[len(self.history_) :]
        likelihood[np.isnan(raw)] = np.nan
        keep = self._history_rows()
        state = (all_raw[-keep:], None if all_values is None else all_values[-keep:], self.rows_seen_ + len(raw))
        return self._scaled(likelihood), state

    def _likelihood(self, raw: np.ndarray, values: np.ndarray | None, first_row: int) -> np.ndarray:
        """The likelihood ``(T,)`` of stream rows ``first_row + i`` with raw scores ``raw``."""
        averages = pd.Series(raw).rolling(self.averaging_window, min_periods=1).mean().to_numpy()
        averages = np.where(np.isnan(raw), np.nan, averages)
        finite = ~np.isnan(averages)
        counts = np.r_[0, np.cumsum(finite)]
        sums = np.r_[0.0, np.cumsum(np.where(finite, averages, 0.0))]
        squares = np.r_[0.0, np.cumsum(np.where(finite, averages, 0.0) ** 2)]
        if values is not None:
            value_sums, value_squares = np.r_[0.0, np.cumsum(values)], np.r_[0.0, np.cumsum(values**2)]
        mean, std = np.full(len(raw), _NULL_MEAN), np.full(len(raw), _NULL_STD)
        probation, period, stop = self.probationary_rows_, self.reestimation_period, first_row + len(raw)
        starts = [probation, *range((probation // period + 1) * period, stop, period)]
        for start, end in zip(starts, [*starts[1:], stop]):
            if end <= first_row:
                continue
            oldest = max(0, start - self.historic_window)
            lo = oldest + min(start, max(0, probation // 2 - oldest)) - first_row  # skips the learning period
            hi = start - first_row
            if lo < 0 or hi <= lo:
                continue  # a block of kept history rows only: their scores are not returned
            n = counts[hi] - counts[lo]
            if n == 0:
                continue
            if values is not None:
                value_mean = (value_sums[hi] - value_sums[lo]) / (hi - lo)
                if (value_squares[hi] - value_squares[lo]) / (hi - lo) - value_mean**2 < _FLAT_VARIANCE:
                    continue  # a flat metric is not anomalous
            block_mean = (sums[hi] - sums[lo]) / n
            variance = (squares[hi] - squares[lo]) / n - block_mean**2
            mean[hi : end - first_row] = max(block_mean, _MIN_MEAN)
            std[hi : end - first_row] = np.sqrt(max(variance, _MIN_VARIANCE))
        tail = 0.5 * erfc(np.abs(averages - mean) / std / np.sqrt(2.0))
        previous_tail = np.r_[1.0, 0.5 * erfc(np.abs(averages[:-1] - mean[1:]) / std[1:] / np.sqrt(2.0))]
        tail = np.where((tail <= _RED) & (previous_tail <= _RED), _YELLOW, tail)
        tail[: max(0, probation - first_row)] = 0.5  # NuPIC's likelihood during its probationary period
        return 1.0 - tail

    def _matching_values(self, values: object, raw: np.ndarray, method: str) -> np.ndarray | None:
        if values is None:
            return None
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != raw.shape:
            raise DataError(
                f"LikelihoodScorer.{method}: values must match the raw scores, one per row. "
                f"Got {len(values)} values for {len(raw)} raw scores."
            )
        return values

    def _history_rows(self) -> int:
        """Raw scores kept: the history of the oldest estimate a new row can use, and its averages."""
        return self.historic_window + self.reestimation_period + self.averaging_window

    def _scaled(self, likelihood: np.ndarray) -> np.ndarray:
        return np.log(1.0000000001 - likelihood) / np.log(1e-10) if self.log_scale else likelihood


SCORERS: dict[str, type[Scorer]] = {
    "absolute": AbsoluteScorer,
    "squared": SquaredScorer,
    "mahalanobis": MahalanobisScorer,
    "likelihood": LikelihoodScorer,
}


def make_scorer(name: str, **params: object) -> Scorer:
    """The scorer called ``name`` (a key of :data:`SCORERS`) with ``params``."""
    if name not in SCORERS:
        raise ConfigError(
            f"Unknown scorer {name!r}.{closest_match(str(name), SCORERS)} Scorers: {', '.join(SCORERS)}."
        )
    try:
        return SCORERS[name](**params)
    except TypeError as error:
        raise ConfigError(f"Bad parameters {sorted(params)} for scorer {name!r}: {error}") from None
