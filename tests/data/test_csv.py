"""read_csv: tiny CSV files written to tmp_path, every error naming file, column and line."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.data.checks import observed_mask, series_frequency
from tsseq.data.csv import read_csv
from tsseq.errors import ConfigError, DataError, DataFileNotFoundError

HOURLY = "date,a,b\n2020-01-01 00:00,1,10\n2020-01-01 01:00,2,20\n2020-01-01 02:00,3,30\n"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def raises(path: Path, *fragments: str, error: type[Exception] = DataError, **options: object) -> str:
    """Read ``path`` expecting ``error``; check that the message names the file and each fragment."""
    with pytest.raises(error) as caught:
        read_csv(path, **options)
    message = str(caught.value)
    for fragment in (str(path), *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---- the clean path -------------------------------------------------------------------


def test_round_trip_of_a_well_formed_wide_csv(tmp_path: Path) -> None:
    expected = pd.DataFrame(
        {"HUFL": [5.8, 5.7, 5.2, 5.1], "OT": [30.5, 27.8, 27.8, 25.0]},
        index=pd.date_range("2016-07-01", periods=4, freq="h", name="date"),
    )
    path = tmp_path / "ett.csv"
    expected.to_csv(path)
    frame = read_csv(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.index.freq == "h"


def test_file_object_input_and_its_name_in_messages(tmp_path: Path) -> None:
    frame = read_csv(io.StringIO(HOURLY))
    assert frame.shape == (3, 2) and series_frequency(frame) == "h"
    path = write(tmp_path, HOURLY.replace(",3,30", ",x,30"))
    with open(path) as handle, pytest.raises(DataError, match=re.escape(str(path))):
        read_csv(handle)
    with pytest.raises(DataError, match="^<file object>: column 'a'"):
        read_csv(io.StringIO(HOURLY.replace(",3,30", ",x,30")))


def test_timestamp_column_detection_by_name_then_by_values(tmp_path: Path) -> None:
    by_name = read_csv(io.StringIO("value,Timestamp\n1,2020-01-01\n2,2020-01-02\n3,2020-01-03\n"))
    assert by_name.index.name == "Timestamp" and list(by_name.columns) == ["value"]
    by_values = read_csv(io.StringIO("x,when\n1,2020-01-01\n2,2020-01-02\n3,2020-01-03\n"))
    assert by_values.index.name == "when" and by_values.index.freqstr == "D"
    path = write(tmp_path, "x,label\n1,alpha\n2,beta\n")
    raises(path, "no timestamp column found among ['x', 'label']", "timestamp_column= (tsseq: --timestamp-column NAME)")
    epoch = read_csv(io.StringIO("value,ts\n1,1704067200\n2,1704067260\n3,1704067320\n"), timestamp_unit="s")
    assert epoch.index.name == "ts" and epoch.index[0] == pd.Timestamp("2024-01-01") and epoch.index.freqstr == "min"


def test_given_timestamp_value_columns_and_freq(tmp_path: Path) -> None:
    path = write(tmp_path, "stamp,a,b\n20200101,1,10\n20200201,2,20\n20200301,3,30\n")
    frame = read_csv(path, timestamp_column="stamp", value_columns=["b"])
    assert list(frame.columns) == ["b"] and frame.index.freqstr == "MS"
    assert read_csv(path, timestamp_column="stamp", freq="MS").index[2] == pd.Timestamp("2020-03-01")
    raises(path, "no column 'stmp' (the 'timestamp_column' parameter). Did you mean 'stamp'?", timestamp_column="stmp")
    raises(path, "no column 'B'. Did you mean 'b'?", timestamp_column="stamp", value_columns=["B"])


def test_long_format_many_series(tmp_path: Path) -> None:
    text = (
        "id,ds,y\n"
        "H2,2020-01-01 00:00,5\nH2,2020-01-01 01:00,6\n"
        "H1,2020-01-01 00:00,1\nH1,2020-01-01 01:00,2\nH1,2020-01-01 02:00,3\n"
    )
    frame = read_csv(write(tmp_path, text), series_column="id")
    hours = pd.date_range("2020-01-01", periods=3, freq="h")
    index = pd.MultiIndex.from_arrays([["H1", "H1", "H1", "H2", "H2"], hours[[0, 1, 2, 0, 1]]], names=["id", "ds"])
    expected = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0, 6.0]}, index=index)
    pd.testing.assert_frame_equal(frame, expected, check_index_type=False)
    assert series_frequency(frame) == "h"
    raises(write(tmp_path, text), "no column 'ID'", "Did you mean 'id'?", series_column="ID")


def test_long_format_errors_name_the_series_and_line(tmp_path: Path) -> None:
    text = "id,ds,y\nA,2020-01-01 00:00,1\nA,2020-01-01 01:00,2\nB,2020-01-01 01:00,3\nB,2020-01-01 00:00,4\n"
    path = write(tmp_path, text)
    raises(path, "series 'B', line 5 (data row 4)", "comes after line 4 (data row 3)", series_column="id")
    sorted_frame = read_csv(write(tmp_path, text), series_column="id", sort=True)
    np.testing.assert_array_equal(sorted_frame["y"], [1.0, 2.0, 4.0, 3.0])


# ---- file and header errors -----------------------------------------------------------


def test_missing_file_suggests_a_close_name(tmp_path: Path) -> None:
    write(tmp_path, HOURLY, name="sales.csv")
    raises(tmp_path / "sale.csv", "file not found", "Did you mean 'sales.csv'?", error=DataFileNotFoundError)


def test_empty_file_header_only_and_no_header(tmp_path: Path) -> None:
    raises(write(tmp_path, ""), "the file is empty")
    raises(write(tmp_path, "date,a,b\n"), "has a header (date,a,b) but no data rows")
    raises(write(tmp_path, "1.5,1.5\n2.5,2.5\n"), "the first line (1.5,1.5.1) looks like data, not a header")
    raises(write(tmp_path, "2020-01-01,1,2\n2020-01-02,3,4\n"), "looks like data, not a header")


# ---- value errors: line numbers count the header as line 1 ----------------------------


def test_non_numeric_value_names_line_row_column_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, HOURLY.replace("2,20", "2,2O"))
    raises(path, "column 'b' has a non-numeric value '2O' at line 3 (data row 2)")


def test_unparsable_timestamp_names_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, HOURLY.replace("2020-01-01 02:00", "2020-01-01 2 o'clock"))
    raises(path, "unparsable timestamp \"2020-01-01 2 o'clock\" at line 4 (data row 3)")
    raises(write(tmp_path, HOURLY.replace("2020-01-01 01:00", "")), "missing timestamp at line 3 (data row 2)")


def _dates(days: int, style: str) -> str:
    return "date,y\n" + "".join(f"{t:{style}},{i}\n" for i, t in enumerate(pd.date_range("2024-01-01", periods=days)))


def test_day_first_dates_are_read_day_first_where_only_that_reading_parses_them(tmp_path: Path) -> None:
    for style in ("%d/%m/%Y", "%d.%m.%Y", "%m/%d/%Y"):  # 13/01/2024 cannot be month first; 01/13/2024 cannot be day first
        frame = read_csv(write(tmp_path, _dates(30, style)))
        assert frame.index.equals(pd.date_range("2024-01-01", periods=30, freq="D", name="date")), style


def test_dates_that_read_both_ways_warn_naming_the_file_and_a_date(tmp_path: Path) -> None:
    path = write(tmp_path, _dates(12, "%d/%m/%Y"), name="days.csv")  # 01/01 .. 12/01: daily or monthly
    with pytest.warns(UserWarning, match=r"days.csv: the timestamps read both month first and day first \('02/01/2024' "
                                         r"at line 3 \(data row 2\) is 01 February 2024 or 02 January 2024\)"):
        frame = read_csv(path)
    assert frame.index[1] == pd.Timestamp("2024-02-01")  # month first, as pandas reads them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_csv(write(tmp_path, _dates(12, "%Y-%m-%d")))  # ISO dates: one reading, no warning


def test_dotted_dates_that_read_both_ways_are_day_first_without_a_warning(tmp_path: Path) -> None:
    # A German sensor log: 01.03.2024 08:00:01.511 was read as 3 January (with a warning), every row of it.
    text = "zeit;druck\n" + "".join(f"01.03.2024 08:00:{second:02d}.511;{second},5\n" for second in range(30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_csv(write(tmp_path, text))
    assert frame.index[0] == pd.Timestamp("2024-03-01 08:00:00.511") and frame["druck"].iloc[1] == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_csv(write(tmp_path, _dates(12, "%d.%m.%Y"), name="dotted.csv"))  # 01.01 .. 12.01
    assert frame.index.equals(pd.date_range("2024-01-01", periods=12, freq="D", name="date"))


def test_duplicate_timestamps_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, HOURLY + "2020-01-01 02:00,4,40\n2020-01-01 01:00,5,50\n")
    listed = "2020-01-01 01:00:00 at line 3 (data row 2) and line 6 (data row 5)"
    raises(path, "2 timestamp(s) occur more than once", listed)


def test_unsorted_timestamps_error_or_sort(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a\n2020-01-01 00:00,1\n2020-01-01 02:00,3\n2020-01-01 01:00,2\n")
    raises(path, "not in increasing order: line 4 (data row 3) (2020-01-01 01:00:00) comes after line 3", "sort=True")
    np.testing.assert_array_equal(read_csv(path, sort=True)["a"], [1.0, 2.0, 3.0])


def test_missing_covariate_values_are_refused_under_mask_and_not_offered_it(tmp_path: Path) -> None:
    path = write(tmp_path, "date,y,temp\n2020-01-01,1,\n2020-01-02,2,20\n2020-01-03,3,30\n")
    for missing in ("error", "mask"):
        message = raises(path, "column 'temp' has 1 missing value(s)", "A covariate needs a value at every row",
                         missing=missing, covariates=["temp"])  # fmt: skip
        assert "neural models only" not in message
    message = raises(path, "column 'temp' has 1 leading missing value(s)", "fill them in the file", missing="ffill",
                     covariates=["temp"])  # fmt: skip
    assert "neural models only" not in message
    assert "neural models only" in raises(path, "column 'temp' has 1 missing value(s)")  # a target: mask applies


def test_gap_error_or_reindex(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a\n2020-01-01 00:00,0\n2020-01-01 01:00,1\n2020-01-01 03:00,3\n2020-01-01 04:00,4\n")
    first_gap = "irregular spacing: line 3 (data row 2) (2020-01-01 01:00:00) is followed by line 4"
    raises(path, first_gap, "a step of '2h'; expected steps of 'h'")
    frame = read_csv(path, reindex=True, missing="interpolate")
    np.testing.assert_allclose(frame["a"], [0.0, 1.0, 2.0, 3.0, 4.0])
    assert frame.index.freqstr == "h"
    raises(path, "inserted 1 row(s)", "2020-01-01 02:00:00", reindex=True)


def test_missing_values_per_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a,b\n2020-01-01,1,\n2020-01-02,,20\n2020-01-03,3,30\n2020-01-04,,40\n")
    raises(path, "column 'a' has 2 missing value(s); the first is at line 3 (data row 2)")
    raises(path, "column 'b' has 1 leading missing value(s)", missing="ffill")
    raises(path, "column 'a' has 1 leading or trailing missing value(s)", "2020-01-04", missing="interpolate")
    masked = read_csv(path, missing="mask")
    np.testing.assert_array_equal(observed_mask(masked), [[True, False], [False, True], [True, True], [False, True]])
    inside = write(tmp_path, "date,a\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n2020-01-04,\n")
    np.testing.assert_array_equal(read_csv(inside, missing="ffill")["a"], [1.0, 1.0, 3.0, 3.0])


def test_infinite_all_missing_and_too_few_rows(tmp_path: Path) -> None:
    infinite = write(tmp_path, HOURLY.replace(",2,20", ",inf,20"))
    raises(infinite, "column 'a' has an infinite value (inf) at line 3 (data row 2)")
    empty_column = write(tmp_path, "date,a,b\n2020-01-01,1,\n2020-01-02,2,\n")
    raises(empty_column, "column 'b' has no values: all 2 row(s) are missing", missing="mask")
    raises(write(tmp_path, HOURLY), "needs at least 96 rows", "got 3", min_rows=96)


def test_mixed_time_zones_name_the_line(tmp_path: Path) -> None:
    text = "date,a\n2020-01-01T00:00+00:00,1\n2020-01-01T01:00+00:00,2\n2020-01-01T03:00+01:00,3\n2020-01-01T03:00,4\n"
    raises(write(tmp_path, text), "mix time zones", "line 5 (data row 4) has no UTC offset")
    text = "date,a\n2020-01-01T00:00+00:00,1\n2020-01-01T01:00,2\n"
    raises(write(tmp_path, text), "mix time zones", "line 3 (data row 2) has no UTC offset")
    same_zone = read_csv(io.StringIO("date,a\n2020-01-01T00:00+01:00,1\n2020-01-01T01:00+01:00,2\n"))
    assert same_zone.index.tz is not None


def test_daylight_saving_offsets_read_as_an_hourly_utc_grid(tmp_path: Path) -> None:
    hours = pd.date_range("2024-10-27 00:00", periods=5, freq="h", tz="Europe/Berlin")  # +02:00, then +01:00
    path = write(tmp_path, "date,a\n" + "".join(f"{hour.isoformat()},{row}\n" for row, hour in enumerate(hours)))
    with pytest.warns(UserWarning, match=r"UTC offsets \+02:00 and \+01:00 \(.* at line 5 \(data row 4\).* in UTC"):
        frame = read_csv(path)
    assert frame.index.equals(hours.tz_convert("UTC").rename("date")) and frame.index.freq == "h"
    days = pd.date_range("2024-10-26", periods=4, freq="D", tz="Europe/Berlin")  # local midnight: 25 h apart in UTC
    daily = write(tmp_path, "date,a\n" + "".join(f"{day.isoformat()},{row}\n" for row, day in enumerate(days)))
    raises(daily, "all have one local time of day", "+02:00 and +01:00", "line 4 (data row 3)", "write '2024-10-28'")


def test_a_day_first_date_among_iso_dates_is_named_without_pandas_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a\n2020-01-01,1\n2020-01-02,2\n16/01/2020,3\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raises(path, "unparsable timestamp '16/01/2020' at line 4 (data row 3)")
    assert [str(warning.message) for warning in caught] == []


def test_iso_timestamps_that_drop_the_fraction_of_a_second_on_some_rows_are_read(tmp_path: Path) -> None:
    # a sensor log writes 08:00:06, not 08:00:06.000: pandas reads every value in the format of the first
    log = "time,temp\n2024-03-01 08:00:01.466,20.5\n2024-03-01 08:00:03.339,20.7\n2024-03-01 08:00:06,20.9\n"
    frame = read_csv(write(tmp_path, log), irregular="keep")
    assert list(frame.index) == [pd.Timestamp(f"2024-03-01 08:00:{s}") for s in ("01.466", "03.339", "06")]
    unnamed = read_csv(write(tmp_path, log.replace("time,", "when,"), "when.csv"), irregular="keep")
    assert unnamed.index.equals(frame.index.rename("when"))  # found by its values too
    later = write(tmp_path, log.replace("01.466", "01").replace("06,", "06.25,"), "later.csv")  # 08:00:01 first
    assert read_csv(later, irregular="keep").index[2] == pd.Timestamp("2024-03-01 08:00:06.25")
    other = write(tmp_path, log.replace("2024-03-01 08:00:06", "01/03/2024 08:00:06"), "other.csv")  # not ISO 8601
    raises(other, "unparsable timestamp '01/03/2024 08:00:06' at line 4", "in the format of the first timestamp")


# ---- delimiters, decimal commas and field counts (European exports, test-bench logs) ----------

SEMICOLON = "Zeit;Temperatur;Druck\n2020-01-01 00:00;21,5;1013,25\n2020-01-01 01:00;-0,75;1012,5\n2020-01-01 02:00;22;1012\n"


def test_semicolons_and_decimal_commas_are_detected(tmp_path: Path) -> None:
    frame = read_csv(write(tmp_path, SEMICOLON), timestamp_column="Zeit")
    assert list(frame.columns) == ["Temperatur", "Druck"]
    np.testing.assert_allclose(frame.to_numpy(), [[21.5, 1013.25], [-0.75, 1012.5], [22.0, 1012.0]])
    np.testing.assert_allclose(read_csv(io.StringIO(SEMICOLON), timestamp_column="Zeit")["Druck"], [1013.25, 1012.5, 1012])


def test_tabs_and_pipes_are_detected_and_decimal_points_stay(tmp_path: Path) -> None:
    for sep in ("\t", "|"):
        frame = read_csv(write(tmp_path, HOURLY.replace(",", sep).replace(f"{sep}1{sep}10", f"{sep}1.5{sep}10")))
        np.testing.assert_allclose(frame["a"], [1.5, 2.0, 3.0])


def test_given_sep_and_decimal_win(tmp_path: Path) -> None:
    path = write(tmp_path, SEMICOLON)
    frame = read_csv(path, timestamp_column="Zeit", sep=";", decimal=",")
    assert frame["Temperatur"].iloc[0] == 21.5


def test_decimal_commas_are_detected_with_a_given_sep_and_without_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, SEMICOLON)
    expected = [[21.5, 1013.25], [-0.75, 1012.5], [22.0, 1012.0]]
    np.testing.assert_allclose(read_csv(path, timestamp_column="Zeit", sep=";").to_numpy(), expected)
    bare = write(tmp_path, SEMICOLON.split("\n", 1)[1].replace(";22;1012", ";22,0;1012,0"), "bare.csv")
    frame = read_csv(bare, header=False)  # both ',' and ';' split every line alike
    assert list(frame.columns) == ["value_1", "value_2"]
    np.testing.assert_allclose(frame.to_numpy(), expected)
    raises(path, "column 'Temperatur' has a non-numeric value '21,5'", "decimal=',' (tsseq: --decimal ,)",
           timestamp_column="Zeit", sep=";", decimal=".")  # fmt: skip


def test_one_header_column_holding_a_delimiter_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, SEMICOLON)
    raises(path, "the header is one column, 'Zeit;Temperatur;Druck', that contains ';'", "--sep ';'", "--decimal ,", sep=",")


def test_a_row_with_more_fields_than_the_header_names_its_line(tmp_path: Path) -> None:
    first = write(tmp_path, HOURLY.replace("00:00,1,10", "00:00,1,10,99"))
    raises(first, "line 2 has 4 fields, but the header names 3 columns (date, a, b)")
    later = write(tmp_path, HOURLY.replace("02:00,3,30", "02:00,3,30,"))
    raises(later, "line 4 has 4 fields, but the header names 3 columns")


def test_binary_file_says_a_csv_text_file_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    raises(path, "holds binary data, not text; expected a CSV text file")


# ---- timestamps that are numbers, files without a header ----------------------------------


def test_unix_times_with_their_unit_and_numbers_refused_without_one(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamps,value\n1416726000,1.5\n1416729600,2.5\n1416733200,3.5\n")
    frame = read_csv(path, timestamp_unit="s")
    assert list(frame.index) == list(pd.date_range("2014-11-23 07:00", periods=3, freq="h"))
    assert frame.index.freq == "h" and "timestamps" not in frame.attrs
    # a named timestamp column is read as text: its digits are the same Unix times
    named = read_csv(path, timestamp_column="timestamps", timestamp_unit="s")
    pd.testing.assert_frame_equal(named, frame)
    milliseconds = write(tmp_path, "time,value\n1416726000000,1\n1416729600000,2\n", "ms.csv")
    assert read_csv(milliseconds, timestamp_unit="ms").index[0] == pd.Timestamp("2014-11-23 07:00")
    raises(path, "Got int64 numbers (1416726000, ...)", "timestamp_unit='s'", "--timestamp-unit s")
    with pytest.raises(ConfigError, match="'timestamp_unit' parameter must be one of s, ms, us, ns .*Got 'sec'"):
        read_csv(path, timestamp_unit="sec")


def test_unix_times_with_fractions_keep_the_digits_written(tmp_path: Path) -> None:
    written = {  # float64 seconds would give 08:00:01.466000080
        "s": {"1709280001.466": "08:00:01.466", "1709280003.339": "08:00:03.339"},
        "ms": {"1709280001466.5": "08:00:01.4665", "1709280003339.25": "08:00:03.33925"},
        "us": {"1709280001466000.5": "08:00:01.4660005", "1709280003339000.25": "08:00:03.33900025"},
        "ns": {"1709280001466000001": "08:00:01.466000001", "1709280003339000000": "08:00:03.339"},
    }
    for unit, times in written.items():
        path = write(tmp_path, "time,value\n" + "".join(f"{time},1\n" for time in times), f"{unit}.csv")
        expected = [pd.Timestamp(f"2024-03-01 {time}") for time in times.values()]
        assert list(read_csv(path, timestamp_unit=unit).index) == expected, unit
        assert list(read_csv(path, timestamp_column="time", timestamp_unit=unit).index) == expected, unit  # as text


def test_numbers_read_as_steps_give_back_the_same_numbers() -> None:
    from tsseq.data.checks import check_series, step_numbers

    for index in (pd.Index([1, 2, 3, 4]), pd.Index([0.5, 1.0, 1.5, 2.0]), pd.Index([10, 20, 40, 50])):
        frame = check_series(pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0]}, index=index), timestamp_unit="steps",
                             irregular="keep")  # fmt: skip
        assert frame.attrs["timestamps"] == "steps"
        pd.testing.assert_index_equal(step_numbers(frame.index), index)
    with pytest.raises(DataError, match=r"timestamps are not in increasing order: row iloc\[2\]"):
        check_series(pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=pd.Index([1, 3, 2])), timestamp_unit="steps")


def test_a_digit_string_that_is_a_date_stays_a_date_when_steps_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "day,value\n20240105,1\n20240106,2\n20240107,3\n")
    frame = read_csv(path, timestamp_column="day", timestamp_unit="steps")
    assert frame.index[0] == pd.Timestamp("2024-01-05") and "timestamps" not in frame.attrs
    counter = write(tmp_path, "step,value\n1,1\n2,2\n3,3\n", "counter.csv")
    assert read_csv(counter, timestamp_column="step", timestamp_unit="steps").attrs["timestamps"] == "steps"


def test_a_file_without_a_header_or_timestamps(tmp_path: Path) -> None:
    bare = write(tmp_path, "0.5\n1.5\n2.5\n", "ucr.txt")
    raises(bare, "looks like data, not a header", "header=False (tsseq: --no-header)")
    raises(bare, "no timestamp column found", header=False)  # forecasting needs dates
    frame = read_csv(bare, header=False, timestamp_unit="steps")
    assert list(frame.columns) == ["value"] and list(frame["value"]) == [0.5, 1.5, 2.5]
    assert frame.attrs["timestamps"] == "steps" and frame.index.name == "row"
    several = read_csv(write(tmp_path, "1,2,3\n4,5,6\n", "smd.txt"), header=False, timestamp_unit="steps")
    assert list(several.columns) == ["value_1", "value_2", "value_3"]
    dated = read_csv(write(tmp_path, "2024-01-01 00:00,1,2\n2024-01-01 01:00,3,4\n", "d.csv"), header=False)
    assert list(dated.columns) == ["value_1", "value_2"] and dated.index.name == "timestamp"
    raises(write(tmp_path, "1,x\n2,y\n", "bad.txt"), "value 'x' at line 1;", header=False, timestamp_unit="steps")
