"""`tsseq convert` reads dates written nn/nn/yyyy as read_csv does: day first where only that reading parses them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from tsseq.cli import main
from tsseq.data.convert import csv_to_parquet
from tsseq.data.csv import read_csv
from tsseq.data.parquet import read_parquet


def _dates(path: Path, stamps: pd.DatetimeIndex, style: str) -> Path:
    path.write_text("date,y\n" + "".join(f"{stamp:{style}},{row}\n" for row, stamp in enumerate(stamps)))
    return path


def test_day_first_dates_convert_to_the_right_dates_as_read_csv_reads_them(tmp_path: Path, capsys) -> None:
    days = pd.date_range("2024-01-01", periods=30, freq="D", name="date")
    for style in ("%d/%m/%Y", "%d.%m.%Y", "%m/%d/%Y"):  # 13/01/2024 cannot be month first, nor 01/13/2024 day first
        source = _dates(tmp_path / "days.csv", days, style)
        output = tmp_path / f"days{style.replace('/', '').replace('.', '')}.parquet"
        assert main(["convert", str(source), "--output", str(output), "--chunk-rows", "7"]) == 0, capsys.readouterr().err
        converted = read_parquet(output)
        assert converted.index.equals(days), style
        pd.testing.assert_frame_equal(converted, read_csv(source))


def test_first_rows_that_read_both_ways_are_settled_by_the_rest_of_the_file(tmp_path: Path) -> None:
    minutes = pd.date_range("2024-01-01", periods=20 * 24 * 60, freq="min", name="date")  # 13/01 from row 17280 on
    source = _dates(tmp_path / "minutes.csv", minutes, "%d/%m/%Y %H:%M")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one reading parses every date: no warning
        converted = csv_to_parquet(source, tmp_path / "minutes.parquet", chunk_rows=5000)
    assert converted.rows == len(minutes) and read_parquet(converted.path).index.equals(minutes)


def test_dates_that_read_both_ways_warn_naming_the_file_and_a_date(tmp_path: Path) -> None:
    source = _dates(tmp_path / "twelve.csv", pd.date_range("2024-01-01", periods=12, freq="D"), "%d/%m/%Y")
    expected = (r"twelve.csv: the timestamps read both month first and day first \('02/01/2024' at line 3 "
                r"\(data row 2\) is 01 February 2024 or 02 January 2024\)")  # fmt: skip
    with pytest.warns(UserWarning, match=expected):
        converted = csv_to_parquet(source, tmp_path / "twelve.parquet", chunk_rows=5)
    with pytest.warns(UserWarning, match=expected):  # the same words as read_csv's
        pd.testing.assert_frame_equal(read_parquet(converted.path), read_csv(source))
    assert read_parquet(converted.path).index[1] == pd.Timestamp("2024-02-01")  # month first, as read_csv reads them
    minutes = pd.date_range("2024-01-01", periods=2 * 24 * 60, freq="min")  # past the first 1000 rows: all read
    source = _dates(tmp_path / "minutes.csv", minutes, "%d/%m/%Y %H:%M")
    with pytest.warns(UserWarning, match=r"minutes.csv: .*\('02/01/2024 00:00' at line 1442 \(data row 1441\) is 01 Feb"):
        csv_to_parquet(source, tmp_path / "minutes.parquet", chunk_rows=500)
