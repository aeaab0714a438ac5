"""Sanity checks on what a job reads and writes, so that it never writes nonsense silently.

* :func:`check_magnitude`: input values beyond ``±MAX_ABS_VALUE`` (1e150) are refused
  when read (:class:`~tsseq.errors.DataError`, exit 2): their squares overflow float64,
  so variances, scalers and losses become infinite and forecasts NaN. So is a column
  whose every nonzero value lies within ``±MIN_SCALE`` (1e-150): its squares underflow
  to 0, so its spread reads as 0 and every interval collapses onto the point forecast.
* :func:`check_horizon`: a horizon longer than ``HORIZON_FACTOR`` (100) times the
  longest training series is refused before any fitting
  (:class:`~tsseq.errors.ConfigError`, exit 2), with the size of the forecast it would
  have made. Override: ``max_horizon`` (``--max-horizon N`` on the command line, or the
  environment variable ``TSSEQ_MAX_HORIZON``).
* :func:`check_forecast`: a forecast about to be written must be finite, and every
  value (point, quantile and interval columns) must lie within ``PLAUSIBLE_SPANS`` (10)
  training spans of the training range of its series and column, where the span is
  ``max(high - low, |high|, |low|)`` (1 when that is 0), so a nearly constant series is
  held to its level, not to its wiggle. Data near 10 allow forecasts in about
  ``[-100, 120]``; a diverged model's 1.7 million is refused with a
  :class:`~tsseq.errors.ForecastError` (exit 3) naming the series and column, unless
  ``allow_implausible`` (``--allow-implausible``, ``output.allow_implausible: true``),
  which writes it with one warning per series and column.
  A training column that is never negative whose forecast is (Gaussian intervals of counts)
  gets a warning (:func:`below_zero`), the forecast written as it is.
* :func:`check_scores`: anomaly scores about to be written must be finite after the
  first scored row (causal mode leaves the training rows unscored, NaN).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from tsseq.errors import ConfigError, DataError, ForecastError, listed

MAX_ABS_VALUE = 1e150
MIN_SCALE = 1e-150
HORIZON_FACTOR = 100
PLAUSIBLE_SPANS = 10.0
HORIZON_ENVIRONMENT = "TSSEQ_MAX_HORIZON"
_SUFFIX = re.compile(r"^(?P<column>.+)_(?:q[0-9.eE+-]+|lower|upper)$")
_SHOWN = 5  # series or columns named in one message


def check_magnitude(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Refuse values whose magnitude exceeds :data:`MAX_ABS_VALUE`, naming column, row and value."""
    values = frame.to_numpy(dtype=np.float64)
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        huge = magnitude > MAX_ABS_VALUE
    if not huge.any():
        _check_scale(frame, magnitude, source)
        return frame
    row, column = (int(position[0]) for position in np.nonzero(huge))
    count = int(huge.sum())
    raise DataError(
        f"{source}: column {str(frame.columns[column])!r} at {frame.index[row]} holds {values[row, column]:.6g}"
        f"{f' ({count} such values)' if count > 1 else ''}; values beyond ±{MAX_ABS_VALUE:.0e} cannot be used "
        "(their squares overflow 64-bit floats, so scaling and fitting would give NaN). Rescale the column."
    )


def _check_scale(frame: pd.DataFrame, magnitude: np.ndarray, source: str) -> None:
    """Refuse a column whose largest magnitude (of ``magnitude``, the values' absolute values, no infinity:
    :func:`check_magnitude` refused those) is nonzero but within :data:`MIN_SCALE` (module docstring)."""
    with np.errstate(invalid="ignore"):
        largest = np.nanmax(magnitude, axis=0, initial=0.0)
    tiny = np.flatnonzero((largest > 0) & (largest < MIN_SCALE))
    if tiny.size == 0:
        return
    column = int(tiny[0])
    raise DataError(
        f"{source}: column {str(frame.columns[column])!r} holds no value larger than {largest[column]:.6g} in "
        f"magnitude; a column whose values all lie within ±{MIN_SCALE:.0e} cannot be used (their squares underflow "
        "64-bit floats to 0, so its spread reads as 0 and every interval would collapse onto the forecast). "
        "Rescale the column."
    )


def _training_rows(frame: pd.DataFrame) -> tuple[int, int]:
    """(rows of the longest series, number of series)."""
    if isinstance(frame.index, pd.MultiIndex):
        sizes = frame.groupby(level=0, sort=False).size()
        return int(sizes.max()), len(sizes)
    return len(frame), 1


def horizon_limit(frame: pd.DataFrame, max_horizon: int | None = None) -> int:
    """The longest horizon allowed for ``frame``: ``max_horizon``, else $TSSEQ_MAX_HORIZON, else 100 x its rows."""
    if max_horizon is not None:
        return int(max_horizon)
    text = os.environ.get(HORIZON_ENVIRONMENT)
    if text:
        try:
            return int(float(text))
        except ValueError:
            raise ConfigError(f"${HORIZON_ENVIRONMENT}: expected a whole number of rows; got {text!r}.") from None
    return HORIZON_FACTOR * _training_rows(frame)[0]


def check_horizon(horizon: int, frame: pd.DataFrame, n_quantiles: int = 0, max_horizon: int | None = None) -> None:
    """Refuse, before fitting, a horizon beyond :func:`horizon_limit` (see the module docstring)."""
    limit = horizon_limit(frame, max_horizon)
    if horizon <= limit:
        return
    rows, n_series = _training_rows(frame)
    size = horizon * n_series * frame.shape[1] * (1 + n_quantiles) * 8
    why = (
        f"the limit given ({limit})"
        if max_horizon is not None or os.environ.get(HORIZON_ENVIRONMENT)
        else f"{HORIZON_FACTOR} times the {rows} training rows ({limit})"
    )
    raise ConfigError(
        f"horizon={horizon} is more than {why}: a forecast that far ahead is not plausible, and this one "
        f"would hold {_bytes(size)} of values. Shorten the horizon, or allow it with --max-horizon {horizon} "
        f"(or ${HORIZON_ENVIRONMENT}={horizon})."
    )


def _bytes(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _groups(frame: pd.DataFrame):
    """(series id or None, frame of that series) for a wide or long frame."""
    if isinstance(frame.index, pd.MultiIndex):
        yield from frame.groupby(level=0, sort=False)
    else:
        yield None, frame


def _base_column(column: str, history_columns: set[str]) -> str | None:
    """The training column a forecast column belongs to: ``y`` for ``y``, ``y_q0.05``, ``y_lower``."""
    if column in history_columns:
        return column
    match = _SUFFIX.match(column)
    return match["column"] if match and match["column"] in history_columns else None


def _where(series: object, column: str) -> str:
    return f"column {column!r}" if series is None else f"series {series!r}, column {column!r}"


def _columns_with_history(forecast: pd.DataFrame, history: pd.DataFrame):
    """``(series, forecast column, its training column, the training column's finite values, the forecast's
    values)`` for every forecast column (point, quantile, interval) of a series whose training column is known."""
    history_columns = {str(column) for column in history.columns}
    past = dict(_groups(history.rename(columns=str)))
    for series, rows in _groups(forecast.rename(columns=str)):
        training = past.get(series)
        if training is None:
            continue
        for column in rows.columns:
            base = _base_column(column, history_columns)
            known = training[base].to_numpy(np.float64) if base is not None else np.array([])
            known = known[np.isfinite(known)]
            if known.size:
                yield series, column, base, known, rows[column].to_numpy(np.float64)


def implausible(forecast: pd.DataFrame, history: pd.DataFrame) -> list[str]:
    """One description per (series, column) whose forecast leaves the plausible range; [] when all are plausible."""
    found = []
    for series, column, _, known, values in _columns_with_history(forecast, history):
        low, high = float(known.min()), float(known.max())
        span = max(high - low, abs(high), abs(low)) or 1.0
        lower, upper = low - PLAUSIBLE_SPANS * span, high + PLAUSIBLE_SPANS * span
        outside = (values < lower) | (values > upper)
        if outside.any():
            worst = values[outside][np.argmax(np.abs(values[outside]))]
            found.append(
                f"{_where(series, column)}: {int(outside.sum())} of {len(values)} values outside "
                f"[{lower:.4g}, {upper:.4g}] (e.g. {worst:.4g}; training range [{low:.4g}, {high:.4g}])"
            )
    return found


def below_zero(forecast: pd.DataFrame, history: pd.DataFrame) -> list[str]:
    """One warning per training column that is never negative (counts, sales, prices) and whose forecast is.

    Gaussian intervals (the baselines', AR's) and unbounded losses do not know that a
    quantity cannot fall below 0, so an intermittent series' lower quantiles and sample
    paths go negative. Said, not changed: the data alone cannot tell a bound from a value
    not seen yet (a temperature of 0.5 to 30 degrees).
    """
    negative: dict[str, dict] = {}  # training column -> series -> (count, total, lowest, in which forecast column)
    for series, column, base, known, values in _columns_with_history(forecast, history):
        if known.min() < 0:
            continue
        count, total, lowest, where = negative.get(base, {}).get(series, (0, 0, 0.0, column))
        if values.min() < lowest:
            lowest, where = float(values.min()), column
        negative.setdefault(base, {})[series] = (count + int((values < 0).sum()), total + len(values), lowest, where)
    lines = []
    for base, by_series in negative.items():
        below = {series: counts for series, counts in by_series.items() if counts[0]}
        if not below:
            continue
        count, total = sum(counts[0] for counts in below.values()), sum(counts[1] for counts in below.values())
        series, (_, _, lowest, where) = min(below.items(), key=lambda item: item[1][2])
        which = "" if series is None else f" of {len(below)} series (lowest in series {series!r})"
        lines.append(
            f"column {base!r}: {count} of the {total} forecast values{which} are below 0, down to {lowest:.4g} "
            f"({where}), though its training values never are: the model's intervals do not know the bound. If "
            "the quantity cannot be negative, clip them at 0 (a quantile clipped at a bound the quantity respects "
            "is never a worse quantile); for counts, a network trained with the negative_binomial loss forecasts "
            "whole numbers >= 0 (--model segrnn --param normalization=none --param 'training={loss: negative_binomial}')"
        )
    return lines


def check_forecast(forecast: pd.DataFrame, history: pd.DataFrame, *, allow_implausible: bool = False) -> list[str]:
    """Refuse a non-finite or implausible forecast (:class:`ForecastError`); return the warnings it allowed,
    and those of :func:`below_zero`.

    ``history``: the rows the model was fitted on (same layout and columns).
    """
    values = forecast.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        finite = np.isfinite(values)
        where = _names(forecast.columns[~finite.all(axis=0)])
        if isinstance(forecast.index, pd.MultiIndex):
            series = pd.unique(forecast.index.get_level_values(0)[~finite.all(axis=1)])
            named = ", ".join(map(repr, series[:_SHOWN].tolist()))
            where += f" of series {named}" + (" ..." if len(series) > _SHOWN else "")
        raise ForecastError(
            f"The forecast has NaN or infinite values in {where}; nothing is written. "
            "Check the training data and the model's fit (training.learning_rate, clipping)."
        )
    found = implausible(forecast, history)
    if not found or allow_implausible:
        return [f"implausible forecast, {line}" for line in found] + below_zero(forecast, history)
    shown = "; ".join(found[:_SHOWN]) + (f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
    raise ForecastError(
        f"The forecast lies far outside what the training data make plausible (more than {PLAUSIBLE_SPANS:g} "
        f"training spans beyond their range) for {shown}. Nothing is written. The model has most likely "
        "diverged: lower training.learning_rate, clip gradients (training.clip_norm) or scale the data. "
        "To write it anyway: --allow-implausible (output.allow_implausible: true)."
    )


def check_scores(scores: pd.Series, source: str, missing: np.ndarray | None = None) -> None:
    """Refuse anomaly scores that are infinite, or NaN after the first scored row (:class:`ForecastError`).

    ``missing`` (bool per row, optional): rows whose input has a missing value (``--missing
    mask``), which may have a NaN score: a row without a value has no score.
    """
    values = scores.to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise ForecastError(f"{source}: the detector scored no row with a finite value; nothing is written.")
    first = int(np.argmax(finite))
    unscored = ~finite if missing is None else ~finite & ~np.asarray(missing, dtype=bool)
    bad = np.flatnonzero(unscored[first:]) + first
    infinite = np.flatnonzero(np.isinf(values))
    bad = np.union1d(bad, infinite).astype(int)
    if bad.size:
        rows = ", ".join(str(scores.index[i]) for i in bad[:3])
        raise ForecastError(
            f"{source}: {bad.size} anomaly score(s) are NaN or infinite after the first scored row (e.g. at {rows}); "
            "nothing is written. The detector's model has most likely diverged: lower its learning rate or "
            "scale the data."
        )


def _names(columns) -> str:
    names = [str(column) for column in columns]
    return f"column(s) {listed([repr(name) for name in names], _SHOWN)}"
