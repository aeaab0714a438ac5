r"""Reconstruction autoencoders for anomaly detection: a window in, the same window out.

Shapes: B batch, L window length, C channels, H hidden size, D = 2 if the encoder is
bidirectional else 1, w segment length, n = L / w tokens, Z latent size.

:class:`RecurrentAutoencoder` is EncDec-AD (Malhotra et al. 2016, "LSTM-based
Encoder-Decoder for Multi-sensor Anomaly Detection") over tokens ``s_1 .. s_n``: the
points themselves (``w = 1``), or segments of ``w`` points as SegRNN steps over them (Lin
et al. 2023), which shortens the recurrence ``w`` times for long windows::

    s_j = x_{(j-1)w+1 .. jw}  flattened, in R^{wC}                 tokens (B, n, wC)
    u_j = ReLU(W_e s_j + b_e)  (w > 1),  u_j = s_j  (w = 1)
    h^E_n = Encoder(u_1 .. u_n)          RecurrentLayerStack (LSTM/GRU, stacked, dilated, bidirectional)
    h^D_0 = [h^E_n(fwd) ; h^E_n(bwd)]    per layer (h and c for the LSTM), in R^{DH}
    shat_{n-k} = W_o h^D_k + b_o          k = 0 .. n-1: the window is reconstructed in reverse order
    h^D_{k+1} = Decoder(v_k, h^D_k)       v_k = s_{n-k} ("teacher"), shat_{n-k} ("recursive"), 0 ("zeros")

The decoder's input (``decoder_input``):

* ``"zeros"`` (default): unconditioned; the window must pass through the state (a true
  bottleneck); training and scoring are one fused kernel call each.
* ``"teacher"``: the true next token (in reverse order) in training *and* scoring, one
  fused call; ``shat_j`` then sees ``s_{j+1} .. s_n`` but never ``s_j`` itself.
* ``"recursive"``: the paper's scheme: teacher forcing in training, the decoder's own
  previous reconstruction in eval mode (a step loop of ``n`` steps).

Only the encoder may be dilated or bidirectional; a bidirectional encoder reads the whole
window both ways, so the model is not ``causal`` (offline scoring only): the last point's
reconstruction depends on nothing after it either way, but detectors refuse it in causal
mode to keep the rule simple (:func:`tsseq.nn.recurrent.require_causal`).

:class:`LSTMVAE` is a variational recurrent autoencoder (as in Park et al. 2018, and
Bowman et al. 2016 for the repeat-vector decoder)::

    h = Encoder(x_1 .. x_L)[top layer, last step]                  (B, H)
    mu = W_mu h,  logvar = W_v h                                    (B, Z)
    z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)   (training);  z = mu  (eval)
    y_1 .. y_L = Decoder(z, z, ..., z),   xhat_t = W_o y_t + b_o    (B, L, C)
    loss = MSE(xhat, x) + beta * KL(N(mu, e^logvar) || N(0, I)) / (L C)

MSE is the Gaussian negative log-likelihood with a fixed output variance up to an affine
map, so scoring by squared reconstruction error is scoring by that likelihood; the KL term
is divided by ``L C`` so that ``beta`` weighs it against a per-element loss.

:class:`PatchAutoencoder` is PatchTST's encoder (:class:`~tsseq.nn.patchtst.PatchTST`,
Nie et al. 2023) trained by masked-patch pretraining (:mod:`tsseq.nn.masked_pretraining`)
over ``n = L / P`` non-overlapping patches of each channel, and scored by leave-one-patch-
out reconstruction::

    training:  loss = mean over hidden patches ||p̂_bn - p_bn||²   (a random r·n patches hidden)
    scoring:   xhat_t = the reconstruction of patch k(t) = floor(t / P) with patch k(t) hidden

A reconstruction of visible patches is never trained (copying earns nothing), and would
copy an anomaly anyway; hiding the patch of ``t`` makes ``xhat_t`` a prediction from the
rest of the window, like the other autoencoders' bottleneck. Patches do not overlap so
that a hidden value does not leak through a neighbour; RevIN's per-window mean and std do
see it (as in PatchTST's pretraining).

Every module maps ``x (B, L, C)`` to its reconstruction ``(B, L, C)`` in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tsseq.base import check_positive_int
from tsseq.engine.losses import masked_mse
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.masked_pretraining import MaskedPatchModel, PatchReconstruction, masked_patch_loss
from tsseq.nn.patchtst import PatchTST
from tsseq.nn.recurrent import RecurrentLayerStack, StackState

DECODER_INPUTS = ("zeros", "teacher", "recursive")
AE_CELLS = ("lstm", "gru")


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"The {name!r} parameter must be one of {list(choices)}. Got {value!r} instead."
            f"{closest_match(str(value), choices)}"
        )
    return value


def _check_window(x: Tensor, module: nn.Module, channels: int, length: int | None = None) -> None:
    if x.dim() != 3 or x.shape[-1] != channels or (length is not None and x.shape[1] != length):
        expected = f"(B, {length}, {channels})" if length is not None else f"(B, L, {channels})"
        raise DataError(f"{type(module).__name__} expects windows of shape {expected}. Got {tuple(x.shape)}.")


def decoder_state(encoder_state: StackState) -> StackState:
    """An encoder's final state -> the initial state of a unidirectional, undilated decoder.

    Each tensor ``(D, d, B, H)`` keeps its last step and joins its directions:
    ``(1, 1, B, D * H)``.
    """
    return tuple(
        tuple(torch.cat(tensor[:, -1].unbind(0), -1)[None, None] for tensor in layer_state)  # (1, 1, B, D·H)
        for layer_state in encoder_state
    )


class RecurrentAutoencoder(nn.Module):
    """EncDec-AD recurrent autoencoder over points or segments; equations in the module docstring.

    Parameters
    ----------
    input_size : int
        ``C``.
    window_length : int
        ``L``; a multiple of ``segment_length``.
    hidden_size, num_layers : int
        Of the encoder (per direction); the decoder has ``num_layers`` layers of ``D * H``.
    cell : {"lstm", "gru"}
    segment_length : int
        ``w``: points per token (1: point-wise EncDec-AD).
    bidirectional : bool
        Bidirectional encoder (non-causal, offline only).
    dilations : sequence of int, optional
        Dilation of each encoder layer (:class:`~tsseq.nn.recurrent.RecurrentLayerStack`).
    decoder_input : {"zeros", "teacher", "recursive"}
    dropout : float
        Between stacked layers.

    Inputs: ``x (B, L, C)``. Outputs: the reconstruction ``(B, L, C)``.
    """

    def __init__(
        self,
        input_size: int,
        window_length: int,
        *,
        hidden_size: int = 32,
        num_layers: int = 1,
        cell: str = "lstm",
        segment_length: int = 1,
        bidirectional: bool = False,
        dilations: Sequence[int] | None = None,
        decoder_input: str = "zeros",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.window_length = check_positive_int(window_length, "window_length")
        self.segment_length = check_positive_int(segment_length, "segment_length")
        if self.window_length % self.segment_length:
            raise ConfigError(
                f"The 'window_length' ({window_length}) must be a multiple of 'segment_length' ({segment_length})."
            )
        _check_choice(cell, "cell", AE_CELLS)
        self.decoder_input = _check_choice(decoder_input, "decoder_input", DECODER_INPUTS)
        self.n_tokens = self.window_length // self.segment_length
        token_size = self.segment_length * self.input_size
        self.embedding = (
            nn.Sequential(nn.Linear(token_size, hidden_size), nn.ReLU()) if self.segment_length > 1 else nn.Identity()
        )
        encoder_input = hidden_size if self.segment_length > 1 else token_size
        self.encoder = RecurrentLayerStack(
            encoder_input, hidden_size, cell=cell, num_layers=num_layers, dropout=dropout,
            bidirectional=bidirectional, dilations=dilations,
        )  # fmt: skip
        decoder_size = self.encoder.output_size  # D * H: the decoder starts from both directions' states
        self.decoder = RecurrentLayerStack(token_size, decoder_size, cell=cell, num_layers=num_layers, dropout=dropout)
        self.head = nn.Linear(decoder_size, token_size)

    @property
    def causal(self) -> bool:
        return self.encoder.causal

    def forward(self, x: Tensor) -> Tensor:
        _check_window(x, self, self.input_size, self.window_length)
        batch = x.shape[0]
        tokens = x.reshape(batch, self.n_tokens, -1)  # (B, n, wC)
        _, encoder_state = self.encoder(self.embedding(tokens))
        state = decoder_state(encoder_state)
        first = self.head(state[-1][0][0, 0])  # shat_n from h^D_0 of the top layer, (B, wC)
        if self.n_tokens == 1:
            reversed_tokens = first[:, None]
        elif self.decoder_input == "recursive" and not self.training:
            reversed_tokens = self._decode_recursively(first, state)
        else:
            inputs = tokens.flip(1)[:, :-1]  # s_n .. s_2, (B, n-1, wC)
            if self.decoder_input == "zeros":
                inputs = torch.zeros_like(inputs)
            outputs, _ = self.decoder(inputs, state)  # (B, n-1, D·H)
            reversed_tokens = torch.cat([first[:, None], self.head(outputs)], 1)  # shat_n .. shat_1
        return reversed_tokens.flip(1).reshape(batch, self.window_length, self.input_size)

    def _decode_recursively(self, first: Tensor, state: StackState) -> Tensor:
        """Feed each reconstruction back as the next input: ``n - 1`` single steps."""
        reconstructed = [first]
        for _ in range(self.n_tokens - 1):
            output, state = self.decoder(reconstructed[-1][:, None], state)  # (B, 1, D·H)
            reconstructed.append(self.head(output[:, 0]))
        return torch.stack(reconstructed, 1)  # (B, n, wC)


class LSTMVAE(nn.Module):
    """Variational recurrent autoencoder; equations in the module docstring.

    Parameters
    ----------
    input_size, window_length : int
        ``C`` and ``L``.
    hidden_size, latent_size, num_layers : int
        ``H``, ``Z`` and the layers of encoder and decoder.
    cell : {"lstm", "gru"}
    beta : float
        Weight of the KL term (>= 0).

    Inputs: ``x (B, L, C)``. Outputs: the reconstruction ``(B, L, C)`` (the mean in eval
    mode, a sample's decoding in training). ``last_kl`` holds the ``(B,)`` KL terms of
    the last call, which :meth:`training_loss` adds to the reconstruction error.
    """

    causal = True  # the encoder is unidirectional

    def __init__(
        self,
        input_size: int,
        window_length: int,
        *,
        hidden_size: int = 32,
        latent_size: int = 8,
        num_layers: int = 1,
        cell: str = "lstm",
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.window_length = check_positive_int(window_length, "window_length")
        self.latent_size = check_positive_int(latent_size, "latent_size")
        _check_choice(cell, "cell", AE_CELLS)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ConfigError(f"The 'beta' parameter must be a number >= 0. Got {beta!r} instead.")
        self.beta = float(beta)
        self.encoder = RecurrentLayerStack(input_size, hidden_size, cell=cell, num_layers=num_layers)
        self.to_mean = nn.Linear(hidden_size, latent_size)
        self.to_log_variance = nn.Linear(hidden_size, latent_size)
        self.decoder = RecurrentLayerStack(latent_size, hidden_size, cell=cell, num_layers=num_layers)
        self.head = nn.Linear(hidden_size, input_size)
        self.last_kl: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_window(x, self, self.input_size, self.window_length)
        encoded, _ = self.encoder(x)  # (B, L, H)
        summary = encoded[:, -1]  # (B, H)
        mean, log_variance = self.to_mean(summary), self.to_log_variance(summary)  # (B, Z) each
        latent = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean) if self.training else mean
        self.last_kl = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum(-1)  # (B,)
        decoded, _ = self.decoder(latent[:, None].expand(-1, self.window_length, -1))  # (B, L, H)
        return self.head(decoded)

    def training_loss(self, predictions: Tensor, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        """Reconstruction MSE + ``beta`` * mean KL / (L C), for :meth:`tsseq.engine.Trainer.fit`."""
        kl = self.last_kl.float().mean() / (self.window_length * self.input_size)
        return masked_mse(predictions, targets, target_mask) + self.beta * kl


class PatchAutoencoder(MaskedPatchModel):
    """PatchTST reconstruction trained by masked patches, scored leave-one-patch-out (module docstring).

    Parameters
    ----------
    input_size, window_length : int
        ``C`` and ``L``; ``L`` a multiple of ``patch_length``.
    patch_length : int
        ``P``, also the stride (patches do not overlap).
    mask_ratio : float
        Fraction of each channel's patches hidden in training, in (0, 1).
    **patchtst_params
        The rest of :class:`~tsseq.nn.patchtst.PatchTST`'s arguments (``d_model``,
        ``n_heads``, ``d_ff``, ``n_layers``, ``dropout``, ``revin``, ...).

    Inputs: ``x (B, L, C)``. Outputs: in training mode a
    :class:`~tsseq.nn.masked_pretraining.PatchReconstruction` (for :meth:`training_loss`),
    in eval mode the reconstruction ``(B, L, C)``, each patch predicted with it hidden.
    The attention reads the whole window, which a causal detector ends at the scored
    point: nothing after it is read, so the module counts as ``causal``.
    """

    causal = True

    def __init__(
        self,
        input_size: int,
        window_length: int,
        *,
        patch_length: int = 8,
        mask_ratio: float = 0.4,
        d_model: int = 16,
        n_heads: int = 4,
        d_ff: int = 64,
        n_layers: int = 2,
        dropout: float = 0.1,
        **patchtst_params,
    ) -> None:
        patch_length = check_positive_int(patch_length, "patch_length")
        if check_positive_int(window_length, "window_length") % patch_length:
            raise ConfigError(
                f"The 'window_length' ({window_length}) must be a multiple of 'patch_length' ({patch_length}): "
                "the patches tile the window without overlap."
            )
        model = PatchTST(
            input_size, window_length, 1, patch_length=patch_length, stride=patch_length, pad_end=False,
            d_model=d_model, n_heads=n_heads, d_ff=d_ff, n_layers=n_layers, dropout=dropout, **patchtst_params,
        )  # fmt: skip
        super().__init__(model, mask_ratio)
        model.head.requires_grad_(False)  # the forecasting head: no part of the reconstruction
        self.register_buffer("patch_of_step", torch.arange(window_length) // patch_length, persistent=False)

    def forward(self, x: Tensor) -> PatchReconstruction | Tensor:
        if self.training:
            return super().forward(x)
        n_patches, batch = self.model.n_patches, x.shape[0]
        repeated = x.repeat(n_patches, 1, 1)  # (n·B, L, C): copy k hides patch k
        hidden = torch.eye(n_patches, dtype=torch.bool, device=x.device)  # (n, n)
        mask = hidden.repeat_interleave(batch * self.model.input_size, dim=0)  # (n·B·C, n)
        reconstruction = self.model.reconstruct(repeated, mask).view(n_patches, batch, *x.shape[1:])  # (n, B, L, C)
        steps = torch.arange(x.shape[1], device=x.device)
        return reconstruction[self.patch_of_step, :, steps].transpose(0, 1)  # (B, L, C): step t from copy k(t)

    def training_loss(self, predictions, targets: Tensor, target_mask: Tensor | None = None) -> Tensor:
        """Masked-patch loss in training; the scoring reconstruction's MSE in validation (eval mode)."""
        if isinstance(predictions, PatchReconstruction):
            return masked_patch_loss(predictions)
        return masked_mse(predictions, targets, target_mask)


class WindowCentred(nn.Module):
    """An autoencoder that reconstructs each window's shape, not its level.

    ``xbar = mean_t x_t`` per window and channel (``(B, 1, C)``); the wrapped model gets
    ``x - xbar`` and ``xbar`` is added back to what it returns, so the reconstruction error
    is that of the centred window: a window moved as a whole to a level the training rows
    never held (a new operating point) scores as the same window did. What it gives up is a
    fault that is a level alone (a shift held for longer than the window), which a
    forecasting detector sees. The mean reads only the window, so a window that ends at
    the scored point stays causal; unobserved values, filled with 0 before the model, count
    in it. Training-mode outputs that are not a reconstruction (the masked-patch
    objective's) are returned as they are: they are compared with the centred window itself.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if hasattr(model, "training_loss"):  # the VAE's KL term, the masked-patch objective; else the engine's loss
            self.training_loss = model.training_loss

    def forward(self, x: Tensor):
        level = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        out = self.model(x - level)
        return out + level if isinstance(out, Tensor) else out

