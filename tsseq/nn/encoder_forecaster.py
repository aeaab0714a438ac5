r"""An encoder-only transformer forecaster with one token per time step: ``(B, L, C) -> (B, H, C)``.

The path of a window through the model::

    x (B, L, C) -> RevIN (optional)
      -> tokens u_t = W_in [x_t ; e_t] + b_in + PE[t]      (B, L, D), then Dropout
      -> encoder (n_layers x EncoderLayer, bidirectional) (B, L, D)
      -> direct multi-step head  y = W_h flatten(z) + b_h (B, L·D) -> (B, H·C) -> (B, H, C)
      -> RevIN⁻¹

Every step's ``C`` values form one token, so attention mixes channels and steps; its
cost grows as ``L²`` (compare :class:`tsseq.nn.patchtst.PatchTST`, whose tokens are
patches of one channel). The head is direct: all ``H`` steps at once, no rollout.

Covariates: with ``K`` categorical covariates (calendar codes, a series id: integer
``codes (B, L, K)``), ``e_t = [E_1[k_1] ; ... ; E_K[k_K]]`` of step ``t``
(:class:`tsseq.nn.embeddings.CovariateEmbedding`, as the recurrent models); without
them ``e_t`` is empty.

The user's covariates (a packed ``exogenous (B, L, X)`` block, :mod:`tsseq.nn.exogenous`):
each token gets a linear projection of its step's covariates added,
``u_t = W_in [x_t ; e_t] + W_a a_t``, and the head a flattened projection of the
horizon's known future, ``yhat = W_h vec(Z) + W_b vec(b_1 .. b_H)``.

Shapes: B batch, L input steps, C channels, H horizon, D = d_model, K covariates.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import DataError
from tsseq.nn.embeddings import CovariateEmbedding
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes, horizon_head
from tsseq.engine.distributions import IDENTITY, OutputDistribution, PointOutput
from tsseq.nn.revin import RevIN
from tsseq.nn.transformer import Encoder, _check_probability, positional_encoding


class EncoderForecaster(nn.Module):
    r"""Point-token encoder-only transformer with a direct head; see the module docstring.

    Parameters
    ----------
    input_size : int
        ``C``.
    input_length : int
        ``L`` (fixes the head's size and the positional table).
    horizon : int
        ``H``.
    d_model, n_heads, d_ff, n_layers : int
        Of the encoder (:class:`~tsseq.nn.transformer.EncoderLayer`).
    dropout : float
        After the positional encoding and in every encoder layer.
    attention_dropout : float
        On the attention weights.
    head_dropout : float
        On the flattened encoder output, before the head.
    norm : {"layer", "batch"}
    norm_first : bool
        pre-LN when True, post-LN when False.
    activation : {"gelu", "relu"}
    positional : {"sinusoidal", "learned"}
    revin : bool
        Reversible instance normalisation of each window.
    covariates : dict[str, int], optional
        Cardinality of each categorical covariate, in the order of the ``K`` code columns.
    covariate_dim : int
        Size of each covariate's embedding vector.
    output : OutputDistribution, optional
        What the head predicts per forecast value (:mod:`tsseq.engine.distributions`);
        default the point output.

    Inputs: ``x (B, L, C)``; ``codes (B, L, K)`` integers with covariates (else None).
    Outputs: ``(B, H, C)``, or the output's parameters ``(B, H, C, P)``.
    """

    def __init__(
        self,
        input_size: int,
        input_length: int,
        horizon: int,
        *,
        d_model: int = 64,
        n_heads: int = 4,
        d_ff: int = 128,
        n_layers: int = 2,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        head_dropout: float = 0.0,
        norm: str = "layer",
        norm_first: bool = True,
        activation: str = "gelu",
        positional: str = "sinusoidal",
        revin: bool = True,
        covariates: dict[str, int] | None = None,
        covariate_dim: int = 4,
        exogenous: ExogenousSizes | None = None,
        output: OutputDistribution | None = None,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        self.input_size = check_positive_int(input_size, "input_size")
        self.input_length = check_positive_int(input_length, "input_length")
        self.horizon = check_positive_int(horizon, "horizon")
        check_positive_int(covariate_dim, "covariate_dim")
        self.covariate_embedding = (
            CovariateEmbedding(dict(covariates), {name: covariate_dim for name in covariates}) if covariates else None
        )
        covariate_size = 0 if self.covariate_embedding is None else self.covariate_embedding.output_size
        self.revin = RevIN(input_size) if revin else None
        self.input_embedding = nn.Linear(input_size + covariate_size, d_model)
        self.position = positional_encoding(positional, d_model, input_length)
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
        )
        self.head = nn.Sequential(
            nn.Flatten(start_dim=1),  # (B, L·D)
            nn.Dropout(_check_probability(head_dropout, "head_dropout")),
            nn.Linear(input_length * d_model, horizon * input_size * self.distribution.n_params),
        )
        self.exogenous = None if exogenous is None else ExogenousInputs(exogenous, horizon, covariate_dim)
        if self.exogenous is not None:
            self.exogenous_embedding = nn.Linear(self.exogenous.step_size, d_model, bias=False)  # W_a
            self.exogenous_head = horizon_head(horizon * self.exogenous.horizon_size, horizon * input_size * self.distribution.n_params)

    def forward(self, x: Tensor, codes: Tensor | None = None, exogenous: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.input_length, self.input_size):
            raise DataError(
                f"EncoderForecaster expects inputs of shape (B, {self.input_length}, {self.input_size}) "
                f"(batch, input_length, channels). Got {tuple(x.shape)} instead."
            )
        affine = IDENTITY
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
            affine = self.revin.as_affine(stats)
        if (exogenous is None) != (self.exogenous is None):
            raise DataError(f"This EncoderForecaster is called {'without' if self.exogenous is None else 'with'} a covariate block.")
        tokens = self.input_embedding(self._with_covariates(x, codes))  # (B, L, D)
        if self.exogenous is not None:
            steps, ahead = self.exogenous(exogenous)  # (B, L, A), (B, H, B_h)
            tokens = tokens + self.exogenous_embedding(steps)
        encoded = self.encoder(self.dropout(self.position(tokens)))  # (B, L, D)
        flat = self.head(encoded)  # (B, H·C·P)
        if self.exogenous is not None:
            flat = flat + self.exogenous_head(ahead.flatten(1))
        raw = flat.view(x.shape[0], self.horizon, self.input_size, -1)  # (B, H, C, P)
        return self.distribution.finish(raw, affine)  # (B, H, C), or (B, H, C, P) parameters

    def _with_covariates(self, x: Tensor, codes: Tensor | None) -> Tensor:
        if self.covariate_embedding is None:
            if codes is not None:
                raise DataError("This EncoderForecaster has no covariates; call it without codes.")
            return x
        if codes is None or codes.shape[:2] != x.shape[:2]:
            raise DataError(
                f"This EncoderForecaster has covariates {list(self.covariate_embedding.names)}: it needs codes of "
                f"shape (B, L, K) = {(*x.shape[:2], len(self.covariate_embedding.names))}. "
                f"Got {None if codes is None else tuple(codes.shape)}."
            )
        return torch.cat([x, self.covariate_embedding(codes).to(x.dtype)], dim=-1)  # (B, L, C + E)

