"""NAB score: hand-computed cases and the corpus threshold sweep against brute force."""

import math

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.nab import (
    PROFILES,
    Profile,
    nab_score,
    optimize_threshold,
    probationary_rows,
    scaled_sigmoid,
    threshold_curve,
)
from tsseq.errors import ConfigError, DataError

ROWS = 100  # probationary period: floor(0.15 * 100) = 15 rows
STAMPS = pd.date_range("2015-01-01", periods=ROWS, freq="5min")
TWO_WINDOWS = [(STAMPS[40], STAMPS[49]), (STAMPS[70], STAMPS[79])]  # widths 10


def sigma(y: float) -> float:
    """NAB's scaled sigmoid written independently: 2 / (1 + e^{5y}) - 1 = -tanh(5y / 2)."""
    return -1.0 if y > 3 else -math.tanh(2.5 * y)


def flags(*rows: int, stamps=STAMPS) -> pd.Series:
    values = np.zeros(len(stamps), dtype=bool)
    values[list(rows)] = True
    return pd.Series(values, index=stamps)


def score_of(*rows: int, windows=TWO_WINDOWS, profile="standard"):
    return nab_score({"f.csv": flags(*rows)}, {"f.csv": windows}, profile)


def test_profiles_are_nabs_cost_matrices():
    assert {name: (p.tp_weight, p.fp_weight, p.fn_weight) for name, p in PROFILES.items()} == {
        "standard": (1.0, 0.11, 1.0),
        "reward_low_FP_rate": (1.0, 0.22, 1.0),
        "reward_low_FN_rate": (1.0, 0.11, 2.0),
    }


def test_scaled_sigmoid_known_values():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661429815)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828363995)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == pytest.approx(sigma(3.0))
    assert scaled_sigmoid(3.01) == -1.0


def test_probationary_rows_is_fifteen_percent_capped_at_750():
    assert [probationary_rows(n) for n in (100, 1001, 4999, 5000, 22695)] == [15, 150, 749, 750, 750]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_null_detector_scores_zero_and_perfect_detector_100(profile):
    null = score_of(profile=profile)
    weights = PROFILES[profile]
    assert null.score == 0.0
    assert null.raw == null.null == -2 * weights.fn_weight
    assert (null.missed_windows, null.detected_windows, null.false_positives) == (2, 0, 0)
    perfect = score_of(40, 70, profile=profile)
    assert perfect.raw == pytest.approx(2 * weights.tp_weight)
    assert perfect.score == pytest.approx(100.0)


def test_single_detection_earns_the_sigmoid_of_its_position_in_the_window():
    one_window = TWO_WINDOWS[:1]
    start, end, middle = score_of(40, windows=one_window), score_of(49, windows=one_window), score_of(44, windows=one_window)
    assert start.raw == pytest.approx(1.0)
    assert end.raw == pytest.approx(sigma(-1 / 10) / sigma(-1))  # 0.2482
    assert middle.raw == pytest.approx(sigma(-6 / 10) / sigma(-1))  # row 44: 6 rows to the end, inclusive
    assert middle.score == pytest.approx(100 * (middle.raw + 1) / 2)
    # One of two windows found at its start, the other missed: halfway between null and perfect.
    assert score_of(40).score == pytest.approx(50.0)


def test_only_the_first_detection_in_a_window_counts():
    assert score_of(40, 41, 45, 49, windows=TWO_WINDOWS[:1]).raw == pytest.approx(1.0)
    later = score_of(45, 47, windows=TWO_WINDOWS[:1])
    assert later.raw == pytest.approx(sigma(-5 / 10) / sigma(-1))
    assert (later.detected_windows, later.false_positives) == (1, 0)


def test_false_positives_are_weighted_by_distance_to_the_preceding_window():
    one_window = TWO_WINDOWS[:1]  # rows 40..49: width 10, a position of 1 is 9 rows past its end
    before_any_window = score_of(20, windows=one_window)
    assert before_any_window.raw == pytest.approx(-0.11 - 1.0)
    just_after = score_of(55, windows=one_window)
    assert just_after.raw == pytest.approx(0.11 * sigma(6 / 9) - 1.0)
    far_after = score_of(90, windows=one_window)  # 41 rows past the end: position > 3
    assert far_after.raw == pytest.approx(-0.11 - 1.0)
    every_fp_counts = score_of(20, 55, 90, windows=one_window, profile="reward_low_FP_rate")
    assert every_fp_counts.raw == pytest.approx(0.22 * (-1 + sigma(6 / 9) - 1) - 1.0)
    assert every_fp_counts.false_positives == 3


def test_false_positive_after_the_second_window_uses_the_second_window():
    assert score_of(40, 70, 83).raw == pytest.approx(2 + 0.11 * sigma(4 / 9))


def test_probationary_period_is_not_scored():
    assert score_of(0, 7, 14).score == 0.0
    first_scored_row = score_of(15)
    assert (first_scored_row.raw, first_scored_row.false_positives) == (pytest.approx(-2.11), 1)
    # A window that ends inside the probationary period is neither rewarded nor missed,
    # but still the preceding window of later false positives.
    early = [(STAMPS[5], STAMPS[9])] + TWO_WINDOWS
    result = score_of(7, 40, 70, 12 + 9, windows=early)
    assert (result.null, result.perfect) == (-2.0, 2.0)
    assert result.raw == pytest.approx(2 + 0.11 * sigma(12 / 4))


def test_windows_are_located_at_the_first_row_of_a_repeated_timestamp():
    stamps = STAMPS.insert(41, STAMPS[40])  # row 41 repeats row 40's timestamp
    windows = [(STAMPS[40], STAMPS[49])]  # rows 40..50 of the 101 rows: width 11
    result = nab_score({"f.csv": flags(42, stamps=stamps)}, {"f.csv": windows})
    assert result.raw == pytest.approx(sigma(-9 / 11) / sigma(-1))


def test_corpus_scores_add_up_over_files_and_a_file_without_windows():
    quiet = pd.date_range("2016-01-01", periods=200, freq="h")
    detections = {"f.csv": flags(40), "quiet.csv": pd.Series(np.arange(200) == 100, index=quiet)}
    result = nab_score(detections, {"f.csv": TWO_WINDOWS, "quiet.csv": []})
    assert result.per_file == {"f.csv": pytest.approx(0.0), "quiet.csv": pytest.approx(-0.11)}
    assert result.score == pytest.approx(100 * (-0.11 + 2) / 4)


def random_corpus(seed: int):
    rng = np.random.default_rng(seed)
    scores, windows = {}, {}
    for f, length in enumerate((120, 300, 80)):
        stamps = pd.date_range("2015-01-01", periods=length, freq="h")
        scores[f"f{f}.csv"] = pd.Series(np.round(rng.random(length) ** 3, 2), index=stamps)  # many ties
        starts = np.sort(rng.choice(np.arange(20, length - 12, 12), size=2, replace=False))
        windows[f"f{f}.csv"] = [(stamps[s], stamps[s + int(rng.integers(1, 11))]) for s in starts]
    return scores, windows


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_sweep_matches_brute_force(profile, seed):
    scores, windows = random_corpus(seed)
    candidates = np.r_[np.inf, np.unique(np.concatenate([s.to_numpy() for s in scores.values()]))[::-1]]
    brute = [nab_score({k: s >= t for k, s in scores.items()}, windows, profile).raw for t in candidates]
    thresholds, raw = threshold_curve(scores, windows, profile)
    # Thresholds are the scores of scored rows: values only in probationary rows are skipped.
    brute_by_threshold = dict(zip(candidates, brute))
    assert raw == pytest.approx([brute_by_threshold[t] for t in thresholds])
    best = optimize_threshold(scores, windows, profile)
    assert best.raw == pytest.approx(max(brute))
    assert best.threshold == candidates[int(np.argmax(np.round(brute, 9)))]  # the highest of equal bests
    assert best.score == pytest.approx(100 * (max(brute) - best.null) / (best.perfect - best.null))


def test_sweep_ignores_nan_scores_and_finds_the_perfect_threshold():
    values = np.full(ROWS, 0.1)
    values[[40, 70]] = 0.9
    values[3] = np.nan
    values[8] = 5.0  # probationary: never a threshold
    result = optimize_threshold({"f.csv": pd.Series(values, index=STAMPS)}, {"f.csv": TWO_WINDOWS})
    assert (result.threshold, result.score) == (0.9, pytest.approx(100.0))


def test_custom_profile():
    result = score_of(20, 40, profile=Profile("strict", tp_weight=2.0, fp_weight=1.0, fn_weight=0.5))
    assert result.raw == pytest.approx(-1.0 + 2.0 - 0.5)
    assert (result.null, result.perfect) == (-1.0, 4.0)


def test_bad_input_errors_name_the_problem():
    with pytest.raises(ConfigError, match="Unknown NAB profile 'standart'. Did you mean 'standard'"):
        score_of(profile="standart")
    with pytest.raises(DataError, match=r"f.csv: anomaly window 0 starts at 2014-01-01 00:00:00, which is not a timestamp"):
        score_of(windows=[(pd.Timestamp("2014-01-01"), STAMPS[10])])
    with pytest.raises(DataError, match="in time order and disjoint; window 1"):
        score_of(windows=[TWO_WINDOWS[1], TWO_WINDOWS[0]])
    with pytest.raises(DataError, match="file 'g.csv' has no anomaly windows"):
        nab_score({"g.csv": flags()}, {"f.csv": TWO_WINDOWS})
    with pytest.raises(DataError, match="indexed by its timestamps"):
        nab_score({"f.csv": pd.Series(np.zeros(ROWS, bool))}, {"f.csv": TWO_WINDOWS})


def test_benchmark_scores_a_detectors_own_alarms_as_they_are(nab_benchmark):
    """nab.py's flags option: alarms (1 / 0) are scored as raised, even where raising none would score higher."""
    benchmark = nab_benchmark
    alarms = flags(40, *range(16, 36))  # the first window found, 20 false alarms before it
    scores = {"f.csv": alarms.astype(float).where(np.arange(ROWS) >= 15)}
    windows = {"f.csv": TWO_WINDOWS}
    as_raised = benchmark.corpus_results(scores, windows, flags=True)
    optimised = benchmark.corpus_results(scores, windows, flags=False)
    for profile in benchmark.PROFILE_NAMES:
        assert as_raised[profile].score == pytest.approx(nab_score({"f.csv": alarms}, windows, profile).score)
    assert as_raised["standard"].score < 0 == optimised["standard"].score  # the optimiser would raise nothing
    assert optimised["standard"].threshold == np.inf
