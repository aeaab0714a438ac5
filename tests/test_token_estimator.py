"""TokenForecaster: training, points, samples, quantiles, beam search, windows, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq import persistence, registry
from tsseq.errors import ConfigError
from tsseq.estimators.tokens import TokenForecaster

HORIZON = 6
FAST = {"epochs": 8, "batch_size": 64, "learning_rate": 0.01}


def series(rows: int = 240, seed: int = 0, level: float = 20.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    y = level + 5 * np.sin(2 * np.pi * steps / 12) + rng.standard_normal(rows)
    z = 3 + 0.01 * steps + 0.1 * rng.standard_normal(rows)
    index = pd.date_range("2023-01-01", periods=rows, freq="h", name="time")
    return pd.DataFrame({"y": y, "z": z}, index=index)


def long_frame() -> pd.DataFrame:
    parts = []
    for name, rows in (("a", 200), ("b", 240), ("c", 20)):  # "c" is shorter than a window: padded, still forecast
        part = series(rows, seed=rows)
        part.index = pd.MultiIndex.from_arrays([[name] * rows, part.index], names=["id", "time"])
        parts.append(part)
    return pd.concat(parts)


def model(**options) -> TokenForecaster:
    settings = {"input_length": 36, "horizon": HORIZON, "n_bins": 255, "hidden_size": 16, "num_samples": 40}
    settings["training"] = FAST
    return TokenForecaster(**{**settings, **options})


@pytest.fixture(scope="module")
def fitted() -> TokenForecaster:
    return model().fit(series())


def test_registered_with_a_gru_preset():
    assert registry.get("token_transformer") is TokenForecaster
    assert registry.create("token_gru").backbone == "gru" and registry.create("token_transformer").scale is False


def test_training_lowers_the_cross_entropy(fitted):
    losses = fitted.history_.train_loss
    assert len(losses) == FAST["epochs"] and losses[-1] < 0.6 * losses[0] < 0.6 * np.log(255) + 1


def test_quantiles_are_ordered_and_the_median_is_the_point(fitted):
    frame = fitted.predict(HORIZON, quantiles=[0.9, 0.1, 0.5])
    assert list(frame.columns) == ["y", "y_q0.1", "y_q0.5", "y_q0.9", "z", "z_q0.1", "z_q0.5", "z_q0.9"]
    assert len(frame) == HORIZON and frame.index[0] == series().index[-1] + pd.Timedelta(hours=1)
    for column in ("y", "z"):
        q = frame[[f"{column}_q0.1", f"{column}_q0.5", f"{column}_q0.9"]].to_numpy()
        assert (np.diff(q, axis=1) >= 0).all()
        np.testing.assert_allclose(frame[column], frame[f"{column}_q0.5"])  # point="median" of the same paths
    interval = fitted.predict_interval(HORIZON, coverage=0.8)
    assert (interval["y_lower"] <= interval["y_upper"]).all()


def test_samples_have_the_documented_layout_and_follow_the_seed(fitted):
    paths = fitted.sample(HORIZON, 7, seed=3)
    assert paths.index.names == ["sample", "time"] and paths.shape == (7 * HORIZON, 2)
    pd.testing.assert_frame_equal(paths, fitted.sample(HORIZON, 7, seed=3))
    assert not paths.equals(fitted.sample(HORIZON, 7, seed=4))
    # bin centres times each channel's context scale (a briefly trained model: its tails are wide)
    assert np.isfinite(paths.to_numpy()).all() and 10 < paths["y"].median() < 30


def test_beam_search_layout_and_its_best_path_is_the_beam_point(fitted):
    paths, log_probs = fitted.beam_search(HORIZON, width=3)
    assert paths.index.names == ["beam", "time"] and paths.shape == (3 * HORIZON, 2)
    assert log_probs.index.name == "beam" and list(log_probs.columns) == ["y", "z"] and log_probs.shape == (3, 2)
    assert (np.diff(log_probs.to_numpy(), axis=0) <= 1e-9).all() and (log_probs.to_numpy() < 0).all()
    best = fitted.set_params(point="beam", beam_width=3).predict(HORIZON)
    try:
        np.testing.assert_allclose(best.to_numpy(), paths.xs(0, level="beam").to_numpy())
        greedy = fitted.set_params(point="greedy").predict(HORIZON)
        np.testing.assert_allclose(greedy.to_numpy(), fitted.beam_search(HORIZON, width=1)[0].to_numpy())
    finally:
        fitted.set_params(point="median", beam_width=4)


def test_long_frames_forecast_every_series_even_a_short_one():
    frame = long_frame()
    fitted = model(training={**FAST, "epochs": 2}).fit(frame)
    forecast = fitted.predict(HORIZON, quantiles=[0.25, 0.75])
    assert forecast.groupby(level="id").size().to_dict() == {"a": HORIZON, "b": HORIZON, "c": HORIZON}
    assert np.isfinite(forecast.to_numpy()).all()
    paths, log_probs = fitted.beam_search(HORIZON, width=2)
    assert paths.index.names == ["id", "beam", "time"] and len(paths) == 3 * 2 * HORIZON
    assert log_probs.index.names == ["id", "beam"] and len(log_probs) == 6
    assert fitted.sample(HORIZON, 4).index.names == ["id", "sample", "time"]


def test_windows_give_points_and_quantiles(fitted):
    inputs = np.lib.stride_tricks.sliding_window_view(series().to_numpy(), 36, axis=0).transpose(0, 2, 1)[:5]
    points = fitted.predict_windows(inputs, HORIZON)
    quantiles = fitted.predict_windows(inputs, 4, quantiles=[0.1, 0.5, 0.9])
    assert points.shape == (5, HORIZON, 2) and quantiles.shape == (5, 4, 2, 3)
    assert (np.diff(quantiles, axis=-1) >= 0).all()
    np.testing.assert_allclose(quantiles[..., 1], points[:, :4])  # the same 40 paths, seed 0


def test_unobserved_values_train_and_forecast():
    frame = series()
    frame.iloc[[5, 50, 51, 230], 0] = np.nan
    fitted = model(training={**FAST, "epochs": 2}).fit(frame)
    assert np.isfinite(fitted.history_.train_loss).all()
    assert np.isfinite(fitted.predict(HORIZON).to_numpy()).all()


@pytest.mark.parametrize("name", ["token_transformer", "token_gru"])
def test_save_and_load_round_trip(name, tmp_path):
    small = {"input_length": 24, "horizon": 4, "n_bins": 63, "hidden_size": 8, "num_samples": 10}
    fitted = registry.create(name, **small, training={"epochs": 1})
    fitted.fit(series(120))
    path = tmp_path / "tokens.pt"
    persistence.save(fitted, path)
    loaded = persistence.load(path)
    assert type(loaded) is TokenForecaster and loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(loaded.predict(4, quantiles=[0.2, 0.8]), fitted.predict(4, quantiles=[0.2, 0.8]))
    pd.testing.assert_frame_equal(loaded.sample(4, 5, seed=1), fitted.sample(4, 5, seed=1))
    for mine, theirs in zip(loaded.beam_search(4, 2), fitted.beam_search(4, 2)):
        pd.testing.assert_frame_equal(mine, theirs)


def test_parameters_are_checked():
    with pytest.raises(ConfigError, match="'point'"):
        model(point="mean").fit(series())
    with pytest.raises(ConfigError, match="cross-entropy"):
        model(training={"loss": "normal"}).fit(series())
    with pytest.raises(ConfigError, match="horizon=6"):
        model(training={"epochs": 1}).fit(series()).predict(HORIZON + 1)


def test_a_series_that_never_varies_is_forecast_as_its_value():
    frame = long_frame()
    frame.loc["b", "z"] = 7.0
    with pytest.warns(UserWarning, match=r"1 channel\(s\) hold one value over all their rows: series 'b' / 'z' \(7\)"):
        fitted = model(training={**FAST, "epochs": 1}).fit(frame)
    forecast = fitted.predict(HORIZON, quantiles=[0.25, 0.75])
    assert (forecast.loc["b", ["z", "z_q0.25", "z_q0.75"]] == 7).all().all()
    assert (fitted.sample(HORIZON, 3).loc["b", "z"] == 7).all()
    assert forecast.loc["b", "y"].nunique() > 1  # the series' other channel varies: the network's
