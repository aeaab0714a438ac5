"""PatchTST: shapes, channel independence, gradients, reconstruction."""

from __future__ import annotations

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.patchtst import PatchTST


def small(**overrides) -> PatchTST:
    torch.manual_seed(0)
    options = dict(patch_length=8, stride=4, d_model=8, n_heads=2, d_ff=16, n_layers=2, dropout=0.0)
    return PatchTST(3, 32, 6, **{**options, **overrides})


def test_shapes_and_patch_count():
    model = small()
    assert model.n_patches == (32 - 8) // 4 + 2
    assert model(torch.randn(5, 32, 3)).shape == (5, 6, 3)
    assert model.reconstruct(torch.randn(5, 32, 3)).shape == (5, 32, 3)
    reconstruction, target = model.reconstruct_patches(torch.randn(5, 32, 3))
    assert reconstruction.shape == target.shape == (15, model.n_patches, 8)


def test_the_weights_do_not_depend_on_the_channels():
    sizes = {PatchTST(c, 32, 6, patch_length=8, stride=4).state_dict()["head.2.weight"].shape for c in (1, 7)}
    assert len(sizes) == 1
    count = lambda c: sum(p.numel() for p in PatchTST(c, 32, 6).parameters())  # noqa: E731
    assert count(1) == count(7)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_channels_are_forecast_independently(norm):
    model = small(norm=norm).eval()
    x = torch.randn(4, 32, 3)
    changed = x.clone()
    changed[:, :, 1] = torch.randn(4, 32) * 5
    with torch.no_grad():
        before, after = model(x), model(changed)
    assert torch.equal(before[:, :, [0, 2]], after[:, :, [0, 2]])
    assert not torch.allclose(before[:, :, 1], after[:, :, 1])


def test_revin_makes_forecasts_follow_the_level_and_scale():
    model = small().eval()
    x = torch.randn(2, 32, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(3 * x + 10), 3 * model(x) + 10, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "options",
    [{}, {"norm_first": True, "norm": "layer"}, {"residual_attention": False, "positional": "sinusoidal"}],
    ids=["official", "pre-LN", "plain-attention"],
)
def test_gradients_reach_every_forecasting_parameter(options):
    model = small(**options, revin_affine=True)
    model(torch.randn(4, 32, 3)).square().mean().backward()
    for name, parameter in model.named_parameters():
        if name.startswith("reconstruction_head"):
            assert parameter.grad is None  # only masked pretraining and reconstruct use it
        else:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_hidden_patches_are_replaced_by_zeros_before_the_embedding():
    model = small().eval()
    x = torch.randn(2, 32, 3)
    mask = torch.zeros(6, model.n_patches, dtype=torch.bool)
    mask[:, 2] = True
    changed = x.clone()
    changed[:, 8:16] += 4.0  # the values of patch 2 only (patches 1 and 3 overlap it: they change too)
    with torch.no_grad():
        hidden = model.reconstruct_patches(x, mask)[0]
    replaced = model.patches(model.revin.normalize(x)[0]).masked_fill(mask.unsqueeze(-1), 0.0)
    with torch.no_grad():
        expected = model.reconstruction_head(model.backbone(replaced))
    torch.testing.assert_close(hidden, expected)
    with pytest.raises(DataError, match="patch_mask"):
        model.reconstruct_patches(x, mask.float())


def test_input_and_configuration_errors():
    with pytest.raises(DataError, match=r"\(B, 32, 3\)"):
        small()(torch.randn(2, 30, 3))
    with pytest.raises(ConfigError, match="patch length"):
        PatchTST(1, 8, 4, patch_length=16)
    with pytest.raises(ConfigError, match="head_dropout"):
        PatchTST(1, 32, 4, head_dropout=-0.1)
