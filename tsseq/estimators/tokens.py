"""The quantized (token) forecaster: values as tokens, a next-token language model, decoded.

* ``token_transformer``: :class:`TokenForecaster`, a decoder-only transformer over tokens;
* ``token_gru``: the same with a GRU backbone (``backbone="gru"``).

The module is :class:`tsseq.nn.tokens.TokenLanguageModel` (Chronos-style mean scaling
and uniform bins; see it for the equations); the decoders are :mod:`tsseq.nn.decoding`.
Forecasts are paths of tokens mapped back to bin centres times each window's scale
(then through ``g^-1`` with a ``target_transform``, :mod:`tsseq.data.target_transforms`):

* ``sample(h, n)``: ``n`` paths per series and channel by ancestral sampling
  (``temperature``, ``top_k``), seeded;
* ``predict(h)``: the point forecast ``point``: the per-step median of ``num_samples``
  sampled paths (default; drawn with seed 0, so ``predict`` is deterministic), the
  greedy path, or the best path of a beam search of width ``beam_width``;
* ``predict(h, quantiles=...)``, ``predict_interval``: empirical quantiles of
  ``num_samples`` paths drawn with seed 0 (the median column equals the ``"median"`` point);
* :meth:`TokenForecaster.beam_search`: the ``k`` most probable paths and their
  log-probabilities.

Channels are independent sequences through shared weights: the paths of two channels
are drawn (and ranked) separately.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tsseq.base import check_positive_int, store_arguments
from tsseq.data import target_transforms
from tsseq.data.windows import make_multi_series_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.engine.device import resolve_device
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.estimators.neural import NeuralForecaster
from tsseq.nn import decoding
from tsseq.nn.tokens import CachedStep, TokenLanguageModel, ValueTokenizer, next_token_loss
from tsseq.parameters import check_is_fitted
from tsseq.quantiles import sample_quantiles
from tsseq.registry import register

POINTS = ("median", "greedy", "beam")
POINT_LOSSES = ("mse", "mae")  # accepted (and unused): the model always trains by cross-entropy
MAX_HYPOTHESES = 2048  # rows decoded at once (sequences x paths): bounds the key/value cache's memory


@register("token_transformer")
@register("token_gru", "The Chronos-style token forecaster with a GRU as its next-token model.", backbone="gru")
class TokenForecaster(NeuralForecaster):
    """Chronos-style token forecaster: mean-scaled values quantized into bins, a next-token model, decoding.

    Training fits the next token at every position of windows of ``input_length +
    horizon`` rows (cross-entropy, teacher forcing; ``training.loss`` is not used and
    must stay a point loss). A forecast reads the last ``input_length`` rows (a shorter
    series is padded with unobserved tokens) and decodes ``h <= horizon`` tokens.

    ``scale`` defaults to False, unlike the other neural estimators: the module already
    divides every window by its context's mean absolute value, and standardising first
    would centre each series at 0, where that mean absolute value becomes the (small)
    spread of the window around the series mean and the bins resolve the level poorly.
    With ``scale=True`` the windows of standardised values are mean-scaled in turn.
    Mean scaling suits series whose level is large against their variation only
    up to the bin width: a series at 1000 +- 1 is one or two bins (as in Chronos).

    ``target_transform`` (None, ``"log"``, ``"log1p"``): train on ``log y`` (or
    ``log(1 + y)``) and map the forecasts back, as every neural estimator does
    (:class:`tsseq.estimators.neural.NeuralForecaster`, :mod:`tsseq.data.target_transforms`):
    the windows of ``g(y)`` are mean-scaled and tokenized, and every path is decoded on
    that scale, so points, quantiles (of the paths of ``g(y)``, then mapped: the median
    column still equals the ``"median"`` point), sample paths, beam-search paths and
    windows' forecasts are ``g^-1`` of it; the beams' log-probabilities are unchanged.
    Mean scaling then divides each window of ``g(y)`` by its mean absolute value: a log
    level far from 0 with small variations is resolved coarsely, as a large level is.

    Parameters
    ----------
    input_length, horizon : int
        ``L`` context rows; ``H``, the longest forecast.
    n_bins : int
        ``V``, the vocabulary of bins (odd: a bin centred on 0). Chronos uses 4094.
    limit : float
        Outermost bin centres, in context mean absolute values; beyond, the edge bins.
    backbone : {"transformer", "gru"}
    hidden_size : int
        ``d_model``.
    n_heads, num_layers : int
    d_ff : int, optional
        Default ``4 * hidden_size``.
    dropout : float
    norm_first : bool
    positional : {"sinusoidal", "learned"}
    point : {"median", "greedy", "beam"}
        What :meth:`predict` returns.
    num_samples : int
        Paths behind the median point and the quantiles.
    temperature : float
        Of sampling (``>= 0``; 0 is greedy).
    top_k : int, optional
        Sample among the ``top_k`` most probable bins only.
    beam_width : int
        Width of the beam behind ``point="beam"``.
    stride : int
        Rows between the starts of consecutive training windows (1: every window).
    training, validation_fraction, scale, target_transform
        As for every :class:`~tsseq.estimators.neural.NeuralForecaster`.
    """

    def _covariates_note(self) -> str:
        return (
            "It reads values as tokens of a fixed vocabulary (a language model's view of a series), which has no "
            "slot for real-valued covariates. Use 'transformer', 'seq2seq', 'gru' or 'segrnn' with covariates."
        )

    def __init__(
        self,
        *,
        input_length: int = 96,
        horizon: int = 24,
        n_bins: int = 4095,
        limit: float = 15.0,
        backbone: str = "transformer",
        hidden_size: int = 64,
        n_heads: int = 4,
        num_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        point: str = "median",
        num_samples: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        beam_width: int = 4,
        stride: int = 1,
        training: TrainingConfig | dict | None = None,
        validation_fraction: float = 0.1,
        scale: bool = False,
        target_transform: str | None = None,
    ) -> None:
        store_arguments(self, locals())

    @property
    def probabilistic(self) -> bool:
        return True  # sample paths, and quantiles from them, whatever training.loss says

    def _build_module(self) -> TokenLanguageModel:
        return TokenLanguageModel(
            self.n_bins,
            self.input_length + self.horizon - 1,  # the longest prefix decoded
            **self._module_arguments(
                "limit", "backbone", "n_heads", "d_ff", "dropout", "norm_first", "positional",
                d_model="hidden_size", n_layers="num_layers",
            ),
        )

    def _check_parameters(self) -> None:
        super()._check_parameters()
        if self.point not in POINTS:
            raise ConfigError(
                f"The 'point' parameter must be one of {list(POINTS)}. Got {self.point!r} instead."
                f"{closest_match(str(self.point), POINTS)}"
            )
        for name in ("num_samples", "beam_width", "stride"):
            check_positive_int(getattr(self, name), name)
        if self.top_k is not None:
            check_positive_int(self.top_k, "top_k")
        decoding.check_temperature(self.temperature)
        ValueTokenizer(self.n_bins, self.limit)  # validates both
        loss = self.training_config().loss
        if loss not in POINT_LOSSES:
            raise ConfigError(
                f"The token forecaster trains by cross-entropy over its bins and is probabilistic by construction; "
                f"training.loss={loss!r} does not apply. Leave training.loss at its default."
            )

    # ------------------------------------------------------------------ training
    def _train(self, config: TrainingConfig, callbacks, module: TokenLanguageModel, train, validation):
        rows = self.input_length + self.horizon
        windows = self._sequence_windows(train, rows, "training")
        validation_windows = None if validation is None else self._sequence_windows(validation, rows, "validation")
        objective = _NextToken(module, self.input_length, self.n_channels_)
        loss = _TargetTokens(module.tokenizer, self.n_channels_)
        return Trainer(config, callbacks).fit(objective, windows, validation_windows, loss=loss)

    def _sequence_windows(self, series: list[np.ndarray], rows: int, what: str):
        """Synchronized windows of ``rows - 1`` inputs over ``(T, 2C)`` rows: values (NaN -> 0), then observed flags.

        The engine hands the model no input mask, so the mask travels as channels and
        unobserved values become PAD tokens.
        """
        if all(len(values) < rows for values in series):
            raise DataError(
                f"The {what} series are too short for the token model: input_length={self.input_length} + "
                f"horizon={self.horizon} = {rows} rows per training window; the longest has {max(map(len, series))}."
            )
        flagged = [np.concatenate([np.nan_to_num(v), np.isfinite(v)], axis=1).astype(np.float32) for v in series]
        return make_multi_series_windows(flagged, rows - 1, kind="synchronized", stride=self.stride)

    # ------------------------------------------------------------------ forecasting
    def beam_search(self, horizon: int, width: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The ``width`` most probable paths of every series and channel found by beam search.

        Returns
        -------
        paths : DataFrame
            Indexed by ([series,] ``beam``, timestamp), one column per channel: row block
            ``beam = j`` holds the ``j``-th best path (0 the best) of each channel; the
            channels are searched separately, so beam ``j`` of two channels are unrelated.
        log_probabilities : DataFrame
            Indexed by ([series,] ``beam``), one column per channel: the natural log of
            the path's probability given the context, sum of its ``horizon`` next-token
            log-probabilities (of the bins, not a density of the values); non-increasing
            along ``beam``.
        """
        check_is_fitted(self, "module_")
        horizon = check_positive_int(horizon, "horizon")
        width = check_positive_int(width, "width")
        paths, scores = self._decode(self.last_inputs_, horizon, "beam", width=width)  # (S, k, H, C), (S, k, C)
        frame = self.layout_.to_sample_frame(self._untransformed(list(self._unscaled(paths))))
        frame.index = frame.index.set_names("beam", level="sample")
        columns = list(self.layout_.columns)
        if self.layout_.series_ids is None:
            return frame, pd.DataFrame(scores[0], index=pd.RangeIndex(width, name="beam"), columns=columns)
        names = [self.layout_.index_names[0], "beam"]
        index = pd.MultiIndex.from_product([list(self.layout_.series_ids), range(width)], names=names)
        return frame, pd.DataFrame(scores.reshape(-1, len(columns)), index=index, columns=columns)

    def _predict(self, horizon: int) -> list[np.ndarray]:
        points = self._points(self.last_inputs_, horizon)  # (S, H, C)
        return self._hold_constant(self._untransformed(list(points * self.scale_[:, None, :] + self.center_[:, None, :])))

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        paths = self._unscaled(self._decode(self.last_inputs_, horizon, "sample", seed=0)[0])  # (S, n, H, C)
        return self._hold_constant(self._untransformed([sample_quantiles(values, levels) for values in paths]), channel_axis=1)

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        seed = int(rng.integers(2**63 - 1))
        paths = self._decode(self.last_inputs_, horizon, "sample", n=n, seed=seed)[0]  # (S, n, H, C)
        return self._hold_constant(self._untransformed(list(self._unscaled(paths))))

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        center, scale = self._window_statistics(len(inputs))
        inputs = target_transforms.forward(self._fitted_transform, inputs, "the input windows")
        return self._untransformed(self._points((inputs - center) / scale, horizon) * scale + center)

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        center, scale = self._window_statistics(len(inputs))
        inputs = target_transforms.forward(self._fitted_transform, inputs, "the input windows")
        paths = self._decode((inputs - center) / scale, horizon, "sample", seed=0)[0]  # (N, n, H, C)
        paths = paths * scale[:, None] + center[:, None]
        return self._untransformed(sample_quantiles(np.moveaxis(paths, 1, 0), levels))  # (N, H, C, Q)

    def _window_statistics(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``center`` and ``scale`` ``(N, 1, C)`` of ``n`` windows: those of each window's series
        (``predict_windows(..., series=)``); of the first for a model fitted on one series, or unscaled."""
        if not self.scale:  # every series' statistics are 0 and 1
            center, scale = (np.repeat(part[:1], n, axis=0) for part in (self.center_, self.scale_))
        else:
            center, scale = self._window_scaling(n)  # (N, C)
        return center[:, None], scale[:, None]

    def _points(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        """Scaled windows ``(N, L, C)`` -> the ``point`` forecast ``(N, H, C)`` on that scale."""
        if self.point == "median":
            return np.median(self._decode(inputs, horizon, "sample", seed=0)[0], axis=1)
        return self._decode(inputs, horizon, self.point, width=self.beam_width)[0][:, 0]  # greedy, or the best beam

    def _unscaled(self, paths: np.ndarray) -> np.ndarray:
        """Per-series ``(S, n, H, C)`` on the training scale -> that of ``g(y)`` (without ``target_transform``: y's)."""
        return paths * self.scale_[:, None, None, :] + self.center_[:, None, None, :]

    def _decode(
        self, inputs: np.ndarray, horizon: int, how: str, *, n: int | None = None, seed: int = 0, width: int = 1
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Scaled windows ``(N, L, C)`` (NaN = unobserved) -> paths ``(N, P, H, C)``, and a beam's scores ``(N, P, C)``.

        ``how``: ``"sample"`` (``P = n``, default ``num_samples``), ``"greedy"`` (``P = 1``)
        or ``"beam"`` (``P = width``). Rows are decoded in chunks of at most
        :data:`MAX_HYPOTHESES` hypotheses, on ``training.device``.
        """
        check_is_fitted(self, "module_")
        if horizon > self.horizon:
            raise ConfigError(
                f"This model was trained to forecast horizon={self.horizon} steps; it cannot forecast {horizon}. "
                "Refit it with a larger horizon."
            )
        count = {"sample": self.num_samples if n is None else n, "greedy": 1, "beam": width}[how]
        device = resolve_device(self.training_config().device)
        module = self.module_.to(device).eval()
        values = torch.from_numpy(np.asarray(inputs, dtype=np.float32)[:, -self.input_length :]).to(device)
        ids, window_scale = module.encode(values, self.input_length)  # (N C, L), (N C, 1)
        generator = torch.Generator(device=device).manual_seed(seed) if how == "sample" else None
        paths, scores = [], []
        for chunk in torch.arange(len(ids), device=device).split(max(1, MAX_HYPOTHESES // count)):
            step, prefix = CachedStep(module), ids.index_select(0, chunk)
            if how == "sample":
                options = {"temperature": self.temperature, "top_k": self.top_k, "generator": generator}
                paths.append(decoding.sample(step, prefix, horizon, count, **options))  # (r, n, H)
            elif how == "greedy":
                paths.append(decoding.greedy(step, prefix, horizon)[0][:, None])  # (r, 1, H)
            else:
                found, log_probs = decoding.beam_search(step, prefix, horizon, count)
                paths.append(found)
                scores.append(log_probs)
        tokens = torch.cat(paths)  # (N C, P, H)
        decoded = module.tokenizer.detokenize(tokens, window_scale[:, :, None].double()).cpu().numpy()  # (N C, P, H)
        batch, channels = len(inputs), self.n_channels_
        paths_out = decoded.reshape(batch, channels, count, horizon).transpose(0, 2, 3, 1)  # (N, P, H, C)
        if how != "beam":
            return paths_out, None
        scored = torch.cat(scores).double().cpu().numpy().reshape(batch, channels, count).transpose(0, 2, 1)
        return paths_out, scored  # (N, P, C)


class _NextToken(torch.nn.Module):
    """Engine view of the module: windows ``(B, M - 1, 2C)`` -> ``(logits (B C, M - 1, V), scale (B C, 1))``.

    The first ``C`` channels are values, the last ``C`` observed flags; the scale is that
    of the first ``L`` rows (the context).
    """

    def __init__(self, model: TokenLanguageModel, context_length: int, channels: int) -> None:
        super().__init__()
        self.model, self.context_length, self.channels = model, context_length, channels

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = _with_nan(inputs, self.channels)  # (B, M - 1, C)
        ids, scale = self.model.encode(values, self.context_length)  # (B C, M - 1), (B C, 1)
        return self.model(ids), scale


class _TargetTokens:
    """The loss: synchronized targets ``(B, M - 1, 2C)`` tokenized with the context's scale, then cross-entropy."""

    def __init__(self, tokenizer: ValueTokenizer, channels: int) -> None:
        self.tokenizer, self.channels = tokenizer, channels

    def __call__(self, predictions, targets: torch.Tensor, target_mask: torch.Tensor | None) -> torch.Tensor:
        logits, scale = predictions
        values = _with_nan(targets, self.channels)  # (B, M - 1, C)
        rows = values.transpose(1, 2).reshape(-1, values.shape[1])  # (B C, M - 1), as encode orders them
        return next_token_loss(logits, self.tokenizer.tokenize(rows, scale), self.tokenizer.pad_id)


def _with_nan(rows: torch.Tensor, channels: int) -> torch.Tensor:
    """``(B, T, 2C)`` values and observed flags -> ``(B, T, C)`` values with NaN where unobserved."""
    values, observed = rows[..., :channels], rows[..., channels:] > 0.5
    return torch.where(observed, values, torch.full_like(values, float("nan")))
