"""An event shorter than the smoothing window needs a peak of its own (brief_gate; threshold_study.md's 19th study)."""

from __future__ import annotations

import numpy as np
import pytest

from tsseq.anomaly.thresholds import make_thresholder
from tsseq.errors import ConfigError

# Training scores uniform on [0, 1]: the gate at 0.5 sits at 0.5, the brief gate at 0.9 at 0.9, and the false-alarm
# floor (the 0.99 quantile of their moving means over 9 rows) near 0.72.
NORMAL = np.random.default_rng(0).permutation(np.linspace(0.0, 1.0, 2001))
BRIEF, SPIKE, LONG = np.arange(300, 307), 400, np.arange(500, 530)


def _scored() -> np.ndarray:
    """A quiet period (0.3) with three excursions: 7 rows at 0.85 (over the gate, under the brief gate), a spike of
    5.0, and 30 rows at 0.85. The moving mean over 9 rows passes the floor near the end of the first, at the spike,
    and along the third."""
    scores = np.full(700, 0.3)
    scores[BRIEF], scores[SPIKE], scores[LONG] = 0.85, 5.0, 0.85
    return scores


def _flags(method: str, brief_gate: float | None) -> np.ndarray:
    return make_thresholder(method, gate=0.5, brief_gate=brief_gate).fit(NORMAL).predict(_scored())


def test_batch_drops_a_short_event_without_a_peak_and_keeps_the_spike_and_the_long_event_whole() -> None:
    plain, brief = _flags("transductive", None), _flags("transductive", 0.9)
    np.testing.assert_array_equal(np.flatnonzero(plain), np.r_[302:305, 400, 502:528])  # the centred mean's flags
    expected = plain.copy()
    expected[BRIEF] = False  # 3 rows, all under 0.9: dropped
    np.testing.assert_array_equal(brief, expected)  # the spike passes 0.9; the long event is 26 rows


def test_causal_judges_the_event_so_far_a_long_event_is_flagged_from_its_ninth_row() -> None:
    plain, brief = _flags("adaptive", None), _flags("adaptive", 0.9)
    np.testing.assert_array_equal(np.flatnonzero(plain), np.r_[306, 400, 506:530])  # the causal mean lags
    expected = plain.copy()
    expected[306] = False  # a one-row event under 0.9
    expected[506:514] = False  # the long event's first 8 flagged rows: not yet a smoothing window long
    np.testing.assert_array_equal(brief, expected)


def test_causal_flags_do_not_depend_on_how_the_stream_is_cut_nor_on_later_rows() -> None:
    scores = _scored()
    whole = make_thresholder("adaptive", gate=0.5, brief_gate=0.9).fit(NORMAL).predict(scores)
    stream = make_thresholder("adaptive", gate=0.5, brief_gate=0.9).fit(NORMAL)
    cut = np.concatenate([stream.predict(part) for part in np.array_split(scores, [1, 305, 306, 507, 510, 600])])
    np.testing.assert_array_equal(cut, whole)
    changed = scores.copy()
    changed[510:] = 9.0  # later rows: the flags up to row 509 stay as they were
    again = make_thresholder("adaptive", gate=0.5, brief_gate=0.9).fit(NORMAL).predict(changed)
    np.testing.assert_array_equal(again[:510], whole[:510])


@pytest.mark.parametrize("method", ["adaptive", "transductive"])
def test_a_bridged_train_of_short_runs_is_one_event_and_counts_its_length(method: str) -> None:
    # runs of 4 rows at 0.97 (over the gate, under the brief gate at 0.98) 3 rows at 0.45 apart: the flags come as
    # short runs, joined (at most 8 rows apart) into one event of over 20 rows, kept for its length (causal: from its
    # 9th row on)
    scores = np.full(700, 0.3)
    scores[300:335] = 0.45
    for start in range(300, 331, 7):
        scores[start : start + 4] = 0.97
    plain = make_thresholder(method, gate=0.5, brief_gate=None).fit(NORMAL).predict(scores)
    brief = make_thresholder(method, gate=0.5, brief_gate=0.98).fit(NORMAL).predict(scores)
    flagged = np.flatnonzero(plain)
    assert np.diff(flagged).max() > 1 and flagged[-1] - flagged[0] >= 20  # a train of runs, one event
    first = np.flatnonzero(plain)[0]
    kept = plain.copy()
    if method == "adaptive":
        kept[first : first + 8] = False  # the rows before the event so far spans 9 rows
    np.testing.assert_array_equal(brief, kept)


@pytest.mark.parametrize("method", ["adaptive", "transductive"])
def test_the_brief_gate_is_validated_and_off_without_smoothing(method: str) -> None:
    with pytest.raises(ConfigError, match="brief_gate"):
        make_thresholder(method, brief_gate=1.0).fit(NORMAL)
    unsmoothed = make_thresholder(method, gate=0.5, smoothing=1, brief_gate=0.9).fit(NORMAL)
    plain = make_thresholder(method, gate=0.5, smoothing=1, brief_gate=None).fit(NORMAL)
    np.testing.assert_array_equal(unsmoothed.predict(_scored()), plain.predict(_scored()))  # every event >= 1 row
