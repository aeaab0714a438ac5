"""Conformal intervals around any forecaster (tsseq.conformal): coverage, adaptivity, layout, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import tsseq
from tsseq import registry
from tsseq.baselines import AR, Mean, Naive
from tsseq.conformal import ConformalForecaster, score_quantile
from tsseq.errors import ConfigError, DataError

COVERAGES = (0.8, 0.9, 0.95)


def wide(values: np.ndarray, columns: tuple[str, ...] = ("y",), first: int = 0) -> pd.DataFrame:
    """Hourly rows from 2024-01-01 plus ``first`` hours."""
    values = values.reshape(len(values), -1)
    index = pd.date_range(pd.Timestamp("2024-01-01") + pd.Timedelta(hours=first), periods=len(values), freq="h", name="timestamp")
    return pd.DataFrame(values, index=index, columns=list(columns))


def simulate_ar1(length: int, seed: int, phi: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.zeros(length + 50)
    for t in range(1, len(values)):
        values[t] = 1.0 + phi * values[t - 1] + rng.normal()
    return values[50:]


def test_score_quantile_is_the_finite_sample_corrected_order_statistic() -> None:
    scores = np.arange(1.0, 10.0)[:, None, None]  # n = 9 scores, one step, one channel
    counts = np.array([[9]])
    for coverage, expected in ((0.8, 8.0), (0.9, 9.0), (0.95, np.inf), (0.0, 0.0), (0.5, 5.0)):
        assert score_quantile(scores, counts, np.full((1, 1), coverage))[0, 0] == expected  # ceil(10 c)-th smallest
    assert score_quantile(scores, counts, np.full((1, 1), 0.95), beyond="cap")[0, 0] == 9.0
    with_missing = np.r_[np.arange(1.0, 5.0), np.nan][:, None, None]  # NaN sorted last, not counted
    assert score_quantile(with_missing, np.array([[4]]), np.full((1, 1), 0.6))[0, 0] == 3.0


@pytest.mark.parametrize("scale", ["naive", "none"])
def test_split_conformal_covers_exchangeable_data_at_the_nominal_levels(scale: str) -> None:
    horizon, length = 4, 10
    coverage = {level: [] for level in COVERAGES}
    for seed in range(50):
        values = simulate_ar1(700, seed)
        model = ConformalForecaster(model=AR(order=1), horizon=horizon, input_length=length, refit=False, scale=scale)
        model.fit(wide(values[:300]))
        future = values[300 - length :]
        origins = np.arange(length, len(future) - horizon + 1)
        inputs = np.stack([future[t - length : t] for t in origins])[..., None]
        targets = np.stack([future[t : t + horizon] for t in origins])[..., None]
        for level in COVERAGES:
            bounds = model.predict_windows(inputs, horizon, quantiles=[(1 - level) / 2, (1 + level) / 2])
            coverage[level].append(np.mean((targets >= bounds[..., 0]) & (targets <= bounds[..., 1])))
    for level, values in coverage.items():
        assert abs(np.mean(values) - level) < 0.02, (level, np.mean(values))


def drifting_series(seed: int, length: int = 2400, calm: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    noise_scale = np.r_[np.ones(calm), np.linspace(1.0, 4.0, length - calm)]  # the noise grows fourfold
    return wide(5.0 + noise_scale * rng.normal(size=length))


def rolling_coverage(model: ConformalForecaster, frame: pd.DataFrame, **options) -> tuple[float, pd.DataFrame]:
    intervals = model.rolling_intervals(frame, start=400, coverage=0.9, **options)
    truth = frame["y"].reindex(intervals.index.get_level_values("timestamp")).to_numpy()
    known = ~np.isnan(truth)
    inside = (truth >= intervals["y_lower"].to_numpy()) & (truth <= intervals["y_upper"].to_numpy())
    return float(inside[known].mean()), intervals


def test_adaptive_conformal_keeps_long_run_coverage_where_split_under_covers() -> None:
    split, adaptive, windowed = [], [], []
    for seed in range(3):
        frame = drifting_series(seed)
        options = dict(model="mean", horizon=2, input_length=50, scale="none", gamma=0.01, refit=False)
        split.append(rolling_coverage(ConformalForecaster(method="split", **options).fit(frame.iloc[:400]), frame)[0])
        model = ConformalForecaster(method="adaptive", **options).fit(frame.iloc[:400])
        adaptive.append(rolling_coverage(model, frame)[0])
        covered, intervals = rolling_coverage(model, frame, score_window=100)
        windowed.append(covered)
        assert np.isfinite(intervals[["y_lower", "y_upper"]].to_numpy()).all()
    assert np.mean(split) < 0.8  # the calibration's calm noise is far too narrow later on
    assert abs(np.mean(adaptive) - 0.9) < 0.02
    assert abs(np.mean(windowed) - 0.9) < 0.02


def test_rolling_intervals_layout() -> None:
    frame = wide(simulate_ar1(120, seed=1))
    model = ConformalForecaster(model="naive", horizon=3, input_length=5, method="adaptive", calibration_length=40)
    model.fit(frame.iloc[:100])
    intervals = model.rolling_intervals(frame, start=frame.index[110], coverage=0.8)
    assert intervals.index.names == ["cutoff", "timestamp"]
    assert list(intervals.columns) == ["y", "y_lower", "y_upper", "y_alpha"]
    assert len(intervals) == (120 - 110 + 1) * 3  # origins 110..120, the last one the live forecast
    first = intervals.loc[frame.index[109]]
    assert list(first.index) == list(frame.index[110:113])
    np.testing.assert_allclose(first["y"], frame["y"].iloc[109])  # naive: the last observed value
    assert intervals.index[-1][1] == frame.index[-1] + 3 * pd.Timedelta(hours=1)
    np.testing.assert_allclose(intervals["y_alpha"].iloc[:3], 0.2)
    with pytest.raises(DataError, match="needs at least 5 rows of context"):
        model.rolling_intervals(frame, start=2)


def test_wrapper_around_naive_ar_and_a_tiny_neural_model() -> None:
    values = 10 + np.sin(np.arange(240) / 4)[:, None] * [1.0, 3.0] + np.random.default_rng(0).normal(0, 0.3, (240, 2))
    frame = wide(values, ("a", "b"))
    models = [
        tsseq.create("conformal", model="naive", horizon=4),
        tsseq.create("conformal", model="ar", model_params={"max_order": 4}, horizon=4),
        tsseq.create("conformal", model="gru", model_params=dict(input_length=12, horizon=4, hidden_size=8, num_layers=1, training={"epochs": 1})),
    ]
    for model in models:
        assert model.fit(frame) is model and model.probabilistic
        forecast = model.predict(4, quantiles=[0.05, 0.5, 0.95])
        assert list(forecast.columns) == ["a", "a_q0.05", "a_q0.5", "a_q0.95", "b", "b_q0.05", "b_q0.5", "b_q0.95"]
        for column in ("a", "b"):
            block = forecast[[f"{column}_q0.05", f"{column}_q0.5", f"{column}_q0.95"]].to_numpy()
            assert np.all(np.diff(block, axis=1) > 0)
            np.testing.assert_allclose(block[:, 1], forecast[column])
            np.testing.assert_allclose(block[:, 2] - block[:, 1], block[:, 1] - block[:, 0])  # symmetric
        interval = model.predict_interval(4, coverage=0.9)
        np.testing.assert_allclose(interval["b_upper"], forecast["b_q0.95"])
        paths = model.sample(4, 3, seed=0)
        assert paths.shape == (12, 2) and paths.index.names == ["sample", "timestamp"]
        length = model.input_length_
        assert model.predict_windows(values[None, -length:], 4, quantiles=[0.1, 0.9]).shape == (1, 4, 2, 2)
    assert models[2].input_length_ == 12 and models[2].horizon_ == 4  # both from the GRU's own parameters


def test_many_series_pool_scores_normalised_by_their_scale() -> None:
    rng = np.random.default_rng(2)
    walks = {f"s{i}": 1000 + rng.normal(size=80 + 10 * i).cumsum() for i in range(30)}
    walks["big"] = 100 * walks["s0"]
    frame = pd.concat(
        pd.DataFrame({"v": values}, index=pd.MultiIndex.from_arrays([[name] * len(values), pd.date_range("2024-01-01", periods=len(values), freq="D")], names=["id", "day"]))
        for name, values in walks.items()
    )
    model = ConformalForecaster(model="naive", horizon=5).fit(frame)
    assert model.scores_.shape == (31, 5, 1) and model.input_length_ is None
    forecast = model.predict(5, quantiles=[0.1, 0.9])
    width = (forecast["v_q0.9"] - forecast["v_q0.1"]).groupby(level="id").mean()
    big, s0 = (model.layout_.series_ids.index(name) for name in ("big", "s0"))
    assert width["big"] / width["s0"] == pytest.approx(model.scale_[big, 0] / model.scale_[s0, 0])
    assert width["big"] / width["s0"] == pytest.approx(100)
    assert forecast.loc["s3"].index[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(days=110)  # refitted on all rows
    with pytest.raises(DataError, match="coverage 0.99 needs at least 99 calibration scores per step; this model has 31"):
        model.predict(5, quantiles=[0.005, 0.995])


def test_validation_rows_after_the_training_rows_are_the_calibration_set() -> None:
    values = simulate_ar1(200, seed=3)
    train, validation = wide(values[:150]), wide(values[140:], first=140)  # 10 rows of context, as the protocols pass it
    model = ConformalForecaster(model=Naive(), horizon=2, input_length=5, scale="none").fit(train, validation=validation)
    origins = np.arange(150, 199)
    expected = np.abs(np.stack([values[origins], values[origins + 1]], axis=1) - values[origins - 1, None])
    np.testing.assert_allclose(model.scores_[:, :, 0], np.sort(expected, axis=0))
    assert model.predict(2).index[0] == train.index[-1] + pd.Timedelta(hours=1)
    with pytest.raises(DataError, match="validation must continue the training rows"):
        ConformalForecaster(model="naive", horizon=2).fit(train, validation=wide(values[160:], first=160))


def test_clear_errors() -> None:
    frame = wide(simulate_ar1(60, seed=4))
    with pytest.raises(DataError, match=r"has 60 rows; conformal calibration holds out the last 103 \(calibration_length\)"):
        ConformalForecaster(model="naive", horizon=4).fit(frame)
    with pytest.raises(ConfigError, match="Unknown model 'arr'. Did you mean 'ar'?"):
        ConformalForecaster(model="arr", horizon=2).fit(frame)
    with pytest.raises(ConfigError, match="'method' parameter must be one of split, adaptive. Got 'aci'"):
        ConformalForecaster(method="aci", horizon=2).fit(frame)
    with pytest.raises(ConfigError, match="'calibration_length' parameter must be at least the horizon"):
        ConformalForecaster(model="naive", horizon=4, calibration_length=3).fit(frame)
    model = ConformalForecaster(model=Mean(), horizon=2, calibration_length=30).fit(frame)
    with pytest.raises(ConfigError, match="calibrated 2 steps; it cannot forecast 3"):
        model.predict(3)
    with pytest.raises(DataError, match="coverage 0.98 needs at least 49 calibration scores per step; this model has 29"):
        model.predict_interval(2, coverage=0.98)
    # A long frame: one score per series and step, whatever calibration_length or calibration_windows say.
    panel = pd.concat({name: wide(simulate_ar1(150, seed=seed)) for seed, name in enumerate("abc")}, names=["id", "t"])
    pooled = ConformalForecaster(model="ar", horizon=6, calibration_length=50, calibration_windows=20).fit(panel)
    with pytest.raises(DataError, match=r"has 3\. A long frame gives one score per series and step \(3 series\): fit it "
                                        r"on more series, or one series at a time"):
        pooled.predict_interval(6, coverage=0.8)


def test_get_params_clone_and_registry() -> None:
    model = ConformalForecaster(model=AR(order=2), horizon=3, method="adaptive")
    assert model.get_params()["model__order"] == 2 and model.get_params()["method"] == "adaptive"
    copy = clone(model).set_params(model__order=3)
    assert copy.model.order == 3 and model.model.order == 2
    assert registry.get("conformal") is ConformalForecaster
    assert {"model", "model_params", "method", "horizon", "calibration_windows", "calibration_length", "scale", "gamma"} <= set(registry.parameters("conformal"))
    fitted = copy.fit(wide(simulate_ar1(300, seed=5)))
    assert fitted.model_.order == 3 and fitted.model.order == 3 and not hasattr(copy.model, "coef_")  # the given model stays unfitted


def test_importing_conformal_does_not_import_torch() -> None:
    code = "import sys, tsseq.conformal; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
