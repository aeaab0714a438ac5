"""Tests of tsseq.nn.cells: each step against its equations, parity with torch's cells, the LSTM kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tsseq.errors import ConfigError
from tsseq.nn.cells import ElmanCell, GRUCell, LSTMCell, MUT1Cell, MUT2Cell, MUT3Cell, RecurrentCell, _LSTMScan


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def weights(cell: nn.Module) -> dict[str, np.ndarray]:
    return {name: parameter.detach().numpy() for name, parameter in cell.named_parameters()}


def one_step(cell: RecurrentCell, x: np.ndarray, *state: np.ndarray) -> list[np.ndarray]:
    result = cell(torch.from_numpy(x), tuple(torch.from_numpy(tensor) for tensor in state))
    return [tensor.detach().numpy() for tensor in result]


@pytest.fixture
def x_h_c() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))  # x (B, C), h, c (B, H)


def test_elman_step_on_a_hand_computed_example() -> None:
    cell = ElmanCell(2, 1).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[0.5, -1.0]]))
        cell.weight_hh.fill_(2.0)
        cell.bias_ih.fill_(0.25)
        cell.bias_hh.fill_(-0.5)
    # 0.5 * 2 - 1 * 1 + 0.25 + 2 * 0.5 - 0.5 = 0.75
    (h_next,) = one_step(cell, np.array([[2.0, 1.0]]), np.array([[0.5]]))
    assert h_next[0, 0] == pytest.approx(np.tanh(0.75), abs=1e-15)


@pytest.mark.parametrize(("nonlinearity", "activation"), [("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0.0))])
def test_elman_step_matches_its_equation(nonlinearity, activation, x_h_c) -> None:
    x, h, _ = x_h_c
    cell = ElmanCell(3, 4, nonlinearity).double()
    w = weights(cell)
    expected = activation(x @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"])
    (h_next,) = one_step(cell, x, h)
    np.testing.assert_allclose(h_next, expected, atol=1e-12)


def test_lstm_step_matches_its_equations(x_h_c) -> None:
    x, h, c = x_h_c
    cell = LSTMCell(3, 4).double()
    w = weights(cell)
    pre = x @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"]
    i, f, g, o = sigmoid(pre[:, :4]), sigmoid(pre[:, 4:8]), np.tanh(pre[:, 8:12]), sigmoid(pre[:, 12:])
    c_expected = f * c + i * g
    h_next, c_next = one_step(cell, x, h, c)
    np.testing.assert_allclose(c_next, c_expected, atol=1e-12)
    np.testing.assert_allclose(h_next, o * np.tanh(c_expected), atol=1e-12)


def test_gru_step_matches_its_equations(x_h_c) -> None:
    x, h, _ = x_h_c
    cell = GRUCell(3, 4).double()
    w = weights(cell)
    from_x = x @ w["weight_ih"].T + w["bias_ih"]
    from_h = h @ w["weight_hh"].T + w["bias_hh"]
    r = sigmoid(from_x[:, :4] + from_h[:, :4])
    z = sigmoid(from_x[:, 4:8] + from_h[:, 4:8])
    n = np.tanh(from_x[:, 8:] + r * from_h[:, 8:])
    (h_next,) = one_step(cell, x, h)
    np.testing.assert_allclose(h_next, (1 - z) * n + z * h, atol=1e-12)


def matched(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The paper's x where C == H, else the documented linear map of x."""
    return x @ w["input_map.weight"].T if "input_map.weight" in w else x


def mut1(w: dict[str, np.ndarray], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    z = sigmoid(x @ w["weight_xz"].T + w["bias_z"])
    r = sigmoid(x @ w["weight_xr"].T + h @ w["weight_hr"].T + w["bias_r"])
    return np.tanh((r * h) @ w["weight_hh"].T + np.tanh(matched(w, x)) + w["bias_h"]) * z + h * (1 - z)


def mut2(w: dict[str, np.ndarray], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    z = sigmoid(x @ w["weight_xz"].T + h @ w["weight_hz"].T + w["bias_z"])
    r = sigmoid(matched(w, x) + h @ w["weight_hr"].T + w["bias_r"])
    return np.tanh((r * h) @ w["weight_hh"].T + x @ w["weight_xh"].T + w["bias_h"]) * z + h * (1 - z)


def mut3(w: dict[str, np.ndarray], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    z = sigmoid(x @ w["weight_xz"].T + np.tanh(h) @ w["weight_hz"].T + w["bias_z"])
    r = sigmoid(x @ w["weight_xr"].T + h @ w["weight_hr"].T + w["bias_r"])
    return np.tanh((r * h) @ w["weight_hh"].T + x @ w["weight_xh"].T + w["bias_h"]) * z + h * (1 - z)


@pytest.mark.parametrize(("cell_class", "equations"), [(MUT1Cell, mut1), (MUT2Cell, mut2), (MUT3Cell, mut3)])
@pytest.mark.parametrize("input_size", [4, 3])  # C == H as in the paper, and C != H
def test_mut_steps_match_the_papers_equations(cell_class, equations, input_size) -> None:
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=(2, input_size)), rng.normal(size=(2, 4))
    cell = cell_class(input_size, 4).double()
    w = weights(cell)
    uses_map = cell_class is not MUT3Cell and input_size != 4
    assert ("input_map.weight" in w) == uses_map
    (h_next,) = one_step(cell, x, h)
    np.testing.assert_allclose(h_next, equations(w, x, h), atol=1e-12)


TORCH_PAIRS = [
    (lambda: ElmanCell(3, 5, "tanh"), lambda: nn.RNNCell(3, 5, nonlinearity="tanh")),
    (lambda: ElmanCell(3, 5, "relu"), lambda: nn.RNNCell(3, 5, nonlinearity="relu")),
    (lambda: LSTMCell(3, 5), lambda: nn.LSTMCell(3, 5)),
    (lambda: GRUCell(3, 5), lambda: nn.GRUCell(3, 5)),
]


@pytest.mark.parametrize(("make_ours", "make_torch"), TORCH_PAIRS)
def test_weights_copy_both_ways_with_torch_cells(make_ours, make_torch) -> None:
    x, h, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    ours, theirs = make_ours(), make_torch()
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    lstm = isinstance(ours, LSTMCell)
    expected = theirs(x, (h, c)) if lstm else (theirs(x, h),)
    for got, want in zip(ours(x, (h, c) if lstm else (h,)), expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    other = make_ours()
    theirs.load_state_dict(other.state_dict())  # ours -> torch
    expected = theirs(x, (h, c)) if lstm else (theirs(x, h),)
    for got, want in zip(other(x, (h, c) if lstm else (h,)), expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_forget_bias_sets_the_forget_gates_initial_bias() -> None:
    cell = LSTMCell(3, 5, forget_bias=1.0)
    forget = slice(5, 10)
    assert torch.equal(cell.bias_ih[forget], torch.ones(5)) and torch.equal(cell.bias_hh[forget], torch.zeros(5))
    others = torch.cat([cell.bias_ih[:5], cell.bias_ih[10:]])
    assert others.abs().max() <= 1 / np.sqrt(5) and others.abs().max() > 0
    assert torch.equal(LSTMCell(3, 5, forget_bias=2.5).bias_ih[forget], torch.full((5,), 2.5))
    untouched = LSTMCell(3, 5, forget_bias=None)
    assert untouched.bias_hh[forget].abs().max() > 0 and untouched.bias_ih[forget].abs().max() <= 1 / np.sqrt(5)


def test_one_step_starts_from_zeros_without_a_state() -> None:
    cell, x = LSTMCell(3, 4), torch.randn(2, 3)
    for got, want in zip(cell(x), cell(x, (torch.zeros(2, 4), torch.zeros(2, 4)))):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_lstm_kernel_gradients_pass_gradcheck() -> None:
    cell = LSTMCell(2, 3).double()
    projected = torch.randn(2, 5, 12, dtype=torch.float64, requires_grad=True)  # (B, L, 4H)
    h0, c0 = (torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(_LSTMScan.apply, (projected, h0, c0, cell.weight_hh))


@pytest.mark.parametrize("loss_on", ["outputs", "final state"])
@pytest.mark.parametrize(("batch", "length"), [(2, 6), (2, 1), (1, 4)])
def test_lstm_kernel_equals_the_autograd_loop(loss_on, batch, length) -> None:
    cell = LSTMCell(3, 4)
    x = torch.randn(batch, length, 3)
    state = (torch.randn(batch, 4, requires_grad=True), torch.randn(batch, 4, requires_grad=True))
    results = []
    for scan in (cell.scan, lambda projected, s: RecurrentCell.scan(cell, projected, s)):
        cell.zero_grad()
        projected = cell.project_inputs(x)
        projected_before = projected.detach().clone()
        outputs, (h, c) = scan(projected, state)
        torch.testing.assert_close(projected, projected_before, atol=0, rtol=0)  # the kernel works on a copy
        loss = (outputs**2).sum() if loss_on == "outputs" else (h * c).sum() + h.sum()
        gradients = torch.autograd.grad(loss, [*cell.parameters(), *state])
        results.append([outputs, h, c, *gradients])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_constructor_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"The 'hidden_size' parameter must be an int >= 1\. Got 0 instead\."):
        GRUCell(3, 0)
    with pytest.raises(ConfigError, match=r"'nonlinearity'.*Got 'tahn' instead\. Did you mean 'tanh'\?"):
        ElmanCell(3, 4, "tahn")
    with pytest.raises(ConfigError, match=r"'forget_bias' parameter must be a finite float or None"):
        LSTMCell(3, 4, forget_bias=float("nan"))


@pytest.mark.parametrize("cell_class", [ElmanCell, GRUCell, LSTMCell, MUT1Cell])
def test_a_state_of_another_dtype_is_taken_in_the_inputs_dtype(cell_class) -> None:
    # Under CUDA autocast, cuDNN's fused kernels hand back fp16 states inside a bf16 region.
    cell = cell_class(3, 4)
    x = torch.randn(2, 3)
    state = tuple(torch.randn(2, 4).to(torch.bfloat16) for _ in range(cell.num_states))
    expected = cell(x, tuple(tensor.float() for tensor in state))
    result = cell(x, state)
    assert all(tensor.dtype == torch.float32 for tensor in result)
    for got, want in zip(result, expected):
        torch.testing.assert_close(got, want)
