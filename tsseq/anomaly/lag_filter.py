r"""A robust filter of the rows a forecaster reads, so that an anomaly does not echo in the forecasts after it.

A forecast-residual detector scores ``x_t`` against a forecast made from the ``L`` rows
before it. When those rows hold an anomaly (a spike, the first rows of a level shift),
the forecast carries it on: the lags echo a spike into the next rows' forecasts, and the
normal rows after an anomaly get large residuals and are flagged. On eight series of the
``daily`` corpus (``pipelines/benchmarks/threshold_study.py``), ``var_residual`` at its
training scores' 0.99 quantile flags 102 normal rows within 48 rows after an anomaly and
111 farther; with the filter below (``c = 3``, ``longest_run = 2``) 78 and 113, and its
PR-AUC rises from 0.918 to 0.936 (``threshold_study.md``, fifteenth study).

The filter (Martin and Thomson's robust filter-cleaner, 1982, with a Huber clip) feeds the
forecaster cleaned rows instead: each row entering the lags is its own forecast plus its
residual clipped to ``c`` residual scales,

.. math::

    \tilde x_j = \hat x_j + \operatorname{clip}(x_j - \hat x_j, -c\sigma, c\sigma), \qquad
    \hat x_j = f(\tilde x_{j-L}, \dots, \tilde x_{j-1}),

per channel, ``sigma`` the forecaster's robust one-step residual scale on the training
rows (:func:`residual_scale`: ``1.4826`` times their median absolute value, the spread
about the forecast that the clip measures). The detector scores the observed ``x_t``
against ``f`` of the cleaned rows before it. On normal rows the clip rarely binds (a
Gaussian residual passes ``3 sigma`` in 0.3% of rows), so the forecasts are the ordinary
ones.

Two limits keep it from holding off what is not an outlier:

* **Runs**: a run of more than ``longest_run`` consecutive clipped rows of a channel is a
  change that lasts (a setpoint moved, a level shifted for good): those rows enter the lags
  as observed, and the forecasts follow the new level. Without this rule a step-wise
  channel (a plant's setpoint: its one-step residuals are mostly zero, so its scale is
  tiny) had every normal move held off, and the simulated plant's ``var_residual`` lost
  PR-AUC 0.72 -> 0.53; with ``longest_run=2``, 0.72 (fifteenth study's exploration).
* **Finite memory**: the window ending at ``t`` is cleaned from the observed rows
  ``t - 2L + 1 .. t - L`` (they are its starting lags) over the rows ``t - L + 1 .. t``. A
  score reads only the ``2L`` rows before it, so streamed and chunked scores equal the
  whole series' (a detector's ``context_rows`` counts them). The price: an outlier among a
  window's starting lags misleads the forecasts of its first cleaned rows, until the run
  rule lets the observed rows back in.

Rows whose lags hold a NaN (an unobserved value, or the padding before the series' start)
enter as observed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAD_TO_SD = 1.4826  # the median absolute value of a centred Gaussian is 0.6745 of its standard deviation
MEAN_AD_TO_SD = 1.2533  # its mean absolute value is sqrt(2 / pi) of it
SMALLEST_SCALE = 1e-6  # on standardised rows: a channel the forecaster predicts exactly still clips at a finite width


def residual_scale(residuals: np.ndarray) -> np.ndarray:
    """Per channel, the scale ``(C,)`` of the finite one-step residuals ``(N, C)`` about zero, as the clip reads them.

    ``1.4826 * median(|r|)``; where that is below ``1e-6`` (the forecaster is exact on most
    training rows), ``1.2533 * mean(|r|)`` (Iglewicz and Hoaglin's fallback for a zero MAD);
    at least ``1e-6``. About zero, not about the residuals' median: on a quantised series
    (NAB's ``ec2_disk_write_bytes_1ef3de`` sits at one value in 93.5% of its training rows)
    the forecaster misses that value by the same amount on most rows, so the deviations
    about their median are mostly zero, and a scale read from them collapsed to the floor
    and clipped every row.
    """
    magnitude = np.abs(np.asarray(residuals, dtype=np.float64))
    finite = np.isfinite(magnitude).any(axis=0)
    scale = np.full(magnitude.shape[1], SMALLEST_SCALE)
    if finite.any():
        scale[finite] = MAD_TO_SD * np.nanmedian(magnitude[:, finite], axis=0)
        exact = finite & (scale < SMALLEST_SCALE)
        if exact.any():
            scale[exact] = MEAN_AD_TO_SD * np.nanmean(magnitude[:, exact], axis=0)
    return np.maximum(scale, SMALLEST_SCALE)


def observed_windows(values: np.ndarray, length: int) -> np.ndarray:
    """The windows ``(T - L + 1, L, C)`` of ``values`` ``(T, C)`` ending at rows ``L - 1 .. T - 1``: a read-only view."""
    return np.lib.stride_tricks.sliding_window_view(values, length, axis=0).transpose(0, 2, 1)


def filtered_windows(
    values: np.ndarray,
    length: int,
    predict: Callable[[np.ndarray], np.ndarray],
    scale: np.ndarray,
    clip: float,
    longest_run: int,
) -> np.ndarray:
    """The cleaned windows ``(T - L + 1, L, C)`` ending at rows ``L - 1 .. T - 1`` of ``values`` ``(T, C)``.

    Aligned as :func:`observed_windows`, each cleaned from the observed rows ``L`` before
    it (module docstring). ``predict`` maps windows ``(M, L, C)`` to one-step forecasts
    ``(M, C)``; ``scale`` ``(C,)``; a clipped value is at most ``clip * scale`` from its
    forecast; a run of more than ``longest_run`` clipped rows enters as observed.
    """
    values = np.asarray(values, dtype=np.float64)
    channels = values.shape[1]
    padded = np.concatenate([np.full((length, channels), np.nan), values])
    raw = observed_windows(padded, 2 * length)
    segments = raw.copy()  # (N, 2L, C): each window's L starting rows and the L rows it cleans
    width = clip * np.asarray(scale, dtype=np.float64)
    run = np.zeros((len(segments), channels), dtype=np.int64)  # consecutive clipped rows per window and channel
    positions = np.arange(2 * length)
    for j in range(length, 2 * length):
        lags = segments[:, j - length : j]
        complete = np.isfinite(lags).all(axis=(1, 2))
        if not complete.any():
            continue
        forecast = predict(np.ascontiguousarray(lags[complete]))
        observed = segments[complete, j]
        clipped = np.abs(observed - forecast) > width  # False where either is NaN
        segments[complete, j] = np.where(clipped, forecast + np.clip(observed - forecast, -width, width), observed)
        run[complete] = np.where(clipped, run[complete] + 1, 0)
        lasting = np.flatnonzero((run > longest_run).any(axis=1))
        if lasting.size:  # a change that lasts: its rows enter the lags as observed from here on
            channels_on = run[lasting] > longest_run  # (M, C)
            span = positions[None, :, None] > j - run[lasting][:, None, :]  # (M, 2L, C): the run's rows and after
            restore = span & (positions[None, :, None] <= j) & channels_on[:, None, :]
            segments[lasting] = np.where(restore, raw[lasting], segments[lasting])
            run[lasting] = np.where(channels_on, 0, run[lasting])
    return np.ascontiguousarray(segments[:, length:])
