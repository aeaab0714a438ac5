"""Per-channel contributions: they sum to the score, name the faulty channel, reach the CSV and events, stay causal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import contribution_columns, make_detector
from tsseq.anomaly.scorers import AbsoluteScorer, MahalanobisScorer, SquaredScorer, split_by_shares
from tsseq.anomaly.streaming import score_stream
from tsseq.cli import main
from tsseq.data.plant import generate_plant
from tsseq.errors import ConfigError

TINY = {"epochs": 3, "batch_size": 64, "seed": 0, "progress": False, "threads": 1}
# Kinds whose fault shows in the faulty channel's own residual; a slow drift or a stuck
# value of the noisy flow sensor is not always the largest residual (the report says so).
VISIBLE_KINDS = ("spike", "shift", "oscillation", "broken_coupling")


@pytest.fixture(scope="module")
def plant():
    return generate_plant(2400, clean_start=1000, seed=0)


def _wide(seed: int = 0, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = np.column_stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24), np.sin(2 * np.pi * t / 12)])
    values = values + 0.1 * rng.standard_normal(values.shape)
    return pd.DataFrame(values, columns=["a", "b", "c"], index=pd.date_range("2024-01-01", periods=rows, freq="h"))


def test_additive_scorers_split_their_score_exactly() -> None:
    errors = np.random.default_rng(1).standard_normal((50, 7, 4))
    for scorer in (AbsoluteScorer("mean"), SquaredScorer("mean"), AbsoluteScorer("max"), SquaredScorer("max")):
        parts = scorer.contributions(errors)
        assert parts.shape == errors.shape
        np.testing.assert_allclose(parts.sum(axis=-1), scorer.score(errors), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(AbsoluteScorer("mean").contributions(np.array([[1.0, -3.0]])), [[0.5, 1.5]])
    np.testing.assert_array_equal(SquaredScorer("max").contributions(np.array([[1.0, -3.0]])), [[0.0, 9.0]])


def test_mahalanobis_terms_sum_to_the_squared_distance_known_answer() -> None:
    scorer = MahalanobisScorer()
    scorer.mean_ = np.zeros(2)
    scorer.precision_ = np.linalg.inv(np.array([[1.0, 0.5], [0.5, 1.0]]))
    # S^-1 (1, 1) = (2/3, 2/3): terms 2/3 each, d^2 = 4/3; contributions m_c / d sum to d.
    np.testing.assert_allclose(scorer.terms(np.array([1.0, 1.0])), [2 / 3, 2 / 3], rtol=1e-14)
    np.testing.assert_allclose(scorer.contributions(np.array([1.0, 1.0])), [2 / 3 / np.sqrt(4 / 3)] * 2, rtol=1e-14)
    # Opposite errors on positively correlated channels: each term 2, d^2 = 4.
    np.testing.assert_allclose(scorer.terms(np.array([1.0, -1.0])), [2.0, 2.0], rtol=1e-14)
    errors = np.random.default_rng(2).standard_normal((300, 3)) @ np.array([[1, 0.8, 0], [0, 1, 0.3], [0, 0, 1]])
    fitted = MahalanobisScorer().fit(errors)
    np.testing.assert_allclose(fitted.terms(errors).sum(axis=-1), fitted.score(errors) ** 2, rtol=1e-10)
    np.testing.assert_allclose(fitted.contributions(errors).sum(axis=-1), fitted.score(errors), rtol=1e-10)


def test_split_by_shares_sums_to_the_score_and_splits_zero_rows_evenly() -> None:
    parts = split_by_shares(np.array([2.0, 3.0, np.nan]), np.array([[1.0, 3.0], [0.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(parts[:2], [[0.5, 1.5], [1.5, 1.5]])
    assert np.isnan(parts[2]).all()


@pytest.mark.parametrize(
    "name, params",
    [
        ("ar_residual", {"scorer": "absolute"}),
        ("ar_residual", {"scorer": "squared"}),
        ("ar_residual", {"scorer": "mahalanobis"}),
        ("ar_residual", {"scorer": "likelihood"}),
        ("gru_ae", {"training": TINY, "model_params": {"hidden_size": 8}}),
        ("gru_ae", {"training": TINY, "model_params": {"hidden_size": 8}, "aggregation": "max", "causal": False}),
        ("interval", {}),
        ("online_interval", {}),
    ],
)
def test_every_multichannel_detector_gives_contributions_that_sum_to_its_score(name: str, params: dict) -> None:
    frame = _wide()
    detector = make_detector(name, window_length=24, **params) if name != "online_interval" else make_detector(name)
    detector.fit(frame.iloc[:300])
    scores, parts = detector.score(frame.iloc[300:]), detector.contributions(frame.iloc[300:])
    assert list(parts.columns) == ["a", "b", "c"] and parts.index.equals(scores.index)
    np.testing.assert_allclose(parts.sum(axis=1, min_count=1), scores, rtol=1e-10, atol=1e-12)


def test_online_residual_says_it_gives_no_contributions() -> None:
    frame = _wide()[["a"]]
    detector = make_detector("online_residual").fit(frame.iloc[:300])
    assert detector.gives_contributions is False
    with pytest.raises(ConfigError, match="one channel"):
        detector.contributions(frame.iloc[300:])
    with pytest.raises(ConfigError, match="one channel"):
        score_stream(make_detector("online_residual"), frame, train_rows=300, contributions=True)


@pytest.mark.parametrize("name", ["ar_residual", "auto"])
def test_the_faulty_channel_carries_the_largest_contribution_on_the_plant(plant, name: str) -> None:
    params = {"window_length": 32, "threshold": "quantile"}
    if name == "auto":
        params["training"] = TINY
    result = score_stream(make_detector(name, **params), plant.frame, train_rows=1000, contributions=True).frame
    parts = result[contribution_columns(plant.frame.columns)].set_axis(list(plant.frame.columns), axis=1)
    checked = 0
    for event in plant.events.itertuples():
        if event.kind in VISIBLE_KINDS:
            assert parts.loc[event.start : event.end].sum().idxmax() == event.channels, event
            checked += 1
    assert checked >= 8


def test_contributions_are_causal(plant) -> None:
    frame = plant.frame.iloc[:1400]
    changed = frame.copy()
    changed.iloc[1200:] = changed.iloc[1200:] * 3.0 + 7.0  # every later row
    for name, params in [
        ("ar_residual", {"scorer": "mahalanobis"}),
        ("gru_ae", {"training": TINY, "model_params": {"hidden_size": 8}}),
        ("interval", {}),
        ("auto", {"training": TINY}),
    ]:
        detector = make_detector(name, window_length=32, **params)
        left = score_stream(detector, frame, train_rows=1000, contributions=True).frame
        right = score_stream(detector, changed, train_rows=1000, contributions=True).frame
        pd.testing.assert_frame_equal(left.iloc[:1200], right.iloc[:1200], obj=name)
        assert not np.allclose(left["score"].iloc[1200:], right["score"].iloc[1200:])
    online = make_detector("online_interval").fit(frame.iloc[:1000])
    left, right = online.contributions(frame.iloc[1000:]), online.contributions(changed.iloc[1000:])
    pd.testing.assert_frame_equal(left.iloc[:200], right.iloc[:200])


def test_detect_csv_has_contribution_columns_and_events_name_the_faulty_channel(tmp_path: Path, capsys) -> None:
    plant = generate_plant(2400, anomalies={"shift": 2, "oscillation": 2}, clean_start=1000, seed=4)
    data = tmp_path / "plant.csv"
    plant.frame.to_csv(data)
    output, events_path, plot = tmp_path / "scores.csv", tmp_path / "events.csv", tmp_path / "scores.png"
    code = main(["detect", str(data), "--detector", "ar_residual", "--param", "scorer=squared", "--window", "32",
                 "--train-rows", "1000", "--threshold", "quantile", "--threshold-param", "q=0.99", "--event-gap", "5",
                 "--output", str(output), "--events", str(events_path), "--plot", str(plot)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    columns = contribution_columns(plant.frame.columns)
    assert list(table.columns) == ["timestamp", *plant.frame.columns, "score", "threshold", "is_anomaly", *columns]
    np.testing.assert_allclose(table[columns].sum(axis=1, min_count=1), table["score"], rtol=1e-10)
    events = pd.read_csv(events_path, parse_dates=["start", "end"])
    found = 0
    for fault in plant.events.itertuples():  # every event inside a fault names its channel first
        inside = events[(events["start"] <= fault.end) & (events["end"] >= fault.start)]
        assert all(channels.split(",")[0] == fault.channels for channels in inside["channels"]), (fault, inside)
        found += bool(len(inside))
    assert found >= 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
