r"""Decoder-only (GPT-style) forecaster: causal self-attention over time steps or patches.

The series is a sequence of tokens, each one time step (``P = 1``) or a non-overlapping
patch of ``P`` steps; a stack of causally masked self-attention layers (the blocks of
:mod:`tsseq.nn.transformer`, as in GPT; Radford et al. 2018) reads them and every token
predicts the *next* patch. Training fits that next-patch prediction at every position
of a window at once; forecasting feeds predictions back, one patch per forward pass.

Shapes: B batch, L input steps, C channels, H horizon, P patch length, D = d_model.
``C_t = 1`` with ``channel_independent`` (the ``C`` channels are ``B C`` separate
sequences through shared weights, as PatchTST does), else ``C_t = C``.
``N_c = floor(L / P)`` context patches (the oldest ``L mod P`` steps are not read),
``R = ceil(H / P)`` forecast patches.

Equations, for a sequence cut into patches ``z_0, z_1, ..``, ``z_i`` the ``P`` steps
``iP .. iP + P - 1`` flattened (``z_i`` in R^{P C_t})::

    z_i  <- RevIN(z_i)                              optional; statistics of the context rows only
    e_i  = W_in z_i + b_in + PE(i)                  (B, N, D), PE sinusoidal or learned
    h    = Stack(e)                                  layers of causal self-attention + FFN (pre- or post-LN):
                                                     a_ij = softmax_j(q_i . k_j / sqrt(d_k)), j <= i only
    zhat_{i+1} = W_out h_i + b_out                   (B, N, P C_t): the patch after token i

Training (:meth:`DecoderOnlyTransformer.forward_sequence` on windows of
:attr:`~DecoderOnlyTransformer.sequence_length` = ``(N_c + R) P`` rows): the loss is
the error of ``zhat_{i+1}`` against ``z_{i+1}`` for every ``i``, all positions in one
pass. The context a forecast uses at position ``i >= N_c - 1`` is exactly what training
showed it; earlier positions train on shorter contexts.

Forecasting (:meth:`DecoderOnlyTransformer.forward`): the last ``N_c P`` input steps are
``z_0 .. z_{N_c - 1}``; for ``r = 0 .. R - 1``, ``zhat_{N_c + r}`` is predicted from
``z_0 .. z_{N_c + r - 1}`` (true patches, then earlier predictions) and appended; the
forecast is the first ``H`` steps of the ``R`` predicted patches. Every step recomputes
the whole prefix (no key/value cache): ``R`` forward passes over at most
``N_c + R - 1`` tokens.

RevIN (Kim et al. 2022) takes its statistics from the ``N_c P`` context rows of a
sequence, so a prediction never depends on values after the context through them; the
positions *inside* the context do see their own future through the statistics in
training, which makes their next-patch targets easier than forecasting is, never
different from it. Without RevIN each output depends on the tokens up to its own only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError
from tsseq.engine.distributions import IDENTITY, Affine, OutputDistribution, PointOutput
from tsseq.nn.revin import RevIN
from tsseq.nn.transformer import Encoder, attention_weights, positional_encoding, record_attention


def sequence_length(input_length: int, horizon: int, patch_length: int) -> int:
    """Rows of one training sequence: ``(floor(L / P) + ceil(H / P)) P``."""
    return (input_length // patch_length - (-horizon // patch_length)) * patch_length


class DecoderOnlyTransformer(nn.Module):
    """Causal transformer over patches, trained on next-patch prediction; see the module docstring.

    Parameters
    ----------
    input_size : int
        ``C``.
    horizon : int
        ``H``, steps :meth:`forward` forecasts.
    input_length : int
        ``L``, steps of the input windows; ``L >= P``.
    patch_length : int
        ``P``: steps per token (1: one token per time step).
    channel_independent : bool
        One sequence per channel with shared weights (``C_t = 1``), else multivariate tokens.
    d_model, n_heads, n_layers : int
        ``D``, attention heads (dividing ``D``), layers.
    d_ff : int, optional
        Feed-forward hidden size; default ``4 D``.
    dropout : float
        On the token embeddings and inside every layer.
    norm_first : bool
        pre-LN (GPT-2; with a final norm) when True, post-LN when False.
    positional : {"sinusoidal", "learned"}
    revin : bool
        Reversible instance normalisation with the context's statistics.
    output : OutputDistribution, optional
        What the head predicts per step and channel (:mod:`tsseq.engine.distributions`);
        default the point output. The rollout feeds back its point forecast, or a draw
        when sampling (ancestral sampling; :meth:`forward` then returns the drawn path).

    Inputs / outputs
    ----------------
    ``forward(inputs (B, L, C)) -> (B, H, C)``, the autoregressive forecast (the output's
    parameters ``(B, H, C, P)`` with a distribution output).
    ``forward_sequence(sequence (B, T, C)) -> (B, T, C)`` (or ``(B, T, C, P)``): next-patch
    predictions of rows ``P .. T + P - 1`` (``T`` a multiple of ``P``, at most
    ``(N_c + R - 1) P``).
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        *,
        input_length: int,
        patch_length: int = 1,
        channel_independent: bool = False,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        revin: bool = False,
        output: OutputDistribution | None = None,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        self.input_size = check_positive_int(input_size, "input_size")
        self.horizon = check_positive_int(horizon, "horizon")
        self.input_length = check_positive_int(input_length, "input_length")
        self.patch_length = check_positive_int(patch_length, "patch_length")
        if patch_length > input_length:
            raise ConfigError(
                f"The 'patch_length' parameter ({patch_length}) must not exceed input_length ({input_length}): "
                "the context must hold at least one patch."
            )
        self.channel_independent = bool(channel_independent)
        self.context_patches = input_length // patch_length  # N_c
        self.forecast_patches = -(-horizon // patch_length)  # R
        self.max_tokens = self.context_patches + self.forecast_patches - 1  # the longest prefix ever read
        token_size = patch_length * (1 if channel_independent else input_size)
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.revin = RevIN(input_size) if revin else None
        self.embedding = nn.Linear(token_size, d_model)
        self.positions = positional_encoding(positional, d_model, self.max_tokens)
        self.embedding_dropout = nn.Dropout(dropout)
        self.decoder = Encoder.stack(n_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first)
        self.head = nn.Linear(d_model, token_size * self.distribution.n_params)

    @property
    def context_length(self) -> int:
        """``N_c P``: the input steps read (the last ones of the window)."""
        return self.context_patches * self.patch_length

    @property
    def sequence_length(self) -> int:
        """``(N_c + R) P``: rows of one training window (:func:`sequence_length`)."""
        return sequence_length(self.input_length, self.horizon, self.patch_length)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.dim() != 3 or inputs.shape[1:] != (self.input_length, self.input_size):
            raise DataError(
                f"DecoderOnlyTransformer expects inputs of shape (B, {self.input_length}, {self.input_size}) "
                f"(batch, input_length, channels). Got {tuple(inputs.shape)} instead."
            )
        batch = inputs.shape[0]
        context, affine = self._normalize(inputs[:, self.input_length - self.context_length :])  # (B, N_c P, C)
        tokens, raw = self._tokens(context), []  # (B', N_c, P C_t)
        token_affine = self._token_affine(affine)
        for _ in range(self.forecast_patches):
            raw.append(self._next_patches(tokens)[:, -1:])  # (B', 1, P C_t, P_d)
            tokens = torch.cat([tokens, self.distribution.feedback(raw[-1], token_affine)], dim=1)  # (B', n + 1, P C_t)
        path = self._rows(tokens[:, self.context_patches :], batch)[:, : self.horizon]  # (B, H, C)
        raw_rows = self._rows(torch.cat(raw, dim=1), batch)[:, : self.horizon]  # (B, H, C, P_d)
        return self.distribution.finish_path(path, raw_rows, affine)

    def forward_sequence(self, sequence: Tensor) -> Tensor:
        """Teacher-forced next-patch predictions: output rows ``iP .. iP + P - 1`` predict rows ``(i + 1) P ..``."""
        steps = sequence.shape[1] if sequence.dim() == 3 else 0
        if (
            sequence.dim() != 3
            or sequence.shape[2] != self.input_size
            or steps == 0
            or steps % self.patch_length
            or steps > self.max_tokens * self.patch_length
        ):
            raise DataError(
                f"forward_sequence expects a sequence of shape (B, T, {self.input_size}) with T a multiple of "
                f"patch_length={self.patch_length} and at most {self.max_tokens * self.patch_length}. "
                f"Got {tuple(sequence.shape)} instead."
            )
        normalized, affine = self._normalize(sequence)
        raw = self._rows(self._next_patches(self._tokens(normalized)), sequence.shape[0])  # (B, T, C, P_d)
        return self.distribution.finish(raw, affine)

    def attention(self, inputs: Tensor) -> dict[str, Tensor]:
        """Forecast ``inputs (B, L, C)`` once and return the weights of each attention layer.

        ``{"decoder.layers.k.attention": (B', h, N, N)}`` with ``N = N_c + R - 1``, the
        last rollout step's; by causality its row ``i`` is what token ``i`` attended to
        when it was the newest. ``B' = B C`` when channel-independent (channel-major).
        """
        with torch.no_grad(), record_attention(self):
            self(inputs)
        return attention_weights(self)

    def _next_patches(self, tokens: Tensor) -> Tensor:
        """Tokens ``(B', n, P C_t)`` -> the head's prediction of each one's next patch, ``(B', n, P C_t, P_d)``."""
        embedded = self.embedding_dropout(self.positions(self.embedding(tokens)))  # (B', n, D)
        raw = self.head(self.decoder(embedded, causal=True))  # (B', n, P C_t · P_d)
        return raw.unflatten(-1, (-1, self.distribution.n_params))

    def _tokens(self, rows: Tensor) -> Tensor:
        """``(B, n P, C)`` -> ``(B', n, P C_t)``: non-overlapping patches are a reshape of the time axis."""
        batch, steps, channels = rows.shape
        count = steps // self.patch_length
        if self.channel_independent:
            return rows.transpose(1, 2).reshape(batch * channels, count, self.patch_length)  # (B C, n, P)
        return rows.reshape(batch, count, self.patch_length * channels)  # (B, n, P C), time-major in a patch

    def _rows(self, tokens: Tensor, batch: int) -> Tensor:
        """Inverse of :meth:`_tokens`: ``(B', n, P C_t, ...)`` -> ``(B, n P, C, ...)``."""
        count, rest = tokens.shape[1], tokens.shape[3:]
        if self.channel_independent:
            rows = tokens.reshape(batch, self.input_size, count * self.patch_length, *rest)
            return rows.transpose(1, 2)  # (B, n P, C, ...)
        return tokens.reshape(batch, count * self.patch_length, self.input_size, *rest)

    def _normalize(self, rows: Tensor) -> tuple[Tensor, Affine]:
        """Rows on the scale the network reads, and the map of its outputs back to the rows' scale."""
        if self.revin is None:
            return rows, IDENTITY
        stats = self.revin.statistics(rows[:, : self.context_length])  # (B, 1, C) each: the context's
        return self.revin.normalize(rows, stats)[0], self.revin.as_affine(stats)

    def _token_affine(self, affine: Affine) -> Affine:
        """The rows' map ``(B, 1, C)`` in the layout of one token ``(B', 1, P C_t)``."""
        def tokens(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return self._tokens(t.expand(-1, self.patch_length, -1))  # (B', 1, P C_t)
        return Affine(tokens(affine.shift), tokens(affine.scale))
