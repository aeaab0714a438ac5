"""Autoregressive models fitted by exact least squares, batched over many series.

The AR(p) model with an intercept (statsmodels' ``trend="c"``) is

    y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} + e_t.

Every function here works on a batch of ``B`` univariate series of different lengths
at once, without a Python loop over the series:

1. :func:`lagged_gram` builds, for each series, the Gram matrix of the regression
   ``[1, y_{t-o_1}, ..., y_{t-o_k}, y_t]`` from one sum of lagged products per lag
   distance plus edge corrections (the matrices are Toeplitz-like, so no lag matrix
   is ever built).
2. :func:`guarded_cholesky` factors all the Gram matrices in one batched loop over
   columns. Because the target ``y_t`` is the last column, the last column of the
   factor ``R`` holds the residual sum of squares of every nested model at once:
   ``RSS_p = sum_{i > p} R[i, -1] ** 2`` (Gram–Schmidt on the columns in order).
3. The order minimising AIC / BIC / HQIC on the common sample (the first
   ``K_b = min(max_order, T_b // 4)`` values held back, as statsmodels'
   ``ar_select_order(y, maxlag=K_b)``) is chosen, and the coefficients are refitted on
   the sample that starts at the chosen order (statsmodels' ``AutoReg(y, lags=p,
   trend="c")`` with ``hold_back=None``): the common-sample sums plus those of the few
   rows ``p <= t < K_b``.
4. Explosive fits are replaced (below), with one refit per candidate order of the
   explosive series only.

Exogenous regressors (ARX, statsmodels' ``AutoReg(y, lags=p, exog=X)``): with ``K``
regressors observed alongside each series, row by row,

    y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} + b_1 x_{t,1} + ... + b_K x_{t,K} + e_t,

the regressors of row ``t`` entering contemporaneously (their values at the target's own
time; a driver known only up to ``t - 1`` is passed shifted by the caller). The Gram
matrices become those of ``[1, x_t, y_{t-1}, ..., y_{t-K}, y_t]`` (:func:`exog_gram`): the
regressors sit before the lags, so the nested models of step 2 are ``[1, x_t, lags 1..p]``
and keep every regressor, as ``ar_select_order(..., exog=X)`` compares them (its penalty
counts ``p + K + 1`` parameters). Forecasts need the regressors' future values, whose
effect ``b' x_{T+h}`` is added at each step of the recursion; the forecast variance is
the same ``sigma2 sum psi_j^2`` (the future regressors are known, not forecast).

Orders are capped by the length of each series: the selection considers the orders
``0..min(max_order, T // 4)`` (:func:`max_order_for_length`), Box & Jenkins' rule of
thumb that autocorrelations are trustworthy only up to lag ``T / 4`` (*Time Series
Analysis: Forecasting and Control*, 1976, section 2.1.6), which leaves at least three
observations per parameter in the common sample. R's ``ar()`` default,
``min(T - 1, 10 log10 T)``, is stricter, but it would cut M4 Hourly (``T >= 700``) at 28
lags, below the 48 to 168 lags that give its published AR figures; on long series the
cap never binds. A fixed ``order`` is not capped: it was asked for.

Explosive fits (:func:`spectral_radius` above ``1 + stable_tol``; a short series with a
high order easily estimates a root of 1.05 or more, whose forecasts grow by orders of
magnitude within a year of weekly steps) are replaced by the candidate of minimal
criterion on the same common sample, refitted on its own sample: the stable lower orders
(order 0, the mean model, always among them) and, without regressors, the random walk
with drift ``y_t = y_{t-1} + d + e_t`` (one parameter, as the mean model; a unit root).
On a series that grows by a few percent a step every order's fit is explosive, and the
mean model, the only stable order left, forecasts the training mean far below the last
value; the random walk with drift continues the level and its average step instead.
``stable_tol`` (:data:`STABLE_TOL`) keeps the near-unit roots that least squares
estimates on trending series (1.001 to 1.005 on M4 Hourly): they are random walks with
drift, not explosions.

Singular designs (a constant series, an exactly periodic one) do not fail: a column
that is numerically a combination of the earlier ones (pivot below ``RANK_RTOL``
times its squared norm) is dropped from the regression, so its coefficient is 0.
This is a basic least-squares solution, whereas statsmodels returns the
minimum-norm one; both give the same fitted values. A constant series selects
order 0 and forecasts its constant.

Each series is standardised (centred and scaled) before the sums are formed, which
keeps the Gram matrices well conditioned; AR coefficients are invariant to it and
the intercept and the residual sums are mapped back exactly.

Forecast distribution (Gaussian innovations): the ``h``-step error of the recursive
forecast is ``sum_{j<h} psi_j e_{T+h-j}``, with the moving-average weights
``psi_0 = 1``, ``psi_j = sum_{i=1}^{min(j, p)} phi_i psi_{j-i}`` (:func:`ma_weights`),
so its variance is ``sigma2 * sum_{j<h} psi_j^2`` (:func:`forecast_variance`). ``sigma2``
is statsmodels' ``AutoRegResults.sigma2``, the maximum-likelihood ``RSS / nobs`` with
``nobs = T - p`` (not ``RSS / (nobs - p - 1)``), which is what ``get_prediction`` uses;
:func:`residual_variance` computes it for every model at once. The intervals ignore
the uncertainty of the estimated coefficients, as statsmodels' do. A model whose
companion matrix has a root outside the unit circle (:func:`spectral_radius` > 1) is
explosive: its forecasts and their variance grow geometrically.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tsseq.errors import ConfigError, DataError

CRITERIA = ("aic", "bic", "hqic")
# A fit is explosive when its spectral radius exceeds 1 + STABLE_TOL: such a root grows a
# deviation 1.6-fold in 48 steps and 2.7-fold in 100; the near-unit roots of trending series
# (1.001 to 1.005 on M4 Hourly) stay, an estimated 1.017 there or 1.05 on a short weekly
# series does not.
STABLE_TOL = 0.01
# Box & Jenkins: autocorrelations, and so AR lags, up to T / 4 of a series of T values.
LENGTH_PER_LAG = 4
# Relative pivot below which a regressor counts as collinear with the earlier ones.
RANK_RTOL = 1e-10


def check_stable(stable: object, stable_tol: object) -> None:
    """The ``stable`` and ``stable_tol`` parameters of the autoregressions (AR, VAR), or a ConfigError naming them."""
    if not isinstance(stable, (bool, np.bool_)):
        raise ConfigError(f"The 'stable' parameter must be True or False. Got {stable!r} instead.")
    if isinstance(stable_tol, bool) or not isinstance(stable_tol, (int, float)) or not stable_tol >= 0:
        raise ConfigError(f"The 'stable_tol' parameter must be a float >= 0. Got {stable_tol!r} instead.")


@dataclass(frozen=True)
class ARFit:
    """Fitted AR models of a batch of ``B`` series.

    Attributes
    ----------
    order : (B,) int
        Order ``p_b`` of each model (0 means intercept only).
    intercept : (B,) float
        The constant ``c``.
    coef : (B, P) float
        ``coef[b, i]`` multiplies ``y_{t-1-i}``; ``P = max(order)`` and the entries
        beyond a model's order are 0.
    criteria : (B, K + 1) float or None
        The information criterion of the orders ``0..K`` on the common sample, when
        the order was selected; ``None`` for a fixed order.
    sigma2 : (B,) float or None
        Innovation variance ``RSS / (T_b - p_b)`` of each model (statsmodels'
        ``AutoRegResults.sigma2``); :func:`fit_ar` always sets it.
    exog_coef : (B, K) float or None
        ``exog_coef[b, k]`` multiplies the regressor ``x_{t,k}``; ``None`` without regressors.
    max_order : (B,) int or None
        The largest order the selection considered for each series, ``max_order`` capped
        by :func:`max_order_for_length`; the fixed order when there was no selection.
    replaced_order : (B,) int or None
        The explosive order first chosen where the stability check replaced it by
        ``order``, -1 where the first choice was kept; ``None`` when the check was off.
    replaced_radius : (B,) float or None
        The spectral radius of that replaced model (NaN where kept).
    random_walk : (B,) bool or None
        Where the replacement is the random walk with drift (``order`` 1, coefficient 1,
        ``intercept`` the drift) rather than a stable lower order; ``None`` when the check was off.
    """

    order: np.ndarray
    intercept: np.ndarray
    coef: np.ndarray
    criteria: np.ndarray | None = None
    sigma2: np.ndarray | None = None
    exog_coef: np.ndarray | None = None
    max_order: np.ndarray | None = None
    replaced_order: np.ndarray | None = None
    replaced_radius: np.ndarray | None = None
    random_walk: np.ndarray | None = None


def required_length(max_lag: int, horizon: int = 1) -> int:
    """Fewest values a series needs so that every regression has a residual degree of freedom.

    With ``max_lag`` lags and a ``horizon``-step target there are ``T - max_lag -
    horizon + 1`` rows and ``max_lag + 1`` parameters.
    """
    return 2 * max_lag + horizon + 1


def max_order_for_length(lengths: np.ndarray, horizon: int = 1) -> np.ndarray:
    """Largest order worth selecting for series of ``lengths`` values: ``min(T // 4, (T - horizon - 1) // 2)``, at least 0.

    ``T // 4`` is Box & Jenkins' lag limit (see the module docstring); the second term
    keeps a residual degree of freedom for direct models of ``horizon`` steps
    (:func:`required_length`), and binds only below 8 values for ``horizon=1``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.maximum(np.minimum(lengths // LENGTH_PER_LAG, (lengths - horizon - 1) // 2), 0)


def lag_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over the last (lag) axis, one lag at a time from the first: ``(..., P) -> (...)``.

    Why not ``np.sum``: its pairwise summation groups the terms by the axis length, so a
    model's sum would change in the last bits with the width ``P`` of its batch (the
    largest order among the series fitted together). Here the lags beyond a model's order,
    zeros at the end, add exactly nothing, and a per-series model gives the same bits
    whichever series share its batch (the streamed many-series jobs rely on it).
    """
    total = np.zeros(terms.shape[:-1])
    for lag in range(terms.shape[-1]):
        total = total + terms[..., lag]
    return total


def pad_series(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack 1-D series of different lengths: ``(B, T_max)`` zero-padded at the end, and ``(B,)`` lengths."""
    lengths = np.array([len(values) for values in series], dtype=np.int64)
    padded = np.zeros((len(series), int(lengths.max(initial=0))))
    mask = np.arange(padded.shape[1]) < lengths[:, None]
    padded[mask] = np.concatenate(series) if len(series) else []
    return padded, lengths


def lagged_gram(values: np.ndarray, first: np.ndarray, stop: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Gram matrices of the regressions ``[1, y_{t-o_1}, ..., y_{t-o_k}]`` over rows ``first_b <= t < stop_b``.

    Parameters
    ----------
    values : (B, T) float
        Series, zero-padded at the end (see :func:`pad_series`); ``stop_b <= T``.
    first, stop : (B,) int
        The rows of each series, ``0 <= first_b <= stop_b``. Values before time 0
        count as 0, so callers must ignore the columns whose lags reach before it.
    offsets : (k,) int >= 0
        Lag of each column; offset 0 is the target ``y_t`` itself.

    Returns
    -------
    (B, k + 1, k + 1) float
        Index 0 is the intercept column, index ``j + 1`` the column of ``offsets[j]``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    reach = 2 * int(offsets.max()) + 1  # largest offset plus largest lag distance, plus one
    # Left-pad so that every index below is >= 0; times move by `reach`.
    y = np.pad(values, ((0, 0), (reach, 0)))
    start, stop = np.asarray(first) + reach, np.asarray(stop) + reach
    rows_mask = (np.arange(y.shape[1]) >= start[:, None]) & (np.arange(y.shape[1]) < stop[:, None])
    inside = np.where(rows_mask, y, 0.0)  # y_t on the rows, 0 elsewhere
    # The values just before the first row and just before the end, most recent first: (B, reach)
    before_start = np.take_along_axis(y, start[:, None] - 1 - np.arange(reach), axis=1)
    before_stop = np.take_along_axis(y, stop[:, None] - 1 - np.arange(reach), axis=1)

    def shifted(row_sum: np.ndarray, start_terms: np.ndarray, stop_terms: np.ndarray, lag: np.ndarray) -> np.ndarray:
        # A sum over rows t of a product moved to t - lag gains the terms just before
        # the first row and loses those just before the end: (B, len(lag)).
        gained = np.concatenate([np.zeros((len(row_sum), 1)), np.cumsum(start_terms - stop_terms, axis=1)], axis=1)
        return row_sum[:, None] + gained[:, lag]

    size = len(offsets) + 1
    gram = np.empty((len(values), size, size))
    gram[:, 0, 0] = stop - start
    gram[:, 0, 1:] = gram[:, 1:, 0] = shifted(inside.sum(axis=1), before_start, before_stop, offsets)
    distance = np.abs(offsets[:, None] - offsets[None, :])
    for lag_distance in np.unique(distance):
        rows, cols = np.nonzero(np.triu(distance == lag_distance))
        lag = np.minimum(offsets[rows], offsets[cols])
        span = int(lag.max())
        # sum over the rows of y_t y_{t-d}, then moved to y_{t-lag} y_{t-lag-d}
        row_sum = np.einsum("bt,bt->b", inside[:, lag_distance:], y[:, : y.shape[1] - lag_distance])
        start_terms = before_start[:, :span] * before_start[:, lag_distance : lag_distance + span]
        stop_terms = before_stop[:, :span] * before_stop[:, lag_distance : lag_distance + span]
        sums = shifted(row_sum, start_terms, stop_terms, lag)
        gram[:, rows + 1, cols + 1] = sums
        gram[:, cols + 1, rows + 1] = sums
    return gram


def guarded_cholesky(gram: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """Upper Cholesky factors ``R`` (``gram = R^T R``) of ``(B, n, n)`` Gram matrices, rank-guarded.

    A column whose pivot is at most ``rtol`` times its diagonal entry lies in the
    span of the earlier columns; its row of ``R`` is set to 0, which drops it from
    every regression that follows.
    """
    batch, size, _ = gram.shape
    factor = np.zeros_like(gram)
    for j in range(size):
        above = factor[:, None, :j, j]  # (B, 1, j)
        reduced = gram[:, j, j:] - np.matmul(above, factor[:, :j, j:])[:, 0]  # (B, n - j)
        pivot = reduced[:, 0]
        independent = pivot > rtol * gram[:, j, j]
        root = np.sqrt(np.where(independent, pivot, 1.0))
        factor[:, j, j:] = np.where(independent[:, None], reduced / root[:, None], 0.0)
    return factor


def solve_regression(gram: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """Least-squares coefficients from augmented Gram matrices ``(B, n + 1, n + 1)`` (target last) -> ``(B, n)``."""
    factor = guarded_cholesky(gram, rtol)
    triangular, projected = factor[:, :-1, :-1], factor[:, :-1, -1]
    # A dropped column has a zero row; a unit pivot there gives it coefficient 0.
    dropped = np.diagonal(triangular, axis1=1, axis2=2) == 0
    triangular = triangular + np.einsum("bi,ij->bij", dropped, np.eye(triangular.shape[1]))
    return np.linalg.solve(triangular, projected[..., None])[..., 0]


def exog_gram(values: np.ndarray, exog: np.ndarray, first: np.ndarray, stop: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Gram matrices of ``[1, x_{t,1}, ..., x_{t,K}, y_{t-o_1}, ..., y_{t-o_k}]`` over rows ``first_b <= t < stop_b``.

    Parameters
    ----------
    values : (B, T) float
        Series, zero-padded at the end, as for :func:`lagged_gram`.
    exog : (B, T, K) float
        Regressors aligned row by row with ``values`` (row ``t`` enters the regression of ``y_t``).
    first, stop, offsets
        As for :func:`lagged_gram`.

    Returns
    -------
    (B, 1 + K + k, 1 + K + k) float
        Index 0 is the intercept, ``1..K`` the regressors, ``1 + K + j`` the column of ``offsets[j]``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lags = lagged_gram(values, first, stop, offsets)  # the Toeplitz-like part, as without regressors
    batch, length, n_exog = exog.shape
    times = np.arange(length)
    rows = (times >= np.asarray(first)[:, None]) & (times < np.asarray(stop)[:, None])
    x = np.where(rows[..., None], exog, 0.0)  # x_t on the rows, 0 elsewhere: (B, T, K)
    reach = int(offsets.max())
    y = np.pad(values, ((0, 0), (reach, 0)))  # y_{t-o} = y[:, reach - o + t]; before time 0 it is 0
    # sum over the rows of x_{t,k} y_{t-o}, one lag at a time: (B, K, k)
    cross = np.stack([np.einsum("btk,bt->bk", x, y[:, reach - lag : reach - lag + length]) for lag in offsets], axis=2)
    exog_index = 1 + np.arange(n_exog)
    lag_index = np.r_[0, 1 + n_exog + np.arange(len(offsets))]
    gram = np.empty((batch, 1 + n_exog + len(offsets), 1 + n_exog + len(offsets)))
    gram[:, lag_index[:, None], lag_index[None, :]] = lags
    gram[:, 0, exog_index] = gram[:, exog_index, 0] = x.sum(axis=1)
    gram[:, exog_index[:, None], exog_index[None, :]] = np.einsum("btk,btl->bkl", x, x)
    gram[:, exog_index[:, None], lag_index[None, 1:]] = cross
    gram[:, lag_index[1:, None], exog_index[None, :]] = cross.transpose(0, 2, 1)
    return gram


def _design_gram(values: np.ndarray, exog: np.ndarray | None, first: np.ndarray, stop: np.ndarray, width: int) -> np.ndarray:
    """Gram of ``[1, x_t, y_{t-1}, ..., y_{t-width}, y_t]`` (no ``x_t`` when ``exog`` is None) over ``first_b <= t < stop_b``."""
    offsets = np.concatenate([1 + np.arange(width), [0]])
    if exog is None:
        return lagged_gram(values, first, stop, offsets)
    return exog_gram(values, exog, first, stop, offsets)


def information_criteria(rss: np.ndarray, nobs: np.ndarray, criterion: str, n_exog: int = 0) -> np.ndarray:
    """AIC, BIC or HQIC of AR models with an intercept, as statsmodels' ``ar_select_order`` computes them.

    ``sigma2 = RSS / nobs``, ``llf = -nobs (log(2 pi sigma2) + 1) / 2`` and the penalty
    counts ``p + K + 1`` parameters (statsmodels' ``df_model + 1``; ``K = n_exog`` regressors).

    Parameters
    ----------
    rss : (B, K_max + 1) float
        Residual sums of squares of the orders ``0..K_max``.
    nobs : (B,) int
        Rows of the common sample.
    n_exog : int >= 0
        Exogenous regressors in every model.
    """
    nobs = np.asarray(nobs, dtype=np.float64)[:, None]
    parameters = np.arange(rss.shape[1]) + 1.0 + n_exog
    with np.errstate(divide="ignore"):  # a perfect fit has RSS 0 and criterion -inf
        llf = -nobs * (np.log(2 * np.pi * rss / nobs) + 1) / 2
    penalty = {"aic": 2.0, "bic": np.log(nobs), "hqic": 2 * np.log(np.log(nobs))}[criterion]
    return -2 * llf + penalty * parameters


def _standardise(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale each padded series ``(B, T)`` (or each regressor of ``(B, T, K)``) over its observed rows.

    A constant keeps scale 1.
    """
    observed = np.arange(values.shape[1]) < lengths[:, None]  # (B, T)
    observed = observed.reshape(observed.shape + (1,) * (values.ndim - 2))
    mean = values.sum(axis=1) / lengths.reshape((-1,) + (1,) * (values.ndim - 2))
    centred = np.where(observed, values - mean[:, None], 0.0)
    scale = np.sqrt((centred**2).sum(axis=1) / lengths.reshape(mean.shape[:1] + (1,) * (values.ndim - 2)))
    scale = np.where(scale > 0, scale, 1.0)
    return centred / scale[:, None], mean, scale


def _check_batch(series: list[np.ndarray], max_lag: int | np.ndarray, horizon: int = 1) -> None:
    """Finite 1-D series, each long enough for ``max_lag`` lags (one number, or one per series)."""
    lags = np.broadcast_to(np.asarray(max_lag, dtype=np.int64), (len(series),))
    for position, (values, lag) in enumerate(zip(series, lags.tolist())):
        needed = required_length(lag, horizon)
        if values.ndim != 1 or not np.all(np.isfinite(values)):
            raise DataError(f"AR needs finite 1-D series; series {position} has missing or infinite values.")
        if len(values) < needed:
            raise DataError(
                f"Series {position} has {len(values)} values; an AR with {lag} lags"
                f"{f' and horizon {horizon}' if horizon > 1 else ''} needs at least {needed}."
            )


def pad_exog(series: list[np.ndarray], exog: list[np.ndarray]) -> np.ndarray:
    """Check the regressors ``(T_b, K)`` of each series (``(T_b,)`` or ``(T_b, C)``) and stack them.

    Returns ``(B, T_max, K)``, zero-padded at the end.
    """
    if len(exog) != len(series):
        raise DataError(f"AR got {len(exog)} regressor arrays for {len(series)} series; give one (T_b, K) array per series.")
    widths = {np.shape(values)[1] if np.ndim(values) == 2 else -1 for values in exog}
    if len(widths) != 1 or -1 in widths:
        raise DataError("AR needs the regressors of every series as 2-D arrays (T_b, K) with the same K.")
    length = max((len(values) for values in series), default=0)
    padded = np.zeros((len(series), length, widths.pop()))
    for position, (values, regressors) in enumerate(zip(series, exog)):
        if len(regressors) != len(values):
            raise DataError(
                f"Series {position} has {len(values)} values but {len(regressors)} rows of regressors; "
                "they must be aligned row by row."
            )
        if not np.all(np.isfinite(regressors)):
            raise DataError(f"AR needs finite regressors; those of series {position} have missing or infinite values.")
        padded[position, : len(values)] = regressors
    return padded


def _keep_own_lags(gram: np.ndarray, order: np.ndarray, n_exog: int = 0) -> np.ndarray:
    """Decouple the lag columns beyond each model's order in ``[1, x_t (n_exog), lags 1..P, target]`` Gram matrices.

    Their rows and columns become unit vectors, so their coefficients solve to 0.
    """
    width = gram.shape[1] - 2 - n_exog
    unused = np.zeros(gram.shape[:2], dtype=bool)
    unused[:, 1 + n_exog : 1 + n_exog + width] = np.arange(width) >= order[:, None]
    keep = ~unused
    gram = gram * (keep[:, :, None] & keep[:, None, :])
    gram[unused[:, :, None] & np.eye(gram.shape[1], dtype=bool)] = 1.0
    return gram


def _own_sample_gram(values: np.ndarray, lengths: np.ndarray, order: np.ndarray, horizon: int) -> np.ndarray:
    """Gram of ``[1, y_{t-h}, ..., y_{t-h-P+1}, y_t]`` over the rows where each model's own lags are observed."""
    width = int(order.max(initial=0))
    offsets = np.concatenate([horizon + np.arange(width), [0]])
    return _keep_own_lags(lagged_gram(values, order + horizon - 1, lengths, offsets), order)


def select_order(
    gram: np.ndarray, nobs: np.ndarray, criterion: str, n_exog: int = 0, max_order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Choose the order minimising ``criterion`` among the nested models of Gram matrices ``[1, x_t, lags 1..K, y_t]``.

    Parameters
    ----------
    gram : (B, n_exog + K + 2, n_exog + K + 2) float
        Gram matrices over the common sample (see :func:`lagged_gram`, :func:`exog_gram`).
    nobs : (B,) int
        Rows of the common sample.
    n_exog : int >= 0
        Regressors ``x_t`` (columns ``1..n_exog``), kept in every model.
    max_order : (B,) int, optional
        Largest order of each series; the criteria of higher orders are set to ``inf``.

    Returns
    -------
    order : (B,) int
        The first order of minimal criterion (statsmodels keeps the first on ties).
    criteria : (B, K + 1) float
        The criterion of the orders ``0..K``.
    """
    factor = guarded_cholesky(gram)
    tail = factor[:, 1 + n_exog :, -1] ** 2  # (B, K + 1): contributions of lags 1..K and the residual
    rss = np.cumsum(tail[:, ::-1], axis=1)[:, ::-1]  # rss[:, p] = sum_{i > p} R[n_exog + i, -1]^2
    criteria = information_criteria(rss, nobs, criterion, n_exog)
    if max_order is not None:
        criteria = np.where(np.arange(criteria.shape[1]) <= np.asarray(max_order)[:, None], criteria, np.inf)
    return np.argmin(criteria, axis=1), criteria


def fit_ar(
    series: list[np.ndarray],
    *,
    order: int | None = None,
    max_order: int = 10,
    criterion: str = "aic",
    exog: list[np.ndarray] | None = None,
    stable: bool = True,
    stable_tol: float = STABLE_TOL,
    horizon: int = 1,
) -> ARFit:
    """Fit one AR (or ARX) model with intercept to each 1-D series, all at once.

    Parameters
    ----------
    series : list of B float arrays of shape (T_b,)
        Finite values; lengths may differ.
    order : int >= 1, optional
        Fixed order for every series. When ``None`` the order is chosen in
        ``0..min(max_order, T_b // 4)`` (:func:`max_order_for_length`) by ``criterion``
        on the common sample ``t >= min(max_order, T_b // 4)``.
    max_order : int >= 1
        Largest order considered by the selection.
    criterion : {"aic", "bic", "hqic"}
        Also ranks the replacements of explosive fits, for a fixed order too.
    exog : list of B float arrays of shape (T_b, K), optional
        Regressors aligned row by row with each series: ``x_t`` enters the regression
        of ``y_t`` (statsmodels' ``AutoReg(y, lags=p, exog=X)``).
    stable : bool
        Replace each fit whose :func:`spectral_radius` exceeds ``1 + stable_tol`` by
        the stable order below it of minimal criterion (0, the mean model, at worst);
        the fit records what it replaced (``replaced_order``, ``replaced_radius``).
    stable_tol : float >= 0
    horizon : int >= 1
        The selected orders leave rows for direct models of this many steps
        (:func:`fit_direct`); 1 for the recursive model.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"The 'criterion' parameter must be one of {CRITERIA}. Got {criterion!r} instead.")
    if not stable_tol >= 0:
        raise ConfigError(f"The 'stable_tol' parameter must be a float >= 0. Got {stable_tol!r} instead.")
    _check_batch(series, 0 if order is None else order, horizon)
    values, lengths = pad_series(series)
    standard, mean, scale = _standardise(values, lengths)
    regressors = x_mean = x_scale = None
    if exog is not None:
        regressors, x_mean, x_scale = _standardise(pad_exog(series, exog), lengths)
    n_exog = 0 if regressors is None else regressors.shape[2]
    if order is None:
        common = np.minimum(max_order, max_order_for_length(lengths, horizon))  # (B,) the largest order of each
    else:
        common = np.full(len(series), order)
    # Compare the orders 0..common_b on the common sample t >= common_b.
    gram = _design_gram(standard, regressors, common, lengths, int(common.max(initial=0)))
    orders, criteria = select_order(gram, lengths - common, criterion, n_exog, common)
    if order is not None:
        orders = common
    params = _refit(standard, regressors, gram, common, orders)
    replaced_order = replaced_radius = random_walk = None
    if stable:
        params, orders, replaced_order, replaced_radius, random_walk = _replace_explosive(
            standard, lengths, regressors, gram, common, orders, params, criteria, criterion, stable_tol
        )
    params = params[:, : 1 + n_exog + int(orders.max(initial=0))]
    if order is None:
        # Criteria on the raw scale: RSS grows by scale^2, i.e. -2 llf by 2 nobs log(scale); orders
        # above every series' cap are padded with inf, so that there are max_order + 1 columns.
        criteria = criteria + 2 * (lengths - common)[:, None] * np.log(scale)[:, None]
        criteria = np.pad(criteria, ((0, 0), (0, max_order + 1 - criteria.shape[1])), constant_values=np.inf)
    else:
        criteria = None
    fit = _to_raw_scale(params, mean, scale, orders, criteria, series, x_mean, x_scale, exog)
    return replace(
        fit, max_order=common, replaced_order=replaced_order, replaced_radius=replaced_radius, random_walk=random_walk
    )


def _refit(values: np.ndarray, exog: np.ndarray | None, gram: np.ndarray, common: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Coefficients ``(B, 1 + K + max(orders))`` of each order on its own sample ``t >= p_b``.

    The sums over the own sample are those of the common sample ``t >= common_b``
    (``gram``, :func:`_design_gram`) plus those of the few rows ``p_b <= t < common_b``.
    """
    n_exog = 0 if exog is None else exog.shape[2]
    # Every solve is as wide as the Gram (the largest order the batch may select), not the largest order
    # selected: LAPACK's blocking changes with the size, so a narrower solve would give a series other
    # bits depending on which series share its batch. The lags beyond each order are decoupled.
    width = largest = gram.shape[1] - 2 - n_exog
    columns = np.r_[: 1 + n_exog + width, 1 + n_exog + largest]
    span = int(common.max(initial=0))
    head = _design_gram(values[:, :span], None if exog is None else exog[:, :span], orders, common, width)
    return solve_regression(_keep_own_lags(gram[:, columns][:, :, columns] + head, orders, n_exog))


def _replace_explosive(
    values: np.ndarray,
    lengths: np.ndarray,
    exog: np.ndarray | None,
    gram: np.ndarray,
    common: np.ndarray,
    orders: np.ndarray,
    params: np.ndarray,
    criteria: np.ndarray,
    criterion: str,
    stable_tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replace the fits with a root beyond ``1 + stable_tol`` by the candidate of minimal criterion.

    The candidates: the stable lower orders (only the explosive series are refitted, once
    per order ``1..max(p) - 1``; order 0, the mean model, is always stable) and, without
    regressors, the random walk with drift (:func:`_random_walk`); ``criteria (B, K + 1)``
    are those of the common sample, so the ranking is the selection's own. Returns the new
    ``params``, ``orders``, the replaced orders (-1 where kept), their radii (NaN) and
    where the random walk replaced them.
    """
    n_exog = 0 if exog is None else exog.shape[2]
    radius = spectral_radius(params[:, 1 + n_exog :])
    explosive = np.flatnonzero(~(radius <= 1 + stable_tol))  # NaN or inf coefficients count as explosive
    replaced_order = np.full(len(orders), -1)
    replaced_radius = np.full(len(orders), np.nan)
    random_walk = np.zeros(len(orders), dtype=bool)
    if explosive.size == 0:
        return params, orders, replaced_order, replaced_radius, random_walk
    sub_values, sub_exog = values[explosive], None if exog is None else exog[explosive]
    sub_gram, sub_common, first_choice = gram[explosive], common[explosive], orders[explosive]
    best, best_criterion = np.zeros(len(explosive), dtype=np.int64), criteria[explosive, 0]
    for candidate in range(1, int(first_choice.max())):
        candidate_orders = np.full(len(explosive), candidate)
        coef = _refit(sub_values, sub_exog, sub_gram, sub_common, candidate_orders)[:, 1 + n_exog :]
        better = (candidate < first_choice) & (criteria[explosive, candidate] < best_criterion)
        better &= spectral_radius(coef) <= 1 + stable_tol
        best = np.where(better, candidate, best)
        best_criterion = np.where(better, criteria[explosive, candidate], best_criterion)
    refitted = _refit(sub_values, sub_exog, sub_gram, sub_common, best)
    walk = np.zeros(len(explosive), dtype=bool)
    if n_exog == 0:
        walk_criterion, drift = _random_walk(sub_values, lengths[explosive], sub_common, criterion)
        walk = walk_criterion < best_criterion
        best = np.where(walk, 1, best)
        refitted = np.pad(refitted, ((0, 0), (0, max(0, 2 - refitted.shape[1]))))
        refitted[walk] = 0.0
        refitted[walk, 0], refitted[walk, 1] = drift[walk], 1.0
    params = params.copy()
    params[explosive] = 0.0
    params[explosive, : refitted.shape[1]] = refitted
    orders = orders.copy()
    orders[explosive] = best
    replaced_order[explosive], replaced_radius[explosive] = first_choice, radius[explosive]
    random_walk[explosive] = walk
    return params, orders, replaced_order, replaced_radius, random_walk


def _random_walk(values: np.ndarray, lengths: np.ndarray, common: np.ndarray, criterion: str) -> tuple[np.ndarray, np.ndarray]:
    """The random walk with drift ``y_t = y_{t-1} + d + e_t`` of each padded series ``(B, T)``.

    Returns its ``criterion`` on the common sample ``t >= common_b`` (one parameter, the
    drift, counted as the mean model's intercept is), comparable with the orders' criteria,
    and its drift on the own sample ``t >= 1`` (the mean step).
    """
    steps = np.diff(values, axis=1)  # steps[:, t - 1] = y_t - y_{t-1}
    rows = np.arange(1, values.shape[1])
    in_common = (rows >= np.maximum(common, 1)[:, None]) & (rows < lengths[:, None])
    nobs = in_common.sum(axis=1)
    common_drift = np.where(in_common, steps, 0.0).sum(axis=1) / np.maximum(nobs, 1)
    rss = np.where(in_common, steps - common_drift[:, None], 0.0) ** 2
    walk_criterion = information_criteria(rss.sum(axis=1)[:, None], nobs, criterion)[:, 0]
    own = rows < lengths[:, None]
    drift = np.where(own, steps, 0.0).sum(axis=1) / np.maximum(own.sum(axis=1), 1)
    return walk_criterion, drift


def _to_raw_scale(
    params: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    orders: np.ndarray,
    criteria: np.ndarray | None,
    series: list[np.ndarray],
    exog_mean: np.ndarray | None = None,
    exog_scale: np.ndarray | None = None,
    exog: list[np.ndarray] | None = None,
) -> ARFit:
    """Coefficients ``(B, 1 + K + P)`` of standardised series and regressors -> an :class:`ARFit` on the original scale.

    With ``y = m + s y~`` and ``x_k = m_k + s_k x~_k``: ``b_k = s b~_k / s_k`` and
    ``c = s c~ + m (1 - sum phi) - sum_k b_k m_k``; the AR coefficients are unchanged.
    """
    n_exog = 0 if exog_mean is None else exog_mean.shape[1]
    coef = params[:, 1 + n_exog :]
    intercept = scale * params[:, 0] + mean * (1 - lag_sum(coef))
    exog_coef = None
    if n_exog:
        exog_coef = scale[:, None] * params[:, 1 : 1 + n_exog] / exog_scale
        intercept = intercept - np.einsum("bk,bk->b", exog_coef, exog_mean)
    sigma2 = residual_variance(series, intercept, coef, orders, exog=exog, exog_coef=exog_coef)
    return ARFit(order=orders, intercept=intercept, coef=coef, criteria=criteria, sigma2=sigma2, exog_coef=exog_coef)


def fit_direct(series: list[np.ndarray], order: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Direct multi-step models: for each ``h`` an OLS of ``y_{t+h}`` on ``1, y_t, ..., y_{t-p+1}``.

    Each horizon uses every origin ``t`` with ``p`` observed lags and an observed
    target. Returns ``intercept (B, H)`` and ``coef (B, H, P)`` with ``coef[b, h-1, i]``
    multiplying ``y_{t-i}``.
    """
    order = np.asarray(order, dtype=np.int64)
    _check_batch(series, order, horizon)  # each series for its own order: a panel's short series has a low one
    values, lengths = pad_series(series)
    standard, mean, scale = _standardise(values, lengths)
    params = np.stack([solve_regression(_own_sample_gram(standard, lengths, order, h)) for h in range(1, horizon + 1)], axis=1)
    coef = params[..., 1:]  # (B, H, P)
    intercept = scale[:, None] * params[..., 0] + mean[:, None] * (1 - coef.sum(axis=2))
    return intercept, coef


def forecast_recursive(
    intercept: np.ndarray,
    coef: np.ndarray,
    history: np.ndarray,
    horizon: int,
    noise: np.ndarray | None = None,
    exog_effect: np.ndarray | None = None,
) -> np.ndarray:
    """Iterate the one-step equation ``horizon`` times.

    Shapes broadcast: ``intercept (...)``, ``coef (..., P)``, ``history (..., L)`` with
    ``L >= P`` (the last value is the most recent) -> ``(..., horizon)``. With ``noise
    (..., horizon)``, the innovation ``noise[..., h]`` is added at step ``h`` and fed back
    into the later steps: sample paths of the model (ancestral simulation), e.g. with
    ``noise`` of shape ``(n, B, horizon)`` for ``n`` paths of ``B`` models. An ARX adds
    its regressors' effect ``exog_effect (..., horizon)``, ``b' x_{T+h}`` at step ``h``
    (see :func:`exog_effect`), the same way.
    """
    width = coef.shape[-1]
    shape = np.broadcast_shapes(intercept.shape, coef.shape[:-1], history.shape[:-1])
    for extra in (noise, exog_effect):
        if extra is not None:
            shape = np.broadcast_shapes(shape, extra.shape[:-1])
    buffer = np.zeros(shape + (width + horizon,))
    buffer[..., :width] = history[..., history.shape[-1] - width :]
    with np.errstate(over="ignore", invalid="ignore"):  # explosive models overflow; callers warn
        for step in range(horizon):
            recent_first = buffer[..., step : step + width][..., ::-1]  # coef[..., i] multiplies y_{t-1-i}
            buffer[..., width + step] = intercept + lag_sum(recent_first * coef)
            if exog_effect is not None:
                buffer[..., width + step] += exog_effect[..., step]
            if noise is not None:
                buffer[..., width + step] += noise[..., step]
    return buffer[..., width:]


def exog_effect(exog_coef: np.ndarray, future_exog: np.ndarray) -> np.ndarray:
    """The regressors' part of each step, ``b' x_{T+h}``: ``exog_coef (..., K)``, ``future_exog (..., H, K)`` -> ``(..., H)``."""
    return np.einsum("...k,...hk->...h", exog_coef, future_exog)


def forecast_direct(intercept: np.ndarray, coef: np.ndarray, history: np.ndarray, horizon: int) -> np.ndarray:
    """Apply direct models: ``intercept (..., H)``, ``coef (..., H, P)``, ``history (..., L >= P)`` -> ``(..., horizon)``."""
    width = coef.shape[-1]
    recent_first = history[..., history.shape[-1] - width :][..., ::-1]
    forecast = intercept + np.einsum("...hp,...p->...h", coef, recent_first)
    return forecast[..., :horizon]


def residual_variance(
    series: list[np.ndarray],
    intercept: np.ndarray,
    coef: np.ndarray,
    order: np.ndarray,
    horizon: int = 1,
    *,
    exog: list[np.ndarray] | None = None,
    exog_coef: np.ndarray | None = None,
) -> np.ndarray:
    """Mean squared in-sample residual ``RSS / nobs`` of ``y_t`` regressed on ``1, y_{t-h}, ..., y_{t-h-P+1}``.

    With ``horizon=1`` and one-step coefficients (``coef[b, i]`` multiplying ``y_{t-1-i}``)
    this is the model's innovation variance (statsmodels' ``AutoRegResults.sigma2``: the
    rows ``t >= p``, ``nobs = T - p``). With ``horizon=h`` and a direct model's coefficients
    (``coef[b, i]`` multiplying ``y_{s-i}`` in the forecast of ``y_{s+h}``, as
    :func:`fit_direct` gives them) it is that model's ``h``-step error variance, over its
    targets ``t >= p + h - 1`` (``nobs = T - p - h + 1``).

    Parameters
    ----------
    series : list of B float arrays ``(T_b,)``
    intercept : (B,) float
    coef : (B, P) float
    order : (B,) int
        Model orders; coefficients beyond them are 0.
    horizon : int >= 1
    exog : list of B float arrays ``(T_b, K)``, optional
        An ARX's regressors, row ``t`` with target ``y_t``.
    exog_coef : (B, K) float, optional
        Their coefficients; required with ``exog``.

    Returns
    -------
    (B,) float
    """
    values, lengths = pad_series(series)
    # Centre each series (and regressor) first: the residuals are the same, without cancellation against a large mean.
    mean = np.array([values_b.mean() for values_b in series])
    centred = values - mean[:, None]
    level = intercept - mean * (1 - lag_sum(coef))
    residual = centred - level[:, None]  # (B, T)
    if exog is not None:
        regressors = pad_exog(series, exog)  # (B, T, K)
        exog_mean = np.stack([regressors_b.mean(axis=0) for regressors_b in exog])  # (B, K)
        residual -= np.einsum("bk,bk->b", exog_coef, exog_mean)[:, None]
        residual -= np.einsum("btk,bk->bt", regressors - exog_mean[:, None, :], exog_coef)
    for lag in range(coef.shape[1]):
        shift = horizon + lag  # y_{t-h-lag} sits `shift` rows before the target y_t
        residual[:, shift:] -= coef[:, lag : lag + 1] * centred[:, : centred.shape[1] - shift]
    times = np.arange(values.shape[1])
    rows = (times >= (np.asarray(order) + horizon - 1)[:, None]) & (times < lengths[:, None])
    nobs = rows.sum(axis=1)
    return np.where(rows, residual**2, 0.0).sum(axis=1) / nobs


def ma_weights(coef: np.ndarray, horizon: int) -> np.ndarray:
    """Moving-average weights ``psi_0 .. psi_{horizon-1}`` of AR models: ``coef (..., P) -> (..., horizon)``.

    ``psi_0 = 1`` and ``psi_j = sum_{i=1}^{min(j, P)} phi_i psi_{j-i}`` (the impulse response;
    statsmodels' ``arma2ma``).
    """
    width = coef.shape[-1]
    psi = np.zeros(coef.shape[:-1] + (horizon,))
    psi[..., 0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):  # explosive models overflow; callers warn
        for step in range(1, horizon):
            reach = min(step, width)
            # phi_1 psi_{j-1} + ... + phi_reach psi_{j-reach}
            psi[..., step] = lag_sum(coef[..., :reach] * psi[..., step - 1 :: -1][..., :reach])
    return psi


def forecast_variance(coef: np.ndarray, sigma2: np.ndarray, horizon: int) -> np.ndarray:
    """Variance of the ``1..horizon``-step recursive forecast errors: ``sigma2 * cumsum(psi^2)``.

    ``coef (..., P)`` and ``sigma2 (...)`` -> ``(..., horizon)``; equals statsmodels'
    ``AutoRegResults.get_prediction(...).var_pred_mean`` out of sample.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(sigma2)[..., None] * np.cumsum(ma_weights(coef, horizon) ** 2, axis=-1)


def spectral_radius(coef: np.ndarray) -> np.ndarray:
    """Largest modulus of the eigenvalues of each model's companion matrix: ``(..., P) -> (...)``.

    Above 1 the model is explosive; at 1 it has a unit root (a random walk's forecast
    variance grows linearly); below 1 it is stationary. Order 0 gives 0, non-finite
    coefficients ``inf``. The trailing zeros of a row only add zero eigenvalues, so the
    models are grouped by their effective order and each group's companion matrices are
    only as large as it: the cost is ``sum_b p_b^3``, not ``B P^3``.
    """
    width = coef.shape[-1]
    if width == 0:  # every model of order 0 (no lag kept): nothing to grow
        return np.zeros(coef.shape[:-1])
    flat = coef.reshape(-1, width)
    radius = np.zeros(len(flat))
    finite = np.isfinite(flat).all(axis=1)
    radius[~finite] = np.inf
    nonzero = flat != 0
    effective = np.where(nonzero.any(axis=1), width - np.argmax(nonzero[:, ::-1], axis=1), 0)
    for order in np.unique(effective[finite & (effective > 0)]):
        rows = np.flatnonzero(finite & (effective == order))
        companion = np.zeros((len(rows), order, order))
        companion[:, 0, :] = flat[rows, :order]
        companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
        radius[rows] = np.abs(np.linalg.eigvals(companion)).max(axis=-1)
    return radius.reshape(coef.shape[:-1])
