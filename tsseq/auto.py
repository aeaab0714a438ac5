"""``auto``: a forecaster chosen for the data by a validation backtest, never worse there than the baselines.

:class:`AutoForecaster` (registered as ``"auto"``) is what a user without a model in mind
fits. For a frame of ``S`` series and the horizon ``H`` it

1. **finds the season** ``m`` from the frequency (:func:`frequency_season`: hourly 24,
   daily 7, weekly 52, monthly 12, quarterly 4, yearly 1, ``n``-minute ``1440 / n``, ...)
   and keeps it when :func:`season_test` finds it in at least half of the series and
   channels; else ``m = 1``. ``m`` sets AR's lags and the networks' input; seasonal naive
   is a candidate at the frequency's season either way (the report says both);
2. **builds candidates**, cheapest first (:meth:`AutoForecaster.candidate_plan`): naive;
   seasonal naive at the frequency's season; AR with lags up to ``4 m`` (10 without a
   season); ``linear`` (:mod:`tsseq.linear`, closed form; only when ``candidates`` name it)
   over ``L = min(7 m, ...)`` rows; ``segrnn`` over the same ``L`` rows in segments of ``m``
   when the rows before the validation hold at least 1,000 training windows, ``patchtst`` at
   5,000; small networks (at most 10 epochs, early stopping after 2 without improvement, MAE
   loss);
3. **scores each on one validation backtest** at horizon ``H`` over the last rows, the same
   origins for all: one series, up to ``validation_origins`` (20) origins ``ceil(H / 2)`` rows
   apart, the last one ``H`` rows before the end, the candidate fitted once on the rows before
   the first and every origin forecast in one vectorised pass
   (:func:`tsseq.backtesting.historical_forecasts`, ``refit=False``); many series,
   ``validation_origins`` (1) origins per series ``H`` rows apart, each with a fit on the rows
   before it (a global network forecasts windows of one series only). The score is
   ``metric`` (MASE by default: the mean absolute error over the mean absolute lag-``m``
   change of the rows before the first origin) per series and channel, averaged over them;
4. **adds ensembles** of the best few (:mod:`tsseq.ensemble`: the mean of the best two, the
   median and the mean of the best three), scored from their members' validation forecasts;
5. **chooses** the best of naive, seasonal naive and AR, replaced by a network or an ensemble
   only when that scores lower by more than :data:`PARSIMONY` (1%) of it: a validation score
   is an estimate, and the simpler model is cheaper and cannot diverge later. So the choice
   is never worse on the validation backtest than the best baseline;
6. **refits** the choice on every row (``validation`` passed on: neural choices stop early on it);
7. **calibrates** the choice's quantiles on its validation errors (``calibrate=True``, below).

**Calibration** is split conformal prediction with studentised scores (locally weighted
conformal: Lei, G'Sell, Rinaldo, Tibshirani & Wasserman 2018, JASA, section 5.2;
Papadopoulos, Vovk & Gammerman 2011): a probabilistic candidate also gives its median and
central 68% interval on the validation origins, from the same fits; for the choice, each
error ``e = y - median`` is divided by ``s``, half that interval at its origin, step and
channel, and the ``e / s`` are kept per step, pooled over origins, series and channels. A
forecast's level ``tau`` is then ``median + s Q_tau``, ``s`` the refitted model's at that
step, ``Q_tau`` the ``ceil((n + 1) tau)``-th smallest of the step's ``n`` scores above the
median and the ``floor((n + 1) tau)``-th below it (each tail corrected on its own; ranks
beyond the scores take the extreme one; steps past the validation's horizon take its
last step's), taken only where it lies further from the median than the model's own
quantile. So quantiles never cross, the median stays the model's (the point forecast of
the baselines and their ensembles), and intervals are never narrower than the model's.
Sample paths are moved alike, each keeping its rank among the paths (ensemble copula
coupling), window forecasts (backtests without refit) alike; the short series' model,
scored nowhere, keeps its own. Without a probabilistic choice (a network on a point loss)
or with fewer than :data:`MIN_CALIBRATION_SCORES` (20) errors a step (one series: fewer
than 20 validation origins) the model's quantiles stand; ``calibration_`` and the report
say which. Why these choices, on the carry-over series (``pipelines/benchmarks/
carry_over.py``: 14 rolling-origin backtests and 18 hold-outs), M4 Hourly with the
baseline candidates and a trending daily series with a multiplicative weekly season:

* **widening only**: letting calibration narrow too, pooled over steps, took the rolling
  80% coverage from 0.726 to 0.674 and raised the interval score (width plus ten times
  the misses, in MASE scales, geometric mean) from 4.41 to 5.00: where the validation
  origins were calm (the Danish money series, 0.19 -> 0.04) narrowing failed the later
  rows, while widening when they were not costs width only;
* **per step, 20 errors at least**: pooling the steps widened every series, also the
  short ones whose validation fit, on half of few rows, errs more than the refit: rolling
  coverage 0.779 but interval score 4.79 (+8.7%), held-out coverage 0.707. Per step, the
  carry-over's coverage is 0.744 at an interval score of 4.40 (held-out 0.668), the
  trending series' 80% intervals cover 0.81 (step 1: 0.86) instead of 0.55 (0.29), and M4
  Hourly's 95% intervals 0.958 instead of 0.936 (MSIS 6.43, was 6.54; OWA unchanged).

**Short series in a panel** (fewer rows than the validation holds out plus 10 to fit on:
M4 Yearly's 13-row series at horizon 6, say, or a product launched last week) are left out
of the validation backtest when other series are long enough, with a UserWarning naming
them (``short_series_``). The candidates are scored and the choice refitted on the others,
so that a few new series never limit what the long ones may be forecast by. The short
series get a model of their own (``short_series_model_``, named by ``short_series_choice_``
and the report), fitted on them alone: the choice itself when it forecasts each series
alone (a baseline or an ensemble of baselines: the forecasts it would have given fitted on
every series), else the best-scored baseline, taking the next whenever one cannot be fitted
on all of them (seasonal naive on a series shorter than its season, AR on one row), and
naive, which fits a series of one row, at last. Nothing can be scored on them, so this is
the choice the long series' validation supports for them. Forecasts, quantiles and sample
paths come from both, each series' from its own model; window forecasts (backtests) from
the choice. With no series long enough, auto refuses the data, saying how many rows it needs.

**Covariates** (``past_covariates``, ``future_covariates``, ``static_covariates`` as for any
model) restrict the candidates to the models that take every kind given: with future
covariates only, AR becomes ARX (``ar`` fitted with them) and segrnn takes them, while
naive, seasonal naive (which take none) and patchtst (past and static only) are left out
(the leaderboard says why); with past or static covariates segrnn and patchtst (past and
static, not future) qualify among the candidates (no baseline takes them, so the
parsimony rule has nothing to compare with). The validation
backtest, the budget probe, the ensembles and the refit all read the covariates, each
forecast only up to its origin (past) and over its horizon (future); the report names the
kinds and the restriction.

A kind that no candidate asked for takes is refused (a ConfigError naming it: that is a
choice of ``candidates``). A kind that only candidates these data rule out take (segrnn
short of its 1,000 training windows and patchtst of its 5,000, say, on a short series with past or static
covariates) is **dropped** rather than leaving auto with nothing to score: the kinds
kept are those of the candidate the data allow that takes the most of the kinds given
(the cheapest on a tie; AR takes the future ones, so future covariates are always kept,
as ARX), the others are dropped with a UserWarning naming them and why, the candidates
are restricted to those taking every kind kept, and the report, the leaderboard (the
skipped candidates that took them) and ``dropped_covariates_`` say so. The same rule
applies when every candidate taking the kinds fails or exceeds the time budget while
being scored: the baselines are then scored with the kinds they take. Forecasts and
backtests of auto still take every kind given to ``fit`` and pass the chosen model those
it was fitted with.

``time_budget_s`` bounds the search: the baselines always run; before each network a
one-epoch probe on about 4,096 windows is timed and extrapolated to its windows and its
fits (validation and refit); a network trains for as many of its epochs as fit in the time
left (its label says so), and is skipped, saying so in the leaderboard, when fewer than 3
fit. With a budget, which networks run depends on the machine's speed;
``time_budget_s=None`` makes the choice reproducible anywhere.

An **isolated extreme value** in the rows given to ``fit`` (:func:`isolated_extremes`: more
than :data:`EXTREME` robust standard deviations from both neighbours and from the same
season's) gives a UserWarning naming it (series, column, timestamp, value) and how to
blank and interpolate it if it is an error: every candidate is fitted and scored on it.

**Missing values** are refused before anything is fitted (a DataError naming each column, its
count of missing values and the first one's timestamp): the baselines auto always scores and
falls back on take none. Fill them first (:func:`tsseq.data.checks.check_series` with
``missing="interpolate"`` or ``"ffill"``; ``--missing interpolate`` on the command line).

The **warnings of the candidates' fits** (an AR replacing an explosive fit, say) are issued
once each at the end of ``fit``, at the line that called it, prefixed with the fit that gave
them: ``auto: validation backtest of <candidate>:``, ``auto: time-budget probe of
<candidate>:`` or ``auto: final refit of <choice>:``; the report says when the final refit's
AR replaced explosive fits.

``chosen_``, ``leaderboard_`` and :meth:`AutoForecaster.report` say what was chosen and why;
``verbose`` prints the report line on stderr, and a fit inside an active MLflow run (a
tracked ``tsseq run``) sets its tags ``tsseq.auto.*`` and logs ``auto/leaderboard.json``.
Forecasts, quantiles, sample paths and window forecasts are the chosen model's, its quantiles
and paths calibrated as above. Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsseq import registry
from tsseq.base import Forecaster, SeriesLayout, check_positive_int, split_frame, store_arguments
from tsseq.baselines import seasonality_test
from tsseq.conformal import history_scale, signed_score_quantile
from tsseq.data.checks import check_series
from tsseq.data.covariates import KINDS, covariate_spec
from tsseq.data.timegrid import frequency_season
from tsseq.errors import ConfigError, DataError, closest_match, listed
from tsseq.parameters import check_is_fitted
from tsseq.quantiles import level_label, noncrossing
from tsseq.relay import FitWarnings

BASELINES = ("naive", "seasonal_naive", "ar")
NETWORKS = ("segrnn", "patchtst")
CANDIDATES = (*BASELINES, "linear", *NETWORKS, "ensemble")
# linear is asked for by name only: on the carry-over series (pipelines/benchmarks/carry_over.py) it helped the
# rolling-origin backtests (auto over the best baseline 0.984 -> 0.970) and hurt the single hold-outs (MASE
# geometric mean 1.058 -> 1.092), and left the choices on ETTh1 S, H=96 (patchtst, MSE 0.0565) and M4 Hourly
# (the mean of AR and segrnn, OWA 0.492) as they were: no case for changing the default.
DEFAULT_CANDIDATES = tuple(name for name in CANDIDATES if name != "linear")
METRICS = ("mase", "smape")
PARSIMONY = 0.01  # a network or an ensemble must beat the best baseline by more than this share of its score
MIN_FIT_ROWS = 10  # rows a candidate is fitted on before the first validation origin, at least
MIN_WINDOWS = {"segrnn": 1_000, "patchtst": 5_000}  # training windows a network needs to be a candidate
MAX_INPUT_LENGTH = 720  # the longest input the published long-horizon recipes use
MAX_SEGMENT = 48
PROBE_WINDOWS = 4_096  # windows of the one-epoch probe that times a network against the budget
MIN_BUDGET_EPOCHS = 3  # a network the budget allows fewer epochs than this is skipped
ORIGINS = {"one series": 20, "many series": 1}  # default validation origins per series
# Small, fast networks: the epochs are a ceiling, early stopping usually ends sooner.
NETWORK_TRAINING = {"epochs": 10, "early_stopping_patience": 2, "loss": "mae"}
LEADERBOARD_COLUMNS = ["candidate", "score", "fit_seconds", "skipped"]
# The season test's outlier bound: median +- 3 robust standard deviations (1.4826 MAD), the Hampel identifier's.
# Winsorising there moves 0.27% of Gaussian values, so a clean series' autocorrelations barely change, while a spike
# weighs no more than a 3-sigma value (one 5000 in a daily series of 50 +- 5 hid its weekly season).
WINSOR = 3.0
KPSS_5_PERCENT = 0.463  # the level-stationarity KPSS statistic's 5% critical value (Kwiatkowski et al. 1992, Table 1)
MAX_DIFFERENCES = 2  # as forecast::ndiffs' max.d
# Robust standard deviations of the series' changes an isolated value must stand from its neighbours to be named:
# a Gaussian change exceeds 10 with probability about 1e-23, so noise, however long the series, never warns, while
# a typing error (a 5000 among values of 50: about 1,200 robust sds) or a sensor glitch does.
EXTREME = 10.0
# Calibration (module docstring): the validation quantiles asked of a probabilistic candidate, its median and the
# central 68% interval, whose half-width (about one standard deviation of a Gaussian forecast) standardises its errors.
SPREAD_LEVELS = (0.16, 0.5, 0.84)
# Fewer validation errors a step than this leave the chosen model's quantiles as they are: with 20, the 80% interval's
# ends are the 2nd and 19th of them, a rank from the extremes; with fewer, one error decides an end. (Pooling the steps
# instead, on the carry-over series, widened the short ones' intervals from validation fits on half of few rows, whose
# errors overstate the refit's: interval score +8.7%; module docstring.)
MIN_CALIBRATION_SCORES = 20


@dataclass
class Candidate:
    """One candidate of the search: a registered model and its parameters, and how it fared."""

    label: str
    name: str
    params: dict
    score: float = math.nan
    fit_seconds: float | None = None
    skipped: str | None = None
    forecasts: np.ndarray | None = field(default=None, repr=False)  # (N, H, C) on the validation origins
    quantiles: np.ndarray | None = field(default=None, repr=False)  # (N, H, C, 3) at SPREAD_LEVELS, if it gives them

    @property
    def scored(self) -> bool:
        return self.skipped is None and math.isfinite(self.score)

    def config(self) -> dict:
        return {"name": self.name, "params": self.params, "label": self.label}

    def record(self) -> dict:
        return {"candidate": self.label, "score": self.score, "fit_seconds": self.fit_seconds, "skipped": self.skipped}


@dataclass(frozen=True)
class Validation:
    """The origins every candidate is scored on, and what scoring needs (module docstring, step 3)."""

    frame: pd.DataFrame  # validated, wide or long
    layout: SeriesLayout
    horizon: int
    offsets: tuple[int, ...]  # rows between each origin and its series' end, earliest origin first
    stride: int
    fit_rows: tuple[int, ...]  # rows before the first origin, per series
    truth: np.ndarray  # (N, H, C), origin-major then series (one series: origin by origin)
    series_of: np.ndarray  # (N,) the series position of each forecast
    scales: np.ndarray  # (S, C) MASE's scale of the rows before the first origin
    covariates: dict = field(default_factory=dict)  # the covariate frames given to fit, by fit's keyword

    @property
    def kinds(self) -> tuple[str, ...]:
        """The covariate kinds given, in the order of KINDS."""
        return tuple(kind for kind in KINDS if f"{kind}_covariates" in self.covariates)

    @property
    def one_series(self) -> bool:
        return self.layout.series_ids is None

    def windows(self, input_length: int) -> int:
        """Training windows of ``input_length`` + H rows before the first origin, over all series."""
        return sum(max(0, rows - input_length - self.horizon + 1) for rows in self.fit_rows)


@registry.register("auto")
class AutoForecaster(Forecaster):
    """A forecaster chosen by a validation backtest among baselines, small networks and their ensembles.

    See the module docstring for how it chooses.

    Parameters
    ----------
    horizon : int
        The steps the candidates are scored on (required; a protocol passes its own).
    input_length : int, optional
        The rows of context that window forecasts (``predict_windows``, the ETT protocol)
        give: the networks read that many, AR at most that many lags. None: chosen from
        the data (``7 m``, capped by the series' length and 720).
    season_length : int, optional
        ``m``; None: from the frequency, confirmed by the seasonality test.
    candidates : sequence of str, optional
        Names among ``naive``, ``seasonal_naive``, ``ar``, ``linear``, ``segrnn``,
        ``patchtst``, ``ensemble``; the first three are always scored. None: every one the
        data allow but ``linear`` (:data:`DEFAULT_CANDIDATES`).
    time_budget_s : float, optional
        Seconds the search may take (module docstring; default 10 minutes); None: no bound.
    validation_origins : int, optional
        Origins per series of the validation backtest; None: up to 20 for one series, 1 for many.
    metric : {"mase", "smape"}
        The validation score, per series and channel, then averaged (lower is better).
    training : dict, optional
        Training settings of the networks over auto's recipe, e.g. ``{"threads": 1}`` or
        ``{"loss": "quantile"}`` (probabilistic networks: every candidate then gives quantiles).
    seed : int
        The networks' ``training.seed``.
    verbose : bool
        Print the report line on stderr after ``fit``.
    calibrate : bool
        Widen the chosen model's quantiles, intervals and sample paths to its validation
        errors (split conformal, studentised; module docstring). False: the model's own.

    Attributes
    ----------
    chosen_ : dict
        ``{"name", "params", "label"}`` of the chosen model (``tsseq.create(name, **params)``).
    chosen_model_ : Forecaster
        The chosen model, refitted on every row.
    leaderboard_ : DataFrame
        ``candidate``, ``score`` (validation ``metric``), ``fit_seconds`` (validation fit and
        forecasts), ``skipped`` (why a candidate was not scored); best first.
    season_length_, horizon_, validation_origins_ : int
    input_length_ : int or None
        The rows of a window the chosen model reads (None: its whole history).
    validation_score_, baseline_score_ : float
        The chosen model's score and the best baseline's.
    search_seconds_ : float
        The search and the refit, end to end.
    dropped_covariates_ : dict
        ``{kind: why}`` of the covariate kinds given to ``fit`` that no candidate these
        data allow takes, left out of the search and of the chosen model (module docstring).
    short_series_ : tuple
        The ids of a panel's series too short for the validation backtest (module docstring).
    calibration_ : dict
        ``{"applied": True, "scores_per_step", "steps"}`` (the validation errors a step and
        the steps calibrated), or ``{"applied": False, "why"}``.
    calibration_scores_ : (H, n) float or None
        The standardised validation errors ``(y - median) / s`` of each step, sorted, NaN last.
    """

    def __init__(
        self,
        *,
        horizon: int | None = None,
        input_length: int | None = None,
        season_length: int | None = None,
        candidates: Sequence[str] | None = None,
        time_budget_s: float | None = 600.0,
        validation_origins: int | None = None,
        metric: str = "mase",
        training: dict | None = None,
        seed: int = 0,
        verbose: bool = True,
        calibrate: bool = True,
    ) -> None:
        store_arguments(self, locals())

    # ------------------------------------------------------------------ parameters
    def check_params(self) -> None:
        self._check_params()
        if self.training is not None:  # the settings its networks train with
            from tsseq.config import from_mapping
            from tsseq.engine.config import TrainingConfig

            from_mapping(TrainingConfig, self._network_training(), where="training")

    def _check_params(self) -> int:
        """Validate the parameters; return the horizon."""
        if self.horizon is None:
            raise ConfigError(
                "The 'horizon' parameter must be an int >= 1: auto scores its candidates on forecasts of that many "
                "steps, e.g. tsseq.create('auto', horizon=24). Got None instead."
            )
        horizon = check_positive_int(self.horizon, "horizon")
        for name in ("input_length", "season_length", "validation_origins"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        check_positive_int(self.seed, "seed", minimum=0)
        if self.metric not in METRICS:
            raise ConfigError(
                f"The 'metric' parameter must be one of {', '.join(METRICS)}. Got {self.metric!r} instead."
                f"{closest_match(str(self.metric), METRICS)}"
            )
        budget = self.time_budget_s
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
            raise ConfigError(f"The 'time_budget_s' parameter must be a number > 0 or None. Got {budget!r} instead.")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"The 'calibrate' parameter must be True or False. Got {self.calibrate!r} instead.")
        if self.training is not None and not isinstance(self.training, Mapping):
            raise ConfigError(f"The 'training' parameter must be a mapping of training settings. Got {self.training!r}.")
        self._candidate_names()
        return horizon

    def _candidate_names(self) -> tuple[str, ...]:
        """The candidate kinds asked for, baselines always included, in CANDIDATES' order."""
        if self.candidates is None:
            return DEFAULT_CANDIDATES
        if isinstance(self.candidates, str) or not isinstance(self.candidates, Sequence):
            raise ConfigError(f"The 'candidates' parameter must be a list of names. Got {self.candidates!r} instead.")
        for name in self.candidates:
            if name not in CANDIDATES:
                raise ConfigError(
                    f"Unknown candidate {name!r} in the 'candidates' parameter.{closest_match(str(name), CANDIDATES)} "
                    f"Known: {', '.join(CANDIDATES)}."
                )
        return tuple(name for name in CANDIDATES if name in BASELINES or name in self.candidates)

    def _network_training(self) -> dict:
        return {**NETWORK_TRAINING, "seed": self.seed, **dict(self.training or {})}

    # ------------------------------------------------------------------ fit
    @property
    def supported_covariates(self) -> frozenset[str]:
        """The kinds some candidate asked for takes (fit then keeps the candidates that take every kind given)."""
        return frozenset(kind for supported in self._candidate_kinds().values() for kind in supported)

    def _candidate_kinds(self) -> dict[str, frozenset[str]]:
        """The covariate kinds each candidate asked for takes (the ensembles take what their members take)."""
        return {name: registry.create(name).supported_covariates for name in self._candidate_names() if name != "ensemble"}

    def _covariates_note(self) -> str:
        return f"{self._takes()}. Add 'segrnn' (past, future and static) or 'patchtst' (past and static) to candidates, or name a model that takes them."

    def _takes(self) -> str:
        return "; ".join(f"{name} takes {', '.join(k for k in KINDS if k in supported) or 'none'}"
                         for name, supported in self._candidate_kinds().items())

    def _covariate_candidates(self, kinds: Sequence[str]) -> list[str]:
        """The candidate kinds asked for that take every covariate kind in ``kinds``; a ConfigError when none does."""
        self._check_kinds(kinds)
        able = [name for name, supported in self._candidate_kinds().items() if set(kinds) <= supported]
        if kinds and not able:
            raise ConfigError(f"auto has no candidate that takes {' and '.join(kinds)} covariates together ({self._takes()}).")
        return able

    def fit(
        self,
        y: pd.DataFrame | pd.Series,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: pd.DataFrame | pd.Series | None = None,
    ) -> "AutoForecaster":
        """Score the candidates on the last rows of ``y``, choose, and refit the choice on every row.

        Covariates restrict the candidates to the models that take every kind given
        (module docstring); a ConfigError when no candidate asked for takes them. A kind
        that only candidates these data rule out take is dropped, with a UserWarning naming
        it and why (``dropped_covariates_``, the report and the leaderboard say so too).
        """
        horizon = self._check_params()
        started = time.perf_counter()
        frame = check_series(y.to_frame() if isinstance(y, pd.Series) else y, missing="mask")
        _refuse_missing(frame)  # before any candidate trains: the baselines it always scores would fail on them
        series, layout = split_frame(frame)
        frames = (past_covariates, future_covariates, static_covariates)
        spec = None if all(part is None for part in frames) else covariate_spec(*frames, target_columns=layout.columns)
        if spec is not None:  # nothing to check without them (asking a network what it takes imports torch)
            self._covariate_candidates(spec.kinds)
        frequency_m = self.season_length or frequency_season(layout.freq)
        self._warn_isolated_extremes(frame, series, layout, frequency_m)
        season, season_note = self._season(series, layout.freq, frequency_m)
        covariates = {f"{kind}_covariates": part for kind, part in zip(KINDS, frames) if part is not None}
        short = self._too_short_to_validate(series, layout, horizon)
        if short:
            kept = [series_id for position, series_id in enumerate(layout.series_ids) if position not in short]
            validated = _only_series(frame, kept)
            plan = self._validation(validated, *split_frame(validated), horizon, season)
            plan = dataclasses.replace(plan, covariates={key: _only_series(part, kept) for key, part in covariates.items()})
        else:
            plan = dataclasses.replace(self._validation(frame, series, layout, horizon, season), covariates=covariates)
        self.short_series_ = tuple(layout.series_ids[position] for position in short)
        if short:
            self._warn_short_series(len(series), horizon)
        candidates = self._data_candidates(plan, season, frequency_m)
        plan, dropped = self._drop_unusable_kinds(plan, candidates, {})
        relay = FitWarnings("auto")
        try:
            for candidate in candidates:
                self._score(candidate, plan, self._seconds_left(candidates, started), relay)
            if plan.kinds and not any(candidate.scored for candidate in candidates):
                # Every candidate taking the kinds failed or ran out of budget: score the baselines (always run)
                # afresh, with the kinds they take, by the same rule as above.
                baselines = [c for c in self._data_candidates(plan, season, frequency_m) if c.name in BASELINES]
                candidates = baselines + [c for c in candidates if c.name not in BASELINES]
                plan, dropped = self._drop_unusable_kinds(plan, candidates, dropped)
                for candidate in baselines:
                    self._score(candidate, plan, self._seconds_left(candidates, started), relay)
            candidates += self._ensembles(candidates, plan)
            # The choice is refitted on the validated series (every one, unless some are short), the short ones get
            # their own model; each with the covariates of the kinds kept.
            if short and validation is not None:
                validation = _only_series(validation, kept)
            chosen, best_baseline, model = self._refit_choice(candidates, plan.frame, validation, plan.covariates, relay)
            every_series = {key: covariates[key] for key in plan.covariates}
            fallback, self.short_series_model_ = (
                self._fit_short_series(chosen, candidates, frame, every_series, relay) if short else (None, None))
        finally:  # also when the search fails: a candidate's warning may say why
            relay.issue()
        candidates.sort(key=lambda c: (not c.scored, c.score if c.scored else 0.0))
        self.chosen_, self.chosen_model_ = chosen.config(), model
        self.short_series_choice_ = None if fallback is None else fallback.label
        self.leaderboard_records_ = [candidate.record() for candidate in candidates]
        self.season_length_, self.horizon_, self.validation_origins_ = season, horizon, len(plan.offsets)
        self.input_length_ = self._window_length(model)
        self.covariate_spec_ = spec  # every kind given: forecasts and backtests take them, the chosen model reads its own
        self.dropped_covariates_ = dropped
        self.validation_score_ = chosen.score
        self.baseline_score_ = math.nan if best_baseline is None else best_baseline.score
        self.calibration_, self.calibration_scores_ = self._calibration(chosen, plan)
        self.search_seconds_ = time.perf_counter() - started
        self.layout_, self.n_channels_ = layout, layout.n_channels
        self.report_ = self._summary(chosen, best_baseline, plan, season_note, _replaced_note(model))
        if self.verbose:
            print(self.report_, file=sys.stderr)
        self._log_to_active_run()
        return self

    def _season(self, series: list[np.ndarray], freq: str, frequency_m: int) -> tuple[int, str]:
        """``m`` and how it was found: given, or the frequency's confirmed by :func:`season_test`."""
        if self.season_length is not None:
            return self.season_length, f"season {self.season_length} (given)"
        if frequency_m < 2:
            return 1, f"no season (frequency {freq})"
        tests = [season_test(values[:, c][np.isfinite(values[:, c])], frequency_m)
                 for values in series for c in range(values.shape[1])]
        passed = sum(tests)
        note = f"seasonality test {passed}/{len(tests)}"
        if 2 * passed >= len(tests):
            return frequency_m, f"season {frequency_m} (frequency {freq}; {note})"
        # Seasonal naive is scored at the frequency's season regardless: said here, so that choosing it reads as no
        # contradiction of the test.
        return 1, (f"no season for AR and the networks (frequency {freq} suggests {frequency_m}; {note}; "
                   f"seasonal_naive(m={frequency_m}) is a candidate all the same)")

    def _warn_isolated_extremes(self, frame: pd.DataFrame, series: list[np.ndarray], layout: SeriesLayout,
                                season: int) -> None:
        """A UserWarning naming the isolated extreme values of the rows given to fit (:func:`isolated_extremes`)."""
        found = [(position, channel, row, distance)
                 for position, values in enumerate(series) for channel in range(values.shape[1])
                 for row, distance in isolated_extremes(values[:, channel], season)]
        if not found:
            return
        named = []
        for position, channel, row, distance in found[:5]:
            series_id = None if layout.series_ids is None else layout.series_ids[position]
            index = frame.index if series_id is None else frame.loc[series_id].index
            where = "" if series_id is None else f"series {series_id!r}, "
            named.append(f"{where}column {layout.columns[channel]!r} at {index[row]}: {series[position][row, channel]:.6g} "
                         f"({distance:,.0f} robust standard deviations of its changes from both neighbours)")
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        warnings.warn(
            f"auto: {len(found)} isolated extreme value(s) in the rows to fit: {'; '.join(named)}{more}. Every candidate "
            "is fitted and scored on them. If one is an error, blank it (an empty cell) and fill it by interpolation: "
            "tsseq.data.checks.check_series(frame, missing='interpolate') before fit (tsseq: --missing interpolate).",
            UserWarning, stacklevel=3,
        )

    def _too_short_to_validate(self, series: list[np.ndarray], layout: SeriesLayout, horizon: int) -> list[int]:
        """Positions of the series of a panel too short for the validation's origins, when some are long enough.

        Those are left out of the validation backtest and forecast by a model that takes a
        series of any length (:meth:`_restrict_for_short_series`); with no series long enough,
        :meth:`_validation` says what is needed.
        """
        if layout.series_ids is None:
            return []
        needed = self._rows_to_validate(horizon)
        short = [position for position, values in enumerate(series) if len(values) < needed]
        return [] if len(short) == len(series) else short

    def _rows_to_validate(self, horizon: int) -> int:
        """Rows a series of a panel needs for its validation origins (``horizon`` apart) and the fit before them."""
        return MIN_FIT_ROWS + horizon * (self.validation_origins or ORIGINS["many series"])

    def _warn_short_series(self, n_series: int, horizon: int) -> None:
        """A UserWarning naming the series too short to validate and what forecasts them."""
        needed, short = self._rows_to_validate(horizon), self.short_series_
        named = ", ".join(repr(series_id) for series_id in short[:5]) + (" ..." if len(short) > 5 else "")
        warnings.warn(
            f"auto: {len(short)} of {n_series} series have fewer than {needed} rows, the validation's {needed - MIN_FIT_ROWS} "
            f"held-out rows and {MIN_FIT_ROWS} to fit on: {named}. The candidates are scored and the choice fitted on the "
            f"other {n_series - len(short)} series; the short ones are forecast by the choice if it forecasts each series "
            "alone (a baseline or their ensemble), else by the best-scored baseline that can be fitted on them (naive "
            "when none can; the report names it).",
            UserWarning, stacklevel=3,
        )  # fmt: skip

    def _fit_short_series(self, chosen: Candidate, candidates: list[Candidate], frame: pd.DataFrame, covariates: dict,
                          relay: FitWarnings) -> tuple[Candidate, Forecaster]:
        """(the model for the series too short to validate, fitted on them alone): the first that fits them all of the
        choice (when it forecasts each series alone, so that it forecasts them as it would have on every series), the
        scored baselines from the best, and naive, which fits any series. The scored candidates take the covariates
        of the kinds kept, with which they were scored; naive takes none."""
        short = self.short_series_
        options = [chosen] if _forecasts_each_series_alone(chosen) else []
        options += sorted((c for c in candidates if c.name in BASELINES and c.scored and c is not chosen),
                          key=lambda c: c.score)
        frame = _only_series(frame, short)
        for option in options:
            model = registry.create(option.name, **option.params)
            try:
                with relay.of(f"fit of {option.label} on the short series"):
                    model.fit(frame, **{key: _only_series(part, short) for key, part in covariates.items()})
            except DataError:  # too short for it (seasonal naive under its season, AR on one row): the next
                continue
            return option, model
        return Candidate("naive", "naive", {}), registry.create("naive").fit(frame)

    def _validation(self, frame: pd.DataFrame, series: list[np.ndarray], layout: SeriesLayout, horizon: int,
                    season: int) -> Validation:
        """The origins of the validation backtest (module docstring, step 3), or a DataError naming the rows needed."""
        lengths = [len(values) for values in series]
        one = layout.series_ids is None
        stride = math.ceil(horizon / 2) if one else horizon
        asked = self.validation_origins
        shortest = int(np.argmin(lengths))
        length = lengths[shortest]
        fit = max(MIN_FIT_ROWS, length // 2) if one and asked is None else MIN_FIT_ROWS  # by default, half the rows to fit
        possible = (length - horizon - fit) // stride + 1 if length - horizon >= fit else 0
        count = asked or min(ORIGINS["one series" if one else "many series"], max(possible, 1))
        needed = MIN_FIT_ROWS + horizon + (count - 1) * stride
        if length < needed:
            where = "The data have" if one else f"Series {layout.series_ids[shortest]!r} has"
            origins = f"{count} validation origins {stride} rows apart hold" if count > 1 else "the validation holds"
            raise DataError(
                f"auto needs at least {needed} rows per series for horizon={horizon}: {origins} out the last "
                f"{needed - MIN_FIT_ROWS} rows to score the candidates on, and at least {MIN_FIT_ROWS} rows before "
                f"them to fit on. {where} {length} rows. {_short_data_advice(count, horizon, stride, length)}"
            )
        offsets = tuple(horizon + k * stride for k in reversed(range(count)))  # earliest origin first
        truth, series_of = [], []
        for offset in offsets:
            for position, values in enumerate(series):
                start = len(values) - offset
                truth.append(values[start : start + horizon])
                series_of.append(position)
        fit_rows = tuple(n - offsets[0] for n in lengths)
        scales = np.stack([history_scale(values[: len(values) - offsets[0]], "naive", season if rows > season else 1)
                           for values, rows in zip(series, fit_rows)])
        return Validation(frame, layout, horizon, offsets, stride, fit_rows, np.stack(truth), np.array(series_of), scales)

    def candidate_plan(self, plan: Validation, season: int, frequency_m: int) -> list[Candidate]:
        """The candidates for these data, cheapest first; those the data rule out come marked ``skipped``.

        With covariates, restricted to the models that take every kind kept (the kinds some
        candidate the data allow takes; module docstring).
        """
        candidates = self._data_candidates(plan, season, frequency_m)
        self._drop_unusable_kinds(plan, candidates, {}, warn=False)
        return candidates

    def _data_candidates(self, plan: Validation, season: int, frequency_m: int) -> list[Candidate]:
        """The candidates asked for, cheapest first, those the data rule out marked ``skipped``; no covariate restriction."""
        names, horizon, context = self._candidate_names(), plan.horizon, self.input_length
        shortest = min(plan.fit_rows)
        cap = context or shortest
        candidates = [Candidate("naive", "naive", {})]
        snaive = Candidate(f"seasonal_naive(m={frequency_m})", "seasonal_naive", {"season_length": frequency_m})
        if frequency_m < 2:
            snaive.skipped = "season 1: the same forecasts as naive"
        elif frequency_m > cap:
            snaive.skipped = f"season {frequency_m} is longer than the {cap} rows of context"
        candidates.append(snaive)
        max_order = min(4 * season if season > 1 else 10, cap)
        candidates.append(Candidate(f"ar(max_order={max_order})", "ar", {"max_order": max_order}))
        length, why_not = self._windowed_input_length(plan, season)
        if "linear" in names:
            candidates.append(Candidate("linear", "linear", {}, skipped=why_not) if length is None else
                              Candidate(f"linear(L={length})", "linear", {"input_length": length, "horizon": horizon}))
        for name in NETWORKS:
            if name not in names:
                continue
            if length is None:
                candidates.append(Candidate(name, name, {}, skipped=why_not))
                continue
            params = {"input_length": length, "horizon": horizon, "training": self._network_training()}
            if name == "segrnn":
                segment = _segment_length(length, season)
                params.update(hidden_size=64 if plan.one_series else 128, segment_length=segment,
                              training={"batch_size": 64 if plan.one_series else 256,
                                        "learning_rate": 0.003 if plan.one_series else 0.002, **params["training"]})
                label = f"segrnn(L={length}, segments of {segment})"
            else:
                patch = min(16, max(2, length // 4))
                params.update(patch_length=patch, stride=max(1, patch // 2),
                              training={"batch_size": 128, "learning_rate": 0.001, **params["training"]})
                label = f"patchtst(L={length}, patches of {patch})"
            candidate = Candidate(label, name, params)
            windows = plan.windows(length)
            if windows < MIN_WINDOWS[name]:
                candidate.skipped = f"{windows:,} training windows before the validation, fewer than {MIN_WINDOWS[name]:,}"
            candidates.append(candidate)
        return candidates

    def _drop_unusable_kinds(self, plan: Validation, candidates: list[Candidate], dropped: dict, warn: bool = True
                             ) -> tuple[Validation, dict]:
        """(``plan`` with only the covariate kinds kept, ``{kind: why}`` of those dropped, with ``dropped`` before).

        The kinds kept are those taken by the candidate still in the running (not skipped)
        that takes the most of the kinds given, the cheapest on a tie: so at least that
        candidate is scored, where requiring every kind would leave none (module docstring).
        The candidates that took a dropped kind say so in their ``skipped``; the others are
        restricted to the kinds kept (:meth:`_restricted`), in place.
        """
        if not plan.kinds:  # nothing to keep or drop; asking the candidates what they take would import torch
            return plan, dropped
        takes = self._candidate_kinds()
        running = [c for c in candidates if c.skipped is None]
        taken = [tuple(kind for kind in plan.kinds if kind in takes[c.name]) for c in running]
        kept = max(taken, key=len, default=())
        lost = [kind for kind in plan.kinds if kind not in kept]
        if lost:
            takers = [c for c in candidates if set(lost) & takes[c.name]]
            why = "no candidate that takes them can be scored on these data (" + "; ".join(
                f"{c.label}: {c.skipped}" for c in takers) + ")"
            dropped = {**dropped, **{kind: why for kind in lost}}
            for candidate in takers:
                candidate.skipped = f"{candidate.skipped}; the {' and '.join(lost)} covariates it takes are dropped"
            if warn:
                alone = f"the {' and '.join(kept)} covariates" if kept else "the values alone"
                warnings.warn(
                    f"auto: {' and '.join(lost)} covariates dropped: {why}; the candidates are scored and the choice "
                    f"fitted with {alone}.", UserWarning, stacklevel=3,
                )
            plan = dataclasses.replace(plan, covariates={
                argument: frame for argument, frame in plan.covariates.items() if argument.partition("_")[0] in kept
            })
        self._restricted(candidates, plan.kinds)
        return plan, dropped

    def _restricted(self, candidates: list[Candidate], kinds: tuple[str, ...]) -> list[Candidate]:
        """With covariates: AR labelled ARX, and the candidates that do not take every kind given skipped, saying so."""
        if not kinds:
            return candidates
        able = self._covariate_candidates(kinds)
        for candidate in candidates:
            if candidate.name == "ar" and "future" in kinds:
                candidate.label = "arx" + candidate.label[2:]  # AR with the future covariates as regressors
            if candidate.name not in able and candidate.skipped is None:
                supported = registry.create(candidate.name).supported_covariates
                refused = [kind for kind in kinds if kind not in supported]
                candidate.skipped = f"takes no {' or '.join(refused)} covariates"
        return candidates

    def _windowed_input_length(self, plan: Validation, season: int) -> tuple[int | None, str]:
        """(``L`` of linear and the networks, "") or (None, why there is none): ``7 m`` rows, capped by the data."""
        room = (min(plan.fit_rows) - plan.horizon) // 2  # rows of input that leave as many for windows
        if self.input_length is not None:
            if self.input_length > min(plan.fit_rows) - plan.horizon:
                return None, f"input_length={self.input_length} + horizon exceeds the rows before the validation"
            return self.input_length, ""
        unit = season if season > 1 else 8
        wanted = min(7 * season if season > 1 else 4 * plan.horizon, MAX_INPUT_LENGTH, room)
        length = wanted // unit * unit
        if length < unit:
            return None, f"too few rows before the validation for an input of {unit} rows"
        return length, ""

    # ------------------------------------------------------------------ scoring
    def _score(self, candidate: Candidate, plan: Validation, left: float, relay: FitWarnings) -> None:
        """Forecast the validation origins with ``candidate`` and score it (or say why it is skipped).

        ``left``: the seconds of the budget left for it (inf without a budget); ``relay`` keeps
        the warnings of its fits.
        """
        if candidate.skipped is not None:
            return
        if candidate.name in NETWORKS and self.time_budget_s is not None:
            with relay.of(f"time-budget probe of {candidate.label}"):
                candidate.skipped = self._over_budget(candidate, plan, left)
            if candidate.skipped is not None:
                return
        begin = time.perf_counter()
        try:
            with relay.of(f"validation backtest of {candidate.label}"):
                forecasts, quantiles = self._validation_forecasts(candidate, plan)
        except Exception as error:  # noqa: BLE001 - a failing candidate is reported, the others still compete
            candidate.skipped = f"failed: {type(error).__name__}: {error}"
            return
        finally:
            candidate.fit_seconds = time.perf_counter() - begin
        if not np.isfinite(forecasts).all():
            candidate.skipped = "failed: non-finite validation forecasts"
            return
        candidate.forecasts, candidate.score = forecasts, self._metric(forecasts, plan)
        candidate.quantiles = quantiles if quantiles is not None and np.isfinite(quantiles).all() else None

    def _seconds_left(self, candidates: list[Candidate], started: float) -> float:
        """The budget left, less the refits of the networks already scored (one may be chosen, or both in an ensemble)."""
        if self.time_budget_s is None:
            return math.inf
        refits = sum(c.fit_seconds for c in candidates if c.name in NETWORKS and c.scored)
        return self.time_budget_s - (time.perf_counter() - started) - refits

    def _validation_forecasts(self, candidate: Candidate, plan: Validation) -> tuple[np.ndarray, np.ndarray | None]:
        """The candidate's forecasts ``(N, H, C)`` of every validation origin (module docstring, step 3), and its
        quantiles ``(N, H, C, 3)`` at :data:`SPREAD_LEVELS` from the same fits when it gives them (else None)."""
        model = registry.create(candidate.name, **candidate.params)
        if model.probabilistic:
            try:
                return self._origin_forecasts(model, candidate, plan, np.array(SPREAD_LEVELS))
            except (DataError, ConfigError):  # an interval may need more rows than a point (seasonal naive: m + 1)
                pass
        return self._origin_forecasts(model, candidate, plan, None)[0], None

    def _origin_forecasts(self, model: Forecaster, candidate: Candidate, plan: Validation, levels: np.ndarray | None
                          ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(forecasts (N, H, C), quantiles (N, H, C, Q) at levels or None)`` of the validation origins."""
        from tsseq.backtesting import historical_forecasts
        from tsseq.parameters import clone

        horizon, columns = plan.horizon, list(plan.layout.columns)
        named = columns if levels is None else [f"{c}{suffix}" for c in columns
                                                for suffix in ("", *(f"_q{level_label(x)}" for x in levels))]
        width = 1 if levels is None else 1 + len(levels)
        if plan.one_series:
            context = None if "input_length" in candidate.params else self.input_length  # linear and the networks: their own
            first = len(plan.frame) - plan.offsets[0]
            forecasts = historical_forecasts(model, plan.frame, start=first, horizon=horizon, stride=plan.stride,
                                             input_length=context, quantiles=levels, **plan.covariates)
            values = forecasts[named].to_numpy(dtype=np.float64).reshape(len(plan.offsets), horizon, -1, width)
        else:
            parts = []
            future = {"future_covariates": plan.covariates["future_covariates"]} if "future" in plan.kinds else {}
            layout = plan.layout if levels is None else dataclasses.replace(plan.layout, columns=tuple(named))
            for offset in plan.offsets:
                fitted = clone(model).fit(_drop_last(plan.frame, offset), **plan.covariates)
                parts.append(np.stack(_series_arrays(fitted.predict(horizon, quantiles=levels, **future), layout)))
            values = np.concatenate(parts).reshape(-1, horizon, len(columns), width)  # (S per origin, H, C, 1 + Q)
        return values[..., 0], None if levels is None else values[..., 1:]

    def _metric(self, forecasts: np.ndarray, plan: Validation) -> float:
        """``metric`` per (series, channel) over its origins and steps, averaged over them; NaN truths left out."""
        error = forecasts - plan.truth
        observed = np.isfinite(plan.truth)
        scale = plan.scales[plan.series_of][:, None, :]  # (N, 1, C)
        if self.metric == "smape":
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.nan_to_num(200 * np.abs(error) / (np.abs(forecasts) + np.abs(plan.truth)))  # 0 / 0: 0
        else:
            values = np.abs(error) / scale
        sums = np.zeros(plan.scales.shape)
        counts = np.zeros(plan.scales.shape)
        np.add.at(sums, plan.series_of, np.where(observed, values, 0.0).sum(axis=1))
        np.add.at(counts, plan.series_of, observed.sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.nanmean(sums / counts))  # a (series, channel) with no observed truth is left out

    def _over_budget(self, candidate: Candidate, plan: Validation, left: float) -> str | None:
        """Why ``candidate`` does not fit in the ``left`` seconds (None if it does), from a timed one-epoch probe."""
        if left <= 0:
            return f"time budget: nothing left of {self.time_budget_s:g} s"
        length, training = candidate.params["input_length"], candidate.params["training"]
        probe_frame, probe_windows = _probe_frame(plan, length)
        probe = registry.create(candidate.name, **{
            **candidate.params, "training": {**training, "epochs": 1, "early_stopping_patience": None},
        })
        begin = time.perf_counter()
        try:
            probe.fit(probe_frame, **plan.covariates)
        except Exception as error:  # noqa: BLE001 - reported as the candidate's failure
            return f"failed: {type(error).__name__}: {error}"
        left -= time.perf_counter() - begin
        epoch = probe.history_.epoch_time_s[0]  # the engine's own timing: no import, build or windowing
        fits = len(plan.offsets) + 1 if not plan.one_series else 2  # validation fit(s) and the refit
        windows = plan.windows(length)
        per_epoch = epoch / max(probe_windows, 1) * windows * fits  # seconds of one epoch of every fit
        epochs = min(training["epochs"], int(left // per_epoch))
        if epochs == training["epochs"]:
            return None
        probe_note = (f"a 1-epoch probe on {probe_windows:,} windows took {epoch:.2f} s, extrapolated to {windows:,} "
                      f"windows x {fits} fits: {per_epoch:.0f} s an epoch")
        if epochs >= MIN_BUDGET_EPOCHS:  # fewer epochs than the recipe's, said in the label
            candidate.params = {**candidate.params, "training": {**training, "epochs": epochs}}
            candidate.label = f"{candidate.label[:-1]}, {epochs} of {training['epochs']} epochs for the time budget)"
            return None
        need = MIN_BUDGET_EPOCHS * per_epoch
        return f"time budget: {MIN_BUDGET_EPOCHS} epochs need {need:.0f} s > {max(left, 0):.0f} s left ({probe_note})"

    def _ensembles(self, candidates: list[Candidate], plan: Validation) -> list[Candidate]:
        """Mean of the best two, median and mean of the best three, scored from their members' forecasts."""
        if "ensemble" not in self._candidate_names():
            return []
        ranked = sorted((c for c in candidates if c.scored), key=lambda c: c.score)
        ensembles = []
        for count, combine in ((2, "mean"), (3, "median"), (3, "mean")):
            if len(ranked) < count:
                continue
            members = ranked[:count]
            stacked = np.stack([member.forecasts for member in members])
            forecasts = np.median(stacked, axis=0) if combine == "median" else stacked.mean(axis=0)
            params = {"members": [member.config() for member in members], "combine": combine, "horizon": plan.horizon}
            label = f"ensemble({combine}: {', '.join(member.label for member in members)})"
            seconds = sum(member.fit_seconds or 0.0 for member in members)
            ensemble = Candidate(label, "ensemble", params, fit_seconds=seconds)
            ensemble.forecasts, ensemble.score = forecasts, self._metric(forecasts, plan)
            if all(member.quantiles is not None for member in members):  # the ensemble's quantiles combine its members'
                stacked = np.stack([member.quantiles for member in members])
                ensemble.quantiles = np.median(stacked, axis=0) if combine == "median" else stacked.mean(axis=0)
            ensembles.append(ensemble)
        return ensembles

    @staticmethod
    def _choose(candidates: list[Candidate], covariates: bool = False) -> tuple[Candidate, Candidate | None]:
        """(the choice, the best baseline): the best baseline unless another beats it by more than PARSIMONY.

        With ``covariates`` no baseline may take them: then the best other candidate, and None.
        """
        baselines = [c for c in candidates if c.name in BASELINES and c.scored]
        others = [c for c in candidates if c.scored]
        if not baselines and covariates and others:
            return min(others, key=lambda c: c.score), None
        if not baselines:
            reasons = "; ".join(f"{c.label}: {c.skipped}" for c in candidates if c.name in BASELINES)
            raise DataError(f"auto could score none of its baselines on the validation backtest ({reasons}).")
        best = min(baselines, key=lambda c: c.score)  # ties: the cheapest, listed first
        better = [c for c in candidates if c.name not in BASELINES and c.scored and c.score < best.score * (1 - PARSIMONY)]
        return (min(better, key=lambda c: c.score) if better else best), best

    def _refit_choice(self, candidates: list[Candidate], frame: pd.DataFrame, validation, covariates: dict,
                      relay: FitWarnings) -> tuple:
        """(choice, best baseline, the choice fitted on every row); a choice that fails to refit gives way to the next."""
        while True:
            chosen, best_baseline = self._choose(candidates, covariates=bool(covariates))
            model = registry.create(chosen.name, **chosen.params)
            try:
                with relay.of(f"final refit of {chosen.label}"):
                    model.fit(frame, **({} if validation is None else {"validation": validation}), **covariates)
            except Exception as error:  # noqa: BLE001 - the next best is refitted instead, with a warning
                reason = f"failed to refit on every row: {type(error).__name__}: {error}"
                warnings.warn(f"auto: {chosen.label} {reason}; the next best candidate is refitted instead.",
                              UserWarning, stacklevel=3)
                for candidate in candidates:  # the ensembles holding it would fail alike
                    members = [m["label"] for m in candidate.params.get("members", [])] if candidate.name == "ensemble" else []
                    if candidate is chosen or chosen.label in members:
                        candidate.skipped = reason
                continue
            return chosen, best_baseline, model

    # ------------------------------------------------------------------ calibration
    def _calibration(self, chosen: Candidate, plan: Validation) -> tuple[dict, np.ndarray | None]:
        """(``calibration_``, the choice's standardised validation errors ``(H, n)`` sorted per step, NaN last; or
        None, its own quantiles then standing) (module docstring, step 7)."""
        if not self.calibrate:
            return {"applied": False, "why": "calibrate=False"}, None
        if chosen.quantiles is None:
            return {"applied": False, "why": f"{chosen.label} gives no quantiles"}, None
        low, median, high = (chosen.quantiles[..., k] for k in range(3))  # (N, H, C) each
        spread = (high - low) / 2
        error = plan.truth - median
        usable = np.isfinite(error) & (spread > 0)  # a missing truth, or no spread to standardise by
        scores = np.where(usable, error / np.where(usable, spread, 1.0), np.nan)
        scores = np.sort(scores.transpose(1, 0, 2).reshape(plan.horizon, -1), axis=1)  # (H, origins x series x C)
        fewest = int(usable.transpose(1, 0, 2).reshape(plan.horizon, -1).sum(axis=1).min())
        if fewest < MIN_CALIBRATION_SCORES:
            return {"applied": False, "why": f"{fewest} validation errors per step, fewer than "
                                              f"{MIN_CALIBRATION_SCORES}"}, None
        return {"applied": True, "scores_per_step": fewest, "steps": plan.horizon}, scores

    def _offsets(self, step: int, levels: np.ndarray) -> np.ndarray:
        """The calibrated ``(y - median) / s`` at ``levels`` (any shape) for a forecast step (0-based); steps past the
        validation's horizon take its last step's errors."""
        scores = self.calibration_scores_[min(step, len(self.calibration_scores_) - 1)]
        return signed_score_quantile(scores[np.isfinite(scores)], levels)

    def _is_calibrated(self, model: Forecaster) -> bool:
        # calibration_scores_ is absent from models saved before calibration existed; the short series' model has none.
        return getattr(self, "calibration_scores_", None) is not None and model is self.chosen_model_

    def _calibrated(self, model: Forecaster, quantiles_at, levels: np.ndarray):
        """``quantiles_at(levels)``, arrays ``(..., H, C, Q)`` (one, or a list per series), calibrated when ``model``
        is the calibrated choice: ``median + s Q_tau``, taken where it lies further from the median than the model's."""
        if not self._is_calibrated(model):
            return quantiles_at(levels)
        every = np.union1d(levels, SPREAD_LEVELS)
        where, spread_at = np.searchsorted(every, levels), np.searchsorted(every, SPREAD_LEVELS)

        def calibrate(values: np.ndarray) -> np.ndarray:
            values = noncrossing(values)
            low, median, high = (values[..., k] for k in spread_at)
            spread = np.where(high > low, (high - low) / 2, 0.0)
            offsets = np.stack([self._offsets(step, levels) for step in range(values.shape[-3])])[:, None]  # (H, 1, Q)
            calibrated = median[..., None] + spread[..., None] * offsets
            own = values[..., where]
            outer = np.where(levels < 0.5, np.minimum(own, calibrated), np.maximum(own, calibrated))
            return np.where(levels == 0.5, own, outer)

        result = quantiles_at(every)
        return [calibrate(values) for values in result] if isinstance(result, list) else calibrate(result)

    def _calibrated_paths(self, paths: np.ndarray, quantiles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The model's paths ``(n, H, C)`` of one series, each value moved out to the calibrated quantile of its rank.

        Ensemble copula coupling (Schefzik, Thorarinsdottir & Gneiting 2013, ECC with random
        levels): at each step and channel the ``r``-th smallest of the ``n`` paths takes the
        calibrated quantile at a level drawn uniformly in ``(r / n, (r + 1) / n)``, so each value
        is a draw from the calibrated marginal while the paths keep the model's ranks, hence
        its dependence between steps; the model's own value stands where it lies further from
        the median (``quantiles``: the model's ``(H, C, 3)`` at :data:`SPREAD_LEVELS`).
        """
        low, median, high = (noncrossing(quantiles)[..., k] for k in range(3))
        spread = np.where(high > low, (high - low) / 2, 0.0)
        levels = (paths.argsort(axis=0).argsort(axis=0) + rng.random(paths.shape)) / len(paths)
        offsets = np.stack([self._offsets(step, levels[:, step]) for step in range(paths.shape[1])], axis=1)
        drawn = median + spread * offsets
        return np.where(levels < 0.5, np.minimum(paths, drawn), np.maximum(paths, drawn))

    # ------------------------------------------------------------------ report
    @property
    def leaderboard_(self) -> pd.DataFrame:
        check_is_fitted(self, "leaderboard_records_")
        return pd.DataFrame(self.leaderboard_records_, columns=LEADERBOARD_COLUMNS)

    def report(self) -> str:
        """One line: what was chosen, its validation score against the best baseline's, what was skipped."""
        check_is_fitted(self, "report_")
        return self.report_

    def _summary(self, chosen: Candidate, best: Candidate, plan: Validation, season_note: str,
                 replaced: str = "") -> str:
        score = f"validation {self.metric} {chosen.score:.4g}"
        if best is None:
            why = f"{score}; no baseline takes the covariates"
        elif chosen is best:
            why = f"the best baseline, {score}"
        else:
            why = f"{score}, {100 * (chosen.score / best.score - 1):+.1f}% against the best baseline {best.label}"
        skipped = [f"{r['candidate']}: {r['skipped']}" for r in self.leaderboard_records_ if r["skipped"] is not None]
        scored = len(self.leaderboard_records_) - len(skipped)
        where = "one series" if plan.one_series else f"{len(plan.fit_rows)} series"
        if self.short_series_:
            where += (f" ({len(self.short_series_)} shorter ones left out of the validation, forecast by "
                      f"{self.short_series_choice_})")
        if plan.kinds:
            where = (f"{' and '.join(plan.kinds)} covariates (candidates limited to the models that take them"
                     f"{', AR as ARX' if plan.kinds == ('future',) else ''}); {where}")
        if self.dropped_covariates_:
            kinds = " and ".join(self.dropped_covariates_)
            where = f"{kinds} covariates dropped (no candidate that takes them can be scored on these data); {where}"
        return (
            f"auto: chose {chosen.label} ({why}){replaced}; {season_note}; {where} x {len(plan.offsets)} origin(s) of "
            f"horizon {plan.horizon}; {scored} candidates scored"
            + (f", skipped {'; '.join(skipped)}" if skipped else "")
            + f"; {self._calibration_note()}; {self.search_seconds_:.1f} s"
        )

    def _calibration_note(self) -> str:
        calibration = self.calibration_
        if not calibration["applied"]:
            return f"quantiles the chosen model's own ({calibration['why']})"
        return (f"quantiles calibrated on its validation errors ({calibration['scores_per_step']} a step; split "
                "conformal, studentised, widening only)")

    def _log_to_active_run(self) -> None:
        """Tags ``tsseq.auto.*`` and ``auto/leaderboard.json`` on the active MLflow run, if any (never imports MLflow)."""
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or mlflow.active_run() is None:
            return
        try:
            mlflow.set_tags({
                "tsseq.auto.chosen": self.chosen_["label"],
                "tsseq.auto.chosen_model": self.chosen_["name"],
                "tsseq.auto.validation_score": f"{self.validation_score_:.6g}",
                "tsseq.auto.report": self.report_[:5000],
                **({} if self.short_series_choice_ is None else {"tsseq.auto.short_series_model": self.short_series_choice_}),
            })
            mlflow.log_dict({"chosen": self.chosen_, "leaderboard": self.leaderboard_records_}, "auto/leaderboard.json")
        except Exception as error:  # noqa: BLE001 - a tracking failure must not lose the fitted model
            warnings.warn(f"auto: could not log its choice to MLflow ({type(error).__name__}: {error}).", UserWarning,
                          stacklevel=3)

    # ------------------------------------------------------------------ forecasts: the chosen model's
    @staticmethod
    def _window_length(model: Forecaster) -> int | None:
        own = model.get_params(deep=False).get("input_length")
        if isinstance(own, int):
            return own
        lengths = [n for n in getattr(model, "input_lengths_", None) or [] if isinstance(n, int)]  # an ensemble's
        return max(lengths) if lengths else None

    def for_quantiles(self) -> AutoForecaster:
        """A copy whose networks train on the quantile loss, unless ``training`` names a loss (then itself)."""
        training = dict(self.training or {})
        if "loss" in training or hasattr(self, "chosen_model_"):
            return self
        return type(self)(**{**self.get_params(deep=False), "training": {**training, "loss": "quantile"}})

    @property
    def probabilistic(self) -> bool:
        """Fitted: whether the chosen model is. Unfitted: whether every candidate it may choose is."""
        if hasattr(self, "chosen_model_"):
            return self.chosen_model_.probabilistic
        return not self._may_choose_point_model()

    def _may_choose_point_model(self) -> bool:
        point_loss = self._network_training().get("loss") in ("mse", "mae")
        return point_loss and any(name in NETWORKS for name in self._candidate_names())

    def require_probabilistic(self, what: str = "quantiles") -> None:
        """Raise a ConfigError saying how to get ``what`` when the (chosen) model gives point forecasts only."""
        if self.probabilistic:
            return
        how = ("Pass training={'loss': 'quantile'} so that the networks forecast quantiles, or "
               "candidates=['naive', 'seasonal_naive', 'ar', 'ensemble'] (all probabilistic), or wrap auto in "
               "conformal intervals: tsseq.create('conformal', model='auto', model_params={'horizon': ...}).")
        if hasattr(self, "chosen_model_"):
            raise ConfigError(f"auto chose {self.chosen_['label']}, which gives point forecasts only, not {what}. {how}")
        raise ConfigError(f"auto may choose a network trained on a point loss, so it gives point forecasts only, "
                          f"not {what}. {how}")

    def _windows(self, inputs: np.ndarray) -> np.ndarray:
        """The last ``input_length_`` steps of the windows (the chosen model's context), or a DataError."""
        length = self.chosen_model_.get_params(deep=False).get("input_length")
        if not isinstance(length, int):
            return inputs  # the whole window: AR and the naive family read their last lags, an ensemble cuts each member's
        if inputs.shape[1] < length:
            raise DataError(
                f"predict_windows got windows of {inputs.shape[1]} steps; auto chose {self.chosen_['label']}, which "
                f"reads the last input_length={length}: give windows of at least {length} steps."
            )
        return inputs[:, inputs.shape[1] - length :]

    # The chosen model was fitted with the kinds kept (every kind given, unless some were dropped): it reads those only.
    # With series too short to validate, the chosen model forecasts the others and short_series_model_ those.
    def _by_series(self, forecast, future: dict) -> list[np.ndarray]:
        """``forecast(model, future)``'s per-series arrays of the chosen model and, if any, of the short series' model,
        in the layout's order; each model given the horizon's future covariates of its own series, if it reads them."""
        short_model = getattr(self, "short_series_model_", None)  # absent from models saved before it existed
        if short_model is None:
            return forecast(self.chosen_model_, self._future_of(self.chosen_model_, future, None))
        short = set(self.short_series_)
        is_short = [series_id in short for series_id in self.layout_.series_ids]
        parts = {
            flag: iter(forecast(model, self._future_of(model, future, [p for p, s in enumerate(is_short) if s == flag])))
            for flag, model in ((False, self.chosen_model_), (True, short_model))
        }
        return [next(parts[flag]) for flag in is_short]

    @staticmethod
    def _future_of(model: Forecaster, future: dict, positions: list[int] | None) -> dict:
        """The horizon's future covariates of the series at ``positions`` (all: None) when ``model`` was fitted with
        them, else nothing."""
        spec = getattr(model, "covariate_spec_", None)
        if spec is None or not spec.future:
            return {}
        rows = future["future_covariates"]
        return {"future_covariates": rows if positions is None else [rows[p] for p in positions]}

    def _predict(self, horizon: int, **future) -> list[np.ndarray]:
        return self._by_series(lambda model, own: model._predict(horizon, **own), future)

    def _chosen_windows(self, inputs: np.ndarray, covariates) -> dict:
        windows = self._windows(inputs)
        spec = getattr(self.chosen_model_, "covariate_spec_", None)
        if covariates is None or spec is None:
            return {"inputs": windows}
        chosen = covariates.select(spec, inputs.shape[1], windows.shape[1])
        return {"inputs": windows, "covariates": chosen}

    def _predict_windows(self, inputs: np.ndarray, horizon: int, covariates=None) -> np.ndarray:
        return self.chosen_model_.predict_windows(horizon=horizon, **self._chosen_windows(inputs, covariates))

    def _predict_quantiles(self, horizon: int, levels: np.ndarray, **future) -> list[np.ndarray]:
        return self._by_series(lambda model, own: self._calibrated(
            model, lambda every: model._predict_quantiles(horizon, every, **own), levels), future)

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray, covariates=None) -> np.ndarray:
        windows = self._chosen_windows(inputs, covariates)
        return self._calibrated(self.chosen_model_, lambda every: self.chosen_model_.predict_windows(
            horizon=horizon, quantiles=every, **windows), levels)

    def _sample(self, horizon: int, n: int, rng: np.random.Generator, **future) -> list[np.ndarray]:
        def sample(model: Forecaster, own: dict) -> list[np.ndarray]:
            paths = model._sample(horizon, n, rng, **own)
            if not self._is_calibrated(model):
                return paths
            quantiles = model._predict_quantiles(horizon, np.array(SPREAD_LEVELS), **own)
            return [self._calibrated_paths(values, quantile, rng) for values, quantile in zip(paths, quantiles)]

        return self._by_series(sample, future)


# --------------------------------------------------------------------------- helpers


def season_test(values: np.ndarray, season: int) -> bool:
    """Whether a series ``(T,)`` has the season ``m``: M4's 90% test on the series made stationary, outliers tamed.

    M4's test (:func:`tsseq.baselines.seasonality_test`, Naive2's, unchanged there) compares
    ``|r_m|`` with Bartlett's bound, which holds for a stationary series. On a random walk or
    a trend every ``r_i`` is near 1, and it found the season of daily random walks of 365 rows
    in all of 200 draws. So the series is first differenced as many times as the KPSS test of
    level stationarity (Kwiatkowski et al. 1992) rejects at 5%, at most twice, with the lags
    ``trunc(3 sqrt(T) / 13)`` of ``forecast::ndiffs`` (Hyndman & Khandakar 2008, auto.arima's
    choice of ``d``), much as the QS seasonality test of TRAMO-SEATS and X-13 reads the
    differenced series (Maravall 2011; R's ``seastests::qs``). A stationary series keeps its
    levels, where a smooth season shows best (differencing amplifies the noise against it).
    Both tests read the series winsorised at median +- :data:`WINSOR` robust standard
    deviations (1.4826 MAD), so that one spike neither hides a season nor makes a series look
    non-stationary. Random walks then pass at about the test's nominal 10%. As M4 asks, the
    series tested (after differencing) must hold ``3 m`` rows.
    """
    values = np.asarray(values, dtype=np.float64)
    tested = _winsorised(values)
    for _ in range(MAX_DIFFERENCES):
        if len(values) < 3 * season or _kpss_level(tested) <= KPSS_5_PERCENT:
            break
        values = np.diff(values)
        tested = _winsorised(values)
    return bool(seasonality_test(tested, season))


def isolated_extremes(values: np.ndarray, season: int) -> list[tuple[int, float]]:
    """``(row, distance)`` of each value of a series ``(T,)`` more than :data:`EXTREME` robust standard deviations
    of its changes from both neighbours, on the same side, and from the values one season before and after.

    The robust standard deviation is 1.4826 MAD of the one-step changes (of the ``m``-step
    changes for the season's neighbours); ``distance`` is the smaller distance to a neighbour in
    it. So a level shift (one large change) is not named, nor a peak that recurs each season
    (a busy Saturday, near the Saturday before). The first and last rows, with one neighbour,
    cannot be told from a shift; a series whose changes are mostly zero (intermittent or
    stepwise) has no scale to measure against: neither is named.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3:
        return []
    scale = _robust_sd(np.diff(values))
    if not scale > 0:
        return []
    middle = values[1:-1]
    before, after = middle - values[:-2], middle - values[2:]
    distance = np.where(np.sign(before) == np.sign(after), np.minimum(np.abs(before), np.abs(after)), 0.0) / scale
    if 2 <= season < len(values):
        seasonal_scale = _robust_sd(values[season:] - values[:-season])
        if not seasonal_scale > 0:
            return []
        rows = np.arange(1, len(values) - 1)
        last = np.where(rows >= season, np.abs(middle - values[np.maximum(rows - season, 0)]), np.inf)
        next_ = np.where(rows + season < len(values), np.abs(middle - values[np.minimum(rows + season, len(values) - 1)]),
                         np.inf)
        distance = np.where(np.minimum(last, next_) / seasonal_scale > EXTREME, distance, 0.0)
    return [(int(row) + 1, float(distance[row])) for row in np.flatnonzero(distance > EXTREME)]


def _robust_sd(values: np.ndarray) -> float:
    """1.4826 MAD: the standard deviation of Gaussian values, unmoved by a few outliers."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _winsorised(values: np.ndarray) -> np.ndarray:
    """``values`` clipped at median +- WINSOR robust standard deviations (as they are when that is 0)."""
    centre, scale = float(np.median(values)), _robust_sd(values)
    return values if scale == 0 else np.clip(values, centre - WINSOR * scale, centre + WINSOR * scale)


def _kpss_level(values: np.ndarray) -> float:
    """The KPSS statistic of level stationarity, its long-run variance Bartlett-weighted over forecast::ndiffs'
    ``trunc(3 sqrt(T) / 13)`` lags (``urca::ur.kpss(type="mu")``); 0 for a constant series.

    statsmodels' ``kpss(values, "c", nlags=...)`` gives the same statistic (a test holds them to 1e-12), but
    importing it costs 0.8 s a process, and ``auto`` imports nothing else of statsmodels.
    """
    length = len(values)
    errors = values - values.mean()
    sums = np.cumsum(errors)
    lags = int(3 * math.sqrt(length) / 13)
    variance = errors @ errors / length + 2 * sum(
        (1 - lag / (lags + 1)) * (errors[lag:] @ errors[:-lag]) / length for lag in range(1, lags + 1))
    return float(sums @ sums / (length * length * variance)) if variance > 0 else 0.0


def _replaced_note(model: Forecaster) -> str:
    """For the report: the explosive AR fits the final refit replaced (the choice's or an ensemble member's), or ""."""
    members = [model, *getattr(model, "members_", [])]
    notes = [note for member in members if hasattr(member, "replaced_fits") for note in member.replaced_fits()]
    if not notes:
        return ""
    shown = listed(notes, 3, "; ")
    return f"; its final refit's AR replaced {len(notes)} explosive fit(s) ({shown})"


def _short_data_advice(count: int, horizon: int, stride: int, length: int) -> str:
    """What to pass when ``count`` origins ``stride`` apart do not fit in ``length`` rows (the shortest series')."""
    fewer = cli = ""
    if count > 1:  # asked for (validation_origins): by default auto takes as many as fit, one at least
        fit = (length - MIN_FIT_ROWS - horizon) // stride + 1 if length >= MIN_FIT_ROWS + horizon else 0
        if fit:
            return f"Pass validation_origins={fit} or fewer (tsseq: --param validation_origins={fit})."
        fewer, cli = "validation_origins=1 and ", "--param validation_origins=1 "
    longest = length - MIN_FIT_ROWS  # the longest horizon one origin leaves room for
    shorter = f"{fewer}horizon={longest} or less (tsseq: {cli}--horizon {longest}), or " if longest >= 1 else ""
    return (f"Pass {shorter}a model that forecasts short series without a validation: naive or ar (e.g. "
            f"tsseq.create('ar'); tsseq: --model ar).")


def _forecasts_each_series_alone(candidate: Candidate) -> bool:
    """Whether the candidate fits and forecasts every series on its own (a baseline, or an ensemble of baselines):
    then fitting it on a subset of the series forecasts those as fitting it on all of them would."""
    if candidate.name == "ensemble":
        return all(member["name"] in BASELINES for member in candidate.params["members"])
    return candidate.name in BASELINES


def _only_series(part: pd.DataFrame, series_ids: Sequence[object]) -> pd.DataFrame:
    """The rows of ``series_ids`` of a long frame, or of static covariates indexed by series id."""
    return part[part.index.get_level_values(0).isin(list(series_ids))]


def _refuse_missing(frame: pd.DataFrame) -> None:
    """A DataError naming each column with missing values (count, first timestamp) and how to fill them.

    auto always scores naive, seasonal naive and AR and falls back on the best of them, and
    none of them takes missing values; the networks would train first and auto fail after.
    """
    absent = frame.isna()
    if not absent.to_numpy().any():
        return
    long = isinstance(frame.index, pd.MultiIndex)
    named = []
    for column in frame.columns[absent.any().to_numpy()]:
        rows = absent[column].to_numpy()
        first = frame.index[int(np.argmax(rows))]
        where = f"series {first[0]!r} at {first[1]}" if long else f"{first}"
        series = f" in {absent[column].groupby(level=0).any().sum()} series" if long else ""
        named.append(f"column {column!r} has {int(rows.sum())} missing value(s){series}, the first at {where}")
    shown = "; ".join(named[:5]) + (f" (and {len(named) - 5} more columns)" if len(named) > 5 else "")
    raise DataError(
        f"auto cannot use missing values: {shown}. The baselines it always scores and falls back on (naive, "
        "seasonal_naive, ar) need every value. Fill them first with tsseq.data.checks.check_series(frame, "
        "missing='interpolate') or missing='ffill' (tsseq: --missing interpolate or --missing ffill instead of "
        "--missing mask), or fit a neural model, which masks them (e.g. tsseq.create('segrnn'); tsseq: --model segrnn "
        "--missing mask)."
    )


def _segment_length(length: int, season: int) -> int:
    """SegRNN's segment: the season when it divides the input, else the largest divisor of it up to L / 8."""
    if 2 <= season <= MAX_SEGMENT and length % season == 0:
        return season
    limit = max(1, min(MAX_SEGMENT, length // 8))
    return max(d for d in range(1, limit + 1) if length % d == 0)


def _drop_last(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame`` without the last ``rows`` rows of every series."""
    if not isinstance(frame.index, pd.MultiIndex):
        return frame.iloc[: len(frame) - rows]
    from_end = frame.groupby(level=0, sort=False).cumcount(ascending=False).to_numpy()
    return frame[from_end >= rows]


def _series_arrays(forecast: pd.DataFrame, layout: SeriesLayout) -> list[np.ndarray]:
    """A forecast frame in ``layout`` -> ``(H, C)`` arrays per series, in the layout's order."""
    columns = list(layout.columns)
    if layout.series_ids is None:
        return [forecast[columns].to_numpy(dtype=np.float64)]
    groups = dict(tuple(forecast[columns].groupby(level=0, sort=False)))
    return [groups[series_id].to_numpy(dtype=np.float64) for series_id in layout.series_ids]


def _probe_frame(plan: Validation, input_length: int) -> tuple[pd.DataFrame, int]:
    """The rows before the first origin of enough series (or of the one series' end) for ~PROBE_WINDOWS windows."""
    window = input_length + plan.horizon
    train = _drop_last(plan.frame, plan.offsets[0])
    if plan.one_series:
        rows = min(len(train), window - 1 + PROBE_WINDOWS)
        return train.iloc[len(train) - rows :], max(0, rows - window + 1)
    chosen, windows = [], 0
    for position, rows in enumerate(plan.fit_rows):
        if rows >= window:
            chosen.append(plan.layout.series_ids[position])
            windows += rows - window + 1
        if windows >= PROBE_WINDOWS:
            break
    return train.loc[chosen], windows
