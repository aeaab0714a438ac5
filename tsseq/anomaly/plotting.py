"""The figure of an anomaly-scoring job: series, flags, score, threshold, labelled windows, events."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tsseq import io

MAX_CHANNELS = 4  # channels drawn in the series panel


def plot_detection(
    values: pd.DataFrame,
    result: pd.DataFrame,
    path: str | Path,
    *,
    labels: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    title: str = "",
) -> Path:
    """Draw ``values`` with flagged points, and ``result["score"]`` with its threshold; write a PNG atomically.

    ``result`` has a ``score`` column, optionally ``is_anomaly`` and ``threshold`` (a
    per-point threshold, as streaming gives) and ``attrs["threshold"]`` (one value).
    ``labels`` (columns ``start``, ``end``) are shaded orange on both panels; detected
    ``events`` (:func:`tsseq.anomaly.events.find_events`) red, their peaks marked on the
    score panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (series_axis, score_axis) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    for column in list(values.columns[:MAX_CHANNELS]):
        series_axis.plot(values.index, values[column], linewidth=0.9, label=str(column))
    if "is_anomaly" in result:
        flagged = result.index[result["is_anomaly"].to_numpy(dtype=bool)]
        first = values.columns[0]
        series_axis.scatter(flagged, values.loc[flagged, first], color="tab:red", s=14, zorder=3, label="flagged")
    score_axis.plot(result.index, result["score"], color="0.2", linewidth=0.9, label="score")
    if "threshold" in result:
        threshold = result["threshold"].where(result["score"].notna())  # none drawn where nothing is scored
        score_axis.plot(result.index, threshold, color="tab:red", linewidth=0.9, linestyle="--", label="threshold")
    elif result.attrs.get("threshold") is not None:
        score_axis.axhline(result.attrs["threshold"], color="tab:red", linewidth=0.9, linestyle="--", label="threshold")
    if labels is not None:
        for start, end in zip(pd.to_datetime(labels["start"]), pd.to_datetime(labels["end"])):
            for axis in (series_axis, score_axis):
                axis.axvspan(start, end, color="tab:orange", alpha=0.25, linewidth=0)
    if events is not None and len(events):
        for start, end in zip(pd.to_datetime(events["start"]), pd.to_datetime(events["end"])):
            for axis in (series_axis, score_axis):
                # a one-row event has start == end: draw it as a thin line rather than nothing
                axis.axvspan(start, end, color="tab:red", alpha=0.15, linewidth=0.8 if start == end else 0)
        peaks = events.dropna(subset=["peak_time"])
        score_axis.scatter(pd.to_datetime(peaks["peak_time"]), peaks["peak_score"], color="tab:red", marker="v",
                           s=18, zorder=3, label=f"event peaks ({len(events)} events)")  # fmt: skip
    mode = "causal" if result.attrs.get("causal") else "batch (offline)"
    series_axis.set_title(f"{title}, {mode}" if title else mode)
    for axis in (series_axis, score_axis):
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    finally:
        plt.close(figure)
