r"""Decoding a fixed number of tokens from a next-token distribution: greedy, sampling, beam search.

Every decoder takes ``step(prefix (B, t)) -> log p(. | prefix)`` of shape ``(B, V)``
(normalised log-probabilities over ``V`` tokens), a ``prefix (B, t0)`` of long ids
(``t0 >= 0``) and the number of tokens ``H`` to add, and works on the ``B`` prefixes at
once: each step is one call of ``step`` on every live hypothesis (``B``, ``B n`` or
``B k`` rows). A path's score is its log-probability given the prefix::

    log p(y_1 .. y_H | x) = sum_{t=1}^{H} log p(y_t | x, y_1 .. y_{t-1})

* :func:`greedy`: ``y_t = argmax log p(. | x, y_<t)``.
* :func:`sample`: ancestral sampling, ``y_t ~ softmax(log p(. | x, y_<t) / T)``
  restricted to the ``top_k`` most probable tokens when given; ``T -> 0`` is greedy
  (``T = 0`` is accepted and means greedy); reproducible with a seeded
  :class:`torch.Generator`.
* :func:`beam_search`: keeps the ``k`` highest-scoring prefixes at every step (all
  ``k V`` one-token extensions of the survivors are scored, the best ``k`` kept) and
  returns the ``k`` best paths of exactly ``H`` tokens with their log-probabilities,
  sorted best first. It is exact (the ``k`` most probable of all ``V^H`` paths) when
  ``k >= V^{H-1}`` (nothing is ever pruned before the last step) or when the steps are
  independent of the prefix; otherwise it is the usual approximation: a path whose
  first tokens are improbable can be pruned before its later, probable tokens are seen.

Length is handled explicitly: there is no end-of-sequence token, so every hypothesis
has exactly ``H`` tokens and every score is a sum of ``H`` terms. Length normalisation
or a length penalty (e.g. Wu et al. 2016, score / ((5 + |y|) / 6)^alpha) would divide
all of them by the same constant and change no ranking, so none is offered.

A ``step`` object may carry a cache of the previous call (e.g.
:class:`tsseq.nn.tokens.CachedStep`); it then has ``reorder(parents (B',))``, which the
decoders call whenever hypotheses are dropped, kept or repeated (row ``i`` of the next
prefix extends row ``parents[i]`` of the last one), so that consecutive calls see
prefixes that extend each other by one token. A plain function needs no such method.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError

Step = Callable[[Tensor], Tensor]


def greedy(step: Step, prefix: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    """The most probable token at every step.

    Returns ``(paths (B, H), log_probs (B,))``: the ids added after each prefix and the
    path's log-probability. Equals :func:`beam_search` with ``width=1``.
    """
    _check_prefix(prefix)
    horizon = check_positive_int(horizon, "horizon")
    sequence, total = prefix, None
    for _ in range(horizon):
        log_probs = _call(step, sequence)  # (B, V)
        best, token = log_probs.max(dim=-1)  # (B,) each
        total = best if total is None else total + best
        sequence = torch.cat([sequence, token[:, None]], dim=1)
    return sequence[:, prefix.shape[1] :], total


def sample(
    step: Step,
    prefix: Tensor,
    horizon: int,
    n: int = 1,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` ancestral samples of ``H`` tokens after each prefix: ``(B, n, H)``.

    The first step runs on the ``B`` prefixes once; the rows are then repeated ``n``
    times (series-major: row ``b n + j`` is sample ``j`` of prefix ``b``), so a cached
    ``step`` reads each prefix once. ``generator``: a seeded :class:`torch.Generator` on
    the device of the log-probabilities makes the draw reproducible.
    """
    _check_prefix(prefix)
    horizon, n = check_positive_int(horizon, "horizon"), check_positive_int(n, "n")
    temperature = check_temperature(temperature)
    if top_k is not None:
        top_k = check_positive_int(top_k, "top_k")
    batch = prefix.shape[0]
    log_probs = _call(step, prefix).repeat_interleave(n, dim=0)  # (B n, V)
    parents = torch.arange(batch, device=prefix.device).repeat_interleave(n)  # (B n,)
    _reorder(step, parents)
    sequence = prefix.index_select(0, parents)  # (B n, t0)
    for position in range(horizon):
        if position:
            log_probs = _call(step, sequence)
        token = _draw(log_probs, temperature, top_k, generator)  # (B n,)
        sequence = torch.cat([sequence, token[:, None]], dim=1)
    return sequence[:, prefix.shape[1] :].reshape(batch, n, horizon)


def beam_search(step: Step, prefix: Tensor, horizon: int, width: int = 4) -> tuple[Tensor, Tensor]:
    """The ``k = width`` best paths of ``H`` tokens after each prefix found by beam search.

    Returns ``(paths (B, k, H), log_probs (B, k))``, best first (``log_probs`` non-increasing
    along ``k``). Needs ``k <= V^H`` (there are no more distinct paths). See the module
    docstring for when the result is exact.
    """
    _check_prefix(prefix)
    horizon, width = check_positive_int(horizon, "horizon"), check_positive_int(width, "width")
    batch, start = prefix.shape
    sequence = prefix  # (B kept, t): hypothesis j of prefix b is row b kept + j
    scores = torch.zeros(batch, 1, device=prefix.device)  # (B, kept)
    for position in range(horizon):
        log_probs = _call(step, sequence)  # (B kept, V)
        vocabulary = log_probs.shape[-1]
        if position == 0 and width > vocabulary**horizon:
            raise ConfigError(
                f"beam_search: width={width} exceeds the {vocabulary}^{horizon} = {vocabulary**horizon} distinct paths."
            )
        kept = scores.shape[1]
        candidates = scores.to(log_probs.dtype)[:, :, None] + log_probs.view(batch, kept, vocabulary)  # (B, kept, V)
        scores, flat = candidates.view(batch, kept * vocabulary).topk(min(width, kept * vocabulary), dim=1)  # sorted
        beam, token = flat // vocabulary, flat % vocabulary  # (B, kept') each
        parents = (torch.arange(batch, device=prefix.device)[:, None] * kept + beam).reshape(-1)  # (B kept',)
        _reorder(step, parents)
        sequence = torch.cat([sequence.index_select(0, parents), token.reshape(-1, 1)], dim=1)
    return sequence[:, start:].reshape(batch, width, horizon), scores


def _draw(log_probs: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    """One token per row from ``softmax(log_probs / T)`` over the ``top_k`` best (``T = 0``: the argmax)."""
    if temperature == 0 or top_k == 1:
        return log_probs.argmax(dim=-1)
    logits = log_probs / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    # Inverse CDF: the first token whose cumulative probability exceeds u ~ U(0, 1); several times
    # faster than torch.multinomial for many rows. Tokens of probability 0 are never drawn.
    cumulative = torch.softmax(logits, dim=-1).cumsum(dim=-1)  # (B, V)
    uniform = torch.rand(len(cumulative), 1, generator=generator, dtype=cumulative.dtype, device=cumulative.device)
    token = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)[:, 0]
    return token.clamp(max=cumulative.shape[-1] - 1)


def _call(step: Step, prefix: Tensor) -> Tensor:
    log_probs = step(prefix)
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 2 or log_probs.shape[0] != prefix.shape[0]:
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise DataError(
            f"step(prefix) must return log-probabilities of shape (B, V) with B = {prefix.shape[0]} rows. Got {shape}."
        )
    return log_probs


def _reorder(step: Step, parents: Tensor) -> None:
    reorder = getattr(step, "reorder", None)
    if reorder is not None:
        reorder(parents)


def _check_prefix(prefix: Tensor) -> None:
    if not isinstance(prefix, Tensor) or prefix.dim() != 2 or prefix.dtype != torch.long or prefix.shape[0] == 0:
        shape = tuple(prefix.shape) if isinstance(prefix, Tensor) else type(prefix).__name__
        raise DataError(f"The prefix must be a long tensor of shape (B, t) with B >= 1 (t may be 0). Got {shape}.")


def check_temperature(temperature: object) -> float:
    number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not number or not 0 <= temperature < math.inf:  # type: ignore[operator]
        raise ConfigError(
            f"The 'temperature' parameter must be a finite number >= 0 (0: greedy). Got {temperature!r} instead."
        )
    return float(temperature)  # type: ignore[arg-type]
