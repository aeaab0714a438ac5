r"""The ``auto`` detector: three families' scores on one scale, combined; the default of ``tsseq detect``.

Different anomalies show in different families: a spike or an oscillation in a
forecaster's residual, a stuck sensor or a broken coupling in how badly an autoencoder
reconstructs a window, a value far out in its predictive distribution in the interval
detector. :class:`AutoDetector` fits one detector of each (``members``; by default
``lstm_ae``, on centred windows when the data has several channels, ``var_residual`` and
``interval`` with a VAR forecaster that leaves unrelated channels out and shrinks the other
cross-channel terms, each member scoring a row by its most anomalous channel, the forecasting
members on one channel reading rows cleaned by the lag filter (:mod:`tsseq.anomaly.lag_filter`),
:data:`DEFAULT_MEMBERS`) on the same rows, puts their
scores on one scale and combines them:

1. **Normalise** each member's score ``s`` by its tail probability under that member's
   own validation scores (held-out normal rows, scored by a model not fitted on them),
   ``g(s) = -log10 P(S > s)`` (:class:`TailNormaliser`): the empirical distribution up to
   its ``1 - tail_fraction`` quantile ``u``, beyond it an exponential tail fitted to the
   excesses over ``u``, ``P(S > s) = P(S > u) exp(-(s - u) / beta)``, ``beta`` their mean.

   Why the tail probability and not a robust z-score ``(s - median) / MAD``: a z-score
   matches the members' centres and spreads only, so a heavy-tailed member (squared
   errors, a reconstruction error) reaches z of hundreds where a light-tailed one reaches
   ten, and dominates any combination; the tail probability gives every member the same
   distribution on normal rows, ``P(g > a) = 10^-a``, the same unit as the interval
   detector's ``-log10 p``, and it reads as a false-alarm rate. Why an exponential tail
   beyond the empirical one: the empirical tail stops at ``-log10(1 / (n + 1))`` (about 3
   for a thousand validation rows), exactly where anomalies lie, so they would all tie;
   the exponential (a generalised Pareto tail of shape 0) keeps their order and, unlike
   a fitted shape, is stable with a few dozen excesses.
2. **Combine** by the largest, ``S_t = max_m g_m(s_{m,t})`` (``combine="max"``; ``"mean"``
   also offered). The members are there because each family sees kinds of anomaly the
   others miss, so the question per row is "does any family find it rare", which is
   Tippett's combination of p-values (the smallest ``p``; the interval detector's Šidák
   channel combination asks the same of channels): an anomaly only one family sees keeps
   its full strength, where the mean (Fisher's combination, which pools moderate evidence
   from every member) divides it by ``M``. The max's usual cost, false alarms adding up
   over the members, is paid in the threshold: it is fitted on the combined scores, so the
   stated false-alarm rate holds for the combination. On the plant corpus (three seeds,
   ``pipelines/benchmarks/plant_detectors.py``) the mean was the worst of the families on
   oscillations' event F1; the max was never the worst on any kind.
3. **Threshold** (``threshold="false_alarm"`` by default,
   :class:`~tsseq.anomaly.thresholds.FalseAlarmThresholder`): the 0.99 quantile of the
   combined scores of every training row (in-sample, and the validation rows), i.e. a
   stated false-alarm rate of 1% of normal rows, chosen across corpora by
   ``pipelines/benchmarks/threshold_study.py``; any
   :func:`~tsseq.anomaly.thresholds.make_thresholder` method can replace it
   (``"quantile"`` keeps ``q = 0.99`` unless given).

Per-channel contributions (:meth:`AutoDetector.contributions`): each member's
contributions rescaled to its normalised score (its shares of ``g_m``), combined with the
members' weights (for the max, 1 for the member that is largest on the row and 0 for the
others; ``1 / M`` each for the mean), so that they sum to ``S_t``. Causal when
``causal=True``: every member is causal and the normalisers and threshold are fixed
maps fitted on training rows; the first rows score NaN until every member scores (:meth:`AutoDetector.first_scored_row`). :meth:`AutoDetector.report` says
what was combined. Registered as ``"auto"`` in :data:`tsseq.anomaly.detectors.DETECTORS`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tsseq.anomaly.detectors import (
    DETECTORS, SCREENED_VAR, Frame, check_no_missing, detector_parameters, make_detector, warn_unscored,
)
from tsseq.anomaly.scorers import split_by_shares
from tsseq.data.splits import rows_holding_out
from tsseq.errors import ConfigError, DataError
from tsseq.nn.autoencoders import WindowCentred
from tsseq.parameters import Estimator, check_is_fitted
from tsseq.relay import FitWarnings

# One detector of each family. lstm_ae is EncDec-AD, tsseq's default detector before auto. The forecasting
# members read every channel's past (a VAR; on one channel an AR): on the simulated plant the per-channel AR
# members ranked faults that break how sensors follow each other near chance (threshold_study.md, fifth and
# sixth studies: auto's PR-AUC 0.475 -> 0.642 on the confirmation set, univariate corpora unchanged). On
# multichannel data the autoencoder reconstructs centred windows: a new operating point (every sensor at a level
# the training rows never held) is no fault, and flagged a third of a clean plant's rows (seventh study: 0.33 ->
# 0.02, PR-AUC 0.577 -> 0.659); a level fault is the VAR's to see. The VAR shrinks its other-channel terms towards
# a per-channel AR (tsseq.var, cross_penalty="gcv"): on wide logs of loosely related channels its least-squares
# cross terms are noise (eighth study: PR-AUC on logs of 20 and 40 channels 0.516 -> 0.556, the plant's unchanged
# within 0.01; one channel has no cross term, so univariate scores are as before).
# Since the twelfth study the VARs also leave out the channels that Haugh's test finds unrelated (SCREENED_VAR), and
# the reconstruction and residual members score a row by its largest channel error instead of the channels' mean
# (the interval member's Sidak combination already asks about its most extreme channel): a mean over tens of
# channels has so small a spread that a slight rise of new rows' errors passed for a group of anomalies. On clean
# wide logs of 20 and 40 channels auto flagged 0.29 / 0.27 of the rows (batch / causal default threshold), now 0.07 /
# 0.08; wide-log PR-AUC 0.556 -> 0.592, the plant's 0.730 -> 0.719, its point-F1 gaps and clean false alarms lower.
# On one channel the largest is the mean and there is no cross term: univariate scores are as before.
# Since the fifteenth study the forecasting members read, on one channel, rows cleaned by the lag filter
# (tsseq.anomaly.lag_filter: each row in their lags at most 3 residual scales from its own forecast, a run of more than
# 2 such rows let in as a lasting change), so that an anomaly does not echo in the forecasts after it. Confirmation set,
# point F1 under the gated defaults (batch / causal): daily 0.710 / 0.713 -> 0.742 / 0.747, synthetic-short 0.527 /
# 0.549 -> 0.545 / 0.559, NAB realAdExchange 0.119 / 0.113 -> 0.111 / 0.105, mean over five sets +0.009; clean shares
# within 0.010. On several channels it cost the wide logs (wide8 0.516 -> 0.462 batch, exploration): there the
# members are as before.
# Since the sixteenth study the threshold reads the forecasting members' fitted rows with their errors divided by
# 1 - df / n (AutoDetector's in_sample_correction): in-sample residuals are smaller than new rows', and the smoothed
# threshold flagged clean new rows for it. Confirmation set (nine sets, seeds 80 and up, NAB realAWSCloudwatch and
# realTweets), point F1 under the gated defaults (batch / causal): daily 0.740 / 0.731 -> 0.755 / 0.755, mean
# +0.002 / +0.003, no set more than 0.004 lower; clean shares lower or equal on every clean corpus.
LARGEST = {"scorer_params": {"reduction": "max"}}
LAG_FILTER = {"lag_clip": 3.0, "lag_clip_run": 2, "lag_clip_univariate_only": True}
DEFAULT_MEMBERS = (
    {"name": "lstm_ae", "params": {"centre_windows": "multichannel", **LARGEST}},  # reconstruction
    {"name": "var_residual", "params": {"forecaster_params": SCREENED_VAR, **LARGEST, **LAG_FILTER}},  # forecast residual
    # tail probability under the VAR's Gaussian predictive
    {"name": "interval", "params": {"forecaster": "var", "forecaster_params": SCREENED_VAR, **LAG_FILTER}},
)
COMBINES = ("max", "mean")
REFERENCES = ("in_sample", "cross_fitted")  # what the normalisers and the threshold are fitted on
# Parameters auto hands to every member that takes them, unless the member's params set them.
_SHARED = ("window_length", "training", "validation_fraction", "aggregation", "in_sample_correction")
MIN_NORMAL_SCORES = 10  # finite normal scores a TailNormaliser is fitted on, at least
SMALLEST_TAIL_SCALE = 1e-3  # a TailNormaliser's least beta, in units of the members' scores (its docstring)


class TailNormaliser:
    """``g(s) = -log10 P(S > s)`` under a sample of normal scores (module docstring, step 1).

    ``fit(scores (n,))``: the sorted finite scores ``v_1 <= .. <= v_n``, ``u`` their
    ``1 - tail_fraction`` quantile, ``beta`` the mean excess over ``u``, at least
    ``SMALLEST_TAIL_SCALE = 1e-3`` times the larger of 1 and the largest absolute score.
    Why the floor: a member that scores every normal row alike (a series constant in its
    training rows is forecast and reconstructed exactly, so its scores there are all zero)
    has no tail to measure, and its tail scale is rounding; a floor of zero made every
    later score infinite, one of 1e-12 made a move of half a unit score 2e11. The members'
    scores are in units of a training standard deviation (errors of standardised rows) or
    of a decade (``-log10 p``), so 1e-3 of a unit is a tail far steeper than any measured
    one (mean excesses of 0.008 to 200 on a noise-free sine and NAB series), and it binds
    only where the normal scores have no spread: there a one-unit move scores about 430.
    ``transform(s)``: for ``s <= u`` the survival ``1 - F(s)``,
    ``F`` interpolating the plotting positions ``i / (n + 1)`` at the ``v_i``; beyond
    ``u``, ``P(S > u) exp(-(s - u) / beta)``, so ``g`` grows linearly,
    ``g(u) + (s - u) / (beta ln 10)``. Monotone, continuous; NaN stays NaN.
    """

    def __init__(self, tail_fraction: float = 0.1) -> None:
        self.tail_fraction = tail_fraction

    def fit(self, scores: object) -> "TailNormaliser":
        values = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
        if len(values) < MIN_NORMAL_SCORES:
            raise DataError(
                f"TailNormaliser needs at least {MIN_NORMAL_SCORES} finite validation scores. Got {len(values)}."
            )
        self.sorted_ = values
        self.positions_ = np.arange(1, len(values) + 1) / (len(values) + 1)
        self.knee_ = float(np.quantile(values, 1.0 - self.tail_fraction))
        excess = values[values > self.knee_] - self.knee_
        scale = max(float(np.abs(values).max()), 1.0)
        self.beta_ = max(float(excess.mean()) if excess.size else 0.0, SMALLEST_TAIL_SCALE * scale)
        self.knee_survival_ = 1.0 - float(np.interp(self.knee_, values, self.positions_))
        return self

    def transform(self, scores: object) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        body = -np.log10(1.0 - np.interp(s, self.sorted_, self.positions_))
        tail = -math.log10(self.knee_survival_) + (s - self.knee_) / (self.beta_ * math.log(10.0))
        return np.where(np.isnan(s), np.nan, np.where(s > self.knee_, tail, body))


class AutoDetector(Estimator):
    """Normalised scores of a reconstruction, a forecast-residual and an interval detector, combined (module docstring).

    Parameters
    ----------
    members : sequence of str or mapping, optional
        Detectors of :data:`~tsseq.anomaly.detectors.DETECTORS`, each a name or ``{name,
        params}``; None: :data:`DEFAULT_MEMBERS`. Each is built with no threshold and this
        detector's ``causal``, and with ``window_length``, ``training``,
        ``validation_fraction`` and ``aggregation`` where it takes them and its params
        leave them unset. Members learning online or with a temporal scorer are refused.
    combine : {"max", "mean"}
        Over the members' normalised scores (module docstring, step 2).
    tail_fraction : float in (0, 0.5]
        The share of each member's validation scores its exponential tail is fitted to.
    in_sample_correction : bool
        Handed to the members that take it (the forecast-residual and interval ones with an
        ``"ar"`` or ``"var"`` forecaster): the threshold reads the rows their forecaster was
        fitted on with the errors divided by ``1 - df / n`` (the mean leave-one-out inflation
        of a least-squares residual), as new rows' errors would be. The default since the
        sixteenth threshold study (``threshold_study.md``; module comment of
        :data:`DEFAULT_MEMBERS`); False: the threshold reads their in-sample errors.
    reference : {"in_sample", "cross_fitted"}
        The normal scores the normalisers and the threshold are fitted on.
        ``"in_sample"``: each member's held-out validation rows for its normaliser, and
        every training row's combined score (the in-sample rows and the held-out ones) for
        the threshold. ``"cross_fitted"``: every training row scored by a model that did
        not see it, for both: the members are fitted once more on each half of the
        training rows, and each half scores the other (:meth:`cross_fitted_scores`); the
        members that score new rows are the ones fitted on all of them, as with
        ``"in_sample"``. A model scores the rows it was fitted on lower than new normal
        rows, so a threshold on in-sample scores flags more new normal rows than its
        stated rate, most where the training rows are few. Halves too short for a member
        fall back to ``"in_sample"`` with a warning (``reference_`` says which was used).
        Measured (``pipelines/benchmarks/threshold_study.md``, after the thirteenth study):
        on clean 500-row series it keeps about the stated rate where in-sample scores let
        15-21% of the rows through (under the gated default threshold of the fourteenth study,
        0.6-5.1% against 4.1-6.7%), and it is the better choice on the univariate synthetic
        corpus; it is not the default because where the training rows span several
        operating points (the simulated plants, wide logs, NAB) a half's fit scores the other
        half's normal rows too high, and point F1 falls by a third or more (plant 0.618 ->
        0.405 under the causal default). It costs two more fits of every member, each on half the rows.
    window_length, training, validation_fraction, aggregation, causal
        Handed to the members (above); ``training`` to the neural ones.
    threshold, threshold_params
        A method of :func:`~tsseq.anomaly.thresholds.make_thresholder` fitted on the
        combined scores of the training rows (None: scores only); default
        ``"false_alarm"``, a 1% false-alarm rate of them.

    Fitted: ``members_`` (label, fitted detector), ``normalisers_``, ``validation_scores_`` (the combined
    normalised scores of the rows the normalisers were fitted on), ``normal_scores_``, ``thresholder_``,
    ``threshold_``, ``reference_``, ``columns_``; ``temporal_scorer_`` is None (streaming's contract).
    """

    gives_contributions = True
    temporal_scorer_ = None

    def __init__(
        self,
        *,
        members: Sequence | None = None,
        combine: str = "max",
        tail_fraction: float = 0.1,
        reference: str = "in_sample",
        in_sample_correction: bool = True,
        window_length: int = 48,
        training: Mapping | None = None,
        validation_fraction: float = 0.2,
        aggregation: str = "last",
        threshold: str | None = "false_alarm",
        threshold_params: Mapping | None = None,
        causal: bool = True,
    ) -> None:
        self.members = members
        self.combine = combine
        self.tail_fraction = tail_fraction
        self.reference = reference
        self.in_sample_correction = in_sample_correction
        self.window_length = window_length
        self.training = training
        self.validation_fraction = validation_fraction
        self.aggregation = aggregation
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.causal = causal

    # ------------------------------------------------------------------ public
    def fit(self, y: Frame, validation: Frame | None = None) -> "AutoDetector":
        """Fit every member on ``y``; normalisers on their validation scores; the threshold on the combination."""
        if self.combine not in COMBINES:
            raise ConfigError(f"The 'combine' parameter must be one of {list(COMBINES)}. Got {self.combine!r} instead.")
        if not (isinstance(self.tail_fraction, (int, float)) and 0 < self.tail_fraction <= 0.5):
            raise ConfigError(f"The 'tail_fraction' parameter must be in (0, 0.5]. Got {self.tail_fraction!r} instead.")
        from tsseq.anomaly.thresholds import check_causal_threshold

        check_causal_threshold(self.threshold, self.causal)
        if self.reference not in REFERENCES:
            raise ConfigError(
                f"The 'reference' parameter must be one of {list(REFERENCES)}. Got {self.reference!r} instead."
            )
        members = self._build_members()
        for frame, name in ((y, "y"), (validation, "validation")):  # refused before any member is fitted
            if frame is not None:
                self._check_missing(members[0][1]._frame(frame, name, fitting=True, check_missing=False), members, name)
        self.members_ = []
        relay = FitWarnings("auto")  # each member warns of the same data (a constant channel): once, not once each
        for label, detector in members:
            with relay.of("fit of its members"):
                detector.fit(y, validation)
            if detector.temporal_scorer_ is not None:
                raise ConfigError(f"auto: member {label!r} has a temporal scorer; give its members point-wise scorers.")
            self.members_.append((label, detector))
        relay.issue()
        self.columns_ = list(self.members_[0][1].columns_)
        cross_fitted = self.cross_fitted_scores(y) if self.reference == "cross_fitted" else None
        self.reference_ = "in_sample" if cross_fitted is None else "cross_fitted"
        if cross_fitted is None:
            reference = [d.validation_scores_ for _, d in self.members_]
            self._check_enough_held_out(reference, len(y), validation)
        else:  # out-of-sample scores of every training row, then of the validation frame's rows if separate
            reference = [rows if validation is None else np.concatenate([rows, d.validation_scores_])
                         for rows, (_, d) in zip(cross_fitted.T, self.members_)]  # fmt: skip
        self.normalisers_ = [TailNormaliser(self.tail_fraction).fit(scores) for scores in reference]
        normalised = [n.transform(scores) for n, scores in zip(self.normalisers_, reference)]
        self.validation_scores_ = self._combined(np.column_stack(normalised))
        self.thresholder_ = None
        if self.threshold is not None:
            from tsseq.anomaly.thresholds import make_thresholder

            params = {"q": 0.99} if self.threshold == "quantile" and not self.threshold_params else {}
            params.update(self.threshold_params or {})
            if self.reference_ == "cross_fitted":
                self.normal_scores_ = self.validation_scores_
            else:  # every training row's combined score (in-sample), then the validation rows' if separate
                rows = len(self._checked(y))  # each member's fit scored them first: its normal scores begin with them
                normal = self._combined(self._normalise([d.normal_scores_[:rows] for _, d in self.members_]))
                self.normal_scores_ = normal if validation is None else np.concatenate([normal, self.validation_scores_])
            self.thresholder_ = make_thresholder(self.threshold, **params).fit(self.normal_scores_)
        self.threshold_ = None if self.thresholder_ is None else float(self.thresholder_.threshold_)
        return self

    def cross_fitted_scores(self, y: Frame) -> np.ndarray | None:
        """Every member's raw score of ``y``'s rows, each from a model not fitted on it: ``(T, M)``, or None.

        The members are built afresh and fitted on each half of the rows (as :meth:`fit`
        fits them, each holding out its own validation tail); the first half's fit scores
        the second half's rows (reading the rows before them), and the second half's fit
        scores the first half's. The first :meth:`first_scored_row` rows get NaN: no fit that
        did not see them has the rows before them. None (and a warning) where a half is
        too short for a member.
        """
        import warnings

        check_is_fitted(self, "members_")
        frame = self.members_[0][1]._frame(y, "y", check_missing=False)
        self._check_missing(frame, self.members_, "y")
        half = len(frame) // 2
        halves = (frame.iloc[:half], frame.iloc[half:])
        try:
            with warnings.catch_warnings():  # the halves' fits only calibrate: their warnings repeat the fit's
                warnings.simplefilter("ignore")
                early, late = [[d.fit(part) for _, d in self._build_members()] for part in halves]
        except DataError as error:
            warnings.warn(
                f"auto: reference='cross_fitted' needs each half of the {len(frame)} training rows to fit every member "
                f"({error}); its normalisers and threshold read in-sample scores instead, and flag more new normal "
                "rows than their stated rate. Train on more rows (tsseq detect: --train-rows, --train-fraction).",
                stacklevel=2,
            )
            return None
        scores = np.full((len(frame), len(early)), np.nan)
        for index, (first, second) in enumerate(zip(early, late)):
            scores[:half, index] = second.raw_scores(halves[0])
            scores[half:, index] = first.raw_scores(frame)[half:]
        scores[: self.first_scored_row()] = np.nan
        return scores

    def score(self, y: Frame) -> pd.Series:
        """The combined normalised score ``(T,)`` of ``y`` (NaN until every member scores)."""
        frame = self._checked(y)
        scores = self.raw_scores(frame)
        if not self._refusing(self.members_):  # every member masks missing values
            warn_unscored(frame, scores, self.first_scored_row(), "auto")
        series = pd.Series(scores, index=frame.index, name="score")
        series.attrs["causal"] = bool(self.causal)
        return series

    def normal_raw_scores(self, y: Frame) -> np.ndarray:
        """The combined score ``(T,)`` of the training rows ``y`` as the threshold reads them: :meth:`score`, the
        forecasting members' fitted rows corrected with ``in_sample_correction``."""
        frame = self._checked(y)
        return self._combined(self._normalise([d.normal_raw_scores(frame) for _, d in self.members_]))

    def contributions(self, y: Frame) -> pd.DataFrame:
        """Per-channel contributions ``(T, C)`` to :meth:`score`: the members', weighted (module docstring)."""
        frame = self._checked(y)
        _, parts = self.raw_scores_and_contributions(frame)
        return pd.DataFrame(parts, index=frame.index, columns=self.columns_)

    def detect(self, y: Frame) -> pd.DataFrame:
        """Scores and flags of ``y``: columns ``score`` and ``is_anomaly`` (bool)."""
        scores = self.score(y)
        if self.thresholder_ is None:
            raise ConfigError("This detector has threshold=None: it scores but does not flag. Set 'threshold'.")
        flags = np.asarray(copy.deepcopy(self.thresholder_).predict(scores.to_numpy()), dtype=bool)
        result = pd.DataFrame({"score": scores, "is_anomaly": flags}, index=scores.index)
        result.attrs["causal"] = bool(self.causal)
        return result

    def predict(self, y: Frame) -> pd.Series:
        """``True`` where ``y`` is anomalous: its combined score over the fitted threshold."""
        return self.detect(y)["is_anomaly"]

    def context_rows(self) -> int:
        """Rows before a timestamp that its score reads: the most any member reads."""
        check_is_fitted(self, "members_")
        return max(detector.context_rows() for _, detector in self.members_)

    def first_scored_row(self) -> int:
        """The first row every member scores."""
        check_is_fitted(self, "members_")
        return max(detector.first_scored_row() for _, detector in self.members_)

    def raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The combined score ``(T,)`` of a frame (streaming's contract; no temporal scorer)."""
        self._check_missing(frame, self.members_, "y")
        return self._combined(self._normalised(frame))

    def raw_scores_and_contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`raw_scores` ``(T,)`` and the per-channel contributions ``(T, C)`` summing to them."""
        check_is_fitted(self, "members_")
        self._check_missing(frame, self.members_, "y")
        normalised, shares = [], []
        for normaliser, (_, detector) in zip(self.normalisers_, self.members_):
            raw, parts = detector.raw_scores_and_contributions(frame)
            g = normaliser.transform(raw)
            normalised.append(g)
            shares.append(split_by_shares(g, parts))  # (T, C): the member's split of g
        g = np.column_stack(normalised)  # (T, M)
        stacked = np.stack(shares, axis=1)  # (T, M, C)
        g[: self.first_scored_row()] = np.nan  # not every member scores these rows yet
        scores = self._combined(g)
        if self.combine == "mean":
            present = ~np.isnan(stacked)
            count = np.maximum(present.sum(axis=1), 1)  # (T, C) members that score the row
            parts = np.where(present, stacked, 0.0).sum(axis=1) / count  # weights 1/M over those members
        else:
            largest = np.argmax(np.nan_to_num(g, nan=-np.inf), axis=1)
            parts = stacked[np.arange(len(g)), largest]
        return scores, np.where(np.isnan(scores)[:, None], np.nan, parts)

    def report(self) -> str:
        """What was combined, how, and the threshold, in one paragraph."""
        check_is_fitted(self, "members_")
        described = []
        for (label, detector), normaliser in zip(self.members_, self.normalisers_):
            scorer = getattr(detector, "scorer", None) or getattr(detector, "combine", "")
            forecaster = getattr(detector, "forecaster", None)
            model = f" of {forecaster!r}" if forecaster else ""
            fitted = getattr(detector, "forecaster_", None)  # its settings as fitted, presets included
            settings = [f"{name}={getattr(fitted, name)!r}" for name in ("cross_penalty", "cross_screen")
                        if getattr(fitted, name, None) is not None]  # fmt: skip
            if settings:
                model += f" ({', '.join(settings)})"
            if isinstance(getattr(detector, "module_", None), WindowCentred):
                model = " on centred windows"
            if getattr(detector, "lag_scale_", None) is not None:
                model += f", its lags cleaned (lag_clip={detector.lag_clip:g}, runs over {detector.lag_clip_run} let in)"
            if getattr(detector, "inflation_", None) is not None:
                model += ", its fitted rows' errors divided by 1 - df/n for the threshold"
            reduction = getattr(getattr(detector, "scorer_", None), "reduction", None)
            if reduction is not None:
                channels = "its largest channel" if reduction == "max" else "the channels' mean"
                scorer = f"{scorer} error, {channels}"
            described.append(
                f"{label} ({type(detector).__name__}{model}, {scorer}; tail beyond {normaliser.knee_:.4g}, "
                f"beta {normaliser.beta_:.4g})"
            )
        threshold = "no threshold" if self.threshold_ is None else f"threshold {self.threshold_:.3f}: {self._threshold_words()}"
        scored = int(np.isfinite(self.validation_scores_).sum())
        reference = (f"validation scores ({scored} held-out rows" if self.reference_ == "in_sample" else
                     f"cross-fitted scores ({scored} training rows, each scored by a fit on the other half of them")  # fmt: skip
        return (
            f"auto: the {self.combine} of {len(self.members_)} normalised scores, each -log10 P(S > s) under its own "
            f"{reference}; exponential tail over the top {self.tail_fraction:g}): " + "; ".join(described)
            + f"; {threshold}."
        )

    # ------------------------------------------------------------------ steps
    def _check_enough_held_out(self, reference: list[np.ndarray], rows: int, validation: Frame | None) -> None:
        """The members' validation scores, which the normalisers are fitted on, are at least MIN_NORMAL_SCORES, or a
        DataError says how many training rows would hold out that many."""
        fewest = min(int(np.isfinite(scores).sum()) for scores in reference)
        if fewest >= MIN_NORMAL_SCORES:
            return
        if validation is not None:
            raise DataError(
                f"auto: the validation frame gives {fewest} finite scores; its normalisers need at least "
                f"{MIN_NORMAL_SCORES}. Give it more rows."
            )
        needed = rows_holding_out(self.validation_fraction, MIN_NORMAL_SCORES)
        raise DataError(
            f"auto: validation_fraction={self.validation_fraction} of its {rows} training rows gives {fewest} "
            f"held-out scores; its normalisers need at least {MIN_NORMAL_SCORES}. Train on at least {needed} rows "
            f"(tsseq detect: --train-rows {needed}), or hold out a larger share (validation_fraction)."
        )

    def _build_members(self) -> list[tuple[str, object]]:
        specs = DEFAULT_MEMBERS if self.members is None else self.members
        if isinstance(specs, (str, Mapping)) or not len(specs):
            raise ConfigError(f"The 'members' parameter must be a non-empty list of detectors. Got {specs!r}.")
        built, labels = [], []
        for spec in specs:
            name, params = (spec, {}) if isinstance(spec, str) else (spec.get("name"), dict(spec.get("params") or {}))
            if name == "auto":
                raise ConfigError("auto cannot be a member of itself.")
            accepted = detector_parameters(name)
            if getattr(DETECTORS[name][0], "learns_online", False):
                raise ConfigError(f"auto: member {name!r} learns online; use windowed detectors (e.g. 'interval').")
            shared = {key: getattr(self, key) for key in _SHARED if key in accepted and key not in params}
            if shared.get("training") is None:
                shared.pop("training", None)
            detector = make_detector(name, **{**shared, **params, "threshold": None, "causal": self.causal})
            label = name if name not in labels else f"{name}#{labels.count(name) + 1}"
            labels.append(name)
            built.append((label, detector))
        return built

    def _normalised(self, frame: pd.DataFrame) -> np.ndarray:
        """Each member's normalised raw score ``(T, M)``."""
        check_is_fitted(self, "members_")
        return self._normalise([d.raw_scores(frame) for _, d in self.members_])

    def _normalise(self, raw: list[np.ndarray]) -> np.ndarray:
        """The members' raw scores ``(T,)`` each -> normalised ``(T, M)``."""
        normalised = np.column_stack([n.transform(scores) for n, scores in zip(self.normalisers_, raw)])
        normalised[: self.first_scored_row()] = np.nan  # not every member scores these rows yet
        return normalised

    def _combined(self, normalised: np.ndarray) -> np.ndarray:
        """``(T, M)`` -> ``(T,)``: mean or max over the members that score a row (NaN where none does)."""
        scored = ~np.isnan(normalised).all(axis=1)
        combined = np.full(len(normalised), np.nan)
        reduce = np.nanmean if self.combine == "mean" else np.nanmax
        combined[scored] = reduce(normalised[scored], axis=1)
        return combined

    @staticmethod
    def _refusing(members) -> list[str]:
        """The labels of the members that need every value (not ``masks_missing``)."""
        return [label for label, detector in members if not getattr(detector, "masks_missing", False)]

    def _check_missing(self, frame: pd.DataFrame, members, name: str) -> None:
        """Refuse missing values if a member needs every value, naming auto and those members."""
        refusing = self._refusing(members)
        if refusing:
            check_no_missing(frame, name, f"auto (its member(s) {', '.join(refusing)})")

    def _checked(self, y: Frame) -> pd.DataFrame:
        check_is_fitted(self, "members_")
        frame = self.members_[0][1]._frame(y, "y", check_missing=False)
        self._check_missing(frame, self.members_, "y")
        scores_from = self.first_scored_row()
        if len(frame) <= scores_from:
            raise DataError(f"auto: {len(frame)} rows are too few to score any; its members score from row {scores_from} on.")
        return frame

    def _threshold_words(self) -> str:
        if self.threshold == "quantile":
            q = (self.threshold_params or {}).get("q", 0.99)
            return f"the {q:g} quantile of the combined training scores (a false-alarm rate of {1 - q:.3g} of normal rows)"
        if self.threshold == "false_alarm":
            thresholder = self.thresholder_
            smoothed = "" if thresholder.smoothing == 1 else f", after a causal moving {thresholder.smoother} of {thresholder.smoothing} rows"
            tail = f"their {1 - thresholder.rate:g} quantile" if thresholder.tail == "quantile" else "a GPD tail"
            return (f"a false-alarm rate of {thresholder.rate:g} of the combined training scores "
                    f"({tail}{smoothed})")  # fmt: skip
        if self.threshold in ("transductive", "adaptive"):  # the batch split and its causal counterpart
            thresholder, causal = self.thresholder_, self.threshold == "adaptive"
            smoothed = "" if thresholder.smoothing == 1 else (
                f"a {'causal' if causal else 'centred'} moving {thresholder.smoother} of {thresholder.smoothing} "
                "rows, then ")  # fmt: skip
            split = (f"Otsu's split of the scored rows' combined scores seen so far (every {thresholder.refresh} "
                     f"rows, from the {thresholder.warmup}th)" if causal else
                     f"a split ({thresholder.method}) of the scored rows' combined scores")  # fmt: skip
            bound, unless = "never above", ""
            if not causal and not thresholder.lower_only:
                bound = "else"
            elif not causal and thresholder.raise_excess is not None:
                unless = (f" unless the scored rows between it and the split hold at most {thresholder.raise_excess:g} "
                          "times the training rows' share there")  # fmt: skip
            gate = "" if thresholder.gate is None else (
                f"; a row is flagged when its own combined score also passes {thresholder.gate_:.4g}, the "
                f"{thresholder.gate:g} quantile of the combined training scores")  # fmt: skip
            if thresholder.brief_gate is not None:
                gate += (f"; an event shorter than {thresholder.smoothing} rows{' so far' if causal else ''} is flagged "
                         f"only if one of its rows passes {thresholder.brief_gate_:.4g}, their {thresholder.brief_gate:g} "
                         "quantile")
            return (f"{smoothed}{split} where they hold a separate group of high ones, {bound} a false-alarm rate of "
                    f"{thresholder.rate:g} of the combined training scores{unless}{gate}")  # fmt: skip
        return f"{self.threshold} fitted on the combined training scores"


DETECTORS["auto"] = (AutoDetector, {})
