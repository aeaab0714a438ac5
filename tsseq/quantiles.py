"""Quantile levels and the array operations every probabilistic forecast shares (numpy only).

A probabilistic forecast in tsseq is, at the array level, one of

* quantiles ``(..., Q)`` at increasing levels ``tau_1 < ... < tau_Q`` in (0, 1), never
  crossing (``q[..., k] <= q[..., k + 1]``);
* sample paths ``(n, ...)``, whose empirical quantiles are the quantiles.

Models produce whichever is natural (a quantile head, a parametric head, analytic
Gaussian intervals, paths drawn ancestrally) and :class:`tsseq.base.Forecaster` turns it
into pandas frames. The helpers here convert between the two and check levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsseq.errors import ConfigError, ForecastError


def check_levels(levels: object, name: str = "quantiles") -> np.ndarray:
    """Validate quantile levels: a non-empty sequence of numbers in (0, 1), returned sorted and unique."""
    if isinstance(levels, (int, float)) and not isinstance(levels, bool):
        levels = [levels]
    try:
        values = np.asarray(list(levels), dtype=np.float64)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            f"The {name!r} parameter must be a sequence of quantile levels in (0, 1), e.g. [0.05, 0.5, 0.95]. "
            f"Got {levels!r} instead."
        ) from None
    if values.ndim != 1 or values.size == 0 or not np.all((values > 0) & (values < 1)):
        raise ConfigError(
            f"The {name!r} parameter must be a non-empty sequence of levels strictly between 0 and 1, "
            f"e.g. [0.05, 0.5, 0.95]. Got {levels!r} instead."
        )
    return np.unique(values)


def check_coverage(coverage: object, name: str = "coverage") -> float:
    """A central interval's nominal coverage: a number in (0, 1)."""
    number = isinstance(coverage, (int, float, np.floating)) and not isinstance(coverage, bool)
    if not number or not 0 < float(coverage) < 1:  # type: ignore[arg-type]
        raise ConfigError(f"The {name!r} parameter must be a number in (0, 1), e.g. 0.9. Got {coverage!r} instead.")
    return float(coverage)  # type: ignore[arg-type]


def interval_levels(coverage: float) -> np.ndarray:
    """The two levels ``((1 - c) / 2, (1 + c) / 2)`` of a central interval of coverage ``c``."""
    return np.round([(1 - coverage) / 2, (1 + coverage) / 2], 12)  # 0.05, not 0.04999999999999999


def level_label(level: float) -> str:
    """How a level is written in column names: ``0.05``, ``0.5``, ``0.975`` (shortest exact decimal)."""
    return np.format_float_positional(float(level), trim="-")


def interpolate_levels(quantiles: np.ndarray, levels: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Quantiles ``(..., Q)`` at ``levels`` -> ``(..., Q')`` at ``wanted``, linear in the level.

    Levels outside ``[levels[0], levels[-1]]`` are refused: what lies beyond the outermost
    trained quantiles is not known to the model.
    """
    levels, wanted = np.asarray(levels, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    tolerance = 1e-9
    if wanted.min() < levels[0] - tolerance or wanted.max() > levels[-1] + tolerance:
        raise ConfigError(
            f"This model knows the quantiles at levels {[level_label(x) for x in levels]}; levels outside "
            f"[{level_label(levels[0])}, {level_label(levels[-1])}] cannot be interpolated. Got "
            f"{[level_label(x) for x in wanted]}. Train it with wider levels (training.quantiles)."
        )
    position = np.clip(np.searchsorted(levels, wanted, side="right") - 1, 0, max(len(levels) - 2, 0))
    if len(levels) == 1:
        return np.repeat(quantiles, len(wanted), axis=-1)
    low, high = levels[position], levels[position + 1]
    weight = np.clip((wanted - low) / (high - low), 0.0, 1.0)
    return quantiles[..., position] * (1 - weight) + quantiles[..., position + 1] * weight


def sample_quantiles(samples: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Sample paths ``(n, ...)`` -> empirical quantiles ``(..., Q)`` (linear interpolation, type 7)."""
    return np.moveaxis(np.quantile(samples, levels, axis=0), 0, -1)


def noncrossing(quantiles: np.ndarray) -> np.ndarray:
    """Quantiles ``(..., Q)`` made non-decreasing along the levels (a running maximum).

    Heads and analytic intervals are monotone by construction; this removes the
    last-bit differences that interpolation and float rounding can leave.
    """
    return np.maximum.accumulate(quantiles, axis=-1)


def check_finite_forecast(
    per_series: Sequence[np.ndarray],
    what: str,
    series_names: Sequence[object] | None = None,
    columns: Sequence[str] | None = None,
    channel_axis: int = -1,
) -> None:
    """Refuse a forecast with NaN or infinite values (:class:`~tsseq.errors.ForecastError`).

    ``per_series``: one array per series, the channels along ``channel_axis`` (named by
    ``columns``). The message names the series (``series_names``; none for one wide
    series) and the columns that have them.
    """
    bad = []
    for position, values in enumerate(per_series):
        finite = np.isfinite(np.asarray(values))
        if finite.all():
            continue
        names = []
        if columns is not None and finite.ndim >= 1 and finite.shape[channel_axis] == len(columns):
            per_channel = np.moveaxis(finite, channel_axis, 0).reshape(len(columns), -1).all(axis=1)
            names = [str(columns[c]) for c in np.flatnonzero(~per_channel)]
        series = None if series_names is None else series_names[position]
        bad.append((series, names))
    if not bad:
        return
    described = []
    for series, names in bad[:5]:
        column_text = f"column(s) {', '.join(map(repr, names))}" if names else ""
        series_text = "" if series is None else f"series {series!r}"
        described.append(" ".join(part for part in (series_text, column_text) if part) or "the series")
    more = f" and {len(bad) - 5} more series" if len(bad) > 5 else ""
    raise ForecastError(
        f"The model's {what} has NaN or infinite values in {'; '.join(described)}{more}; nothing is returned. "
        "Check the training data and the model's fit (training.learning_rate, clipping)."
    )
