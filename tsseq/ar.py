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
   ``max_order`` values held back, as statsmodels' ``ar_select_order``) is chosen,
   and the coefficients are refitted on the sample that starts at the chosen order
   (statsmodels' ``AutoReg(y, lags=p, trend="c")`` with ``hold_back=None``): the
   common-sample sums plus those of the few rows ``p <= t < max_order``.

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

from dataclasses import dataclass

import numpy as np

from tsseq.errors import ConfigError, DataError

CRITERIA = ("aic", "bic", "hqic")
# Relative pivot below which a regressor counts as collinear with the earlier ones.
RANK_RTOL = 1e-10


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
    """

    order: np.ndarray
    intercept: np.ndarray
    coef: np.ndarray
    criteria: np.ndarray | None = None
    sigma2: np.ndarray | None = None


def required_length(max_lag: int, horizon: int = 1) -> int:
    """Fewest values a series needs so that every regression has a residual degree of freedom.

    With ``max_lag`` lags and a ``horizon``-step target there are ``T - max_lag -
    horizon + 1`` rows and ``max_lag + 1`` parameters.
    """
    return 2 * max_lag + horizon + 1


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


def information_criteria(rss: np.ndarray, nobs: np.ndarray, criterion: str) -> np.ndarray:
    """AIC, BIC or HQIC of AR models with an intercept, as statsmodels' ``ar_select_order`` computes them.

    ``sigma2 = RSS / nobs``, ``llf = -nobs (log(2 pi sigma2) + 1) / 2`` and the penalty
    counts ``p + 1`` parameters (statsmodels' ``df_model + 1``).

    Parameters
    ----------
    rss : (B, K + 1) float
        Residual sums of squares of the orders ``0..K``.
    nobs : (B,) int
        Rows of the common sample.
    """
    nobs = np.asarray(nobs, dtype=np.float64)[:, None]
    parameters = np.arange(rss.shape[1]) + 1.0
    with np.errstate(divide="ignore"):  # a perfect fit has RSS 0 and criterion -inf
        llf = -nobs * (np.log(2 * np.pi * rss / nobs) + 1) / 2
    penalty = {"aic": 2.0, "bic": np.log(nobs), "hqic": 2 * np.log(np.log(nobs))}[criterion]
    return -2 * llf + penalty * parameters


def _standardise(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale each padded series; a constant series keeps scale 1."""
    observed = np.arange(values.shape[1]) < lengths[:, None]
    mean = values.sum(axis=1) / lengths
    scale = np.sqrt((np.where(observed, values - mean[:, None], 0.0) ** 2).sum(axis=1) / lengths)
    scale = np.where(scale > 0, scale, 1.0)
    return np.where(observed, (values - mean[:, None]) / scale[:, None], 0.0), mean, scale


def _check_batch(series: list[np.ndarray], max_lag: int, horizon: int = 1) -> None:
    needed = required_length(max_lag, horizon)
    for position, values in enumerate(series):
        if values.ndim != 1 or not np.all(np.isfinite(values)):
            raise DataError(f"AR needs finite 1-D series; series {position} has missing or infinite values.")
        if len(values) < needed:
            raise DataError(
                f"Series {position} has {len(values)} values; an AR with {max_lag} lags"
                f"{f' and horizon {horizon}' if horizon > 1 else ''} needs at least {needed}."
            )


def _keep_own_lags(gram: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Decouple the lag columns beyond each model's order in ``[1, lags 1..P, target]`` Gram matrices.

    Their rows and columns become unit vectors, so their coefficients solve to 0.
    """
    width = gram.shape[1] - 2
    unused = np.zeros(gram.shape[:2], dtype=bool)
    unused[:, 1 : width + 1] = np.arange(width) >= order[:, None]
    keep = ~unused
    gram = gram * (keep[:, :, None] & keep[:, None, :])
    gram[unused[:, :, None] & np.eye(width + 2, dtype=bool)] = 1.0
    return gram


def _own_sample_gram(values: np.ndarray, lengths: np.ndarray, order: np.ndarray, horizon: int) -> np.ndarray:
    """Gram of ``[1, y_{t-h}, ..., y_{t-h-P+1}, y_t]`` over the rows where each model's own lags are observed."""
    width = int(order.max(initial=0))
    offsets = np.concatenate([horizon + np.arange(width), [0]])
    return _keep_own_lags(lagged_gram(values, order + horizon - 1, lengths, offsets), order)


def select_order(gram: np.ndarray, nobs: np.ndarray, criterion: str) -> tuple[np.ndarray, np.ndarray]:
    """Choose the order minimising ``criterion`` among the nested models of Gram matrices ``[1, lags 1..K, y_t]``.

    Parameters
    ----------
    gram : (B, K + 2, K + 2) float
        Gram matrices over the common sample (see :func:`lagged_gram`).
    nobs : (B,) int
        Rows of the common sample.

    Returns
    -------
    order : (B,) int
        The first order of minimal criterion (statsmodels keeps the first on ties).
    criteria : (B, K + 1) float
        The criterion of the orders ``0..K``.
    """
    factor = guarded_cholesky(gram)
    tail = factor[:, 1:, -1] ** 2  # (B, K + 1): contributions of lags 1..K and the residual
    rss = np.cumsum(tail[:, ::-1], axis=1)[:, ::-1]  # rss[:, p] = sum_{i > p} R[i, -1]^2
    criteria = information_criteria(rss, nobs, criterion)
    return np.argmin(criteria, axis=1), criteria


def fit_ar(series: list[np.ndarray], *, order: int | None = None, max_order: int = 10, criterion: str = "aic") -> ARFit:
    """Fit one AR model with intercept to each 1-D series, all at once.

    Parameters
    ----------
    series : list of B float arrays of shape (T_b,)
        Finite values; lengths may differ.
    order : int >= 1, optional
        Fixed order for every series. When ``None`` the order is chosen in
        ``0..max_order`` by ``criterion`` on the common sample.
    max_order : int >= 1
        Largest order considered by the selection.
    criterion : {"aic", "bic", "hqic"}
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"The 'criterion' parameter must be one of {CRITERIA}. Got {criterion!r} instead.")
    _check_batch(series, order if order is not None else max_order)
    values, lengths = pad_series(series)
    standard, mean, scale = _standardise(values, lengths)
    if order is not None:
        orders = np.full(len(series), order)
        params = solve_regression(_own_sample_gram(standard, lengths, orders, horizon=1))
        return _to_raw_scale(params, mean, scale, orders, criteria=None, series=series)
    # Compare the orders on the common sample t >= max_order.
    common = np.full(len(series), max_order)
    gram = lagged_gram(standard, common, lengths, np.concatenate([1 + np.arange(max_order), [0]]))
    orders, criteria = select_order(gram, lengths - max_order, criterion)
    # Refit each on its own sample t >= p: the common-sample sums plus the rows p <= t < max_order.
    width = int(orders.max())
    columns = np.r_[: width + 1, max_order + 1]
    head = lagged_gram(standard[:, :max_order], orders, common, np.concatenate([1 + np.arange(width), [0]]))
    params = solve_regression(_keep_own_lags(gram[:, columns][:, :, columns] + head, orders))
    # Criteria on the raw scale: RSS grows by scale^2, i.e. -2 llf by 2 nobs log(scale).
    criteria = criteria + 2 * (lengths - max_order)[:, None] * np.log(scale)[:, None]
    return _to_raw_scale(params, mean, scale, orders, criteria, series)


def _to_raw_scale(
    params: np.ndarray, mean: np.ndarray, scale: np.ndarray, orders: np.ndarray, criteria: np.ndarray | None,
    series: list[np.ndarray],
) -> ARFit:
    """Coefficients ``(B, 1 + P)`` of standardised series -> an :class:`ARFit` on the original scale."""
    coef = params[:, 1:]
    intercept = scale * params[:, 0] + mean * (1 - coef.sum(axis=1))
    sigma2 = residual_variance(series, intercept, coef, orders)
    return ARFit(order=orders, intercept=intercept, coef=coef, criteria=criteria, sigma2=sigma2)


def fit_direct(series: list[np.ndarray], order: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Direct multi-step models: for each ``h`` an OLS of ``y_{t+h}`` on ``1, y_t, ..., y_{t-p+1}``.

    Each horizon uses every origin ``t`` with ``p`` observed lags and an observed
    target. Returns ``intercept (B, H)`` and ``coef (B, H, P)`` with ``coef[b, h-1, i]``
    multiplying ``y_{t-i}``.
    """
    order = np.asarray(order, dtype=np.int64)
    _check_batch(series, int(order.max(initial=0)), horizon)
    values, lengths = pad_series(series)
    standard, mean, scale = _standardise(values, lengths)
    params = np.stack([solve_regression(_own_sample_gram(standard, lengths, order, h)) for h in range(1, horizon + 1)], axis=1)
    coef = params[..., 1:]  # (B, H, P)
    intercept = scale[:, None] * params[..., 0] + mean[:, None] * (1 - coef.sum(axis=2))
    return intercept, coef


def forecast_recursive(
    intercept: np.ndarray, coef: np.ndarray, history: np.ndarray, horizon: int, noise: np.ndarray | None = None
) -> np.ndarray:
    """Iterate the one-step equation ``horizon`` times.

    Shapes broadcast: ``intercept (...)``, ``coef (..., P)``, ``history (..., L)`` with
    ``L >= P`` (the last value is the most recent) -> ``(..., horizon)``. With ``noise
    (..., horizon)``, the innovation ``noise[..., h]`` is added at step ``h`` and fed back
    into the later steps: sample paths of the model (ancestral simulation), e.g. with
    ``noise`` of shape ``(n, B, horizon)`` for ``n`` paths of ``B`` models.
    """
    width = coef.shape[-1]
    shape = np.broadcast_shapes(intercept.shape, coef.shape[:-1], history.shape[:-1])
    if noise is not None:
        shape = np.broadcast_shapes(shape, noise.shape[:-1])
    buffer = np.zeros(shape + (width + horizon,))
    buffer[..., :width] = history[..., history.shape[-1] - width :]
    oldest_first = coef[..., ::-1]
    with np.errstate(over="ignore", invalid="ignore"):  # explosive models overflow; callers warn
        for step in range(horizon):
            buffer[..., width + step] = intercept + np.sum(buffer[..., step : step + width] * oldest_first, axis=-1)
            if noise is not None:
                buffer[..., width + step] += noise[..., step]
    return buffer[..., width:]


def forecast_direct(intercept: np.ndarray, coef: np.ndarray, history: np.ndarray, horizon: int) -> np.ndarray:
    """Apply direct models: ``intercept (..., H)``, ``coef (..., H, P)``, ``history (..., L >= P)`` -> ``(..., horizon)``."""
    width = coef.shape[-1]
    recent_first = history[..., history.shape[-1] - width :][..., ::-1]
    forecast = intercept + np.einsum("...hp,...p->...h", coef, recent_first)
    return forecast[..., :horizon]


def residual_variance(
    series: list[np.ndarray], intercept: np.ndarray, coef: np.ndarray, order: np.ndarray, horizon: int = 1
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

    Returns
    -------
    (B,) float
    """
    values, lengths = pad_series(series)
    # Centre each series first: the residuals are the same, without cancellation against a large mean.
    mean = np.array([values_b.mean() for values_b in series])
    centred = values - mean[:, None]
    residual = centred - (intercept - mean * (1 - coef.sum(axis=1)))[:, None]  # (B, T)
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
            psi[..., step] = np.sum(coef[..., :reach] * psi[..., step - 1 :: -1][..., :reach], axis=-1)
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
    variance grows linearly); below 1 it is stationary. Order 0 gives 0.
    """
    width = coef.shape[-1]
    if width == 0:
        return np.zeros(coef.shape[:-1])
    companion = np.zeros(coef.shape[:-1] + (width, width))
    companion[..., 0, :] = coef
    companion[..., np.arange(1, width), np.arange(width - 1)] = 1.0
    finite = np.isfinite(companion).all(axis=(-2, -1))
    radius = np.full(coef.shape[:-1], np.inf)
    radius[finite] = np.abs(np.linalg.eigvals(companion[finite])).max(axis=-1)
    return radius
