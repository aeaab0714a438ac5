r"""Tail probabilities of observed values under predictive distributions, as anomaly scores.

The interval detectors (:class:`tsseq.anomaly.detectors.IntervalDetector`,
:class:`tsseq.anomaly.online_interval.OnlineIntervalDetector`) score the value ``y_t``
observed at ``t`` by how far out in the tails of its causal predictive distribution
``F_t`` (made from the rows before ``t``) it lies:

* the two-sided tail probability ``p_t = 2 min(F_t(y_t), 1 - F_t(y_t))``;
* the score ``s_t = -log10 p_t``, in ``[0, inf)``: 0 at the predictive median, 1 for the
  edge of a central 90% interval, 2.57 at 3 standard deviations of a Gaussian, 5 for
  ``p = 1e-5``.

Why ``-log10 p`` rather than ``1 - p``: both rank the rows alike, but ``1 - p`` crowds
every anomaly into the last few bits below 1 (``p = 1e-5`` and ``1e-12`` give 0.99999
and 0.999999999999), while ``-log10 p`` keeps them apart, and is computed without
underflow (:func:`normal_tail_score`, from ``log Phi``). And it is comparable across
series: under a calibrated predictive distribution ``p_t`` is uniform, so
``P(s_t >= s) = 10^-s`` on any series, whatever its scale and number of channels (the
channel combination below is a p-value again); one threshold (``s >= 5``: one false
alarm in 100,000 calibrated rows) means the same everywhere.

Predictive distributions enter in two ways:

* Gaussian ``N(mu, sigma^2)``: ``z = (y - mu) / sigma`` (:func:`normal_tail_score`), or
  Student-t (:func:`student_t_tail_score`);
* quantiles ``q_1 <= ... <= q_Q`` at levels ``tau_1 < ... < tau_Q`` (any probabilistic
  forecaster, :func:`quantile_z`): the levels are mapped to the normal scale,
  ``z_k = Phi^-1(tau_k)``, and ``y`` to ``z`` by linear interpolation between the points
  ``(q_k, z_k)``. For a Gaussian predictive ``q_k = mu + sigma z_k`` lie on a line, so
  the interpolation is exact. Beyond the outermost quantiles, ``tail="gaussian"``
  extends the outermost segment (the tail of a Gaussian fitted to the two outermost
  quantiles, exact for Gaussian forecasts), ``tail="clip"`` stops at ``z_1`` or ``z_Q``
  (the score is then at most ``-log10(2 tau_1)``: the model says nothing beyond its
  quantiles).

Channels: each channel ``c`` gets its own ``p_c`` (its marginal predictive distribution),
combined into one p-value per row (:func:`combine_channel_scores`):

* ``"sidak"`` (default): ``p = 1 - (1 - min_c p_c)^C``, the minimum p with Šidák's
  correction: driven by the most anomalous channel (a fault in one sensor is found
  whatever the other channels do), valid under independence and conservative under the
  positive dependence channels of one system usually have;
* ``"bonferroni"``: ``p = min(1, C min_c p_c)``, valid under any dependence;
* ``"fisher"``: ``X = -2 sum_c ln p_c``, ``p = P(chi2_{2C} >= X)``: pools evidence, so a
  moderate departure in every channel at once scores high, but assumes independent
  channels (correlated ones overstate it).

Unobserved channels (NaN) are left out of the combination; a row with none scores NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri, xlogy

from tsseq.anomaly.scorers import Scorer, split_by_shares
from tsseq.errors import ConfigError, DataError, closest_match

COMBINATIONS = ("sidak", "bonferroni", "fisher")
TAILS = ("gaussian", "clip")
# Levels asked of a forecaster that can give any level: Phi(z) for z = -6, -5.5, ..., 6, so
# that the interpolation is exact for Gaussian forecasts and fine for others up to p ~ 2e-9.
GRID_LEVELS = ndtr(np.arange(-6.0, 6.25, 0.5))
_LN10 = math.log(10.0)
_SPREAD = 1e-9  # the least gap between quantiles (in the forecaster's units; standardised in the detectors)


def normal_tail_score(z: object) -> np.ndarray:
    """``-log10 p`` of standardised Gaussian values ``z``: ``p = 2 Phi(-|z|)``, without underflow."""
    z = np.asarray(z, dtype=np.float64)
    return -(math.log(2.0) + log_ndtr(-np.abs(z))) / _LN10


def tail_probability(scores: object) -> np.ndarray:
    """The two-sided tail probability ``p = 10^-s`` of scores ``s``."""
    return np.power(10.0, -np.asarray(scores, dtype=np.float64))


def student_t_tail_score(u: object, df: float) -> np.ndarray:
    """``-log10 p`` of values ``u`` standardised by a Student-t's location and scale, ``p = 2 P(T_df >= |u|)``."""
    from scipy.stats import t as student_t

    u = np.asarray(u, dtype=np.float64)
    return -(math.log(2.0) + student_t.logsf(np.abs(u), df)) / _LN10


def quantile_z(y: object, quantiles: object, levels: object, tail: str = "gaussian") -> np.ndarray:
    """Observed values ``y`` ``(...)`` on the normal scale ``z = Phi^-1(F(y))`` of quantiles ``(..., Q)`` at ``levels`` ``(Q,)``.

    Piecewise-linear between the points ``(q_k, Phi^-1(tau_k))``; beyond the outermost
    quantiles the outermost segment is extended (``tail="gaussian"``) or ``z`` clipped
    (``tail="clip"``). Quantiles closer than 1e-9 are spread apart by that much around
    the level nearest 0.5, so a point-mass forecast gives finite values (about 0 for
    ``y`` at the mass). NaN in ``y`` gives NaN.
    """
    if tail not in TAILS:
        raise ConfigError(f"The 'tail' parameter must be one of {list(TAILS)}. Got {tail!r} instead.{closest_match(str(tail), TAILS)}")
    levels = np.asarray(levels, dtype=np.float64)
    quantiles = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if levels.ndim != 1 or len(levels) < 2 or quantiles.shape[-1:] != levels.shape or quantiles.shape[:-1] != y.shape:
        raise DataError(
            f"quantile_z needs at least 2 levels (Q,), quantiles (..., Q) and values (...) of matching shapes. "
            f"Got levels {levels.shape}, quantiles {quantiles.shape}, values {y.shape}."
        )
    z_levels = ndtri(levels)  # (Q,)
    middle = int(np.argmin(np.abs(levels - 0.5)))
    # A least gap between neighbours, anchored at the middle level: q_k - offset_k is made
    # non-decreasing by a running maximum above the middle and a running minimum below it.
    offsets = (np.arange(len(levels)) - middle) * _SPREAD
    shifted = quantiles - offsets
    upper = np.maximum.accumulate(shifted[..., middle:], axis=-1)
    lower = np.minimum.accumulate(shifted[..., middle::-1], axis=-1)[..., :0:-1]
    q = np.concatenate([lower, upper], axis=-1) + offsets  # (..., Q), increasing
    below = (q <= y[..., None]).sum(axis=-1)  # (...) quantiles at or below y: 0..Q
    low = np.clip(below - 1, 0, len(levels) - 2)  # the segment [low, low + 1] y falls in (or extends)
    q_low = np.take_along_axis(q, low[..., None], axis=-1)[..., 0]
    q_high = np.take_along_axis(q, low[..., None] + 1, axis=-1)[..., 0]
    z = z_levels[low] + (y - q_low) * (z_levels[low + 1] - z_levels[low]) / (q_high - q_low)
    if tail == "clip":
        z = np.clip(z, z_levels[0], z_levels[-1])
    return z


def combine_channel_scores(scores: object, method: str = "sidak") -> np.ndarray:
    """Per-channel scores ``-log10 p_c`` ``(..., C)`` -> one score ``-log10 p`` ``(...)`` (module docstring).

    NaN channels are left out; a row whose channels are all NaN scores NaN. One channel
    is returned unchanged by every method.
    """
    if method not in COMBINATIONS:
        raise ConfigError(
            f"The 'combine' parameter must be one of {list(COMBINATIONS)}. Got {method!r} instead."
            f"{closest_match(str(method), COMBINATIONS)}"
        )
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0:
        raise DataError("combine_channel_scores expects per-channel scores of shape (..., C). Got a scalar.")
    finite = ~np.isnan(s)
    count = finite.sum(axis=-1)  # (...) channels observed
    none = count == 0
    count = np.maximum(count, 1)
    if method == "fisher":
        total = np.where(finite, s, 0.0).sum(axis=-1) * _LN10  # S = -sum ln p_c = X / 2
        # P(chi2_{2C} >= 2S) = exp(-S) sum_{k<C} S^k / k!, summed in logs.
        k = np.arange(s.shape[-1], dtype=np.float64)  # (C,)
        terms = xlogy(k, total[..., None]) - np.array([math.lgamma(i + 1) for i in k])  # (..., C)
        terms = np.where(k < count[..., None], terms, -np.inf)
        with np.errstate(invalid="ignore"):
            combined = (total - logsumexp(terms, axis=-1)) / _LN10
        combined = np.where(np.isinf(total), np.inf, combined)  # a channel with p = 0
    else:
        largest = np.where(finite, s, -np.inf).max(axis=-1)
        largest = np.where(none, 0.0, largest)
        if method == "bonferroni":
            combined = largest - np.log10(count)
        else:  # sidak: -log10(1 - (1 - p)^C); for p < 1e-12 that is -log10(C p) to double precision
            p = np.power(10.0, -largest)
            with np.errstate(divide="ignore"):
                exact = -np.log10(-np.expm1(count * np.log1p(-p)))
            combined = np.where(largest > 12, largest - np.log10(count), exact)
    combined = np.maximum(combined, 0.0)
    return np.where(none, np.nan, combined)


class TailScorer(Scorer):
    """Per-channel tail scores ``-log10 p_c`` ``(..., C)`` -> one score per row ``(...)``.

    The point-wise scorer of the interval detectors: it only combines the channels
    (:func:`combine_channel_scores` with ``combine``); the tail probabilities themselves
    come from the detector's predictive distribution. Nothing to fit. Contributions:
    :meth:`contributions`.
    """

    def __init__(self, combine: str = "sidak") -> None:
        combine_channel_scores(np.zeros(1), combine)  # validates the name
        self.combine = combine

    def score(self, errors: object) -> np.ndarray:
        return combine_channel_scores(errors, self.combine)

    def contributions(self, errors: object) -> np.ndarray:
        """The combined ``-log10 p`` split over the channels in proportion to their own ``-log10 p_c``.

        A stated attribution (Šidák's and Bonferroni's ``p`` follow the smallest ``p_c``,
        Fisher's the sum of ``-ln p_c``): the channel far out in its tail gets the most.
        """
        return split_by_shares(self.score(errors), errors)
