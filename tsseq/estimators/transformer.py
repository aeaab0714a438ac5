"""Transformer forecasters as estimators: a point-token encoder and PatchTST, with masked pretraining.

* ``transformer``: :class:`TransformerForecaster`, one token per time step
  (:class:`tsseq.nn.encoder_forecaster.EncoderForecaster`), with optional covariates;
* ``patchtst``: :class:`PatchTSTForecaster`, patches of each channel as tokens
  (:class:`tsseq.nn.patchtst.PatchTST`), with past and static covariates added to every
  token, the official ETTh1 architecture as defaults, and :meth:`PatchTSTForecaster.pretrain` (masked-patch pretraining,
  :mod:`tsseq.nn.masked_pretraining`) before :meth:`~PatchTSTForecaster.fit` or
  :meth:`~tsseq.estimators.neural.NeuralForecaster.fine_tune`.

``hidden_size`` is the model width ``d_model`` (the name every neural estimator shares);
``n_heads`` must divide it. Both estimators return the attention weights of a forecast
(:meth:`predict`'s, or given windows', with the same covariates) with
:meth:`attention_weights` (for :func:`tsseq.plotting.plot_attention`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from tsseq.base import check_positive_int, split_frame, store_arguments
from tsseq.engine import Callback, Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.data import target_transforms
from tsseq.data.covariates import KINDS, WindowCovariates
from tsseq.estimators.covariates import cardinalities
from tsseq.estimators.neural import Frame, NeuralForecaster
from tsseq.estimators.transfer import frozen
from tsseq.data.windows import make_multi_series_windows
from tsseq.nn.encoder_forecaster import EncoderForecaster
from tsseq.nn.masked_pretraining import MaskedPatchModel, check_mask_ratio, masked_patch_loss
from tsseq.nn.patchtst import PatchTST
from tsseq.nn.transformer import attention_weights, record_attention
from tsseq.parameters import check_is_fitted
from tsseq.registry import register

# What both encoders take under the estimators' names (besides d_model and n_layers, renamed).
_ENCODER_ARGUMENTS = (
    "n_heads", "d_ff", "dropout", "attention_dropout", "head_dropout", "norm", "norm_first", "activation", "positional"
)


class AttentionWeightsMixin:
    """``attention_weights`` of the transformer estimators: run a forecast through the module while recording."""

    def attention_weights(
        self,
        inputs: np.ndarray | None = None,
        *,
        window_starts: object = None,
        series: object = None,
        covariates: WindowCovariates | None = None,
        horizon: int | None = None,
        future_covariates: pd.DataFrame | None = None,
    ) -> dict[str, np.ndarray]:
        """Attention weights of the fitted model, recorded in the very forward pass that forecasts.

        Two forms, one per way the model forecasts, with that method's covariate arguments:

        * ``attention_weights(horizon=h, future_covariates=...)`` (no ``inputs``): of
          ``predict(h, future_covariates=...)``, the last window of each fitted series with
          the past and static covariates of the fit and the horizon's future covariates
          (required when fitted with future covariates, as for :meth:`predict`); the first
          axis is the series'.
        * ``attention_weights(inputs, covariates=..., window_starts=..., series=...)``: of
          ``predict_windows(inputs, h, ...)`` on ``N`` windows ``(N, L, C)``; a model fitted
          with covariates needs each window's ``covariates``
          (:func:`tsseq.data.covariates.window_covariates`), as :meth:`predict_windows` does.

        ``horizon``: the forecast's steps (default the fitted ``horizon``); it matters where
        the horizon's future covariates enter attention (padded past ``h`` as
        :meth:`predict` pads them). A DataError names the covariate kind that is missing.

        Returns ``{attention module name: (N, h, Tq, Tk)}`` (tokens are time steps for
        ``transformer``, patches of one channel for ``patchtst``, whose first axis is then
        ``N·C``, window-major); each row is a softmax over the keys.
        """
        check_is_fitted(self, "module_")
        horizon = self.horizon if horizon is None else check_positive_int(horizon, "horizon")
        spec = getattr(self, "covariate_spec_", None)
        chunk = self.training_config().evaluation_batch_size  # one engine batch per pass: every weight is kept
        if inputs is None:
            given = [name for name, value in (("window_starts", window_starts), ("series", series),
                                              ("covariates", covariates)) if value is not None]
            if given:
                raise ConfigError(
                    f"attention_weights got {given[0]}=, which describes given windows, but no inputs: pass the "
                    "windows as inputs, or leave it out for the attention of predict's forecast."
                )
            future = self._future_arguments(future_covariates, horizon, what="attention_weights")
            last = self._last_inputs(horizon, future.get("future_covariates"))  # what _predict forecasts from
            return self._recorded_attention(len(last), chunk, lambda rows: self._forecast_scaled(last[rows], horizon))
        if future_covariates is not None:
            raise ConfigError(
                "attention_weights got future_covariates (a frame, as predict takes) with inputs: give the windows' "
                "covariates as covariates=window_covariates(...), as predict_windows takes them."
            )
        if spec is not None and covariates is None:
            kinds = " and ".join(spec.kinds)
            call = "attention_weights(future_covariates=...)" if spec.future else "attention_weights()"
            raise DataError(
                f"This model was fitted with {kinds} covariates: attention_weights(inputs, ...) needs covariates=, "
                f"the windows' {kinds} covariates (tsseq.data.covariates.window_covariates), as predict_windows does; "
                f"or call {call} without inputs for the attention of predict's forecast."
            )
        inputs = np.asarray(inputs, dtype=np.float64)
        starts = None if window_starts is None else list(window_starts)
        ids = None if series is None else list(np.asarray(series, dtype=object).reshape(-1))

        def forecast(rows: slice) -> None:
            self.predict_windows(
                inputs[rows], horizon,
                window_starts=None if starts is None else starts[rows],
                series=None if ids is None else ids[rows],
                covariates=None if covariates is None else covariates.take(rows),
            )

        return self._recorded_attention(len(inputs), chunk, forecast)

    def _recorded_attention(self, n: int, chunk: int, forecast) -> dict[str, np.ndarray]:
        """Run ``forecast(rows)`` on slices of at most ``chunk`` of ``n`` windows, collecting each pass's weights."""
        collected: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, chunk):
            with record_attention(self.module_):
                forecast(slice(start, start + chunk))
                for name, weights in attention_weights(self.module_).items():
                    collected.setdefault(name, []).append(weights.float().cpu().numpy())
        return {name: np.concatenate(parts) for name, parts in collected.items()}


@register("transformer")
class TransformerForecaster(AttentionWeightsMixin, NeuralForecaster):
    """Encoder-only transformer with one token per time step and a direct multi-step head.

    The module is :class:`tsseq.nn.encoder_forecaster.EncoderForecaster`; see it for the
    equations. ``covariates`` adds calendar features or the series id to every token,
    as for :class:`~tsseq.estimators.rnn.RNNForecaster` (then :meth:`predict_windows`
    needs ``window_starts``). The user's covariates (past, future, static) add a linear
    projection of each step's covariates to its token, and the horizon's future and
    static covariates enter the head through a flattened projection.

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`);
    :meth:`attention_weights` of given windows transforms them as :meth:`predict_windows` does.

    Parameters
    ----------
    input_length, horizon : int
    hidden_size : int
        ``d_model``.
    n_heads, d_ff, num_layers : int
    dropout, attention_dropout, head_dropout : float
    norm : {"layer", "batch"}
    norm_first : bool
        pre-LN (True) or post-LN (False).
    activation : {"gelu", "relu"}
    positional : {"sinusoidal", "learned"}
    revin : bool
    covariates : sequence of str
    covariate_dim : int
    training, validation_fraction, scale, target_transform
        As for every :class:`~tsseq.estimators.neural.NeuralForecaster`.
    """

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        hidden_size: int = 64,
        n_heads: int = 4,
        d_ff: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        head_dropout: float = 0.0,
        norm: str = "layer",
        norm_first: bool = True,
        activation: str = "gelu",
        positional: str = "sinusoidal",
        revin: bool = True,
        covariates: Sequence[str] = (),
        covariate_dim: int = 4,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    supported_covariates = frozenset({"past", "future", "static"})

    def _build_module(self) -> EncoderForecaster:
        return EncoderForecaster(
            self.n_channels_,
            self.input_length,
            self.horizon,
            **self._module_arguments(
                *_ENCODER_ARGUMENTS, "revin", "covariate_dim", d_model="hidden_size", n_layers="num_layers"
            ),
            covariates=cardinalities(self._covariate_names(), self.n_series_) or None,
            exogenous=self._exogenous_sizes(),
            output=self.output_distribution(),
        )


@register("patchtst")
class PatchTSTForecaster(AttentionWeightsMixin, NeuralForecaster):
    """PatchTST: channel-independent patches as tokens, RevIN, a flatten head; masked pretraining.

    The module is :class:`tsseq.nn.patchtst.PatchTST`; the defaults are the official
    supervised architecture on ETTh1 (PatchTST/42: ``patch_length=16``, ``stride=8``,
    ``hidden_size=16``, ``n_heads=4``, ``d_ff=128``, ``num_layers=3``, ``dropout=0.3``,
    BatchNorm, post-LN, residual attention, RevIN without affine weights). Its training
    recipe goes in ``training`` (``batch_size=128``, ``learning_rate=1e-4``, 100 epochs
    with the best validation epoch restored; see ``pipelines/benchmarks/etth1_*_patchtst.yaml``).

    Pretraining and fine-tuning::

        model = PatchTSTForecaster(input_length=336, horizon=96, patch_length=16, stride=16)
        model.pretrain(unlabelled, mask_ratio=0.4)   # encoder learns to fill hidden patches
        model.fit(train)                             # everything trains, from the pretrained encoder
        # or, linear probing: only the head trains
        model.fine_tune(train, freeze=["revin", "backbone"])   # "revin" only with revin_affine

    Freezing stops the weights; BatchNorm's running statistics (``norm="batch"``) still
    follow the fine-tuning data. :meth:`fit` after :meth:`pretrain` starts from the pretrained backbone (a new head:
    the horizon may differ from the pretraining one); :meth:`fine_tune` continues the
    pretrained module as it is. Until one of them has run, the model cannot forecast.
    :meth:`reconstruct_windows` maps windows to their reconstruction (anomaly scoring).

    Covariates (``supported_covariates``): past and static, through the shared packed block
    (:mod:`tsseq.estimators.covariates`). Each target token gets a linear map of the past
    covariates' patch at its steps and of the static covariates added (``W_x``, ``W_c``,
    :mod:`tsseq.nn.patchtst`), the same for every target channel: the targets stay
    channel independent, the covariates are inputs only (not forecast, not in the loss, not
    normalised by RevIN with a target's statistics) and none after the forecast origin is
    read. Future covariates are refused: the tokens are patches of the input window, and
    the horizon's known values have no token (the reason is in :mod:`tsseq.nn.patchtst`).
    :meth:`pretrain` and :meth:`reconstruct_windows` read the values only and refuse
    covariates; :meth:`fit` with covariates after :meth:`pretrain` starts from the
    pretrained backbone, its covariate maps from zero; :meth:`fine_tune` takes the kinds
    of the fit, as every neural estimator's.

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`).
    RevIN then normalises each window of ``g(y)``. :meth:`pretrain` reconstructs hidden
    patches of ``g(y)`` too, and :meth:`reconstruct_windows` transforms the windows, rebuilds
    them on that scale and maps the reconstruction back to the data's.

    Parameters
    ----------
    input_length, horizon : int
    patch_length, stride : int
        ``P`` and ``S``; ``patch_length <= input_length``.
    pad_end : bool
    hidden_size : int
        ``d_model``.
    n_heads, d_ff, num_layers : int
    dropout, attention_dropout, head_dropout : float
    norm : {"batch", "layer"}
    norm_first : bool
    activation : {"gelu", "relu"}
    positional : {"learned", "sinusoidal"}
    residual_attention : bool
    revin, revin_affine : bool
    covariate_dim : int
        Size of each static categorical covariate's embedding.
    training, validation_fraction, scale, target_transform
        As for every :class:`~tsseq.estimators.neural.NeuralForecaster`.

    Attributes
    ----------
    pretraining_history_ : TrainingHistory
        Of :meth:`pretrain` (its loss is the masked-patch MSE).
    forecast_trained_ : bool
        False after :meth:`pretrain` alone (the forecasting head is untrained).
    """

    supported_covariates = frozenset({"past", "static"})

    def _covariates_note(self) -> str:
        return (
            "PatchTST's tokens are patches of the input window, which ends at the forecast origin: the horizon's "
            "known future values have no token to enter, and only a linear map beside the encoder could read them. "
            "Use 'transformer', 'segrnn', 'seq2seq' or 'transformer_seq2seq' with future covariates."
        )

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        patch_length: int = 16,
        stride: int = 8,
        pad_end: bool = True,
        hidden_size: int = 16,
        n_heads: int = 4,
        d_ff: int = 128,
        num_layers: int = 3,
        dropout: float = 0.3,
        attention_dropout: float = 0.0,
        head_dropout: float = 0.0,
        norm: str = "batch",
        norm_first: bool = False,
        activation: str = "gelu",
        positional: str = "learned",
        residual_attention: bool = True,
        revin: bool = True,
        revin_affine: bool = False,
        covariate_dim: int = 4,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    # ------------------------------------------------------------------ pretraining
    def pretrain(
        self,
        y: Frame,
        *,
        validation: Frame | None = None,
        mask_ratio: float = 0.4,
        training: TrainingConfig | Mapping | None = None,
        callbacks: Sequence[Callback] = (),
        past_covariates: object = None,
        future_covariates: object = None,
        static_covariates: object = None,
    ) -> "PatchTSTForecaster":
        """Train the backbone to reconstruct randomly hidden patches of the windows of ``y``.

        Parameters
        ----------
        y, validation : DataFrame or Series
            As in :meth:`fit`; windows of ``input_length`` rows (each needs one more row
            after it, as the engine's windows have a target). With ``target_transform``
            the windows are of ``g(y)``, as :meth:`fit` trains on them.
        mask_ratio : float
            Fraction of each channel's patches hidden, in (0, 1).
        training : TrainingConfig or mapping, optional
            This run's settings over ``training`` (as in :meth:`fine_tune`).
        callbacks : sequence of Callback
        past_covariates, future_covariates, static_covariates
            Refused (a ConfigError): pretraining reads the values only. Give covariates
            to :meth:`fit` after it.

        Returns
        -------
        self
            With ``module_`` (pretrained backbone and reconstruction head, untrained
            forecasting head), ``pretraining_history_`` and ``forecast_trained_ = False``.
        """
        given = [kind for kind, frame in zip(KINDS, (past_covariates, future_covariates, static_covariates))
                 if frame is not None]
        if given:
            raise ConfigError(
                f"pretrain does not take {given[0]} covariates: masked-patch pretraining rebuilds each channel's hidden "
                "patches from its visible ones and reads the values only. Pass past or static covariates to fit() "
                "after pretrain(): it starts from the pretrained backbone, with the covariate maps from zero."
            )
        mask_ratio = check_mask_ratio(mask_ratio)
        self._check_parameters()
        series, layout = split_frame(y)
        self.n_channels_, self.n_series_ = layout.n_channels, len(series)
        self.series_ids_ = None if layout.series_ids is None else list(layout.series_ids)
        config = self._run_config(training)
        if config.seed is not None:
            torch.manual_seed(config.seed)
        self._pretrained_state = None  # a second pretraining starts afresh
        self._mask_ratio = mask_ratio
        try:
            self.covariate_spec_ = None  # pretraining reads the values only
            held_out = None if validation is None else split_frame(validation)
            self._run(self._build_module(), config, callbacks, series, layout, held_out)
        finally:
            del self._mask_ratio
        self.pretraining_history_ = self.history_
        self.forecast_trained_ = False
        self._pretrained_state = {name: tensor.clone() for name, tensor in self.module_.state_dict().items()}
        return self

    def reconstruct_windows(self, inputs: np.ndarray) -> np.ndarray:
        """The model's reconstruction ``(N, L, C)`` of ``N`` windows ``(N, L, C)``, nothing hidden.

        On the data's scale (the fitted standardisation is applied and undone); for a
        model fitted on one (wide) series. After :meth:`pretrain` this is the trained
        reconstruction; the difference to ``inputs`` scores anomalies. With
        ``target_transform`` the model rebuilds ``g(inputs)`` (a DataError names a value
        outside its domain) and the reconstruction is ``g^-1`` of that: its difference to
        ``inputs`` is on the data's scale (``g`` of both compares them relatively).
        """
        check_is_fitted(self, "module_")
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 3 or inputs.shape[1:] != (self.input_length, self.n_channels_):
            raise DataError(
                f"reconstruct_windows expects inputs of shape (N, {self.input_length}, {self.n_channels_}). "
                f"Got {inputs.shape}."
            )
        if len(self.center_) != 1:
            raise DataError("reconstruct_windows needs a model fitted on one (wide) series; this one was fitted on many.")
        if getattr(self, "covariate_spec_", None) is not None:
            raise ConfigError(
                f"reconstruct_windows reads the values only; this model was fitted with {' and '.join(self.covariate_spec_.kinds)} "
                "covariates, which its encoder's tokens carry. Reconstruct with a model pretrained or fitted without them."
            )
        inputs = target_transforms.forward(self._fitted_transform, inputs, "the input windows")
        scaled = np.nan_to_num((inputs - self.center_[0]) / self.scale_[0], nan=0.0).astype(np.float32)
        reconstruction = Trainer(self.training_config()).predict(_Reconstruction(self.module_), torch.from_numpy(scaled))
        return self._untransformed(reconstruction.double().numpy() * self.scale_[0] + self.center_[0])

    # ------------------------------------------------------------------ internals
    def _run(self, *args, **kwargs) -> None:
        """Train as every neural estimator does; after :meth:`fit` or :meth:`fine_tune` the head forecasts."""
        super()._run(*args, **kwargs)
        self.forecast_trained_ = True  # pretrain() sets it back to False: its forecasting head is untrained

    def _build_module(self) -> PatchTST:
        module = PatchTST(
            self.n_channels_,
            self.input_length,
            self.horizon,
            **self._module_arguments(
                "patch_length", "stride", "pad_end", *_ENCODER_ARGUMENTS, "residual_attention", "revin", "revin_affine",
                "covariate_dim", d_model="hidden_size", n_layers="num_layers",
            ),
            output=self.output_distribution(),
            exogenous=self._exogenous_sizes(),
        )
        pretrained = getattr(self, "_pretrained_state", None)
        if pretrained is not None:
            self._load_pretrained(module, pretrained)
        return module

    @staticmethod
    def _load_pretrained(module: PatchTST, pretrained: dict[str, torch.Tensor]) -> None:
        """Everything but the forecasting head (whose size depends on the horizon) from pretraining."""
        state = {name: tensor for name, tensor in pretrained.items() if not name.startswith("head.")}
        own = module.state_dict()
        mismatched = [name for name, tensor in state.items() if name not in own or own[name].shape != tensor.shape]
        if mismatched:
            raise ConfigError(
                f"The pretrained weights do not fit this model ({mismatched[0]}: pretrained "
                f"{tuple(state[mismatched[0]].shape)}, now {tuple(own[mismatched[0]].shape) if mismatched[0] in own else 'absent'}). "
                "Keep input_length, patch_length, stride and the architecture of pretrain(), and the channels "
                "when revin_affine=True."
            )
        module.load_state_dict(state, strict=False)

    def _train(self, config, callbacks, module, train, validation):
        mask_ratio = getattr(self, "_mask_ratio", None)
        if mask_ratio is None:
            # the reconstruction head takes no part in forecasting: frozen, no optimizer state (nor DDP bucket)
            with frozen(module, ["reconstruction_head"]):
                return super()._train(config, callbacks, module, train, validation)
        windows = self._reconstruction_windows(train, "training")
        validation_windows = None if validation is None else self._reconstruction_windows(validation, "validation")
        with frozen(module, ["head"]):
            return Trainer(config, callbacks).fit(
                MaskedPatchModel(module, mask_ratio), windows, validation_windows, loss=masked_patch_loss
            )

    def _reconstruction_windows(self, series: list[np.ndarray], what: str):
        # The engine's windows have a target; pretraining ignores it, so one step after the window is enough.
        if all(len(values) < self.input_length + 1 for values in series):
            raise DataError(
                f"The {what} series are too short for pretraining windows of input_length={self.input_length}: "
                f"each needs {self.input_length + 1} rows; the longest has {max(map(len, series))}."
            )
        return make_multi_series_windows(series, self.input_length, 1)

    def _forecast_scaled(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        if not getattr(self, "forecast_trained_", True):
            raise ConfigError(
                "This PatchTST model was only pretrained: its forecasting head is untrained. Call fit() (from the "
                "pretrained backbone) or fine_tune() before forecasting."
            )
        return super()._forecast_scaled(inputs, horizon)


class _Reconstruction(torch.nn.Module):
    """The engine's calling convention over :meth:`PatchTST.reconstruct`: ``(B, L, C) -> (B, L, C)``."""

    def __init__(self, model: PatchTST) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.reconstruct(x)
