"""Forecast accuracy metrics: numpy arrays of any shape in, one float out.

Every metric averages over all elements of its inputs (windows, horizon steps,
channels), which is how the published long-horizon tables report MSE and MAE.
An optional boolean ``mask`` of the same shape as ``y_true`` marks the observed
values (``True``); the others are left out of the average.

Probabilistic forecasts are scored from quantiles ``(..., Q)`` at increasing levels
``(Q,)`` (``pinball_loss``, ``weighted_quantile_loss``, ``crps_from_quantiles``,
``pit_from_quantiles``), from samples with one more axis (``crps_from_samples``,
``pit_from_samples``), or from the bounds of an interval (``coverage``,
``mean_interval_width``, ``msis`` and ``acd``, M4's interval metrics). The PIT
functions return one value per element, for calibration plots, not a float.

Units follow the M4 competition: ``mape`` and ``smape`` are in percent (0-100 for
MAPE of a forecast no worse than zero, 0-200 for sMAPE), unlike scikit-learn's
``mean_absolute_percentage_error`` which returns a fraction. ``mse``, ``mae`` and
``rmse`` are in the units of the data (squared for MSE); ``mase`` and ``owa`` are
unitless ratios.
"""

from __future__ import annotations

import numpy as np

from tsseq.base import check_positive_int
from tsseq.errors import DataError

__all__ = [
    "acd",
    "coverage",
    "crps_from_quantiles",
    "crps_from_samples",
    "mae",
    "mape",
    "mase",
    "mean_interval_width",
    "mse",
    "msis",
    "owa",
    "pinball_loss",
    "pit_from_quantiles",
    "pit_from_samples",
    "rmse",
    "seasonal_naive_scale",
    "smape",
    "weighted_quantile_loss",
]


def _observed_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of arrays and return the observed elements as two 1-D float64 arrays."""
    truth = np.asarray(y_true, dtype=np.float64)
    forecast = np.asarray(y_pred, dtype=np.float64)
    if truth.shape != forecast.shape:
        raise DataError(
            f"{metric}: y_true and y_pred must have the same shape. "
            f"Got y_true {truth.shape} and y_pred {forecast.shape}."
        )
    if mask is not None:
        observed = np.asarray(mask)
        if observed.shape != truth.shape or observed.dtype != np.bool_:
            raise DataError(
                f"{metric}: mask must be a boolean array of the shape of y_true {truth.shape}. "
                f"Got dtype {observed.dtype} and shape {observed.shape}."
            )
        truth, forecast = truth[observed], forecast[observed]
    else:
        truth, forecast = truth.ravel(), forecast.ravel()
    if truth.size == 0:
        raise DataError(f"{metric}: no values to score (empty input, or the mask leaves none observed).")
    for name, values in (("y_true", truth), ("y_pred", forecast)):
        if not np.isfinite(values).all():
            count = int(np.count_nonzero(~np.isfinite(values)))
            raise DataError(
                f"{metric}: {name} has {count} NaN or infinite value(s) among the scored elements; "
                "pass mask=<observed> to leave missing targets out."
            )
    return truth, forecast


def mse(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean squared error, ``mean((y - f)**2)``, over all (observed) elements."""
    from sklearn.metrics import mean_squared_error  # here: importing scikit-learn costs 0.5 s (tsseq.parameters)

    truth, forecast = _observed_pairs(y_true, y_pred, mask, "mse")
    return float(mean_squared_error(truth, forecast))


def mae(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute error, ``mean(|y - f|)``, over all (observed) elements."""
    from sklearn.metrics import mean_absolute_error

    truth, forecast = _observed_pairs(y_true, y_pred, mask, "mae")
    return float(mean_absolute_error(truth, forecast))


def rmse(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Root mean squared error, ``sqrt(mse)``: one square root of the pooled MSE."""
    return float(np.sqrt(mse(y_true, y_pred, mask=mask)))


def mape(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute percentage error in percent, ``100 * mean(|y - f| / |y|)``.

    Raises
    ------
    DataError
        If an observed ``y_true`` is 0, where MAPE is undefined (scikit-learn would
        instead divide by machine epsilon and return a huge number); use ``smape`` or
        ``mase`` for such data.
    """
    truth, forecast = _observed_pairs(y_true, y_pred, mask, "mape")
    zeros = int(np.count_nonzero(truth == 0))
    if zeros:
        raise DataError(
            f"mape: y_true has {zeros} value(s) equal to 0, where the percentage error is undefined. "
            "Use smape or mase instead."
        )
    from sklearn.metrics import mean_absolute_percentage_error

    # scikit-learn returns a fraction; M4 and most papers report percent.
    return 100.0 * float(mean_absolute_percentage_error(truth, forecast))


def smape(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Symmetric MAPE of the M4 competition, in percent (0 to 200).

    ``200 / h * sum_t |y_t - f_t| / (|y_t| + |f_t|)``, here averaged over all
    (observed) elements. For an ``(N, h)`` array of ``N`` series with a common
    horizon this equals the mean over series of the per-series sMAPE, as M4 reports.
    A term with ``y_t = f_t = 0`` is a perfect forecast and counts as 0 (the formula
    is 0/0 there).
    """
    truth, forecast = _observed_pairs(y_true, y_pred, mask, "smape")
    denominator = np.abs(truth) + np.abs(forecast)
    terms = np.divide(np.abs(truth - forecast), denominator, out=np.zeros_like(truth), where=denominator > 0)
    return 200.0 * float(terms.mean())


def seasonal_naive_scale(insample: np.ndarray, season_length: int = 1) -> np.ndarray:
    """The MASE denominator: mean absolute lag-``m`` difference of the training values.

    Parameters
    ----------
    insample : array of shape ``(T,)`` or ``(T, ...)``
        Training values, time along axis 0; NaNs (unobserved) are ignored.
    season_length : int
        The lag ``m`` (1: naive; 24 for hourly data as in M4).

    Returns
    -------
    ndarray of shape ``insample.shape[1:]``
        One scale per channel (a 0-d array for 1-D input).
    """
    return _seasonal_scale(insample, season_length, "mase")


def _seasonal_scale(insample: np.ndarray, season_length: int, metric: str) -> np.ndarray:
    season_length = check_positive_int(season_length, "season_length")
    values = np.asarray(insample, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] <= season_length:
        length = values.shape[0] if values.ndim else 0
        raise DataError(
            f"{metric}: the in-sample series needs more than season_length={season_length} values along axis 0 "
            f"to compute the seasonal naive scale. Got {length}."
        )
    differences = np.abs(values[season_length:] - values[:-season_length])
    observed = np.count_nonzero(~np.isnan(differences), axis=0)
    if np.any(observed == 0):
        raise DataError(f"{metric}: the in-sample series has no pair of observed values {season_length} steps apart.")
    return np.nanmean(differences, axis=0)


def mase(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    insample: np.ndarray | None = None,
    season_length: int = 1,
    scale: float | np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """Mean absolute scaled error: ``|y - f|`` divided by the in-sample seasonal naive MAE.

    Give exactly one of ``insample`` (the scale is
    ``seasonal_naive_scale(insample, season_length)``) or a precomputed ``scale``.

    Parameters
    ----------
    y_true, y_pred : arrays of shape ``(H, ...)``
        Targets and forecasts, time along axis 0.
    insample : array of shape ``(T, ...)``, optional
        Training values with the same trailing shape as ``y_true``; one scale per
        trailing position (channel, or series when series are laid out as columns).
    season_length : int
        Lag ``m`` of the seasonal naive scale (M4: 24 for Hourly, 1 for Yearly).
    scale : float or array broadcastable to ``y_true.shape[1:]``, optional
        Precomputed scales, e.g. one per series for ragged training lengths.
    mask : bool array of the shape of ``y_true``, optional
        Observed targets.

    Returns
    -------
    float
        Mean of ``|y - f| / scale`` over all (observed) elements; for one series this
        is the M4 MASE, for ``(H, N)`` arrays of ``N`` series the mean of their MASEs.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    forecast = np.asarray(y_pred, dtype=np.float64)
    if truth.shape != forecast.shape:
        raise DataError(
            f"mase: y_true and y_pred must have the same shape. Got y_true {truth.shape} and y_pred {forecast.shape}."
        )
    scales = _per_element_scale(truth, insample, season_length, scale, "mase")
    # Dividing both sides by the scale turns the scaled error into a plain absolute error.
    scaled_truth, scaled_forecast = _observed_pairs(truth / scales, forecast / scales, mask, "mase")
    return mae(scaled_truth, scaled_forecast)


def _per_element_scale(
    truth: np.ndarray,
    insample: np.ndarray | None,
    season_length: int,
    scale: float | np.ndarray | None,
    metric: str,
) -> np.ndarray:
    """The scale of MASE and MSIS (from ``insample`` or given), checked and broadcast to ``truth.shape``."""
    if (insample is None) == (scale is None):
        raise DataError(f"{metric}: pass exactly one of insample= (training values) or scale= (precomputed).")
    if scale is None:
        insample = np.asarray(insample, dtype=np.float64)
        if insample.shape[1:] != truth.shape[1:]:
            raise DataError(
                f"{metric}: insample must have the trailing shape of y_true {truth.shape[1:]} (time on axis 0). "
                f"Got insample of shape {insample.shape}."
            )
        scale = _seasonal_scale(insample, season_length, metric)
    scales = np.asarray(scale, dtype=np.float64)
    bad = ~(np.isfinite(scales) & (scales > 0))
    if bad.any():
        got = f"got {scales.tolist()}"
        if scales.size > 1:  # a few: a backtest has a scale per forecast value
            got = f"{int(bad.sum())} of the {scales.size} are not, e.g. {scales[bad][:5].tolist()}"
        raise DataError(
            f"{metric}: the scale (in-sample mean absolute lag-{season_length} difference) must be > 0 and "
            f"finite; {got}. A constant (or {season_length}-periodic) training series has scale 0."
        )
    try:
        return np.broadcast_to(scales, truth.shape)
    except ValueError:
        raise DataError(
            f"{metric}: scale of shape {np.shape(scale)} does not broadcast to y_true of shape {truth.shape}."
        ) from None


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average of M4: ``0.5 * (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2)``.

    As in M4, apply it to the aggregate figures (sMAPE and MASE averaged over all
    series), not series by series. Below 1 is better than Naive2.
    """
    for name, value in (("smape_naive2", smape_naive2), ("mase_naive2", mase_naive2)):
        if not (np.isfinite(value) and value > 0):
            raise DataError(f"owa: {name} must be a finite number > 0. Got {value!r}.")
    return 0.5 * (float(smape_value) / float(smape_naive2) + float(mase_value) / float(mase_naive2))


# Probabilistic forecasts: quantiles (..., Q) at increasing levels, sample paths, intervals.


def _observed(metric: str, mask: np.ndarray | None, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Arrays whose leading shape is the first one's -> their observed elements, ``(n, *trailing)`` each.

    The caller has checked the shapes; this applies the mask and refuses empty or non-finite input.
    """
    names = list(arrays)
    shape = arrays[names[0]].shape
    if mask is None:
        selected = [values.reshape((-1,) + values.shape[len(shape) :]) for values in arrays.values()]
    else:
        observed = np.asarray(mask)
        if observed.shape != shape or observed.dtype != np.bool_:
            raise DataError(
                f"{metric}: mask must be a boolean array of the shape of {names[0]} {shape}. "
                f"Got dtype {observed.dtype} and shape {observed.shape}."
            )
        selected = [values[observed] for values in arrays.values()]
    if selected[0].shape[0] == 0:
        raise DataError(f"{metric}: no values to score (empty input, or the mask leaves none observed).")
    for name, values in zip(names, selected):
        if not np.isfinite(values).all():
            count = int(np.count_nonzero(~np.isfinite(values)))
            raise DataError(
                f"{metric}: {name} has {count} NaN or infinite value(s) among the scored elements; "
                "pass mask=<observed> to leave missing targets out."
            )
    return selected


def _quantile_inputs(
    y_true: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, mask: np.ndarray | None, metric: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check ``y_true (...)``, ``quantiles (..., Q)`` and ``levels (Q,)``; observed ``(n,)``, ``(n, Q)``, levels."""
    truth = np.asarray(y_true, dtype=np.float64)
    values = np.asarray(quantiles, dtype=np.float64)
    if values.ndim != truth.ndim + 1 or values.shape[:-1] != truth.shape:
        raise DataError(
            f"{metric}: quantiles must have the shape of y_true {truth.shape} plus a last axis of levels (Q,). "
            f"Got quantiles of shape {values.shape}."
        )
    taus = np.asarray(levels, dtype=np.float64)
    if taus.shape != values.shape[-1:]:
        raise DataError(
            f"{metric}: levels must be a 1-D array of the {values.shape[-1]} levels of the quantiles' last axis. "
            f"Got levels of shape {taus.shape}."
        )
    if not np.all((taus > 0) & (taus < 1)) or np.any(np.diff(taus) <= 0):
        raise DataError(
            f"{metric}: levels must be strictly increasing and strictly between 0 and 1, in the order of the "
            f"quantiles' last axis. Got {taus.tolist()}."
        )
    truth, values = _observed(metric, mask, {"y_true": truth, "quantiles": values})
    return truth, values, taus


def _pinball(truth: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``(n,)``, ``(n, Q)``, ``(Q,)`` -> ``(n, Q)`` pinball losses ``max(tau (y - q), (tau - 1)(y - q))``."""
    error = truth[:, None] - quantiles
    return np.maximum(levels * error, (levels - 1) * error)


def pinball_loss(
    y_true: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """Mean pinball (quantile) loss over all (observed) elements and levels.

    ``rho_tau(y, q) = max(tau (y - q), (tau - 1)(y - q))``: ``tau`` times the shortfall
    when the quantile is too low, ``1 - tau`` times the excess when too high.

    Parameters
    ----------
    y_true : array of shape ``(...)``
    quantiles : array of shape ``(..., Q)``
        Forecast quantiles, the last axis at ``levels``.
    levels : array of shape ``(Q,)``
        Strictly increasing levels in (0, 1).
    mask : bool array of the shape of ``y_true``, optional
    """
    truth, values, taus = _quantile_inputs(y_true, quantiles, levels, mask, "pinball_loss")
    return float(_pinball(truth, values, taus).mean())


def weighted_quantile_loss(
    y_true: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """Mean weighted quantile loss (wQL), as GluonTS and NeuralForecast report it.

    ``wQL = mean_tau [2 sum_i rho_tau(y_i, q_i,tau) / sum_i |y_i|]``, the sums over all
    (observed) elements of every series, step and channel, pooled before dividing. This is
    GluonTS' ``mean_wQuantileLoss`` (``gluonts.evaluation.Evaluator``: per level
    ``QuantileLoss[tau] / abs_target_sum``, averaged over levels; Alexandrov et al., 2020,
    the rho-risk of Salinas et al., DeepAR, 2020) and NeuralForecast's ``scaled_crps``.
    It is scale-free, and about the CRPS divided by the mean ``|y|``.

    Raises
    ------
    DataError
        If every observed ``y_true`` is 0 (the weight ``sum |y|`` is 0).
    """
    truth, values, taus = _quantile_inputs(y_true, quantiles, levels, mask, "weighted_quantile_loss")
    total = float(np.abs(truth).sum())
    if total == 0:
        raise DataError("weighted_quantile_loss: sum |y_true| is 0 over the scored elements; the loss is undefined.")
    return float((2.0 * _pinball(truth, values, taus).sum(axis=0) / total).mean())


def crps_from_quantiles(
    y_true: np.ndarray, quantiles: np.ndarray, levels: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """CRPS approximated from quantiles: ``2 * mean over levels of the pinball loss``.

    Uses ``CRPS(F, y) = 2 int_0^1 rho_tau(y, F^-1(tau)) d tau`` (Laio & Tamea, 2007;
    Gneiting & Ranjan, 2011) with the integral replaced by the mean over the given
    levels, as GluonTS and NeuralForecast do. The approximation is biased with few
    levels: it ignores the tails beyond the outermost levels and weights each level
    equally. For a calibrated Normal forecast the expected value is ``sigma / sqrt(pi)``
    exactly; evenly spaced levels ``k / (Q + 1)`` give it ``+9.4%`` (0.1..0.9),
    ``+4.8%`` (0.05..0.95) and ``+1.0%`` (0.01..0.99) too high, while the three levels
    0.025, 0.5, 0.975 give ``-39%``. Compare CRPS figures only on a common grid.
    """
    truth, values, taus = _quantile_inputs(y_true, quantiles, levels, mask, "crps_from_quantiles")
    return 2.0 * float(_pinball(truth, values, taus).mean())


def _sample_inputs(
    y_true: np.ndarray, samples: np.ndarray, mask: np.ndarray | None, sample_axis: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check ``y_true (...)`` and samples with one more axis; observed ``(n,)`` and ``(n, S)``."""
    truth = np.asarray(y_true, dtype=np.float64)
    draws = np.asarray(samples, dtype=np.float64)
    if draws.ndim != truth.ndim + 1 or not -draws.ndim <= sample_axis < draws.ndim:
        raise DataError(
            f"{metric}: samples must have the shape of y_true {truth.shape} with one more axis of samples at "
            f"sample_axis={sample_axis}. Got samples of shape {draws.shape}."
        )
    draws = np.moveaxis(draws, sample_axis, -1)  # (..., S)
    if draws.shape[:-1] != truth.shape or draws.shape[-1] == 0:
        raise DataError(
            f"{metric}: samples must have the shape of y_true {truth.shape} with one more (non-empty) axis of "
            f"samples at sample_axis={sample_axis}. Got samples of shape {np.shape(samples)}."
        )
    truth, draws = _observed(metric, mask, {"y_true": truth, "samples": draws})
    return truth, draws


def crps_from_samples(
    y_true: np.ndarray, samples: np.ndarray, *, mask: np.ndarray | None = None, sample_axis: int = 0
) -> float:
    """Exact CRPS of the empirical distribution of the samples, averaged over (observed) elements.

    ``CRPS(F_S, y) = E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent draws from the
    ``S`` samples (Gneiting & Raftery, 2007, eq. 21). The second term is computed from
    the sorted samples, ``E|X - X'| = (2 / S^2) sum_i (2i - S - 1) x_(i)``, so each
    element costs ``O(S log S)``, not ``O(S^2)``. As an estimate of the CRPS of the
    distribution the samples come from, it is biased upward by ``E|X - X'| / (2S)``.

    Parameters
    ----------
    y_true : array of shape ``(...)``
    samples : array of ``y_true``'s shape with an axis of ``S`` samples inserted at ``sample_axis``
        E.g. ``(S, N, H, C)`` paths for ``(N, H, C)`` targets.
    mask : bool array of the shape of ``y_true``, optional
    sample_axis : int
        Where the samples are (default 0).
    """
    truth, draws = _sample_inputs(y_true, samples, mask, sample_axis, "crps_from_samples")
    count = draws.shape[1]
    accuracy = np.abs(draws - truth[:, None]).mean(axis=1)
    weights = (2.0 * np.arange(1, count + 1) - count - 1) / count**2
    half_spread = np.sort(draws, axis=1) @ weights  # 0.5 E|X - X'|
    return float((accuracy - half_spread).mean())


def _same_shape(metric: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays as float64, refusing different shapes with a message that lists them all."""
    values = {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()}
    shapes = {name: array.shape for name, array in values.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise DataError(f"{metric}: {', '.join(shapes)} must have the same shape. Got {listed}.")
    return values


def _interval_inputs(arrays: dict[str, np.ndarray], mask: np.ndarray | None, metric: str) -> list[np.ndarray]:
    """Same-shaped arrays, the last two ``lower`` and ``upper``, -> their observed elements."""
    selected = _observed(metric, mask, _same_shape(metric, arrays))
    lower, upper = selected[-2], selected[-1]
    crossed = lower > upper
    if crossed.any():
        first = int(np.argmax(crossed))
        raise DataError(
            f"{metric}: lower must not exceed upper; {int(crossed.sum())} interval(s) have lower > upper, "
            f"e.g. lower {float(lower[first])!r} > upper {float(upper[first])!r}."
        )
    return selected


def coverage(
    y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, mask: np.ndarray | None = None
) -> float:
    """Empirical coverage: the share of (observed) values with ``lower <= y <= upper``, in [0, 1]."""
    truth, low, high = _interval_inputs({"y_true": y_true, "lower": lower, "upper": upper}, mask, "coverage")
    return float(np.mean((low <= truth) & (truth <= high)))


def mean_interval_width(lower: np.ndarray, upper: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean of ``upper - lower`` over all (observed) elements, in the units of the data."""
    low, high = _interval_inputs({"lower": lower, "upper": upper}, mask, "mean_interval_width")
    return float(np.mean(high - low))


def msis(
    y_true: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    insample: np.ndarray | None = None,
    season_length: int = 1,
    scale: float | np.ndarray | None = None,
    alpha: float = 0.05,
    mask: np.ndarray | None = None,
) -> float:
    """Mean scaled interval score of the M4 competition (Makridakis et al., 2020).

    Per element, the interval score of Gneiting & Raftery (2007) divided by the MASE scale:
    ``[(U - L) + (2 / alpha)(L - Y) 1(Y < L) + (2 / alpha)(Y - U) 1(Y > U)] / scale``.
    Arguments follow :func:`mase`: time along axis 0, and exactly one of ``insample``
    (the scale is ``seasonal_naive_scale(insample, season_length)``, one per trailing
    position) or a precomputed ``scale``.

    Parameters
    ----------
    y_true, lower, upper : arrays of shape ``(H, ...)``
        Targets and the bounds of the ``1 - alpha`` central interval.
    insample : array of shape ``(T, ...)``, optional
    season_length : int
        M4: 24 for Hourly, 1 for Yearly, Weekly and Daily, 4 Quarterly, 12 Monthly.
    scale : float or array broadcastable to ``y_true.shape``, optional
        E.g. ``(S, 1, C)`` scales for ``(S, H, C)`` arrays of ``S`` series.
    alpha : float in (0, 1)
        ``1 -`` the nominal coverage; M4 uses 0.05 (95% intervals).
    mask : bool array of the shape of ``y_true``, optional

    Returns
    -------
    float
        Mean over all (observed) elements: for one series the M4 MSIS, for series with a
        common horizon the mean of their MSIS, as M4 reports it.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 1:
        raise DataError(f"msis: alpha must be a number in (0, 1), e.g. 0.05 for 95% intervals. Got {alpha!r}.")
    values = _same_shape("msis", {"y_true": y_true, "lower": lower, "upper": upper})
    scales = _per_element_scale(values["y_true"], insample, season_length, scale, "msis")
    truth, scales, low, high = _interval_inputs({"y_true": values["y_true"], "scale": scales, **values}, mask, "msis")
    penalty = (2.0 / alpha) * (np.maximum(low - truth, 0.0) + np.maximum(truth - high, 0.0))
    return float(np.mean((high - low + penalty) / scales))


def acd(coverage_value: float, nominal: float) -> float:
    """Absolute coverage difference of M4: ``|coverage - nominal|`` (e.g. nominal 0.95)."""
    checks = (("coverage_value", coverage_value, "a share in [0, 1]", True), ("nominal", nominal, "in (0, 1)", False))
    for name, value, expected, closed in checks:
        number = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not number or not (0 <= value <= 1 if closed else 0 < value < 1):
            raise DataError(f"acd: {name} must be {expected}. Got {value!r}.")
    return abs(float(coverage_value) - float(nominal))


def _uniform_between(low: np.ndarray, high: np.ndarray, seed: int | None) -> np.ndarray:
    """One value drawn uniformly in each ``[low, high]``, from ``numpy.random.default_rng(seed)``."""
    return low + (high - low) * np.random.default_rng(seed).uniform(size=low.shape)


def pit_from_samples(
    y_true: np.ndarray,
    samples: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    sample_axis: int = 0,
    randomize: bool = False,
    seed: int | None = 0,
) -> np.ndarray:
    """Probability integral transform values from samples, for calibration plots.

    ``PIT = F_S(y)``, the share of the ``S`` samples ``<= y``. A calibrated forecast gives
    values spread evenly over [0, 1] (for an ensemble, ranks spread evenly over ``0/S ..
    S/S``). With ``randomize``, ties between ``y`` and samples (count data, repeated
    values) are broken as in the randomised PIT of Czado, Gneiting & Held (2009): a
    value drawn uniformly in ``[F_S(y-), F_S(y)]`` with ``numpy.random.default_rng(seed)``;
    without ties it changes nothing.

    Returns
    -------
    ndarray of shape ``(n,)``
        One value per (observed) element, in the C order of ``y_true``.
    """
    truth, draws = _sample_inputs(y_true, samples, mask, sample_axis, "pit_from_samples")
    below = np.mean(draws < truth[:, None], axis=1)
    at_or_below = np.mean(draws <= truth[:, None], axis=1)
    return _uniform_between(below, at_or_below, seed) if randomize else at_or_below


def pit_from_quantiles(
    y_true: np.ndarray,
    quantiles: np.ndarray,
    levels: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    randomize: bool = False,
    seed: int | None = 0,
) -> np.ndarray:
    """Probability integral transform values from quantiles, for calibration plots.

    Between two given quantiles, the level at ``y`` by linear interpolation (the forecast
    CDF taken piecewise linear through the points ``(q_k, tau_k)``). Beyond them the
    quantiles say only that ``y < q_1`` has probability ``tau_1`` (and ``y > q_Q`` has
    ``1 - tau_Q``), so the PIT lies somewhere in ``[0, tau_1]`` (or ``[tau_Q, 1]``);
    likewise ``y`` equal to several tied quantiles gives the range of their levels. For
    such a range the value is its midpoint, or with ``randomize`` a uniform draw from it
    (``numpy.random.default_rng(seed)``). This extends the values to all of [0, 1]: a
    calibrated forecast then gives a flat histogram in the tails too (exactly so with
    ``randomize``; with midpoints, when the histogram bins end at ``tau_1`` and ``tau_Q``),
    whereas clipping to ``[tau_1, tau_Q]`` would pile the tails onto two values.

    Returns
    -------
    ndarray of shape ``(n,)``
        One value per (observed) element, in the C order of ``y_true``.

    Raises
    ------
    DataError
        If the quantiles cross (decrease along the levels) somewhere; see
        :func:`tsseq.quantiles.noncrossing`.
    """
    truth, values, taus = _quantile_inputs(y_true, quantiles, levels, mask, "pit_from_quantiles")
    crossing = np.any(np.diff(values, axis=1) < 0, axis=1)
    if crossing.any():
        raise DataError(
            f"pit_from_quantiles: the quantiles of {int(crossing.sum())} element(s) decrease along the levels; "
            "make them non-crossing first (tsseq.quantiles.noncrossing)."
        )
    count = len(taus)
    below = np.count_nonzero(values < truth[:, None], axis=1)  # j: quantiles strictly below y
    at_or_below = np.count_nonzero(values <= truth[:, None], axis=1)  # k >= j
    extended = np.concatenate([[0.0], taus, [1.0]])  # extended[i + 1] = tau_i (0-based)
    # Ties (k > j): the levels j..k-1 all have q = y. No tie: y lies in the gap between
    # quantile j-1 and j (the tails are the gaps before the first and after the last).
    low = np.where(at_or_below > below, extended[below + 1], extended[below])
    high = np.where(at_or_below > below, extended[at_or_below], extended[below + 1])
    inner = (at_or_below == below) & (below > 0) & (below < count)
    rows = np.flatnonzero(inner)
    left, right = below[rows] - 1, below[rows]
    q_left, q_right = values[rows, left], values[rows, right]
    weight = (truth[rows] - q_left) / (q_right - q_left)  # q_left < y < q_right, so no 0/0
    low[rows] = high[rows] = taus[left] + weight * (taus[right] - taus[left])
    return _uniform_between(low, high, seed) if randomize else 0.5 * (low + high)
