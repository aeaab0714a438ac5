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

:meth:`ExogenousInputs.rows` gives the kinds apart, row by row, also of a packed sequence
longer than one window (the decoder-only model's next-patch training windows), whose
future rows reach past its end through the leads of its last ``L`` rows.
"""

from __future__ import annotations

import math
import warnings
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
        length = block.shape[1] if block.dim() == 3 else 0
        past, future, constant = self.rows(block, length, length + self.horizon)
        steps = [past] + ([future[:, :length]] if future is not None else []) + [constant[:, None].expand(-1, length, -1)]
        ahead = ([future[:, length:]] if future is not None else []) + [constant[:, None].expand(-1, self.horizon, -1)]
        return torch.cat(steps, dim=-1), torch.cat(ahead, dim=-1)  # (B, L, A), (B, H, B_h)

    def rows(self, block: Tensor, stride: int, count: int) -> tuple[Tensor, Tensor | None, Tensor]:
        """The kinds apart, row by row: ``past`` ``(B, T, P)``, ``future`` ``f_1 .. f_count`` ``(B, count, F)`` (None
        without), ``constant`` ``[s ; E(k)]`` ``(B, N + E_s)``.

        ``block`` ``(B, T, X)`` holds rows packed with leads every ``stride`` rows (the
        estimators' ``input_length``; ``T >= stride``): an input window (``T = stride``) or a
        longer training sequence. Lead ``k`` of row ``r`` is ``f_{r + k·stride}``, so the
        future rows after the block come from the leads of its last ``stride`` rows; rows
        beyond what the leads reach are 0.
        """
        sizes = self.sizes
        length = block.shape[1] if block.dim() == 3 else 0
        if block.dim() != 3 or length < stride or block.shape[2] != sizes.width(stride, self.horizon):
            raise DataError(
                f"ExogenousInputs with {sizes} expects a covariate block (B, T >= {stride}, "
                f"{sizes.width(stride, self.horizon)}) for L={stride}, H={self.horizon}. Got {tuple(block.shape)}."
            )
        past, rest = block[..., : sizes.past], block[..., sizes.past :]  # (B, T, P)
        future_width = sizes.future * sizes.n_leads(stride, self.horizon)
        leads, static = rest[..., :future_width], rest[:, 0, future_width:]  # (B, T, F·(m+1)), (B, N + K_s)
        future = None
        if sizes.future:
            lead = leads.split(sizes.future, dim=-1)  # m + 1 of (B, T, F)
            # f_1 .. f_T from lead 0, then each lead k adds the stride rows after: f_{T + (k-1)·stride + 1} ..
            future = torch.cat([lead[0]] + [part[:, length - stride :] for part in lead[1:]], dim=1)
            future = nn.functional.pad(future, (0, 0, 0, max(0, count - future.shape[1])))[:, :count]
        parts = [static[:, : sizes.static_numeric]]  # (B, N)
        if self.static_embedding is not None:
            codes = static[:, sizes.static_numeric :].round().long()  # (B, K_s)
            parts.append(self.static_embedding(codes).to(block.dtype))  # (B, E_s)
        return past, future, torch.cat(parts, dim=-1)  # (B, N + E_s)


def horizon_head(in_features: int, out_features: int) -> nn.Linear:
    """The linear map of the horizon's features ``b`` into a head, ``W_b``.

    With past covariates only, ``b`` is empty (``B_h = 0``) and the map is its bias alone, a
    learned constant: kept, so that such models train and load as they always have, without
    torch's warning that initialising its empty weight does nothing.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
        return nn.Linear(in_features, out_features)
