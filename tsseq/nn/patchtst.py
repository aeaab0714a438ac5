r"""PatchTST (Nie et al. 2023, "A Time Series is Worth 64 Words"): patches as tokens, one channel at a time.

The path of a window through the model::

    x (B, L, C) -> RevIN -> channel independence: (B·C, L)
      -> patches (B·C, N, P)                    (tsseq.nn.patching.patch; stride S, end padding)
      -> tokens u_n = W_p p_n + b_p + W_pos[n]  (B·C, N, D), then Dropout
      -> encoder (n_layers x EncoderLayer)      (B·C, N, D)
      -> flatten head  y = W_h Dropout(flatten(z)) + b_h     (B·C, N·D) -> (B·C, H)
      -> (B, H, C) -> RevIN⁻¹

Every channel is forecast as its own univariate series with the same weights (channel
independence), so the number of weights does not depend on ``C`` (except RevIN's
affine ``gamma``, ``beta``). Attention runs over ``N ~ L / S`` patches instead of ``L``
steps: the cost of a layer falls from ``O(L²)`` to ``O(L² / S²)``.

The defaults follow the official supervised model on ETTh1 (``PatchTST_backbone``):
BatchNorm in post-LN placement, learned positional encodings initialised
``U(-0.02, 0.02)``, residual attention (the previous layer's scores added to this
layer's), GELU, RevIN without affine weights. One difference: the head's dropout acts on
the flattened features, not on the forecast (the reference code's default is 0, where
both are the identity).

Masked pretraining (:mod:`tsseq.nn.masked_pretraining`) uses the same encoder with
``reconstruction_head`` (``D -> P`` per token): :meth:`PatchTST.reconstruct_patches`
encodes the patches with some of them replaced by zeros and predicts every patch;
:meth:`PatchTST.reconstruct` maps whole windows to their reconstruction (an anomaly
score is the reconstruction error).

Covariates: none of the three kinds is taken, and the estimator refuses each by name.
Past covariates as extra channels would be RevIN-normalised, patched and forecast as
targets under channel independence (the channels never meet), so they would not inform
the target; future-known covariates have no slot in patch tokens that end at the
origin; static covariates would need a per-series token the flatten head does not have.
Use ``transformer``, ``seq2seq``, ``transformer_seq2seq`` or the recurrent family.

Shapes: B batch, L input steps, C channels, H horizon, P patch length, S stride,
N patches, D = d_model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import DataError
from tsseq.nn.patching import patch, patch_count, unpatch
from tsseq.engine.distributions import IDENTITY, OutputDistribution, PointOutput
from tsseq.nn.revin import InstanceStats, RevIN
from tsseq.nn.transformer import Encoder, _check_probability, positional_encoding


class PatchEncoder(nn.Module):
    """Patches ``(B', N, P)`` -> encoded tokens ``(B', N, D)``: embedding, positions, dropout, encoder.

    Parameters as :class:`PatchTST`.
    """

    def __init__(
        self,
        n_patches: int,
        patch_length: int,
        *,
        d_model: int,
        n_heads: int,
        d_ff: int,
        n_layers: int,
        dropout: float,
        attention_dropout: float,
        norm: str,
        norm_first: bool,
        activation: str,
        positional: str,
        residual_attention: bool,
    ) -> None:
        super().__init__()
        self.patch_embedding = nn.Linear(patch_length, d_model)
        self.position = positional_encoding(positional, d_model, n_patches)
        self.dropout = nn.Dropout(_check_probability(dropout, "dropout"))
        self.encoder = Encoder.stack(
            n_layers,
            d_model,
            n_heads,
            d_ff,
            dropout,
            norm_first=norm_first,
            activation=activation,
            norm=norm,
            attention_dropout=attention_dropout,
            residual_attention=residual_attention,
        )

    def forward(self, patches: Tensor) -> Tensor:
        tokens = self.dropout(self.position(self.patch_embedding(patches)))  # (B', N, D)
        return self.encoder(tokens)  # (B', N, D)


class PatchTST(nn.Module):
    r"""Patch-based channel-independent transformer forecaster; see the module docstring.

    Parameters
    ----------
    input_size : int
        ``C``.
    input_length : int
        ``L``, the steps of an input window (fixes ``N`` and the head's size).
    horizon : int
        ``H``.
    patch_length, stride : int
        ``P`` and ``S``.
    pad_end : bool
        Repeat the last value ``S`` times before patching (one more patch).
    d_model, n_heads, d_ff, n_layers : int
        Of the encoder (:class:`~tsseq.nn.transformer.EncoderLayer`).
    dropout : float
        After the positional encoding and in every encoder layer.
    attention_dropout : float
        On the attention weights.
    head_dropout : float
        On the flattened encoder output, before the head's linear map.
    norm : {"batch", "layer"}
    norm_first : bool
        pre-LN when True, post-LN (the official model) when False.
    activation : {"gelu", "relu"}
    positional : {"learned", "sinusoidal"}
    residual_attention : bool
        Pass each layer's attention scores on to the next (the official model does).
    revin : bool
        Reversible instance normalisation of each window and channel.
    revin_affine : bool
        Learn RevIN's per-channel ``gamma``, ``beta``.
    output : OutputDistribution, optional
        What the head predicts per forecast value (:mod:`tsseq.engine.distributions`);
        default the point output.

    Inputs: ``x (B, L, C)``. Outputs: ``(B, H, C)``, or the output's parameters ``(B, H, C, P)``.

    Attributes
    ----------
    revin : RevIN or None
    backbone : PatchEncoder
        Patch embedding, positional encoding and encoder: what pretraining trains.
    head : nn.Sequential
        Flatten head ``(B·C, N, D) -> (B·C, H)``.
    reconstruction_head : nn.Linear
        ``D -> P`` per token, used by masked pretraining and :meth:`reconstruct`.
    n_patches : int
        ``N``.
    """

    def __init__(
        self,
        input_size: int,
        input_length: int,
        horizon: int,
        *,
        patch_length: int = 16,
        stride: int = 8,
        pad_end: bool = True,
        d_model: int = 16,
        n_heads: int = 4,
        d_ff: int = 128,
        n_layers: int = 3,
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
        output: OutputDistribution | None = None,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        self.input_size = check_positive_int(input_size, "input_size")
        self.input_length = check_positive_int(input_length, "input_length")
        self.horizon = check_positive_int(horizon, "horizon")
        self.patch_length = check_positive_int(patch_length, "patch_length")
        self.stride = check_positive_int(stride, "stride")
        self.pad_end = bool(pad_end)
        self.n_patches = patch_count(input_length, patch_length, stride, self.pad_end)
        self.revin = RevIN(input_size, affine=revin_affine) if revin else None
        self.backbone = PatchEncoder(
            self.n_patches,
            patch_length,
            d_model=d_model,
            n_heads=n_heads,
            d_ff=d_ff,
            n_layers=n_layers,
            dropout=dropout,
            attention_dropout=attention_dropout,
            norm=norm,
            norm_first=norm_first,
            activation=activation,
            positional=positional,
            residual_attention=residual_attention,
        )
        self.head = nn.Sequential(
            nn.Flatten(start_dim=1),  # (B·C, N·D)
            nn.Dropout(_check_probability(head_dropout, "head_dropout")),
            nn.Linear(self.n_patches * d_model, horizon * self.distribution.n_params),
        )
        self.reconstruction_head = nn.Linear(d_model, patch_length)

    def forward(self, x: Tensor) -> Tensor:
        x, stats = self._normalize(x)
        tokens = self.backbone(self.patches(x))  # (B·C, N, D)
        raw = self.head(tokens)  # (B·C, H·P)
        raw = raw.view(x.shape[0], self.input_size, self.horizon, -1).transpose(1, 2)  # (B, H, C, P)
        return self.distribution.finish(raw, IDENTITY if stats is None else self.revin.as_affine(stats))

    def patches(self, x: Tensor) -> Tensor:
        """``(B, L, C)`` (normalised) -> ``(B·C, N, P)``, every channel's patches a sequence of its own."""
        patches = patch(x, self.patch_length, self.stride, self.pad_end)  # (B, C, N, P)
        return patches.reshape(-1, self.n_patches, self.patch_length)  # (B·C, N, P)

    def reconstruct_patches(self, x: Tensor, patch_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Predict every patch of the normalised ``x (B, L, C)`` with the patches of ``patch_mask`` hidden.

        ``patch_mask (B·C, N)`` bool is True at the patches replaced by zeros (the mean of
        the normalised window) before the embedding. Returns ``(reconstruction, target)``,
        both ``(B·C, N, P)`` on the normalised scale: what the model predicts and the true
        patches.
        """
        normalized, _ = self._normalize(x)
        return self._reconstruct_normalized(normalized, patch_mask)

    def _reconstruct_normalized(self, x: Tensor, patch_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        target = self.patches(x)  # (B·C, N, P)
        inputs = target
        if patch_mask is not None:
            if patch_mask.shape != target.shape[:2] or patch_mask.dtype != torch.bool:
                raise DataError(
                    f"patch_mask must be a bool tensor of shape (B·C, N) = {tuple(target.shape[:2])}. "
                    f"Got {patch_mask.dtype} of shape {tuple(patch_mask.shape)} instead."
                )
            inputs = target.masked_fill(patch_mask.unsqueeze(-1), 0.0)  # (B·C, N, P)
        return self.reconstruction_head(self.backbone(inputs)), target  # (B·C, N, P) x 2

    def reconstruct(self, x: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        """``x (B, L, C)`` -> its reconstruction ``(B, L, C)`` on the scale of ``x``.

        Overlapping patches are averaged (:func:`tsseq.nn.patching.unpatch`); steps in
        the end padding are dropped.
        """
        normalized, stats = self._normalize(x)
        reconstruction, _ = self._reconstruct_normalized(normalized, patch_mask)  # (B·C, N, P)
        series = unpatch(reconstruction, self.stride, self.input_length)  # (B·C, L)
        series = series.view(x.shape[0], self.input_size, self.input_length).transpose(1, 2)  # (B, L, C)
        return self._denormalize(series, stats)

    def _normalize(self, x: Tensor) -> tuple[Tensor, InstanceStats | None]:
        if x.dim() != 3 or x.shape[1:] != (self.input_length, self.input_size):
            raise DataError(
                f"PatchTST expects inputs of shape (B, {self.input_length}, {self.input_size}) "
                f"(batch, input_length, channels). Got {tuple(x.shape)} instead."
            )
        if self.revin is None:
            return x, None
        return self.revin.normalize(x)

    def _denormalize(self, y: Tensor, stats: InstanceStats | None) -> Tensor:
        return y if self.revin is None else self.revin.denormalize(y, stats)

