"""The regular time grid of a series: inferring its frequency, checking the spacing, reindexing onto it, and the
rows of one natural season at a frequency (:func:`frequency_season`).

:func:`tsseq.data.checks.check_series` calls these on the rows it has parsed, sorted by
series then time:

* ``codes`` ``(N,)`` intp: the series of each row, each series' rows together (all 0 for
  a wide frame);
* ``timestamps`` ``(N,)`` DatetimeIndex;
* ``values`` ``(N, C)`` float64;
* ``positions`` ``(N,)``: each row's 0-based position in the caller's frame, so that
  messages name rows as the caller gave them.

Two kinds of step: fixed ones (``Tick`` offsets such as ``"h"`` or ``"15min"``) have one
length and are compared as integers; calendar ones (``"MS"``, ``"B"``, and ``"D"``, whose
days last 23 or 25 hours across a DST change) are compared by adding the offset.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from tsseq.errors import ConfigError, DataError

_DAY_NS = 86_400 * 10**9
_MAX_REINDEX_GROWTH = 100  # a stray timestamp (a typo in the year) must not allocate billions of rows


@dataclass(frozen=True)
class Where:
    """Names the source, the series (long frames) and the row in messages (here and in :mod:`tsseq.data.checks`)."""

    source: str
    row_label: Callable[[int], str]
    series_ids: list[object] | None  # unique ids indexed by code; None for a wide frame

    def series(self, code: int) -> str:
        return "" if self.series_ids is None else f" series {self.series_ids[code]!r}"

    def row(self, position: int, code: int | None = None) -> str:
        prefix = "" if self.series_ids is None or code is None else f"series {self.series_ids[code]!r}, "
        return prefix + self.row_label(int(position))


def iloc_row(position: int) -> str:
    """The default row label: ``row iloc[i]``."""
    return f"row iloc[{position}]"


def series_frequency(frame: pd.DataFrame) -> str:
    """The frequency string (``"h"``, ``"D"``, ``"MS"``) of a validated wide or long frame.

    Raises a DataError when the frame is not regularly spaced or, for a long frame, when
    the series do not share one frequency (naming the series).
    """
    index = frame.index
    if not isinstance(index, pd.MultiIndex) and getattr(index, "freq", None) is not None:
        return index.freqstr
    if isinstance(index, pd.MultiIndex):
        codes, series_ids = pd.factorize(index.get_level_values(0))
        where = Where("<frame>", iloc_row, series_ids.tolist())
    else:
        codes, where = np.zeros(len(frame), dtype=np.intp), Where("<frame>", iloc_row, None)
    timestamps = index.get_level_values(-1)
    if not isinstance(timestamps, pd.DatetimeIndex):
        raise DataError(
            f"<frame>: expected timestamps in the index. Got {timestamps.dtype} values; run check_series first."
        )
    offset, how = resolve_frequency(codes, timestamps, None, where)
    check_spacing(codes, timestamps, offset, how, np.arange(len(frame)), where)
    return offset.freqstr


def resolve_frequency(
    codes: np.ndarray, timestamps: pd.DatetimeIndex, freq: str | pd.DateOffset | None, where: Where
) -> tuple[pd.DateOffset, str]:
    """The step of the grid and how it was found: ``"given"``, ``"inferred"`` or ``"the most common step"``.

    A given ``freq`` is parsed. Otherwise ``pd.infer_freq`` runs on the longest series
    (3 rows or more); failing that, the most common step between rows of one series is
    taken (whole days as ``"nD"`` for tz-naive timestamps).
    """
    if freq is not None:
        try:
            return to_offset(freq), "given"
        except (ValueError, TypeError):
            renamed = _RENAMED_ALIASES.get(str(freq).lstrip("0123456789"))
            hint = f" pandas now spells it {renamed}." if renamed else ""
            raise ConfigError(
                f"The 'freq' parameter must be a pandas frequency such as 'h' or 'D'. Got {freq!r} instead.{hint}"
            ) from None
    starts = _series_starts(codes)
    lengths = np.diff(np.r_[starts, len(codes)])
    if lengths.max() < 2:
        raise DataError(f"{where.source}: cannot infer a frequency from series of one row; pass freq= (tsseq: --freq), e.g. 'h'.")
    longest = int(np.argmax(lengths))
    if lengths[longest] >= 3:
        offset = _infer_freq(timestamps[starts[longest] : starts[longest] + lengths[longest]])
        if offset is not None:
            return offset, "inferred"
    steps = np.diff(timestamps.asi8)[_within_series(codes)]
    unique_steps, counts = np.unique(steps, return_counts=True)
    step_ns = int(pd.Timedelta(int(unique_steps[np.argmax(counts)]), unit=timestamps.unit).value)
    if step_ns > 0 and step_ns % _DAY_NS == 0 and timestamps.tz is None:
        return to_offset(f"{step_ns // _DAY_NS}D"), "the most common step"
    return to_offset(pd.Timedelta(step_ns, unit="ns")), "the most common step"


def frequency_groups(
    codes: np.ndarray, timestamps: pd.DatetimeIndex, where: Where
) -> list[tuple[pd.DateOffset, str, np.ndarray]]:
    """The series of a long frame grouped by their own step -> ``[(offset, how, series codes)]``, the longest
    series' step first.

    A series regular on the longest series' step keeps that step (so a panel of one frequency is one group,
    found as :func:`resolve_frequency` finds it); only the others have theirs inferred from their own rows.
    """
    offset, how = resolve_frequency(codes, timestamps, None, where)
    groups = {offset.freqstr: (offset, how, [])}
    odd = set(codes[1:][~_regular_steps(codes, timestamps, offset)].tolist())
    starts = np.r_[_series_starts(codes), len(codes)]
    for start, end in zip(starts[:-1], starts[1:]):
        code, own = int(codes[start]), (offset, how)
        if code in odd:
            rows = timestamps[start:end]
            own = resolve_frequency(np.zeros(len(rows), dtype=np.intp), rows, None, where)
        groups.setdefault(own[0].freqstr, (*own, []))[2].append(code)
    return [(step, found, np.asarray(members, dtype=np.intp)) for step, found, members in groups.values() if members]


def is_regular(codes: np.ndarray, timestamps: pd.DatetimeIndex, offset: pd.DateOffset) -> bool:
    """Whether every step within a series is one ``offset`` (:func:`check_spacing` without raising)."""
    return bool(_regular_steps(codes, timestamps, offset).all())


def check_spacing(
    codes: np.ndarray,
    timestamps: pd.DatetimeIndex,
    offset: pd.DateOffset,
    how: str,
    positions: np.ndarray,
    where: Where,
) -> None:
    """Raise at the first step that is not one ``offset``; ``how`` says where ``offset`` came from.

    When the step was not given and the faulty series of a long frame has a frequency of
    its own, the message says the series do not share one frequency.
    """
    regular = _regular_steps(codes, timestamps, offset)
    if regular.all():
        return
    step = int(np.argmax(~regular))
    code = codes[step]
    if where.series_ids is not None and how != "given":
        own = _infer_freq(timestamps[codes == code]) if np.sum(codes == code) >= 3 else None
        if own is not None and own != offset:
            raise DataError(
                f"{where.source}:{where.series(code)} has frequency {own.freqstr!r} but the longest series has "
                f"{offset.freqstr!r}; all series must share one frequency."
            )
    first, second = timestamps[step], timestamps[step + 1]
    monthly = _monthly_on_one_day(timestamps)
    if monthly is not None:
        raise DataError(
            f"{where.source}: the timestamps are monthly, on day {monthly} of each month ({first}, {second}, ...), and "
            "tsseq's monthly grid is each month's first day ('MS') or last ('ME'): a step from one day-"
            f"{monthly} to the next is not one length. Stamp each row with its month's first day, e.g. in pandas "
            "frame['date'] = pd.to_datetime(frame['date']).dt.to_period('M').dt.to_timestamp(), and the forecast "
            "rows follow on the first days."
        )
    raise DataError(
        f"{where.source}: irregular spacing: {where.row(positions[step], code)} ({first}) is followed by "
        f"{where.row_label(int(positions[step + 1]))} ({second}), a step of {to_offset(second - first).freqstr!r}; "
        f"expected steps of {offset.freqstr!r} ({how}). {int((~regular).sum())} irregular step(s) in all. "
        "Pass reindex=True (tsseq: --reindex) to insert the missing timestamps as missing values, or freq= "
        "(--freq) to state the frequency."
    )


def reindex_to_grid(
    codes: np.ndarray,
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    offset: pd.DateOffset,
    positions: np.ndarray,
    where: Where,
) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray]:
    """Put every series on its regular grid from its first to its last timestamp.

    Returns
    -------
    codes, timestamps, values
        ``(M,)``, ``(M,)`` and ``(M, C)`` with ``M >= N``; the inserted rows are NaN.

    Raises
    ------
    DataError
        When a timestamp is off the grid, or the grid would hold more than 100 times
        the given rows (a stray timestamp rather than gaps).
    """
    starts = _series_starts(codes)
    if isinstance(offset, pd.offsets.Tick):  # fixed steps: each series keeps its own phase
        step = _step_in_unit(offset, timestamps.unit)
        relative = timestamps.asi8 - timestamps.asi8[starts][codes]
        slot = np.where(relative % step == 0, relative // step, -1)
    else:  # calendar steps: one shared calendar grid
        grid = pd.date_range(timestamps.min(), timestamps.max(), freq=offset, unit=timestamps.unit)
        slot = grid.get_indexer(timestamps)
    if (slot < 0).any():
        row = int(np.argmax(slot < 0))
        raise DataError(
            f"{where.source}: timestamp {timestamps[row]} at {where.row(positions[row], codes[row])} is not on the "
            f"{offset.freqstr!r} grid of its series, so reindex cannot place it. Pass freq= with the right frequency."
        )
    slot = slot - slot[starts][codes]  # (N,) each row's place in its own series
    lengths = slot[np.r_[starts[1:] - 1, len(codes) - 1]] + 1
    if lengths.sum() > _MAX_REINDEX_GROWTH * len(codes):
        gap = int(np.argmax(np.diff(slot) * _within_series(codes)))
        raise DataError(
            f"{where.source}: reindex=True would grow {len(codes)} rows to {lengths.sum()}; the largest gap is "
            f"from {timestamps[gap]} to {timestamps[gap + 1]} ({where.row(positions[gap + 1], codes[gap + 1])}). "
            "Check that timestamp, or the frequency."
        )
    new_starts = np.r_[0, np.cumsum(lengths)[:-1]]
    new_codes = np.repeat(np.arange(len(starts)), lengths)
    new_slot = np.arange(len(new_codes)) - new_starts[new_codes]
    new_values = np.full((len(new_codes), values.shape[1]), np.nan)
    new_values[new_starts[codes] + slot] = values
    first = timestamps[starts].take(new_codes)
    if isinstance(offset, pd.offsets.Tick):
        new_timestamps = first + pd.to_timedelta(new_slot * step, unit=timestamps.unit)
    else:
        new_timestamps = grid[grid.get_indexer(first) + new_slot]
    return new_codes, pd.DatetimeIndex(new_timestamps).as_unit(timestamps.unit), new_values


# Aliases pandas 2.2 deprecated and pandas 3 refuses, with what replaces them.
_RENAMED_ALIASES = {"M": "'ME' (month end) or 'MS' (month start)", "Q": "'QE' (quarter end) or 'QS' (quarter start)",
                    "Y": "'YE' (year end) or 'YS' (year start)", "A": "'YE' (year end) or 'YS' (year start)",
                    "H": "'h'", "T": "'min'", "S": "'s'", "L": "'ms'", "U": "'us'", "N": "'ns'",
                    "BM": "'BME'", "BQ": "'BQE'", "BY": "'BYE'", "BA": "'BYE'"}  # fmt: skip


def _monthly_on_one_day(timestamps: pd.DatetimeIndex) -> int | None:
    """The day of the month when every timestamp falls on that one day, at one time of day (so the steps are whole
    months), and it is neither the first nor a month's last (those grids are 'MS' and 'ME'); else None."""
    days = np.unique(timestamps.day)
    if len(timestamps) < 3 or len(days) != 1 or days[0] == 1 or timestamps.is_month_end.all():
        return None
    return int(days[0]) if len(np.unique(timestamps.time)) == 1 else None


def _series_starts(codes: np.ndarray) -> np.ndarray:
    """``(S,)`` the row where each series starts."""
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])


def _within_series(codes: np.ndarray) -> np.ndarray:
    """``(N - 1,)`` bool: rows i and i + 1 belong to the same series."""
    return codes[1:] == codes[:-1]


def _infer_freq(timestamps: pd.DatetimeIndex) -> pd.DateOffset | None:
    with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        inferred = pd.infer_freq(timestamps)
    return None if inferred is None else to_offset(inferred)


def _step_in_unit(offset: pd.offsets.Tick, unit: str) -> int:
    """A fixed step in the integer unit of a DatetimeIndex (``"s"``, ``"us"``, ``"ns"``)."""
    return pd.Timedelta(offset).value // pd.Timedelta(1, unit=unit).value


def _regular_steps(codes: np.ndarray, timestamps: pd.DatetimeIndex, offset: pd.DateOffset) -> np.ndarray:
    """``(N - 1,)`` bool: row i + 1 is one step after row i, or starts another series."""
    if isinstance(offset, pd.offsets.Tick):
        follows = np.diff(timestamps.asi8) == _step_in_unit(offset, timestamps.unit)
    else:  # calendar steps (months, business days, days across DST) have no fixed length
        follows = np.asarray(timestamps[:-1] + offset == timestamps[1:])
    return follows | ~_within_series(codes)


def frequency_season(freq: str) -> int:
    """Rows in one natural season of data at frequency ``freq`` (1 when there is none).

    Yearly 1, quarterly 4, monthly 12, weekly 52, business-daily 5, daily 7 (a week), a
    step that divides a day: the rows of a day (hourly 24, 15-minute 96), a step under a
    minute: the rows of a minute. A multiple of a calendar step divides its count when it
    can (``2h`` 12, ``2QS`` 2), else 1.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    n, offsets = max(int(offset.n), 1), pd.offsets
    calendar = [  # (offsets, rows in a year; a business week for business days)
        ((offsets.YearBegin, offsets.YearEnd, offsets.BYearBegin, offsets.BYearEnd), 1),
        ((offsets.QuarterBegin, offsets.QuarterEnd, offsets.BQuarterBegin, offsets.BQuarterEnd), 4),
        ((offsets.MonthBegin, offsets.MonthEnd, offsets.BusinessMonthBegin, offsets.BusinessMonthEnd), 12),
        ((offsets.Week,), 52),
        ((offsets.BusinessDay, offsets.CustomBusinessDay), 5),
    ]
    for kinds, count in calendar:
        if isinstance(offset, kinds):
            return count // n if count % n == 0 else 1
    try:
        seconds = pd.Timedelta(offset).total_seconds()
    except (TypeError, ValueError):
        return 1
    day, week = 86_400, 7 * 86_400
    if 0 < seconds < 60 and 60 % seconds == 0:
        return int(60 // seconds)
    if 0 < seconds < day and day % seconds == 0:
        return int(day // seconds)
    if seconds >= day and week % seconds == 0:
        return int(week // seconds)
    return 1
