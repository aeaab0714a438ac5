"""Seq2Seq against a step-by-step reference of its equations; teacher forcing, causality, training."""

from __future__ import annotations

import math

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.seq2seq import Seq2Seq

BATCH, STEPS, CHANNELS, HORIZON, HIDDEN = 3, 7, 3, 5, 6
TARGETS = [0, 2]  # forecast channels 0 and 2 of the inputs
# (cell, attention, bidirectional encoder): both cells, every attention kind, both bridges.
CONFIGS = [
    ("lstm", "none", False),
    ("gru", "none", True),
    ("lstm", "bahdanau", True),
    ("gru", "bahdanau", False),
    ("lstm", "luong-dot", False),
    ("gru", "luong-dot", False),
    ("lstm", "luong-general", True),
    ("gru", "luong-general", False),
]


def _model(cell: str, attention: str, bidirectional: bool, covariate_size: int = 2) -> Seq2Seq:
    model = Seq2Seq(
        CHANNELS,
        HORIZON,
        hidden_size=HIDDEN,
        num_layers=2,
        cell=cell,
        attention=attention,
        bidirectional=bidirectional,
        target_channels=TARGETS,
        covariate_size=covariate_size,
    )
    return model.double()


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    inputs = torch.randn(BATCH, STEPS, CHANNELS, dtype=torch.float64)
    targets = torch.randn(BATCH, HORIZON, len(TARGETS), dtype=torch.float64)
    covariates = torch.randn(BATCH, HORIZON, 2, dtype=torch.float64)
    return inputs, targets, covariates


def _softmax_context(scores: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """scores (B, L), keys (B, L, K) -> context (B, K), written out."""
    weights = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
    return (weights.unsqueeze(-1) * keys).sum(dim=1)


def _reference(model: Seq2Seq, inputs, fed, covariates) -> torch.Tensor:
    """The module docstring's equations, one step at a time; ``fed[:, t - 1]`` is fed at step t >= 1."""
    keys, state = model.encoder(inputs)  # torch's RNN: o_1 .. o_L and the final states
    if model.bidirectional:  # s_0 = tanh(W_b [fwd; bwd] + b_b) per layer (cell state: no tanh)

        def merge(s):
            s = s.view(model.num_layers, 2, BATCH, HIDDEN)
            return torch.cat([s[:, 0], s[:, 1]], dim=-1)

        if model.cell == "lstm":
            state = (torch.tanh(model.bridge_hidden(merge(state[0]))), model.bridge_cell(merge(state[1])))
        else:
            state = torch.tanh(model.bridge_hidden(merge(state)))
    attention = model.attention
    previous = inputs[:, -1, TARGETS]
    forecasts = []
    for t in range(HORIZON):
        u = previous if t == 0 else fed[:, t - 1]
        parts = [u, covariates[:, t]]
        top = (state[0] if model.cell == "lstm" else state)[-1]  # s_{t-1}, top layer (B, H)
        if model.attention_kind == "bahdanau":
            w_q, w_k, v = attention.query_projection.weight, attention.key_projection.weight, attention.energy.weight[0]
            scores = torch.tanh((top @ w_q.T).unsqueeze(1) + keys @ w_k.T) @ v  # (B, L): v^T tanh(W_q q + W_k k_j)
            context = _softmax_context(scores, keys)
            parts.append(context)
        output, state = model.decoder(torch.cat(parts, dim=-1).unsqueeze(1), state)
        s = output[:, 0]
        if model.attention_kind == "bahdanau":
            features = torch.cat([s, context], dim=-1)
        elif model.attention_kind.startswith("luong"):
            projected = keys if model.attention_kind == "luong-dot" else keys @ attention.key_projection.weight.T
            scores = (projected * s.unsqueeze(1)).sum(dim=-1)  # (B, L): q^T k_j or q^T W k_j
            context = _softmax_context(scores, keys)
            features = torch.tanh(torch.cat([context, s], dim=-1) @ model.combine.weight.T)
        else:
            features = s
        forecasts.append(model.head(features))
    return torch.stack(forecasts, dim=1)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS)
def test_shapes_and_attention_weights(cell: str, attention: str, bidirectional: bool) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    for ratio, given in ((0.0, None), (1.0, targets), (0.5, targets)):
        if attention == "none":
            predictions = model(inputs, given, ratio, covariates=covariates)
            assert model.last_attention is None
        else:
            predictions, weights = model(inputs, given, ratio, covariates=covariates, return_attention=True)
            assert weights.shape == (BATCH, HORIZON, STEPS)
            torch.testing.assert_close(weights.sum(dim=-1), torch.ones(BATCH, HORIZON, dtype=torch.float64))
            torch.testing.assert_close(model.last_attention, weights.detach())
        assert predictions.shape == (BATCH, HORIZON, len(TARGETS))
    assert not model.decoder.bidirectional and model.encoder.bidirectional == bidirectional


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS)
def test_full_teacher_forcing_feeds_the_targets(cell: str, attention: str, bidirectional: bool) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    predictions = model(inputs, targets, 1.0, covariates=covariates)
    torch.testing.assert_close(predictions, _reference(model, inputs, targets, covariates), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS)
def test_no_teacher_forcing_feeds_back_the_forecasts(cell: str, attention: str, bidirectional: bool) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    predictions = model(inputs, targets, 0.0, covariates=covariates)
    # An autoregressive rollout is the reference fed its own forecasts.
    torch.testing.assert_close(predictions, _reference(model, inputs, predictions, covariates), rtol=0, atol=1e-12)
    torch.testing.assert_close(model(inputs, targets + 10, 0.0, covariates=covariates), predictions, rtol=0, atol=0)
    torch.testing.assert_close(model(inputs, covariates=covariates), predictions, rtol=0, atol=0)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS[:4])
def test_scheduled_sampling_mixes_per_sample_and_step(cell: str, attention: str, bidirectional: bool) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    predictions = model(inputs, targets, 0.5, covariates=covariates, generator=torch.Generator().manual_seed(3))
    # The documented draw, replayed with an equally seeded generator.
    teacher = torch.rand((BATCH, HORIZON - 1), generator=torch.Generator().manual_seed(3)) < 0.5
    assert bool(teacher.any()) and not bool(teacher.all())
    fed = torch.where(teacher.unsqueeze(-1), targets[:, :-1], predictions[:, :-1])
    torch.testing.assert_close(predictions, _reference(model, inputs, fed, covariates), rtol=0, atol=1e-12)


def test_scheduled_sampling_is_deterministic_with_a_seeded_generator() -> None:
    model = _model("lstm", "luong-general", False)
    inputs, targets, covariates = _data()

    def run(seed: int) -> torch.Tensor:
        return model(inputs, targets, 0.5, covariates=covariates, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(run(0), run(0), rtol=0, atol=0)
    assert not torch.allclose(run(0), run(1))


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS)
def test_teacher_forced_decoder_is_causal(cell: str, attention: str, bidirectional: bool) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    predictions = model(inputs, targets, 1.0, covariates=covariates)
    for t in range(HORIZON - 1):
        perturbed = targets.clone()
        perturbed[:, t:] += 1.0
        changed = model(inputs, perturbed, 1.0, covariates=covariates)
        # Forecast t + 1 is the first to see target t.
        torch.testing.assert_close(changed[:, : t + 1], predictions[:, : t + 1], rtol=0, atol=0)
        assert bool((changed[:, t + 1 :] != predictions[:, t + 1 :]).any(dim=-1).all())


@pytest.mark.parametrize("ratio", [1.0, 0.0])
@pytest.mark.parametrize(("cell", "attention", "bidirectional"), CONFIGS)
def test_gradients_reach_every_parameter(cell: str, attention: str, bidirectional: bool, ratio: float) -> None:
    model = _model(cell, attention, bidirectional)
    inputs, targets, covariates = _data()
    inputs.requires_grad_()
    (model(inputs, targets, ratio, covariates=covariates) - targets).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name
        assert bool(parameter.grad.abs().sum() > 0), name
    assert bool(inputs.grad.abs().sum() > 0)


def test_overfits_one_batch_of_sine_windows() -> None:
    series = torch.sin(2 * math.pi * torch.arange(40.0) / 12)  # period 12
    rows = torch.arange(16)[:, None] + torch.arange(18)[None]  # 16 windows of 12 inputs + 6 targets
    windows = series[rows].unsqueeze(-1)  # (16, 18, 1)
    inputs, targets = windows[:, :12], windows[:, 12:]
    model = Seq2Seq(1, 6, hidden_size=16, attention="luong-general")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        initial = (model(inputs) - targets).square().mean()
    for _ in range(200):
        optimizer.zero_grad()
        loss = (model(inputs, targets, 1.0) - targets).square().mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        rollout = (model(inputs) - targets).square().mean()  # autoregressive, no targets
    assert initial > 0.1 and loss < 1e-3 and rollout < 1e-3


def test_constructor_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="The 'hidden_size' parameter must be an int >= 1. Got 0 instead."):
        Seq2Seq(1, 4, hidden_size=0)
    with pytest.raises(ConfigError, match="The 'horizon' parameter must be an int >= 1. Got 0 instead."):
        Seq2Seq(1, 0)
    with pytest.raises(ConfigError, match="'cell' parameter must be one of lstm, gru. Got 'lstn' instead. Did you"):
        Seq2Seq(1, 4, cell="lstn")
    with pytest.raises(ConfigError, match="Did you mean 'luong-general'?"):
        Seq2Seq(1, 4, attention="luong_general")
    with pytest.raises(ConfigError, match="luong-dot.*bidirectional encoder outputs 2 \\* hidden_size = 8"):
        Seq2Seq(1, 4, hidden_size=4, attention="luong-dot", bidirectional=True)
    with pytest.raises(ConfigError, match="'dropout' parameter must be a float in \\[0, 1\\). Got 1.0"):
        Seq2Seq(1, 4, dropout=1.0)
    with pytest.raises(ConfigError, match="'target_channels' parameter .* in \\[0, 2\\). Got \\[2\\]"):
        Seq2Seq(2, 4, target_channels=[2])
    with pytest.raises(ConfigError, match="lists a channel twice"):
        Seq2Seq(2, 4, target_channels=[1, 1])


def test_call_errors_name_the_argument() -> None:
    model = _model("gru", "none", False)
    inputs, targets, covariates = _data()
    with pytest.raises(DataError, match=r"inputs of shape \(B, L, 3\).*Got \(3, 7, 2\)"):
        model(inputs[..., :2], covariates=covariates)
    with pytest.raises(DataError, match=r"targets of shape \(B, H, 2\) = \(3, 5, 2\). Got \(3, 4, 2\)"):
        model(inputs, targets[:, :4], 1.0, covariates=covariates)
    with pytest.raises(DataError, match="covariate_size=2: pass covariates"):
        model(inputs)
    with pytest.raises(ConfigError, match="'teacher_forcing_ratio' parameter must be a float in \\[0, 1\\]. Got 1.5"):
        model(inputs, targets, 1.5, covariates=covariates)
    with pytest.raises(ConfigError, match="teacher_forcing_ratio=0.5 feeds true values to the decoder; pass targets"):
        model(inputs, None, 0.5, covariates=covariates)
    with pytest.raises(ConfigError, match="return_attention=True needs attention weights"):
        model(inputs, covariates=covariates, return_attention=True)
