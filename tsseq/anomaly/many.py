"""Anomaly scores of many series: each series scored on its own, batch after batch or as tasks on Dask.

A detection job whose data has a series column (``--series-column``, ``data.series_column``)
scores every series as :func:`tsseq.anomaly.job.detect_frame` scores one: the detector is
built, trained on the first rows of that series (``train_rows`` / ``train_fraction`` of
them) and scores the rest; nothing passes between series, so any detector works and a
batch's scores do not depend on the other batches. Parquet input is read
``batch_series`` series at a time (bounded memory: :func:`tsseq.streaming_jobs.read_batch`);
a CSV is read whole and cut into the same batches. With ``engine: dask`` each batch of a
Parquet input is one task (:func:`tsseq.dask_jobs.map_partitions`), and the output is the
same file, bit for bit.

Output: one row per series and timestamp, the series column first, then ``timestamp``, the
value columns, ``score`` (and ``smoothed_score``, ``threshold``, ``is_anomaly`` with a
threshold) and the detector's
``contribution_<channel>`` columns; a Parquet file for a ``.parquet`` name, else a CSV;
written atomically (:func:`tsseq.io.outputs`). Series are on their grid (irregular
timestamps and ``resample`` are for one series). Plots and events are for one series too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BATCH_SERIES = 1_000


@dataclass(frozen=True)
class ManyDetection:
    """What a many-series detection wrote."""

    path: Path
    series: int
    rows: int
    flagged: int
    batches: int
    notes: tuple[str, ...] = ()  # the detector's notes, each once


def detect_many(config, output: str | Path, *, base_dir: Path = Path("."), batch_series: int | None = None,
                engine=None, client=None) -> ManyDetection:  # fmt: skip
    """Score every series of ``config.data`` (it has a series column) and write ``output`` atomically.

    ``engine``: a :class:`tsseq.dask_jobs.Engine` to run the batches on Dask (None: in this
    process); ``client``: an open ``distributed.Client`` to use instead of opening one.
    """
    from tsseq import io
    from tsseq.anomaly.job import check_detector
    from tsseq.data.parquet import is_parquet
    from tsseq.errors import ConfigError, check_positive_int
    from tsseq.pipeline import data_path
    from tsseq.streaming_jobs import is_parquet_output, output_kind, write_counted

    check_detector(config)
    if config.resample is not None or config.timestamps == "rows":
        raise ConfigError(
            "resample and timestamps: rows are for one series; many series (a series column) are scored on their grid."
        )
    batch_series = check_positive_int(batch_series or DEFAULT_BATCH_SERIES, "batch_series")
    data = config.data
    parquet_input = data.csv is not None and is_parquet(data_path(data, base_dir))
    if engine is not None and not parquet_input:
        raise ConfigError(
            "--engine dask reads Parquet input, each worker its own series; convert the CSV first (`tsseq convert "
            "data.csv --output data.parquet --series-column ID`), or drop --engine dask."
        )
    kind = output_kind(output, "scores")
    summary: dict = {}
    with io.outputs() as out:
        out.reads(data.files(base_dir))
        out.check(output, kind)
        if parquet_input:
            from tsseq.data.parquet import series_ranges
            from tsseq.streaming_jobs import open_series

            source = open_series(data, base_dir)
            partitions = series_ranges(source, batch_series)
        else:
            from tsseq.pipeline import load_frame

            frame = load_frame(data, base_dir)
            ids = frame.index.get_level_values(0).unique()
            partitions = [frame.loc[ids[start : start + batch_series]] for start in range(0, len(ids), batch_series)]
        with _runner(engine, client) as run:
            results = run(partitions, [config, base_dir])
            out.add(output, lambda temporary: summary.update(write_counted(
                temporary, results, parquet=is_parquet_output(output), index=False, flag_column="is_anomaly",
                source=str(data.csv), data=data)), kind)
    return ManyDetection(Path(output), **summary)


def detect_partition(config, base_dir: Path, partition) -> tuple:
    """One batch of series (ids ``(first, last)`` of the Parquet input, or a long frame) -> (table, notes, series, freq)."""
    import pandas as pd

    from tsseq.data.checks import series_frequency
    from tsseq.pipeline import data_path

    data = config.data
    if isinstance(partition, pd.DataFrame):
        history, source = partition, str(data_path(data, base_dir))
    else:
        from tsseq.streaming_jobs import open_series, read_batch

        dataset = open_series(data, base_dir)
        history, source = read_batch(dataset, data, partition), dataset.name
    table, notes = detect_batch(config, history, source)
    return table, notes, history.index.get_level_values(0).nunique(), series_frequency(history)


def detect_batch(config, history, source: str):
    """Score each series of a validated long frame on its own -> (the rows of all of them, the notes, each once)."""
    import pandas as pd

    from tsseq.anomaly.job import PER_SERIES_NOTES, detect_frame
    from tsseq.data.checks import series_frequency
    from tsseq.errors import DataError, ForecastError
    from tsseq.relay import FitWarnings

    level = history.index.names[0]
    freq = series_frequency(history)
    tables, notes = [], []
    relay = FitWarnings(source)  # a warning of one series' detector (a constant channel) names the series
    try:
        for series_id, rows in history.groupby(level=0, sort=False):
            wide = rows.droplevel(0)
            wide.index = pd.DatetimeIndex(wide.index, freq=freq)  # one series on the batch's grid
            where = f"{source}: series {series_id!r}"
            try:
                with relay.of(f"series {series_id!r}", alike="series"):
                    result = detect_frame(config, wide, where)
            except (DataError, ForecastError) as error:  # about this series' values (a ConfigError is about the job)
                raise _naming(error, where) from None
            table = result.table.reset_index()
            table.insert(0, level, series_id)
            tables.append(table)
            # a note about this series' own rows or scores says which series
            named = [f"series {series_id!r}: {note}" if note.startswith(PER_SERIES_NOTES) else note for note in result.notes]
            notes += [note for note in named if note not in notes]
    finally:
        relay.issue()
    return pd.concat(tables, ignore_index=True), notes


def _naming(error: Exception, where: str) -> Exception:
    """The error with ``where`` (the file and series) in front of its message, of the same type when it can be."""
    message = str(error)
    if message.startswith(where):
        return error
    try:
        return type(error)(f"{where}: {message}")
    except TypeError:  # an error class with other arguments: as it is
        return error


@contextlib.contextmanager
def _runner(engine, client):
    """``run(partitions, shared)`` -> the results of :func:`detect_partition` in order: here, or on Dask."""
    if engine is None:
        yield lambda partitions, shared: (detect_partition(*shared, partition) for partition in partitions)
        return
    from tsseq.dask_jobs import map_partitions, open_client

    with open_client(engine, client) as active:
        yield lambda partitions, shared: map_partitions(
            active, detect_partition, partitions, shared=shared, retries=engine.retries, name="tsseq-detect"
        )
