"""Naive baselines and M4's Naive2: known answers, estimator contract, published M4 Hourly figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from statsmodels.tsa.stattools import acf

from tsseq import registry
from tsseq.baselines import (
    AR,
    Drift,
    Mean,
    Naive,
    Naive2,
    SeasonalNaive,
    autocorrelation,
    drift_forecast,
    mean_forecast,
    naive2_forecast,
    naive_forecast,
    seasonal_indices,
    seasonal_naive_forecast,
    seasonality_test,
)
from tsseq.errors import ConfigError, DataError

PATTERN = np.array([0.5, 1.5, 1.2, 0.8])  # multiplicative seasonal indices, mean 1


def test_forecast_functions_give_hand_computed_answers() -> None:
    history = np.array([1.0, 4.0, 2.0, 7.0])
    np.testing.assert_array_equal(naive_forecast(history, 3), [7, 7, 7])
    np.testing.assert_array_equal(mean_forecast(history, 2), [3.5, 3.5])
    np.testing.assert_array_equal(drift_forecast(history, 3), [9, 11, 13])  # slope (7 - 1) / 3
    np.testing.assert_array_equal(seasonal_naive_forecast(np.arange(1.0, 8.0), 5, 3), [5, 6, 7, 5, 6])


def test_forecast_functions_work_on_batches_along_the_last_axis() -> None:
    histories = np.random.default_rng(0).normal(size=(2, 3, 30))  # (N, C, L)
    for function in (naive_forecast, mean_forecast, drift_forecast):
        result = function(histories, 4)
        assert result.shape == (2, 3, 4)
        np.testing.assert_allclose(result[1, 2], function(histories[1, 2], 4))
    np.testing.assert_allclose(seasonal_naive_forecast(histories, 4, 7)[0, 1], histories[0, 1, 23:27])


def test_autocorrelation_equals_statsmodels_acf() -> None:
    series = np.random.default_rng(1).normal(size=(3, 50)).cumsum(axis=1)
    result = autocorrelation(series, 6)
    for row, values in zip(result, series):
        np.testing.assert_allclose(row, acf(values, nlags=6)[1:], rtol=1e-12)


def test_seasonality_test_follows_the_m4_r_benchmarks() -> None:
    # [1, 3] * 10: r_1 = -19/20, r_2 = 18/20, limit 1.645 sqrt((1 + 2 r_1^2) / 20) = 0.616 < 0.9.
    # (The Python reference adds r_1 unsquared: (1 - 1.9) / 20 < 0, so it would fail here.)
    assert seasonality_test(np.tile([1.0, 3.0], 10), 2)
    # Shorter than three seasons, or a season of 1: never seasonal.
    assert not seasonality_test(np.tile([1.0, 3.0], 2), 2)
    assert not seasonality_test(np.tile([1.0, 3.0], 10), 1)
    # White noise and a constant series are not seasonal.
    assert not seasonality_test(np.random.default_rng(2).normal(size=200), 12)
    assert not seasonality_test(np.full(50, 4.0), 4)


def test_naive2_continues_an_exact_multiplicative_season() -> None:
    history = 10 * np.tile(PATTERN, 10)  # level 10, 40 values: the next value starts a season
    np.testing.assert_allclose(seasonal_indices(history, 4), PATTERN)
    np.testing.assert_allclose(naive2_forecast(history, 6, 4), 10 * PATTERN[[0, 1, 2, 3, 0, 1]])
    # One step further along the season: the indices stay aligned with the positions.
    np.testing.assert_allclose(naive2_forecast(history[:-1], 2, 4), 10 * PATTERN[[3, 0]])


def test_naive2_is_naive_for_non_seasonal_series_and_warns_on_non_positive_values() -> None:
    noise = np.random.default_rng(3).normal(10, 1, size=60)
    np.testing.assert_array_equal(naive2_forecast(noise, 3, 12), np.repeat(noise[-1], 3))
    with pytest.warns(UserWarning, match="values <= 0"):
        forecast = naive2_forecast(np.tile(PATTERN - 1, 10), 2, 4)
    np.testing.assert_allclose(forecast, [-0.2, -0.2])


def test_seasonal_indices_of_a_batch_equal_those_of_each_series() -> None:
    rng = np.random.default_rng(4)
    histories = 10 * np.tile(PATTERN, 12) * rng.uniform(0.9, 1.1, size=(2, 3, 48))
    result = seasonal_indices(histories, 4)
    assert result.shape == (2, 3, 4)
    np.testing.assert_allclose(result[1, 0], seasonal_indices(histories[1, 0], 4), rtol=1e-12)


@pytest.fixture
def frame() -> pd.DataFrame:
    index = pd.date_range("2022-05-01", periods=8, freq="D", name="timestamp")
    return pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6, 7, 8], "b": [5.0, 1, 5, 1, 5, 1, 5, 3]}, index=index)


@pytest.mark.parametrize(
    ("model", "expected_a", "expected_b"),
    [
        (Naive(), [8, 8, 8], [3, 3, 3]),
        (Mean(), [4.5, 4.5, 4.5], [3.25, 3.25, 3.25]),
        (Drift(), [9, 10, 11], [3 - 2 / 7, 3 - 4 / 7, 3 - 6 / 7]),
        (SeasonalNaive(season_length=2), [7, 8, 7], [5, 3, 5]),
        (Naive2(season_length=3), [8, 8, 8], [3, 3, 3]),  # shorter than 3 seasons: not seasonal
    ],
)
def test_estimators_on_a_wide_frame(frame: pd.DataFrame, model, expected_a: list, expected_b: list) -> None:
    assert model.fit(frame) is model
    forecast = model.predict(3)
    assert list(forecast.columns) == ["a", "b"]
    assert list(forecast.index) == list(pd.date_range("2022-05-09", periods=3, freq="D"))
    np.testing.assert_allclose(forecast["a"], expected_a)
    np.testing.assert_allclose(forecast["b"], expected_b)
    windows = np.stack([frame.to_numpy(), frame.to_numpy()[::-1]])  # (2, 8, 2)
    result = model.predict_windows(windows, 3)
    assert result.shape == (2, 3, 2)
    np.testing.assert_allclose(result[0], forecast.to_numpy())


def test_estimators_on_a_long_frame_with_series_of_different_lengths() -> None:
    long = pd.concat(
        [
            pd.DataFrame({"value": values}, index=pd.MultiIndex.from_arrays(
                [[name] * len(values), pd.date_range("2022-01-01", periods=len(values), freq="h")], names=["series", "time"]))
            for name, values in (("short", 10 * np.tile(PATTERN, 10)), ("long", np.arange(1.0, 51.0)))
        ]
    )
    forecast = Naive2(season_length=4).fit(long).predict(2)
    assert forecast.index.names == ["series", "time"]
    np.testing.assert_allclose(forecast.loc["short", "value"], [5, 15])
    assert forecast.loc["long"].index[0] == pd.Timestamp("2022-01-03 02:00")
    np.testing.assert_allclose(SeasonalNaive(season_length=4).fit(long).predict(2).loc["long", "value"], [47, 48])


def test_registry_names_and_clone() -> None:
    assert {"ar", "naive", "seasonal_naive", "drift", "mean", "naive2"} <= set(registry.names())
    model = registry.create("seasonal_naive", season_length=24)
    assert isinstance(model, SeasonalNaive) and model.get_params() == {"season_length": 24}
    copy = clone(model)
    assert copy is not model and copy.get_params() == {"season_length": 24}
    assert Naive().get_params() == {}


@pytest.mark.parametrize(("freq", "season"), [("MS", 12), ("QS", 4), ("D", 7), ("h", 24), ("YS", 1)])
def test_without_a_season_length_the_seasonal_models_take_their_frequencys(freq: str, season: int) -> None:
    index = pd.date_range("2001-01-01", periods=60, freq=freq, name="timestamp")
    values = 10 + np.tile(PATTERN, 15) * np.random.default_rng(3).uniform(1, 2, 60)
    frame = pd.DataFrame({"y": values}, index=index)
    for default, given in ((SeasonalNaive(), SeasonalNaive(season_length=season)), (Naive2(), Naive2(season_length=season))):
        assert default.get_params() == {"season_length": None}
        default.fit(frame)
        assert default.season_length_ == season
        pd.testing.assert_frame_equal(default.predict(30), given.fit(frame).predict(30))
        windows = np.stack([values[:50], values[10:]])[..., None]
        np.testing.assert_array_equal(default.predict_windows(windows, 5), given.predict_windows(windows, 5))
        pd.testing.assert_frame_equal(default.predict(6, quantiles=[0.1, 0.9]), given.predict(6, quantiles=[0.1, 0.9]))
    np.testing.assert_array_equal(SeasonalNaive().fit(frame).predict(season)["y"], values[-season:])
    assert SeasonalNaive(season_length=2).fit(frame).season_length_ == 2  # a season given wins


def test_a_series_shorter_than_its_frequencys_season_says_where_the_season_came_from() -> None:
    frame = pd.DataFrame({"y": np.arange(8.0)}, index=pd.date_range("2020-01-01", periods=8, freq="MS"))
    with pytest.raises(DataError, match=r"SeasonalNaive with season_length=12 \(its frequency's season\) needs at least "
                                        r"one season \(12 values\)"):
        SeasonalNaive().fit(frame)
    np.testing.assert_array_equal(SeasonalNaive(season_length=1).fit(frame).predict(2)["y"], [7, 7])


def test_bad_parameters_and_data_raise_clear_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="The 'season_length' parameter must be an int >= 1. Got 0 instead."):
        SeasonalNaive(season_length=0).fit(frame)
    with pytest.raises(ConfigError, match="'season_length' parameter must be an int >= 1. Got 2.5 instead."):
        Naive2(season_length=2.5).fit(frame)
    with pytest.raises(DataError, match=r"The series has 8 rows; SeasonalNaive with season_length=12 needs at least one season"):
        SeasonalNaive(season_length=12).fit(frame)
    model = SeasonalNaive(season_length=4).fit(frame)
    with pytest.raises(DataError, match="windows of 3 steps.*at least 4 steps"):
        model.predict_windows(np.ones((5, 3, 2)), 2)
    frame.iloc[3, 0] = np.nan
    with pytest.raises(DataError, match=r"the series, channel 0 has 1 missing or infinite value\(s\) \(first at row 3\)"):
        Naive().fit(frame)


def test_ar_windows_shorter_than_its_fitted_order_say_which_order_it_reads() -> None:
    # 3 lags, as AIC selects them (up to max_order=6): the windows need 3 rows, not max_order's 6
    rng = np.random.default_rng(0)
    y, noise = np.zeros(200), rng.standard_normal(200)
    for t in range(3, 200):
        y[t] = 0.5 * y[t - 1] - 0.3 * y[t - 2] + 0.4 * y[t - 3] + noise[t]
    model = AR(max_order=6).fit(pd.DataFrame({"y": y}, index=pd.date_range("2022-01-01", periods=200, freq="D")))
    with pytest.raises(DataError, match=r"^predict_windows got windows of 2 steps; AR reads the last 3 values of each "
                       r"channel, its fitted order \(by aic up to max_order=6\), so it needs input windows of at least 3"):
        model.predict_windows(np.zeros((4, 2, 1)), 2)
    assert model.predict_windows(np.zeros((4, 3, 1)), 2).shape == (4, 2, 1)


# --- the published M4 Hourly figures (Makridakis et al. 2020, Table 4) -------------------------


def read_m4(path: Path) -> list[np.ndarray]:
    """Rows of the wide M4 file (``V1`` = id, ragged rows padded with empty cells) as arrays."""
    table = pd.read_csv(path, index_col="V1")
    return [row[~np.isnan(row)] for row in table.to_numpy(dtype=np.float64)]


@pytest.fixture(scope="module")
def m4_hourly(data_dir: Path) -> tuple[pd.DataFrame, list[np.ndarray], list[np.ndarray]]:
    train = read_m4(data_dir / "m4" / "Hourly-train.csv")
    test = read_m4(data_dir / "m4" / "Hourly-test.csv")
    ids = np.repeat([f"H{number}" for number in range(1, len(train) + 1)], [len(values) for values in train])
    start = pd.Timestamp("2000-01-01")
    timestamps = np.concatenate([start + pd.to_timedelta(np.arange(len(values)), unit="h") for values in train])
    index = pd.MultiIndex.from_arrays([ids, timestamps], names=["series", "timestamp"])
    long = pd.DataFrame({"value": np.concatenate(train)}, index=index)
    return long, train, test


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("model", "smape", "mase"),
    [(Naive2(season_length=24), 18.383, 2.395), (SeasonalNaive(season_length=24), 13.912, 1.193), (Naive(), 43.003, 11.608)],
)
def test_m4_hourly_published_figures(m4_hourly, model, smape: float, mase: float) -> None:
    long, train, test = m4_hourly
    forecast = model.fit(long).predict(48)
    by_id = dict(zip(forecast.index.get_level_values("series")[::48], forecast["value"].to_numpy().reshape(-1, 48)))
    forecasts = [by_id[f"H{number}"] for number in range(1, len(train) + 1)]
    smapes = [np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))) for y, f in zip(test, forecasts)]
    mases = [np.mean(np.abs(y - f)) / np.mean(np.abs(x[24:] - x[:-24])) for x, y, f in zip(train, test, forecasts)]
    assert len(smapes) == 414
    assert round(float(np.mean(smapes)), 3) == smape
    assert round(float(np.mean(mases)), 3) == mase


def test_a_short_series_of_a_panel_is_named_by_its_id() -> None:
    # The models number the arrays they are fitted on; the message names the series as the frame does.
    stamps = pd.date_range("2023-01-01", periods=40, freq="h", name="time")
    panel = pd.concat({"store_a": pd.DataFrame({"y": np.arange(40.0)}, index=stamps),
                       "store_b": pd.DataFrame({"y": np.arange(5.0)}, index=stamps[:5])}, names=["store", "time"])  # fmt: skip
    with pytest.raises(DataError, match=r"^Series 'store_b' has 5 rows; SeasonalNaive with season_length=24"):
        registry.create("seasonal_naive", season_length=24).fit(panel)
    with pytest.raises(DataError, match=r"^Series 'store_b' has 5 rows; Linear with input_length=12"):
        registry.create("linear", input_length=12, horizon=3).fit(panel)


def test_score_names_the_columns_it_was_fitted_on_when_y_has_others():
    index = pd.date_range("2024-01-01", periods=120, freq="h")
    frame = pd.DataFrame({"a": np.sin(np.arange(120) / 4), "b": np.cos(np.arange(120) / 5)}, index=index)
    model = AR(max_order=4).fit(frame.iloc[:-6])
    assert model.score(frame.iloc[-6:]) <= 0
    with pytest.raises(DataError, match=r"score\(\) got columns \['x', 'b'\]; this model was fitted on \['a', 'b'\]: "
                                         r"'x' is not among them"):
        model.score(frame.iloc[-6:].rename(columns={"a": "x"}))
    with pytest.raises(DataError, match="score's y: expected a pandas DataFrame or Series"):
        model.score(frame.iloc[-6:].to_numpy())


def test_every_model_saves_itself_as_the_neural_ones_do(tmp_path):
    import tsseq

    index = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"a": np.sin(np.arange(200) / 4)}, index=index)
    for name, params in (("ar", {}), ("ensemble", {"members": ["naive", "ar"], "horizon": 6}),
                         ("conformal", {"model": "ar", "horizon": 6})):  # fmt: skip
        model = tsseq.create(name, **params).fit(frame)
        model.save(tmp_path / f"{name}.pt")  # an AttributeError before: only the networks had save()
        pd.testing.assert_frame_equal(tsseq.load_model(tmp_path / f"{name}.pt").predict(6), model.predict(6))
    with pytest.raises(DataError, match="Only a fitted estimator can be saved"):
        tsseq.create("ar").save(tmp_path / "unfitted.pt")
