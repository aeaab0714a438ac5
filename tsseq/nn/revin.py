"""Reversible instance normalisation (RevIN; Kim et al. 2022, "Reversible Instance
Normalization for Accurate Time-Series Forecasting against Distribution Shift").

Each input window is standardised with its own per-channel mean and standard deviation,
the model forecasts on that scale, and the forecast is mapped back with the same
statistics, so that a level or scale shift between windows does not have to be learned::

    mu_bc    = mean_t x_btc
    sigma_bc = sqrt(var_t x_btc + eps)                    (biased variance, as in the paper)
    normalize:    x'_btc = gamma_c (x_btc - mu_bc) / sigma_bc + beta_c
    denormalize:  y_btc  = (y'_btc - beta_c) / gamma_c * sigma_bc + mu_bc

``gamma`` and ``beta`` (one per channel, initialised to 1 and 0) exist only with
``affine=True``. ``denormalize`` is the exact inverse of ``normalize`` (the reference code
divides by ``gamma + eps**2`` instead, which is not). As in the reference code the
statistics are detached: they are a property of the data, not something to learn.

With an observed mask (missing values), mean and variance are taken over the observed
steps only.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from tsseq.base import check_positive_int
from tsseq.engine.distributions import Affine
from tsseq.errors import ConfigError, DataError


class InstanceStats(NamedTuple):
    """The statistics of a batch of windows, each ``(B, 1, C)``."""

    mean: torch.Tensor
    std: torch.Tensor


class RevIN(nn.Module):
    """Reversible instance normalisation over ``(B, L, C)`` windows; see the module docstring.

    Parameters
    ----------
    num_channels : int
        ``C``.
    affine : bool
        Learn ``gamma`` and ``beta`` per channel.
    eps : float
        Added to the variance before the square root; keeps constant windows finite.

    Attributes
    ----------
    gamma, beta : nn.Parameter
        ``(C,)``; only with ``affine=True``.
    """

    def __init__(self, num_channels: int, *, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_channels = check_positive_int(num_channels, "num_channels")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
            raise ConfigError(f"The 'eps' parameter must be a float > 0. Got {eps!r} instead.")
        self.eps = float(eps)
        self.affine = bool(affine)
        if self.affine:
            self.gamma = nn.Parameter(torch.ones(num_channels))
            self.beta = nn.Parameter(torch.zeros(num_channels))

    def statistics(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> InstanceStats:
        """Per window and channel mean and standard deviation of ``x (B, L, C)`` over ``L``.

        ``mask (B, L, C)`` bool, True where observed, restricts both to the observed steps
        (a channel with no observed step gets mean 0 and std ``sqrt(eps)``).
        """
        self._check(x, "x")
        with torch.no_grad():
            if mask is None:
                var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)  # (B, 1, C)
            else:
                if mask.shape != x.shape or mask.dtype != torch.bool:
                    raise DataError(
                        f"The RevIN mask must be a bool tensor shaped like x {tuple(x.shape)}. "
                        f"Got {mask.dtype} of shape {tuple(mask.shape)} instead."
                    )
                # torch.where, not a product with the mask, so that NaN at unobserved steps is ignored
                count = mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1, C)
                mean = torch.where(mask, x, 0.0).sum(dim=1, keepdim=True) / count  # (B, 1, C)
                var = torch.where(mask, (x - mean) ** 2, 0.0).sum(dim=1, keepdim=True) / count  # (B, 1, C)
            return InstanceStats(mean, torch.sqrt(var + self.eps))

    def normalize(
        self, x: torch.Tensor, stats: InstanceStats | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, InstanceStats]:
        """``x (B, L, C)`` -> ``(x_norm (B, L, C), stats)``.

        ``stats`` defaults to :meth:`statistics` of ``x`` (with ``mask``); pass the stats of
        the input window to put its targets on the same scale (teacher forcing, losses).
        """
        if stats is None:
            stats = self.statistics(x, mask)
        else:
            self._check(x, "x")
        x_norm = (x - stats.mean) / stats.std  # (B, L, C)
        if self.affine:
            x_norm = x_norm * self.gamma + self.beta
        return x_norm, stats

    def denormalize(self, y: torch.Tensor, stats: InstanceStats) -> torch.Tensor:
        """``y (B, H, C)`` on the normalised scale -> the scale of the window ``stats`` came from."""
        self._check(y, "y")
        if self.affine:
            y = (y - self.beta) / self.gamma
        return y * stats.std + stats.mean  # (B, H, C)

    def as_affine(self, stats: InstanceStats) -> Affine:
        """:meth:`denormalize` as ``y = shift + scale * y'``, for distribution heads (:mod:`tsseq.engine.distributions`)."""
        if not self.affine:
            return Affine(stats.mean, stats.std)
        scale = stats.std / self.gamma  # (B, 1, C)
        return Affine(stats.mean - self.beta * scale, scale)

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.dim() != 3 or x.shape[2] != self.num_channels:
            raise DataError(
                f"RevIN expects {name} of shape (B, L, {self.num_channels}) (batch, steps, channels). "
                f"Got {tuple(x.shape)} instead."
            )

    def extra_repr(self) -> str:
        return f"{self.num_channels}, affine={self.affine}, eps={self.eps}"
