"""Autoregressive transformers as estimators: the encoder-decoder and the decoder-only (GPT-style) one.

Both forecast by feeding their own forecasts back, step by step (or patch by patch);
they differ in how they are trained:

* ``transformer_seq2seq`` (:class:`TransformerSeq2SeqForecaster`) is trained on the
  usual windows of ``L`` inputs and ``H`` targets with full teacher forcing: the engine
  passes the targets (``pass_targets=True``) and the decoder reads the true previous
  values in one causally masked pass. Validation forecasts autoregressively, as
  :meth:`predict` does, so early stopping sees the exposure bias that teacher forcing
  hides.
* ``decoder_only`` (:class:`DecoderOnlyForecaster`) is trained on next-patch
  prediction over whole windows of ``M`` rows (``M`` = :attr:`DecoderOnlyTransformer.sequence_length`,
  about ``L + H``): every token predicts the patch after it. The engine's
  ``"synchronized"`` windows (targets = inputs shifted by one row) carry them, so
  training and validation losses are next-patch errors, not ``H``-step forecast errors.
"""

from __future__ import annotations

import torch

from tsseq.base import store_arguments
from tsseq.data.windows import make_multi_series_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.engine.losses import config_loss
from tsseq.errors import DataError
from tsseq.estimators.covariates import PackedExogenous, ValuesLoss
from tsseq.estimators.neural import NeuralForecaster
from tsseq.estimators.transformer import AttentionWeightsMixin
from tsseq.nn.decoder_only import DecoderOnlyTransformer, sequence_length
from tsseq.nn.transformer_seq2seq import TransformerSeq2Seq
from tsseq.registry import register

# What both decoders take under the estimators' names (besides d_model and the layer counts, renamed).
_DECODER_ARGUMENTS = ("n_heads", "d_ff", "dropout", "norm_first", "positional", "revin")


class _CovariateBlockByKeyword:
    """``_engine_model`` of both estimators: their modules take no calendar codes, and the covariate block by keyword."""

    def _engine_model(self, module: torch.nn.Module) -> torch.nn.Module:
        # not NeuralForecaster's PackedCodes, which passes codes as the second argument: these modules take none
        return PackedExogenous(module, self.n_channels_) if self._exogenous_width() else module


@register("transformer_seq2seq")
class TransformerSeq2SeqForecaster(_CovariateBlockByKeyword, AttentionWeightsMixin, NeuralForecaster):
    """Encoder-decoder transformer (Vaswani et al. 2017) forecasting ``H`` steps autoregressively.

    The module is :class:`tsseq.nn.transformer_seq2seq.TransformerSeq2Seq`; see it for
    the equations. ``hidden_size`` is the model width ``d_model`` (a multiple of
    ``n_heads``); ``d_ff`` defaults to ``4 * hidden_size``; no dropout unless asked for.
    :meth:`attention_weights` returns, for predict's forecast or given windows (with their
    covariates: the decoder's attention reads the horizon's future ones), the encoder's self-attention
    ``(N, h, L, L)``, the decoder's causal self-attention ``(N, h, H, H)`` and its
    cross-attention ``(N, h, H, L)`` (row ``t``: what the forecast of step ``t`` looked at).

    What it is for: the classic seq2seq transformer as a baseline, and a readable
    example of causal decoding with cross-attention. It is not benchmarked in tsseq;
    published long-horizon results (Zeng et al. 2023; Nie et al. 2023) favour direct
    multi-step models such as ``patchtst``. Each forecast costs ``H`` decoder passes,
    and its own errors are fed back along the rollout.

    The user's covariates (past, future, static): each encoder token adds a projection
    of its step's covariates, each decoder token one of the known future and static
    covariates of the step it forecasts, in teacher forcing, rollout and sampling alike
    (see :class:`~tsseq.nn.transformer_seq2seq.TransformerSeq2Seq`).

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`):
    the decoder is teacher-forced with, and rolls out, values of ``g(y)``.
    """

    supported_covariates = frozenset({"past", "future", "static"})

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        hidden_size: int = 64,
        n_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 1,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        revin: bool = False,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    def _build_module(self) -> TransformerSeq2Seq:
        return TransformerSeq2Seq(
            self.n_channels_,
            self.horizon,
            **self._module_arguments(
                "input_length", *_DECODER_ARGUMENTS, d_model="hidden_size",
                n_encoder_layers="num_encoder_layers", n_decoder_layers="num_decoder_layers",
            ),
            output=self.output_distribution(),
            exogenous=self._exogenous_sizes(),
        )

    def _train(self, config: TrainingConfig, callbacks, module, train, validation):
        windows = self._windows(train, "training")
        validation_windows = None if validation is None else self._windows(validation, "validation")
        loss = ValuesLoss(self.n_channels_, config_loss(config)) if self._exogenous_width() else None
        model = self._engine_model(module)
        return Trainer(config, callbacks).fit(model, windows, validation_windows, loss=loss, pass_targets=True)


@register("decoder_only")
class DecoderOnlyForecaster(_CovariateBlockByKeyword, AttentionWeightsMixin, NeuralForecaster):
    """Decoder-only (GPT-style) transformer: next-patch prediction, rolled out for ``H`` steps.

    The module is :class:`tsseq.nn.decoder_only.DecoderOnlyTransformer`; see it for the
    equations. Tokens are time steps (``patch_length=1``) or non-overlapping patches of
    ``patch_length`` steps; ``channel_independent=True`` makes every channel its own
    sequence with shared weights. ``hidden_size`` is ``d_model``; ``d_ff`` defaults to
    ``4 * hidden_size``; no dropout unless asked for. :meth:`attention_weights` returns
    each layer's causal self-attention over the ``N_c + R - 1`` tokens of the last
    rollout step, ``(N, h, ., .)`` (``(N C, h, ., .)`` channel-independent).

    Training windows span ``M`` rows (``module_.sequence_length``, the input window and
    the horizon rounded to whole patches), so a series needs at least ``M`` rows; the
    loss is the mean next-patch error over every token of the window. Without a
    ``validation`` frame the held-out tail of each series (with ``input_length`` rows of
    context before it) is used when it spans ``M`` rows, otherwise none is; the first
    tokens of its windows then predict rows of that context, which were trained on.

    What it is for: the autoregressive, causal-mask formulation that decoder-only
    foundation models for time series use (e.g. TimesFM, Das et al. 2024), at a size
    that trains on one dataset with the same engine as everything else. It is not
    benchmarked in tsseq; each forecast costs ``ceil(H / patch_length)`` forward
    passes, and its own errors are fed back along the rollout.

    The user's covariates (past, future, static) are added to every token's embedding:
    the past covariates of a context token's rows, the known future covariates of the
    patch a token predicts, the static ones (see
    :class:`~tsseq.nn.decoder_only.DecoderOnlyTransformer`); the tokens after the context
    get no past covariates, in training as in the rollout.

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`):
    the next-patch targets and the rollout are values of ``g(y)``.
    """

    supported_covariates = frozenset({"past", "future", "static"})

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        patch_length: int = 1,
        channel_independent: bool = False,
        hidden_size: int = 64,
        n_heads: int = 4,
        num_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        revin: bool = False,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = True,
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    def _build_module(self) -> DecoderOnlyTransformer:
        return DecoderOnlyTransformer(
            self.n_channels_,
            self.horizon,
            **self._module_arguments(
                "input_length", "patch_length", "channel_independent", *_DECODER_ARGUMENTS,
                d_model="hidden_size", n_layers="num_layers",
            ),
            output=self.output_distribution(),
            exogenous=self._exogenous_sizes(),
        )

    def _split_validation(self, series, validation):
        train, held_out = super()._split_validation(series, validation)
        if validation is None and held_out is not None:
            rows = sequence_length(self.input_length, self.horizon, self.patch_length)
            if min(len(values) for values in held_out) < rows:
                return series, None  # the derived tail is too short for one next-patch window
        return train, held_out

    def _train(self, config: TrainingConfig, callbacks, module: DecoderOnlyTransformer, train, validation):
        rows = module.sequence_length
        windows = self._sequence_windows(train, rows, "training")
        validation_windows = None if validation is None else self._sequence_windows(validation, rows, "validation")
        loss = config_loss(config)
        if self._exogenous_width():
            loss = ValuesLoss(self.n_channels_, loss)  # the targets carry the covariate block too
        loss = _LaterTargets(module.patch_length - 1, loss)
        next_patch = _NextPatch(module, self.n_channels_)
        return Trainer(config, callbacks).fit(next_patch, windows, validation_windows, loss=loss)

    def _sequence_windows(self, series, rows: int, what: str):
        """Windows of ``rows - 1`` inputs, each with the same rows shifted by one as targets."""
        if all(len(values) < rows for values in series):
            raise DataError(
                f"The {what} series are too short for the decoder-only model: with input_length={self.input_length}, "
                f"horizon={self.horizon} and patch_length={self.patch_length} a training sequence spans {rows} rows; "
                f"the longest series has {max(map(len, series))}."
            )
        return make_multi_series_windows(series, rows - 1, kind="synchronized")


class _NextPatch(torch.nn.Module):
    """Synchronized windows ``(B, M - 1, C)`` -> next-patch predictions of rows ``P .. M - 1``, ``(B, M - P, C)``.

    Rows ``0 .. M - P - 1`` are the tokens that predict them; the last ``P - 1`` input
    rows are never a token's input (they are in its target patch).

    Packed rows ``(B, M - 1, C + X)`` carry the user's covariates after the ``C`` values;
    the whole block goes to the model (its leads reach the last predicted patch).
    """

    def __init__(self, model: DecoderOnlyTransformer, n_channels: int) -> None:
        super().__init__()
        self.model, self.n_channels = model, n_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        fed = inputs.shape[1] + 1 - self.model.patch_length  # M - P
        values = inputs[:, :fed, : self.n_channels]
        if inputs.shape[-1] == self.n_channels:
            return self.model.forward_sequence(values)  # (B, M - P, C)
        return self.model.forward_sequence(values, exogenous=inputs[..., self.n_channels :])


class _LaterTargets:
    """A loss of the predictions against the targets after the first ``skip`` steps.

    The synchronized targets are rows ``1 .. M - 1``; the first patch (rows ``0 .. P - 1``)
    is never predicted, so its last ``P - 1`` rows are skipped.
    """

    def __init__(self, skip: int, loss) -> None:
        self.skip, self.loss = skip, loss

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor | None):
        mask = None if target_mask is None else target_mask[:, self.skip :]
        return self.loss(predictions, targets[:, self.skip :], mask)
