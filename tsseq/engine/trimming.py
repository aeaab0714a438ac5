"""Robust training on data that is not clean: each epoch, the windows of highest loss sit out.

Real training periods hold anomalies (faults, outages, mislabelled regimes); a model fitted
to every window learns to explain them too, and then scores their kind as normal. With
``TrainingConfig(trim_fraction=f)`` the engine trains on the trimmed loss (the small-loss
selection of Shen & Sanghavi 2019, "Learning with bad training data via iterative trimmed
loss minimization"): before each epoch ``e >= trim_warmup_epochs`` it computes the loss of
every training window alone under the current weights (eval mode, no gradients, batched
forward passes of ``eval_batch_size``), and the ``floor(f N)`` windows of highest loss
are left out of that epoch's batches. The others are drawn as always
(:class:`~tsseq.data.windows.BatchSampler`, the run's seeded generator), so the run stays
reproducible; the selection draws no random numbers (the RNG state is restored around it).
A window dropped in one epoch is judged again before the next: a window that only looked
hard early on comes back.

How many sit out: ``floor(f N)`` for a fixed fraction ``f``; with ``trim_fraction="auto"``
the windows whose loss is an outlier among all windows' losses, so that clean data loses
(nearly) nothing and contaminated data loses what its anomalies spoil. A loss is an outlier
when its cube root lies more than ``FENCE`` (3.5) robust standard deviations above the
median of the cube roots (the modified z-score rule of Iglewicz & Hoaglin 1993), the
robust standard deviation being 1.4826 times the median absolute deviation. The cube root
because a window's mean squared error over ``d`` values of Gaussian noise is a scaled
chi-square with ``d`` degrees of freedom, whose cube root is close to normal for every
``d`` (Wilson & Hilferty 1931): the fence is then about the same tail probability for a
one-step forecaster's loss (``d = 1``, where a log scale put it near 9 standard deviations
of the error and trimmed nothing) as for a long reconstruction window's. At most
``MAX_AUTO_FRACTION`` (a quarter) of the windows, since data with more anomalous windows
than that is not a training period of normal behaviour. A NaN or infinite loss is always
an outlier (a likelihood loss of minus infinity is not); a negative loss (a negative
log-likelihood) has a negative cube root.

A window's loss is the training loss of that window as a batch of one,
``loss(predictions[i:i+1], targets[i:i+1], mask[i:i+1])``, for all windows of an
evaluation batch at once through :func:`torch.func.vmap` (one call per window for a loss
that vmap cannot batch): exact for every loss that is a function of its arguments
(``mse``, ``mae``, the distribution losses); a loss that reads state the module kept from
the whole batch (``LSTMVAE``'s KL term) gives each window its evaluation batch's mean of
that term. Ties go to the lower window index.

The training loss an epoch records is over its kept windows (so, without validation data,
what early stopping and ``restore_best`` monitor drops when trimming starts).
The dropped indices (of the training source), highest loss first, are recorded per epoch
in :attr:`~tsseq.engine.history.TrainingHistory.trimmed` (empty lists in the warm-up).
Under distributed training every process computes every window's loss and rank 0's
selection is broadcast, so that all processes draw the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tsseq.errors import ConfigError

AUTO = "auto"
FENCE = 3.5
MAX_AUTO_FRACTION = 0.25


def trim_count(n_windows: int, fraction: float) -> int:
    """Windows left out of an epoch: ``floor(fraction * n_windows)``, leaving at least one."""
    return min(int(math.floor(fraction * n_windows + 1e-9)), n_windows - 1)


def outlier_count(losses: torch.Tensor) -> int:
    """How many of ``losses (N,)`` lie above the fence on their cube roots (module docstring); at most a quarter."""
    ranked = torch.nan_to_num(losses.double().cpu(), nan=math.inf)
    finite = torch.isfinite(ranked)
    kept = ranked[finite]  # a likelihood loss may be negative: the signed cube root keeps the order
    roots = kept.sign() * kept.abs().pow(1 / 3)
    outliers = int((ranked == math.inf).sum())
    if len(roots):
        median = roots.median()
        spread = 1.4826 * (roots - median).abs().median()
        if spread > 0:  # identical losses (spread 0) have no outliers among them
            outliers += int((roots > median + FENCE * spread).sum())
    return min(outliers, trim_count(len(losses), MAX_AUTO_FRACTION))


def trimmed_windows(losses: torch.Tensor, fraction: float | str) -> torch.Tensor:
    """Indices ``(k,)`` of the ``k`` largest of ``losses (N,)``, largest first.

    ``k = trim_count(N, fraction)``, or :func:`outlier_count` for ``fraction="auto"``.
    Ties keep the lower index first; a NaN loss ranks as the largest.
    """
    count = outlier_count(losses) if fraction == AUTO else trim_count(len(losses), fraction)
    ranked = torch.nan_to_num(losses.double().cpu(), nan=math.inf)
    order = torch.sort(ranked, descending=True, stable=True).indices
    return order[:count]


def kept_windows(n_windows: int, dropped: torch.Tensor) -> torch.Tensor:
    """The window indices ``(N - k,)`` not in ``dropped``, in increasing order."""
    keep = torch.ones(n_windows, dtype=torch.bool)
    keep[dropped] = False
    return torch.nonzero(keep).flatten()


def window_losses(loss: Callable, predictions: torch.Tensor, targets: torch.Tensor, mask) -> torch.Tensor:
    """``(B,)``: ``loss`` of each window of a batch alone (module docstring)."""
    if not isinstance(predictions, torch.Tensor):
        raise ConfigError(
            "trim_fraction > 0 ranks the training windows by their loss in eval mode, so the model must then "
            f"return a tensor; it returned {type(predictions).__name__}. Set trim_fraction=0."
        )

    def alone(p: torch.Tensor, t: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:  # one window as a batch
        return loss(p[None], t[None], None if m is None else m[None]).reshape(())

    try:  # every window at once (torch.func.vmap batches the loss's operations)
        values = torch.func.vmap(alone, in_dims=(0, 0, None if mask is None else 0))(predictions, targets, mask)
    except RuntimeError:  # a loss vmap cannot batch (data-dependent control flow, .item()): one call per window
        values = torch.stack([alone(predictions[i], targets[i], None if mask is None else mask[i])
                              for i in range(len(predictions))])  # fmt: skip
    return values.detach().float()
