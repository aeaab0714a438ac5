"""Baseline forecasters: AR by batched least squares, and the naive family with M4's Naive2.

Each (series, channel) is modelled on its own. The naive baselines are pure
functions of the observed history (``(..., L) -> (..., H)``, below), so ``predict``
is the same function applied to the whole training series and ``predict_windows``
applies it to every input window at once.

None of them accepts missing values: fill them first, e.g. with
``tsseq.data.checks.check_series(frame, missing="interpolate")``.
"""

from __future__ import annotations

import warnings

import numpy as np

from tsseq.ar import CRITERIA, fit_ar, fit_direct, forecast_direct, forecast_recursive, required_length
from tsseq.base import Forecaster, check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.registry import register

# z-value of the one-sided 90% test in the M4 competition's seasonality test.
M4_SEASONALITY_Z = 1.645


# --- pure forecast functions over the last axis: history (..., L) -> (..., H) ----------------


def naive_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last value: ``(..., L) -> (..., horizon)``."""
    return np.repeat(history[..., -1:], horizon, axis=-1)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """Repeat the last season: ``f_{L+h} = y_{L-m+((h-1) mod m)}`` for ``(..., L >= m) -> (..., horizon)``."""
    length = history.shape[-1]
    return history[..., length - season_length + np.arange(horizon) % season_length]


def drift_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Random walk with drift: ``y_L + h (y_L - y_1) / (L - 1)`` for ``(..., L >= 2) -> (..., horizon)``."""
    slope = (history[..., -1] - history[..., 0]) / (history.shape[-1] - 1)
    return history[..., -1:] + slope[..., None] * np.arange(1, horizon + 1)


def mean_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the mean of the history: ``(..., L) -> (..., horizon)``."""
    return np.repeat(history.mean(axis=-1, keepdims=True), horizon, axis=-1)


def autocorrelation(history: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelations at lags ``1..max_lag`` (``statsmodels.tsa.stattools.acf``): ``(..., L) -> (..., max_lag)``.

    A constant series has no autocorrelation; its entries are NaN.
    """
    centred = history - history.mean(axis=-1, keepdims=True)
    length = history.shape[-1]
    lagged = np.stack([np.sum(centred[..., lag:] * centred[..., : length - lag], axis=-1) for lag in range(1, max_lag + 1)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return lagged / np.sum(centred**2, axis=-1, keepdims=True)


def seasonality_test(history: np.ndarray, season_length: int) -> np.ndarray:
    """The M4 competition's 90% autocorrelation test for seasonality: ``(..., L) -> (...)`` bool.

    Seasonal when ``|r_m| > 1.645 sqrt((1 + 2 sum_{i=1}^{m-1} r_i^2) / L)``, as in the
    R benchmarks of the M4 competition (``SeasonalityTest``), which also call a series
    shorter than ``3 m`` non-seasonal. The Python reference (``main.py``) adds ``r_1``
    instead of ``r_1^2``; both classify all 414 M4 Hourly series alike (413 seasonal)
    and give the published Naive2 figures.
    """
    if season_length < 2 or history.shape[-1] < 3 * season_length:
        return np.zeros(history.shape[:-1], dtype=bool)
    correlations = autocorrelation(history, season_length)
    variance = (1 + 2 * np.sum(correlations[..., :-1] ** 2, axis=-1)) / history.shape[-1]
    with np.errstate(invalid="ignore"):  # NaN (constant series) compares False
        return np.abs(correlations[..., -1]) > M4_SEASONALITY_Z * np.sqrt(variance)


def seasonal_indices(history: np.ndarray, season_length: int) -> np.ndarray:
    """Multiplicative seasonal index of each position ``mod m`` (from the window's start): ``(..., L) -> (..., m)``.

    Classical multiplicative decomposition (``statsmodels`` ``seasonal_decompose``, the
    same as R's ``decompose``) for the series that pass :func:`seasonality_test`;
    1 for the others. Multiplicative decomposition is undefined for values <= 0: such
    series are left unadjusted, with a warning.
    """
    from statsmodels.tsa.seasonal import seasonal_decompose

    length = history.shape[-1]
    batch = history.reshape(-1, length)
    indices = np.ones((len(batch), season_length))
    seasonal = seasonality_test(batch, season_length)
    positive = np.all(batch > 0, axis=-1)
    if np.any(seasonal & ~positive):
        warnings.warn(
            f"Naive2: {int(np.sum(seasonal & ~positive))} seasonal series have values <= 0, for which "
            "multiplicative decomposition is undefined; they are forecast without seasonal adjustment.",
            UserWarning,
            stacklevel=3,
        )
    adjusted = seasonal & positive
    if np.any(adjusted):
        decomposition = seasonal_decompose(batch[adjusted].T, model="multiplicative", period=season_length)
        indices[adjusted] = decomposition.seasonal[:season_length].T
    return indices.reshape(history.shape[:-1] + (season_length,))


def naive2_forecast(history: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """M4's Naive2: naive forecast of the seasonally adjusted series, re-seasonalised: ``(..., L) -> (..., horizon)``."""
    length = history.shape[-1]
    indices = seasonal_indices(history, season_length)
    last_adjusted = history[..., -1] / indices[..., (length - 1) % season_length]
    return last_adjusted[..., None] * indices[..., (length + np.arange(horizon)) % season_length]


# --- estimators ------------------------------------------------------------------------------


def _check_arrays(series: list[np.ndarray], needed: int, model: str, requirement: str) -> None:
    """Every ``(T, C)`` array is finite and has at least ``needed`` rows, or a DataError names the first that is not."""
    for position, values in enumerate(series):
        absent = ~np.isfinite(values)
        if absent.any():
            row, channel = np.argwhere(absent)[0]
            raise DataError(
                f"{model} cannot use missing values: series {position}, channel {channel} has {int(absent.sum())} "
                f"missing or infinite value(s) (first at row {row}). Fill them first, e.g. with "
                "tsseq.data.checks.check_series(frame, missing='interpolate')."
            )
        if len(values) < needed:
            raise DataError(f"Series {position} has {len(values)} rows; {model} {requirement}.")


def _check_windows(inputs: np.ndarray, needed: int, model: str, requirement: str) -> None:
    """Input windows ``(N, L, C)`` are finite and have ``L >= needed`` steps, or a DataError says why not."""
    if inputs.shape[1] < needed:
        raise DataError(
            f"predict_windows got windows of {inputs.shape[1]} steps; {model} {requirement}, "
            f"so it needs input windows of at least {needed} steps."
        )
    if not np.all(np.isfinite(inputs)):
        raise DataError(f"{model} cannot use missing values: the input windows contain NaN or infinite values.")


class _HistoryBaseline(Forecaster):
    """A baseline whose forecast is a function of the observed history alone.

    Attributes
    ----------
    history_ : list of (C, T_i) float arrays
        The training series, channels first, from which ``predict`` forecasts.
    """

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """``(..., L) -> (..., horizon)``."""
        raise NotImplementedError

    def _requirement(self) -> tuple[int, str]:
        """Validate the parameters; return the fewest values a history needs and why."""
        return 1, "needs at least 1 value"

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        needed, requirement = self._requirement()
        _check_arrays(series, needed, type(self).__name__, requirement)
        self.history_ = [np.ascontiguousarray(values.T) for values in series]  # (C, T_i) each

    def _predict(self, horizon: int) -> list[np.ndarray]:
        # Series of equal length are forecast together.
        lengths = np.array([history.shape[1] for history in self.history_])
        forecasts: list[np.ndarray] = [np.empty(0)] * len(lengths)
        for length in np.unique(lengths):
            positions = np.flatnonzero(lengths == length)
            batch = self._forecast(np.stack([self.history_[p] for p in positions]), horizon)  # (k, C, H)
            for position, forecast in zip(positions, batch):
                forecasts[position] = forecast.T
        return forecasts

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        needed, requirement = self._requirement()
        _check_windows(inputs, needed, type(self).__name__, requirement)
        return self._forecast(inputs.transpose(0, 2, 1), horizon).transpose(0, 2, 1)  # (N, H, C)


@register("naive")
class Naive(_HistoryBaseline):
    """Repeat the last observed value."""

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive_forecast(history, horizon)


@register("mean")
class Mean(_HistoryBaseline):
    """Repeat the mean of the history."""

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return mean_forecast(history, horizon)


@register("drift")
class Drift(_HistoryBaseline):
    """Random walk with drift: the line through the first and the last value, extended."""

    def _requirement(self) -> tuple[int, str]:
        return 2, "needs at least 2 values to estimate a drift"

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return drift_forecast(history, horizon)


@register("seasonal_naive")
class SeasonalNaive(_HistoryBaseline):
    """Repeat the last season.

    Parameters
    ----------
    season_length : int >= 1
        Steps per season, e.g. 24 for hourly data with a daily cycle (1 gives :class:`Naive`).
    """

    def __init__(self, *, season_length: int = 1) -> None:
        self.season_length = season_length

    def _requirement(self) -> tuple[int, str]:
        season_length = check_positive_int(self.season_length, "season_length")
        return season_length, f"with season_length={season_length} needs at least one season ({season_length} values)"

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return seasonal_naive_forecast(history, horizon, self.season_length)


@register("naive2")
class Naive2(_HistoryBaseline):
    """The M4 competition's Naive2: naive on the seasonally adjusted series.

    A series is adjusted when :func:`seasonality_test` finds it seasonal at 90%, with
    indices from classical multiplicative decomposition (:func:`seasonal_indices`).
    On M4 Hourly (``season_length=24``) it gives the published sMAPE 18.383 and MASE 2.395.

    Parameters
    ----------
    season_length : int >= 1
        Steps per season (1: never seasonal, i.e. :class:`Naive`).
    """

    def __init__(self, *, season_length: int = 1) -> None:
        self.season_length = season_length

    def _requirement(self) -> tuple[int, str]:
        check_positive_int(self.season_length, "season_length")
        return 1, "needs at least 1 value"

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive2_forecast(history, horizon, self.season_length)


@register("ar")
class AR(Forecaster):
    """Autoregressive model with intercept, one per (series, channel), by exact least squares.

    ``y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} + e_t``; the coefficients equal
    statsmodels' ``AutoReg(y, lags=p, trend="c").fit().params`` and the selected order
    equals ``ar_select_order(y, maxlag=max_order, ic=criterion, trend="c")``. All
    series and channels are fitted in one batch (see :mod:`tsseq.ar`).

    Parameters
    ----------
    order : int >= 1, optional
        Fixed order. ``None`` selects it in ``0..max_order`` by ``criterion``.
    max_order : int >= 1
        Largest order the selection considers (ignored when ``order`` is given).
    criterion : {"aic", "bic", "hqic"}
        Information criterion of the selection.
    strategy : {"recursive", "direct"}
        ``"recursive"`` iterates the one-step model; ``"direct"`` fits one regression
        of ``y_{t+h}`` on the same ``p`` lags for each ``h = 1..horizon``.
    horizon : int >= 1, optional
        Longest horizon of the direct models (required by ``strategy="direct"``).

    Attributes
    ----------
    order_ : (S, C) int
        Order per series and channel.
    intercept_ : (S, C) float
    coef_ : (S, C, P) float
        One-step coefficients, ``coef_[s, c, i]`` multiplies ``y_{t-1-i}``;
        ``P = order_.max()`` and entries beyond a model's order are 0.
    criteria_ : (S, C, max_order + 1) float or None
        The criterion of every order on the common sample (``None`` for a fixed order).
    direct_intercept_ : (S, C, horizon) float, direct strategy only
    direct_coef_ : (S, C, horizon, P) float, direct strategy only
        ``direct_coef_[s, c, h - 1, i]`` multiplies ``y_{t-i}`` in the forecast of ``y_{t+h}``.
    last_values_ : (S, C, P) float
        The last ``P`` training values, the start of ``predict``.
    """

    def __init__(
        self,
        *,
        order: int | None = None,
        max_order: int = 10,
        criterion: str = "aic",
        strategy: str = "recursive",
        horizon: int | None = None,
    ) -> None:
        self.order = order
        self.max_order = max_order
        self.criterion = criterion
        self.strategy = strategy
        self.horizon = horizon

    def _check_params(self) -> tuple[int, int]:
        """Validate the parameters; return the largest lag and the direct horizon (1 if recursive)."""
        max_lag = check_positive_int(self.max_order, "max_order")
        if self.order is not None:
            max_lag = check_positive_int(self.order, "order")
        for name, value, options in (("criterion", self.criterion, CRITERIA), ("strategy", self.strategy, ("recursive", "direct"))):
            if value not in options:
                raise ConfigError(
                    f"The {name!r} parameter must be one of {', '.join(options)}. "
                    f"Got {value!r} instead.{closest_match(str(value), options)}"
                )
        if self.strategy == "recursive":
            return max_lag, 1
        if self.horizon is None:
            raise ConfigError("The 'horizon' parameter must be an int >= 1 when strategy='direct'. Got None instead.")
        return max_lag, check_positive_int(self.horizon, "horizon")

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        max_lag, horizon = self._check_params()
        lag_name = "order" if self.order is not None else "max_order"
        needed = required_length(max_lag, horizon)
        rule = f"2 * {lag_name} + 2" if horizon == 1 else f"2 * {lag_name} + horizon + 1"
        _check_arrays(series, needed, "AR", f"with {lag_name}={max_lag} needs at least {needed} rows ({rule})")
        n_series, n_channels = len(series), series[0].shape[1]
        columns = [values[:, channel] for values in series for channel in range(n_channels)]
        fit = fit_ar(columns, order=self.order, max_order=max_lag, criterion=self.criterion)
        grid = (n_series, n_channels)
        self.order_ = fit.order.reshape(grid)
        self.intercept_ = fit.intercept.reshape(grid)
        self.coef_ = fit.coef.reshape(grid + (-1,))
        self.criteria_ = None if fit.criteria is None else fit.criteria.reshape(grid + (-1,))
        if self.strategy == "direct":
            intercept, coef = fit_direct(columns, fit.order, horizon)
            self.direct_intercept_ = intercept.reshape(grid + (horizon,))
            self.direct_coef_ = coef.reshape(grid + (horizon, -1))
        width = self.coef_.shape[-1]
        self.last_values_ = np.stack([values[len(values) - width :].T for values in series])  # (S, C, P)

    def _forecast(self, model: tuple[int, ...] | slice, history: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast with the models ``[model]`` from ``history (..., L)``, broadcasting -> ``(..., horizon)``."""
        if self.strategy == "recursive":
            return forecast_recursive(self.intercept_[model], self.coef_[model], history, horizon)
        if horizon > self.horizon:
            raise ConfigError(
                f"This AR fitted direct models up to horizon={self.horizon}; it cannot forecast {horizon} "
                "steps. Refit with a larger 'horizon' or use strategy='recursive'."
            )
        return forecast_direct(self.direct_intercept_[model], self.direct_coef_[model], history, horizon)

    def _predict(self, horizon: int) -> list[np.ndarray]:
        forecast = self._forecast(slice(None), self.last_values_, horizon)  # (S, C, H)
        return list(forecast.transpose(0, 2, 1))

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        if self.order_.shape[0] != 1:
            raise DataError(
                f"predict_windows needs an AR fitted on one series (a wide frame); this one was fitted "
                f"on {self.order_.shape[0]} series, each with its own models."
            )
        width = self.coef_.shape[-1]
        _check_windows(inputs, width, "AR", f"has order {width}")
        return self._forecast(0, inputs.transpose(0, 2, 1), horizon).transpose(0, 2, 1)  # (N, H, C)
