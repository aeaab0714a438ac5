"""The output distributions of tsseq.engine.distributions: parameters, losses, quantiles, samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from tsseq.engine import TrainingConfig
from tsseq.engine.distributions import (
    Affine,
    NegativeBinomialOutput,
    NormalOutput,
    PointOutput,
    QuantileOutput,
    StudentTOutput,
    make_output,
    sampling,
)
from tsseq.errors import ConfigError, DataError

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
OUTPUTS = [QuantileOutput(LEVELS), NormalOutput(), StudentTOutput(), NegativeBinomialOutput()]


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o.name)
def test_every_raw_value_gets_a_gradient(output):
    raw = torch.randn(4, 3, 2, output.n_params, requires_grad=True)
    targets = torch.randint(0, 5, (4, 3, 2)).float()
    output.loss(output.constrain(raw), targets).backward()
    assert torch.isfinite(raw.grad).all() and (raw.grad.abs().sum(dim=(0, 1, 2)) > 0).all()


def test_quantiles_never_cross_whatever_the_raw_values():
    output = QuantileOutput(LEVELS)
    raw = torch.randn(1000, len(LEVELS)) * 50
    params = output.constrain(raw)
    assert (params.diff(dim=-1) >= 0).all()
    assert torch.equal(params[:, 2], raw[:, 2])  # the level nearest 0.5 is predicted freely


def test_pinball_loss_known_answer():
    output = QuantileOutput((0.1, 0.9))
    params = torch.tensor([[0.0, 2.0]])  # q0.1 = 0, q0.9 = 2
    # y = 3: errors 3 and 1 -> 0.1 * 3 = 0.3 and 0.9 * 1 = 0.9; mean 0.6
    assert output.loss(params, torch.tensor([3.0])).item() == pytest.approx(0.6)
    # y = -1: errors -1 and -3 -> 0.9 * 1 = 0.9 and 0.1 * 3 = 0.3; mean 0.6
    assert output.loss(params, torch.tensor([-1.0])).item() == pytest.approx(0.6)


def test_losses_equal_scipy_log_densities():
    y = torch.tensor([0.0, 1.0, 4.0, 7.0])
    normal = torch.tensor([[0.5, 2.0]]).expand(4, 2)
    expected = -scipy.stats.norm.logpdf(y.numpy(), 0.5, 2.0).mean()
    assert NormalOutput().loss(normal, y).item() == pytest.approx(expected, rel=1e-6)
    t = torch.tensor([[0.5, 2.0, 3.5]]).expand(4, 3)
    expected = -scipy.stats.t.logpdf(y.numpy(), 3.5, 0.5, 2.0).mean()
    assert StudentTOutput().loss(t, y).item() == pytest.approx(expected, rel=1e-6)
    mu, alpha = 3.0, 0.4
    r = 1 / alpha
    expected = -scipy.stats.nbinom.logpmf(y.numpy(), r, r / (r + mu)).mean()
    assert NegativeBinomialOutput().loss(torch.tensor([[mu, alpha]]).expand(4, 2), y).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_unobserved_targets_do_not_count():
    output = NormalOutput()
    params = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    targets = torch.tensor([1.0, float("nan")])
    mask = torch.tensor([True, False])
    assert output.loss(params, targets, mask).item() == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi))


def test_loss_names_the_expected_shape():
    with pytest.raises(DataError, match=r"targets \+ \(2,\)"):
        NormalOutput().loss(torch.zeros(4, 3), torch.zeros(4))


def test_quantiles_of_parametric_outputs_equal_scipy():
    levels = [0.025, 0.3, 0.5, 0.975]
    normal = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    np.testing.assert_allclose(NormalOutput().quantile(normal, levels)[0], scipy.stats.norm.ppf(levels, 1, 2), rtol=1e-9)
    t = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64)
    np.testing.assert_allclose(StudentTOutput().quantile(t, levels)[0], scipy.stats.t.ppf(levels, 4.0, 1, 2), rtol=1e-9)
    nb = torch.tensor([[5.0, 0.5]], dtype=torch.float64)
    np.testing.assert_allclose(
        NegativeBinomialOutput().quantile(nb, levels)[0], scipy.stats.nbinom.ppf(levels, 2.0, 2.0 / 7.0)
    )


def test_quantile_head_interpolates_inside_and_refuses_outside_its_levels():
    output = QuantileOutput((0.1, 0.5, 0.9))
    params = torch.tensor([[0.0, 1.0, 3.0]])
    np.testing.assert_allclose(output.quantile(params, [0.3, 0.5, 0.7]).numpy(), [[0.5, 1.0, 2.0]], rtol=1e-6)
    assert output.point(params).item() == 1.0
    with pytest.raises(ConfigError, match=r"levels outside \[0.1, 0.9\]"):
        output.quantile(params, [0.05])


@pytest.mark.parametrize("output", [QuantileOutput(LEVELS), NormalOutput(), StudentTOutput()], ids=lambda o: o.name)
def test_affine_maps_quantiles_to_the_data_scale(output):
    params = output.constrain(torch.randn(5, 3, 2, output.n_params, dtype=torch.float64))
    affine = Affine(torch.randn(5, 1, 2, dtype=torch.float64), torch.rand(5, 1, 2, dtype=torch.float64) + 0.5)
    levels = [0.05, 0.5, 0.95]
    mapped = output.quantile(output.affine(params, affine), levels)
    expected = affine.shift.unsqueeze(-1) + affine.scale.unsqueeze(-1) * output.quantile(params, levels)
    torch.testing.assert_close(mapped, expected)


def test_counts_refuse_a_shift_and_scale_their_mean():
    output = NegativeBinomialOutput()
    params = torch.tensor([[2.0, 0.3]])
    with pytest.raises(ConfigError, match="cannot be shifted"):
        output.affine(params, Affine(shift=torch.ones(1)))
    scaled = output.affine(params, Affine(scale=torch.tensor([4.0])))
    assert scaled.tolist() == [[8.0, pytest.approx(0.3)]]


def test_draws_follow_the_distribution():
    torch.manual_seed(0)
    n = 200_000
    normal = NormalOutput().sample(torch.tensor([[1.0, 2.0]]).expand(n, 2))
    assert normal.mean().item() == pytest.approx(1.0, abs=0.02) and normal.std().item() == pytest.approx(2.0, abs=0.02)
    mu, alpha = 4.0, 0.5
    counts = NegativeBinomialOutput().sample(torch.tensor([[mu, alpha]]).expand(n, 2))
    assert torch.equal(counts, counts.round()) and (counts >= 0).all()
    assert counts.mean().item() == pytest.approx(mu, rel=0.02)
    assert counts.var().item() == pytest.approx(mu + alpha * mu**2, rel=0.03)
    quantile = QuantileOutput(LEVELS)
    params = torch.tensor([[-2.0, -1.0, 0.0, 1.0, 3.0]])
    draws = quantile.sample(params.expand(n, -1)).numpy()
    np.testing.assert_allclose(np.quantile(draws, LEVELS), params[0].numpy(), atol=0.03)


def test_point_output_keeps_the_values_and_refuses_distributions():
    output = PointOutput("mae")
    raw = torch.randn(2, 3, 4, 1)
    assert torch.equal(output.finish(raw), raw[..., 0])
    with pytest.raises(ConfigError, match="points, not quantiles"):
        output.quantile(raw[..., 0], [0.5])


def test_sampling_switch_makes_finish_draw_and_is_restored():
    module = torch.nn.Sequential(torch.nn.Identity())
    module.output = NormalOutput()
    raw = torch.zeros(3, 2)  # loc 0, sigma softplus(0) ~ 0.69
    assert module.output.finish(raw).shape == (3, 2)
    with sampling(module):
        assert module.output.finish(raw).shape == (3,)
    assert module.output.sampling is False


def test_training_config_names_the_outputs():
    assert isinstance(make_output("quantile", (0.1, 0.9)), QuantileOutput)
    config = TrainingConfig(loss="quantile", quantiles=[0.2, 0.5, 0.8])
    assert config.quantiles == (0.2, 0.5, 0.8)
    with pytest.raises(ConfigError, match="'loss' parameter must be one of"):
        TrainingConfig(loss="gaussian")
    with pytest.raises(ConfigError, match="strictly increasing levels"):
        TrainingConfig(loss="quantile", quantiles=[0.9, 0.1])
