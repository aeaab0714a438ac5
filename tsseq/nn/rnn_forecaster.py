r"""A recurrent encoder with a forecasting head: ``(B, L, C) -> (B, H, C)``.

The path of a window through the model::

    x (B, L, C) -> normalise -> [channel-independent: (B·C, L, 1)]
      -> steps: s_j = [x_{jw .. jw+w-1} ; e_j],  j = 0 .. L/w - 1   (w = segment_length)
      -> segments: u_j = ReLU(W_e s_j + b_e)   (w > 1; u_j = s_j when w = 1)
      -> RecurrentLayerStack (any cell, stacked, residual, dilated, bidirectional)
      -> head -> (B, H, C) -> denormalise

Stepping over segments of ``w`` points instead of single points shortens the recurrence
``w`` times (SegRNN, Lin et al. 2023); ``w = 1`` is the classic point-wise RNN.

Covariates: ``e_j`` is empty without them. With ``K`` categorical covariates (calendar
codes, a series id: integer ``codes (B, L, K)``), ``e_j = [E_1[k_1] ; ... ; E_K[k_K]]``
(:class:`tsseq.nn.embeddings.CovariateEmbedding`) of the codes of step ``j``'s *first*
point: a segment is placed by where it starts (its hour, weekday, ...). In
channel-independent mode every channel's sequence gets its window's ``e_j``. The covariates describe the input steps only, so the
heads that need no future inputs (``"direct"``, ``"parallel"``) take them; the
recursive head, which would need the codes of the forecast steps, refuses them.

Real-valued covariates (the user's past, future and static covariates, a packed
``exogenous (B, L, X)`` block, :mod:`tsseq.nn.exogenous`): each input step also carries
``a_t = [p_t ; f_t ; s ; E(k)]`` of all its ``w`` points (``s_j = [x ; e_j ; a_{jw} ..
a_{jw+w-1}]``); the horizon's known future ``b_1 .. b_H = [f_{L+h} ; s ; E(k)]`` enters
the head: ``"direct"`` adds ``W_b vec(b_1 .. b_H)`` to its output (a flattened projection,
one effect per output value), ``"parallel"`` adds ``W_b vec(b_{(m-1)w+1} .. b_{mw})`` to
the query of output segment ``m``. The recursive head takes future and static covariates
at every rollout step: segment ``m`` (horizon steps ``(m-1)w+1 .. mw``, known covariates
``β_m = vec(b_{(m-1)w+1} .. b_{mw})``) is predicted as ``ŷ_m = W_o y + b_o + W_b β_m`` and
fed back as the input step ``s = [ŷ_m ; β_m]``, the layout of an input step (without past
covariates ``a_t = [f_t ; s ; E(k)]`` and ``b_h`` line up). It refuses
past covariates: they are not observed over the horizon its rollout runs through.

Heads:

* ``"direct"``: all ``H`` steps at once from the last output, ``ŷ = W_o y_n + b_o``
  reshaped to ``(H, C)`` (many-to-one when ``H = 1``; "direct multi-output").
* ``"recursive"``: one segment ahead at a time, ``ŷ_{n+1} = W_o y_n + b_o``, fed back as
  the next input with the state carried, ``ceil(H / w)`` times (autoregressive rollout;
  causal encoders only). :meth:`RecurrentForecaster.forward_sequence` gives the same head's
  one-step predictions at every input step (synchronised many-to-many), which is what
  stateful training by truncated BPTT fits.
* ``"parallel"``: SegRNN's parallel multi-step decoding: for each output segment
  ``m = 1 .. M`` (``M = ceil(H / w)``), one step of a cell of the encoder's type from the
  encoder's final state with input ``[p_m ; e_k]`` (a learned embedding of the segment's
  position, and of the channel ``k`` in channel-independent mode),
  ``ŷ_m = W_o Dropout(h_m)``; all ``M`` segments run as one batch.

Normalisation: ``"none"``; ``"last"`` subtracts each window's last value per channel and
adds it back to the forecast (SegRNN); ``"revin"`` is reversible instance normalisation
(:class:`tsseq.nn.revin.RevIN`); ``"mean"`` divides each window by its mean absolute
value per channel and multiplies the forecast back (DeepAR's scaling; it keeps counts
unshifted, as the negative binomial output needs).

Probabilistic heads: every head predicts ``P`` values per forecast value, given by the
``output`` (:mod:`tsseq.engine.distributions`: quantiles, Normal, Student-t or negative
binomial parameters; ``P = 1`` for the point output). The recursive head feeds back the
output's point forecast, or, when sampling, a draw from each step's distribution
(ancestral sampling); then the module returns the drawn path ``(B, H, C)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.engine.distributions import IDENTITY, Affine, OutputDistribution, PointOutput
from tsseq.errors import ConfigError, DataError
from tsseq.nn.embeddings import CovariateEmbedding
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes, horizon_head
from tsseq.nn.recurrent import RecurrentLayerStack, StackState, make_cell, require_causal
from tsseq.nn.revin import RevIN

HEADS = ("direct", "recursive", "parallel")
NORMALIZATIONS = ("none", "last", "revin", "mean")


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"The {name!r} parameter must be one of {list(choices)}. Got {value!r} instead.")
    return value


class RecurrentForecaster(nn.Module):
    r"""Recurrent encoder plus a forecasting head; equations in the module docstring.

    Parameters
    ----------
    input_size : int
        ``C``, the channels in and out.
    horizon : int
        ``H``, the steps forecast.
    hidden_size, num_layers, cell, dropout, residual, bidirectional, dilations, forget_bias, fused
        Of the encoder, :class:`~tsseq.nn.recurrent.RecurrentLayerStack`.
    head : {"direct", "recursive", "parallel"}
    segment_length : int
        ``w``: points per recurrent step; ``L`` must be a multiple of it.
    normalization : {"none", "last", "revin"}
    channel_independent : bool
        Forecast every channel as its own univariate series with shared weights.
    covariates : dict[str, int], optional
        Cardinality of each categorical covariate, in the order of the ``K`` code
        columns (e.g. ``{"hour": 24, "series": 414}``); None or empty: no covariates.
    covariate_dim : int
        Size of each covariate's embedding vector.
    exogenous : ExogenousSizes, optional
        The real-valued covariates of the packed block (:mod:`tsseq.nn.exogenous`).
    output : OutputDistribution, optional
        What the head predicts per forecast value; default the point output.

    Inputs: ``x`` ``(B, L, C)``; ``codes`` ``(B, L, K)`` integers, required with
    covariates (else None); ``exogenous`` ``(B, L, X)``, required with ``exogenous`` sizes. Outputs: ``(B, H, C)`` with the point output, else the
    output's parameters ``(B, H, C, P)`` (a drawn path ``(B, H, C)`` when sampling).

    Attributes
    ----------
    covariate_embedding : CovariateEmbedding or None
        The embedding tables of the covariates.
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 2,
        cell: str = "lstm",
        head: str = "direct",
        dropout: float = 0.0,
        residual: bool = False,
        bidirectional: bool = False,
        dilations: tuple[int, ...] | None = None,
        segment_length: int = 1,
        normalization: str = "none",
        channel_independent: bool = False,
        forget_bias: float | None = 1.0,
        fused: bool | None = None,
        covariates: dict[str, int] | None = None,
        covariate_dim: int = 4,
        exogenous: ExogenousSizes | None = None,
        output: OutputDistribution | None = None,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        n_params = self.distribution.n_params
        self.input_size = check_positive_int(input_size, "input_size")
        self.horizon = check_positive_int(horizon, "horizon")
        self.segment_length = check_positive_int(segment_length, "segment_length")
        self.head = _check_choice(head, "head", HEADS)
        self.normalization = _check_choice(normalization, "normalization", NORMALIZATIONS)
        self.channel_independent = bool(channel_independent)
        self.series_channels = 1 if self.channel_independent else self.input_size  # channels one sequence carries
        self.segment_size = self.segment_length * self.series_channels  # values per recurrent step
        self.n_output_segments = math.ceil(self.horizon / self.segment_length)
        self.covariate_embedding = self._make_covariate_embedding(covariates, covariate_dim)
        covariate_size = 0 if self.covariate_embedding is None else self.covariate_embedding.output_size
        self.exogenous = self._make_exogenous(exogenous, covariate_dim)
        exogenous_size = 0 if self.exogenous is None else self.segment_length * self.exogenous.step_size
        step_size = self.segment_size + covariate_size + exogenous_size  # values, codes' vectors, covariates
        self.embed = (
            nn.Sequential(nn.Linear(step_size, hidden_size), nn.ReLU()) if self.segment_length > 1 else nn.Identity()
        )
        self.encoder = RecurrentLayerStack(
            hidden_size if self.segment_length > 1 else step_size,
            hidden_size,
            cell=cell,
            num_layers=num_layers,
            dropout=dropout,
            residual=residual,
            bidirectional=bidirectional,
            dilations=dilations,
            fused=fused,
            forget_bias=forget_bias,
        )
        if self.head == "recursive":
            require_causal(self.encoder, "the recursive head (autoregressive decoding)")
        width = self.encoder.output_size  # D·H
        self.revin = RevIN(self.input_size) if self.normalization == "revin" else None
        if self.head == "direct":
            self.output = nn.Linear(width, self.n_output_segments * self.segment_size * n_params)
        elif self.head == "recursive":
            self.output = nn.Linear(width, self.segment_size * n_params)
        else:
            self.decoder = make_cell(cell, width, width, forget_bias=forget_bias)
            position_size = width // 2 if self.channel_independent else width
            self.position_embedding = nn.Parameter(torch.randn(self.n_output_segments, position_size))
            self.channel_embedding = (
                nn.Parameter(torch.randn(self.input_size, width - position_size)) if self.channel_independent else None
            )
            self.decoder_dropout = nn.Dropout(dropout)
            self.output = nn.Linear(width, self.segment_size * n_params)
        self.exogenous_head = None  # W_b: the horizon's known future into the head
        if self.exogenous is not None and self.head == "direct":
            # Per window (all C channels at once, also channel-independent: each channel its own effect).
            outputs = self.n_output_segments * self.segment_length * self.input_size * n_params
            self.exogenous_head = horizon_head(self.horizon * self.exogenous.horizon_size, outputs)
        elif self.exogenous is not None and self.head == "recursive":  # to each predicted segment
            self.exogenous_head = horizon_head(self.segment_length * self.exogenous.horizon_size, self.segment_size * n_params)
        elif self.exogenous is not None:
            self.exogenous_head = horizon_head(self.segment_length * self.exogenous.horizon_size, width)  # to the query

    def _make_covariate_embedding(self, covariates: dict[str, int] | None, dim: int) -> CovariateEmbedding | None:
        check_positive_int(dim, "covariate_dim")
        if not covariates:
            return None
        if self.head == "recursive":
            raise ConfigError(
                "Covariates describe the input steps; the recursive head feeds its forecasts back as inputs and "
                f"would need the covariates of the forecast steps. Use head='direct' or 'parallel' with covariates "
                f"{list(covariates)}."
            )
        return CovariateEmbedding(dict(covariates), {name: dim for name in covariates})

    def _make_exogenous(self, sizes: ExogenousSizes | None, dim: int) -> ExogenousInputs | None:
        if sizes is None:
            return None
        if self.head == "recursive" and sizes.past:
            raise ConfigError(
                "The recursive head feeds its forecasts back as inputs, which would need past covariates over the "
                "horizon, where they are not observed; it takes future and static covariates only. Use "
                "head='direct' or 'parallel' with past covariates."
            )
        return ExogenousInputs(sizes, self.horizon, dim)

    def forward(self, x: Tensor, codes: Tensor | None = None, exogenous: Tensor | None = None) -> Tensor:
        self._check_inputs(x)
        self._check_codes(x, codes)
        self._check_exogenous(x, exogenous)
        batch = x.shape[0]
        steps, ahead = (None, None) if self.exogenous is None else self.exogenous(exogenous)  # (B, L, A), (B, H, B_h)
        x, affine = self._normalize(x)
        sequence = self._to_sequences(x)  # (B', L, c), B' = B·C if channel-independent else B
        covariates = self._step_covariates(codes, steps)
        outputs, state = self.encoder(self._embed(sequence, covariates))  # (B', n, D·H)
        fed = None
        if self.head == "direct":
            segments = self.output(outputs[:, -1])  # (B', M·w·c·P)
            if ahead is not None:
                segments = segments + self._direct_exogenous(ahead)
        elif self.head == "recursive":
            segments, fed = self._rollout(outputs[:, -1], state, self._sequence_affine(affine), ahead)  # (B', M·w·c·P)
        else:
            segments = self._parallel_decode(state, ahead)  # (B', M·w·c·P)
        shape = (segments.shape[0], -1, self.series_channels, self.distribution.n_params)
        raw = self._from_sequences(segments.reshape(shape), batch)[:, : self.horizon]  # (B, H, C, P)
        if fed is None:
            return self.distribution.finish(raw, affine)  # (B, H, C) or (B, H, C, P)
        path = self._from_sequences(fed.reshape(shape[:-1]), batch)[:, : self.horizon]  # (B, H, C)
        return self.distribution.finish_path(path, raw, affine)

    def forward_sequence(self, x: Tensor, state: StackState | None = None) -> tuple[Tensor, StackState]:
        """One-step predictions at every input step: ``(B, k, C) -> (B, k, C)`` and the state.

        Prediction ``t`` forecasts ``x_{t+1}``; passing the returned state back continues
        the sequence (stateful training by truncated BPTT). Needs the recursive head,
        point-wise steps and no instance normalisation (its statistics would change
        from chunk to chunk).
        """
        if (
            self.head != "recursive"
            or self.segment_length != 1
            or self.normalization != "none"
            or not self.distribution.is_point
        ):
            raise ConfigError(
                "forward_sequence (stateful / truncated-BPTT training) needs head='recursive', "
                f"segment_length=1, normalization='none' and a point loss; got head={self.head!r}, "
                f"segment_length={self.segment_length}, normalization={self.normalization!r}, "
                f"loss={self.distribution.name!r}."
            )
        self._check_inputs(x)
        batch = x.shape[0]
        outputs, state = self.encoder(self._to_sequences(x), state)  # (B', k, H)
        return self._from_sequences(self.output(outputs), batch), state  # (B, k, C)

    def _rollout(
        self, last_output: Tensor, state: StackState, affine: Affine, ahead: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Recursive decoding: ``(raw (B', M·w·c·P), fed (B', M·w·c))``, the head's outputs and the values fed back.

        ``ahead`` ``(B, H, B_h)``: the horizon's known covariates, fed with the segment of the steps they describe.
        """
        shape = (last_output.shape[0], self.segment_length, self.series_channels, self.distribution.n_params)
        known = [None] * self.n_output_segments  # β_m of each segment, (B', 1, w·B_h)
        if ahead is not None:  # (B, M·w, B_h), the last segment zero-padded past H
            ahead = nn.functional.pad(ahead, (0, 0, 0, self.n_output_segments * self.segment_length - self.horizon))
            known = [self._step_covariates(None, rows) for rows in ahead.split(self.segment_length, dim=1)]

        def predict(output: Tensor, segment: int) -> Tensor:  # (B', D·H) -> (B', w·c·P)
            if known[segment] is None:
                return self.output(output)
            return self.output(output) + self.exogenous_head(known[segment][:, 0])

        predictions, fed = [predict(last_output, 0)], []  # each (B', w·c·P)
        for segment in range(self.n_output_segments):
            fed.append(self.distribution.feedback(predictions[-1].reshape(shape), affine).flatten(1))  # (B', w·c)
            if segment == self.n_output_segments - 1:
                break
            output, state = self.encoder(self._embed(fed[-1].unsqueeze(1), known[segment]), state)
            predictions.append(predict(output[:, -1], segment + 1))
        return torch.cat(predictions, dim=1), torch.cat(fed, dim=1)

    def _direct_exogenous(self, ahead: Tensor) -> Tensor:
        """``W_b vec(b_1 .. b_H)``: ``(B, H, B_h)`` -> ``(B', M·w·c·P)``, in the layout of the direct head's output."""
        effect = self.exogenous_head(ahead.flatten(1))  # (B, M·w·C·P)
        if not self.channel_independent:
            return effect
        effect = effect.reshape(ahead.shape[0], -1, self.input_size, self.distribution.n_params)  # (B, M·w, C, P)
        return effect.transpose(1, 2).reshape(ahead.shape[0] * self.input_size, -1)  # (B·C, M·w·P), row b·C + k

    def _parallel_decode(self, state: StackState, ahead: Tensor | None = None) -> Tensor:
        last_layer = state[-1]  # (h,) or (h, c), each (D, d, B', H)
        batch = last_layer[0].shape[2]
        # The final state of every direction, side by side: (B', D·H), one copy per output segment.
        initial = tuple(
            t[:, -1].permute(1, 0, 2).reshape(batch, -1).repeat_interleave(self.n_output_segments, dim=0) for t in last_layer
        )  # (B'·M, D·H) each
        queries = self.position_embedding.expand(batch, -1, -1)  # (B', M, P)
        if self.channel_embedding is not None:
            channels = self.channel_embedding.repeat(batch // self.input_size, 1)  # (B', E_c), row b·C + k is channel k
            queries = torch.cat([queries, channels.unsqueeze(1).expand(-1, self.n_output_segments, -1)], dim=-1)
        if ahead is not None:
            padded = nn.functional.pad(ahead, (0, 0, 0, self.n_output_segments * self.segment_length - self.horizon))
            by_segment = padded.reshape(ahead.shape[0], self.n_output_segments, -1)  # (B, M, w·B_h)
            effect = self.exogenous_head(by_segment)  # (B, M, P_q)
            if self.channel_independent:
                effect = effect.repeat_interleave(self.input_size, dim=0)  # (B·C, M, P_q), row b·C + k
            queries = queries + effect
        hidden = self.decoder(queries.reshape(batch * self.n_output_segments, -1), initial)[0]  # (B'·M, D·H)
        segments = self.output(self.decoder_dropout(hidden))  # (B'·M, w·c)
        return segments.reshape(batch, -1)

    def _step_covariates(self, codes: Tensor | None, steps: Tensor | None = None) -> Tensor | None:
        """``(B, L, K)`` codes and ``(B, L, A)`` covariates -> ``(B', L / w, E_cov + w·A)`` per recurrent step.

        The embedded codes of each step's first point, then the covariates of all its ``w`` points.
        """
        parts = []
        if codes is not None:
            parts.append(self.covariate_embedding(codes[:, :: self.segment_length]))  # (B, L/w, E_cov)
        if steps is not None:
            parts.append(steps.reshape(steps.shape[0], -1, self.segment_length * steps.shape[2]))  # (B, L/w, w·A)
        if not parts:
            return None
        vectors = torch.cat(parts, dim=-1)
        if self.channel_independent:
            vectors = vectors.repeat_interleave(self.input_size, dim=0)  # (B·C, L/w, E_cov), row b·C + k
        return vectors

    def _embed(self, sequence: Tensor, covariates: Tensor | None = None) -> Tensor:
        """``(B', L, c)`` -> ``(B', L / w, E)``: group points into segments, add covariates, embed."""
        segments = sequence.reshape(sequence.shape[0], -1, self.segment_size)  # (B', L/w, w·c)
        if covariates is not None:
            segments = torch.cat([segments, covariates], dim=-1)  # (B', L/w, w·c + E_cov)
        return self.embed(segments)

    def _to_sequences(self, x: Tensor) -> Tensor:
        if not self.channel_independent:
            return x
        batch, length, channels = x.shape
        return x.permute(0, 2, 1).reshape(batch * channels, length, 1)  # (B·C, L, 1)

    def _from_sequences(self, y: Tensor, batch: int) -> Tensor:
        """``(B', T, c, ...)`` -> ``(B, T, C, ...)``."""
        if not self.channel_independent:
            return y
        rest = y.shape[3:]
        return y.reshape(batch, self.input_size, -1, *rest).transpose(1, 2)  # (B, T, C, ...)

    def _sequence_affine(self, affine: Affine) -> Affine:
        """The per-window map ``(B, 1, C)`` in the layout of the sequences ``(B', 1, c)``."""
        if not self.channel_independent:
            return affine
        shift, scale = (None if t is None else t.reshape(-1, 1, 1) for t in (affine.shift, affine.scale))
        return Affine(shift, scale)  # row b·C + k is channel k of window b, as in _to_sequences

    def _normalize(self, x: Tensor) -> tuple[Tensor, Affine]:
        """The window on the scale the network reads, and the map of its forecasts back."""
        if self.normalization == "last":
            last = x[:, -1:].detach()  # (B, 1, C)
            return x - last, Affine(shift=last)
        if self.normalization == "revin":
            normalized, stats = self.revin.normalize(x)
            return normalized, self.revin.as_affine(stats)
        if self.normalization == "mean":
            scale = x.detach().abs().mean(dim=1, keepdim=True)  # (B, 1, C)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero window keeps its scale
            return x / scale, Affine(scale=scale)
        return x, IDENTITY

    def _check_codes(self, x: Tensor, codes: Tensor | None) -> None:
        if self.covariate_embedding is None:
            if codes is not None:
                raise DataError("This RecurrentForecaster has no covariates; call it without codes.")
            return
        names = list(self.covariate_embedding.names)
        if codes is None or codes.dim() != 3 or codes.shape[:2] != x.shape[:2]:
            got = "none" if codes is None else f"shape {tuple(codes.shape)}"
            raise DataError(
                f"RecurrentForecaster with covariates {names} expects codes (B, L, K) = "
                f"({x.shape[0]}, {x.shape[1]}, {len(names)}) next to the inputs. Got {got}."
            )

    def _check_exogenous(self, x: Tensor, exogenous: Tensor | None) -> None:
        if (exogenous is None) != (self.exogenous is None):
            expected = "without a covariate block" if self.exogenous is None else "with its covariate block (B, L, X)"
            raise DataError(f"This RecurrentForecaster is called {expected}.")
        if exogenous is not None and exogenous.shape[:2] != x.shape[:2]:
            raise DataError(f"The covariate block {tuple(exogenous.shape)} must match the inputs' (B, L) {tuple(x.shape[:2])}.")

    def _check_inputs(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise DataError(
                f"RecurrentForecaster expects inputs (B, L, C) with C = input_size = {self.input_size}. "
                f"Got shape {tuple(x.shape)}."
            )
        if x.shape[1] % self.segment_length:
            raise DataError(
                f"The input length L={x.shape[1]} must be a multiple of segment_length={self.segment_length}."
            )
