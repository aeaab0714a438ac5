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

Covariates (the user's, a packed block ``exogenous``, :mod:`tsseq.nn.exogenous`): token
``i`` also carries ``κ_i = [π_i ; φ_{i+1} ; σ]``, added to its embedding as
``e_i = W_in z_i + W_x κ_i + b_in + PE(i)``:

* ``π_i``: the past covariates of the rows of patch ``i`` for a context token (``i <
  N_c``), 0 for the tokens after it, which in forecasting are fed-back predictions over
  the horizon, where past covariates are not observed (training zeroes them at the same
  positions, so both see the same inputs);
* ``φ_{i+1}``: the known future covariates of the rows of the patch token ``i``
  predicts, 0 on rows past the horizon (``N_c P + H`` rows after the context's start);
* ``σ = [s ; E(k)]``: the static covariates.

A forecast therefore reads past covariates up to its origin only, and future ones up to
the end of its horizon, in the rollout and when sampling alike.

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
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes
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
    exogenous : ExogenousSizes, optional
        The user's covariates of the packed block (:mod:`tsseq.nn.exogenous`; its leads
        every ``input_length`` rows).
    static_dim : int
        Size of each static categorical covariate's embedding.

    Inputs / outputs
    ----------------
    ``forward(inputs (B, L, C), exogenous=None) -> (B, H, C)``, the autoregressive forecast (the output's
    parameters ``(B, H, C, P)`` with a distribution output); ``exogenous`` ``(B, L, X)``.
    ``forward_sequence(sequence (B, T, C), exogenous=None) -> (B, T, C)`` (or ``(B, T, C, P)``): next-patch
    predictions of rows ``P .. T + P - 1`` (``T`` a multiple of ``P``, at most
    ``(N_c + R - 1) P``); ``exogenous`` ``(B, T', X)`` with ``T' >= max(T, L)`` rows from the
    sequence's first (its leads reach the rows of the last predicted patch).
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
        exogenous: ExogenousSizes | None = None,
        static_dim: int = 4,
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
        self.exogenous = None if exogenous is None else ExogenousInputs(exogenous, horizon, static_dim)
        self.covariate_embedding = None  # W_x
        if exogenous is not None:
            width = patch_length * (exogenous.past + exogenous.future) + self.exogenous.static_size  # |κ_i|
            self.covariate_embedding = nn.Linear(width, d_model, bias=False)

    @property
    def context_length(self) -> int:
        """``N_c P``: the input steps read (the last ones of the window)."""
        return self.context_patches * self.patch_length

    @property
    def sequence_length(self) -> int:
        """``(N_c + R) P``: rows of one training window (:func:`sequence_length`)."""
        return sequence_length(self.input_length, self.horizon, self.patch_length)

    def forward(self, inputs: Tensor, exogenous: Tensor | None = None) -> Tensor:
        if inputs.dim() != 3 or inputs.shape[1:] != (self.input_length, self.input_size):
            raise DataError(
                f"DecoderOnlyTransformer expects inputs of shape (B, {self.input_length}, {self.input_size}) "
                f"(batch, input_length, channels). Got {tuple(inputs.shape)} instead."
            )
        self._check_exogenous(exogenous)
        batch = inputs.shape[0]
        start = self.input_length - self.context_length  # the context's first row
        context, affine = self._normalize(inputs[:, start:])  # (B, N_c P, C)
        known = None if exogenous is None else self._covariate_tokens(exogenous, start, self.max_tokens)  # (B', N, |κ|)
        tokens, raw = self._tokens(context), []  # (B', N_c, P C_t)
        token_affine = self._token_affine(affine)
        for _ in range(self.forecast_patches):
            read = None if known is None else known[:, : tokens.shape[1]]
            raw.append(self._next_patches(tokens, read)[:, -1:])  # (B', 1, P C_t, P_d)
            tokens = torch.cat([tokens, self.distribution.feedback(raw[-1], token_affine)], dim=1)  # (B', n + 1, P C_t)
        path = self._rows(tokens[:, self.context_patches :], batch)[:, : self.horizon]  # (B, H, C)
        raw_rows = self._rows(torch.cat(raw, dim=1), batch)[:, : self.horizon]  # (B, H, C, P_d)
        return self.distribution.finish_path(path, raw_rows, affine)

    def forward_sequence(self, sequence: Tensor, exogenous: Tensor | None = None) -> Tensor:
        """Teacher-forced next-patch predictions: output rows ``iP .. iP + P - 1`` predict rows ``(i + 1) P ..``."""
        self._check_exogenous(exogenous)
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
        known = None if exogenous is None else self._covariate_tokens(exogenous, 0, steps // self.patch_length)
        raw = self._rows(self._next_patches(self._tokens(normalized), known), sequence.shape[0])  # (B, T, C, P_d)
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

    def _next_patches(self, tokens: Tensor, known: Tensor | None = None) -> Tensor:
        """Tokens ``(B', n, P C_t)`` and their covariates ``κ`` ``(B', n, |κ|)`` -> the head's prediction of each one's
        next patch, ``(B', n, P C_t, P_d)``."""
        embedded = self.embedding(tokens)  # (B', n, D)
        if known is not None:
            embedded = embedded + self.covariate_embedding(known)
        embedded = self.embedding_dropout(self.positions(embedded))
        raw = self.head(self.decoder(embedded, causal=True))  # (B', n, P C_t · P_d)
        return raw.unflatten(-1, (-1, self.distribution.n_params))

    def _covariate_tokens(self, block: Tensor, start: int, count: int) -> Tensor:
        """``κ_0 .. κ_{count-1}`` ``(B', count, |κ|)`` of the tokens whose first starts at row ``start`` of ``block``."""
        patch = self.patch_length
        past, future, constant = self.exogenous.rows(block, self.input_length, start + (count + 1) * patch)
        parts = []
        if past.shape[-1]:  # π_i: rows of token i, context tokens only
            observed = past[:, start : start + self.context_length]  # (B, N_c P, P_x)
            rows = nn.functional.pad(observed, (0, 0, 0, max(0, count - self.context_patches) * patch))[:, : count * patch]
            parts.append(rows.reshape(rows.shape[0], count, -1))  # (B, count, P P_x)
        if future is not None:  # φ_{i+1}: rows of token i + 1, up to the horizon's end
            rows = future[:, start + patch : start + (count + 1) * patch].clone()  # (B, count P, F)
            rows[:, self.context_length + self.horizon - patch :] = 0
            parts.append(rows.reshape(rows.shape[0], count, -1))  # (B, count, P F)
        parts.append(constant[:, None].expand(-1, count, -1))  # σ
        known = torch.cat(parts, dim=-1)  # (B, count, |κ|)
        return known.repeat_interleave(self.input_size, dim=0) if self.channel_independent else known  # row b C + c

    def _check_exogenous(self, exogenous: Tensor | None) -> None:
        if (exogenous is None) != (self.exogenous is None):
            expected = "without a covariate block" if self.exogenous is None else "with its covariate block exogenous=(B, T, X)"
            raise DataError(f"This DecoderOnlyTransformer is called {expected}.")

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
