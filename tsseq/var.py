"""Vector autoregression: every channel of a series from the recent past of all of its channels.

One model per series, fitted by exact least squares::

    y_t = c + A_1 y_{t-1} + ... + A_p y_{t-p} + u_t,    u_t ~ N(0, Sigma_u)

with ``y_t`` the ``C`` channels of row ``t``, ``c`` a ``(C,)`` intercept and each ``A_i`` a
``(C, C)`` matrix whose row ``j`` says how channel ``j`` follows every channel ``i`` steps
back. Where channels drive each other (a setpoint, the flow it sets, the pressure that
follows), the cross terms are what a per-channel :class:`~tsseq.baselines.AR` cannot
see: a sensor that stops following its driver still looks like itself.

Order. ``p`` minimises the information criterion over ``0..m`` on the common sample
(the rows after the first ``m``), as statsmodels' ``VAR(y).select_order(m)``, and the
chosen order is refitted on every row; ``m`` is ``max_order`` capped by the series'
length (a quarter of its rows, and the most lags statsmodels can estimate,
``(T - C - 1) // (C + 1)``). With ``criterion`` and a long enough series the fit equals
``VAR(y).fit(maxlags=max_order, ic=criterion)``: coefficients, ``Sigma_u`` (its
residual covariance with ``T - p - (C p + 1)`` degrees of freedom) and intervals.

Orders that cannot explode. A fit whose companion matrix has a root of modulus above
``1 + stable_tol`` is replaced (``stable=True``, the default) by the stable lower order
of best criterion (order 0, the mean, is always stable), and ``fit`` warns once, naming
each replaced series with both orders and the root modulus.

Forecasts iterate the one-step model. The ``h``-step error covariance is
``sum_{j<h} Phi_j Sigma_u Phi_j'`` with the moving-average weights ``Phi_0 = I``,
``Phi_j = sum_{i=1..min(j, p)} Phi_{j-i} A_i``; quantiles are Gaussian around the point
forecast with its diagonal (statsmodels' ``forecast_interval``), and ``sample`` draws
paths ancestrally with innovations ``N(0, Sigma_u)``.
"""

from __future__ import annotations

import warnings

import numpy as np

from tsseq.ar import CRITERIA, STABLE_TOL, check_stable
from tsseq.base import Forecaster
from tsseq.baselines import _check_arrays, _check_windows, _normal_quantiles
from tsseq.errors import ConfigError, DataError, check_positive_int, closest_match
from tsseq.registry import register


def lagged(values: np.ndarray, lags: int) -> np.ndarray:
    """The design of rows ``lags..T-1`` of ``values (T, C)``: ``[1, y_{t-1}, ..., y_{t-lags}]``, ``(T - lags, 1 + C lags)``."""
    rows = len(values) - lags
    columns = [np.ones((rows, 1))] + [values[lags - i : len(values) - i] for i in range(1, lags + 1)]
    return np.hstack(columns)


def least_squares(design: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(intercept (C,), coefficients (p, C, C), residuals)`` of ``targets`` on ``design`` (:func:`lagged`).

    Solved as statsmodels solves it (``lstsq``, ``rcond=1e-15``), so that the two agree to rounding.
    """
    solution = np.linalg.lstsq(design, targets, rcond=1e-15)[0]  # (1 + C p, C)
    n_channels = targets.shape[1]
    lags = (design.shape[1] - 1) // n_channels
    coef = solution[1:].reshape(lags, n_channels, n_channels).transpose(0, 2, 1)  # A_i[j, k]: channel j on k, i back
    return solution[0], coef, targets - design @ solution


def nested_covariances(values: np.ndarray, lags: int) -> list[np.ndarray]:
    """The residual covariances ``RSS / n`` of the orders ``0..lags`` on the common sample (rows ``lags..T-1``).

    The design of order ``p`` there is the first ``1 + C p`` columns of order ``lags``'s (:func:`lagged`), so one
    QR of the largest gives them all: with ``X = Q R`` and ``Z = Q' Y``, the residuals of the first ``k`` columns
    are ``Y - Q_k Z_k``, each order's from the one before by ``C`` more columns. A rank-deficient design (a
    constant channel) is solved order by order as statsmodels solves it (:func:`least_squares`).
    """
    design, targets = lagged(values, lags), values[lags:]
    n_channels = values.shape[1]
    orthonormal, triangular = np.linalg.qr(design)
    diagonal = np.abs(np.diag(triangular))
    if diagonal.min() <= 1e-10 * diagonal.max():
        residuals = (least_squares(design[:, : 1 + n_channels * p], targets)[2] for p in range(lags + 1))
        return [r.T @ r / len(targets) for r in residuals]
    projected = orthonormal.T @ targets  # (1 + C lags, C)
    residuals = targets - orthonormal[:, :1] @ projected[:1]
    covariances = [residuals.T @ residuals / len(targets)]
    for p in range(1, lags + 1):
        columns = slice(1 + n_channels * (p - 1), 1 + n_channels * p)
        residuals = residuals - orthonormal[:, columns] @ projected[columns]
        covariances.append(residuals.T @ residuals / len(targets))
    return covariances


def log_det(covariance: np.ndarray) -> float:
    """``log det`` of a residual covariance; a singular one (a constant channel) by its positive eigenvalues' floor."""
    sign, value = np.linalg.slogdet(covariance)
    if sign > 0 and np.isfinite(value):
        return float(value)
    eigenvalues = np.linalg.eigvalsh(covariance)
    floor = max(float(eigenvalues.max()), 1.0) * 1e-12
    return float(np.sum(np.log(np.maximum(eigenvalues, floor))))


def criterion_value(criterion: str, covariance_mle: np.ndarray, nobs: int, lags: int) -> float:
    """Lütkepohl's criteria as statsmodels' ``VARResults.info_criteria`` (free parameters ``p C^2 + C``)."""
    n_channels = covariance_mle.shape[0]
    free = lags * n_channels**2 + n_channels
    penalty = {"aic": 2.0, "bic": np.log(nobs), "hqic": 2.0 * np.log(np.log(nobs))}[criterion]
    return log_det(covariance_mle) + penalty * free / nobs


def companion_radius(coef: np.ndarray) -> float:
    """The largest modulus of the companion matrix's eigenvalues of ``coef (p, C, C)`` (0 for order 0)."""
    lags, n_channels = coef.shape[0], coef.shape[-1]
    if lags == 0:
        return 0.0
    companion = np.zeros((lags * n_channels, lags * n_channels))
    companion[:n_channels] = np.hstack(list(coef))
    companion[n_channels:, :-n_channels] = np.eye((lags - 1) * n_channels)
    return float(np.abs(np.linalg.eigvals(companion)).max())


def ma_weights(coef: np.ndarray, horizon: int) -> np.ndarray:
    """``Phi_0..Phi_{horizon-1}`` of ``coef (P, C, C)``: ``(horizon, C, C)``."""
    lags, n_channels = coef.shape[0], coef.shape[-1]
    weights = np.zeros((horizon, n_channels, n_channels))
    weights[0] = np.eye(n_channels)
    for j in range(1, horizon):
        for i in range(1, min(j, lags) + 1):
            weights[j] += weights[j - i] @ coef[i - 1]
    return weights


def forecast(
    intercept: np.ndarray, coef: np.ndarray, history: np.ndarray, horizon: int, noise: np.ndarray | None = None
) -> np.ndarray:
    """Iterate the one-step model from ``history (..., L >= P, C)`` -> ``(..., horizon, C)``.

    ``noise (..., horizon, C)``, when given, is added at each step before it is fed back (sample paths).
    """
    lags = coef.shape[0]
    window = history[..., history.shape[-2] - lags :, :]  # (..., P, C), the oldest row first
    steps = []
    for h in range(horizon):
        step = intercept + np.einsum("ijk,...ik->...j", coef, window[..., ::-1, :])  # lag i + 1 is row -1 - i
        if noise is not None:
            step = step + noise[..., h, :]
        steps.append(step)
        window = np.concatenate([window[..., 1:, :], step[..., None, :]], axis=-2)
    return np.stack(steps, axis=-2)


class FittedVAR:
    """One series' VAR of order ``lags`` fitted on ``values (T, C)``: ``order``, ``intercept (C,)``,
    ``coef (order, C, C)``, ``sigma_u (C, C)`` and the companion matrix's largest root modulus, ``radius``."""

    def __init__(self, values: np.ndarray, lags: int):
        self.order = lags
        self.intercept, self.coef, residuals = least_squares(lagged(values, lags), values[lags:])
        degrees = len(residuals) - (values.shape[1] * lags + 1)
        self.sigma_u = residuals.T @ residuals / max(degrees, 1)
        self.radius = companion_radius(self.coef)


@register("var")
class VAR(Forecaster):
    """Vector autoregression with intercept, one per series, by exact least squares (see :mod:`tsseq.var`).

    The coefficients, residual covariance, selected order and intervals equal statsmodels'
    ``VAR(y).fit(maxlags=max_order, ic=criterion)`` (``.coefs``, ``.intercept``,
    ``.sigma_u``, ``.k_ar``, ``.forecast_interval``) on series long enough for
    ``max_order``. A single channel is an AR with the same least squares.

    Parameters
    ----------
    order : int >= 0, optional
        Fixed order. ``None`` selects it in ``0..m`` by ``criterion`` (module docstring).
    max_order : int >= 1
        Largest order the selection considers (capped by each series' length).
    criterion : {"aic", "bic", "hqic"}
        Information criterion of the selection and of the replacement of explosive fits.
    stable : bool
        Replace explosive fits by the stable lower order of best criterion.
    stable_tol : float >= 0
        A fit is explosive when its companion matrix has a root of modulus above ``1 + stable_tol``.

    Attributes
    ----------
    order_ : (S,) int
        Order per series.
    replaced_order_ : (S,) int
        The explosive order first chosen where ``stable`` replaced it, -1 elsewhere.
    intercept_ : (S, C) float
    coef_ : (S, P, C, C) float
        ``coef_[s, i, j, k]`` multiplies channel ``k`` ``i + 1`` steps back in channel ``j``'s
        forecast; ``P = order_.max()`` and lags beyond a series' order are 0.
    sigma_u_ : (S, C, C) float
        Residual covariance, ``RSS / (T - p - (C p + 1))`` (statsmodels' ``sigma_u``).
    criteria_ : (S, m + 1) float or None
        The criterion of each order on the common sample, ``inf`` above the series' ``m``
        (``None`` for a fixed order).
    last_values_ : (S, P, C) float
        The last ``P`` training rows, the start of ``predict``.
    """

    def __init__(
        self,
        *,
        order: int | None = None,
        max_order: int = 10,
        criterion: str = "aic",
        stable: bool = True,
        stable_tol: float = STABLE_TOL,
    ) -> None:
        self.order = order
        self.max_order = max_order
        self.criterion = criterion
        self.stable = stable
        self.stable_tol = stable_tol

    def check_params(self) -> None:
        if self.order is not None:
            check_positive_int(self.order, "order", minimum=0)
        check_positive_int(self.max_order, "max_order")
        if self.criterion not in CRITERIA:
            raise ConfigError(
                f"The 'criterion' parameter must be one of {', '.join(CRITERIA)}. "
                f"Got {self.criterion!r} instead.{closest_match(str(self.criterion), CRITERIA)}"
            )
        check_stable(self.stable, self.stable_tol)

    def fit(self, y, **fit_options) -> "VAR":
        """As :meth:`Forecaster.fit` (every keyword passed on), then one warning naming the fits ``stable`` replaced."""
        super().fit(y, **fit_options)
        replaced = np.flatnonzero(self.replaced_order_ >= 0)
        if len(replaced):
            ids = self.layout_.series_ids
            named = [
                f"{'the series' if ids is None else f'series {ids[s]!r}'}: order {self.replaced_order_[s]} -> "
                f"{self.order_[s]} (root modulus {self.replaced_radius_[s]:.4g})"
                for s in replaced[:10]
            ]
            more = f" and {len(replaced) - 10} more" if len(replaced) > 10 else ""
            warnings.warn(
                f"VAR: {len(replaced)} fitted model(s) were explosive (a companion-matrix root of modulus above "
                f"1 + stable_tol = {1 + self.stable_tol:g}) and were replaced by the stable lower order of best "
                f"{self.criterion}: {'; '.join(named)}{more}. Pass stable=False to keep them.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _max_lags(self, rows: int, n_channels: int) -> int:
        """``max_order`` capped by a series of ``rows`` rows (module docstring)."""
        return max(0, min(self.max_order, rows // 4, (rows - n_channels - 1) // (n_channels + 1)))

    def _fit_one(self, values: np.ndarray) -> tuple[FittedVAR, np.ndarray | None, int, float]:
        """``(model, criteria, replaced order or -1, its root modulus or NaN)`` of one ``(T, C)`` series."""
        n_channels = values.shape[1]
        if self.order is not None:
            model = FittedVAR(values, self.order)
            criteria = None
            candidates = [model.order]
        else:
            lags = self._max_lags(len(values), n_channels)
            criteria = np.full(self.max_order + 1, np.inf)
            nobs = len(values) - lags  # the common sample: the rows after the first `lags`
            for p, covariance in enumerate(nested_covariances(values, lags)):
                criteria[p] = criterion_value(self.criterion, covariance, nobs, p)
            candidates = list(np.argsort(criteria[: lags + 1], kind="stable"))
            model = FittedVAR(values, int(candidates[0]))
        if not self.stable or model.radius <= 1 + self.stable_tol:
            return model, criteria, -1, np.nan
        lower = [p for p in candidates if p < model.order] if criteria is not None else list(range(model.order - 1, -1, -1))
        for p in lower:
            candidate = FittedVAR(values, int(p))
            if candidate.radius <= 1 + self.stable_tol:
                return candidate, criteria, model.order, model.radius
        return FittedVAR(values, 0), criteria, model.order, model.radius

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        self.check_params()
        n_channels = series[0].shape[1]
        if self.order is not None:
            needed = self.order * (n_channels + 1) + 2
            requirement = f"with order={self.order} and {n_channels} channel(s) needs at least {needed} rows (order * (C + 1) + 2)"
        else:
            needed = n_channels + 3
            requirement = f"with {n_channels} channel(s) needs at least {needed} rows (C + 3)"
        _check_arrays(series, needed, "VAR", requirement)
        models, criteria, replaced, radii = zip(*(self._fit_one(values) for values in series))
        self.order_ = np.array([model.order for model in models])
        width = int(self.order_.max())
        self.replaced_order_, self.replaced_radius_ = np.array(replaced), np.array(radii)
        self.intercept_ = np.stack([model.intercept for model in models])
        self.coef_ = np.zeros((len(models), width, n_channels, n_channels))
        for s, model in enumerate(models):
            self.coef_[s, : model.order] = model.coef
        self.sigma_u_ = np.stack([model.sigma_u for model in models])
        self.criteria_ = None if self.order is not None else np.stack(criteria)
        self.last_values_ = np.stack([values[len(values) - width :] for values in series])  # (S, P, C)

    def _predict(self, horizon: int) -> list[np.ndarray]:
        return [forecast(self.intercept_[s], self.coef_[s], self.last_values_[s], horizon) for s in range(len(self.order_))]

    def _check_one_series(self) -> None:
        if len(self.order_) != 1:
            raise DataError(
                f"predict_windows needs a VAR fitted on one series (a wide frame); this one was fitted on "
                f"{len(self.order_)} series, each with its own model."
            )

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        self._check_one_series()
        width = self.coef_.shape[1]
        _check_windows(inputs, width, "VAR", f"has order {width}")
        return forecast(self.intercept_[0], self.coef_[0], inputs, horizon)

    def _error_sd(self, series: int, horizon: int) -> np.ndarray:
        """Standard deviations of the ``1..horizon``-step forecast errors of one series' channels: ``(horizon, C)``."""
        weights = ma_weights(self.coef_[series], horizon)
        steps = np.einsum("hij,jk,hlk->hil", weights, self.sigma_u_[series], weights)  # Phi_j Sigma_u Phi_j'
        covariance = np.cumsum(steps, axis=0)
        return np.sqrt(np.maximum(np.einsum("hii->hi", covariance), 0.0))

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        z = _normal_quantiles(levels)
        return [point[..., None] + self._error_sd(s, horizon)[..., None] * z for s, point in enumerate(self._predict(horizon))]

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        point = self._predict_windows(inputs, horizon)  # (N, H, C)
        return point[..., None] + self._error_sd(0, horizon)[..., None] * _normal_quantiles(levels)

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        paths = []
        for s in range(len(self.order_)):
            root = _covariance_root(self.sigma_u_[s])
            noise = rng.standard_normal((n, horizon, root.shape[0])) @ root.T
            history = np.broadcast_to(self.last_values_[s], (n,) + self.last_values_[s].shape)
            paths.append(forecast(self.intercept_[s], self.coef_[s], history, horizon, noise=noise))
        return paths


def _covariance_root(covariance: np.ndarray) -> np.ndarray:
    """``R`` with ``R R' = covariance``; a singular covariance (a constant channel) by its eigendecomposition."""
    try:
        return np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        eigenvalues, vectors = np.linalg.eigh(covariance)
        return vectors * np.sqrt(np.maximum(eigenvalues, 0.0))
