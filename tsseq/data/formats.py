"""The file formats of the public benchmarks, read into tsseq frames.

* ETT (``ETTh1.csv`` ..): one wide CSV, a ``date`` column and one column per channel
  -> a wide frame ``(T, C)`` with its frequency set (:func:`read_ett`).
* M4 (``Hourly-train.csv``, ``Hourly-test.csv`` ..): ragged wide CSVs, one series per
  row, padded with empty cells at the end and without dates -> long frames on a
  nominal timeline (:func:`read_m4`).
* NAB (``data/<category>/<file>.csv`` + ``labels/*.json``): one CSV per series with
  irregular timestamps, and JSON labels keyed ``"<category>/<file>.csv"`` -> a long
  frame of the raw rows and the anomaly windows and points (:func:`read_nab`).

The readers take local paths and what the catalog says about the data set (columns,
frequency, ...); finding, downloading and verifying the files is
:mod:`tsseq.data.catalog`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from tsseq.errors import DataError

_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # ETT and NAB timestamps


@dataclass(frozen=True, eq=False)
class NabData:
    """What :func:`read_nab` returns; every mapping is keyed like the series, in ``frame``'s order."""

    frame: pd.DataFrame  # long, indexed by ("series", "timestamp"), the raw rows
    anomaly_windows: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]
    anomaly_points: dict[str, list[pd.Timestamp]]


def _regular_index(index: pd.Index, freq: str, path: Path) -> pd.DatetimeIndex:
    """``index`` with ``freq`` set, or a DataError naming the first irregular row."""
    expected = pd.date_range(index[0], periods=len(index), freq=freq, name=index.name)
    wrong = np.flatnonzero(pd.DatetimeIndex(index) != expected)
    if wrong.size:
        row = int(wrong[0])
        raise DataError(
            f"{path}: timestamps must be regular at frequency {freq!r}; row {row + 1} has {index[row]}, "
            f"expected {expected[row]}."
        )
    return expected


def _float_columns(frame: pd.DataFrame, columns: Sequence[str], source: object) -> pd.DataFrame:
    """``frame`` as float64 after checking that its columns are exactly ``columns``, in order."""
    if tuple(frame.columns) != tuple(columns):
        raise DataError(f"{source}: expected columns {list(columns)}. Got {list(frame.columns)} instead.")
    return frame.astype(np.float64)


def read_ett(path: Path, *, columns: Sequence[str], freq: str) -> pd.DataFrame:
    """An ETT CSV -> wide frame ``(T, C)`` indexed by ``date`` at ``freq``, float64 ``columns``.

    A DataError names the file when the columns differ or a timestamp is off the grid.
    """
    frame = pd.read_csv(path, index_col="date", parse_dates=["date"], date_format=_DATE_FORMAT)
    frame = _float_columns(frame, columns, path)
    frame.index = _regular_index(frame.index, freq, path)
    return frame


def _read_m4_wide(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged wide M4 CSV -> (ids ``(S,)``, values ``(S, W)`` NaN-padded, lengths ``(S,)``)."""
    wide = pd.read_csv(path, index_col=0)
    values = wide.to_numpy(dtype=np.float64)
    observed = ~np.isnan(values)
    lengths = observed.sum(axis=1)
    # M4 pads each row at its end; a gap inside a row would shift every later timestamp.
    gaps = np.flatnonzero((observed != (np.arange(values.shape[1]) < lengths[:, None])).any(axis=1))
    if gaps.size:
        raise DataError(f"{path}: series {wide.index[gaps[0]]!r} has an empty cell before its last value.")
    return wide.index.to_numpy(dtype=object), values, lengths


def _long_frame(ids: np.ndarray, values: np.ndarray, offsets: np.ndarray, timeline: pd.DatetimeIndex) -> pd.DataFrame:
    """NaN-padded ``(S, W)`` values -> long frame; series ``s`` starts at ``timeline[offsets[s]]``."""
    rows, columns = np.nonzero(~np.isnan(values))  # row-major: series by series, in time order
    index = pd.MultiIndex.from_arrays(
        [ids[rows], timeline[offsets[rows] + columns]], names=["series", "timestamp"]
    )
    return pd.DataFrame({"value": values[rows, columns]}, index=index)


def read_m4(
    train_path: Path, test_path: Path, *, start: str, freq: str, horizon: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """M4 train and test CSVs -> (train, test) long frames on a nominal timeline.

    M4 files carry no dates, so every series starts at the same nominal timestamp
    ``start`` and its test values continue right after its last training value.

    Parameters
    ----------
    train_path, test_path : Path
        The ``<Frequency>-train.csv`` and ``<Frequency>-test.csv`` files, same series, same order.
    start, freq : str
        The nominal timeline: ``pd.date_range(start, ..., freq=freq)``.
    horizon : int, optional
        Test values every series must have; default: the width of the test file.

    Returns
    -------
    (pd.DataFrame, pd.DataFrame)
        Long frames indexed by ``("series", "timestamp")``, sorted by series id, one
        ``value`` column: the training values ``(sum of T_i, 1)`` and the test values
        ``(S * horizon, 1)``.
    """
    ids, train, lengths = _read_m4_wide(train_path)
    test_ids, test, test_lengths = _read_m4_wide(test_path)
    horizon = int(test.shape[1] if horizon is None else horizon)
    if not np.array_equal(ids, test_ids) or (test_lengths != horizon).any():
        raise DataError(
            f"{test_path}: expected the series of {train_path.name} in the same order with {horizon} values each."
        )
    order = np.argsort(ids, kind="stable")  # sorted series ids, as the long layout requires
    timeline = pd.date_range(start, periods=train.shape[1] + horizon, freq=freq)
    train_frame = _long_frame(ids[order], train[order], np.zeros(len(ids), dtype=np.int64), timeline)
    test_frame = _long_frame(ids[order], test[order], lengths[order], timeline)
    return train_frame, test_frame


def nab_key(path: str) -> str:
    """``nab/data/realKnownCause/nyc_taxi.csv`` -> ``realKnownCause/nyc_taxi.csv`` (NAB's label keys)."""
    return "/".join(PurePosixPath(path).parts[-2:])


def _read_json_labels(path: Path, keys: list[str]) -> dict[str, list]:
    """A NAB label file -> {series key: its labels}, checked to cover exactly ``keys``."""
    labels = json.loads(path.read_text(encoding="utf-8"))
    if set(labels) != set(keys):
        differing = sorted(set(labels) ^ set(keys))[:3]
        raise DataError(f"{path}: expected labels for exactly the {len(keys)} series files; these differ: {differing}.")
    return {key: labels[key] for key in keys}


def read_nab(
    series_paths: Mapping[str, Path], windows_path: Path, labels_path: Path, *, columns: Sequence[str]
) -> NabData:
    """NAB series CSVs and label files -> the raw rows as a long frame, and the labels.

    Parameters
    ----------
    series_paths : mapping key -> Path
        The series files by NAB key (see :func:`nab_key`), e.g. ``"realKnownCause/nyc_taxi.csv"``.
    windows_path, labels_path : Path
        ``labels/combined_windows.json`` (``[start, end]`` pairs) and
        ``labels/combined_labels.json`` (anomaly timestamps), each covering exactly the series.
    columns : sequence of str
        The value columns every series file has (NAB: ``["value"]``).

    Returns
    -------
    NabData
        ``frame`` indexed by ``("series", "timestamp")``, series sorted by key, each
        series' rows as in its file (NAB has repeated and out-of-order timestamps).
    """
    keys = sorted(series_paths)
    frames = [
        pd.read_csv(series_paths[key], index_col="timestamp", parse_dates=["timestamp"], date_format=_DATE_FORMAT)
        for key in keys
    ]
    frame = pd.concat(frames, keys=keys, names=["series", "timestamp"])
    windows = _read_json_labels(windows_path, keys)
    points = _read_json_labels(labels_path, keys)
    return NabData(
        _float_columns(frame, columns, "NAB series files"),
        anomaly_windows={
            key: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in spans] for key, spans in windows.items()
        },
        anomaly_points={key: [pd.Timestamp(point) for point in stamps] for key, stamps in points.items()},
    )
