"""Metrics against hand-computed answers on tiny arrays, and their error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsseq.errors import DataError
from tsseq.metrics import mae, mape, mase, mse, owa, rmse, seasonal_naive_scale, smape


def test_mse_mae_rmse_known_answers() -> None:
    truth, forecast = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 2.0, 2.0])
    # errors -1, 0, 1, 2
    assert mse(truth, forecast) == pytest.approx(6 / 4)
    assert mae(truth, forecast) == pytest.approx(4 / 4)
    assert rmse(truth, forecast) == pytest.approx(math.sqrt(1.5))
    assert type(mse(truth, forecast)) is float


def test_metrics_average_over_every_element_of_any_shape() -> None:
    rng = np.random.default_rng(0)
    truth, forecast = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 3))
    assert mse(truth, forecast) == pytest.approx(np.mean((truth - forecast) ** 2), rel=1e-12)
    assert mae(truth, forecast) == pytest.approx(np.mean(np.abs(truth - forecast)), rel=1e-12)


def test_mape_is_in_percent() -> None:
    # |e| / |y| = 1, 0, 0.5 -> mean 0.5 -> 50 percent (scikit-learn would say 0.5)
    assert mape(np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])) == pytest.approx(50.0)


def test_smape_follows_m4_formula_in_percent() -> None:
    # 200 / 2 * (2 / 4 + 2 / 4) = 100
    assert smape(np.array([1.0, 3.0]), np.array([3.0, 1.0])) == pytest.approx(100.0)
    # a 0/0 term (y = f = 0) is a perfect forecast: 200 / 2 * (0 + 1 / 3)
    assert smape(np.array([0.0, 2.0]), np.array([0.0, 1.0])) == pytest.approx(100 / 3)
    assert smape(np.array([1.0]), np.array([0.0])) == pytest.approx(200.0)


def test_smape_of_many_series_is_the_mean_of_their_smapes() -> None:
    truth = np.array([[1.0, 3.0], [2.0, 2.0]])
    forecast = np.array([[3.0, 1.0], [2.0, 2.0]])
    assert smape(truth, forecast) == pytest.approx((100.0 + 0.0) / 2)


def test_mase_scales_by_the_in_sample_seasonal_naive_error() -> None:
    insample = np.array([1.0, 2.0, 4.0, 7.0])
    truth, forecast = np.array([8.0, 10.0]), np.array([9.0, 9.0])
    # lag 1 differences 1, 2, 3 -> scale 2; MAE 1 -> MASE 0.5
    assert mase(truth, forecast, insample=insample) == pytest.approx(0.5)
    # lag 2 differences 3, 5 -> scale 4
    assert mase(truth, forecast, insample=insample, season_length=2) == pytest.approx(0.25)
    assert mase(truth, forecast, scale=4.0) == pytest.approx(0.25)


def test_mase_uses_one_scale_per_channel() -> None:
    insample = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])  # scales 1 and 10
    assert seasonal_naive_scale(insample).tolist() == [1.0, 10.0]
    assert mase(np.array([[3.0, 30.0]]), np.array([[4.0, 40.0]]), insample=insample) == pytest.approx(1.0)


def test_seasonal_naive_scale_ignores_unobserved_values() -> None:
    assert seasonal_naive_scale(np.array([1.0, 2.0, np.nan, 4.0, 8.0])) == pytest.approx((1.0 + 4.0) / 2)


def test_mask_leaves_unobserved_targets_out() -> None:
    truth, forecast = np.array([1.0, 2.0, np.nan]), np.array([1.0, 4.0, 0.0])
    observed = ~np.isnan(truth)
    assert mse(truth, forecast, mask=observed) == pytest.approx(2.0)
    assert mae(truth, forecast, mask=observed) == pytest.approx(1.0)
    assert mase(truth, forecast, scale=2.0, mask=observed) == pytest.approx(0.5)


def test_owa_on_aggregate_figures() -> None:
    assert owa(10.0, 1.0, 20.0, 2.0) == pytest.approx(0.5)
    assert owa(20.0, 2.0, 20.0, 2.0) == pytest.approx(1.0)


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(DataError, match=r"mse: .*same shape.*\(3,\).*\(2,\)"):
        mse(np.zeros(3), np.zeros(2))
    with pytest.raises(DataError, match=r"mase: .*same shape"):
        mase(np.zeros(3), np.zeros(2), scale=1.0)


def test_empty_input_and_fully_masked_input_are_errors() -> None:
    with pytest.raises(DataError, match="no values to score"):
        mae(np.array([]), np.array([]))
    with pytest.raises(DataError, match="no values to score"):
        smape(np.ones(2), np.ones(2), mask=np.zeros(2, dtype=bool))


def test_unmasked_nan_is_an_error_that_suggests_the_mask() -> None:
    with pytest.raises(DataError, match=r"y_true has 1 NaN.*mask="):
        mse(np.array([1.0, np.nan]), np.array([1.0, 1.0]))


def test_mask_must_be_boolean_of_the_same_shape() -> None:
    with pytest.raises(DataError, match="boolean array"):
        mse(np.ones(2), np.ones(2), mask=np.ones(2))


def test_zero_mase_scale_is_an_error() -> None:
    with pytest.raises(DataError, match="scale .* must be > 0"):
        mase(np.array([1.0]), np.array([2.0]), insample=np.array([5.0, 5.0, 5.0]))
    # a series that repeats every m steps has a zero seasonal naive error too
    with pytest.raises(DataError, match="lag-2"):
        mase(np.array([1.0]), np.array([2.0]), insample=np.array([1.0, 2.0, 1.0, 2.0]), season_length=2)


def test_a_zero_scale_among_many_is_named_by_count_and_a_few_values() -> None:
    # a backtest passes one scale per forecast value: the message shows a few, not thousands
    scale = np.r_[np.ones(995), np.zeros(5000)]
    with pytest.raises(DataError, match=r"must be > 0 and finite; 5000 of the 5995 are not, e.g. \[0.0, 0.0, 0.0, 0.0, "
                       r"0.0\]\. A constant"):
        mase(np.ones(5995), np.zeros(5995), scale=scale)


def test_mase_needs_exactly_one_of_insample_and_scale() -> None:
    with pytest.raises(DataError, match="exactly one"):
        mase(np.ones(2), np.ones(2))
    with pytest.raises(DataError, match="exactly one"):
        mase(np.ones(2), np.ones(2), insample=np.arange(4.0), scale=1.0)


def test_mase_in_sample_must_be_longer_than_the_season() -> None:
    with pytest.raises(DataError, match="more than season_length=24 values.*Got 24"):
        mase(np.ones(2), np.ones(2), insample=np.arange(24.0), season_length=24)


def test_mape_refuses_zero_targets() -> None:
    with pytest.raises(DataError, match="1 value.* equal to 0.*smape or mase"):
        mape(np.array([0.0, 1.0]), np.array([1.0, 1.0]))


def test_owa_refuses_a_zero_naive2_figure() -> None:
    with pytest.raises(DataError, match="smape_naive2 must be a finite number > 0. Got 0.0"):
        owa(1.0, 1.0, 0.0, 1.0)
