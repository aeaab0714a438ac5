"""Figures that runs log and ``tsseq compare`` draws (matplotlib, off-screen: :func:`pyplot`)."""

from __future__ import annotations

import pandas as pd

def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def comparison_figure(table: pd.DataFrame, metric: str, title: str = "", note: str | None = None):
    """One horizontal bar per run (best at the top) of ``table[metric]``, labelled by run name and model.

    ``model`` is the registered model name (``lstm``, not the class's ``rnn``), shown
    after the run name unless they are the same. ``note`` (e.g. how many pruned trials
    are left out) is written under the bars.
    """
    plt = pyplot()
    shown = table.dropna(subset=[metric])
    labels = [comparison_label(name, model) for name, model in zip(shown["run_name"], shown["model"])]
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(shown) + (1.5 if note else 1.2)))
    positions = range(len(shown))
    axis.barh(list(positions), shown[metric].to_numpy(), color="tab:blue")
    axis.set_yticks(list(positions), labels)
    axis.invert_yaxis()  # the best run first, at the top
    axis.set_xlabel(metric)
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    if note:
        figure.text(0.01, 0.01, note, fontsize=8, color="dimgray", va="bottom")
    figure.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    return figure


def comparison_label(run_name: object, model: object) -> str:
    """``"<run name> (<model>)"``, or the run name alone when the model is unknown or the same."""
    name, model = str(run_name), "" if pd.isna(model) else str(model)
    return f"{name} ({model})" if model and model != name else name
