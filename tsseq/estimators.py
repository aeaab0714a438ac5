"""Neural forecasters as scikit-learn style estimators over pandas frames.

:class:`NeuralForecaster` does what every neural model needs around its
``torch.nn.Module``: standardise each series and channel with statistics of the
training rows only, cut windows (:mod:`tsseq.data.windows`), train with the shared
engine (:class:`tsseq.engine.Trainer`), forecast from the last window of each series and
undo the scaling. A subclass only declares its constructor arguments and builds its
module in ``_build_module``. The registered names:

* ``rnn``, ``lstm``, ``gru``, ``mut1``, ``mut2``, ``mut3`` and ``segrnn``:
  :class:`RNNForecaster` (a :class:`~tsseq.nn.rnn_forecaster.RecurrentForecaster`) with
  the cell, or SegRNN's configuration, preset;
* ``seq2seq``: :class:`Seq2SeqForecaster`, an encoder-decoder with attention trained
  with teacher forcing and scheduled sampling.

Training settings are one :class:`~tsseq.engine.TrainingConfig` (or the mapping of its
fields, as YAML gives it) in the ``training`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from tsseq.base import Forecaster, check_positive_int
from tsseq.config import from_mapping
from tsseq.data.scaling import Scaler
from tsseq.data.windows import make_multi_series_windows
from tsseq.engine import Callback, Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.nn.rnn_forecaster import RecurrentForecaster
from tsseq.nn.seq2seq import Seq2Seq
from tsseq.registry import register


class NeuralForecaster(Forecaster):
    """Base of the neural estimators: scaling, windows, the engine, forecasting.

    Subclasses store ``input_length``, ``horizon``, ``training``,
    ``validation_fraction`` and ``scale`` (and their own arguments) and implement
    ``_build_module()`` using ``self.n_channels_``.
    """

    def fit(
        self,
        y: pd.DataFrame | pd.Series,
        validation: pd.DataFrame | pd.Series | None = None,
        *,
        callbacks: Sequence[Callback] = (),
    ) -> "NeuralForecaster":
        """Train on ``y``; early stopping and the best epoch use ``validation`` when given.

        Without ``validation``, the last ``validation_fraction`` of each series (after
        ``input_length`` rows of context) is held out for it. ``callbacks`` receive the
        engine's events (tracking, pruning).
        """
        self._callbacks = tuple(callbacks)
        try:
            return super().fit(y, validation)
        finally:
            del self._callbacks

    def training_config(self) -> TrainingConfig:
        """``training`` as a validated :class:`TrainingConfig`."""
        if self.training is None:
            return TrainingConfig()
        if isinstance(self.training, TrainingConfig):
            return self.training
        return from_mapping(TrainingConfig, dict(self.training), where="training")

    # ------------------------------------------------------------------ fitting
    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        config = self.training_config()
        self._check_lengths()
        train, validation = self._split_validation(series, validation)
        self.n_channels_ = train[0].shape[1]
        self.center_, self.scale_ = self._scaling_statistics(train)
        train = [self._scaled(i, values).astype(np.float32) for i, values in enumerate(train)]
        if validation is not None:
            validation = [self._scaled(i, values).astype(np.float32) for i, values in enumerate(validation)]
        if config.seed is not None:
            torch.manual_seed(config.seed)  # the initial weights
        module = self._build_module()
        self.history_ = self._train(config, getattr(self, "_callbacks", ()), module, train, validation)
        self.module_ = module.cpu().eval()
        self.last_inputs_ = np.stack(
            [self._scaled(i, values[len(values) - self.input_length :]) for i, values in enumerate(series)]
        )  # (S, L, C)

    def _train(self, config: TrainingConfig, callbacks, module: torch.nn.Module, train, validation):
        """Train ``module`` on the scaled series (float32 ``(T_i, C)`` arrays); returns the history."""
        windows = self._windows(train, "training")
        validation_windows = None if validation is None else self._windows(validation, "validation")
        return Trainer(config, callbacks).fit(module, windows, validation_windows)

    def _check_lengths(self) -> None:
        check_positive_int(self.input_length, "input_length")
        check_positive_int(self.horizon, "horizon")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"The 'validation_fraction' parameter must be in [0, 1). Got {self.validation_fraction!r} instead.")

    def _split_validation(self, series: list[np.ndarray], validation: list[np.ndarray] | None):
        window = self.input_length + self.horizon
        if validation is not None:
            if len(validation) != len(series):
                raise DataError(f"validation has {len(validation)} series; the training data has {len(series)}.")
            return series, validation
        held_out = [int(round(self.validation_fraction * len(values))) for values in series]
        if self.validation_fraction == 0 or min(held_out) < self.horizon:
            return series, None  # too short to hold anything out: no early-stopping signal
        train = [values[: len(values) - rows] for values, rows in zip(series, held_out)]
        validation = [values[len(values) - rows - self.input_length :] for values, rows in zip(series, held_out)]
        if min(len(values) for values in train) < window:
            return series, None
        return train, validation

    def _scaling_statistics(self, train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per series and channel centre and scale of the training rows, ``(S, C)`` each."""
        if not self.scale:
            return np.zeros((len(train), train[0].shape[1])), np.ones((len(train), train[0].shape[1]))
        scaler = Scaler("standard", per_series=True).fit(train)
        return scaler.center_, scaler.scale_

    def _scaled(self, series_index: int, values: np.ndarray) -> np.ndarray:
        return (values - self.center_[series_index]) / self.scale_[series_index]

    def _windows(self, series: list[np.ndarray], what: str):
        too_short = [len(values) for values in series if len(values) < self.input_length + self.horizon]
        if len(too_short) == len(series):
            raise DataError(
                f"The {what} series are too short for input_length={self.input_length} + horizon={self.horizon}: "
                f"a window needs {self.input_length + self.horizon} rows; the longest has {max(map(len, series))}."
            )
        return make_multi_series_windows(series, self.input_length, self.horizon)

    # ------------------------------------------------------------------ forecasting
    def _forecast_scaled(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        if horizon > self.horizon:
            raise ConfigError(
                f"This model was trained to forecast horizon={self.horizon} steps; it cannot forecast {horizon}. "
                "Refit it with a larger horizon."
            )
        inputs = torch.from_numpy(np.nan_to_num(inputs, nan=0.0).astype(np.float32))  # unobserved inputs are 0, as in training
        predictions = Trainer(self.training_config()).predict(self.module_, inputs)  # (N, H, C)
        return predictions.double().numpy()[:, :horizon]

    def _predict(self, horizon: int) -> list[np.ndarray]:
        forecasts = self._forecast_scaled(self.last_inputs_, horizon)  # (S, H, C)
        return [forecast * self.scale_[i] + self.center_[i] for i, forecast in enumerate(forecasts)]

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        if len(self.center_) != 1:
            raise DataError("predict_windows needs a model fitted on one (wide) series; this one was fitted on many.")
        scaled = (inputs - self.center_[0]) / self.scale_[0]
        return self._forecast_scaled(scaled, horizon) * self.scale_[0] + self.center_[0]

    def save(self, path) -> None:
        """Write the fitted estimator to one file; :func:`tsseq.persistence.load` reads it back."""
        from tsseq import persistence

        persistence.save(self, path)

    def _build_module(self) -> torch.nn.Module:
        raise NotImplementedError


@register("rnn")
@register("lstm", cell="lstm")
@register("gru", cell="gru")
@register("mut1", cell="mut1")
@register("mut2", cell="mut2")
@register("mut3", cell="mut3")
@register(
    "segrnn",
    cell="gru",
    num_layers=1,
    hidden_size=128,
    head="parallel",
    segment_length=24,
    normalization="last",
    channel_independent=True,
)
class RNNForecaster(NeuralForecaster):
    """Recurrent forecaster: Elman RNN, LSTM, GRU or MUT1-3 cells, stacked, dilated, segment-wise.

    The module is :class:`tsseq.nn.rnn_forecaster.RecurrentForecaster`; see it for the
    equations, the heads (``"direct"``, ``"recursive"``, ``"parallel"``) and the
    normalisations. ``stateful=True`` trains by truncated backpropagation through time
    over each whole series (``training.tbptt_steps`` = k1, ``tbptt_backprop_steps`` =
    k2) with the recursive head, instead of on sliding windows.
    """

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        cell: str = "rnn_tanh",
        hidden_size: int = 64,
        num_layers: int = 2,
        head: str = "direct",
        dropout: float = 0.0,
        residual: bool = False,
        bidirectional: bool = False,
        dilations: Sequence[int] | None = None,
        segment_length: int = 1,
        normalization: str = "none",
        channel_independent: bool = False,
        forget_bias: float | None = 1.0,
        stateful: bool = False,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
    ) -> None:
        self.input_length = input_length
        self.horizon = horizon
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.head = head
        self.dropout = dropout
        self.residual = residual
        self.bidirectional = bidirectional
        self.dilations = dilations
        self.segment_length = segment_length
        self.normalization = normalization
        self.channel_independent = channel_independent
        self.forget_bias = forget_bias
        self.stateful = stateful
        self.training = training
        self.validation_fraction = validation_fraction
        self.scale = scale

    def _build_module(self) -> RecurrentForecaster:
        return RecurrentForecaster(
            self.n_channels_,
            self.horizon,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            cell=self.cell,
            head=self.head,
            dropout=self.dropout,
            residual=self.residual,
            bidirectional=self.bidirectional,
            dilations=None if self.dilations is None else tuple(self.dilations),
            segment_length=self.segment_length,
            normalization=self.normalization,
            channel_independent=self.channel_independent,
            forget_bias=self.forget_bias,
        )

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        if not self.stateful:
            return super()._train(config, callbacks, module, train, validation)
        if self.head != "recursive":
            raise ConfigError("stateful=True trains the one-step (recursive) head; set head='recursive'.")
        if len(train) != 1:
            raise DataError(f"stateful=True (truncated BPTT over a whole series) trains on one series; got {len(train)}.")
        held_out = None if validation is None else validation[0]
        return Trainer(config, callbacks).fit_sequence(_Stateful(module), train[0], held_out)


class _Stateful(torch.nn.Module):
    """The engine's stateful calling convention over :meth:`RecurrentForecaster.forward_sequence`."""

    def __init__(self, forecaster: RecurrentForecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, inputs: torch.Tensor, state=None):
        return self.forecaster.forward_sequence(inputs, state)


@register("seq2seq")
class Seq2SeqForecaster(NeuralForecaster):
    """Encoder-decoder (LSTM or GRU) with Bahdanau or Luong attention.

    Trained with teacher forcing and scheduled sampling: the probability of feeding
    the true previous value to the decoder starts at ``teacher_forcing_ratio`` and
    falls linearly to 0 over the epochs; forecasting is always autoregressive. The
    module is :class:`tsseq.nn.seq2seq.Seq2Seq`; ``module_.last_attention`` holds the
    attention weights ``(B, H, L)`` of the last forecast.
    """

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        attention: str = "bahdanau",
        bidirectional: bool = False,
        dropout: float = 0.0,
        teacher_forcing_ratio: float = 0.5,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
    ) -> None:
        self.input_length = input_length
        self.horizon = horizon
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.attention = attention
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.teacher_forcing_ratio = teacher_forcing_ratio
        self.training = training
        self.validation_fraction = validation_fraction
        self.scale = scale

    def _build_module(self) -> Seq2Seq:
        return Seq2Seq(
            self.n_channels_,
            self.horizon,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            cell=self.cell,
            attention=self.attention,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        if not 0 <= self.teacher_forcing_ratio <= 1:
            raise ConfigError(f"The 'teacher_forcing_ratio' parameter must be in [0, 1]. Got {self.teacher_forcing_ratio!r} instead.")
        windows = self._windows(train, "training")
        validation_windows = None if validation is None else self._windows(validation, "validation")
        schedule = _ScheduledSampling(self.teacher_forcing_ratio, config.epochs)
        trainer = Trainer(config, [schedule, *callbacks])
        return trainer.fit(_TeacherForced(module, schedule), windows, validation_windows, pass_targets=True)


class _ScheduledSampling(Callback):
    """Teacher-forcing probability ``ratio * (1 - epoch / epochs)``, set at each epoch's start."""

    def __init__(self, ratio: float, epochs: int) -> None:
        self.ratio, self.epochs, self.current = ratio, epochs, ratio

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        self.current = self.ratio * (1 - epoch / self.epochs)


class _TeacherForced(torch.nn.Module):
    """Feeds the targets to the decoder while training, with the scheduled probability."""

    def __init__(self, seq2seq: Seq2Seq, schedule: _ScheduledSampling) -> None:
        super().__init__()
        self.seq2seq, self.schedule = seq2seq, schedule

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None or not self.training or self.schedule.current == 0:
            return self.seq2seq(inputs)
        return self.seq2seq(inputs, targets, teacher_forcing_ratio=self.schedule.current)

