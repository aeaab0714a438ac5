"""The user's covariates as per-series arrays aligned with the target series.

Three kinds, each a DataFrame (see :mod:`tsseq.base` for the layouts):

* **past** covariates: observed up to the forecast origin only (a sensor, yesterday's
  sales of another shop), in the layout of ``y`` (wide: DatetimeIndex; long:
  ``(series, timestamp)``). Only their rows at the training timestamps are read; rows
  after a series' last timestamp are never looked at, so they cannot leak the future.
* **future** covariates: known over the horizon too (prices, promotions, holidays,
  planned events, weather forecasts), in the same layout. At fit time they must cover
  every training (and validation) row; at predict time, the ``horizon`` rows after
  each series' end.
* **static** covariates: one row per series (indexed by the series ids of a long frame;
  a single row for a wide frame). Numeric columns are taken as numbers, the others
  (strings, categories, booleans) as categories, coded ``0 .. n - 1`` in sorted order
  of the values seen at fit time.

:func:`covariate_spec` fixes the columns of each kind at fit time (a
:class:`CovariateSpec`, saved with the model); :func:`align` reads every series' rows of
the frames as float64 arrays (a :class:`SeriesCovariates`); :func:`horizon_rows` the
future covariates of a forecast; :func:`window_covariates` those of many forecast windows
(backtests, :meth:`~tsseq.base.Forecaster.predict_windows`). Every gap is a :class:`~tsseq.errors.DataError` naming
the kind, the column, the first timestamp without a value and, for a long frame, the
series. Models read the arrays; they never see these frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.errors import DataError

KINDS = ("past", "future", "static")


@dataclass(frozen=True)
class CovariateSpec:
    """The covariate columns a model was fitted with, by kind (saved with the model).

    ``categories[k]`` holds the values of the static categorical column
    ``static_categorical[k]`` seen at fit time, as strings; a value's code is its position.
    """

    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    static_numeric: tuple[str, ...] = ()
    static_categorical: tuple[str, ...] = ()
    categories: tuple[tuple[str, ...], ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds with at least one column, in the order of :data:`KINDS`."""
        static = self.static_numeric or self.static_categorical
        return tuple(kind for kind, present in zip(KINDS, (self.past, self.future, static)) if present)

    @property
    def cardinalities(self) -> dict[str, int]:
        """Number of codes of each static categorical column."""
        return {name: len(values) for name, values in zip(self.static_categorical, self.categories)}


@dataclass(frozen=True)
class SeriesCovariates:
    """Covariates aligned with ``S`` series of ``T_i`` rows; a kind the spec lacks is None.

    ``past`` and ``future``: lists of ``(T_i, P)`` and ``(T_i, F)`` float64 arrays;
    ``static_numeric`` ``(S, N)`` float64; ``static_codes`` ``(S, K)`` int64.
    """

    past: list[np.ndarray] | None = None
    future: list[np.ndarray] | None = None
    static_numeric: np.ndarray | None = None
    static_codes: np.ndarray | None = None


@dataclass(frozen=True)
class WindowCovariates:
    """The covariates of ``N`` forecast windows of ``L`` input rows and ``H`` forecast rows (a kind the spec lacks is None).

    ``past`` ``(N, L, P)``: the input rows only (observed up to each origin); ``future``
    ``(N, L + H, F)``: the input rows, then the ``H`` rows of the window's horizon;
    ``static_numeric`` ``(N, N_s)`` float64; ``static_codes`` ``(N, K)`` int64.
    """

    past: np.ndarray | None = None
    future: np.ndarray | None = None
    static_numeric: np.ndarray | None = None
    static_codes: np.ndarray | None = None

    def __len__(self) -> int:
        present = [part for part in (self.past, self.future, self.static_numeric, self.static_codes) if part is not None]
        return len(present[0]) if present else 0

    def take(self, windows: slice | np.ndarray) -> "WindowCovariates":
        """The covariates of the windows ``windows`` (a slice or positions along the first axis)."""
        parts = (self.past, self.future, self.static_numeric, self.static_codes)
        return WindowCovariates(*(None if part is None else part[windows] for part in parts))

    def select(self, spec: CovariateSpec, input_length: int, rows: int) -> "WindowCovariates":
        """The kinds of ``spec``, for a model reading the last ``rows`` of windows of ``input_length`` rows
        (an ensemble member, auto's choice)."""
        skip = input_length - rows
        return WindowCovariates(
            self.past[:, skip:] if spec.past and self.past is not None else None,
            self.future[:, skip:] if spec.future and self.future is not None else None,
            self.static_numeric if spec.static_numeric else None,
            self.static_codes if spec.static_categorical else None,
        )


def window_covariates(covariates: SeriesCovariates, origins: np.ndarray, length: int, horizon: int) -> WindowCovariates:
    """The windows of series 0 of ``covariates`` before each origin ``(N,)`` (rows ``[p - L, p)``; future also ``[p, p + H)``).

    Row ``p`` of the arrays is the series' row ``p``; a window never reads a past covariate
    at or after its origin, nor a future covariate after its horizon.
    """
    origins = np.asarray(origins, dtype=np.int64)
    n = len(origins)

    def rows(values: list[np.ndarray] | None, steps: int) -> np.ndarray | None:
        if values is None:
            return None
        positions = origins[:, None] - length + np.arange(steps)  # (N, steps)
        if positions.min() < 0 or positions.max() >= len(values[0]):
            raise DataError(
                f"The covariate windows need rows {int(positions.min())} .. {int(positions.max())} of the series; "
                f"the covariates cover {len(values[0])} rows."
            )
        return values[0][positions]

    def repeated(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.repeat(values[:1], n, axis=0)

    return WindowCovariates(
        rows(covariates.past, length),
        rows(covariates.future, length + horizon),
        repeated(covariates.static_numeric),
        repeated(covariates.static_codes),
    )


def _as_frame(frame: object, kind: str) -> pd.DataFrame:
    if isinstance(frame, pd.Series):
        return frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{kind}_covariates must be a pandas DataFrame. Got {type(frame).__name__}.")
    if frame.columns.has_duplicates:
        raise DataError(f"{kind}_covariates has the column {frame.columns[frame.columns.duplicated()][0]!r} twice.")
    return frame


def covariate_spec(past: object = None, future: object = None, static: object = None, target_columns=()) -> CovariateSpec:
    """The columns of each kind given to ``fit`` (None: that kind is absent)."""
    names: dict[str, tuple[str, ...]] = {}
    for kind, frame in (("past", past), ("future", future)):
        names[kind] = () if frame is None else tuple(str(column) for column in _as_frame(frame, kind).columns)
    numeric, categorical, categories = (), (), ()
    if static is not None:
        table = _as_frame(static, "static")
        numeric = tuple(str(c) for c in table.columns if _is_numeric(table[c]))
        categorical = tuple(str(c) for c in table.columns if not _is_numeric(table[c]))
        by_name = {str(column): column for column in table.columns}
        categories = tuple(tuple(sorted(table[by_name[name]].dropna().astype(str).unique())) for name in categorical)
    seen: dict[str, str] = {}
    for kind, columns in (("past", names["past"]), ("future", names["future"]), ("static", numeric + categorical)):
        for column in columns:
            if column in target_columns:
                raise DataError(f"The {kind} covariate {column!r} is also a target column of y; a target is not a covariate.")
            if column in seen:
                raise DataError(f"The covariate column {column!r} is given as both {seen[column]} and {kind}; name it once.")
            seen[column] = kind
    return CovariateSpec(names["past"], names["future"], numeric, categorical, categories)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def align(
    spec: CovariateSpec,
    past: object,
    future: object,
    static: object,
    layout,
    lengths: list[int],
    what: str = "training",
) -> SeriesCovariates:
    """The covariates of every row of the ``S`` series of ``layout`` (``lengths[i]`` rows ending at its last timestamp)."""
    timestamps = [
        pd.date_range(end=layout.last_timestamps[i], periods=n, freq=layout.freq) for i, n in enumerate(lengths)
    ]
    arrays: dict[str, list[np.ndarray] | None] = {}
    for kind, frame, columns in (("past", past, spec.past), ("future", future, spec.future)):
        arrays[kind] = _rows(kind, frame, columns, layout, timestamps, f"every {what} row") if columns else None
    numeric, codes = _static(spec, static, layout) if spec.kinds and "static" in spec.kinds else (None, None)
    return SeriesCovariates(arrays["past"], arrays["future"], numeric, codes)


def horizon_rows(spec: CovariateSpec, future: object, layout, horizon: int, what: str = "predict") -> list[np.ndarray]:
    """``(horizon, F)`` future covariates after each series' end, from the frame given to ``what`` (``predict``, ...)."""
    if future is None:
        raise DataError(
            f"This model was fitted with the future covariates {list(spec.future)}: {what} needs "
            f"future_covariates covering the {horizon} steps after the training data."
        )
    timestamps = [layout.future_index(i, horizon) for i in range(len(layout.last_timestamps))]
    return _rows("future", future, spec.future, layout, timestamps, f"the horizon of {horizon} steps")


def _rows(kind: str, frame: object, columns, layout, timestamps: list[pd.DatetimeIndex], cover: str) -> list[np.ndarray]:
    """``(T_i, K)`` float64 values of ``columns`` of ``frame`` at each series' ``timestamps``."""
    if frame is None:
        raise DataError(f"This model was fitted with the {kind} covariates {list(columns)}; pass {kind}_covariates.")
    table = _as_frame(frame, kind)
    source = f"{table.attrs['source']}: " if table.attrs.get("source") else ""
    by_name = {str(column): column for column in table.columns}
    missing = [name for name in columns if name not in by_name]
    if missing:
        raise DataError(
            f"{kind}_covariates has no column {missing[0]!r}; the model was fitted with {list(columns)}. "
            f"Got columns {list(by_name)}."
        )
    table = table[[by_name[name] for name in columns]]
    values = _numbers(table, kind)
    long = layout.series_ids is not None
    if long != isinstance(table.index, pd.MultiIndex):
        expected = "a MultiIndex (series, timestamp), as y" if long else "a DatetimeIndex, as y"
        raise DataError(f"{kind}_covariates must be indexed like y: {expected}. Got {type(table.index).__name__}.")
    table = pd.DataFrame(values, index=_timestamp_index(table.index, kind), columns=list(columns))
    if table.index.has_duplicates:
        raise DataError(f"{kind}_covariates has the row {table.index[table.index.duplicated()][0]} more than once.")
    result = []
    for position, index in enumerate(timestamps):
        if long:
            series_id = layout.series_ids[position]
            wanted = pd.MultiIndex.from_arrays([np.repeat(np.asarray([series_id], dtype=object), len(index)), index])
        else:
            wanted = index
        rows = table.reindex(wanted).to_numpy(dtype=np.float64)  # (T_i, K), NaN where absent
        gaps = ~np.isfinite(rows)
        if gaps.any():
            row, column = np.argwhere(gaps)[0]
            where = f" of series {layout.series_ids[position]!r}" if long else ""
            raise DataError(
                f"{source}The {kind} covariate {columns[column]!r} has no value at {index[row]}{where}: {kind} covariates "
                f"must cover {cover} ({int(gaps[:, column].sum())} timestamps without a value in that column)."
            )
        result.append(rows)
    return result


def _numbers(table: pd.DataFrame, kind: str) -> np.ndarray:
    columns = []
    for column in table.columns:
        data = table[column]
        if pd.api.types.is_bool_dtype(data):
            data = data.astype(np.float64)
        converted = pd.to_numeric(data, errors="coerce")
        bad = converted.isna() & data.notna()
        if bad.any():
            raise DataError(
                f"The {kind} covariate {str(column)!r} must hold numbers; it has {data[bad].iloc[0]!r} "
                f"at {data.index[np.argmax(bad.to_numpy())]}. Encode categories as numbers (0/1 indicators)."
            )
        columns.append(converted.to_numpy(dtype=np.float64))
    return np.stack(columns, axis=1) if columns else np.empty((len(table), 0))


def _timestamp_index(index: pd.Index, kind: str) -> pd.Index:
    """The index with its timestamp level parsed (and time zones as in ``y``'s checks)."""
    try:
        if isinstance(index, pd.MultiIndex):
            return index.set_levels(pd.DatetimeIndex(index.levels[-1]), level=-1)
        return pd.DatetimeIndex(index)
    except (TypeError, ValueError) as error:
        raise DataError(f"{kind}_covariates must be indexed by timestamps: {error}") from None


def _static(spec: CovariateSpec, static: object, layout) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(S, N)`` numeric and ``(S, K)`` coded static covariates, one row per series of ``layout``."""
    if static is None:
        raise DataError("This model was fitted with static covariates; pass static_covariates.")
    table = _as_frame(static, "static")
    source = f"{table.attrs['source']}: " if table.attrs.get("source") else ""
    by_name = {str(column): column for column in table.columns}
    for name in spec.static_numeric + spec.static_categorical:
        if name not in by_name:
            raise DataError(f"static_covariates has no column {name!r}. Got columns {list(by_name)}.")
    if layout.series_ids is None:
        if len(table) != 1:
            raise DataError(f"static_covariates of a wide frame (one series) must have one row. Got {len(table)}.")
        rows = table
    else:
        absent = [series_id for series_id in layout.series_ids if series_id not in table.index]
        if absent:
            raise DataError(
                f"{source}static_covariates has no row for series {absent[0]!r}: it needs one row per series, indexed by "
                f"the series ids ({len(absent)} series without a row)."
            )
        rows = table.loc[list(layout.series_ids)]
    for name in spec.static_numeric + spec.static_categorical:
        # Checked before coding: a missing category would read as the text 'nan', a value never seen at fit time.
        absent = rows[by_name[name]].isna().to_numpy()
        if absent.any():
            series = f" for series {rows.index[int(np.argmax(absent))]!r}" if layout.series_ids is not None else ""
            raise DataError(
                f"{source}The static covariate {name!r} has no value{series}: a static covariate needs a value for "
                f"every series ({int(absent.sum())} series without one)."
            )
    numeric = None
    if spec.static_numeric:
        numeric = _numbers(rows[[by_name[name] for name in spec.static_numeric]], "static")
        if not np.isfinite(numeric).all():
            row, column = np.argwhere(~np.isfinite(numeric))[0]
            raise DataError(
                f"{source}The static covariate {spec.static_numeric[column]!r} has the value {numeric[row, column]} "
                f"for series {rows.index[row]!r}; it needs a finite number for every series."
            )
    codes = None
    if spec.static_categorical:
        columns = []
        for name, levels in zip(spec.static_categorical, spec.categories):
            values = rows[by_name[name]].astype(str).to_numpy()
            lookup = {level: code for code, level in enumerate(levels)}
            unknown = [value for value in values if value not in lookup]
            if unknown:
                raise DataError(
                    f"The static covariate {name!r} has the value {unknown[0]!r}, not seen at fit time "
                    f"(known: {list(levels)[:10]})."
                )
            columns.append(np.array([lookup[value] for value in values], dtype=np.int64))
        codes = np.stack(columns, axis=1)
    return numeric, codes
