"""Read Parquet files and Arrow datasets of series into validated frames, whole or in batches of series.

The second way in beside :mod:`tsseq.data.csv`, through the same check
(:func:`tsseq.data.checks.check_series`) and the same kind of messages (the file, the
column, the series, the row). A source is a Parquet file or a directory of Parquet files,
hive-partitioned or not (``id=s1/part-0.parquet``: the partition key is a column like the
others; files whose names start with ``.`` or ``_`` are skipped, as Arrow does).

pyarrow does the reading: only the columns a job needs are read, the types are checked from
the schema before any data is read, and :func:`iter_series_batches` reads a bounded number
of whole series at a time (an Arrow filter on a range of series ids, which skips the files
and row groups whose statistics lie outside it), so that a job's memory does not grow with
the number of series.

Types: series ids are strings or integers; timestamps an Arrow timestamp or date column (or
text that parses as dates, as in a CSV); values any numeric or boolean column (read as
float64). Anything else is refused by name before the data is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from tsseq.data.checks import check_series, series_frequency
from tsseq.data.csv import TIMESTAMP_NAMES, check_exists
from tsseq.errors import ConfigError, DataError, check_positive_int, closest_match

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_DETECTION_ROWS = 100  # rows of a text column tried when looking for the timestamp column
_MERGE_FACTOR = 2  # series ids seen are deduplicated when the pending ones outnumber the known ones this much


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names Parquet input: a ``.parquet`` (``.pq``, ``.parq``) file or a directory of them."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def read_parquet(
    source: str | os.PathLike[str],
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
    covariates: Sequence[str] = (),
    freq_per_series: bool = False,
) -> pd.DataFrame:
    """Read a Parquet file or dataset directory into a validated frame, as :func:`tsseq.data.csv.read_csv` would.

    Parameters
    ----------
    source : path
        A Parquet file, or a directory of Parquet files (hive partitions included).
    timestamp_column : str, optional
        When not given: the first column named like a timestamp (date, time, timestamp,
        datetime, date_time, ds; any case), else the first timestamp or date column, else
        the first text column whose first 100 values parse as dates.
    value_columns, series_column, freq, missing, sort, reindex, min_rows, irregular, timestamp_unit, covariates,
    freq_per_series
        As in :func:`tsseq.data.csv.read_csv`.

    Returns
    -------
    DataFrame
        Wide: ``(T, C)`` float64 with a DatetimeIndex (``freq`` set). Long:
        ``(sum T_i, C)`` float64 indexed by ``(series id, timestamp)``, sorted.

    Raises
    ------
    DataFileNotFoundError
        When the path does not exist.
    DataError
        A file that is not Parquet, an unknown column, a column of the wrong type, and
        everything :func:`check_series` rejects, naming the file, column and row (rows
        counted from 1 in each file).
    """
    dataset = ParquetSource(source, timestamp_column, value_columns, series_column)
    table = dataset.read()
    return check_series(
        dataset.frame(table),
        source=dataset.name,
        freq=freq,
        missing=missing,
        sort=sort,
        reindex=reindex,
        min_rows=min_rows,
        irregular=irregular,
        columns=dataset.value_columns,
        row_label=dataset.file_row,
        timestamp_unit=timestamp_unit,
        covariates=covariates,
        freq_per_series=freq_per_series,
    )


def iter_series_batches(
    source: str | os.PathLike[str],
    *,
    series_column: str,
    batch_series: int,
    timestamp_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    freq: str | None = None,
    missing: str = "error",
    sort: bool = False,
    reindex: bool = False,
    min_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Validated long frames of at most ``batch_series`` whole series each, in sorted series order.

    Together they equal :func:`read_parquet`'s frame, cut between series (the frequency
    found in the first batch is required of the others, as one frame requires one). Two
    passes: the series ids (the id column alone), then per batch the rows of a range of ids.
    A file sorted by series (as ``tsseq convert`` writes it) or partitioned by series is
    read about once; rows of a series scattered through a large unsorted file are found,
    but each batch then reads every row group. Messages name a row by its series and
    timestamp.
    """
    batch_series = check_positive_int(batch_series, "batch_series")
    dataset = ParquetSource(source, timestamp_column, value_columns, series_column)
    options = dict(missing=missing, sort=sort, reindex=reindex, min_rows=min_rows)
    for first, last in series_ranges(dataset, batch_series):
        batch = read_series_range(dataset, first, last, freq=freq, **options)
        freq = freq or series_frequency(batch)
        yield batch


def series_ranges(dataset: "ParquetSource", batch_series: int) -> list[tuple[object, object]]:
    """The (first id, last id) of each batch of ``batch_series`` series, in sorted order (one pass over the ids)."""
    ids = dataset.series_ids()
    return [
        (ids[start].as_py(), ids[min(start + batch_series, len(ids)) - 1].as_py())
        for start in range(0, len(ids), batch_series)
    ]


def read_series_range(
    dataset: "ParquetSource",
    first: object,
    last: object,
    *,
    freq: str | None = None,
    missing: str = "error",
    sort: bool = False,
    reindex: bool = False,
    min_rows: int | None = None,
    freq_per_series: bool = False,
) -> pd.DataFrame:
    """The validated long frame of the series whose ids lie in ``[first, last]`` (a batch of :func:`series_ranges`);
    ``freq_per_series`` as in :func:`tsseq.data.checks.check_series`."""
    import pyarrow.dataset as ds

    key = ds.field(dataset.series_column)
    frame = dataset.frame(dataset.read(filter=(key >= first) & (key <= last)))
    raw = frame.index.get_level_values(1)
    return check_series(
        frame,
        source=dataset.name,
        freq=freq,
        missing=missing,
        sort=sort,
        reindex=reindex,
        min_rows=min_rows,
        columns=dataset.value_columns,
        row_label=lambda position: _stamped_row(raw[position]),
        freq_per_series=freq_per_series,
    )


def _stamped_row(timestamp: object) -> str:
    return "the row without a timestamp" if pd.isna(timestamp) else f"the row stamped {timestamp}"


class ParquetSource:
    """A Parquet file or dataset directory, its columns resolved and type-checked against the schema."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        timestamp_column: str | None,
        value_columns: Sequence[str] | None,
        series_column: str | None,
    ) -> None:
        import pyarrow.dataset as ds

        self.name = os.fspath(source)
        self.path = Path(source)
        self.files = _parquet_files(self.path, self.name)
        options = {"partitioning": ds.HivePartitioning.discover(infer_dictionary=False)} if self.path.is_dir() else {}
        if self.path.is_dir():
            options["partition_base_dir"] = str(self.path)
        try:
            self.dataset = ds.dataset([str(file) for file in self.files], format="parquet", **options)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise _not_parquet(error, self.name) from None
        schema = self.dataset.schema
        self.columns = list(schema.names)
        self.series_column = series_column
        if series_column is not None:
            self._require(series_column, "series_column")
            _check_type(schema.field(series_column).type, series_column, self.name, _is_id_type, "strings or integers (series ids)")
        if timestamp_column is None:
            timestamp_column = self._detect_timestamp_column()
        else:
            self._require(timestamp_column, "timestamp_column")
        if timestamp_column == series_column:
            raise ConfigError(f"timestamp_column and series_column must differ. Got {series_column!r} for both.")
        self.timestamp_column = timestamp_column
        _check_type(
            schema.field(timestamp_column).type, timestamp_column, self.name, _is_time_type,
            "timestamps (an Arrow timestamp or date, or text that parses as dates)",
        )
        keys = {timestamp_column, series_column}
        if value_columns is None:
            value_columns = [column for column in self.columns if column not in keys]
        else:
            value_columns = [value_columns] if isinstance(value_columns, str) else list(value_columns)
            for column in value_columns:
                self._require(column, "value_columns")
        if not value_columns:
            raise DataError(f"{self.name}: has no value columns besides {sorted(map(str, keys - {None}))}.")
        for column in value_columns:
            text = series_column is None and _is_text(schema.field(column).type)
            hint = (" If it says which series a row belongs to, pass it as series_column (--series-column); if it is not "
                    "a channel, name the channels (value_columns, --columns A,B)") if text else ""  # as read_csv says
            _check_type(schema.field(column).type, column, self.name, _is_value_type,
                        f"numbers (int, float, decimal or bool).{hint}")  # fmt: skip
        self.value_columns = value_columns
        self._file_starts: list[int] | None = None

    @property
    def keys(self) -> list[str]:
        return [self.timestamp_column] if self.series_column is None else [self.series_column, self.timestamp_column]

    def read(self, filter=None):
        """The rows (of ``filter``), only the key and value columns, values cast to float64."""
        import pyarrow as pa

        try:
            table = self.dataset.to_table(columns=[*self.keys, *self.value_columns], filter=filter)
        except (OSError, ValueError) as error:
            raise _not_parquet(error, self.name) from None
        for column in self.value_columns:
            position = table.schema.get_field_index(column)
            table = table.set_column(position, column, table.column(column).cast(pa.float64()))
        if self.series_column is not None and pa.types.is_integer(table.schema.field(self.series_column).type):
            # Hive partition keys are discovered as int32; a CSV's integer ids are int64.
            position = table.schema.get_field_index(self.series_column)
            table = table.set_column(position, self.series_column, table.column(self.series_column).cast(pa.int64()))
        return table

    def frame(self, table) -> pd.DataFrame:
        """The table as a frame indexed by the key columns, for :func:`check_series`."""
        # The pandas metadata would make a frame's saved index (df.set_index('timestamp').to_parquet()) an index
        # again; tsseq reads its columns by name, the index's among them.
        frame = table.to_pandas(date_as_object=False, ignore_metadata=True)
        if self.series_column is not None and isinstance(frame[self.series_column].dtype, pd.CategoricalDtype):
            frame[self.series_column] = frame[self.series_column].astype(frame[self.series_column].cat.categories.dtype)
        return frame.set_index(self.keys)

    def series_ids(self):
        """The distinct series ids, sorted, as an Arrow array (missing ids refused, naming a file)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        id_type = _plain(self.dataset.schema.field(self.series_column).type)  # categorical ids: their values
        known, pending, pending_size = pa.array([], id_type), [], 0
        scanner = self.dataset.scanner(columns=[self.series_column], batch_readahead=2, fragment_readahead=1)
        try:
            for batch in scanner.to_batches():
                ids = batch.column(0).cast(id_type)
                if ids.null_count:
                    raise DataError(
                        f"{self.name}: column {self.series_column!r} has {ids.null_count} missing series id(s); "
                        "every row needs one."
                    )
                pending.append(pc.unique(ids))
                pending_size += len(pending[-1])
                if pending_size > _MERGE_FACTOR * max(len(known), 1024):  # amortised: each id is merged O(log) times
                    known, pending, pending_size = pc.unique(pa.concat_arrays([known, *pending])), [], 0
        except (OSError, ValueError) as error:
            if isinstance(error, DataError):
                raise
            raise _not_parquet(error, self.name) from None
        known = pc.unique(pa.concat_arrays([known, *pending]))
        if not len(known):
            raise DataError(f"{self.name}: has no rows.")
        return known.take(pc.sort_indices(known))

    def file_row(self, position: int) -> str:
        """A row's 0-based position in the whole read -> ``row N`` (of its file, within a dataset)."""
        if len(self.files) == 1:
            return f"row {position + 1}"
        if self._file_starts is None:
            starts, total = [], 0
            for fragment in self.dataset.get_fragments():
                starts.append(total)
                total += fragment.count_rows()
            self._file_starts = starts
        index = max(i for i, start in enumerate(self._file_starts) if start <= position)
        return f"row {position - self._file_starts[index] + 1} of {self.files[index].relative_to(self.path)}"

    def _require(self, column: str, parameter: str) -> None:
        if column not in self.columns:
            raise DataError(
                f"{self.name}: no column {column!r} (the {parameter!r} parameter).{closest_match(str(column), self.columns)} "
                f"Columns: {self.columns}."
            )

    def _detect_timestamp_column(self) -> str:
        import pyarrow as pa

        from tsseq.data.csv import _parses_as_dates

        schema = self.dataset.schema
        candidates = [column for column in self.columns if column != self.series_column]
        for column in candidates:
            if column.strip().lower() in TIMESTAMP_NAMES:
                return column
        for column in candidates:
            if pa.types.is_timestamp(schema.field(column).type) or pa.types.is_date(schema.field(column).type):
                return column
        texts = [column for column in candidates if _is_text(schema.field(column).type)]
        if texts:
            head = self.dataset.head(_DETECTION_ROWS, columns=texts).to_pandas()
            for column in texts:
                if _parses_as_dates(head[column]):
                    return column
        raise DataError(
            f"{self.name}: no timestamp column found among {self.columns}; expected a column named "
            f"{', '.join(TIMESTAMP_NAMES)}, a timestamp or date column, or text that parses as dates. "
            "Pass timestamp_column= (tsseq: --timestamp-column NAME)."
        )


def _parquet_files(path: Path, name: str) -> list[Path]:
    """The file itself, or a directory's Parquet files in path order (a series' files stay in time order)."""
    check_exists(path, name)
    if not path.is_dir():
        return [path]
    hidden = lambda part: part.startswith((".", "_"))  # noqa: E731 - Arrow's rule: _SUCCESS, .crc, _metadata
    files = sorted(
        file for file in path.rglob("*") if file.is_file() and not any(hidden(part) for part in file.relative_to(path).parts)
    )
    if not files:
        raise DataError(f"{name}: is a directory without data files; expected Parquet files (a dataset directory).")
    return files


def _not_parquet(error: Exception, name: str) -> DataError:
    """pyarrow's message (it names the file at fault) as a DataError naming the source."""
    message = " ".join(str(error).split())
    if "magic bytes" in message or "Parquet file size is 0" in message or "not a parquet file" in message.lower():
        return DataError(f"{name}: is not a Parquet file, or is damaged ({message}). Convert a CSV with `tsseq convert`.")
    return DataError(f"{name}: could not be read as Parquet: {message}")


def _check_type(arrow_type, column: str, name: str, allowed, expected: str) -> None:
    if not allowed(arrow_type):
        raise DataError(f"{name}: column {column!r} holds {arrow_type} values; expected {expected.rstrip('.')}.")


def _plain(arrow_type):
    import pyarrow as pa

    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _is_text(arrow_type) -> bool:
    import pyarrow as pa

    arrow_type = _plain(arrow_type)
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _is_id_type(arrow_type) -> bool:
    import pyarrow as pa

    return _is_text(arrow_type) or pa.types.is_integer(_plain(arrow_type))


def _is_time_type(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type) or _is_text(arrow_type)


def _is_value_type(arrow_type) -> bool:
    import pyarrow as pa

    return any(
        check(arrow_type)
        for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_boolean, pa.types.is_null)
    )
