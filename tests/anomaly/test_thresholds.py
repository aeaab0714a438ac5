"""Thresholds against known answers: quantiles, GPD tails, drift, Telemanom's pruning, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tsseq.anomaly.thresholds import (
    DSPOT,
    SPOT,
    THRESHOLD_METHODS,
    TelemanomThresholder,
    best_f1_threshold,
    ewma,
    fit_gpd,
    gpd_tail_quantile,
    ksigma_threshold,
    make_thresholder,
    quantile_threshold,
    telemanom_threshold,
)
from tsseq.errors import ConfigError, DataError


def test_quantile_and_ksigma_exact_on_small_arrays() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    assert quantile_threshold(scores, 0.5) == 3.0
    assert quantile_threshold(scores, 0.75) == 4.0  # numpy linear interpolation, NaN ignored
    # mean 3, population std sqrt(2)
    assert ksigma_threshold(scores, 2.0) == pytest.approx(3.0 + 2.0 * math.sqrt(2.0))
    assert ksigma_threshold([7.0, 7.0], 3) == 7.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quantile_threshold([1.0, 2.0], 1.5), "q must be a number in (0, 1). Got q=1.5"),
        (lambda: ksigma_threshold([1.0, 2.0], -1), "k must be a finite number >= 0. Got k=-1"),
        (lambda: quantile_threshold([], 0.9), "Got an empty array"),
        (lambda: ksigma_threshold([np.nan, np.nan], 3), "Got 2 values, all NaN"),
        (lambda: quantile_threshold(np.zeros((2, 2)), 0.9), "one-dimensional"),
    ],
)
def test_bad_inputs_name_the_parameter(call, message) -> None:
    with pytest.raises((ConfigError, DataError)) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize(("shape", "scale"), [(0.25, 1.5), (-0.2, 1.0), (0.0, 2.0)])
def test_grimshaw_fit_recovers_gpd_parameters(shape: float, scale: float) -> None:
    excesses = stats.genpareto.rvs(shape, scale=scale, size=5000, random_state=np.random.default_rng(1))
    fit = fit_gpd(excesses)
    assert fit.shape == pytest.approx(shape, abs=0.05)
    assert fit.scale == pytest.approx(scale, rel=0.06)
    # it is the maximum-likelihood estimate: scipy's numerical MLE agrees
    ref_shape, _, ref_scale = stats.genpareto.fit(excesses, floc=0)
    assert fit.shape == pytest.approx(ref_shape, abs=1e-3)
    assert fit.scale == pytest.approx(ref_scale, rel=1e-3)


def test_gpd_tail_quantile_is_continuous_at_shape_zero() -> None:
    from tsseq.anomaly.thresholds import GPDFit

    exponential = gpd_tail_quantile(2.0, GPDFit(0.0, 1.5, 0.0), 1e-4, 10_000, 200)
    assert exponential == pytest.approx(2.0 - 1.5 * math.log(1e-4 * 10_000 / 200))
    assert gpd_tail_quantile(2.0, GPDFit(1e-9, 1.5, 0.0), 1e-4, 10_000, 200) == pytest.approx(exponential)


def test_spot_recovers_exponential_quantile_within_3_percent() -> None:
    # P(X > z) = exp(-z): the (1 - q) quantile is -log(q)
    sample = np.random.default_rng(0).exponential(size=100_000)
    spot = SPOT(q=1e-3, level=0.98).fit(sample)
    assert spot.threshold_ == pytest.approx(-math.log(1e-3), rel=0.03)
    assert spot.initial_threshold_ == pytest.approx(-math.log(0.02), rel=0.02)


def test_spot_recovers_pareto_quantile_within_8_percent() -> None:
    # Pareto(alpha=3, x_m=1): P(X > z) = z^-3, GPD shape 1/3; the (1 - q) quantile is q^(-1/3)
    sample = np.random.default_rng(0).pareto(3.0, size=100_000) + 1.0
    spot = SPOT(q=1e-3, level=0.98).fit(sample)
    assert spot.threshold_ == pytest.approx(1e-3 ** (-1 / 3), rel=0.08)
    assert spot.gpd_.shape == pytest.approx(1 / 3, abs=0.1)


def test_spot_streaming_alarms_leave_the_model_and_peaks_update_it() -> None:
    rng = np.random.default_rng(2)
    spot = SPOT(q=1e-3, level=0.95).fit(rng.exponential(size=5000))
    threshold, peaks, count = spot.threshold_, spot.peaks_.size, spot.n_observations_
    assert spot.step(threshold + 100.0) is True
    assert (spot.threshold_, spot.peaks_.size, spot.n_observations_) == (threshold, peaks, count)
    assert spot.step(spot.initial_threshold_ + 0.5) is False  # a peak: refitted
    assert spot.peaks_.size == peaks + 1 and spot.threshold_ != threshold
    assert spot.step(float("nan")) is False and spot.n_observations_ == count + 1
    flags, thresholds = spot.run(np.array([0.1, 1e6, 0.2]))
    assert flags.tolist() == [False, True, False] and np.all(thresholds == spot.threshold_)


def test_spot_parameters_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"q must be a number in \(0, 0.02\). Got q=0.05"):
        SPOT(q=0.05, level=0.98).fit(np.arange(100.0))
    with pytest.raises(ConfigError, match="level must be"):
        SPOT(level=1.0).fit(np.arange(100.0))
    with pytest.raises(DataError, match="no calibration score exceeds"):
        SPOT().fit(np.ones(100))
    with pytest.raises(ConfigError, match="depth must be an integer >= 1. Got depth=0"):
        DSPOT(depth=0).fit(np.arange(100.0))


def test_dspot_follows_drift_and_level_shift_that_spot_alarms_on_forever() -> None:
    rng = np.random.default_rng(0)
    drift = np.concatenate([np.zeros(2000), np.linspace(0.0, 10.0, 4000)])  # slow ramp in the normal regime
    series = rng.normal(size=drift.size) + drift
    dspot_flags, dspot_thresholds = DSPOT(q=1e-3, level=0.98, depth=20).fit(series[:1000]).run(series[1000:])
    spot_flags, _ = SPOT(q=1e-3, level=0.98).fit(series[:1000]).run(series[1000:])
    assert spot_flags[-1500:].all()  # the level is above 6 there
    assert dspot_flags.sum() < 40  # about q * 5000 = 5 expected false alarms, plus tail bias
    assert dspot_thresholds[-1] > 10.0  # the threshold moved with the level

    shifted = rng.normal(size=6000)
    shifted[3000:] += 3.0  # a level shift of 3 sigma
    dspot_flags, _ = DSPOT(q=1e-3, level=0.98, depth=20).fit(shifted[:1000]).run(shifted[1000:])
    spot_flags, _ = SPOT(q=1e-3, level=0.98).fit(shifted[:1000]).run(shifted[1000:])
    assert spot_flags[-2000:].mean() > 0.3
    assert dspot_flags[-2000:].mean() < 0.01


def test_ewma_matches_pandas_and_chunks_compose() -> None:
    values = np.random.default_rng(3).normal(size=200)
    smoothed, state = ewma(values, 10)
    np.testing.assert_allclose(smoothed, pd.Series(values).ewm(span=10).mean().to_numpy(), rtol=1e-12)
    first, state = ewma(values[:77], 10)
    second, _ = ewma(values[77:], 10, state)
    np.testing.assert_allclose(np.concatenate([first, second]), smoothed, rtol=1e-12)


def test_telemanom_flags_an_injected_spike_and_nothing_else() -> None:
    errors = np.abs(np.random.default_rng(0).normal(size=3000)) * 0.1
    errors[1500:1510] += 5.0
    result = telemanom_threshold(errors, smoothing_span=5)
    flagged = np.flatnonzero(result.flags)
    assert flagged.size > 0 and flagged.min() >= 1500 and flagged.max() < 1520
    assert result.threshold == pytest.approx(result.smoothed.mean() + result.z * result.smoothed.std())


def test_telemanom_pruning_removes_a_bump_barely_above_the_largest_normal_error() -> None:
    errors = np.random.default_rng(0).uniform(0.0, 0.1, size=3000)
    errors[1500:1505] = 5.0  # a clear anomaly
    errors[600:605] = 0.95  # a bump just above epsilon ...
    errors[2000:2005] = 0.85  # ... within 13 % of the largest normal error
    kwargs = dict(smoothing_span=1, z_min=4.0, z_max=4.0)  # span 1: no smoothing; one candidate z
    result = telemanom_threshold(errors, **kwargs)
    assert 0.85 < result.threshold < 0.95  # the construction's premise
    assert result.sequences == ((1500, 1505),)
    assert result.pruned == ((600, 605),)
    assert np.flatnonzero(result.flags).tolist() == list(range(1500, 1505))
    # (0.95 - 0.85) / 0.95 = 0.105: kept when the required decrease is below that
    assert telemanom_threshold(errors, min_decrease=0.1, **kwargs).sequences == ((600, 605), (1500, 1505))


def test_telemanom_thresholder_is_causal_per_batch_and_chunking_does_not_matter() -> None:
    rng = np.random.default_rng(4)
    validation = np.abs(rng.normal(size=1000))
    errors = np.abs(rng.normal(size=700))
    errors[400:405] += 20.0
    make = lambda: TelemanomThresholder(window_size=5, batch_size=50, smoothing_span=3).fit(validation)  # noqa: E731
    whole = make().predict(errors)
    assert whole[400:405].any() and not whole[:400].any()
    thresholder = make()
    chunked = np.concatenate([thresholder.predict(errors[:150]), thresholder.predict(errors[150:])])
    np.testing.assert_array_equal(chunked, whole)
    perturbed = errors.copy()
    perturbed[350:] = rng.uniform(0, 50, size=350)  # everything after batch [300, 350)
    np.testing.assert_array_equal(make().predict(perturbed)[:350], whole[:350])


def _spike_with_an_echo() -> np.ndarray:
    """Forecast errors of a spike at row 800: its own, then a forecaster's echo of it in the 30 rows after it."""
    errors = np.abs(np.random.default_rng(0).normal(size=1200)) * 0.1
    errors[800], errors[801:831] = 50.0, 10.0
    return errors


def test_telemanom_flags_a_spike_from_its_own_row_though_the_smoothing_reaches_epsilon_later() -> None:
    errors = _spike_with_an_echo()
    result = telemanom_threshold(errors)
    assert result.smoothed[800] < result.threshold < errors[800]  # the premise: the EWMA (span 105) lags the spike
    assert result.sequences[0][0] == 800 and np.flatnonzero(result.flags)[0] == 800  # the onset (step 4)
    validation = np.abs(np.random.default_rng(1).normal(size=1000)) * 0.1
    thresholder = TelemanomThresholder().fit(validation)
    assert thresholder.smooth(errors)[800] < thresholder.run(errors)[1][800]  # the same premise, per batch
    flags = TelemanomThresholder().fit(validation).predict(errors)
    assert flags[800] and not flags[:800].any()


def test_telemanom_thresholders_run_gives_what_each_flag_was_compared_with() -> None:
    errors = _spike_with_an_echo()
    validation = np.abs(np.random.default_rng(1).normal(size=1000)) * 0.1
    thresholder = TelemanomThresholder().fit(validation)
    smoothed = thresholder.smooth(errors)
    np.testing.assert_array_equal(thresholder.smooth(errors), smoothed)  # the state is not changed
    np.testing.assert_allclose(smoothed, ewma(np.concatenate([validation, errors]), 105)[0][1000:], rtol=1e-12)
    flags, thresholds = thresholder.run(errors)
    np.testing.assert_array_equal(TelemanomThresholder().fit(validation).predict(errors), flags)
    for start in range(0, errors.size, 70):  # one epsilon per batch of batch_size rows
        assert np.unique(thresholds[start : start + 70]).size == 1
    above = smoothed > thresholds
    assert not (above & ~flags).any()  # nothing pruned here
    onset = flags & ~above  # rows flagged by their own errors, just before the smoothed errors pass epsilon
    assert onset[800] and (errors[onset] > thresholds[onset]).all()
    for row in np.flatnonzero(onset):
        after = row + np.argmax(~onset[row:])  # the first row after the onset's run
        assert above[after] and after // 70 == row // 70  # within one batch


def test_make_thresholder_by_name_and_its_errors() -> None:
    rng = np.random.default_rng(5)
    validation, test = rng.exponential(size=5000), rng.exponential(size=500)
    test[100:110] = 40.0  # sustained, so that it survives Telemanom's smoothing (span 105)
    for name in THRESHOLD_METHODS:
        flags = make_thresholder(name).fit(validation).predict(test)
        assert flags.dtype == np.bool_ and flags.shape == test.shape, name
        # rows 90-99 left out: a batch threshold's centred smoothing reaches 4 rows ahead into the run
        assert flags[100:130].any() and flags[:90].mean() < 0.05, name
    quantile = make_thresholder("quantile", q=0.5).fit([1.0, 2.0, 3.0])
    assert quantile.predict(np.array([2.0, 2.5, np.nan])).tolist() == [False, True, False]
    with pytest.raises(ConfigError, match="Unknown threshold method 'spott'.*Did you mean 'spot'"):
        make_thresholder("spott")
    with pytest.raises(ConfigError, match="no parameter 'levle'.*Did you mean 'level'"):
        make_thresholder("dspot", levle=0.9)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1. Got batch_size=0"):
        make_thresholder("telemanom", batch_size=0)


def test_best_f1_threshold_is_an_oracle_with_the_best_flags() -> None:
    scores = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3])
    labels = np.array([0, 1, 1, 0, 0, 0])
    oracle = best_f1_threshold(scores, labels)
    assert "oracle" in oracle.label and "evaluation only" in oracle.label
    assert (oracle.f1, oracle.precision, oracle.recall) == (1.0, 1.0, 1.0)
    assert ((scores > oracle.threshold) == labels.astype(bool)).all()
    # 0.9 and 0.7 anomalous: flagging >= 0.7 gives F1 0.8, better than >= 0.9 (2/3)
    oracle = best_f1_threshold(scores, [0, 1, 0, 0, 1, 0])
    assert oracle.f1 == pytest.approx(0.8) and oracle.precision == pytest.approx(2 / 3)
    assert (scores > oracle.threshold).sum() == 3
    with pytest.raises(DataError, match="same length"):
        best_f1_threshold(scores, labels[:3])
