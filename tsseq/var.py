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

Shrinking the cross terms (``cross_penalty``). On wide logs (tens of loosely related
channels) most least-squares cross coefficients are noise: on 40 channels (8 independent
simulated plants of 5 sensors side by side) the VAR's one-step errors out of sample were
2-3x a per-channel AR's. With ``cross_penalty`` set, equation ``j`` of order ``p``::

    y_{j,t} = c_j + sum_{i=1..p} a_{jj,i} y_{j,t-i} + sum_{k != j} sum_{i=1..p} a_{jk,i} y_{k,t-i} + u_{j,t}

keeps its intercept and own lags free and puts a ridge penalty on the other channels'
lags, shrinking it towards the per-channel AR (a Minnesota-like prior). Over the ``n = T - p``
rows of the regression, with ``X_o = [1, own lags]``, ``X_x`` the ``p (C - 1)`` cross columns and
``M = I - X_o X_o^+`` (Frisch-Waugh: partial the free terms out), each column of ``M X_x`` is
scaled to unit root-mean-square by ``D`` (so that the penalty is free of the channels' units;
a zero column, e.g. a constant channel's, gets scale 1 and coefficient 0)::

    b_j = argmin_b |M y_j - M X_x D^-1 b|^2 + lambda_j n |b|^2,    a_{j,cross} = D^-1 b_j

and the intercept and own lags are the least squares given ``a_{j,cross}``. ``lambda_j`` is
relative to the sample size (the penalty is ``lambda_j n``): 0 is the least squares above,
and ``lambda_j -> inf`` the per-channel AR with intercept on the same rows (``inf`` is
accepted). With ``s_i`` the singular values of ``M X_x D^-1``, the equation's degrees of
freedom are ``df_j = 1 + p + sum_i s_i^2 / (s_i^2 + lambda_j n)``, and ``"gcv"`` picks, per
equation, the ``lambda_j`` of :data:`CROSS_PENALTY_GRID` (0 and ``logspace(-6, 2, 33)``) that
minimises the generalised cross-validation ``GCV = n RSS / (n - df)^2`` (points with
``n <= df`` skipped; ties, to 1e-12 relative, go to the larger penalty). On the 40 channels
this brought the median absolute one-step errors (held out, test) from 0.105 and 0.172 to
0.069 and 0.084 (per-channel AR: 0.068 and 0.068), and left 5 coupled channels as good as
least squares.

The order is selected as above, by the least-squares criteria, and then refitted with the
penalty (as are the lower orders that ``stable`` tries). ``Sigma_u`` of a penalised fit is
``E'E / (n - mean_j df_j)`` with ``E`` its ``(n, C)`` residuals, which at ``lambda = 0`` is
statsmodels' denominator again. Computation: one Gram matrix of the centred, unit-RMS
``[lags, targets]`` per series and order (centring partials out the intercept); each
equation's residualised cross Gram is a Schur complement of it, whose ``eigh`` gives
``s_i^2`` and every ``RSS(lambda)`` without touching the ``n`` rows again.

Leaving unrelated channels out (``cross_screen``). A ridge shrinks least the directions of
largest variance, and on a wide log of independent processes that hold their levels for long
stretches those are where the processes' levels line up by chance: in sample a coincidence of
level regimes is as significant as a real coupling. Timing tells them apart: a coupling carries
one channel's innovations into the other's within a few rows, a coincidence does not. With
``cross_screen = alpha``, each channel is prewhitened by its own AR (order 10, with intercept)
and its residuals ``e`` standardised; for each pair, Haugh's (1976) statistic::

    Q_jk = n sum_{l=-M..M} r_jk(l)^2,    r_jk(l) = corr(e_j(t), e_k(t - l)),    M = 10

is chi-squared with ``2 M + 1`` degrees of freedom when the two are independent, and channel
``k``'s lags enter channel ``j``'s equation only where ``Q_jk`` exceeds its ``1 - alpha / (C - 1)``
quantile (Bonferroni over a channel's others; the test is two-sided, so the relation is
symmetric: a driven channel's lags help predict a noisy measurement of its driver too). The
others' coefficients are 0; the kept cross terms are fitted with ``cross_penalty`` (least
squares when ``None``). The screen is computed once per series, on its fitting rows, before the
order selection, which it does not change. On 40 channels (8 plants) the median one-step
errors held out / on test rows were 0.060 / 0.061 with ``cross_screen=0.01`` and ``"gcv"``,
against 0.069 / 0.085 with ``"gcv"`` alone and 0.068 / 0.068 for the per-channel AR; on 5
coupled channels 0.039 / 0.037 against 0.038 / 0.036 and 0.047 / 0.042
(``pipelines/benchmarks/wide_logs.py``).

The test's level holds where the AR leaves white residuals (two independent AR(1) channels:
related in 5.25% of 400 draws at ``alpha = 0.05``). Where it does not, it relates more than
``alpha`` says, i.e. it keeps channels: independent random walks under measurement noise,
whose AR(10) residuals keep a slow component, are related in 31% of the pairs at 10,000
rows (``pipelines/benchmarks/bench_var.py --cross-penalty gcv --cross-screen 0.01``; none at
4,000 rows of 5 channels). A null corrected for that (Bartlett's covariances of the
cross-correlations from the residuals' periodograms, a Satterthwaite scaled chi-squared)
restores the level (none of those pairs; 7.5% at 0.05 for such a pair at 3,000 rows) but
also keeps about 30% fewer of the simulated plant's couplings, whose residuals are slow too,
and its VAR intervals' PR-AUC fell from 0.72 to 0.62 (threshold_study.md, after the tenth
study): it is not used.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from tsseq.ar import CRITERIA, STABLE_TOL, check_stable
from tsseq.base import Forecaster
from tsseq.baselines import _check_arrays, _check_windows, _normal_quantiles, last_rows
from tsseq.errors import ConfigError, DataError, check_positive_int, closest_match
from tsseq.registry import register


def lag_slices(values: np.ndarray, lags: int) -> list[np.ndarray]:
    """``[y_{t-1}, ..., y_{t-lags}]`` over rows ``lags..T-1`` of ``values (T, C)``: ``lags`` views ``(T - lags, C)``."""
    return [values[lags - i : len(values) - i] for i in range(1, lags + 1)]


def lagged(values: np.ndarray, lags: int) -> np.ndarray:
    """The design of rows ``lags..T-1`` of ``values (T, C)``: ``[1, y_{t-1}, ..., y_{t-lags}]``, ``(T - lags, 1 + C lags)``."""
    return np.hstack([np.ones((len(values) - lags, 1)), *lag_slices(values, lags)])


def least_squares(design: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(intercept (C,), coefficients (p, C, C), residuals)`` of ``targets`` on ``design`` (:func:`lagged`).

    Solved as statsmodels solves it (``lstsq``, ``rcond=1e-15``), so that the two agree to rounding.
    """
    solution = np.linalg.lstsq(design, targets, rcond=1e-15)[0]  # (1 + C p, C)
    n_channels = targets.shape[1]
    lags = (design.shape[1] - 1) // n_channels
    coef = solution[1:].reshape(lags, n_channels, n_channels).transpose(0, 2, 1)  # A_i[j, k]: channel j on k, i back
    return solution[0], coef, targets - design @ solution


CROSS_PENALTY_GRID = np.r_[0.0, np.logspace(-6, 2, 33)]
"""The penalties ``cross_penalty="gcv"`` chooses from, relative to the rows of the regression (module docstring)."""

RANK_RTOL = 1e-12  # eigenvalues of a Gram below this fraction of its largest are rank deficiency, not signal
COLLINEAR_RTOL = 1e-10  # a cross column keeping less than this fraction of its square sum once partialled out is zero
GCV_TIE_RTOL = 1e-12  # GCV values this close are a tie, which the larger penalty wins: rounding must not decide it


def standardised_block(values: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(block, means, scales)``: the columns ``[y_{t-1}, ..., y_{t-lags}, y_t]`` over rows ``lags..T-1``, standardised.

    Column ``(i - 1) C + k`` is channel ``k`` ``i`` steps back and column ``C lags + k`` channel ``k``'s target.
    Each column is centred (which partials the intercept out exactly) and scaled to unit root-mean-square
    (which keeps its Gram near a correlation matrix, so that the Schur complements lose little to rounding);
    a constant column is set to zero with scale 1. ``block`` is ``(T - lags, C (lags + 1))``.
    """
    block = np.hstack([*lag_slices(values, lags), values[lags:]])
    means = block.mean(axis=0)
    block -= means  # in place: the block is the largest thing a fit holds
    scales = np.sqrt(np.mean(block**2, axis=0))
    constant = scales <= 1e-12 * np.abs(means)  # what is left of a constant column is the rounding of its mean
    block[:, constant] = 0.0
    scales[constant] = 1.0
    block /= scales
    return block, means, scales


def psd_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^+ rhs`` of a symmetric positive semi-definite ``matrix`` (eigenvalues under :data:`RANK_RTOL` of the largest: 0)."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    cutoff = RANK_RTOL * max(float(eigenvalues.max(initial=0.0)), 0.0)
    inverse = np.divide(1.0, eigenvalues, out=np.zeros_like(eigenvalues), where=eigenvalues > cutoff)
    return vectors @ (inverse[:, None] * (vectors.T @ rhs))


class CrossRidge:
    """Equation ``channel``'s cross regression of order ``lags`` from the Gram of :func:`standardised_block` (module docstring).

    In the standardised units of ``gram``: the own lags are partialled out of the cross columns and the target by
    a Schur complement; the cross columns left with (nearly) nothing are dropped (coefficient 0), the others
    scaled to unit root-mean-square and their Gram eigen-decomposed, ``R = V diag(e) V'``, with ``z = V' r``
    (``r`` their products with the target). Then at penalty ``lambda n`` the coefficients are ``V (w z)`` with
    ``w = 1 / (e + lambda n)`` (at ``lambda = 0`` the pseudo-inverse), ``RSS = y'y - sum z^2 w (2 - e w)`` and
    ``df = 1 + p + sum e w``.
    """

    def __init__(
        self, gram: np.ndarray, lags: int, n_channels: int, channel: int, rows: int, allowed: np.ndarray | None = None
    ):
        self.lags, self.rows, self.width = lags, rows, n_channels * lags
        lag_columns = np.arange(self.width)
        self.own = channel + n_channels * np.arange(lags)
        self.cross = np.setdiff1d(lag_columns, self.own)
        if allowed is not None:  # the other channels screened out of this equation have no columns (coefficient 0)
            self.cross = self.cross[allowed[self.cross % n_channels]]
        partialled = np.r_[self.cross, n_channels * lags + channel]  # the cross columns, then the target
        # the own lags' least squares on each cross column and on the target: X_o^+ [X_x, y]
        self.own_solution = psd_solve(gram[np.ix_(self.own, self.own)], gram[np.ix_(self.own, partialled)])
        residual_gram = gram[np.ix_(partialled, partialled)] - gram[np.ix_(partialled, self.own)] @ self.own_solution
        cross_gram, cross_target = residual_gram[:-1, :-1], residual_gram[:-1, -1]
        self.target_ss = max(float(residual_gram[-1, -1]), 0.0)
        square_sums = np.diag(cross_gram)
        # an unscaled standardised column has square sum `rows` (0 if constant); what partialling leaves of it
        self.kept = np.flatnonzero(square_sums > COLLINEAR_RTOL * rows)
        self.scales = np.sqrt(square_sums[self.kept] / rows)  # to unit root-mean-square
        scaled_gram = cross_gram[np.ix_(self.kept, self.kept)] / np.outer(self.scales, self.scales)
        eigenvalues, self.vectors = np.linalg.eigh(scaled_gram)
        self.eigenvalues = np.maximum(eigenvalues, 0.0)  # rounding can leave a PSD matrix's smallest just below 0
        self.projections = self.vectors.T @ (cross_target[self.kept] / self.scales)

    def weights(self, penalties: np.ndarray) -> np.ndarray:
        """``w = 1 / (e + lambda n)`` for each relative penalty ``lambda``: ``(G, K)``.

        A direction of (numerically) zero eigenvalue and penalty gets 0, as the pseudo-inverse gives it: at
        ``lambda = 0`` this is the minimum-norm least squares of a rank-deficient cross design.
        """
        e = self.eigenvalues[None, :]
        cutoff = RANK_RTOL * float(self.eigenvalues.max(initial=0.0))
        shifts = np.asarray(penalties, dtype=float)[:, None] * self.rows
        shifted = e + shifts
        rank_deficient = (e <= cutoff) & (shifts <= cutoff)
        return np.divide(1.0, shifted, out=np.zeros_like(shifted), where=~rank_deficient & (shifted > 0))

    def rss_and_df(self, penalties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The residual sum of squares (standardised units) and degrees of freedom at each relative penalty: ``(G,)`` each."""
        weights = self.weights(penalties)
        e, z2 = self.eigenvalues, self.projections**2
        rss = self.target_ss - np.sum(z2 * weights * (2.0 - e * weights), axis=1)
        return np.maximum(rss, 0.0), 1.0 + self.lags + np.sum(e * weights, axis=1)

    def gcv_penalty(self, grid: np.ndarray = CROSS_PENALTY_GRID) -> float:
        """The penalty of ``grid`` of least ``GCV = n RSS / (n - df)^2`` (``n <= df`` skipped; ties to the larger)."""
        rss, df = self.rss_and_df(grid)
        spare = self.rows - df
        gcv = np.full(len(grid), np.inf)
        valid = spare > 0
        gcv[valid] = self.rows * rss[valid] / spare[valid] ** 2
        best = gcv.min()
        ties = np.flatnonzero(gcv <= best + GCV_TIE_RTOL * abs(best)) if np.isfinite(best) else np.arange(len(grid))
        return float(grid[ties].max())

    def fit(self, penalty: float) -> tuple[np.ndarray, float]:
        """``(coefficients, df)`` at the relative ``penalty``: the equation's coefficients of every lag column, in
        standardised units, ``(C lags,)``, and its degrees of freedom.

        The cross ones from the ridge; the own ones the least squares given them, ``X_o^+ (y - X_x a_x)``.
        """
        cross = np.zeros(len(self.cross))
        weights = self.weights(np.array([penalty]))[0]
        cross[self.kept] = self.vectors @ (weights * self.projections) / self.scales
        solution = np.zeros(self.width)
        solution[self.cross] = cross
        solution[self.own] = self.own_solution[:, -1] - self.own_solution[:, :-1] @ cross
        return solution, 1.0 + self.lags + float(np.sum(self.eigenvalues * weights))


SCREEN_WHITENING_ORDER = 10
"""The order of the per-channel AR whose residuals :func:`haugh_statistic` correlates (capped by a quarter of the rows)."""
SCREEN_MAX_LAG = 10
""":func:`haugh_statistic` sums the squared cross-correlations over lags ``-SCREEN_MAX_LAG..SCREEN_MAX_LAG``."""


def haugh_statistic(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``(statistic (C, C), degrees of freedom)``: Haugh's test of independence of every pair of channels of ``values (T, C)``.

    Each channel is prewhitened by its own least-squares AR (intercept, order :data:`SCREEN_WHITENING_ORDER`,
    at most ``T // 4``) and its residuals ``e`` standardised; with ``r(l)`` the cross-correlation of ``e_j(t)``
    and ``e_k(t - l)`` over the ``n`` residual rows, the statistic is ``n sum_{|l| <= M} r(l)^2`` (``M`` =
    :data:`SCREEN_MAX_LAG`, at most ``n - 1``), chi-squared with ``2 M + 1`` degrees of freedom when the two are
    independent and their residuals white (Haugh 1976; larger where the residuals stay autocorrelated: module
    docstring). Symmetric; a constant channel's row and column are 0.
    """
    rows, n_channels = values.shape
    order = max(1, min(SCREEN_WHITENING_ORDER, rows // 4))
    residuals = np.empty((rows - order, n_channels))
    for channel in range(n_channels):
        design, target = lagged(values[:, [channel]], order), values[order:, channel]
        residuals[:, channel] = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
    residuals -= residuals.mean(axis=0)
    sd = residuals.std(axis=0)
    varies = sd > 1e-12 * (1.0 + np.abs(values).max(axis=0))  # what is left of a constant channel is rounding
    residuals = np.divide(residuals, sd, out=np.zeros_like(residuals), where=varies)
    n = len(residuals)
    max_lag = min(SCREEN_MAX_LAG, n - 1)
    statistic = (residuals.T @ residuals / n) ** 2  # lag 0
    for lag in range(1, max_lag + 1):
        correlation = residuals[lag:].T @ residuals[:-lag] / n  # [j, k]: e_j(t) with e_k(t - lag)
        statistic += correlation**2 + correlation.T**2  # lags +lag and -lag
    return n * statistic, 2 * max_lag + 1


def related_channels(values: np.ndarray, alpha: float) -> np.ndarray:
    """``(C, C)`` bool: ``[j, k]`` where channels ``j`` and ``k`` of ``values (T, C)`` are dependent.

    Haugh's statistic (:func:`haugh_statistic`) above its chi-squared quantile ``1 - alpha / (C - 1)``
    (Bonferroni over each channel's ``C - 1`` others). Symmetric, the diagonal True, a constant channel
    related to no other. Why innovations: two independent channels that hold levels for long stretches
    look correlated in levels (a spurious regression), but their innovations do not; a real coupling
    carries one channel's innovations into the other's within a few lags.
    """
    from scipy import stats  # a dependency of statsmodels; only the screen needs it

    statistic, degrees = haugh_statistic(values)
    related = statistic > stats.chi2.ppf(1.0 - alpha / max(values.shape[1] - 1, 1), degrees)
    np.fill_diagonal(related, True)
    return related


def cross_penalised_least_squares(
    values: np.ndarray, lags: int, cross_penalty: float | str, related: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(intercept (C,), coef (lags, C, C), residuals, penalties (C,), df (C,))`` of the VAR of order ``lags >= 1``
    whose cross terms are shrunk by ``cross_penalty`` (a relative penalty, or ``"gcv"``: per equation; module docstring).

    ``related`` ``(C, C)`` bool (:func:`related_channels`): equation ``j`` takes the lags of the channels ``k``
    with ``related[j, k]`` only, the others' coefficients are 0; ``None``: every channel."""
    n_channels, rows = values.shape[1], len(values) - lags
    block, means, scales = standardised_block(values, lags)
    gram = block.T @ block
    standardised = np.zeros((n_channels, n_channels * lags))  # row j: equation j's coefficients of the lag columns
    penalties, degrees = np.zeros(n_channels), np.zeros(n_channels)
    for channel in range(n_channels):
        allowed = None if related is None else related[channel]
        equation = CrossRidge(gram, lags, n_channels, channel, rows, allowed)
        penalties[channel] = equation.gcv_penalty() if cross_penalty == "gcv" else float(cross_penalty)
        standardised[channel], degrees[channel] = equation.fit(penalties[channel])
    # back to the data's units: y_j = m_j + s_j sum_k b_jk (x_k - m_k) / s_k
    lag_means, target_means = means[: n_channels * lags], means[n_channels * lags :]
    lag_scales, target_scales = scales[: n_channels * lags], scales[n_channels * lags :]
    slopes = standardised * target_scales[:, None] / lag_scales[None, :]
    intercept = target_means - slopes @ lag_means
    coef = slopes.reshape(n_channels, lags, n_channels).transpose(1, 0, 2)  # A_i[j, k]
    lag_block, target_block = block[:, : n_channels * lags], block[:, n_channels * lags :]
    residuals = (target_block - lag_block @ standardised.T) * target_scales  # the block's, not a second design
    return intercept, coef, residuals, penalties, degrees


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
    ``coef (order, C, C)``, ``sigma_u (C, C)``, each equation's cross ``penalty (C,)`` and the companion
    matrix's largest root modulus, ``radius``.

    ``cross_penalty=None`` is the least squares; otherwise the cross terms are shrunk (module docstring),
    except where there are none (one channel, order 0): there the two are the same fit. ``related``
    (:func:`related_channels`) leaves the channels it does not relate out of each equation.
    """

    def __init__(
        self,
        values: np.ndarray,
        lags: int,
        cross_penalty: float | str | None = None,
        related: np.ndarray | None = None,
    ):
        self.order = lags
        n_channels = values.shape[1]
        self.related = np.ones((n_channels, n_channels), dtype=bool) if related is None else related
        if (cross_penalty is None and related is None) or n_channels == 1 or lags == 0:
            self.intercept, self.coef, residuals = least_squares(lagged(values, lags), values[lags:])
            self.penalty = np.zeros(n_channels)
            self.df = np.full(n_channels, n_channels * lags + 1.0)
        else:
            penalty = 0.0 if cross_penalty is None else cross_penalty  # a screen alone: least squares on what it keeps
            self.intercept, self.coef, residuals, self.penalty, self.df = cross_penalised_least_squares(
                values, lags, penalty, related
            )
        self.rows = len(residuals)
        degrees = self.rows - float(self.df.mean())
        self.sigma_u = residuals.T @ residuals / max(degrees, 1)
        self.radius = companion_radius(self.coef)


def _real(value: object) -> bool:
    """A real number (numpy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_cross_penalty(cross_penalty: object) -> None:
    """The ``cross_penalty`` parameter of :class:`VAR`: ``None``, a float >= 0 (``inf`` too) or ``"gcv"``; else a ConfigError."""
    if cross_penalty is None or (isinstance(cross_penalty, str) and cross_penalty == "gcv"):
        return
    if _real(cross_penalty) and cross_penalty >= 0:  # inf too (the per-channel AR); NaN is not >= 0
        return
    hint = closest_match(cross_penalty, ["gcv"]) if isinstance(cross_penalty, str) else ""
    raise ConfigError(
        f"The 'cross_penalty' parameter must be None, a float >= 0 or 'gcv'. Got {cross_penalty!r} instead.{hint}"
    )


def check_cross_screen(cross_screen: object) -> None:
    """The ``cross_screen`` parameter of :class:`VAR`: ``None`` or a level in (0, 1); else a ConfigError."""
    if cross_screen is not None and not (_real(cross_screen) and 0 < cross_screen < 1):  # NaN fails the comparison
        raise ConfigError(
            f"The 'cross_screen' parameter must be None or a significance level in (0, 1), e.g. 0.01. "
            f"Got {cross_screen!r} instead."
        )


@register("var")
class VAR(Forecaster):
    """Vector autoregression with intercept, one per series, by exact least squares (see :mod:`tsseq.var`).

    The coefficients, residual covariance, selected order and intervals equal statsmodels'
    ``VAR(y).fit(maxlags=max_order, ic=criterion)`` (``.coefs``, ``.intercept``,
    ``.sigma_u``, ``.k_ar``, ``.forecast_interval``) on series long enough for
    ``max_order``. A single channel is an AR with the same least squares.

    ``cross_penalty`` shrinks the cross-channel coefficients towards a per-channel AR (ridge on
    the other channels' lags, the intercept and own lags free; module docstring): for wide logs
    of loosely related channels, where the least-squares cross terms are mostly noise.
    ``cross_screen`` leaves out of each equation the channels that a test on innovations finds
    unrelated to its channel.

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
    cross_penalty : None, float >= 0 or "gcv"
        ``None``: least squares. A float ``lambda``: the ridge penalty ``lambda n`` on each
        equation's other-channel lags, the residualised columns scaled to unit root-mean-square
        (0 is least squares, ``inf`` a per-channel AR). ``"gcv"``: per equation, the ``lambda`` of
        :data:`CROSS_PENALTY_GRID` of least generalised cross-validation. The order is still
        selected by the least-squares criteria.
    cross_screen : None or float in (0, 1)
        ``None``: every channel enters every equation. A level ``alpha``: channel ``k`` enters
        channel ``j``'s equation only where Haugh's test on the two channels' prewhitened
        innovations finds them dependent at ``alpha / (C - 1)`` (:func:`related_channels`);
        the others' coefficients are 0, the kept ones fitted with ``cross_penalty`` (least
        squares when that is ``None``). For wide logs of independent groups of channels
        (module docstring).

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
        Residual covariance, ``RSS / (T - p - (C p + 1))`` (statsmodels' ``sigma_u``); with
        ``cross_penalty``, ``E'E / (T - p - mean_j df_j)`` (module docstring).
    cross_penalty_ : (S, C) float
        Each equation's relative penalty ``lambda``; 0 where ``cross_penalty`` is ``None``, where
        there is one channel and at order 0.
    cross_related_ : (S, C, C) bool
        ``cross_related_[s, j, k]``: channel ``k``'s lags may enter channel ``j``'s equation (the
        screen's verdict, :func:`related_channels`); all True without ``cross_screen``.
    df_ : (S, C) float
        Each equation's degrees of freedom: ``C p + 1`` by least squares, less where the cross
        terms are shrunk or screened out (the trace of its hat matrix).
    residual_rows_ : (S,) int
        The rows each series' regression was fitted on, ``T - p``.
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
        cross_penalty: float | str | None = None,
        cross_screen: float | None = None,
    ) -> None:
        self.order = order
        self.max_order = max_order
        self.criterion = criterion
        self.stable = stable
        self.stable_tol = stable_tol
        self.cross_penalty = cross_penalty
        self.cross_screen = cross_screen

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
        check_cross_penalty(self.cross_penalty)
        check_cross_screen(self.cross_screen)

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

    def _read_layout(self, layout) -> None:
        self._columns = layout.columns  # the channels' names, for the refusal of missing values (_check_arrays)

    def _max_lags(self, rows: int, n_channels: int) -> int:
        """``max_order`` capped by a series of ``rows`` rows (module docstring)."""
        return max(0, min(self.max_order, rows // 4, (rows - n_channels - 1) // (n_channels + 1)))

    def _fit_one(self, values: np.ndarray) -> tuple[FittedVAR, np.ndarray | None, int, float]:
        """``(model, criteria, replaced order or -1, its root modulus or NaN)`` of one ``(T, C)`` series."""
        n_channels = values.shape[1]
        related = None if self.cross_screen is None or n_channels == 1 else related_channels(values, self.cross_screen)
        if self.order is not None:
            model = FittedVAR(values, self.order, self.cross_penalty, related)
            criteria = None
            candidates = [model.order]
        else:
            lags = self._max_lags(len(values), n_channels)
            criteria = np.full(self.max_order + 1, np.inf)
            nobs = len(values) - lags  # the common sample: the rows after the first `lags`
            for p, covariance in enumerate(nested_covariances(values, lags)):
                criteria[p] = criterion_value(self.criterion, covariance, nobs, p)
            candidates = list(np.argsort(criteria[: lags + 1], kind="stable"))
            model = FittedVAR(values, int(candidates[0]), self.cross_penalty, related)
        if not self.stable or model.radius <= 1 + self.stable_tol:
            return model, criteria, -1, np.nan
        lower = [p for p in candidates if p < model.order] if criteria is not None else list(range(model.order - 1, -1, -1))
        for p in lower:
            candidate = FittedVAR(values, int(p), self.cross_penalty, related)
            if candidate.radius <= 1 + self.stable_tol:
                return candidate, criteria, model.order, model.radius
        return FittedVAR(values, 0, self.cross_penalty, related), criteria, model.order, model.radius

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        self.check_params()
        n_channels = series[0].shape[1]
        if self.order is not None:
            needed = self.order * (n_channels + 1) + 2
            requirement = f"with order={self.order} and {n_channels} channel(s) needs at least {needed} rows (order * (C + 1) + 2)"
        else:
            needed = n_channels + 3
            requirement = f"with {n_channels} channel(s) needs at least {needed} rows (C + 3)"
        _check_arrays(series, needed, "VAR", requirement, self._columns)
        models, criteria, replaced, radii = zip(*(self._fit_one(values) for values in series))
        self.order_ = np.array([model.order for model in models])
        width = int(self.order_.max())
        self.replaced_order_, self.replaced_radius_ = np.array(replaced), np.array(radii)
        self.intercept_ = np.stack([model.intercept for model in models])
        self.coef_ = np.zeros((len(models), width, n_channels, n_channels))
        for s, model in enumerate(models):
            self.coef_[s, : model.order] = model.coef
        self.sigma_u_ = np.stack([model.sigma_u for model in models])
        self.cross_penalty_ = np.stack([model.penalty for model in models])
        self.cross_related_ = np.stack([model.related for model in models])
        self.df_ = np.stack([model.df for model in models])  # (S, C): each equation's degrees of freedom
        self.residual_rows_ = np.array([model.rows for model in models])  # (S,): the rows each series' fit regressed
        self.criteria_ = None if self.order is not None else np.stack(criteria)
        self.last_values_ = np.stack([last_rows(values, width) for values in series])  # (S, P, C)

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
        _check_windows(inputs, width, "VAR", f"has order {width}", self.layout_.columns)
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
