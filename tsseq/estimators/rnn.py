"""The recurrent family as estimators: RNN, LSTM, GRU, MUT1-3 and SegRNN, with covariates."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.estimators.covariates import cardinalities
from tsseq.estimators.neural import NeuralForecaster
from tsseq.nn.rnn_forecaster import RecurrentForecaster
from tsseq.registry import register


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
    k2; ``batch_size`` parallel streams) with the recursive head, instead of on
    sliding windows: every time step is run once per epoch.

    ``covariates`` adds categorical covariates to every input step, each through a
    learned embedding of ``covariate_dim`` values: calendar features of the timestamps
    (``"hour"``, ``"day_of_week"``, ``"day_of_month"``, ``"month"``) and ``"series"``
    (the series' position in the fitted frame: a global model over many series learns
    one vector per series). They describe the input window, so they need the
    ``"direct"`` or ``"parallel"`` head; with segments, each segment gets the codes of
    its first step. :meth:`predict_windows` then needs ``window_starts``.
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
        covariates: Sequence[str] = (),
        covariate_dim: int = 4,
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
        self.covariates = covariates
        self.covariate_dim = covariate_dim
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
            covariates=cardinalities(self._covariate_names(), self.n_series_) or None,
            covariate_dim=self.covariate_dim,
            output=self.output_distribution(),
        )

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        if not self.stateful:
            return super()._train(config, callbacks, module, train, validation)
        if self.head != "recursive":
            raise ConfigError("stateful=True trains the one-step (recursive) head; set head='recursive'.")
        if len(train) != 1:
            raise DataError(f"stateful=True (truncated BPTT over a whole series) trains on one series; got {len(train)}.")
        held_out = None if validation is None else validation[0]
        # The batch of stateful training is its parallel streams (tsseq.engine.tbptt).
        return Trainer(config, callbacks).fit_sequence(_Stateful(module), train[0], held_out, streams=config.batch_size)


class _Stateful(torch.nn.Module):
    """The engine's stateful calling convention over :meth:`RecurrentForecaster.forward_sequence`."""

    def __init__(self, forecaster: RecurrentForecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, inputs: torch.Tensor, state=None):
        return self.forecaster.forward_sequence(inputs, state)
