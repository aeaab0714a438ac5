"""Figures that runs log and ``tsseq compare`` draws (matplotlib, off-screen: :func:`pyplot`)."""

from __future__ import annotations

import pandas as pd

MAX_PANELS = 4  # channels drawn


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_figure(history: pd.DataFrame, truth: pd.DataFrame, forecast: pd.DataFrame, title: str = ""):
    """History window, the true continuation and the forecast, one panel per channel (wide frames)."""
    plt = pyplot()
    columns = list(truth.columns[:MAX_PANELS])
    figure, axes = plt.subplots(len(columns), 1, figsize=(10, 2.6 * len(columns)), sharex=True, squeeze=False)
    for axis, column in zip(axes[:, 0], columns):
        axis.plot(history.index, history[column], color="0.4", linewidth=1, label="history")
        axis.plot(truth.index, truth[column], color="0.1", linewidth=1.2, label="truth")
        axis.plot(forecast.index, forecast[column], color="tab:blue", linewidth=1.5, label="forecast")
        axis.set_ylabel(str(column))
        axis.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left")
    axes[0, 0].set_title(title)
    figure.tight_layout()
    return figure


def comparison_figure(table: pd.DataFrame, metric: str, title: str = ""):
    """One horizontal bar per run (best at the top) of ``table[metric]``, labelled by run name and model."""
    plt = pyplot()
    shown = table.dropna(subset=[metric])
    labels = [f"{name} ({model})" if model and model != name else str(name) for name, model in zip(shown["run_name"], shown["model"])]
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(shown) + 1.2))
    positions = range(len(shown))
    axis.barh(list(positions), shown[metric].to_numpy(), color="tab:blue")
    axis.set_yticks(list(positions), labels)
    axis.invert_yaxis()  # the best run first, at the top
    axis.set_xlabel(metric)
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure
