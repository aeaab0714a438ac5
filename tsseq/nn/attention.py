"""Attention of a decoder query over encoder outputs: additive (Bahdanau) and multiplicative (Luong).

Every kind scores each encoder step ``j`` against the query ``q``, turns the scores into
weights with a softmax over the encoder steps (masked steps get weight 0), and returns
the weighted mean of the encoder outputs (the context)::

    e_j = score(q, k_j)                        j = 1 .. L
    a_j = exp(e_j) / sum_{m in mask} exp(e_m)  (a_j = 0 where the mask is False)
    context = sum_j a_j k_j

with ``score`` one of

* ``"bahdanau"`` (Bahdanau, Cho & Bengio 2015), additive: ``v^T tanh(W_q q + W_k k_j)``;
* ``"luong-dot"`` (Luong, Pham & Manning 2015): ``q^T k_j`` (needs equal query and key sizes);
* ``"luong-general"`` (Luong et al. 2015): ``q^T W k_j``.

The keys serve as the values, as in both papers. A decoder asks for attention over the
same keys at every step, so the part of the score that depends on the keys only
(``W_k k_j``, ``W k_j``) is exposed as :meth:`project_keys` and can be computed once per
sequence and passed back as ``projected_keys``.

Shapes: B batch, L encoder steps, M queries per sample, H_q query size, H_k key size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

ATTENTION_KINDS = ("none", "bahdanau", "luong-dot", "luong-general")


def attend(
    scores: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked softmax of ``scores`` over the encoder steps, and the weighted sum of ``values``.

    Parameters
    ----------
    scores : torch.Tensor
        ``(B, M, L)`` score of each encoder step for each query.
    values : torch.Tensor
        ``(B, L, H_k)`` encoder outputs.
    mask : torch.Tensor, optional
        ``(B, L)`` bool, True where an encoder step may be attended to (the convention
        of :func:`torch.nn.functional.scaled_dot_product_attention`). Every sample needs
        at least one True step.

    Returns
    -------
    context : torch.Tensor
        ``(B, M, H_k)``.
    weights : torch.Tensor
        ``(B, M, L)``, non-negative, summing to 1 over ``L``; 0 on masked steps.
    """
    if mask is not None:
        if mask.dtype != torch.bool or mask.shape != (scores.shape[0], scores.shape[2]):
            raise DataError(
                f"The attention mask must be a bool tensor of shape (B, L) = {(scores.shape[0], scores.shape[2])}. "
                f"Got {mask.dtype} of shape {tuple(mask.shape)} instead."
            )
        if not bool(mask.any(dim=1).all()):
            raise DataError("The attention mask is False at every encoder step of some sample; nothing to attend to.")
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))  # (B, M, L)
    weights = F.softmax(scores, dim=-1)  # (B, M, L)
    return torch.bmm(weights, values), weights  # (B, M, H_k), (B, M, L)


class _Attention(nn.Module):
    """The steps common to every score: shapes, projected keys, masked softmax.

    Subclasses define ``project_keys(keys)`` and ``score(query, projected_keys)``.
    """

    query_size: int
    key_size: int

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend with ``query`` over ``keys``.

        Inputs
        ------
        query : ``(B, H_q)``, or ``(B, M, H_q)`` for ``M`` queries at once.
        keys : ``(B, L, H_k)`` encoder outputs (also the values).
        mask : ``(B, L)`` bool, True where a step may be attended to; default all.
        projected_keys : ``project_keys(keys)``, when the caller computed it already.

        Outputs
        -------
        context : ``(B, H_k)`` (``(B, M, H_k)`` for 3-D queries).
        weights : ``(B, L)`` (``(B, M, L)``), summing to 1 over ``L``.
        """
        single = query.dim() == 2
        if query.dim() not in (2, 3) or query.shape[-1] != self.query_size:
            raise DataError(
                f"The attention query must have shape (B, {self.query_size}) or (B, M, {self.query_size}). "
                f"Got {tuple(query.shape)} instead."
            )
        if keys.dim() != 3 or keys.shape[0] != query.shape[0] or keys.shape[2] != self.key_size:
            raise DataError(
                f"The attention keys must have shape (B, L, {self.key_size}) with B = {query.shape[0]}. "
                f"Got {tuple(keys.shape)} instead."
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        queries = query.unsqueeze(1) if single else query  # (B, M, H_q)
        context, weights = attend(self.score(queries, projected_keys), keys, mask)
        if single:
            return context.squeeze(1), weights.squeeze(1)  # (B, H_k), (B, L)
        return context, weights


class AdditiveAttention(_Attention):
    """Bahdanau attention: ``e_j = v^T tanh(W_q q + W_k k_j)``; see the module docstring.

    Inputs: query ``(B, H_q)`` or ``(B, M, H_q)``, keys ``(B, L, H_k)``, optional mask
    ``(B, L)`` bool. Outputs: context ``(B, H_k)`` and weights ``(B, L)`` (with ``M``:
    ``(B, M, H_k)`` and ``(B, M, L)``); see :meth:`forward`.

    Parameters
    ----------
    query_size : int
        ``H_q``, size of the decoder query.
    key_size : int
        ``H_k``, size of the encoder outputs.
    attention_size : int, optional
        ``A``, rows of ``W_q`` and ``W_k`` and size of ``v``; default ``key_size``.

    Attributes
    ----------
    query_projection : nn.Linear
        ``W_q`` ``(A, H_q)``, no bias (the paper's equation has none).
    key_projection : nn.Linear
        ``W_k`` ``(A, H_k)``, no bias.
    energy : nn.Linear
        ``v^T`` ``(1, A)``, no bias.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.query_size = check_positive_int(query_size, "query_size")
        self.key_size = check_positive_int(key_size, "key_size")
        attention_size = key_size if attention_size is None else check_positive_int(attention_size, "attention_size")
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)
        self.key_projection = nn.Linear(key_size, attention_size, bias=False)
        self.energy = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``W_k k_j``: ``(B, L, H_k) -> (B, L, A)``."""
        return self.key_projection(keys)

    def score(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """``(B, M, H_q)``, ``(B, L, A)`` -> ``(B, M, L)``."""
        projected_query = self.query_projection(query)  # (B, M, A)
        hidden = torch.tanh(projected_query.unsqueeze(2) + projected_keys.unsqueeze(1))  # (B, M, L, A)
        return self.energy(hidden).squeeze(-1)  # (B, M, L)


class MultiplicativeAttention(_Attention):
    """Luong attention: ``e_j = q^T k_j`` (``"dot"``) or ``q^T W k_j`` (``"general"``).

    Inputs: query ``(B, H_q)`` or ``(B, M, H_q)``, keys ``(B, L, H_k)``, optional mask
    ``(B, L)`` bool. Outputs: context ``(B, H_k)`` and weights ``(B, L)`` (with ``M``:
    ``(B, M, H_k)`` and ``(B, M, L)``); see :meth:`forward`.

    Parameters
    ----------
    query_size : int
        ``H_q``, size of the decoder query.
    key_size : int
        ``H_k``, size of the encoder outputs; must equal ``query_size`` for ``"dot"``.
    score : {"general", "dot"}
        The score function.

    Attributes
    ----------
    key_projection : nn.Linear or None
        ``W`` ``(H_q, H_k)``, no bias, for ``"general"``; None for ``"dot"``.
    """

    def __init__(self, query_size: int, key_size: int, score: str = "general") -> None:
        super().__init__()
        self.query_size = check_positive_int(query_size, "query_size")
        self.key_size = check_positive_int(key_size, "key_size")
        if score not in ("general", "dot"):
            raise ConfigError(
                f"The 'score' parameter must be 'general' or 'dot'. Got {score!r} instead."
                f"{closest_match(str(score), ('general', 'dot'))}"
            )
        if score == "dot" and query_size != key_size:
            raise ConfigError(
                f"Dot-product attention needs a query as wide as the keys; got query_size={query_size} "
                f"and key_size={key_size}. Use the 'general' score, which learns a map between them."
            )
        self.score_name = score
        self.key_projection = nn.Linear(key_size, query_size, bias=False) if score == "general" else None

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``W k_j`` (``k_j`` itself for ``"dot"``): ``(B, L, H_k) -> (B, L, H_q)``."""
        return keys if self.key_projection is None else self.key_projection(keys)

    def score(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """``(B, M, H_q)``, ``(B, L, H_q)`` -> ``(B, M, L)``."""
        return torch.bmm(query, projected_keys.transpose(1, 2))  # (B, M, L)


def make_attention(kind: str, query_size: int, key_size: int) -> _Attention | None:
    """The attention module named ``kind`` (one of :data:`ATTENTION_KINDS`); None for ``"none"``."""
    if kind not in ATTENTION_KINDS:
        raise ConfigError(
            f"The 'attention' parameter must be one of {', '.join(ATTENTION_KINDS)}. "
            f"Got {kind!r} instead.{closest_match(str(kind), ATTENTION_KINDS)}"
        )
    if kind == "bahdanau":
        return AdditiveAttention(query_size, key_size)
    if kind == "luong-dot":
        return MultiplicativeAttention(query_size, key_size, score="dot")
    if kind == "luong-general":
        return MultiplicativeAttention(query_size, key_size, score="general")
    return None
