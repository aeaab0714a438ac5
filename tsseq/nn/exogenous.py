r"""The user's real-valued covariates inside a module: one packed block, split and embedded here.

The estimators carry each window's covariates as one float block ``(B, L, X)`` next to
its values (:mod:`tsseq.estimators.covariates`); row ``r`` of a window holds

    [ p_r (P) ; f_r, f_{r+L}, ..., f_{r+mL} (F each) ; s (N) ; k (K_s) ]

with ``p`` the past covariates, ``f`` the future covariates, ``m = ceil(H / L)`` leads so
that the rows of one window reach ``H`` steps past its end, ``s`` the static numeric
covariates and ``k`` the codes of the static categorical ones (the same on every row).
:class:`ExogenousInputs` turns the block into the two things architectures consume:

* per input step ``t = 1 .. L``: ``a_t = [p_t ; f_t ; s ; E(k)]`` (size ``A``:
  :attr:`ExogenousInputs.step_size`), concatenated to the step's values by encoders;
* per horizon step ``h = 1 .. H``: ``b_h = [f_{L+h} ; s ; E(k)]`` (size ``B_h``:
  :attr:`ExogenousInputs.horizon_size`), the known future, read by decoders and direct
  heads. Past covariates never enter ``b``: they are not observed after the origin.

``E(k) = [E_1[k_1] ; ... ; E_{K_s}[k_{K_s}]]`` (:class:`~tsseq.nn.embeddings.CovariateEmbedding`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from tsseq.errors import DataError
from tsseq.nn.embeddings import CovariateEmbedding


@dataclass(frozen=True)
class ExogenousSizes:
    """How many covariates of each kind a module takes: ``past`` ``P``, ``future`` ``F``,
    ``static_numeric`` ``N``, and the cardinality of each static categorical column."""

    past: int = 0
    future: int = 0
    static_numeric: int = 0
    static_cardinalities: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, past: int, future: int, static_numeric: int, static_cardinalities: dict[str, int]) -> "ExogenousSizes | None":
        """The sizes, or None when there is no covariate at all."""
        if not (past or future or static_numeric or static_cardinalities):
            return None
        return cls(past, future, static_numeric, dict(static_cardinalities))

    def n_leads(self, input_length: int, horizon: int) -> int:
        """``1 + m``: the copies of the future covariates a row carries (lead 0, L, ..., mL)."""
        return 1 + math.ceil(horizon / input_length) if self.future else 0

    def width(self, input_length: int, horizon: int) -> int:
        """``X``, the columns of the packed block."""
        leads = self.n_leads(input_length, horizon)
        return self.past + self.future * leads + self.static_numeric + len(self.static_cardinalities)


class ExogenousInputs(nn.Module):
    """Packed block ``(B, L, X)`` -> step features ``(B, L, A)`` and horizon features ``(B, H, B_h)``.

    Parameters
    ----------
    sizes : ExogenousSizes
    horizon : int
        ``H``; the input length ``L`` is the block's (any ``L``: the leads are counted
        from the block's width).
    static_dim : int
        Size of each static categorical column's embedding.
    """

    def __init__(self, sizes: ExogenousSizes, horizon: int, static_dim: int = 4) -> None:
        super().__init__()
        self.sizes, self.horizon = sizes, horizon
        cardinalities = dict(sizes.static_cardinalities)
        self.static_embedding = (
            CovariateEmbedding(cardinalities, {name: static_dim for name in cardinalities}) if cardinalities else None
        )
        static = sizes.static_numeric + (0 if self.static_embedding is None else self.static_embedding.output_size)
        self.static_size = static
        self.step_size = sizes.past + sizes.future + static
        self.horizon_size = sizes.future + static

    def forward(self, block: Tensor) -> tuple[Tensor, Tensor]:
        if block.dim() != 3:
            raise DataError(f"ExogenousInputs expects a covariate block (B, L, X). Got {tuple(block.shape)}.")
        length, width = block.shape[1:]
        if width != self.sizes.width(length, self.horizon):
            raise DataError(
                f"ExogenousInputs with {self.sizes} expects a covariate block (B, {length}, "
                f"{self.sizes.width(length, self.horizon)}) for L={length}, H={self.horizon}. Got {tuple(block.shape)}."
            )
        sizes = self.sizes
        past, rest = block[..., : sizes.past], block[..., sizes.past :]  # (B, L, P)
        future_width = sizes.future * sizes.n_leads(length, self.horizon)
        leads, static = rest[..., :future_width], rest[:, 0, future_width:]  # (B, L, F·(m+1)), (B, N + K_s)
        # Lead k of row r is f_{r + kL}: stacking the leads in time gives f_1 .. f_{(m+1)L}.
        future = torch.cat(leads.split(sizes.future, dim=-1), dim=1)[:, : length + self.horizon] if sizes.future else None
        parts = [static[:, : sizes.static_numeric]]  # (B, N)
        if self.static_embedding is not None:
            codes = static[:, sizes.static_numeric :].round().long()  # (B, K_s)
            parts.append(self.static_embedding(codes).to(block.dtype))  # (B, E_s)
        constant = torch.cat(parts, dim=-1)  # (B, N + E_s)
        steps = [past] + ([future[:, :length]] if future is not None else []) + [constant[:, None].expand(-1, length, -1)]
        ahead = ([future[:, length:]] if future is not None else []) + [constant[:, None].expand(-1, self.horizon, -1)]
        return torch.cat(steps, dim=-1), torch.cat(ahead, dim=-1)  # (B, L, A), (B, H, B_h)
