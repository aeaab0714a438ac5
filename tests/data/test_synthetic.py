"""The synthetic generator: layout, determinism, and anomalies confined to their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.data.synthetic import ANOMALY_KINDS, generate
from tsseq.errors import ConfigError

ALL_KINDS = {kind: 2 for kind in ANOMALY_KINDS}


def test_layout_of_frame_labels_and_table() -> None:
    series = generate(500, channels=3, freq="15min", start="2021-03-01", anomalies=ALL_KINDS, seed=1)
    frame, labels, table = series.frame, series.labels, series.anomalies
    assert frame.shape == labels.shape == (500, 3)
    assert list(frame.columns) == list(labels.columns) == ["channel_0", "channel_1", "channel_2"]
    assert frame.index.freqstr == "15min" and frame.index[0] == pd.Timestamp("2021-03-01")
    assert (frame.dtypes == np.float64).all() and (labels.dtypes == bool).all()
    assert list(table.columns) == ["kind", "start", "end", "channel"] and len(table) == 10
    assert table["kind"].value_counts().to_dict() == ALL_KINDS
    assert table["start"].is_monotonic_increasing and (table["end"] >= table["start"]).all()
    assert series.is_anomaly.shape == (500,) and series.is_anomaly.sum() == labels.to_numpy().sum()


def test_the_table_and_the_labels_describe_the_same_stretches() -> None:
    series = generate(800, channels=2, anomalies=ALL_KINDS, anomaly_length=(5, 20), seed=3)
    rebuilt = pd.DataFrame(False, index=series.frame.index, columns=series.frame.columns)
    for row in series.anomalies.itertuples():
        rebuilt.loc[row.start : row.end, row.channel] = True
        if row.kind == "spike":
            assert row.start == row.end
        else:
            assert 5 <= len(series.frame.loc[row.start : row.end]) <= 20
    pd.testing.assert_frame_equal(rebuilt, series.labels)


def test_same_seed_same_output_and_another_seed_another() -> None:
    first = generate(300, channels=2, anomalies=ALL_KINDS, seed=7)
    again = generate(300, channels=2, anomalies=ALL_KINDS, seed=7)
    other = generate(300, channels=2, anomalies=ALL_KINDS, seed=8)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.labels, again.labels)
    pd.testing.assert_frame_equal(first.anomalies, again.anomalies)
    assert not np.allclose(first.frame.to_numpy(), other.frame.to_numpy())


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_kind_changes_the_series_only_inside_its_labels(kind: str) -> None:
    options = dict(length=600, channels=2, trend=0.01, seasonalities=((24, 1.0), (168, 0.5)), seed=11)
    clean = generate(**options).frame.to_numpy()
    series = generate(**options, anomalies={kind: 3})
    changed = ~np.isclose(series.frame.to_numpy(), clean, rtol=0, atol=1e-12)
    labels = series.labels.to_numpy()
    assert labels.any() and not (changed & ~labels).any()
    for row in series.anomalies.itertuples():  # every labelled stretch is really altered
        stretch = series.frame.index.slice_indexer(row.start, row.end)
        column = series.frame.columns.get_loc(row.channel)
        assert changed[stretch, column].sum() >= (1 if kind in ("spike", "flatline") else 2)


def test_magnitudes_of_spikes_flatlines_variance_and_seasonal_breaks() -> None:
    options = dict(length=400, seasonalities=((20, 2.0),), noise=0.5, anomaly_length=(20, 20), magnitude=3.0, seed=5)
    base = generate(**options)
    clean = base.frame["channel_0"].to_numpy()
    scale = clean.std()  # no trend: the detrended clean channel is the channel
    seasonal = generate(**{**options, "noise": 0.0}).frame["channel_0"].to_numpy()  # same seed, same phases
    for kind in ANOMALY_KINDS:
        series = generate(**options, anomalies={kind: 1})
        row = series.anomalies.iloc[0]
        rows = series.frame.index.slice_indexer(row.start, row.end)
        values, before = series.frame["channel_0"].to_numpy()[rows], clean[rows]
        if kind in ("spike", "level_shift"):
            np.testing.assert_allclose(np.abs(values - before), 3.0 * scale)
        elif kind == "flatline":
            assert (values == before[0]).all()
        elif kind == "variance_change":  # the noise is scaled by 3, the seasonal part is unchanged
            np.testing.assert_allclose(values - seasonal[rows], 3.0 * (before - seasonal[rows]))
        else:  # half a period later a single sine is its negative
            np.testing.assert_allclose(values - before, -2.0 * seasonal[rows], atol=1e-12)


def test_clean_start_keeps_the_first_rows_free() -> None:
    series = generate(400, anomalies={"spike": 20, "flatline": 3}, anomaly_length=(5, 8), clean_start=300, seed=2)
    assert not series.labels.iloc[:300].to_numpy().any() and series.labels.to_numpy().sum() >= 23


@pytest.mark.parametrize(
    "options, message",
    [
        ({"anomalies": {"spikes": 1}}, r"Unknown anomaly kind 'spikes'\. Did you mean 'spike'\?"),
        ({"anomalies": {"flatline": 5}, "anomaly_length": (30, 30)}, r"need 150 rows plus gaps but only 100 rows"),
        ({"anomalies": {"variance_change": 1}, "noise": 0.0}, r"'noise' must be > 0\. Got 0\.0"),
        ({"anomalies": {"seasonal_break": 1}, "seasonalities": ()}, r"give at least one seasonality"),
        ({"channels": 0}, r"The 'channels' parameter must be an int >= 1\. Got 0 instead\."),
        ({"anomaly_length": (5, 2)}, r"'anomaly_length\[1\]' parameter must be an int >= 5\. Got 2"),
        ({"seasonalities": ((0, 1.0),)}, r"periods must be > 0"),
        ({"freq": "fortnightly"}, r"Bad 'start' '2000-01-01' or 'freq' 'fortnightly'"),
    ],
)
def test_bad_parameters_are_named(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate(100, **options)
