"""Anomaly metrics on hand-computed cases (named apart from tests/test_metrics.py for pytest)."""

from __future__ import annotations

import numpy as np
import pytest

from tsseq.anomaly.metrics import (
    _soft_labels,
    label_segments,
    point_adjust,
    point_adjusted_f1,
    point_f1,
    point_precision_recall_f1,
    pr_auc,
    range_precision_recall,
    roc_auc,
    vus_pr,
)
from tsseq.errors import ConfigError, DataError


def test_label_segments_are_half_open() -> None:
    assert label_segments(np.array([0, 1, 1, 0, 1])) == [(1, 3), (4, 5)]
    assert label_segments(np.array([True, True])) == [(0, 2)]
    assert label_segments(np.zeros(3, dtype=bool)) == []


def test_point_precision_recall_f1() -> None:
    result = point_precision_recall_f1([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0])  # TP 2, FP 1, FN 1
    assert (result.precision, result.recall, result.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert point_f1(np.zeros(4, dtype=bool), np.array([0, 1, 0, 0])) == 0.0  # nothing flagged: 0, no error


def test_point_adjusted_f1_inflates_point_f1() -> None:
    labels = np.zeros(12, dtype=bool)
    labels[2:6] = labels[8:10] = True
    flags = np.zeros(12, dtype=bool)
    flags[[0, 3]] = True  # one false alarm, one hit inside the first segment
    assert point_adjust(flags, labels).tolist() == [True, False] + [True] * 4 + [False] * 6
    assert point_f1(flags, labels) == pytest.approx(0.25)  # P 1/2, R 1/6
    adjusted = point_adjusted_f1(flags, labels)  # P 4/5, R 4/6
    assert (adjusted.precision, adjusted.recall, adjusted.f1) == pytest.approx((0.8, 2 / 3, 8 / 11))


def test_roc_auc_and_average_precision() -> None:
    labels = np.array([0, 0, 1, 1, 0])
    assert roc_auc(labels * 2.0 + 0.5, labels) == 1.0
    assert roc_auc(-labels.astype(float), labels) == 0.0
    # AP = sum (R_n - R_{n-1}) P_n = 1/2 * 1 + 1/2 * 2/3
    assert pr_auc(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])) == pytest.approx(5 / 6)


def test_score_metrics_error_messages() -> None:
    with pytest.raises(DataError, match="scores and labels must have the same length. Got 3 and 2"):
        roc_auc(np.ones(3), np.array([0, 1]))
    with pytest.raises(DataError, match="predictions and labels must have the same length. Got 2 and 3"):
        point_f1(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(DataError, match="needs both normal and anomalous labels; every label is normal"):
        pr_auc(np.arange(3.0), np.zeros(3))
    with pytest.raises(DataError, match="1 NaN"):
        roc_auc(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(DataError, match="labels must be booleans or 0/1. Got the value 2"):
        point_f1(np.array([0, 1]), np.array([0, 2]))


def _one_range_half_covered() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros(20, dtype=bool)
    labels[5:15] = True
    flags = np.zeros(20, dtype=bool)
    flags[5:10] = True  # the first half of the real range
    return flags, labels


@pytest.mark.parametrize(
    ("bias", "recall"),
    [("flat", 0.5), ("front", 40 / 55), ("back", 15 / 55), ("middle", 15 / 30)],
)
def test_range_recall_positional_bias(bias: str, recall: float) -> None:
    # weights over positions 1..10: front 10..1 (first half 40 of 55), back 1..10 (15 of 55),
    # middle 1,2,3,4,5,5,4,3,2,1 (15 of 30)
    flags, labels = _one_range_half_covered()
    result = range_precision_recall(flags, labels, alpha=0.0, bias=bias)
    assert result.recall == pytest.approx(recall)
    assert result.precision == pytest.approx(1.0)  # the predicted range lies inside the real one


def test_range_existence_reward_and_cardinality() -> None:
    flags, labels = _one_range_half_covered()
    assert range_precision_recall(flags, labels, alpha=1.0).recall == 1.0
    assert range_precision_recall(flags, labels, alpha=0.5).recall == pytest.approx(0.75)
    split = np.zeros(20, dtype=bool)
    split[[5, 6, 10, 11]] = True  # two predicted ranges in one real range: 4 of 10 positions
    assert range_precision_recall(split, labels, cardinality="one").recall == pytest.approx(0.4)
    assert range_precision_recall(split, labels, cardinality="reciprocal").recall == pytest.approx(0.2)
    outside = np.zeros(20, dtype=bool)
    outside[[0, 1, 2]] = True  # a false range, plus the two inside ones: precision (0 + 1 + 1) / 3
    assert range_precision_recall(split | outside, labels).precision == pytest.approx(2 / 3)


def test_range_metrics_reduce_to_point_metrics_for_single_points() -> None:
    labels = np.array([1, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    flags = np.array([1, 0, 0, 0, 1, 0, 1, 0], dtype=bool)
    assert range_precision_recall(flags, labels) == point_precision_recall_f1(flags, labels)


def test_range_metric_parameters_are_checked() -> None:
    flags, labels = _one_range_half_covered()
    with pytest.raises(ConfigError, match="bias must be one of flat, front, back, middle. Got 'frnt'. Did you mean 'front'"):
        range_precision_recall(flags, labels, bias="frnt")
    with pytest.raises(ConfigError, match="alpha must be a number in"):
        range_precision_recall(flags, labels, alpha=2)


def test_soft_labels_follow_the_vus_reference_slopes() -> None:
    labels = np.zeros(12, dtype=bool)
    labels[5:7] = True
    soft = _soft_labels(labels, 4)  # half = 2: two points before, one after, sqrt(1 - d / 4)
    expected = np.zeros(12)
    expected[[3, 4, 5, 6, 7]] = [np.sqrt(0.5), np.sqrt(0.75), 1.0, 1.0, np.sqrt(0.75)]
    np.testing.assert_allclose(soft, expected)
    np.testing.assert_array_equal(_soft_labels(labels, 1), labels.astype(float))


def test_vus_pr_hand_computed_and_its_limits() -> None:
    # thresholds 0.9, 0.8, 0.2, 0.1 -> (recall, precision) = (1/2*1/2, 1), (1/4, 1/2), (1, 2/3), (1, 1/2)
    # (recall is TP/P times the fraction of segments hit); trapezoids from (0, 1): 1/4 + 0 + 3/4 * 7/12 + 0
    scores, labels = np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 0, 0, 1])
    assert vus_pr(scores, labels, max_buffer=0, n_thresholds=4) == pytest.approx(0.25 + 0.75 * 7 / 12)
    rng = np.random.default_rng(0)
    labels = np.zeros(500, dtype=bool)
    labels[100:120] = labels[300:310] = True
    assert vus_pr(labels.astype(float), labels, max_buffer=0) == pytest.approx(1.0)
    early = np.roll(labels, -3).astype(float)  # fires 3 steps before each anomaly starts
    assert vus_pr(early, labels, max_buffer=20) > vus_pr(early, labels, max_buffer=0)
    assert vus_pr(rng.uniform(size=500), labels, max_buffer=20) < 0.3
    with pytest.raises(ConfigError, match="max_buffer must be an integer >= 0. Got max_buffer=-1"):
        vus_pr(scores, labels[:4], max_buffer=-1)
