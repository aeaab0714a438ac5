"""The figure of an anomaly-scoring job: series, flags, score, threshold, labelled windows, events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tsseq import io

MAX_CHANNELS = 4  # channels drawn in the series panel
# Why the series panel shows the channels it does, when not all of them fit (series_channels).
BY_CONTRIBUTION = "largest contributions to the flagged rows"
BY_DEPARTURE = "largest departures of the flagged rows from the others (standardised)"
FIRST = "the first ones (nothing flagged)"


def plot_detection(
    values: pd.DataFrame,
    result: pd.DataFrame,
    path: str | Path,
    *,
    labels: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    title: str = "",
    filled: pd.Series | np.ndarray | None = None,
) -> Path:
    """Draw ``values`` with flagged points, and ``result["score"]`` with its threshold; write a PNG atomically.

    ``result`` has a ``score`` column, optionally ``is_anomaly``, ``smoothed_score`` (the
    scores a batch threshold compares, drawn beside them), ``threshold`` (a
    per-point threshold, as streaming gives), ``attrs["threshold"]`` (one value) and
    ``contribution_<channel>`` columns: drawn as a heat strip under the score, one row per
    channel, the colour each channel's share of the score (its contribution over the
    row's score, 0 to 1), so that the channel making an alarm stands out whatever the
    score's size.
    The series panel draws at most ``MAX_CHANNELS`` channels, those that matter most when more
    do not fit (:func:`series_channels`, its legend saying how many and why); a flagged point's dot
    sits on the channel that contributed most to its row (:func:`flag_channels`), or on every drawn
    channel without contributions.
    ``labels`` (columns ``start``, ``end``) are shaded orange on both panels; detected
    ``events`` (:func:`tsseq.anomaly.events.find_events`) red, their peaks marked on the
    score panel. ``filled`` (bool per row of ``values``: the rows whose values the missing policy filled,
    the output's ``filled`` column) are shaded grey on the series panel: values no sensor sent.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsseq.anomaly.detectors import CONTRIBUTION_PREFIX

    shares = _shares(result, CONTRIBUTION_PREFIX)
    if shares is None:
        figure, (series_axis, score_axis) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    else:
        figure, (series_axis, score_axis, share_axis) = plt.subplots(
            3, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 3, 0.5 + 0.3 * shares.shape[1]]}
        )
        _draw_shares(figure, share_axis, shares)
    shown, rule = series_channels(values, result, events, CONTRIBUTION_PREFIX)
    for column in shown:
        series_axis.plot(values.index, values[column], linewidth=0.9, label=str(column))
    if "is_anomaly" in result:
        flagged = result.index[result["is_anomaly"].to_numpy(dtype=bool)]
        on = flag_channels(result, shown, CONTRIBUTION_PREFIX)
        if on is None:  # no contributions: which channel made the alarm is unknown, so each shown one is marked
            x = list(flagged) * len(shown)
            y = np.concatenate([values.loc[flagged, column].to_numpy(dtype=np.float64) for column in shown])
        else:
            x, y = on.index, values.loc[on.index, shown].to_numpy()[np.arange(len(on)), [shown.index(c) for c in on]]
        series_axis.scatter(x, y, color="tab:red", s=14, zorder=3, label="flagged")
    if filled is not None:
        for k, (start, end) in enumerate(_runs(values.index, np.asarray(filled, dtype=bool))):
            # a one-row run has start == end: a thin line rather than nothing, as a one-row event
            series_axis.axvspan(start, end, color="0.5", alpha=0.3, linewidth=0.8 if start == end else 0,
                                label=None if k else "filled (not measured)")  # fmt: skip
    score_axis.plot(result.index, result["score"], color="0.2", linewidth=0.9, label="score")
    if "smoothed_score" in result:  # a batch threshold smooths the scores first: the line it is compared with
        score_axis.plot(result.index, result["smoothed_score"], color="tab:blue", linewidth=1.1,
                        label="smoothed score (what the threshold applies to)")  # fmt: skip
    if "threshold" in result:
        threshold = result["threshold"].where(result["score"].notna())  # none drawn where nothing is scored
        score_axis.plot(result.index, threshold, color="tab:red", linewidth=0.9, linestyle="--", label="threshold")
    elif result.attrs.get("threshold") is not None:
        score_axis.axhline(result.attrs["threshold"], color="tab:red", linewidth=0.9, linestyle="--", label="threshold")
    if labels is not None:
        for start, end in zip(_on_axis(labels["start"], values.index), _on_axis(labels["end"], values.index)):
            for axis in (series_axis, score_axis):
                axis.axvspan(start, end, color="tab:orange", alpha=0.25, linewidth=0)
    if events is not None and len(events):
        for start, end in zip(_on_axis(events["start"], values.index), _on_axis(events["end"], values.index)):
            for axis in (series_axis, score_axis):
                # a one-row event has start == end: draw it as a thin line rather than nothing
                axis.axvspan(start, end, color="tab:red", alpha=0.15, linewidth=0.8 if start == end else 0)
        peaks = events.dropna(subset=["peak_time"])
        score_axis.scatter(_on_axis(peaks["peak_time"], values.index), peaks["peak_score"], color="tab:red", marker="v",
                           s=18, zorder=3, label=f"event peaks ({len(events)} events)")  # fmt: skip
    linear_up_to = log_scale_from(result)
    if linear_up_to is not None:
        score_axis.set_yscale("symlog", linthresh=linear_up_to)
        score_axis.set_ylabel("score (log above the threshold)", fontsize=8)
    mode = "causal" if result.attrs.get("causal") else "batch (offline)"
    series_axis.set_title(f"{title}, {mode}" if title else mode)
    for axis in (series_axis, score_axis):
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=8)
    if rule:  # not every channel fits: the legend says how many are drawn and why these
        series_axis.legend(loc="upper left", fontsize=8, title=f"{len(shown)} of {values.shape[1]} channels: {rule}",
                           title_fontsize=8, alignment="left")  # fmt: skip
    figure.tight_layout()
    try:
        return io.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    finally:
        plt.close(figure)


def series_channels(
    values: pd.DataFrame,
    result: pd.DataFrame,
    events: pd.DataFrame | None,
    prefix: str,
    limit: int = MAX_CHANNELS,
) -> tuple[list, str]:
    """-> (the columns of ``values`` the series panel draws, the rule that chose them; "" when all of them fit).

    With more than ``limit`` channels, the ``limit`` that matter most, most first: with contributions
    (``result``'s ``<prefix><channel>`` columns) the channels the ``events`` name, then the rest, each
    group by its contributions summed over the flagged rows (``result["is_anomaly"]``); without them
    the largest departure of a flagged row from the unflagged rows, in standard deviations of those
    (the plot is not told which rows trained the detector; the unflagged ones stand in for them);
    with nothing flagged the first ``limit``.
    """
    columns = list(values.columns)
    if len(columns) <= limit:
        return columns, ""
    flags = result["is_anomaly"].to_numpy(dtype=bool) if "is_anomaly" in result else np.zeros(len(result), bool)
    if not flags.any():
        return columns[:limit], FIRST
    names = [f"{prefix}{column}" for column in columns]
    if all(name in result for name in names):
        weight = result.loc[flags, names].fillna(0.0).sum().to_numpy()
        if weight.any():
            named = set()
            if events is not None and "channels" in events:
                named = {part.strip() for text in events["channels"].dropna() for part in str(text).split(",")}
            order = sorted(range(len(columns)), key=lambda k: (str(columns[k]) not in named, -weight[k]))
            return [columns[k] for k in order[:limit]], BY_CONTRIBUTION
    hit = values.index.isin(result.index[flags])
    rest = values.loc[~hit]
    departure = values.loc[hit].sub(rest.mean()).div(rest.std().where(rest.std() > 0)).abs().max()
    order = np.argsort(-departure.fillna(0.0).to_numpy(), kind="stable")  # ties (constant channels): the first
    return [columns[k] for k in order[:limit]], BY_DEPARTURE


def flag_channels(result: pd.DataFrame, shown: list, prefix: str) -> pd.Series | None:
    """The channel a flagged row's dot sits on: of the ``shown`` channels, the one that contributed most to that row.

    Indexed by the flagged rows of ``result``; None without contributions (the dots go on every shown
    channel). A flagged row without a contribution of any shown channel (NaN) gets the first one.
    """
    names = [f"{prefix}{column}" for column in shown]
    if "is_anomaly" not in result or not all(name in result for name in names):
        return None
    parts = result.loc[result["is_anomaly"].to_numpy(dtype=bool), names]
    most = np.argmax(parts.fillna(-np.inf).to_numpy(dtype=np.float64), axis=1)
    return pd.Series([shown[k] for k in most], index=parts.index, dtype=object)


def _runs(index: pd.Index, rows: np.ndarray) -> list[tuple]:
    """The (first, last) entries of ``index`` of each run of consecutive True ``rows``."""
    edges = np.diff(np.concatenate([[0], rows.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(index[start], index[end]) for start, end in zip(starts, ends)]


# Scores this many times the threshold flatten it and every ordinary score onto the axis (a counter's reset scored 9e5
# against a threshold of about 1): the score axis is then logarithmic above the threshold.
LOG_SCALE_RATIO = 100.0


def log_scale_from(result: pd.DataFrame) -> float | None:
    """The score below which the score axis stays linear (the threshold, its median if it varies) when the largest
    score passes ``LOG_SCALE_RATIO`` times it; None (a linear axis) otherwise or without a positive threshold."""
    threshold = result["threshold"].median() if "threshold" in result else result.attrs.get("threshold")
    largest = result["score"].max()
    if threshold is None or not np.isfinite(threshold) or threshold <= 0 or not largest > LOG_SCALE_RATIO * threshold:
        return None
    return float(threshold)


def _on_axis(times: pd.Series, index: pd.Index) -> pd.Series:
    """Times of events or labels where the x-axis of ``index`` puts them: dates, or the numbers that stand for rows
    when the data had no dates."""
    return pd.to_datetime(times) if isinstance(index, pd.DatetimeIndex) else pd.to_numeric(times)


def _shares(result: pd.DataFrame, prefix: str) -> pd.DataFrame | None:
    """Each channel's share of the score ``(T, C)``, clipped to [0, 1] (NaN where unscored); None without contributions."""
    columns = [column for column in result.columns if str(column).startswith(prefix)]
    if not columns:
        return None
    parts = result[columns].rename(columns=lambda column: str(column)[len(prefix) :])
    total = result["score"].where(result["score"] != 0)
    return parts.div(total, axis=0).clip(0.0, 1.0)


def _draw_shares(figure, axis, shares: pd.DataFrame) -> None:
    """The heat strip: time across, one row per channel; its colour bar says what the colour means."""
    import matplotlib.dates as mdates
    import numpy as np

    index = shares.index
    dates = isinstance(index, pd.DatetimeIndex)
    if len(index) > 1 and (dates or pd.api.types.is_numeric_dtype(index.dtype)):  # numbers: rows without dates
        x = mdates.date2num(index.to_pydatetime()) if dates else index.to_numpy(dtype=np.float64)
        edges = np.r_[x[0] - (x[1] - x[0]) / 2, (x[1:] + x[:-1]) / 2, x[-1] + (x[-1] - x[-2]) / 2]
        edges = mdates.num2date(edges) if dates else edges
    else:
        edges = np.arange(len(index) + 1) - 0.5
    mesh = axis.pcolormesh(edges, np.arange(shares.shape[1] + 1), shares.to_numpy().T, cmap="Reds", vmin=0, vmax=1,
                           shading="flat")  # fmt: skip
    axis.set_yticks(np.arange(shares.shape[1]) + 0.5)
    axis.set_yticklabels(list(shares.columns), fontsize=7)
    axis.set_ylim(shares.shape[1], 0)
    colour_bar = figure.colorbar(mesh, ax=axis, pad=0.01, fraction=0.02)
    colour_bar.set_label("share of score", fontsize=7)
