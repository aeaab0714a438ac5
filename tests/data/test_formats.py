"""The benchmark file formats on tiny hand-written files: layouts, nominal M4 timelines, NAB labels, errors.

The real files, read through the catalog, are tested in test_catalog.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.data.formats import nab_key, read_ett, read_m4, read_nab
from tsseq.errors import DataError

ETT_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
TINY_ETT = (
    "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
    "2016-07-01 00:00:00,1,2,3,4,5,6,7\n"
    "2016-07-01 01:00:00,1.5,2,3,4,5,6,8\n"
    "2016-07-01 02:00:00,2,2,3,4,5,6,9\n"
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _m4_test_file(tmp_path: Path, ids: list[str], width: int) -> Path:
    """An M4 test CSV (quoted like the originals): every series gets the values 10, 11, .."""
    values = ",".join(f'"{value}"' for value in range(10, 10 + width))
    header = '"V1",' + ",".join(f'"V{i}"' for i in range(2, width + 2))
    return _write(tmp_path / "test.csv", header + "\n" + "".join(f'"{id_}",{values}\n' for id_ in ids))


# ------------------------------------------------------------------------------ ETT


def test_ett_is_a_wide_float_frame_at_its_frequency(tmp_path: Path) -> None:
    frame = read_ett(_write(tmp_path / "tiny.csv", TINY_ETT), columns=ETT_COLUMNS, freq="h")
    assert frame.shape == (3, 7) and tuple(frame.columns) == ETT_COLUMNS
    assert frame.index.name == "date" and frame.index.freqstr == "h"
    assert frame.index[0] == pd.Timestamp("2016-07-01") and (frame.dtypes == np.float64).all()
    assert frame["HUFL"].tolist() == [1.0, 1.5, 2.0]


def test_irregular_ett_timestamps_are_reported_with_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "tiny.csv", TINY_ETT.replace("2016-07-01 02:00:00", "2016-07-01 03:00:00"))
    expected = r"regular at frequency 'h'; row 3 has 2016-07-01 03:00:00, expected 2016-07-01 02:00:00"
    with pytest.raises(DataError, match=expected):
        read_ett(path, columns=ETT_COLUMNS, freq="h")


def test_unexpected_ett_columns_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "tiny.csv", TINY_ETT)
    with pytest.raises(DataError) as error:
        read_ett(path, columns=("OT",), freq="h")
    assert str(error.value) == f"{path}: expected columns ['OT']. Got {list(ETT_COLUMNS)} instead."


# ------------------------------------------------------------------------------- M4


def test_m4_ragged_rows_become_long_frames_on_a_nominal_timeline(tmp_path: Path) -> None:
    train_path = _write(tmp_path / "train.csv", '"V1","V2","V3","V4"\n"D2","1","2","3"\n"D1","5","6",\n')
    train, test = read_m4(train_path, _m4_test_file(tmp_path, ["D2", "D1"], 2), start="2020-01-01", freq="D")
    assert train.index.names == ["series", "timestamp"] and train.index.is_monotonic_increasing
    assert train.index.get_level_values("series").tolist() == ["D1", "D1", "D2", "D2", "D2"]  # sorted ids
    assert train["value"].tolist() == [5.0, 6.0, 1.0, 2.0, 3.0] and (train.dtypes == np.float64).all()
    assert train.loc["D1"].index.tolist() == list(pd.date_range("2020-01-01", periods=2, freq="D"))
    # The horizon defaults to the width of the test file; each test part follows its own series.
    assert test.loc["D1"].index.tolist() == list(pd.date_range("2020-01-03", periods=2, freq="D"))
    assert test.loc["D2"].index.tolist() == list(pd.date_range("2020-01-04", periods=2, freq="D"))
    assert test["value"].tolist() == [10.0, 11.0, 10.0, 11.0]


def test_an_m4_gap_inside_a_row_is_refused(tmp_path: Path) -> None:
    train_path = _write(tmp_path / "train.csv", '"V1","V2","V3","V4"\n"D1","1",,"3"\n')
    with pytest.raises(DataError, match=r"train\.csv: series 'D1' has an empty cell before its last value\.$"):
        read_m4(train_path, _m4_test_file(tmp_path, ["D1"], 2), start="2020-01-01", freq="D")


@pytest.mark.parametrize("test_ids, horizon", [(["D2", "D1"], None), (["D1", "D2"], 3)])
def test_m4_test_series_must_match_the_training_series_and_horizon(
    tmp_path: Path, test_ids: list[str], horizon: int | None
) -> None:
    train_path = _write(tmp_path / "train.csv", '"V1","V2","V3"\n"D1","1","2"\n"D2","5",\n')
    test_path = _m4_test_file(tmp_path, test_ids, 2)
    with pytest.raises(DataError) as error:
        read_m4(train_path, test_path, start="2020-01-01", freq="D", horizon=horizon)
    expected_horizon = 2 if horizon is None else horizon
    assert str(error.value) == (
        f"{test_path}: expected the series of train.csv in the same order with {expected_horizon} values each."
    )


# ------------------------------------------------------------------------------ NAB


def _nab_files(tmp_path: Path, windows: dict, labels: dict) -> tuple[dict[str, Path], Path, Path]:
    series = {
        # Raw rows: the second file repeats a timestamp and goes back in time.
        "cat/b.csv": "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n",
        "cat/a.csv": "timestamp,value\n2014-02-01 00:10:00,7\n2014-02-01 00:10:00,8\n2014-02-01 00:05:00,9\n",
    }
    paths = {key: _write(tmp_path / "nab" / "data" / key, text) for key, text in series.items()}
    windows_path = _write(tmp_path / "nab" / "labels" / "windows.json", json.dumps(windows))
    labels_path = _write(tmp_path / "nab" / "labels" / "labels.json", json.dumps(labels))
    return paths, windows_path, labels_path


def test_nab_keeps_the_raw_rows_of_every_series_with_its_labels(tmp_path: Path) -> None:
    windows = {"cat/a.csv": [["2014-02-01 00:00:00.000000", "2014-02-01 00:10:00.000000"]], "cat/b.csv": []}
    labels = {"cat/a.csv": ["2014-02-01 00:05:00"], "cat/b.csv": []}
    nab = read_nab(*_nab_files(tmp_path, windows, labels), columns=["value"])
    frame = nab.frame
    assert frame.index.names == ["series", "timestamp"] and frame.columns.tolist() == ["value"]
    assert frame.index.get_level_values("series").unique().tolist() == ["cat/a.csv", "cat/b.csv"]  # sorted
    assert frame.loc["cat/a.csv", "value"].tolist() == [7.0, 8.0, 9.0] and (frame.dtypes == np.float64).all()
    assert frame.loc["cat/a.csv"].index.minute.tolist() == [10, 10, 5]  # as in the file
    assert nab.anomaly_windows == {
        "cat/a.csv": [(pd.Timestamp("2014-02-01 00:00"), pd.Timestamp("2014-02-01 00:10"))], "cat/b.csv": []
    }
    assert nab.anomaly_points == {"cat/a.csv": [pd.Timestamp("2014-02-01 00:05")], "cat/b.csv": []}


def test_nab_labels_must_cover_exactly_the_series(tmp_path: Path) -> None:
    series, windows_path, labels_path = _nab_files(
        tmp_path, {"cat/a.csv": [], "cat/c.csv": []}, {"cat/a.csv": [], "cat/b.csv": []}
    )
    with pytest.raises(DataError) as error:
        read_nab(series, windows_path, labels_path, columns=["value"])
    assert str(error.value) == (
        f"{windows_path}: expected labels for exactly the 2 series files; these differ: ['cat/b.csv', 'cat/c.csv']."
    )


def test_nab_series_files_with_other_columns_are_refused(tmp_path: Path) -> None:
    files = _nab_files(tmp_path, {"cat/a.csv": [], "cat/b.csv": []}, {"cat/a.csv": [], "cat/b.csv": []})
    with pytest.raises(DataError, match=r"^NAB series files: expected columns \['count'\]\. Got \['value'\]"):
        read_nab(*files, columns=["count"])


def test_nab_keys_are_category_and_file_name() -> None:
    assert nab_key("nab/data/realKnownCause/nyc_taxi.csv") == "realKnownCause/nyc_taxi.csv"
