"""Conformal prediction intervals around any registered forecaster: split and adaptive.

:class:`ConformalForecaster` (registered as ``"conformal"``) wraps a point forecaster and
needs nothing from it but forecasts. Split conformal, per horizon step:

1. **Calibration rows** continue each series: the last ``calibration_length`` rows of
   the frame given to ``fit`` (the model is fitted on the rows before them); or, when
   ``fit`` is given ``validation``, the validation rows after the end of each training
   series (the model is fitted on the training rows, with ``validation`` passed on for
   early stopping; rows of context that repeat training rows are skipped).
2. **Forecasts from origins inside them**: for one series, rolling origins (every row,
   or ``calibration_windows`` evenly spaced ones) through ``predict_windows`` on the
   ``input_length`` rows before each origin; for a long frame of many series, one
   origin per series (the start of its calibration rows, through ``predict``), the
   scores pooled across series.
3. **Scores** ``|y_{t+h} - yhat_{t+h}| / s`` per step ``h`` and channel, ``s`` the scale of
   the history forecast from (``scale``): ``"naive"``, its mean absolute change over
   ``season_length`` steps (MASE's denominator, the default), ``"std"`` its standard
   deviation, or ``"none"``. Scaled scores let series of different scales share them
   (M4's hourly series differ by orders of magnitude), and let one series' intervals
   follow its local volatility (locally weighted conformal): on ETTh1 (S, L=H=96),
   calibrated on the validation windows, AR's test coverage is 78.2/88.5/93.4% for
   80/90/95% with ``"naive"`` and 89.7/94.9/97.3% with ``"none"``, the validation
   months being more volatile than the test months.
4. **Intervals**: coverage ``c`` at step ``h`` is ``yhat_h ± s q_h(c)``, ``q_h(c)`` the
   ``ceil((n + 1) c)``-th smallest of the ``n`` scores of that step: the finite-sample
   correction that gives coverage at least ``c`` on exchangeable data. A quantile level
   ``tau`` is ``yhat + sign(tau - 0.5) s q_h(|2 tau - 1|)``: symmetric, non-crossing by
   construction, the 0.5 level the point forecast. A coverage that needs more scores
   than there are (``n < c / (1 - c)``, e.g. 19 for 95%) is refused, saying so.
5. With ``refit=True`` (and no ``validation``) the model is refitted on every row and
   forecasts from their end; ``refit=False`` keeps the calibrated model and forecasts
   from the last window (one series only).

``sample`` draws each step independently from its per-step distribution (a random sign
times the score quantile at a uniform level, capped at the largest score): the
marginals are right, the dependence between steps is not modelled.

**Adaptive conformal inference** (Gibbs & Candès 2021, ``method="adaptive"``) acts in
rolling use, :meth:`ConformalForecaster.rolling_intervals`. Walking the origins forward,
each step ``h`` (and series and channel) keeps its own miscoverage ``alpha_h``, starting
at ``1 - coverage``; once the truth of a step-``h`` interval is observed (before the
next origin after its target), ``alpha_h <- alpha_h + gamma (1 - coverage - err)``, with
``err`` 1 if the truth fell outside. Intervals widen when misses pile up (a noise scale
drifting upward) and narrow when they are rare. ``alpha_h <= 0`` gives an infinite
interval, which is what bounds the long-run miss rate (``|miss rate - alpha| <= (1 +
gamma) / (gamma T)`` for one step); ``alpha_h >= 1`` gives the point forecast alone. The
scores stay those of the calibration unless ``rolling_intervals`` is given a
``score_window``: then each step uses its latest scores, recomputed as truths arrive (as
Gibbs & Candès recompute theirs), under either method. Far steps learn late (the truth
of step ``h`` arrives ``h`` origins on) and their misses come in runs, so the level
overshoots: on ETTh1 (AR, S, H=96) adaptive conformal with fixed scores reaches
80.9/90.5/95.3% coverage but 0.4/7.7/22.9% of its intervals are infinite, whereas a
``score_window`` of 500 alone gives 80.1/90.2/94.4% with none. ``predict`` and
``predict_windows`` use the split calibration under both methods.

Importing this module does not import torch; the wrapped model is built at ``fit``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from tsseq.base import Forecaster, SeriesLayout, check_positive_int, split_frame
from tsseq.errors import ConfigError, DataError, closest_match, located
from tsseq.parameters import check_is_fitted, clone
from tsseq.quantiles import check_coverage, level_label
from tsseq.registry import create, name_of, parameters, register

METHODS = ("split", "adaptive")
SCALES = ("naive", "std", "none")
DEFAULT_ORIGINS = 100  # rolling calibration origins of one series when calibration_length is not given
DEFAULT_HORIZON = 24  # when neither this wrapper nor its model sets one (the neural models' default)
WINDOW_VALUES = 4_000_000  # input values per predict_windows call


def history_scale(history: np.ndarray, kind: str, season_length: int = 1) -> np.ndarray:
    """Scale of each history ``(..., L, C) -> (..., C)``; a constant or too short history gets 1.

    ``"naive"``: mean absolute change over ``season_length`` steps; ``"std"``: standard
    deviation; ``"none"``: 1.
    """
    if kind == "none":
        return np.ones(history.shape[:-2] + history.shape[-1:])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: handled below
        if kind == "std":
            scale = np.nanstd(history, axis=-2)
        else:
            scale = np.nanmean(np.abs(history[..., season_length:, :] - history[..., :-season_length, :]), axis=-2)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def score_quantile(scores: np.ndarray, counts: np.ndarray, coverage: np.ndarray, beyond: str = "inf") -> np.ndarray:
    """The ``ceil((n + 1) c)``-th smallest score per step and channel.

    ``scores (m, H, C)`` sorted along axis 0 (NaN last), ``counts (H, C)`` the finite
    scores ``n``, ``coverage (..., H, C)``. Where ``ceil((n + 1) c) > n`` the result is
    ``inf`` (``beyond="inf"``) or the largest score (``"cap"``); where it is ``<= 0``, 0.
    """
    rank = np.ceil((counts + 1) * np.asarray(coverage) - 1e-9).astype(np.int64)
    index = np.clip(rank, 1, counts) - 1
    steps, channels = np.arange(scores.shape[1])[:, None], np.arange(scores.shape[2])
    quantile = scores[index, steps, channels]  # (..., H, C)
    quantile = np.where(rank <= 0, 0.0, quantile)
    return np.where(rank > counts, np.inf, quantile) if beyond == "inf" else quantile


def signed_score_quantile(scores: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Conformal quantiles of signed scores: ``scores (n,)`` sorted, ``levels`` any shape -> the same shape.

    Level ``tau`` above 0.5 takes the ``ceil((n + 1) tau)``-th smallest score, below 0.5 the
    ``floor((n + 1) tau)``-th: on exchangeable data a new score exceeds the first with
    probability at most ``1 - tau`` and falls below the second with probability at most
    ``tau``, so the central interval between two of them covers at least the nominal
    share (split conformal with each tail corrected on its own, as Romano et al. 2019 do
    for asymmetric intervals). Level 0.5 gives 0. Ranks beyond the scores take the
    largest (smallest) score rather than an infinite bound.
    """
    levels = np.asarray(levels, dtype=np.float64)
    count = len(scores)
    upper = np.ceil((count + 1) * levels - 1e-9)
    lower = np.floor((count + 1) * levels + 1e-9)
    rank = np.where(levels > 0.5, upper, lower).astype(np.int64)
    quantile = scores[np.clip(rank, 1, count) - 1]
    return np.where(levels == 0.5, 0.0, quantile)


def _frame_arrays(forecast: pd.DataFrame, layout: SeriesLayout) -> list[np.ndarray]:
    """A forecast frame in ``layout`` -> ``(H, C)`` arrays per series, in the layout's order."""
    columns = list(layout.columns)
    if layout.series_ids is None:
        return [forecast[columns].to_numpy(dtype=np.float64)]
    return [group[columns].to_numpy(dtype=np.float64) for _, group in forecast.groupby(level=0, sort=False)]


@register("conformal")
class ConformalForecaster(Forecaster):
    """Conformal prediction intervals around any forecaster (see the module docstring).

    Parameters
    ----------
    model : str or Forecaster
        A registered model name (built with ``tsseq.create(model, **model_params)``) or an
        unfitted forecaster (cloned; ``model_params`` then set on the clone).
    model_params : dict, optional
    method : {"split", "adaptive"}
        ``"adaptive"`` adapts the level in :meth:`rolling_intervals`.
    horizon : int, optional
        The longest forecast calibrated; the model's own ``horizon`` when not given, else 24.
    input_length : int, optional
        Rows before each calibration origin given to ``predict_windows``; the model's own
        ``input_length``, else every row before the first origin. ``horizon`` and
        ``input_length``, when given, are also passed to a model built by name that takes
        them and whose ``model_params`` do not set them.
    calibration_windows : int, optional
        Most rolling origins of one series (evenly spaced); all of them when not given.
    calibration_length : int, optional
        Rows held out at the end of each series (without ``validation``): by default
        ``horizon + 99`` (100 origins) for one series, ``horizon`` for many.
    scale : {"naive", "std", "none"}
    season_length : int
        Lag of the ``"naive"`` scale.
    gamma : float in (0, 1)
        Step size of adaptive conformal inference.
    refit : bool
        Refit the model on all rows after calibrating.

    Attributes
    ----------
    model_ : Forecaster
        The fitted model that forecasts.
    calibration_scores_ : (n, horizon, C) float
        Calibration scores in the order of their origins (of their series when pooled).
    scores_ : (n, horizon, C) float
        The same, sorted per step and channel (NaN last).
    horizon_, input_length_ : int (``input_length_`` None for pooled origins of many series)
    scale_ : (S, C) float
        Scale of the history each series is forecast from.
    """

    def __init__(
        self,
        *,
        model: str | Forecaster = "ar",
        model_params: dict | None = None,
        method: str = "split",
        horizon: int | None = None,
        input_length: int | None = None,
        calibration_windows: int | None = None,
        calibration_length: int | None = None,
        scale: str = "naive",
        season_length: int = 1,
        gamma: float = 0.005,
        refit: bool = True,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.method = method
        self.horizon = horizon
        self.input_length = input_length
        self.calibration_windows = calibration_windows
        self.calibration_length = calibration_length
        self.scale = scale
        self.season_length = season_length
        self.gamma = gamma
        self.refit = refit

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        y: pd.DataFrame | pd.Series,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: pd.DataFrame | pd.Series | None = None,
    ) -> "ConformalForecaster":
        """Fit the model, calibrate its scores, and (``refit``) refit it on every row of ``y``.

        Covariates are refused (a ConfigError naming the kind): the calibration forecasts
        would need them too.
        """
        self._refuse_covariates(past_covariates, future_covariates, static_covariates)
        base = self._base_model()
        horizon, input_length = self._sizes(base)
        series, layout = split_frame(y)
        pooled = len(series) > 1
        if pooled and validation is None and not self.refit:
            raise ConfigError("refit=False forecasts from the last window of one series; with many series use refit=True.")
        if validation is None:
            rows = self._calibration_rows(horizon, pooled)
            self._check_lengths(series, layout, rows, 1 if pooled else (input_length or 1))
            history = [values[: len(values) - rows] for values in series]
            calibration = [values[len(values) - rows :] for values in series]
            fitted = clone(base).fit(self._drop_last(y.to_frame() if isinstance(y, pd.Series) else y, rows, layout))
        else:
            history, calibration = series, self._continuation(layout, validation, horizon)
            fitted = clone(base).fit(y, validation=validation)
        if pooled:  # one origin per series, at the start of its calibration rows
            forecasts = _frame_arrays(fitted.predict(horizon), layout)
            scales = [history_scale(values, self.scale, self.season_length) for values in history]
            errors = [np.abs(rows[:horizon] - forecast) for rows, forecast in zip(calibration, forecasts)]
            scores = np.stack([error / scale for error, scale in zip(errors, scales)])  # (S, H, C)
            self.input_length_ = None
        else:
            scores, self.input_length_ = self._window_scores(fitted, history[0], calibration[0], horizon, input_length)
        counts = np.isfinite(scores).sum(axis=0)
        if counts.min() == 0:
            raise DataError("The calibration rows gave no finite score for some step and channel; they are all missing.")
        self.model_ = clone(base).fit(y) if validation is None and self.refit else fitted
        self.from_window_ = validation is None and not self.refit
        self.calibration_scores_, self.scores_, self.counts_ = scores, np.sort(scores, axis=0), counts
        self.horizon_, self.kind_ = horizon, self.scale
        self.last_window_ = None if pooled else series[0][len(series[0]) - self.input_length_ :]
        histories = series if pooled else [self.last_window_]
        self.scale_ = np.stack([history_scale(values, self.scale, self.season_length) for values in histories])
        self.layout_, self.n_channels_ = layout, layout.n_channels
        return self

    def check_params(self) -> None:
        """The wrapper's parameters, then its model's (:meth:`Forecaster.check_params`), naming the model."""
        model = self._base_model()
        self._sizes(model)
        try:
            model.check_params()
        except ConfigError as error:
            raise located(error, f"its model {name_of(model)!r}") from None

    def _sizes(self, base: Forecaster) -> tuple[int, int | None]:
        """The horizon to calibrate and the input length of the windows (None: all rows before the first origin)."""
        params = base.get_params()
        horizon = self.horizon if self.horizon is not None else params.get("horizon") or DEFAULT_HORIZON
        input_length = self.input_length if self.input_length is not None else params.get("input_length")
        if input_length is not None:
            input_length = check_positive_int(input_length, "input_length")
        return check_positive_int(horizon, "horizon"), input_length

    def _base_model(self) -> Forecaster:
        for name, value, options in (("method", self.method, METHODS), ("scale", self.scale, SCALES)):
            if value not in options:
                raise ConfigError(
                    f"The {name!r} parameter must be one of {', '.join(options)}. Got {value!r} instead."
                    f"{closest_match(str(value), options)}"
                )
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or not 0 < self.gamma < 1:
            raise ConfigError(f"The 'gamma' parameter must be a number in (0, 1), e.g. 0.005. Got {self.gamma!r} instead.")
        check_positive_int(self.season_length, "season_length")
        for name in ("calibration_windows", "calibration_length"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        params = dict(self.model_params or {})
        if isinstance(self.model, str):
            if self.model == "conformal":
                raise ConfigError("The 'model' of a conformal forecaster must be a point model, not 'conformal'.")
            accepted = parameters(self.model)  # a ConfigError for an unknown name
            for name in ("horizon", "input_length"):
                if getattr(self, name) is not None and name in accepted:
                    params.setdefault(name, getattr(self, name))
            return create(self.model, **params)
        if isinstance(self.model, Forecaster):
            return clone(self.model).set_params(**params)
        raise ConfigError(
            f"The 'model' parameter must be a registered model name (see `tsseq models`) or a tsseq Forecaster. "
            f"Got {self.model!r} instead."
        )

    def _calibration_rows(self, horizon: int, pooled: bool) -> int:
        if self.calibration_length is None:
            return horizon if pooled else horizon + DEFAULT_ORIGINS - 1
        if self.calibration_length < horizon:
            raise ConfigError(
                f"The 'calibration_length' parameter must be at least the horizon ({horizon}): a calibration "
                f"forecast is scored on {horizon} held-out rows. Got {self.calibration_length} instead."
            )
        return self.calibration_length

    def _check_lengths(self, series: list[np.ndarray], layout: SeriesLayout, rows: int, before: int) -> None:
        for position, values in enumerate(series):
            if len(values) < rows + before:
                name = position if layout.series_ids is None else layout.series_ids[position]
                raise DataError(
                    f"Series {name!r} has {len(values)} rows; conformal calibration holds out the last {rows} "
                    f"(calibration_length) and needs at least {before} before them to forecast from"
                    f"{' (input_length)' if before > 1 else ''}, i.e. {rows + before} rows. Pass a smaller "
                    "calibration_length, or calibration rows as fit(..., validation=...)."
                )

    @staticmethod
    def _drop_last(frame: pd.DataFrame, rows: int, layout: SeriesLayout) -> pd.DataFrame:
        if layout.series_ids is None:
            return frame.iloc[: len(frame) - rows]
        from_end = frame.groupby(level=0, sort=False).cumcount(ascending=False).to_numpy()
        return frame[from_end >= rows]

    def _continuation(self, layout: SeriesLayout, validation: pd.DataFrame | pd.Series, horizon: int) -> list[np.ndarray]:
        """The validation rows after the end of each training series (they must follow it without a gap)."""
        rows, vlayout = split_frame(validation)
        if vlayout.columns != layout.columns:
            raise DataError(f"validation has columns {list(vlayout.columns)}; the training data has {list(layout.columns)}.")
        ids = {None: 0} if vlayout.series_ids is None else {sid: i for i, sid in enumerate(vlayout.series_ids)}
        step = pd.tseries.frequencies.to_offset(layout.freq)
        calibration = []
        for position, last in enumerate(layout.last_timestamps):
            sid = None if layout.series_ids is None else layout.series_ids[position]
            if sid not in ids:
                raise DataError(f"validation has no rows for series {sid!r}.")
            values = rows[ids[sid]]
            stamps = pd.date_range(end=vlayout.last_timestamps[ids[sid]], periods=len(values), freq=layout.freq)
            after = stamps > last
            if after.sum() < horizon or stamps[after][0] != last + step:
                raise DataError(
                    f"validation must continue the training rows of series {sid if sid is not None else 0!r} (from "
                    f"{last + step}) for at least horizon={horizon} rows; it has {int(after.sum())} rows after "
                    f"{last}{'' if not after.any() else f', from {stamps[after][0]}'}."
                )
            calibration.append(values[after])
        return calibration

    def _window_scores(self, fitted: Forecaster, history: np.ndarray, calibration: np.ndarray, horizon: int,
                       input_length: int | None) -> tuple[np.ndarray, int]:
        """Rolling origins over one series' calibration rows -> scores ``(N, H, C)`` and the input length."""
        full = np.concatenate([history, calibration])
        origins = np.arange(len(history), len(full) - horizon + 1)
        if self.calibration_windows is not None and len(origins) > self.calibration_windows:
            chosen = np.round(np.linspace(0, len(origins) - 1, self.calibration_windows)).astype(int)
            origins = origins[np.unique(chosen)]
        length = input_length or len(history)
        if len(history) < length:
            raise DataError(
                f"The series has {len(history)} rows before its calibration rows; input_length={length} needs more."
            )
        forecasts, scales = self._forecast_windows(fitted, full, origins, length, horizon, self.scale)
        targets = full[origins[:, None] + np.arange(horizon)]  # (N, H, C)
        return np.abs(targets - forecasts) / scales[:, None, :], length

    def _forecast_windows(self, model: Forecaster, values: np.ndarray, origins: np.ndarray, length: int,
                          horizon: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts ``(N, H, C)`` from the ``length`` rows before each origin, and those windows' scales ``(N, C)``."""
        from tsseq.backtesting import origin_chunks

        forecasts, scales = [], []
        for _, inputs in origin_chunks(values, origins, length, WINDOW_VALUES):
            forecasts.append(model.predict_windows(inputs, horizon))
            scales.append(history_scale(inputs, kind, self.season_length))
        return np.concatenate(forecasts), np.concatenate(scales)

    # ------------------------------------------------------------------ forecasts
    def _check_horizon(self, horizon: int) -> None:
        if horizon > self.horizon_:
            raise ConfigError(
                f"This conformal forecaster calibrated {self.horizon_} steps; it cannot forecast {horizon}. "
                "Refit it with a larger 'horizon'."
            )

    def _predict(self, horizon: int) -> list[np.ndarray]:
        self._check_horizon(horizon)
        if self.from_window_:
            return [self.model_.predict_windows(self.last_window_[None], horizon)[0]]
        return _frame_arrays(self.model_.predict(horizon), self.layout_)

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        self._check_horizon(horizon)
        return self.model_.predict_windows(inputs, horizon)

    def _radius(self, levels: np.ndarray) -> np.ndarray:
        """Signed score quantiles ``(H, C, Q)`` of the levels: ``sign(tau - 0.5) q(|2 tau - 1|)``."""
        coverage = np.abs(2 * levels - 1)
        radius = np.stack([score_quantile(self.scores_, self.counts_, c) for c in coverage], axis=-1)
        if not np.isfinite(radius).all():
            worst = float(coverage.max())
            needed = int(np.ceil(worst / (1 - worst) - 1e-9))
            have = int(self.counts_.min())
            if self.layout_.series_ids is not None:  # one origin per series: its rows and windows add none
                how = (f"A long frame gives one score per series and step ({len(self.layout_.series_ids)} series): "
                       "fit it on more series, or one series at a time, whose rolling origins give more.")
            else:
                how = ("Hold out more calibration rows (calibration_length), use more origins (calibration_windows), or "
                       "calibrate on longer validation rows.")
            raise DataError(
                f"A conformal interval of coverage {level_label(worst)} needs at least {needed} calibration scores per "
                f"step; this model has {have}. {how}"
            )
        return np.sign(levels - 0.5) * radius

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        radius = self._radius(levels)[:horizon]  # (H, C, Q)
        return [point[..., None] + radius * scale[:, None] for point, scale in zip(self._predict(horizon), self.scale_)]

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        scale = history_scale(inputs, self.kind_, self.season_length)  # (N, C)
        radius = self._radius(levels)[:horizon]  # (H, C, Q)
        return self._predict_windows(inputs, horizon)[..., None] + radius * scale[:, None, :, None]

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        paths = []
        for point, scale in zip(self._predict(horizon), self.scale_):
            uniform = rng.random((n,) + point.shape)  # (n, H, C): each step on its own
            spread = score_quantile(self.scores_[:, :horizon], self.counts_[:horizon], np.abs(2 * uniform - 1), "cap")
            paths.append(point + np.sign(uniform - 0.5) * spread * scale)
        return paths

    # ------------------------------------------------------------------ rolling use
    def rolling_intervals(self, frame: pd.DataFrame | pd.Series, *, start: int | str | pd.Timestamp,
                          coverage: float = 0.9, horizon: int | None = None,
                          score_window: int | None = None) -> pd.DataFrame:
        """Walk forecast origins forward through ``frame``, emitting each origin's interval and adapting.

        ``frame`` holds the series (same layout and columns as ``fit``) with the rows
        before ``start`` as context; ``start`` is the first forecast target, a row
        position or a timestamp. Origins run from there to one past the last row (whose
        forecast is the live one). Forecasts come from the fitted model through
        ``predict_windows`` (no refit). With ``method="adaptive"`` each step's level
        adapts as truths arrive (see the module docstring); with ``"split"`` it stays
        ``coverage``. With ``score_window``, each step's scores are the most recent
        ``score_window`` ones, the calibration's first, then those of the rolling
        forecasts as their truths arrive (the calibration set moves with the data, as
        Gibbs & Candès recompute it); without it the calibration scores stay fixed.

        Returns a frame indexed by ([series,] ``cutoff``, timestamp), ``cutoff`` the last
        observed timestamp of the origin, with ``y``, ``y_lower``, ``y_upper`` and
        ``y_alpha`` (the miscoverage level used) for each column ``y``; bounds are
        infinite where ``alpha <= 0``.
        """
        check_is_fitted(self, "scores_")
        coverage = check_coverage(coverage)
        horizon = self.horizon_ if horizon is None else check_positive_int(horizon, "horizon")
        self._check_horizon(horizon)
        if score_window is not None:
            check_positive_int(score_window, "score_window")
        series, layout = split_frame(frame)
        if layout.columns != self.layout_.columns:
            raise DataError(f"frame has columns {list(layout.columns)}; the model was fitted on {list(self.layout_.columns)}.")
        parts, keys = [], []
        for position, values in enumerate(series):
            stamps = pd.date_range(end=layout.last_timestamps[position], periods=len(values), freq=layout.freq)
            if isinstance(start, (int, np.integer)):
                first = int(start)
            else:
                first = int(stamps.searchsorted(pd.Timestamp(start)))
            length = self.input_length_ or first
            if not length <= first <= len(values):
                name = position if layout.series_ids is None else layout.series_ids[position]
                raise DataError(
                    f"rolling_intervals: start={start!r} is row {first} of series {name!r} ({len(values)} rows); it needs "
                    f"at least {length} rows of context before it (input_length) and at most {len(values)}."
                )
            origins = np.arange(first, len(values) + 1)
            forecasts, scales = self._forecast_windows(self.model_, values, origins, length, horizon, self.kind_)
            lower, upper, alpha = self._adapt(values, origins, forecasts, scales, 1 - coverage, score_window)
            targets = pd.date_range(stamps[0], periods=len(values) + horizon, freq=layout.freq)
            index = pd.MultiIndex.from_arrays(
                [np.repeat(targets[origins - 1], horizon), targets[(origins[:, None] + np.arange(horizon)).ravel()]],
                names=["cutoff", layout.index_names[-1]],
            )
            blocks = {}
            for channel, name in enumerate(layout.columns):
                for suffix, block in (("", forecasts), ("_lower", lower), ("_upper", upper), ("_alpha", alpha)):
                    blocks[f"{name}{suffix}"] = block[..., channel].ravel()
            parts.append(pd.DataFrame(blocks, index=index))
            keys.append(None if layout.series_ids is None else layout.series_ids[position])
        if layout.series_ids is None:
            return parts[0]
        return pd.concat(parts, keys=keys, names=[layout.index_names[0]])

    def _adapt(self, values: np.ndarray, origins: np.ndarray, forecasts: np.ndarray, scales: np.ndarray,
               target: float, score_window: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bounds and levels ``(N, H, C)`` along the origins, learning from each truth as it is observed."""
        count, horizon, channels = forecasts.shape
        steps = np.arange(horizon)
        positions = origins[:, None] + steps  # (N, H) rows of the targets
        truth = np.full(forecasts.shape, np.nan)
        known = positions < len(values)
        truth[known] = values[positions[known]]
        new_scores = np.abs(truth - forecasts) / scales[:, None, :]  # NaN where the truth is in the future
        scores, counts = self.scores_[:, :horizon], self.counts_[:horizon]
        alphas = np.full(forecasts.shape, target)
        if self.method == "split" and score_window is None:
            width = score_quantile(scores, counts, np.full((horizon, channels), 1 - target)) * scales[:, None, :]
            return forecasts - width, forecasts + width, alphas
        if score_window is not None:  # a ring buffer per step, oldest first, NaN where empty
            seed = self.calibration_scores_[-score_window:, :horizon]
            buffer = np.full((score_window, horizon, channels), np.nan)
            buffer[: len(seed)] = seed
            slot = np.full(horizon, len(seed) % score_window)
        width, missed = np.empty(forecasts.shape), np.zeros(forecasts.shape)
        alpha = np.full((horizon, channels), target)
        for i in range(count):
            # The step-h forecast of origin i - 1 - h has just had its truth observed.
            earlier = i - 1 - steps
            ready = earlier >= 0
            if self.method == "adaptive":
                alpha[ready] += self.gamma * (target - missed[earlier[ready], steps[ready]])
            if score_window is not None and ready.any():
                buffer[slot[ready], steps[ready]] = new_scores[earlier[ready], steps[ready]]
                slot[ready] = (slot[ready] + 1) % score_window
                scores, counts = np.sort(buffer, axis=0), np.isfinite(buffer).sum(axis=0)
            alphas[i] = alpha
            width[i] = score_quantile(scores, counts, 1 - alpha) * scales[i]
            with np.errstate(invalid="ignore"):
                missed[i] = np.abs(truth[i] - forecasts[i]) > width[i]  # NaN truth (future) compares False
        return forecasts - width, forecasts + width, alphas
