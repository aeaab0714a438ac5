r"""Encoder-decoder transformer forecaster (Vaswani et al. 2017) with autoregressive decoding.

The encoder reads the input window with full (bidirectional) self-attention; the decoder
reads the values fed to it so far with causal self-attention and attends to the
encoder's outputs (cross-attention), predicting one step per decoder token. The layers
are those of :mod:`tsseq.nn.transformer`.

Shapes: B batch, L input steps, C channels, H horizon, D = d_model, h heads.

Equations, for a window ``x_0 .. x_{L-1}`` (``x_j`` in R^C) and ``t = 0 .. H - 1``::

    x_j  <- RevIN(x_j), y_t <- RevIN(y_t)           optional; statistics of the input window
    e_j  = W_v x_j + b_v + PE(j)                     (B, L, D) encoder tokens
    m    = Encoder(e)                                 (B, L, D) memory: self-attention over all j
    u_0  = x_{L-1}                                    the last known value
    u_t  = y_{t-1}      training (teacher forcing: the true previous value)
         = yhat_{t-1}   forecasting (the model's own previous forecast)
    d_t  = W_v u_t + b_v + PE(L - 1 + t)              (B, H, D) decoder tokens
    s    = Decoder(d, m)                              causal self-attention (d_t sees d_0 .. d_t),
                                                      then cross-attention to every m_j
    yhat_t = W_o s_t + b_o                            (B, H, C): the forecast of step L + t

The decoder tokens carry values of the same series as the encoder's, so both share the
value embedding ``W_v`` and one time axis of positions: ``u_t`` holds the value of step
``L - 1 + t`` and is encoded at that position. The decoder is fed the last known value
then the previous targets (the classic choice); Informer's one-shot generation (a start
token and zeros, all ``H`` steps in one pass) is not what this module does.

With targets (``forward(inputs, targets)``, what the engine does with
``pass_targets=True``) all ``H`` steps run in one causally masked pass. Without them
(:meth:`TransformerSeq2Seq.forward` at validation and forecasting) the decoder runs
``H`` times on the growing prefix ``u_0 .. u_t`` (recomputed each step, no key/value
cache), the encoder once. Because of the causal mask both give the same ``yhat_t`` for
the same ``u_0 .. u_t``; training never sees the model's own errors fed back (exposure
bias), which validating on the rollout exposes.

The user's covariates (a packed block ``exogenous (B, L, X)``, :mod:`tsseq.nn.exogenous`)
enter both token streams: every encoder token adds the projection of its step's
covariates ``a_j = [p_j ; f_j ; s ; E(k)]``, and decoder token ``t``, which forecasts step
``L + t``, adds the projection of that step's known covariates ``b_{t+1} = [f_{L+t} ; s ;
E(k)]``::

    e_j  = W_v x_j + W_a a_j + b_v + PE(j)
    d_t  = W_v u_t + W_b b_{t+1} + b_v + PE(L - 1 + t)

The same ``b`` enter in teacher forcing, in the rollout and when sampling, so the three
agree. Past covariates reach the encoder only: nothing after the origin is read but the
future covariates of the ``H`` forecast steps. Calendar codes (:mod:`tsseq.nn.embeddings`)
are not taken.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.errors import DataError
from tsseq.engine.distributions import IDENTITY, OutputDistribution, PointOutput
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes
from tsseq.nn.revin import RevIN
from tsseq.nn.transformer import Decoder, Encoder, attention_weights, positional_encoding, record_attention


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder transformer; see the module docstring for the equations and shapes.

    Parameters
    ----------
    input_size : int
        ``C``, channels of the inputs, all forecast.
    horizon : int
        ``H``.
    input_length : int
        ``L``; the positional encodings cover ``L + H - 1`` steps.
    d_model, n_heads : int
        ``D`` and ``h`` (dividing ``D``).
    n_encoder_layers, n_decoder_layers : int
    d_ff : int, optional
        Feed-forward hidden size; default ``4 D``.
    dropout : float
        On the token embeddings and inside every layer.
    norm_first : bool
        pre-LN (with a final norm on each stack) when True, post-LN when False.
    positional : {"sinusoidal", "learned"}
    revin : bool
        Reversible instance normalisation of inputs, fed targets and forecasts.
    output : OutputDistribution, optional
        What the head predicts per step and channel (:mod:`tsseq.engine.distributions`);
        default the point output. The rollout feeds back its point forecast, or a draw
        when sampling (ancestral sampling; the module then returns the drawn path).
    exogenous : ExogenousSizes, optional
        The user's covariates of the packed block (:mod:`tsseq.nn.exogenous`).
    static_dim : int
        Size of each static categorical covariate's embedding.

    Inputs
    ------
    inputs : ``(B, L, C)``.
    targets : ``(B, H, C)``, optional: teacher forcing (one pass) instead of the rollout.
    exogenous : ``(B, L, X)``, required with ``exogenous`` sizes (keyword).

    Outputs
    -------
    ``(B, H, C)``, or the output's parameters ``(B, H, C, P)``.
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        *,
        input_length: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_encoder_layers: int = 2,
        n_decoder_layers: int = 1,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        revin: bool = False,
        output: OutputDistribution | None = None,
        exogenous: ExogenousSizes | None = None,
        static_dim: int = 4,
    ) -> None:
        super().__init__()
        self.distribution = PointOutput() if output is None else output
        self.input_size = check_positive_int(input_size, "input_size")
        self.horizon = check_positive_int(horizon, "horizon")
        self.input_length = check_positive_int(input_length, "input_length")
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.revin = RevIN(input_size) if revin else None
        self.value_embedding = nn.Linear(input_size, d_model)
        self.positions = positional_encoding(positional, d_model, input_length + horizon - 1)
        self.embedding_dropout = nn.Dropout(dropout)
        self.encoder = Encoder.stack(n_encoder_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first)
        self.decoder = Decoder.stack(n_decoder_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first)
        self.head = nn.Linear(d_model, input_size * self.distribution.n_params)
        self.exogenous = None if exogenous is None else ExogenousInputs(exogenous, horizon, static_dim)
        self.step_embedding = None if exogenous is None else nn.Linear(self.exogenous.step_size, d_model, bias=False)  # W_a
        self.ahead_embedding = (  # W_b; None when nothing is known ahead (past covariates only)
            nn.Linear(self.exogenous.horizon_size, d_model, bias=False)
            if exogenous is not None and self.exogenous.horizon_size
            else None
        )

    def forward(self, inputs: Tensor, targets: Tensor | None = None, *, exogenous: Tensor | None = None) -> Tensor:
        self._check(inputs, targets, exogenous)
        steps, ahead = (None, None) if self.exogenous is None else self.exogenous(exogenous)  # (B, L, A), (B, H, B_h)
        stats = None if self.revin is None else self.revin.statistics(inputs)
        affine = IDENTITY if stats is None else self.revin.as_affine(stats)
        x = self._normalize(inputs, stats)  # (B, L, C)
        memory = self.encode(x, steps)  # (B, L, D)
        if targets is not None:
            fed = torch.cat([x[:, -1:], self._normalize(targets, stats)[:, :-1]], dim=1)  # (B, H, C): u_0 .. u_{H-1}
            return self.distribution.finish(self.decode(fed, memory, ahead), affine)  # (B, H, C) or (B, H, C, P)
        fed, raw = x[:, -1:], []  # (B, 1, C): u_0
        for step in range(self.horizon):
            known = None if ahead is None else ahead[:, : step + 1]  # (B, t + 1, B_h): b_1 .. b_{t+1}
            raw.append(self.decode(fed, memory, known)[:, -1:])  # (B, 1, C, P): yhat_t from u_0 .. u_t
            fed = torch.cat([fed, self.distribution.feedback(raw[-1], affine)], dim=1)  # (B, t + 2, C)
        return self.distribution.finish_path(fed[:, 1:], torch.cat(raw, dim=1), affine)  # (B, H, C) or (B, H, C, P)

    def encode(self, x: Tensor, steps: Tensor | None = None) -> Tensor:
        """Input window ``(B, L, C)`` (normalised) and its covariates ``a`` ``(B, L, A)`` -> memory ``(B, L, D)``."""
        embedded = self.value_embedding(x)  # (B, L, D)
        if steps is not None:
            embedded = embedded + self.step_embedding(steps)
        return self.encoder(self.embedding_dropout(self.positions(embedded)))

    def decode(self, fed: Tensor, memory: Tensor, known: Tensor | None = None) -> Tensor:
        """Fed values ``u_0 .. u_{T-1}`` ``(B, T, C)``, memory ``(B, L, D)`` and the known ``b_1 .. b_T`` ``(B, T, B_h)``
        -> the head's ``(B, T, C, P)`` for ``yhat_0 ..``."""
        embedded = self.value_embedding(fed)  # (B, T, D)
        if known is not None and self.ahead_embedding is not None:
            embedded = embedded + self.ahead_embedding(known)
        embedded = self.positions(embedded, offset=self.input_length - 1)
        raw = self.head(self.decoder(self.embedding_dropout(embedded), memory, causal=True))  # (B, T, C·P)
        return raw.unflatten(-1, (self.input_size, self.distribution.n_params))  # (B, T, C, P)

    def attention(self, inputs: Tensor) -> dict[str, Tensor]:
        """Forecast ``inputs (B, L, C)`` once and return every attention layer's weights, by name.

        ``"encoder.layers.k.attention"``: ``(B, h, L, L)``;
        ``"decoder.layers.k.self_attention"``: ``(B, h, H, H)`` (zero above the diagonal);
        ``"decoder.layers.k.cross_attention"``: ``(B, h, H, L)``, row ``t`` being what the
        forecast of step ``L + t`` looked at in the input window. They are the last
        rollout step's, which by causality hold every earlier step's rows unchanged.
        """
        with torch.no_grad(), record_attention(self):
            self(inputs)
        return attention_weights(self)

    def _normalize(self, values: Tensor, stats) -> Tensor:
        return values if stats is None else self.revin.normalize(values, stats)[0]

    def _check(self, inputs: Tensor, targets: Tensor | None, exogenous: Tensor | None = None) -> None:
        if (exogenous is None) != (self.exogenous is None):
            expected = "without a covariate block" if self.exogenous is None else "with its covariate block exogenous=(B, L, X)"
            raise DataError(f"This TransformerSeq2Seq is called {expected}.")
        if inputs.dim() != 3 or inputs.shape[1:] != (self.input_length, self.input_size):
            raise DataError(
                f"TransformerSeq2Seq expects inputs of shape (B, {self.input_length}, {self.input_size}) "
                f"(batch, input_length, channels). Got {tuple(inputs.shape)} instead."
            )
        expected = (inputs.shape[0], self.horizon, self.input_size)
        if targets is not None and tuple(targets.shape) != expected:
            raise DataError(
                f"TransformerSeq2Seq expects targets of shape (B, H, C) = {expected}. "
                f"Got {tuple(targets.shape)} instead."
            )
