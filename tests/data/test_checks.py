"""check_series and observed_mask on in-memory wide and long frames (the time grid: test_timegrid.py)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tsseq.data.checks import check_series, fill_missing, observed_mask, series_frequency
from tsseq.errors import ConfigError, DataError


def hourly(values: dict[str, list[float]], start: str = "2020-01-01", **kwargs: object) -> pd.DataFrame:
    length = len(next(iter(values.values())))
    index = pd.date_range(start, periods=length, freq="h", name="date", **kwargs)
    return pd.DataFrame(values, index=index)


def long_frame(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, names=["series", "date"])


# ---- the clean path -------------------------------------------------------------------


def test_wide_frame_comes_back_as_float64_with_freq_and_is_not_modified() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}, index=pd.Index(["2020-01-01", "2020-01-02", "2020-01-03"]))
    original = frame.copy()
    checked = check_series(frame)
    expected = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}, index=pd.date_range("2020-01-01", periods=3, freq="D")
    )
    pd.testing.assert_frame_equal(checked, expected, check_index_type=False)
    assert checked.index.freqstr == "D"
    assert (checked.dtypes == np.float64).all()
    pd.testing.assert_frame_equal(frame, original)


def test_series_input_and_column_selection() -> None:
    frame = hourly({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    assert list(check_series(frame["a"]).columns) == ["a"]
    assert list(check_series(frame, columns=["b", "a"]).columns) == ["b", "a"]


def test_long_frame_is_sorted_by_series_then_time_with_different_lengths() -> None:
    frame = long_frame({"B": hourly({"v": [1.0, 2.0]}), "A": hourly({"v": [3.0, 4.0, 5.0]})})
    checked = check_series(frame)
    assert checked.index.names == ["series", "date"]
    assert list(checked.index.get_level_values(0)) == ["A", "A", "A", "B", "B"]
    np.testing.assert_array_equal(checked["v"].to_numpy(), [3.0, 4.0, 5.0, 1.0, 2.0])
    assert series_frequency(checked) == "h"


def test_long_rows_interleaved_by_time_are_not_out_of_order() -> None:
    times = pd.date_range("2020-01-01", periods=2, freq="h").repeat(2)
    index = pd.MultiIndex.from_arrays([["A", "B", "A", "B"], times], names=["series", "date"])
    checked = check_series(pd.DataFrame({"v": [1.0, 10.0, 2.0, 20.0]}, index=index))
    np.testing.assert_array_equal(checked["v"].to_numpy(), [1.0, 2.0, 10.0, 20.0])


# ---- missing-value policies -----------------------------------------------------------


def test_missing_error_names_column_first_row_and_count() -> None:
    frame = hourly({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, np.nan, 3.0, np.nan]})
    with pytest.raises(DataError, match=r"column 'b' has 2 missing value\(s\); the first is at row iloc\[1\]"):
        check_series(frame)


def test_interpolate_is_linear_inside_and_refuses_edges() -> None:
    frame = hourly({"a": [1.0, np.nan, np.nan, 4.0, 5.0]})
    np.testing.assert_allclose(check_series(frame, missing="interpolate")["a"], [1.0, 2.0, 3.0, 4.0, 5.0])
    leading = hourly({"a": [np.nan, 2.0, 3.0]})
    with pytest.raises(DataError, match="column 'a' has 1 leading or trailing missing value.*2020-01-01 00:00:00"):
        check_series(leading, missing="interpolate")
    trailing = hourly({"a": [1.0, 2.0, np.nan]})
    with pytest.raises(DataError, match="leading or trailing"):
        check_series(trailing, missing="interpolate")


def test_interpolate_and_ffill_stay_within_each_series() -> None:
    frame = long_frame({"A": hourly({"v": [1.0, np.nan, 3.0]}), "B": hourly({"v": [10.0, np.nan, 30.0]})})
    np.testing.assert_allclose(check_series(frame, missing="interpolate")["v"], [1, 2, 3, 10, 20, 30])
    np.testing.assert_allclose(check_series(frame, missing="ffill")["v"], [1, 1, 3, 10, 10, 30])
    leading_b = long_frame({"A": hourly({"v": [1.0, 2.0]}), "B": hourly({"v": [np.nan, 5.0]})})
    with pytest.raises(DataError, match="series 'B' column 'v' has 1 leading missing value"):
        check_series(leading_b, missing="ffill")


def test_ffill_carries_forward_including_the_end() -> None:
    frame = hourly({"a": [1.0, np.nan, np.nan, 4.0, np.nan]})
    np.testing.assert_array_equal(check_series(frame, missing="ffill")["a"], [1.0, 1.0, 1.0, 4.0, 4.0])


@pytest.mark.parametrize("missing", ["interpolate", "ffill"])
def test_fill_missing_after_mask_fills_and_refuses_as_check_series_does(missing) -> None:
    # tsseq detect reads with mask, to mark the rows it fills, then fills: values and refusals must be check_series'
    wide = hourly({"a": [1.0, np.nan, np.nan, 4.0], "b": [1.0, 2.0, np.nan, 4.0]})
    long = long_frame({"A": hourly({"v": [1.0, np.nan, 3.0]}), "B": hourly({"v": [10.0, 20.0, np.nan, 40.0]})})
    for data in (wide, long):
        filled = fill_missing(check_series(data, missing="mask"), missing, "x.csv")
        pd.testing.assert_frame_equal(filled, check_series(data, missing=missing))  # the index's freq too
    unfillable = long_frame({"A": hourly({"v": [1.0, 2.0]}), "B": hourly({"v": [np.nan, 5.0]})})
    with pytest.raises(DataError) as direct:
        check_series(unfillable, source="x.csv", missing=missing)
    with pytest.raises(DataError) as after_mask:
        fill_missing(check_series(unfillable, source="x.csv", missing="mask"), missing, "x.csv")
    assert str(after_mask.value) == str(direct.value)
    steps = check_series(pd.DataFrame({"a": [1.0, np.nan, 3.0]}, index=[10, 20, 30]), missing="mask",
                         timestamp_unit="steps")  # fmt: skip
    assert fill_missing(steps, missing, "x.csv").attrs["timestamps"] == "steps"  # so that the numbers come back


def test_mask_keeps_nans_and_observed_mask_marks_values() -> None:
    frame = hourly({"a": [1.0, np.nan, 3.0], "b": [np.nan, 2.0, 3.0]})
    checked = check_series(frame, missing="mask")
    assert np.isnan(checked.loc[checked.index[1], "a"])
    mask = observed_mask(checked)
    assert mask.dtype == bool and mask.shape == (3, 2)
    np.testing.assert_array_equal(mask, [[True, False], [False, True], [True, True]])


def test_unknown_missing_policy_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="'missing' parameter.*Got 'interpolat'.*Did you mean 'interpolate'"):
        check_series(hourly({"a": [1.0, 2.0]}), missing="interpolat")


# ---- reindexed rows, order and duplicates (gaps: test_timegrid.py) -----------------


def test_reindex_inserts_missing_rows_that_then_follow_the_policy() -> None:
    frame = hourly({"a": [0.0, 1.0, 2.0, 3.0, 4.0]}).drop(pd.Timestamp("2020-01-01 02:00"))
    filled = check_series(frame, reindex=True, missing="interpolate")
    pd.testing.assert_frame_equal(filled, hourly({"a": [0.0, 1.0, 2.0, 3.0, 4.0]}))
    masked = check_series(frame, reindex=True, missing="mask")
    np.testing.assert_array_equal(observed_mask(masked)[:, 0], [True, True, False, True, True])
    with pytest.raises(DataError, match=r"inserted 1 row\(s\).*2020-01-01 02:00:00.*missing='error'"):
        check_series(frame, reindex=True)


def test_unsorted_error_or_sort() -> None:
    frame = hourly({"a": [0.0, 1.0, 2.0, 3.0]}).iloc[[0, 2, 1, 3]]
    order = r"not in increasing order: row iloc\[2\] \(2020-01-01 01:00:00\) comes after row iloc\[1\]"
    with pytest.raises(DataError, match=order):
        check_series(frame)
    np.testing.assert_array_equal(check_series(frame, sort=True)["a"], [0.0, 1.0, 2.0, 3.0])


def test_duplicates_are_listed_with_a_count() -> None:
    frame = hourly({"a": [0.0, 1.0, 2.0]}).iloc[[0, 1, 1, 2, 2]]
    with pytest.raises(DataError) as error:
        check_series(frame)
    message = str(error.value)
    assert "2 timestamp(s) occur more than once" in message
    assert "2020-01-01 01:00:00 at row iloc[1] and row iloc[2]" in message


def test_the_hour_repeated_when_daylight_saving_time_ends_is_named_with_how_to_export_it() -> None:
    """Local 15-minute readings across 2024-10-27 (Europe): 02:00-02:45 twice. Removing the duplicates, the generic
    advice, would drop an hour of real readings; the message says what happened and asks for UTC offsets."""
    first = pd.date_range("2024-10-27 00:00", "2024-10-27 02:45", freq="15min")
    local = first.append(pd.date_range("2024-10-27 02:00", "2024-10-27 04:00", freq="15min"))
    frame = pd.DataFrame({"a": np.arange(len(local), dtype=float)}, index=local)
    with pytest.raises(DataError, match=r"4 timestamp\(s\) occur more than once: .*After row iloc\[11\] "
                       r"\(2024-10-27 02:45:00\) the timestamps start the hour again at 2024-10-27 02:00:00: local clock "
                       r"times across the end of daylight saving time.*UTC offsets"):  # fmt: skip
        check_series(frame)
    utc = local.tz_localize("Europe/Berlin", ambiguous=np.r_[[True] * 12, [False] * (len(local) - 12)]).tz_convert(None)
    assert len(check_series(frame.set_axis(utc))) == len(local)  # the offsets' instants: every reading kept
    hourly_twice = hourly({"a": [0.0, 1.0, 2.0]}).iloc[[0, 1, 1, 2]]  # a plain duplicate row, not on such a night
    with pytest.raises(DataError, match="remove or aggregate the duplicates"):
        check_series(hourly_twice)


def test_long_frame_messages_name_the_series() -> None:
    gappy_b = hourly({"v": [1.0, 2.0, 3.0, 4.0]}).iloc[[0, 1, 3]]
    frame = long_frame({"A": hourly({"v": [1.0, 2.0, 3.0, 4.0]}), "B": gappy_b})
    with pytest.raises(DataError, match=r"irregular spacing: series 'B', row iloc\[5\] \(2020-01-01 01:00:00\)"):
        check_series(frame)
    duplicated = long_frame({"A": hourly({"v": [1.0, 2.0]}), "B": hourly({"v": [1.0, 2.0]}).iloc[[0, 0, 1]]})
    with pytest.raises(DataError, match=r"series 'B' 2020-01-01 00:00:00 at row iloc\[2\] and row iloc\[3\]"):
        check_series(duplicated)


# ---- bad values and timestamps --------------------------------------------------------


def test_non_numeric_value_names_column_row_and_value() -> None:
    frame = hourly({"a": [1.0, 2.0, 3.0]}).astype(object)
    frame.iloc[2, 0] = "oops"
    with pytest.raises(DataError, match=r"column 'a' has a non-numeric value 'oops' at row iloc\[2\]"):
        check_series(frame)
    numeric_strings = hourly({"a": [1.0, 2.0, 3.0]}).astype(str)
    np.testing.assert_array_equal(check_series(numeric_strings)["a"], [1.0, 2.0, 3.0])


def test_a_column_of_labels_gets_a_hint_to_leave_it_out_unless_the_columns_were_named() -> None:
    frame = hourly({"a": [1.0, 2.0, 3.0]}).assign(store=["A", "A", None])
    with pytest.raises(DataError, match=r"column 'store' .* It holds no number: .*value_columns.*--columns A,B.*--series-column"):
        check_series(frame)
    with pytest.raises(DataError, match=r"column 'store' .*are not numbers\.$"):
        check_series(frame, columns=["a", "store"])
    partly = hourly({"a": [1.0, 2.0, 3.0]}).assign(b=["1", "x", "3"])
    with pytest.raises(DataError, match=r"column 'b' .*are not numbers\.$"):  # a typo, not a label column
        check_series(partly)


def test_infinite_values_are_refused() -> None:
    with pytest.raises(DataError, match=r"column 'b' has an infinite value \(-inf\) at row iloc\[1\]"):
        check_series(hourly({"a": [1.0, 2.0], "b": [1.0, -np.inf]}), missing="mask")


def test_all_nan_channel_is_refused_whatever_the_policy() -> None:
    with pytest.raises(DataError, match=r"column 'b' has no values: all 3 row\(s\) are missing"):
        check_series(hourly({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3}), missing="mask")


def test_min_rows_per_series() -> None:
    frame = long_frame({"A": hourly({"v": [1.0, 2.0, 3.0]}), "B": hourly({"v": [1.0, 2.0]})})
    with pytest.raises(DataError, match="series 'B' needs at least 3 rows .*got 2"):
        check_series(frame, min_rows=3)
    with pytest.raises(ConfigError, match="'min_rows' parameter must be an int >= 1. Got 0"):
        check_series(frame, min_rows=0)


def test_bad_index_values() -> None:
    numbers = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(DataError, match="expected timestamps in the index.*set_index"):
        check_series(numbers)
    unparsable = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index(["2020-01-01", "31st of never"]))
    with pytest.raises(DataError, match=r"unparsable timestamp '31st of never' at row iloc\[1\]"):
        check_series(unparsable)


@pytest.mark.parametrize(
    "stamps, found",
    [
        (["2020-01-01 00:00+00:00", "2020-01-01 01:00", "2020-01-01 02:00+00:00"], "has no UTC offset"),
        (["2020-01-01 00:00", "2020-01-01 01:00+00:00", "2020-01-01 02:00"], "has UTC offset +00:00"),
        (["2020-01-01 00:00+01:00", "2020-01-01 01:00", "2020-01-01 03:00+02:00"], "has no UTC offset"),
    ],
)
def test_mixed_time_zones_name_the_row(stamps: list[str], found: str) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.Index(stamps))
    with pytest.raises(DataError, match=r"mix time zones: .*row iloc\[1\] " + re.escape(found)):
        check_series(frame)


def test_utc_offsets_that_change_are_read_as_utc_instants_with_a_warning() -> None:
    hours = pd.date_range("2024-03-31", periods=4, freq="h", tz="Europe/Berlin")  # +01:00, then +02:00 from 03:00
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}, index=pd.Index([hour.isoformat() for hour in hours]))
    expected = (r"UTC offsets \+01:00 and \+02:00 \(the offset changes first at row iloc\[2\] "
                r"\('2024-03-31T03:00:00\+02:00'\)\); they are read as UTC instants, .* output timestamps are in UTC")  # fmt: skip
    with pytest.warns(UserWarning, match=expected):
        checked = check_series(frame)
    assert checked.index.equals(pd.date_range("2024-03-30 23:00", periods=4, freq="h", tz="UTC"))
    assert checked.index.freq == "h"
    days = pd.date_range("2024-03-29", periods=4, freq="D", tz="Europe/Berlin")  # local midnight: 23 h in UTC
    daily = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}, index=pd.Index([day.isoformat() for day in days]))
    with pytest.raises(DataError, match=r"one local time of day but their UTC offsets change .*'2024-04-01'"):
        check_series(daily)


def test_missing_column_suggests_the_closest_name() -> None:
    with pytest.raises(DataError, match="no column 'tmep'. Did you mean 'temp'?"):
        check_series(hourly({"temp": [1.0, 2.0]}), columns=["tmep"])


def test_an_empty_column_selection_is_refused() -> None:
    with pytest.raises(DataError, match="has no value columns"):
        check_series(hourly({"temp": [1.0, 2.0]}), columns=[])
    with pytest.raises(DataError, match="has no value columns"):
        check_series(hourly({"temp": [1.0, 2.0]})[[]])


def test_the_boundary_check_imports_nothing_of_the_estimator_base() -> None:
    """tsseq.base uses check_series; check_series must not import tsseq.base back (no import circle)."""
    import subprocess
    import sys

    code = "import sys, tsseq.data.checks; print('tsseq.base' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("values", [np.arange(30.0), list(range(30)), {"y": [1.0, 2.0]}])
def test_values_without_timestamps_are_refused_naming_what_was_given_and_the_way_in(values) -> None:
    import tsseq

    message = rf"expected a pandas DataFrame or Series indexed by timestamps .* Got {type(values).__name__}; e.g. pd.Series"
    with pytest.raises(DataError, match=message):
        check_series(values)
    for name in ("ar", "naive", "segrnn"):
        with pytest.raises(DataError, match=message):
            tsseq.create(name).fit(values)
    with pytest.raises(DataError, match=message):
        tsseq.create("auto", horizon=3).fit(values)


def test_a_long_frame_with_its_timestamps_first_says_to_swap_the_levels() -> None:
    index = pd.MultiIndex.from_product([pd.date_range("2024-01-01", periods=5, freq="h"), ["a", "b"]],
                                       names=["time", "store"])  # fmt: skip
    frame = pd.DataFrame({"y": np.arange(10.0)}, index=index)
    with pytest.raises(DataError, match=r"timestamps first \(\['time', 'store'\]\)\. Swap its levels: frame.swaplevel"):
        check_series(frame)
    assert check_series(frame.swaplevel().sort_index()).shape == (10, 1)
