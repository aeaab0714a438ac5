"""The recurrent family as estimators: RNN, LSTM, GRU, MUT1-3 and SegRNN, with covariates."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tsseq.base import store_arguments
from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.estimators.covariates import cardinalities
from tsseq.estimators.neural import NeuralForecaster
from tsseq.nn.rnn_forecaster import RecurrentForecaster
from tsseq.registry import register


_CELL = "in the recurrent forecaster (see rnn)"


@register("rnn", "Recurrent forecaster: Elman RNN (tanh) cells by default; every cell and option of the family.")
@register("lstm", f"LSTM cells (Hochreiter and Schmidhuber 1997) {_CELL}.", cell="lstm")
@register("gru", f"GRU cells (Cho et al. 2014) {_CELL}.", cell="gru")
@register("mut1", f"MUT1 cells, a gated unit found by search (Jozefowicz et al. 2015), {_CELL}.", cell="mut1")
@register("mut2", f"MUT2 cells, a gated unit found by search (Jozefowicz et al. 2015), {_CELL}.", cell="mut2")
@register("mut3", f"MUT3 cells, a gated unit found by search (Jozefowicz et al. 2015), {_CELL}.", cell="mut3")
@register(
    "segrnn",
    "SegRNN (Lin et al. 2023): a GRU over segments of the window, each channel alone, all output segments at once.",
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

    The user's covariates (``fit(y, past_covariates=..., future_covariates=...,
    static_covariates=...)``, :mod:`tsseq.data.covariates`) enter every input step
    (past, future and static, standardised; static categories embedded in
    ``covariate_dim`` values) and the head (the horizon's future and static covariates:
    a flattened projection added to the direct head's output, or to each output
    segment's query of the parallel head); see :class:`RecurrentForecaster`. The
    recursive head takes future and static covariates, fed at every rollout step, and
    refuses past ones (unobserved over the horizon it rolls through); ``stateful=True``
    refuses all of them (:attr:`supported_covariates` says which kinds this
    configuration takes).

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`).
    """

    @property
    def supported_covariates(self) -> frozenset[str]:
        """The covariate kinds this configuration takes: all; future and static with the recursive head; none when stateful."""
        if self.stateful:
            return frozenset()
        if self.head == "recursive":
            return frozenset({"future", "static"})
        return frozenset({"past", "future", "static"})

    def _covariates_note(self) -> str:
        if self.stateful:
            return "stateful=True trains on the values alone (truncated BPTT over a whole series)."
        return (
            "The recursive head feeds its forecasts back over the horizon, where past covariates are not observed; "
            "use head='direct' or 'parallel' with past covariates."
        )

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
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    def _build_module(self) -> RecurrentForecaster:
        return RecurrentForecaster(
            self.n_channels_,
            self.horizon,
            **self._module_arguments(
                "hidden_size", "num_layers", "cell", "head", "dropout", "residual", "bidirectional", "segment_length",
                "normalization", "channel_independent", "forget_bias", "covariate_dim",
            ),
            dilations=None if self.dilations is None else tuple(self.dilations),
            covariates=cardinalities(self._covariate_names(), self.n_series_) or None,
            exogenous=self._exogenous_sizes(),
            output=self.output_distribution(),
        )

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        if not self.stateful:
            return super()._train(config, callbacks, module, train, validation)
        if self._exogenous_width():
            raise ConfigError("stateful=True trains on the values alone; it takes no past, future or static covariates.")
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
