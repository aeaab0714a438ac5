r"""PatchTST (Nie et al. 2023, "A Time Series is Worth 64 Words"): patches as tokens, one channel at a time.

The path of a window through the model::

    x (B, L, C) -> RevIN -> channel independence: (B·C, L)
      -> patches (B·C, N, P)                    (tsseq.nn.patching.patch; stride S, end padding)
      -> tokens u_n = W_p p_n + b_p + W_pos[n]  (B·C, N, D), then Dropout  (+ covariates: see below)
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

Covariates (the user's, a packed ``exogenous (B, L, X)`` block, :mod:`tsseq.nn.exogenous`):
past and static covariates are exogenous inputs of every target token, never channels of
their own. With ``X_n (N, P_x·P)`` the patches of the ``P_x`` past covariates at patch
``n`` (cut as the values are, flattened over covariates and steps) and
``c = [s ; E(k)]`` the static covariates of the series::

    u_cn = W_p p_cn + b_p + W_x vec(X_n) + W_c c + W_pos[n]      (B·C, N, D)

The same ``W_x``, ``W_c`` serve every target channel ``c``, so the targets stay channel
independent (each is still forecast from its own patches, with shared weights) and the
covariates are inputs only: they are not forecast and not in the loss. They skip RevIN:
a target's window statistics say nothing of a covariate's scale, and a per-window
normalisation of the covariates would erase their level (a price, a temperature), which
the estimators' pooled standardisation keeps. Patches end at the forecast origin, so no
covariate after it is read. ``W_x`` and ``W_c`` start at zero: a backbone pretrained
without covariates (masked pretraining takes none) starts from the tokens it was trained
on.

Future-known covariates are refused. Their information is the horizon's values
``f_{L+1} .. f_{L+H}``, and every token is a patch of the input window, which ends at
the origin; the only place they could enter is a projection added to the flatten head's
output, a linear regression beside the encoder rather than PatchTST. Models built for
them: ``transformer``, ``segrnn``, ``seq2seq``, ``transformer_seq2seq``. (A known column
whose values up to the origin are enough can be given as a past covariate.)

Shapes: B batch, L input steps, C channels, H horizon, P patch length, S stride,
N patches, D = d_model, P_x past covariates, X the packed covariate columns.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes
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

    def forward(self, patches: Tensor, shift: Tensor | None = None) -> Tensor:
        """``shift`` ``(B', N or 1, D)``: the covariates' term of each token (:class:`CovariateTokens`), added before the positions."""
        tokens = self.patch_embedding(patches)  # (B', N, D)
        if shift is not None:
            tokens = tokens + shift
        return self.encoder(self.dropout(self.position(tokens)))  # (B', N, D)


class CovariateTokens(nn.Module):
    r"""The packed covariate block ``(B, L, X)`` -> each patch token's covariate term ``W_x vec(X_n) + W_c c`` ``(B, N | 1, D)``.

    Past covariates ``(B, L, P_x)`` are cut into the patches of the values (same ``P``,
    ``S``, end padding), so that ``X_n`` covers the steps of patch ``n``; static ones
    ``c = [s ; E(k)]`` (:class:`~tsseq.nn.exogenous.ExogenousInputs`) give one term for
    every token (``(B, 1, D)`` when there are no past covariates). Both maps start at zero
    (module docstring).

    Parameters
    ----------
    sizes : ExogenousSizes
        Without future covariates (a ConfigError otherwise, saying why).
    horizon, patch_length, stride, pad_end, d_model
        As :class:`PatchTST`.
    static_dim : int
        Size of each static categorical column's embedding.
    """

    def __init__(
        self, sizes: ExogenousSizes, horizon: int, patch_length: int, stride: int, pad_end: bool, d_model: int,
        static_dim: int,
    ) -> None:
        super().__init__()
        if sizes.future:
            raise ConfigError(
                f"PatchTST takes past and static covariates only; got {sizes.future} future covariates in 'exogenous'. "
                "Its tokens are patches of the input window, which ends at the forecast origin: the horizon's known "
                "values have no token (module docstring)."
            )
        self.patch_length, self.stride, self.pad_end = patch_length, stride, pad_end
        self.inputs = ExogenousInputs(sizes, horizon, check_positive_int(static_dim, "covariate_dim"))
        static = self.inputs.static_size
        if not (sizes.past or static):
            raise ConfigError(f"'exogenous' holds no past or static covariate ({sizes}); pass exogenous=None for none.")
        self.past_projection = nn.Linear(sizes.past * patch_length, d_model, bias=False) if sizes.past else None  # W_x
        self.static_projection = nn.Linear(static, d_model, bias=False) if static else None  # W_c
        for projection in (self.past_projection, self.static_projection):
            if projection is not None:
                nn.init.zeros_(projection.weight)

    def forward(self, block: Tensor) -> Tensor:
        length = block.shape[1] if block.dim() == 3 else 0
        past, _, constant = self.inputs.rows(block, length, length)  # (B, L, P_x), None, (B, N_s + E_s)
        terms = []
        if self.past_projection is not None:
            patches = patch(past, self.patch_length, self.stride, self.pad_end)  # (B, P_x, N, P)
            terms.append(self.past_projection(patches.transpose(1, 2).flatten(2)))  # (B, N, P_x·P) -> (B, N, D)
        if self.static_projection is not None:
            terms.append(self.static_projection(constant)[:, None])  # (B, 1, D)
        return sum(terms[1:], terms[0])  # (B, N, D), or (B, 1, D) with static covariates only


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
    exogenous : ExogenousSizes, optional
        The user's covariates of the packed block (:mod:`tsseq.nn.exogenous`): past and
        static only (module docstring).
    covariate_dim : int
        Size of each static categorical covariate's embedding.

    Inputs: ``x (B, L, C)``; ``codes`` always None (no calendar codes; the estimators'
    calling convention); ``exogenous (B, L, X)``, required with ``exogenous`` sizes.
    Outputs: ``(B, H, C)``, or the output's parameters ``(B, H, C, P)``.

    Attributes
    ----------
    revin : RevIN or None
    backbone : PatchEncoder
        Patch embedding, positional encoding and encoder: what pretraining trains.
    head : nn.Sequential
        Flatten head ``(B·C, N, D) -> (B·C, H)``.
    reconstruction_head : nn.Linear
        ``D -> P`` per token, used by masked pretraining and :meth:`reconstruct`.
    exogenous : CovariateTokens or None
        The covariates' term of every token (``W_x``, ``W_c``); None without covariates.
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
        exogenous: ExogenousSizes | None = None,
        covariate_dim: int = 4,
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
        self.exogenous = None
        if exogenous is not None:
            self.exogenous = CovariateTokens(exogenous, horizon, patch_length, stride, self.pad_end, d_model, covariate_dim)

    def forward(self, x: Tensor, codes: Tensor | None = None, exogenous: Tensor | None = None) -> Tensor:
        if codes is not None:
            raise DataError("PatchTST takes no calendar codes: call it with codes=None.")
        x, stats = self._normalize(x)  # the target channels only: covariates never meet their statistics
        shift = self._covariate_shift(x, exogenous)  # (B·C, N | 1, D) or None
        tokens = self.backbone(self.patches(x), shift)  # (B·C, N, D)
        raw = self.head(tokens)  # (B·C, H·P)
        raw = raw.view(x.shape[0], self.input_size, self.horizon, -1).transpose(1, 2)  # (B, H, C, P)
        return self.distribution.finish(raw, IDENTITY if stats is None else self.revin.as_affine(stats))

    def _covariate_shift(self, x: Tensor, exogenous: Tensor | None) -> Tensor | None:
        """The covariates' term of each target token, ``(B, N | 1, D)`` repeated for the ``C`` channels: ``(B·C, N | 1, D)``."""
        if (exogenous is None) != (self.exogenous is None):
            raise DataError(
                f"This PatchTST was built {'without' if self.exogenous is None else 'with'} covariates; call it "
                f"{'without' if self.exogenous is None else 'with'} a covariate block 'exogenous' (B, L, X)."
            )
        if exogenous is None:
            return None
        if exogenous.dim() != 3 or exogenous.shape[:2] != x.shape[:2]:
            raise DataError(
                f"PatchTST expects a covariate block 'exogenous' of shape ({x.shape[0]}, {self.input_length}, X), "
                f"row for row with x. Got {tuple(exogenous.shape)}."
            )
        # row b·C + c of the channel-independent batch is channel c of window b (see patches)
        return self.exogenous(exogenous.to(x.dtype)).repeat_interleave(self.input_size, dim=0)

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
        if self.exogenous is not None:
            # its encoder learnt tokens with the covariates' term; reconstruction reads the values only
            raise ConfigError(
                "This PatchTST takes covariates, and patch reconstruction (masked pretraining, reconstruct) reads "
                "the values only. Pretrain or reconstruct with a PatchTST without covariates (exogenous=None); a "
                "model with covariates can then start from its backbone."
            )
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

