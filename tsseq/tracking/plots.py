"""Figures that runs log and ``tsseq compare`` draws (matplotlib, off-screen: :func:`pyplot`)."""

from __future__ import annotations

import pandas as pd

def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
