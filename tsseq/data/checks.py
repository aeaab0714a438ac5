"""The one boundary check for series data: a validated, regularly spaced float64 frame.

Two layouts come in and go out (see :mod:`tsseq.base`):

* wide: one series, a DatetimeIndex (the returned index has ``freq`` set), one column
  per channel;
* long: many series, a MultiIndex ``(series id, timestamp)``; each series is checked on
  its own, the result is sorted by series id then time, and series may differ in length
  but share one frequency (unless ``freq_per_series``: detection scores each alone).

:func:`check_series` runs the checks in this order, so that every message about a row
can name the row as the caller gave it: value columns exist; values are numbers; every
timestamp parses and all share one time zone (UTC offsets that change, at a daylight-saving
change, are read in UTC); no infinite values; no channel without a
single value; no missing values (``missing="error"`` only); no duplicate timestamps;
timestamps increase (or ``sort=True``); steps equal the frequency (or ``reindex=True``
inserts the missing timestamps as missing values; both in :mod:`tsseq.data.timegrid`;
or ``irregular="keep"`` keeps irregularly stamped rows as they are, for detection on
the row sequence); enough rows; the missing-value policy.

Missing-value policies:

* ``"error"`` (default): any missing value raises, naming the column, first row and count;
* ``"interpolate"``: linear between the observed neighbours, per series, in steps of the
  frequency (time-linear for fixed frequencies such as ``"h"``). Leading or trailing
  missing values raise: filling them would mean inventing values from one side only, and
  a backward fill would leak the future into the past;
* ``"ffill"``: carry the last observed value forward, per series; leading missing values
  raise (there is nothing before them to carry);
* ``"mask"``: keep the NaNs; :func:`observed_mask` gives where values are observed.
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tsseq.data.timegrid import (Where, check_spacing, frequency_groups, iloc_row, is_regular, reindex_to_grid,
                                 resolve_frequency)
from tsseq.data.timegrid import series_frequency  # re-exported
from tsseq.errors import ConfigError, DataError, check_positive_int, closest_match

__all__ = [
    "IRREGULAR_POLICIES", "MISSING_POLICIES", "check_series", "fill_missing", "observed_mask", "series_frequency"
]

MISSING_POLICIES = ("error", "interpolate", "ffill", "mask")
IRREGULAR_POLICIES = ("error", "keep")
UNIX_UNITS = ("s", "ms", "us", "ns")  # numbers as timestamps: Unix times in one of these units
STEPS = "steps"  # numbers as timestamps that only count steps (anomaly detection on the row sequence)
TIMESTAMP_UNITS = (*UNIX_UNITS, STEPS)
_SHOWN = 5  # how many offending items a message lists
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")  # 20,0125: a number written with a decimal comma
# Said in both forms (check_series' keyword, the CLI's flag). Mask is offered for the models that take NaN only:
# the default model (auto) and the baselines refuse NaN once the data are read, so offering mask to them misleads.
_MASK_IS_FOR = (
    "missing='mask' (--missing mask) keeps them as NaN for the neural models only (forecasters lstm, segrnn, "
    "patchtst, ...; detectors lstm_ae, gru_ae, ...): auto (the default of tsseq forecast and of tsseq detect), the "
    "baselines (naive, seasonal_naive, ar, ...) and the forecast-residual detectors refuse them"
)
_FILL = ("Fill them with missing='interpolate' or 'ffill' (tsseq: --missing interpolate or --missing ffill); "
         f"{_MASK_IS_FOR}.")
# A covariate column (``covariates``): every model reads each of its values, so mask, which keeps NaN for the
# networks to skip, is no remedy; the policies that fill apply to all the file's columns, the targets' too.
_COVARIATE_FILL = ("A covariate needs a value at every row: missing='mask' (--missing mask) keeps NaN in the "
                   "targets only. Fill them in the file, or with missing='interpolate' or 'ffill' (tsseq: --missing "
                   "interpolate or --missing ffill), which fill the targets' gaps the same way.")


def require_pandas(frame: object, source: str = "<frame>") -> None:
    """A DataError unless ``frame`` is a pandas DataFrame or Series (a bare array has no timestamps to check)."""
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise DataError(
            f"{source}: expected a pandas DataFrame or Series indexed by timestamps (long format: a (series id, "
            f"timestamp) MultiIndex). Got {type(frame).__name__}; e.g. pd.Series(values, "
            "index=pd.date_range('2024-01-01', periods=len(values), freq='h'))."
        )


def check_series(
    frame: pd.DataFrame | pd.Series,
    *,
    source: str = "<frame>",
    freq: str | pd.DateOffset | None = None,
    missing: str = "error",
    sort: bool = False,
    reindex: bool = False,
    min_rows: int | None = None,
    columns: Sequence[object] | None = None,
    row_label: Callable[[int], str] | None = None,
    irregular: str = "error",
    timestamp_unit: str | None = None,
    covariates: Sequence[object] = (),
    freq_per_series: bool = False,
) -> pd.DataFrame:
    """Validate a wide or long frame and return a clean copy.

    Parameters
    ----------
    frame : DataFrame or Series
        Wide: index of timestamps (a DatetimeIndex, or strings that parse as dates), shape
        ``(T, C)``. Long: MultiIndex ``(series id, timestamp)``, shape ``(sum T_i, C)``.
    source : str
        What messages call the data, e.g. a file path.
    freq : str or DateOffset, optional
        The expected step (``"h"``, ``"D"``, ``"MS"``). Inferred when not given: with
        ``pd.infer_freq`` on the longest series, else the most common step (see
        :func:`tsseq.data.timegrid.resolve_frequency`).
    missing : {"error", "interpolate", "ffill", "mask"}
        What to do with missing values; see the module docstring.
    sort : bool
        Sort timestamps that are out of order instead of raising.
    reindex : bool
        Insert the timestamps missing from the regular grid as missing values (which then
        go through ``missing``) instead of raising.
    min_rows : int, optional
        The fewest rows each series needs (after ``reindex``), e.g. input length + horizon.
    columns : sequence, optional
        The value columns to keep, in this order; all columns when not given.
    row_label : callable, optional
        Names a row in messages from its 0-based position in ``frame``; the default says
        ``row iloc[i]``. :func:`tsseq.data.csv.read_csv` passes CSV line numbers.
    irregular : {"error", "keep"}
        Steps that are not the frequency (and ``reindex=False``): ``"error"`` raises
        (what forecasting needs: a regular grid); ``"keep"`` keeps the rows in time
        order as they are and returns an index without ``freq`` (anomaly detection on
        the row sequence, :mod:`tsseq.anomaly.job`). Regular rows get ``freq`` either way.
        On irregular rows ``missing="interpolate"`` is linear in row position, not in time.
    timestamp_unit : {"s", "ms", "us", "ns", "steps"}, optional
        Timestamps that are numbers: Unix times in that unit (exported logs, Yahoo's
        anomaly benchmark), or ``"steps"``, numbers that only count steps (a row counter),
        read as seconds from 1970 so that their order, duplicates and spacing are checked
        as dates' are; the returned frame's ``attrs["timestamps"]`` is then ``"steps"``
        and :func:`step_numbers` gives the numbers back. Applies to numbers only: dates
        (and digit strings that parse as dates, ``20240105``) are read as dates. None:
        numbers are refused.
    covariates : sequence, optional
        The value columns that are covariates, not targets (a data file's past and future
        covariates). Models need every value of a covariate, so ``missing="mask"`` does
        not apply to them (their missing values raise, as with ``"error"``), and messages
        about them do not offer mask.
    freq_per_series : bool
        Long frames without ``freq``: each series on the grid of its own step (a series
        regular on the longest series' step keeps it), not all on the longest series'
        step. For jobs that take each series alone (anomaly detection); a model fitted
        on many series needs them to share one frequency.

    Returns
    -------
    DataFrame
        float64 values, ``(T, C)`` wide with ``index.freq`` set, or ``(sum T_i, C)`` long
        sorted by (series id, timestamp).

    Raises
    ------
    DataError
        With a message naming the source, column, series and row at fault.
    ConfigError
        For an unknown ``missing`` policy or a bad ``min_rows``.
    """
    require_pandas(frame, source)
    if missing not in MISSING_POLICIES:
        raise ConfigError(
            f"The 'missing' parameter must be one of {', '.join(MISSING_POLICIES)}. "
            f"Got {missing!r} instead.{closest_match(str(missing), MISSING_POLICIES)}"
        )
    if irregular not in IRREGULAR_POLICIES:
        raise ConfigError(
            f"The 'irregular' parameter must be one of {', '.join(IRREGULAR_POLICIES)}. Got {irregular!r} instead."
        )
    if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
        raise ConfigError(
            f"The 'timestamp_unit' parameter must be one of {', '.join(UNIX_UNITS)} (Unix times) or None. "
            f"Got {timestamp_unit!r} instead.{closest_match(str(timestamp_unit), UNIX_UNITS)}"
        )
    if min_rows is not None:
        min_rows = check_positive_int(min_rows, "min_rows")
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame or Series. Got {type(frame).__name__} instead.")
    if len(frame) == 0:
        raise DataError(f"{source}: has no rows; expected at least one row per timestamp.")
    codes, where = _series_codes(frame, source, row_label or iloc_row)
    value_columns = _value_columns(frame, columns, source)
    values = _float_values(frame, value_columns, where, chosen=columns is not None)
    timestamps, steps = _parse_timestamps(frame.index.get_level_values(-1), where, timestamp_unit)
    _check_finite(values, value_columns, where)
    _check_observed(values, codes, value_columns, where)
    if missing == "error":
        _check_no_missing(values, codes, value_columns, where, covariates)
    elif missing == "mask" and covariates:  # mask keeps the targets' gaps only
        kept = [k for k, column in enumerate(value_columns) if column in covariates]
        _check_no_missing(values[:, kept], codes, [value_columns[k] for k in kept], where, covariates)
    _check_duplicates(codes, timestamps, where)
    order = _time_order(codes, timestamps, sort, where)
    codes, timestamps, values = codes[order], timestamps[order], values[order]
    if freq_per_series and freq is None and where.series_ids is not None:
        codes, timestamps, values = _each_on_its_grid(
            codes, timestamps, values, order, where, reindex, irregular, missing
        )
        offset = None  # a long frame's index has no freq
    else:
        offset, how = resolve_frequency(codes, timestamps, freq, where)
        codes, timestamps, values, offset = _on_grid(
            codes, timestamps, values, order, where, (offset, how), reindex, irregular, missing
        )
    if min_rows is not None:
        _check_min_rows(codes, min_rows, where)
    values = _fill_missing(values, codes, missing, value_columns, timestamps, where, covariates)
    checked = _build_frame(frame, codes, timestamps, values, value_columns, offset, where)
    if steps:
        checked.attrs["timestamps"] = STEPS
    return checked


def _on_grid(codes, timestamps, values, order, where: Where, step: tuple, reindex: bool, irregular: str, missing: str):
    """-> (codes, timestamps, values, offset): the rows checked against the grid of ``step`` (offset, how it was
    found), or reindexed onto it; offset None for irregular rows kept as they come."""
    offset, how = step
    if reindex:
        given = len(codes)
        codes, timestamps, values = reindex_to_grid(codes, timestamps, values, offset, order, where)
        if missing == "error":
            _check_nothing_inserted(given, codes, timestamps, values, where)
    elif irregular == "keep" and not is_regular(codes, timestamps, offset):
        offset = None  # the rows as they come: no grid, so no freq on the index
    else:
        check_spacing(codes, timestamps, offset, how, order, where)
    return codes, timestamps, values, offset


def _each_on_its_grid(codes, timestamps, values, order, where: Where, reindex: bool, irregular: str, missing: str):
    """:func:`_on_grid` for each group of series of one step (``freq_per_series``) -> (codes, timestamps, values),
    sorted by series then time."""
    groups = frequency_groups(codes, timestamps, where)
    if len(groups) == 1:
        return _on_grid(codes, timestamps, values, order, where, groups[0][:2], reindex, irregular, missing)[:3]
    parts = []
    for offset, how, members in groups:
        rows = np.isin(codes, members)
        # reindex_to_grid numbers the series from 0: the group's own codes, and its own ids for messages
        own_where = Where(where.source, where.row_label, [where.series_ids[code] for code in members])
        own_codes, own_timestamps, own_values, _ = _on_grid(
            np.searchsorted(members, codes[rows]), timestamps[rows], values[rows], order[rows], own_where,
            (offset, how), reindex, irregular, missing,
        )  # fmt: skip
        parts.append((members[own_codes], own_timestamps, own_values))
    codes = np.concatenate([part[0] for part in parts])
    back = np.argsort(codes, kind="stable")  # each series' rows stay in time order
    timestamps = parts[0][1].append([part[1] for part in parts[1:]])
    return codes[back], timestamps[back], np.concatenate([part[2] for part in parts])[back]


def step_numbers(index: pd.DatetimeIndex) -> pd.Index:
    """The numbers that ``check_series(..., timestamp_unit="steps")`` read as seconds from 1970, given back:
    whole numbers as int64, others as float64."""
    nanoseconds = np.asarray(index.as_unit("ns").asi8)
    if (nanoseconds % 1_000_000_000 == 0).all():
        return pd.Index(nanoseconds // 1_000_000_000, name=index.name)
    return pd.Index(nanoseconds / 1e9, name=index.name)


def observed_mask(frame: pd.DataFrame) -> np.ndarray:
    """``(T, C)`` bool: True where a value is observed (not NaN)."""
    return frame.notna().to_numpy()


def fill_missing(frame: pd.DataFrame, missing: str, source: str = "<frame>") -> pd.DataFrame:
    """A frame that :func:`check_series` validated with ``missing="mask"``, wide or long, with its missing values
    filled by the ``missing`` policy as :func:`check_series` fills them, per series, with the same messages for
    the ones that cannot be (``source`` names the data there).

    For callers that need to know which values were filled (:mod:`tsseq.anomaly.job` marks their rows): read
    with ``"mask"``, take the mask, then fill.
    """
    codes, where = _series_codes(frame, source, iloc_row)
    timestamps = frame.index.get_level_values(-1)
    values = _fill_missing(frame.to_numpy(dtype=np.float64), codes, missing, list(frame.columns), timestamps, where)
    filled = pd.DataFrame(values, index=frame.index, columns=frame.columns)
    filled.attrs.update(frame.attrs)  # "timestamps": "steps" stays
    return filled


def _series_codes(frame: pd.DataFrame, source: str, row_label: Callable[[int], str]) -> tuple[np.ndarray, Where]:
    """Integer series codes ordered like the sorted series ids (all 0 for a wide frame)."""
    if not isinstance(frame.index, pd.MultiIndex):
        return np.zeros(len(frame), dtype=np.intp), Where(source, row_label, None)
    if frame.index.nlevels != 2:
        raise DataError(
            f"{source}: a long frame needs a MultiIndex of two levels (series id, timestamp). "
            f"Got {frame.index.nlevels} levels: {list(frame.index.names)}."
        )
    ids = frame.index.get_level_values(0)
    if isinstance(ids, pd.DatetimeIndex) and not isinstance(frame.index.get_level_values(1), pd.DatetimeIndex):
        raise DataError(
            f"{source}: a long frame's MultiIndex is (series id, timestamp); this one has the timestamps first "
            f"({list(frame.index.names)}). Swap its levels: frame.swaplevel().sort_index()."
        )
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:
        raise DataError(f"{source}: series ids must be all strings or all numbers, so that they sort.") from None
    if (codes < 0).any():
        position = int(np.argmax(codes < 0))
        raise DataError(f"{source}: missing series id at {row_label(position)}.")
    return codes.astype(np.intp), Where(source, row_label, uniques.tolist())


def _value_columns(frame: pd.DataFrame, columns: Sequence[object] | None, source: str) -> list[object]:
    available = list(frame.columns)
    if frame.columns.has_duplicates:
        duplicated = list(frame.columns[frame.columns.duplicated()])
        raise DataError(f"{source}: column names must be unique. Repeated: {duplicated}.")
    columns = available if columns is None else [columns] if isinstance(columns, str) else list(columns)
    if not columns:
        raise DataError(f"{source}: has no value columns; expected one column per channel.")
    for column in columns:
        if column not in available:
            hint = closest_match(str(column), [str(name) for name in available])
            raise DataError(f"{source}: no column {column!r}.{hint} Columns: {available}.")
    return columns


def _float_values(frame: pd.DataFrame, columns: list[object], where: Where, chosen: bool = True) -> np.ndarray:
    """``(N, C)`` float64; strings that are not numbers raise naming the first bad row.

    ``chosen``: the caller named the columns. If not, a column with no number at all is
    most likely an id or a label read as a channel, and the message says how to leave it out.
    """
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for index, column in enumerate(columns):
        data = frame[column]
        if not pd.api.types.is_numeric_dtype(data.dtype):
            numbers = pd.to_numeric(data, errors="coerce")
            bad = (numbers.isna() & data.notna()).to_numpy()
            if bad.any():
                position = int(np.argmax(bad))
                hint = _decimal_comma_hint(data.iloc[position])
                if not hint and not chosen and bad.sum() == data.notna().sum():
                    hint = (" It holds no number: if it is not a channel, name the channels (read_csv's "
                            "value_columns, the CLI's --columns A,B), or, if it says which series a row "
                            "belongs to, pass it as series_column (--series-column).")
                raise DataError(
                    f"{where.source}: column {column!r} has a non-numeric value {data.iloc[position]!r} at "
                    f"{where.row(position)}; expected a number (leave the cell empty for a missing value). "
                    f"{int(bad.sum())} value(s) in this column are not numbers.{hint}"
                )
            data = numbers
        values[:, index] = data.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _decimal_comma_hint(value: object) -> str:
    """How to read ``value`` where it is a number written with a decimal comma (``20,0125``); else ``""``."""
    if not isinstance(value, str) or not _DECIMAL_COMMA.match(value):
        return ""
    return " It looks like a number with a decimal comma: pass decimal=',' (tsseq: --decimal ,)."


def _parse_timestamps(raw: pd.Index, where: Where, unit: str | None = None) -> tuple[pd.DatetimeIndex, bool]:
    """-> (the parsed timestamp level, whether it held step numbers); missing, unparsable or mixed-time-zone values
    raise. Numbers need ``unit`` (:func:`check_series`)."""
    if isinstance(raw, pd.DatetimeIndex):
        return raw, False
    if isinstance(raw, pd.PeriodIndex):
        return raw.to_timestamp(), False
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise DataError(f"{where.source}: expected timestamps in the index. Got {raw.dtype} values.")
    absent = np.asarray(raw.isna())
    if absent.any():
        raise DataError(f"{where.source}: missing timestamp at {where.row(int(np.argmax(absent)))}.")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return _numbers_as_timestamps(raw, where, unit), unit == STEPS
    if unit in UNIX_UNITS and _digits_only(raw):  # a column read as text (a named timestamp column is)
        return _numbers_as_timestamps(raw, where, unit), False
    offsets = None
    try:
        parsed = _to_datetime(raw, dayfirst=False)
    except (ValueError, TypeError):  # pandas refuses UTC offsets that change (or aware values mixed with naive)
        offsets = _utc_offsets(pd.Series(raw.astype(str)))
        if offsets.isna().any():
            raise _mixed_time_zones(raw, where) from None
        parsed = _to_datetime(raw, dayfirst=False, utc=True)  # instants: each read with its own offset
    if isinstance(raw[0], str) and _DAY_MONTH.match(raw[0]):
        parsed = _day_or_month_first(raw, parsed, where)
    bad = np.asarray(parsed.isna())
    if bad.any() and unit in (None, STEPS) and _digits_only(raw):  # numbers read as text, not dates (20240105 is one)
        return _numbers_as_timestamps(raw, where, unit), unit == STEPS
    if bad.any():
        position = int(np.argmax(bad))
        alone = _to_datetime(raw[position : position + 1], dayfirst=False)[0]
        if not pd.isna(alone) and (alone.tz is None) != (parsed.tz is None):
            raise _mixed_time_zones(raw, where)  # pandas turns tz-naive among tz-aware values into NaT
        raise DataError(
            f"{where.source}: unparsable timestamp {raw[position]!r} at {where.row(position)}; expected a date "
            f"in the format of the first timestamp {raw[0]!r}. {int(bad.sum())} timestamp(s) do not parse."
        )
    if offsets is not None:
        change = int(np.argmax((offsets != offsets.iloc[0]).to_numpy()))
        one_time_of_day = _times_of_day(pd.Series(raw.astype(str))).nunique() == 1
        _offsets_change(where.source, list(offsets.unique()), where.row(change), str(raw[change]), one_time_of_day)
    return pd.DatetimeIndex(parsed), False


def _digits_only(raw: pd.Index) -> bool:
    """Whether every value is a number written without a date's separators (``1416726000``, ``12.5``)."""
    return bool(raw.astype(str).str.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*").all())


def _numbers_as_timestamps(raw: pd.Index, where: Where, unit: str | None) -> pd.DatetimeIndex:
    """Numbers (or numbers written as text) as Unix times in ``unit``, or as steps (seconds from 1970); without a
    unit they are refused."""
    numbers = raw if pd.api.types.is_numeric_dtype(raw.dtype) else pd.Index(pd.to_numeric(raw))
    if unit is None:
        raise DataError(
            f"{where.source}: expected timestamps in the index. Got {numbers.dtype} numbers ({numbers[0]}, ...). "
            "If they are Unix times, pass timestamp_unit='s' (or 'ms', 'us', 'ns'; tsseq: --timestamp-unit s); "
            "otherwise set a column of dates as the index (frame.set_index('date')). tsseq detect scores one series "
            "whose timestamps are numbers that count rows as it reads them."
        )
    values = np.asarray(numbers, dtype=np.float64)
    if not np.isfinite(values).all():
        position = int(np.argmax(~np.isfinite(values)))
        raise DataError(
            f"{where.source}: timestamp {numbers[position]!r} at {where.row(position)} is not a finite number."
        )
    in_unit = "s" if unit == STEPS else unit
    nanoseconds = None if pd.api.types.is_integer_dtype(numbers.dtype) else _decimal_nanoseconds(raw, in_unit)
    try:
        if nanoseconds is not None:
            parsed = pd.to_datetime(nanoseconds, unit="ns")
        else:
            parsed = pd.to_datetime(numbers, unit=in_unit)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as error:
        meaning = "steps (read as seconds)" if unit == STEPS else f"Unix times in {unit!r}"
        raise DataError(
            f"{where.source}: the timestamps, numbers from {numbers.min()!r} to {numbers.max()!r}, are out of "
            f"range as {meaning} ({error}). Check timestamp_unit (--timestamp-unit)."
        ) from None
    return pd.DatetimeIndex(parsed)


def _decimal_nanoseconds(written: pd.Index, unit: str) -> np.ndarray | None:
    """Numbers in ``unit`` -> int64 nanoseconds from 1970, from their decimal digits (the text, or a float's
    shortest repr: the digits a CSV file gave), whole and fraction apart: 1709280001.466 s is 08:00:01.466, where
    float64 seconds give 08:00:01.466000080. Digits past the nanosecond are dropped. None for a number written
    with an exponent (1e-05), past the range of int64 nanoseconds, or a float whose repr is finer than float64
    (1709280001466000.2 us for ...000.25: the digits written are lost): pandas reads these, or names them."""
    digits = pd.Series(written.astype(str)).str.extract(_DECIMAL)
    if digits[1].isna().any() or digits[1].str.len().max() > 18:
        return None
    if pd.api.types.is_float_dtype(written.dtype):
        decimals = digits[2].fillna("").str.len().to_numpy()
        if (10.0**-decimals < np.spacing(np.abs(written.to_numpy()))).any():
            return None  # a repr finer than the float: the float's own value
    scale = _NANOSECONDS[unit]
    whole = digits[1].astype(np.int64).to_numpy()
    if (whole >= np.iinfo(np.int64).max // scale).any():
        return None
    places = len(str(scale)) - 1  # fractional digits down to the nanosecond
    fraction = ("0" + digits[2].fillna("").str.ljust(places, "0").str[:places]).astype(np.int64).to_numpy()
    return np.where(digits[0] == "-", -1, 1) * (whole * scale + fraction)


_NANOSECONDS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_DECIMAL = r"^\s*([+-]?)(\d+)(?:\.(\d*))?\s*$"  # 1709280001.466: sign, whole digits, fractional digits
_DAY_MONTH = re.compile(r"\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")  # 05/01/2024: 1 May or 5 January
_DOTTED = re.compile(r"\s*\d{1,2}\.\d{1,2}\.\d{2,4}\b")  # 05.01.2024: 5 January wherever dots are written
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"  # a UTC offset written at the end of a timestamp
_TIME = r"(?:\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?)"  # a time of day: 13:00, 13:00:00, 13:00:00.5
_ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}")  # 2024-03-01: an ISO 8601 date, year first


def _to_datetime(raw: pd.Index, dayfirst: bool, utc: bool = False) -> pd.DatetimeIndex:
    with warnings.catch_warnings():  # pandas warns when its guess of the format disagrees with dayfirst
        warnings.simplefilter("ignore", UserWarning)
        return _iso8601(raw, pd.to_datetime(raw, errors="coerce", dayfirst=dayfirst, utc=utc), utc)


def _iso8601(raw: pd.Index | pd.Series, parsed: pd.Index | pd.Series, utc: bool) -> pd.Index | pd.Series:
    """``parsed``, or, where it misses values and every value is ISO 8601, ``raw`` read as ISO 8601.

    pandas reads every value in the format of the first, so a log that drops the fraction of a second on some
    rows (``08:00:01.466``, then ``08:00:06``) misses those; ISO 8601 is one standard in all its precisions.
    Other formats keep the one format (and its day-first reading). A UTC offset on some values only stays
    missed, for the caller to name (``utc=True`` would read the others as UTC)."""
    written = np.asarray(pd.notna(raw))
    if not (np.asarray(pd.isna(parsed)) & written).any():
        return parsed
    text = pd.Series(np.asarray(raw, dtype=object)[written]).astype(str)
    if not _ISO_DATE.match(text.iloc[0]) or _utc_offsets(text).isna().nunique() > 1:
        return parsed
    try:
        iso = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=utc)
    except (ValueError, TypeError):  # UTC offsets that change, without utc=True
        return parsed
    return parsed if (np.asarray(pd.isna(iso)) & written).any() else iso


def _day_or_month_first(raw: pd.Index, month_first: pd.DatetimeIndex, where: Where) -> pd.DatetimeIndex:
    """Dates written ``nn/nn/yyyy``: read day first where only that reading parses them all (13/01/2024), and
    warn, naming the file, where both readings parse every date but differ (month first is kept, as pandas
    reads them). Dates written with dots (``01.03.2024``) are read day first where both parse: no country
    writes the month first with dots, and German, Russian or Nordic logs write every date so."""
    if not month_first.isna().any() and (month_first.day > 12).any():
        return month_first  # a day above 12 cannot be read as a month: the one reading, no second parse
    try:
        day_first = _to_datetime(raw, dayfirst=True, utc=month_first.tz == datetime.timezone.utc)  # as month first
    except (ValueError, TypeError):
        return month_first
    if day_first.isna().any():
        return month_first
    if month_first.isna().any() or _DOTTED.match(raw[0]):
        return day_first
    if not day_first.equals(month_first):
        differs = int(np.argmax(np.asarray(day_first != month_first)))
        warnings.warn(
            f"{where.source}: the timestamps read both month first and day first ({raw[differs]!r} at "
            f"{where.row(differs)} is {month_first[differs]:%d %B %Y} or {day_first[differs]:%d %B %Y}); they are "
            "read month first. If they are day first, write the dates as year-month-day (e.g. 2024-01-05).",
            UserWarning,
            stacklevel=2,
        )
    return month_first


def _utc_offsets(text: pd.Series) -> pd.Series:
    """The UTC offset written at the end of each timestamp (``+01:00``, ``Z``); NaN where there is none."""
    return text.str.extract(_OFFSET, expand=False)


def _times_of_day(text: pd.Series) -> pd.Series:
    """The local time of day written in each timestamp (before its UTC offset); ``00:00`` for a date alone."""
    local = text.str.replace(_OFFSET, "", regex=True).str.strip()
    return local.str.extract(f"({_TIME})$", expand=False).fillna("00:00")


def _offsets_change(source: str, offsets: list[str], row: str, stamp: str, one_time_of_day: bool) -> None:
    """Timestamps whose UTC offsets change (a daylight-saving change) are unambiguous instants: they are read in
    UTC, each with its own offset, with a warning. Rows that all share one local time of day (daily data stamped
    at local midnight) raise instead: in UTC they are 23, 24 or 25 hours apart, and their dates alone are the days.
    ``row`` and ``stamp``: the first row whose offset differs from the first row's (read_csv's and convert's words)."""
    listed = ", ".join(offsets[:-1][:_SHOWN]) + f" and {offsets[-1]}"
    change = f"{row} ({stamp!r})"
    if one_time_of_day:
        date = re.sub(f"[T ]?{_TIME}$", "", re.sub(_OFFSET, "", stamp.strip()).strip())
        raise DataError(
            f"{source}: the timestamps all have one local time of day but their UTC offsets change ({listed}; "
            f"first at {change}). Read as UTC instants, they are not evenly spaced (23, 24 or 25 hours apart "
            f"where the offset changes). Drop the UTC offsets (e.g. write {date!r}): the local dates alone are "
            "the days."
        )
    warnings.warn(
        f"{source}: the timestamps have the UTC offsets {listed} (the offset changes first at {change}); they are "
        "read as UTC instants, each with its own offset, and the output timestamps are in UTC.",
        UserWarning,
        stacklevel=3,
    )


def _mixed_time_zones(raw: pd.Index, where: Where) -> DataError:
    """Name the first timestamp that has a UTC offset where the first has none, or none where the first has one."""
    offsets = _utc_offsets(pd.Series(raw.astype(str)))
    position = int(np.argmax((offsets.isna() != offsets.isna().iloc[0]).to_numpy()))
    offsets = ("UTC offset " + offsets).fillna("no UTC offset").to_numpy()
    found = (
        f": {where.row(0)} has {offsets[0]} ({raw[0]!r}) but {where.row(position)} has {offsets[position]} "
        f"({raw[position]!r})"
        if position
        else ""
    )
    return DataError(
        f"{where.source}: timestamps mix time zones{found}. Convert all timestamps to one time zone (e.g. UTC) first."
    )


def _check_finite(values: np.ndarray, columns: list[object], where: Where) -> None:
    infinite = np.isinf(values)
    if infinite.any():
        position, column = _first_cell(infinite)
        raise DataError(
            f"{where.source}: column {columns[column]!r} has an infinite value ({values[position, column]}) at "
            f"{where.row(position)}; {int(infinite.sum())} infinite value(s) in all. Expected finite numbers "
            "(leave the cell empty for a missing value)."
        )


def _first_cell(flags: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the first flagged cell of ``(N, C)`` ``flags``, in the first column with one."""
    column = int(np.argmax(flags.any(axis=0)))
    return int(np.argmax(flags[:, column])), column


def _check_observed(values: np.ndarray, codes: np.ndarray, columns: list[object], where: Where) -> None:
    """Every channel of every series needs at least one observed value."""
    observed = pd.DataFrame(~np.isnan(values)).groupby(codes).sum().to_numpy()  # (S, C)
    if (observed == 0).any():
        code, column = np.argwhere(observed == 0)[0]
        rows = int(np.sum(codes == code))
        raise DataError(
            f"{where.source}:{where.series(code)} column {columns[column]!r} has no values: "
            f"all {rows} row(s) are missing. Drop the column or provide values."
        )


def _check_no_missing(
    values: np.ndarray, codes: np.ndarray, columns: list[object], where: Where, covariates: Sequence[object] = ()
) -> None:
    absent = np.isnan(values)
    if absent.any():
        position, column = _first_cell(absent)
        raise DataError(
            f"{where.source}: column {columns[column]!r} has {int(absent[:, column].sum())} missing value(s); "
            f"the first is at {where.row(position, codes[position])}. "
            f"{_COVARIATE_FILL if columns[column] in covariates else _FILL}"
        )


def _check_duplicates(codes: np.ndarray, timestamps: pd.DatetimeIndex, where: Where) -> None:
    keys = pd.DataFrame({"series": codes, "time": timestamps.asi8})
    repeated = keys.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    groups = list(keys[repeated].groupby(["series", "time"], sort=False).indices.values())
    repeated_positions = np.flatnonzero(repeated)
    shown = []
    for rows in groups[:_SHOWN]:
        positions = repeated_positions[rows]
        places = " and ".join(where.row_label(int(position)) for position in positions[:3])
        shown.append(f"{where.series(codes[positions[0]])} {timestamps[positions[0]]} at {places}".lstrip())
    more = f" (first {_SHOWN} shown)" if len(groups) > _SHOWN else ""
    raise DataError(
        f"{where.source}: {len(groups)} timestamp(s) occur more than once: {'; '.join(shown)}{more}. "
        + (_clock_set_back(codes, timestamps, where) or
           "Each timestamp must appear once per series; remove or aggregate the duplicates.")
    )


def _clock_set_back(codes: np.ndarray, timestamps: pd.DatetimeIndex, where: Where) -> str:
    """Advice when the rows, in the file's order, step back by an hour less one step (or repeat an hourly row):
    local clock times across the end of daylight saving time, whose repeated hour no offset tells apart. Removing
    or aggregating the duplicates, the generic advice, would drop or merge a real hour of data. "" otherwise."""
    ticks = timestamps.as_unit("ns").asi8
    same = codes[1:] == codes[:-1]
    steps = np.diff(ticks)[same]
    forward = steps[steps > 0]
    if not forward.size:
        return ""
    step = int(np.median(forward))
    hour = pd.Timedelta(hours=1).value
    if not 0 < step <= hour:
        return ""
    # Clocks are set back between 1 and 3 a.m. on a Sunday of March, April (south) or September to November (north)
    # in the zones that shift (EU, US, Australia, New Zealand, ...): elsewhere a repeated hourly row is a duplicate.
    back = [row for row in np.flatnonzero(same & (np.diff(ticks) == step - hour)) if _clock_change(timestamps[row + 1])]
    if not back:
        return ""
    row = int(back[0])
    return (
        f"After {where.row_label(row)} ({timestamps[row]}) the timestamps start the hour again at "
        f"{timestamps[row + 1]}: local clock times across the end of daylight saving time, whose repeated hour cannot "
        "be told apart. Export "
        "them with their UTC offsets (ISO 8601, e.g. 2024-10-27T02:00:00+02:00, then +01:00), which are read as "
        "UTC, or in UTC; removing the duplicates would drop a real hour of data."
    )


def _clock_change(stamp: pd.Timestamp) -> bool:
    """Whether ``stamp`` could start the hour repeated when daylight saving time ends (see _clock_set_back)."""
    return 1 <= stamp.hour <= 3 and stamp.dayofweek == 6 and stamp.month in (3, 4, 9, 10, 11)


def _time_order(codes: np.ndarray, timestamps: pd.DatetimeIndex, sort: bool, where: Where) -> np.ndarray:
    """Positions that sort rows by (series, time); raise on rows out of time order unless ``sort``."""
    order = np.argsort(codes, kind="stable")  # each series' rows, in the given order
    ticks, series = timestamps.asi8[order], codes[order]
    backwards = (series[1:] == series[:-1]) & (ticks[1:] < ticks[:-1])
    if not backwards.any():
        return order
    if sort:
        return np.lexsort((timestamps.asi8, codes))
    step = int(np.argmax(backwards))
    before, after = order[step], order[step + 1]
    raise DataError(
        f"{where.source}: timestamps are not in increasing order: {where.row(after, codes[after])} "
        f"({timestamps[after]}) comes after {where.row_label(int(before))} ({timestamps[before]}). "
        "Sort the rows by time, or pass sort=True (tsseq: --sort)."
    )


def _check_nothing_inserted(
    given_rows: int, codes: np.ndarray, timestamps: pd.DatetimeIndex, values: np.ndarray, where: Where
) -> None:
    """With ``missing="error"``, rows that reindexing inserted (all NaN: the given rows have none) raise."""
    inserted = len(codes) - given_rows
    if inserted:
        row = int(np.argmax(np.isnan(values).all(axis=1)))
        raise DataError(
            f"{where.source}: reindex=True inserted {inserted} row(s) for missing timestamps, the first at"
            f"{where.series(codes[row])} {timestamps[row]}; their values are missing and missing='error'. {_FILL}"
        )


def _check_min_rows(codes: np.ndarray, min_rows: int, where: Where) -> None:
    lengths = np.bincount(codes)
    short = np.flatnonzero(lengths < min_rows)
    if short.size:
        code = int(short[0])
        others = f" ({short.size} series are too short)" if where.series_ids is not None else ""
        raise DataError(
            f"{where.source}:{where.series(code)} needs at least {min_rows} rows (min_rows, e.g. input_length + "
            f"horizon), got {lengths[code]}{others}."
        )


def _fill_missing(
    values: np.ndarray,
    codes: np.ndarray,
    missing: str,
    columns: list[object],
    timestamps: pd.DatetimeIndex,
    where: Where,
    covariates: Sequence[object] = (),
) -> np.ndarray:
    """Apply the ``missing`` policy per series; values left missing at the edges raise."""
    if missing in ("error", "mask") or not np.isnan(values).any():
        return values
    grouped = pd.DataFrame(values).groupby(codes)
    if missing == "ffill":
        filled = grouped.ffill().to_numpy()
    else:
        # Linear in row position, which is linear in time on a regular grid.
        position = np.broadcast_to(np.arange(len(values), dtype=np.float64)[:, None], values.shape)
        at = pd.DataFrame(np.where(np.isnan(values), np.nan, position)).groupby(codes)
        before, after = at.ffill().to_numpy(), at.bfill().to_numpy()
        value_before, value_after = grouped.ffill().to_numpy(), grouped.bfill().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = (position - before) / (after - before)
            filled = np.where(np.isnan(values), value_before + weight * (value_after - value_before), values)
    left = np.isnan(filled)
    if left.any():
        row, column = _first_cell(left)
        edge = "leading" if missing == "ffill" else "leading or trailing"
        remedy = (", or fill them in the file: a covariate needs a value at every row" if columns[column] in covariates
                  else f"; {_MASK_IS_FOR}")
        raise DataError(
            f"{where.source}:{where.series(codes[row])} column {columns[column]!r} has {int(left[:, column].sum())} "
            f"{edge} missing value(s) that missing={missing!r} cannot fill, the first at {timestamps[row]}. "
            f"Drop those rows{remedy}."
        )
    return filled


def _build_frame(
    frame: pd.DataFrame,
    codes: np.ndarray,
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    columns: list[object],
    offset: pd.DateOffset | None,
    where: Where,
) -> pd.DataFrame:
    names = list(frame.index.names)
    if where.series_ids is None:
        index = pd.DatetimeIndex(timestamps, freq=offset, name=names[0])
    else:
        ids = pd.Index(where.series_ids).take(codes)
        index = pd.MultiIndex.from_arrays([ids, timestamps], names=names)
    return pd.DataFrame(values, index=index, columns=pd.Index(columns))
