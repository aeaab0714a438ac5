"""OnlineResidualDetector: causality, streaming in chunks, known behaviour on simple series."""

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.online import OnlineResidualDetector
from tsseq.errors import ConfigError, DataError


def seasonal_series(rows: int = 1500, seed: int = 0, freq: str = "h") -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(rows)
    return pd.Series(values, index=pd.date_range("2020-01-01", periods=rows, freq=freq), name="value")


def test_scores_up_to_t_do_not_depend_on_later_rows():
    y = seasonal_series()
    t = 900
    perturbed = y.copy()
    perturbed.iloc[t + 1 :] += np.random.default_rng(1).normal(0, 50, len(y) - t - 1)
    detector = OnlineResidualDetector()
    original, changed = detector.stream(y, train_rows=300), detector.stream(perturbed, train_rows=300)
    np.testing.assert_array_equal(original.iloc[: t + 1].to_numpy(), changed.iloc[: t + 1].to_numpy())
    assert not np.allclose(original.iloc[t + 1 :], changed.iloc[t + 1 :])
    assert original.iloc[:300].isna().all() and original.iloc[300:].notna().all()
    assert original.attrs["causal"] is True


def test_update_in_chunks_equals_one_score_call_and_score_leaves_the_detector_unchanged():
    y = seasonal_series(rows=2500)
    detector = OnlineResidualDetector(suppression=0.05).fit(y.iloc[:400])
    state = detector.state_
    whole = detector.score(y.iloc[400:])
    assert detector.state_ is state
    np.testing.assert_array_equal(detector.score(y.iloc[400:]).to_numpy(), whole.to_numpy())
    chunks = [detector.update(y.iloc[a:b]) for a, b in ((400, 1000), (1000, 1001), (1001, 2500))]
    assert detector.state_.seen == 2500
    np.testing.assert_allclose(pd.concat(chunks).to_numpy(), whole.to_numpy(), rtol=1e-9, atol=1e-12)


def test_a_spike_scores_one_and_the_rest_period_is_quiet():
    y = seasonal_series(rows=1200)
    y.iloc[800] += 30  # far beyond the range seen so far: a spatial anomaly
    scores = OnlineResidualDetector(suppression=0.2).stream(y, train_rows=300)
    assert scores.iloc[800] == 1.0
    assert scores.idxmax() == y.index[800]
    assert (scores.iloc[801 : 801 + 60] == 0.0).all()  # 0.2 * 300 rows after the alarm
    assert scores.iloc[300:800].max() < 0.5  # no alarm on the normal seasonal rows


def test_likelihood_alone_flags_a_level_shift_within_the_range_seen():
    y = seasonal_series(rows=1500)
    y.iloc[1000:] = 10 + 0.3 * np.random.default_rng(2).standard_normal(500)  # the cycle stops, values stay in range
    scores = OnlineResidualDetector(spatial_tolerance=None, suppression=0.0).stream(y, train_rows=300)
    assert scores.iloc[300:1000].max() < 0.5
    assert scores.iloc[1000:1100].max() >= 0.5


def test_flat_metric_is_never_anomalous():
    y = pd.Series(5.0, index=pd.date_range("2020-01-01", periods=600, freq="5min"))
    scores = OnlineResidualDetector().stream(y, train_rows=90)
    expected = np.log(1.0000000001 - 0.5) / np.log(1e-10)  # NuPIC's likelihood 0.5
    np.testing.assert_allclose(scores.iloc[90:].to_numpy(), expected, rtol=1e-5)  # sigma = 1e6, not infinite


def test_seasonal_lags_need_two_periods_of_training_rows():
    hourly = seasonal_series(rows=100)
    assert list(OnlineResidualDetector(order=4).fit(hourly).lags_) == [1, 2, 3, 4, 23, 24, 25]
    assert list(OnlineResidualDetector(order=4).fit(hourly.iloc[:40]).lags_) == [1, 2, 3, 4]
    assert list(OnlineResidualDetector(order=4, seasonal_period=None).fit(hourly).lags_) == [1, 2, 3, 4]


def test_bad_input_and_parameters_raise_clear_errors():
    y = seasonal_series(rows=200)
    broken = y.copy()
    broken.iloc[150] = np.nan
    with pytest.raises(DataError, match=r"row 50 \(2020-01-07 06:00:00\) has the non-finite value nan"):
        OnlineResidualDetector().fit(y.iloc[:100]).score(broken.iloc[100:])
    with pytest.raises(DataError, match=r"univariate series\), but y has 2 columns"):
        OnlineResidualDetector().fit(pd.concat([y, y], axis=1))
    with pytest.raises(ConfigError, match="'forgetting' parameter must be in \\(0, 1\\]. Got 1.5"):
        OnlineResidualDetector(forgetting=1.5).fit(y)
    with pytest.raises(ConfigError, match="'seasonal_period'"):
        OnlineResidualDetector(seasonal_period="daily").fit(y)
    with pytest.raises(DataError, match="train_rows=200 leaves none of the 200 rows"):
        OnlineResidualDetector().stream(y, train_rows=200)


def test_alarm_level_threshold_flags_the_spike_as_a_detector() -> None:
    from sklearn.base import clone

    from tsseq.anomaly.detectors import make_detector

    y = seasonal_series(rows=1200)
    y.iloc[800] += 30
    detector = make_detector("online_residual", suppression=0.2).fit(y.iloc[:300])  # suppression: an explicit option
    assert detector.causal is True and detector.threshold_ == 0.5 and detector.validation_scores_ is None
    result = detector.detect(y.iloc[300:])
    assert list(result.columns) == ["score", "is_anomaly"] and result.attrs["causal"] is True
    assert list(np.flatnonzero(result["is_anomaly"])) == [500]  # row 800 alone; the rest period after it
    np.testing.assert_array_equal(detector.predict(y.iloc[300:]), result["is_anomaly"])
    assert clone(detector).get_params() == detector.get_params()


def test_named_thresholds_are_fitted_on_causal_validation_scores() -> None:
    y = seasonal_series(rows=1000)
    detector = OnlineResidualDetector(threshold="quantile", threshold_params={"q": 0.99}).fit(y)
    held_out = OnlineResidualDetector(threshold=None).fit(y.iloc[:800])
    expected = held_out.update(y.iloc[800:]).to_numpy()  # the last 20 %: streamed after the first 800 rows
    np.testing.assert_array_equal(detector.validation_scores_, expected)
    assert detector.threshold_ == np.quantile(expected, 0.99)
    assert detector.state_.seen == 1000  # it has learnt from every row of y
    given = OnlineResidualDetector(threshold="spot", threshold_params={"q": 1e-3, "level": 0.9})
    given.fit(y.iloc[:800], validation=y.iloc[800:])
    np.testing.assert_array_equal(given.validation_scores_, expected)
    assert given.state_.seen == 800  # validation rows are scored, not learnt


def test_detector_interface_errors() -> None:
    y = seasonal_series(rows=400)
    with pytest.raises(ConfigError, match="causal only"):
        OnlineResidualDetector(causal=False).fit(y)
    with pytest.raises(ConfigError, match="'alarm_level' parameter"):
        OnlineResidualDetector(threshold_params={"q": 0.9}).fit(y)
    with pytest.raises(ConfigError, match="holds none out"):
        OnlineResidualDetector(threshold="quantile", validation_fraction=0.0).fit(y)
    with pytest.raises(ConfigError, match="threshold=None"):
        OnlineResidualDetector(threshold=None).fit(y.iloc[:300]).detect(y.iloc[300:])


def test_streaming_replays_it_with_its_own_online_updates() -> None:
    from tsseq.anomaly.streaming import OnlineDetector, score_stream

    y = seasonal_series(rows=900)
    y.iloc[700] += 30
    frame = y.to_frame()
    detector = OnlineResidualDetector(suppression=0.1)
    replay = score_stream(detector, frame, train_rows=300).frame
    np.testing.assert_array_equal(replay["score"].to_numpy(), detector.stream(y, train_rows=300).to_numpy())
    assert list(np.flatnonzero(replay["is_anomaly"])) == [700] and (replay["threshold"].iloc[300:] == 0.5).all()
    online = OnlineDetector(detector.fit(frame.iloc[:300]))
    updates = [online.update(row) for row in frame.iloc[300:].to_numpy()]
    np.testing.assert_allclose([score for score, _ in updates], replay["score"].iloc[300:], rtol=1e-9, atol=1e-12)
    assert [i for i, (_, flag) in enumerate(updates) if flag] == [400]
    with pytest.raises(ConfigError, match="refit_every"):
        score_stream(detector, frame, train_rows=300, refit_every=100)
