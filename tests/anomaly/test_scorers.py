"""Tests of tsseq.anomaly.scorers: known answers, streaming equals batch, causality, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsseq.anomaly.scorers import (
    AbsoluteScorer,
    LikelihoodScorer,
    MahalanobisScorer,
    SquaredScorer,
    make_scorer,
)
from tsseq.errors import ConfigError, DataError


def test_absolute_and_squared_reduce_over_channels() -> None:
    errors = np.array([[3.0, -4.0], [0.0, 1.0]])
    np.testing.assert_allclose(AbsoluteScorer().fit(errors).score(errors), [3.5, 0.5])
    np.testing.assert_allclose(AbsoluteScorer("max").score(errors), [4.0, 1.0])
    np.testing.assert_allclose(SquaredScorer().score(errors), [12.5, 0.5])
    np.testing.assert_allclose(SquaredScorer("max").score(errors[None]), [[16.0, 1.0]])  # any leading shape
    assert SquaredScorer().update([3.0, -4.0]) == 12.5


def test_mahalanobis_with_identity_covariance_is_the_euclidean_norm() -> None:
    scorer = MahalanobisScorer(covariance="ridge", ridge=0.0).fit(np.random.default_rng(0).normal(size=(50, 3)))
    scorer.mean_, scorer.precision_ = np.zeros(3), np.eye(3)
    errors = np.random.default_rng(1).normal(size=(7, 3))
    np.testing.assert_allclose(scorer.score(errors), np.linalg.norm(errors, axis=1), rtol=1e-12)


@pytest.mark.parametrize("covariance", ["ledoit_wolf", "ridge"])
def test_mahalanobis_whitens_correlated_errors(covariance: str) -> None:
    rng = np.random.default_rng(0)
    mixing = np.array([[2.0, 0.0], [1.8, 0.5]])  # strongly correlated channels
    validation = rng.normal(size=(20000, 2)) @ mixing.T + [1.0, -1.0]
    scorer = MahalanobisScorer(covariance=covariance, ridge=1e-6).fit(validation)
    white = rng.normal(size=(5, 2))
    errors = white @ mixing.T + [1.0, -1.0]
    np.testing.assert_allclose(scorer.score(errors), np.linalg.norm(white, axis=1), rtol=0.03)
    # Along the correlation a deviation is ordinary; across it the same size is extreme.
    along, across = scorer.score(np.array([[1.0 + 2.0, -1.0 + 1.8], [1.0 + 2.0, -1.0 - 1.8]]))
    assert across > 5 * along


def test_mahalanobis_ridge_keeps_a_constant_channel_finite() -> None:
    validation = np.column_stack([np.random.default_rng(0).normal(size=100), np.zeros(100)])
    scores = MahalanobisScorer(covariance="ridge").fit(validation).score(np.array([[0.0, 1.0]]))
    assert np.isfinite(scores).all() and scores[0] > 10


def _tail_likelihood(z: float) -> float:
    return 1 - 0.5 * math.erfc(abs(z) / math.sqrt(2))


def test_likelihood_known_answer_learning_period_and_both_tails() -> None:
    # 4 probationary rows, the first 2 the learning period: the estimate at row 4 uses the
    # averages of rows 2 and 3, (0.3 + 0.5) / 2 and (0.5 + 0.7) / 2: mean 0.5, std 0.1.
    scorer = LikelihoodScorer(averaging_window=2, historic_window=10).fit([0.1, 0.3, 0.5, 0.7])
    likelihood = scorer.score([0.9, 0.1, 0.1])  # averages 0.8, 0.5, 0.1
    np.testing.assert_allclose(likelihood, [_tail_likelihood(3.0), 0.5, _tail_likelihood(-4.0)], rtol=1e-12)


def test_likelihood_floors_the_mean_and_variance() -> None:
    # All-zero history: mean 0 -> 0.03, variance 0 -> 0.0003 (NuPIC's bounds).
    scorer = LikelihoodScorer(averaging_window=2, historic_window=10).fit(np.zeros(4))
    z = (0.1 - 0.03) / math.sqrt(0.0003)
    assert scorer.score([0.2])[0] == pytest.approx(_tail_likelihood(z), rel=1e-12)


def test_likelihood_reestimates_every_period() -> None:
    scorer = LikelihoodScorer(averaging_window=1, historic_window=1000, reestimation_period=10).fit(
        np.tile([0.0, 1.0], 10)  # rows 0..19; estimate at row 20 from rows 10..19: mean 0.5, std 0.5
    )
    raw = np.r_[np.tile([2.0, 3.0], 5), 2.5]  # rows 20..30; at row 30 the estimate adds rows 20..29
    likelihood = scorer.score(raw)
    assert likelihood[1] == pytest.approx(_tail_likelihood((3.0 - 0.5) / 0.5), rel=1e-9)
    mean, std = np.r_[np.tile([0.0, 1.0], 5), raw[:10]].mean(), np.r_[np.tile([0.0, 1.0], 5), raw[:10]].std()
    assert likelihood[10] == pytest.approx(_tail_likelihood((2.5 - mean) / std), rel=1e-9)


def test_a_run_of_red_zone_rows_alarms_once() -> None:
    rng = np.random.default_rng(0)
    scorer = LikelihoodScorer(historic_window=1000).fit(rng.normal(1.0, 0.1, size=2000))
    raw = rng.normal(1.0, 0.1, size=300)
    raw[200:220] += 2.0
    likelihood = scorer.score(raw)
    red = np.flatnonzero(likelihood >= 1 - 1e-5)
    assert len(red) == 1 and 200 <= red[0] < 205
    np.testing.assert_array_equal(likelihood[red[0] + 1 : 218], 0.999)  # NuPIC's yellow zone
    assert likelihood[:200].max() < 0.9999 and ((likelihood >= 0.5) & (likelihood < 1)).all()


def test_likelihood_log_scale_and_the_probationary_period() -> None:
    plain = LikelihoodScorer().fit(np.empty(0)).score([1.0, 2.0])  # nothing to estimate from yet: 0.5
    logged = LikelihoodScorer(log_scale=True).fit(np.empty(0)).score([1.0, 2.0])
    np.testing.assert_allclose(plain, 0.5, atol=1e-6)
    np.testing.assert_allclose(logged, math.log(1.0000000001 - 0.5) / math.log(1e-10), rtol=1e-5)
    red = LikelihoodScorer(averaging_window=2, historic_window=10, log_scale=True).fit([0.1, 0.3, 0.5, 0.7])
    z = 4.264891  # Q(z) = 1e-5: L = 0.99999, log score 0.5
    assert red.score([2 * (0.5 + z * 0.1) - 0.7])[0] == pytest.approx(0.5, abs=1e-6)


def test_flat_metric_values_give_likelihood_one_half() -> None:
    rng = np.random.default_rng(1)
    history, raw = rng.exponential(size=300), rng.exponential(size=50)
    raw[10] = 50.0
    flat = LikelihoodScorer(historic_window=200).fit(history, np.full(300, 7.0)).score(raw, np.full(50, 7.0))
    np.testing.assert_allclose(flat, 0.5, atol=1e-5)  # the null distribution: std 1e6
    varying = LikelihoodScorer(historic_window=200).fit(history, rng.normal(size=300))
    assert varying.score(raw, rng.normal(size=50))[10] > 0.9999
    with pytest.raises(DataError, match="values were given to fit"):
        varying.score(raw)
    with pytest.raises(DataError, match="Got 3 values for 50 raw scores"):
        varying.score(raw, np.ones(3))


def test_likelihood_update_matches_batch_score_and_keeps_nan() -> None:
    rng = np.random.default_rng(3)
    history, raw = rng.exponential(size=500), rng.exponential(size=400)
    raw[:5] = np.nan  # a windowed score's warm-up
    raw[250] += 10
    batch = LikelihoodScorer(historic_window=300).fit(history).score(raw)
    streaming = LikelihoodScorer(historic_window=300).fit(history)
    online = np.array([streaming.update(value) for value in raw[:200]])
    chunk = streaming.update(raw[200:])
    assert np.isnan(batch[:5]).all() and np.isnan(online[:5]).all() and np.isfinite(batch[5:]).all()
    np.testing.assert_allclose(np.r_[online, chunk][5:], batch[5:], rtol=0, atol=1e-10)
    assert streaming.rows_seen_ == 900


def test_likelihood_score_at_t_ignores_later_raw_scores() -> None:
    rng = np.random.default_rng(4)
    scorer = LikelihoodScorer(historic_window=100, reestimation_period=20).fit(rng.exponential(size=200))
    raw = rng.exponential(size=300)
    changed = raw.copy()
    changed[151:] = rng.exponential(size=149) * 10
    np.testing.assert_array_equal(scorer.score(raw)[:151], scorer.score(changed)[:151])
    assert not np.allclose(scorer.score(raw)[151:], scorer.score(changed)[151:])


def test_make_scorer_names_unknown_scorers_and_parameters() -> None:
    assert isinstance(make_scorer("mahalanobis", covariance="ridge"), MahalanobisScorer)
    with pytest.raises(ConfigError, match="Did you mean 'squared'"):
        make_scorer("squard")
    with pytest.raises(ConfigError, match="scorer 'likelihood'"):
        make_scorer("likelihood", short_window=10)
    with pytest.raises(ConfigError, match="covariance"):
        MahalanobisScorer(covariance="full").fit(np.ones((5, 2)))
    with pytest.raises(DataError, match="at least 2"):
        MahalanobisScorer().fit(np.full((3, 2), np.nan))
