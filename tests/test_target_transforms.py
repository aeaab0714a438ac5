"""Target transforms (tsseq.data.target_transforms) and the neural estimators' target_transform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq import registry
from tsseq.data import target_transforms
from tsseq.errors import ConfigError, DataError

TRAINING = {"epochs": 2, "batch_size": 32, "seed": 0}


def positive_series(rows: int = 160, level: float = 5.0, start: str = "2023-01-01") -> pd.DataFrame:
    steps = np.arange(rows)
    values = level * np.exp(0.3 * np.sin(2 * np.pi * steps / 12))
    return pd.DataFrame({"y": values}, index=pd.date_range(start, periods=rows, freq="h", name="time"))


def two_series() -> pd.DataFrame:
    """A long frame of two positive series of very different levels."""
    parts = {"small": positive_series(120, level=0.5), "large": positive_series(150, level=400.0)}
    return pd.concat(parts, names=["series", "time"])


def tiny(name: str = "gru", **params):
    defaults = {"input_length": 24, "horizon": 6, "hidden_size": 8, "training": TRAINING}
    return registry.create(name, **{**defaults, **params})


# ------------------------------------------------------------------ the transforms
@pytest.mark.parametrize("name, values", [
    ("log", np.array([[1e-8, 0.5], [1.0, np.nan], [3.0, 1e6]])),
    ("log1p", np.array([[0.0, 0.5], [1e-12, np.nan], [3.0, 1e6]])),
])
def test_inverse_undoes_forward_nans_included(name, values):
    transformed = target_transforms.forward(name, values)
    np.testing.assert_allclose(target_transforms.inverse(name, transformed), values, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(np.isnan(transformed), np.isnan(values))
    expected = np.log(values) if name == "log" else np.log1p(values)
    np.testing.assert_array_equal(transformed, expected)


def test_none_leaves_the_values_as_they_are():
    values = np.array([-1.0, 0.0, 2.0])
    assert target_transforms.forward(None, values) is values
    assert target_transforms.inverse(None, values) is values


@pytest.mark.parametrize("value, message", [
    ("lg", r"must be None or one of 'log', 'log1p'\. Got 'lg' instead\. Did you mean 'log'\?"),
    ("box-cox", r"Got 'box-cox' instead\.$"),
    (True, r"Got True instead\."),
])
def test_an_unknown_transform_is_a_config_error_listing_the_known_ones(value, message):
    with pytest.raises(ConfigError, match=message):
        target_transforms.check_target_transform(value)


@pytest.mark.parametrize("name, bad, bound", [("log", 0.0, "> 0"), ("log1p", -0.5, ">= 0")])
def test_a_value_outside_the_domain_is_a_data_error_naming_it(name, bad, bound):
    values = np.array([[1.0], [np.nan], [bad]])
    with pytest.raises(DataError, match=rf"target_transform='{name}' needs every observed value of the series {bound}; "
                                        rf"the value at \(2, 0\) is {bad:g}"):
        target_transforms.forward(name, values)


# ------------------------------------------------------------------ the estimators
def test_fitting_with_log_equals_fitting_the_log_and_exponentiating():
    """One mechanism, exactly inverted: a model of y with target_transform='log' is a model of log y."""
    frame = two_series()
    logged = np.log(frame)
    ours = tiny("segrnn", segment_length=6, target_transform="log").fit(frame)
    reference = tiny("segrnn", segment_length=6).fit(logged)
    np.testing.assert_allclose(ours.center_, reference.center_)
    np.testing.assert_allclose(ours.predict(6).to_numpy(), np.exp(reference.predict(6).to_numpy()), rtol=1e-6)
    windows = np.stack([part.to_numpy()[-24:] for _, part in frame.groupby(level=0, sort=False)])
    ids = list(frame.index.get_level_values(0).unique())
    np.testing.assert_allclose(
        ours.predict_windows(windows, 6, series=ids), np.exp(reference.predict_windows(np.log(windows), 6, series=ids)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        ours.predict_windows(windows, 6, series=ids)[:, :, 0],
        np.stack([ours.predict(6).loc[series_id, "y"].to_numpy() for series_id in ids]), rtol=1e-6,
    )


def test_quantiles_and_samples_are_mapped_back_and_stay_ordered():
    frame = positive_series()
    training = {**TRAINING, "loss": "quantile", "quantiles": [0.1, 0.5, 0.9]}
    ours = tiny(target_transform="log", training=training).fit(frame)
    reference = tiny(training=training).fit(np.log(frame))
    quantiles = ours.predict(6, quantiles=[0.1, 0.5, 0.9])
    expected = np.exp(reference.predict(6, quantiles=[0.1, 0.5, 0.9]).to_numpy())
    np.testing.assert_allclose(quantiles.to_numpy(), expected, rtol=1e-6)
    levels = quantiles.to_numpy()[:, 1:]  # the point forecast, then the three levels
    assert np.all(np.diff(levels, axis=1) >= 0) and np.all(levels > 0)
    assert np.all(ours.sample(6, 5, seed=0).to_numpy() > 0)


def test_log1p_takes_zeros():
    frame = positive_series() - positive_series().min()  # a zero at the minimum
    assert (frame.to_numpy() == 0).any()
    forecast = tiny(target_transform="log1p").fit(frame).predict(6)
    assert np.all(forecast.to_numpy() > -1) and np.all(np.isfinite(forecast.to_numpy()))


def test_a_non_positive_value_is_refused_at_fit_naming_the_series():
    frame = two_series()
    frame.iloc[130, 0] = -2.0  # the "large" series (rows 120 to 269), its row 10
    with pytest.raises(DataError, match=r"of the training data \(series 'large'\) > 0; the value at \(10, 0\) is -2"):
        tiny(target_transform="log").fit(frame)


def test_a_non_positive_window_is_refused_at_predict_windows():
    model = tiny(target_transform="log").fit(positive_series())
    windows = np.ones((1, 24, 1))
    windows[0, 3, 0] = 0.0
    with pytest.raises(DataError, match=r"of the input windows > 0; the value at \(0, 3, 0\) is 0"):
        model.predict_windows(windows, 6)


def test_a_wrong_name_and_negative_binomial_are_refused_before_training():
    with pytest.raises(ConfigError, match=r"Got 'logg' instead\. Did you mean 'log'\?"):
        tiny(target_transform="logg").fit(positive_series())
    counts = positive_series().round()
    with pytest.raises(ConfigError, match="cannot be combined with loss='negative_binomial'"):
        tiny(target_transform="log1p", training={**TRAINING, "loss": "negative_binomial"}).fit(counts)


def test_the_parameter_is_a_constructor_parameter_of_the_neural_estimators():
    names = ("gru", "segrnn", "seq2seq", *TRANSFORMERS, "token_transformer", "token_gru")
    for name in names:
        model = registry.create(name, target_transform="log")
        assert model.get_params()["target_transform"] == "log"
        assert registry.create(name).target_transform is None


# ------------------------------------------------------------------ transformers and token models
# Tiny configurations of the estimators that override or add prediction paths beyond the base class.
TRANSFORMERS = {
    "transformer": {"n_heads": 2, "d_ff": 16, "num_layers": 1},
    "patchtst": {"patch_length": 8, "stride": 8, "n_heads": 2, "d_ff": 16, "num_layers": 1},
    "transformer_seq2seq": {"n_heads": 2, "d_ff": 16, "num_encoder_layers": 1},
    "decoder_only": {"n_heads": 2, "d_ff": 16, "num_layers": 1, "patch_length": 2},
}
TOKENS = {"n_bins": 63, "n_heads": 2, "num_layers": 1, "num_samples": 11}


def series_windows(frame: pd.DataFrame, ids: list, length: int = 24) -> np.ndarray:
    """The last ``length`` rows of each series ``ids`` of a long frame ``(S, length, 1)``, in that order (the token
    model's sampled paths depend on a window's row in the batch: in the fitted order they are predict's)."""
    return np.stack([frame.loc[series_id].to_numpy()[-length:] for series_id in ids])


@pytest.mark.parametrize("name", [*TRANSFORMERS, "token_transformer"])
def test_a_transformer_fitted_with_log_is_one_fitted_on_the_log(name):
    """The known answer of the recurrent test above, for each estimator with prediction paths of its own."""
    frame = two_series()
    params = TOKENS if name == "token_transformer" else TRANSFORMERS[name]
    ours = tiny(name, **params, target_transform="log").fit(frame)
    reference = tiny(name, **params).fit(np.log(frame))
    np.testing.assert_allclose(ours.center_, reference.center_)
    np.testing.assert_allclose(ours.predict(6).to_numpy(), np.exp(reference.predict(6).to_numpy()), rtol=1e-6)
    ids = list(ours.layout_.series_ids)
    windows = series_windows(frame, ids)
    forecasts = ours.predict_windows(windows, 6, series=ids)
    np.testing.assert_allclose(forecasts, np.exp(reference.predict_windows(np.log(windows), 6, series=ids)), rtol=1e-6)
    np.testing.assert_allclose(
        forecasts[:, :, 0], np.stack([ours.predict(6).loc[series_id, "y"].to_numpy() for series_id in ids]), rtol=1e-6
    )
    if hasattr(ours, "attention_weights"):  # recorded in the forecast's pass, of the transformed windows
        for mine, theirs in ((ours.attention_weights(windows, series=ids),
                              reference.attention_weights(np.log(windows), series=ids)),
                             (ours.attention_weights(), reference.attention_weights())):
            assert mine.keys() == theirs.keys()
            for key in mine:
                np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-5, atol=1e-7)


def test_transformer_seq2seq_quantiles_and_samples_are_mapped_back_and_stay_ordered():
    frame = positive_series()
    training = {**TRAINING, "loss": "quantile", "quantiles": [0.1, 0.5, 0.9]}
    params = {**TRANSFORMERS["transformer_seq2seq"], "training": training}
    ours = tiny("transformer_seq2seq", **params, target_transform="log").fit(frame)
    reference = tiny("transformer_seq2seq", **params).fit(np.log(frame))
    quantiles = ours.predict(6, quantiles=[0.1, 0.5, 0.9])
    expected = np.exp(reference.predict(6, quantiles=[0.1, 0.5, 0.9]).to_numpy())
    np.testing.assert_allclose(quantiles.to_numpy(), expected, rtol=1e-6)
    levels = quantiles.to_numpy()[:, 1:]  # the point forecast, then the three levels
    assert np.all(np.diff(levels, axis=1) >= 0) and np.all(levels > 0)
    np.testing.assert_allclose(ours.sample(6, 4, seed=3).to_numpy(), np.exp(reference.sample(6, 4, seed=3).to_numpy()),
                               rtol=1e-6)


def test_token_quantiles_samples_and_beams_are_mapped_back():
    frame = positive_series()
    ours = tiny("token_transformer", **TOKENS, target_transform="log").fit(frame)
    reference = tiny("token_transformer", **TOKENS).fit(np.log(frame))
    quantiles = ours.predict(6, quantiles=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        quantiles.to_numpy(), np.exp(reference.predict(6, quantiles=[0.1, 0.5, 0.9]).to_numpy()), rtol=1e-6
    )
    assert np.all(np.diff(quantiles.to_numpy()[:, 1:], axis=1) >= 0)
    np.testing.assert_allclose(quantiles["y_q0.5"], quantiles["y"], rtol=1e-12)  # the median point, as without
    np.testing.assert_allclose(ours.sample(6, 4, seed=3).to_numpy(), np.exp(reference.sample(6, 4, seed=3).to_numpy()),
                               rtol=1e-6)
    (paths, scores), (reference_paths, reference_scores) = ours.beam_search(6, 2), reference.beam_search(6, 2)
    np.testing.assert_allclose(paths.to_numpy(), np.exp(reference_paths.to_numpy()), rtol=1e-6)
    np.testing.assert_allclose(scores.to_numpy(), reference_scores.to_numpy())  # of the bins: unchanged
    windows = frame.to_numpy()[None, -24:]
    np.testing.assert_allclose(
        ours.predict_windows(windows, 6, quantiles=[0.1, 0.9]),
        np.exp(reference.predict_windows(np.log(windows), 6, quantiles=[0.1, 0.9])), rtol=1e-6,
    )


def test_patchtst_predict_windows_with_log():
    frame = positive_series()
    model = tiny("patchtst", **TRANSFORMERS["patchtst"], target_transform="log").fit(frame)
    windows = np.stack([frame.to_numpy()[-24:], frame.to_numpy()[-48:-24]])
    forecasts = model.predict_windows(windows, 6)
    assert forecasts.shape == (2, 6, 1) and np.all(forecasts > 0)
    np.testing.assert_allclose(forecasts[0], model.predict(6).to_numpy(), rtol=1e-6)  # the last window is predict's
    windows[1, 5, 0] = -1.0
    with pytest.raises(DataError, match=r"of the input windows > 0; the value at \(1, 5, 0\) is -1"):
        model.predict_windows(windows, 6)


def test_patchtst_pretrains_and_reconstructs_on_the_transformed_scale():
    """Masked pretraining, reconstruct_windows and fit after pretrain, each the same as on log y."""
    frame = positive_series()
    params = TRANSFORMERS["patchtst"]
    ours = tiny("patchtst", **params, target_transform="log").pretrain(frame)
    reference = tiny("patchtst", **params).pretrain(np.log(frame))
    np.testing.assert_allclose(ours.pretraining_history_.train_loss, reference.pretraining_history_.train_loss, rtol=1e-6)
    windows = np.stack([frame.to_numpy()[-24:], frame.to_numpy()[:24]])
    reconstruction = ours.reconstruct_windows(windows)
    np.testing.assert_allclose(reconstruction, np.exp(reference.reconstruct_windows(np.log(windows))), rtol=1e-6)
    assert np.all(reconstruction > 0)
    np.testing.assert_allclose(ours.fit(frame).predict(6).to_numpy(),
                               np.exp(reference.fit(np.log(frame)).predict(6).to_numpy()), rtol=1e-6)
    windows[0, 0, 0] = 0.0
    with pytest.raises(DataError, match=r"target_transform='log' needs every observed value of the input windows > 0"):
        ours.reconstruct_windows(windows)


def test_export_refuses_a_model_with_a_target_transform():
    from tsseq import export

    model = tiny(target_transform="log").fit(positive_series())
    with pytest.raises(export.ExportError, match="fitted with target_transform='log'"):
        export.forecast_graph(model)


def test_a_saved_model_keeps_its_transform(tmp_path):
    from tsseq import persistence

    model = tiny(target_transform="log").fit(positive_series())
    model.save(tmp_path / "model.tsseq")
    loaded = persistence.load(tmp_path / "model.tsseq")
    assert loaded.target_transform == loaded.target_transform_ == "log"
    np.testing.assert_allclose(loaded.predict(6).to_numpy(), model.predict(6).to_numpy())
    del loaded.target_transform_  # as a model saved before the fitted transform was recorded: the parameter's
    np.testing.assert_allclose(loaded.predict(6).to_numpy(), model.predict(6).to_numpy())


@pytest.mark.parametrize("name", ["gru", "patchtst", "token_transformer"])
def test_setting_the_parameter_after_fit_changes_the_next_fit_not_the_fitted_forecasts(name):
    """As every other parameter: the fitted model keeps the transform it was trained with (target_transform_)."""
    frame = positive_series()
    params = {**TRANSFORMERS, "token_transformer": TOKENS}.get(name, {})
    model = tiny(name, target_transform="log", **params).fit(frame)
    windows = frame.to_numpy()[None, -24:]
    forecast, window_forecast = model.predict(6).to_numpy(), model.predict_windows(windows, 6)
    model.set_params(target_transform=None)
    assert model.target_transform_ == "log"
    np.testing.assert_allclose(model.predict(6).to_numpy(), forecast)
    np.testing.assert_allclose(model.predict_windows(windows, 6), window_forecast)
    model.fit(frame)
    assert model.target_transform_ is None
    reference = tiny(name, **params).fit(frame)
    np.testing.assert_allclose(model.predict(6).to_numpy(), reference.predict(6).to_numpy(), rtol=1e-6)


def test_export_refuses_the_fitted_transform_whatever_the_parameter_says_now():
    from tsseq import export

    model = tiny(target_transform="log").fit(positive_series()).set_params(target_transform=None)
    with pytest.raises(export.ExportError, match="fitted with target_transform='log'"):
        export.forecast_graph(model)
