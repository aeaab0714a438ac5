"""Events from flagged points (known answers: the gap rule, peaks, channels) and event-level metrics by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.events import EVENT_COLUMNS, find_events, smoothing_gap
from tsseq.anomaly.metrics import event_precision_recall_f1, merge_segments
from tsseq.errors import ConfigError, DataError

#          rows: 0  1  2  3  4  5  6  7  8  9 10 11
FLAGS = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1], dtype=bool)
SCORES = np.array([0, 2, 5, 1, 0, 3, 0, 0, 0, 0, 4, np.nan])
INDEX = pd.date_range("2024-01-01", periods=12, freq="10s")


def test_runs_of_flags_are_events_with_their_extent_duration_and_peak() -> None:
    events = find_events(pd.Series(FLAGS, index=INDEX), SCORES)
    assert list(events.columns) == list(EVENT_COLUMNS) and len(events) == 3
    assert list(events["start"]) == [INDEX[1], INDEX[5], INDEX[10]]
    assert list(events["end"]) == [INDEX[2], INDEX[5], INDEX[11]]
    assert list(events["rows"]) == [2, 1, 2]
    assert list(events["duration"]) == [pd.Timedelta("10s"), pd.Timedelta(0), pd.Timedelta("10s")]
    assert list(events["peak_score"]) == [5.0, 3.0, 4.0]  # NaN scores are skipped
    assert list(events["peak_time"]) == [INDEX[2], INDEX[5], INDEX[10]]
    assert (events["channels"] == "").all()  # no contributions given


@pytest.mark.parametrize(
    "gap, extents",
    [
        (0, [(1, 2), (5, 5), (10, 11)]),
        (1, [(1, 2), (5, 5), (10, 11)]),  # rows 3 and 4: two unflagged rows between the first two
        (2, [(1, 5), (10, 11)]),
        (3, [(1, 5), (10, 11)]),  # rows 6-9: four unflagged rows
        (4, [(1, 11)]),
    ],
)
def test_the_gap_rule_joins_events_at_most_gap_unflagged_rows_apart(gap: int, extents: list) -> None:
    events = find_events(FLAGS, SCORES, index=INDEX, gap=gap)
    assert [(INDEX.get_loc(start), INDEX.get_loc(end)) for start, end in zip(events["start"], events["end"])] == extents
    assert list(events["rows"]) == [end - start + 1 for start, end in extents]  # bridged rows included
    assert events["peak_score"].max() == 5.0 and events["peak_time"].iloc[0] == INDEX[2]


def test_bridge_rows_join_the_events_on_either_side_when_they_fill_the_gap() -> None:
    bridge = np.zeros(12, dtype=bool)
    bridge[3:5] = True  # rows 3 and 4: every row between the first two events
    bridge[6:9] = True  # rows 6-8 of the 6-9 gap: row 9 is not a bridge row
    events = find_events(FLAGS, SCORES, index=INDEX, bridge=bridge)
    assert [(INDEX.get_loc(start), INDEX.get_loc(end)) for start, end in zip(events["start"], events["end"])] == [
        (1, 5), (10, 11)]  # fmt: skip
    assert list(events["rows"]) == [5, 2] and events["peak_score"].tolist() == [5.0, 4.0]
    bridge[9] = True
    assert len(find_events(FLAGS, SCORES, index=INDEX, bridge=bridge)) == 1
    bridge[:] = False  # no bridge rows: the events of the flags alone
    unbridged = find_events(FLAGS, SCORES, index=INDEX)
    pd.testing.assert_frame_equal(find_events(FLAGS, SCORES, index=INDEX, bridge=bridge), unbridged)
    with pytest.raises(DataError, match="bridge"):
        find_events(FLAGS, bridge=bridge[:5])


def test_peak_is_the_first_highest_score_and_nan_without_scores() -> None:
    events = find_events(np.array([1, 1, 1, 0], dtype=bool), np.array([1.0, 3.0, 3.0, 9.0]))
    assert events["peak_score"].tolist() == [3.0] and events["peak_time"].tolist() == [1]  # row numbers
    unscored = find_events(np.array([0, 1, 1], dtype=bool))
    assert np.isnan(unscored["peak_score"].iloc[0]) and unscored["peak_time"].isna().all()


def test_channels_involved_come_from_the_contributions() -> None:
    contributions = pd.DataFrame(0.0, index=INDEX, columns=["flow", "pressure", "power"])
    contributions.loc[INDEX[1:3], "pressure"] = [2.0, 4.0]  # 6
    contributions.loc[INDEX[1:3], "flow"] = [1.0, 2.5]  # 3.5 >= 0.5 * 6
    contributions.loc[INDEX[2], "power"] = 2.9  # < 3
    contributions.loc[INDEX[10:12], "power"] = [1.0, np.nan]  # unscored rows add nothing
    events = find_events(FLAGS, SCORES, index=INDEX, contributions=contributions)
    assert events["channels"].tolist() == ["pressure,flow", "", "power"]
    strict = find_events(FLAGS, SCORES, index=INDEX, contributions=contributions, channel_share=1.0)
    assert strict["channels"].tolist()[0] == "pressure"


def test_no_flag_no_event_with_typed_columns() -> None:
    events = find_events(pd.Series(np.zeros(5, dtype=bool), index=INDEX[:5]), np.ones(5))
    assert events.empty and list(events.columns) == list(EVENT_COLUMNS)
    assert pd.api.types.is_datetime64_any_dtype(events["start"]) and events["rows"].dtype == np.int64


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DataError, match="same length"):
        find_events(FLAGS, SCORES[:5], index=INDEX)
    with pytest.raises(ConfigError, match="'gap'"):
        find_events(FLAGS, gap=-1)
    with pytest.raises(ConfigError, match="'channel_share'"):
        find_events(FLAGS, channel_share=0)


def test_merge_segments_by_hand() -> None:
    assert merge_segments([(0, 3), (5, 6), (9, 10)], gap=1) == [(0, 3), (5, 6), (9, 10)]
    assert merge_segments([(0, 3), (5, 6), (9, 10)], gap=2) == [(0, 6), (9, 10)]
    assert merge_segments([(0, 3), (5, 6), (9, 10)], gap=3) == [(0, 10)]
    assert merge_segments([], gap=5) == []


def test_event_metrics_by_hand() -> None:
    #        rows: 0  1  2  3  4  5  6  7  8  9 10 11 12 13
    labels = [0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0]  # true events: 1-3, 7-8, 12
    flags = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]  # flagged: 2 (hits 1-3), 5 and 10 (false alarms)
    # recall 1/3 (one of three true events), precision 1/3 (one of three flagged events)
    result = event_precision_recall_f1(flags, labels)
    assert (result.precision, result.recall) == pytest.approx((1 / 3, 1 / 3)) and result.f1 == pytest.approx(1 / 3)
    # one flag inside a long event is one detection: recall counts events, not rows
    assert event_precision_recall_f1([0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], labels).f1 == 1.0
    # gap=2 joins flags 2 and 5 (rows 3, 4 between) into one event 2-5 overlapping a true event; 10 stays a false alarm
    joined = event_precision_recall_f1(flags, labels, gap=2)
    assert (joined.precision, joined.recall) == pytest.approx((1 / 2, 1 / 3))
    # gap=4 also bridges rows 6-9: one event 2-10, overlapping true events 1-3 and 7-8 (none of their rows flagged)
    bridged = event_precision_recall_f1(flags, labels, gap=4)
    assert (bridged.precision, bridged.recall) == pytest.approx((1.0, 2 / 3))
    # ignored rows: the flag at 5 overlaps only an ignored row, so it is neither hit nor false alarm
    ignore = np.zeros(14, dtype=bool)
    ignore[5] = True
    ignoring = event_precision_recall_f1(flags, labels, ignore=ignore)
    assert (ignoring.precision, ignoring.recall) == pytest.approx((1 / 2, 1 / 3))
    assert event_precision_recall_f1([0] * 14, labels).f1 == 0.0  # zero division gives 0


def test_events_of_a_detection_on_the_plant_corpus_match_its_labels() -> None:
    """The labels of the plant read as flags are its events, and score F1 = 1 against themselves."""
    from tsseq.data.plant import generate_plant

    plant = generate_plant(2000, anomaly_length=(10, 60), seed=3)
    events = find_events(pd.Series(plant.is_anomaly, index=plant.frame.index))
    assert list(events["start"]) == list(plant.events["start"]) and list(events["end"]) == list(plant.events["end"])
    assert event_precision_recall_f1(plant.is_anomaly, plant.is_anomaly).f1 == 1.0


def test_the_default_gap_is_the_thresholds_smoothing_window_less_one() -> None:
    from tsseq.anomaly.thresholds import AdaptiveThresholder, FalseAlarmThresholder, TransductiveThresholder

    assert smoothing_gap(AdaptiveThresholder()) == smoothing_gap(TransductiveThresholder()) == 8  # 9 rows smoothed
    assert smoothing_gap(FalseAlarmThresholder(smoothing=4)) == 3
    assert smoothing_gap(FalseAlarmThresholder()) == smoothing_gap(TransductiveThresholder(smoothing=1)) == 0
    assert smoothing_gap(None) == 0  # scores without a threshold


def test_detect_joins_runs_less_than_the_default_thresholds_window_apart() -> None:
    """tsseq detect's events: runs at most 8 unflagged rows apart are one event unless event_gap says otherwise."""
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig
    from tsseq.anomaly.job import detect_frame
    from tsseq.config import DataConfig

    rng = np.random.default_rng(0)
    values = np.sin(2 * np.pi * np.arange(800) / 50) + 0.1 * rng.standard_normal(800)
    values[600:680:6] += 1.5  # a burst of spikes 6 rows apart
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=800, freq="min"))
    results = {}
    for gap in (None, 0):
        config = DetectionConfig(
            name="burst", data=DataConfig(csv="x.csv"), detector=DetectorConfig(name="ar_residual"), train_rows=400,
            event_gap=gap,
        )
        results[gap] = result = detect_frame(config, frame, "burst.csv")
        table = result.table
        bridge = table["smoothed_score"] > table["threshold"]
        expected = find_events(table["is_anomaly"], table["score"], bridge=bridge, gap=8 if gap is None else gap)
        pd.testing.assert_frame_equal(result.events.drop(columns="channels"), expected.drop(columns="channels"))
    pd.testing.assert_frame_equal(results[None].table, results[0].table)  # the flags do not change
    assert len(results[None].events) < len(results[0].events)
