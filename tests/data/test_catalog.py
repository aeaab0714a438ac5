"""The data catalog: schema, name lookup, local/cache/download resolution, checksums, load().

The file formats themselves are tested in test_formats.py; here ``load`` is run end to end.

No test touches the network: an autouse fixture makes every non-``file:`` URL fail,
and the cache is a temporary directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tsseq.data import catalog
from tsseq.data.catalog import CatalogEntry, CatalogFile, ChecksumUnknownWarning, Dataset, load
from tsseq.errors import ConfigError, DatasetUnavailableError

ETTH1_SHA256 = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"
TINY_ETT = (
    "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
    "2016-07-01 00:00:00,1,2,3,4,5,6,7\n"
    "2016-07-01 01:00:00,1.5,2,3,4,5,6,8\n"
    "2016-07-01 02:00:00,2,2,3,4,5,6,9\n"
)
_real_urlopen = urllib.request.urlopen


@pytest.fixture(autouse=True)
def _offline_with_private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fail every network URL, keep file:// URLs, and use a fresh cache directory."""

    def urlopen(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise urllib.error.URLError("network access is disabled in tests")
        return _real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("TSSEQ_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TSSEQ_DATA_DIR", raising=False)


def _tiny_ett_entry(tmp_path: Path, sha256: str | None = "auto") -> CatalogEntry:
    """An ETTh1-like entry whose one file, TINY_ETT, is served from ``tmp_path`` by a file:// URL."""
    source = tmp_path / "served" / "tiny.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(TINY_ETT)
    digest = hashlib.sha256(TINY_ETT.encode()).hexdigest() if sha256 == "auto" else sha256
    file = CatalogFile("ett/tiny.csv", source.as_uri(), digest, "data")
    return dataclasses.replace(catalog.catalog_entry("ETTh1"), name="tiny", files=(file,))


# ----------------------------------------------------------------------------- schema


def test_every_entry_has_source_licence_columns_freq_and_protocol() -> None:
    entries = catalog.catalog()
    for name, entry in entries.items():
        assert entry.url.startswith("https://"), name
        assert entry.licence and entry.columns and entry.protocol.name, name
        assert (entry.freq is None) == (entry.format == "nab"), name  # NAB keeps irregular raw rows
        for file in entry.files:
            assert file.url.startswith("https://raw.githubusercontent.com/"), file
            assert file.sha256 is None or len(file.sha256) == 64, file
    assert {entry.format for entry in entries.values()} == {"ett", "m4", "nab", "statsmodels"}


def test_catalog_lists_the_benchmarks_with_their_layout_urls_and_hashes() -> None:
    entries = catalog.catalog()
    assert set(catalog.available()) >= {"ETTh1", "ETTh2", "ETTm1", "ETTm2", "m4-hourly", "NAB", "co2"}
    etth1 = entries["ETTh1"].files[0]
    assert (etth1.path, etth1.sha256) == ("ett/ETTh1.csv", ETTH1_SHA256)
    assert etth1.url == "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv"
    for name in ("ETTh2", "ETTm1", "ETTm2"):  # not hashed here: unknown, never invented
        assert entries[name].files[0].sha256 is None
    m4_paths = [(file.path, file.role, file.sha256 is not None) for file in entries["m4-hourly"].files]
    assert m4_paths == [("m4/Hourly-train.csv", "train", True), ("m4/Hourly-test.csv", "test", True)]
    nab = entries["NAB"]
    roles = [file.role for file in nab.files]
    assert roles.count("series") == 58 and roles.count("windows") == 1 and roles.count("labels") == 1
    assert all(file.sha256 for file in nab.files)
    taxi = next(file for file in nab.files if file.path == "nab/data/realKnownCause/nyc_taxi.csv")
    assert taxi.url == "https://raw.githubusercontent.com/numenta/NAB/master/data/realKnownCause/nyc_taxi.csv"


def test_protocols_carry_the_standard_parameters() -> None:
    entries = catalog.catalog()
    assert {entries[name].protocol.name for name in ("ETTh1", "ETTh2", "ETTm1", "ETTm2")} == {"ett"}
    assert entries["m4-daily"].protocol.name == "m4" and entries["NAB"].protocol.name == "nab"
    ett_h, ett_m = entries["ETTh1"].protocol.parameters, entries["ETTm1"].protocol.parameters
    assert (ett_h["rows"], ett_h["train"], ett_h["validation"], ett_h["test"]) == ([0, 14400], 8640, 2880, 2880)
    assert (ett_m["rows"], ett_m["train"], ett_m["test"]) == ([0, 57600], 34560, 11520)
    assert ett_h["target"] == "OT" and ett_h["horizons"] == [96, 192, 336, 720]
    m4 = {name: entries[f"m4-{name}"].protocol.parameters for name in
          ("yearly", "quarterly", "monthly", "weekly", "daily", "hourly")}
    assert [m4[name]["horizon"] for name in m4] == [6, 8, 18, 13, 14, 48]
    assert [m4[name]["seasonality"] for name in m4] == [1, 4, 12, 1, 1, 24]
    nab = entries["NAB"].protocol.parameters
    assert (nab["probationary_fraction"], nab["probationary_cap"]) == (0.15, 750)
    assert nab["profiles"]["standard"] == {"tp": 1.0, "fp": 0.11, "fn": 1.0, "tn": 1.0}
    assert nab["profiles"]["reward_low_fn_rate"]["fn"] == 2.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"licence": None}, "lacks the required field(s) ['licence']"),
        ({"freq": None}, "lacks the required field(s) ['freq']"),
        ({"format": "parquet"}, "'format' must be one of"),
        ({"files": [{"path": "../x.csv", "url": "u", "sha256": None, "role": "data"}]}, "must be relative"),
        ({"files": [{"path": "x.csv", "url": "u", "sha256": "abc", "role": "data"}]}, "64 lowercase hex"),
    ],
)
def test_parse_catalog_names_the_faulty_field(change: dict, message: str) -> None:
    raw = {
        "description": "d", "url": "https://x", "licence": "MIT", "format": "ett", "freq": "h",
        "columns": ["a"], "protocol": {"name": "none"},
        "files": [{"path": "x.csv", "url": "u", "sha256": None, "role": "data"}],
    }
    text = yaml.safe_dump({"datasets": {"broken": {**raw, **change}}})
    with pytest.raises(ConfigError, match="data set 'broken'") as error:
        catalog.parse_catalog(text, source="test.yaml")
    assert message in str(error.value)


def test_names_are_case_insensitive_and_unknown_names_suggest_the_closest() -> None:
    assert catalog.catalog_entry("etth1") is catalog.catalog_entry("ETTH1") is catalog.catalog()["ETTh1"]
    assert catalog.catalog_entry("M4-Hourly").name == "m4-hourly"
    with pytest.raises(ConfigError, match=r"Unknown data set 'ETT-h1'\. Did you mean 'ETTh1'\?") as error:
        load("ETT-h1")
    assert "Available data sets: ETTh1, ETTh2" in str(error.value)


# ------------------------------------------------------------ finding and verifying files


def test_cache_dir_follows_the_environment_with_a_home_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert catalog.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("TSSEQ_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert catalog.cache_dir() == tmp_path / "home" / ".cache" / "tsseq"


def test_download_via_file_url_is_verified_and_lands_in_the_cache(tmp_path: Path, no_data_dir: None) -> None:
    entry = _tiny_ett_entry(tmp_path)
    dataset = load(entry)
    cached = tmp_path / "cache" / "ett" / "tiny.csv"
    assert cached.read_text() == TINY_ETT
    assert [path.name for path in cached.parent.iterdir()] == ["tiny.csv"]  # no temporary file left
    assert dataset.frame["OT"].tolist() == [7.0, 8.0, 9.0] and dataset.frame.index.freqstr == "h"
    # The second load reads the cache: the source may disappear and downloads may be off.
    (tmp_path / "served" / "tiny.csv").unlink()
    assert load(entry, download=False).frame.shape == (3, 7)


def test_a_download_with_the_wrong_checksum_leaves_nothing_in_the_cache(tmp_path: Path, no_data_dir: None) -> None:
    entry = _tiny_ett_entry(tmp_path, sha256="0" * 64)
    with pytest.raises(DatasetUnavailableError) as error:
        load(entry)
    message = str(error.value)
    assert "ett/tiny.csv: download from file:" in message
    assert f"expected sha256 {'0' * 64}, found {hashlib.sha256(TINY_ETT.encode()).hexdigest()}" in message
    assert not any((tmp_path / "cache").rglob("*.*"))


def test_a_failed_download_says_which_files_where_and_from_which_urls(tmp_path: Path, no_data_dir: None) -> None:
    with pytest.raises(DatasetUnavailableError) as error:
        load("etth1")
    message = str(error.value)
    url = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv"
    assert "Data set 'ETTh1' is unavailable: 1 of its 1 files" in message
    assert f"ett/ETTh1.csv: download from {url} failed: <urlopen error network access is disabled" in message
    assert f"<TSSEQ_DATA_DIR>/ett/ETTh1.csv  from  {url}" in message
    assert f"Looked in: {tmp_path / 'cache'}" in message and "no TSSEQ_DATA_DIR set" in message
    assert not any((tmp_path / "cache").rglob("*.*"))


def test_after_a_failed_download_the_other_files_are_not_tried(tmp_path: Path, no_data_dir: None) -> None:
    with pytest.raises(DatasetUnavailableError) as error:
        load("m4-hourly")
    message = str(error.value)
    assert "m4/Hourly-train.csv: download from https://raw.githubusercontent.com/Mcompetitions" in message
    assert "m4/Hourly-test.csv: not found and not downloaded after a failed download" in message


def test_a_missing_file_without_download_lists_every_needed_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError) as error:
        load("m4-hourly", data_dir=tmp_path / "nowhere", download=False)
    message = str(error.value)
    assert "m4/Hourly-train.csv: not found and download=False" in message
    assert "m4/Hourly-test.csv: not found and download=False" in message
    assert f"{tmp_path / 'nowhere'} (does not exist)" in message
    assert ("<TSSEQ_DATA_DIR>/m4/Hourly-test.csv  from  "
            "https://raw.githubusercontent.com/Mcompetitions/M4-methods/master/Dataset/Test/Hourly-test.csv") in message


def test_the_data_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entry = _tiny_ett_entry(tmp_path)
    local = tmp_path / "local" / "ett" / "tiny.csv"
    local.parent.mkdir(parents=True)
    local.write_text(TINY_ETT.replace(",7\n", ",70\n"))  # a different file with the same name...
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(tmp_path / "local"))
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch in .*local"):
        load(entry)  # ...is found first, verified and refused rather than silently replaced
    assert load(entry, verify=False).frame["OT"].iloc[0] == 70.0


def test_unknown_checksums_are_used_only_with_a_warning(tmp_path: Path, no_data_dir: None) -> None:
    entry = _tiny_ett_entry(tmp_path, sha256=None)
    with pytest.warns(ChecksumUnknownWarning, match=r"checksum of ett/tiny.csv \(data set 'tiny'\) is unknown"):
        load(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(entry, verify=False)


def test_verification_is_remembered_until_the_file_changes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entry = _tiny_ett_entry(tmp_path)
    local = tmp_path / "local" / "ett" / "tiny.csv"
    local.parent.mkdir(parents=True)
    local.write_text(TINY_ETT)
    calls = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(catalog.hashlib, "sha256", lambda *args: calls.append(1) or real_sha256(*args))
    load(entry, data_dir=tmp_path / "local")
    load(entry, data_dir=tmp_path / "local")
    assert len(calls) == 1
    stat = local.stat()
    os.utime(local, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as if rewritten
    load(entry, data_dir=tmp_path / "local")
    assert len(calls) == 2


def test_m4_parser_on_a_tiny_ragged_file_without_known_checksums(tmp_path: Path) -> None:
    (tmp_path / "m4").mkdir()
    (tmp_path / "m4" / "Yearly-train.csv").write_text('"V1","V2","V3","V4"\n"Y2","1","2","3"\n"Y1","5","6",\n')
    values = ",".join(f'"{value}"' for value in range(10, 16))
    (tmp_path / "m4" / "Yearly-test.csv").write_text(
        '"V1",' + ",".join(f'"V{i}"' for i in range(2, 8)) + f'\n"Y2",{values}\n"Y1",{values}\n'
    )
    with pytest.warns(ChecksumUnknownWarning):
        dataset = load("M4-yearly", data_dir=tmp_path)
    frame, test = dataset.frame, dataset.test
    assert frame.index.names == ["series", "timestamp"] and frame.index.is_monotonic_increasing
    assert frame.loc["Y1", "value"].tolist() == [5.0, 6.0]
    assert frame.loc["Y1"].index.year.tolist() == [2000, 2001]
    assert test.loc["Y1"].index.year.tolist() == list(range(2002, 2008))  # continues after Y1's 2 values
    assert test.loc["Y2"].index.year.tolist() == list(range(2003, 2009))
    assert test.groupby(level="series").size().tolist() == [6, 6]


# ------------------------------------------------------------------ the shared benchmarks


@pytest.mark.shared_data
def test_etth1_is_a_wide_hourly_frame(data_dir: Path) -> None:
    dataset = load("etth1", data_dir=data_dir)
    frame = dataset.frame
    assert isinstance(dataset, Dataset) and dataset.entry.name == "ETTh1" and dataset.test is None
    assert frame.shape == (17420, 7)
    assert list(frame.columns) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert frame.index.name == "date" and frame.index.freqstr == "h"
    assert frame.index[0] == pd.Timestamp("2016-07-01") and frame.index[-1] == pd.Timestamp("2018-06-26 19:00")
    assert (frame.dtypes == np.float64).all()
    assert frame["OT"].iloc[0] == pytest.approx(30.5310001373291)


@pytest.mark.shared_data
def test_a_corrupted_local_copy_is_refused(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data" / "ett" / "ETTh1.csv"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(data_dir / "ett" / "ETTh1.csv", copy)
    with copy.open("r+b") as handle:
        handle.seek(-3, 2)
        handle.write(b"999")
    with pytest.raises(DatasetUnavailableError) as error:
        load("ETTh1", data_dir=tmp_path / "data")
    message = str(error.value)
    assert f"ett/ETTh1.csv: checksum mismatch in {copy}: expected sha256 {ETTH1_SHA256}, found " in message
    assert "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv" in message


@pytest.mark.shared_data
def test_download_of_etth1_uses_the_catalog_url_and_hash(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_data_dir: None
) -> None:
    requested = []

    def urlopen(url, timeout=None):  # serves the shared copy in place of GitHub
        requested.append(url)
        return (data_dir / "ett" / "ETTh1.csv").open("rb")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert load("ETTh1").frame.shape == (17420, 7)
    assert requested == ["https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv"]
    cached = tmp_path / "cache" / "ett" / "ETTh1.csv"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == ETTH1_SHA256


@pytest.mark.shared_data
def test_m4_hourly_is_a_long_frame_with_48_test_values_per_series(data_dir: Path) -> None:
    dataset = load("m4-hourly", data_dir=data_dir)
    frame, test = dataset.frame, dataset.test
    sizes = frame.groupby(level="series").size()
    assert len(sizes) == 414 and set(sizes) == {700, 960}
    assert (test.groupby(level="series").size() == 48).all() and len(test) == 414 * 48
    assert frame.index.names == ["series", "timestamp"] and frame.index.is_monotonic_increasing
    assert frame.loc["H1", "value"].iloc[:3].tolist() == [605.0, 586.0, 586.0]
    assert frame.loc["H1"].index[0] == pd.Timestamp("2000-01-01")
    # The test values continue the nominal hourly timeline right after each series.
    assert test.loc["H1"].index[0] == frame.loc["H1"].index[-1] + pd.Timedelta(hours=1)
    assert test.loc["H1", "value"].iloc[[0, -1]].tolist() == [619.0, 659.0]


@pytest.mark.shared_data
def test_nab_holds_58_raw_series_with_their_anomaly_windows(data_dir: Path) -> None:
    dataset = load("nab", data_dir=data_dir)
    frame = dataset.frame
    keys = frame.index.get_level_values("series").unique()
    assert len(keys) == 58 and frame.columns.tolist() == ["value"]
    assert len(frame.loc["realKnownCause/nyc_taxi.csv"]) == 10320
    assert frame.loc["realKnownCause/nyc_taxi.csv", "value"].iloc[0] == 10844.0
    # Raw rows are kept: this file has repeated and out-of-order timestamps.
    machine = frame.loc["realKnownCause/machine_temperature_system_failure.csv"].index
    assert len(machine) == 22695 and not machine.is_monotonic_increasing
    windows = dataset.anomaly_windows
    assert set(windows) == set(keys) and sum(map(len, windows.values())) == 116
    first_window = (pd.Timestamp("2014-10-30 15:30"), pd.Timestamp("2014-11-03 22:30"))
    assert windows["realKnownCause/nyc_taxi.csv"][0] == first_window
    assert windows["artificialNoAnomaly/art_flatline.csv"] == []
    assert dataset.anomaly_points["realKnownCause/nyc_taxi.csv"][0] == pd.Timestamp("2014-11-01 19:00")
