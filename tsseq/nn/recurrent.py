r"""Recurrent cells run over sequences, and the recurrent encoder every recurrent model shares.

:func:`run_cell` runs a cell of :mod:`tsseq.nn.cells` over ``(B, L, C)``: the input terms
of all ``L`` steps in one matrix product over ``B * L`` rows, then only the recurrent
product per step (``cell.scan``). :class:`RecurrentLayerStack` stacks layers of such
cells, or of torch's fused kernels (``nn.RNN``/``nn.LSTM``/``nn.GRU``'s, cuDNN on GPU),
with dropout, residual connections, bidirectional layers and dilations::

    u_0 = x,    u_l = Dropout(y_{l-1})                               l = 1 .. N-1
    h^l_t = Cell_l(u_{l,t}, h^l_{t-d_l})                             d_l = dilations[l]
    y_l = [h^l_fwd ; h^l_bwd] (+ y_{l-1}, or x for l = 0, if residual and the widths agree)

A dilated layer (Chang et al. 2017, "Dilated Recurrent Neural Networks") links step
``t`` to ``t - d``: it is ``d`` independent chains over the interleaved subsequences
``t = j, j + d, j + 2d, ...`` (``j < d``), run as one batch of ``B * d`` sequences. The
backward direction of a bidirectional layer is the forward recurrence run on the
time-reversed sequence, its outputs reversed back.

The state of a stack is a tuple with one entry per layer; a layer's entry is ``(h,)``, or
``(h, c)`` for the LSTM, each of shape ``(D, d_l, B, H)``: per direction (forward first),
the states of the last ``d_l`` steps in time order, so ``h[:, -1]`` is the state after the
last step, ``(D, B, H)``, as torch's ``h_n`` of that layer (for the backward direction the
order is that of the reversed sequence, so ``h[1, -1]`` is its state after step 0).
Passing the returned state back in continues the sequence: running ``x[:, :k]`` and then
``x[:, k:]`` with the carried state equals one run over ``x`` (stateful training and
truncated back-propagation through time; :func:`tsseq.engine.detach_state` cuts the graph between
chunks). Only causal (unidirectional) stacks continue a sequence that way;
:func:`require_causal` refuses the others where the future is not available.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.cells import ElmanCell, GRUCell, LSTMCell, MUT1Cell, MUT2Cell, MUT3Cell, RecurrentCell, State, like_dtype

LayerState = tuple[Tensor, ...]  # (h,) or (h, c), each (D, d, B, H)
StackState = tuple[LayerState, ...]  # one LayerState per layer
Scan = Callable[[Tensor, State], tuple[Tensor, State]]  # (N, T, C), (N, H) each -> (N, T, H), (N, H) each

CELL_NAMES = ("rnn_tanh", "rnn_relu", "lstm", "gru", "mut1", "mut2", "mut3")
_GATED_CELLS = {"gru": GRUCell, "mut1": MUT1Cell, "mut2": MUT2Cell, "mut3": MUT3Cell}
# torch's fused multi-step kernels (the ops behind nn.RNN, nn.LSTM and nn.GRU), same parameter layout.
FUSED_KERNELS = {"rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu, "lstm": torch.lstm, "gru": torch.gru}


def _check_cell_name(name: str) -> str:
    if name not in CELL_NAMES:
        raise ConfigError(
            f"The 'cell' parameter must be one of {list(CELL_NAMES)}. Got {name!r} instead."
            f"{closest_match(str(name), CELL_NAMES)}"
        )
    return name


def make_cell(name: str, input_size: int, hidden_size: int, *, forget_bias: float | None = 1.0) -> RecurrentCell:
    """The cell called ``name`` (one of ``CELL_NAMES``); ``forget_bias`` applies to the LSTM only."""
    if _check_cell_name(name) == "lstm":
        return LSTMCell(input_size, hidden_size, forget_bias)
    if name.startswith("rnn_"):
        return ElmanCell(input_size, hidden_size, nonlinearity=name.removeprefix("rnn_"))
    return _GATED_CELLS[name](input_size, hidden_size)


def run_cell(cell: RecurrentCell, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
    """Run ``cell`` over ``inputs`` ``(B, L, C)`` from ``state`` (zeros if None).

    Returns the outputs ``h_1 .. h_L`` ``(B, L, H)`` and the final state (``(B, H)`` tensors).
    """
    if state is None:
        state = cell.initial_state(inputs.shape[0], inputs)
    projected = cell.project_inputs(inputs)  # (B, L, G)
    return cell.scan(projected, like_dtype(state, projected))


def _fused_scan(
    kernel: Callable, cell: RecurrentCell, inputs: Tensor, state: State, training: bool
) -> tuple[Tensor, State]:
    """One direction of one layer through torch's fused kernel, with ``cell``'s parameters."""
    hx = tuple(tensor.unsqueeze(0) for tensor in state)  # (1, N, H) each
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    # Arguments: hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first.
    outputs, *final = kernel(inputs, hx if len(hx) == 2 else hx[0], params, True, 1, 0.0, training, False, True)
    return outputs, tuple(tensor.squeeze(0) for tensor in final)  # (N, T, H), (N, H) each


def _run_dilated(scan: Scan, inputs: Tensor, state: State, dilation: int) -> tuple[Tensor, State]:
    """Run ``scan`` with step ``t`` linked to ``t - dilation``; ``state`` tensors are ``(d, B, H)``.

    The first ``full * d`` steps fold into ``d`` chains of ``full`` steps,
    ``(B, full * d, C) -> (B * d, full, C)``, row ``b * d + j`` holding chain ``j`` (steps
    ``j, j + d, ...``) of sample ``b``. The ``rest < d`` steps left over are one more step
    of chains ``0 .. rest - 1``: run on their own rather than padded, so no padding ever
    passes through a state. The final states return in time order (chains ``rest .. d-1``
    ended one step before chains ``0 .. rest - 1``).
    """
    batch, length, _ = inputs.shape
    full, rest = divmod(length, dilation)
    chains = tuple(tensor.transpose(0, 1).reshape(batch * dilation, -1) for tensor in state)  # (B·d, H)
    outputs = []
    if full > 0:
        folded = inputs[:, : full * dilation].reshape(batch, full, dilation, -1).transpose(1, 2)  # (B, d, full, C)
        chain_outputs, chains = scan(folded.reshape(batch * dilation, full, -1), chains)  # (B·d, full, H)
        chain_outputs = chain_outputs.reshape(batch, dilation, full, -1).transpose(1, 2)  # (B, full, d, H)
        outputs.append(chain_outputs.reshape(batch, full * dilation, -1))  # (B, full·d, H)
    chains = tuple(tensor.reshape(batch, dilation, -1) for tensor in chains)  # (B, d, H)
    if rest > 0:
        tail = inputs[:, full * dilation :].reshape(batch * rest, 1, -1)  # (B·rest, 1, C)
        tail_state = tuple(tensor[:, :rest].reshape(batch * rest, -1) for tensor in chains)  # (B·rest, H)
        tail_outputs, tail_state = scan(tail, tail_state)  # (B·rest, 1, H)
        outputs.append(tail_outputs.reshape(batch, rest, -1))  # (B, rest, H)
        chains = tuple(
            torch.cat([tensor[:, rest:], last.reshape(batch, rest, -1)], 1) for tensor, last in zip(chains, tail_state)
        )  # (B, d, H) in time order
    result = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)  # (B, L, H)
    return result, tuple(tensor.transpose(0, 1) for tensor in chains)  # (d, B, H) each


class RecurrentLayerStack(nn.Module):
    r"""Stacked recurrent layers of one cell type: the encoder of tsseq's recurrent models.

    Equations, state structure and dilation: see the module docstring.

    Parameters
    ----------
    input_size, hidden_size : int
        ``C`` and ``H``.
    cell : str
        One of ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``, ``"mut1"``, ``"mut2"``, ``"mut3"``.
    num_layers : int
        ``N``.
    dropout : float
        Dropout probability on the inputs of layers ``1 .. N-1`` (between layers, as torch), in ``[0, 1)``.
    residual : bool
        Add each layer's input to its output where both have the same width.
    bidirectional : bool
        Layers read the sequence both ways (``D = 2``); such a stack is not ``causal``.
    dilations : sequence of int or None
        Dilation ``d_l >= 1`` of each layer (None: all 1), e.g. ``(1, 2, 4)``.
    fused : bool or None
        Run rnn/lstm/gru layers with torch's fused kernels (``True``), or with
        :func:`run_cell` (``False``); None (default) fuses whenever the cell has a kernel.
        The MUT cells have none. Both give the same results for the same parameters.
    forget_bias : float or None
        Initial forget-gate bias of LSTM cells (see :class:`~tsseq.nn.cells.LSTMCell`).

    Inputs: ``x`` ``(B, L, C)``, ``state`` (see the module docstring; zeros if None).
    Outputs: ``(B, L, D * H)`` (last layer's outputs), the final state.
    Parameters live in ``cells[l][direction]`` (torch's names and layout for rnn/lstm/gru).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
        residual: bool = False,
        bidirectional: bool = False,
        dilations: Sequence[int] | None = None,
        fused: bool | None = None,
        forget_bias: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = _check_cell_name(cell)
        self.dilations = _check_dilations(dilations, self.num_layers)
        self.fused = _check_fused(fused, cell)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"The 'dropout' parameter must be a float in [0, 1). Got {dropout!r} instead.")
        self.residual = bool(residual)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.output_size = self.num_directions * self.hidden_size
        self.dropout = nn.Dropout(dropout)
        layer_inputs = [self.input_size] + [self.output_size] * (self.num_layers - 1)
        self.cells = nn.ModuleList(
            nn.ModuleList(
                make_cell(cell, size, self.hidden_size, forget_bias=forget_bias) for _ in range(self.num_directions)
            )
            for size in layer_inputs
        )

    @property
    def causal(self) -> bool:
        """Whether output ``t`` depends on inputs ``<= t`` only (False when bidirectional)."""
        return not self.bidirectional

    def initial_state(self, batch_size: int, like: Tensor) -> StackState:
        """Zeros in the state structure, with the dtype and device of ``like``."""
        num_states = self.cells[0][0].num_states
        shapes = [(self.num_directions, dilation, batch_size, self.hidden_size) for dilation in self.dilations]
        return tuple(tuple(like.new_zeros(shape) for _ in range(num_states)) for shape in shapes)

    @staticmethod
    def final_hidden(state: StackState) -> Tensor:
        """Each layer's hidden state after the last step, ``(N, D, B, H)`` (``h`` only for the LSTM)."""
        return torch.stack([layer_state[0][:, -1] for layer_state in state])

    def forward(self, x: Tensor, state: StackState | None = None) -> tuple[Tensor, StackState]:
        self._check_inputs(x)
        if state is None:
            state = self.initial_state(x.shape[0], x)
        else:
            self._check_state(state, x.shape[0])
        layer_input, final_states = x, []
        for layer, layer_state in enumerate(state):
            inputs = self.dropout(layer_input) if layer > 0 else layer_input
            outputs, final = self._run_layer(layer, inputs, layer_state)  # (B, L, D·H)
            if self.residual and outputs.shape[-1] == layer_input.shape[-1]:
                outputs = outputs + layer_input
            final_states.append(final)
            layer_input = outputs
        return layer_input, tuple(final_states)

    def _run_layer(self, layer: int, inputs: Tensor, layer_state: LayerState) -> tuple[Tensor, LayerState]:
        outputs, finals = [], []
        for direction, cell in enumerate(self.cells[layer]):
            sequence = inputs.flip(1) if direction == 1 else inputs  # (B, L, C_l)
            direction_state = tuple(tensor[direction] for tensor in layer_state)  # (d, B, H) each
            scan = self._scan_function(cell)
            direction_outputs, final = _run_dilated(scan, sequence, direction_state, self.dilations[layer])
            outputs.append(direction_outputs.flip(1) if direction == 1 else direction_outputs)  # (B, L, H)
            finals.append(final)
        layer_outputs = outputs[0] if len(outputs) == 1 else torch.cat(outputs, -1)  # (B, L, D·H)
        return layer_outputs, tuple(torch.stack(parts) for parts in zip(*finals))  # (D, d, B, H) each

    def _scan_function(self, cell: RecurrentCell) -> Scan:
        if self.fused:
            kernel = FUSED_KERNELS[self.cell]
            return lambda inputs, state: _fused_scan(kernel, cell, inputs, state, self.training)
        return lambda inputs, state: run_cell(cell, inputs, state)

    def _check_inputs(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[1] < 1:
            raise DataError(
                f"{type(self).__name__} expects inputs of shape (B, L, C) with L >= 1 and C = input_size = "
                f"{self.input_size}. Got shape {tuple(x.shape)}."
            )

    def _check_state(self, state: StackState, batch_size: int) -> None:
        num_states = self.cells[0][0].num_states
        if len(state) != self.num_layers or any(len(layer_state) != num_states for layer_state in state):
            raise DataError(
                f"The state must hold one tuple of {num_states} tensor(s) per layer ({self.num_layers} layers). "
                f"Got {[len(layer_state) for layer_state in state]} tensor(s) per layer."
            )
        for layer, (layer_state, dilation) in enumerate(zip(state, self.dilations)):
            expected = (self.num_directions, dilation, batch_size, self.hidden_size)
            for index, tensor in enumerate(layer_state):
                if tuple(tensor.shape) != expected:
                    raise DataError(
                        f"state[{layer}][{index}] must have shape (D, d, B, H) = {expected}. Got {tuple(tensor.shape)}."
                    )


def _check_dilations(dilations: Sequence[int] | None, num_layers: int) -> tuple[int, ...]:
    if dilations is None:
        return (1,) * num_layers
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence) or len(dilations) != num_layers:
        raise ConfigError(
            f"The 'dilations' parameter must be a sequence of {num_layers} ints >= 1 (one per layer) or None. "
            f"Got {dilations!r} instead."
        )
    return tuple(check_positive_int(dilation, f"dilations[{layer}]") for layer, dilation in enumerate(dilations))


def _check_fused(fused: bool | None, cell: str) -> bool:
    if fused is None:
        return cell in FUSED_KERNELS
    if fused and cell not in FUSED_KERNELS:
        raise ConfigError(
            f"The 'fused' parameter is True but cell {cell!r} has no fused torch kernel "
            f"(only {list(FUSED_KERNELS)} have one). Use fused=None or False."
        )
    return bool(fused)


def require_causal(module: nn.Module, where: str) -> None:
    """Raise a ConfigError if ``module`` or a submodule reads the future (is bidirectional).

    A submodule counts as non-causal if its ``causal`` attribute is False, or if it is a
    torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` built with ``bidirectional=True``.
    """
    for name, submodule in module.named_modules():
        causal = getattr(submodule, "causal", None)
        if causal is None and isinstance(submodule, nn.RNNBase):
            causal = not submodule.bidirectional
        if causal is False:
            label = type(submodule).__name__ + (f" {name!r}" if name else "")
            raise ConfigError(
                f"bidirectional layers look into the future; they cannot be used for {where}. "
                f"{label} is bidirectional: build it with bidirectional=False."
            )
