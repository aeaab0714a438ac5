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
from tsseq.errors import DataError


def _dates(path: Path, stamps: pd.DatetimeIndex, style: str) -> Path:
    path.write_text("date,y\n" + "".join(f"{stamp:{style}},{row}\n" for row, stamp in enumerate(stamps)))
    return path


def _converted_warning_as_read_csv(source: Path, output: Path, expected: str, chunk_rows: int):
    """``csv_to_parquet`` of ``source``, warning ``expected``; its Parquet reads back as ``read_csv`` reads the CSV,
    with the same warning, in the same words."""
    with pytest.warns(UserWarning, match=expected):
        converted = csv_to_parquet(source, output, chunk_rows=chunk_rows)
    with pytest.warns(UserWarning, match=expected):
        pd.testing.assert_frame_equal(read_parquet(converted.path), read_csv(source))
    return converted


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
    converted = _converted_warning_as_read_csv(source, tmp_path / "twelve.parquet", expected, chunk_rows=5)
    assert read_parquet(converted.path).index[1] == pd.Timestamp("2024-02-01")  # month first, as read_csv reads them
    minutes = pd.date_range("2024-01-01", periods=2 * 24 * 60, freq="min")  # past the first 1000 rows: all read
    source = _dates(tmp_path / "minutes.csv", minutes, "%d/%m/%Y %H:%M")
    with pytest.warns(UserWarning, match=r"minutes.csv: .*\('02/01/2024 00:00' at line 1442 \(data row 1441\) is 01 Feb"):
        csv_to_parquet(source, tmp_path / "minutes.parquet", chunk_rows=500)


def _stamps(path: Path, stamps: list[str]) -> Path:
    path.write_text("date,y\n" + "".join(f"{stamp},{row}\n" for row, stamp in enumerate(stamps)))
    return path


def test_daylight_saving_offsets_convert_to_utc_as_read_csv_and_forecast_read_them(tmp_path: Path) -> None:
    hours = pd.date_range("2024-02-15", periods=1200, freq="h", tz="Europe/Berlin")  # +02:00 past the first 1000 rows
    source = _stamps(tmp_path / "berlin.csv", [hour.isoformat() for hour in hours])
    expected = (r"berlin.csv: the timestamps have the UTC offsets \+01:00 and \+02:00 \(the offset changes first at "
                r"line 1084 \(data row 1083\) \('2024-03-31T03:00:00\+02:00'\)\); they are read as UTC instants")  # fmt: skip
    converted = _converted_warning_as_read_csv(source, tmp_path / "berlin.parquet", expected, chunk_rows=500)
    assert read_parquet(converted.path).index.equals(hours.tz_convert("UTC").rename("date"))
    forecast = tmp_path / "forecast.csv"
    with pytest.warns(UserWarning, match=expected):  # printed by the CLI, as its other warnings
        assert main(["forecast", str(source), "--model", "naive", "--horizon", "2", "--output", str(forecast)]) == 0
    assert pd.read_csv(forecast)["date"].tolist() == ["2024-04-04 23:00:00+00:00", "2024-04-05 00:00:00+00:00"]
    days = pd.date_range("2024-03-01", periods=60, freq="D", tz="Europe/Berlin")  # local midnight: 23 h apart in UTC
    daily = _stamps(tmp_path / "daily.csv", [day.isoformat() for day in days])
    with pytest.raises(DataError, match=r"daily.csv: the timestamps all have one local time of day .* line 33 "):
        csv_to_parquet(daily, tmp_path / "daily.parquet", chunk_rows=7)
    assert not (tmp_path / "daily.parquet").exists()


def test_a_timestamp_without_utc_offset_among_offsets_is_named_by_line(tmp_path: Path) -> None:
    hours = pd.date_range("2024-03-31", periods=40, freq="h", tz="Europe/Berlin")
    stamps = [hour.isoformat() for hour in hours]
    stamps[27] = stamps[27][:-6]  # line 29, in the third chunk of ten rows
    source = _stamps(tmp_path / "mixed.csv", stamps)
    expected = (r"mixed.csv: timestamps mix time zones: line 2 \(data row 1\) has UTC offset \+01:00 "
                r"\('2024-03-31T00:00:00\+01:00'\) but line 29 \(data row 28\) has no UTC offset "
                r"\('2024-04-01T04:00:00'\)")  # fmt: skip
    with pytest.raises(DataError, match=expected):
        csv_to_parquet(source, tmp_path / "mixed.parquet", chunk_rows=10)
    with pytest.raises(DataError, match=expected):  # the same words as read_csv's
        read_csv(source)


def test_iso_timestamps_in_mixed_precision_convert_as_read_csv_reads_them(tmp_path: Path) -> None:
    seconds = pd.date_range("2024-03-01 08:00", periods=30, freq="1500ms", name="date")
    stamps = [f"{second:%Y-%m-%d %H:%M:%S.%f}".rstrip("0").rstrip(".") for second in seconds]  # 08:00:00, 08:00:01.5
    source = _stamps(tmp_path / "log.csv", stamps)
    for chunk_rows in (7, 1):  # the first timestamp has no fraction: the format pandas guesses from it has none
        converted = csv_to_parquet(source, tmp_path / f"log{chunk_rows}.parquet", chunk_rows=chunk_rows)
        assert read_parquet(converted.path).index.equals(seconds)
        pd.testing.assert_frame_equal(read_parquet(converted.path), read_csv(source))
