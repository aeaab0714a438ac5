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
``contribution_<channel>`` columns, with ``filled`` after the values whenever ``missing`` fills
(``interpolate``, ``ffill``): True where it filled a value (:data:`tsseq.anomaly.job.FILLED_COLUMN`;
always there, not only when a series was filled, because the first batch written fixes the columns
of all); a Parquet file for a ``.parquet`` name, else a CSV;
written atomically (:func:`tsseq.io.outputs`). Each series is on its own grid, of its own
frequency (irregular timestamps and ``resample`` are for one series). Plots and events are for
one series too.

A series with fewer rows than the job needs (:class:`tsseq.anomaly.job.ShortSeriesError`) is
written unscored, as the training rows are (no score, ``is_anomaly`` False), and named in one
warning; a job none of whose series can be scored fails. The notes of the series' detectors
(:attr:`ManyDetection.notes`) say once what many series share, numbers aside (:func:`summarised`).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from tsseq.errors import listed

DEFAULT_BATCH_SERIES = 1_000
# A note that more series than this share, numbers aside, is one line naming them (summarised); fewer, each as it is.
EACH_NOTE_UP_TO = 3
_SHOWN = 5  # the series a summarised note or the warning of skipped series names before "..."
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


@dataclass(frozen=True)
class ManyDetection:
    """What a many-series detection wrote."""

    path: Path
    series: int
    rows: int
    flagged: int
    batches: int
    notes: tuple[str, ...] = ()  # the detectors' notes, as summarised() says them
    skipped: tuple = ()  # the ids of the series too short to score, written unscored
    filled: int | None = None  # the rows whose values the missing policy filled (None: it fills none, no column)


@dataclass(frozen=True)
class SeriesNote:
    """A note of one series' detection (:attr:`tsseq.anomaly.job.DetectionResult.notes`)."""

    series: object
    text: str


@dataclass(frozen=True)
class ShortSeries:
    """A series with fewer rows than the ``needed`` the job needs, for the reason ``why``
    (:class:`~tsseq.anomaly.job.ShortSeriesError`)."""

    series: object
    rows: int
    needed: int
    why: str


def detect_many(config, output: str | Path, *, base_dir: Path = Path("."), batch_series: int | None = None,
                engine=None, client=None) -> ManyDetection:  # fmt: skip
    """Score every series of ``config.data`` (it has a series column) and write ``output`` atomically.

    A series too short for the job is written unscored and named in a UserWarning; none long enough: a DataError.
    ``engine``: a :class:`tsseq.dask_jobs.Engine` to run the batches on Dask (None: in this
    process); ``client``: an open ``distributed.Client`` to use instead of opening one.
    """
    from tsseq import io
    from tsseq.anomaly.job import FILLED_COLUMN, FILLING, RESULT_COLUMNS, check_detector, kept_missing
    from tsseq.data.parquet import is_parquet
    from tsseq.errors import ConfigError, DataError, check_positive_int
    from tsseq.pipeline import data_path, read_frame
    from tsseq.streaming_jobs import is_parquet_output, output_kind, write_counted

    check_detector(config)
    if config.resample is not None or config.timestamps == "rows":
        raise ConfigError(
            "resample and timestamps: rows are for one series; many series (a series column) are scored on their grid."
        )
    batch_series = check_positive_int(batch_series or DEFAULT_BATCH_SERIES, "batch_series")
    data = config.data
    written = ("timestamp", *RESULT_COLUMNS, *((FILLED_COLUMN,) if data.missing in FILLING else ()))
    if data.series_column in written:  # the output would hold two columns of that name
        raise DataError(
            f"{data.csv or data.dataset}: series column {data.series_column!r} clashes with the output's column of "
            f"that name; rename it in the file ({', '.join(map(repr, written))} are written)."
        )
    parquet_input = data.csv is not None and is_parquet(data_path(data, base_dir))
    if engine is not None and not parquet_input:
        raise ConfigError(
            "--engine dask reads Parquet input, each worker its own series; convert the CSV first (`tsseq convert "
            "data.csv --output data.parquet --series-column ID`), or drop --engine dask."
        )
    kind = output_kind(output, "scores")
    source = str(data_path(data, base_dir)) if data.csv is not None else str(data.dataset)
    summary: dict = {}
    with io.outputs() as out:
        out.reads(data.files(base_dir))
        out.check(output, kind)
        if parquet_input:
            from tsseq.data.parquet import series_ranges
            from tsseq.streaming_jobs import open_series

            partitions = series_ranges(open_series(data, base_dir), batch_series)
        else:
            frame = read_frame(data, base_dir, data.target_columns, missing=kept_missing(data.missing),
                               freq_per_series=True)[0]  # fmt: skip
            ids = frame.index.get_level_values(0).unique()
            partitions = [frame.loc[ids[start : start + batch_series]] for start in range(0, len(ids), batch_series)]
        filled = 0  # the rows the policy filled, counted as they are written

        def counted(results):
            nonlocal filled
            for table, *rest in results:
                filled += int(table[FILLED_COLUMN].sum()) if FILLED_COLUMN in table else 0
                yield table, *rest

        with _runner(engine, client) as run:
            results = run(partitions, [config, base_dir])
            out.add(output, lambda temporary: summary.update(write_counted(
                temporary, counted(_aligned(results, source)), parquet=is_parquet_output(output), index=False,
                flag_column="is_anomaly", source=source, data=data)), kind)
    notes = summary.pop("notes")
    skipped = [note for note in notes if isinstance(note, ShortSeries)]
    if skipped:
        warnings.warn(
            f"{source}: {len(skipped)} of {summary['series']} series not scored, too short; their rows are written "
            f"without scores: {_too_short(skipped)}.", UserWarning, stacklevel=2,
        )  # fmt: skip
    notes = summarised([note for note in notes if isinstance(note, SeriesNote)])
    return ManyDetection(Path(output), **summary, notes=tuple(notes), skipped=tuple(short.series for short in skipped),
                         filled=filled if data.missing in FILLING else None)  # fmt: skip


def detect_partition(config, base_dir: Path, partition) -> tuple:
    """One batch of series (ids ``(first, last)`` of the Parquet input, or a long frame) -> (table, notes, series,
    None): each series has its own frequency, so none is checked across batches (``write_counted``)."""
    import dataclasses

    import pandas as pd

    from tsseq.anomaly.job import kept_missing
    from tsseq.pipeline import data_path

    data = config.data
    if isinstance(partition, pd.DataFrame):
        history, source = partition, str(data_path(data, base_dir))
    else:
        from tsseq.streaming_jobs import open_series, read_batch

        dataset = open_series(data, base_dir)
        kept = dataclasses.replace(data, missing=kept_missing(data.missing))  # detect_batch fills, marking the rows
        history, source = read_batch(dataset, kept, partition, freq_per_series=True), dataset.name
    table, notes = detect_batch(config, history, source)
    return table, notes, history.index.get_level_values(0).nunique(), None


def detect_batch(config, history, source: str):
    """Score each series of a validated long frame on its own -> (the rows of all of them, their notes: a
    :class:`SeriesNote` each, and a :class:`ShortSeries` for each series written unscored).

    ``history`` is read with its missing values kept (:func:`tsseq.anomaly.job.kept_missing`): they are filled
    here by ``config.data.missing``, and the rows filled marked in the column ``filled``.
    """
    import pandas as pd

    from tsseq.anomaly.job import FILLED_COLUMN, ShortSeriesError, detect_frame, filled_in
    from tsseq.data.checks import series_frequency
    from tsseq.errors import DataError, ForecastError
    from tsseq.relay import FitWarnings

    level = history.index.names[0]
    history, filled = filled_in(history, config.data.missing, source)  # the long frame's, so messages name the series
    if filled is not None:
        filled = pd.Series(filled, index=history.index)
    tables, notes = [], []
    relay = FitWarnings(source)  # a warning of one series' detector (a constant channel) names the series
    try:
        for series_id, rows in history.groupby(level=0, sort=False):
            wide = rows.droplevel(0)
            # each series on its own grid (the reader's); one row has no step
            wide.index = pd.DatetimeIndex(wide.index, freq=series_frequency(wide) if len(wide) > 1 else None)
            where = f"{source}: series {series_id!r}"
            marked = None if filled is None else filled.loc[rows.index].to_numpy()
            try:
                with relay.of(f"series {series_id!r}", alike="series"):
                    result = detect_frame(config, wide, where, marked)
            except ShortSeriesError as error:
                notes.append(ShortSeries(series_id, len(wide), error.needed, error.why))
                table = wide.rename_axis("timestamp").reset_index()  # unscored: detect_many widens it with NaN
                if marked is not None:
                    table[FILLED_COLUMN] = marked
            except (DataError, ForecastError) as error:  # about this series' values (a ConfigError is about the job)
                raise _naming(error, where) from None
            else:
                table = result.table.reset_index()
                notes += [SeriesNote(series_id, note) for note in dict.fromkeys(result.notes)]
            table.insert(0, level, series_id)
            tables.append(table)
    finally:
        relay.issue()
    return _unflagged(pd.concat(tables, ignore_index=True)), notes


def _unflagged(table):
    """The table with ``is_anomaly`` False where it is missing (the rows of series written unscored)."""
    if "is_anomaly" in table:
        table["is_anomaly"] = table["is_anomaly"].eq(True)
    return table


def _aligned(results, source: str):
    """The batches' results, each table with the columns of the scored ones; a batch of unscored series only
    (values, no score) waits for the first scored batch to give them, so that the series keep their order.
    None scored: a DataError naming the series and what they lack."""
    from tsseq.errors import DataError

    waiting, columns = [], None
    for table, notes, series, freq in results:
        if columns is None and "score" not in table:
            waiting.append((table, notes, series, freq))
            continue
        columns = table.columns if columns is None else columns
        for held, *rest in [*waiting, (table, notes, series, freq)]:
            yield (_unflagged(held.reindex(columns=columns)), *rest)
        waiting = []
    if waiting:
        skipped = [note for _, notes, _, _ in waiting for note in notes]
        raise DataError(
            f"{source}: none of its {len(skipped)} series can be scored, all too short: {_too_short(skipped)}."
        )


def _too_short(skipped: list) -> str:
    """The :class:`ShortSeries` named with their rows, by what they lack (``'z' (5 rows), under the 49 rows each
    needs: ...``)."""
    reasons: dict[tuple, list] = {}
    for short in skipped:
        reasons.setdefault((short.needed, short.why), []).append(f"{short.series!r} ({short.rows} rows)")
    return "; ".join(
        f"{listed(names, _SHOWN)}, under the {needed} rows each needs: {why}" for (needed, why), names in reasons.items()
    )


def summarised(notes: list) -> list[str]:
    """The :class:`SeriesNote` s as lines for stderr, each once: a note about one series' own rows or scores
    (``PER_SERIES_NOTES``) names the series; where more than ``EACH_NOTE_UP_TO`` lines say the same but for their
    numbers (a threshold note of each series), one line gives the first series' and names the others."""
    from tsseq.anomaly.job import PER_SERIES_NOTES

    alike: dict[str, list] = {}  # the text without its numbers -> its notes
    for note in notes:
        alike.setdefault(_NUMBERS.sub("#", note.text), []).append(note)
    lines = []
    for group in alike.values():
        each = dict.fromkeys(f"series {note.series!r}: {note.text}" if note.text.startswith(PER_SERIES_NOTES)
                             else note.text for note in group)  # fmt: skip
        if len(each) <= EACH_NOTE_UP_TO:
            lines += each
            continue
        first, *others = dict.fromkeys(note.series for note in group)
        named = listed([repr(series) for series in others], _SHOWN)
        lines.append(f"series {first!r} and {len(others)} more alike ({named}): {group[0].text}")
    return lines


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
