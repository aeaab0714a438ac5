"""The encoder-decoder with attention as an estimator, trained with scheduled sampling."""

from __future__ import annotations

import torch

from tsseq.base import store_arguments
from tsseq.engine import Callback, Trainer, TrainingConfig
from tsseq.errors import ConfigError
from tsseq.engine.losses import config_loss
from tsseq.estimators.covariates import ValuesLoss
from tsseq.estimators.neural import NeuralForecaster
from tsseq.nn.seq2seq import Seq2Seq, Seq2SeqWithCovariates
from tsseq.registry import register


@register("seq2seq")
class Seq2SeqForecaster(NeuralForecaster):
    """Encoder-decoder (LSTM or GRU) with Bahdanau or Luong attention.

    Trained with teacher forcing and scheduled sampling: the probability of feeding
    the true previous value to the decoder starts at ``teacher_forcing_ratio`` and
    falls linearly to 0 over the epochs; forecasting is always autoregressive. The
    module is :class:`tsseq.nn.seq2seq.Seq2Seq`; ``module_.last_attention`` holds the
    attention weights ``(B, H, L)`` of the last forecast.

    The user's covariates (past, future, static) enter the encoder at every input step,
    and the horizon's future and static covariates enter the decoder at every step
    (:class:`tsseq.nn.seq2seq.Seq2SeqWithCovariates`); calendar codes are not taken.

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back (:mod:`tsseq.data.target_transforms`).
    """

    supported_covariates = frozenset({"past", "future", "static"})

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
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    def _build_module(self) -> Seq2Seq | Seq2SeqWithCovariates:
        arguments = self._module_arguments("hidden_size", "num_layers", "cell", "attention", "bidirectional", "dropout")
        sizes = self._exogenous_sizes()
        if sizes is not None:
            return Seq2SeqWithCovariates(self.n_channels_, self.horizon, sizes, **arguments, output=self.output_distribution())
        return Seq2Seq(self.n_channels_, self.horizon, **arguments, output=self.output_distribution())

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        if not 0 <= self.teacher_forcing_ratio <= 1:
            raise ConfigError(f"The 'teacher_forcing_ratio' parameter must be in [0, 1]. Got {self.teacher_forcing_ratio!r} instead.")
        windows = self._windows(train, "training")
        validation_windows = None if validation is None else self._windows(validation, "validation")
        schedule = _ScheduledSampling(self.teacher_forcing_ratio, config.epochs)
        trainer = Trainer(config, [schedule, *callbacks])
        forced = _TeacherForced(module, schedule, self.n_channels_, self._exogenous_width())
        loss = ValuesLoss(self.n_channels_, config_loss(config)) if self._exogenous_width() else None
        return trainer.fit(forced, windows, validation_windows, loss=loss, pass_targets=True)


class _ScheduledSampling(Callback):
    """Teacher-forcing probability ``ratio * (1 - epoch / epochs)``, set at each epoch's start."""

    def __init__(self, ratio: float, epochs: int) -> None:
        self.ratio, self.epochs, self.current = ratio, epochs, ratio

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        self.current = self.ratio * (1 - epoch / self.epochs)


class _TeacherForced(torch.nn.Module):
    """Feeds the targets to the decoder while training, with the scheduled probability."""

    def __init__(self, seq2seq: Seq2Seq, schedule: _ScheduledSampling, n_channels: int, n_exogenous: int = 0) -> None:
        super().__init__()
        self.seq2seq, self.schedule = seq2seq, schedule
        self.n_channels, self.n_exogenous = n_channels, n_exogenous

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        forced = targets is not None and self.training and self.schedule.current > 0
        ratio = self.schedule.current if forced else 0.0
        if not self.n_exogenous:
            return self.seq2seq(inputs, targets, teacher_forcing_ratio=ratio) if forced else self.seq2seq(inputs)
        # Packed rows (B, ·, C + X): values, then the covariate block; the targets' values only.
        values, block = inputs[..., : self.n_channels], inputs[..., self.n_channels :]
        return self.seq2seq(values, None, block, targets[..., : self.n_channels] if forced else None, ratio)

