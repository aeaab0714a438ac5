"""Thresholds: from per-timestamp anomaly scores to alarms (a higher score is more anomalous).

Every method flags ``score > threshold`` (those that smooth first, their smoothed score;
the adapted ones also ask a flagged row's own score to pass their ``gate``); NaN scores
(e.g. the warm-up of a windowed scorer) are never flagged and never enter a fitted statistic.

* :func:`quantile_threshold`, :func:`ksigma_threshold`: one number from validation scores.
* :class:`SPOT`, :class:`DSPOT` (Siffer et al. 2017, "Anomaly Detection in Streams with
  Extreme Value Theory", KDD): peaks over threshold with a Generalized Pareto tail fitted
  by Grimshaw's trick (:func:`fit_gpd`); the threshold is the score exceeded with
  probability ``q`` and is updated online from the peaks seen in the stream. Causal.
* :func:`telemanom_threshold` and :class:`TelemanomThresholder` (Hundman et al. 2018,
  "Detecting Spacecraft Anomalies Using LSTMs and Nonparametric Dynamic Thresholding",
  KDD): the non-parametric dynamic threshold with its pruning step; a sequence of smoothed
  errors over it is flagged from its onset, the rows before it whose own errors pass it.
* :class:`FalseAlarmThresholder` (``"false_alarm"``, the default of every windowed
  detector and of ``auto`` in the Python API): a fixed threshold at a stated false-alarm rate of normal
  scores (an empirical quantile or a GPD tail), after an optional causal smoothing of the
  scores (:func:`causal_smooth`, a moving mean or median over ``smoothing`` rows) for
  collective anomalies.
* :class:`TransductiveThresholder` (``"transductive"``, the default of batch jobs,
  ``tsseq detect --mode batch``; NOT causal): the scores smoothed by a centred moving mean
  of 9 rows (:func:`centred_smooth`), the false-alarm threshold of the smoothed normal
  scores as a floor, lowered to Otsu's split of the scored period's own smoothed scores
  when they hold a separate group of high scores (no labels), and raised to a split above the
  floor when the scored rows between the two are no more than twice what normal scores put
  there (``raise_excess``); a row is flagged when its
  smoothed score passes that threshold and its own score the 0.9 quantile of the normal
  scores (``gate``), and an event shorter than the smoothing window only if one of its rows
  passes the 0.98 quantile (``brief_gate``). Causal detectors and streaming refuse it
  (:func:`threshold_is_causal`).
* :class:`AdaptiveThresholder` (``"adaptive"``, the default of ``tsseq detect``'s causal
  mode): the causal counterpart, the scores smoothed by a causal moving mean of 9 rows and
  the floor lowered to Otsu's split of the scored rows seen so far, recomputed every 10
  rows, and the same ``gate`` and ``brief_gate`` (judged on the event so far). Causal, so it
  streams.
* :func:`best_f1_threshold`: the oracle that looks at the test labels. Evaluation only.

:func:`make_thresholder` builds any of the streaming-capable methods by name; each has
``fit(validation_scores) -> self`` and ``predict(scores) -> bool array``.

The default, and how it was chosen (``pipelines/benchmarks/threshold_study.py``, its
table in ``pipelines/benchmarks/threshold_study.md``): every detector family was trained
once per series of three corpora with different anomaly kinds (the simulated plant's
faults, the synthetic generator's five kinds, NAB's ``realKnownCause`` windows), and SPOT,
DSPOT, quantiles at false-alarm rates 1%, 0.5%, 0.1% and GPD tails at 1e-2, 1e-3, each with
and without a causal moving mean/median of 4 or 16 rows, fitted without labels on the
held-out validation scores or on every training row's scores, were compared with the
oracle (the best fixed quantile of the training scores per corpus, chosen on the labels).
The rule of smallest worst-case point-F1 gap ACROSS the corpora, never tuned on one, is
within 0.015 of every family's best: ``FalseAlarmThresholder(rate=0.01)``, the 0.99
quantile of the scores of every training row, no smoothing (smoothing helped some corpora
and hurt others: an option). Its gaps to the oracle (point F1): NAB 0.03-0.09, synthetic
0.01-0.06, plant 0.08-0.32 (22% of the plant's rows are faulty and the oracle flags 13-30%
of normal rows); SPOT, the previous default, 0.27-0.57 in the worst case. Alarm suppression
is nowhere a default (``online_residual``'s ``suppression`` is an explicit option).

A second study (the same corpora and scores, rules fixed before the run) compared rules
that adapt to the scored period, for batch jobs: Otsu's split of the scored scores, lower
only, accepted when the flagged share is at least twice the normal scores' share above it
(:class:`TransductiveThresholder`), halved the worst-case point-F1 gap (0.157 against 0.324;
it did not reach 0.03 everywhere); a third (rules fixed before the confirmation run on
series no rule had been tried on) added the centred moving mean of 9 rows before the split
(worst-case gap 0.041 against 0.102 there). A fourth made the split causal for streams
(:class:`AdaptiveThresholder`; worst-case gap 0.138 against the floor's 0.235 on its
confirmation set), at the cost of more false alarms where new rows score above the training
rows without an anomaly.

A fourteenth study (rules fixed before the confirmation run) gave both a ``gate``: a row is
flagged only if its own score, unsmoothed, also passes the 0.9 quantile of the normal scores.
On series no rule had been tried on (a daily cycle of 1500 rows with a spike and a level
shift, the short, plant, synthetic and wide-log corpora, NAB's ``realAWSCloudwatch``;
``auto`` as ``tsseq detect`` runs it) it cut the mean point-F1 gap to that oracle over eight
sets from 0.040 to 0.011 in batch (:class:`TransductiveThresholder`) and from 0.057 to 0.023
in causal mode (:class:`AdaptiveThresholder`), the daily series' from 0.314 / 0.335 to 0.110
/ 0.121, raised no set's by more than 0.021 / 0.017, lowered no set's event F1 by more than
0.092 / 0.039, and flagged as many rows of every anomaly-free set or fewer.

A nineteenth study (rules fixed before the confirmation run) gave both a ``brief_gate``: an
event (flags joined as ``tsseq detect`` joins them, across the rows whose smoothed score
passes the threshold and across at most ``smoothing - 1`` unflagged rows) shorter than the
smoothing window is kept only if one of its rows' own scores passes the 0.98 quantile of the
normal scores; in causal mode a row is judged on its event so far, so a long event whose own
scores stay under that level is flagged from its ``smoothing``-th row on. The false alarms the
gate left were mostly such short events: a few raised rows that the moving mean lifts over
the threshold. On series no rule had read (``auto`` as ``tsseq detect`` runs it) it raised
the mean event F1 over five synthetic corpora from 0.634 to 0.685 (batch) and 0.602 to 0.659
(causal), lowered no set's point F1 by more than 0.0045 nor its event F1 at all, flagged every
anomaly-free set as often or less (a daily cycle: 1.15% -> 0.71% of its rows, causal), and
took NAB's score of the causal default's own alarms from -9.5 to 3.7 (1,881 false alarms ->
1,579, one window fewer found).

A twentieth study (rules fixed before the confirmation run) gave the batch threshold a
``raise_excess``: a split accepted above the floor was ignored (``lower_only``), yet on series
whose anomalies stand far above every normal score it is the period's own evidence of where
they begin, and the rows between the floor and it (a forecaster's echo of a shift, a spike's
neighbours) are false alarms; where that band holds many times the normal scores' share (milder
anomalies under a few extreme ones, as on wide logs) the floor stays. On series no rule had
read it raised the mean event F1 over five synthetic corpora from 0.742 to 0.795, a daily
cycle's point F1 from 0.684 to 0.739 (its gap to the oracle 0.144 -> 0.090), lowered no set's
point or event F1, and can only flag fewer rows. Causal mode keeps the floor: a raise judged
on the rows seen so far unflags milder anomalies that come later.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tsseq.anomaly.metrics import label_segments
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.parameters import Estimator, check_is_fitted

__all__ = [
    "AdaptiveThresholder",
    "DSPOT",
    "FalseAlarmThresholder",
    "GPDFit",
    "KSigmaThresholder",
    "OracleThreshold",
    "QuantileThresholder",
    "SPOT",
    "THRESHOLD_METHODS",
    "TRANSDUCTIVE_METHODS",
    "TelemanomResult",
    "TelemanomThresholder",
    "Thresholder",
    "TransductiveThresholder",
    "best_f1_threshold",
    "causal_smooth",
    "ewma",
    "fit_gpd",
    "gpd_tail_quantile",
    "ksigma_threshold",
    "make_thresholder",
    "quantile_threshold",
    "smooths_scores",
    "telemanom_threshold",
    "threshold_is_causal",
]


class Thresholder(Protocol):
    """What a detector needs from a threshold method."""

    def fit(self, validation_scores: np.ndarray) -> Thresholder: ...

    def predict(self, scores: np.ndarray) -> np.ndarray: ...


def _scores(scores: object, where: str) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"{where}: scores must be one-dimensional, one per timestamp. Got shape {values.shape}.")
    return values


def _finite_scores(scores: object, where: str) -> np.ndarray:
    values = _scores(scores, where)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        got = "an empty array" if values.size == 0 else f"{values.size} values, all NaN or infinite"
        raise DataError(f"{where}: needs at least one finite score to set a threshold. Got {got}.")
    return finite


def _check_open_interval(value: float, name: str, where: str, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low < value < high:
        raise ConfigError(f"{where}: {name} must be a number in ({low:g}, {high:g}). Got {name}={value!r}.")


def _check_int(value: int, name: str, where: str, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}: {name} must be an integer >= {minimum}. Got {name}={value!r}.")


def _check_number(value: float, name: str, where: str, minimum: float) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{where}: {name} must be a finite number >= {minimum:g}. Got {name}={value!r}.")


def _check_k(k: float, where: str) -> None:
    if not isinstance(k, (int, float)) or isinstance(k, bool) or not math.isfinite(k) or k < 0:
        raise ConfigError(f"{where}: k must be a finite number >= 0. Got k={k!r}.")


def quantile_threshold(scores: np.ndarray, q: float) -> float:
    """The ``q`` empirical quantile of the finite scores (numpy's linear interpolation)."""
    _check_open_interval(q, "q", "quantile_threshold", 0.0, 1.0)
    return float(np.quantile(_finite_scores(scores, "quantile_threshold"), q))


def ksigma_threshold(scores: np.ndarray, k: float) -> float:
    """``mean + k * std`` of the finite scores (population standard deviation, ddof=0)."""
    _check_k(k, "ksigma_threshold")
    finite = _finite_scores(scores, "ksigma_threshold")
    return float(finite.mean() + k * finite.std())


# --- Generalized Pareto tail (peaks over threshold) ----------------------------------------


@dataclass(frozen=True)
class GPDFit:
    """A Generalized Pareto fit of excesses ``Y > 0``: ``P(Y > y) = (1 + shape*y/scale)^(-1/shape)``.

    ``shape`` (gamma, xi) > 0 is a heavy tail, 0 exponential (``exp(-y/scale)``), < 0 bounded.
    """

    shape: float
    scale: float
    log_likelihood: float


def _gpd_log_likelihood(excesses: np.ndarray, shape: float, scale: float) -> float:
    n = excesses.size
    if shape == 0.0:
        return float(-n * math.log(scale) - excesses.sum() / scale)
    return float(-n * math.log(scale) - (1.0 + 1.0 / shape) * np.log1p(shape * excesses / scale).sum())


def fit_gpd(excesses: np.ndarray) -> GPDFit:
    """Maximum-likelihood GPD fit by Grimshaw's trick (Grimshaw 1993; Siffer et al. 2017, §3.2).

    With ``x = shape / scale`` the two likelihood equations reduce to one, ``w(x) = u(x) v(x) - 1
    = 0`` where ``u(x) = mean(1 / (1 + x Y))`` and ``v(x) = 1 + mean(log(1 + x Y))``; a root
    gives ``shape = v(x) - 1`` and ``scale = shape / x``. The roots lie in ``(-1/max Y, 0)`` or
    ``(0, 2 (mean Y - min Y) / min Y^2)``, and ``x = 0`` (the exponential fit, ``scale = mean Y``)
    is always a candidate. We bracket every sign change of ``w`` on a grid of each interval,
    refine it with Brent's method and keep the candidate of highest likelihood.
    """
    from scipy.optimize import brentq

    values = np.asarray(excesses, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise DataError(
            f"fit_gpd: excesses must be a non-empty 1-D array of finite positive values. "
            f"Got shape {values.shape} with min {np.nanmin(values) if values.size else None!r}."
        )
    mean, smallest, largest = values.mean(), values.min(), values.max()

    def w(x: np.ndarray) -> np.ndarray:
        log_terms = np.log1p(np.multiply.outer(np.atleast_1d(x), values))  # (G, N)
        return np.exp(-log_terms).mean(axis=1) * (1.0 + log_terms.mean(axis=1)) - 1.0

    ends = np.geomspace(1e-9, 0.5, 24)
    left_grid = -np.concatenate([ends, (1.0 - ends)[::-1]]) / largest  # inside (-1/max, 0)
    grids = [np.sort(left_grid)]
    upper = 2.0 * (mean - smallest) / smallest**2
    lower = 1e-9 / largest
    if upper > lower:
        decades = math.log10(upper / lower)
        grids.append(np.geomspace(lower, upper, int(min(400, max(48, 6 * decades)))))

    best = GPDFit(0.0, float(mean), _gpd_log_likelihood(values, 0.0, float(mean)))
    for grid in grids:
        w_grid = w(grid)
        for i in np.flatnonzero(np.sign(w_grid[:-1]) * np.sign(w_grid[1:]) < 0):
            root = brentq(lambda x: float(w(x)[0]), grid[i], grid[i + 1], xtol=1e-14 / largest, maxiter=200)
            shape = float(np.log1p(root * values).mean())
            if shape == 0.0 or root == 0.0:
                continue
            scale = shape / root
            likelihood = _gpd_log_likelihood(values, shape, scale)
            if likelihood > best.log_likelihood:
                best = GPDFit(shape, float(scale), likelihood)
    return best


def gpd_tail_quantile(threshold: float, fit: GPDFit, q: float, n_observations: int, n_peaks: int) -> float:
    """``z_q = t + scale/shape * ((q n / N_t)^(-shape) - 1)``, the score exceeded with probability q.

    Siffer et al. 2017, eq. (1); as ``shape -> 0`` it tends to ``t - scale * log(q n / N_t)``,
    which ``expm1`` computes without cancellation.
    """
    log_ratio = math.log(q * n_observations / n_peaks)
    if fit.shape == 0.0:
        return threshold - fit.scale * log_ratio
    return threshold + fit.scale * math.expm1(-fit.shape * log_ratio) / fit.shape


class SPOT(Estimator):
    """Streaming peaks-over-threshold (Siffer et al. 2017, Algorithm 1 + 2). Causal.

    ``fit`` sets the initial threshold ``t`` at the empirical ``level`` quantile of the
    calibration scores, fits a GPD to the excesses over ``t`` (:func:`fit_gpd`) and
    sets ``threshold_ = z_q`` (:func:`gpd_tail_quantile`). Then, for each streamed score
    ``x`` (:meth:`step`): ``x > z_q`` is an alarm and is left out of the model;
    ``t < x <= z_q`` is a new peak: the GPD is refitted and ``z_q`` updated; otherwise
    only the observation count grows. Non-finite scores change nothing (``+inf`` alarms).

    Parameters
    ----------
    q : float
        Target risk: the probability that a normal score exceeds the threshold, in
        ``(0, 1 - level)``.
    level : float
        Quantile of the calibration scores used as the initial threshold ``t``.
    """

    def __init__(self, *, q: float = 1e-4, level: float = 0.98) -> None:
        self.q = q
        self.level = level

    def _check_params(self) -> None:
        name = type(self).__name__
        _check_open_interval(self.level, "level", name, 0.0, 1.0)
        _check_open_interval(self.q, "q", f"{name} (q is a risk below 1 - level)", 0.0, 1.0 - self.level)

    def fit(self, calibration_scores: np.ndarray) -> SPOT:
        self._check_params()
        values = _finite_scores(calibration_scores, f"{type(self).__name__}.fit")
        self.initial_threshold_ = float(np.quantile(values, self.level))
        self.peaks_ = values[values > self.initial_threshold_] - self.initial_threshold_
        if self.peaks_.size == 0:
            raise DataError(
                f"{type(self).__name__}.fit: no calibration score exceeds its {self.level} quantile "
                f"({self.initial_threshold_:g}), so there is no tail to fit; give more varied scores "
                f"(got {values.size}, {np.unique(values).size} distinct)."
            )
        self.n_observations_ = int(values.size)
        self._update_threshold()
        return self

    def _update_threshold(self) -> None:
        self.gpd_ = fit_gpd(self.peaks_)
        self.threshold_ = gpd_tail_quantile(
            self.initial_threshold_, self.gpd_, self.q, self.n_observations_, self.peaks_.size
        )

    def step(self, x: float) -> bool:
        """Process one score; ``True`` is an alarm."""
        check_is_fitted(self, "threshold_")
        if not math.isfinite(x):
            return x == math.inf
        if x > self.threshold_:
            return True
        self.n_observations_ += 1
        if x > self.initial_threshold_:
            self.peaks_ = np.append(self.peaks_, x - self.initial_threshold_)
            self._update_threshold()
        return False

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stream ``scores`` in order -> (alarms, the threshold each score was compared with)."""
        check_is_fitted(self)
        values = _scores(scores, f"{type(self).__name__}.run")
        flags = np.zeros(values.size, dtype=bool)
        thresholds = np.empty(values.size)
        for i, x in enumerate(values.tolist()):
            thresholds[i] = self.threshold_
            flags[i] = self.step(x)
        return flags, thresholds

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """:meth:`run`'s alarms (the model keeps learning from the normal scores)."""
        return self.run(scores)[0]


class DSPOT(Estimator):
    """SPOT on the deviation from a moving average, for drifting scores (Siffer et al. 2017, §4.3).

    The modelled value is ``x_i - M_i`` with ``M_i`` the mean of the last ``depth``
    *normal* scores (alarms do not enter the window). A slow drift is followed; an abrupt
    shift larger than the residual threshold keeps alarming, as in the paper, since its
    points never enter the window. ``threshold_`` is the threshold on the score scale
    for the next point: ``M + z_q``. Causal.
    """

    def __init__(self, *, q: float = 1e-4, level: float = 0.98, depth: int = 10) -> None:
        self.q = q
        self.level = level
        self.depth = depth

    def _check_params(self) -> None:
        _check_int(self.depth, "depth", "DSPOT", 1)
        SPOT(q=self.q, level=self.level)._check_params()

    def fit(self, calibration_scores: np.ndarray) -> DSPOT:
        self._check_params()
        values = _finite_scores(calibration_scores, "DSPOT.fit")
        if values.size <= self.depth + 1:
            raise DataError(
                f"DSPOT.fit: needs more than depth + 1 = {self.depth + 1} finite calibration scores. Got {values.size}."
            )
        means = np.lib.stride_tricks.sliding_window_view(values, self.depth)[:-1].mean(axis=1)
        self.spot_ = SPOT(q=self.q, level=self.level).fit(values[self.depth :] - means)
        self.window_ = values[-self.depth :].copy()
        return self

    @property
    def threshold_(self) -> float:
        return float(self.window_.mean() + self.spot_.threshold_)

    def step(self, x: float) -> bool:
        check_is_fitted(self, "spot_")
        if not math.isfinite(x):
            return x == math.inf
        alarm = self.spot_.step(x - self.window_.mean())
        if not alarm:
            self.window_[:-1] = self.window_[1:]
            self.window_[-1] = x
        return alarm

    run = SPOT.run
    predict = SPOT.predict


# --- Telemanom's non-parametric dynamic threshold -------------------------------------------


def ewma(values: np.ndarray, span: float, state: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, tuple]:
    """Exponentially weighted mean, as pandas ``ewm(span=span).mean()`` (``adjust=True``).

    ``state`` carries ``(weighted sum, sum of weights)`` from a previous call, so that
    smoothing in chunks equals smoothing at once. NaN inputs get no weight and stay NaN.
    Returns ``(smoothed, state)``.
    """
    from scipy.signal import lfilter

    decay = 1.0 - 2.0 / (span + 1.0)
    finite = np.isfinite(values)
    numerator, num_state = lfilter([1.0], [1.0, -decay], np.where(finite, values, 0.0), zi=[decay * state[0]])
    weights, weight_state = lfilter([1.0], [1.0, -decay], finite.astype(np.float64), zi=[decay * state[1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = np.where(finite, numerator / weights, np.nan)
    if values.size == 0:
        return smoothed, state
    return smoothed, (float(numerator[-1]), float(weights[-1]))


@dataclass(frozen=True)
class TelemanomResult:
    """Alarms and what produced them; sequences are half-open ``(start, end)`` index pairs."""

    flags: np.ndarray
    threshold: float  # epsilon = mean + z * std of the smoothed errors
    z: float
    smoothed: np.ndarray
    sequences: tuple[tuple[int, int], ...]  # kept after pruning, from their onset
    pruned: tuple[tuple[int, int], ...]  # above epsilon but removed by pruning


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius == 0 or not mask.any():
        return mask
    counts = np.convolve(mask.astype(np.int64), np.ones(2 * radius + 1, dtype=np.int64), mode="same")
    return counts > 0


def _onset(start: int, errors: np.ndarray, epsilon: float, anomalous: np.ndarray) -> int:
    """The first row of the run of ``errors`` above ``epsilon`` that ends where a sequence starts at ``start`` (no
    row of another sequence; NaN ends it): the rows the smoothing reached epsilon after."""
    while start > 0 and errors[start - 1] > epsilon and not anomalous[start - 1]:
        start -= 1
    return start


def _dynamic_threshold(
    smoothed: np.ndarray, z_values: np.ndarray, error_buffer: int, max_sequences: int, min_decrease: float,
    errors: np.ndarray | None = None,
) -> TelemanomResult:
    finite_mask = np.isfinite(smoothed)
    finite = smoothed[finite_mask]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std()) if finite.size else math.nan
    z_best = float(z_values.max())
    if finite.size < 2 or std == 0.0 or mean <= 0.0:
        nothing = np.zeros(smoothed.size, dtype=bool)
        return TelemanomResult(nothing, mean + z_best * std, z_best, smoothed, (), ())
    # Hundman et al. eq. (2): argmax over z of (dmean/mean + dstd/std) / (|e_a| + |E_seq|^2),
    # with the reference code's sanity limits (at most max_sequences, under half the points).
    best_score = 0.0
    for z in z_values:
        epsilon = mean + z * std
        above = smoothed > epsilon
        if not above.any():
            continue
        anomalous = _dilate(above, error_buffer)
        n_sequences = len(label_segments(anomalous))
        below = finite[finite < epsilon]
        score = ((mean - below.mean()) / mean + (std - below.std()) / std) / (anomalous.sum() + n_sequences**2)
        if score >= best_score and n_sequences <= max_sequences and anomalous.sum() < 0.5 * finite.size:
            best_score, z_best = score, float(z)
    epsilon = mean + z_best * std
    anomalous = _dilate(smoothed > epsilon, error_buffer)
    sequences = label_segments(anomalous)
    # Pruning (§3.2 "Mitigating false positives"): sort the sequence maxima, then the largest
    # normal error; sequences after the last relative drop >= min_decrease become normal.
    peak = np.array([np.nanmax(smoothed[start:end]) for start, end in sequences])
    order = np.argsort(-peak, kind="stable")
    ranked = list(peak[order])
    normal = smoothed[finite_mask & ~anomalous]
    if normal.size and normal.max() > 0:
        ranked.append(float(normal.max()))
    drops = [(ranked[i] - ranked[i + 1]) / ranked[i] for i in range(len(ranked) - 1)]
    last_big = max((i for i, drop in enumerate(drops) if drop >= min_decrease), default=-1)
    removed = {int(order[i]) for i in range(last_big + 1, len(drops)) if i < len(sequences)}
    kept = tuple(seq for i, seq in enumerate(sequences) if i not in removed)
    if errors is not None:  # a kept sequence starts where its own errors passed epsilon, not the smoothed ones
        kept = tuple((_onset(start, errors, epsilon, anomalous), end) for start, end in kept)
    flags = np.zeros(smoothed.size, dtype=bool)
    for start, end in kept:
        flags[start:end] = True
    pruned = tuple(seq for i, seq in enumerate(sequences) if i in removed)
    return TelemanomResult(flags & finite_mask, epsilon, z_best, smoothed, kept, pruned)


def _check_telemanom(params: dict, where: str) -> np.ndarray:
    span = params["smoothing_span"]
    if not isinstance(span, (int, float)) or isinstance(span, bool) or not span >= 1:
        raise ConfigError(f"{where}: smoothing_span must be >= 1 (1 means no smoothing). Got {params['smoothing_span']!r}.")
    if not 0 < params["z_min"] <= params["z_max"] or not params["z_step"] > 0:
        raise ConfigError(
            f"{where}: need 0 < z_min <= z_max and z_step > 0. Got z_min={params['z_min']!r}, "
            f"z_max={params['z_max']!r}, z_step={params['z_step']!r}."
        )
    _check_open_interval(params["min_decrease"], "min_decrease", where, 0.0, 1.0)
    _check_int(params["error_buffer"], "error_buffer", where, 0)
    _check_int(params["max_sequences"], "max_sequences", where, 1)
    return np.arange(params["z_min"], params["z_max"] + 1e-9, params["z_step"])


def telemanom_threshold(
    errors: np.ndarray,
    *,
    smoothing_span: float = 105,
    z_min: float = 2.5,
    z_max: float = 12.0,
    z_step: float = 0.5,
    min_decrease: float = 0.13,
    error_buffer: int = 0,
    max_sequences: int = 5,
) -> TelemanomResult:
    """Telemanom's dynamic threshold over a whole error array at once (batch mode, not causal).

    1. The errors (non-negative, e.g. absolute forecast residuals) are smoothed by
       :func:`ewma`; telemanom's span is ``0.05 * window_size * batch_size`` = 105.
    2. ``epsilon = mean + z * std`` of the smoothed errors, with ``z`` among ``z_min,
       z_min + z_step, ..., z_max`` maximising ``(dmean/mean + dstd/std) / (|e_a| +
       |E_seq|^2)``: the relative drop of mean and std when the errors above epsilon
       (``e_a``) are removed, per flagged point and squared sequence count. As in the
       reference code, candidates with more than ``max_sequences`` sequences or flagging
       half the points are skipped, and ``z_max`` is used when none qualifies.
    3. Pruning: the maximum of each sequence, sorted descending, then the largest normal
       error; every sequence after the last relative decrease ``>= min_decrease`` (p) in
       that list becomes normal.
    4. Onset: a kept sequence starts earlier by the rows just before it whose own errors,
       unsmoothed, pass epsilon (up to a row that does not, or another sequence). The
       smoothing lags: a spike raises the smoothed errors by a fraction ``2 / (span + 1)``
       of its size, so they pass epsilon rows after the spike, which is the anomaly.

    ``error_buffer`` points around each error above epsilon join its sequence
    (telemanom's config uses 100; 0 is the paper's definition). Unlike telemanom, low
    errors (its mirrored "inverse" test) are not flagged: here a higher score is always
    more anomalous. Every statistic uses the whole array, i.e. the future;
    :class:`TelemanomThresholder` is the windowed, causal form.
    """
    params = dict(smoothing_span=smoothing_span, z_min=z_min, z_max=z_max, z_step=z_step,
                  min_decrease=min_decrease, error_buffer=error_buffer, max_sequences=max_sequences)
    z_values = _check_telemanom(params, "telemanom_threshold")
    values = _scores(errors, "telemanom_threshold")
    if np.any(values[np.isfinite(values)] < 0):
        raise DataError("telemanom_threshold: errors must be non-negative (absolute or squared residuals).")
    smoothed, _ = ewma(values, smoothing_span)
    return _dynamic_threshold(smoothed, z_values, error_buffer, max_sequences, min_decrease, values)


class TelemanomThresholder(Estimator):
    """Telemanom's dynamic threshold over a sliding window of past errors, as in its code.

    The smoothed errors are processed in batches of ``batch_size``; each batch is judged
    with the threshold and pruning computed on the window of the last ``window_size *
    batch_size`` smoothed errors that ends with it, and a sequence's onset
    (:func:`telemanom_threshold`, step 4) is looked for among the batch's own rows only
    (the earlier ones are judged). ``fit`` smooths the validation errors and keeps their
    tail as the first window's history; :meth:`predict` continues from where the previous
    call stopped (a final partial batch is processed at once).

    Causality: a flag depends on errors up to the end of its batch, i.e. it is causal at
    batch granularity (up to ``batch_size - 1`` later points); with ``batch_size=1``, or
    calling :meth:`predict` point by point, it is causal point by point.
    ``threshold_`` is the latest epsilon, in smoothed-error units; :meth:`run` gives each
    row's (its batch's) and :meth:`smooth` the smoothed errors they are compared with.
    """

    def __init__(
        self,
        *,
        window_size: int = 30,
        batch_size: int = 70,
        smoothing_span: float = 105,
        z_min: float = 2.5,
        z_max: float = 12.0,
        z_step: float = 0.5,
        min_decrease: float = 0.13,
        error_buffer: int = 0,
        max_sequences: int = 5,
    ) -> None:
        self.window_size = window_size
        self.batch_size = batch_size
        self.smoothing_span = smoothing_span
        self.z_min = z_min
        self.z_max = z_max
        self.z_step = z_step
        self.min_decrease = min_decrease
        self.error_buffer = error_buffer
        self.max_sequences = max_sequences

    def _check_params(self) -> np.ndarray:
        _check_int(self.window_size, "window_size", "TelemanomThresholder", 1)
        _check_int(self.batch_size, "batch_size", "TelemanomThresholder", 1)
        params = self.get_params()
        return _check_telemanom(params, "TelemanomThresholder")

    def fit(self, validation_scores: np.ndarray) -> TelemanomThresholder:
        z_values = self._check_params()
        values = _scores(validation_scores, "TelemanomThresholder.fit")
        if np.any(_finite_scores(values, "TelemanomThresholder.fit") < 0):
            raise DataError("TelemanomThresholder.fit: errors must be non-negative (absolute or squared residuals).")
        smoothed, self.ewma_state_ = ewma(values, self.smoothing_span)
        self.history_ = smoothed[-self.window_size * self.batch_size :]
        self.threshold_ = _dynamic_threshold(
            self.history_, z_values, self.error_buffer, self.max_sequences, self.min_decrease
        ).threshold
        return self

    def smooth(self, scores: np.ndarray) -> np.ndarray:
        """The errors as the threshold sees them: their :func:`ewma`, continuing from the errors seen so far (the
        state is not changed)."""
        check_is_fitted(self, "history_")
        return ewma(_scores(scores, "TelemanomThresholder.smooth"), self.smoothing_span, self.ewma_state_)[0]

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags of ``scores`` (continuing from the errors seen so far) and the epsilon each row met (its batch's,
        smoothed-error units). A flagged row's smoothed error passes it, but for a sequence's onset (its own error
        does: :func:`telemanom_threshold`, step 4) and ``error_buffer``'s rows; pruned rows pass it unflagged."""
        check_is_fitted(self, "history_")
        z_values = self._check_params()
        values = _scores(scores, "TelemanomThresholder.predict")
        if np.any(values[np.isfinite(values)] < 0):
            raise DataError("TelemanomThresholder.predict: errors must be non-negative (absolute or squared residuals).")
        flags, thresholds = np.zeros(values.size, dtype=bool), np.empty(values.size)
        for start in range(0, values.size, self.batch_size):
            raw = values[start : start + self.batch_size]
            batch, self.ewma_state_ = ewma(raw, self.smoothing_span, self.ewma_state_)
            window = np.concatenate([self.history_, batch])[-self.window_size * self.batch_size :]
            errors = np.concatenate([np.full(window.size - raw.size, np.nan), raw])  # an onset within the batch only
            result = _dynamic_threshold(window, z_values, self.error_buffer, self.max_sequences, self.min_decrease, errors)
            flags[start : start + batch.size] = result.flags[-batch.size :]
            thresholds[start : start + batch.size] = result.threshold
            self.history_, self.threshold_ = window, result.threshold
        return flags, thresholds

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return self.run(scores)[0]


# --- fixed thresholds as Thresholders, the oracle, and the name lookup ----------------------


class QuantileThresholder(Estimator):
    """Flags scores above the ``q`` quantile of the validation scores (:func:`quantile_threshold`)."""

    def __init__(self, *, q: float = 0.99) -> None:
        self.q = q

    def _check_params(self) -> None:
        _check_open_interval(self.q, "q", "QuantileThresholder", 0.0, 1.0)

    def fit(self, validation_scores: np.ndarray) -> QuantileThresholder:
        self.threshold_ = quantile_threshold(validation_scores, self.q)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "threshold_")
        return _scores(scores, f"{type(self).__name__}.predict") > self.threshold_


class KSigmaThresholder(QuantileThresholder):
    """Flags scores above ``mean + k * std`` of the validation scores (:func:`ksigma_threshold`)."""

    def __init__(self, *, k: float = 3.0) -> None:
        self.k = k

    def _check_params(self) -> None:
        _check_k(self.k, "KSigmaThresholder")

    def fit(self, validation_scores: np.ndarray) -> KSigmaThresholder:
        self.threshold_ = ksigma_threshold(validation_scores, self.k)
        return self



SMOOTHERS = ("mean", "median")


def causal_smooth(scores: np.ndarray, k: int, how: str = "mean", history: np.ndarray | None = None) -> np.ndarray:
    """Causal moving ``how`` (mean or median) of the last ``k`` scores: row ``t`` reads rows ``t-k+1 .. t``.

    ``history`` holds scores that came before ``scores`` (e.g. the tail of the normal
    scores a threshold was fitted on), so that the first ``k - 1`` rows see a full window.
    NaN scores are skipped inside a window; a row whose own score is NaN stays NaN (it is
    never flagged). ``k = 1`` returns the scores unchanged. Used to flag collective
    anomalies: a run of moderately high scores lifts the smoothed score over a threshold
    that no single one of them would cross.
    """
    values = _smoothing_input(scores, k, how, "causal_smooth")
    if k == 1 or values.size == 0:
        return values.copy()
    past = np.full(k - 1, np.nan)
    if history is not None:
        tail = _scores(history, "causal_smooth history")[-(k - 1) :]
        past[k - 1 - tail.size :] = tail
    return _moving(np.concatenate([past, values]), k, how, values)


def _smoothing_tail(history: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The last ``k - 1`` of ``history`` then ``values``: what a causal window of ``k`` rows reads before the next."""
    return np.concatenate([history, values])[-(k - 1) :] if k > 1 else values[:0]


def centred_smooth(scores: np.ndarray, k: int, how: str = "mean") -> np.ndarray:
    """Centred moving ``how`` (mean or median) of ``k`` scores: row ``t`` reads ``t-h .. t+k-1-h``, ``h = (k-1)//2``.

    NOT causal (a row reads later rows): for batch scoring, where the whole period is known.
    Fewer rows at the ends; NaN scores are skipped inside a window and a row whose own score
    is NaN stays NaN. ``k = 1`` returns the scores unchanged. A collective anomaly's run of
    moderately high scores stands above the normal noise once averaged with its neighbours
    on both sides (it blurs a one-row spike: a stream keeps :func:`causal_smooth`).
    """
    values = _smoothing_input(scores, k, how, "centred_smooth")
    if k == 1 or values.size == 0:
        return values.copy()
    before = (k - 1) // 2
    return _moving(np.concatenate([np.full(before, np.nan), values, np.full(k - 1 - before, np.nan)]), k, how, values)


def _smoothing_input(scores: np.ndarray, k: int, how: str, where: str) -> np.ndarray:
    """The scores as a float array, once ``k`` and ``how`` are checked."""
    _check_int(k, "k", where, 1)
    if how not in SMOOTHERS:
        raise ConfigError(f"{where}: how must be one of {', '.join(SMOOTHERS)}. Got how={how!r}.")
    return _scores(scores, where)


def _moving(padded: np.ndarray, k: int, how: str, values: np.ndarray) -> np.ndarray:
    """The ``how`` of every ``k`` consecutive ``padded`` values (one per row of ``values``); NaN where ``values`` is."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)  # (T, k)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN, as wanted
        smoothed = np.nanmean(windows, axis=1) if how == "mean" else np.nanmedian(windows, axis=1)
    return np.where(np.isnan(values), np.nan, smoothed)


class FalseAlarmThresholder(Estimator):
    """A fixed threshold at a stated false-alarm rate on normal scores, after causal smoothing.

    ``fit(normal_scores)`` takes scores of data known (or assumed) to be normal, e.g. the
    training rows' or the held-out validation rows' scores: no labels. The scores are
    first smoothed causally (:func:`causal_smooth`, the last ``smoothing`` rows,
    ``smoother`` mean or median), then ``threshold_`` is set so that a fraction ``rate``
    of normal smoothed scores exceeds it:

    * ``tail="quantile"``: the empirical ``1 - rate`` quantile (needs about ``10 / rate``
      scores to be stable);
    * ``tail="pot"``: peaks over threshold: the ``level`` quantile ``t``, a Generalized
      Pareto tail fitted to the excesses over ``t`` (:func:`fit_gpd`) and its
      ``z_rate`` (:func:`gpd_tail_quantile`): it extrapolates to rates smaller than the
      sample allows. Unlike :class:`SPOT` it stays fixed after ``fit``.

    ``predict(scores)`` smooths the new scores, continuing from the last ``smoothing - 1``
    scores seen (the fit's tail, then the previous ``predict`` call's), and flags
    ``smoothed > threshold_``: causal point by point. ``run`` also gives the threshold of
    each row (constant). ``threshold_`` is on the smoothed scale.
    """

    def __init__(
        self, *, rate: float = 0.01, tail: str = "quantile", smoothing: int = 1, smoother: str = "mean",
        level: float = 0.98,
    ) -> None:
        self.rate = rate
        self.tail = tail
        self.smoothing = smoothing
        self.smoother = smoother
        self.level = level

    def _check_params(self) -> None:
        name = type(self).__name__
        _check_open_interval(self.rate, "rate", name, 0.0, 1.0)
        _check_int(self.smoothing, "smoothing", name, 1)
        if self.tail not in ("quantile", "pot"):
            raise ConfigError(f"{name}: tail must be 'quantile' or 'pot'. Got tail={self.tail!r}.")
        if self.smoother not in SMOOTHERS:
            raise ConfigError(f"{name}: smoother must be one of {', '.join(SMOOTHERS)}. Got smoother={self.smoother!r}.")
        if self.tail == "pot":
            _check_open_interval(self.level, "level", name, 0.0, 1.0)
            _check_open_interval(self.rate, f"rate (below 1 - level = {1 - self.level:g})", name, 0.0, 1.0 - self.level)

    def _smooth(self, scores: np.ndarray, history: np.ndarray | None) -> np.ndarray:
        return causal_smooth(scores, self.smoothing, self.smoother, history)

    def smooth(self, scores: np.ndarray) -> np.ndarray:
        """The scores as the threshold sees them: their causal moving ``smoother``, continuing from the
        scores seen so far (the state is not changed)."""
        check_is_fitted(self, "threshold_")
        return self._smooth(scores, self.history_)

    def fit(self, normal_scores: np.ndarray) -> FalseAlarmThresholder:
        self._check_params()
        values = _scores(normal_scores, f"{type(self).__name__}.fit")
        smoothed = _finite_scores(self._smooth(values, None), f"{type(self).__name__}.fit")
        if self.tail == "quantile":
            self.threshold_ = float(np.quantile(smoothed, 1.0 - self.rate))
        else:
            spot = SPOT(q=self.rate, level=self.level).fit(smoothed)
            self.gpd_, self.threshold_ = spot.gpd_, float(spot.threshold_)
        self.history_ = _smoothing_tail(values[:0], values, self.smoothing)
        return self

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags of ``scores`` (continuing the smoothing) and the threshold of each row."""
        check_is_fitted(self, "threshold_")
        values = _scores(scores, f"{type(self).__name__}.predict")
        smoothed = self._smooth(values, self.history_)
        self.history_ = _smoothing_tail(self.history_, values, self.smoothing)
        return smoothed > self.threshold_, np.full(values.size, self.threshold_)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return self.run(scores)[0]

TRANSDUCTIVE_METHODS = ("otsu", "mixture", "knee", "estimated_f1")


def _otsu_split(sorted_z: np.ndarray, max_upper: int) -> int | None:
    """Otsu's split of ascending ``sorted_z``: the lower group's size ``k`` maximising the
    between-group variance ``w0 w1 (mu0 - mu1)^2``, the upper group ``1..max_upper`` values
    and the split between two distinct values; None when there is no such split."""
    n = sorted_z.size
    k = np.arange(max(n - max_upper, 1), n)  # lower-group sizes allowed
    if k.size == 0:
        return None
    cumsum = np.concatenate([[0.0], np.cumsum(sorted_z)])
    mean0 = cumsum[k] / k
    mean1 = (cumsum[n] - cumsum[k]) / (n - k)
    between = (k / n) * (1 - k / n) * (mean1 - mean0) ** 2
    between[sorted_z[k - 1] >= sorted_z[k]] = -np.inf  # ties cannot be split
    if not np.isfinite(between).any():
        return None
    return int(k[np.argmax(between)])


def _mixture_split(z: np.ndarray, k: int, max_iter: int = 200) -> tuple[float, float, float] | None:
    """Two-component Gaussian mixture of the ascending ``z`` by EM from Otsu's split ``k``.

    Returns ``(split, Ashman's D, upper weight)``: ``split`` the point between the two
    means where the weighted densities are equal; None when the fit degenerates.
    """
    lower, upper = z[:k], z[k:]
    floor = 1e-6 * float(z.var()) + 1e-300
    weight = np.array([lower.size, upper.size], dtype=np.float64) / z.size
    mean = np.array([lower.mean(), upper.mean()])
    var = np.maximum(np.array([lower.var(), upper.var()]), floor)
    previous = -np.inf
    for _ in range(max_iter):
        log_density = -0.5 * ((z[:, None] - mean) ** 2 / var + np.log(2 * np.pi * var)) + np.log(weight)
        top = log_density.max(axis=1, keepdims=True)
        log_total = top[:, 0] + np.log(np.exp(log_density - top).sum(axis=1))
        responsibility = np.exp(log_density - log_total[:, None])
        likelihood = float(log_total.sum())
        mass = responsibility.sum(axis=0)
        if np.any(mass <= 1e-9 * z.size):
            return None
        weight = mass / z.size
        mean = (responsibility * z[:, None]).sum(axis=0) / mass
        var = np.maximum((responsibility * (z[:, None] - mean) ** 2).sum(axis=0) / mass, floor)
        if likelihood - previous < 1e-10 * z.size:
            break
        previous = likelihood
    order = np.argsort(mean)
    weight, mean, var = weight[order], mean[order], var[order]
    separation = float(math.sqrt(2.0) * (mean[1] - mean[0]) / math.sqrt(var[0] + var[1]))
    # w0 N(x; m0, v0) = w1 N(x; m1, v1): a x^2 + b x + c = 0, the root between the means
    a = 0.5 / var[1] - 0.5 / var[0]
    b = mean[0] / var[0] - mean[1] / var[1]
    c = 0.5 * mean[1] ** 2 / var[1] - 0.5 * mean[0] ** 2 / var[0]
    c += math.log(weight[0] / weight[1]) + 0.5 * math.log(var[1] / var[0])
    roots = [-c / b] if abs(a) < 1e-12 * max(abs(b), 1e-300) else np.roots([a, b, c])
    inside = [float(np.real(r)) for r in roots if abs(np.imag(r)) < 1e-12 and mean[0] <= np.real(r) <= mean[1]]
    if not inside:
        return None
    return min(inside), separation, float(weight[1])


def _check_split_params(owner: Estimator, where: str) -> None:
    """The parameters a split of scored rows shares (Transductive- and AdaptiveThresholder)."""
    _check_open_interval(owner.rate, "rate", where, 0.0, 1.0)
    _check_open_interval(owner.max_fraction, "max_fraction", where, 0.0, 1.0)
    _check_number(owner.min_excess, "min_excess", where, 1.0)
    _check_int(owner.smoothing, "smoothing", where, 1)
    if owner.smoother not in SMOOTHERS:
        raise ConfigError(
            f"{where}: smoother must be one of {', '.join(SMOOTHERS)}. Got smoother={owner.smoother!r}."
            + closest_match(str(owner.smoother), SMOOTHERS)
        )
    for name in ("gate", "brief_gate"):
        if getattr(owner, name) is not None:
            _check_open_interval(getattr(owner, name), name, where, 0.0, 1.0)


def _gated(smoothed: np.ndarray, threshold, raw: np.ndarray, gate_level: float) -> np.ndarray:
    """Flags of the adapted thresholds: the smoothed score over ``threshold`` (one, or one per row) and the row's own
    score over ``gate_level`` (NaN compares False: never flagged)."""
    return (smoothed > threshold) & (raw > gate_level)


def _gate_level(gate: float | None, normal_scores: np.ndarray) -> float:
    """The level a flagged row's own score must pass: the ``gate`` quantile of the finite normal scores
    (``-inf`` without a gate)."""
    if gate is None:
        return -math.inf
    return float(np.quantile(normal_scores[np.isfinite(normal_scores)], gate))


def _without_brief(
    flags: np.ndarray, bridge: np.ndarray, raw: np.ndarray, smoothing: int, level: float, *, so_far: bool = False,
    carried: tuple[int, float] | None = None,
) -> tuple[np.ndarray, tuple[int, float] | None]:
    """``flags`` less the rows of brief events (``brief_gate``), and the last event's (first row, peak).

    Events are the flags joined as ``tsseq detect`` joins them (:func:`tsseq.anomaly.events.event_segments`, across
    ``bridge`` and ``smoothing - 1`` unflagged rows); an event's peak is its flagged rows' highest own score. Batch
    (``so_far`` False) knows each event whole: one of fewer than ``smoothing`` rows whose peak is at most ``level``
    is dropped. A stream (``so_far``) judges each flagged row on its event so far: kept once that event spans
    ``smoothing`` rows up to it or its peak so far passes ``level``. ``carried``: the (first row, peak) of an event
    from before these rows (its first row negative) that the first event here continues.
    """
    from tsseq.anomaly.events import event_segments

    kept, last = flags.copy(), None
    for index, (start, end) in enumerate(event_segments(flags, smoothing - 1, bridge)):
        rows = start + np.flatnonzero(flags[start:end])
        first, peak = carried if index == 0 and carried is not None else (start, -math.inf)
        peaks = np.maximum(peak, np.maximum.accumulate(raw[rows]))
        if so_far:
            kept[rows] = (peaks > level) | (rows - first + 1 >= smoothing)
        else:
            kept[rows] = peaks[-1] > level or rows[-1] - first + 1 >= smoothing
        last = (first, float(peaks[-1]))
    return kept, last


class TransductiveThresholder(Estimator):
    """Batch threshold (``"transductive"``): adapted to the scored period's own scores, no labels. NOT CAUSAL.

    The threshold applied by ``predict(scores)`` depends on every score of that call (the
    whole scored period, later rows included): for batch scoring only (``causal=False``,
    ``tsseq detect --mode batch``, where it is the default of the windowed detectors and
    ``auto``). Causal detectors and streaming refuse it (:meth:`run` raises); a stream keeps
    :class:`FalseAlarmThresholder`.

    Both the normal scores and the scored period's are first smoothed by a centred moving
    ``smoother`` (mean, by default) over ``smoothing`` rows (:func:`centred_smooth`; 9 by
    default, 1 for none): every row's neighbours on both sides are known in batch, and a
    collective anomaly's run of moderately high scores stands apart from normal noise once
    averaged (a one-row spike is blurred: streams keep the causal threshold). Flags, the
    split and the floor are all on the smoothed scores (:meth:`smooth` gives them; the
    batch job writes them as ``smoothed_score``).

    ``fit(normal_scores)`` sets the floor ``floor_``, the ``1 - rate`` quantile of the
    (smoothed) normal scores. ``predict(scores)`` looks for a
    minority of high scores standing apart from the rest. With ``s`` the call's finite
    smoothed scores (``n``) and ``z = asinh(s / m)``, ``m`` the median magnitude of the normal scores
    (log-like above ``m``, linear below, so that near-zero errors form no low mode), the
    candidate split ``t`` is, by ``method``:

    * ``"otsu"`` (default; Otsu 1979): the split of the sorted ``z`` into a lower and an
      upper group maximising the between-group variance ``w0 w1 (mu0 - mu1)^2``
      (``w`` the groups' shares, ``mu`` their means), the upper group at most
      ``max_fraction * n`` scores;
    * ``"mixture"``: a two-component Gaussian mixture of ``z`` (EM from Otsu's split),
      ``t`` where the weighted densities are equal between the means; only when the
      components are well separated, Ashman's ``D = sqrt(2) |mu1 - mu0| / sqrt(v0 + v1)
      >= min_separation``, and the upper weight is at most ``max_fraction``;
    * ``"knee"``: kneedle (Satopaa et al. 2011) on the descending sorted ``z`` of the top
      ``max_fraction`` of scores, both axes scaled to [0, 1]: the point farthest below the chord;
    * ``"estimated_f1"``: with ``p(t)`` the share of ``s`` above ``t`` and ``p0(t)`` the
      normal scores' share, the contamination ``pi = max_t (p - p0) / (1 - p0)``, the
      expected true positives ``p - (1 - pi) p0`` and the estimated F1 ``2 TP / (p + pi)``,
      maximised over ``t`` at the quantiles ``1 - f`` of ``s``, ``f`` in
      ``geomspace(1/n, max_fraction, 64)``.

    Acceptance: the split is used only if it flags at most ``max_fraction`` of the scores
    and ``p(t) >= min_excess * p0(t)``: normal data would give at most ``1 / min_excess``
    of the flagged rows (an estimated precision of at least ``1 - 1 / min_excess``).
    Otherwise, as when there are fewer than 3 scores (one score at a time, as a stream
    gives them), the floor. The threshold is then ``min(t, floor)`` (``lower_only``, the
    default: lower than the floor when the period holds a separate group of high scores)
    or ``t``. A split above the floor is the threshold with ``lower_only`` too when the band
    between them holds no excess: the share of the scored rows in ``(floor, t]`` is at most
    ``raise_excess`` times the normal scores' share there (the rows the raise leaves
    unflagged are then at least ``1 / raise_excess`` normal by the estimate that accepts a
    split); where it holds more (milder anomalies under a few extreme ones), the floor.

    Why (``pipelines/benchmarks/threshold_study.md``, second study, rules fixed before
    the run): a fixed false-alarm rate of normal scores cannot follow how much of a period
    is anomalous; 22% of the simulated plant's test rows are faulty and NAB's windows are
    wide, so the best fixed threshold there flags 13-30% of the normal scores. Over the
    plant, synthetic and NAB corpora and the windowed families and ``auto``, Otsu's split
    (lower only) halved the worst-case point-F1 gap to that oracle (0.157 against 0.324
    for the floor; mean 0.047 against 0.093) without a worse event-F1 gap; the mixture,
    kneedle and estimated-F1 splits did less well. A third study (rules fixed before the
    confirmation run, on series none of the rules had been tried on: plant and synthetic
    seeds 4 and 5, NAB's ``realAdExchange``) smoothed the scores first: a centred moving
    mean of 9 rows cut the worst-case point-F1 gap from 0.102 to 0.041 there (0.157 to
    0.126 and 0.167 to 0.103 on the two earlier sets) and the worst event-F1 gap from
    0.406 to 0.332. It does not reach a gap of 0.03 everywhere. The ``gate``, the ``brief_gate``
    and ``raise_excess``, and what they gained: the module docstring (fourteenth, nineteenth and
    twentieth studies).

    Parameters
    ----------
    method : {"otsu", "mixture", "knee", "estimated_f1"}
    rate : float
        The floor's false-alarm rate of the normal scores, in (0, 1).
    max_fraction : float
        The largest share of the scored period a split may flag, in (0, 1).
    min_excess : float
        Flagged share over the normal scores' share at the split, >= 1 (2: an estimated
        precision of at least 1/2).
    min_separation : float
        Ashman's D the mixture's components need (``method="mixture"``), >= 0.
    lower_only : bool
        Use ``min(split, floor)`` (True; above the floor only as ``raise_excess`` allows) or the split itself.
    raise_excess : float or None
        With ``lower_only``: a split above the floor becomes the threshold when the scored rows between the floor
        and the split are at most this many times the normal scores' share there, >= 1; None: never above the floor.
    smoothing : int
        Rows of the centred moving window the scores are smoothed over first, >= 1 (1: none).
    smoother : {"mean", "median"}
    gate : float or None
        A row is flagged only if its own score, unsmoothed, also passes this quantile of
        the normal scores, in (0, 1) (:class:`AdaptiveThresholder`); None: no such condition.
    brief_gate : float or None
        An event of fewer than ``smoothing`` rows (the flags joined across the rows whose
        smoothed score passes the threshold and across at most ``smoothing - 1`` unflagged
        rows, as ``tsseq detect`` joins its events) is kept only if one of its flagged rows'
        own scores passes this quantile of the normal scores, in (0, 1); None: every event
        is kept. Batch mode knows each event whole (:class:`AdaptiveThresholder` judges the
        event so far).

    Fitted: ``floor_``, ``gate_`` (the level of ``gate``), ``brief_gate_`` (of ``brief_gate``), ``scale_``
    (``m``), ``normal_`` (the sorted smoothed normal scores);
    ``threshold_``: the floor after ``fit``, then the threshold the last ``predict`` applied;
    ``accepted_``: whether that call used the split.
    """

    causal = False

    def __init__(
        self, *, method: str = "otsu", rate: float = 0.01, max_fraction: float = 0.5, min_excess: float = 2.0,
        min_separation: float = 2.0, lower_only: bool = True, raise_excess: float | None = 2.0, smoothing: int = 9,
        smoother: str = "mean", gate: float | None = 0.9, brief_gate: float | None = 0.98,
    ) -> None:
        self.method = method
        self.rate = rate
        self.max_fraction = max_fraction
        self.min_excess = min_excess
        self.min_separation = min_separation
        self.lower_only = lower_only
        self.raise_excess = raise_excess
        self.smoothing = smoothing
        self.smoother = smoother
        self.gate = gate
        self.brief_gate = brief_gate

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.method not in TRANSDUCTIVE_METHODS:
            raise ConfigError(
                f"{name}: method must be one of {', '.join(TRANSDUCTIVE_METHODS)}. Got method={self.method!r}."
                + closest_match(str(self.method), TRANSDUCTIVE_METHODS)
            )
        _check_number(self.min_separation, "min_separation", name, 0.0)
        if not isinstance(self.lower_only, (bool, np.bool_)):
            raise ConfigError(f"{name}: lower_only must be True or False. Got lower_only={self.lower_only!r}.")
        if self.raise_excess is not None:
            _check_number(self.raise_excess, "raise_excess", name, 1.0)
        _check_split_params(self, name)

    def _smoothed(self, scores: np.ndarray, where: str) -> np.ndarray:
        return centred_smooth(_scores(scores, where), self.smoothing, self.smoother)

    def smooth(self, scores: np.ndarray) -> np.ndarray:
        """The scores as the threshold sees them: their centred moving ``smoother`` over ``smoothing`` rows."""
        return self._smoothed(scores, f"{type(self).__name__}.smooth")

    def fit(self, normal_scores: np.ndarray) -> TransductiveThresholder:
        self._check_params()
        name = f"{type(self).__name__}.fit"
        values = np.sort(_finite_scores(self._smoothed(normal_scores, name), name))
        self.normal_ = values
        self.floor_ = float(np.quantile(values, 1.0 - self.rate))
        self.gate_ = _gate_level(self.gate, _scores(normal_scores, name))
        self.brief_gate_ = _gate_level(self.brief_gate, _scores(normal_scores, name))
        magnitude = float(np.median(np.abs(values)))
        self.scale_ = magnitude if magnitude > 0 else 1.0
        self.threshold_ = self.floor_
        self.accepted_ = False
        return self

    def _normal_share(self, threshold: float) -> float:
        return 1.0 - np.searchsorted(self.normal_, threshold, side="right") / self.normal_.size

    def split(self, scores: np.ndarray) -> float | None:
        """The method's candidate threshold on ``scores`` (smoothed first), before the acceptance test (None: none)."""
        check_is_fitted(self, "floor_")
        return self._split(self._smoothed(scores, f"{type(self).__name__}.split"))

    def _split(self, smoothed: np.ndarray) -> float | None:
        return self._split_sorted(np.sort(smoothed[np.isfinite(smoothed)]))

    def _split_sorted(self, finite: np.ndarray) -> float | None:
        """:meth:`_split` of the finite smoothed scores, sorted."""
        n = finite.size
        max_upper = int(math.floor(self.max_fraction * n))
        if n < 3 or max_upper < 1:
            return None
        z = np.arcsinh(finite / self.scale_)
        if self.method == "estimated_f1":
            fractions = np.unique(np.geomspace(1.0 / n, self.max_fraction, 64))
            candidates = np.quantile(finite, 1.0 - fractions)
            share = (finite[None, :] > candidates[:, None]).mean(axis=1)
            normal_share = np.array([self._normal_share(t) for t in candidates])
            usable = normal_share < 1.0
            if not usable.any():
                return None
            contamination = float(np.max((share[usable] - normal_share[usable]) / (1.0 - normal_share[usable])))
            if contamination <= 0:
                return None
            positives = np.maximum(share - (1.0 - contamination) * normal_share, 0.0)
            f1 = np.where(share > 0, 2.0 * positives / (share + contamination), 0.0)
            return float(candidates[int(np.argmax(f1))])
        if self.method == "knee":
            top = z[::-1][: max(max_upper, 2)]
            if top[0] == top[-1]:
                return None
            x = np.arange(top.size) / (top.size - 1)
            y = (top - top[-1]) / (top[0] - top[-1])
            knee = int(np.argmax(1.0 - x - y))
            return None if knee == 0 else float(finite[::-1][knee])
        k = _otsu_split(z, max_upper)
        if k is None:
            return None
        if self.method == "otsu":
            return float(finite[k - 1])
        fitted = _mixture_split(z, k)
        if fitted is None:
            return None
        cut, separation, upper_weight = fitted
        if separation < self.min_separation or upper_weight > self.max_fraction:
            return None
        return float(self.scale_ * math.sinh(cut))

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Refused: ``run`` is the streaming interface (a threshold per row from the rows before it)."""
        raise ConfigError(
            "TransductiveThresholder is not causal: its threshold depends on every score of the scored period, "
            "so it cannot be streamed. Use it in batch scoring (causal=False, tsseq detect --mode batch), or a "
            "causal threshold ('false_alarm', 'spot', ...) for streams."
        )

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Flags of ``scores`` against one threshold from all of them (``threshold_``, ``accepted_``)."""
        check_is_fitted(self, "floor_")
        raw = _scores(scores, f"{type(self).__name__}.predict")
        values = self._smoothed(raw, f"{type(self).__name__}.predict")
        self.threshold_, self.accepted_ = self._applied(values)
        return self._flags(values, raw)

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Flags of ``scores`` against the threshold in force (``threshold_``, the last :meth:`predict`'s), no new
        split: the batch job splits the scored rows and flags the training rows with that split too."""
        check_is_fitted(self, "floor_")
        raw = _scores(scores, f"{type(self).__name__}.apply")
        return self._flags(self._smoothed(raw, f"{type(self).__name__}.apply"), raw)

    def _flags(self, smoothed: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """The smoothed scores over ``threshold_``, own scores over the gate, brief events without a peak dropped."""
        flags = _gated(smoothed, self.threshold_, raw, self.gate_)
        if self.brief_gate_ == -math.inf:
            return flags
        return _without_brief(flags, smoothed > self.threshold_, raw, self.smoothing, self.brief_gate_)[0]

    def _applied(self, smoothed: np.ndarray) -> tuple[float, bool]:
        """(threshold, whether the split was accepted) for already smoothed ``smoothed``: the acceptance test."""
        return self._applied_sorted(np.sort(smoothed[np.isfinite(smoothed)]))

    def _applied_sorted(self, finite: np.ndarray) -> tuple[float, bool]:
        """:meth:`_applied` of the finite smoothed scores, sorted (a stream keeps them so)."""
        candidate = self._split_sorted(finite)
        accepted = False
        if candidate is not None:
            share = (finite.size - np.searchsorted(finite, candidate, side="right")) / finite.size
            accepted = 0.0 < share <= self.max_fraction and share >= self.min_excess * self._normal_share(candidate)
        threshold = self.floor_
        if accepted and (not self.lower_only or candidate <= self.floor_ or self._band_is_normal(finite, candidate)):
            threshold = candidate  # lower_only: under the floor, or above it where the band below holds no excess
        return float(threshold), bool(accepted)

    def _band_is_normal(self, finite: np.ndarray, candidate: float) -> bool:
        """Whether the sorted scored rows in ``(floor_, candidate]`` are at most ``raise_excess`` times the normal
        scores' share there (``raise_excess``; False without it)."""
        if self.raise_excess is None:
            return False
        inside = np.searchsorted(finite, candidate, side="right") - np.searchsorted(finite, self.floor_, side="right")
        normal = self._normal_share(self.floor_) - self._normal_share(candidate)
        return inside / finite.size <= self.raise_excess * normal


class AdaptiveThresholder(Estimator):
    """Causal threshold (``"adaptive"``): the false-alarm floor, lowered to Otsu's split of the scores seen so far.

    The causal counterpart of :class:`TransductiveThresholder` (the default of ``tsseq
    detect``'s causal mode for ``auto`` and the windowed detectors): the row ``t`` is
    flagged from the scores up to ``t`` only, so it streams (:meth:`run`, one score at a
    time through :meth:`predict`), and a flag never changes when later rows arrive.

    ``fit(normal_scores)``: the scores are smoothed by a causal moving ``smoother`` over
    the last ``smoothing`` rows (:func:`causal_smooth`; a collective anomaly's run of
    moderately high scores lifts the mean, and a causal window only delays a flag, it
    never reads ahead); the floor ``floor_`` is the ``1 - rate`` quantile of the smoothed
    normal scores, as in :class:`FalseAlarmThresholder`.

    ``run(scores)`` / ``predict(scores)`` continue from everything seen before (the fit's
    last ``smoothing - 1`` scores, then every earlier call's rows). The smoothed scored
    rows are remembered (the last ``memory`` finite ones); once ``warmup`` of them have
    been seen, and again after every ``refresh`` more, the threshold is recomputed from
    the remembered rows as :class:`TransductiveThresholder` computes it from a whole
    period: Otsu's split of ``asinh(s / m)``, accepted only if it flags at most
    ``max_fraction`` of the remembered rows and at least ``min_excess`` times the normal
    scores' share above it, and then never above the floor (``min(split, floor)``);
    otherwise the floor. The row at which it is recomputed is already judged by the new
    threshold (its own score is in the split); the rows before the next refresh keep it.

    Why (``pipelines/benchmarks/threshold_study.md``, fourth study, rules fixed before the
    confirmation run): the floor alone, a fixed false-alarm rate, cannot follow how much of
    a period is anomalous (a quarter of the simulated plant's rows are faulty); the split
    of the rows seen so far can. On series no rule had been tried on (plant and synthetic
    seeds 6 and 7, NAB's ``realTweets``) these defaults cut the worst-case point-F1 gap to
    the best fixed training quantile from 0.235 (the floor) to 0.138 (0.324 to 0.275,
    0.423 to 0.186 and 0.121 to 0.080 on three earlier sets) without a worse event-F1 gap
    by more than 0.03. The cost: where new rows score above the training rows without an
    anomaly (a model that fits its training rows closely), the split takes that shift for
    one and flags more: 22% of an anomaly-free simulated plant's rows at worst, against 14%
    for the floor. The ``gate``, and what it gained: the module docstring (fourteenth study).

    Parameters
    ----------
    rate : float
        The floor's false-alarm rate of the normal scores, in (0, 1).
    smoothing : int
        Rows of the causal moving window, >= 1 (1: none).
    smoother : {"mean", "median"}
    min_excess : float
        Flagged share over the normal scores' share at the split, >= 1.
    max_fraction : float
        The largest share of the remembered rows a split may flag, in (0, 1).
    warmup : int
        Scored rows (finite smoothed scores) seen before the first split, >= 3.
    refresh : int
        Scored rows between two recomputations, >= 1.
    memory : int or None
        The split reads the last ``memory`` scored rows (>= ``warmup``; None: all of
        them, a cost that grows with the stream).
    gate : float or None
        A row is flagged only if its own score, unsmoothed, also passes this quantile of
        the normal scores, in (0, 1); None: no such condition. The smoothing decides that
        a stretch of rows is anomalous, the gate which of its rows are: a window spreads a
        spike's score over its neighbours, and a forecaster's or an autoencoder's window
        carries an anomaly's errors into the rows after it, normal rows that pass a
        smoothed threshold. It also bounds what a wrong split flags: rows in the top
        ``1 - gate`` of the normal scores at most, where a split of an anomaly-free period
        at its median could flag half of it.
    brief_gate : float or None
        A short event needs a peak (:class:`TransductiveThresholder`), judged on the event
        so far, since later rows are not known: a flagged row stays flagged when its event
        (joined as ``tsseq detect`` joins events, across the bridge and ``smoothing - 1``
        unflagged rows) has lasted ``smoothing`` rows, this row included, or one of its
        flagged rows' own scores passed this quantile of the normal scores. A long event
        whose own scores stay under it is flagged from its ``smoothing``-th row on. None:
        no such condition.

    Fitted: ``floor_``, ``gate_`` (the level of ``gate``), ``brief_gate_`` (of ``brief_gate``), ``split_`` (the
    :class:`TransductiveThresholder` that judges a split), ``threshold_`` (the threshold in
    force after the last row seen), ``accepted_``; the stream's state ``history_``, ``seen_``
    (the remembered rows in arrival order) and ``sorted_`` (the same, sorted), ``count_``, and
    the event so far: ``event_`` (its first row, counted back from the next row to come, and its
    peak; None before any flag), ``since_flag_`` (rows after the last flagged one) and
    ``unbridged_`` (how many of those lie off the bridge).
    """

    def __init__(
        self, *, rate: float = 0.01, smoothing: int = 9, smoother: str = "mean", min_excess: float = 2.0,
        max_fraction: float = 0.5, warmup: int = 100, refresh: int = 10, memory: int | None = 5000,
        gate: float | None = 0.9, brief_gate: float | None = 0.98,
    ) -> None:
        self.rate = rate
        self.smoothing = smoothing
        self.smoother = smoother
        self.min_excess = min_excess
        self.max_fraction = max_fraction
        self.warmup = warmup
        self.refresh = refresh
        self.memory = memory
        self.gate = gate
        self.brief_gate = brief_gate

    def _check_params(self) -> None:
        name = type(self).__name__
        _check_int(self.warmup, "warmup", name, 3)
        _check_int(self.refresh, "refresh", name, 1)
        if self.memory is not None:
            _check_int(self.memory, "memory", name, self.warmup)
        _check_split_params(self, name)

    def smooth(self, scores: np.ndarray) -> np.ndarray:
        """The scores as the threshold sees them: their causal moving ``smoother``, continuing from the
        scores seen so far (the state is not changed)."""
        check_is_fitted(self, "floor_")
        return causal_smooth(scores, self.smoothing, self.smoother, self.history_)

    def fit(self, normal_scores: np.ndarray) -> AdaptiveThresholder:
        self._check_params()
        name = f"{type(self).__name__}.fit"
        values = _scores(normal_scores, name)
        smoothed = _finite_scores(causal_smooth(values, self.smoothing, self.smoother), name)
        self.split_ = TransductiveThresholder(
            method="otsu", rate=self.rate, max_fraction=self.max_fraction, min_excess=self.min_excess,
            lower_only=True, raise_excess=None,  # never above the floor: a raise judged on the rows so far (twentieth study)
            smoothing=1, gate=None,  # it judges splits; the gate is applied here, on the raw scores
        ).fit(smoothed)  # fmt: skip
        self.floor_ = self.threshold_ = self.split_.floor_
        self.gate_ = _gate_level(self.gate, values)
        self.brief_gate_ = _gate_level(self.brief_gate, values)
        self.accepted_ = False
        self.history_ = _smoothing_tail(values[:0], values, self.smoothing)
        self.seen_ = self.sorted_ = np.empty(0)
        self.count_ = 0
        self.event_, self.since_flag_, self.unbridged_ = None, 0, 0  # the event so far (brief_gate)
        return self

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags of ``scores`` (continuing the stream) and the threshold each row met (smoothed scale)."""
        check_is_fitted(self, "floor_")
        values = _scores(scores, f"{type(self).__name__}.predict")
        smoothed = self.smooth(values)
        self.history_ = _smoothing_tail(self.history_, values, self.smoothing)
        finite = np.isfinite(smoothed)
        counts = self.count_ + np.cumsum(finite)  # scored rows seen up to and including each row
        refreshes = np.flatnonzero(finite & (counts >= self.warmup) & ((counts - self.warmup) % self.refresh == 0))
        thresholds = np.empty(values.size)
        start = 0
        for row in refreshes:
            thresholds[start:row] = self.threshold_
            self._remember(smoothed[start : row + 1])
            self.threshold_, self.accepted_ = self.split_._applied_sorted(self.sorted_)
            thresholds[row] = self.threshold_
            start = row + 1
        thresholds[start:] = self.threshold_
        self._remember(smoothed[start:])
        self.count_ = int(counts[-1]) if values.size else self.count_
        flags = _gated(smoothed, thresholds, values, self.gate_)
        return self._without_brief_so_far(flags, smoothed > thresholds, values), thresholds

    def _without_brief_so_far(self, flags: np.ndarray, bridge: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """``flags`` (the rows of this call) less the rows of brief events as far as they are known at each row
        (:func:`_without_brief` with ``so_far``), continuing the event of the earlier calls where the first flag here
        joins it; updates that state."""
        if self.brief_gate_ == -math.inf:
            return flags
        flagged = np.flatnonzero(flags)
        if not flagged.size:  # the event so far, if any, recedes by these rows
            self.event_ = None if self.event_ is None else (self.event_[0] - flags.size, self.event_[1])
            self.since_flag_ += flags.size
            self.unbridged_ += int((~bridge).sum())
            return flags
        carried = None
        if self.event_ is not None:  # the first flag here joins it as event_segments would join the two
            first = int(flagged[0])
            if self.since_flag_ + first <= self.smoothing - 1 or self.unbridged_ + (~bridge[:first]).sum() == 0:
                carried = self.event_
        kept, (start, peak) = _without_brief(
            flags, bridge, raw, self.smoothing, self.brief_gate_, so_far=True, carried=carried
        )
        self.event_ = (start - flags.size, peak)
        self.since_flag_ = flags.size - 1 - int(flagged[-1])
        self.unbridged_ = int((~bridge[flagged[-1] + 1 :]).sum())
        return kept

    def _remember(self, smoothed: np.ndarray) -> None:
        """Append the finite ``smoothed`` to ``seen_`` (arrival order) and ``sorted_``, dropping the oldest past
        ``memory``: a few inserts and deletes into the sorted rows, not a sort of all of them at every refresh."""
        arrived = smoothed[np.isfinite(smoothed)]
        seen = np.concatenate([self.seen_, arrived])
        dropped = np.sort(seen[: max(0, seen.size - self.memory)] if self.memory is not None else seen[:0])
        self.seen_ = seen[dropped.size :]
        # equal values sit together in sorted_: the k-th equal one dropped is the k-th of its block
        rank = np.arange(dropped.size) - np.searchsorted(dropped, dropped, side="left")
        kept = np.delete(self.sorted_, np.searchsorted(self.sorted_, dropped, side="left") + rank)
        arrived = np.sort(arrived)
        self.sorted_ = np.insert(kept, np.searchsorted(kept, arrived), arrived)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return self.run(scores)[0]


_THRESHOLDERS = {
    "false_alarm": FalseAlarmThresholder,
    "quantile": QuantileThresholder,
    "ksigma": KSigmaThresholder,
    "spot": SPOT,
    "dspot": DSPOT,
    "telemanom": TelemanomThresholder,
    "transductive": TransductiveThresholder,
    "adaptive": AdaptiveThresholder,
}
THRESHOLD_METHODS = tuple(_THRESHOLDERS)


def threshold_is_causal(name: str | None) -> bool:
    """Whether the threshold method ``name`` flags each score from the scores up to it only.

    False for ``"transductive"`` (it adapts to the whole scored period: batch only); True for
    every other method and for names this module does not know (their own check names them).
    """
    cls = _THRESHOLDERS.get(name) if isinstance(name, str) else None
    return bool(getattr(cls, "causal", True))


def smooths_scores(thresholder: object) -> bool:
    """Whether ``thresholder`` compares its threshold with the scores smoothed (its ``smooth(scores)``, written beside
    the scores as ``smoothed_score``), not with the scores themselves."""
    return getattr(thresholder, "smoothing", 1) > 1 or getattr(thresholder, "smoothing_span", 1) > 1


def check_causal_threshold(name: str | None, causal: bool) -> None:
    """Refuse a threshold that is not causal (:func:`threshold_is_causal`) for a causal detector."""
    if causal and not threshold_is_causal(name):
        raise ConfigError(
            f"threshold={name!r} adapts to the whole scored period (not causal); causal scoring needs a causal "
            "threshold ('false_alarm', 'spot', ...), or set causal=False for batch scoring (tsseq detect --mode batch)."
        )


def make_thresholder(name: str, **params: object) -> Thresholder:
    """A threshold method by name (``THRESHOLD_METHODS``), its parameters checked now."""
    if name not in _THRESHOLDERS:
        raise ConfigError(
            f"Unknown threshold method {name!r}; expected one of {', '.join(THRESHOLD_METHODS)}."
            + closest_match(str(name), THRESHOLD_METHODS)
        )
    cls = _THRESHOLDERS[name]
    allowed = cls().get_params()
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"Threshold method {name!r} has no parameter {key!r}; its parameters are "
                f"{', '.join(sorted(allowed))}." + closest_match(key, allowed)
            )
    thresholder = cls(**params)
    thresholder._check_params()
    return thresholder


@dataclass(frozen=True)
class OracleThreshold:
    """The best-F1 threshold chosen WITH THE TEST LABELS: an upper bound, not a detector result."""

    threshold: float
    f1: float
    precision: float
    recall: float
    label: str = "oracle (best F1 on the evaluated labels; evaluation only)"


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> OracleThreshold:
    """ORACLE, FOR EVALUATION ONLY: the threshold maximising point F1 against ``labels``.

    It reads the answers, so it measures how separable the scores are, never how a
    deployed detector would do; report it labelled as the oracle (its ``label`` says so),
    next to results from thresholds fitted without labels. ``scores > threshold`` gives
    the best flags (ties broken towards fewer flags); NaN scores are never flagged.
    """
    values = _scores(scores, "best_f1_threshold")
    truth = np.asarray(labels)
    if truth.shape != values.shape:
        raise DataError(f"best_f1_threshold: scores and labels must have the same length. Got {values.shape} and {truth.shape}.")
    truth = truth.astype(bool)
    n_positive = int(truth.sum())
    if n_positive == 0:
        raise DataError("best_f1_threshold: labels contain no anomaly, so F1 is undefined.")
    scored = ~np.isnan(values)
    if not scored.any():
        raise DataError("best_f1_threshold: every score is NaN.")
    order = np.argsort(-values[scored], kind="stable")
    ranked, hits = values[scored][order], truth[scored][order]
    last_of_value = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # flag everything >= ranked[i]
    true_positives = np.cumsum(hits)[last_of_value]
    precision = true_positives / (last_of_value + 1)
    recall = true_positives / n_positive
    with np.errstate(invalid="ignore"):
        f1 = np.where(true_positives > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    threshold = float(np.nextafter(ranked[last_of_value[best]], -np.inf))
    return OracleThreshold(threshold, float(f1[best]), float(precision[best]), float(recall[best]))
