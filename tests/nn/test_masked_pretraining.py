"""Masked-patch pretraining: the mask, a loss over hidden patches only, training through the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import ConfigError
from tsseq.nn.masked_pretraining import (
    MaskedPatchModel,
    PatchReconstruction,
    masked_patch_loss,
    random_patch_mask,
)
from tsseq.nn.patchtst import PatchTST


def test_the_mask_hides_the_same_number_of_patches_in_every_series():
    mask = random_patch_mask(50, 10, 0.4, generator=torch.Generator().manual_seed(0))
    assert mask.dtype == torch.bool and mask.shape == (50, 10)
    assert (mask.sum(dim=1) == 4).all()
    assert len({tuple(row.tolist()) for row in mask}) > 1  # random positions
    assert random_patch_mask(3, 4, 0.01).sum(dim=1).tolist() == [1, 1, 1]  # at least one
    with pytest.raises(ConfigError, match="mask_ratio"):
        random_patch_mask(3, 4, 1.0)


def output(seed: int = 0) -> PatchReconstruction:
    generator = torch.Generator().manual_seed(seed)
    reconstruction = torch.randn(6, 5, 4, generator=generator, requires_grad=True)
    target = torch.randn(6, 5, 4, generator=generator)
    return PatchReconstruction(reconstruction, target, random_patch_mask(6, 5, 0.4, generator=generator))


def test_the_loss_is_the_mse_of_the_hidden_patches():
    result = output()
    mask = result.mask
    expected = ((result.reconstruction - result.target)[mask] ** 2).mean()
    torch.testing.assert_close(masked_patch_loss(result, None, None), expected)


def test_visible_patches_do_not_change_the_loss():
    result = output()
    changed = result.reconstruction.detach().clone()
    changed[~result.mask] = 1e3
    assert masked_patch_loss(result._replace(reconstruction=changed)) == masked_patch_loss(result)


def test_the_gradient_reaches_only_hidden_patch_outputs():
    result = output()
    masked_patch_loss(result).backward()
    gradient = result.reconstruction.grad.abs().sum(dim=-1)  # (B', N)
    assert (gradient[~result.mask] == 0).all()
    assert (gradient[result.mask] > 0).all()


def test_pretraining_runs_through_the_engine_and_learns():
    steps = np.arange(800)
    series = np.stack([np.sin(2 * np.pi * steps / 16), np.cos(2 * np.pi * steps / 8)], axis=1).astype(np.float32)
    windows = make_windows(series, 32, 1)  # the targets are ignored: the input is the target
    torch.manual_seed(0)
    model = PatchTST(2, 32, 4, patch_length=8, stride=8, d_model=16, n_heads=2, d_ff=32, n_layers=1, dropout=0.0)
    config = TrainingConfig(epochs=8, batch_size=64, learning_rate=3e-3, device="cpu", progress=False, restore_best=False)
    history = Trainer(config).fit(MaskedPatchModel(model, 0.4), windows, windows, loss=masked_patch_loss)
    assert history.train_loss[-1] < 0.6 * history.train_loss[0]
    assert history.val_loss[-1] < 0.6 * history.val_loss[0]
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.head.parameters())
