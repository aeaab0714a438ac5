"""Small real data sets that ship with statsmodels, as wide frames, for offline use.

They are catalog entries with ``format: statsmodels`` (no file, no download), so
``tsseq.data.catalog.load("co2")`` works without a network. Each frame has a
DatetimeIndex named ``date`` with its frequency set and float64 columns:

========  ==========  =============  ====================================================
name      frequency   columns        notes
========  ==========  =============  ====================================================
sunspots  ``YS-JAN``  SUNACTIVITY    yearly sunspot numbers, 1700 .. 2008, ``(309, 1)``
co2       ``W-SAT``   co2            weekly Mauna Loa CO2, 1958 .. 2001, ``(2284, 1)``;
                                     59 missing weeks stay NaN
nile      ``YS-JAN``  volume         yearly Nile volume at Aswan, 1871 .. 1970, ``(100, 1)``
elnino    ``MS``      temperature    monthly Nino 1+2 sea surface temperature, 1950 .. 2010,
                                     ``(732, 1)``, from statsmodels' 12 month columns
========  ==========  =============  ====================================================
"""

from __future__ import annotations

import importlib
from functools import partial

import numpy as np
import pandas as pd

from tsseq.errors import ConfigError, DataError, closest_match


def _statsmodels_data(name: str) -> pd.DataFrame:
    # Import the one statsmodels data module, not statsmodels.api (slow to import).
    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _yearly(years: pd.Series, name: str) -> pd.DatetimeIndex:
    """Consecutive years (floats such as 1700.0) -> a yearly DatetimeIndex, ``YS-JAN``."""
    years = years.to_numpy(dtype=np.int64)
    if not np.array_equal(years, np.arange(years[0], years[0] + len(years))):
        raise DataError(f"statsmodels data set {name!r}: expected consecutive years, got {years[:5]} ...")
    return pd.date_range(f"{years[0]}-01-01", periods=len(years), freq="YS-JAN", name="date")


def _yearly_frame(name: str, year_column: str, value_column: str) -> pd.DataFrame:
    """A statsmodels table of one value per year -> wide frame ``(T, 1)`` named ``value_column``."""
    data = _statsmodels_data(name)
    index = _yearly(data[year_column], name)
    return pd.DataFrame({value_column: data[value_column].to_numpy(np.float64)}, index=index)


def _co2() -> pd.DataFrame:
    data = _statsmodels_data("co2")
    # pd.DatetimeIndex(..., freq=...) raises if a week were skipped; the NaN weeks are rows.
    index = pd.DatetimeIndex(data.index, freq="W-SAT", name="date")
    return pd.DataFrame({"co2": data["co2"].to_numpy(np.float64)}, index=index)


def _elnino() -> pd.DataFrame:
    data = _statsmodels_data("elnino")
    months = data.drop(columns="YEAR").to_numpy(np.float64)  # (years, 12), JAN .. DEC
    years = _yearly(data["YEAR"], "elnino")  # consecutive years, so the rows join into one series
    index = pd.date_range(years[0], periods=months.size, freq="MS", name="date")
    return pd.DataFrame({"temperature": months.reshape(-1)}, index=index)  # row-major: year by year


_LOADERS = {
    "sunspots": partial(_yearly_frame, "sunspots", "YEAR", "SUNACTIVITY"),
    "co2": _co2,
    "nile": partial(_yearly_frame, "nile", "year", "volume"),
    "elnino": _elnino,
}
EMBEDDED = tuple(_LOADERS)  # the names, in the order of the module docstring's table


def load_frame(name: str) -> pd.DataFrame:
    """The wide frame ``(T, 1)`` of an embedded data set; see the module docstring."""
    loader = _LOADERS.get(str(name).lower())
    if loader is None:
        raise ConfigError(
            f"Unknown embedded data set {name!r}.{closest_match(str(name), EMBEDDED)} "
            f"Embedded data sets: {', '.join(EMBEDDED)}."
        )
    return loader()
