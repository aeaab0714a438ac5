"""Attention scores against explicit per-step formulas, masks, shapes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.attention import AdditiveAttention, MultiplicativeAttention, attend, make_attention

BATCH, STEPS, QUERY_SIZE, KEY_SIZE = 2, 5, 3, 4


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def _reference(score_fn, query: torch.Tensor, keys: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Context and weights from a per-sample, per-step score function, in numpy float64."""
    q, k = query.detach().double().numpy(), keys.detach().double().numpy()
    scores = np.array([[score_fn(q[b], k[b, j]) for j in range(k.shape[1])] for b in range(len(q))])  # (B, L)
    weights = np.stack([_softmax(row) for row in scores])
    context = np.einsum("bl,blh->bh", weights, k)
    return context, weights


@pytest.fixture
def query_keys() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(BATCH, QUERY_SIZE, dtype=torch.float64), torch.randn(BATCH, STEPS, KEY_SIZE, dtype=torch.float64)


def test_dot_attention_on_a_hand_computed_example() -> None:
    attention = MultiplicativeAttention(2, 2, score="dot")
    query = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    context, weights = attention(query, keys)
    # scores (1, 0): weights (e, 1) / (e + 1); context = weights @ keys = the same two numbers
    expected = torch.tensor([[math.e / (math.e + 1), 1 / (math.e + 1)]])
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, expected)


def test_additive_attention_matches_its_equation(query_keys) -> None:
    query, keys = query_keys
    attention = AdditiveAttention(QUERY_SIZE, KEY_SIZE, attention_size=6).double()
    w_q = attention.query_projection.weight.detach().numpy()
    w_k = attention.key_projection.weight.detach().numpy()
    v = attention.energy.weight.detach().numpy()[0]
    context, weights = attention(query, keys)
    expected_context, expected_weights = _reference(lambda q, k: v @ np.tanh(w_q @ q + w_k @ k), query, keys)
    np.testing.assert_allclose(weights.detach().numpy(), expected_weights, atol=1e-12)
    np.testing.assert_allclose(context.detach().numpy(), expected_context, atol=1e-12)


def test_luong_general_attention_matches_its_equation(query_keys) -> None:
    query, keys = query_keys
    attention = MultiplicativeAttention(QUERY_SIZE, KEY_SIZE, score="general").double()
    w = attention.key_projection.weight.detach().numpy()  # (H_q, H_k)
    context, weights = attention(query, keys)
    expected_context, expected_weights = _reference(lambda q, k: q @ w @ k, query, keys)
    np.testing.assert_allclose(weights.detach().numpy(), expected_weights, atol=1e-12)
    np.testing.assert_allclose(context.detach().numpy(), expected_context, atol=1e-12)


def test_luong_dot_attention_matches_its_equation() -> None:
    query = torch.randn(BATCH, KEY_SIZE, dtype=torch.float64)
    keys = torch.randn(BATCH, STEPS, KEY_SIZE, dtype=torch.float64)
    context, weights = MultiplicativeAttention(KEY_SIZE, KEY_SIZE, score="dot")(query, keys)
    expected_context, expected_weights = _reference(lambda q, k: q @ k, query, keys)
    np.testing.assert_allclose(weights.numpy(), expected_weights, atol=1e-12)
    np.testing.assert_allclose(context.numpy(), expected_context, atol=1e-12)


@pytest.mark.parametrize("kind", ["bahdanau", "luong-general"])
def test_weights_are_a_distribution_over_encoder_steps(kind: str, query_keys) -> None:
    query, keys = query_keys
    context, weights = make_attention(kind, QUERY_SIZE, KEY_SIZE).double()(query, keys)
    assert context.shape == (BATCH, KEY_SIZE) and weights.shape == (BATCH, STEPS)
    assert bool((weights >= 0).all())
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(BATCH, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["bahdanau", "luong-general"])
def test_mask_gives_masked_steps_zero_weight(kind: str, query_keys) -> None:
    query, keys = query_keys
    attention = make_attention(kind, QUERY_SIZE, KEY_SIZE).double()
    mask = torch.tensor([[True, False, True, True, False], [False, False, False, False, True]])
    context, weights = attention(query, keys, mask)
    assert bool((weights[~mask] == 0).all())
    # Masking equals attending over the kept steps only.
    for b in range(BATCH):
        kept_context, kept_weights = attention(query[b : b + 1], keys[b : b + 1, mask[b]])
        torch.testing.assert_close(weights[b, mask[b]], kept_weights[0])
        torch.testing.assert_close(context[b], kept_context[0])
    torch.testing.assert_close(weights[1], torch.tensor([0.0, 0, 0, 0, 1], dtype=torch.float64))


@pytest.mark.parametrize("kind", ["bahdanau", "luong-general"])
def test_many_queries_at_once_equal_one_at_a_time(kind: str) -> None:
    attention = make_attention(kind, QUERY_SIZE, KEY_SIZE)
    queries, keys = torch.randn(BATCH, 3, QUERY_SIZE), torch.randn(BATCH, STEPS, KEY_SIZE)
    context, weights = attention(queries, keys, projected_keys=attention.project_keys(keys))
    assert context.shape == (BATCH, 3, KEY_SIZE) and weights.shape == (BATCH, 3, STEPS)
    for m in range(3):
        one_context, one_weights = attention(queries[:, m], keys)
        torch.testing.assert_close(context[:, m], one_context)
        torch.testing.assert_close(weights[:, m], one_weights)


def test_gradients_reach_every_parameter(query_keys) -> None:
    query, keys = query_keys
    attention = AdditiveAttention(QUERY_SIZE, KEY_SIZE).double()
    context, _ = attention(query.requires_grad_(), keys)
    context.square().sum().backward()
    for name, parameter in attention.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name
    assert bool(query.grad.abs().sum() > 0)


def test_make_attention_names() -> None:
    assert make_attention("none", 3, 4) is None
    with pytest.raises(ConfigError, match="Did you mean 'bahdanau'"):
        make_attention("bahdanu", 3, 4)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="query_size=3 and key_size=4"):
        MultiplicativeAttention(3, 4, score="dot")
    with pytest.raises(ConfigError, match="'score' parameter"):
        MultiplicativeAttention(3, 4, score="concat")
    with pytest.raises(ConfigError, match="The 'key_size' parameter must be an int >= 1. Got 0 instead."):
        AdditiveAttention(3, 0)
    attention = AdditiveAttention(QUERY_SIZE, KEY_SIZE)
    keys = torch.randn(BATCH, STEPS, KEY_SIZE)
    with pytest.raises(DataError, match=r"query must have shape \(B, 3\)"):
        attention(torch.randn(BATCH, 5), keys)
    with pytest.raises(DataError, match=r"keys must have shape \(B, L, 4\)"):
        attention(torch.randn(BATCH, QUERY_SIZE), keys[..., :2])
    with pytest.raises(DataError, match="False at every encoder step"):
        attention(torch.randn(BATCH, QUERY_SIZE), keys, torch.zeros(BATCH, STEPS, dtype=torch.bool))
    with pytest.raises(DataError, match="bool tensor of shape"):
        attend(torch.randn(BATCH, 1, STEPS), keys, torch.ones(BATCH, STEPS))
