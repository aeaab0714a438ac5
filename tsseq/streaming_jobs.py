"""Many-series forecasts in bounded memory: read a batch of series, fit, forecast, write; repeat.

For Parquet input (:mod:`tsseq.data.parquet`) and the per-series models (AR/ARX, the naive
family, Naive2: each series is fitted on its own rows alone), a job's peak memory then
depends on ``batch_series``, not on the number of series. The forecast equals that of
the same model fitted on every series at once: bit for bit for the naive family, and for
AR when the series have one length of at least ``4 * max_order`` rows (every batch then
runs the same arithmetic: AR's lag cap ``T // 4`` is ``max_order`` for all, and no series
is zero-padded to a longer one); AR on series of different lengths, padded to the longest
of their batch, agrees to about 1e-15 (numpy's pairwise sums group terms by that length).
Global models (the neural networks, ``auto``, ``ensemble``, ``conformal``) learn
from all series together and are refused with the reason; a global model already fitted
and saved (``--model-file``) streams, each series forecast from its own last rows
(:mod:`tsseq.inference`). What a batch goes through, :func:`forecast_batch`, is also what
each task of the Dask engine runs (:mod:`tsseq.dask_jobs`).

Output: a Parquet file (``.parquet``) or a CSV file (any other suffix), one row per series
and forecast step, the columns of the in-memory forecast (series id, timestamp, then each
target column and its quantile columns). Batches are appended to a temporary file beside
the destination, renamed into place when the last batch is written (:func:`tsseq.io.outputs`):
a job that fails or is stopped part-way leaves no output, not a partial one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsseq import io, sanity
from tsseq.config import DataConfig, ModelConfig
from tsseq.errors import ConfigError, DataError

DEFAULT_BATCH_SERIES = 10_000


@dataclass(frozen=True)
class StreamedForecast:
    """What a streamed job wrote."""

    path: Path
    series: int
    rows: int
    batches: int
    warnings: tuple[str, ...] = ()  # implausible forecasts written under allow_implausible


@dataclass(frozen=True)
class BatchForecast:
    """What every batch of series goes through, the same in every process of a job (see :func:`forecast_batch`)."""

    horizon: int
    model: ModelConfig | None = None  # a per-series model fitted on each batch; None: a fitted model forecasts
    quantiles: tuple[float, ...] | None = None
    max_horizon: int | None = None
    allow_implausible: bool = False
    threads: int = 1  # torch threads of a fitted model's inference


def forecast_batch(job: BatchForecast, history: pd.DataFrame, source: str, estimator=None) -> tuple[pd.DataFrame, list[str]]:
    """One batch of series (a validated long frame) -> (its forecast, the warnings of implausible values).

    A per-series model (``job.model``) is fitted on the batch, as
    :func:`tsseq.pipeline.fit_forecast` fits the whole frame; else the fitted ``estimator``
    forecasts each series from its last rows (:func:`tsseq.inference.forecast_series`).
    Either forecast is checked against the batch's own history (:func:`tsseq.sanity.check_forecast`).
    """
    from tsseq import pipeline

    history = sanity.check_magnitude(history, source)
    quantiles = None if job.quantiles is None else list(job.quantiles)
    if estimator is None:
        forecast = pipeline.fit_forecast(job.model, history, job.horizon, quantiles, max_horizon=job.max_horizon)
    else:
        from tsseq.inference import forecast_series

        sanity.check_horizon(job.horizon, history, len(quantiles or ()), job.max_horizon)
        forecast = forecast_series(estimator, history, job.horizon, quantiles, threads=job.threads, source=source)
    return forecast, sanity.check_forecast(forecast, history, allow_implausible=job.allow_implausible)


def is_per_series(model_name: str) -> bool:
    """Whether the registered model fits each series on its own rows alone (so that batches of series are exact)."""
    from tsseq import registry
    from tsseq.baselines import AR, Drift, Mean, Naive, Naive2, SeasonalNaive

    return issubclass(registry.get(model_name), (AR, Naive, Mean, Drift, SeasonalNaive, Naive2))


def streamed_batch_size(
    data: DataConfig,
    model_name: str | None,
    batch_series: int | None,
    *,
    whole_frame_outputs: bool = False,
    required_by: str | None = None,
) -> int | None:
    """The batch size of a forecast job that streams, or None for the in-memory path (refusing what cannot stream).

    A job streams when its data file is Parquet with a series column, its model is per
    series (or ``model_name`` is None: a fitted model forecasting each series) and it takes
    no covariates; ``batch_series`` defaults to 10,000 then. Asked for (``batch_series``
    given, or ``required_by`` naming the option that needs it, e.g. ``"--engine dask"``)
    where it cannot, the reason is a ConfigError. A job with ``whole_frame_outputs`` (a
    plot of every series) runs in memory unless asked to stream.
    """
    from tsseq.data.parquet import is_parquet
    from tsseq.pipeline import data_path

    option = required_by or "--batch-series"
    asked = batch_series is not None or required_by is not None
    if data.csv is None or not is_parquet(data_path(data)):
        if asked:
            raise ConfigError(
                f"{option} reads Parquet input in batches of series; convert the CSV first (`tsseq convert data.csv "
                f"--output data.parquet --series-column ID`), or drop {option} to read it whole."
            )
        return None
    if data.series_column is None:
        if asked:
            raise ConfigError(f"{option} works on many series; name their id column with --series-column.")
        return None
    reasons = []
    if model_name is not None and not is_per_series(model_name):
        reasons.append(
            f"model {model_name!r} is not a per-series model: it learns from all series together, so batches of "
            "series would give another model (streamed: ar, naive, seasonal_naive, drift, mean, naive2; or a "
            "global model fitted and saved, given with --model-file)"
        )
    if data.has_covariates:
        reasons.append("covariates are read whole for now")
    if whole_frame_outputs:
        reasons.append("a plot of every series needs them all in memory")
    if reasons and asked:
        raise ConfigError(f"cannot forecast in batches of series: {'; '.join(reasons)}. Drop {option}.")
    if reasons:
        return None
    return DEFAULT_BATCH_SERIES if batch_series is None else batch_series


def forecast_in_batches(
    data: DataConfig,
    model: ModelConfig | None,
    horizon: int,
    output: str | Path,
    *,
    batch_series: int = DEFAULT_BATCH_SERIES,
    quantiles: list[float] | None = None,
    max_horizon: int | None = None,
    allow_implausible: bool = False,
    base_dir: Path = Path("."),
    estimator=None,
    threads: int = 1,
) -> StreamedForecast:
    """Forecast every series of ``data`` (Parquet, long) in batches, writing ``output`` atomically.

    Each batch goes through :func:`forecast_batch` (fitting ``model``, or forecasting with
    the fitted ``estimator`` on ``threads`` torch threads) and is checked against its own
    history, as the in-memory job does for the whole frame; any error leaves nothing at ``output``.
    """
    job = batch_job(model, horizon, quantiles, max_horizon, allow_implausible, estimator, threads)
    with io.outputs() as out:
        out.reads(data.files(base_dir))
        out.check(output, output_kind(output))
        summary = {}
        out.add(
            output,
            lambda temporary: summary.update(
                write_forecasts(temporary, data, job, parquet=is_parquet_output(output), batch_series=batch_series,
                                base_dir=base_dir, estimator=estimator)
            ),
            output_kind(output),
        )  # fmt: skip
    return StreamedForecast(Path(output), **summary)


def batch_job(model, horizon, quantiles=None, max_horizon=None, allow_implausible=False, estimator=None, threads=1):
    """The :class:`BatchForecast` of a job, refusing a model that cannot be fitted in batches of series."""
    if estimator is None and not is_per_series(model.name):
        raise ConfigError(f"model {model.name!r} is not a per-series model; it cannot be fitted in batches of series.")
    return BatchForecast(
        horizon,
        model if estimator is None else None,
        None if quantiles is None else tuple(quantiles),
        max_horizon,
        allow_implausible,
        threads,
    )


def write_forecasts(
    path: Path, data: DataConfig, job: BatchForecast, *, parquet: bool, batch_series: int,
    base_dir: Path = Path("."), estimator=None,
) -> dict:  # fmt: skip
    """The streaming loop, appending every batch's forecast to ``path`` (the caller makes it atomic)."""
    from tsseq.data.covariate_csv import data_columns
    from tsseq.data.parquet import iter_series_batches
    from tsseq.pipeline import data_path

    source = data_path(data, base_dir)
    batches = iter_series_batches(
        source,
        series_column=data.series_column,
        batch_series=batch_series,
        timestamp_column=data.timestamp_column,
        value_columns=data_columns(data),
        freq=data.freq,
        missing=data.missing,
        sort=data.sort,
        reindex=data.reindex,
    )
    results = (
        (*forecast_batch(job, history, str(source), estimator), history.index.get_level_values(0).nunique(), None)
        for history in batches
    )
    return write_counted(path, results, parquet=parquet, notes="warnings")


def write_counted(
    path: Path, results, *, parquet: bool, index: bool = True, notes: str = "notes", flag_column: str | None = None,
    source: str = "", data: DataConfig | None = None,
) -> dict:  # fmt: skip
    """Append each batch's frame of ``results`` to ``path`` (:func:`write_frames`) and count what was written.

    ``results`` yields ``(frame, notes, series, freq)`` per batch, in the order they are
    written. Returns the counts of ``series``, ``rows`` and ``batches`` (and of the rows
    true in ``flag_column``, as ``"flagged"``, when it is given), and the batches' notes
    under the key ``notes``, each once, in order. A batch's ``freq`` (None: not checked)
    must be the first batch's: one job reads one frequency, as the streamed path's batches
    must (:func:`check_frequency`, naming ``source``).
    """
    counts = {"series": 0, "rows": 0, "batches": 0, **({"flagged": 0} if flag_column else {})}
    found_notes: dict = {}  # each note once, in order; a dict, not a list: a job of many series has many notes
    frequency: list[str] = []

    def frames():
        for frame, found, series, freq in results:
            if freq is not None and len(frame):
                first = frame.index.get_level_values(0)[0] if index else frame.iloc[0, 0]
                check_frequency(frequency, freq, source, first, data)
            found_notes.update(dict.fromkeys(found))
            counts["series"] += series
            counts["rows"] += len(frame)
            counts["batches"] += 1
            if flag_column and flag_column in frame:
                counts["flagged"] += int(frame[flag_column].sum())
            yield frame

    write_frames(path, frames(), parquet=parquet, index=index)
    return {**counts, notes: tuple(found_notes)}


def check_frequency(seen: list[str], freq: str, source: str, first_id: object, data: DataConfig) -> None:
    """One frequency for all batches; ``seen`` keeps the first, ``first_id`` is the first series of this batch."""
    if not seen:
        seen.append(freq)
    elif freq != seen[0]:
        raise DataError(
            f"{source}: the series from {first_id!r} on are {freq!r}; the first ones are {seen[0]!r}. One job reads "
            f"one frequency{'' if data.freq else ': give it with --freq, or split the file'}."
        )


def open_series(data: DataConfig, base_dir: Path = Path(".")):
    """The job's Parquet input as a :class:`~tsseq.data.parquet.ParquetSource` of its series column and values."""
    from tsseq.data.covariate_csv import data_columns
    from tsseq.data.parquet import ParquetSource
    from tsseq.pipeline import data_path

    return ParquetSource(data_path(data, base_dir), data.timestamp_column, data_columns(data), data.series_column)


def read_batch(
    source, data: DataConfig, bounds: tuple[object, object], freq: str | None = None, freq_per_series: bool = False
) -> pd.DataFrame:
    """The validated long frame of the series with ids in ``bounds`` (first, last), read as ``data`` says
    (``freq_per_series``: :func:`tsseq.data.checks.check_series`)."""
    from tsseq.data.parquet import read_series_range

    first, last = bounds
    return read_series_range(
        source, first, last, freq=freq or data.freq, missing=data.missing, sort=data.sort, reindex=data.reindex,
        freq_per_series=freq_per_series,
    )


def write_frames(path: Path, frames, *, parquet: bool, index: bool = True) -> None:
    """Append each frame of the iterable ``frames`` to ``path`` (Parquet or CSV), with ``index`` the first columns."""
    sink = _ParquetSink(path, index) if parquet else _CsvSink(path, index)
    try:
        for frame in frames:
            sink.write(frame)
    finally:
        sink.close()


def write_forecast(frame: pd.DataFrame, path: Path, *, parquet: bool) -> None:
    """One in-memory forecast frame in the streamed job's layout (the index as the first columns)."""
    write_frames(path, [frame], parquet=parquet)


def is_parquet_output(path: str | Path) -> bool:
    """Whether an output path names a Parquet file (``.parquet``); any other suffix is a CSV."""
    return Path(path).suffix.lower() == ".parquet"


def output_kind(path: str | Path, what: str = "forecast") -> str:
    """``"forecast Parquet file"`` or ``"forecast CSV"``: the output's kind, for messages."""
    return f"{what} Parquet file" if is_parquet_output(path) else f"{what} CSV"


class _ParquetSink:
    """Appends frames to one Parquet file, one row group per frame, with the first frame's schema."""

    def __init__(self, path: Path, index: bool = True) -> None:
        self.path, self.index, self.writer, self.schema = path, index, None, None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame.reset_index() if self.index else frame, preserve_index=False, schema=self.schema)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _CsvSink:
    """Appends frames to one CSV file, the header once (what ``DataFrame.to_csv`` writes for the whole)."""

    def __init__(self, path: Path, index: bool = True) -> None:
        self.handle, self.index, self.header = open(path, "w", newline=""), index, True

    def write(self, frame: pd.DataFrame) -> None:
        frame.to_csv(self.handle, header=self.header, index=self.index)
        self.header = False

    def close(self) -> None:
        self.handle.close()
