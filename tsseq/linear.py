r"""A direct linear forecaster shared by every channel and series, in closed form (NLinear without gradient descent).

For each channel ``c`` of each series and each window of ``L = input_length`` values
ending at ``t``, every step ``h = 1..H`` (``H = horizon``) of what follows is one linear
map of the window, relative to the window's anchor ``a_t``::

    y_{t+h} - a_t = b_h + sum_{l=1..L} w_{h,l} (y_{t-L+l} - a_t) + e_{t,h}

``anchor``: ``"last"`` (``a_t = y_t``, NLinear: Zeng et al. 2023, "Are Transformers
Effective for Time Series Forecasting?"; a level the training windows never held moves the
forecast with it), ``"mean"`` (the window's mean) or ``"none"`` (``a_t = 0``, their
Linear). The same ``W`` (``H x L``) and ``b`` serve every channel of every series (channel
independence, as PatchTST's, Nie et al. 2023): the windows of all of them are pooled, so a
long input reads many more windows than it has weights.

``scale="window"`` (the default) divides both sides by the window's standard deviation
``m_t`` (reversible instance normalisation, Kim et al. 2022, as RLinear's, Li et al. 2023)::

    (y_{t+h} - a_t) / m_t = b_h + sum_l w_{h,l} (y_{t-L+l} - a_t) / m_t + e_{t,h}

so the forecast is ``a_t + m_t b_h + sum_l w_{h,l} (y_{t-L+l} - a_t)``: a series multiplied
by a constant gets its forecast multiplied by it, whatever it was pooled with, and every
window weighs the same in the fit. Without it (``"none"``) the intercept is in the data's
units and the largest series dominate the fit: pooled over M4 Hourly's 414 series
(``tsseq evaluate m4-hourly --model linear:input_length=336 --model
linear:input_length=336,scale=none``) the OWA is 0.626 with it and 2.708 without. A constant window (``m_t = 0``)
is left out of the fit and forecast flat at its anchor.

Fit: ridge least squares over every window of ``L + H`` values (missing values are refused,
as by AR), the intercept unpenalised::

    min_{W, b}  sum |(Y - a) / m - b - (X - a) W' / m|^2 + lambda n s^2 |W|^2

(``m = 1`` with ``scale="none"``) with ``n`` the pooled windows and ``s^2`` the mean variance
of the (scaled) anchored input columns,
so that ``lambda`` is free of the data's units and of the sample size (as
:mod:`tsseq.var`'s ``cross_penalty``). ``penalty="gcv"`` (the default) takes the
``lambda`` of :data:`PENALTY_GRID` (0 and ``logspace(-6, 2, 33)``) that minimises the
generalised cross-validation ``GCV = (RSS / (n H)) / (1 - df / n)^2``, ``df = 1 + sum_i
d_i / (d_i + lambda n s^2)`` over the eigenvalues ``d_i`` of the centred Gram matrix
(points with ``df >= n`` skipped; ties, to 1e-12 relative, to the larger penalty); a float
fixes it. Least squares in closed form is what gradient descent on the MSE approaches, in
seconds and exactly. On ETTh1 (setting M, ``L = 720``, ``H = 96``; ``tsseq evaluate ETTh1
--setting M --horizon 96 --input-length 720 --model linear --threads 1``, 3 s of one CPU
thread) GCV picks 0.1 (the validation split's best of the grid is about 0.3-0.6), and the
test MSE / MAE are 0.3683 / 0.3961 (0.3689 / 0.3956 with ``scale="none"``): against the
published NLinear's 0.374 / 0.394 and RLinear's 0.366 / 0.391 (input length 336), and the
direct AR's 0.3858 / 0.3951 (one model per channel).

Computation: the moments of the anchored windows (the ``L x L`` Gram matrix, ``X'Y`` and the
targets' sums of squares) are summed over blocks of windows, never the ``(n, L + H)``
design; one ``eigh`` of the centred Gram gives every penalty's ``RSS`` and ``df``. At
ETTh1's size that is 1.6 s and 73 MiB, against 78 s and 1.5 GiB for scikit-learn's
``RidgeCV`` over the same grid on the materialised design, with the same coefficients
(``pipelines/benchmarks/bench_linear.py``).

Forecast distribution: Gaussian, centred on the point forecast, per step and channel.
The error of step ``h`` is taken proportional to the window's standard deviation ``m``
(where a window is constant, the channel's median over the training windows): ``sd =
r_{c,h} m``, with ``r_{c,h}`` the root mean square of the in-sample residuals of step ``h``
on channel ``c``'s windows, each divided by its window's ``m``. So a series or stretch that
varies twice as much gets intervals twice as wide, and series of different scales can
share the fit. ``sample`` draws each step from its marginal (the
steps of a path are independent), as the direct AR's.

Closed form: ``validation`` is ignored, as by the other baselines.
"""

from __future__ import annotations

import numbers

import numpy as np

from tsseq.base import Forecaster
from tsseq.baselines import _check_arrays, _check_windows, _normal_quantiles
from tsseq.errors import ConfigError, DataError, check_positive_int, closest_match
from tsseq.registry import register

ANCHORS = ("last", "mean", "none")
SCALES = ("window", "none")
PENALTY_GRID = np.r_[0.0, np.logspace(-6, 2, 33)]
BLOCK_WINDOWS = 4096  # windows per block of the moments: a few tens of MB at L + H = 816


def anchors(windows: np.ndarray, anchor: str) -> np.ndarray:
    """The anchor of each window ``(..., L) -> (..., 1)``."""
    if anchor == "last":
        return windows[..., -1:]
    if anchor == "mean":
        return windows.mean(axis=-1, keepdims=True)
    return np.zeros(windows.shape[:-1] + (1,))


def window_scales(windows: np.ndarray) -> np.ndarray:
    """Each window's standard deviation ``(..., L) -> (...)`` (0 for a constant window)."""
    return windows.std(axis=-1)


def _blocks(series: list[np.ndarray], width: int):
    """Every window of ``width`` values of every channel of every series, in blocks: ``(channel, (k, width))``."""
    for values in series:
        for channel in range(values.shape[1]):
            column = values[:, channel]
            if len(column) < width:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(column, width)
            for start in range(0, len(windows), BLOCK_WINDOWS):
                yield channel, windows[start : start + BLOCK_WINDOWS]


def check_penalty(penalty: object) -> None:
    """The ``penalty`` parameter: a float >= 0 or ``"gcv"``; else a ConfigError."""
    if isinstance(penalty, str) and penalty == "gcv":
        return
    if isinstance(penalty, numbers.Real) and not isinstance(penalty, (bool, np.bool_)) and 0 <= penalty < np.inf:
        return
    hint = closest_match(penalty, ["gcv"]) if isinstance(penalty, str) else ""
    raise ConfigError(f"The 'penalty' parameter must be a finite float >= 0 or 'gcv'. Got {penalty!r} instead.{hint}")


@register("linear")
class Linear(Forecaster):
    """NLinear in closed form: one linear map from a window to its horizon for every channel and series, by ridge.

    The model, its fit and its intervals: the module docstring.

    Parameters
    ----------
    input_length : int >= 1
        ``L``, the values each forecast reads.
    horizon : int >= 1
        ``H``, the steps fitted (``predict`` forecasts up to ``H``).
    anchor : {"last", "mean", "none"}
        What each window is taken relative to (module docstring).
    scale : {"window", "none"}
        Divide each anchored window by its standard deviation (module docstring).
    penalty : float >= 0 or "gcv"
        The ridge penalty ``lambda``, relative to the pooled windows and their variance.

    Attributes
    ----------
    coef_ : (H, L) float
        ``W``; ``coef_[h - 1, l - 1]`` weighs the ``l``-th value of the window for step ``h``.
    intercept_ : (H,) float
        ``b``.
    penalty_ : float
        The penalty used (the one GCV chose, or ``penalty``).
    df_ : float
        The fit's degrees of freedom at ``penalty_`` (intercept included).
    n_windows_ : int
        The pooled windows it was fitted on (constant ones left out with ``scale="window"``).
    relative_sd_ : (C, H) float
        ``r_{c,h}``: each step's error per unit of the window's scale.
    typical_scale_ : (C,) float
        The median scale of the channel's training windows (a constant window's stand-in).
    last_values_ : (S, L, C) float
        Each series' last ``L`` values, what :meth:`predict` forecasts from.
    """

    def __init__(
        self, *, input_length: int = 96, horizon: int = 24, anchor: str = "last", scale: str = "window",
        penalty: float | str = "gcv",
    ) -> None:
        self.input_length = input_length
        self.horizon = horizon
        self.anchor = anchor
        self.scale = scale
        self.penalty = penalty

    def check_params(self) -> None:
        check_positive_int(self.input_length, "input_length")
        check_positive_int(self.horizon, "horizon")
        for name, value, options in (("anchor", self.anchor, ANCHORS), ("scale", self.scale, SCALES)):
            if value not in options:
                raise ConfigError(
                    f"The {name!r} parameter must be one of {', '.join(options)}. Got {value!r} instead."
                    f"{closest_match(str(value), options)}"
                )
        check_penalty(self.penalty)

    # --- fit ------------------------------------------------------------------------------------

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        self.check_params()
        length, horizon = self.input_length, self.horizon
        _check_arrays(series, length, "Linear", f"with input_length={length} needs at least {length} rows to forecast from")
        if not any(len(values) >= length + horizon for values in series):
            longest = max(len(values) for values in series)
            raise DataError(
                f"Linear with input_length={length} and horizon={horizon} fits on windows of {length + horizon} rows; "
                f"the longest series has {longest}. Pass a smaller input_length or horizon."
            )
        n_channels = series[0].shape[1]
        n, sum_x, sum_y = 0, np.zeros(length), np.zeros(horizon)
        gram, cross, squares = np.zeros((length, length)), np.zeros((length, horizon)), np.zeros(horizon)
        scales: list[list[np.ndarray]] = [[] for _ in range(n_channels)]  # every window's m, for typical_scale_
        for channel, block in _blocks(series, length + horizon):
            scale = window_scales(block[:, :length])
            scales[channel].append(scale)
            inputs, targets = self._anchored(block, scale)
            n += len(inputs)
            sum_x += inputs.sum(axis=0)
            sum_y += targets.sum(axis=0)
            gram += inputs.T @ inputs
            cross += inputs.T @ targets
            squares += np.square(targets).sum(axis=0)
        if n == 0:
            raise DataError(
                f"Every training window of {length + horizon} rows is constant: Linear with scale='window' has nothing "
                "to fit. Forecast such a series with 'naive'."
            )
        mean_x, mean_y = sum_x / n, sum_y / n
        gram -= n * np.outer(mean_x, mean_x)  # centred: the intercept is partialled out
        cross -= n * np.outer(mean_x, mean_y)
        total = float(squares.sum() - n * np.square(mean_y).sum())
        eigenvalues, vectors = np.linalg.eigh(gram)
        eigenvalues = np.clip(eigenvalues, 0.0, None)
        projected = vectors.T @ cross  # (L, H)
        energy = np.square(projected).sum(axis=1)  # (L,) |V' X'Y|^2 per eigendirection: the same at every penalty
        unit = n * max(float(np.trace(gram)) / (n * length), np.finfo(float).tiny)  # n s^2
        grid = PENALTY_GRID if self.penalty == "gcv" else np.array([float(self.penalty)])
        best = None
        for penalty in grid:
            inverse = self._inverse(eigenvalues, penalty * unit)
            rss = total - float(np.sum(energy * (2 * inverse - eigenvalues * inverse**2)))
            df = 1.0 + float(np.sum(eigenvalues * inverse))
            if len(grid) > 1 and df >= n:
                continue
            gcv = (max(rss, 0.0) / (n * horizon)) / (1.0 - df / n) ** 2 if df < n else np.inf
            if best is None or gcv <= best[0] * (1 + 1e-12):
                best = (gcv, float(penalty), df, inverse)
        _, self.penalty_, self.df_, inverse = best
        weights = vectors @ (inverse[:, None] * projected)  # (L, H)
        self.coef_ = weights.T.copy()
        self.intercept_ = mean_y - mean_x @ weights
        self.n_windows_ = int(n)
        self.typical_scale_ = np.array([np.median(np.concatenate(parts)) for parts in scales])
        self._fit_error_scale(series, n_channels)
        self.last_values_ = np.stack([values[-length:] for values in series])  # (S, L, C)

    @staticmethod
    def _inverse(eigenvalues: np.ndarray, penalty: float) -> np.ndarray:
        """``1 / (d + penalty)``, 0 where that is not positive (least squares' minimum-norm solution)."""
        denominator = eigenvalues + penalty
        usable = denominator > 1e-12 * float(eigenvalues.max(initial=0.0))  # relative: the data's units are free
        return np.where(usable, 1.0 / np.where(usable, denominator, 1.0), 0.0)

    def _anchored(self, block: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows of ``L + H`` values and their inputs' scales ``m`` -> (inputs ``(k, L)``, targets ``(k, H)``),
        anchored and scaled as fitted (constant windows left out when scaled)."""
        inputs, targets = block[:, : self.input_length], block[:, self.input_length :]
        level = anchors(inputs, self.anchor)
        if self.scale == "none":
            return inputs - level, targets - level
        varies = scale > 0
        scale = np.where(varies, scale, 1.0)[:, None]
        return ((inputs - level) / scale)[varies], ((targets - level) / scale)[varies]

    def _fit_error_scale(self, series: list[np.ndarray], n_channels: int) -> None:
        """``relative_sd_`` from the in-sample residuals (module docstring); needs ``typical_scale_``."""
        squares, counts = np.zeros((n_channels, self.horizon)), np.zeros(n_channels)
        for channel, block in _blocks(series, self.input_length + self.horizon):
            inputs, targets = block[:, : self.input_length], block[:, self.input_length :]
            residuals = targets - self._forecast(inputs)
            scale = self._scales(inputs, channel)
            squares[channel] += np.square(residuals / scale[:, None]).sum(axis=0)
            counts[channel] += len(block)
        self.relative_sd_ = np.sqrt(squares / counts[:, None])  # every channel has the same windows: counts > 0

    def _scales(self, inputs: np.ndarray, channel) -> np.ndarray:
        """The windows' scales ``m`` (``(..., L)`` of ``channel``, or of each channel on the last-but-one axis)."""
        scale = window_scales(inputs)
        typical = self.typical_scale_[channel]
        fallback = np.where(typical > 0, typical, 1.0)
        return np.where(scale > 0, scale, fallback)

    # --- forecast -------------------------------------------------------------------------------

    def _forecast(self, inputs: np.ndarray, horizon: int | None = None) -> np.ndarray:
        """Point forecasts of windows ``(..., L) -> (..., horizon)``."""
        horizon = self.horizon if horizon is None else horizon
        level = anchors(inputs, self.anchor)
        intercept = self.intercept_[:horizon] * (window_scales(inputs)[..., None] if self.scale == "window" else 1.0)
        return level + intercept + (inputs - level) @ self.coef_[:horizon].T

    def _check_horizon(self, horizon: int) -> None:
        if horizon > self.horizon:
            raise ConfigError(
                f"This Linear model was fitted for horizon={self.horizon}; it cannot forecast {horizon} steps. "
                "Refit with a larger 'horizon'."
            )

    def _windows(self, inputs: np.ndarray) -> np.ndarray:
        """Input windows ``(N, L', C)`` -> their last ``L`` values per channel ``(N, C, L)``, checked."""
        _check_windows(inputs, self.input_length, "Linear", f"with input_length={self.input_length} reads {self.input_length} values")
        return inputs[:, inputs.shape[1] - self.input_length :].transpose(0, 2, 1)

    def _error_sd(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        """``(N, C, L)`` windows -> the standard deviation of each step's error ``(N, C, horizon)``."""
        channels = np.arange(windows.shape[1])[None, :]
        return self._scales(windows, channels)[..., None] * self.relative_sd_[None, :, :horizon]

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        self._check_horizon(horizon)
        return self._forecast(self._windows(inputs), horizon).transpose(0, 2, 1)  # (N, H, C)

    def _predict(self, horizon: int) -> list[np.ndarray]:
        return list(self._predict_windows(self.last_values_, horizon))

    def _distribution(self, inputs: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Input windows ``(N, L', C)`` -> the Gaussian forecast's mean and standard deviation, each ``(N, C, horizon)``."""
        self._check_horizon(horizon)
        windows = self._windows(inputs)
        return self._forecast(windows, horizon), self._error_sd(windows, horizon)

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        point, sd = self._distribution(inputs, horizon)
        quantiles = point[..., None] + sd[..., None] * _normal_quantiles(levels)
        return quantiles.transpose(0, 2, 1, 3)  # (N, H, C, Q)

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        return list(self._predict_windows_quantiles(self.last_values_, horizon, levels))

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        point, sd = self._distribution(self.last_values_, horizon)  # (S, C, H)
        paths = point + rng.standard_normal((n,) + point.shape) * sd  # (n, S, C, H)
        return list(paths.transpose(1, 0, 3, 2))  # (n, H, C) per series
