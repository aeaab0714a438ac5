r"""What a forecasting head predicts for each target value: a point, quantiles or a distribution.

One mechanism for every neural forecaster (GluonTS' ``DistributionOutput``, NeuralForecast's
``DistributionLoss``): a model asks its output for the number of values ``P`` it must
predict per target value, maps its features to ``raw (..., P)`` with its last linear
layer, and hands them to :meth:`OutputDistribution.finish`, which

1. constrains them to valid parameters (:meth:`~OutputDistribution.constrain`: softplus
   for scales, ordered quantiles),
2. maps them from the model's normalised scale back to the data's, ``y = shift + scale * y'``
   (:meth:`~OutputDistribution.affine`, the inverse of RevIN or of the estimators' scaling),
3. returns them: ``(..., P)`` parameters, or ``(...)`` values for the point output.

The model never knows which distribution it feeds. The output's :meth:`loss` trains it
(``loss(params, targets, mask)``, the engine's loss convention), :meth:`point`,
:meth:`quantile` and :meth:`sample` read forecasts from the parameters.

Outputs, chosen by name in :class:`~tsseq.engine.TrainingConfig` (``loss``):

* ``"mse"``, ``"mae"`` (:class:`PointOutput`, ``P = 1``): a point forecast, the default.
* ``"quantile"`` (:class:`QuantileOutput`, ``P = Q``): quantiles at the levels
  ``tau_1 < ... < tau_Q`` trained with the pinball loss
  ``rho_tau(y - q) = max(tau (y - q), (tau - 1)(y - q))``. They cannot cross: the level
  ``m`` nearest 0.5 is predicted freely and the others are offsets by non-negative steps,
  ``q_{m+j} = q_{m+j-1} + softplus(r_{m+j})`` above and
  ``q_{m-j} = q_{m-j+1} - softplus(r_{m-j})`` below.
* ``"normal"`` (``P = 2``): ``N(mu, sigma^2)``, ``sigma = softplus(r) + eps``; negative
  log-likelihood.
* ``"student_t"`` (``P = 3``): location, scale and ``nu = 2 + softplus(r)`` degrees of
  freedom (so the variance is finite); negative log-likelihood.
* ``"negative_binomial"`` (``P = 2``): counts with mean ``mu = softplus(r) + eps`` and
  dispersion ``alpha = softplus(r') + eps``, variance ``mu + alpha mu^2``; negative
  log-likelihood of the observed counts. Counts cannot be shifted, so only a scale maps it
  (``mu -> scale mu``, ``alpha`` unchanged: the same relative over-dispersion at any scale);
  a shifting normalisation (RevIN, last-value) is refused.

Autoregressive decoders feed each step's forecast back as the next input. In the
default mode that is :meth:`point`; inside :func:`sampling` it is a draw from the step's
distribution (ancestral sampling), and the model returns the drawn path ``(B, H, C)``
instead of parameters. Direct multi-step heads, asked for samples, draw every step from
its own marginal. Draws use torch's global random number generator: seed it (or fork it)
around the call for reproducible paths.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from tsseq.engine.losses import masked_mae, masked_mse, masked_mean
from tsseq.errors import ConfigError, DataError

POINT_LOSSES = ("mse", "mae")
DISTRIBUTION_LOSSES = ("quantile", "normal", "student_t", "negative_binomial")
# Wide enough for M4's 95% intervals, dense enough for CRPS; the median is among them.
DEFAULT_LEVELS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)
_EPS = 1e-6


@dataclass(frozen=True)
class Affine:
    """``y = shift + scale * y'``, per window and channel (tensors broadcasting to ``(B, T, C)``).

    ``shift`` or ``scale`` None: 0 or 1. The map from a model's normalised scale back to
    the data's (:meth:`tsseq.nn.revin.RevIN.as_affine`, the last-value normalisation, the
    estimators' standardisation).
    """

    shift: Tensor | None = None
    scale: Tensor | None = None

    def values(self, y: Tensor) -> Tensor:
        if self.scale is not None:
            y = y * self.scale
        return y if self.shift is None else y + self.shift

    def inverse(self, y: Tensor) -> Tensor:
        if self.shift is not None:
            y = y - self.shift
        return y if self.scale is None else y / self.scale


IDENTITY = Affine()


class OutputDistribution(nn.Module):
    """Base of the outputs; see the module docstring. A module only so that :func:`sampling` finds it."""

    name: str = ""
    n_params: int = 1
    is_point: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.sampling = False

    # --- what a model calls
    def finish(self, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        """A model's last layer ``raw (..., P)`` on the normalised scale -> its output on the data's.

        Returns parameters ``(..., P)``; in :func:`sampling` mode, one draw ``(...)`` from them.
        """
        params = self.affine(self.constrain(raw.float()), affine)
        return self.sample(params) if self.sampling else params

    def feedback(self, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        """What an autoregressive decoder feeds back for ``raw (..., P)``: a value ``(...)`` on the normalised scale.

        The point forecast, or in :func:`sampling` mode a draw (made on the data's scale,
        where the distribution is defined, and mapped back).
        """
        params = self.constrain(raw.float())
        if not self.sampling:
            return self.point(params).to(raw.dtype)
        return affine.inverse(self.sample(self.affine(params, affine))).to(raw.dtype)

    def finish_path(self, fed: Tensor, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        """An autoregressive decoder's result: the drawn path (sampling mode) or the parameters of ``raw``."""
        return affine.values(fed.float()) if self.sampling else self.finish(raw, affine)

    # --- implemented by each output
    def constrain(self, raw: Tensor) -> Tensor:
        return raw

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        raise NotImplementedError

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def point(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        raise NotImplementedError

    def check_levels(self, levels: Sequence[float]) -> None:
        """Refuse levels this output cannot give (a ConfigError): checked before training, and by :meth:`quantile`."""

    def sample(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def _check(self, params: Tensor, targets: Tensor) -> None:
        if params.shape[:-1] != targets.shape or params.shape[-1] != self.n_params:
            raise DataError(
                f"The {self.name!r} output expects predictions of shape targets + ({self.n_params},) = "
                f"{tuple(targets.shape) + (self.n_params,)}; got {tuple(params.shape)}. The model's head must "
                "be built with this output (its n_params values per target value)."
            )

    def extra_repr(self) -> str:
        return f"n_params={self.n_params}"


class PointOutput(OutputDistribution):
    """One value per target, trained with the mean squared or absolute error."""

    is_point = True

    def __init__(self, loss: str = "mse") -> None:
        super().__init__()
        if loss not in POINT_LOSSES:
            raise ConfigError(f"PointOutput's loss must be one of {list(POINT_LOSSES)}. Got {loss!r} instead.")
        self.name = loss
        self._loss = masked_mse if loss == "mse" else masked_mae

    def finish(self, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        return affine.values(raw[..., 0])  # (...): the point model's output is the values themselves

    def feedback(self, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        return raw[..., 0]

    def finish_path(self, fed: Tensor, raw: Tensor, affine: Affine = IDENTITY) -> Tensor:
        return self.finish(raw, affine)

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        return affine.values(params)

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        return self._loss(params, targets, target_mask)

    def point(self, params: Tensor) -> Tensor:
        return params

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        raise ConfigError(f"A model trained with loss={self.name!r} forecasts points, not quantiles.")

    def sample(self, params: Tensor) -> Tensor:
        raise ConfigError(f"A model trained with loss={self.name!r} forecasts points; it has nothing to sample.")


class QuantileOutput(OutputDistribution):
    """Non-crossing quantiles at fixed levels, trained with the pinball loss."""

    name = "quantile"

    def __init__(self, levels: Sequence[float] = DEFAULT_LEVELS) -> None:
        super().__init__()
        self.levels = check_training_levels(levels)
        self.n_params = len(self.levels)
        self.middle = int(np.argmin(np.abs(np.asarray(self.levels) - 0.5)))  # the freely predicted level

    def constrain(self, raw: Tensor) -> Tensor:
        m = self.middle
        steps = nn.functional.softplus(raw)  # (..., Q) non-negative gaps
        base = raw[..., m : m + 1]
        above = base + torch.cumsum(steps[..., m + 1 :], dim=-1)
        below = base - torch.cumsum(steps[..., :m].flip(-1), dim=-1).flip(-1)
        return torch.cat([below, base, above], dim=-1)  # (..., Q), increasing

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        return affine.values(params.movedim(-1, 0)).movedim(0, -1)

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        self._check(params, targets)
        levels = params.new_tensor(self.levels)  # (Q,)
        error = targets.float().unsqueeze(-1) - params  # (..., Q)
        pinball = torch.maximum(levels * error, (levels - 1) * error).mean(dim=-1)  # (...)
        return masked_mean(pinball, target_mask)

    def point(self, params: Tensor) -> Tensor:
        return self.quantile(params, [0.5])[..., 0] if 0.5 not in self.levels else params[..., self.levels.index(0.5)]

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        self.check_levels(levels)
        return _interpolate(params, np.asarray(self.levels), np.asarray(levels, dtype=np.float64))

    def check_levels(self, levels: Sequence[float]) -> None:
        wanted = [float(level) for level in levels]
        low, high = self.levels[0], self.levels[-1]
        outside = [level for level in wanted if level < low - 1e-9 or level > high + 1e-9]
        if outside:
            raise ConfigError(
                f"This model is trained on the quantile levels {list(self.levels)}; levels outside [{low}, {high}] "
                f"cannot be read from it: {outside} of {wanted}. Train with levels that span them (training.quantiles, "
                f"e.g. quantiles: [{min(wanted)}, 0.5, {max(wanted)}] among the training settings) or a parametric loss "
                "(training.loss: normal or student_t), which gives every level."
            )

    def sample(self, params: Tensor) -> Tensor:
        # Inverse-transform sampling through the piecewise-linear quantile function, extended
        # linearly beyond the outermost levels so that the tails are not cut off.
        u = torch.rand(params.shape[:-1], device=params.device, dtype=params.dtype)
        return _interpolate(params, np.asarray(self.levels), u, extrapolate=True)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}"


class NormalOutput(OutputDistribution):
    """Gaussian ``N(mu, sigma^2)`` per target value, trained by negative log-likelihood."""

    name, n_params = "normal", 2

    def constrain(self, raw: Tensor) -> Tensor:
        return torch.stack([raw[..., 0], nn.functional.softplus(raw[..., 1]) + _EPS], dim=-1)

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        return _location_scale(params, affine)

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        self._check(params, targets)
        loc, scale = params[..., 0], params[..., 1]
        z = (targets.float() - loc) / scale
        return masked_mean(0.5 * z.square() + scale.log() + 0.5 * math.log(2 * math.pi), target_mask)

    def point(self, params: Tensor) -> Tensor:
        return params[..., 0]

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        z = params.new_tensor(levels).mul(2).sub(1).erfinv().mul(math.sqrt(2))  # (Q,)
        return params[..., :1] + params[..., 1:2] * z

    def sample(self, params: Tensor) -> Tensor:
        return params[..., 0] + params[..., 1] * torch.randn_like(params[..., 0])


class StudentTOutput(OutputDistribution):
    """Student's t with location, scale and ``nu > 2`` degrees of freedom, by negative log-likelihood."""

    name, n_params = "student_t", 3

    def constrain(self, raw: Tensor) -> Tensor:
        softplus = nn.functional.softplus
        return torch.stack([raw[..., 0], softplus(raw[..., 1]) + _EPS, 2.0 + softplus(raw[..., 2])], dim=-1)

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        return _location_scale(params, affine)

    def _distribution(self, params: Tensor) -> torch.distributions.StudentT:
        return torch.distributions.StudentT(params[..., 2], params[..., 0], params[..., 1], validate_args=False)

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        self._check(params, targets)
        return masked_mean(-self._distribution(params).log_prob(targets.float()), target_mask)

    def point(self, params: Tensor) -> Tensor:
        return params[..., 0]  # the median (and the mean, nu > 1)

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        from scipy.stats import t as student_t  # torch has no Student-t quantile function

        values = params.detach().double().cpu().numpy()
        z = student_t.ppf(np.asarray(levels), values[..., 2:3])  # (..., Q)
        return params.new_tensor(values[..., :1] + values[..., 1:2] * z)

    def sample(self, params: Tensor) -> Tensor:
        return self._distribution(params).sample()


class NegativeBinomialOutput(OutputDistribution):
    """Counts: negative binomial with mean ``mu`` and dispersion ``alpha``, by negative log-likelihood."""

    name, n_params = "negative_binomial", 2

    def constrain(self, raw: Tensor) -> Tensor:
        softplus = nn.functional.softplus
        return torch.stack([softplus(raw[..., 0]) + _EPS, softplus(raw[..., 1]) + _EPS], dim=-1)

    def affine(self, params: Tensor, affine: Affine) -> Tensor:
        if affine.shift is not None:
            raise ConfigError(
                "loss='negative_binomial' models counts, which cannot be shifted: the model's normalisation "
                "subtracts a level (RevIN or last-value). Use revin=False / normalization='none' (or "
                "normalization='mean' where the model has it) with this loss."
            )
        if affine.scale is None:
            return params
        return torch.stack([params[..., 0] * affine.scale, params[..., 1]], dim=-1)

    def loss(self, params: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        self._check(params, targets)
        mu, alpha = params[..., 0], params[..., 1]
        y, r = targets.float(), 1.0 / alpha
        log_likelihood = (
            torch.lgamma(y + r) - torch.lgamma(r) - torch.lgamma(y + 1)
            + r * torch.log(r / (r + mu)) + y * torch.log(mu / (r + mu))
        )
        return masked_mean(-log_likelihood, target_mask)

    def point(self, params: Tensor) -> Tensor:
        return params[..., 0]  # the mean

    def quantile(self, params: Tensor, levels: Sequence[float]) -> Tensor:
        from scipy.stats import nbinom

        values = params.detach().double().cpu().numpy()
        r = 1.0 / values[..., 1:2]
        quantiles = nbinom.ppf(np.asarray(levels), r, r / (r + values[..., 0:1]))  # (..., Q)
        return params.new_tensor(quantiles)

    def sample(self, params: Tensor) -> Tensor:
        r = 1.0 / params[..., 1]
        rate = torch.distributions.Gamma(r, r / params[..., 0], validate_args=False).sample()  # Poisson-gamma mixture
        return torch.poisson(rate)


def make_output(loss: str, quantiles: Sequence[float] = DEFAULT_LEVELS) -> OutputDistribution:
    """The output a training configuration names (``TrainingConfig.loss``, ``.quantiles``)."""
    if loss in POINT_LOSSES:
        return PointOutput(loss)
    if loss == "quantile":
        return QuantileOutput(quantiles)
    if loss == "normal":
        return NormalOutput()
    if loss == "student_t":
        return StudentTOutput()
    if loss == "negative_binomial":
        return NegativeBinomialOutput()
    raise ConfigError(
        f"The 'loss' parameter must be one of {list(POINT_LOSSES + DISTRIBUTION_LOSSES)}. Got {loss!r} instead."
    )


def check_training_levels(levels: object) -> tuple[float, ...]:
    """Quantile levels to train: at least two, strictly increasing, in (0, 1)."""
    try:
        values = tuple(float(level) for level in levels)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        values = ()
    if len(values) < 2 or not all(0 < v < 1 for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(
            "The 'quantiles' parameter must list at least two strictly increasing levels in (0, 1), e.g. "
            f"[0.05, 0.5, 0.95]. Got {levels!r} instead."
        )
    return values


@contextlib.contextmanager
def sampling(module: nn.Module) -> Iterator[None]:
    """Within this block the outputs inside ``module`` draw samples instead of returning parameters."""
    outputs = [m for m in module.modules() if isinstance(m, OutputDistribution)]
    for output in outputs:
        output.sampling = True
    try:
        yield
    finally:
        for output in outputs:
            output.sampling = False


def _location_scale(params: Tensor, affine: Affine) -> Tensor:
    loc = affine.values(params[..., 0])
    scale = params[..., 1] if affine.scale is None else params[..., 1] * affine.scale.abs()
    return torch.cat([loc.unsqueeze(-1), scale.unsqueeze(-1), params[..., 2:]], dim=-1)


def _interpolate(params: Tensor, known: np.ndarray, wanted, extrapolate: bool = False) -> Tensor:
    """Piecewise-linear quantile function through ``(known_k, params[..., k])``, read at ``wanted``.

    ``wanted`` is a level array ``(Q',)`` (result ``(..., Q')``) or a tensor of levels shaped
    like ``params[..., 0]`` (result shaped like it). With ``extrapolate`` the outer
    segments extend beyond ``known[0]`` and ``known[-1]``.
    """
    levels = params.new_tensor(known)  # (Q,)
    per_element = isinstance(wanted, Tensor)
    u = wanted if per_element else params.new_tensor(np.asarray(wanted))
    segment = (torch.searchsorted(levels, u.contiguous(), right=True) - 1).clamp(0, len(known) - 2)
    if per_element:
        low_q = params.gather(-1, segment.unsqueeze(-1)).squeeze(-1)
        high_q = params.gather(-1, (segment + 1).unsqueeze(-1)).squeeze(-1)
    else:
        low_q, high_q = params[..., segment], params[..., segment + 1]
    low, high = levels[segment], levels[segment + 1]
    weight = (u - low) / (high - low)
    if not extrapolate:
        weight = weight.clamp(0, 1)
    return low_q + (high_q - low_q) * weight
