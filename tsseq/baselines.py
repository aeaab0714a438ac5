"""Baseline forecasters: AR by batched least squares, and the naive family with M4's Naive2.

Each (series, channel) is modelled on its own. The naive baselines are pure
functions of the observed history (``(..., L) -> (..., H)``, below), so ``predict``
is the same function applied to the whole training series and ``predict_windows``
applies it to every input window at once.

All of them are probabilistic (``predict(h, quantiles=...)``, ``predict_interval``,
``sample``), with Gaussian forecast distributions centred on the point forecast, so the
0.5 quantile is the point forecast:

* the naive family follows R's ``forecast`` package (Hyndman & Athanasopoulos,
  *Forecasting: Principles and Practice*, 3rd ed., section 5.5), ``sigma`` estimated from
  the in-sample one-step residuals of the same history, ``h = 1..H``, ``T`` its length:

  ==============  =====================================  ===========================================
  method          standard deviation of the h-step error  ``sigma^2`` (residuals, divisor)
  ==============  =====================================  ===========================================
  naive           ``sigma sqrt(h)``                       ``y_t - y_{t-1}``, ``T - 1``
  seasonal naive  ``sigma sqrt(floor((h - 1) / m) + 1)``  ``y_t - y_{t-m}``, ``T - m``
  drift           ``sigma sqrt(h (1 + h / (T - 1)))``     changes minus their mean, ``T - 2``
  mean            ``s sqrt(1 + 1 / T)``, Student t        ``y_t - mean``, ``T - 1`` (``sd``)
  ==============  =====================================  ===========================================

  as ``forecast::naive``, ``snaive``, ``rwf(drift=TRUE)`` (whose ``h^2 / (T - 1)`` term is
  the drift's standard error; the book's table writes ``h / T``) and ``meanf`` (quantiles
  of Student's t with ``T - 1`` degrees of freedom; the others are normal). Naive2 is the
  naive interval of the seasonally adjusted series, re-seasonalised with the
  multiplicative index of each future step: ``I_{T+h} (a_T + z sigma_a sqrt(h))``.
  ``predict_windows`` takes ``sigma`` from each input window, as it does the forecast.
  Sample paths follow the models: random walks (cumulative sums of the innovations, per
  season for the seasonal naive), the drift's estimation error shared along a path, and
  for the mean a common error of the mean plus a scale drawn so that each step is
  exactly the Student t above.
* AR: the Gaussian intervals of its moving-average weights (:mod:`tsseq.ar`), equal to
  statsmodels' ``AutoRegResults.get_prediction``; see :class:`AR`.

None of them accepts missing values: fill them first, e.g. with
``tsseq.data.checks.check_series(frame, missing="interpolate")``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from tsseq.ar import (
    CRITERIA,
    STABLE_TOL,
    check_stable,
    exog_effect,
    fit_ar,
    fit_direct,
    forecast_direct,
    forecast_recursive,
    forecast_variance,
    pad_exog,
    required_length,
    residual_variance,
    spectral_radius,
)
from tsseq.base import Forecaster, check_positive_int
from tsseq.data.covariates import SeriesCovariates
from tsseq.data.timegrid import frequency_season
from tsseq.errors import ConfigError, DataError, MissingValuesError, closest_match
from tsseq.registry import register

# z-value of the one-sided 90% test in the M4 competition's seasonality test.
M4_SEASONALITY_Z = 1.645
# An AR forecast warns when its largest companion-matrix root (modulus > 1) alone would grow a
# deviation more than this many times over the forecast horizon: radius ** horizon > EXPLOSIVE_GROWTH.
# (Near-unit roots estimated on trending series, e.g. 1.001, grow little and stay silent.)
EXPLOSIVE_GROWTH = 1.5


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


def naive2_forecast(history: np.ndarray, horizon: int, season_length: int, indices: np.ndarray | None = None) -> np.ndarray:
    """M4's Naive2: naive forecast of the seasonally adjusted series, re-seasonalised: ``(..., L) -> (..., horizon)``.

    ``indices (..., m)`` are :func:`seasonal_indices` of ``history``, computed when not given.
    """
    length = history.shape[-1]
    indices = seasonal_indices(history, season_length) if indices is None else indices
    last_adjusted = history[..., -1] / indices[..., (length - 1) % season_length]
    return last_adjusted[..., None] * indices[..., (length + np.arange(horizon)) % season_length]


# --- standard deviations of the h-step forecast errors: history (..., L) -> (..., H) -------------


def lagwalk_sigma(history: np.ndarray, lag: int = 1) -> np.ndarray:
    """Residual sd of the (seasonal) naive method: ``sqrt(sum (y_t - y_{t-lag})^2 / (L - lag))``, ``(..., L) -> (...)``."""
    changes = history[..., lag:] - history[..., :-lag]
    return np.sqrt(np.mean(changes**2, axis=-1))


def naive_scale(history: np.ndarray, horizon: int, season_length: int = 1) -> np.ndarray:
    """``sigma sqrt(floor((h - 1) / m) + 1)`` (naive: ``m = 1``, ``sigma sqrt(h)``): ``(..., L > m) -> (..., horizon)``."""
    steps = np.arange(horizon) // season_length + 1
    return lagwalk_sigma(history, season_length)[..., None] * np.sqrt(steps)


def drift_scale(history: np.ndarray, horizon: int) -> np.ndarray:
    """``sigma sqrt(h (1 + h / (L - 1)))``, ``sigma^2`` the variance of the changes (divisor ``L - 2``): ``(..., L >= 3) -> (..., horizon)``."""
    changes = np.diff(history, axis=-1)
    sigma2 = np.sum((changes - changes.mean(axis=-1, keepdims=True)) ** 2, axis=-1) / (history.shape[-1] - 2)
    steps = np.arange(1, horizon + 1)
    return np.sqrt(sigma2[..., None] * steps * (1 + steps / (history.shape[-1] - 1)))


def mean_scale(history: np.ndarray, horizon: int) -> np.ndarray:
    """``s sqrt(1 + 1 / L)``, ``s`` the sample sd (divisor ``L - 1``), every step: ``(..., L >= 2) -> (..., horizon)``."""
    length = history.shape[-1]
    spread = np.std(history, axis=-1, ddof=1) * np.sqrt(1 + 1 / length)
    return np.repeat(spread[..., None], horizon, axis=-1)


def naive2_scale(history: np.ndarray, horizon: int, season_length: int, indices: np.ndarray | None = None) -> np.ndarray:
    """Naive2's error sd: ``I_{L+h} sigma_a sqrt(h)``, ``sigma_a`` of the adjusted series ``a_t = y_t / I_t``."""
    length = history.shape[-1]
    indices = seasonal_indices(history, season_length) if indices is None else indices
    adjusted = history / indices[..., np.arange(length) % season_length]
    future = indices[..., (length + np.arange(horizon)) % season_length]
    return future * naive_scale(adjusted, horizon)


def season_cumsum(values: np.ndarray, season_length: int) -> np.ndarray:
    """Cumulative sums along the last axis within each position of the season: ``out[h] = values[h] + out[h - m]``."""
    horizon = values.shape[-1]
    seasons = -(-horizon // season_length)
    padded = np.concatenate([values, np.zeros(values.shape[:-1] + (seasons * season_length - horizon,))], axis=-1)
    summed = np.cumsum(padded.reshape(values.shape[:-1] + (seasons, season_length)), axis=-2)
    return summed.reshape(padded.shape)[..., :horizon]


def _normal_quantiles(levels: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(levels)


# --- estimators ------------------------------------------------------------------------------


def _check_arrays(
    series: list[np.ndarray], needed: int, model: str, requirement: str, columns: Sequence[object] | None = None
) -> None:
    """Every ``(T, C)`` array is finite and has at least ``needed`` rows, or a DataError names the first that is not
    (by its channel's column too, when ``columns`` are known)."""
    for position, values in enumerate(series):
        what = "the series" if len(series) == 1 else f"series {position}"  # one series: no number to look up
        _check_finite_rows(values, model, what, "row", columns)
        if len(values) < needed:
            raise DataError(f"{what[0].upper()}{what[1:]} has {len(values)} rows; {model} {requirement}.")


def _check_windows(
    inputs: np.ndarray, needed: int, model: str, requirement: str, columns: Sequence[object] | None = None
) -> None:
    """Input windows ``(N, L, C)`` are finite and have ``L >= needed`` steps, or a DataError says why not (naming the
    window, the channel, its column when ``columns`` are known, and the step)."""
    if inputs.shape[1] < needed:
        raise DataError(
            f"predict_windows got windows of {inputs.shape[1]} steps; {model} {requirement}, "
            f"so it needs input windows of at least {needed} steps."
        )
    absent = ~np.isfinite(inputs)
    if absent.any():  # one pass over all windows (a backtest's thousands), then the first window with one named
        position = int(np.argmax(absent.any(axis=(1, 2))))
        _check_finite_rows(inputs[position], model, f"input window {position}", "step", columns)


def _check_finite_rows(values: np.ndarray, model: str, what: str, rows: str, columns: Sequence[object] | None) -> None:
    """A MissingValuesError naming ``what``, the channel (and column), how many and the first of ``rows``."""
    absent = ~np.isfinite(values)
    if absent.any():
        row, channel = np.argwhere(absent)[0]
        column = "" if columns is None else f"column {columns[channel]!r}, "
        raise MissingValuesError(
            f"{model} cannot use missing values: {what}, channel {channel} has {int(absent[:, channel].sum())} "
            f"missing or infinite value(s) ({column}first at {rows} {row}). Fill them first, e.g. with "
            "tsseq.data.checks.check_series(frame, missing='interpolate')."
        )


class _HistoryBaseline(Forecaster):
    """A baseline whose forecast, and its Gaussian error distribution, are functions of the observed history alone.

    Attributes
    ----------
    history_ : list of (C, T_i) float arrays
        The training series, channels first, from which ``predict`` forecasts.
    """

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """``(..., L) -> (..., horizon)``."""
        raise NotImplementedError

    def _scale(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """Standard deviation of the ``1..horizon``-step forecast errors: ``(..., L) -> (..., horizon)``."""
        raise NotImplementedError

    def check_params(self) -> None:
        self._requirement()

    def _requirement(self) -> tuple[int, str]:
        """Validate the parameters; return the fewest values a history needs and why."""
        return 1, "needs at least 1 value"

    def _interval_requirement(self) -> tuple[int, str]:
        """The fewest values a history needs for an interval (at least one residual) and why."""
        return 2, "needs at least 2 values for an interval (one in-sample residual)"

    def _season(self) -> int:
        """Steps between the values a random-walk path accumulates (the season of the seasonal naive)."""
        return 1

    def _point_and_scale(self, history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return self._forecast(history, horizon), self._scale(history, horizon)

    def _standard_quantiles(self, levels: np.ndarray, length: int) -> np.ndarray:
        """Quantiles ``(Q,)`` of the standardised error at ``levels`` (normal; Mean uses Student t)."""
        return _normal_quantiles(levels)

    def _noise(self, history: np.ndarray, scale: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Error paths ``(n, ..., H)`` with standard deviations ``scale (..., H)``: a random walk by default.

        Standard normal innovations accumulate every ``m = _season()`` steps, so the sd of
        step ``h`` is ``sqrt(floor((h - 1) / m) + 1)``; the walk is then multiplied by
        ``scale`` over that (``sigma``, or Naive2's ``I_{T+h} sigma_a``: the adjusted walk
        re-seasonalised).
        """
        steps = np.arange(scale.shape[-1]) // self._season() + 1
        walk = season_cumsum(rng.standard_normal((n,) + scale.shape), self._season())
        return walk * (scale / np.sqrt(steps))

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        needed, requirement = self._requirement()
        _check_arrays(series, needed, type(self).__name__, requirement)
        self.history_ = [np.ascontiguousarray(values.T) for values in series]  # (C, T_i) each

    def _by_length(self, function) -> list[np.ndarray]:
        """Apply ``function`` to the histories ``(k, C, L)`` of each group of series of equal length; one result per series."""
        lengths = np.array([history.shape[1] for history in self.history_])
        results: list[np.ndarray] = [np.empty(0)] * len(lengths)
        for length in np.unique(lengths):
            positions = np.flatnonzero(lengths == length)
            for position, result in zip(positions, function(np.stack([self.history_[p] for p in positions]))):
                results[position] = result
        return results

    def _check_interval_length(self, lengths: list[int], what: str) -> None:
        needed, requirement = self._interval_requirement()
        short = [position for position, length in enumerate(lengths) if length < needed]
        if short:
            ids = self.layout_.series_ids
            name = short[0] if ids is None else ids[short[0]]
            raise DataError(
                f"{type(self).__name__} {requirement}; {what} {name!r} has {lengths[short[0]]}"
                f"{f' ({len(short)} series are that short)' if len(short) > 1 else ''}."
            )

    def _quantile_batch(self, history: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        """``(..., L) -> (..., horizon, Q)``: point + scale * standard quantile."""
        point, scale = self._point_and_scale(history, horizon)
        return point[..., None] + scale[..., None] * self._standard_quantiles(levels, history.shape[-1])

    def _predict(self, horizon: int) -> list[np.ndarray]:
        # Series of equal length are forecast together.
        return [forecast.T for forecast in self._by_length(lambda batch: self._forecast(batch, horizon))]

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        needed, requirement = self._requirement()
        _check_windows(inputs, needed, type(self).__name__, requirement)
        return self._forecast(inputs.transpose(0, 2, 1), horizon).transpose(0, 2, 1)  # (N, H, C)

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        self._check_interval_length([history.shape[1] for history in self.history_], "series")
        quantiles = self._by_length(lambda batch: self._quantile_batch(batch, horizon, levels))  # (C, H, Q) each
        return [values.transpose(1, 0, 2) for values in quantiles]

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        needed, requirement = self._interval_requirement()
        _check_windows(inputs, needed, type(self).__name__, requirement)
        return self._quantile_batch(inputs.transpose(0, 2, 1), horizon, levels).transpose(0, 2, 1, 3)  # (N, H, C, Q)

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        self._check_interval_length([history.shape[1] for history in self.history_], "series")

        def paths(batch: np.ndarray) -> np.ndarray:  # (k, C, L) -> (k, n, H, C)
            point, scale = self._point_and_scale(batch, horizon)
            return (point + self._noise(batch, scale, n, rng)).transpose(1, 0, 3, 2)

        return self._by_length(paths)


@register("naive")
class Naive(_HistoryBaseline):
    """Repeat the last observed value; intervals of a random walk, ``sigma sqrt(h)``."""

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive_forecast(history, horizon)

    def _scale(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive_scale(history, horizon)


@register("mean")
class Mean(_HistoryBaseline):
    """Repeat the mean of the history; intervals ``s sqrt(1 + 1/T)`` with Student t quantiles (R's ``meanf``)."""

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return mean_forecast(history, horizon)

    def _scale(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return mean_scale(history, horizon)

    def _standard_quantiles(self, levels: np.ndarray, length: int) -> np.ndarray:
        from scipy.stats import t

        return t.ppf(levels, length - 1)

    def _noise(self, history: np.ndarray, scale: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        # y_{T+h} - mean = (mu - mean) + e_{T+h}: one error of the mean per path, plus iid steps, with the
        # scale drawn as s sqrt((T-1) / chi2_{T-1}) so that every step is s sqrt(1 + 1/T) t_{T-1}.
        length = history.shape[-1]
        shape = (n,) + scale.shape[:-1] + (1,)
        spread = scale[..., :1] / np.sqrt(1 + 1 / length) * np.sqrt((length - 1) / rng.chisquare(length - 1, size=shape))
        return spread * (rng.standard_normal(shape) / np.sqrt(length) + rng.standard_normal((n,) + scale.shape))


@register("drift")
class Drift(_HistoryBaseline):
    """Random walk with drift: the line through the first and the last value, extended.

    Intervals ``sigma sqrt(h (1 + h / (T - 1)))``: the random walk's plus the drift's
    estimation error (R's ``rwf(drift=TRUE)``); a sample path draws that error once.
    """

    def _requirement(self) -> tuple[int, str]:
        return 2, "needs at least 2 values to estimate a drift"

    def _interval_requirement(self) -> tuple[int, str]:
        return 3, "needs at least 3 values for an interval (a drift and one residual degree of freedom)"

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return drift_forecast(history, horizon)

    def _scale(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return drift_scale(history, horizon)

    def _noise(self, history: np.ndarray, scale: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        changes = history.shape[-1] - 1
        sigma = scale[..., :1] / np.sqrt(1 + 1 / changes)  # scale at h = 1
        steps = np.arange(1, scale.shape[-1] + 1)
        walk = np.cumsum(rng.standard_normal((n,) + scale.shape), axis=-1)
        drift_error = rng.standard_normal((n,) + scale.shape[:-1] + (1,)) / np.sqrt(changes)
        return sigma * (walk + steps * drift_error)


class _FrequencySeason:
    """``season_length=None``: the season of the data's frequency (:func:`~tsseq.data.timegrid.frequency_season`:
    monthly 12, quarterly 4, daily 7, hourly 24, yearly 1), read at ``fit`` as ``season_length_``, as R's
    ``snaive`` reads ``frequency(y)``; a season of 1 would quietly make the model the naive one."""

    season_length: int | None

    def _read_layout(self, layout) -> None:
        given = self.season_length
        self.season_length_ = frequency_season(layout.freq) if given is None else check_positive_int(given, "season_length")

    def _season_length(self) -> int:
        """The season in use: ``season_length``, else the fitted ``season_length_`` (1 before ``fit``)."""
        if self.season_length is not None:
            return check_positive_int(self.season_length, "season_length")
        return getattr(self, "season_length_", 1)

    def _season_said(self) -> str:
        m = self._season_length()
        return f"season_length={m}" + (" (its frequency's season)" if self.season_length is None else "")


@register("seasonal_naive")
class SeasonalNaive(_FrequencySeason, _HistoryBaseline):
    """Repeat the last season.

    Parameters
    ----------
    season_length : int >= 1 or None
        Steps per season, e.g. 24 for hourly data with a daily cycle (1 gives :class:`Naive`);
        None (the default): the season of the data's frequency (:class:`_FrequencySeason`).
    """

    def __init__(self, *, season_length: int | None = None) -> None:
        self.season_length = season_length

    def _requirement(self) -> tuple[int, str]:
        m = self._season_length()
        return m, f"with {self._season_said()} needs at least one season ({m} values)"

    def _interval_requirement(self) -> tuple[int, str]:
        m = self._season_length()
        return m + 1, f"with {self._season_said()} needs at least {m + 1} values for an interval (season_length + 1)"

    def _season(self) -> int:
        return self._season_length()

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return seasonal_naive_forecast(history, horizon, self._season_length())

    def _scale(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive_scale(history, horizon, self._season_length())


@register("naive2")
class Naive2(_FrequencySeason, _HistoryBaseline):
    """The M4 competition's Naive2: naive on the seasonally adjusted series.

    A series is adjusted when :func:`seasonality_test` finds it seasonal at 90%, with
    indices from classical multiplicative decomposition (:func:`seasonal_indices`).
    On M4 Hourly (``season_length=24``) it gives the published sMAPE 18.383 and MASE 2.395.

    Intervals: the naive interval of the adjusted series ``a_t = y_t / I_t``,
    re-seasonalised, ``I_{T+h} (a_T + z sigma_a sqrt(h))`` (sample paths likewise), so
    they widen and narrow with the seasonal index; a non-seasonal series gets Naive's.

    Parameters
    ----------
    season_length : int >= 1 or None
        Steps per season (1: never seasonal, i.e. :class:`Naive`); None (the default): the season of
        the data's frequency (:class:`_FrequencySeason`).
    """

    def __init__(self, *, season_length: int | None = None) -> None:
        self.season_length = season_length

    def _requirement(self) -> tuple[int, str]:
        self._season_length()  # validated
        return 1, "needs at least 1 value"

    def _forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return naive2_forecast(history, horizon, self._season_length())

    def _point_and_scale(self, history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        season = self._season_length()
        indices = seasonal_indices(history, season)  # decomposed once for both
        return naive2_forecast(history, horizon, season, indices), naive2_scale(history, horizon, season, indices)


@register("ar")
class AR(Forecaster):
    """Autoregressive model with intercept, one per (series, channel), by exact least squares.

    ``y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} + e_t``; the coefficients equal
    statsmodels' ``AutoReg(y, lags=p, trend="c").fit().params`` and the selected order
    equals ``ar_select_order(y, maxlag=max_order, ic=criterion, trend="c")``. All
    series and channels are fitted in one batch (see :mod:`tsseq.ar`).

    Orders that cannot explode. The selection considers the orders
    ``0..min(max_order, T // 4)`` of a series of ``T`` rows (Box & Jenkins' lag limit,
    :func:`tsseq.ar.max_order_for_length`), so a ``max_order`` that suits long series
    does not overfit short ones, and a series shorter than ``2 max_order + 2`` rows is
    fitted with fewer lags instead of refused. With ``stable=True`` (the default) a
    recursive model whose companion matrix has a root of modulus above
    ``1 + stable_tol`` is replaced by the candidate of minimal criterion among the stable
    lower orders (order 0, the mean, among them) and the random walk with drift (a growing
    series explodes at every order: :mod:`tsseq.ar`), refitted; ``fit`` warns once, naming
    each replaced series and channel with its models before and after. On series long enough for
    ``max_order`` whose fits are stable nothing changes: statsmodels' equalities hold.

    Forecast distribution, Gaussian and centred on the point forecast:

    * ``strategy="recursive"``: the ``h``-step error variance ``sigma2 sum_{j<h} psi_j^2``
      from the moving-average weights, with ``sigma2 = RSS / (T - p)``; the quantiles equal
      statsmodels' ``get_prediction(...).conf_int`` / ``summary_frame`` (of the replaced,
      stable order where the fit was replaced). ``sample`` draws paths ancestrally
      (Gaussian innovations fed back through the recursion).
      ``variance="unbiased"`` divides by the residual degrees of freedom instead,
      ``sigma2 = RSS / (T - 2p - K - 1)``: in-sample residuals understate the error of a
      high-order fit, and on M4 Hourly (lags up to 168) the maximum-likelihood intervals
      cover 92.0% of the test values for a nominal 95%.
    * ``strategy="direct"``: each horizon's own regression gives its error variance
      ``RSS_h / nobs_h`` (its in-sample ``h``-step residuals), so no model of the error
      dependence is assumed; ``sample`` draws each step from its marginal (the steps of
      a path are independent). Direct models do not feed back, so ``stable`` does not
      apply to them.

    ``predict_windows`` uses the same standard deviations for every window. A kept model
    with a root of modulus ``1 < r <= 1 + stable_tol`` (or any with ``stable=False``)
    still grows geometrically: a forecast of ``H`` steps from it warns, naming the series
    and channels, when ``r ** H > EXPLOSIVE_GROWTH`` (1.5), and a variance that overflows
    is then refused as non-finite.

    Exogenous regressors (ARX) through the public API: ``fit(y,
    future_covariates=X)`` fits ``y_t = c + sum_j phi_j y_{t-j} + b' x_t + e_t`` with the
    future covariates of row ``t`` as the regressors of ``y_t`` (equal to statsmodels'
    ``AutoReg(y, lags=p, exog=X)``), and ``predict(h, future_covariates=X_future)`` adds
    ``b' x_{T+h}`` at each step (``exog_oos``). Past covariates are refused: entering
    contemporaneously, as ARX regressors do, they would be needed over the horizon,
    where they are not observed; lagging them by the horizon would tie the fitted model to
    one horizon (``predict`` takes any). A past driver whose effect lags by ``k >= H``
    steps is a future covariate once shifted: pass ``x.shift(k)`` as a future covariate.
    Static covariates are refused too: per-series models have nothing to learn from a
    per-series constant (the intercept absorbs it).

    The array methods under it (the frames' layout is the caller's): ``_fit_exog(series, exog)`` takes the targets
    ``series``, a list of ``(T_i, C)`` arrays as ``_fit`` does, and ``exog``, a list of
    ``(T_i, K)`` arrays aligned row by row with them (the same ``K`` columns for every
    series; row ``t`` enters the regression of ``y_t``, as statsmodels' ``AutoReg(y,
    lags=p, exog=X)``, so a past-only covariate is passed lagged), and fits
    ``y_t = c + sum_j phi_j y_{t-j} + b' x_t + e_t`` for every channel, equal to
    statsmodels to 1e-6. Afterwards ``_predict``, ``_predict_quantiles`` and
    ``_sample`` need ``future_covariates=``, a list of ``(H_i >= horizon, K)`` arrays, the
    regressors of the ``horizon`` steps after each series' end (their first ``horizon``
    rows are used). Recursive strategy only; ``predict_windows`` of an ARX takes the
    regressors of each window's horizon (``covariates=``, a
    :class:`~tsseq.data.covariates.WindowCovariates`), so backtests pass them through.

    Parameters
    ----------
    order : int >= 1, optional
        Fixed order. ``None`` selects it in ``0..min(max_order, T // 4)`` by ``criterion``.
    max_order : int >= 1
        Largest order the selection considers (ignored when ``order`` is given).
    criterion : {"aic", "bic", "hqic"}
        Information criterion of the selection, and of the replacement of explosive fits.
    strategy : {"recursive", "direct"}
        ``"recursive"`` iterates the one-step model; ``"direct"`` fits one regression
        of ``y_{t+h}`` on the same ``p`` lags for each ``h = 1..horizon``.
    horizon : int >= 1, optional
        Longest horizon of the direct models (required by ``strategy="direct"``).
    variance : {"mle", "unbiased"}
        The innovation variance of the intervals: ``RSS / nobs`` (statsmodels') or
        ``RSS / (nobs - p - K - 1)`` (the residual degrees of freedom); see above.
    stable : bool
        Replace explosive recursive fits by the best stable lower order or the random walk
        with drift (``False`` keeps them, and the warning at forecast time).
    stable_tol : float >= 0
        A fit is explosive when its companion matrix has a root of modulus above
        ``1 + stable_tol``; the default 0.01 keeps the near-unit roots of trending series.

    Attributes
    ----------
    order_ : (S, C) int
        Order per series and channel.
    max_order_ : (S, C) int
        The largest order considered: ``max_order`` capped by the series' length (the
        fixed ``order`` when given).
    replaced_order_ : (S, C) int
        The explosive order first chosen where ``stable`` replaced it, -1 elsewhere.
    replaced_radius_ : (S, C) float
        The root modulus of that replaced fit, NaN elsewhere.
    random_walk_ : (S, C) bool
        Where the replacement is the random walk with drift (order 1, coefficient 1, the
        intercept its drift: :mod:`tsseq.ar`), not a stable lower order.
    intercept_ : (S, C) float
    coef_ : (S, C, P) float
        One-step coefficients, ``coef_[s, c, i]`` multiplies ``y_{t-1-i}``;
        ``P = order_.max()`` and entries beyond a model's order are 0.
    exog_coef_ : (S, C, K) float or None
        Coefficients of the regressors after ``_fit_exog``; ``None`` after ``fit``.
    criteria_ : (S, C, max_order + 1) float or None
        The criterion of every order on the common sample, ``inf`` above ``max_order_``
        (``None`` for a fixed order).
    direct_intercept_ : (S, C, horizon) float, direct strategy only
    direct_coef_ : (S, C, horizon, P) float, direct strategy only
        ``direct_coef_[s, c, h - 1, i]`` multiplies ``y_{t-i}`` in the forecast of ``y_{t+h}``.
    last_values_ : (S, C, P) float
        The last ``P`` training values, the start of ``predict``.
    df_, residual_rows_ : (S, C) float, (S, C) int
        Each one-step model's degrees of freedom (order, regressors and intercept) and the
        rows it was regressed on, ``T - p``.
    sigma2_ : (S, C) float
        Innovation variance of each one-step model: ``RSS / (T - p)`` (statsmodels' ``sigma2``),
        or ``RSS / (T - 2p - K - 1)`` with ``variance="unbiased"``.
    direct_sigma2_ : (S, C, horizon) float, direct strategy only
        Error variance of each direct model, ``RSS_h / (T - p - h + 1)``.
    """

    def __init__(
        self,
        *,
        order: int | None = None,
        max_order: int = 10,
        criterion: str = "aic",
        strategy: str = "recursive",
        horizon: int | None = None,
        variance: str = "mle",
        stable: bool = True,
        stable_tol: float = STABLE_TOL,
    ) -> None:
        self.order = order
        self.max_order = max_order
        self.criterion = criterion
        self.strategy = strategy
        self.horizon = horizon
        self.variance = variance
        self.stable = stable
        self.stable_tol = stable_tol

    def check_params(self) -> None:
        self._check_params()

    def _check_params(self) -> tuple[int, int]:
        """Validate the parameters; return the largest lag and the direct horizon (1 if recursive)."""
        max_lag = check_positive_int(self.max_order, "max_order")
        if self.order is not None:
            max_lag = check_positive_int(self.order, "order")
        choices = (
            ("criterion", self.criterion, CRITERIA),
            ("strategy", self.strategy, ("recursive", "direct")),
            ("variance", self.variance, ("mle", "unbiased")),
        )
        for name, value, options in choices:
            if value not in options:
                raise ConfigError(
                    f"The {name!r} parameter must be one of {', '.join(options)}. "
                    f"Got {value!r} instead.{closest_match(str(value), options)}"
                )
        check_stable(self.stable, self.stable_tol)
        if self.strategy == "recursive":
            return max_lag, 1
        if self.horizon is None:
            raise ConfigError("The 'horizon' parameter must be an int >= 1 when strategy='direct'. Got None instead.")
        return max_lag, check_positive_int(self.horizon, "horizon")

    def fit(self, y, **fit_options) -> "AR":
        """As :meth:`Forecaster.fit` (every keyword passed on), then one warning naming the fits ``stable`` replaced."""
        super().fit(y, **fit_options)
        self._warn_replaced()
        return self

    supported_covariates = frozenset({"future"})

    def _covariates_note(self) -> str:
        return (
            "AR's regressors enter contemporaneously (y_t on x_t, as statsmodels' AutoReg(exog=)), so they must be "
            "known over the horizon; pass a past driver shifted by k >= horizon steps as a future covariate."
        )

    def _fit(
        self,
        series: list[np.ndarray],
        validation: list[np.ndarray] | None = None,
        covariates: SeriesCovariates | None = None,
        validation_covariates: SeriesCovariates | None = None,
    ) -> None:
        if covariates is not None:
            self._fit_exog(series, covariates.future)
            return
        self._fit_arrays(series, exog=None)

    def _fit_exog(self, series: list[np.ndarray], exog: list[np.ndarray]) -> None:
        """Fit an ARX on targets ``series`` (``(T_i, C)`` each) and regressors ``exog`` (``(T_i, K)``, row-aligned).

        The caller sets ``layout_`` (as :meth:`fit` does) and may then call
        :meth:`_warn_replaced`; see the class docstring.
        """
        if self.strategy != "recursive":
            raise ConfigError(
                f"AR takes exogenous regressors with strategy='recursive' only. Got strategy={self.strategy!r}."
            )
        self._fit_arrays(series, exog=exog)

    def _fit_arrays(self, series: list[np.ndarray], exog: list[np.ndarray] | None) -> None:
        max_lag, horizon = self._check_params()
        if self.order is not None:
            needed = required_length(max_lag, horizon)
            rule = "2 * order + 2" if horizon == 1 else "2 * order + horizon + 1"
            _check_arrays(series, needed, "AR", f"with order={max_lag} needs at least {needed} rows ({rule})")
        else:  # max_order is capped by each series' length; order 0 needs one residual degree of freedom
            needed = required_length(0, horizon)
            _check_arrays(series, needed, "AR", f"needs at least {needed} rows")
        if exog is not None:
            pad_exog(series, exog)  # checked per series here, before they are repeated for every channel
        n_series, n_channels = len(series), series[0].shape[1]
        columns = [values[:, channel] for values in series for channel in range(n_channels)]
        exog_columns = None if exog is None else [regressors for regressors in exog for _ in range(n_channels)]
        fit = fit_ar(
            columns,
            order=self.order,
            max_order=max_lag,
            criterion=self.criterion,
            exog=exog_columns,
            stable=bool(self.stable) and self.strategy == "recursive",
            stable_tol=float(self.stable_tol),
            horizon=horizon,
        )
        grid = (n_series, n_channels)
        self.order_ = fit.order.reshape(grid)
        self.max_order_ = fit.max_order.reshape(grid)
        kept = np.full(grid, -1) if fit.replaced_order is None else fit.replaced_order.reshape(grid)
        self.replaced_order_ = kept
        self.replaced_radius_ = np.full(grid, np.nan) if fit.replaced_radius is None else fit.replaced_radius.reshape(grid)
        self.random_walk_ = np.zeros(grid, dtype=bool) if fit.random_walk is None else fit.random_walk.reshape(grid)
        self.intercept_ = fit.intercept.reshape(grid)
        self.coef_ = fit.coef.reshape(grid + (-1,))
        self.exog_coef_ = None if fit.exog_coef is None else fit.exog_coef.reshape(grid + (-1,))
        self.criteria_ = None if fit.criteria is None else fit.criteria.reshape(grid + (-1,))
        n_exog = 0 if fit.exog_coef is None else fit.exog_coef.shape[1]
        nobs = np.array([len(values) for values in columns]) - fit.order  # statsmodels' nobs, T - p
        degrees = fit.order + n_exog + 1.0  # lags, regressors and intercept
        self.df_, self.residual_rows_ = degrees.reshape(grid), nobs.reshape(grid)
        self.sigma2_ = fit.sigma2.reshape(grid)
        if self.variance == "unbiased":
            self.sigma2_ = (fit.sigma2 * nobs / np.maximum(nobs - degrees, 1)).reshape(grid)
        if self.strategy == "direct":
            intercept, coef = fit_direct(columns, fit.order, horizon)
            self.direct_intercept_ = intercept.reshape(grid + (horizon,))
            self.direct_coef_ = coef.reshape(grid + (horizon, -1))
            variance = [residual_variance(columns, intercept[:, h], coef[:, h], fit.order, h + 1) for h in range(horizon)]
            self.direct_sigma2_ = np.stack(variance, axis=1).reshape(grid + (horizon,))
        width = self.coef_.shape[-1]
        self.last_values_ = np.stack([last_rows(values, width).T for values in series])  # (S, C, P)

    def _model_names(self, positions: np.ndarray) -> list[str]:
        """``series 'id' channel 'name'`` of each ``(s, c)`` row of ``positions`` (their numbers before ``layout_`` is set)."""
        layout = getattr(self, "layout_", None)
        if layout is None:
            return [f"series {s} channel {c}" for s, c in positions]
        ids = layout.series_ids
        return [f"{'' if ids is None else f'series {ids[s]!r} '}channel {layout.columns[c]!r}" for s, c in positions]

    def replaced_fits(self, limit: int | None = None, radius: bool = False) -> list[str]:
        """``<series and channel>: order p -> q`` (or ``-> a random walk with drift``) of each fit ``stable``
        replaced (the first ``limit``), with the replaced fit's root modulus when ``radius``."""
        replaced = np.argwhere(self.replaced_order_ >= 0)[:limit]
        return [
            f"{name}: order {self.replaced_order_[s, c]} -> "
            f"{'a random walk with drift' if self.random_walk_[s, c] else self.order_[s, c]}"
            + (f" (root modulus {self.replaced_radius_[s, c]:.4g})" if radius else "")
            for name, (s, c) in zip(self._model_names(replaced), replaced)
        ]

    def _warn_replaced(self) -> None:
        """One warning naming every (series, channel) whose explosive fit ``stable`` replaced (the first ten)."""
        count = int(np.count_nonzero(self.replaced_order_ >= 0))
        if not count:
            return
        named = self.replaced_fits(limit=10, radius=True)
        more = f" and {count - 10} more" if count > 10 else ""
        warnings.warn(
            f"AR: {count} fitted model(s) were explosive (a companion-matrix root of modulus above "
            f"1 + stable_tol = {1 + self.stable_tol:g}) and were replaced by the stable lower order or the random "
            f"walk with drift of best {self.criterion}: {'; '.join(named)}{more}. AR's parameter stable=False keeps "
            "them (tsseq: --model ar --param stable=false).",
            UserWarning,
            stacklevel=3,
        )

    def _exog_effect(self, horizon: int, future_covariates: list[np.ndarray] | None) -> np.ndarray | None:
        """``b' x_{T+h}`` of every model, ``(S, C, horizon)``, from the future regressors; ``None`` for a plain AR."""
        if getattr(self, "exog_coef_", None) is None:
            if future_covariates is not None:
                raise DataError("This AR was fitted without exogenous regressors; it takes no future_covariates.")
            return None
        n_series, n_channels, n_exog = self.exog_coef_.shape
        if future_covariates is None or len(future_covariates) != n_series:
            got = "none" if future_covariates is None else f"{len(future_covariates)} arrays"
            raise DataError(
                f"This AR was fitted with {n_exog} exogenous regressor(s); forecasting needs their future values, "
                f"one (horizon, {n_exog}) array per series for {n_series} series. Got {got}."
            )
        for position, regressors in enumerate(future_covariates):
            if np.ndim(regressors) != 2 or np.shape(regressors)[1] != n_exog or len(regressors) < horizon:
                raise DataError(
                    f"The future regressors of series {position} have shape {np.shape(regressors)}; "
                    f"a forecast of {horizon} steps needs at least ({horizon}, {n_exog})."
                )
            if not np.all(np.isfinite(regressors[:horizon])):
                raise DataError(f"The future regressors of series {position} have missing or infinite values.")
        future = np.stack([np.asarray(regressors, dtype=np.float64)[:horizon] for regressors in future_covariates])  # (S, H, K)
        return exog_effect(self.exog_coef_, future[:, None])  # (S, C, H)

    def _forecast(
        self, model: tuple[int, ...] | slice, history: np.ndarray, horizon: int, effect: np.ndarray | None = None
    ) -> np.ndarray:
        """Forecast with the models ``[model]`` from ``history (..., L)``, broadcasting -> ``(..., horizon)``."""
        if self.strategy == "recursive":
            return forecast_recursive(self.intercept_[model], self.coef_[model], history, horizon, exog_effect=effect)
        self._check_direct_horizon(horizon)
        return forecast_direct(self.direct_intercept_[model], self.direct_coef_[model], history, horizon)

    def _check_direct_horizon(self, horizon: int) -> None:
        if horizon > self.horizon:
            raise ConfigError(
                f"This AR fitted direct models up to horizon={self.horizon}; it cannot forecast {horizon} "
                "steps. Refit with a larger 'horizon' or use strategy='recursive'."
            )

    def _predict(self, horizon: int, future_covariates: list[np.ndarray] | None = None) -> list[np.ndarray]:
        effect = self._exog_effect(horizon, future_covariates)
        self._warn_if_explosive(horizon)
        forecast = self._forecast(slice(None), self.last_values_, horizon, effect)  # (S, C, H)
        return list(forecast.transpose(0, 2, 1))

    def _predict_windows(self, inputs: np.ndarray, horizon: int, covariates=None) -> np.ndarray:
        effect = None
        if getattr(self, "exog_coef_", None) is not None:
            if covariates is None or covariates.future is None:
                raise DataError(
                    "predict_windows of an AR fitted with exogenous regressors needs their values over each window's "
                    "horizon: covariates=window_covariates(...) with future covariates."
                )
            future = covariates.future[:, inputs.shape[1] :]  # (N, H, K): the horizon's rows
            effect = exog_effect(self.exog_coef_[0], future[:, None])  # (N, C, H)
        if self.order_.shape[0] != 1:
            raise DataError(
                f"predict_windows needs an AR fitted on one series (a wide frame); this one was fitted "
                f"on {self.order_.shape[0]} series, each with its own models."
            )
        width = self.coef_.shape[-1]  # its (highest) fitted order: the lags it reads
        chosen = f"order={self.order}" if self.order is not None else f"by {self.criterion} up to max_order={self.max_order}"
        fitted = "fitted order" if self.order_.size == 1 else "highest fitted order"
        _check_windows(inputs, width, "AR", f"reads the last {width} values of each channel, its {fitted} ({chosen})")
        self._warn_if_explosive(horizon)
        return self._forecast(0, inputs.transpose(0, 2, 1), horizon, effect).transpose(0, 2, 1)  # (N, H, C)

    # --- forecast distribution ------------------------------------------------------------------

    def _error_sd(self, horizon: int) -> np.ndarray:
        """Standard deviation of the ``1..horizon``-step forecast errors of every model: ``(S, C, horizon)``."""
        if self.strategy == "recursive":
            variance = forecast_variance(self.coef_, self.sigma2_, horizon)
        else:
            self._check_direct_horizon(horizon)
            variance = self.direct_sigma2_[..., :horizon]
        with np.errstate(invalid="ignore"):
            return np.sqrt(variance)  # the point forecast that comes with it has warned if explosive

    def _warn_if_explosive(self, horizon: int) -> None:
        """Warn, naming the series and channels, about recursive models that explode within ``horizon`` steps."""
        if self.strategy != "recursive":
            return
        radius = spectral_radius(self.coef_)  # (S, C); recomputed: online updates may change coef_
        with np.errstate(over="ignore"):
            bad = ~(radius**horizon <= EXPLOSIVE_GROWTH)
        if not bad.any():
            return
        positions = np.argwhere(bad)[:5]
        named = [f"{name} (root modulus {radius[s, c]:.4g})" for name, (s, c) in zip(self._model_names(positions), positions)]
        warnings.warn(
            f"AR: {int(bad.sum())} fitted model(s) are explosive (a companion-matrix root outside the unit "
            f"circle), e.g. {', '.join(named)}: over {horizon} steps their forecasts and forecast variances grow "
            "geometrically and are not to be trusted. Fit a lower 'order' or 'max_order', or difference the series.",
            UserWarning,
            stacklevel=4,
        )

    def _predict_quantiles(
        self, horizon: int, levels: np.ndarray, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        effect = self._exog_effect(horizon, future_covariates)
        point = self._forecast(slice(None), self.last_values_, horizon, effect)  # (S, C, H)
        quantiles = point[..., None] + self._error_sd(horizon)[..., None] * _normal_quantiles(levels)
        return list(quantiles.transpose(0, 2, 1, 3))  # (H, C, Q) per series

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray, covariates=None) -> np.ndarray:
        point = self._predict_windows(inputs, horizon, covariates)  # (N, H, C)
        sd = self._error_sd(horizon)[0].T  # (H, C): the same for every window
        return point[..., None] + sd[..., None] * _normal_quantiles(levels)

    def _sample(
        self, horizon: int, n: int, rng: np.random.Generator, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        effect = self._exog_effect(horizon, future_covariates)
        shape = (n,) + self.intercept_.shape + (horizon,)  # (n, S, C, H)
        if self.strategy == "recursive":
            self._warn_if_explosive(horizon)
            noise = rng.standard_normal(shape) * np.sqrt(self.sigma2_)[..., None]
            paths = forecast_recursive(self.intercept_, self.coef_, self.last_values_, horizon, noise=noise, exog_effect=effect)
        else:
            point = self._forecast(slice(None), self.last_values_, horizon)
            paths = point + rng.standard_normal(shape) * self._error_sd(horizon)
        return list(paths.transpose(1, 0, 3, 2))  # (n, H, C) per series


def last_rows(values: np.ndarray, width: int) -> np.ndarray:
    """The last ``width`` rows of ``values`` ``(T, C)``: the lags of a panel's autoregression whose coefficients are
    as wide as its highest order. A series shorter than that (a short one of the panel) is padded with zeros before
    its start, where its own order, which its length caps, never reads (those coefficients are zero)."""
    tail = values[max(len(values) - width, 0) :]
    return np.concatenate([np.zeros((width - len(tail), values.shape[1])), tail])
