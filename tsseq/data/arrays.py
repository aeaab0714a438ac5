"""Read a NumPy ``.npy`` file of values into a validated frame, in row order.

Some public anomaly benchmarks ship their series as bare arrays: NASA's SMAP and MSL
telemetry (Hundman et al. 2018, the Telemanom data) is one ``(rows, channels)`` ``.npy``
file per channel set, with no timestamps. :func:`read_numpy` reads such a file as a frame
whose index is the row number (named ``row``) read as steps
(:func:`tsseq.data.checks.check_series` with ``timestamp_unit="steps"``), which anomaly
detection scores in row order and writes back; forecasting needs dates and refuses it.
The file is loaded with ``allow_pickle=False``: an array of Python objects is refused,
never unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq.data.checks import STEPS, check_series
from tsseq.errors import DataError

NUMPY_SUFFIXES = (".npy",)


def is_numpy(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a NumPy array file (by its suffix)."""
    return Path(path).suffix.lower() in NUMPY_SUFFIXES


def read_numpy(
    source: str | os.PathLike[str],
    *,
    value_columns: Sequence[str] | None = None,
    missing: str = "error",
    min_rows: int | None = None,
    timestamp_unit: str | None = None,
) -> pd.DataFrame:
    """A ``(rows,)`` or ``(rows, channels)`` ``.npy`` array -> a frame indexed by row number, read as steps.

    Columns are named ``value`` (one channel) or ``value_1``, ``value_2``, ... ``value_columns``,
    ``missing`` and ``min_rows`` are as in :func:`tsseq.data.csv.read_csv`.
    ``timestamp_unit`` must be ``"steps"`` (what ``tsseq detect`` reads with): an array
    has no timestamps, so anything that needs dates gets a DataError saying so.
    """
    path = Path(source)
    name = os.fspath(source)
    if not path.is_file():
        from tsseq.data.csv import check_exists

        check_exists(path, name)
        raise DataError(f"{name}: is not a file; expected a NumPy .npy file.")
    if timestamp_unit != STEPS:
        raise DataError(
            f"{name}: a .npy array holds values only, no timestamps. tsseq detect scores it in row order; "
            "forecasting needs dates: a CSV or Parquet file with a timestamp column."
        )
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:  # an object array: loading it would unpickle the file
        raise DataError(f"{name}: holds Python objects, not numbers; it is refused, never unpickled ({error}).") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{name}: is not a NumPy .npy file ({error}).") from None
    if not isinstance(array, np.ndarray) or array.ndim not in (1, 2):
        shape = getattr(array, "shape", None)
        raise DataError(f"{name}: expected an array of shape (rows,) or (rows, channels). Got shape {shape}.")
    if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
        raise DataError(f"{name}: expected numbers. Got an array of dtype {array.dtype}.")
    values = array.reshape(len(array), -1).astype(np.float64)
    columns = ["value"] if values.shape[1] == 1 else [f"value_{k}" for k in range(1, values.shape[1] + 1)]
    frame = pd.DataFrame(values, index=pd.RangeIndex(len(values), name="row"), columns=columns)
    return check_series(frame, source=name, missing=missing, min_rows=min_rows, columns=value_columns,
                        row_label=lambda position: f"row {position}", irregular="keep", timestamp_unit=STEPS)  # fmt: skip
