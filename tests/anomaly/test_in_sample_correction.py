"""in_sample_correction: the threshold reads the forecaster's fitted rows with their errors divided by 1 - df / n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq.anomaly.detectors import make_detector
from tsseq.errors import ConfigError


def cycle(rows: int = 600, channels: int = 1, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * steps / 24 + np.arange(channels)) + 0.3 * rng.standard_normal((rows, channels))
    return pd.DataFrame(values, columns=[f"c{k}" for k in range(channels)],
                        index=pd.date_range("2024-01-01", periods=rows, freq="h"))  # fmt: skip


def test_the_var_states_each_equations_degrees_of_freedom_and_rows() -> None:
    one = tsseq.create("var", order=3).fit(cycle())
    np.testing.assert_array_equal(one.df_, [[4.0]])  # an AR(3) with its intercept
    assert one.residual_rows_.tolist() == [597]
    least_squares = tsseq.create("var", order=2, cross_penalty=None, cross_screen=None).fit(cycle(channels=3))
    np.testing.assert_array_equal(least_squares.df_, [[7.0, 7.0, 7.0]])  # 3 channels x 2 lags + 1
    shrunk = tsseq.create("var", order=2, cross_penalty=10.0, cross_screen=None).fit(cycle(channels=3))
    assert np.all(shrunk.df_ > 3.0) and np.all(shrunk.df_ < 7.0)  # own lags and intercept, part of the cross terms


@pytest.mark.parametrize("name", ["ar_residual", "var_residual", "interval"])
def test_the_fitted_rows_are_corrected_and_new_rows_scored_as_before(name: str) -> None:
    frame = cycle()
    train = frame.iloc[:300]
    plain = make_detector(name, window_length=24).fit(train)
    corrected = make_detector(name, window_length=24, in_sample_correction=True).fit(train)
    assert plain.inflation_ is None and corrected.inflation_.shape == (1,) and corrected.inflation_[0] > 1.0
    np.testing.assert_array_equal(corrected.raw_scores(frame), plain.raw_scores(frame))  # scoring is unchanged
    fitted = corrected.fitted_rows_  # the first 80%: the held-out 20% are out of sample already
    assert fitted == 240
    before, after = plain.normal_scores_, corrected.normal_scores_
    np.testing.assert_array_equal(after[fitted:], before[fitted:])
    assert np.all(after[24:fitted] >= before[24:fitted]) and np.any(after[24:fitted] > before[24:fitted])
    if name == "ar_residual":  # the AR's own order: 1 / (1 - (p + 1) / (n - p)), on absolute errors exactly
        order = float(corrected.forecaster_.order_[0, 0])
        inflation = 1.0 / (1.0 - (order + 1.0) / (fitted - order))
        np.testing.assert_allclose(corrected.inflation_, [inflation])
        np.testing.assert_allclose(after[24:fitted], before[24:fitted] * inflation)
    assert corrected.threshold_ > plain.threshold_


def test_a_forecaster_without_degrees_of_freedom_and_a_non_boolean_are_refused() -> None:
    with pytest.raises(ConfigError, match="in_sample_correction needs a least-squares forecaster, 'ar' or 'var'"):
        make_detector("forecast_residual", forecaster="naive", in_sample_correction=True).fit(cycle(300))
    with pytest.raises(ConfigError, match="'in_sample_correction' parameter must be True or False. Got 'yes'"):
        make_detector("ar_residual", in_sample_correction="yes").fit(cycle(300))


def test_auto_hands_it_to_its_forecasting_members_and_raises_its_threshold() -> None:
    frame = cycle(900)
    training = {"epochs": 2, "progress": False, "threads": 1, "seed": 0}
    plain = make_detector("auto", training=training, in_sample_correction=False).fit(frame.iloc[:400])
    corrected = make_detector("auto", training=training).fit(frame.iloc[:400])  # the default since the 16th study
    members = dict(corrected.members_)
    assert members["var_residual"].inflation_ is not None and members["interval"].inflation_ is not None
    assert not hasattr(members["lstm_ae"], "inflation_")
    np.testing.assert_allclose(corrected.score(frame), plain.score(frame))  # the same scores of new rows
    assert corrected.threshold_ > plain.threshold_
    assert "its fitted rows' errors divided by 1 - df/n for the threshold" in corrected.report()
