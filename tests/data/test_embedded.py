"""The statsmodels data sets: offline, through the catalog, as regular wide frames."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from tsseq.data import catalog
from tsseq.data.embedded import EMBEDDED, load_frame
from tsseq.errors import ConfigError

EXPECTED = {  # name: (rows, first timestamp, last timestamp, first value)
    "sunspots": (309, "1700-01-01", "2008-01-01", 5.0),
    "co2": (2284, "1958-03-29", "2001-12-29", 316.1),
    "nile": (100, "1871-01-01", "1970-01-01", 1120.0),
    "elnino": (732, "1950-01-01", "2010-12-01", 23.11),
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    def urlopen(*args, **kwargs):
        raise urllib.error.URLError("network access is disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("TSSEQ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(tmp_path / "empty"))


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_sets_load_offline_through_the_catalog(name: str) -> None:
    rows, first, last, first_value = EXPECTED[name]
    dataset = catalog.load(name.upper())
    frame, entry = dataset.frame, dataset.entry
    assert entry.format == "statsmodels" and entry.files == () and entry.licence == "public domain"
    assert frame.shape == (rows, 1) and tuple(frame.columns) == entry.columns
    assert frame.index.name == "date" and frame.index.freqstr == entry.freq
    assert frame.index[0] == pd.Timestamp(first) and frame.index[-1] == pd.Timestamp(last)
    assert (frame.dtypes == np.float64).all()
    assert frame.iloc[0, 0] == first_value


def test_frequencies_are_the_natural_ones() -> None:
    frequencies = {name: load_frame(name).index.freqstr for name in EMBEDDED}
    assert frequencies == {"sunspots": "YS-JAN", "co2": "W-SAT", "nile": "YS-JAN", "elnino": "MS"}


def test_co2_keeps_its_missing_weeks_as_nan() -> None:
    co2 = load_frame("co2")["co2"]
    assert co2.isna().sum() == 59
    assert np.isnan(co2.loc["1958-05-10"])  # a known gap of the record, kept as a row
    assert co2.loc["1958-05-17"] == 317.5


def test_elnino_months_are_read_year_by_year() -> None:
    elnino = load_frame("elnino")["temperature"]
    # statsmodels row 1951: JAN 24.19, FEB 25.28; row 1950: DEC 21.80.
    assert elnino.loc["1950-12-01"] == 21.80
    assert elnino.loc["1951-01-01":"1951-02-01"].tolist() == [24.19, 25.28]


def test_unknown_embedded_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"Unknown embedded data set 'sunspot'\. Did you mean 'sunspots'\?"):
        load_frame("sunspot")
