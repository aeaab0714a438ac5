"""Quantiles, intervals and sample paths of the neural estimators (one mechanism for every family)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import tsseq
from tsseq import persistence
from tsseq.engine.distributions import sampling
from tsseq.errors import ConfigError, DataError

SMALL = {
    "lstm": dict(hidden_size=8, num_layers=1),
    "gru": dict(hidden_size=8, num_layers=1, head="recursive"),
    "mut1": dict(hidden_size=8, num_layers=1, head="recursive"),
    "segrnn": dict(hidden_size=8, segment_length=4),
    "seq2seq": dict(hidden_size=8),
    "transformer": dict(hidden_size=8, n_heads=2, num_layers=1),
    "patchtst": dict(hidden_size=8, n_heads=2, num_layers=1, patch_length=4, stride=4),
    "transformer_seq2seq": dict(hidden_size=8, n_heads=2),
    "decoder_only": dict(hidden_size=8, n_heads=2, patch_length=4),
}
LEVELS = [0.05, 0.5, 0.95]


def noisy_sine(rows: int = 300, noise: float = 0.5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=rows, freq="h")
    values = 10 + 3 * np.sin(np.arange(rows) * 2 * np.pi / 24) + rng.normal(0, noise, rows)
    return pd.DataFrame({"y": values}, index=index)


def fitted(name: str, loss: str = "quantile", epochs: int = 2, **overrides) -> tsseq.base.Forecaster:
    params = {**SMALL[name], **overrides}
    model = tsseq.create(name, input_length=24, horizon=8, training={"epochs": epochs, "loss": loss}, **params)
    return model.fit(noisy_sine())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_quantile_columns_are_ordered_never_cross_and_hold_the_median(name):
    model = fitted(name)
    assert model.probabilistic
    frame = model.predict(8, quantiles=[0.95, 0.05, 0.5])  # any order in, increasing out
    assert list(frame.columns) == ["y", "y_q0.05", "y_q0.5", "y_q0.95"]
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index[0] == noisy_sine().index[-1] + pd.Timedelta("1h")
    values = frame[["y_q0.05", "y_q0.5", "y_q0.95"]].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()
    np.testing.assert_allclose(frame["y"], frame["y_q0.5"], rtol=1e-6)  # the point forecast is the median
    interval = model.predict_interval(8, coverage=0.9)
    assert list(interval.columns) == ["y", "y_lower", "y_upper"]
    np.testing.assert_allclose(interval["y_lower"], frame["y_q0.05"], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sample_paths_are_indexed_seeded_and_vary(name):
    model = fitted(name, loss="normal")
    paths = model.sample(8, 20, seed=3)
    assert paths.index.names == ["sample", None] and paths.shape == (160, 1)
    assert paths.index.get_level_values("sample").nunique() == 20
    pd.testing.assert_frame_equal(paths, model.sample(8, 20, seed=3))
    assert not paths.equals(model.sample(8, 20, seed=4))
    assert paths.groupby(level="sample")["y"].sum().std() > 0  # an aggregate has a distribution


@pytest.mark.parametrize("name", ["seq2seq", "transformer_seq2seq"])
def test_autoregressive_decoders_feed_back_their_draws(name, monkeypatch):
    """Each step of a sampled path is drawn from the distribution given the drawn steps before it."""
    model = fitted(name, loss="normal")
    module = model.module_
    inputs = torch.from_numpy(model.last_inputs_.astype(np.float32))
    monkeypatch.setattr(torch, "randn_like", lambda tensor: torch.ones_like(tensor))  # every draw = loc + sigma
    with torch.no_grad(), sampling(module):
        path = module(inputs)  # (1, H, 1)
    with torch.no_grad():  # the same decoder, fed the drawn path as its previous values
        forced = module(inputs, path, teacher_forcing_ratio=1.0) if name == "seq2seq" else module(inputs, path)
    torch.testing.assert_close(path, forced[..., 0] + forced[..., 1])
    with torch.no_grad():  # fed its own point forecasts instead, the steps after the first differ
        point = module(inputs)
    assert not torch.allclose(path[:, 1:], point[:, 1:, :, 0] + point[:, 1:, :, 1])


def test_direct_heads_draw_each_step_from_its_marginal():
    model = fitted("lstm", loss="normal")
    paths = model.sample(8, 4000, seed=0)["y"].to_numpy().reshape(4000, 8)
    quantiles = model.predict(8, quantiles=[0.1, 0.9])
    np.testing.assert_allclose(np.quantile(paths, 0.1, axis=0), quantiles["y_q0.1"], atol=0.12)
    np.testing.assert_allclose(np.quantile(paths, 0.9, axis=0), quantiles["y_q0.9"], atol=0.12)


def test_trained_intervals_cover_held_out_noise():
    """A quantile LSTM on a noisy sine: its 80% intervals hold about 80% of unseen points."""
    series = noisy_sine(rows=1400, noise=0.5, seed=1)
    train, test = series.iloc[:1000], series.iloc[1000 - 24 :]
    model = tsseq.create(
        "lstm", input_length=24, horizon=8, hidden_size=16, num_layers=1,
        training={"epochs": 8, "loss": "quantile", "quantiles": [0.1, 0.5, 0.9], "learning_rate": 0.01},
    ).fit(train)
    values = test["y"].to_numpy()
    starts = np.arange(0, len(values) - 32, 4)
    inputs = np.stack([values[s : s + 24] for s in starts])[..., None]
    truth = np.stack([values[s + 24 : s + 32] for s in starts])
    quantiles = model.predict_windows(inputs, 8, quantiles=[0.1, 0.9])[:, :, 0]  # (N, H, 2)
    coverage = np.mean((truth >= quantiles[..., 0]) & (truth <= quantiles[..., 1]))
    assert 0.7 <= coverage <= 0.9


@pytest.mark.parametrize("name", ["gru", "patchtst"])
def test_quantiles_of_no_windows_are_empty_and_of_long_windows_read_the_last_input_length_steps(name):
    model = fitted(name, loss="quantile", epochs=1)
    assert model.predict_windows(np.zeros((0, 24, 1)), 8, quantiles=[0.1, 0.5, 0.9]).shape == (0, 8, 1, 3)
    with pytest.raises(ConfigError, match="levels outside"):  # the levels are checked all the same
        model.predict_windows(np.zeros((0, 24, 1)), 8, quantiles=[0.001])
    values = noisy_sine().to_numpy()
    long, last = (model.predict_windows(values[None, -length:], 8, quantiles=LEVELS) for length in (40, 24))
    np.testing.assert_array_equal(long, last)


def test_counts_with_the_negative_binomial_stay_counts():
    rng = np.random.default_rng(0)
    index = pd.date_range("2021-01-01", periods=300, freq="D")
    rate = 3 + 2 * np.sin(np.arange(300) * 2 * np.pi / 7)
    counts = pd.DataFrame({"sales": rng.poisson(rate).astype(float)}, index=index)
    model = tsseq.create(
        "lstm", input_length=14, horizon=7, hidden_size=8, num_layers=1, normalization="mean",
        training={"epochs": 3, "loss": "negative_binomial"},
    ).fit(counts)
    paths = model.sample(7, 50, seed=0)["sales"].to_numpy()
    assert (paths >= 0).all() and np.array_equal(paths, np.round(paths))
    quantiles = model.predict(7, quantiles=[0.1, 0.9])
    assert np.array_equal(quantiles["sales_q0.9"], np.round(quantiles["sales_q0.9"]))
    with pytest.raises(DataError, match=r"column 'sales' .* value 0.5 at row 3: expected non-negative integers"):
        bad = counts.copy()
        bad.iloc[3, 0] = 0.5
        model.fit(bad)
    with pytest.raises(ConfigError, match="cannot be shifted"):
        tsseq.create(
            "transformer", input_length=14, horizon=7, hidden_size=8, n_heads=2, num_layers=1,
            training={"epochs": 1, "loss": "negative_binomial"},
        ).fit(counts)


def test_point_models_say_how_to_get_intervals():
    model = fitted("lstm", loss="mse", epochs=1)
    assert not model.probabilistic
    with pytest.raises(ConfigError, match=r"point forecasts only.*training.loss.*'conformal'"):
        model.predict(8, quantiles=LEVELS)
    with pytest.raises(ConfigError, match="point forecasts only"):
        model.sample(8, 10)


def test_levels_beyond_the_trained_ones_are_refused():
    model = fitted("lstm")
    with pytest.raises(ConfigError, match="levels outside"):
        model.predict(8, quantiles=[0.001])
    with pytest.raises(ConfigError, match="'quantiles' parameter"):
        model.predict(8, quantiles=[1.5])


def test_saved_probabilistic_model_forecasts_the_same_quantiles(tmp_path):
    model = fitted("patchtst", loss="student_t")
    model.save(tmp_path / "model.pt")
    loaded = tsseq.load_model(tmp_path / "model.pt")
    pd.testing.assert_frame_equal(loaded.predict(8, quantiles=LEVELS), model.predict(8, quantiles=LEVELS))
    pd.testing.assert_frame_equal(loaded.sample(8, 5, seed=1), model.sample(8, 5, seed=1))


def test_long_frames_get_a_series_level_before_samples():
    frame = pd.concat({"a": noisy_sine(), "b": noisy_sine(seed=2) + 5}, names=["store", "time"])
    model = tsseq.create(
        "lstm", input_length=24, horizon=8, hidden_size=8, num_layers=1, training={"epochs": 1, "loss": "quantile"}
    ).fit(frame)
    paths = model.sample(8, 3)
    assert paths.index.names == ["store", "sample", "time"] and len(paths) == 2 * 3 * 8
    quantiles = model.predict(8, quantiles=LEVELS)
    assert quantiles.index.names == ["store", "time"] and len(quantiles) == 16


@pytest.mark.parametrize("name", ["segrnn", "patchtst"])
def test_a_series_that_never_varies_is_forecast_as_its_value_with_no_spread(name, tmp_path):
    # Standardised, a constant series is all zeros; a global network trained two epochs gave it noise.
    sine = noisy_sine()
    panel = pd.concat({"sine": sine, "zero": sine * 0.0, "five": sine * 0.0 + 5}, names=["series", "time"])
    model = tsseq.create(name, input_length=24, horizon=8, training={"epochs": 2, "loss": "quantile"}, **SMALL[name])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(panel)
    said = [str(warning.message) for warning in caught]
    assert any("2 channel(s) hold one value over all their rows: series 'five' / 'y' (5), series 'zero' / 'y' (0)"
               in message for message in said), said
    assert not any("constant in the training data" in message for message in said)  # said once, by name
    forecast = model.predict(8, quantiles=LEVELS)
    assert (forecast.loc["zero"] == 0).all().all() and (forecast.loc["five"] == 5).all().all()
    assert (forecast.loc["sine", "y_q0.95"] > forecast.loc["sine", "y_q0.05"]).all()
    assert (model.sample(8, 5, seed=1).loc["five"] == 5).all().all()
    loaded = persistence.load(persistence.save(model, tmp_path / "model.tsseq"))
    pd.testing.assert_frame_equal(loaded.predict(8, quantiles=LEVELS), forecast)
