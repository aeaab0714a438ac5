"""Tests of tsseq.nn.recurrent: fused and custom paths, torch parity, dilation, state passing, causality."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsseq.errors import ConfigError, DataError
from tsseq.engine import detach_state
from tsseq.nn.recurrent import CELL_NAMES, RecurrentLayerStack, require_causal, run_cell

PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
TORCH_RNNS = {
    "lstm": lambda *args, **kwargs: nn.LSTM(*args, **kwargs),
    "gru": lambda *args, **kwargs: nn.GRU(*args, **kwargs),
    "rnn_tanh": lambda *args, **kwargs: nn.RNN(*args, nonlinearity="tanh", **kwargs),
    "rnn_relu": lambda *args, **kwargs: nn.RNN(*args, nonlinearity="relu", **kwargs),
}


def twin(stack: RecurrentLayerStack, **changes: object) -> RecurrentLayerStack:
    """A stack built like ``stack`` (with ``changes``) holding the same weights."""
    arguments = dict(
        cell=stack.cell, num_layers=stack.num_layers, dropout=stack.dropout.p, residual=stack.residual,
        bidirectional=stack.bidirectional, dilations=stack.dilations, fused=stack.fused,
    )  # fmt: skip
    other = RecurrentLayerStack(stack.input_size, stack.hidden_size, **{**arguments, **changes})
    other.load_state_dict(stack.state_dict())
    return other


def assert_states_close(got, want, atol: float = 1e-5) -> None:
    assert len(got) == len(want)
    for got_layer, want_layer in zip(got, want):
        assert len(got_layer) == len(want_layer)
        for got_tensor, want_tensor in zip(got_layer, want_layer):
            torch.testing.assert_close(got_tensor, want_tensor, atol=atol, rtol=0)


@pytest.mark.parametrize("cell", list(TORCH_RNNS))
@pytest.mark.parametrize(("bidirectional", "dilations"), [(False, None), (True, None), (False, (1, 3)), (True, (2, 3))])
def test_fused_and_custom_paths_agree(cell, bidirectional, dilations) -> None:
    fused = RecurrentLayerStack(3, 5, cell=cell, num_layers=2, bidirectional=bidirectional, dilations=dilations)
    custom = twin(fused, fused=False)
    assert fused.fused and not custom.fused
    x = torch.randn(4, 7, 3)
    results = []
    for stack in (fused, custom):
        outputs, state = stack(x)
        gradients = torch.autograd.grad((outputs**2).sum() + state[-1][0].sum(), list(stack.parameters()))
        results.append((outputs, state, gradients))
    (fused_outputs, fused_state, fused_gradients), (custom_outputs, custom_state, custom_gradients) = results
    torch.testing.assert_close(custom_outputs, fused_outputs, atol=1e-5, rtol=0)
    assert_states_close(custom_state, fused_state)
    for got, want in zip(custom_gradients, fused_gradients):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", list(TORCH_RNNS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_stack_equals_torch_rnn_with_copied_weights(cell, bidirectional, fused) -> None:
    reference = TORCH_RNNS[cell](3, 5, num_layers=2, bidirectional=bidirectional, batch_first=True)
    stack = RecurrentLayerStack(3, 5, cell=cell, num_layers=2, bidirectional=bidirectional, fused=fused)
    for layer in range(2):
        for direction in range(stack.num_directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            weights = {name: getattr(reference, name + suffix) for name in PARAMETER_NAMES}
            stack.cells[layer][direction].load_state_dict(weights)
    x = torch.randn(4, 6, 3)
    outputs, state = stack(x)
    want_outputs, want_state = reference(x)
    torch.testing.assert_close(outputs, want_outputs, atol=1e-5, rtol=0)
    want_h = want_state[0] if cell == "lstm" else want_state  # (N * D, B, H)
    torch.testing.assert_close(stack.final_hidden(state).flatten(0, 1), want_h, atol=1e-5, rtol=0)
    if cell == "lstm":
        final_c = torch.stack([layer_state[1][:, -1] for layer_state in state]).flatten(0, 1)
        torch.testing.assert_close(final_c, want_state[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mut2"])
@pytest.mark.parametrize("fused", [None, False])
@pytest.mark.parametrize("length", [10, 9, 2])  # not a multiple of d, a multiple, shorter than d
def test_dilated_layer_equals_the_cell_on_each_interleaved_subsequence(cell, fused, length) -> None:
    dilation = 3
    stack = RecurrentLayerStack(2, 4, cell=cell, dilations=(dilation,), fused=fused)
    x = torch.randn(3, length, 2)
    outputs, state = stack(x)
    chain_cell = stack.cells[0][0]
    final_states = {}
    for chain in range(min(dilation, length)):
        chain_outputs, chain_state = run_cell(chain_cell, x[:, chain::dilation])
        torch.testing.assert_close(outputs[:, chain::dilation], chain_outputs, atol=1e-6, rtol=0)
        final_states[length - 1 - (length - 1 - chain) % dilation] = chain_state  # time of the chain's last step
    for entry in range(dilation):  # entry s: the state after step L - d + s, in time order
        time = length - dilation + entry
        for index, tensor in enumerate(state[0]):
            want = final_states[time][index] if time >= 0 else torch.zeros(3, 4)
            torch.testing.assert_close(tensor[0, entry], want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("split", [1, 4, 5])
def test_carried_state_continues_the_sequence(cell, split) -> None:
    stack = RecurrentLayerStack(2, 4, cell=cell, num_layers=3, dilations=(1, 2, 3))
    x = torch.randn(3, 9, 2)
    outputs, state = stack(x)
    first, first_state = stack(x[:, :split])
    second, second_state = stack(x[:, split:], first_state)
    torch.testing.assert_close(torch.cat([first, second], 1), outputs, atol=1e-6, rtol=0)
    assert_states_close(second_state, state, atol=1e-6)
    fresh, _ = stack(x[:, split:])
    assert not torch.allclose(fresh, second, atol=1e-3)  # the carried state did matter


def test_carried_state_continues_the_sequence_on_the_custom_lstm_path() -> None:
    stack = RecurrentLayerStack(2, 4, cell="lstm", num_layers=2, dilations=(1, 2), fused=False)
    x = torch.randn(3, 7, 2)
    outputs, state = stack(x)
    first, first_state = stack(x[:, :3])
    second, second_state = stack(x[:, 3:], detach_state(first_state))
    torch.testing.assert_close(torch.cat([first, second], 1), outputs, atol=1e-6, rtol=0)
    assert_states_close(second_state, state, atol=1e-6)


@pytest.mark.parametrize(("input_size", "bidirectional"), [(4, False), (3, False), (4, True)])
def test_residual_adds_the_input_of_layers_of_equal_width(input_size, bidirectional) -> None:
    stack = RecurrentLayerStack(input_size, 4, cell="gru", num_layers=2, residual=True, bidirectional=bidirectional)
    x = torch.randn(2, 5, input_size)
    expected = x
    for layer, cells in enumerate(stack.cells):
        outputs = [run_cell(cells[0], expected)[0]]
        if bidirectional:
            outputs.append(run_cell(cells[1], expected.flip(1))[0].flip(1))
        layer_outputs = torch.cat(outputs, -1)  # (B, L, D·H)
        expected = layer_outputs + expected if layer_outputs.shape == expected.shape else layer_outputs
    torch.testing.assert_close(stack(x)[0], expected, atol=1e-6, rtol=0)
    plain = twin(stack, residual=False)
    assert not torch.allclose(plain(x)[0], expected, atol=1e-3)


def test_residual_path_skips_the_dropout_of_the_layer_input() -> None:
    stack = RecurrentLayerStack(3, 4, cell="gru", num_layers=2, residual=True, dropout=0.5, fused=False)
    x = torch.randn(2, 5, 3)
    torch.manual_seed(7)
    outputs, _ = stack(x)
    # The same mask: layer 1's input dropout is the only random draw, on a contiguous tensor
    # (fused=False) as run_cell's outputs, so that the mask's memory order matches too.
    torch.manual_seed(7)
    first = run_cell(stack.cells[0][0], x)[0]
    expected = run_cell(stack.cells[1][0], nn.functional.dropout(first, 0.5, training=True))[0] + first
    torch.testing.assert_close(outputs, expected, atol=1e-6, rtol=0)


def test_dropout_acts_between_layers_in_training_only() -> None:
    stack = RecurrentLayerStack(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(4, 6, 3)
    first, second = stack(x)[0], stack(x)[0]
    assert not torch.allclose(first, second)  # a new mask each call
    stack.eval()
    torch.testing.assert_close(stack(x)[0], twin(stack, dropout=0.0)(x)[0], atol=0, rtol=0)
    single = RecurrentLayerStack(3, 8, num_layers=1, dropout=0.5)  # no dropout on the input nor after the last layer
    training_outputs = single(x)[0]
    torch.testing.assert_close(single.eval()(x)[0], training_outputs, atol=0, rtol=0)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("fused", [None, False])
def test_gradients_reach_every_parameter(cell, fused) -> None:
    stack = RecurrentLayerStack(3, 4, cell=cell, num_layers=2, bidirectional=True, dilations=(1, 2), fused=fused)
    x = torch.randn(2, 5, 3, requires_grad=True)
    outputs, state = stack(x)
    ((outputs**2).mean() + stack.final_hidden(state).sum()).backward()
    for name, parameter in [*stack.named_parameters(), ("x", x)]:
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name


def test_state_structure_and_helpers() -> None:
    stack = RecurrentLayerStack(3, 4, cell="lstm", num_layers=2, bidirectional=True, dilations=(1, 3))
    outputs, state = stack(torch.randn(2, 7, 3))
    assert outputs.shape == (2, 7, 8) and stack.output_size == 8
    assert [[tuple(tensor.shape) for tensor in layer] for layer in state] == [[(2, 1, 2, 4)] * 2, [(2, 3, 2, 4)] * 2]
    forward_last = stack.final_hidden(state)[-1, 0]  # (B, H): last layer, forward direction, after the last step
    torch.testing.assert_close(forward_last, outputs[:, -1, :4], atol=0, rtol=0)
    assert all(not tensor.requires_grad for layer in detach_state(state) for tensor in layer)


def test_causal_property_and_require_causal() -> None:
    causal = RecurrentLayerStack(3, 4)
    assert causal.causal
    require_causal(nn.Sequential(causal, nn.Linear(4, 1)), "autoregressive decoding")
    message = r"bidirectional layers look into the future; they cannot be used for streaming\. RecurrentLayerStack"
    with pytest.raises(ConfigError, match=message):
        require_causal(nn.Sequential(RecurrentLayerStack(3, 4, bidirectional=True)), "streaming")
    with pytest.raises(ConfigError, match="cannot be used for autoregressive decoding. LSTM"):
        require_causal(nn.LSTM(3, 4, bidirectional=True), "autoregressive decoding")
    assert not RecurrentLayerStack(3, 4, bidirectional=True).causal


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"cell": "lstn"}, r"'cell' parameter must be one of .* Got 'lstn' instead\. Did you mean 'lstm'\?"),
        ({"num_layers": 0}, r"The 'num_layers' parameter must be an int >= 1\. Got 0 instead\."),
        ({"num_layers": 2, "dilations": (1,)}, r"'dilations' parameter must be a sequence of 2 ints >= 1"),
        ({"num_layers": 2, "dilations": (1, 0)}, r"The 'dilations\[1\]' parameter must be an int >= 1\. Got 0"),
        ({"dropout": 1.0}, r"The 'dropout' parameter must be a float in \[0, 1\)\. Got 1\.0 instead\."),
        ({"cell": "mut1", "fused": True}, r"cell 'mut1' has no fused torch kernel"),
    ],
)
def test_constructor_errors_name_the_parameter(arguments, message) -> None:
    with pytest.raises(ConfigError, match=message):
        RecurrentLayerStack(3, 4, **arguments)


def test_input_and_state_errors_give_the_expected_shapes() -> None:
    stack = RecurrentLayerStack(3, 4, num_layers=2)
    with pytest.raises(DataError, match=r"inputs of shape \(B, L, C\) .* C = input_size = 3\. Got shape \(2, 5, 2\)"):
        stack(torch.randn(2, 5, 2))
    _, state = stack(torch.randn(2, 5, 3))
    expected = r"state\[0\]\[0\] must have shape \(D, d, B, H\) = \(1, 1, 3, 4\)\. Got \(1, 1, 2, 4\)"
    with pytest.raises(DataError, match=expected):
        stack(torch.randn(3, 5, 3), state)
    with pytest.raises(DataError, match=r"one tuple of 2 tensor\(s\) per layer"):
        stack(torch.randn(2, 5, 3), state[:1])
