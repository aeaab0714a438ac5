"""Encoder-decoder (sequence-to-sequence) recurrent forecaster with optional attention.

An encoder RNN reads the input window; a decoder RNN, started from the encoder's final
state, produces the horizon one step at a time, each step fed the previous value of the
forecast channels (Sutskever, Vinyals & Le 2014), optionally attending over the encoder
outputs (Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015).

Shapes: B batch, L input steps, C input channels, H horizon, H_h hidden size,
D = 2 if the encoder is bidirectional else 1, C_out forecast channels, F covariates.

Equations, for a window ``x_1 .. x_L`` (``x_t`` in R^C) and ``t = 1 .. H``; ``s^l`` is
the decoder state of layer ``l`` (``h`` and ``c`` for an LSTM), ``s^top`` its last layer::

    o_1 .. o_L, h_L^l = Encoder(x_1 .. x_L)      outputs o_j in R^{D H_h}, final state h_L^l per layer
    s_0^l = h_L^l                                 if D = 1
    s_0^l = tanh(W_b [h_L^l(fwd); h_L^l(bwd)] + b_b)    if D = 2 (LSTM cell state: W_c [..] + b_c, no tanh)
    u_1   = x_L[target_channels]                  the last observed value of the forecast channels
    u_t   = y_{t-1}     with probability r        teacher forcing, per sample and step
          = yhat_{t-1}  otherwise                 the model's own previous forecast
    none:      s_t = Decoder([u_t; z_t], s_{t-1})                 yhat_t = W_o s_t^top + b_o
    bahdanau:  c_t = Attention(s_{t-1}^top, o)
               s_t = Decoder([u_t; z_t; c_t], s_{t-1})            yhat_t = W_o [s_t^top; c_t] + b_o
    luong-*:   s_t = Decoder([u_t; z_t], s_{t-1})
               c_t = Attention(s_t^top, o)                        yhat_t = W_o tanh(W_a [c_t; s_t^top]) + b_o

``z_t`` are the known future covariates of step ``t`` (calendar features, planned
inputs), ``r`` the ``teacher_forcing_ratio`` and ``Attention`` one of
:mod:`tsseq.nn.attention`. Bahdanau's deep maxout output layer is simplified to a linear
map of ``[s_t; c_t]``; Luong's attentional hidden state ``W_a [c_t; s_t]`` is used without
input feeding, so that a fully teacher-forced decoder (``r = 1``) needs no step loop: it
runs as one call of the fused ``nn.LSTM``/``nn.GRU`` kernel over all ``H`` steps, and
attends for all steps at once. Otherwise the decoder runs step by step (the same module
on one step), feeding back forecasts with their gradient.

The encoder may be bidirectional: it reads a fully observed window. The decoder is a
unidirectional RNN advanced one step at a time, so ``yhat_t`` depends on the window and on
``u_1 .. u_t`` only (causal by construction).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tsseq.base import check_positive_int
from tsseq.engine.distributions import OutputDistribution, PointOutput
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.attention import make_attention
from tsseq.nn.exogenous import ExogenousInputs

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # GRU: h; LSTM: (h, c); each (layers * D, B, H_h)


class Seq2Seq(nn.Module):
    """Recurrent encoder-decoder forecaster; see the module docstring for the equations and shapes.

    Parameters
    ----------
    input_size : int
        ``C``, channels of the input window.
    horizon : int
        ``H``, steps to forecast.
    hidden_size : int
        ``H_h``, hidden size of the encoder (per direction) and of the decoder.
    num_layers : int
        Layers of the encoder and of the decoder.
    cell : {"lstm", "gru"}
        The recurrent cell of both (torch's fused ``nn.LSTM`` / ``nn.GRU``).
    attention : {"none", "bahdanau", "luong-dot", "luong-general"}
        Attention of the decoder over the encoder outputs.
    bidirectional : bool
        Whether the *encoder* is bidirectional (``D = 2``); its final states are bridged
        to the decoder's size. The decoder is always unidirectional.
    dropout : float
        Dropout between stacked layers of the encoder and of the decoder, in ``[0, 1)``.
    target_channels : sequence of int, optional
        Indices of the input channels that are forecast; default all ``C``. Their last
        observed values start the decoder. ``C_out = len(target_channels)``.
    covariate_size : int
        ``F``, known future covariates per decoder step (0: none).
    output : OutputDistribution, optional
        What the head predicts per step and channel (:mod:`tsseq.engine.distributions`);
        default the point output. The decoder feeds back its point forecast, or a draw
        when sampling (ancestral sampling; the module then returns the drawn path).

    Inputs
    ------
    inputs : ``(B, L, C)`` input windows.
    targets : ``(B, H, C_out)`` true future values (teacher forcing), optional.
    teacher_forcing_ratio : float in ``[0, 1]``; > 0 needs ``targets``.
    covariates : ``(B, H, F)`` known future covariates; required iff ``covariate_size > 0``.
    generator : torch.Generator for the teacher-forcing draws (determinism).
    return_attention : also return the attention weights.

    Outputs
    -------
    predictions : ``(B, H, C_out)``, or the output's parameters ``(B, H, C_out, P)``.
    weights : ``(B, H, L)`` attention weights, with ``return_attention=True``; also kept,
        detached, in :attr:`last_attention` after every forward (None without attention).
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        attention: str = "none",
        bidirectional: bool = False,
        dropout: float = 0.0,
        target_channels: Sequence[int] | None = None,
        covariate_size: int = 0,
        output: OutputDistribution | None = None,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        self.input_size = check_positive_int(input_size, "input_size")
        self.horizon = check_positive_int(horizon, "horizon")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.covariate_size = check_positive_int(covariate_size, "covariate_size", minimum=0)
        if cell not in CELLS:
            raise ConfigError(
                f"The 'cell' parameter must be one of {', '.join(CELLS)}. Got {cell!r} instead."
                f"{closest_match(str(cell), CELLS)}"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"The 'dropout' parameter must be a float in [0, 1). Got {dropout!r} instead.")
        if not isinstance(bidirectional, bool):
            raise ConfigError(f"The 'bidirectional' parameter must be a bool. Got {bidirectional!r} instead.")
        if attention == "luong-dot" and bidirectional:
            raise ConfigError(
                "attention='luong-dot' scores q^T k, so it needs the decoder state as wide as the encoder "
                f"outputs; a bidirectional encoder outputs 2 * hidden_size = {2 * hidden_size} values per step "
                f"against the decoder's {hidden_size}. Use 'luong-general' or 'bahdanau', or bidirectional=False."
            )
        self.target_channels = _check_target_channels(target_channels, input_size)
        self.output_size = len(self.target_channels)
        self.cell = cell
        self.bidirectional = bidirectional
        self.attention_kind = attention
        directions = 2 if bidirectional else 1
        key_size = directions * hidden_size
        rnn = CELLS[cell]
        self.encoder = rnn(
            input_size, hidden_size, num_layers, batch_first=True, dropout=dropout, bidirectional=bidirectional
        )
        # The bridge exists only when the encoder's final states are wider than the decoder's.
        self.bridge_hidden = nn.Linear(key_size, hidden_size) if bidirectional else None
        self.bridge_cell = nn.Linear(key_size, hidden_size) if bidirectional and cell == "lstm" else None
        self.attention = make_attention(attention, hidden_size, key_size)
        context_in = key_size if attention == "bahdanau" else 0
        decoder_input_size = self.output_size + self.covariate_size + context_in
        self.decoder = rnn(decoder_input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)
        # Luong's attentional hidden state tanh(W_a [c_t; s_t]), no bias as in the paper.
        luong = attention.startswith("luong")
        self.combine = nn.Linear(key_size + hidden_size, hidden_size, bias=False) if luong else None
        self.head = nn.Linear(hidden_size + context_in, self.output_size * self.distribution.n_params)
        self.last_attention: torch.Tensor | None = None

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
        *,
        covariates: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        self._check_call(inputs, targets, teacher_forcing_ratio, covariates, return_attention)
        keys, encoder_state = self.encoder(inputs)  # (B, L, D * H_h)
        state = self._bridge(encoder_state)  # (layers, B, H_h) each
        projected_keys = None if self.attention is None else self.attention.project_keys(keys)  # (B, L, A)
        first = inputs[:, -1, self.target_channels]  # (B, C_out)
        if targets is not None and teacher_forcing_ratio == 1 and self.attention_kind != "bahdanau":
            raw, weights = self._decode_teacher_forced(first, targets, covariates, state, keys, projected_keys)
            predictions = self.distribution.finish(raw)
        else:
            teacher = None
            if targets is not None and teacher_forcing_ratio > 0:
                teacher = self.teacher_mask(inputs.shape[0], teacher_forcing_ratio, generator, inputs.device)
            raw, path, weights = self._decode_stepwise(
                first, targets, teacher, covariates, state, keys, projected_keys
            )
            predictions = self.distribution.finish_path(path, raw)  # (B, H, C_out) or (B, H, C_out, P)
        self.last_attention = None if weights is None else weights.detach()
        return (predictions, weights) if return_attention else predictions

    def teacher_mask(
        self, batch_size: int, ratio: float, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """``(B, H - 1)`` bool: True where step ``t + 1`` is fed the true value of step ``t``.

        Drawn as ``torch.rand((B, H - 1), generator=generator) < ratio`` on the generator's
        device (no draw when ``ratio == 1``), so a seeded generator fixes the schedule.
        """
        shape = (batch_size, self.horizon - 1)
        if ratio == 1:
            return torch.ones(shape, dtype=torch.bool, device=device)
        draw_device = device if generator is None else generator.device
        return (torch.rand(shape, generator=generator, device=draw_device) < ratio).to(device)

    def _decode_teacher_forced(
        self,
        first: torch.Tensor,
        targets: torch.Tensor,
        covariates: torch.Tensor | None,
        state: State,
        keys: torch.Tensor,
        projected_keys: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """All ``H`` steps in one decoder call: every step's input is known in advance."""
        fed = torch.cat([first.unsqueeze(1), targets[:, :-1]], dim=1)  # (B, H, C_out)
        decoder_inputs = fed if covariates is None else torch.cat([fed, covariates], dim=-1)  # (B, H, C_out + F)
        outputs, _ = self.decoder(decoder_inputs, state)  # (B, H, H_h)
        return self._readout(outputs, keys, projected_keys)

    def _decode_stepwise(
        self,
        first: torch.Tensor,
        targets: torch.Tensor | None,
        teacher: torch.Tensor | None,
        covariates: torch.Tensor | None,
        state: State,
        keys: torch.Tensor,
        projected_keys: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step at a time, each fed the true or the forecast previous value.

        Returns the head's outputs ``(B, H, C_out, P)``, the forecast values fed back (or
        that would be next) ``(B, H, C_out)`` and the attention weights.
        """
        fed = first  # (B, C_out)
        predictions, values, weights = [], [], []
        for step in range(self.horizon):
            if step > 0:
                fed = values[-1]  # (B, C_out)
                if teacher is not None:
                    fed = torch.where(teacher[:, step - 1 : step], targets[:, step - 1], fed)  # (B, C_out)
            parts = [fed.unsqueeze(1)]  # (B, 1, C_out)
            if covariates is not None:
                parts.append(covariates[:, step : step + 1])  # (B, 1, F)
            context = step_weights = None
            if self.attention_kind == "bahdanau":
                query = _hidden(state)[-1].unsqueeze(1)  # (B, 1, H_h): s_{t-1}, top layer
                context, step_weights = self.attention(query, keys, projected_keys=projected_keys)  # (B, 1, D*H_h)
                parts.append(context)
            output, state = self.decoder(torch.cat(parts, dim=-1), state)  # (B, 1, H_h)
            prediction, luong_weights = self._readout(output, keys, projected_keys, context)  # (B, 1, C_out, P)
            predictions.append(prediction)
            values.append(self.distribution.feedback(prediction[:, 0]))  # (B, C_out)
            weights.append(step_weights if step_weights is not None else luong_weights)  # (B, 1, L) or None
        attention = None if self.attention is None else torch.cat(weights, dim=1)  # (B, H, L)
        return torch.cat(predictions, dim=1), torch.stack(values, dim=1), attention

    def _readout(
        self,
        outputs: torch.Tensor,
        keys: torch.Tensor,
        projected_keys: torch.Tensor | None,
        context: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder outputs ``(B, M, H_h)`` -> the head's ``(B, M, C_out, P)`` and Luong weights ``(B, M, L)``."""
        weights = None
        if self.combine is not None:  # Luong: attend with the new state
            context, weights = self.attention(outputs, keys, projected_keys=projected_keys)  # (B, M, D*H_h), (B, M, L)
            outputs = torch.tanh(self.combine(torch.cat([context, outputs], dim=-1)))  # (B, M, H_h)
        elif context is not None:  # Bahdanau: the context the step was fed
            outputs = torch.cat([outputs, context], dim=-1)  # (B, M, H_h + D*H_h)
        return self.head(outputs).unflatten(-1, (self.output_size, -1)), weights  # (B, M, C_out, P)

    def _bridge(self, state: State) -> State:
        """Encoder final state ``(layers * D, B, H_h)`` -> decoder initial state ``(layers, B, H_h)``."""
        if self.bridge_hidden is None:
            return state
        if self.cell == "lstm":
            hidden, cell = state
            hidden = torch.tanh(self.bridge_hidden(self._merge_directions(hidden)))  # (layers, B, H_h)
            return hidden, self.bridge_cell(self._merge_directions(cell))
        return torch.tanh(self.bridge_hidden(self._merge_directions(state)))  # (layers, B, H_h)

    def _merge_directions(self, state: torch.Tensor) -> torch.Tensor:
        """``(layers * 2, B, H_h) -> (layers, B, 2 * H_h)``: [forward; backward] per layer."""
        per_direction = state.view(self.num_layers, 2, state.shape[1], self.hidden_size)  # (layers, 2, B, H_h)
        return torch.cat([per_direction[:, 0], per_direction[:, 1]], dim=-1)  # (layers, B, 2 * H_h)

    def _check_call(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        ratio: float,
        covariates: torch.Tensor | None,
        return_attention: bool,
    ) -> None:
        if inputs.dim() != 3 or inputs.shape[2] != self.input_size or inputs.shape[1] == 0:
            raise DataError(
                f"Seq2Seq expects inputs of shape (B, L, {self.input_size}) (batch, steps, channels). "
                f"Got {tuple(inputs.shape)} instead."
            )
        batch = inputs.shape[0]
        _check_shape(targets, "targets", (batch, self.horizon, self.output_size))
        if (covariates is None) != (self.covariate_size == 0):
            raise DataError(
                f"This model was built with covariate_size={self.covariate_size}: pass covariates of shape "
                f"(B, H, {self.covariate_size}) if and only if covariate_size > 0."
            )
        _check_shape(covariates, "covariates", (batch, self.horizon, self.covariate_size))
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ConfigError(
                f"The 'teacher_forcing_ratio' parameter must be a float in [0, 1]. Got {ratio!r} instead."
            )
        if ratio > 0 and targets is None:
            raise ConfigError(
                f"teacher_forcing_ratio={ratio} feeds true values to the decoder; pass targets (B, H, C_out)."
            )
        if return_attention and self.attention is None:
            raise ConfigError("return_attention=True needs attention weights, but this model has attention='none'.")


def _hidden(state: State) -> torch.Tensor:
    """The hidden state ``(layers, B, H_h)`` of an LSTM ``(h, c)`` or GRU ``h`` state."""
    return state[0] if isinstance(state, tuple) else state


def _check_shape(tensor: torch.Tensor | None, name: str, expected: tuple[int, int, int]) -> None:
    if tensor is not None and tuple(tensor.shape) != expected:
        raise DataError(
            f"Seq2Seq expects {name} of shape (B, H, {expected[2]}) = {expected}. Got {tuple(tensor.shape)} instead."
        )


def _check_target_channels(target_channels: Sequence[int] | None, input_size: int) -> list[int]:
    if target_channels is None:
        return list(range(input_size))
    channels = list(target_channels)
    valid = [not isinstance(c, bool) and isinstance(c, int) and 0 <= c < input_size for c in channels]
    if not channels or not all(valid):
        raise ConfigError(
            f"The 'target_channels' parameter must be a non-empty list of input channel indices in "
            f"[0, {input_size}). Got {target_channels!r} instead."
        )
    if len(set(channels)) != len(channels):
        raise ConfigError(f"The 'target_channels' parameter lists a channel twice: {target_channels!r}.")
    return channels


class Seq2SeqWithCovariates(nn.Module):
    r"""A :class:`Seq2Seq` reading the user's covariates (:mod:`tsseq.nn.exogenous`).

    The encoder reads ``[x_t ; a_t]`` (values and the step's past, future and static
    covariates), the decoder's ``z_t`` are the horizon's known future ``b_t = [f_{L+t} ;
    s ; E(k)]``; only the ``C`` value channels are forecast.

    Inputs: ``values (B, L, C)``, ``codes`` (None: calendar codes are not taken),
    ``exogenous (B, L, X)``, and for teacher forcing ``targets (B, H, C)`` and the ratio.
    Outputs: as :class:`Seq2Seq`'s, ``(B, H, C)`` or ``(B, H, C, P)``.
    """

    def __init__(self, input_size: int, horizon: int, exogenous, *, static_dim: int = 4, **seq2seq_arguments) -> None:
        super().__init__()
        self.exogenous = ExogenousInputs(exogenous, horizon, static_dim)
        self.seq2seq = Seq2Seq(
            input_size + self.exogenous.step_size,
            horizon,
            target_channels=range(input_size),
            covariate_size=self.exogenous.horizon_size,
            **seq2seq_arguments,
        )

    @property
    def last_attention(self) -> torch.Tensor | None:
        return self.seq2seq.last_attention

    def forward(
        self,
        values: torch.Tensor,
        codes: torch.Tensor | None = None,
        exogenous: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
    ) -> torch.Tensor:
        if codes is not None or exogenous is None:
            raise DataError("Seq2SeqWithCovariates takes values and their covariate block (B, L, X), no calendar codes.")
        steps, ahead = self.exogenous(exogenous)  # (B, L, A), (B, H, B_h)
        inputs = torch.cat([values, steps], dim=-1)  # (B, L, C + A)
        known = ahead if self.exogenous.horizon_size else None  # past covariates only: nothing known over the horizon
        return self.seq2seq(inputs, targets, teacher_forcing_ratio, covariates=known)
