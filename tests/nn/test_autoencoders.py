"""Tests of tsseq.nn.autoencoders: shapes, gradients, decoding modes, causality flags, the VAE loss."""

from __future__ import annotations

import pytest
import torch

from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.nn.autoencoders import LSTMVAE, RecurrentAutoencoder
from tsseq.nn.recurrent import require_causal

VARIANTS = {
    "lstm": {},
    "gru": {"cell": "gru"},
    "bidirectional": {"bidirectional": True, "num_layers": 2},
    "segments": {"segment_length": 4},
    "one_segment": {"segment_length": 12},
    "dilated": {"cell": "gru", "num_layers": 3, "dilations": (1, 2, 4)},
    "teacher": {"decoder_input": "teacher"},
    "recursive": {"decoder_input": "recursive", "num_layers": 2},
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_recurrent_autoencoder_shapes_and_gradients(variant: str, channels: int) -> None:
    model = RecurrentAutoencoder(channels, 12, hidden_size=6, **VARIANTS[variant])
    x = torch.randn(5, 12, channels)
    reconstruction = model(x)
    assert reconstruction.shape == (5, 12, channels)
    reconstruction.square().sum().backward()
    unused = "decoder." if model.n_tokens == 1 else "-"  # one token: reconstructed from the encoder state alone
    missing = [name for name, p in model.named_parameters() if p.grad is None and not name.startswith(unused)]
    assert not missing
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (5, 12, channels)


def test_recursive_decoder_is_teacher_forced_in_training_and_free_running_in_eval() -> None:
    recursive = RecurrentAutoencoder(2, 10, hidden_size=5, decoder_input="recursive")
    teacher = RecurrentAutoencoder(2, 10, hidden_size=5, decoder_input="teacher")
    teacher.load_state_dict(recursive.state_dict())
    x = torch.randn(3, 10, 2)
    torch.testing.assert_close(recursive(x), teacher(x))
    recursive.eval(), teacher.eval()
    with torch.no_grad():
        assert not torch.allclose(recursive(x), teacher(x))


def test_last_point_is_reconstructed_from_the_encoder_state_alone() -> None:
    # Reverse-order decoding: xhat_L comes straight from the encoder's final state, so the
    # decoder input mode cannot change it.
    zeros = RecurrentAutoencoder(1, 8, hidden_size=4, decoder_input="zeros")
    teacher = RecurrentAutoencoder(1, 8, hidden_size=4, decoder_input="teacher")
    teacher.load_state_dict(zeros.state_dict())
    x = torch.randn(4, 8, 1)
    torch.testing.assert_close(zeros(x)[:, -1], teacher(x)[:, -1])
    assert not torch.allclose(zeros(x)[:, :-1], teacher(x)[:, :-1])


def test_bidirectional_encoder_is_flagged_non_causal() -> None:
    assert RecurrentAutoencoder(1, 8, hidden_size=4).causal
    model = RecurrentAutoencoder(1, 8, hidden_size=4, bidirectional=True)
    assert not model.causal
    with pytest.raises(ConfigError, match="bidirectional"):
        require_causal(model, "causal anomaly scoring")


def test_bad_arguments_and_inputs_are_named() -> None:
    with pytest.raises(ConfigError, match="multiple of 'segment_length'"):
        RecurrentAutoencoder(1, 10, segment_length=4)
    with pytest.raises(ConfigError, match="decoder_input"):
        RecurrentAutoencoder(1, 10, decoder_input="teacher_forcing")
    with pytest.raises(ConfigError, match="cell"):
        RecurrentAutoencoder(1, 10, cell="mut1")
    with pytest.raises(DataError, match=r"\(B, 10, 2\)"):
        RecurrentAutoencoder(2, 10)(torch.randn(3, 9, 2))
    with pytest.raises(ConfigError, match="beta"):
        LSTMVAE(1, 10, beta=-1.0)


def test_vae_is_deterministic_in_eval_and_its_loss_adds_the_scaled_kl() -> None:
    vae = LSTMVAE(2, 12, hidden_size=6, latent_size=3, beta=0.5)
    x = torch.randn(4, 12, 2)
    sample_1, sample_2 = vae(x), vae(x)
    assert sample_1.shape == (4, 12, 2) and not torch.equal(sample_1, sample_2)
    assert bool((vae.last_kl >= 0).all())
    loss = vae.training_loss(sample_2, x)
    expected = torch.nn.functional.mse_loss(sample_2, x) + 0.5 * vae.last_kl.mean() / (12 * 2)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(parameter.grad is not None for parameter in vae.parameters())
    vae.eval()
    with torch.no_grad():
        torch.testing.assert_close(vae(x), vae(x), rtol=0, atol=0)


def test_autoencoder_learns_to_reconstruct_a_sine_through_the_engine() -> None:
    t = torch.arange(400, dtype=torch.float32)
    values = torch.sin(2 * torch.pi * t / 16)[:, None]
    windows = make_windows(values, 16, 1)

    class Reconstruct:  # the targets are the inputs
        def __len__(self) -> int:
            return len(windows)

        def gather(self, indices):
            inputs = windows.gather(indices)[0]
            return inputs, inputs, None, None

    model = RecurrentAutoencoder(1, 16, hidden_size=16, cell="gru")
    config = TrainingConfig(epochs=8, batch_size=32, learning_rate=0.01, progress=False)
    history = Trainer(config).fit(model, Reconstruct())
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]


def test_patch_autoencoder_trains_on_masked_patches_and_scores_each_patch_hidden() -> None:
    from tsseq.nn.autoencoders import PatchAutoencoder
    from tsseq.nn.masked_pretraining import PatchReconstruction

    torch.manual_seed(0)
    model = PatchAutoencoder(3, 16, patch_length=4, revin=False)
    x = torch.randn(5, 16, 3)
    output = model(x)  # training mode: random masks, the masked-patch loss
    assert isinstance(output, PatchReconstruction) and output.reconstruction.shape == (15, 4, 4)
    model.training_loss(output, x).backward()
    assert model.model.head[-1].weight.grad is None  # the forecasting head is frozen
    assert model.model.reconstruction_head.weight.grad is not None
    model.eval()
    with torch.no_grad():
        reconstruction = model(x)
        assert reconstruction.shape == (5, 16, 3)
        changed = x.clone()
        changed[:, 8:12] += 100.0  # patch 2: hidden whenever its own steps are reconstructed
        other = model(changed)
    torch.testing.assert_close(other[:, 8:12], reconstruction[:, 8:12])
    assert not torch.allclose(other[:, :8], reconstruction[:, :8])  # the other patches do read it
    require_causal(model, "a test")  # windows ending at t: nothing after t is read
    with pytest.raises(ConfigError, match="multiple of 'patch_length'"):
        PatchAutoencoder(1, 18, patch_length=4)
