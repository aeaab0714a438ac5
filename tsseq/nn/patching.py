r"""Cutting series into patches (the tokens of PatchTST; Nie et al. 2023) and putting them back.

A series of ``L`` steps cut into patches of length ``P`` every ``S`` steps gives::

    N = floor((L - P) / S) + 1           patches, patch n = x[n S : n S + P]

With ``pad_end=True`` (PatchTST's ``padding_patch="end"``) the last value is first
repeated ``S`` times (``nn.ReplicationPad1d((0, S))``), which adds one patch:
``N = floor((L - P) / S) + 2``. The patches then cover every step, also when
``(L - P)`` is not a multiple of ``S``.

:func:`unpatch` is the inverse: each step is the mean of the patch values that cover it
(overlap-add divided by the cover count), the padding is cut off, so
``unpatch(patch(x), S, L) == x`` exactly for ``S == P`` and up to rounding otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError


def patch_count(length: int, patch_length: int, stride: int, pad_end: bool = True) -> int:
    """``N``, the patches of a series of ``length`` steps; see the module docstring."""
    length = check_positive_int(length, "length")
    patch_length = check_positive_int(patch_length, "patch_length")
    stride = check_positive_int(stride, "stride")
    if patch_length > length:
        raise ConfigError(
            f"The patch length ({patch_length}) must not exceed the series length ({length}); "
            "shorten the patches or lengthen the input window."
        )
    return (length - patch_length) // stride + 1 + (1 if pad_end else 0)


def patch(x: Tensor, patch_length: int, stride: int, pad_end: bool = True) -> Tensor:
    """Cut the time axis of ``x`` into patches.

    Parameters
    ----------
    x : Tensor
        ``(B, L)`` series (e.g. ``B·C`` channel-independent ones) or ``(B, L, C)``.
    patch_length, stride : int
        ``P`` and ``S``.
    pad_end : bool
        Repeat the last value ``S`` times before cutting (one more patch).

    Returns
    -------
    Tensor
        ``(B, N, P)`` for 2-D input, ``(B, C, N, P)`` for 3-D input (every channel's
        patches apart; flatten the first two axes for channel independence).
    """
    if x.dim() not in (2, 3):
        raise DataError(f"patch expects a tensor of shape (B, L) or (B, L, C). Got {tuple(x.shape)} instead.")
    series = x if x.dim() == 2 else x.transpose(1, 2)  # (B, L) or (B, C, L)
    patch_count(series.shape[-1], patch_length, stride, pad_end)  # validates the sizes
    if pad_end:
        last = series[..., -1:]  # (..., 1)
        series = torch.cat([series, last.expand(*series.shape[:-1], stride)], dim=-1)  # (..., L + S)
    return series.unfold(-1, patch_length, stride)  # (B, N, P) or (B, C, N, P)


def unpatch(patches: Tensor, stride: int, length: int) -> Tensor:
    """Rebuild series of ``length`` steps from their patches ``(..., N, P)`` cut every ``stride``.

    Each step is the mean of the values the patches give it; steps past ``length`` (the
    end padding) are dropped. Returns ``(..., length)``: ``(B, L)`` for ``(B, N, P)``
    patches, ``(B, C, L)`` for ``(B, C, N, P)``.
    """
    stride = check_positive_int(stride, "stride")
    length = check_positive_int(length, "length")
    if patches.dim() < 3:
        raise DataError(f"unpatch expects patches of shape (..., N, P). Got {tuple(patches.shape)} instead.")
    *batch, count, size = patches.shape
    covered = (count - 1) * stride + size
    if covered < length:
        raise DataError(
            f"{count} patches of length {size} every {stride} steps cover {covered} steps; cannot rebuild {length}."
        )
    if stride > size:
        raise ConfigError(f"With stride {stride} > patch length {size} some steps are in no patch; cannot unpatch.")
    columns = patches.reshape(-1, count, size).transpose(1, 2)  # (B', P, N), fold's (batch, C·kernel, blocks)
    summed = F.fold(columns, output_size=(1, covered), kernel_size=(1, size), stride=(1, stride))  # (B', 1, 1, covered)
    ones = torch.ones(1, size, count, dtype=patches.dtype, device=patches.device)
    counts = F.fold(ones, output_size=(1, covered), kernel_size=(1, size), stride=(1, stride))  # (1, 1, 1, covered)
    series = (summed / counts).reshape(*batch, covered)  # (..., covered)
    return series[..., :length]
