"""The regular time grid: frequency inference, spacing checks and reindexing.

Most tests go through :func:`check_series`, the way users reach the grid; the last ones
call :mod:`tsseq.data.timegrid` on its arrays directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.frequencies import to_offset

from tsseq.data.checks import check_series, series_frequency
from tsseq.data.timegrid import Where, check_spacing, iloc_row, reindex_to_grid, resolve_frequency
from tsseq.errors import ConfigError, DataError


def hourly(values: dict[str, list[float]], start: str = "2020-01-01", **kwargs: object) -> pd.DataFrame:
    length = len(next(iter(values.values())))
    index = pd.date_range(start, periods=length, freq="h", name="date", **kwargs)
    return pd.DataFrame(values, index=index)


def long_frame(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, names=["series", "date"])


WIDE = Where("<t>", iloc_row, None)


# ---- frequency ------------------------------------------------------------------------


def test_calendar_frequencies_and_time_zones_are_kept() -> None:
    monthly = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=pd.date_range("2020-01-01", periods=3, freq="MS"))
    assert series_frequency(check_series(monthly)) == "MS"
    # Days across the spring DST change are 23 hours long: a calendar step, not a fixed one.
    across_dst = pd.date_range("2020-03-28", periods=3, freq="D", tz="Europe/Berlin")
    daily = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=across_dst)
    checked = check_series(daily)
    assert checked.index.freqstr == "D"
    assert str(checked.index.tz) == "Europe/Berlin"


def test_given_freq_is_used_and_checked() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=pd.date_range("2020-01-01", periods=3, freq="2h"))
    assert check_series(frame, freq="2h").index.freqstr == "2h"
    with pytest.raises(DataError, match=r"a step of '2h'; expected steps of 'h' \(given\)"):
        check_series(frame, freq="h")


def test_two_row_series_infer_their_step_and_one_row_needs_freq() -> None:
    two = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.date_range("2020-01-01", periods=2, freq="15min"))
    assert check_series(two).index.freqstr == "15min"
    one = two.iloc[:1]
    with pytest.raises(DataError, match="cannot infer a frequency.*pass freq="):
        check_series(one)
    assert check_series(one, freq="15min").index.freqstr == "15min"


def test_unknown_freq_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'freq' parameter must be a pandas frequency.*Got 'hourly'"):
        check_series(hourly({"a": [1.0, 2.0]}), freq="hourly")


def test_a_retired_alias_names_the_ones_that_replace_it() -> None:
    with pytest.raises(ConfigError, match=r"Got 'M' instead\. pandas now spells it 'ME' \(month end\) or 'MS'"):
        check_series(hourly({"a": [1.0, 2.0]}), freq="M")
    with pytest.raises(ConfigError, match=r"Got 'H' instead\. pandas now spells it 'h'\."):
        check_series(hourly({"a": [1.0, 2.0]}), freq="H")


@pytest.mark.parametrize("freq", [None, "MS"])
def test_monthly_timestamps_on_another_day_say_how_to_put_them_on_the_grid(freq) -> None:
    mid_month = pd.date_range("2015-01-01", periods=24, freq="MS") + pd.Timedelta(days=14)
    frame = pd.DataFrame({"v": np.arange(24.0)}, index=mid_month.rename("date"))
    with pytest.raises(DataError, match=r"monthly, on day 15 of each month .*first day \('MS'\) or last \('ME'\).*"
                                        r"to_period\('M'\)"):
        check_series(frame, freq=freq)
    relabelled = frame.set_axis(frame.index.to_period("M").to_timestamp())
    assert series_frequency(check_series(relabelled)) == "MS"  # as the message says


def test_series_with_different_frequencies_are_named() -> None:
    daily = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=pd.date_range("2020-01-01", periods=3, freq="D", name="date"))
    frame = long_frame({"A": hourly({"v": [1.0, 2.0, 3.0, 4.0]}), "B": daily})
    with pytest.raises(DataError, match="series 'B' has frequency 'D' but the longest series has 'h'"):
        check_series(frame)
    with pytest.raises(DataError, match="series 'B' has frequency 'D'"):
        series_frequency(frame)


def test_with_freq_per_series_each_series_keeps_its_own_grid_and_is_checked_on_it() -> None:
    # detection scores each series alone: an hourly, a daily and a 30-minute one, each with a gap
    days = pd.DatetimeIndex(["2020-01-01", "2020-01-02", "2020-01-04"], name="date")
    half_hours = pd.date_range("2020-01-01", periods=4, freq="30min", name="date")
    gaps = long_frame({"A": hourly({"v": [1.0, 2.0, 3.0, 5.0, 6.0]}).drop(pd.Timestamp("2020-01-01 03:00")),
                       "B": pd.DataFrame({"v": [1.0, 2.0, 4.0]}, index=days),
                       "C": pd.DataFrame({"v": [1.0, 3.0, 4.0]}, index=half_hours[[0, 2, 3]])})  # fmt: skip
    with pytest.raises(DataError, match="series 'C', row iloc.* not on the 'h' grid"):
        check_series(gaps, reindex=True, missing="interpolate")  # forecasting keeps one frequency
    checked = check_series(gaps, reindex=True, missing="interpolate", freq_per_series=True)
    steps = {series: set(checked.loc[series].index.to_series().diff().dropna()) for series in "ABC"}
    assert steps == {"A": {pd.Timedelta("1h")}, "B": {pd.Timedelta("1D")}, "C": {pd.Timedelta("30min")}}
    np.testing.assert_allclose(checked.loc["B", "v"], [1.0, 2.0, 3.0, 4.0])  # the inserted day interpolated
    assert checked.index.get_level_values(0).tolist() == ["A"] * 5 + ["B"] * 4 + ["C"] * 4
    # without reindex, a gap is named in the series' own step, at the row the caller gave
    only_b = long_frame({"A": hourly({"v": [1.0, 2.0, 3.0, 4.0]}), "B": gaps.loc[["B"]].droplevel(0),
                         "C": pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=half_hours[:3])})  # fmt: skip
    with pytest.raises(DataError, match=r"series 'B', row iloc\[5\] \(2020-01-02 00:00:00\) is followed by row "
                                        r"iloc\[6\] \(2020-01-04 00:00:00\), a step of '48h'; expected steps of 'D'"):
        check_series(only_b, freq_per_series=True)


@pytest.mark.parametrize(
    "tz, expected",
    [(None, "D"), ("UTC", "24h")],  # whole days are calendar days only where no DST can shift them
)
def test_most_common_step_when_infer_freq_fails(tz: str | None, expected: str) -> None:
    days = pd.DatetimeIndex(["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"], tz=tz)
    offset, how = resolve_frequency(np.zeros(4, dtype=np.intp), days, None, WIDE)
    assert (offset.freqstr, how) == (expected, "the most common step")


def test_most_common_step_counts_steps_within_each_series_only() -> None:
    # Counting the 1h steps from one series' last row to the next series' first would win.
    hours = [0, 2, 3, 5, 6, 7]
    times = pd.Timestamp("2020-01-01") + pd.to_timedelta(hours, unit="h")
    where = Where("<t>", iloc_row, ["A", "B", "C"])
    offset, how = resolve_frequency(np.array([0, 0, 1, 1, 2, 2]), pd.DatetimeIndex(times), None, where)
    assert (offset.freqstr, how) == ("2h", "the most common step")


def test_series_frequency_of_an_index_without_freq_and_of_no_timestamps() -> None:
    frame = hourly({"v": [1.0, 2.0, 3.0]})
    frame.index.freq = None
    assert series_frequency(frame) == "h"
    with pytest.raises(DataError, match="expected timestamps in the index. Got int64 values; run check_series"):
        series_frequency(pd.DataFrame({"v": [1.0, 2.0]}))


# ---- spacing --------------------------------------------------------------------------


def test_gap_error_names_first_gap_and_expected_frequency() -> None:
    frame = hourly({"a": [0.0, 1.0, 2.0, 3.0, 4.0]}).drop(pd.Timestamp("2020-01-01 02:00"))
    with pytest.raises(DataError) as error:
        check_series(frame)
    message = str(error.value)
    assert "row iloc[1] (2020-01-01 01:00:00) is followed by row iloc[2] (2020-01-01 03:00:00)" in message
    assert "expected steps of 'h'" in message and "reindex=True" in message


def test_a_given_step_is_not_blamed_on_another_series_frequency() -> None:
    times = pd.date_range("2020-01-01", periods=3, freq="D").append(pd.date_range("2020-01-01", periods=3, freq="h"))
    where = Where("<t>", iloc_row, ["A", "B"])
    codes, offset = np.array([0, 0, 0, 1, 1, 1]), to_offset("h")
    given = r"irregular spacing: series 'A', row iloc\[0\].*expected steps of 'h' \(given\)"
    with pytest.raises(DataError, match=given):
        check_spacing(codes, times, offset, "given", np.arange(6), where)
    with pytest.raises(DataError, match="series 'A' has frequency 'D' but the longest series has 'h'"):
        check_spacing(codes, times, offset, "inferred", np.arange(6), where)


# ---- reindexing -----------------------------------------------------------------------


def test_reindex_keeps_each_series_phase_and_calendar_steps() -> None:
    on_the_hour = hourly({"v": [1.0, 2.0, 3.0]}).drop(pd.Timestamp("2020-01-01 01:00"))
    half_past = hourly({"v": [5.0, 6.0, 7.0]}, start="2020-01-01 00:30").iloc[[0, 2]]
    both = long_frame({"A": on_the_hour, "B": half_past})
    checked = check_series(both, freq="h", reindex=True, missing="interpolate")
    np.testing.assert_allclose(checked["v"], [1.0, 2.0, 3.0, 5.0, 6.0, 7.0])
    assert checked.loc["B"].index[1] == pd.Timestamp("2020-01-01 01:30")
    monthly = pd.DataFrame({"v": [1.0, 3.0]}, index=pd.DatetimeIndex(["2020-01-01", "2020-03-01"]))
    checked = check_series(monthly, freq="MS", reindex=True, missing="interpolate")
    assert checked.index.freqstr == "MS" and list(checked["v"]) == [1.0, 2.0, 3.0]


def test_reindex_refuses_timestamps_off_the_grid() -> None:
    index = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 01:30", "2020-01-01 03:00"])
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0]}, index=index)
    with pytest.raises(DataError, match=r"2020-01-01 01:30:00 at row iloc\[2\] is not on the 'h' grid"):
        check_series(frame, freq="h", reindex=True, missing="mask")


def test_reindex_refuses_to_blow_up_on_a_stray_timestamp() -> None:
    index = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 01:00", "2021-01-01 00:00"])
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=index)
    with pytest.raises(DataError, match=r"would grow 3 rows to 8785; the largest gap is from 2020-01-01 01:00:00"):
        check_series(frame, freq="h", reindex=True, missing="mask")


def test_reindex_to_grid_inserts_nan_rows_per_series() -> None:
    times = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 02:00", "2020-01-01 00:30", "2020-01-01 01:30"])
    values = np.array([[1.0], [3.0], [5.0], [7.0]])  # (N, C)
    where = Where("<t>", iloc_row, ["A", "B"])
    offset = to_offset("h")
    codes, timestamps, grown = reindex_to_grid(np.array([0, 0, 1, 1]), times, values, offset, np.arange(4), where)
    np.testing.assert_array_equal(codes, [0, 0, 0, 1, 1])
    expected = ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00", "2020-01-01 00:30", "2020-01-01 01:30"]
    pd.testing.assert_index_equal(timestamps, pd.DatetimeIndex(expected).as_unit(times.unit))
    np.testing.assert_array_equal(grown, [[1.0], [np.nan], [3.0], [5.0], [7.0]])
