"""Figures written by jobs: history, forecast (a fan chart when it has quantiles) and actuals.

Rendered off-screen with matplotlib, imported when a figure is drawn. The forecast is
a frame in the layout of :meth:`tsseq.base.Forecaster.predict`; for each target column
``y`` one panel shows

* the tail of the history and the point forecast ``y``;
* quantile columns ``y_q<level>`` paired symmetrically around the median (``y_q0.05``
  with ``y_q0.95``, ``y_q0.25`` with ``y_q0.75``) as shaded bands, more opaque toward the
  centre, and the median ``y_q0.5`` dashed (unless it is the point forecast); a level
  without a partner is a dotted line;
* a ``y_lower`` / ``y_upper`` pair (``predict_interval``) as one band;
* the actual values over the forecast rows, when they are known (``actuals=``).

:func:`plot_holdout` draws several models' forecasts of held-out rows over the actuals.

Dates on the shared time axis are labelled by matplotlib's ``ConciseDateFormatter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq import io
from tsseq.errors import DataError, listed

MAX_PANELS = 12  # panels drawn when `columns` is not given; a note in the figure names the rest
NOTE_NAMES = 20  # column names listed in that note
FORECAST_COLOR, ACTUAL_COLOR, HISTORY_COLOR = "tab:blue", "tab:orange", "0.3"
_LEVEL_TOLERANCE = 1e-9


@dataclass
class _Fan:
    """What the forecast frame holds for one target column."""

    bands: list[tuple[str, pd.Series, pd.Series]] = field(default_factory=list)  # (label, low, high), outer first
    median: pd.Series | None = None
    lines: list[tuple[str, pd.Series]] = field(default_factory=list)  # unpaired quantiles


def _levels(forecast: pd.DataFrame, column: str) -> dict[float, str]:
    """The quantile columns ``<column>_q<level>`` of ``forecast``: {level: column name}."""
    prefix, found = f"{column}_q", {}
    for name in map(str, forecast.columns):
        if not name.startswith(prefix):
            continue
        try:
            level = float(name[len(prefix) :])
        except ValueError:
            continue
        if 0 < level < 1:
            found[level] = name
    return found


def _fan(forecast: pd.DataFrame, column: str) -> _Fan:
    """Pair the quantile (and lower/upper) columns of ``column`` into bands, outermost first."""
    fan, levels = _Fan(), _levels(forecast, column)
    paired = set()
    for low in sorted(level for level in levels if level < 0.5):
        partner = [high for high in levels if abs(high - (1 - low)) < _LEVEL_TOLERANCE]
        if partner:
            label = f"{np.format_float_positional(100 * (partner[0] - low), precision=4, trim='-')}% interval"
            fan.bands.append((label, forecast[levels[low]], forecast[levels[partner[0]]]))
            paired.update((low, partner[0]))
    for level, name in sorted(levels.items()):
        if abs(level - 0.5) < _LEVEL_TOLERANCE:
            fan.median = forecast[name]
        elif level not in paired:
            fan.lines.append((f"{name[len(column) + 1 :]} quantile", forecast[name]))
    lower, upper = f"{column}_lower", f"{column}_upper"
    if lower in forecast.columns and upper in forecast.columns:
        fan.bands.insert(0, ("interval", forecast[lower], forecast[upper]))
    return fan


def _panel_columns(history: pd.DataFrame, columns: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(columns drawn, columns left out): the chosen ones, else the first ``MAX_PANELS``."""
    available = [str(column) for column in history.columns]
    if columns is None:
        return available[:MAX_PANELS], available[MAX_PANELS:]
    chosen = [str(column) for column in columns]
    unknown = [column for column in chosen if column not in available]
    if unknown or not chosen:
        raise DataError(f"plot columns: {unknown or 'none'} not among the history's columns {available}.")
    return chosen, []


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # off-screen: jobs run without a display
    import matplotlib.pyplot as plt

    return plt


def _first_series(frame: pd.DataFrame | None, series: object) -> pd.DataFrame | None:
    if frame is None or not isinstance(frame.index, pd.MultiIndex):
        return frame
    return frame.xs(series, level=0)


def forecast_figure(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    actuals: pd.DataFrame | None = None,
    columns: Sequence[str] | None = None,
    title: str = "",
    history_rows: int | None = None,
):
    """The figure (see the module docstring): one panel per target column, time shared.

    ``history``: the rows before the forecast (wide; of a long frame the first series is
    drawn); its last ``history_rows`` (default: four forecast lengths) are shown.
    ``columns``: the target columns to draw (default: all, at most :data:`MAX_PANELS`,
    with a note naming those left out). ``actuals``: the true values of forecast rows.
    """
    plt = _pyplot()
    if isinstance(history.index, pd.MultiIndex):
        first = history.index.get_level_values(0)[0]
        history, forecast, actuals = (_first_series(frame, first) for frame in (history, forecast, actuals))
        title = f"{title} (series {first})"
    drawn, left_out = _panel_columns(history, columns)
    shown = history.iloc[-(history_rows or 4 * len(forecast)) :]
    figure, axes = plt.subplots(len(drawn), 1, figsize=(10, 1.0 + 2.3 * len(drawn)), sharex=True, squeeze=False)
    for axis, column in zip(axes[:, 0], drawn):
        _draw_panel(axis, column, shown, forecast, actuals)
        _date_axis(axis, shown.index)
    axes[0, 0].legend(loc="best", fontsize="small", ncol=3)
    axes[0, 0].set_title(title)
    bottom = 0.0
    if left_out:
        named = listed(left_out, NOTE_NAMES)
        note = f"Not drawn ({len(left_out)} of {len(history.columns)} columns; choose with columns=): {named}"
        figure.text(0.01, 0.005, note, fontsize="small", ha="left", va="bottom", wrap=True)
        bottom = 0.45 / figure.get_figheight()  # room for two lines of the note
    figure.tight_layout(rect=(0, bottom, 1, 1))
    return figure


def _draw_panel(axis, column: str, history: pd.DataFrame, forecast: pd.DataFrame, actuals: pd.DataFrame | None) -> None:
    """History, fan, point forecast and actuals of one column."""
    axis.plot(history.index, history[column], color=HISTORY_COLOR, linewidth=1, label="history")
    fan = _fan(forecast, column)
    for position, (label, low, high) in enumerate(fan.bands):
        alpha = 0.15 + 0.2 * (position + 1) / len(fan.bands)  # more opaque toward the centre
        axis.fill_between(forecast.index, low, high, color=FORECAST_COLOR, alpha=alpha, linewidth=0, label=label)
    for label, values in fan.lines:
        axis.plot(forecast.index, values, color=FORECAST_COLOR, linewidth=0.8, linestyle=":", label=label)
    point = forecast[column] if column in forecast.columns else None
    if fan.median is not None and (point is None or not np.allclose(fan.median, point, equal_nan=True)):
        axis.plot(forecast.index, fan.median, color=FORECAST_COLOR, linewidth=1, linestyle="--", label="median")
    if point is not None:
        axis.plot(forecast.index, point, color=FORECAST_COLOR, linewidth=1.5, label="forecast")
    if actuals is not None and column in actuals.columns:
        axis.plot(
            actuals.index, actuals[column], color=ACTUAL_COLOR, linewidth=1, marker="o", markersize=2.5, label="actual"
        )
    axis.set_ylabel(column)
    axis.grid(alpha=0.3)


def plot_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    path: str | Path,
    *,
    actuals: pd.DataFrame | None = None,
    columns: Sequence[str] | None = None,
    title: str = "",
    history_rows: int | None = None,
) -> Path:
    """Draw :func:`forecast_figure` and write it atomically as PNG to ``path``."""
    figure = forecast_figure(history, forecast, actuals=actuals, columns=columns, title=title, history_rows=history_rows)
    return _save(figure, path)


def plot_holdout(
    history: pd.DataFrame,
    actuals: pd.DataFrame,
    forecasts: dict[str, pd.DataFrame],
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    title: str = "",
    history_rows: int | None = None,
) -> Path:
    """Several models' forecasts of held-out rows against the actuals, written atomically as PNG.

    ``forecasts``: model name -> forecast frame over the actuals' rows (as from
    ``predict``/``predict_interval``); the first one with interval or quantile columns
    also draws its bands, so that the figure stays readable. Wide frames (of a long
    frame the first series is drawn).
    """
    plt = _pyplot()
    if isinstance(history.index, pd.MultiIndex):
        first = history.index.get_level_values(0)[0]
        history, actuals = _first_series(history, first), _first_series(actuals, first)
        forecasts = {name: _first_series(frame, first) for name, frame in forecasts.items()}
        title = f"{title} (series {first})"
    drawn, _ = _panel_columns(history, columns)
    shown = history.iloc[-(history_rows or 3 * len(actuals)) :]
    banded = next((name for name, frame in forecasts.items() if any(_fan(frame, c).bands for c in drawn)), None)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(len(drawn), 1, figsize=(10, 1.0 + 2.6 * len(drawn)), sharex=True, squeeze=False)
    for axis, column in zip(axes[:, 0], drawn):
        axis.plot(shown.index, shown[column], color=HISTORY_COLOR, linewidth=1, label="history")
        axis.plot(actuals.index, actuals[column], color="black", linewidth=1.2, label="actual")
        for position, (name, frame) in enumerate(forecasts.items()):
            color = colors[position % len(colors)]
            if name == banded:
                for label, low, high in _fan(frame, column).bands:
                    axis.fill_between(frame.index, low, high, color=color, alpha=0.2, linewidth=0, label=f"{name} {label}")
            axis.plot(frame.index, frame[column], color=color, linewidth=1.3, label=name)
        axis.set_ylabel(column)
        axis.grid(alpha=0.3)
        _date_axis(axis, shown.index)
    axes[0, 0].legend(loc="upper left", fontsize="small", ncol=3)
    axes[0, 0].set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def _date_axis(axis, index: pd.Index) -> None:
    """Concise date labels that do not collide, on a time axis."""
    if isinstance(index, pd.DatetimeIndex):
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(figure, path: str | Path) -> Path:
    """Write ``figure`` atomically as PNG and close it."""
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        _pyplot().close(figure)
