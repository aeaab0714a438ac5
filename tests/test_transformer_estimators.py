"""The transformer estimators: registration, pretraining then fine-tuning, attention, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq import persistence, registry
from tsseq.errors import ConfigError, DataError
from tsseq.estimators import PatchTSTForecaster, TransformerForecaster

TRAINING = {"epochs": 2, "batch_size": 64, "device": "cpu", "progress": False}


def frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    values = np.column_stack(
        [np.sin(2 * np.pi * steps / 24), np.cos(2 * np.pi * steps / 12)]
    ) + 0.1 * rng.standard_normal((rows, 2))
    index = pd.date_range("2022-01-01", periods=rows, freq="h", name="timestamp")
    return pd.DataFrame(values, index=index, columns=["a", "b"])


def patchtst(**overrides) -> PatchTSTForecaster:
    options = dict(input_length=32, horizon=6, patch_length=8, stride=8, hidden_size=8, n_heads=2, d_ff=16,
                   num_layers=1, training=TRAINING)
    return PatchTSTForecaster(**{**options, **overrides})


def backbone(model: PatchTSTForecaster) -> dict[str, torch.Tensor]:
    """The backbone's weights (BatchNorm's running statistics, buffers, follow the data being trained on)."""
    return {name: tensor.detach().clone() for name, tensor in model.module_.backbone.named_parameters()}


def test_registered_names_and_presets():
    assert isinstance(registry.create("transformer"), TransformerForecaster)
    model = registry.create("patchtst")
    assert isinstance(model, PatchTSTForecaster)
    assert (model.patch_length, model.stride, model.hidden_size, model.n_heads, model.norm) == (16, 8, 16, 4, "batch")


def test_a_pretrained_model_cannot_forecast_until_fitted():
    model = patchtst().pretrain(frame(), mask_ratio=0.4)
    assert model.forecast_trained_ is False
    assert len(model.pretraining_history_.train_loss) == 2
    with pytest.raises(ConfigError, match="only pretrained"):
        model.predict(6)
    assert model.reconstruct_windows(frame().to_numpy()[None, :32]).shape == (1, 32, 2)


def test_fit_after_pretrain_starts_from_the_pretrained_backbone():
    data = frame()
    model = patchtst().pretrain(data)
    pretrained = backbone(model)
    # a vanishing learning rate: the fitted backbone is where fitting started
    model.set_params(horizon=3, training={**TRAINING, "learning_rate": 1e-12})
    model.fit(data)
    assert model.predict(3).shape == (3, 2) and model.forecast_trained_
    for name, tensor in backbone(model).items():
        torch.testing.assert_close(tensor, pretrained[name], rtol=0, atol=1e-8)
    scratch = patchtst(horizon=3, training={**TRAINING, "learning_rate": 1e-12}).fit(data)
    assert not torch.allclose(backbone(scratch)["patch_embedding.weight"], pretrained["patch_embedding.weight"])


def test_linear_probing_trains_the_head_only():
    data = frame()
    model = patchtst().pretrain(data)
    pretrained, head = backbone(model), model.module_.head[2].weight.detach().clone()
    model.fine_tune(data, freeze=["backbone"], training={"epochs": 1})
    assert all(torch.equal(tensor, pretrained[name]) for name, tensor in backbone(model).items())
    assert not torch.equal(model.module_.head[2].weight, head)
    assert np.isfinite(model.predict(6).to_numpy()).all()


def test_pretrained_weights_that_do_not_fit_are_refused():
    model = patchtst().pretrain(frame())
    model.set_params(patch_length=4, stride=4)
    with pytest.raises(ConfigError, match="pretrained weights do not fit"):
        model.fit(frame())


def test_pretraining_arguments_are_checked():
    with pytest.raises(ConfigError, match="mask_ratio"):
        patchtst().pretrain(frame(), mask_ratio=0.0)
    with pytest.raises(DataError, match="too short for pretraining"):
        patchtst(validation_fraction=0.0).pretrain(frame(20))


def transformer(**overrides) -> TransformerForecaster:
    options = dict(input_length=32, horizon=6, hidden_size=8, n_heads=2, training=TRAINING)
    return TransformerForecaster(**{**options, **overrides})


@pytest.mark.parametrize("make", [patchtst, transformer], ids=["patchtst", "transformer"])
def test_attention_weights_of_windows(make):
    data = frame()
    model = make().fit(data)
    windows = np.stack([data.to_numpy()[i : i + 32] for i in range(3)])
    weights = model.attention_weights(windows)
    assert weights
    for value in weights.values():
        np.testing.assert_allclose(value.sum(axis=-1), 1.0, rtol=1e-5)
    tokens = 5 if isinstance(model, PatchTSTForecaster) else 32
    rows = 3 * 2 if isinstance(model, PatchTSTForecaster) else 3  # PatchTST: one sequence per window and channel
    assert next(iter(weights.values())).shape == (rows, 2, tokens, tokens)


def test_transformer_with_covariates_forecasts_and_round_trips(tmp_path):
    data = frame()
    model = transformer(input_length=24, horizon=4, covariates=["hour", "day_of_week"]).fit(data)
    forecast = model.predict(4)
    path = tmp_path / "transformer.pt"
    model.save(path)
    pd.testing.assert_frame_equal(persistence.load(path).predict(4), forecast)


def test_a_pretrained_then_fitted_patchtst_round_trips(tmp_path):
    data = frame()
    model = patchtst().pretrain(data).fit(data)
    path = tmp_path / "patchtst.pt"
    model.save(path)
    loaded = persistence.load(path)
    pd.testing.assert_frame_equal(loaded.predict(6), model.predict(6))
    np.testing.assert_allclose(
        loaded.reconstruct_windows(data.to_numpy()[None, :32]), model.reconstruct_windows(data.to_numpy()[None, :32])
    )
