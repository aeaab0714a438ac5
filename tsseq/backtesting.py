"""Historical forecasts and backtests of any forecaster over rolling forecast origins.

Vocabulary, for one series of ``T`` rows and a horizon ``H``:

* an **origin** ``p`` is the row of a forecast's first value: the forecast sees rows
  ``[0, p)`` and covers rows ``p .. p + H - 1``;
* its **cutoff** is the timestamp of row ``p - 1``, the last one the forecast has seen
  (the ``cutoff`` column, as in NeuralForecast's ``cross_validation``);
* ``start`` places the first origin (the first forecast timestamp, as in Darts'
  ``historical_forecasts``): a timestamp (the first row at or after it; without a time
  zone on data with one, read in the data's zone; with one on data without, refused), an
  int row position (negative counts from the end) or a float fraction of the rows in (0, 1).
  Later origins follow every ``stride`` rows while a whole horizon fits in the data:
  ``p_0, p_0 + stride, ... <= T - H``.

How the forecasts are made. A fit sees the rows before its origin (``window="expanding"``:
all of them; ``"sliding"``: the last ``train_length``, by default the ``p_0`` rows before
the first origin) and forecasts the origins up to the next fit in one vectorised
``predict_windows`` call, ``(N, L, C) -> (N, H, C)``, on the ``L`` rows before each
origin. ``L`` is the model's ``input_length``; a model without one (AR, the naive family)
gets the rows of the first fit (``p_0``, or ``train_length`` sliding), for which AR, naive
and seasonal naive forecast exactly as from the whole history (they read their last lags
only), while mean, drift and Naive2 read those ``L`` rows as their history. With
``refit=False`` there is one fit (on the rows before the first origin) and one pass over
all origins; ``refit=k`` refits at every ``k``-th origin (``True``: at every origin).

Covariates (:mod:`tsseq.data.covariates`): ``past_covariates``, ``future_covariates`` and
``static_covariates``, the frames :meth:`~tsseq.base.Forecaster.fit` takes (covering every
row of the data), go to every fit, which reads their training rows only; each origin's
forecast then reads the past covariates of its ``L`` context rows only (never a row at or
after its origin) and the future covariates of its context and of its ``H`` forecast rows
(:func:`tsseq.data.covariates.window_covariates`), beside the windows of the values in the
same vectorised ``predict_windows`` pass.

A long frame (many series) is backtested series by series, each with its own clone of the
model: ``predict_windows`` forecasts windows of the one series a model was fitted on.
Series without a complete forecast after ``start`` are left out, with a warning. The
warnings of the fits (an AR replacing an explosive fit) name the fit's series and cutoff
where there are many fits, and a series' refits that warn alike warn once
(:class:`tsseq.relay.FitWarnings`).

The model passed in is never changed: every fit is on a clone. Importing this module does
not import torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import numbers
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime

import numpy as np
import pandas as pd

from tsseq.data.checks import check_series
from tsseq.data.covariates import KINDS, align, window_covariates
from tsseq.errors import ConfigError, DataError, MissingValuesError, check_positive_int, closest_match, listed
from tsseq.parameters import clone
from tsseq.metrics import (
    coverage,
    crps_from_quantiles,
    mae,
    mape,
    mase,
    mean_interval_width,
    mse,
    pinball_loss,
    rmse,
    smape,
    weighted_quantile_loss,
)
from tsseq.quantiles import check_levels, level_label
from tsseq.relay import FitWarnings

__all__ = [
    "METRICS", "backtest", "check_metrics", "forecast_origins", "historical_forecasts", "origin_windows", "score_forecasts",
]

WINDOWS = ("expanding", "sliding")
COVARIATE_ARGUMENTS = tuple(f"{kind}_covariates" for kind in KINDS)  # fit's keywords, in the order of KINDS
START_KINDS = "The 'start' parameter must be a timestamp, an int row position or a float fraction in (0, 1)."
WINDOW_VALUES = 32_000_000  # window values per predict_windows call: bounds what a model copies (256 MB of float64)
# Metrics of the observed elements: (truth (n,), point (n,), quantiles (n, Q), levels (Q,), scale (n,)) -> float.
POINT_METRICS: dict[str, Callable[..., float]] = {
    "mae": lambda y, f, q, levels, scale: mae(y, f),
    "mse": lambda y, f, q, levels, scale: mse(y, f),
    "rmse": lambda y, f, q, levels, scale: rmse(y, f),
    "mape": lambda y, f, q, levels, scale: mape(y, f),
    "smape": lambda y, f, q, levels, scale: smape(y, f),
    "mase": lambda y, f, q, levels, scale: mase(y, f, scale=scale),
}
# "coverage" and "interval_width": of the interval between the lowest and the highest level (two levels at least).
INTERVAL_METRICS = ("coverage", "interval_width")
QUANTILE_METRICS: dict[str, Callable[..., float]] = {
    "crps": lambda y, f, q, levels, scale: crps_from_quantiles(y, q, levels),
    "pinball": lambda y, f, q, levels, scale: pinball_loss(y, q, levels),
    "wql": lambda y, f, q, levels, scale: weighted_quantile_loss(y, q, levels),
    "coverage": lambda y, f, q, levels, scale: coverage(y, q[:, 0], q[:, -1]),
    "interval_width": lambda y, f, q, levels, scale: mean_interval_width(q[:, 0], q[:, -1]),
}
METRICS = (*POINT_METRICS, *QUANTILE_METRICS)


def historical_forecasts(
    model,
    frame: pd.DataFrame | pd.Series,
    *,
    start: object,
    horizon: int,
    stride: int = 1,
    refit: bool | int = False,
    window: str = "expanding",
    quantiles: object = None,
    train_length: int | None = None,
    input_length: int | None = None,
    past_covariates: pd.DataFrame | None = None,
    future_covariates: pd.DataFrame | None = None,
    static_covariates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The forecasts ``model`` would have made from every origin after ``start`` (module docstring).

    Parameters
    ----------
    model : Forecaster
        Fitted or not; it is cloned for every fit, never changed.
    frame : DataFrame or Series
        Wide (DatetimeIndex) or long (MultiIndex ``(series, timestamp)``), the layouts of
        :meth:`tsseq.base.Forecaster.fit`; NaN marks missing values.
    start : timestamp, int or float
        The first origin: the first row at or after a timestamp, a row position (negative:
        from the end), or a fraction in (0, 1) of each series' rows.
    horizon, stride : int >= 1
        Rows per forecast, and rows between consecutive origins.
    refit : bool or int >= 0
        ``False`` / ``0``: fit once, before the first origin; ``True`` / ``1``: refit at every
        origin; ``k``: at every ``k``-th.
    window : {"expanding", "sliding"}
        The rows of each fit: all before its origin, or the last ``train_length``.
    quantiles : sequence of levels in (0, 1), optional
        Also the quantile columns ``y_q0.05`` ..., as :meth:`tsseq.base.Forecaster.predict`; the
        fits are then of :meth:`~tsseq.base.Forecaster.for_quantiles` (``auto``: networks on
        the quantile loss), as ``tsseq forecast --quantiles`` fits.
    train_length : int, optional
        Rows of a sliding window (default: the rows before the first origin).
    input_length : int, optional
        Rows of context before each origin (default: the model's ``input_length``, else the
        rows of the first fit); a model with its own ``input_length`` takes that one only.
    past_covariates, future_covariates, static_covariates : DataFrame, optional
        As for :meth:`tsseq.base.Forecaster.fit`, covering every row of ``frame``: each fit
        reads its training rows, each forecast the past covariates up to its cutoff and
        the future covariates up to the end of its horizon (module docstring).

    Returns
    -------
    DataFrame
        One row per (series, origin, step), ordered so: ``[series,]`` ``cutoff``, ``timestamp``,
        then each target column ``y`` followed by its quantile columns. A RangeIndex.
    """
    horizon, stride = check_positive_int(horizon, "horizon"), check_positive_int(stride, "stride")
    every = _refit_interval(refit)
    if window not in WINDOWS:
        raise ConfigError(
            f"The 'window' parameter must be one of {', '.join(WINDOWS)}. "
            f"Got {window!r} instead.{closest_match(str(window), WINDOWS)}"
        )
    if train_length is not None:
        train_length = check_positive_int(train_length, "train_length")
        if window == "expanding":
            raise ConfigError("'train_length' sets the rows of a sliding window; pass window='sliding' with it.")
    if input_length is not None:
        input_length = check_positive_int(input_length, "input_length")
        own = _own_input_length(model)
        if own is not None and input_length != own:  # a recurrent model ran on it unchanged; a fixed-size one failed late
            raise ConfigError(
                f"input_length={input_length} differs from the model's own input_length={own}, the windows it is "
                f"fitted on and reads: leave input_length out, or set the model's (e.g. --param input_length="
                f"{input_length})."
            )
    levels = None if quantiles is None else check_levels(quantiles)
    if levels is not None:
        # Every fit is on a clone, so an unfitted one is set up for quantiles (auto's networks then train on the
        # quantile loss, as `tsseq forecast --quantiles` fits them); the caller's model stays as it was.
        model = clone(model).for_quantiles()
        model.require_probabilistic("quantiles")  # refused before any fit
    validated = check_series(frame.to_frame() if isinstance(frame, pd.Series) else frame, missing="mask")
    series_column = _series_column(validated)
    stamp = _start_timestamp(start, validated.index.get_level_values(-1))  # once, for every series
    frames = (past_covariates, future_covariates, static_covariates)
    check_kinds = getattr(model, "_check_kinds", None)  # tsseq's Forecaster: refused before any fit
    if check_kinds is not None and any(part is not None for part in frames):
        check_kinds([kind for kind, part in zip(KINDS, frames) if part is not None])
    parts, skipped = [], []
    # Which fit warned, where there are many: its series and cutoff (one fit of a wide frame: its warnings as they are).
    relay = FitWarnings("backtest") if series_column is not None or every else None
    try:
        for series_id, rows in _wide_parts(validated):
            try:
                origins = _origins(rows.index, start, stamp, horizon, stride, series_id)
            except DataError as error:
                if series_column is None:
                    raise
                skipped.append((series_id, error))  # a long frame's short series: left out, with a warning
                continue
            first = int(origins[0])
            fit_rows = train_length or first  # of a sliding window
            if fit_rows > first:
                raise DataError(
                    f"train_length={train_length} needs {train_length} rows before the first origin; "
                    f"{_where(series_id)}start={start!r} leaves {first}."
                )
            length = input_length or _own_input_length(model) or (fit_rows if window == "sliding" else first)
            if length > first:
                raise DataError(
                    f"{_where(series_id)}start={start!r} leaves {first} rows before the first cutoff "
                    f"{rows.index[first - 1]}; a context of input_length={length} rows needs at least {length}: "
                    "start later or shorten input_length."
                )
            sliding = fit_rows if window == "sliding" else None
            covariates = _series_covariates(frames, series_id)
            point, quantile = _refitted_forecasts(
                model, rows, origins, every, sliding, length, horizon, levels, covariates,
                relay=relay, series_id=series_id, input_length=input_length,
            )
            parts.append(_forecast_frame(rows, origins, point, quantile, levels))
            if series_column is not None:
                parts[-1].insert(0, series_column, series_id)
    finally:  # also when a fit fails: a warning may say why
        if relay is not None:
            relay.issue()
    if not parts:
        raise DataError(f"No series has a forecast to make; e.g. {skipped[0][1]}")
    if skipped:
        warnings.warn(
            f"{len(skipped)} of {len(skipped) + len(parts)} series are left out, having no complete forecast of "
            f"horizon={horizon} after start={start!r}; e.g. {skipped[0][1]}",
            UserWarning,
            stacklevel=2,
        )
    return pd.concat(parts, ignore_index=True)


def _refitted_forecasts(
    model, rows: pd.DataFrame, origins: np.ndarray, every: int, sliding: int | None, length: int, horizon: int,
    levels: np.ndarray | None, covariates: tuple | None = None, *, relay: FitWarnings | None = None,
    series_id: object = None, input_length: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One series' forecasts ``(N, H, C)`` (quantiles ``(N, H, C, Q)``): a fit every ``every`` origins (0: one fit).

    Each fit sees the rows before its origin (the last ``sliding`` of them, if given) and
    forecasts its origins up to the next fit in one pass. ``covariates``: the series'
    ``(past, future, static)`` frames, or None. ``relay`` keeps the warnings of each fit and
    its forecasts, named by the series ``series_id`` and the cutoff (its refits alike).
    ``input_length``: the caller's, named when the fitted model cannot forecast from windows
    of that many rows (an AR of a higher order).
    """
    points, quantiles = [], []
    bounds = list(range(0, len(origins), every)) if every else [0]
    options = {} if covariates is None else dict(zip(COVARIATE_ARGUMENTS, covariates))
    for begin, end in zip(bounds, bounds[1:] + [len(origins)]):
        origin = int(origins[begin])
        named = "" if series_id is None else f" of series {series_id!r}"
        with contextlib.nullcontext() if relay is None else relay.of(
            f"fit{named} up to cutoff {rows.index[origin - 1]}", alike=f"refits{named}"
        ):
            fitted = clone(model).fit(rows.iloc[0 if sliding is None else origin - sliding : origin], **options)
            try:
                point, quantile = forecast_origins(
                    fitted, rows, origins[begin:end], length, horizon, quantiles=levels, covariates=covariates
                )
            except DataError as error:
                if input_length is None or isinstance(error, MissingValuesError):
                    raise
                raise DataError(
                    f"{_where(series_id)}input_length={input_length} (--input-length): the model fitted up to cutoff "
                    f"{rows.index[origin - 1]} cannot forecast from windows of {input_length} rows. {error} Pass a "
                    "larger input_length, or leave it out (each forecast then reads the rows of the first fit)."
                ) from error
        points.append(point)
        quantiles.append(quantile)
    return np.concatenate(points), None if levels is None else np.concatenate(quantiles)


def origin_windows(values: np.ndarray, origins: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` rows before each origin: values ``(T, C)``, origins ``(N,)`` -> ``(N, length, C)``.

    Evenly spaced origins (a backtest's) give a read-only view of ``values``, whatever ``N``
    and ``length``: a year of daily origins with 8,000 rows of context each copies nothing.
    Other origins give a copy of the ``N`` windows.
    """
    origins = np.asarray(origins)
    view = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)  # (T - length + 1, C, length), no copy
    steps = np.diff(origins)
    if len(origins) and (steps > 0).all() and (steps == (steps[0] if len(steps) else 1)).all():
        step = int(steps[0]) if len(steps) else 1
        return view[origins[0] - length : origins[-1] - length + 1 : step].transpose(0, 2, 1)
    return view[origins - length].transpose(0, 2, 1)


def origin_chunks(
    values: np.ndarray, origins: np.ndarray, length: int, max_values: int = WINDOW_VALUES
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(origins, windows (n, length, C))`` in chunks of at most ``max_values`` window values.

    What every caller that forecasts many origins through ``predict_windows`` iterates
    over (backtests, conformal calibration, ensemble weights): the bound keeps what a
    model copies of the windows small, whatever the number of origins.
    """
    chunk = max(1, max_values // (length * values.shape[1]))
    for begin in range(0, len(origins), chunk):
        part = np.asarray(origins[begin : begin + chunk])
        yield part, origin_windows(values, part, length)


def forecast_origins(
    model, rows: pd.DataFrame, origins: np.ndarray, length: int, horizon: int, *, quantiles: np.ndarray | None = None,
    covariates: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted model's forecasts ``(N, H, C)`` (quantiles ``(N, H, C, Q)``) from the ``length`` rows before each origin.

    ``rows`` is the wide frame of the series the model was fitted on. The windows go to
    ``predict_windows`` together, in as few calls as :data:`WINDOW_VALUES` allows.
    ``covariates``: the series' ``(past, future, static)`` frames for a model fitted with
    covariates; each window gets those of its rows (:func:`~tsseq.data.covariates.window_covariates`).
    """
    values = rows.to_numpy(dtype=np.float64)
    # Models with calendar covariates derive them from each window's first timestamp.
    takes_starts = "window_starts" in inspect.signature(model.predict_windows).parameters
    spec = getattr(model, "covariate_spec_", None)
    aligned, offset = None, 0
    if spec is not None and covariates is not None:
        # The rows from the first window's start to the end, read once; a window takes its slice of them.
        offset = int(np.min(origins)) - length
        layout = dataclasses.replace(model.layout_, last_timestamps=(rows.index[-1],))
        aligned = align(spec, *covariates, layout, [len(rows) - offset], "backtest")
    points, quantile_values = [], []
    for part, inputs in origin_chunks(values, origins, length):
        options = {"window_starts": rows.index[part - length]} if takes_starts else {}
        if aligned is not None:
            options["covariates"] = window_covariates(aligned, part - offset, length, horizon)
        points.append(model.predict_windows(inputs, horizon, **options))
        if quantiles is not None:
            quantile_values.append(model.predict_windows(inputs, horizon, quantiles=quantiles, **options))
    return np.concatenate(points), None if quantiles is None else np.concatenate(quantile_values)


def backtest(
    model, frame: pd.DataFrame | pd.Series, *, metric: object = "mae", season_length: int = 1, **options
) -> pd.DataFrame:
    """Score :func:`historical_forecasts` of ``model`` (``options``: its arguments) with ``metric``.

    See :func:`score_forecasts` for ``metric``, ``season_length`` and the table returned.
    """
    metrics = check_metrics(metric, options.get("quantiles"))  # refused before any fit
    forecasts = historical_forecasts(model, frame, **options)
    return score_forecasts(forecasts, frame, metric=metrics, season_length=season_length)


def score_forecasts(
    forecasts: pd.DataFrame, frame: pd.DataFrame | pd.Series, *, metric: object = "mae", season_length: int = 1
) -> pd.DataFrame:
    """Score historical forecasts against the values of ``frame``, per horizon step and overall.

    Parameters
    ----------
    forecasts : DataFrame
        What :func:`historical_forecasts` returned for ``frame``.
    metric : str, callable, or a list of them
        Names in :data:`METRICS`: points ``mae``, ``mse``, ``rmse``, ``mape``, ``smape``,
        ``mase`` (scaled by the mean absolute lag-``season_length`` change of the series up to
        each cutoff); quantiles (forecasts with quantile columns) ``crps`` (from the
        quantiles), ``pinball``, ``wql``, ``coverage`` and ``interval_width`` of the interval
        between the lowest and highest levels (two levels at least; with more, the outermost pair,
        whose nominal coverage is their difference). A callable ``f(y_true, y_pred) -> float``
        gets the observed values and point forecasts as 1-D arrays, and is named by
        its ``__name__``.

    Returns
    -------
    DataFrame
        Columns ``metric``, ``step`` (``1 .. H``, then ``"all"``), ``value``: every value
        pools all series, origins and target columns; missing truths are left out. A metric
        undefined on the values it pools (MAPE of zero truths, wQL of a zero total, MASE of
        a constant history) is NaN there, with a warning saying why: the other metrics and
        the forecasts stay usable.
    """
    validated = check_series(frame.to_frame() if isinstance(frame, pd.Series) else frame, missing="mask")
    targets = [str(column) for column in validated.columns]
    levels = _forecast_levels(forecasts, targets[0])
    metrics = metric if isinstance(metric, dict) else check_metrics(metric, levels)
    keys = ["cutoff"] if _series_column(validated) is None else [_series_column(validated), "cutoff"]
    sizes = forecasts.groupby(keys, sort=False).size()
    horizon = int(sizes.iloc[0]) if len(sizes) else 0
    if horizon == 0 or (sizes != horizon).any():
        raise DataError(
            "score_forecasts expects what historical_forecasts returned: the same number of rows (the horizon) "
            "for every cutoff."
        )
    shape = (len(sizes), horizon, len(targets))  # (N, H, C)
    point = forecasts[targets].to_numpy(dtype=np.float64).reshape(shape)
    quantiles = None
    if levels is not None:
        names = [f"{target}_q{level_label(level)}" for target in targets for level in levels]
        quantiles = forecasts[names].to_numpy(dtype=np.float64).reshape(shape + (len(levels),))
    truth, scale = _truth_and_scale(validated, forecasts, shape, "mase" in metrics, season_length)
    observed = np.isfinite(truth)
    scaled = observed if scale is None else _scaled(observed, scale, forecasts, keys, targets, season_length)
    rows = []
    for name, function in metrics.items():
        undefined = []  # (step, why) where the metric's DataError says it is undefined on these values
        pooled = scaled if name == "mase" else observed
        for step in [*range(horizon), "all"]:
            selected = pooled if step == "all" else pooled & (np.arange(horizon) == step)[None, :, None]
            value = np.nan
            if selected.any():
                try:
                    value = function(truth[selected], point[selected],
                                     None if quantiles is None else quantiles[selected], levels,
                                     None if scale is None else scale[selected])
                except DataError as error:
                    undefined.append((step, error))
            rows.append({"metric": name, "step": step if step == "all" else step + 1, "value": float(value)})
        if undefined:
            steps = ", ".join("overall" if step == "all" else f"step {step + 1}" for step, _ in undefined)
            where = "every step and overall" if len(undefined) == horizon + 1 else steps
            warnings.warn(
                f"The metric {name!r} is undefined on these forecasts (NaN) at {where}: {undefined[-1][1]}",
                UserWarning,
                stacklevel=2,
            )
    return pd.DataFrame(rows, columns=["metric", "step", "value"])


# --------------------------------------------------------------------------- helpers


def _scaled(observed: np.ndarray, scale: np.ndarray, forecasts: pd.DataFrame, keys: list[str], targets: list[str],
            season_length: int) -> np.ndarray:
    """The observed elements MASE can pool: those whose scale is positive and finite.

    A series whose history before a cutoff is constant (a product that never sold) has
    scale 0 there, and its errors cannot be scaled; MASE pools the others, with a warning
    naming the series and columns left out, rather than being undefined for the whole
    panel. Where no element has a scale, all are kept and MASE says it is undefined.
    """
    usable = np.isfinite(scale) & (scale > 0)
    if not (observed & ~usable).any() or not (observed & usable).any():
        return observed
    left_out = (observed & ~usable).any(axis=1)  # (N, C)
    firsts = forecasts.iloc[:: observed.shape[1]]
    series = firsts[keys[0]].to_numpy() if len(keys) > 1 else np.full(len(firsts), None)
    named = dict.fromkeys(
        (f"series {series[origin]!r}, " if series[origin] is not None else "") + f"column {targets[channel]!r}"
        for origin, channel in zip(*np.nonzero(left_out))
    )
    shown = listed(named, 5, "; ")
    warnings.warn(
        f"The metric 'mase' leaves out {shown}: constant before the cutoff (MASE's scale, the mean absolute "
        f"lag-{season_length} change, is 0), so its errors cannot be scaled; it pools the other forecasts.",
        UserWarning,
        stacklevel=3,
    )
    return observed & usable


def _refit_interval(refit: object) -> int:
    """``refit`` -> origins between fits (0: fit once)."""
    if isinstance(refit, (bool, np.bool_)):
        return int(bool(refit))
    if isinstance(refit, numbers.Integral) and refit >= 0:
        return int(refit)
    raise ConfigError(
        f"The 'refit' parameter must be True, False or an int >= 0 (refit every k origins). Got {refit!r} instead."
    )


def _own_input_length(model) -> int | None:
    own = getattr(model, "input_length", None)
    return own if isinstance(own, numbers.Integral) and not isinstance(own, bool) and own > 0 else None


def _series_column(frame: pd.DataFrame) -> str | None:
    """The column naming the series of a long frame (its series level's name, else ``"series"``); None if wide."""
    if not isinstance(frame.index, pd.MultiIndex):
        return None
    return str(frame.index.names[0]) if frame.index.names[0] is not None else "series"


def _wide_parts(frame: pd.DataFrame):
    """``(series id, wide frame)`` per series; one ``(None, frame)`` for a wide frame."""
    if not isinstance(frame.index, pd.MultiIndex):
        yield None, frame
        return
    for series_id, group in frame.groupby(level=0, sort=False):
        yield series_id, group.droplevel(0)


def _series_covariates(frames: tuple, series_id: object) -> tuple | None:
    """The ``(past, future, static)`` covariate frames of one series (wide frames, a one-row static one); None without any."""
    if all(frame is None for frame in frames):
        return None
    if series_id is None:
        return frames
    past, future, static = frames

    def rows(frame, kind: str):
        if frame is None:
            return None
        if not isinstance(frame.index, pd.MultiIndex):
            raise DataError(
                f"{kind}_covariates must be indexed like the long frame, by (series, timestamp). "
                f"Got {type(frame.index).__name__}."
            )
        return frame[frame.index.get_level_values(0) == series_id].droplevel(0)

    if static is not None:
        if series_id not in static.index:
            raise DataError(f"static_covariates has no row for series {series_id!r}: it needs one row per series.")
        static = static.loc[[series_id]]
    return rows(past, "past"), rows(future, "future"), static


def _where(series_id: object) -> str:
    return "" if series_id is None else f"series {series_id!r}: "


def _start_timestamp(start: object, timestamps: pd.DatetimeIndex) -> pd.Timestamp | None:
    """``start`` as a timestamp comparable with the data's ``timestamps``; None for a row position or fraction.

    A ``start`` without a time zone on data with one is read in the data's zone; one with a
    time zone on data without is refused (a DataError naming both): which zone the data's
    wall times are in is unknown, and pandas cannot compare the two.
    """
    if isinstance(start, (bool, np.bool_)) or not isinstance(start, (str, datetime, np.datetime64)):
        return None
    try:
        stamp = pd.Timestamp(start)
    except (TypeError, ValueError):
        raise ConfigError(f"The 'start' parameter {start!r} is neither a number nor a timestamp.") from None
    if stamp.tz is not None and timestamps.tz is None:
        raise DataError(
            f"start={start!r} has a time zone ({stamp.tz}), but the data's timestamps have none (tz-naive), so they "
            f"cannot be compared. Pass start without a time zone, in the data's own time (e.g. "
            f"start={str(stamp.tz_localize(None))!r}), or give the data's timestamps their time zone."
        )
    if stamp.tz is None and timestamps.tz is not None:
        try:
            stamp = stamp.tz_localize(timestamps.tz)
        except ValueError:  # a wall time that the zone skips or repeats at a daylight-saving change
            raise DataError(
                f"start={start!r} has no time zone and is read in the data's ({timestamps.tz}), whose clocks skip or "
                f"repeat it at a daylight-saving change. Pass start with a UTC offset (e.g. "
                f"start={stamp.isoformat() + '+00:00'!r} for UTC)."
            ) from None
    return stamp


def _origins(index: pd.DatetimeIndex, start: object, stamp: pd.Timestamp | None, horizon: int, stride: int,
             series_id: object) -> np.ndarray:
    """The origins ``(N,)`` of one series' rows after ``start`` (module docstring), or a DataError saying why none.

    ``stamp``: ``start`` as a timestamp in the data's time zone (:func:`_start_timestamp`), None when it is not one.
    """
    n_rows = len(index)
    if isinstance(start, (bool, np.bool_)):
        raise ConfigError(START_KINDS + f" Got {start!r} instead.")
    if isinstance(start, numbers.Integral):
        first = int(start) + n_rows if start < 0 else int(start)
    elif isinstance(start, numbers.Real):
        if not 0 < start < 1:
            raise ConfigError(f"A float 'start' is a fraction of the rows, in (0, 1). Got {start!r} instead.")
        first = int(start * n_rows)
    elif stamp is not None:
        first = int(index.searchsorted(stamp, side="left"))
    else:
        raise ConfigError(START_KINDS + f" Got {start!r} instead.")
    if first < 1:
        raise DataError(
            f"{_where(series_id)}start={start!r} leaves no row before the first origin {index[0]}: "
            "a model needs rows to fit on."
        )
    if horizon >= n_rows:
        raise DataError(f"{_where(series_id)}horizon={horizon} is not shorter than the {n_rows} rows of the data.")
    if first > n_rows - horizon:
        raise DataError(
            f"{_where(series_id)}start={start!r} leaves no complete forecast of horizon={horizon}: the data run "
            f"from {index[0]} to {index[-1]} ({n_rows} rows), so the last origin is {index[n_rows - horizon]} "
            f"(row {n_rows - horizon}); start={start!r} is row {first}."
        )
    return np.arange(first, n_rows - horizon + 1, stride)


def _forecast_frame(rows: pd.DataFrame, origins: np.ndarray, point: np.ndarray, quantiles: np.ndarray | None,
                    levels: np.ndarray | None) -> pd.DataFrame:
    """Forecasts ``(N, H, C)`` (quantiles ``(N, H, C, Q)``) -> cutoff, timestamp, ``y, y_q...`` per column."""
    n_origins, horizon, _ = point.shape
    columns = []
    for name in map(str, rows.columns):
        columns += [name] + ([] if levels is None else [f"{name}_q{level_label(level)}" for level in levels])
    clash = {"cutoff", "timestamp"}.intersection(columns)
    if clash:
        raise DataError(
            f"A target column is named {sorted(clash)[0]!r}, a column the historical forecasts need; rename it."
        )
    block = point if quantiles is None else np.concatenate([point[..., None], quantiles], axis=3)  # (N, H, C, 1 + Q)
    result = pd.DataFrame(block.reshape(n_origins * horizon, -1), columns=columns)  # channel-major, as predict's
    result.insert(0, "cutoff", np.repeat(rows.index[origins - 1], horizon))
    result.insert(1, "timestamp", rows.index[(origins[:, None] + np.arange(horizon)).ravel()])
    return result


def check_metrics(metric: object, quantiles: object = None) -> dict[str, Callable[..., float]]:
    """``metric`` (a name, a callable or a list of them) -> {name: function of the observed elements}.

    ``quantiles``: the forecasts' levels (None without). Refuses, naming it, an unknown
    metric, a quantile metric without quantiles, or an interval metric with fewer than two
    levels (the interval's bounds); callers check before any fit.
    """
    levels = None if quantiles is None else check_levels(quantiles)
    chosen = [metric] if isinstance(metric, str) or callable(metric) else list(metric)  # type: ignore[arg-type]
    functions: dict[str, Callable[..., float]] = {}
    for item in chosen:
        if callable(item):
            functions[getattr(item, "__name__", repr(item))] = lambda y, f, q, levels, scale, item=item: item(y, f)
        elif item in POINT_METRICS:
            functions[item] = POINT_METRICS[item]
        elif item in QUANTILE_METRICS:
            if levels is None:
                raise ConfigError(
                    f"The metric {item!r} scores quantile forecasts; pass quantiles=[...] (e.g. [0.05, 0.5, 0.95])."
                )
            if item in INTERVAL_METRICS and len(levels) < 2:
                raise ConfigError(
                    f"The metric {item!r} scores the interval between the lowest and the highest quantile level, so "
                    f"quantiles (--quantiles) needs two levels at least; got {levels.tolist()}. Pass e.g. "
                    "quantiles=[0.05, 0.5, 0.95] (--quantiles 0.05,0.5,0.95), or leave the metric out."
                )
            functions[item] = QUANTILE_METRICS[item]
        else:
            raise ConfigError(
                f"Unknown metric {item!r} in the 'metric' parameter.{closest_match(str(item), METRICS)} "
                f"Known: {', '.join(METRICS)}, or a callable."
            )
    if not functions:
        raise ConfigError("The 'metric' parameter names no metric; give e.g. 'mae' or ['mae', 'crps'].")
    return functions


def _forecast_levels(forecasts: pd.DataFrame, target: str) -> np.ndarray | None:
    """The quantile levels of the forecast columns ``<target>_q<level>`` (None without them)."""
    prefix = f"{target}_q"
    levels = [float(column[len(prefix):]) for column in forecasts.columns if str(column).startswith(prefix)]
    return np.array(levels) if levels else None


def _truth_and_scale(validated: pd.DataFrame, forecasts: pd.DataFrame, shape: tuple[int, int, int], with_scale: bool,
                     season_length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The observed values ``(N, H, C)`` at the forecasts' rows (NaN where missing) and, for MASE, their scales."""
    series_column = _series_column(validated)
    stamps = pd.DatetimeIndex(forecasts["timestamp"])
    index = stamps if series_column is None else pd.MultiIndex.from_arrays([forecasts[series_column], stamps])
    truth = validated.reindex(index).to_numpy(dtype=np.float64).reshape(shape)
    if not with_scale:
        return truth, None
    season_length = check_positive_int(season_length, "season_length")
    firsts = forecasts.iloc[:: shape[1]]  # the first step of each origin
    scales = np.empty(shape[::2])  # (N, C)
    for series_id, rows in _wide_parts(validated):
        chosen = np.full(len(firsts), True) if series_id is None else (firsts[series_column] == series_id).to_numpy()
        origins = rows.index.get_indexer(pd.DatetimeIndex(firsts["timestamp"][chosen]))
        scales[chosen] = _history_scales(rows.to_numpy(dtype=np.float64), origins, season_length)
    return truth, np.broadcast_to(scales[:, None, :], shape)


def _history_scales(values: np.ndarray, origins: np.ndarray, season_length: int) -> np.ndarray:
    """MASE's scale of the rows before each origin, ``(N, C)``: the mean observed ``|y_t - y_{t-m}|``, by cumsums."""
    changes = np.abs(values[season_length:] - values[:-season_length])  # (T - m, C); change t pairs rows t and t + m
    observed = np.isfinite(changes)
    zero = np.zeros((1, values.shape[1]))
    sums = np.concatenate([zero, np.cumsum(np.where(observed, changes, 0.0), axis=0)])
    counts = np.concatenate([zero, np.cumsum(observed, axis=0)])
    ends = np.clip(np.asarray(origins) - season_length, 0, None)  # changes wholly before the origin
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[ends] / counts[ends]
