"""Read a CSV file of time series into a validated, regularly spaced frame.

This is where users' data enters tsseq: :func:`read_csv` parses the file with
``pandas.read_csv`` and hands the table to :func:`tsseq.data.checks.check_series`, so a
CSV file and an in-memory frame go through the same checks. Messages name the file, the
column and the CSV line (the header is line 1, the first data row line 2; blank lines
that pandas skips are not counted).

Two layouts:

* wide: a timestamp column and one column per channel -> a frame indexed by a
  DatetimeIndex with ``freq`` set;
* long (``series_column`` given): a series id column, a timestamp column and value
  columns, rows of many series -> a frame indexed by ``(series id, timestamp)``.

The field delimiter is detected from the first lines of a file (``,``, ``;``, tab or
``|``, :class:`csv.Sniffer`) unless ``sep`` is given; a ``;``- or tab-separated file (the
delimiter detected or given) whose numbers are written with decimal commas (``1,5``, common
in European exports and test-bench logs) is read with ``decimal=","`` unless ``decimal`` is given.

The text is UTF-8 unless ``encoding`` is given; a file that starts with a UTF-16 or
UTF-32 byte-order mark (Excel's "Unicode text", PowerShell's ``Out-File``) is read in that
encoding (a UTF-8 one pandas skips). A byte that does not decode is named by its offset and
line, with how to re-save the file as UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pandas as pd

from tsseq.data.checks import STEPS, _DECIMAL_COMMA, _to_datetime, check_series
from tsseq.errors import ConfigError, DataError, DataFileNotFoundError, closest_match

TIMESTAMP_NAMES = ("date", "time", "timestamp", "timestamps", "datetime", "date_time", "ds", "ts", "time_stamp")
ROW_COLUMN = "row"  # a file without timestamps, read as steps: the data rows' numbers
_DETECTION_ROWS = 100  # rows of a column tried when looking for the timestamp column
_DELIMITERS = ",;\t|"  # field delimiters detected
_SAMPLE_CHARACTERS = 65536  # read to detect the delimiter and the decimal mark
_SAMPLE_LINES = 50
_ONE_DECIMAL_COMMA = re.compile(r"^[^,]*\d,\d[^,]*$")  # 20,0125 or 01.03.2024 08:00:01,466
_DECIMAL_POINT = re.compile(r"^\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*$")
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_SHOWN_BYTES = 80  # of the line around a byte that does not decode
_HEAD_BYTES = 8192  # read to tell text from binary data and to find a byte-order mark
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one. A UTF-8 mark needs nothing: pandas skips it.
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
_NUL_CODE_UNITS = ("utf-16", "utf-32", "utf_16", "utf_32", "utf16", "utf32")  # encodings whose text holds NUL bytes


def read_csv(
    source: str | os.PathLike[str] | IO[str],
    *,
    timestamp_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    series_column: str | None = None,
    freq: str | None = None,
    missing: str = "error",
    sort: bool = False,
    reindex: bool = False,
    min_rows: int | None = None,
    irregular: str = "error",
    timestamp_unit: str | None = None,
    header: bool = True,
    covariates: Sequence[str] = (),
    freq_per_series: bool = False,
    **read_options: object,
) -> pd.DataFrame:
    """Read a CSV file (path or text file object) into a validated frame.

    Parameters
    ----------
    source : path or file object
        The CSV file; its first line names the columns (unless ``header=False``).
    timestamp_column : str, optional
        The column of timestamps. When not given: the first column named like a
        timestamp (date, time, timestamp, timestamps, datetime, date_time, ds; any case),
        else the first non-numeric column whose first 100 values parse as dates. With
        ``timestamp_unit="steps"`` a file without one is read in row order, the data
        rows numbered from 0 in a column ``row``.
    timestamp_unit : {"s", "ms", "us", "ns", "steps"}, optional
        Timestamps that are numbers: Unix times in that unit, or steps
        (:func:`tsseq.data.checks.check_series`).
    header : bool
        False: the file has no header line (a bare column of numbers, as the UCR anomaly
        archive's files); its columns are named ``value`` (one value column) or
        ``value_1``, ``value_2``, ... in file order, and a column of dates ``timestamp``.
    value_columns : sequence of str, optional
        The channels to keep, in this order; all other columns when not given.
    series_column : str, optional
        The column of series ids; given, the file is read in the long layout.
    freq, missing, sort, reindex, min_rows, irregular, covariates, freq_per_series
        As in :func:`tsseq.data.checks.check_series`.
    **read_options
        Passed to ``pandas.read_csv`` (``sep``, ``decimal``, ``thousands``,
        ``encoding``, ``na_values``, ...).

    Returns
    -------
    DataFrame
        Wide: ``(T, C)`` float64, DatetimeIndex with ``freq`` set. Long: ``(sum T_i, C)``
        float64, MultiIndex ``(series id, timestamp)`` sorted by series then time.

    Raises
    ------
    DataFileNotFoundError
        When the path does not exist (suggesting a close file name in the folder).
    DataError
        For an empty file, a missing header, an unknown column, bad values or
        timestamps, and everything :func:`check_series` rejects.
    """
    name = _source_name(source)
    if "index_col" in read_options:
        raise ConfigError(
            "read_csv sets the index itself; pass timestamp_column= (and series_column=) instead of index_col."
        )
    if timestamp_column is not None and "dtype" not in read_options and header:
        read_options["dtype"] = {timestamp_column: str}  # so that e.g. 20200101 is not read as a number
    sample = prepare_text(source, name, read_options)
    table = _read_table(source, name, read_options if header else {**read_options, "header": None})
    if header:
        _check_header(table, name)
    else:
        table = _name_columns(table, name)
    _check_field_counts(table, sample, name, read_options)
    if series_column is not None:
        _require_column(table, series_column, name, "series_column")
    if timestamp_column is not None:
        _require_column(table, timestamp_column, name, "timestamp_column")
    elif (timestamp_column := _timestamp_column(table, series_column)) is None:
        if timestamp_unit != STEPS:
            raise _no_timestamp_column(table, name)
        timestamp_column = ROW_COLUMN if ROW_COLUMN not in table.columns else f"{ROW_COLUMN}_number"
        table.insert(0, timestamp_column, range(len(table)))  # the row sequence: detection needs no dates
    if timestamp_column == series_column:
        raise ConfigError(f"timestamp_column and series_column must differ. Got {series_column!r} for both.")
    keys = [timestamp_column] if series_column is None else [series_column, timestamp_column]
    return check_series(
        table.set_index(keys),
        source=name,
        freq=freq,
        missing=missing,
        sort=sort,
        reindex=reindex,
        min_rows=min_rows,
        irregular=irregular,
        columns=value_columns,
        row_label=_csv_line if header else _headerless_line,
        timestamp_unit=timestamp_unit,
        covariates=covariates,
        freq_per_series=freq_per_series,
    )


def _csv_line(position: int) -> str:
    """A data row's 0-based position -> its place in the file (the header is line 1)."""
    return f"line {position + 2} (data row {position + 1})"


def _headerless_line(position: int) -> str:
    """A data row's 0-based position -> its line in a file without a header."""
    return f"line {position + 1}"


def _name_columns(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A table read without a header: a column of dates named ``timestamp``, the others ``value`` or ``value_1`` ..."""
    if table.empty:
        raise DataError(f"{name}: has no data rows.")
    dates = next((column for column in table.columns if _parses_as_dates(table[column])), None)
    values = [column for column in table.columns if column != dates]
    names = {dates: "timestamp"} if dates is not None else {}
    names |= {column: "value" if len(values) == 1 else f"value_{k}" for k, column in enumerate(values, start=1)}
    return table.rename(columns=names)


def _source_name(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<file object>"


def check_exists(path: Path, name: str) -> None:
    """A DataFileNotFoundError naming ``name`` and the closest file beside it, when ``path`` does not exist."""
    if not path.exists():
        siblings = [entry.name for entry in path.parent.iterdir()] if path.parent.is_dir() else []
        raise DataFileNotFoundError(f"{name}: file not found.{closest_match(path.name, siblings)}")


def prepare_text(source: object, name: str, read_options: dict[str, object]) -> str | None:
    """Check that a path is a text file, take its encoding from a byte-order mark and its ``sep`` and ``decimal``
    from its first lines, unless ``read_options`` give them (filled in place); the file's first characters."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_exists(path, name)
        if path.is_dir():
            raise DataError(f"{name}: is a directory; expected a CSV file.")
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
        if not read_options.get("encoding"):
            marked = next((encoding for mark, encoding in _BYTE_ORDER_MARKS if head.startswith(mark)), None)
            if marked is not None:
                read_options["encoding"] = marked
        encoding = str(read_options.get("encoding") or "utf-8").lower()
        if b"\x00" in head and not encoding.startswith(_NUL_CODE_UNITS):
            wide = head.count(0) >= len(head) // 4  # every other byte NUL: UTF-16 text without its mark
            raise DataError(
                f"{name}: holds binary data, not text; expected a CSV text file (a header line naming the "
                "columns, then one row per timestamp)."
                + (" If it is UTF-16 text without a byte-order mark, re-save it as UTF-8." if wide else "")
            )
    sample = _sample(source, str(read_options.get("encoding") or "utf-8"))
    _detect_dialect(sample, read_options)
    return sample


def undecodable_text(source: object, name: str, encoding: object, error: UnicodeDecodeError) -> DataError:
    """The error for a byte that does not decode: its offset and line (found again: pandas' offset is within a
    field), the line as read, and how to re-save the file as UTF-8 (the command line has no encoding option)."""
    encoding = str(encoding or "utf-8")
    where = f" ({error.reason})"
    located = _first_undecodable(Path(source), encoding) if isinstance(source, (str, os.PathLike)) else None
    if located is not None:
        offset, line, text, bad = located
        where = (
            f": byte {offset} (line {line}{', the header' if line == 1 else ''}) is 0x{bad.hex()}, which {encoding} "
            f"cannot decode, in \"{text}\""
        )
    return DataError(
        f"{name}: is not {encoding} text{where}. Re-save the file as UTF-8 (Excel: Save As 'CSV UTF-8'; "
        f"iconv -f latin1 -t utf-8 {shlex.quote(name)} > utf8.csv for Latin-1/Windows-1252 text), or in Python "
        "pass encoding= (e.g. encoding='latin-1')."
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, str, bytes] | None:
    """Where ``path`` stops decoding: byte offset, line (1-based), the line up to a little past that byte
    (undecodable bytes escaped), the first undecodable byte(s); None when it decodes (or cannot be read again)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
        with open(path, "rb") as handle:
            offset, newlines, line_start = 0, 0, 0
            while True:
                block = handle.read(1 << 20)
                pending = decoder.getstate()[0]  # bytes of a character cut by the last block, already counted
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as error:
                    start = max(error.start - len(pending), 0)  # within this block
                    before = block[:start]
                    newlines += before.count(b"\n")
                    if b"\n" in before:
                        line_start = offset + before.rindex(b"\n") + 1
                    position = offset - len(pending) + error.start
                    handle.seek(max(line_start, position - _SHOWN_BYTES))
                    shown = handle.readline(min(position, _SHOWN_BYTES) + _SHOWN_BYTES // 2).rstrip(b"\r\n")
                    text = ("..." if position - line_start > _SHOWN_BYTES else "") + shown.decode(
                        encoding, errors="backslashreplace"
                    )
                    return position, newlines + 1, text, (pending + block)[error.start : error.end]
                if not block:
                    return None
                if b"\n" in block:
                    newlines += block.count(b"\n")
                    line_start = offset + block.rindex(b"\n") + 1
                offset += len(block)
    except (OSError, LookupError):
        return None


def _read_table(source: object, name: str, read_options: dict[str, object]) -> pd.DataFrame:
    try:
        return pd.read_csv(source, **read_options)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{name}: the file is empty; expected a header line naming the columns, then one row per timestamp."
        ) from None
    except pd.errors.ParserError as error:
        counts = _FIELD_COUNT.search(str(error))
        if counts:
            expected, line, saw = counts.groups()
            raise DataError(
                f"{name}: line {line} has {saw} fields, but the header names {expected} columns; remove the "
                "extra field(s) (a stray delimiter?) or name every column in the header."
            ) from None
        raise DataError(f"{name}: is not a well-formed CSV file: {error}".strip()) from None
    except UnicodeDecodeError as error:
        raise undecodable_text(source, name, read_options.get("encoding"), error) from None


def _sample(source: object, encoding: str) -> str | None:
    """The first characters of a file path or seekable text file (None otherwise)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, encoding=encoding, errors="replace", newline="") as handle:
                return handle.read(_SAMPLE_CHARACTERS)
        except OSError:
            return None
    seekable = getattr(source, "seekable", None)
    if callable(seekable) and seekable():
        position = source.tell()  # type: ignore[attr-defined]
        text = source.read(_SAMPLE_CHARACTERS)  # type: ignore[attr-defined]
        source.seek(position)  # type: ignore[attr-defined]
        return text if isinstance(text, str) else None
    return None


def _detect_dialect(sample: str | None, read_options: dict[str, object]) -> None:
    """Fill ``sep`` and ``decimal`` from the file's first characters, each unless the caller gave it (decimal
    commas are detected in a file whose given ``sep`` is not a comma too)."""
    if not sample or "\ufffd" in sample or "\x00" in sample:
        return  # not text: pandas reports what it finds
    lines = sample.splitlines()[:_SAMPLE_LINES]
    if len(sample) >= _SAMPLE_CHARACTERS and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    sep = read_options.get("sep", read_options.get("delimiter"))
    if "sep" not in read_options and "delimiter" not in read_options:
        try:
            sep = csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
        except csv.Error:
            return
        if sep == "," and _semicolons_between_decimal_commas(lines):
            sep = ";"  # the sniffer prefers ',' where both split every line alike (a file without a header)
        if sep == "," or sep not in lines[0]:
            return
        read_options["sep"] = sep
    if "decimal" not in read_options and isinstance(sep, str) and len(sep) == 1 and sep != ",":
        fields = [field for line in lines[1:] for field in line.split(sep)]
        if any(_DECIMAL_COMMA.match(f) for f in fields) and not any(_DECIMAL_POINT.match(f) for f in fields):
            read_options["decimal"] = ","


def _semicolons_between_decimal_commas(lines: list[str]) -> bool:
    """Whether every line holds as many ``;`` and every comma sits between digits, one a field (``20,0125;99,89``)."""
    fields = [line.split(";") for line in lines]
    return (
        len(fields[0]) > 1
        and all(len(row) == len(fields[0]) for row in fields)
        and all(_ONE_DECIMAL_COMMA.match(field) for row in fields for field in row if "," in field)
    )


def _check_field_counts(table: pd.DataFrame, sample: str | None, name: str, read_options: dict[str, object]) -> None:
    """Refuse rows with more fields than the header (pandas would take the first column as an index)."""
    if isinstance(table.index, pd.RangeIndex):
        return
    names = [str(column) for column in table.columns]
    where = "rows have more fields than the header names"
    if sample is not None:
        sep = str(read_options.get("sep") or read_options.get("delimiter") or ",")
        rows = csv.reader(sample.splitlines(), delimiter=sep)
        next(rows, None)  # the header
        for row in rows:
            if len(row) > len(names):
                where = f"line {rows.line_num} has {len(row)} fields"
                break
    raise DataError(
        f"{name}: {where}, but the header names {len(names)} columns ({', '.join(names)}); remove the extra "
        "field(s) (a trailing delimiter?) or name every column in the header."
    )


def _check_header(table: pd.DataFrame, name: str) -> None:
    names = [str(column) for column in table.columns]
    inside = [mark for mark in _DELIMITERS if len(names) == 1 and mark in names[0]]
    if inside:
        raise DataError(
            f"{name}: the header is one column, {names[0]!r}, that contains {inside[0]!r}: is the file "
            f"{inside[0]!r}-separated? Pass sep={inside[0]!r} (on the command line: --sep {inside[0]!r}"
            f"{', and --decimal , for decimal commas' if inside[0] != ',' else ''})."
        )
    if all(_looks_like_value(column) for column in names):
        raise DataError(
            f"{name}: the first line ({','.join(names[:5])}{',...' if len(names) > 5 else ''}) looks like data, "
            "not a header. Add a header line naming the columns, e.g. 'date,value', or read the file without one: "
            "header=False (tsseq: --no-header)."
        )
    if table.empty:
        raise DataError(f"{name}: has a header ({','.join(names)}) but no data rows.")


def _looks_like_value(text: str) -> bool:
    """True for a header cell that is a number or a date, i.e. a data row read as the header."""
    text = text.strip()
    for candidate in (text, re.sub(r"\.\d+$", "", text)):  # pandas renames a repeated "1.5" to "1.5.1"
        try:
            float(candidate)
            return True
        except ValueError:
            pass
    if not text[:1].isdigit():
        return False
    with warnings.catch_warnings():  # pandas warns when it cannot infer a date format
        warnings.simplefilter("ignore")
        return not pd.isna(pd.to_datetime(text, errors="coerce"))


def _require_column(table: pd.DataFrame, column: str, name: str, parameter: str) -> None:
    if column not in table.columns:
        columns = [str(existing) for existing in table.columns]
        raise DataError(
            f"{name}: no column {column!r} (the {parameter!r} parameter).{closest_match(str(column), columns)} "
            f"Columns: {columns}."
        )


def _timestamp_column(table: pd.DataFrame, exclude: str | None) -> object | None:
    """The first column named like a timestamp, else the first whose values parse as dates; None without one."""
    candidates = [column for column in table.columns if column != exclude]
    for column in candidates:
        if str(column).strip().lower() in TIMESTAMP_NAMES:
            return column
    return next((column for column in candidates if _parses_as_dates(table[column])), None)


def _detect_timestamp_column(table: pd.DataFrame, name: str, exclude: str | None) -> object:
    column = _timestamp_column(table, exclude)
    if column is None:
        raise _no_timestamp_column(table, name)
    return column


def _no_timestamp_column(table: pd.DataFrame, name: str) -> DataError:
    return DataError(
        f"{name}: no timestamp column found among {[str(column) for column in table.columns]}; expected a column "
        f"named {', '.join(TIMESTAMP_NAMES)}, or one whose values are dates. Pass timestamp_column= (tsseq: "
        "--timestamp-column NAME)."
    )


def _parses_as_dates(values: pd.Series) -> bool:
    """Whether the column's first non-missing values all parse as dates (numbers never do)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return False  # numbers would parse as offsets from 1970
    sample = values.dropna().head(_DETECTION_ROWS)
    if sample.empty:
        return False
    with warnings.catch_warnings():  # pandas warns when it cannot infer a date format
        warnings.simplefilter("ignore")
        try:
            parsed = _to_datetime(pd.Index(sample), dayfirst=False, utc=True)  # ISO 8601 in mixed precision too
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().all())
