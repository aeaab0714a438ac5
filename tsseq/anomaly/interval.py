"""The interval detector: each value's tail probability under a probabilistic forecaster's predictive distribution.

:class:`IntervalDetector` is a :class:`~tsseq.anomaly.detectors.ForecastResidualDetector`
whose forecaster gives quantiles instead of points, and whose per-channel "residuals" are
tail scores ``-log10 p_c`` (:mod:`tsseq.anomaly.tails`), combined over the channels by its
scorer (:class:`~tsseq.anomaly.tails.TailScorer`). Scaling, validation split, thresholds,
streaming (``score_stream``, refits) and the live :class:`~tsseq.anomaly.streaming.OnlineDetector`
are the base class's. Registered as ``"interval"`` in :data:`tsseq.anomaly.detectors.DETECTORS`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri

from tsseq.anomaly.detectors import DETECTORS, RESOLUTION, ForecastResidualDetector, Frame
from tsseq.anomaly.tails import GRID_LEVELS, TAILS, TailScorer, combine_channel_scores, normal_tail_score, quantile_z
from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, TsseqError, closest_match
from tsseq.parameters import check_is_fitted
from tsseq.quantiles import check_levels, interpolate_levels

GRID_WIDTHS = (6.0, 4.0, 3.0, 2.0)  # the grid's |z| bounds tried in turn (levels=None)
# The least predictive standard deviation of a channel constant in the training rows, in the standardised units the
# detector scores in (the Scaler's substitute unit 1 for such a channel; IntervalDetector, "Constant channels").
CONSTANT_CHANNEL_SPREAD = 0.1


class IntervalDetector(ForecastResidualDetector):
    """Scores each point by its tail probability under a probabilistic forecaster's predictive distribution.

    The registered forecaster (``"ar"`` by default: Gaussian intervals from its residual
    variance and moving-average weights; or any model whose ``probabilistic`` is True,
    e.g. a neural one trained with ``training={"loss": "normal"}``) is fitted on the
    standardised training rows. The value ``x_t`` of each channel is scored against the
    ``k = steps_ahead``-step predictive distribution made from the ``L = window_length``
    rows ending at ``t - k`` (``predict_windows(..., k, quantiles=levels)[:, k - 1]``):
    its two-sided tail probability ``p_c``, read from the quantiles
    (:func:`tsseq.anomaly.tails.quantile_z`), gives ``-log10 p_c``, and the channels are
    combined into one ``-log10 p`` per row (:class:`tsseq.anomaly.tails.TailScorer`; the
    per-channel scores: :meth:`channel_scores`). Causal by construction; the first
    ``L + k - 1`` rows score NaN. ``score_stream(..., refit_every=N)`` refits it as the
    other forecast-residual detectors.

    Constant channels: a channel that holds one value in every training row (a stuck or
    idle sensor) is forecast exactly, so its predictive distribution is a point mass (its
    residual variance is rounding) and any later move of it scored ``-log10 p`` of about
    1e16: flagged rightly, but a number that swamps every plot, mean and combination it
    enters. Its training rows measure no noise, so its
    quantiles are widened to at least those of a Gaussian of standard deviation
    ``CONSTANT_CHANNEL_SPREAD = 0.1`` about the forecaster's median
    (``spread_floor_``). The unit is the one the detector already scores such a channel
    in, the :class:`~tsseq.data.scaling.Scaler`'s substitute scale 1 (which the other
    detectors compare its errors in too): a move of one unit, what one training standard
    deviation is to a varying channel, is 10 predictive standard deviations
    (``-log10 p`` about 23), as strong as an outlier on a well-forecast channel, and
    larger moves still score higher. Channels that vary in the training rows are
    untouched: their noise was measured.

    Parameters
    ----------
    forecaster, forecaster_params, window_length, lag_clip, lag_clip_run, lag_clip_univariate_only, in_sample_correction
        As :class:`ForecastResidualDetector` (``input_length`` and ``horizon`` of
        forecasters that take them default to ``window_length`` and ``steps_ahead``; a
        ``"var"`` forecaster is screened and shrunk,
        :data:`~tsseq.anomaly.detectors.SCREENED_VAR`).
    steps_ahead : int
        ``k``: score ``x_t`` under the forecast made ``k`` steps before it.
    levels : sequence of float, optional
        Quantile levels asked of the forecaster. None: a quantile-trained model's own
        levels; else ``Phi(z)`` for ``z = -6, -5.5, ..., 6``
        (:data:`~tsseq.anomaly.tails.GRID_LEVELS`), which reads a Gaussian forecast
        exactly and a Student-t one to within the interpolation between grid points,
        narrowed to ``|z| <= 4, 3, 2`` for a model that refuses far levels (a
        ``"conformal"`` wrapper of a point model, with few calibration scores).
    tail : {"gaussian", "clip"}
        Beyond the outermost quantile: extend the outermost segment on the normal scale,
        or clip there (:func:`~tsseq.anomaly.tails.quantile_z`).
    combine : {"sidak", "bonferroni", "fisher"}
        How channels' tail probabilities become one (:mod:`tsseq.anomaly.tails`).
    threshold, threshold_params, validation_fraction, causal
        As :class:`~tsseq.anomaly.detectors.ReconstructionDetector` (``"false_alarm"`` by
        default: a 1% false-alarm rate of the training rows' scores).

    Fitted: as :class:`~tsseq.anomaly.detectors.ForecastResidualDetector`, and ``levels_``
    ``(Q,)``, the levels asked of the forecaster; ``spread_floor_`` ``(C,)``, the least
    predictive standard deviation of each channel (``CONSTANT_CHANNEL_SPREAD`` for a
    channel constant in the training rows, 0 for the others).
    """

    aggregation = "last"  # one forecast per point: nothing to aggregate

    def __init__(
        self,
        *,
        forecaster: str = "ar",
        forecaster_params: Mapping | None = None,
        window_length: int = 48,
        lag_clip: float | None = None,
        lag_clip_run: int = 2,
        lag_clip_univariate_only: bool = False,
        in_sample_correction: bool = False,
        steps_ahead: int = 1,
        levels: object = None,
        tail: str = "gaussian",
        combine: str = "sidak",
        threshold: str | None = "false_alarm",
        threshold_params: Mapping | None = None,
        validation_fraction: float = 0.2,
        causal: bool = True,
    ) -> None:
        self.forecaster = forecaster
        self.forecaster_params = forecaster_params
        self.window_length = window_length
        self.lag_clip = lag_clip
        self.lag_clip_run = lag_clip_run
        self.lag_clip_univariate_only = lag_clip_univariate_only
        self.in_sample_correction = in_sample_correction
        self.steps_ahead = steps_ahead
        self.levels = levels
        self.tail = tail
        self.combine = combine
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.validation_fraction = validation_fraction
        self.causal = causal

    def first_scored_row(self) -> int:
        """``L + k - 1``: the first row with ``L`` rows ``k`` steps before it (the lag filter pads those before the
        series; ``context_rows`` adds the rows it reads)."""
        return self.window_length + self.steps_ahead - 1

    def channel_scores(self, y: Frame) -> pd.DataFrame:
        """Per-channel ``-log10 p_c`` of ``y`` ``(T, C)``, before the channels are combined (NaN where unscored)."""
        check_is_fitted(self, "scaler_")
        frame = self._frame(y, "y")
        per_channel, starts, offset = self._window_errors(self._scaled(frame))  # (N, 1, C)
        scores = np.full((len(frame), per_channel.shape[-1]), np.nan)
        scores[starts + offset] = per_channel[:, 0]
        return pd.DataFrame(scores, index=frame.index, columns=self.columns_)

    def _check_parameters(self) -> None:
        super()._check_parameters()
        check_positive_int(self.steps_ahead, "steps_ahead")
        if self.tail not in TAILS:
            raise ConfigError(
                f"The 'tail' parameter must be one of {list(TAILS)}. Got {self.tail!r} instead."
                f"{closest_match(str(self.tail), TAILS)}"
            )
        combine_channel_scores(np.zeros(1), self.combine)  # validates the name

    def _make_scorers(self):
        return TailScorer(self.combine), None

    def _fit_model(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        from tsseq import registry

        self.forecaster_ = registry.create(self.forecaster, **self._forecaster_arguments(horizon=self.steps_ahead))
        if not self.forecaster_.probabilistic:
            raise ConfigError(
                f"The interval detector needs a predictive distribution, but forecaster {self.forecaster!r} (as "
                "configured) gives point forecasts only. Use a probabilistic one: train a neural model with a "
                "distribution loss, forecaster_params={'training': {'loss': 'normal'}} (or 'student_t', 'quantile'), "
                "or a model with analytic intervals such as 'ar' or 'naive', or wrap it in conformal intervals: "
                f"forecaster='conformal', forecaster_params={{'model': {self.forecaster!r}}}; or score point "
                f"residuals with detector 'forecast_residual' (forecaster={self.forecaster!r})."
            )
        if self.levels is not None and len(check_levels(self.levels, "levels")) < 2:
            raise ConfigError(f"The 'levels' parameter needs at least 2 quantile levels. Got {self.levels!r}.")
        usable = validation is not None and len(validation) > self.first_scored_row()
        self.forecaster_.fit(train, validation=validation if usable else None)
        self._fit_corrections(train)
        self.levels_ = self._levels(train.to_numpy()[: self.window_length])
        values = train.to_numpy()
        constant = np.nanmax(values, axis=0) == np.nanmin(values, axis=0)  # the Scaler's warning names these
        self.spread_floor_ = np.where(constant, CONSTANT_CHANNEL_SPREAD, 0.0)

    def _levels(self, window: np.ndarray) -> np.ndarray:
        """The levels to ask: ``levels``, a quantile-trained model's own, or the widest grid the model gives.

        A model may refuse far levels (a conformal wrapper has no quantile beyond its
        calibration scores' resolution): the grid then narrows, ``z`` up to 6, 4, 3, 2,
        tried on the ``window`` ``(L, C)``; the outermost segment extends beyond it
        (``tail``).
        """
        if self.levels is not None:
            return check_levels(self.levels, "levels")
        output = getattr(self.forecaster_, "output_distribution", None)
        trained = getattr(output(), "levels", None) if callable(output) else None
        if trained is not None:
            return np.asarray(trained, dtype=np.float64)
        for widest in GRID_WIDTHS:
            levels = GRID_LEVELS[np.abs(ndtri(GRID_LEVELS)) <= widest + 1e-9]
            try:
                self.forecaster_.predict_windows(window[None], self.steps_ahead, quantiles=levels)
                return levels
            except TsseqError as error:
                refusal = error
        raise ConfigError(
            f"Forecaster {self.forecaster!r} gives no quantiles at the levels Phi(z), |z| <= {GRID_WIDTHS[-1]}: "
            f"{refusal} Pass 'levels' it can give."
        )

    def _window_errors(self, scaled: pd.DataFrame, in_sample_rows: int = 0):
        """Per-channel tail scores ``-log10 p_c`` ``(N, 1, C)`` of the rows ``L + k - 1 ..`` (the first
        ``in_sample_rows`` with ``z`` divided by ``1 - df / n``: :meth:`normal_raw_scores`)."""
        values = scaled.to_numpy()
        k = self.steps_ahead
        first = self.first_scored_row()
        if len(values) <= first:
            raise DataError(
                f"A series of {len(values)} rows is too short to score any point from window_length="
                f"{self.window_length} rows {k} step(s) before it."
            )
        inputs = self._input_windows(values, k)  # (N, L, C)
        quantiles = self.forecaster_.predict_windows(inputs, k, quantiles=self.levels_)[:, k - 1]  # (N, C, Q)
        observed = values[first:]  # (N, C)
        median = interpolate_levels(quantiles, self.levels_, np.clip([0.5], self.levels_[0], self.levels_[-1]))[..., 0]
        quantiles = self._widened(quantiles, median)
        z = quantile_z(np.nan_to_num(observed), quantiles, self.levels_, self.tail)
        z[np.abs(observed - median) < RESOLUTION] = 0.0  # rounding, not error
        z = self._inflated(z, in_sample_rows)
        scores = np.where(np.isnan(observed), np.nan, normal_tail_score(z))
        return scores[:, None, :], np.arange(len(scores)), first

    def _widened(self, quantiles: np.ndarray, median: np.ndarray) -> np.ndarray:
        """Quantiles ``(N, C, Q)`` at least ``spread_floor_ |z_k|`` from the ``median`` ``(N, C)`` at each level
        (class docstring, "Constant channels"); those already as far are kept as they are, bit for bit."""
        z_levels = ndtri(self.levels_)  # (Q,)
        floor = self.spread_floor_[:, None] * np.abs(z_levels)  # (C, Q)
        narrow = np.abs(quantiles - median[..., None]) < floor
        return np.where(narrow, median[..., None] + np.sign(z_levels) * floor, quantiles)


DETECTORS["interval"] = (IntervalDetector, {})
