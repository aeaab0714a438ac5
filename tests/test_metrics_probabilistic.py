"""Probabilistic metrics against hand-computed answers, brute force and the Normal's closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from tsseq.errors import DataError
from tsseq.metrics import (
    acd,
    coverage,
    crps_from_quantiles,
    crps_from_samples,
    mean_interval_width,
    msis,
    pinball_loss,
    pit_from_quantiles,
    pit_from_samples,
    weighted_quantile_loss,
)

# y = 1 and 3; quantiles at levels 0.25 and 0.75.
TRUTH = np.array([1.0, 3.0])
QUANTILES = np.array([[0.0, 2.0], [4.0, 4.0]])
LEVELS = np.array([0.25, 0.75])


def _normal_crps(mu: np.ndarray, sigma: float, y: np.ndarray) -> np.ndarray:
    """Gneiting & Raftery (2007): sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))."""
    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def test_pinball_loss_known_answer() -> None:
    # y=1: q=0 at 0.25 -> 0.25 * 1; q=2 at 0.75 -> 0.25 * 1.  y=3: q=4 at 0.25 -> 0.75 * 1; q=4 at 0.75 -> 0.25 * 1.
    assert pinball_loss(TRUTH, QUANTILES, LEVELS) == pytest.approx((0.25 + 0.25 + 0.75 + 0.25) / 4)
    # the median's pinball loss is half the absolute error
    assert pinball_loss(np.array([2.0, 5.0]), np.array([[1.0], [1.0]]), [0.5]) == pytest.approx((0.5 + 2.0) / 2)
    assert type(pinball_loss(TRUTH, QUANTILES, LEVELS)) is float


def test_crps_from_quantiles_is_twice_the_mean_pinball_loss() -> None:
    assert crps_from_quantiles(TRUTH, QUANTILES, LEVELS) == pytest.approx(2 * 0.375)


def test_weighted_quantile_loss_known_answer() -> None:
    # level 0.25: 2 * (0.25 + 0.75) / (|1| + |3|) = 0.5; level 0.75: 2 * (0.25 + 0.25) / 4 = 0.25
    assert weighted_quantile_loss(TRUTH, QUANTILES, LEVELS) == pytest.approx((0.5 + 0.25) / 2)
    # the sums are pooled over elements before dividing (not a mean of per-element ratios)
    assert weighted_quantile_loss(np.array([1.0, -9.0]), np.array([[2.0], [-9.0]]), [0.5]) == pytest.approx(
        2 * 0.5 / 10
    )


def test_crps_from_samples_known_answers() -> None:
    # samples -1, 1 around y=0: E|X - y| = 1, E|X - X'| = (0 + 2 + 2 + 0) / 4 = 1 -> 1 - 0.5
    assert crps_from_samples(np.array([0.0]), np.array([[-1.0], [1.0]])) == pytest.approx(0.5)
    # samples 0, 1, 3 and y=2: E|X - y| = 4/3, E|X - X'| = 2 * (1 + 3 + 2) / 9 = 4/3 -> 4/3 - 2/3
    assert crps_from_samples(np.array(2.0), np.array([3.0, 0.0, 1.0])) == pytest.approx(2 / 3)
    # one sample: the absolute error
    assert crps_from_samples(np.array([1.0, 4.0]), np.array([[2.0, 2.0]])) == pytest.approx(1.5)


def test_crps_from_samples_equals_the_quadratic_formula() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(4, 5, 2))
    samples = rng.standard_t(df=3, size=(37, 4, 5, 2))
    pairwise = np.abs(samples[:, None] - samples[None, :]).mean(axis=(0, 1))
    brute = (np.abs(samples - truth).mean(axis=0) - 0.5 * pairwise).mean()
    assert crps_from_samples(truth, samples) == pytest.approx(brute, rel=1e-12)
    # samples on another axis
    for axis in (2, -1):
        moved = np.moveaxis(samples, 0, axis)
        assert crps_from_samples(truth, moved, sample_axis=axis) == pytest.approx(brute, rel=1e-12)


def test_crps_from_many_samples_approaches_the_normal_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu, sigma = np.array([0.0, 1.0, -2.0, 5.0]), 2.0
    truth = np.array([0.3, -1.5, -2.0, 9.0])
    samples = mu + sigma * rng.standard_normal(size=(50_000, 4))
    assert crps_from_samples(truth, samples) == pytest.approx(_normal_crps(mu, sigma, truth).mean(), rel=5e-3)


def test_crps_from_quantiles_approaches_the_normal_closed_form_with_many_levels() -> None:
    mu, sigma = np.array([0.0, 1.0, -2.0, 5.0]), 2.0
    truth = np.array([0.3, -1.5, -2.0, 9.0])
    exact = _normal_crps(mu, sigma, truth).mean()
    errors = []
    for count in (9, 99, 999):
        levels = np.arange(1, count + 1) / (count + 1)
        quantiles = mu[:, None] + sigma * norm.ppf(levels)
        errors.append(abs(crps_from_quantiles(truth, quantiles, levels) - exact))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 2e-3 * exact


@pytest.mark.parametrize(("count", "bias"), [(9, 1.094), (19, 1.048), (99, 1.010)])
def test_crps_from_quantiles_bias_stated_in_its_docstring(count: int, bias: float) -> None:
    # Calibrated N(0, 1) forecasts of N(0, 1) outcomes: the exact expected CRPS is 1 / sqrt(pi).
    outcomes = np.random.default_rng(1).standard_normal(200_000)
    levels = np.arange(1, count + 1) / (count + 1)
    quantiles = np.broadcast_to(norm.ppf(levels), (len(outcomes), count))
    ratio = crps_from_quantiles(outcomes, quantiles, levels) * math.sqrt(math.pi)
    assert ratio == pytest.approx(bias, abs=6e-3)


def test_coverage_and_mean_interval_width_known_answers() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    lower, upper = np.array([0.0, 2.0, 4.0, 0.0]), np.array([1.0, 3.0, 5.0, 3.0])
    # in, in (bounds count as inside), below, above
    assert coverage(truth, lower, upper) == pytest.approx(0.5)
    assert mean_interval_width(lower, upper) == pytest.approx((1 + 1 + 1 + 3) / 4)


def test_msis_known_answer_for_two_series() -> None:
    # Series as columns, time along axis 0, as in mase.
    insample = np.array([[1.0, 10.0], [2.0, 10.0], [4.0, 16.0], [7.0, 10.0]])  # lag-1 scales 2 and 4
    truth = np.array([[8.0, 5.0], [12.0, 12.0]])
    lower = np.array([[6.0, 8.0], [6.0, 8.0]])
    upper = np.array([[10.0, 14.0], [10.0, 14.0]])
    # alpha = 0.05 -> 2 / alpha = 40.
    # A: 4 (inside), 4 + 40 * (12 - 10) = 84 -> mean 44, / 2 = 22.
    # B: 6 + 40 * (8 - 5) = 126, 6 (inside) -> mean 66, / 4 = 16.5.
    assert msis(truth, lower, upper, insample=insample) == pytest.approx((22 + 16.5) / 2)
    assert msis(truth, lower, upper, scale=np.array([2.0, 4.0])) == pytest.approx(19.25)
    # lag 2: scales (3 + 5) / 2 = 4 and (6 + 0) / 2 = 3 -> 44 / 4 and 66 / 3
    assert msis(truth, lower, upper, insample=insample, season_length=2) == pytest.approx((11 + 22) / 2)
    # alpha = 0.5 -> 2 / alpha = 4: A (4 + 12) / 2 / 2 = 4, B (18 + 6) / 2 / 4 = 3
    assert msis(truth, lower, upper, insample=insample, alpha=0.5) == pytest.approx(3.5)
    # the protocol's (S, H, C) layout with one scale per series, (S, 1, C)
    series_first = truth.T[:, :, None]
    assert msis(
        series_first, lower.T[:, :, None], upper.T[:, :, None], scale=np.array([2.0, 4.0]).reshape(2, 1, 1)
    ) == pytest.approx(19.25)


def test_acd() -> None:
    assert acd(0.9, 0.95) == pytest.approx(0.05)
    assert acd(1.0, 0.95) == pytest.approx(0.05)
    with pytest.raises(DataError, match=r"acd: nominal must be in \(0, 1\). Got 95"):
        acd(0.9, 95)
    with pytest.raises(DataError, match=r"acd: coverage_value must be a share in \[0, 1\]. Got 1.5"):
        acd(1.5, 0.95)


def test_pit_from_samples() -> None:
    samples = np.array([[1.0], [1.0], [2.0], [3.0]])  # (S=4, 1)
    # share of samples <= y
    assert pit_from_samples(np.array([0.5]), samples).tolist() == [0.0]
    assert pit_from_samples(np.array([1.0]), samples).tolist() == [0.5]
    assert pit_from_samples(np.array([2.5]), samples).tolist() == [0.75]
    assert pit_from_samples(np.array([3.0]), samples).tolist() == [1.0]
    # randomised: y=1 ties two samples -> uniform in [0, 0.5]; seeded, reproducible
    first = pit_from_samples(np.full(1000, 1.0), np.tile(samples, (1, 1000)), randomize=True, seed=4)
    again = pit_from_samples(np.full(1000, 1.0), np.tile(samples, (1, 1000)), randomize=True, seed=4)
    np.testing.assert_array_equal(first, again)
    assert first.min() >= 0.0 and first.max() <= 0.5 and first.mean() == pytest.approx(0.25, abs=0.02)
    # without ties, randomising changes nothing
    assert pit_from_samples(np.array([2.5]), samples, randomize=True).tolist() == [0.75]


def test_pit_from_quantiles() -> None:
    quantiles = np.tile([0.0, 1.0, 1.0, 2.0], (6, 1))
    levels = [0.1, 0.4, 0.6, 0.9]
    truth = np.array([-5.0, 0.0, 0.5, 1.0, 1.5, 5.0])
    # below q_1: midpoint of [0, 0.1]; at q_1; interpolated (0.1 + 0.5 * 0.3); at the tied 1.0,
    # the middle of [0.4, 0.6]; interpolated (0.6 + 0.5 * 0.3); above q_Q: midpoint of [0.9, 1]
    expected = [0.05, 0.1, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(pit_from_quantiles(truth, quantiles, levels), expected, rtol=1e-12)
    drawn = pit_from_quantiles(truth, quantiles, levels, randomize=True, seed=1)
    low, high = [0.0, 0.1, 0.25, 0.4, 0.75, 0.9], [0.1, 0.1, 0.25, 0.6, 0.75, 1.0]
    assert np.all((drawn >= low) & (drawn <= high))


def test_pit_of_calibrated_forecasts_is_uniform() -> None:
    rng = np.random.default_rng(2)
    outcomes = rng.standard_normal(20_000)
    levels = np.arange(1, 20) / 20
    quantiles = np.broadcast_to(norm.ppf(levels), (len(outcomes), 19))
    # Midpoints in the tails give a flat histogram over bins that end at the outer levels.
    for values in (
        pit_from_quantiles(outcomes, quantiles, levels),
        pit_from_quantiles(outcomes, quantiles, levels, randomize=True),
    ):
        histogram, _ = np.histogram(values, bins=20, range=(0, 1))
        np.testing.assert_allclose(histogram / len(outcomes), 0.05, atol=0.006)
    # An ensemble of 200: ranks / 200, uniform up to the 1/200 steps (Kolmogorov distance).
    values = np.sort(pit_from_samples(outcomes, rng.standard_normal((200, len(outcomes)))))
    assert np.abs(values - np.arange(1, len(values) + 1) / len(values)).max() < 0.015


def test_mask_leaves_unobserved_targets_out() -> None:
    truth = np.array([1.0, np.nan, 3.0])
    observed = ~np.isnan(truth)
    quantiles = np.array([[0.0, 2.0], [9.0, 9.0], [4.0, 4.0]])
    samples = np.array([[0.0, 9.0, 2.0], [2.0, 9.0, 4.0]])
    lower, upper = np.array([0.0, 5.0, 4.0]), np.array([2.0, 6.0, 5.0])
    assert pinball_loss(truth, quantiles, LEVELS, mask=observed) == pytest.approx(0.375)
    assert crps_from_quantiles(truth, quantiles, LEVELS, mask=observed) == pytest.approx(0.75)
    assert weighted_quantile_loss(truth, quantiles, LEVELS, mask=observed) == pytest.approx(0.375)
    assert crps_from_samples(truth, samples, mask=observed) == pytest.approx(
        crps_from_samples(truth[observed], samples[:, observed])
    )
    assert coverage(truth, lower, upper, mask=observed) == pytest.approx(0.5)
    assert mean_interval_width(lower, upper, mask=np.array([True, False, True])) == pytest.approx(1.5)
    # 2 (inside, / 1) and (1 + 40 * 1) / 1 -> 21.5
    assert msis(truth, lower, upper, scale=1.0, mask=observed) == pytest.approx((2 + 41) / 2)
    assert pit_from_samples(truth, samples, mask=observed).tolist() == [0.5, 0.5]
    assert pit_from_quantiles(truth, quantiles, LEVELS, mask=observed).tolist() == [0.5, 0.125]
    with pytest.raises(DataError, match=r"coverage: y_true has 1 NaN.*mask="):
        coverage(truth, lower, upper)
    with pytest.raises(DataError, match=r"pinball_loss: mask must be a boolean array of the shape of y_true \(3,\)"):
        pinball_loss(truth, quantiles, LEVELS, mask=observed[:2])
    with pytest.raises(DataError, match="crps_from_samples: no values to score"):
        crps_from_samples(truth, samples, mask=np.zeros(3, dtype=bool))


def test_shape_errors_name_the_metric_and_the_shapes() -> None:
    with pytest.raises(DataError, match=r"pinball_loss: quantiles must have the shape of y_true \(2,\) plus .*2, 1\)"):
        pinball_loss(TRUTH, QUANTILES[:, :, None], LEVELS)
    with pytest.raises(DataError, match=r"crps_from_quantiles: levels must be a 1-D array of the 2 levels.*\(3,\)"):
        crps_from_quantiles(TRUTH, QUANTILES, [0.1, 0.5, 0.9])
    with pytest.raises(DataError, match=r"crps_from_samples: samples must have the shape of y_true \(2,\).*\(3, 3\)"):
        crps_from_samples(TRUTH, np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"sample_axis=2"):
        crps_from_samples(TRUTH, np.zeros((3, 2)), sample_axis=2)
    with pytest.raises(DataError, match=r"coverage: y_true, lower, upper must have the same shape.*upper \(3,\)"):
        coverage(TRUTH, TRUTH, np.zeros(3))
    with pytest.raises(DataError, match=r"msis: y_true, lower, upper must have the same shape"):
        msis(TRUTH, TRUTH, np.zeros(3), scale=1.0)


def test_levels_must_increase_within_zero_and_one() -> None:
    for levels in ([0.75, 0.25], [0.5, 0.5], [0.0, 0.5], [0.5, 1.0]):
        with pytest.raises(DataError, match=r"weighted_quantile_loss: levels must be strictly increasing"):
            weighted_quantile_loss(TRUTH, QUANTILES, levels)


def test_interval_errors() -> None:
    with pytest.raises(DataError, match=r"coverage: lower must not exceed upper; 1 interval.*lower 3.0 > upper 2.0"):
        coverage(TRUTH, np.array([0.0, 3.0]), np.array([1.0, 2.0]))
    with pytest.raises(DataError, match="mean_interval_width: lower must not exceed upper"):
        mean_interval_width(np.array([1.0]), np.array([0.0]))
    with pytest.raises(DataError, match=r"msis: alpha must be a number in \(0, 1\).*Got 5"):
        msis(TRUTH, TRUTH, TRUTH, scale=1.0, alpha=5)
    with pytest.raises(DataError, match="msis: pass exactly one of insample="):
        msis(TRUTH, TRUTH, TRUTH)
    with pytest.raises(DataError, match="msis: the scale .* must be > 0"):
        msis(TRUTH, TRUTH, TRUTH, insample=np.ones(4))
    with pytest.raises(DataError, match="msis: the in-sample series needs more than season_length=24"):
        msis(TRUTH[:, None], TRUTH[:, None], TRUTH[:, None], insample=np.ones((24, 1)), season_length=24)


def test_other_errors() -> None:
    with pytest.raises(DataError, match=r"weighted_quantile_loss: sum \|y_true\| is 0"):
        weighted_quantile_loss(np.zeros(2), QUANTILES, LEVELS)
    with pytest.raises(DataError, match=r"pit_from_quantiles: the quantiles of 1 element\(s\) decrease.*noncrossing"):
        pit_from_quantiles(TRUTH, np.array([[0.0, 2.0], [4.0, 3.0]]), LEVELS)
