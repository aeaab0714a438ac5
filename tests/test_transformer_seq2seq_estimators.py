"""The encoder-decoder and decoder-only transformer estimators: training paths, persistence, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq import persistence, registry
from tsseq.errors import DataError
from tsseq.estimators.transformer_seq2seq import DecoderOnlyForecaster, TransformerSeq2SeqForecaster

TINY_TRAINING = {"epochs": 3, "batch_size": 32, "learning_rate": 0.005, "seed": 0}


def sine_frame(rows: int = 200) -> pd.DataFrame:
    steps = np.arange(rows)
    values = np.column_stack([np.sin(2 * np.pi * steps / 12), np.cos(2 * np.pi * steps / 8)])
    index = pd.date_range("2023-01-01", periods=rows, freq="h")
    return pd.DataFrame(values, index=index, columns=["a", "b"])


def test_registered_names_build_the_estimators():
    assert isinstance(registry.create("transformer_seq2seq"), TransformerSeq2SeqForecaster)
    assert isinstance(registry.create("decoder_only"), DecoderOnlyForecaster)


@pytest.mark.parametrize(
    "model",
    [
        TransformerSeq2SeqForecaster(input_length=16, horizon=4, hidden_size=8, n_heads=2, revin=True),
        DecoderOnlyForecaster(input_length=16, horizon=6, hidden_size=8, n_heads=2, patch_length=4),
        DecoderOnlyForecaster(
            input_length=15, horizon=5, hidden_size=8, n_heads=2, patch_length=2, channel_independent=True, revin=True
        ),
    ],
    ids=["seq2seq-revin", "gpt-patches", "gpt-channel-independent"],
)
def test_fit_predict_and_save_load_round_trip(model, tmp_path):
    frame = sine_frame()
    model.set_params(training=TINY_TRAINING).fit(frame)
    forecast = model.predict(model.horizon)
    assert forecast.shape == (model.horizon, 2) and np.isfinite(forecast.to_numpy()).all()
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = persistence.load(path)
    pd.testing.assert_frame_equal(loaded.predict(model.horizon), forecast)
    windows = frame.to_numpy()[None, -model.input_length :]
    np.testing.assert_array_equal(loaded.predict_windows(windows, 3), model.predict_windows(windows, 3))


def _scaled_validation(model, frame: pd.DataFrame) -> torch.Tensor:
    return torch.tensor((frame.to_numpy() - model.center_[0]) / model.scale_[0], dtype=torch.float32)


def test_seq2seq_trains_teacher_forced_and_validates_on_the_rollout():
    train, validation = sine_frame(160), sine_frame(200).iloc[150:]
    model = TransformerSeq2SeqForecaster(input_length=16, horizon=4, hidden_size=8, n_heads=2)
    # a learning rate so small that the weights of the one epoch stay those measured below
    model.set_params(training={**TINY_TRAINING, "epochs": 1, "learning_rate": 1e-12}).fit(train, validation=validation)

    def losses(frame: pd.DataFrame) -> tuple[float, float]:
        windows = _scaled_validation(model, frame).unfold(0, 20, 1).transpose(1, 2)  # (N, L + H, C)
        inputs, targets = windows[:, :16], windows[:, 16:]
        with torch.no_grad():
            teacher_forced = torch.mean((model.module_(inputs, targets) - targets) ** 2).item()
            return teacher_forced, torch.mean((model.module_(inputs) - targets) ** 2).item()

    train_teacher_forced, train_rollout = losses(train)
    validation_teacher_forced, validation_rollout = losses(validation)
    assert model.history_.train_loss[0] == pytest.approx(train_teacher_forced, rel=1e-4)
    assert model.history_.val_loss[0] == pytest.approx(validation_rollout, rel=1e-5)
    assert train_rollout != pytest.approx(train_teacher_forced, rel=1e-2)
    assert validation_teacher_forced != pytest.approx(validation_rollout, rel=1e-2)


@pytest.mark.parametrize("patch_length", [1, 4])
def test_decoder_only_loss_is_the_next_patch_error_over_whole_sequences(patch_length):
    train, validation = sine_frame(160), sine_frame(200).iloc[150:]
    model = DecoderOnlyForecaster(input_length=16, horizon=6, hidden_size=8, n_heads=2, patch_length=patch_length)
    model.set_params(training={**TINY_TRAINING, "epochs": 1}).fit(train, validation=validation)
    rows = model.module_.sequence_length
    assert rows == {1: 22, 4: 24}[patch_length]  # (floor(16 / P) + ceil(6 / P)) P
    windows = _scaled_validation(model, validation).unfold(0, rows, 1).transpose(1, 2)  # (N, M, C)
    with torch.no_grad():
        predictions = model.module_.forward_sequence(windows[:, :-patch_length])  # rows P .. M - 1
    expected = torch.mean((predictions - windows[:, patch_length:]) ** 2).item()
    assert model.history_.val_loss[0] == pytest.approx(expected, rel=1e-5)


def test_decoder_only_names_the_sequence_length_when_the_series_is_too_short():
    model = DecoderOnlyForecaster(input_length=16, horizon=6, hidden_size=8, n_heads=2, patch_length=4)
    with pytest.raises(DataError, match="spans 24 rows; the longest series has 23"):
        model.set_params(training=TINY_TRAINING, validation_fraction=0.0).fit(sine_frame(23))


def test_attention_weights_of_given_windows():
    frame = sine_frame(120)
    windows = np.stack([frame.to_numpy()[start : start + 16] for start in (0, 7, 30)])  # (3, 16, 2)
    seq2seq = TransformerSeq2SeqForecaster(input_length=16, horizon=4, hidden_size=8, n_heads=2, num_decoder_layers=1)
    weights = seq2seq.set_params(training=TINY_TRAINING).fit(frame).attention_weights(windows)
    assert weights["decoder.layers.0.cross_attention"].shape == (3, 2, 4, 16)
    assert weights["decoder.layers.0.self_attention"].shape == (3, 2, 4, 4)
    gpt = DecoderOnlyForecaster(
        input_length=16, horizon=4, hidden_size=8, n_heads=2, patch_length=4, channel_independent=True
    )
    weights = gpt.set_params(training=TINY_TRAINING).fit(frame).attention_weights(windows)
    assert set(weights) == {"decoder.layers.0.attention", "decoder.layers.1.attention"}
    assert weights["decoder.layers.1.attention"].shape == (3 * 2, 2, 4, 4)  # 4 context + 1 forecast patch - 1
