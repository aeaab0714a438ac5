"""DecoderOnlyTransformer: causal mask per step and per patch, rollout, next-step training, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.decoder_only import DecoderOnlyTransformer, sequence_length

BATCH, CHANNELS, HORIZON = 3, 2, 5


def _model(input_length: int = 12, patch_length: int = 1, **options) -> DecoderOnlyTransformer:
    settings = {"d_model": 8, "n_heads": 2, "n_layers": 2, **options}
    model = DecoderOnlyTransformer(CHANNELS, HORIZON, input_length=input_length, patch_length=patch_length, **settings)
    return model.double().eval()


def test_sequence_geometry():
    # L = 14, P = 4: 3 context patches (the oldest 2 steps unread), ceil(5 / 4) = 2 forecast patches
    model = _model(input_length=14, patch_length=4)
    assert (model.context_patches, model.forecast_patches, model.max_tokens) == (3, 2, 4)
    assert model.context_length == 12 and model.sequence_length == 20 == sequence_length(14, 5, 4)


@pytest.mark.parametrize("patch_length", [1, 4])
@pytest.mark.parametrize("channel_independent", [False, True], ids=["multivariate", "channel-independent"])
def test_shapes(patch_length, channel_independent):
    model = _model(input_length=14, patch_length=patch_length, channel_independent=channel_independent)
    inputs = torch.randn(BATCH, 14, CHANNELS, dtype=torch.float64)
    assert model(inputs).shape == (BATCH, HORIZON, CHANNELS)
    sequence = torch.randn(BATCH, model.max_tokens * patch_length, CHANNELS, dtype=torch.float64)
    assert model.forward_sequence(sequence).shape == sequence.shape


@pytest.mark.parametrize(
    "patch_length, channel_independent, norm_first",
    [(1, False, True), (1, False, False), (3, False, True), (3, True, False)],
    ids=["steps-preLN", "steps-postLN", "patches-preLN", "patches-channel-independent-postLN"],
)
@pytest.mark.parametrize("token", [0, 2])
def test_causal_mask_blocks_the_future(patch_length, channel_independent, norm_first, token):
    # Output rows of token i (predicting patch i + 1) read tokens 0 .. i: changing every row
    # after token i leaves them bit-identical; changing a row of token i changes them.
    model = _model(15, patch_length, channel_independent=channel_independent, norm_first=norm_first)
    sequence = torch.randn(BATCH, model.max_tokens * patch_length, CHANNELS, dtype=torch.float64)
    end = (token + 1) * patch_length  # rows 0 .. end - 1 are tokens 0 .. i
    changed = sequence.clone()
    changed[:, end:] += torch.randn_like(changed[:, end:]) * 5
    before, after = model.forward_sequence(sequence), model.forward_sequence(changed)
    assert torch.equal(before[:, :end], after[:, :end])
    own = sequence.clone()
    own[:, end - 1] += 1.0
    token_rows = slice(end - patch_length, end)
    assert not torch.allclose(before[:, token_rows], model.forward_sequence(own)[:, token_rows])


def test_revin_statistics_come_from_the_context_only():
    # With RevIN the context's rows set the statistics, so only changes after the context
    # are invisible to earlier outputs.
    model = _model(12, 3, revin=True)
    sequence = torch.randn(BATCH, model.max_tokens * 3, CHANNELS, dtype=torch.float64)
    changed = sequence.clone()
    changed[:, 12:] += 5.0
    assert torch.equal(model.forward_sequence(changed)[:, :12], model.forward_sequence(sequence)[:, :12])


@pytest.mark.parametrize(
    "input_length, patch_length, options",
    [(12, 1, {}), (14, 4, {"revin": True}), (13, 3, {"channel_independent": True, "revin": True})],
    ids=["steps", "patches-revin", "patches-channel-independent-revin"],
)
def test_rollout_equals_one_step_calls_feeding_back_the_forecasts(input_length, patch_length, options):
    model = _model(input_length, patch_length, **options)
    inputs = torch.randn(BATCH, input_length, CHANNELS, dtype=torch.float64)
    sequence = inputs[:, input_length % patch_length :]  # the context: whole patches, newest last
    for _ in range(model.forecast_patches):
        next_patch = model.forward_sequence(sequence)[:, -patch_length:]  # the last token's prediction
        sequence = torch.cat([sequence, next_patch], dim=1)
    expected = sequence[:, model.context_length : model.context_length + HORIZON]
    torch.testing.assert_close(model(inputs), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("patch_length", [1, 4])
def test_next_patch_training_fits_a_sine(patch_length):
    rows = sequence_length(16, 4, patch_length)
    series = torch.sin(2 * math.pi * torch.arange(96, dtype=torch.float32) / 12)
    windows = series.unfold(0, rows, 1).unsqueeze(-1)  # (N, M, 1)
    model = DecoderOnlyTransformer(1, 4, input_length=16, patch_length=patch_length, d_model=16, n_heads=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = []
    for _ in range(80):
        predictions = model.forward_sequence(windows[:, :-patch_length])  # rows P .. M - 1
        loss = torch.nn.functional.mse_loss(predictions, windows[:, patch_length:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    with torch.no_grad():  # and the rollout forecasts the next 4 steps
        forecast = model.eval()(windows[:, :16])
    assert torch.nn.functional.mse_loss(forecast, windows[:, 16:20]) < 0.05


@pytest.mark.parametrize("channel_independent", [False, True], ids=["multivariate", "channel-independent"])
def test_gradients_reach_every_parameter(channel_independent):
    model = _model(12, 3, channel_independent=channel_independent, revin=True, positional="learned").train()
    inputs = torch.randn(BATCH, 12, CHANNELS, dtype=torch.float64)
    for predictions in (model.forward_sequence(inputs), model(inputs)):  # teacher-forced, then the rollout
        model.zero_grad()
        predictions.square().mean().backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
            assert parameter.grad.abs().sum() > 0, name


def test_attention_weights_are_causal():
    model = _model(12, 3)
    weights = model.attention(torch.randn(BATCH, 12, CHANNELS, dtype=torch.float64))
    assert set(weights) == {"decoder.layers.0.attention", "decoder.layers.1.attention"}
    last = weights["decoder.layers.1.attention"]
    assert last.shape == (BATCH, 2, model.max_tokens, model.max_tokens)
    assert torch.equal(last.triu(1), torch.zeros_like(last))
    torch.testing.assert_close(last.sum(-1), torch.ones(BATCH, 2, model.max_tokens, dtype=torch.float64))


def test_bad_shapes_and_settings_are_named():
    with pytest.raises(ConfigError, match=r"'patch_length' parameter \(16\) must not exceed input_length \(12\)"):
        _model(12, 16)
    model = _model(12, 3)
    with pytest.raises(DataError, match=r"inputs of shape \(B, 12, 2\).*Got \(3, 11, 2\)"):
        model(torch.randn(BATCH, 11, CHANNELS, dtype=torch.float64))
    with pytest.raises(DataError, match="multiple of patch_length=3 and at most 15"):
        model.forward_sequence(torch.randn(BATCH, 10, CHANNELS, dtype=torch.float64))
    with pytest.raises(DataError, match="multiple of patch_length=3 and at most 15"):
        model.forward_sequence(torch.randn(BATCH, 18, CHANNELS, dtype=torch.float64))
