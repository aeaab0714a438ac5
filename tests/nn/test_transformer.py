"""Transformer blocks: attention against a hand-written reference, masks, norms, encodings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.nn.encoder_forecaster import EncoderForecaster
from tsseq.nn.transformer import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    LearnedPositionalEncoding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    attention_weights,
    causal_mask,
    positional_encoding,
    record_attention,
)


def reference_attention(module: MultiHeadAttention, query, key, value, allowed=None, bias=None):
    """Multi-head attention written out head by head, loops and all, from the module's weights."""
    batch, q_len, _ = query.shape
    k_len = key.shape[1]
    size = module.head_size
    q = query @ module.query_projection.weight.T + module.query_projection.bias
    k = key @ module.key_projection.weight.T + module.key_projection.bias
    v = value @ module.value_projection.weight.T + module.value_projection.bias
    heads, weights = [], torch.zeros(batch, module.n_heads, q_len, k_len, dtype=query.dtype)
    for h in range(module.n_heads):
        part = slice(h * size, (h + 1) * size)
        context = torch.zeros(batch, q_len, size, dtype=query.dtype)
        for b in range(batch):
            for i in range(q_len):
                scores = torch.stack([q[b, i, part] @ k[b, j, part] / math.sqrt(size) for j in range(k_len)])
                if bias is not None:
                    scores = scores + bias[i]
                if allowed is not None:
                    scores = torch.where(allowed[b, i], scores, torch.tensor(float("-inf"), dtype=query.dtype))
                w = torch.exp(scores - scores.max())
                w = w / w.sum()
                weights[b, h, i] = w
                context[b, i] = sum(w[j] * v[b, j, part] for j in range(k_len))
        heads.append(context)
    output = torch.cat(heads, dim=-1) @ module.output_projection.weight.T + module.output_projection.bias
    return output, weights


@pytest.fixture
def attention():
    torch.manual_seed(0)
    return MultiHeadAttention(8, 2).double().eval()


def tensors(batch=2, q_len=5, k_len=5, d=8, seed=1):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, q_len, d, generator=generator, dtype=torch.float64)
    k = torch.randn(batch, k_len, d, generator=generator, dtype=torch.float64)
    v = torch.randn(batch, k_len, d, generator=generator, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize("need_weights", [False, True], ids=["sdpa", "explicit"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("padding", [False, True], ids=["no-padding", "padding"])
def test_attention_matches_the_reference(attention, need_weights, causal, padding):
    q, k, v = tensors()
    if causal:
        k, v = q, q  # self-attention: as many keys as queries
    key_padding = torch.zeros(2, 5, dtype=torch.bool)
    key_padding[1, 3:] = True  # the second sample's last two keys are padding
    allowed = torch.ones(2, 5, 5, dtype=torch.bool)
    if causal:
        allowed &= causal_mask(5)
    if padding:
        allowed &= ~key_padding[:, None, :]
    output, weights = attention(
        q, k, v, causal=causal, key_padding_mask=key_padding if padding else None, need_weights=need_weights
    )
    expected, expected_weights = reference_attention(attention, q, k, v, allowed)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, rtol=1e-10, atol=1e-12)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True], ids=["sdpa", "explicit"])
def test_cross_attention_with_float_and_bool_masks(attention, need_weights):
    q, k, v = tensors(q_len=3, k_len=6)
    bias = torch.linspace(-1, 1, 18, dtype=torch.float64).view(3, 6)
    output, _ = attention(q, k, v, attn_mask=bias, need_weights=need_weights)
    torch.testing.assert_close(output, reference_attention(attention, q, k, v, bias=bias)[0], rtol=1e-10, atol=1e-12)
    allowed = torch.ones(3, 6, dtype=torch.bool)
    allowed[:, 4:] = False
    output, _ = attention(q, k, v, attn_mask=allowed, need_weights=need_weights)
    expected = reference_attention(attention, q, k, v, allowed=allowed.expand(2, 3, 6))[0]
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-12)


def test_causal_attention_needs_square_scores(attention):
    q, k, v = tensors(q_len=3, k_len=6)
    with pytest.raises(DataError, match="causal"):
        attention(q, k, v, causal=True)


@pytest.mark.parametrize("record", [False, True], ids=["sdpa", "explicit"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_a_causal_encoder_ignores_the_future_exactly(record, norm_first):
    torch.manual_seed(0)
    encoder = Encoder.stack(2, 8, 2, 16, norm_first=norm_first).eval()
    x = torch.randn(2, 10, 8)
    perturbed = x.clone()
    perturbed[:, 6:] += torch.randn(2, 4, 8) * 10
    with record_attention(encoder) if record else torch.no_grad():
        before, after = encoder(x, causal=True), encoder(perturbed, causal=True)
    assert torch.equal(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])


def test_a_decoder_ignores_future_decoder_inputs_but_sees_all_the_memory():
    torch.manual_seed(0)
    decoder = Decoder.stack(2, 8, 2, 16, norm_first=True).eval()
    x, memory = torch.randn(2, 7, 8), torch.randn(2, 9, 8)
    perturbed = x.clone()
    perturbed[:, 4:] -= 3.0
    with torch.no_grad():
        before, after = decoder(x, memory), decoder(perturbed, memory)
        assert torch.equal(before[:, :4], after[:, :4])
        moved = decoder(x, memory + torch.linspace(0, 1, 9).view(1, 9, 1))
    assert not torch.allclose(before[:, 0], moved[:, 0])  # the first step attends to every memory step


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_pre_and_post_ln_both_train_on_a_toy_series(norm, norm_first):
    steps = np.arange(600)
    series = (np.sin(2 * np.pi * steps / 24) + 0.5 * np.sin(2 * np.pi * steps / 7)).astype(np.float32)[:, None]
    windows = make_windows(series, 24, 6)
    torch.manual_seed(0)
    model = EncoderForecaster(1, 24, 6, d_model=16, n_heads=2, d_ff=32, n_layers=2, dropout=0.0,
                              norm=norm, norm_first=norm_first, revin=False)
    config = TrainingConfig(epochs=6, batch_size=32, learning_rate=3e-3, device="cpu", progress=False, restore_best=False)
    history = Trainer(config).fit(model, windows)
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    layers = Encoder.stack(2, 8, 2, 16, norm_first=True, norm="batch")
    decoder = Decoder.stack(1, 8, 2, 16)
    memory = layers(torch.randn(3, 5, 8))
    decoder(torch.randn(3, 4, 8), memory).square().sum().backward()
    for name, parameter in [*layers.named_parameters(), *decoder.named_parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_residual_attention_adds_the_previous_layers_scores():
    torch.manual_seed(0)
    encoder = Encoder.stack(2, 8, 2, 16, residual_attention=True).eval()
    x = torch.randn(2, 5, 8)
    first, second = encoder.layers
    hidden, scores = first.forward_with_scores(x, None)
    output, total = second.forward_with_scores(hidden, scores)
    attention = second.attention
    q = attention.query_projection(hidden).view(2, 5, 2, 4).transpose(1, 2)
    k = attention.key_projection(hidden).view(2, 5, 2, 4).transpose(1, 2)
    torch.testing.assert_close(total - scores, q @ k.transpose(-2, -1) / 2.0)
    torch.testing.assert_close(encoder(x), output)
    with pytest.raises(ConfigError, match="Residual attention"):
        encoder(x, causal=True)


def test_recorded_weights_are_distributions_and_the_flags_are_restored():
    torch.manual_seed(0)
    model = EncoderForecaster(2, 12, 3, d_model=8, n_heads=2, n_layers=2).eval()
    with record_attention(model):
        model(torch.randn(4, 12, 2))
    weights = attention_weights(model)
    assert sorted(weights) == ["encoder.layers.0.attention", "encoder.layers.1.attention"]
    for value in weights.values():
        assert value.shape == (4, 2, 12, 12)
        torch.testing.assert_close(value.sum(-1), torch.ones(4, 2, 12))
    assert not any(m.keep_weights for m in model.modules() if isinstance(m, MultiHeadAttention))


def test_sinusoidal_encoding_values_and_offsets():
    encoding = SinusoidalPositionalEncoding(6, 20)
    zeros = torch.zeros(1, 4, 6)
    table = encoding(zeros)[0]
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(table[3, 0], torch.tensor(math.sin(3.0)))
    torch.testing.assert_close(table[3, 3], torch.tensor(math.cos(3.0 / 10000 ** (2 / 6))))
    torch.testing.assert_close(encoding(zeros, offset=2)[0, 1], table[3])
    with pytest.raises(DataError, match="max_len=20"):
        encoding(torch.zeros(1, 19, 6), offset=2)
    assert isinstance(positional_encoding("learned", 6, 20), LearnedPositionalEncoding)
    assert "table" not in encoding.state_dict()  # a function of its sizes, not saved


def test_odd_widths_get_a_sinusoidal_table():
    assert SinusoidalPositionalEncoding(5, 7)(torch.zeros(2, 7, 5)).shape == (2, 7, 5)


def test_configuration_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="n_heads"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ConfigError, match="Did you mean 'layer'"):
        EncoderLayer(8, 2, 16, norm="layr")
    with pytest.raises(ConfigError, match="positional"):
        positional_encoding("rotary", 8, 10)
    with pytest.raises(ConfigError, match="dropout"):
        DecoderLayer(8, 2, 16, dropout=1.5)
    with pytest.raises(DataError, match="key_padding_mask"):
        MultiHeadAttention(8, 2).double()(*tensors(), key_padding_mask=torch.zeros(2, 5))
