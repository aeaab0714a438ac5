"""Figures written by jobs (history and forecast), rendered off-screen with matplotlib."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tsseq import io

MAX_PANELS = 4  # channels drawn; wider frames are summarised by their first channels


def plot_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "",
    history_rows: int | None = None,
) -> Path:
    """Draw the tail of ``history`` and ``forecast`` (wide frames), one panel per channel.

    For long frames (many series) the first series is drawn. Written atomically as PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(history.index, pd.MultiIndex):
        first = history.index.get_level_values(0)[0]
        history, forecast = history.xs(first, level=0), forecast.xs(first, level=0)
        title = f"{title} (series {first})"
    shown = history.iloc[-(history_rows or 4 * len(forecast)) :]
    columns = list(history.columns[:MAX_PANELS])
    figure, axes = plt.subplots(len(columns), 1, figsize=(10, 2.6 * len(columns)), sharex=True, squeeze=False)
    for axis, column in zip(axes[:, 0], columns):
        axis.plot(shown.index, shown[column], color="0.25", linewidth=1, label="history")
        axis.plot(forecast.index, forecast[column], color="tab:blue", linewidth=1.5, label="forecast")
        axis.set_ylabel(str(column))
        axis.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left")
    axes[0, 0].set_title(title)
    figure.tight_layout()
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        plt.close(figure)
