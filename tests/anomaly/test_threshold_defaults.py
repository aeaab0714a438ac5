"""The default threshold (issue 16): a stated false-alarm rate on normal scores, causal smoothing, no hidden suppression."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tsseq.anomaly.thresholds import (
    FalseAlarmThresholder,
    causal_smooth,
    make_thresholder,
)
from tsseq.errors import ConfigError, DataError


def _binomial_band(rate: float, n: int) -> float:
    """Five standard deviations of an observed rate over ``n`` independent rows."""
    return 5 * np.sqrt(rate * (1 - rate) / n)


@pytest.mark.parametrize("rate", [0.01, 0.005, 0.001])
def test_quantile_tail_hits_the_stated_false_alarm_rate_on_gaussian_scores(rate: float) -> None:
    rng = np.random.default_rng(0)
    thresholder = FalseAlarmThresholder(rate=rate).fit(rng.standard_normal(200_000))
    assert thresholder.threshold_ == pytest.approx(stats.norm.ppf(1 - rate), abs=0.05)  # the known answer
    fresh = rng.standard_normal(200_000)
    assert abs(thresholder.predict(fresh).mean() - rate) < _binomial_band(rate, fresh.size) + 2e-4


def test_pot_tail_extrapolates_to_the_stated_rate_on_exponential_scores() -> None:
    # Exp(1): P(X > x) = exp(-x), so the rate-1e-4 threshold is log(1e4) = 9.21, beyond what
    # 20 000 scores show as an empirical quantile (two scores above it on average).
    rng = np.random.default_rng(1)
    thresholder = FalseAlarmThresholder(rate=1e-4, tail="pot").fit(rng.exponential(size=20_000))
    assert thresholder.threshold_ == pytest.approx(np.log(1e4), rel=0.15)


def test_smoothed_threshold_keeps_the_rate_on_smoothed_normal_scores() -> None:
    rng = np.random.default_rng(2)
    thresholder = FalseAlarmThresholder(rate=0.01, smoothing=16).fit(rng.standard_normal(100_000))
    # the moving mean of 16 iid N(0, 1) is N(0, 1/16): the threshold is on that scale
    assert thresholder.threshold_ == pytest.approx(stats.norm.ppf(0.99) / 4, abs=0.03)
    flags = thresholder.predict(rng.standard_normal(100_000))
    assert abs(flags.mean() - 0.01) < 0.004  # correlated rows: a wider band than binomial


def test_smoothing_turns_a_collective_anomaly_into_alarms_a_point_threshold_misses() -> None:
    rng = np.random.default_rng(3)
    normal = rng.standard_normal(5000)
    test = rng.standard_normal(600)
    test[300:400] += 1.5  # a long, moderate shift: few single scores pass the 0.999 quantile
    raw = FalseAlarmThresholder(rate=0.001).fit(normal).predict(test)
    smoothed = FalseAlarmThresholder(rate=0.001, smoothing=16).fit(normal).predict(test)
    assert smoothed[300:400].mean() > 0.7 > 0.2 > raw[300:400].mean()


def test_causal_smooth_known_answer_and_nan_policy() -> None:
    scores = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    np.testing.assert_allclose(causal_smooth(scores, 2), [1.0, 1.5, np.nan, 4.0, 4.5])
    np.testing.assert_allclose(causal_smooth(scores, 3, "median"), [1.0, 1.5, np.nan, 3.0, 4.5])
    np.testing.assert_allclose(causal_smooth(scores, 2, history=np.array([9.0, 3.0])), [2.0, 1.5, np.nan, 4.0, 4.5])
    np.testing.assert_array_equal(causal_smooth(scores, 1), scores)
    with pytest.raises(ConfigError, match="how must be one of"):
        causal_smooth(scores, 2, "max")


@pytest.mark.parametrize("smoother", ["mean", "median"])
def test_smoothing_is_causal(smoother: str) -> None:
    """Changing the future never changes a past flag; chunked prediction equals one call."""
    rng = np.random.default_rng(4)
    fitted = FalseAlarmThresholder(rate=0.05, smoothing=8, smoother=smoother).fit(rng.standard_normal(2000))
    scores = rng.standard_normal(500)
    altered = scores.copy()
    altered[250:] += 100.0
    first = _copy(fitted).predict(scores)
    second = _copy(fitted).predict(altered)
    np.testing.assert_array_equal(first[:250], second[:250])
    assert second[255:].all()  # a median of 8 needs 5 high scores
    chunked = _copy(fitted)
    pieces = np.concatenate([chunked.predict(scores[:1]), chunked.predict(scores[1:130]), chunked.predict(scores[130:])])
    np.testing.assert_array_equal(pieces, first)
    one_by_one = _copy(fitted)
    np.testing.assert_array_equal([one_by_one.predict(scores[i : i + 1])[0] for i in range(40)], first[:40])


def _copy(thresholder):
    return copy.deepcopy(thresholder)


def test_false_alarm_thresholder_by_name_checks_its_parameters() -> None:
    assert isinstance(make_thresholder("false_alarm", rate=0.001, smoothing=4), FalseAlarmThresholder)
    with pytest.raises(ConfigError, match="rate must be a number in"):
        make_thresholder("false_alarm", rate=1.5)
    with pytest.raises(ConfigError, match="smoothing must be an integer >= 1"):
        make_thresholder("false_alarm", smoothing=0)
    with pytest.raises(ConfigError, match="tail must be"):
        make_thresholder("false_alarm", tail="gev")
    with pytest.raises(ConfigError, match="below 1 - level"):
        make_thresholder("false_alarm", tail="pot", rate=0.05, level=0.98)
    with pytest.raises(DataError, match="at least one finite score"):
        FalseAlarmThresholder().fit(np.array([np.nan, np.nan]))


# --- the defaults the study chose (pipelines/benchmarks/threshold_study.md) -----------------

WINDOWED = ("lstm_ae", "gru_ae", "segment_ae", "lstm_vae", "ar_residual", "forecast_residual", "interval", "auto")


def test_the_chosen_defaults_are_what_the_detectors_config_and_help_report(capsys) -> None:
    from tsseq.anomaly.config import DetectionConfig
    from tsseq.anomaly.detectors import make_detector
    from tsseq.cli import main

    assert FalseAlarmThresholder().get_params() == {
        "rate": 0.01, "tail": "quantile", "smoothing": 1, "smoother": "mean", "level": 0.98,
    }  # fmt: skip
    for name in WINDOWED:
        detector = make_detector(name)
        assert (detector.threshold, detector.threshold_params) == ("false_alarm", None), name
    for name in ("online_residual", "online_interval"):  # their calibrated level; suppression explicit only
        detector = make_detector(name)
        assert (detector.threshold, detector.suppression) == ("alarm_level", 0.0), name
    assert DetectionConfig.__dataclass_fields__["threshold"].default == "default"
    assert "false_alarm" in DetectionConfig.__doc__ and "1%" in DetectionConfig.__doc__
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "adaptive in causal mode (the scores smoothed by a causal moving mean of 9 rows" in help_text
    assert "transductive with --mode batch" in help_text and "false_alarm is the 1% threshold alone" in help_text
    assert "``\"causal\"`` mode ``\"adaptive\"``" in DetectionConfig.__doc__


def test_the_default_detector_alarms_at_its_stated_rate_on_normal_data() -> None:
    """A known answer: Gaussian white noise is all normal, so 1% of new rows are flagged."""
    from tsseq.anomaly.detectors import make_detector

    rng = np.random.default_rng(5)
    index = pd.date_range("2020-01-01", periods=24_000, freq="h")
    frame = pd.DataFrame({"x": rng.standard_normal(len(index))}, index=index)
    detector = make_detector("ar_residual", window_length=8).fit(frame.iloc[:4000])
    assert len(detector.normal_scores_) == 4000 and isinstance(detector.thresholder_, FalseAlarmThresholder)
    flags = detector.predict(frame.iloc[4000:]).to_numpy()[8:]  # the first 8 rows have no score
    assert abs(flags.mean() - 0.01) < _binomial_band(0.01, flags.size) + 0.002
