"""Covariates from files, as the CLI and the YAML pipelines name them (:class:`tsseq.config.DataConfig`).

The data file holds the targets and the past and future covariates as columns; a
``future`` file holds the future covariates over the horizon (the same timestamp and,
for a long file, series columns); a ``static`` file one row per series. What comes out
is the target frame and the keywords of ``fit`` (:mod:`tsseq.data.covariates`), the
future covariates spanning both files so that the same frame serves ``fit`` and
``predict``. A bad file is a :class:`~tsseq.errors.DataError` naming the file (and the
column and row, as :func:`tsseq.data.csv.read_csv` and the covariate checks do).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tsseq.config import job_path
from tsseq.data.csv import read_csv
from tsseq.errors import DataError, DataFileNotFoundError


def data_columns(data) -> list[str] | None:
    """The columns to read from the data file: the targets, then the covariates (None: all)."""
    target = data.target_columns
    if target is None:
        return None
    return list(dict.fromkeys([*target, *(data.past_covariates or ()), *(data.future_covariates or ())]))


def split_inputs(data, frame: pd.DataFrame, source: str, base_dir: Path = Path(".")) -> tuple[pd.DataFrame, dict]:
    """``(targets, fit keywords)`` of the frame read from the data file."""
    past, future = list(data.past_covariates or ()), list(data.future_covariates or ())
    for kind, names in (("past", past), ("future", future)):
        for name in names:
            if name not in frame.columns:
                raise DataError(
                    f"{source}: no column {name!r} for the {kind} covariates; the file has {list(map(str, frame.columns))}."
                )
    covariates = set(past) | set(future)
    target = data.target_columns or [column for column in frame.columns if column not in covariates]
    if not target:
        raise DataError(f"{source}: every column is a covariate; name the forecast column(s) with --target / data.target.")
    keywords: dict[str, pd.DataFrame] = {}
    if past:
        keywords["past_covariates"] = frame[past].copy()
        keywords["past_covariates"].attrs["source"] = source  # named by the covariate checks' messages
    if future:
        rows, where = frame[future].copy(), source
        if data.future_csv is not None:
            path = job_path(data.future_csv, base_dir)
            rows, where = _with_future_file(rows, path, data), f"{source} and {path}"
        rows.attrs["source"] = where
        keywords["future_covariates"] = rows
    if data.static_csv is not None:
        keywords["static_covariates"] = read_static_csv(job_path(data.static_csv, base_dir), data.series_column)
    return frame[list(target)], keywords



def _with_future_file(known: pd.DataFrame, path: Path, data) -> pd.DataFrame:
    """The future covariates of the data file followed by the rows of the future file."""
    freq = known.index.get_level_values(-1).freq or pd.infer_freq(known.index.get_level_values(-1)[:3])
    dialect = {key: value for key, value in (("sep", data.sep), ("decimal", data.decimal)) if value is not None}
    ahead = read_csv(
        path,
        timestamp_column=data.timestamp_column,
        value_columns=list(known.columns),
        series_column=data.series_column,
        freq=data.freq or freq,
        min_rows=1,
        missing=data.missing,  # as the data file's covariate columns
        timestamp_unit=data.timestamp_unit,
        covariates=list(known.columns),
        **dialect,
    )
    overlap = ahead.index.intersection(known.index)
    if len(overlap):
        raise DataError(
            f"{path}: the future covariates file repeats the row {overlap[0]} of the data file; it holds the rows "
            "after the data's end only."
        )
    return pd.concat([known, ahead]).sort_index()


def read_static_csv(path: Path, series_column: str | None) -> pd.DataFrame:
    """One row per series, indexed by the series id (``series_column``, else the first column)."""
    if not path.is_file():
        raise DataFileNotFoundError(f"Static covariates file {str(path)!r} does not exist.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as a CSV: {error}") from None
    key = series_column if series_column is not None else table.columns[0]
    if key not in table.columns:
        raise DataError(f"{path}: no column {key!r} of series ids; the file has {list(table.columns)}.")
    if table[key].duplicated().any():
        row = int(table[key].duplicated().to_numpy().argmax())
        raise DataError(f"{path}: series {table[key].iloc[row]!r} has a second row at row {row + 2}; give one row per series.")
    table = table.set_index(key)
    table.attrs["source"] = str(path)
    return table
