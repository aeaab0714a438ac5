r"""Quantized (token) forecasting in the style of Chronos (Ansari et al. 2024): values -> tokens -> a language model.

Each sequence (one channel of one window; channels are independent sequences through
shared weights) is scaled by the mean absolute value of its context, and the scaled
values are quantized into a fixed vocabulary of ``V`` bins (:class:`ValueTokenizer`)::

    s   = mean_{t < L, x_t observed} |x_t|            s = 1 when that is 0 or nothing is observed
    u_t = x_t / s
    c_k = -a + k w,   w = 2a / (V - 1),   k = 0 .. V - 1        bin centres, uniform over [-a, a]
    id_t = clamp(floor((u_t + a) / w + 1/2), 0, V - 1)          the nearest centre; beyond +-a: the edge bins
    id_t = PAD = V                                               when x_t is unobserved (NaN)
    value(k) = c_k s

so ``|value(id(x)) - x| <= w s / 2`` whenever ``|x / s| <= a + w / 2``. An odd ``V`` puts a
centre on 0, so zeros (intermittent series) come back exactly. There is no end-of-sequence
token: a forecast always has ``H`` tokens.

The language model (:class:`TokenLanguageModel`) predicts the next token from the ones
before it::

    e_t = E[id_t] + PE(t)                      (B', T, D); E has V + 1 rows (PAD included)
    h   = Stack(e)                              transformer: causal self-attention blocks of tsseq.nn.transformer
                                                (a_ij = softmax_j(q_i . k_j / sqrt(d_k)), j <= i only)
          or LayerNorm(GRU(e))                  recurrent: g_t = GRU(E[id_t], g_{t-1}), no PE; the norm (as
                                                the transformer stacks end in one) keeps a large vocabulary's
                                                first gradients from saturating the GRU
    logits_t = W h_t + b                        (B', T, V): the distribution of id_{t+1}
    loss = mean_{t : id_{t+1} != PAD} -log softmax(logits_t)[id_{t+1}]     (next_token_loss)

trained with teacher forcing on windows of ``L + H`` rows: ``forward`` reads tokens
``0 .. L + H - 2`` and every position's logits are scored against the token after it,
all positions in one pass. The scale is the context's (the first ``L`` rows,
:meth:`TokenLanguageModel.encode`), so the targets after the context are scaled as a
forecast's would be.

Forecasting decodes ``H`` tokens after the ``L`` context tokens with
:mod:`tsseq.nn.decoding` (greedy, sampling, beam search) through a :class:`CachedStep`:
the transformer keeps each layer's keys and values (the GRU its state), so each new token
costs one position's forward pass instead of the whole prefix's.

Shapes: B batch, T tokens, C channels, B' = B C sequences (row ``b C + c``), V bins,
D = d_model, L context length, H horizon.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.transformer import Encoder, EncoderLayer, MultiHeadAttention, positional_encoding

BACKBONES = ("transformer", "gru")


class ValueTokenizer:
    """Mean scaling and uniform quantization into ``n_bins`` bins over ``[-limit, limit]`` (module docstring).

    Parameters
    ----------
    n_bins : int
        ``V >= 2``; token ids ``0 .. V - 1`` are bins, ``V`` is PAD (unobserved).
    limit : float
        ``a > 0``: the outermost bin centres, in units of the context's mean absolute value.
    """

    def __init__(self, n_bins: int, limit: float = 15.0) -> None:
        self.n_bins = check_positive_int(n_bins, "n_bins", minimum=2)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit < math.inf:
            raise ConfigError(f"The 'limit' parameter must be a positive finite number. Got {limit!r} instead.")
        self.limit = float(limit)
        self.width = 2 * self.limit / (self.n_bins - 1)  # w

    @property
    def pad_id(self) -> int:
        """The id of unobserved values, ``V``; never predicted."""
        return self.n_bins

    def centres(self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
        """``(V,)`` bin centres ``c_k`` (scaled units)."""
        return torch.linspace(-self.limit, self.limit, self.n_bins, dtype=dtype, device=device)

    def scale(self, context: Tensor) -> Tensor:
        """``(..., L)`` context values (NaN = unobserved) -> ``(..., 1)`` mean absolute value, 1 where that is 0."""
        observed = ~torch.isnan(context)
        total = torch.where(observed, context.abs(), torch.zeros((), dtype=context.dtype, device=context.device))
        count = observed.sum(-1, keepdim=True)
        scale = total.sum(-1, keepdim=True) / count.clamp(min=1)
        return torch.where((count == 0) | (scale == 0), torch.ones_like(scale), scale)

    def tokenize(self, values: Tensor, scale: Tensor) -> Tensor:
        """Values ``(..., T)`` and ``scale`` broadcastable to them -> ids ``(..., T)`` (long; NaN -> PAD)."""
        scaled = torch.nan_to_num(values / scale, nan=0.0)  # +-inf become the largest floats: the edge bins
        ids = torch.floor((scaled.clamp(-2 * self.limit, 2 * self.limit) + self.limit) / self.width + 0.5)
        ids = ids.clamp(0, self.n_bins - 1).long()
        return torch.where(torch.isnan(values), torch.full_like(ids, self.pad_id), ids)

    def detokenize(self, ids: Tensor, scale: Tensor) -> Tensor:
        """Ids ``(..., T)`` -> bin centres times ``scale`` (NaN at PAD), in ``scale``'s dtype."""
        centres = torch.cat([self.centres(scale.dtype, scale.device), scale.new_full((1,), math.nan)])  # PAD -> NaN
        return centres[ids] * scale

    def __repr__(self) -> str:
        return f"ValueTokenizer(n_bins={self.n_bins}, limit={self.limit})"


def next_token_loss(logits: Tensor, targets: Tensor, pad_id: int) -> Tensor:
    """Mean cross-entropy of ``logits (B', T, V)`` against ``targets (B', T)``, PAD targets left out (0 if all are)."""
    losses = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=pad_id, reduction="none"
    )
    return losses.sum() / (targets != pad_id).sum().clamp(min=1)  # no device sync to count the observed targets


class TokenLanguageModel(nn.Module):
    """Next-token model over quantized values; see the module docstring.

    Parameters
    ----------
    n_bins : int
        ``V``.
    max_tokens : int
        The longest sequence read (``L + H - 1`` for forecasts of ``H`` after ``L``): the
        size of the positional table and of the key/value cache.
    limit : float
        ``a`` of the tokenizer.
    backbone : {"transformer", "gru"}
    d_model, n_heads, n_layers : int
        ``D``, attention heads (dividing ``D``; transformer only), layers.
    d_ff : int, optional
        Feed-forward hidden size of the transformer; default ``4 D``.
    dropout : float
        On the embeddings and inside every layer (between GRU layers).
    norm_first : bool
        pre-LN (with a final norm) or post-LN transformer blocks.
    positional : {"sinusoidal", "learned"}

    Inputs / outputs
    ----------------
    ``forward(ids (B', T)) -> logits (B', T, V)``, ``T <= max_tokens``: logits ``t``
    predict token ``t + 1``.
    ``encode(values (B, T, C), L) -> (ids (B', T), scale (B', 1))``; ``tokenizer.detokenize``
    maps ids back to values.
    """

    def __init__(
        self,
        n_bins: int,
        max_tokens: int,
        *,
        limit: float = 15.0,
        backbone: str = "transformer",
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ConfigError(
                f"The 'backbone' parameter must be one of {list(BACKBONES)}. Got {backbone!r} instead."
                f"{closest_match(str(backbone), BACKBONES)}"
            )
        self.tokenizer = ValueTokenizer(n_bins, limit)
        self.backbone = backbone
        self.max_tokens = check_positive_int(max_tokens, "max_tokens")
        d_model = check_positive_int(d_model, "d_model")
        self.embedding = nn.Embedding(n_bins + 1, d_model)  # the last row embeds PAD
        self.embedding_dropout = nn.Dropout(dropout)
        if backbone == "transformer":
            self.positions = positional_encoding(positional, d_model, self.max_tokens)
            d_ff = 4 * d_model if d_ff is None else d_ff
            self.decoder = Encoder.stack(n_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first)
        else:
            self.positions = None  # order is in the recurrence
            layers = check_positive_int(n_layers, "n_layers")
            self.decoder = nn.GRU(d_model, d_model, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
            self.output_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_bins)

    def forward(self, ids: Tensor) -> Tensor:
        self._check_ids(ids)
        x = self.embedding(ids)  # (B', T, D)
        if self.backbone == "gru":
            hidden = self.output_norm(self.decoder(self.embedding_dropout(x))[0])  # (B', T, D)
        else:
            hidden = self.decoder(self.embedding_dropout(self.positions(x)), causal=True)  # (B', T, D)
        return self.head(hidden)  # (B', T, V)

    def encode(self, values: Tensor, context_length: int) -> tuple[Tensor, Tensor]:
        """``values (B, T, C)`` (NaN = unobserved) -> ``(ids (B', T), scale (B', 1))``, scaled by the first ``L`` rows."""
        if values.dim() != 3 or not 1 <= context_length <= values.shape[1]:
            raise DataError(
                f"encode expects values of shape (B, T, C) with T >= context_length={context_length}. "
                f"Got {tuple(values.shape)} instead."
            )
        batch, steps, channels = values.shape
        rows = values.transpose(1, 2).reshape(batch * channels, steps)  # (B C, T), channel-independent
        scale = self.tokenizer.scale(rows[:, :context_length])
        return self.tokenizer.tokenize(rows, scale), scale

    # ------------------------------------------------------------------ incremental decoding
    def start_state(self, batch: int) -> list[tuple[Tensor, Tensor]] | None:
        """An empty cache for ``batch`` sequences: per transformer layer, keys and values ``(B', h, T_max, d_k)``."""
        if self.backbone == "gru":
            return None  # nn.GRU starts from zeros
        weight = self.head.weight
        state = []
        for layer in self.decoder.layers:
            attention: MultiHeadAttention = layer.attention
            shape = (batch, attention.n_heads, self.max_tokens, attention.head_size)
            state.append((weight.new_zeros(shape), weight.new_zeros(shape)))  # zeros: masked slots stay finite
        return state

    def advance(self, ids: Tensor, state, start: int) -> tuple[Tensor, object]:
        """Tokens ``ids (B', n)`` at positions ``start .. start + n - 1`` after a cached prefix of ``start``.

        Returns ``(hidden (B', n, D), state)``: the transformer writes the new keys and
        values into its cache in place; the GRU returns its new state.
        """
        if start + ids.shape[1] > self.max_tokens:
            raise DataError(
                f"The token model reads at most max_tokens={self.max_tokens} tokens; got {start + ids.shape[1]}. "
                "Build it with a larger max_tokens (input_length + horizon - 1)."
            )
        x = self.embedding(ids)  # (B', n, D)
        if self.backbone == "gru":
            hidden, state = self.decoder(self.embedding_dropout(x), state)  # (B', n, D), (layers, B', D)
            return self.output_norm(hidden), state
        x = self.embedding_dropout(self.positions(x, offset=start))
        for layer, (keys, values) in zip(self.decoder.layers, state):
            x = _cached_layer(layer, x, keys, values, start)
        return (x if self.decoder.norm is None else self.decoder.norm(x)), state

    def reorder_state(self, state, parents: Tensor):
        """The cache of the sequences ``parents (B'',)`` (beam search's survivors, repeated rows for sampling)."""
        if self.backbone == "gru":
            return None if state is None else state.index_select(1, parents)
        return [(keys.index_select(0, parents), values.index_select(0, parents)) for keys, values in state]

    def _check_ids(self, ids: Tensor) -> None:
        if ids.dim() != 2 or ids.dtype != torch.long or not 1 <= ids.shape[1] <= self.max_tokens:
            raise DataError(
                f"The token model expects ids of shape (B, T), dtype long, 1 <= T <= max_tokens={self.max_tokens}. "
                f"Got {tuple(ids.shape)} of {ids.dtype} instead."
            )


def _cached_layer(layer: EncoderLayer, x: Tensor, keys: Tensor, values: Tensor, start: int) -> Tensor:
    """One :class:`EncoderLayer` over new tokens ``x (B', n, D)``, attending to the cache and to themselves."""

    def attend(tokens: Tensor) -> Tensor:
        return _cached_attention(layer.attention, tokens, keys, values, start)

    x = layer._sublayer(x, attend, layer.attention_norm)  # EncoderLayer's residual placement (pre-LN or post-LN)
    return layer._sublayer(x, layer.feed_forward, layer.feed_forward_norm)


def _cached_attention(
    attention: MultiHeadAttention, tokens: Tensor, keys: Tensor, values: Tensor, start: int
) -> Tensor:
    """Causal self-attention of new tokens ``(B', n, D)`` over ``start`` cached positions and themselves."""
    batch, count, _ = tokens.shape
    heads, size = attention.n_heads, attention.head_size

    def split(projection: nn.Linear) -> Tensor:
        return projection(tokens).view(batch, count, heads, size).transpose(1, 2)  # (B', h, n, d_k)

    end = start + count
    keys[:, :, start:end] = split(attention.key_projection)
    values[:, :, start:end] = split(attention.value_projection)
    query = split(attention.query_projection)
    dropout = attention.dropout if attention.training else 0.0
    if count == 1:
        # The newest token sees every cached one. Attending over the whole (contiguous) cache with
        # the unwritten slots masked is about twice as fast on CPU as over the strided slice [:end].
        hidden = torch.zeros(1, keys.shape[2], dtype=query.dtype, device=query.device)  # (1, max_tokens)
        hidden[:, end:] = -math.inf
        context = F.scaled_dot_product_attention(query, keys, values, attn_mask=hidden, dropout_p=dropout)
    elif start == 0:
        context = F.scaled_dot_product_attention(
            query, keys[:, :, :end], values[:, :, :end], dropout_p=dropout, is_causal=True
        )
    else:  # new query i (position start + i) sees keys j <= start + i
        allowed = torch.ones(count, end, dtype=torch.bool, device=tokens.device).tril(diagonal=start)
        context = F.scaled_dot_product_attention(
            query, keys[:, :, :end], values[:, :, :end], attn_mask=allowed, dropout_p=dropout
        )
    return attention.output_projection(context.transpose(1, 2).reshape(batch, count, heads * size))  # (B', n, D)


class CachedStep:
    """``step(prefix (B', t)) -> log-probabilities (B', V)`` of the next token, for :mod:`tsseq.nn.decoding`.

    Keeps the cache of the last prefix it saw: a call whose prefix extends that one by one
    token runs only the new token; any other prefix is recomputed from scratch (so the
    answer never depends on the call history). :meth:`reorder` follows the decoder's
    choice of surviving or repeated rows. Runs without gradients; put the model in eval
    mode first (dropout would otherwise apply).
    """

    def __init__(self, model: TokenLanguageModel) -> None:
        self.model = model
        self._tokens: Tensor | None = None  # (B', t) the prefix the cache holds
        self._state = None

    @torch.no_grad()
    def __call__(self, prefix: Tensor) -> Tensor:
        self.model._check_ids(prefix)
        cached, length = self._tokens, prefix.shape[1]
        if (
            cached is not None
            and cached.shape == (prefix.shape[0], length - 1)
            and torch.equal(cached, prefix[:, :-1])
        ):
            hidden, self._state = self.model.advance(prefix[:, -1:], self._state, length - 1)
        else:
            state = self.model.start_state(prefix.shape[0])
            hidden, self._state = self.model.advance(prefix, state, 0)
        self._tokens = prefix
        return torch.log_softmax(self.model.head(hidden[:, -1]), dim=-1)  # (B', V)

    def reorder(self, parents: Tensor) -> None:
        """Keep the cached rows ``parents (B'',)``, in that order."""
        if self._tokens is not None:
            self._tokens = self._tokens.index_select(0, parents)
            self._state = self.model.reorder_state(self._state, parents)
