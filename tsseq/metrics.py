"""Forecast accuracy metrics: numpy arrays of any shape in, one float out.

Every metric averages over all elements of its inputs (windows, horizon steps,
channels), which is how the published long-horizon tables report MSE and MAE.
An optional boolean ``mask`` of the same shape as ``y_true`` marks the observed
values (``True``); the others are left out of the average.

Units follow the M4 competition: ``mape`` and ``smape`` are in percent (0-100 for
MAPE of a forecast no worse than zero, 0-200 for sMAPE), unlike scikit-learn's
``mean_absolute_percentage_error`` which returns a fraction. ``mse``, ``mae`` and
``rmse`` are in the units of the data (squared for MSE); ``mase`` and ``owa`` are
unitless ratios.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

from tsseq.base import check_positive_int
from tsseq.errors import DataError

__all__ = ["mae", "mape", "mase", "mse", "owa", "rmse", "seasonal_naive_scale", "smape"]


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
    truth, forecast = _observed_pairs(y_true, y_pred, mask, "mse")
    return float(mean_squared_error(truth, forecast))


def mae(y_true: np.ndarray, y_pred: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute error, ``mean(|y - f|)``, over all (observed) elements."""
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
    season_length = check_positive_int(season_length, "season_length")
    values = np.asarray(insample, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] <= season_length:
        length = values.shape[0] if values.ndim else 0
        raise DataError(
            f"mase: the in-sample series needs more than season_length={season_length} values along axis 0 "
            f"to compute the seasonal naive scale. Got {length}."
        )
    differences = np.abs(values[season_length:] - values[:-season_length])
    observed = np.count_nonzero(~np.isnan(differences), axis=0)
    if np.any(observed == 0):
        raise DataError(f"mase: the in-sample series has no pair of observed values {season_length} steps apart.")
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
    if (insample is None) == (scale is None):
        raise DataError("mase: pass exactly one of insample= (training values) or scale= (precomputed).")
    truth = np.asarray(y_true, dtype=np.float64)
    forecast = np.asarray(y_pred, dtype=np.float64)
    if truth.shape != forecast.shape:
        raise DataError(
            f"mase: y_true and y_pred must have the same shape. Got y_true {truth.shape} and y_pred {forecast.shape}."
        )
    if scale is None:
        insample = np.asarray(insample, dtype=np.float64)
        if insample.shape[1:] != truth.shape[1:]:
            raise DataError(
                f"mase: insample must have the trailing shape of y_true {truth.shape[1:]} (time on axis 0). "
                f"Got insample of shape {insample.shape}."
            )
        scale = seasonal_naive_scale(insample, season_length)
    scales = np.asarray(scale, dtype=np.float64)
    if not (np.isfinite(scales).all() and (scales > 0).all()):
        raise DataError(
            f"mase: the scale (in-sample mean absolute lag-{season_length} difference) must be > 0 and finite; "
            f"got {scales.tolist()}. A constant (or {season_length}-periodic) training series has scale 0."
        )
    try:
        scales = np.broadcast_to(scales, truth.shape)
    except ValueError:
        raise DataError(
            f"mase: scale of shape {np.shape(scale)} does not broadcast to y_true of shape {truth.shape}."
        ) from None
    # Dividing both sides by the scale turns the scaled error into a plain absolute error.
    scaled_truth, scaled_forecast = _observed_pairs(truth / scales, forecast / scales, mask, "mase")
    return float(mean_absolute_error(scaled_truth, scaled_forecast))


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average of M4: ``0.5 * (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2)``.

    As in M4, apply it to the aggregate figures (sMAPE and MASE averaged over all
    series), not series by series. Below 1 is better than Naive2.
    """
    for name, value in (("smape_naive2", smape_naive2), ("mase_naive2", mase_naive2)):
        if not (np.isfinite(value) and value > 0):
            raise DataError(f"owa: {name} must be a finite number > 0. Got {value!r}.")
    return 0.5 * (float(smape_value) / float(smape_naive2) + float(mase_value) / float(mase_naive2))
