"""Training losses over observed targets only.

A loss is any callable ``loss(predictions, targets, target_mask) -> scalar tensor``:
``predictions`` and ``targets`` are ``(B, H, C)`` (or any equal shapes), ``target_mask``
is a bool tensor of the same shape, True where the target was observed, or None when
every target was. Unobserved targets (stored as 0 by the windows) must not count.
The losses are computed in float32 whatever the autocast precision of the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tsseq.errors import DataError


def masked_mse(
    predictions: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error over the observed targets (the default training loss)."""
    if target_mask is None:  # one fused kernel each way
        return torch.nn.functional.mse_loss(_check_shapes(predictions, targets).float(), targets.float())
    return masked_mean((_check_shapes(predictions, targets).float() - targets.float()).square(), target_mask)


def masked_mae(
    predictions: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute error over the observed targets."""
    return masked_mean((_check_shapes(predictions, targets).float() - targets.float()).abs(), target_mask)


def masked_mean(errors: torch.Tensor, target_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-target ``errors`` over the observed targets (``target_mask`` True; None: all)."""
    if target_mask is None:
        return errors.mean()
    # where(), not a product: an error at an unobserved target may be inf or NaN and must not leak in.
    total = torch.where(target_mask, errors, torch.zeros((), dtype=errors.dtype, device=errors.device)).sum()
    return total / target_mask.sum().clamp_min(1)  # a batch with no observed target has loss 0


def _check_shapes(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if predictions.shape != targets.shape:
        raise DataError(
            f"The model's predictions have shape {tuple(predictions.shape)} but the targets have shape "
            f"{tuple(targets.shape)}; the model must map inputs (B, L, C) to predictions shaped like the "
            "targets, e.g. (B, H, C) for many-to-many windows."
        )
    return predictions


LOSSES = {"mse": masked_mse, "mae": masked_mae}


def config_loss(config) -> "Callable":
    """The loss a :class:`~tsseq.engine.TrainingConfig` names: a point loss or a distribution's."""
    from tsseq.engine.distributions import make_output

    return make_output(config.loss, config.quantiles).loss
