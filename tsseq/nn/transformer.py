r"""Transformer building blocks (Vaswani et al. 2017), batch-first: ``(B, T, D)`` tokens.

Scaled dot-product attention with ``h`` heads of size ``d_k = D / h``::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V
    head_i = Attention(X_q W_i^Q, X_k W_i^K, X_v W_i^V)
    MultiHead(X_q, X_k, X_v) = [head_1; ...; head_h] W^O

``M`` is an additive mask: ``-inf`` where a query may not look (the future under a causal
mask, padded keys), 0 elsewhere, or any float bias. The position-wise feed-forward
network is ``FFN(x) = W_2 act(W_1 x + b_1) + b_2`` with ``act`` GELU (default) or ReLU.

A layer wraps each sublayer (attention, FFN) in a residual connection and a
normalisation, in one of two placements:

* post-LN (the original transformer): ``x <- Norm(x + Dropout(Sublayer(x)))``;
* pre-LN (Xiong et al. 2020; GPT-2): ``x <- x + Dropout(Sublayer(Norm(x)))``, with one
  more ``Norm`` after the last layer (:class:`Encoder`/:class:`Decoder` add it).

``Norm`` is LayerNorm over ``D`` (default) or BatchNorm over ``D`` with statistics taken
across the batch and the tokens (PatchTST's choice: it copes better with outliers in
time series than LayerNorm).

Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`, so that
the flash / memory-efficient kernels serve it on GPU (memory linear in ``T``), unless
its weights are asked for: then an explicit softmax computes the same result and
returns ``softmax(Q K^T / sqrt(d_k) + M)`` per head.

Retrieving attention weights for a plot::

    with record_attention(model):      # every MultiHeadAttention keeps its weights
        model(x)
    weights = attention_weights(model)  # {"encoder.layers.0.attention": (B, h, Tq, Tk), ...}

Masks follow the torch conventions of the argument they belong to:
``key_padding_mask (B, Tk)`` is True at padded keys, which are ignored (as in
:class:`torch.nn.MultiheadAttention`); a bool ``attn_mask`` is True where attention is
*allowed* (as in ``scaled_dot_product_attention``), a float ``attn_mask`` is added to
the scores (``M`` above). A query whose keys are all masked gets NaN outputs.

Shapes: B batch, T / Tq / Tk tokens (queries / keys), D = d_model, h heads, d_k = D / h.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

ACTIVATIONS = ("gelu", "relu")
NORMS = ("layer", "batch")
POSITIONAL_KINDS = ("sinusoidal", "learned")


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"The {name!r} parameter must be one of {list(choices)}. Got {value!r} instead."
            f"{closest_match(str(value), choices)}"
        )
    return str(value)


def _check_probability(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"The {name!r} parameter must be a float in [0, 1). Got {value!r} instead.")
    return float(value)


def causal_mask(length: int, device: torch.device | str | None = None) -> Tensor:
    """``(T, T)`` bool, True where query ``i`` may attend to key ``j`` (``j <= i``)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    r"""Multi-head scaled dot-product attention; equations in the module docstring.

    Parameters
    ----------
    d_model : int
        ``D``, size of the queries, keys, values and output.
    n_heads : int
        ``h``; must divide ``d_model``.
    dropout : float
        Dropout on the attention weights (training only).
    bias : bool
        Biases in the four projections.

    Inputs: ``query (B, Tq, D)``, ``key (B, Tk, D)``, ``value (B, Tk, D)``; keyword-only
    ``causal`` (query ``i`` sees keys ``j <= i``; needs ``Tq == Tk``),
    ``key_padding_mask (B, Tk)`` bool True at padded keys, ``attn_mask`` bool (True =
    allowed) or float (added to the scores), broadcastable to ``(B, h, Tq, Tk)``,
    ``need_weights``.

    Outputs: ``(output (B, Tq, D), weights (B, h, Tq, Tk) or None)``; the weights are the
    softmax before dropout, returned only with ``need_weights``.

    Attributes
    ----------
    keep_weights : bool
        When True every forward pass takes the explicit path and stores its weights
        (detached) in ``last_weights``; :func:`record_attention` sets it.
    last_weights : Tensor or None
        ``(B, h, Tq, Tk)`` of the last forward pass made with ``keep_weights``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.d_model = check_positive_int(d_model, "d_model")
        self.n_heads = check_positive_int(n_heads, "n_heads")
        if d_model % n_heads:
            raise ConfigError(
                f"The 'n_heads' parameter must divide d_model so that heads have equal size; "
                f"got d_model={d_model} and n_heads={n_heads}."
            )
        self.head_size = d_model // n_heads
        self.dropout = _check_probability(dropout, "dropout")
        self.query_projection = nn.Linear(d_model, d_model, bias=bias)
        self.key_projection = nn.Linear(d_model, d_model, bias=bias)
        self.value_projection = nn.Linear(d_model, d_model, bias=bias)
        self.output_projection = nn.Linear(d_model, d_model, bias=bias)
        self.keep_weights = False
        self.last_weights: Tensor | None = None

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        q, k, v = self._heads(query, key, value)  # (B, h, Tq, d_k), (B, h, Tk, d_k) x 2
        explicit = need_weights or self.keep_weights
        mask = self._combine_masks(q, k, causal, key_padding_mask, attn_mask, explicit)
        if explicit:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)  # (B, h, Tq, Tk)
            context, weights = self._softmax_attend(scores, v, mask)
        else:
            dropout = self.dropout if self.training else 0.0
            if mask is None and causal:
                # is_causal instead of a mask tensor keeps the flash kernel eligible
                context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
            else:
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
            weights = None
        output = self._merge(context)  # (B, Tq, D)
        if self.keep_weights:
            self.last_weights = weights.detach()
        return output, (weights if need_weights else None)

    def forward_with_scores(self, x: Tensor, previous_scores: Tensor | None) -> tuple[Tensor, Tensor]:
        r"""Self-attention with residual attention scores (RealFormer; He et al. 2021).

        ``S_l = Q K^T / sqrt(d_k) + S_{l-1}``, ``output = MultiHead`` with weights
        ``softmax(S_l)``; returns ``(output (B, T, D), S_l (B, h, T, T))`` for the next
        layer. The official PatchTST encoder runs this way (``res_attention=True``).
        """
        q, k, v = self._heads(x, x, x)  # (B, h, T, d_k) x 3
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)  # (B, h, T, T)
        if previous_scores is not None:
            scores = scores + previous_scores
        context, weights = self._softmax_attend(scores, v, None)
        if self.keep_weights:
            self.last_weights = weights.detach()
        return self._merge(context), scores

    def _heads(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise DataError(
                f"MultiHeadAttention expects query of shape (B, Tq, {self.d_model}). Got {tuple(query.shape)} instead."
            )
        if key.shape != value.shape or key.dim() != 3 or key.shape[0] != query.shape[0] or key.shape[-1] != self.d_model:
            raise DataError(
                f"MultiHeadAttention expects key and value of shape (B, Tk, {self.d_model}) with B = {query.shape[0]}. "
                f"Got key {tuple(key.shape)} and value {tuple(value.shape)} instead."
            )
        batch = query.shape[0]
        q = self.query_projection(query).view(batch, -1, self.n_heads, self.head_size).transpose(1, 2)  # (B, h, Tq, d_k)
        k = self.key_projection(key).view(batch, -1, self.n_heads, self.head_size).transpose(1, 2)  # (B, h, Tk, d_k)
        v = self.value_projection(value).view(batch, -1, self.n_heads, self.head_size).transpose(1, 2)  # (B, h, Tk, d_k)
        return q, k, v

    def _merge(self, context: Tensor) -> Tensor:
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, self.d_model)  # (B, Tq, D)
        return self.output_projection(context)

    def _softmax_attend(self, scores: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
        weights = torch.softmax(scores, dim=-1)  # (B, h, Tq, Tk)
        dropped = F.dropout(weights, self.dropout, self.training)
        return dropped @ v, weights  # (B, h, Tq, d_k), (B, h, Tq, Tk)

    def _combine_masks(
        self,
        q: Tensor,
        k: Tensor,
        causal: bool,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
        explicit: bool,
    ) -> Tensor | None:
        """One mask for both paths: bool (True = allowed) or float (additive); None if none."""
        batch, _, q_len, _ = q.shape
        k_len = k.shape[2]
        if causal and q_len != k_len:
            raise DataError(
                f"A causal mask needs as many queries as keys (query i sees keys 0..i); got Tq={q_len}, Tk={k_len}."
            )
        if key_padding_mask is None and attn_mask is None:
            # SDPA takes is_causal instead of a tensor; only the explicit path needs the tensor
            return causal_mask(q_len, q.device) if causal and explicit else None
        masks: list[Tensor] = []
        if causal:
            masks.append(causal_mask(q_len, q.device))  # (Tq, Tk)
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool or key_padding_mask.shape != (batch, k_len):
                raise DataError(
                    f"key_padding_mask must be a bool tensor of shape (B, Tk) = {(batch, k_len)}, True at padded keys. "
                    f"Got {key_padding_mask.dtype} of shape {tuple(key_padding_mask.shape)} instead."
                )
            masks.append(~key_padding_mask[:, None, None, :])  # (B, 1, 1, Tk)
        allowed: Tensor | None = None
        for mask in masks:
            allowed = mask if allowed is None else allowed & mask
        if attn_mask is None:
            return allowed
        if attn_mask.dtype == torch.bool:
            return attn_mask if allowed is None else attn_mask & allowed
        if allowed is None:
            return attn_mask.to(q.dtype)
        return attn_mask.to(q.dtype).masked_fill(~allowed, float("-inf"))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, dropout={self.dropout}"


class FeedForward(nn.Module):
    r"""Position-wise feed-forward network ``FFN(x) = W_2 Dropout(act(W_1 x + b_1)) + b_2``.

    Inputs ``(B, T, D)``, outputs ``(B, T, D)``; ``W_1`` is ``(d_ff, D)``, ``W_2`` ``(D, d_ff)``.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "gelu") -> None:
        super().__init__()
        check_positive_int(d_model, "d_model")
        check_positive_int(d_ff, "d_ff")
        activation = _check_choice(activation, "activation", ACTIVATIONS)
        self.network = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU() if activation == "gelu" else nn.ReLU(),
            nn.Dropout(_check_probability(dropout, "dropout")),
            nn.Linear(d_ff, d_model),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)


class TokenBatchNorm(nn.Module):
    """BatchNorm over the ``D`` features of ``(B, T, D)`` tokens, statistics across ``B`` and ``T``."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)  # (B, D, T) for BatchNorm1d, back to (B, T, D)


def make_norm(kind: str, d_model: int) -> nn.Module:
    """LayerNorm (``"layer"``) or :class:`TokenBatchNorm` (``"batch"``) over ``d_model``."""
    kind = _check_choice(kind, "norm", NORMS)
    return nn.LayerNorm(d_model) if kind == "layer" else TokenBatchNorm(d_model)


class _ResidualLayer(nn.Module):
    """The residual sublayer of :class:`EncoderLayer` and :class:`DecoderLayer`, pre-LN or post-LN.

    A subclass sets ``norm_first`` (bool) and ``dropout`` (the sublayers' output dropout).
    """

    norm_first: bool
    dropout: nn.Dropout

    def _sublayer(self, x: Tensor, sublayer, norm: nn.Module) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(norm(x)))
        return norm(x + self.dropout(sublayer(x)))


class EncoderLayer(_ResidualLayer):
    r"""Self-attention and feed-forward sublayers, each with residual, dropout and norm.

    post-LN (``norm_first=False``)::

        x = Norm_1(x + Dropout(MultiHead(x, x, x)))
        x = Norm_2(x + Dropout(FFN(x)))

    pre-LN (``norm_first=True``)::

        x = x + Dropout(MultiHead(Norm_1(x), ...))
        x = x + Dropout(FFN(Norm_2(x)))

    Parameters
    ----------
    d_model, n_heads : int
        ``D`` and ``h``.
    d_ff : int
        Hidden size of the feed-forward network.
    dropout : float
        On each sublayer's output and inside the feed-forward network.
    norm_first : bool
        pre-LN when True, post-LN when False.
    activation : {"gelu", "relu"}
    norm : {"layer", "batch"}
    attention_dropout : float
        On the attention weights.
    residual_attention : bool
        Add the previous layer's attention scores to this layer's (see
        :meth:`MultiHeadAttention.forward_with_scores`); the layer then takes and returns
        the scores, and ignores masks.

    Inputs: ``x (B, T, D)``; keyword-only ``causal``, ``key_padding_mask (B, T)``,
    ``attn_mask``. Outputs: ``(B, T, D)``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        *,
        norm_first: bool = False,
        activation: str = "gelu",
        norm: str = "layer",
        attention_dropout: float = 0.0,
        residual_attention: bool = False,
    ) -> None:
        super().__init__()
        self.norm_first = bool(norm_first)
        self.residual_attention = bool(residual_attention)
        self.attention = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.attention_norm = make_norm(norm, d_model)
        self.feed_forward_norm = make_norm(norm, d_model)
        self.dropout = nn.Dropout(_check_probability(dropout, "dropout"))

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        def attend(tokens: Tensor) -> Tensor:
            return self.attention(
                tokens, tokens, tokens, causal=causal, key_padding_mask=key_padding_mask, attn_mask=attn_mask
            )[0]

        x = self._sublayer(x, attend, self.attention_norm)
        return self._sublayer(x, self.feed_forward, self.feed_forward_norm)

    def forward_with_scores(self, x: Tensor, previous_scores: Tensor | None) -> tuple[Tensor, Tensor]:
        """Residual-attention variant: ``(x (B, T, D), S_{l-1}) -> (x, S_l)``."""
        scores: list[Tensor] = []

        def attend(tokens: Tensor) -> Tensor:
            output, new_scores = self.attention.forward_with_scores(tokens, previous_scores)
            scores.append(new_scores)
            return output

        x = self._sublayer(x, attend, self.attention_norm)
        return self._sublayer(x, self.feed_forward, self.feed_forward_norm), scores[0]


class DecoderLayer(_ResidualLayer):
    r"""Masked self-attention, cross-attention to the encoder memory, feed-forward.

    post-LN (``norm_first=False``)::

        x = Norm_1(x + Dropout(MultiHead(x, x, x; causal)))
        x = Norm_2(x + Dropout(MultiHead(x, m, m)))
        x = Norm_3(x + Dropout(FFN(x)))

    pre-LN places each ``Norm`` on the sublayer's input instead (see :class:`EncoderLayer`).
    Parameters as :class:`EncoderLayer`.

    Inputs: ``x (B, T, D)`` decoder tokens, ``memory (B, S, D)`` encoder outputs;
    keyword-only ``causal`` (default True), ``key_padding_mask (B, T)``,
    ``memory_key_padding_mask (B, S)``. Outputs: ``(B, T, D)``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        *,
        norm_first: bool = False,
        activation: str = "gelu",
        norm: str = "layer",
        attention_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm_first = bool(norm_first)
        self.self_attention = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.cross_attention = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.self_attention_norm = make_norm(norm, d_model)
        self.cross_attention_norm = make_norm(norm, d_model)
        self.feed_forward_norm = make_norm(norm, d_model)
        self.dropout = nn.Dropout(_check_probability(dropout, "dropout"))

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        causal: bool = True,
        key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        def self_attend(tokens: Tensor) -> Tensor:
            return self.self_attention(tokens, tokens, tokens, causal=causal, key_padding_mask=key_padding_mask)[0]

        def cross_attend(tokens: Tensor) -> Tensor:
            return self.cross_attention(tokens, memory, memory, key_padding_mask=memory_key_padding_mask)[0]

        x = self._sublayer(x, self_attend, self.self_attention_norm)
        x = self._sublayer(x, cross_attend, self.cross_attention_norm)
        return self._sublayer(x, self.feed_forward, self.feed_forward_norm)


class _LayerStack(nn.Module):
    """Identical layers and, for pre-LN, the final norm: what :class:`Encoder` and :class:`Decoder` share.

    Parameters
    ----------
    layers : sequence of ``layer_class``
    norm : nn.Module, optional
        Applied to the last layer's output; pre-LN stacks need one (their residual
        stream is never normalised otherwise), post-LN stacks have none.
    """

    layer_class: type[nn.Module]

    def __init__(self, layers: Sequence[nn.Module], norm: nn.Module | None = None) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ConfigError(f"{type(self).__name__} needs at least one layer (n_layers >= 1).")
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    @classmethod
    def stack(
        cls,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        *,
        norm_first: bool = False,
        norm: str = "layer",
        **layer_options: object,
    ) -> "_LayerStack":
        """``n_layers`` identical layers, plus the final norm when ``norm_first``.

        ``layer_options``: the other keyword arguments of ``layer_class``
        (``activation``, ``attention_dropout``, and the encoder's ``residual_attention``).
        """
        layers = [
            cls.layer_class(d_model, n_heads, d_ff, dropout, norm_first=norm_first, norm=norm, **layer_options)
            for _ in range(check_positive_int(n_layers, "n_layers"))
        ]
        return cls(layers, make_norm(norm, d_model) if norm_first else None)


class Encoder(_LayerStack):
    """A stack of :class:`EncoderLayer` and, for pre-LN, the final norm (see :class:`_LayerStack`).

    Inputs and outputs as :class:`EncoderLayer`. When the layers use residual
    attention, masks are not supported and the scores pass from layer to layer.
    """

    layer_class = EncoderLayer

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        scores: Tensor | None = None
        for layer in self.layers:
            if layer.residual_attention:
                if causal or key_padding_mask is not None or attn_mask is not None:
                    raise ConfigError("Residual attention supports no masks; build the encoder without it.")
                x, scores = layer.forward_with_scores(x, scores)
            else:
                x = layer(x, causal=causal, key_padding_mask=key_padding_mask, attn_mask=attn_mask)
        return x if self.norm is None else self.norm(x)


class Decoder(_LayerStack):
    """A stack of :class:`DecoderLayer` and, for pre-LN, the final norm (see :class:`_LayerStack`)."""

    layer_class = DecoderLayer

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        causal: bool = True,
        key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        for layer in self.layers:
            x = layer(
                x,
                memory,
                causal=causal,
                key_padding_mask=key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
            )
        return x if self.norm is None else self.norm(x)


class SinusoidalPositionalEncoding(nn.Module):
    r"""Fixed encodings ``PE[t, 2i] = sin(t / 10000^{2i/D})``, ``PE[t, 2i+1] = cos(t / 10000^{2i/D})``.

    Inputs: ``x (B, T, D)`` and ``offset`` (position of the first token). Outputs:
    ``x + PE[offset : offset + T]``; ``offset + T`` must not exceed ``max_len``.
    """

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.d_model = check_positive_int(d_model, "d_model")
        self.max_len = check_positive_int(max_len, "max_len")
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
        frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
        # a buffer, not a parameter, and not saved: it is a function of (max_len, D)
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        return x + _positions(self.table, x, offset, self.max_len)


class LearnedPositionalEncoding(nn.Module):
    """One learned ``D``-vector per position, initialised ``U(-0.02, 0.02)`` (as PatchTST).

    Inputs and outputs as :class:`SinusoidalPositionalEncoding`.
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = check_positive_int(max_len, "max_len")
        self.d_model = check_positive_int(d_model, "d_model")
        self.table = nn.Parameter(torch.empty(max_len, d_model).uniform_(-0.02, 0.02))

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        return x + _positions(self.table, x, offset, self.max_len)


def _positions(table: Tensor, x: Tensor, offset: int, max_len: int) -> Tensor:
    if x.dim() != 3 or x.shape[-1] != table.shape[1]:
        raise DataError(f"Positional encodings expect x of shape (B, T, {table.shape[1]}). Got {tuple(x.shape)} instead.")
    if offset < 0 or offset + x.shape[1] > max_len:
        raise DataError(
            f"Positions {offset}..{offset + x.shape[1] - 1} exceed the positional encoding's max_len={max_len}; "
            "build the model with a larger max_len."
        )
    return table[offset : offset + x.shape[1]]  # (T, D), broadcast over B


def positional_encoding(kind: str, d_model: int, max_len: int) -> nn.Module:
    """``"sinusoidal"`` or ``"learned"`` positional encoding for up to ``max_len`` tokens."""
    kind = _check_choice(kind, "positional", POSITIONAL_KINDS)
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model, max_len)
    return LearnedPositionalEncoding(max_len, d_model)


@contextlib.contextmanager
def record_attention(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block every :class:`MultiHeadAttention` in ``model`` keeps its last weights.

    The explicit attention path runs meanwhile (slower on GPU, same result); the flags are
    restored on exit. Read the weights with :func:`attention_weights`.
    """
    modules = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    previous = [m.keep_weights for m in modules]
    for module in modules:
        module.keep_weights = True
        module.last_weights = None
    try:
        yield model
    finally:
        for module, keep in zip(modules, previous):
            module.keep_weights = keep


def attention_weights(model: nn.Module) -> dict[str, Tensor]:
    """``{module name: last weights (B, h, Tq, Tk)}`` of the attention modules that recorded any."""
    return {
        name: module.last_weights
        for name, module in model.named_modules()
        if isinstance(module, MultiHeadAttention) and module.last_weights is not None
    }
