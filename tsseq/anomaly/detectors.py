"""Anomaly detectors: a model that reconstructs or forecasts -> a scorer -> a thresholder.

A detector is fitted on (mostly) normal data and scores every timestamp of a series;
a higher score is more anomalous. The steps, for a wide series ``(T, C)``:

1. standardise each channel with the training rows' mean and std (:class:`~tsseq.data.scaling.Scaler`);
2. residuals ``e = x - xhat`` ``(N, W, C)`` for ``N`` windows of ``W`` scored steps each:
   :class:`ReconstructionDetector` reconstructs windows of ``L = window_length`` points
   (:mod:`tsseq.nn.autoencoders`, ``W = L``); :class:`ForecastResidualDetector` forecasts
   each point from the ``L`` points before it with a registered forecaster (Telemanom,
   Hundman et al. 2018; ``W = 1``);
3. a point-wise scorer (:mod:`tsseq.anomaly.scorers`) scores each residual vector;
4. the window scores map to timestamps (:func:`~tsseq.data.windows.windows_to_timestamps`):
   ``"last"``, the score of the window ending at ``t``, or the ``"mean"``/``"max"`` over
   all windows covering ``t`` (these look at windows that end after ``t``);
5. optionally, a temporal scorer (``scorer="likelihood"``: Numenta's anomaly likelihood of
   the step-4 absolute-error scores, the validation rows its probationary period) turns
   the sequence into 0..1 scores, causally;
6. a thresholder (:func:`tsseq.anomaly.thresholds.make_thresholder`) fitted on the
   scores of the normal rows (``normal_scores_``: every training row's, in-sample, and the
   validation rows'; the validation rows' only with the likelihood scorer) flags ``score >
   threshold`` (SPOT/DSPOT keep adapting online). By default ``"false_alarm"``: a 1%
   false-alarm rate of those scores, chosen across corpora by
   ``pipelines/benchmarks/threshold_study.py`` (:mod:`tsseq.anomaly.thresholds`).

NaN policy: a timestamp no window scores is NaN and never flagged: with ``"last"`` the
first ``L - 1`` points of a reconstruction detector, and the first ``L`` points of a
forecast-residual detector (no window precedes them). Missing values (NaN, ``missing="mask"``):
a reconstruction detector (``masks_missing``) masks them, in training and in scoring, and a
row whose value is unobserved scores NaN too (``score`` warns how many rows got no score);
the forecast-residual and interval detectors need every value and refuse a frame with any
(:class:`~tsseq.errors.MissingValuesError` naming the column and the first timestamp), in
``fit`` as in ``score``.

Causality (``causal=True``, the default): the score and flag of ``t`` then depend on the
series up to ``t`` only: aggregation must be ``"last"``, the model unidirectional, and the
thresholder causal point by point (Telemanom only with ``batch_size=1``); anything else
raises a :class:`~tsseq.errors.ConfigError`. Every window's score is still computed in one
batch: each window ends at its own ``t``. Scores carry ``attrs["causal"]``.

Validation: without a ``validation`` frame the last ``validation_fraction`` of the rows
is held out (its windows may start in the training rows). It serves early stopping and
calibrates the scorer (Mahalanobis mean and covariance, the likelihood's history) and the
threshold. ``contamination`` (a fraction, optional) estimates a contaminated training set
by its largest reconstruction errors: after a first fit, the training windows with the
top ``contamination`` mean squared error are dropped and the model is refitted once
(with the same seed) on the rest (``contamination_dropped_``: their indices); ``"auto"``:
the windows whose error is an outlier among all windows' errors, by the fence of
``trim_fraction="auto"`` below. Robust training within one fit, for every neural model
(the autoencoders here, a neural forecaster under ``forecast_residual`` or ``interval``
through its ``forecaster_params``): ``training={"trim_fraction": f}`` makes the engine
leave the ``f`` of training windows of highest loss out of each epoch after
``trim_warmup_epochs`` (:mod:`tsseq.engine.trimming`; ``history_.trimmed`` lists them). It
works when ``f`` covers the windows that overlap anomalies, about ``(1 + (L - 1) / m)``
times the contaminated share of rows for anomalies ``m`` rows long; ``f="auto"`` leaves out
the windows whose loss is an outlier among all windows' losses, however many they are (at
most a quarter).

Per-channel contributions (``contributions(y)`` ``(T, C)``, every detector whose
``gives_contributions`` is True): how much each channel adds to each score, summing to it
(the scorer's split, :mod:`tsseq.anomaly.scorers`; exact for the additive scorers, the
Mahalanobis terms ``m_c / d``, a stated share for the likelihood and the tail scores).
They are computed from the same windows as the scores, so they are as causal as the
scores. :func:`tsseq.anomaly.streaming.score_stream` (``contributions=True``) adds them as
columns ``contribution_<channel>`` (:func:`contribution_columns`), and the one-row-at-a-time
:class:`~tsseq.anomaly.streaming.OnlineDetector` (``contributions=True``) gives each row's; ``online_residual``,
one channel only, gives none and says so.

Detectors by name: :data:`DETECTORS` and :func:`make_detector`. Besides these windowed
detectors, ``"online_residual"`` is :class:`tsseq.anomaly.online.OnlineResidualDetector`
(online AR + anomaly likelihood, causal only; threshold ``"alarm_level"`` by default): it
has the same ``fit``/``score``/``detect``/``predict``/``threshold_``/``causal`` interface,
learns online from the rows it scores (``learns_online``), and is the best of them on NAB.

Interval detectors score the tail probability of each value under its causal predictive
distribution, ``-log10 p`` (:mod:`tsseq.anomaly.tails`): ``"interval"`` is
:class:`tsseq.anomaly.interval.IntervalDetector` (any probabilistic registered forecaster, a
:class:`ForecastResidualDetector` whose residuals are per-channel tail scores; it registers
itself when this module imports it, at the end), ``"online_interval"`` is
:class:`tsseq.anomaly.online_interval.OnlineIntervalDetector` (the online AR's Gaussian
predictive, causal only, like ``"online_residual"``).
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tsseq.base import check_positive_int, split_frame
from tsseq.config import from_mapping
from tsseq.data.scaling import Scaler
from tsseq.data.splits import held_out_rows
from tsseq.data.windows import AGGREGATIONS, windows_to_timestamps
from tsseq.engine import Trainer, TrainingConfig
from tsseq.engine.trimming import AUTO, kept_windows, trimmed_windows
from tsseq.errors import ConfigError, DataError, MissingValuesError, closest_match
from tsseq.anomaly.lag_filter import filtered_windows, observed_windows, residual_scale
from tsseq.anomaly.online import OnlineResidualDetector
from tsseq.anomaly.online_interval import OnlineIntervalDetector
from tsseq.anomaly.scorers import split_by_shares
from tsseq.nn.autoencoders import LSTMVAE, PatchAutoencoder, RecurrentAutoencoder, WindowCentred
from tsseq.nn.recurrent import require_causal
from tsseq.parameters import Estimator, check_is_fitted
from tsseq.relay import FitWarnings

Frame = pd.DataFrame | pd.Series

# Reconstruction model name -> (module class, preset arguments); model_params override them.
MODELS: dict[str, tuple[type, dict]] = {
    "lstm_ae": (RecurrentAutoencoder, {"cell": "lstm"}),
    "gru_ae": (RecurrentAutoencoder, {"cell": "gru"}),
    "bilstm_ae": (RecurrentAutoencoder, {"cell": "lstm", "bidirectional": True}),
    "segment_ae": (RecurrentAutoencoder, {"cell": "gru", "segment_length": 8}),
    "dilated_ae": (RecurrentAutoencoder, {"cell": "gru", "num_layers": 3, "dilations": (1, 2, 4)}),
    "lstm_vae": (LSTMVAE, {}),
    # Masked-patch pretraining objective, leave-one-patch-out scoring (tsseq.nn.autoencoders).
    "patchtst_ae": (PatchAutoencoder, {}),
}


@dataclass(frozen=True, eq=False)
class ReconstructionWindows:
    """Windows whose targets are their inputs, for :meth:`tsseq.engine.Trainer.fit`.

    ``series (T, C)`` (unobserved values 0), ``observed (T, C)`` bool or None,
    ``starts (N,)`` the first row of each window (a subset for the contamination refit).
    """

    series: torch.Tensor
    observed: torch.Tensor | None
    starts: torch.Tensor
    window_length: int

    @classmethod
    def of(cls, values: np.ndarray, window_length: int) -> "ReconstructionWindows":
        if len(values) < window_length:
            raise DataError(f"A series of {len(values)} rows is too short for window_length={window_length}.")
        series = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        missing = torch.isnan(series)
        observed = ~missing if bool(missing.any()) else None
        starts = torch.arange(len(values) - window_length + 1)
        return cls(torch.nan_to_num(series), observed, starts, window_length)

    def __len__(self) -> int:
        return len(self.starts)

    def inputs(self) -> torch.Tensor:
        """All windows ``(N, L, C)``: a view of the series."""
        every = self.series.unfold(0, self.window_length, 1).transpose(1, 2)  # (T - L + 1, L, C)
        return every if len(self.starts) == len(every) else every[self.starts]

    def gather(self, indices: torch.Tensor):
        steps = torch.arange(self.window_length, device=self.starts.device)
        rows = self.starts[indices.to(self.starts.device)][:, None] + steps  # (B, L)
        inputs = self.series[rows]  # (B, L, C)
        mask = None if self.observed is None else self.observed[rows]
        return inputs, inputs, mask, mask

    def subset(self, keep: np.ndarray) -> "ReconstructionWindows":
        starts = self.starts[torch.from_numpy(keep)]
        return ReconstructionWindows(self.series, self.observed, starts, self.window_length)


class AnomalyDetector(Estimator):
    """Base of the detectors: scaling, validation split, scoring, aggregation, thresholds.

    Subclasses store their arguments and implement ``_fit_model(train, validation)`` (scaled
    frames) and ``_window_errors(scaled) -> (errors (N, W, C), starts (N,), offset)``: window
    ``i``'s residuals cover timestamps ``starts[i] + offset + w``.

    Fitted: ``scaler_``, ``scorer_``, ``temporal_scorer_`` (or None), ``thresholder_`` (or
    None), ``threshold_`` (its value after fitting, None without a threshold),
    ``validation_scores_`` ``(T_val,)``, ``normal_scores_`` (what the threshold was fitted
    on), ``columns_``.
    """

    gives_contributions = True  # contributions(y): which channels make each score (module docstring)
    masks_missing = False  # NaN values are masked (scored NaN), not refused (module docstring, NaN policy)

    def _model_words(self) -> str:
        """What ``_fit_model`` fits, for the warnings it gives (:mod:`tsseq.relay`)."""
        return "model"

    def fit(self, y: Frame, validation: Frame | None = None) -> "AnomalyDetector":
        """Train on ``y``; calibrate scorer and threshold on ``validation`` (or ``y``'s tail)."""
        self._check_parameters()
        frame = self._frame(y, "y", fitting=True)
        self.columns_ = list(frame.columns)
        train, held_out, context = self._split(frame, validation)
        self.scaler_ = Scaler("standard").fit(train)  # a frame: a constant channel's warning names its column
        scaled_train = self._scaled(train)
        scaled_held_out = None if held_out is None else self._scaled(held_out)
        relay = FitWarnings(type(self).__name__)  # a forecaster's warnings (AR replacing a fit) say they are this one's
        try:
            with relay.of(f"fit of its {self._model_words()}"):
                self._fit_model(scaled_train, scaled_held_out)
        finally:
            relay.issue()
        calibration = scaled_train if scaled_held_out is None else scaled_held_out
        self.scorer_, self.temporal_scorer_ = self._make_scorers()
        errors, starts, offset = self._window_errors(calibration)
        self.scorer_.fit(errors)
        raw = self._aggregate(self.scorer_.score(errors), starts, offset, len(calibration))[context:]
        validation_scores = raw
        if self.temporal_scorer_ is not None:
            # The likelihood is 0.5 until it has rows to estimate from: the first half of the
            # validation rows is its probationary period, the second half's likelihoods (scored
            # as new data's will be) calibrate the threshold.
            half = len(raw) // 2
            validation_scores = np.full(len(raw), np.nan)
            validation_scores[half:] = self.temporal_scorer_.fit(raw[:half]).score(raw[half:])
            self.temporal_scorer_.fit(raw)  # all validation rows: the history new data continue from
        self.validation_scores_ = validation_scores
        # The threshold is fitted on every normal row's score, the training rows' (in-sample)
        # and the held-out ones', not on the few held-out ones alone (threshold_study.py).
        normal_scores = validation_scores
        if self.temporal_scorer_ is None:
            normal_scores = self.normal_raw_scores(frame)
            if validation is not None:
                normal_scores = np.concatenate([normal_scores, validation_scores])
        self.normal_scores_ = normal_scores
        self.thresholder_ = None
        if self.threshold is not None:
            from tsseq.anomaly.thresholds import make_thresholder

            self.thresholder_ = make_thresholder(self.threshold, **(self.threshold_params or {}))
            self.thresholder_.fit(normal_scores)
        self.threshold_ = None if self.thresholder_ is None else float(self.thresholder_.threshold_)
        return self

    def score(self, y: Frame) -> pd.Series:
        """Per-timestamp anomaly scores of ``y`` (NaN where no window scores; module docstring)."""
        check_is_fitted(self, "scaler_")
        frame = self._frame(y, "y")
        raw = self.raw_scores(frame)
        scores = raw if self.temporal_scorer_ is None else self.temporal_scorer_.score(raw)
        warn_unscored(frame, scores, self.first_scored_row(), self._words())
        series = pd.Series(scores, index=frame.index, name="score")
        series.attrs["causal"] = bool(self.causal)
        return series

    def detect(self, y: Frame) -> pd.DataFrame:
        """Scores and flags of ``y``: columns ``score`` and ``is_anomaly`` (bool); ``attrs["causal"]``."""
        scores = self.score(y)
        flags = self._flags(scores.to_numpy())
        result = pd.DataFrame({"score": scores, "is_anomaly": flags}, index=scores.index)
        result.attrs["causal"] = bool(self.causal)
        return result

    def predict(self, y: Frame) -> pd.Series:
        """``True`` where ``y`` is anomalous: its scores over the fitted threshold."""
        return self.detect(y)["is_anomaly"]

    def contributions(self, y: Frame) -> pd.DataFrame:
        """Per-channel contributions ``(T, C)`` to :meth:`score` of ``y``: each row sums to its score.

        The scorer's split of each point-wise score over the channels
        (:mod:`tsseq.anomaly.scorers`: exact for the additive ones), mapped to timestamps as
        the scores are: ``"last"`` and ``"mean"`` aggregate each channel alike (a mean of
        sums is the sum of the means); ``"max"`` splits the row's max-aggregated score in the
        shares of its mean-aggregated contributions. A temporal scorer's score is split in
        the shares of its raw score's. NaN where the score is NaN; as causal as the score.
        """
        check_is_fitted(self, "scaler_")
        frame = self._frame(y, "y")
        raw, parts = self.raw_scores_and_contributions(frame)
        if self.temporal_scorer_ is not None:
            parts = split_by_shares(self.temporal_scorer_.score(raw), parts)
        return pd.DataFrame(parts, index=frame.index, columns=self.columns_)

    def raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Steps 1-4 (module docstring): per-timestamp point-wise scores ``(T,)``, before any temporal scorer."""
        self._check_missing(frame, "y")
        errors, starts, offset = self._window_errors(self._scaled(frame))
        return self._aggregate(self.scorer_.score(errors), starts, offset, len(frame))

    def normal_raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The raw scores of the frame the detector was fitted on that a threshold reads as normal: :meth:`raw_scores`
        (a forecast-residual detector may correct the rows its forecaster was fitted on)."""
        return self.raw_scores(frame)

    def raw_scores_and_contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`raw_scores` ``(T,)`` and their per-channel contributions ``(T, C)`` (:meth:`contributions`)."""
        self._check_missing(frame, "y")
        errors, starts, offset = self._window_errors(self._scaled(frame))
        raw = self._aggregate(self.scorer_.score(errors), starts, offset, len(frame))
        mapped = "mean" if self.aggregation == "max" else self.aggregation
        parts = self._aggregate(self.scorer_.contributions(errors), starts, offset, len(frame), mapped)  # (T, C)
        if self.aggregation == "max":
            parts = split_by_shares(raw, parts)
        return raw, np.where(np.isnan(raw)[:, None], np.nan, parts)

    # ------------------------------------------------------------------ steps
    def _make_scorers(self):
        """The point-wise scorer and the temporal one (None unless ``scorer="likelihood"``)."""
        from tsseq.anomaly.scorers import make_scorer

        params = dict(self.scorer_params or {})
        if self.scorer != "likelihood":
            return make_scorer(self.scorer, **params), None
        return make_scorer(params.pop("base", "absolute")), make_scorer("likelihood", **params)

    def _flags(self, scores: np.ndarray) -> np.ndarray:
        if self.thresholder_ is None:
            raise ConfigError("This detector has threshold=None: it scores but does not flag. Set 'threshold'.")
        return np.asarray(copy.deepcopy(self.thresholder_).predict(scores), dtype=bool)  # a fresh online state

    def _aggregate(
        self, window_scores: np.ndarray, starts: np.ndarray, offset: int, n_rows: int, aggregation: str | None = None
    ) -> np.ndarray:
        """Window values ``(N, W)`` or ``(N, W, C)`` -> per timestamp ``(T,)`` or ``(T, C)``."""
        values = torch.from_numpy(np.ascontiguousarray(window_scores, dtype=np.float64))
        starts = torch.from_numpy(starts)
        how = aggregation or self.aggregation
        return windows_to_timestamps(values, starts, n_rows, aggregation=how, offset=offset).numpy()

    def _frame(self, y: Frame, name: str, fitting: bool = False, check_missing: bool = True) -> pd.DataFrame:
        """``y`` as a wide frame of the fitted columns; one with missing values refused unless ``masks_missing`` (or
        ``check_missing`` is False: ``auto`` checks them itself, naming its members)."""
        if not isinstance(y, (pd.DataFrame, pd.Series)):
            raise DataError(
                f"{type(self).__name__} expects {name!r} as a pandas DataFrame or Series with a DatetimeIndex. "
                f"Got {type(y).__name__}."
            )
        series, layout = split_frame(y)
        if layout.series_ids is not None:
            raise DataError(
                f"{type(self).__name__} scores one series (a wide frame); {name!r} holds {len(series)} series."
            )
        frame = pd.DataFrame(series[0], index=y.index, columns=list(layout.columns))
        if not fitting and list(frame.columns) != self.columns_:
            raise DataError(
                f"{type(self).__name__} was fitted on columns {self.columns_}; {name!r} has {list(frame.columns)}."
            )
        if check_missing:
            self._check_missing(frame, name)
        return frame

    def _words(self) -> str:
        """The detector and its model, for messages: ``ForecastResidualDetector (forecaster 'var')``."""
        return f"{type(self).__name__} ({self._model_words()})"

    def _check_missing(self, frame: pd.DataFrame, name: str) -> None:
        if not self.masks_missing:
            check_no_missing(frame, name, self._words())

    def _split(self, frame: pd.DataFrame, validation: Frame | None):
        """-> (train rows, held-out rows with context in front or None, rows of context)."""
        if validation is not None:
            return frame, self._frame(validation, "validation"), 0
        held = held_out_rows(self.validation_fraction, len(frame))
        if held == 0:
            return frame, None, 0
        train = frame.iloc[: len(frame) - held]
        if len(train) < self.first_scored_row() + 1:
            raise DataError(
                f"{len(frame)} rows leave {len(train)} training rows after holding out validation_fraction="
                f"{self.validation_fraction}; a window needs {self.first_scored_row() + 1}. Train on more rows (tsseq "
                "detect: --train-rows, --train-fraction) or use a shorter window (window_length, --window)."
            )
        context = min(self.context_rows(), len(train))
        return train, frame.iloc[len(frame) - held - context :], context

    def first_scored_row(self) -> int:
        """The first row of a series that gets a score (the rows before it are too few): :meth:`context_rows`."""
        return self.context_rows()

    def _scaled(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.scaler_.transform(frame.to_numpy()), index=frame.index, columns=frame.columns)

    def _check_parameters(self) -> None:
        check_positive_int(self.window_length, "window_length")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"The 'aggregation' parameter must be one of {list(AGGREGATIONS)}. Got {self.aggregation!r} instead."
                f"{closest_match(str(self.aggregation), AGGREGATIONS)}"
            )
        if not isinstance(self.validation_fraction, (int, float)) or not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"The 'validation_fraction' parameter must be in [0, 1). Got {self.validation_fraction!r} instead."
            )
        if self.causal:
            if self.aggregation != "last":
                raise ConfigError(
                    f"aggregation={self.aggregation!r} looks at windows that end after each timestamp; causal "
                    "scoring needs aggregation='last'. Set causal=False (tsseq detect --mode batch) for offline "
                    "(batch) scoring."
                )
            from tsseq.anomaly.thresholds import check_causal_threshold

            check_causal_threshold(self.threshold, causal=True)
            if self.threshold == "telemanom" and (self.threshold_params or {}).get("batch_size", 70) != 1:
                raise ConfigError(
                    "Telemanom's threshold judges a batch of errors at once (causal only per batch); causal "
                    "scoring needs threshold_params={'batch_size': 1} (tsseq detect --threshold-param batch_size=1), "
                    "or set causal=False (--mode batch)."
                )


class ReconstructionDetector(AnomalyDetector):
    """Scores by how badly an autoencoder (:data:`MODELS`) reconstructs the windows around each point.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`: ``"lstm_ae"``, ``"gru_ae"``, ``"bilstm_ae"`` (offline
        only), ``"segment_ae"``, ``"dilated_ae"``, ``"lstm_vae"``, ``"patchtst_ae"``
        (PatchTST trained by masked patches; ``window_length`` a multiple of its
        ``patch_length``, 8 by default).
    model_params : mapping, optional
        Module arguments (``hidden_size``, ``num_layers``, ``decoder_input``, ...).
    window_length : int
        ``L``, points per window.
    centre_windows : bool or "multichannel"
        Feed the model each window minus its per-channel mean and add the mean back
        (:class:`~tsseq.nn.autoencoders.WindowCentred`): it reconstructs shapes, so a level
        the training rows never held (a new operating point) does not raise the score, and
        a level fault alone is left to a forecasting detector (``auto``'s members).
        ``"multichannel"``: only when the data has more than one channel (``auto``'s
        autoencoder; ``threshold_study.md``, seventh study).
    scorer : {"absolute", "squared", "mahalanobis", "likelihood"}
    scorer_params : mapping, optional
        The scorer's arguments; for ``"likelihood"`` also ``base``, the point-wise scorer
        under it (default ``"absolute"``).
    aggregation : {"last", "mean", "max"}
    threshold : str or None
        ``"false_alarm"`` (default: a 1% false-alarm rate of the training rows' scores,
        :class:`~tsseq.anomaly.thresholds.FalseAlarmThresholder`), ``"quantile"``,
        ``"ksigma"``, ``"spot"``, ``"dspot"``, ``"telemanom"``, ``"adaptive"`` (causal:
        adapted to the scored rows seen so far, :class:`~tsseq.anomaly.thresholds.AdaptiveThresholder`,
        the default of ``tsseq detect``), ``"transductive"`` (batch only: adapted to all the
        scored rows, :class:`~tsseq.anomaly.thresholds.TransductiveThresholder`); None: scores only.
    threshold_params : mapping, optional
    training : TrainingConfig or mapping, optional
        How the shared engine trains the model; ``trim_fraction`` trains robustly on
        contaminated rows (module docstring).
    validation_fraction : float
        Held-out tail when ``fit`` gets no ``validation``.
    contamination : float or "auto", optional
        Fraction of training windows dropped before one refit, or "auto" (module docstring).
    causal : bool
        Refuse anything that looks past ``t`` (module docstring).

    Missing values (NaN) are masked, in training and in scoring: a row whose value is
    unobserved gets no score (NaN, never flagged), and :meth:`score` warns how many.
    """

    masks_missing = True

    def __init__(
        self,
        *,
        model: str = "lstm_ae",
        model_params: Mapping | None = None,
        window_length: int = 48,
        centre_windows: bool | str = False,
        scorer: str = "absolute",
        scorer_params: Mapping | None = None,
        aggregation: str = "last",
        threshold: str | None = "false_alarm",
        threshold_params: Mapping | None = None,
        training: TrainingConfig | Mapping | None = None,
        validation_fraction: float = 0.2,
        contamination: float | None = None,
        causal: bool = True,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.window_length = window_length
        self.centre_windows = centre_windows
        self.scorer = scorer
        self.scorer_params = scorer_params
        self.aggregation = aggregation
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.training = training
        self.validation_fraction = validation_fraction
        self.contamination = contamination
        self.causal = causal

    def context_rows(self) -> int:
        """Rows before a timestamp that its score reads: ``L - 1``."""
        return self.window_length - 1

    def _model_words(self) -> str:
        return f"model {self.model!r}"

    def training_config(self) -> TrainingConfig:
        """``training`` as a validated :class:`~tsseq.engine.TrainingConfig`."""
        if self.training is None:
            return TrainingConfig()
        if isinstance(self.training, TrainingConfig):
            return self.training
        if not isinstance(self.training, Mapping):
            raise ConfigError(
                f"The 'training' parameter must be a TrainingConfig or a mapping of its fields. Got {self.training!r}."
            )
        return from_mapping(TrainingConfig, dict(self.training), where="training")

    def build_module(self, n_channels: int) -> torch.nn.Module:
        """The configured, untrained autoencoder for ``n_channels`` channels."""
        if self.model not in MODELS:
            raise ConfigError(
                f"Unknown reconstruction model {self.model!r}.{closest_match(str(self.model), MODELS)} "
                f"Models: {', '.join(MODELS)}."
            )
        if not isinstance(self.centre_windows, (bool, np.bool_)) and self.centre_windows != "multichannel":
            raise ConfigError(
                f"The 'centre_windows' parameter must be True, False or 'multichannel'. Got {self.centre_windows!r} instead."
            )
        cls, preset = MODELS[self.model]
        params = dict(self.model_params or {})
        try:
            module = cls(n_channels, self.window_length, **{**preset, **params})
        except TypeError as error:
            raise ConfigError(f"Bad 'model_params' {params} for model {self.model!r}: {error}") from None
        if self.causal:
            require_causal(
                module,
                f"causal anomaly scoring (model {self.model!r}; set causal=False for batch mode, tsseq detect --mode "
                "batch; or model_params={'bidirectional': False}: --param 'model_params={bidirectional: false}')",
            )
        centre = n_channels > 1 if self.centre_windows == "multichannel" else bool(self.centre_windows)
        return WindowCentred(module) if centre else module

    def _fit_model(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        contamination = self.contamination
        fraction = isinstance(contamination, float) and 0 < contamination < 0.5
        if contamination not in (None, AUTO) and not fraction:
            raise ConfigError(
                f"The 'contamination' parameter must be a float in (0, 0.5), 'auto' or None. Got {contamination!r} instead."
            )
        config = self.training_config()
        windows = ReconstructionWindows.of(train.to_numpy(), self.window_length)
        held_out = None
        if validation is not None and len(validation) >= self.window_length:
            held_out = ReconstructionWindows.of(validation.to_numpy(), self.window_length)
        module = self._train(config, windows, held_out)
        if contamination is not None:
            errors = self._reconstruction_errors(module, windows.inputs())  # (N, L, C)
            window_error = np.nanmean(np.square(errors), axis=(1, 2))  # (N,)
            if contamination == AUTO:
                keep = kept_windows(len(window_error), trimmed_windows(torch.from_numpy(window_error), AUTO)).numpy()
                self.contamination_threshold_ = float(window_error[keep].max())
            else:
                self.contamination_threshold_ = float(np.quantile(window_error, 1 - contamination))
                keep = np.flatnonzero(window_error <= self.contamination_threshold_)
            self.contamination_dropped_ = np.setdiff1d(np.arange(len(window_error)), keep)
            module = self._train(config, windows.subset(keep), held_out)
        self.module_ = module.cpu().eval()
        self.n_channels_ = train.shape[1]

    def _train(self, config: TrainingConfig, windows, held_out) -> torch.nn.Module:
        if config.seed is not None:
            torch.manual_seed(config.seed)  # the initial weights
        module = self.build_module(windows.series.shape[1])
        trainer = Trainer(config)
        self.history_ = trainer.fit(module, windows, held_out, loss=getattr(module, "training_loss", None))
        return module

    def _reconstruction_errors(self, module: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
        reconstruction = Trainer(self.training_config()).predict(module, inputs)  # (N, L, C)
        return (inputs - reconstruction.to(inputs.dtype)).numpy()

    def _window_errors(self, scaled: pd.DataFrame):
        values = scaled.to_numpy()
        windows = ReconstructionWindows.of(values, self.window_length)
        errors = self._reconstruction_errors(self.module_, windows.inputs())  # (N, L, C)
        if windows.observed is not None:
            observed = windows.observed.unfold(0, self.window_length, 1).transpose(1, 2).numpy()
            errors = np.where(observed, errors, np.nan)
        starts = windows.starts.numpy()
        if self.aggregation == "last":  # only the last step of each window is used: score just that
            return errors[:, -1:], starts, self.window_length - 1
        return errors, starts, 0


# Residuals smaller than this, in standard deviations of the training rows, are rounding, not error: a noise-free
# series (a test signal, NAB's art_daily_no_noise) is forecast to within 1e-14, and the out-of-sample rows' rounding,
# a few times the training rows', flagged a third of a pure sine's rows before they were set to zero.
RESOLUTION = 1e-9


# A VAR with the channels that Haugh's test finds unrelated left out of each equation and the other cross terms
# shrunk (tsseq.var: cross_screen, cross_penalty), for the forecast-residual and interval detectors. On clean wide
# logs of 20 and 40 channels the least-squares VAR's intervals flagged 0.29 / 0.25 of the rows (batch / causal
# default threshold), these 0.05 / 0.06, with wide-log PR-AUC 0.56 -> 0.63 and the plant's 0.758 -> 0.750 (tenth
# study, threshold_study.md; var_residual: the eleventh, with its scorer's largest channel).
SCREENED_VAR = {"cross_penalty": "gcv", "cross_screen": 0.01}


class ForecastResidualDetector(AnomalyDetector):
    """Scores each point by the error of a registered forecaster's prediction of it (Telemanom).

    The forecaster (``tsseq.registry``; ``"ar"`` by default) is fitted on the standardised
    training rows and predicts each point ``t >= L`` from the ``L = window_length`` points
    before it (``predict_windows``); the residual ``x_t - xhat_t`` is scored. It is causal
    by construction (``xhat_t`` uses data before ``t``). ``input_length`` and ``horizon``
    of forecasters that take them default to ``window_length`` and 1.

    Parameters: ``forecaster``, ``forecaster_params`` (its constructor arguments), the lag
    filter's (:mod:`tsseq.anomaly.lag_filter`: ``lag_clip``, None or ``c > 0``, the
    forecaster reads rows cleaned by a robust filter, each at most ``c`` residual scales
    from its own forecast, so that an anomaly does not echo in the forecasts after it;
    ``lag_clip_run``, a run of more clipped rows is a lasting change, let in as observed;
    ``lag_clip_univariate_only``, filter data of one channel only, as ``auto`` does),
    ``in_sample_correction`` (True: the threshold's normal scores read the rows the
    forecaster was fitted on with their errors divided by ``1 - df / n``, the equation's
    degrees of freedom over its rows, which is the mean leave-one-out inflation of a
    least-squares residual; ``"ar"`` and ``"var"`` forecasters only; fitted:
    ``inflation_`` ``(C,)``), and the rest as :class:`ReconstructionDetector`
    (``aggregation`` has one window per point).
    ``forecaster_params`` update, key by key, :attr:`FORECASTER_PRESETS`: a ``"var"`` forecaster
    gets :data:`SCREENED_VAR` unless they say otherwise (``{"cross_screen": None}``: every
    channel in every equation, shrunk; with ``"cross_penalty": None`` too, the least squares).
    """

    # Forecaster name -> the constructor arguments this detector gives it unless forecaster_params set them: the
    # defaults the studies chose for detection, which may differ from the forecaster's own.
    FORECASTER_PRESETS: Mapping[str, Mapping] = {"var": SCREENED_VAR}

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
        scorer: str = "absolute",
        scorer_params: Mapping | None = None,
        aggregation: str = "last",
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
        self.scorer = scorer
        self.scorer_params = scorer_params
        self.aggregation = aggregation
        self.threshold = threshold
        self.threshold_params = threshold_params
        self.validation_fraction = validation_fraction
        self.causal = causal

    def context_rows(self) -> int:
        """Rows before a timestamp that its score reads: those before the first scored row, and ``L`` more that the
        lag filter cleans from."""
        return self.first_scored_row() + self._filter_rows()

    def first_scored_row(self) -> int:
        """``L``: the lag filter reads more rows, but pads those before the series."""
        return self.window_length

    def _filter_rows(self) -> int:
        return self.window_length if self._lag_filtered() else 0

    def _lag_filtered(self) -> bool:
        """Whether the lag filter cleans the rows the forecaster reads (``lag_clip``, ``lag_clip_univariate_only``)."""
        several = len(getattr(self, "columns_", ())) > 1
        return self.lag_clip is not None and not (self.lag_clip_univariate_only and several)

    def _check_parameters(self) -> None:
        super()._check_parameters()
        clip = self.lag_clip
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
            raise ConfigError(
                f"The 'lag_clip' parameter must be None or a number of residual scales > 0 (e.g. 3). Got {clip!r}."
            )
        check_positive_int(self.lag_clip_run, "lag_clip_run")
        for name in ("lag_clip_univariate_only", "in_sample_correction"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"The {name!r} parameter must be True or False. Got {getattr(self, name)!r}.")

    def _model_words(self) -> str:
        return f"forecaster {self.forecaster!r}"

    def _fit_model(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        from tsseq import registry

        self.forecaster_ = registry.create(self.forecaster, **self._forecaster_arguments(horizon=1))
        usable = validation is not None and len(validation) > self.window_length
        self.forecaster_.fit(train, validation=validation if usable else None)
        self._fit_corrections(train)

    def _fit_corrections(self, train: pd.DataFrame) -> None:
        """What the fitted forecaster's windows and scores are corrected with: the lag filter's scale
        (``lag_scale_``), and with ``in_sample_correction`` the fitted rows' ``inflation_``."""
        self._fit_lag_filter(train)
        self.fitted_rows_ = len(train)
        self.inflation_ = self._in_sample_inflation() if self.in_sample_correction else None

    def _in_sample_inflation(self) -> np.ndarray:
        """``1 / (1 - df / n)`` per channel ``(C,)``: the mean leave-one-out inflation of the fitted rows' residuals,
        from the degrees of freedom and rows the forecaster states (``df_``, ``residual_rows_``: AR and VAR)."""
        df = getattr(self.forecaster_, "df_", None)
        if df is None:
            raise ConfigError(
                f"in_sample_correction needs a least-squares forecaster, 'ar' or 'var'; {self.forecaster!r} states no "
                "degrees of freedom."
            )
        return 1.0 / (1.0 - np.clip(df[0] / self.forecaster_.residual_rows_[0], 0.0, 0.9))

    def _inflated(self, values: np.ndarray, in_sample_rows: int) -> np.ndarray:
        """``values`` ``(N, ..., C)`` of the rows from :meth:`first_scored_row` on, those of the first ``in_sample_rows``
        rows (the ones the forecaster was fitted on, :meth:`normal_raw_scores`) multiplied by ``inflation_``."""
        fitted = in_sample_rows - self.first_scored_row()
        if fitted > 0:
            values[:fitted] *= self.inflation_
        return values

    def normal_raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`raw_scores` of the frame the detector was fitted on, the fitted rows' errors divided by ``1 - df / n``
        with ``in_sample_correction``: the normal scores a threshold is fitted on."""
        if self.inflation_ is None:
            return self.raw_scores(frame)
        errors, starts, offset = self._window_errors(self._scaled(frame), in_sample_rows=self.fitted_rows_)
        return self._aggregate(self.scorer_.score(errors), starts, offset, len(frame))

    def _fit_lag_filter(self, train: pd.DataFrame) -> None:
        """``lag_scale_`` ``(C,)``: the robust scale of the forecaster's one-step residuals on the training rows."""
        self.lag_scale_ = None
        if not self._lag_filtered():
            return
        values = train.to_numpy()
        forecasts = self._one_step(np.ascontiguousarray(observed_windows(values[:-1], self.window_length)))
        self.lag_scale_ = residual_scale(values[self.window_length :] - forecasts)

    def _one_step(self, windows: np.ndarray) -> np.ndarray:
        return self.forecaster_.predict_windows(windows, 1)[:, 0]

    def _input_windows(self, values: np.ndarray, steps_ahead: int) -> np.ndarray:
        """The windows ``(N, L, C)`` that forecast rows ``L + k - 1 ..`` of ``values``: the observed rows, or cleaned
        by the lag filter (``lag_clip``)."""
        before = values[: len(values) - steps_ahead]
        if self._lag_filtered():
            return filtered_windows(
                before, self.window_length, self._one_step, self.lag_scale_, self.lag_clip, self.lag_clip_run
            )
        return np.ascontiguousarray(observed_windows(before, self.window_length))

    def _forecaster_arguments(self, horizon: int) -> dict:
        """The forecaster's constructor arguments: ``input_length`` (``window_length``) and ``horizon`` where it
        takes them, then its :attr:`FORECASTER_PRESETS`, then ``forecaster_params``, each updating the one before.

        A forecaster that selects its lags (``max_order``: ``"ar"``, ``"var"``) reads at most the window: its own
        ``max_order`` is capped at ``window_length`` unless given, and an ``order`` or ``max_order`` given above it
        is refused (the predictions read ``window_length`` rows each)."""
        from tsseq import registry

        accepted = registry.parameters(self.forecaster)
        defaults = {k: v for k, v in {"input_length": self.window_length, "horizon": horizon}.items() if k in accepted}
        given = dict(self.forecaster_params or {})
        arguments = {**defaults, **self.FORECASTER_PRESETS.get(self.forecaster, {}), **given}
        if "max_order" in accepted and "max_order" not in arguments:
            own = registry.create(self.forecaster).get_params()["max_order"]
            arguments["max_order"] = min(own, self.window_length)
        for key in ("order", "max_order"):
            lags = arguments.get(key)
            if isinstance(lags, int) and lags > self.window_length:
                raise ConfigError(
                    f"forecaster {self.forecaster!r} with {key}={lags} reads more rows than window_length="
                    f"{self.window_length} gives each prediction: set {key} <= {self.window_length} or a longer window."
                )
        return arguments

    def _window_errors(self, scaled: pd.DataFrame, in_sample_rows: int = 0):
        values = scaled.to_numpy()
        if len(values) <= self.window_length:
            raise DataError(
                f"A series of {len(values)} rows is too short to forecast any point from "
                f"window_length={self.window_length} points."
            )
        predictions = self.forecaster_.predict_windows(self._input_windows(values, 1), 1)  # (N, 1, C)
        errors = values[self.window_length :, None, :] - predictions
        errors[np.abs(errors) < RESOLUTION] = 0.0  # NaN compares False: kept
        return self._inflated(errors, in_sample_rows), np.arange(len(errors)), self.window_length


# Detector name -> (class, preset arguments).
DETECTORS: dict[str, tuple[type, dict]] = {
    **{name: (ReconstructionDetector, {"model": name}) for name in MODELS},
    "forecast_residual": (ForecastResidualDetector, {}),
    "ar_residual": (ForecastResidualDetector, {"forecaster": "ar"}),
    # Every channel from the related channels' past (SCREENED_VAR), a row scored by its largest channel error: on clean
    # wide logs of 20 and 40 channels the least-squares VAR with the channels' mean flagged 0.54 / 0.53 of the rows
    # (batch / causal default threshold), this 0.04 / 0.04; wide-log PR-AUC 0.45 -> 0.54, the plant's 0.814 -> 0.811
    # (eleventh study, threshold_study.md). On one channel the largest is the mean: the AR's residual.
    "var_residual": (
        ForecastResidualDetector, {"forecaster": "var", "scorer": "absolute", "scorer_params": {"reduction": "max"}}
    ),
    "online_residual": (OnlineResidualDetector, {}),
    "online_interval": (OnlineIntervalDetector, {}),
}


_FILL = (
    "Fill them with tsseq.data.checks.check_series(frame, missing='interpolate') (tsseq detect --missing interpolate)"
)


def check_no_missing(frame: pd.DataFrame, name: str, owner: str) -> None:
    """Refuse missing or infinite values in ``frame`` for ``owner``, a detector whose model reads every value: a
    :class:`~tsseq.errors.MissingValuesError` naming the column and timestamp of the first and how many there are."""
    absent = ~np.isfinite(frame.to_numpy(dtype=np.float64))  # (T, C)
    if not absent.any():
        return
    row = int(np.argmax(absent.any(axis=1)))
    column = int(np.argmax(absent[row]))
    counts = absent.sum(axis=0)
    others = [f"{frame.columns[c]!r} {int(counts[c])}" for c in np.flatnonzero(counts) if c != column]
    also = f" (and column(s) {', '.join(others)})" if others else ""
    raise MissingValuesError(
        f"{owner} needs every value of {name}: column {frame.columns[column]!r} has {int(counts[column])} missing or "
        f"infinite value(s), the first at {frame.index[row]}{also}. {_FILL} first, or use a detector that masks "
        "them (e.g. lstm_ae)."
    )


def warn_unscored(frame: pd.DataFrame, scores: np.ndarray, first_scored_row: int, owner: str) -> None:
    """Warn that rows of ``frame`` got no score (NaN) for its missing values (a masking detector's, ``masks_missing``),
    naming how many and the first; the rows before ``first_scored_row``, never scored, are not counted."""
    if not frame.isna().to_numpy().any():
        return
    unscored = np.isnan(np.asarray(scores, dtype=np.float64))
    unscored[:first_scored_row] = False
    if unscored.any():
        warnings.warn(
            f"{owner}: {int(unscored.sum())} of the {len(frame)} rows of y got no score (NaN, never flagged), the "
            f"first at {frame.index[int(np.argmax(unscored))]}: their missing values are masked. {_FILL} to score "
            "them.",
            UserWarning,
            stacklevel=3,
        )


CONTRIBUTION_PREFIX = "contribution_"


def contribution_columns(columns) -> list[str]:
    """The output columns of the contributions of ``columns``: ``contribution_<channel>``."""
    return [f"{CONTRIBUTION_PREFIX}{column}" for column in columns]


def detector_names() -> list[str]:
    return sorted(DETECTORS)


def detector_parameters(name: str) -> list[str]:
    """The constructor arguments of the detector called ``name``."""
    if name not in DETECTORS:
        raise ConfigError(
            f"Unknown detector {name!r}.{closest_match(str(name), DETECTORS)} "
            f"Detectors: {', '.join(sorted(DETECTORS))}."
        )
    return list(DETECTORS[name][0]().get_params())


def check_detector_parameters(name: str, params) -> None:
    """Refuse an unknown detector ``name``, or a key of ``params`` that is not one of its parameters (a ConfigError
    naming it, with the closest), before anything is built or read."""
    accepted = detector_parameters(name)
    for key in params:
        if key not in accepted:
            raise ConfigError(
                f"Detector {name!r} has no parameter {key!r}.{closest_match(key, accepted)} "
                f"Its parameters: {', '.join(accepted)}."
            )


def make_detector(name: str, **params: object) -> AnomalyDetector | OnlineResidualDetector | OnlineIntervalDetector:
    """The detector called ``name`` (:data:`DETECTORS`): its preset, updated by ``params``.

    A preset's ``<part>_params`` go with its ``<part>``: ``params`` that name another ``<part>`` (another scorer, say)
    without its ``_params`` leave the preset's out.
    """
    check_detector_parameters(name, params)
    cls, preset = DETECTORS[name]
    arguments = {**preset, **params}
    for part in preset:
        replaced = part in params and params[part] != preset[part]
        if replaced and f"{part}_params" in preset and f"{part}_params" not in params:
            del arguments[f"{part}_params"]
    return cls(**arguments)


# Detectors that subclass the ones above live in their own modules and add themselves to
# DETECTORS when imported; importing them last lets either module be imported first.
importlib.import_module("tsseq.anomaly.interval")
importlib.import_module("tsseq.anomaly.auto")
