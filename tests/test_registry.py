"""The contract every registered model follows, run over the whole registry.

A new model gets these checks for free by registering itself: fit returns self,
forecast shapes and timestamps, the long (many-series) layout, clone and
get_params/set_params, seeded determinism, batched window forecasts, and
save/load giving the same forecasts. Neural models run in a tiny configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tsseq import persistence, registry
from tsseq.errors import ConfigError
from tsseq.estimators import NeuralForecaster

HORIZON = 5
# Small enough for the whole registry to run in seconds; the architecture is the preset one.
TINY = {"input_length": 24, "horizon": HORIZON, "hidden_size": 8, "training": {"epochs": 2, "batch_size": 64}}


def wide_frame(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    values = np.column_stack(
        [
            5 + np.sin(2 * np.pi * steps / 24) + 0.1 * rng.standard_normal(rows),
            1 + 0.02 * steps + 0.1 * rng.standard_normal(rows),
        ]
    )
    index = pd.date_range("2022-01-01", periods=rows, freq="h", name="timestamp")
    return pd.DataFrame(values, index=index, columns=["a", "b"])


def long_frame() -> pd.DataFrame:
    parts = []
    for series, rows in (("s1", 120), ("s2", 150), ("s3", 130)):
        part = wide_frame(rows, seed=rows)
        part.index = pd.MultiIndex.from_arrays([[series] * rows, part.index], names=["series", "timestamp"])
        parts.append(part)
    return pd.concat(parts)


@pytest.fixture(params=registry.names())
def model(request):
    model = registry.create(request.param)
    return model.set_params(**TINY) if isinstance(model, NeuralForecaster) else model


def window_length(model) -> int:
    return getattr(model, "input_length", None) or 48  # models that read the whole history get 48 rows


def test_registry_lists_the_baselines_and_the_recurrent_family():
    baselines = {"ar", "naive", "seasonal_naive", "drift", "mean", "naive2"}
    recurrent = {"rnn", "lstm", "gru", "mut1", "mut2", "mut3", "segrnn", "seq2seq"}
    assert baselines | recurrent <= set(registry.names())
    assert registry.create("lstm").cell == "lstm" and registry.create("lstm", cell="gru").cell == "gru"


def test_fit_returns_self_and_forecast_continues_the_index(model):
    frame = wide_frame()
    assert model.fit(frame) is model
    forecast = model.predict(HORIZON)
    assert list(forecast.columns) == ["a", "b"]
    expected = pd.date_range(frame.index[-1] + pd.Timedelta(hours=1), periods=HORIZON, freq="h")
    assert list(forecast.index) == list(expected)
    assert np.isfinite(forecast.to_numpy()).all()


def test_long_layout_forecasts_every_series(model):
    frame = long_frame()
    forecast = model.fit(frame).predict(HORIZON)
    assert forecast.index.names == ["series", "timestamp"]
    assert forecast.groupby(level="series").size().to_dict() == {"s1": HORIZON, "s2": HORIZON, "s3": HORIZON}
    last = frame.xs("s2", level="series").index[-1]
    assert forecast.xs("s2", level="series").index[0] == last + pd.Timedelta(hours=1)


def test_predict_windows_shape(model):
    frame = wide_frame()
    model.fit(frame)
    inputs = np.lib.stride_tricks.sliding_window_view(frame.to_numpy(), window_length(model), axis=0).transpose(0, 2, 1)[:7]
    forecasts = model.predict_windows(inputs, HORIZON)
    assert forecasts.shape == (7, HORIZON, 2)
    assert np.isfinite(forecasts).all()


def test_clone_and_params_round_trip(model):
    params = model.get_params()
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    assert model.set_params(**params) is model
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(not_a_parameter=1)


def test_fitting_twice_gives_identical_forecasts(model):
    frame = wide_frame()
    first = model.fit(frame).predict(HORIZON)
    second = clone(model).fit(frame).predict(HORIZON)
    pd.testing.assert_frame_equal(first, second)


def test_predict_before_fit_is_refused(model):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        model.predict(HORIZON)


def test_score_is_negative_mse_of_the_holdout(model):
    frame = wide_frame()
    train, future = frame.iloc[:-HORIZON], frame.iloc[-HORIZON:]
    model.fit(train)
    expected = -np.mean((future.to_numpy() - model.predict(HORIZON).to_numpy()) ** 2)
    assert model.score(future) == pytest.approx(expected)


def test_save_and_load_give_identical_forecasts(model, tmp_path):
    frame = wide_frame()
    model.fit(frame)
    path = tmp_path / "model.pt"
    persistence.save(model, path)
    loaded = persistence.load(path)
    assert type(loaded) is type(model)
    pd.testing.assert_frame_equal(loaded.predict(HORIZON), model.predict(HORIZON))
    inputs = frame.to_numpy()[None, -window_length(model) :]
    np.testing.assert_array_equal(loaded.predict_windows(inputs, HORIZON), model.predict_windows(inputs, HORIZON))


def test_probabilistic_models_give_ordered_quantiles_and_paths(model, tmp_path):
    if not model.probabilistic:
        pytest.skip("point forecasts only (see test_point_models_say_how_to_get_intervals)")
    frame = wide_frame()
    model.fit(frame)
    quantiles = model.predict(HORIZON, quantiles=[0.1, 0.5, 0.9])
    assert list(quantiles.columns) == ["a", "a_q0.1", "a_q0.5", "a_q0.9", "b", "b_q0.1", "b_q0.5", "b_q0.9"]
    for column in ("a", "b"):
        values = quantiles[[f"{column}_q0.1", f"{column}_q0.5", f"{column}_q0.9"]].to_numpy()
        assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()
    paths = model.sample(HORIZON, 7, seed=1)
    assert paths.shape == (7 * HORIZON, 2) and paths.index.names == ["sample", "timestamp"]
    persistence.save(model, tmp_path / "model.pt")
    loaded = persistence.load(tmp_path / "model.pt")
    pd.testing.assert_frame_equal(loaded.predict(HORIZON, quantiles=[0.1, 0.9]), model.predict(HORIZON, quantiles=[0.1, 0.9]))


def test_point_models_say_how_to_get_intervals(model):
    if model.probabilistic:
        pytest.skip("probabilistic")
    with pytest.raises(ConfigError, match="point forecasts only"):
        model.fit(wide_frame()).predict(HORIZON, quantiles=[0.1, 0.9])


def test_neural_models_overfit_a_tiny_series(model):
    if not isinstance(model, NeuralForecaster):
        pytest.skip("closed-form baseline: nothing is trained")
    steps = np.arange(72)
    frame = pd.DataFrame(
        {"a": np.sin(2 * np.pi * steps / 12)}, index=pd.date_range("2022-01-01", periods=72, freq="h")
    )
    model.set_params(
        input_length=24,
        horizon=4,
        hidden_size=16,
        validation_fraction=0.0,
        training={"epochs": 60, "batch_size": 64, "learning_rate": 0.02},
    )
    model.fit(frame)
    assert model.history_.train_loss[-1] < 0.05 * model.history_.train_loss[0]
