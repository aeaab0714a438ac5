r"""Masked-patch pretraining (BERT-style; PatchTST's self-supervised mode, Nie et al. 2023).

For each series (a channel of a window) a random ``round(r N)`` of its ``N`` patches is
hidden: replaced by zeros (the mean of the RevIN-normalised window) before the patch
embedding. The encoder sees the rest, a linear head ``D -> P`` predicts every patch, and
the loss is the mean squared error over the hidden patches only::

    M_bn = 1 if patch n of series b is hidden, else 0
    loss = sum_{b,n} M_bn ||p̂_bn - p_bn||² / (P sum_{b,n} M_bn)

so predicting visible patches (copying the input) earns nothing. The targets ``p_bn``
are the normalised patches of the input window itself.

Training goes through the shared engine, :meth:`tsseq.engine.Trainer.fit`, unchanged:
:class:`MaskedPatchModel` is the model (it draws the mask and returns a
:class:`PatchReconstruction` instead of a forecast) and :func:`masked_patch_loss` the
loss callable, which ignores the windows' targets. Validation windows get fresh random
masks too (in eval mode), so the validation loss is that of the same task.

Overlapping patches (``S < P``) let the hidden values leak through their neighbours; the
official pretraining uses ``S == P``.

Covariates: none. The task is to rebuild each channel's hidden patches from its visible
ones, the targets being the input itself; a PatchTST built with covariates
(``exogenous``) is refused. A backbone pretrained here serves a PatchTST with covariates
as well: their maps start at zero (:mod:`tsseq.nn.patchtst`), so pretrain without
covariates, then fit with them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from tsseq.errors import ConfigError
from tsseq.nn.patchtst import PatchTST


class PatchReconstruction(NamedTuple):
    """What :class:`MaskedPatchModel` returns; each tensor is per series ``b`` and patch ``n``."""

    reconstruction: Tensor  # (B·C, N, P) predicted patches, normalised scale
    target: Tensor  # (B·C, N, P) true patches, normalised scale
    mask: Tensor  # (B·C, N) bool, True at the hidden patches


def check_mask_ratio(mask_ratio: object) -> float:
    if isinstance(mask_ratio, bool) or not isinstance(mask_ratio, (int, float)) or not 0 < mask_ratio < 1:
        raise ConfigError(f"The 'mask_ratio' parameter must be a float in (0, 1). Got {mask_ratio!r} instead.")
    return float(mask_ratio)


def random_patch_mask(
    n_series: int, n_patches: int, mask_ratio: float, *, device=None, generator: torch.Generator | None = None
) -> Tensor:
    """``(n_series, n_patches)`` bool with exactly ``max(1, round(mask_ratio n_patches))`` True per row, at random."""
    hidden = max(1, round(check_mask_ratio(mask_ratio) * n_patches))
    noise = torch.rand(n_series, n_patches, device=device, generator=generator)  # (B', N)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # (B', N) the rank of each patch's noise in its row
    return ranks < hidden


def masked_patch_loss(output: PatchReconstruction, targets: Tensor | None = None, target_mask: Tensor | None = None) -> Tensor:
    """The engine's loss signature; mean squared error over the hidden patches (module docstring).

    ``targets`` and ``target_mask`` (the windows' own) are ignored: the target is the input.
    """
    del targets, target_mask
    squared = (output.reconstruction.float() - output.target.float()).pow(2).mean(dim=-1)  # (B·C, N)
    weights = output.mask.to(squared.dtype)
    return (squared * weights).sum() / weights.sum()


class MaskedPatchModel(nn.Module):
    """Masks random patches of ``x (B, L, C)`` and reconstructs them with ``model``'s encoder.

    Parameters
    ----------
    model : PatchTST
        Its ``backbone`` and ``reconstruction_head`` are trained (its forecasting ``head``
        gets no gradient; freeze it so that the optimizer ignores it).
    mask_ratio : float
        Fraction of each series' patches hidden, in (0, 1).

    Inputs: ``x (B, L, C)``. Outputs: :class:`PatchReconstruction`.
    """

    def __init__(self, model: PatchTST, mask_ratio: float = 0.4) -> None:
        super().__init__()
        if getattr(model, "exogenous", None) is not None:
            raise ConfigError(
                "Masked pretraining takes no covariates: it rebuilds each channel's hidden patches from its visible "
                "ones. The 'model' given was built with covariates (exogenous=...); pretrain a PatchTST without them, "
                "then fit one with covariates from its backbone."
            )
        self.model = model
        self.mask_ratio = check_mask_ratio(mask_ratio)

    def forward(self, x: Tensor) -> PatchReconstruction:
        n_series = x.shape[0] * self.model.input_size
        mask = random_patch_mask(n_series, self.model.n_patches, self.mask_ratio, device=x.device)  # (B·C, N)
        reconstruction, target = self.model.reconstruct_patches(x, mask)
        return PatchReconstruction(reconstruction, target, mask)
