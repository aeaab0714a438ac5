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
from all series together and are refused with the reason.

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
from tsseq.errors import ConfigError

DEFAULT_BATCH_SERIES = 10_000


@dataclass(frozen=True)
class StreamedForecast:
    """What a streamed job wrote."""

    path: Path
    series: int
    rows: int
    batches: int
    warnings: tuple[str, ...] = ()  # implausible forecasts written under allow_implausible


def is_per_series(model_name: str) -> bool:
    """Whether the registered model fits each series on its own rows alone (so that batches of series are exact)."""
    from tsseq import registry
    from tsseq.baselines import AR, Drift, Mean, Naive, Naive2, SeasonalNaive

    return issubclass(registry.get(model_name), (AR, Naive, Mean, Drift, SeasonalNaive, Naive2))


def streamed_batch_size(
    data: DataConfig, model_name: str, batch_series: int | None, *, whole_frame_outputs: bool = False
) -> int | None:
    """The batch size of a forecast job that streams, or None for the in-memory path (refusing what cannot stream).

    A job streams when its data file is Parquet with a series column, its model is per
    series and it takes no covariates; ``batch_series`` defaults to 10,000 then. Asked for
    (``batch_series`` given) where it cannot, the reason is a ConfigError. A job with
    ``whole_frame_outputs`` (a plot of every series) runs in memory unless asked to stream.
    """
    from tsseq.data.parquet import is_parquet
    from tsseq.pipeline import data_path

    asked = batch_series is not None
    if data.csv is None or not is_parquet(data_path(data)):
        if asked:
            raise ConfigError(
                "--batch-series streams Parquet input; convert the CSV first (`tsseq convert data.csv --output "
                "data.parquet --series-column ID`), or drop --batch-series to read it whole."
            )
        return None
    if data.series_column is None:
        if asked:
            raise ConfigError("--batch-series streams many series; name their id column with --series-column.")
        return None
    reasons = []
    if not is_per_series(model_name):
        reasons.append(
            f"model {model_name!r} is not a per-series model: it learns from all series together, so batches of "
            "series would give another model (streamed: ar, naive, seasonal_naive, drift, mean, naive2)"
        )
    if data.has_covariates:
        reasons.append("covariates are read whole for now")
    if whole_frame_outputs:
        reasons.append("a plot of every series needs them all in memory")
    if reasons and asked:
        raise ConfigError(f"cannot stream this forecast in batches of series: {'; '.join(reasons)}. Drop --batch-series.")
    if reasons:
        return None
    return DEFAULT_BATCH_SERIES if batch_series is None else batch_series


def forecast_in_batches(
    data: DataConfig,
    model: ModelConfig,
    horizon: int,
    output: str | Path,
    *,
    batch_series: int = DEFAULT_BATCH_SERIES,
    quantiles: list[float] | None = None,
    max_horizon: int | None = None,
    allow_implausible: bool = False,
    base_dir: Path = Path("."),
) -> StreamedForecast:
    """Forecast every series of ``data`` (Parquet, long) in batches, writing ``output`` atomically.

    Each batch goes through :func:`tsseq.pipeline.fit_forecast` and
    :func:`tsseq.sanity.check_forecast` against its own history, as the in-memory job does
    for the whole frame; any error leaves nothing at ``output``.
    """
    with io.outputs() as out:
        out.check(output, _what(output))
        summary = {}
        out.add(
            output,
            lambda temporary: summary.update(
                write_forecasts(
                    temporary,
                    data,
                    model,
                    horizon,
                    parquet=_is_parquet_output(output),
                    batch_series=batch_series,
                    quantiles=quantiles,
                    max_horizon=max_horizon,
                    allow_implausible=allow_implausible,
                    base_dir=base_dir,
                )
            ),
            _what(output),
        )
    return StreamedForecast(Path(output), **summary)


def write_forecasts(
    path: Path,
    data: DataConfig,
    model: ModelConfig,
    horizon: int,
    *,
    parquet: bool,
    batch_series: int,
    quantiles: list[float] | None = None,
    max_horizon: int | None = None,
    allow_implausible: bool = False,
    base_dir: Path = Path("."),
) -> dict:
    """The streaming loop, appending every batch's forecast to ``path`` (the caller makes it atomic)."""
    from tsseq.data.covariate_csv import data_columns
    from tsseq.data.parquet import iter_series_batches
    from tsseq.pipeline import data_path, fit_forecast

    if not is_per_series(model.name):
        raise ConfigError(f"model {model.name!r} is not a per-series model; it cannot be fitted in batches of series.")
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
    sink = _ParquetSink(path) if parquet else _CsvSink(path)
    n_series = n_rows = n_batches = 0
    warnings: list[str] = []
    try:
        for history in batches:
            history = sanity.check_magnitude(history, str(source))
            forecast = fit_forecast(model, history, horizon, quantiles, max_horizon=max_horizon)
            warnings += sanity.check_forecast(forecast, history, allow_implausible=allow_implausible)
            sink.write(forecast)
            n_series += history.index.get_level_values(0).nunique()
            n_rows += len(forecast)
            n_batches += 1
    finally:
        sink.close()
    return {"series": n_series, "rows": n_rows, "batches": n_batches, "warnings": tuple(warnings)}


def write_forecast(frame: pd.DataFrame, path: Path, *, parquet: bool) -> None:
    """One in-memory forecast frame in the streamed job's layout (the index as the first columns)."""
    sink = _ParquetSink(path) if parquet else _CsvSink(path)
    try:
        sink.write(frame)
    finally:
        sink.close()


def _is_parquet_output(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def _what(path: str | Path) -> str:
    return "forecast Parquet file" if _is_parquet_output(path) else "forecast CSV"


class _ParquetSink:
    """Appends frames to one Parquet file, one row group per frame, with the first frame's schema."""

    def __init__(self, path: Path) -> None:
        self.path, self.writer, self.schema = path, None, None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False, schema=self.schema)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _CsvSink:
    """Appends frames to one CSV file, the header once (what ``DataFrame.to_csv`` writes for the whole)."""

    def __init__(self, path: Path) -> None:
        self.handle, self.header = open(path, "w", newline=""), True

    def write(self, frame: pd.DataFrame) -> None:
        frame.to_csv(self.handle, header=self.header)
        self.header = False

    def close(self) -> None:
        self.handle.close()
