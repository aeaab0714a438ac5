"""TransformerSeq2Seq: causal decoding, rollout = fed-back one-step calls, training, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.transformer import record_attention
from tsseq.nn.transformer_seq2seq import TransformerSeq2Seq

BATCH, STEPS, CHANNELS, HORIZON = 3, 10, 2, 6


def _model(**options) -> TransformerSeq2Seq:
    settings = {"d_model": 8, "n_heads": 2, "n_encoder_layers": 2, "n_decoder_layers": 2, **options}
    return TransformerSeq2Seq(CHANNELS, HORIZON, input_length=STEPS, **settings).double().eval()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.randn(BATCH, STEPS, CHANNELS, dtype=torch.float64),
        torch.randn(BATCH, HORIZON, CHANNELS, dtype=torch.float64),
    )


def test_shapes_with_and_without_targets():
    model = _model()
    inputs, targets = _data()
    assert model(inputs).shape == (BATCH, HORIZON, CHANNELS)
    assert model(inputs, targets).shape == (BATCH, HORIZON, CHANNELS)


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
@pytest.mark.parametrize("revin", [False, True], ids=["plain", "revin"])
@pytest.mark.parametrize("step", [0, 2, HORIZON - 2])
def test_decoder_mask_blocks_the_future(norm_first, revin, step):
    # Forecast t reads u_0 = x_{L-1} and y_0 .. y_{t-1}: changing y_t .. y_{H-1} must leave
    # forecasts 0 .. t bit-identical, and does change forecast t + 1 (which reads y_t).
    model = _model(norm_first=norm_first, revin=revin)
    inputs, targets = _data()
    changed = targets.clone()
    changed[:, step:] += torch.randn_like(changed[:, step:]) * 5
    before, after = model(inputs, targets), model(inputs, changed)
    assert torch.equal(before[:, : step + 1], after[:, : step + 1])
    assert not torch.allclose(before[:, step + 1], after[:, step + 1])


def test_every_forecast_reads_the_whole_input_window():
    model = _model()
    inputs, targets = _data()
    changed = inputs.clone()
    changed[:, 0] += 1.0  # the oldest input: only the encoder and cross-attention carry it
    assert not torch.allclose(model(inputs, targets)[:, 0], model(changed, targets)[:, 0])


@pytest.mark.parametrize("revin", [False, True], ids=["plain", "revin"])
def test_rollout_equals_one_step_calls_feeding_back_the_forecasts(revin):
    model = _model(revin=revin)
    inputs, _ = _data()
    fed = torch.zeros(BATCH, HORIZON, CHANNELS, dtype=torch.float64)
    for step in range(HORIZON):
        # teacher-forced call: forecast `step` reads fed[:, :step] only (the steps forecast so far)
        fed[:, step] = model(inputs, fed)[:, step]
    torch.testing.assert_close(model(inputs), fed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_teacher_forced_training_fits_a_sine(norm_first):
    period, window = 12, STEPS + HORIZON
    series = torch.sin(2 * math.pi * torch.arange(96, dtype=torch.float32) / period)
    windows = series.unfold(0, window, 1).unsqueeze(-1)  # (N, L + H, 1)
    inputs, targets = windows[:, :STEPS], windows[:, STEPS:]
    model = TransformerSeq2Seq(1, HORIZON, input_length=STEPS, d_model=16, n_heads=2, norm_first=norm_first)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = []
    for _ in range(80):
        loss = torch.nn.functional.mse_loss(model(inputs, targets), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    with torch.no_grad():  # the rollout, which training never ran, forecasts the sine too
        assert torch.nn.functional.mse_loss(model.eval()(inputs), targets) < 0.1


@pytest.mark.parametrize("teacher_forced", [True, False], ids=["teacher-forced", "rollout"])
def test_gradients_reach_every_parameter(teacher_forced):
    model = _model(revin=True).train()
    inputs, targets = _data()
    predictions = model(inputs, targets) if teacher_forced else model(inputs)
    predictions.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_rollout_backpropagates_through_fed_back_forecasts():
    model = _model()
    inputs, _ = _data()
    inputs.requires_grad_(True)
    model(inputs)[:, -1].sum().backward()
    assert inputs.grad[:, -1].abs().sum() > 0  # x_{L-1} is u_0, and reaches the last step through yhat_0 ..


def test_attention_weights_for_a_plot():
    model = _model()
    inputs, _ = _data()
    weights = model.attention(inputs)
    assert set(weights) == {
        "encoder.layers.0.attention",
        "encoder.layers.1.attention",
        "decoder.layers.0.self_attention",
        "decoder.layers.1.self_attention",
        "decoder.layers.0.cross_attention",
        "decoder.layers.1.cross_attention",
    }
    cross, own = weights["decoder.layers.1.cross_attention"], weights["decoder.layers.0.self_attention"]
    assert cross.shape == (BATCH, 2, HORIZON, STEPS) and own.shape == (BATCH, 2, HORIZON, HORIZON)
    torch.testing.assert_close(cross.sum(-1), torch.ones(BATCH, 2, HORIZON, dtype=torch.float64))
    assert torch.equal(own.triu(1), torch.zeros_like(own))  # no step looked ahead
    with record_attention(model):  # the explicit softmax path forecasts what the SDPA path does
        recorded = model(inputs)
    torch.testing.assert_close(recorded, model(inputs), rtol=0, atol=1e-12)


def test_bad_shapes_and_settings_are_named():
    model = _model()
    inputs, targets = _data()
    with pytest.raises(DataError, match=r"inputs of shape \(B, 10, 2\).*Got \(3, 9, 2\)"):
        model(inputs[:, 1:])
    with pytest.raises(DataError, match=r"targets of shape \(B, H, C\) = \(3, 6, 2\). Got \(3, 5, 2\)"):
        model(inputs, targets[:, 1:])
    with pytest.raises(ConfigError, match="n_heads"):
        TransformerSeq2Seq(CHANNELS, HORIZON, input_length=STEPS, d_model=8, n_heads=3)
    with pytest.raises(ConfigError, match="positional"):
        TransformerSeq2Seq(CHANNELS, HORIZON, input_length=STEPS, d_model=8, n_heads=2, positional="rotary")
