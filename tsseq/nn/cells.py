"""Recurrent cells: one time step ``(x_t, state_{t-1}) -> state_t`` each.

A cell splits its step in two so that a sequence runs fast (:mod:`tsseq.nn.recurrent`):

* ``project_inputs(x)``: every term that depends on the input alone, for all time steps
  at once, ``(B, L, C) -> (B, L, G)`` (one matrix product over ``B * L`` rows);
* ``step(projected_t, state)``: the recurrent rest of one step, ``(B, G) -> state``;
* ``scan(projected, state)``: all steps of a sequence, ``(B, L, G) -> ((B, L, H), state)``.
  By default a Python loop over ``step`` differentiated by autograd; :class:`LSTMCell`
  replaces it by a kernel with a hand-derived backward pass (:class:`_LSTMScan`).

A state is a tuple of ``(B, H)`` tensors, ``(h,)``, or ``(h, c)`` for the LSTM; its first
entry is the cell's output ``h_t``. ``forward(x, state=None)`` is one step (zeros if no
state), returning the new state.

:class:`ElmanCell`, :class:`LSTMCell` and :class:`GRUCell` name and lay out their
parameters as torch does (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, gate
blocks in torch's order), so ``load_state_dict`` works both ways with ``nn.RNNCell``,
``nn.LSTMCell`` and ``nn.GRUCell``, and layer ``k`` of ``nn.RNN``/``nn.LSTM``/``nn.GRU``
maps onto a cell by dropping the ``_l{k}`` suffix. The MUT cells (Jozefowicz, Zaremba &
Sutskever 2015, "An Empirical Exploration of Recurrent Network Architectures") name each
matrix after the paper's symbol (``weight_xz`` is ``W_xz``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, closest_match

State = tuple[Tensor, ...]  # (h,) or (h, c), each (B, H)
NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def like_dtype(state: State, like: Tensor) -> State:
    """``state`` in the dtype of ``like``.

    Under CUDA autocast, torch's fused RNN kernels may hand back a state in another
    low-precision dtype than the autocast one (fp16 from cuDNN inside a bf16 region); the
    cells' elementwise updates need one dtype.
    """
    return tuple(tensor if tensor.dtype == like.dtype else tensor.to(like.dtype) for tensor in state)


class RecurrentCell(nn.Module):
    """Base of the cells: sizes, initialisation, the one-step ``forward`` and the default ``scan``.

    Subclasses define ``project_inputs`` and ``step``; ``num_states`` is 2 for the LSTM.
    """

    num_states = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")

    def reset_parameters(self) -> None:
        """Uniform in ``(-1/sqrt(H), 1/sqrt(H))``, as torch initialises its recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters(recurse=False):
            nn.init.uniform_(parameter, -bound, bound)

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """Zeros: ``num_states`` tensors ``(B, H)`` with the dtype and device of ``like``."""
        return tuple(like.new_zeros(batch_size, self.hidden_size) for _ in range(self.num_states))

    def forward(self, x: Tensor, state: State | None = None) -> State:
        """One step: ``x`` ``(B, C)`` and the state at ``t - 1`` -> the state at ``t``."""
        if state is None:
            state = self.initial_state(x.shape[0], x)
        projected = self.project_inputs(x)
        return self.step(projected, like_dtype(state, projected))

    def project_inputs(self, x: Tensor) -> Tensor:
        """The input terms of every gate, ``(..., C) -> (..., G)``."""
        raise NotImplementedError

    def step(self, projected: Tensor, state: State) -> State:
        """The recurrent part of one step: ``projected`` ``(B, G)``, state -> next state."""
        raise NotImplementedError

    def scan(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        """``step`` over ``projected`` ``(B, L, G)``: outputs ``(B, L, H)`` and the final state."""
        outputs = []
        for projected_t in projected.unbind(1):  # (B, G) each
            state = self.step(projected_t, state)
            outputs.append(state[0])
        return torch.stack(outputs, 1), state  # (B, L, H)


class _TorchLayoutCell(RecurrentCell):
    """Parameters as torch's RNN cells: ``gates`` blocks of ``H`` rows in each matrix and bias."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        rows = self.gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, self.hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))


class ElmanCell(_TorchLayoutCell):
    r"""Elman's recurrent cell, as ``nn.RNNCell``::

        h' = f(W_ih x + b_ih + W_hh h + b_hh),    f = tanh or relu

    Parameters: ``weight_ih`` (H, C), ``weight_hh`` (H, H), ``bias_ih`` (H), ``bias_hh`` (H).
    Inputs: ``x`` (B, C), state ``(h,)``, ``h`` (B, H). Output: ``(h',)``, ``h'`` (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ConfigError(
                f"The 'nonlinearity' parameter must be one of {sorted(NONLINEARITIES)}. "
                f"Got {nonlinearity!r} instead.{closest_match(str(nonlinearity), NONLINEARITIES)}"
            )
        super().__init__(input_size, hidden_size)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def project_inputs(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (..., H)

    def step(self, projected: Tensor, state: State) -> State:
        activation = NONLINEARITIES[self.nonlinearity]
        return (activation(torch.addmm(projected, state[0], self.weight_hh.t())),)


class LSTMCell(_TorchLayoutCell):
    r"""Long short-term memory with a forget gate (Gers, Schmidhuber & Cummins 2000), as ``nn.LSTMCell``::

        i  = sigm(W_ii x + b_ii + W_hi h + b_hi)
        f  = sigm(W_if x + b_if + W_hf h + b_hf)
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
        o  = sigm(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g
        h' = o * tanh(c')

    Parameters: ``weight_ih`` (4H, C) = ``[W_ii; W_if; W_ig; W_io]``, ``weight_hh`` (4H, H),
    ``bias_ih`` (4H), ``bias_hh`` (4H), gate blocks in the order ``i, f, g, o``.
    ``forget_bias``: a float sets the forget gate's initial bias ``b_if + b_hf`` to it
    (``b_hf = 0``), so that the cell keeps its memory early in training (Jozefowicz et
    al. 2015 recommend 1.0); None keeps torch's uniform initialisation.
    Inputs: ``x`` (B, C), state ``(h, c)``, each (B, H). Output: ``(h', c')``.
    """

    gates = 4
    num_states = 2

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float | None = 1.0) -> None:
        if forget_bias is not None and not (
            isinstance(forget_bias, (int, float)) and not isinstance(forget_bias, bool) and math.isfinite(forget_bias)
        ):
            raise ConfigError(
                f"The 'forget_bias' parameter must be a finite float or None. Got {forget_bias!r} instead."
            )
        super().__init__(input_size, hidden_size)
        self.forget_bias = forget_bias
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias is not None:
            forget = slice(self.hidden_size, 2 * self.hidden_size)
            with torch.no_grad():
                self.bias_ih[forget].fill_(self.forget_bias)
                self.bias_hh[forget].zero_()

    def project_inputs(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (..., 4H)

    def step(self, projected: Tensor, state: State) -> State:
        h, c = state
        gates = torch.addmm(projected, h, self.weight_hh.t())  # (B, 4H)
        i, f, g, o = gates.chunk(4, 1)  # (B, H) each
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_next), c_next

    def scan(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        outputs, h, c = _LSTMScan.apply(projected, state[0], state[1], self.weight_hh)
        return outputs, (h, c)


class _LSTMScan(torch.autograd.Function):
    r"""The LSTM over a whole sequence, with a hand-derived backward pass.

    Autograd through a Python loop records about ten nodes per step and computes a
    gradient of ``W_hh`` at every step. Here the forward pass works in place in
    preallocated buffers and records nothing; the backward pass keeps only the truly
    sequential work in its loop (the ``dh``/``dc`` recursion: a few element-wise
    products and one ``(B, 4H) x (4H, H)`` product per step) and computes the
    step-independent factors and ``dW_hh`` in single operations over all steps. With
    ``tc = tanh(c_t)`` and ``dh``, ``dc`` the gradients reaching ``h_t`` and ``c_t``::

        dc      += dh * o * (1 - tc^2)
        da       = (dc * g * i(1-i), dc * c_{t-1} * f(1-f), dc * i * (1-g^2), dh * tc * o(1-o))
        dh_{t-1} = da W_hh + (gradient of output t-1),    dc_{t-1} = dc * f
        dW_hh    = sum_t da_t^T h_{t-1},                   dprojected_t = da_t

    Inputs: ``projected`` (B, L, 4H) (``W_ih x_t + b_ih + b_hh``), ``h0``, ``c0`` (B, H),
    ``weight_hh`` (4H, H). Outputs: ``h_1 .. h_L`` (B, L, H), ``h_L`` and ``c_L`` (B, H).
    Differentiable once (no gradients of gradients; ``RecurrentCell.scan`` has them).
    """

    @staticmethod
    def forward(ctx, projected: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch, length, width = projected.shape
        hidden = width // 4
        # (L, B, 4H): pre-activations, activated in place; always a copy (contiguous() may return the input).
        gates = projected.transpose(0, 1).clone(memory_format=torch.contiguous_format)
        cells = projected.new_empty(length + 1, batch, hidden)  # c_0 .. c_L
        states = projected.new_empty(length + 1, batch, hidden)  # h_0 .. h_L
        tanh_cells = projected.new_empty(length, batch, hidden)  # tanh(c_1) .. tanh(c_L)
        cells[0] = c0
        states[0] = h0
        weight_hh_t = weight_hh.t()
        # Every view the loop needs is made here: indexing inside it would cost a dispatch each.
        i, f, g, o = (gate.unbind(0) for gate in gates.view(length, batch, 4, hidden).unbind(2))  # (B, H) each
        cell_views, state_views = cells.unbind(0), states.unbind(0)
        steps = zip(
            gates.unbind(0), gates[:, :, : 2 * hidden].unbind(0), i, f, g, o,
            cell_views[:-1], cell_views[1:], state_views[:-1], state_views[1:], tanh_cells.unbind(0),
        )  # fmt: skip
        for gates_t, i_f_t, i_t, f_t, g_t, o_t, c_prev, c_t, h_prev, h_t, tanh_c_t in steps:
            gates_t.addmm_(h_prev, weight_hh_t)  # (B, 4H)
            i_f_t.sigmoid_()
            g_t.tanh_()
            o_t.sigmoid_()
            torch.mul(f_t, c_prev, out=c_t)
            c_t.addcmul_(i_t, g_t)
            torch.tanh(c_t, out=tanh_c_t)
            torch.mul(o_t, tanh_c_t, out=h_t)
        ctx.save_for_backward(gates, cells, states, tanh_cells, weight_hh)
        return states[1:].transpose(0, 1), states[length], cells[length]  # (B, L, H), (B, H), (B, H)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs: Tensor, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor | None, ...]:
        gates, cells, states, tanh_cells, weight_hh = ctx.saved_tensors
        length, batch, width = gates.shape
        hidden = width // 4
        i, f, g, o = gates.view(length, batch, 4, hidden).unbind(2)  # (L, B, H) each
        output_factor = o * (1 - tanh_cells * tanh_cells)  # (L, B, H)
        gate_factors = torch.stack(
            [g * i * (1 - i), cells[:-1] * f * (1 - f), i * (1 - g * g), tanh_cells * o * (1 - o)], 2
        )  # (L, B, 4, H)
        # grad_from_output[t]: the gradient of output t - 1 (zeros for t = 0), added to dh_{t-1}.
        grad_from_output = torch.cat([grad_outputs.new_zeros(1, batch, hidden), grad_outputs.transpose(0, 1)[:-1]])
        grad_h = grad_h + grad_outputs[:, -1]
        grad_c = grad_c.clone()  # updated in place
        grad_pre = gates.new_empty(length, batch, 4, hidden)  # da_t
        steps = zip(
            output_factor.unbind(0), gate_factors.unbind(0), f.unbind(0),
            grad_pre.unbind(0), grad_pre.view(length, batch, width).unbind(0), grad_from_output.unbind(0),
        )  # fmt: skip
        for out_t, factors_t, f_t, grad_pre_t, grad_pre_flat_t, grad_output_t in reversed(list(steps)):
            grad_c.addcmul_(grad_h, out_t)
            # One contiguous product: broadcasting dc into a strided slice is several times slower.
            torch.mul(torch.stack([grad_c, grad_c, grad_c, grad_h], 1), factors_t, out=grad_pre_t)  # (B, 4, H)
            grad_h = torch.addmm(grad_output_t, grad_pre_flat_t, weight_hh)
            grad_c.mul_(f_t)
        grad_pre = grad_pre.view(length, batch, width)  # (L, B, 4H)
        grad_weight_hh = None
        if ctx.needs_input_grad[3]:
            # (4H, L·B) @ (L·B, H): every step's contribution in one product
            grad_weight_hh = grad_pre.reshape(length * batch, width).t() @ states[:-1].reshape(length * batch, hidden)
        return grad_pre.transpose(0, 1), grad_h, grad_c, grad_weight_hh  # (B, L, 4H), (B, H), (B, H), (4H, H)


class GRUCell(_TorchLayoutCell):
    r"""Gated recurrent unit (Cho et al. 2014), as ``nn.GRUCell`` (reset gate after ``W_hn``)::

        r  = sigm(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigm(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Parameters: ``weight_ih`` (3H, C) = ``[W_ir; W_iz; W_in]``, ``weight_hh`` (3H, H),
    ``bias_ih`` (3H), ``bias_hh`` (3H), gate blocks in the order ``r, z, n``.
    Inputs: ``x`` (B, C), state ``(h,)``, ``h`` (B, H). Output: ``(h',)``.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.reset_parameters()

    def project_inputs(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # (..., 3H)

    def step(self, projected: Tensor, state: State) -> State:
        h = state[0]
        recurrent = torch.addmm(self.bias_hh, h, self.weight_hh.t())  # (B, 3H)
        split = 2 * self.hidden_size
        r, z = torch.sigmoid(projected[:, :split] + recurrent[:, :split]).chunk(2, 1)  # (B, H) each
        n = torch.tanh(torch.addcmul(projected[:, split:], r, recurrent[:, split:]))
        return (torch.lerp(n, h, z),)


class _MUTCell(RecurrentCell):
    """What MUT1-3 share: the reset-gated candidate and the update by ``z``.

    ``project_inputs`` returns ``[input term of z | of r | of the candidate]`` (..., 3H),
    biases included; ``_gates`` adds the recurrent terms of ``z`` and ``r``. Where the
    paper adds the raw input ``x`` to a hidden-size quantity (MUT1, MUT2), which needs
    ``C == H``, an input of another size is first mapped by ``input_map``, a learned
    linear map ``W_in`` (H, C) without bias: ``x~ = x`` if ``C == H`` else ``W_in x``.
    """

    def __init__(self, input_size: int, hidden_size: int, adds_raw_input: bool) -> None:
        super().__init__(input_size, hidden_size)
        needs_map = adds_raw_input and self.input_size != self.hidden_size
        self.input_map = nn.Linear(self.input_size, self.hidden_size, bias=False) if needs_map else None
        self.weight_hr = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.bias_z = nn.Parameter(torch.empty(self.hidden_size))
        self.bias_r = nn.Parameter(torch.empty(self.hidden_size))
        self.bias_h = nn.Parameter(torch.empty(self.hidden_size))

    def _matched_input(self, x: Tensor) -> Tensor:
        return x if self.input_map is None else self.input_map(x)  # (..., H)

    def _gates(self, projected_z: Tensor, projected_r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def step(self, projected: Tensor, state: State) -> State:
        h = state[0]
        projected_z, projected_r, projected_h = projected.chunk(3, 1)  # (B, H) each
        z, r = self._gates(projected_z, projected_r, h)
        candidate = torch.tanh(torch.addmm(projected_h, r * h, self.weight_hh.t()))
        return (torch.lerp(h, candidate, z),)  # candidate * z + h * (1 - z)


class MUT1Cell(_MUTCell):
    r"""MUT1 of Jozefowicz, Zaremba & Sutskever (2015)::

        z  = sigm(W_xz x + b_z)
        r  = sigm(W_xr x + W_hr h + b_r)
        h' = tanh(W_hh (r * h) + tanh(x~) + b_h) * z + h * (1 - z)

    ``x~`` is ``x``, or ``input_map(x)`` when ``C != H`` (see :class:`_MUTCell`).
    Parameters: ``weight_xz``, ``weight_xr`` (H, C); ``weight_hr``, ``weight_hh`` (H, H);
    ``bias_z``, ``bias_r``, ``bias_h`` (H). Inputs: ``x`` (B, C), state ``(h,)``. Output: ``(h',)``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, adds_raw_input=True)
        self.weight_xz = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_xr = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.reset_parameters()

    def project_inputs(self, x: Tensor) -> Tensor:
        weight = torch.cat([self.weight_xz, self.weight_xr])  # (2H, C)
        z_r = F.linear(x, weight, torch.cat([self.bias_z, self.bias_r]))  # (..., 2H)
        return torch.cat([z_r, torch.tanh(self._matched_input(x)) + self.bias_h], -1)  # (..., 3H)

    def _gates(self, projected_z: Tensor, projected_r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(projected_z), torch.sigmoid(torch.addmm(projected_r, h, self.weight_hr.t()))


class MUT2Cell(_MUTCell):
    r"""MUT2 of Jozefowicz, Zaremba & Sutskever (2015)::

        z  = sigm(W_xz x + W_hz h + b_z)
        r  = sigm(x~ + W_hr h + b_r)
        h' = tanh(W_hh (r * h) + W_xh x + b_h) * z + h * (1 - z)

    ``x~`` is ``x``, or ``input_map(x)`` when ``C != H`` (see :class:`_MUTCell`).
    Parameters: ``weight_xz``, ``weight_xh`` (H, C); ``weight_hz``, ``weight_hr``,
    ``weight_hh`` (H, H); ``bias_z``, ``bias_r``, ``bias_h`` (H).
    Inputs: ``x`` (B, C), state ``(h,)``. Output: ``(h',)``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, adds_raw_input=True)
        self.weight_xz = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_xh = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_hz = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.reset_parameters()

    def project_inputs(self, x: Tensor) -> Tensor:
        z, h = F.linear(x, torch.cat([self.weight_xz, self.weight_xh])).chunk(2, -1)  # (..., H) each
        return torch.cat([z + self.bias_z, self._matched_input(x) + self.bias_r, h + self.bias_h], -1)  # (..., 3H)

    def _gates(self, projected_z: Tensor, projected_r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.sigmoid(torch.addmm(projected_z, h, self.weight_hz.t()))
        return z, torch.sigmoid(torch.addmm(projected_r, h, self.weight_hr.t()))


class MUT3Cell(_MUTCell):
    r"""MUT3 of Jozefowicz, Zaremba & Sutskever (2015)::

        z  = sigm(W_xz x + W_hz tanh(h) + b_z)
        r  = sigm(W_xr x + W_hr h + b_r)
        h' = tanh(W_hh (r * h) + W_xh x + b_h) * z + h * (1 - z)

    Parameters: ``weight_xz``, ``weight_xr``, ``weight_xh`` (H, C); ``weight_hz``,
    ``weight_hr``, ``weight_hh`` (H, H); ``bias_z``, ``bias_r``, ``bias_h`` (H).
    Inputs: ``x`` (B, C), state ``(h,)``. Output: ``(h',)``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, adds_raw_input=False)
        self.weight_xz = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_xr = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_xh = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_hz = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.reset_parameters()

    def project_inputs(self, x: Tensor) -> Tensor:
        weight = torch.cat([self.weight_xz, self.weight_xr, self.weight_xh])  # (3H, C)
        return F.linear(x, weight, torch.cat([self.bias_z, self.bias_r, self.bias_h]))  # (..., 3H)

    def _gates(self, projected_z: Tensor, projected_r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.sigmoid(torch.addmm(projected_z, torch.tanh(h), self.weight_hz.t()))
        return z, torch.sigmoid(torch.addmm(projected_r, h, self.weight_hr.t()))
