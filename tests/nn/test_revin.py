"""RevIN: the statistics, the affine map, the exact inverse, masks and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.revin import RevIN


def _windows() -> torch.Tensor:
    # Channels on very different levels and scales, as after a distribution shift.
    x = torch.randn(3, 10, 2, dtype=torch.float64)
    return x * torch.tensor([1.0, 50.0], dtype=torch.float64) + torch.tensor([-4.0, 1000.0], dtype=torch.float64)


def _revin_with_learned_affine(eps: float = 1e-5) -> RevIN:
    revin = RevIN(2, eps=eps).double()
    with torch.no_grad():  # as after training: away from the identity initialisation
        revin.gamma.copy_(torch.tensor([0.5, -2.0]))
        revin.beta.copy_(torch.tensor([3.0, 0.25]))
    return revin


def test_normalize_matches_the_equations() -> None:
    x, eps = _windows(), 0.1
    revin = _revin_with_learned_affine(eps)
    x_norm, stats = revin.normalize(x)
    values = x.numpy()
    mean = values.mean(axis=1, keepdims=True)
    std = np.sqrt(values.var(axis=1, keepdims=True) + eps)  # biased variance, eps inside the root
    expected = (values - mean) / std * np.array([0.5, -2.0]) + np.array([3.0, 0.25])
    np.testing.assert_allclose(x_norm.detach().numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(stats.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(stats.std.numpy(), std, rtol=1e-12)
    assert stats.mean.shape == (3, 1, 2) and not stats.mean.requires_grad and not stats.std.requires_grad


def test_without_affine_each_window_is_standardised() -> None:
    x_norm, _ = RevIN(2, affine=False, eps=1e-12).double().normalize(_windows())
    torch.testing.assert_close(x_norm.mean(dim=1), torch.zeros(3, 2, dtype=torch.float64))
    torch.testing.assert_close(x_norm.std(dim=1, correction=0), torch.ones(3, 2, dtype=torch.float64))
    assert list(RevIN(2, affine=False).parameters()) == []


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1.0])
def test_denormalize_is_the_exact_inverse(affine: bool, eps: float) -> None:
    x = _windows()
    revin = _revin_with_learned_affine(eps) if affine else RevIN(2, affine=False, eps=eps).double()
    x_norm, stats = revin.normalize(x)
    torch.testing.assert_close(revin.denormalize(x_norm, stats), x, rtol=1e-13, atol=1e-11)


def test_targets_normalised_with_the_input_stats_come_back() -> None:
    revin = _revin_with_learned_affine()
    x = _windows()
    targets = torch.randn(3, 4, 2, dtype=torch.float64) * 50 + 1000
    _, stats = revin.normalize(x)
    targets_norm, same = revin.normalize(targets, stats)
    assert same is stats
    torch.testing.assert_close(revin.denormalize(targets_norm, stats), targets, rtol=1e-13, atol=1e-11)


def test_constant_window_stays_finite() -> None:
    x = torch.full((1, 6, 2), 7.0)
    x_norm, stats = RevIN(2, affine=False).normalize(x)
    torch.testing.assert_close(x_norm, torch.zeros_like(x))
    torch.testing.assert_close(stats.std, torch.full((1, 1, 2), 1e-5**0.5))


def test_mask_restricts_the_statistics_to_observed_steps() -> None:
    x = _windows()
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[0, :4, 1] = False
    x_with_gaps = x.clone()
    x_with_gaps[~mask] = float("nan")  # unobserved values must not leak into the statistics
    stats = RevIN(2).statistics(x_with_gaps, mask)
    observed = x[0, 4:, 1]
    torch.testing.assert_close(stats.mean[0, 0, 1], observed.mean())
    torch.testing.assert_close(stats.std[0, 0, 1], (observed.var(correction=0) + 1e-5).sqrt())
    torch.testing.assert_close(stats.mean[1:], x[1:].mean(dim=1, keepdim=True))


def test_affine_parameters_learn() -> None:
    revin = _revin_with_learned_affine()
    x_norm, stats = revin.normalize(_windows())
    revin.denormalize(x_norm * 2, stats).square().sum().backward()  # a model that doubles its input
    assert bool(revin.gamma.grad.abs().sum() > 0) and bool(revin.beta.grad.abs().sum() > 0)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="The 'num_channels' parameter must be an int >= 1. Got 0 instead."):
        RevIN(0)
    with pytest.raises(ConfigError, match="'eps' parameter must be a float > 0. Got 0"):
        RevIN(2, eps=0)
    revin = RevIN(2)
    with pytest.raises(DataError, match=r"RevIN expects x of shape \(B, L, 2\).*Got \(4, 10, 3\)"):
        revin.normalize(torch.randn(4, 10, 3))
    _, stats = revin.normalize(torch.randn(4, 10, 2))
    with pytest.raises(DataError, match=r"RevIN expects y of shape \(B, L, 2\)"):
        revin.denormalize(torch.randn(4, 5), stats)
    with pytest.raises(DataError, match="mask must be a bool tensor"):
        revin.normalize(torch.randn(4, 10, 2), mask=torch.ones(4, 10, 2))
