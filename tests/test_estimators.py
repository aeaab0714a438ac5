"""The neural estimators: scaling without leakage, validation, horizons, stateful training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq import registry
from tsseq.engine import Callback
from tsseq.errors import ConfigError, DataError
from tsseq.estimators import RNNForecaster

TRAINING = {"epochs": 2, "batch_size": 32}


def sine_frame(rows: int = 240, channels: int = 1, period: int = 12) -> pd.DataFrame:
    steps = np.arange(rows)
    values = np.column_stack([3 + np.sin(2 * np.pi * (steps + 3 * k) / period) for k in range(channels)])
    index = pd.date_range("2023-01-01", periods=rows, freq="h", name="time")
    return pd.DataFrame(values, index=index, columns=[f"c{k}" for k in range(channels)])


def tiny(name: str = "lstm", **params) -> RNNForecaster:
    defaults = {"input_length": 24, "horizon": 6, "hidden_size": 8, "training": TRAINING}
    return registry.create(name, **{**defaults, **params})


def test_a_tiny_lstm_fits_a_sine_to_near_zero_loss():
    model = tiny(hidden_size=16, training={"epochs": 40, "batch_size": 16, "learning_rate": 0.01}, validation_fraction=0.0)
    model.fit(sine_frame())
    assert model.history_.train_loss[-1] < 0.01
    truth = 3 + np.sin(2 * np.pi * (np.arange(240, 246)) / 12)
    np.testing.assert_allclose(model.predict(6)["c0"].to_numpy(), truth, atol=0.15)


def test_scaling_statistics_come_from_the_training_rows_only():
    frame = sine_frame()
    changed = frame.copy()
    changed.iloc[-24:] = 1000.0  # the held-out validation rows
    first, second = tiny(validation_fraction=0.1).fit(frame), tiny(validation_fraction=0.1).fit(changed)
    np.testing.assert_array_equal(first.center_, second.center_)
    np.testing.assert_array_equal(first.scale_, second.scale_)
    assert first.history_.val_loss[-1] != second.history_.val_loss[-1]


def test_explicit_validation_frame_is_used_for_the_validation_loss():
    frame = sine_frame(300)
    model = tiny(validation_fraction=0.0).fit(frame.iloc[:200], validation=frame.iloc[176:])
    assert len(model.history_.val_loss) == 2 and all(np.isfinite(model.history_.val_loss))
    no_validation = tiny(validation_fraction=0.0).fit(frame.iloc[:200])
    assert all(loss is None or np.isnan(loss) for loss in no_validation.history_.val_loss)


def test_forecasting_beyond_the_trained_horizon_is_refused():
    model = tiny().fit(sine_frame())
    assert len(model.predict(3)) == 3
    with pytest.raises(ConfigError, match="trained to forecast horizon=6 steps; it cannot forecast 7"):
        model.predict(7)


def test_training_mapping_is_validated_by_name():
    with pytest.raises(ConfigError, match="unknown key 'epoch'. Did you mean 'epochs'"):
        tiny(training={"epoch": 3}).fit(sine_frame())


def test_bidirectional_encoder_is_refused_for_autoregressive_decoding():
    with pytest.raises(ConfigError, match="bidirectional layers look into the future"):
        tiny(head="recursive", bidirectional=True).fit(sine_frame())
    tiny(head="direct", bidirectional=True).fit(sine_frame())  # a fully observed window: allowed


def test_too_short_series_names_the_window_size():
    with pytest.raises(DataError, match="a window needs 30 rows"):
        tiny(validation_fraction=0.0).fit(sine_frame(20))


def test_missing_values_are_masked_not_learned():
    frame = sine_frame()
    frame.iloc[50:60, 0] = np.nan
    model = tiny().fit(frame)
    assert np.isfinite(model.history_.train_loss).all()
    assert np.isfinite(model.predict(6).to_numpy()).all()


def test_callbacks_receive_the_engine_events():
    class Recorder(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, trainer, epoch, metrics):
            self.epochs.append((epoch, metrics["train_loss"]))

    recorder = Recorder()
    tiny().fit(sine_frame(), callbacks=[recorder])
    assert [epoch for epoch, _ in recorder.epochs] == [0, 1] or [epoch for epoch, _ in recorder.epochs] == [1, 2]


def test_global_model_over_series_of_different_lengths():
    parts = {name: sine_frame(rows) for name, rows in (("a", 200), ("b", 260))}
    long = pd.concat(parts, names=["series", "time"])
    model = tiny("gru").fit(long)
    assert model.center_.shape == (2, 1)
    forecast = model.predict(6)
    assert forecast.groupby(level="series").size().to_dict() == {"a": 6, "b": 6}
    with pytest.raises(DataError, match="fitted on one"):
        model.predict_windows(np.zeros((1, 24, 1)), 6)


def test_stateful_training_by_truncated_bptt():
    model = tiny(head="recursive", stateful=True, training={"epochs": 2, "tbptt_steps": 16}).fit(sine_frame())
    assert len(model.history_.train_loss) == 2
    assert np.isfinite(model.predict(6).to_numpy()).all()
    with pytest.raises(ConfigError, match="set head='recursive'"):
        tiny(head="direct", stateful=True).fit(sine_frame())


@pytest.mark.parametrize("name", ["segrnn", "mut1", "rnn"])
def test_family_members_train_and_forecast(name):
    params = {"segment_length": 12} if name == "segrnn" else {}
    forecast = tiny(name, **params).fit(sine_frame(channels=2)).predict(6)
    assert forecast.shape == (6, 2) and np.isfinite(forecast.to_numpy()).all()


def test_seq2seq_scheduled_sampling_decays_to_zero():
    from tsseq.estimators import _ScheduledSampling

    schedule = _ScheduledSampling(0.8, epochs=4)
    ratios = []
    for epoch in range(4):
        schedule.on_epoch_begin(None, epoch)
        ratios.append(schedule.current)
    assert ratios == pytest.approx([0.8, 0.6, 0.4, 0.2])
    model = tiny("seq2seq", attention="luong-general", teacher_forcing_ratio=1.0).fit(sine_frame())
    assert model.module_.last_attention is None or model.module_.last_attention.shape[-1] == 24
    model.predict(6)
    assert model.module_.last_attention.shape == (1, 6, 24)
