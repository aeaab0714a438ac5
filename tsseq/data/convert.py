"""CSV to Parquet, in chunks of rows, so that a CSV larger than memory converts.

:func:`csv_to_parquet` reads the CSV with pandas in chunks (the dialect detected as
:func:`tsseq.data.csv.read_csv` detects it), types each chunk as the first one says and
appends it to one Parquet file (a row group per chunk), or, partitioned by series, to a
hive-partitioned directory (``id=s1/part-000000.parquet``: one file per series and chunk,
numbered so that a series' files stay in row order). :func:`tsseq.data.parquet.read_parquet`
of the result equals ``read_csv`` of the CSV.

Typing, chunk by chunk, so that every chunk has the first one's schema: the timestamp
column is parsed with the format of its first value (what pandas infers for a whole
column; timestamps all ISO 8601 in any precision, ``08:00:01.466`` then ``08:00:06``; dates
written ``nn/nn/yyyy`` day first or month first as ``read_csv`` reads them,
:func:`_reads_day_first`; UTC offsets that change written in UTC, :func:`_find_offset_change`),
value columns become float64, series ids stay integers when
the first chunk's are (else text). A cell that breaks the type is a DataError naming the
file, the column and the CSV line. The rest of the checks (duplicates, spacing, missing
values) need whole series and are :func:`tsseq.data.checks.check_series`'s, when the Parquet is read.

The output is written under a temporary name beside the destination and renamed into
place at the end: a failed conversion leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsseq.errors import ConfigError, DataError, OutputError

DEFAULT_CHUNK_ROWS = 1_000_000
_HEAD_ROWS = 1000  # read first: the header, the timestamp column, the types of the first rows


@dataclass(frozen=True)
class Conversion:
    """What a conversion wrote."""

    path: Path
    rows: int
    chunks: int
    columns: tuple[str, ...]


def csv_to_parquet(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    series_column: str | None = None,
    timestamp_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    partition_by_series: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    **read_options: object,
) -> Conversion:
    """Convert the CSV ``source`` to Parquet at ``destination`` (a file, or a directory when partitioned).

    ``read_options`` go to ``pandas.read_csv`` (``sep``, ``decimal``, ``encoding``, ...);
    the delimiter and decimal mark are detected when not given, as ``read_csv`` does.
    """
    from tsseq.data.csv import _check_header, _detect_timestamp_column, _read_table, prepare_text

    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigError(f"The 'chunk_rows' parameter must be an int >= 1. Got {chunk_rows!r} instead.")
    if partition_by_series and series_column is None:
        raise ConfigError("Partitioning by series needs the series column (--series-column).")
    name, destination = os.fspath(source), Path(destination)
    prepare_text(source, name, read_options)
    head = _read_table(source, name, {**read_options, "nrows": _HEAD_ROWS})
    _check_header(head, name)
    for column, parameter in ((series_column, "series_column"), (timestamp_column, "timestamp_column")):
        if column is not None and column not in head.columns:
            _missing_column(head, column, parameter, name)
    if timestamp_column is None:
        timestamp_column = str(_detect_timestamp_column(head, name, exclude=series_column))
    keys = [column for column in (series_column, timestamp_column) if column is not None]
    values = [column for column in head.columns if column not in keys] if value_columns is None else list(value_columns)
    for column in values:
        if column not in head.columns:
            _missing_column(head, column, "value_columns", name)
    stamps = _TimestampColumn(source, name, timestamp_column, head, chunk_rows, read_options)
    day_first, change = _reads_day_first(stamps), _find_offset_change(stamps)
    typing = _ChunkTyping(name, series_column, timestamp_column, values, head, day_first, utc=change is not None)
    dtypes = {timestamp_column: str, **({} if typing.integer_ids else {series_column: str} if series_column else {})}
    with _staged(destination, directory=partition_by_series) as staging:
        writer = _DirectoryWriter(staging, series_column) if partition_by_series else _FileWriter(staging)
        rows = chunks = 0
        try:
            with _csv_errors(source, name, read_options):
                reader = pd.read_csv(source, usecols=keys + values, dtype=dtypes, chunksize=chunk_rows, **read_options)
                for chunk in reader:
                    writer.write(typing.table(chunk, first_line=rows + 2))
                    rows, chunks = rows + len(chunk), chunks + 1
        finally:
            writer.close()
        if rows == 0:
            raise DataError(f"{name}: has a header but no data rows.")
        if change is not None:  # once every row is typed: a row without an offset is the first thing to say
            from tsseq.data.checks import _offsets_change

            _offsets_change(name, *change)
    return Conversion(destination, rows, chunks, tuple(keys + values))


@contextmanager
def _csv_errors(source: str | os.PathLike[str], name: str, read_options: dict[str, object]) -> Iterator[None]:
    """pandas' errors past the first rows, as DataErrors naming the file."""
    from tsseq.data.csv import undecodable_text

    try:
        yield
    except pd.errors.ParserError as error:
        raise DataError(f"{name}: is not a well-formed CSV file: {' '.join(str(error).split())}") from None
    except UnicodeDecodeError as error:
        raise undecodable_text(source, name, read_options.get("encoding"), error) from None


def _reads_day_first(column: _TimestampColumn) -> bool:
    """Whether the timestamps are dates written ``nn/nn/yyyy`` day first, decided as ``read_csv`` decides.

    The decision, and its warning where both readings parse every date but differ, are
    :func:`tsseq.data.checks._day_or_month_first`'s, given the first timestamp of each date
    written: the two readings differ in the date only, so the dates decide, and there are
    few of them however many rows the file has. They come from the first rows when these
    settle it (a date that reads one way only), else from the timestamp column of the whole
    file, read once more in chunks (a file larger than memory still converts).
    """
    from tsseq.data.checks import _DAY_MONTH, _day_or_month_first, _to_datetime
    from tsseq.data.csv import _csv_line
    from tsseq.data.timegrid import Where

    first = column.first_text()
    if first is None or not _DAY_MONTH.match(first):
        return False  # ISO dates (and every other format) have one reading
    dates = _FirstOfEachDate()
    dates.add(column.head[column.name])
    if not dates.settled():  # the rows after the first may settle it
        dates = _FirstOfEachDate()
        for text in column.chunks():
            dates.add(text)
    stamps = pd.Index(dates.stamps)
    month_first = _to_datetime(stamps, dayfirst=False)
    where = Where(column.file, lambda position: _csv_line(dates.rows[position]), None)
    return not _day_or_month_first(stamps, month_first, where).equals(month_first)


def _find_offset_change(column: _TimestampColumn) -> tuple[list[str], str, str, bool] | None:
    """Where the timestamps' UTC offsets change (a daylight-saving change), so that they are written in UTC,
    each read with its own offset, as ``read_csv`` reads them: the arguments of
    :func:`tsseq.data.checks._offsets_change` (its warning, or its error where every row has one local time of
    day: daily data stamped at local midnight); else None.

    It must be known before the first chunk is written (the Parquet keeps the first chunk's time zone), so where
    the first timestamp has an offset and the file has more than its first rows, the timestamp column of the
    whole file is read once more, in chunks.
    """
    from tsseq.data.checks import _times_of_day, _utc_offsets
    from tsseq.data.csv import _csv_line

    written = column.first_text()
    first = None if written is None else _utc_offsets(pd.Series([written])).iloc[0]
    if pd.isna(first):
        return None  # no offset (a row with one among rows without is named as the chunks are typed)
    seen, change, times = {}, None, set()
    for chunk in column.chunks():  # indexed by data row
        text = chunk.dropna().astype(str)
        offsets = _utc_offsets(text).dropna()  # a row without one is named as the chunks are typed
        seen.update(dict.fromkeys(offsets.unique()))
        differs = (offsets != first).to_numpy()
        if change is None and differs.any():
            row = offsets.index[differs.argmax()]
            change = (_csv_line(int(row)), text[row])
        if len(times) < 2:
            times.update(_times_of_day(text).unique()[:2])
    return None if change is None else (list(seen), *change, len(times) == 1)


@dataclass(frozen=True, eq=False)
class _TimestampColumn:
    """The timestamp column ``name`` of the CSV ``source`` (``file`` in messages): its first rows, read, and the way
    to read the whole of it."""

    source: str | os.PathLike[str]
    file: str
    name: str
    head: pd.DataFrame
    chunk_rows: int
    read_options: dict[str, object]

    def first_text(self) -> str | None:
        """The first value written, when it is text (a timestamp to read); else None."""
        written = self.head[self.name].dropna()
        return written.iloc[0] if len(written) and isinstance(written.iloc[0], str) else None

    def chunks(self) -> Iterator[pd.Series]:
        """The whole column, as text in chunks indexed by data row: the first rows when they are all of it, else
        the file's column read once more, chunk by chunk (a file larger than memory still converts)."""
        if len(self.head) < _HEAD_ROWS:
            yield self.head[self.name]
            return
        options = self.read_options
        with _csv_errors(self.source, self.file, options):
            for chunk in pd.read_csv(self.source, usecols=[self.name], dtype={self.name: str}, chunksize=self.chunk_rows,
                                     **options):  # fmt: skip
                yield chunk[self.name]


class _FirstOfEachDate:
    """The first timestamp of each date written (``05/01/2024`` of ``05/01/2024 13:00``) and its data row."""

    def __init__(self) -> None:
        self.stamps: list[str] = []
        self.rows: list[int] = []
        self._dates: set[str] = set()

    def add(self, stamps: pd.Series) -> None:
        """The timestamps of consecutive rows, indexed by data row (as pandas' chunks are)."""
        from tsseq.data.checks import _DAY_MONTH

        text = stamps.dropna().astype(str)
        dates = text.str.extract(f"({_DAY_MONTH.pattern})", expand=False).fillna(text)  # not a date: its own
        new = ~dates.duplicated() & ~dates.isin(self._dates)
        self.stamps.extend(text[new])
        self.rows.extend(int(row) for row in text.index[new])
        self._dates.update(dates[new])

    def settled(self) -> bool:
        """Whether a date reads one way only (no more rows can make both readings parse every date)."""
        from tsseq.data.checks import _to_datetime

        month_first = _to_datetime(pd.Index(self.stamps), dayfirst=False)
        return bool(month_first.isna().any() or (month_first.day > 12).any())


def _missing_column(head: pd.DataFrame, column: str, parameter: str, name: str) -> None:
    from tsseq.errors import closest_match

    columns = [str(existing) for existing in head.columns]
    raise DataError(f"{name}: no column {column!r} (the {parameter!r} parameter).{closest_match(column, columns)} Columns: {columns}.")


class _ChunkTyping:
    """Types every chunk as the first one's values say, naming the first cell that does not fit."""

    def __init__(
        self,
        name: str,
        series_column: str | None,
        timestamp_column: str,
        values: list[str],
        head: pd.DataFrame,
        day_first: bool,
        utc: bool,
    ) -> None:
        self.name, self.series_column, self.timestamp_column, self.values = name, series_column, timestamp_column, values
        self.integer_ids = series_column is not None and pd.api.types.is_integer_dtype(head[series_column].dtype)
        self.utc = utc  # UTC offsets that change: every timestamp in UTC (_offsets_change)
        first = head[timestamp_column].dropna()
        self.first = first.iloc[:1].astype(str)  # by data row: the other rows' time zones are compared with it
        with warnings.catch_warnings():  # pandas warns when it cannot guess
            warnings.simplefilter("ignore")
            guess = pd.tseries.api.guess_datetime_format
            self.format = guess(str(first.iloc[0]), dayfirst=day_first) if len(first) else None
        self.schema = None

    def table(self, chunk: pd.DataFrame, first_line: int):
        import pyarrow as pa

        typed = {}
        if self.series_column is not None:
            typed[self.series_column] = self._ids(chunk[self.series_column], first_line)
        typed[self.timestamp_column] = self._timestamps(chunk[self.timestamp_column], first_line)
        for column in self.values:
            typed[column] = self._numbers(chunk[column], column, first_line)
        frame = pd.DataFrame(typed)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:  # e.g. another time zone than the first chunk's
            raise DataError(
                f"{self.name}: the rows from line {first_line} on do not have the types of the first rows "
                f"({' '.join(str(error).split())}); column {self.timestamp_column!r} must keep one time zone."
            ) from None
        if self.schema is None:
            self.schema = table.schema.remove_metadata()
            table = table.replace_schema_metadata(None)
        return table

    def _ids(self, ids: pd.Series, first_line: int) -> pd.Series:
        absent = ids.isna().to_numpy()
        if absent.any():
            raise DataError(f"{self.name}: missing series id in column {self.series_column!r} at line {first_line + int(absent.argmax())}.")
        if not self.integer_ids:
            return ids.astype(str)
        numbers = pd.to_numeric(ids, errors="coerce")
        bad = (numbers.isna() | (numbers != numbers.round())).to_numpy()
        if bad.any():
            position = int(bad.argmax())
            raise DataError(
                f"{self.name}: column {self.series_column!r} holds integer series ids in its first rows but "
                f"{ids.iloc[position]!r} at line {first_line + position}; give every id as a number, or make the "
                "first ones text (e.g. a letter prefix)."
            )
        return numbers.astype("int64")

    def _timestamps(self, text: pd.Series, first_line: int) -> pd.Series:
        from tsseq.data.checks import _iso8601

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(text, format=self.format, errors="coerce", utc=self.utc)
            except (ValueError, TypeError):  # mixed time zones
                raise self._mixed_time_zones(text) from None
        parsed = _iso8601(text, parsed, self.utc)  # ISO 8601 in mixed precision, as read_csv reads it
        bad = (parsed.isna() & text.notna()).to_numpy()
        if bad.any():
            position = int(bad.argmax())
            if self._in_another_time_zone(text.iloc[position]):  # a UTC offset where the first has none, or none
                raise self._mixed_time_zones(text)
            raise DataError(
                f"{self.name}: unparsable timestamp {text.iloc[position]!r} in column {self.timestamp_column!r} at line "
                f"{first_line + position}; expected the format of the first timestamp ({self.format or 'not recognised'})."
            )
        return parsed

    def _in_another_time_zone(self, stamp: str) -> bool:
        from tsseq.data.checks import _to_datetime, _utc_offsets

        alone = _to_datetime(pd.Index([stamp]), dayfirst=False)[0]
        has_offset = _utc_offsets(pd.concat([self.first, pd.Series([stamp])])).notna().to_numpy()
        return not pd.isna(alone) and has_offset[0] != has_offset[1]

    def _mixed_time_zones(self, text: pd.Series) -> DataError:
        """:func:`tsseq.data.checks._mixed_time_zones`' message, naming the file's first timestamp and the first
        row of the chunk whose time zone differs from it, by CSV line (the chunk is indexed by data row)."""
        from tsseq.data.checks import _mixed_time_zones
        from tsseq.data.csv import _csv_line
        from tsseq.data.timegrid import Where

        stamps = pd.concat([self.first, text.dropna().astype(str)])
        rows = stamps.index
        return _mixed_time_zones(pd.Index(stamps.to_numpy()), Where(self.name, lambda p: _csv_line(int(rows[p])), None))

    def _numbers(self, values: pd.Series, column: str, first_line: int) -> pd.Series:
        from tsseq.data.checks import _decimal_comma_hint

        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            return values.astype("float64")
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()).to_numpy()
        if bad.any():
            position = int(bad.argmax())
            raise DataError(
                f"{self.name}: column {column!r} has a non-numeric value {values.iloc[position]!r} at line "
                f"{first_line + position}; expected a number (leave the cell empty for a missing value)."
                f"{_decimal_comma_hint(values.iloc[position])}"
            )
        return numbers.astype("float64")


class _FileWriter:
    def __init__(self, path: Path) -> None:
        self.path, self.writer = path, None

    def write(self, table) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _DirectoryWriter:
    """Hive partitions by series: each chunk adds ``<series column>=<id>/part-<chunk>.parquet`` per series in it."""

    def __init__(self, path: Path, series_column: str) -> None:
        self.path, self.series_column, self.chunk = path, series_column, 0

    def write(self, table) -> None:
        import pyarrow.dataset as ds

        ds.write_dataset(
            table,
            self.path,
            format="parquet",
            partitioning=[self.series_column],
            partitioning_flavor="hive",
            basename_template=f"part-{self.chunk:06d}-{{i}}.parquet",  # zero-padded: path order is row order
            existing_data_behavior="overwrite_or_ignore",
            max_partitions=1 << 30,
            max_open_files=1024,
        )
        self.chunk += 1

    def close(self) -> None:
        pass


class _staged:
    """A temporary file or directory beside ``destination``, renamed over it on success, removed otherwise."""

    def __init__(self, destination: Path, *, directory: bool) -> None:
        self.destination, self.directory = destination, directory

    def __enter__(self) -> Path:
        from tsseq.io import _temporary_beside, _umask, check_destination

        if self.directory:
            if self.destination.is_file():
                raise OutputError(f"The Parquet dataset directory {str(self.destination)!r} is a file; give a directory path.")
            if self.destination.is_dir() and any(self.destination.iterdir()):
                # Never merged into nor deleted: an old dataset's files would mix with the new ones.
                raise OutputError(
                    f"The Parquet dataset directory {str(self.destination)!r} already holds files; remove it or give "
                    "another path."
                )
        else:
            check_destination(self.destination, "Parquet file")
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{self.destination.name}."
        if self.directory:
            self.staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=self.destination.parent))
            os.chmod(self.staging, 0o777 & ~_umask())  # mkdtemp's 0o700 would stay on the renamed dataset
        else:
            self.staging = _temporary_beside(self.destination)  # with the mode the destination will have
        return self.staging

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            if self.directory and self.destination.exists():
                self.destination.rmdir()  # empty (checked on entry); os.replace cannot rename over a directory
            os.replace(self.staging, self.destination)
        elif self.staging.is_dir():
            shutil.rmtree(self.staging, ignore_errors=True)
        elif self.staging.exists():
            self.staging.unlink()
