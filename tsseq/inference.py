"""Batch inference: a fitted (saved) model forecasts the series it is given, without fitting.

A global model (a neural network trained once, saved with ``model.save()`` and read with
:func:`tsseq.persistence.load`) forecasts every series of a frame from the series' own last
rows: its ``input_length`` rows (all of them for a model without one, such as a saved
AR), through the estimator's ``predict_windows``. So each series' forecast depends on that
series and the model alone, which is what lets :mod:`tsseq.streaming_jobs` and
:mod:`tsseq.dask_jobs` run it on batches of series. A neural model fitted on many series
(a long frame) scales each series with its own statistics: it forecasts the series of
its fit, each window passed with its series id (``predict_windows(..., series=)``), as
its ``predict()`` does; a series it was not fitted on is refused by id.

Torch runs the batch with ``threads`` intra-op threads (default 1), the same on every
process of a job, so that a batch gives the same bits wherever it runs.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from tsseq.base import SeriesLayout, split_frame
from tsseq.errors import DataError
from tsseq.quantiles import check_levels, level_label


def forecast_series(
    estimator,
    history: pd.DataFrame,
    horizon: int,
    quantiles: list[float] | None = None,
    *,
    threads: int = 1,
    source: str = "the data",
) -> pd.DataFrame:
    """The next ``horizon`` rows of every series of ``history`` (wide or long), by the fitted ``estimator``.

    Returns the layout of ``estimator.predict``: the model's columns (each followed by its
    ``y_q<level>`` columns with ``quantiles``), indexed by ``(series id, timestamp)`` for a
    long frame, by timestamp for a wide one. Raises a DataError naming ``source`` when the
    frame lacks one of the model's columns, has another frequency, or holds a series
    shorter than the model's input.
    """
    import torch

    from tsseq.engine.device import intra_op_threads

    fitted = estimator.layout_
    columns = list(fitted.columns)
    absent = [column for column in columns if column not in map(str, history.columns)]
    if absent:
        raise DataError(
            f"{source}: the model forecasts the column(s) {columns}; {absent} are not in the data "
            f"(columns: {[str(column) for column in history.columns]})."
        )
    series, layout = split_frame(history.rename(columns=str)[columns])
    if layout.series_ids is None and fitted.series_ids is not None and len(fitted.series_ids) > 1:
        raise DataError(
            f"{source}: the model was fitted on {len(fitted.series_ids)} series (a long frame), each scaled on its own; "
            "give the data as a long frame with their ids (a series column) so that each is forecast as that series."
        )
    if pd.tseries.frequencies.to_offset(layout.freq) != pd.tseries.frequencies.to_offset(fitted.freq):
        raise DataError(f"{source}: the data's frequency is {layout.freq!r}; the model was fitted on {fitted.freq!r} data.")
    rows = getattr(estimator, "input_length", None)
    if rows is not None:
        short = [i for i, values in enumerate(series) if len(values) < rows]
        if short:
            names = [layout.series_ids[i] if layout.series_ids else "the series" for i in short[:5]]
            raise DataError(
                f"{source}: {len(short)} series are shorter than the model's input_length={rows} (e.g. {names}, "
                f"{len(series[short[0]])} rows); each series needs its last {rows} rows."
            )
    levels = None if quantiles is None else check_levels(quantiles)
    points: list[np.ndarray | None] = [None] * len(series)
    bands: list[np.ndarray | None] = [None] * len(series)
    keyword = {"window_starts": None} if getattr(estimator, "covariates", ()) else {}
    takes_series = layout.series_ids is not None and "series" in inspect.signature(estimator.predict_windows).parameters
    if takes_series and fitted.series_ids is not None and len(fitted.series_ids) > 1:
        known = set(fitted.series_ids)
        unknown = [series_id for series_id in layout.series_ids if series_id not in known]
        if unknown:
            raise DataError(
                f"{source}: {len(unknown)} series are not among the {len(known)} the model was fitted on "
                f"(e.g. {unknown[:5]}): a model fitted on many series scales each with its own statistics, so it "
                "can only forecast the series it was fitted on."
            )
    with torch.inference_mode(), intra_op_threads(threads):
        for positions in _equal_lengths(series, rows):
            windows = np.stack([series[i][len(series[i]) - (rows or len(series[i])) :] for i in positions])  # (N, L, C)
            if keyword:
                keyword["window_starts"] = pd.DatetimeIndex(
                    [_window_start(layout, i, len(windows[0])) for i in positions]
                )
            if takes_series:
                keyword["series"] = [layout.series_ids[i] for i in positions]
            forecast = estimator.predict_windows(windows, horizon, **keyword)  # (N, H, C)
            band = None if levels is None else estimator.predict_windows(windows, horizon, quantiles=levels, **keyword)
            for n, i in enumerate(positions):
                points[i] = forecast[n]
                bands[i] = None if band is None else band[n]  # (H, C, Q)
    if levels is None:
        return layout.to_frame(points)
    return layout.to_quantile_frame(points, bands, [f"q{level_label(level)}" for level in levels])


def _equal_lengths(series: list[np.ndarray], rows: int | None) -> list[list[int]]:
    """Positions of the series in groups that make windows of one length (one group when ``rows`` is set)."""
    if rows is not None:
        return [list(range(len(series)))]
    groups: dict[int, list[int]] = {}
    for i, values in enumerate(series):
        groups.setdefault(len(values), []).append(i)
    return list(groups.values())


def _window_start(layout: SeriesLayout, series: int, length: int) -> pd.Timestamp:
    offset = pd.tseries.frequencies.to_offset(layout.freq)
    return layout.last_timestamps[series] - (length - 1) * offset
