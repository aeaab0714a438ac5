"""The training engine on tiny models: loss, clipping, divergence, checkpoints, schedules, callbacks, TBPTT."""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from tsseq.data.windows import make_multi_series_windows, make_windows
from tsseq.engine import (
    Callback,
    ProgressBar,
    Trainer,
    TrainingConfig,
    TrainingDivergedError,
    make_streams,
    masked_mse,
    to_device,
)
from tsseq.errors import ConfigError, DataError, DataFileNotFoundError

INPUT_LENGTH, HORIZON = 8, 2


class LinearForecaster(nn.Module):
    """``(B, L, 1) -> (B, H, 1)``: one linear map of the window."""

    def __init__(self, input_length: int = INPUT_LENGTH, horizon: int = HORIZON) -> None:
        super().__init__()
        self.linear = nn.Linear(input_length, horizon)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(inputs[..., 0]).unsqueeze(-1)  # (B, H, 1)


class LSTMForecaster(nn.Module):
    """``(B, L, 1) -> (B, H, 1)``: an LSTM, dropout, a linear head on the last step."""

    def __init__(self, hidden_size: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, HORIZON)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(inputs)  # (B, L, hidden)
        return self.head(self.dropout(outputs[:, -1])).unsqueeze(-1)  # (B, H, 1)


class StatefulRNN(nn.Module):
    """The TBPTT contract: ``(inputs (B, k, 1), state) -> (outputs (B, k, 1), state)``."""

    def __init__(self, cell: str = "lstm", hidden_size: int = 4) -> None:
        super().__init__()
        self.rnn = (nn.LSTM if cell == "lstm" else nn.RNN)(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, inputs: torch.Tensor, state=None):
        outputs, state = self.rnn(inputs, state)  # (B, k, hidden)
        return self.head(outputs), state


class Recorder(Callback):
    """Logs every hook call; optionally stops training or raises at a given epoch."""

    def __init__(self, stop_at: int | None = None, raise_at: int | None = None) -> None:
        self.calls, self.stop_at, self.raise_at = [], stop_at, raise_at
        self.epoch_weights = []

    def on_train_begin(self, trainer):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, trainer, epoch):
        if epoch == self.raise_at:
            raise KeyboardInterrupt("simulated crash")
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, trainer, epoch, batch, loss):
        assert loss.ndim == 0 and not loss.requires_grad
        self.calls.append(("batch_end", epoch, batch))

    def on_epoch_end(self, trainer, epoch, metrics):
        self.calls.append(("epoch_end", epoch, sorted(metrics)))
        self.epoch_weights.append(copy.deepcopy(trainer.model.state_dict()))
        if epoch == self.stop_at:
            trainer.should_stop = True

    def on_train_end(self, trainer, history):
        self.calls.append(("train_end", history.epochs))

    def on_exception(self, trainer, exception):
        self.calls.append(("exception", type(exception).__name__))


def sine(rows: int = 120, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    steps = np.arange(rows)
    return (np.sin(steps / 4) + noise * np.random.default_rng(seed).normal(size=rows))[:, None]  # (T, 1)


def windows(values: np.ndarray):
    return make_windows(values, INPUT_LENGTH, HORIZON)


def config(**changes) -> TrainingConfig:
    defaults = dict(epochs=3, batch_size=16, learning_rate=0.01, device="cpu", progress=False)
    return TrainingConfig(**{**defaults, **changes})


def seeded(model_class, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return model_class(**kwargs)


def assert_same_weights(first: nn.Module, second: nn.Module) -> None:
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


# ----------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "The 'epochs' parameter must be an int >= 1. Got 0 instead."),
        ({"learning_rate": -1.0}, "The 'learning_rate' parameter must be a number > 0. Got -1.0 instead."),
        ({"learning_rate": math.nan}, "'learning_rate' parameter must be a number > 0"),
        ({"optimizer": "adm"}, "Did you mean 'adam'?"),
        ({"loss": "l1"}, "'loss' parameter must be one of 'mse', 'mae'"),
        ({"lr_schedule": "cosin"}, "Did you mean 'cosine'?"),
        ({"precision": "fp8"}, "must be one of 'auto', 'fp32', 'bf16', 'fp16'"),
        ({"device": "gpu"}, "'auto', 'cpu', 'cuda' or 'cuda:N'. Got 'gpu' instead."),
        ({"clip_norm": 1.0, "clip_value": 1.0}, "Give at most one of 'clip_norm'"),
        ({"clip_norm": 0}, "'clip_norm' parameter must be a number > 0"),
        ({"momentum": 1.0}, "'momentum' parameter must be a number in [0, 1)"),
        ({"tbptt_steps": 4, "tbptt_backprop_steps": 6}, "must be a multiple of 'tbptt_steps' (k1=4)"),
        ({"tbptt_steps": 4, "tbptt_backprop_steps": 2}, "Got 2 instead."),
        ({"early_stopping_patience": 0}, "'early_stopping_patience' parameter must be an int >= 1"),
        ({"progress": "yes"}, "'progress' parameter must be True, False or None"),
        ({"restore_best": 1}, "'restore_best' parameter must be True or False"),
        ({"lr_hold_epochs": 2}, "'lr_hold_epochs' delays the 'step' schedule; lr_schedule is 'constant'"),
        ({"lr_hold_epochs": -1}, "The 'lr_hold_epochs' parameter must be an int >= 0"),
    ],
)
def test_config_rejects_bad_values_by_name(changes, message):
    with pytest.raises(ConfigError, match=None) as error:
        TrainingConfig(**changes)
    assert message in str(error.value)


def test_config_is_plain_and_validated_on_replace():
    base = TrainingConfig(tbptt_steps=8, tbptt_backprop_steps=16)
    assert base.backprop_steps == 16 and TrainingConfig(tbptt_steps=8).backprop_steps == 8
    def plain(value) -> bool:  # a scalar, or a tuple of numbers (the quantile levels)
        if isinstance(value, tuple):
            return all(isinstance(item, float) for item in value)
        return isinstance(value, (int, float, str, bool, type(None)))

    assert all(plain(value) for value in dataclasses.asdict(base).values())
    with pytest.raises(ConfigError, match="'learning_rate'"):
        dataclasses.replace(base, learning_rate=0.0)


def test_unavailable_cuda_and_cpu_fp16_are_refused():
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Trainer(TrainingConfig(device="cuda"))
        with pytest.raises(ConfigError, match="precision='fp16' needs a CUDA device"):
            Trainer(TrainingConfig(device="cpu", precision="fp16"))
    assert Trainer(config()).autocast_dtype is None  # fp32 on the CPU unless bf16 is asked for
    assert Trainer(config(precision="bf16")).autocast_dtype == torch.bfloat16


# ----------------------------------------------------------------------------- window training
def test_the_configured_loss_is_trained_and_reported():
    values = sine(200)
    model = seeded(LinearForecaster)
    history = Trainer(config(epochs=1, loss="mae")).fit(copy.deepcopy(model), windows(values[:150]), windows(values[140:]))
    trained_mse = Trainer(config(epochs=1)).fit(copy.deepcopy(model), windows(values[:150]), windows(values[140:]))
    assert history.val_loss[0] != trained_mse.val_loss[0]
    fitted = copy.deepcopy(model)
    Trainer(config(epochs=1, loss="mae")).fit(fitted, windows(values[:150]))
    inputs, targets, _, _ = windows(values[140:]).gather(torch.arange(len(windows(values[140:]))))
    expected = (fitted(inputs.float()) - targets.float()).abs().mean().item()
    assert Trainer(config(loss="mae")).evaluate(fitted, windows(values[140:])) == pytest.approx(expected, rel=1e-5)


def test_loss_decreases_on_a_toy_series():
    values = sine(200)
    history = Trainer(config(epochs=8)).fit(seeded(LinearForecaster), windows(values[:150]), windows(values[140:]))
    assert history.train_loss[-1] < history.train_loss[0] / 4
    assert history.val_loss[-1] < history.val_loss[0] / 4
    assert history.epochs == 8 and not history.stopped_early
    assert [len(norms) for norms in history.step_grad_norms] == [9] * 8  # 141 windows / 16 per batch
    assert history.grad_norm_max[0] == max(history.step_grad_norms[0])


def test_clip_norm_bounds_the_applied_gradient_and_records_the_pre_clip_norm():
    train = windows(sine(60))
    model = seeded(LinearForecaster)
    # Full-batch: the first step's gradient is that of the initial model on every window.
    reference = copy.deepcopy(model)
    inputs, targets, _, _ = train.gather(torch.arange(len(train)))
    masked_mse(reference(inputs.float()), targets.float()).backward()
    first_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in reference.parameters()]))

    applied = []

    class AppliedNorm(Callback):
        def on_batch_end(self, trainer, epoch, batch, loss):
            gradients = torch.cat([parameter.grad.flatten() for parameter in trainer.model.parameters()])
            applied.append(float(torch.linalg.vector_norm(gradients)))

    history = Trainer(config(batch_size=len(train), clip_norm=0.1), [AppliedNorm()]).fit(model, train)
    recorded = [norm for epoch in history.step_grad_norms for norm in epoch]
    assert max(applied) <= 0.1 + 1e-6
    assert recorded[0] == pytest.approx(float(first_norm), rel=1e-5) and recorded[0] > 0.1


def test_clip_value_clamps_every_gradient_element():
    largest = []

    class LargestGradient(Callback):
        def on_batch_end(self, trainer, epoch, batch, loss):
            largest.append(max(float(p.grad.abs().max()) for p in trainer.model.parameters()))

    history = Trainer(config(clip_value=0.01), [LargestGradient()]).fit(seeded(LinearForecaster), windows(sine(60)))
    assert max(largest) <= 0.01
    assert max(history.grad_norm_max) > 0.01 * math.sqrt(INPUT_LENGTH * HORIZON + HORIZON)  # clipping did act


class ExplodesAt(LinearForecaster):
    """Predicts NaN at its ``call``-th training forward pass (counting from 0)."""

    def __init__(self, call: int) -> None:
        super().__init__()
        self.call, self.calls = call, 0

    def forward(self, inputs):
        predictions = super().forward(inputs)
        if self.training:
            self.calls += 1
            if self.calls - 1 == self.call:
                return predictions * torch.nan
        return predictions


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_checkpoint(tmp_path):
    train = windows(sine(40))  # 31 windows: 4 batches of 8
    recorder = Recorder()
    trainer = Trainer(config(batch_size=8, checkpoint_dir=str(tmp_path)), [recorder])
    torch.manual_seed(0)
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit(ExplodesAt(call=6), train, windows(sine(40, seed=1)))
    message = str(error.value)
    assert "batch 2 (of 4) was nan in epoch 1 (of 3" in message
    assert "clip_norm" in message and "learning rate" in message
    assert recorder.calls[-1] == ("exception", "TrainingDivergedError")

    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(checkpoint) == {
        "format", "mode", "epoch", "config", "model", "optimizer", "scheduler", "scaler", "history", "best", "rng",
        "job",
    }
    assert checkpoint["epoch"] == 1 and len(checkpoint["history"]["train_loss"]) == 1
    for name, value in recorder.epoch_weights[0].items():
        assert torch.equal(checkpoint["model"][name], value), name
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


@pytest.mark.parametrize("validate", [True, False])
def test_a_loss_that_runs_away_while_finite_stops_training(tmp_path, validate):
    """Adam at learning rate 1e6: losses of 1e10 and more, never NaN (issue 17: forecasts of millions, exit 0)."""
    values = sine(100)
    train, validation = windows(values[:80]), windows(values[70:]) if validate else None
    trainer = Trainer(config(learning_rate=1e6, checkpoint_dir=str(tmp_path)))
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit(seeded(LSTMForecaster), train, validation)
    which = "validation" if validate else "training"
    message = str(error.value)
    assert f"the {which} loss was" in message and "in epoch 0 (of 3" in message
    assert "more than 1000 times the untrained model's" in message and "learning rate (1e+06)" in message
    assert "clip_norm" in message and not (tmp_path / "last.pt").exists()  # the runaway epoch is never saved
    assert math.isfinite(float(message.split(" loss was ")[1].split()[0]))


def test_ordinary_loss_spikes_are_not_divergence():
    """A high but workable rate: the validation loss jumps about (up to ~20x), training goes on."""
    values = sine(200)
    history = Trainer(config(epochs=8, learning_rate=0.3)).fit(seeded(LSTMForecaster), windows(values[:160]),
                                                               windows(values[150:]))
    assert history.epochs == 8 and history.untrained_loss > 0
    assert max(history.val_loss) < 1000 * max(history.untrained_loss, min(history.val_loss))


def test_resume_continues_bit_identically_with_dropout_and_a_schedule(tmp_path):
    values = sine(100)
    train, validation = windows(values[:80]), windows(values[70:])
    settings = dict(epochs=4, lr_schedule="cosine", seed=7)
    uninterrupted = seeded(LSTMForecaster, dropout=0.5)
    full = Trainer(config(**settings)).fit(uninterrupted, train, validation)

    crashing = Trainer(config(checkpoint_dir=str(tmp_path), **settings), [Recorder(raise_at=2)])
    with pytest.raises(KeyboardInterrupt):
        crashing.fit(seeded(LSTMForecaster, dropout=0.5), train, validation)
    resumed_model = seeded(LSTMForecaster, seed=123, dropout=0.5)  # other weights: the checkpoint must replace them
    resuming = Trainer(config(checkpoint_dir=str(tmp_path), **settings))
    resumed = resuming.fit(resumed_model, train, validation, resume=True)

    assert_same_weights(uninterrupted, resumed_model)
    assert resumed.train_loss == full.train_loss and resumed.val_loss == full.val_loss
    assert resumed.learning_rate == full.learning_rate and resumed.step_grad_norms == full.step_grad_norms


def test_resume_needs_a_checkpoint_of_the_same_mode(tmp_path):
    trainer = Trainer(config(epochs=1, checkpoint_dir=str(tmp_path)))
    with pytest.raises(DataFileNotFoundError, match="no checkpoint at"):
        trainer.fit(seeded(LinearForecaster), windows(sine(40)), resume=True)
    trainer.fit(seeded(LinearForecaster), windows(sine(40)))
    with pytest.warns(UserWarning, match=r"different settings \(batch_size\)"):
        Trainer(config(epochs=2, batch_size=8, checkpoint_dir=str(tmp_path))).fit(
            seeded(LinearForecaster), windows(sine(40)), resume=True
        )
    with pytest.raises(ConfigError, match="written by Trainer.fit; resume it with that method"):
        trainer.fit_sequence(seeded(StatefulRNN), sine(40), streams=2, resume=True)


def test_same_seed_same_weights_other_seed_other_weights():
    train = windows(sine(80))
    first, second, third = (seeded(LSTMForecaster, dropout=0.3) for _ in range(3))
    Trainer(config(seed=3)).fit(first, train)
    Trainer(config(seed=3)).fit(second, train)
    Trainer(config(seed=4)).fit(third, train)
    assert_same_weights(first, second)
    assert not torch.equal(first.head.weight, third.head.weight)


def drifting_validation_setup():
    """A model that starts perfect on the validation data and gets worse there every epoch.

    Training on a constant series of ones moves the bias up; the validation inputs and
    targets are zeros, so the validation loss is the squared bias: it grows every epoch.
    """
    model = LinearForecaster()
    nn.init.zeros_(model.linear.weight)
    nn.init.zeros_(model.linear.bias)
    return model, windows(np.ones((40, 1))), windows(np.zeros((20, 1)))


def test_early_stopping_stops_and_restores_the_best_weights():
    model, train, validation = drifting_validation_setup()
    recorder = Recorder()
    history = Trainer(config(epochs=10, optimizer="sgd", early_stopping_patience=2), [recorder]).fit(
        model, train, validation
    )
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 0
    assert history.val_loss == sorted(history.val_loss) and history.val_loss[0] < history.val_loss[1]
    for name, value in recorder.epoch_weights[0].items():
        assert torch.equal(model.state_dict()[name], value), name


@pytest.mark.parametrize(
    "changes, factors",
    [
        ({"lr_schedule": "constant"}, [1, 1, 1, 1]),
        ({"lr_schedule": "step", "lr_step_epochs": 2, "lr_decay": 0.5}, [1, 1, 0.5, 0.5]),
        ({"lr_schedule": "step", "lr_step_epochs": 1, "lr_decay": 0.5, "lr_hold_epochs": 2}, [1, 1, 1, 0.5]),
        ({"lr_schedule": "cosine"}, [(1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]),
        ({"lr_schedule": "plateau", "lr_plateau_patience": 1, "lr_decay": 0.1}, [1, 1, 1, 0.1]),
    ],
)
def test_learning_rate_schedules(changes, factors):
    model, train, validation = drifting_validation_setup()  # validation worsens: the plateau schedule decays
    history = Trainer(config(epochs=4, optimizer="sgd", **changes)).fit(model, train, validation)
    assert history.learning_rate == pytest.approx([0.01 * factor for factor in factors])


def test_masked_loss_counts_only_observed_targets():
    predictions, targets = torch.arange(6.0).reshape(1, 3, 2), torch.ones(1, 3, 2)
    mask = torch.tensor([[[True, False], [True, True], [False, False]]])
    garbage = torch.where(mask, targets, torch.full_like(targets, torch.inf))
    expected = ((0 - 1) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2) / 3
    assert float(masked_mse(predictions, garbage, mask)) == pytest.approx(expected)

    values = sine(40)
    values[[12, 20, 21]] = np.nan
    source = windows(values)
    model = seeded(LinearForecaster)
    inputs, targets, _, target_mask = source.gather(torch.arange(len(source)))
    with torch.no_grad():
        errors = (model(inputs.float()) - targets.float()).square()[target_mask]
    assert Trainer(config(batch_size=len(source))).evaluate(model, source) == pytest.approx(float(errors.mean()))
    history = Trainer(config()).fit(model, source)
    assert all(math.isfinite(loss) for loss in history.train_loss)


def test_pass_targets_gives_the_targets_to_training_steps_only():
    seen = []

    class TeacherForced(LinearForecaster):
        def forward(self, inputs, targets=None):
            seen.append((self.training, targets is not None))
            return super().forward(inputs)

    source = windows(sine(40))
    trainer = Trainer(config(epochs=1, batch_size=len(source)))
    trainer.fit(TeacherForced(), source, source, pass_targets=True)
    trainer.predict(trainer.model, source)
    # the untrained model's validation loss, the training step, the epoch's validation, predict
    assert seen == [(False, False), (True, True), (False, False), (False, False)]


def test_shape_mismatch_is_reported():
    with pytest.raises(DataError, match=r"predictions have shape \(16, 1\) but the targets have shape \(16, 2, 1\)"):
        Trainer(config()).fit(nn.Sequential(nn.Flatten(), nn.Linear(INPUT_LENGTH, 1)), windows(sine(40)))


# ----------------------------------------------------------------------------- callbacks, predict, devices
def test_callbacks_are_called_in_order_and_can_stop_training():
    recorder, second = Recorder(stop_at=1), Recorder()
    train = windows(sine(41))  # 32 windows: 2 batches of 16
    history = Trainer(config(epochs=5), [recorder, second]).fit(seeded(LinearForecaster), train, windows(sine(30)))
    keys = ["best_epoch", "epoch_time_s", "grad_norm_max", "grad_norm_mean", "lr", "train_loss", "val_loss"]
    expected = [("train_begin",)]
    for epoch in (0, 1):
        expected += [("epoch_begin", epoch), ("batch_end", epoch, 0), ("batch_end", epoch, 1)]
        expected += [("epoch_end", epoch, keys)]
    assert recorder.calls == expected + [("train_end", 2)]
    assert second.calls == recorder.calls and history.epochs == 2


def test_exceptions_from_callbacks_propagate_after_on_exception():
    class Pruned(Exception):
        pass

    class Pruner(Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            raise Pruned(f"pruned at epoch {epoch}")

    recorder = Recorder()
    with pytest.raises(Pruned, match="pruned at epoch 0"):
        Trainer(config(), [Pruner(), recorder]).fit(seeded(LinearForecaster), windows(sine(40)))
    assert recorder.calls[-1] == ("exception", "Pruned")


def test_progress_bar_is_one_tqdm_bar_over_the_steps_of_the_fit_with_the_losses():
    stream = io.StringIO()
    Trainer(config(epochs=2), [ProgressBar(stream)]).fit(seeded(LinearForecaster), windows(sine(40)), windows(sine(30)))
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "train " in text and "val " in text
    last = text.rstrip("\n").split("\r")[-1]  # the bar's final state, left on its line
    assert last.startswith("epoch 2/2: 100%") and "4/4" in last and "step/s" in last
    assert text.endswith("\n") and last.rstrip().endswith("]")  # left on its own line (tqdm may pad with spaces)


def test_the_trainer_adds_a_progress_bar_only_on_a_terminal_unless_asked(monkeypatch):
    def bars(trainer):
        return [callback for callback in trainer.callbacks if isinstance(callback, ProgressBar)]

    assert bars(Trainer(TrainingConfig(progress=None))) == []  # pytest's stderr is not a terminal
    assert len(bars(Trainer(TrainingConfig(progress=True)))) == 1
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert len(bars(Trainer(TrainingConfig(progress=None)))) == 1
    assert bars(Trainer(TrainingConfig(progress=False))) == []


def test_predict_batches_in_eval_mode_and_returns_cpu_tensors():
    source = windows(sine(40))
    model = seeded(LSTMForecaster, dropout=0.5)
    model.eval()
    with torch.no_grad():
        expected = model(source.inputs.float())
    model.train()
    trainer = Trainer(config())
    from_source = trainer.predict(model, source, batch_size=7)
    from_inputs = trainer.predict(model, source.inputs.float(), batch_size=5)
    assert from_source.shape == (31, HORIZON, 1) and from_source.device.type == "cpu"
    torch.testing.assert_close(from_source, expected)
    torch.testing.assert_close(from_inputs, expected)
    assert model.training  # the caller's mode is restored


def test_to_device_moves_the_series_once_and_keeps_views():
    source = windows(sine(40))
    moved = to_device(source, torch.device("cpu"), torch.float32)
    assert moved.inputs.dtype == moved.targets.dtype == torch.float32
    assert moved.inputs.untyped_storage().data_ptr() == moved.targets.untyped_storage().data_ptr()
    assert moved.inputs.untyped_storage().nbytes() == 40 * 4  # the series, not the N windows
    torch.testing.assert_close(moved.inputs, source.inputs.float())
    assert to_device(moved, torch.device("cpu"), torch.float32) is moved


class ListSource:
    """A window source that is no dataclass: gathered on the host, each batch copied and cast."""

    def __init__(self, windows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def gather(self, indices):
        return self.windows.gather(indices)


def test_any_source_with_len_and_gather_trains_like_windows():
    values = sine(60)
    multi = make_multi_series_windows([values[:30], values[30:]], INPUT_LENGTH, HORIZON)
    sources = [windows(values[:30]), multi, ListSource(multi)]
    models = [seeded(LinearForecaster) for _ in sources]
    for model, source in zip(models, sources):
        history = Trainer(config(epochs=2)).fit(model, source)
        assert len(history.step_loss[0]) == math.ceil(len(source) / 16)
    assert_same_weights(models[1], models[2])  # moved once or batch by batch: the same training


def test_cpu_bf16_autocast_trains_and_predicts_float32():
    source = windows(sine(60))
    trainer = Trainer(config(precision="bf16"))
    history = trainer.fit(seeded(LSTMForecaster), source)
    assert all(math.isfinite(loss) for loss in history.train_loss)
    assert trainer.predict(trainer.model, source).dtype == torch.float32


# ----------------------------------------------------------------------------- truncated BPTT
def streams_of(values: np.ndarray, streams: int):
    """Reference cut of a series into next-step streams: (inputs, targets), each (B, S, 1) float32."""
    series = torch.as_tensor(values, dtype=torch.float32)
    steps = (len(series) - 1) // streams
    inputs = series[: streams * steps].reshape(streams, steps, -1)
    return inputs, series[1 : streams * steps + 1].reshape(streams, steps, -1)


def test_streams_are_contiguous_next_step_pairs_with_masked_targets():
    values = np.arange(12.0)
    values[4] = np.nan
    streams = make_streams(values, 2)  # 11 transitions: 2 streams of 5 steps, the last one dropped
    assert streams.inputs[..., 0].tolist() == [[0, 1, 2, 3, 0], [5, 6, 7, 8, 9]]
    assert streams.targets[..., 0].tolist() == [[1, 2, 3, 0, 5], [6, 7, 8, 9, 10]]
    assert streams.target_mask[..., 0].tolist() == [[True, True, True, False, True], [True] * 5]


def test_tbptt_with_chunks_longer_than_the_series_is_full_bptt():
    values = sine(41)
    model = seeded(StatefulRNN, cell="lstm")
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    inputs, targets = streams_of(values, streams=4)  # (4, 10, 1)
    outputs, _ = reference(inputs, None)
    (outputs - targets).square().mean().backward()
    optimizer.step()

    settings = config(epochs=1, optimizer="sgd", learning_rate=0.1, tbptt_steps=16)
    history = Trainer(settings).fit_sequence(model, values, streams=4)
    assert len(history.step_grad_norms[0]) == 1
    assert_same_weights(model, reference)


class ChunkSpy(nn.Module):
    """Wraps a stateful model: makes each input chunk a leaf, keeps the states it got and gave."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.leaves, self.states_in, self.states_out = model, [], [], []

    def forward(self, inputs, state):
        leaf = inputs.detach().requires_grad_()
        outputs, new_state = self.model(leaf, state)
        if self.training:
            self.leaves.append(leaf)
            self.states_in.append(state)
            self.states_out.append(new_state)
        return outputs, new_state


def test_tbptt_cuts_gradients_at_chunk_boundaries_but_carries_the_state():
    spy = ChunkSpy(seeded(StatefulRNN, cell="lstm"))
    gradients_after_step = []

    class Snapshot(Callback):
        def on_batch_end(self, trainer, epoch, batch, loss):
            gradients_after_step.append([leaf.grad.clone() for leaf in spy.leaves])

    settings = config(epochs=1, tbptt_steps=4)
    history = Trainer(settings, [Snapshot()]).fit_sequence(spy, sine(13), streams=1)  # 12 steps: 3 chunks
    assert len(history.step_grad_norms[0]) == 3 and [leaf.shape[1] for leaf in spy.leaves] == [4, 4, 4]
    # The second and third chunks' losses add exactly nothing to the first chunk's input gradient.
    assert torch.equal(gradients_after_step[0][0], gradients_after_step[1][0])
    assert torch.equal(gradients_after_step[1][1], gradients_after_step[2][1])
    assert bool(gradients_after_step[0][0].abs().sum() > 0)
    # ... while the state flows forward: chunk 2 starts from chunk 1's final state, detached.
    assert spy.states_in[0] is None
    for given, received in zip(spy.states_out[:-1], spy.states_in[1:]):
        assert all(torch.equal(g, r) and not r.requires_grad for g, r in zip(given, received))


def test_tbptt_processes_each_step_once_per_epoch_when_k2_equals_k1():
    spy = ChunkSpy(seeded(StatefulRNN))
    Trainer(config(epochs=2, tbptt_steps=3)).fit_sequence(spy, sine(50), sine(20), streams=3)  # 16 steps a stream
    assert [leaf.shape for leaf in spy.leaves[:6]] == [(3, 3, 1)] * 5 + [(3, 1, 1)]
    assert sum(leaf.shape[1] for leaf in spy.leaves) == 2 * 16


def test_tbptt_k2_greater_than_k1_matches_a_manual_reference():
    values, chunk, backprop = sine(13), 2, 4
    model = seeded(StatefulRNN, cell="rnn", hidden_size=3)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    inputs, targets = streams_of(values, streams=2)  # (2, 6, 1)
    states = {0: None}  # detached state at each chunk boundary, by time step
    for start in range(0, inputs.shape[1], chunk):
        first = max(0, start - (backprop - chunk))
        outputs, state = reference(inputs[:, first : start + chunk], states[first])
        optimizer.zero_grad()
        (outputs[:, start - first :] - targets[:, start : start + chunk]).square().mean().backward()
        optimizer.step()
        states[start + chunk] = state.detach()

    settings = config(epochs=1, optimizer="sgd", learning_rate=0.1, tbptt_steps=chunk, tbptt_backprop_steps=backprop)
    spy = ChunkSpy(model)
    Trainer(settings).fit_sequence(spy, values, streams=2)
    assert [leaf.shape[1] for leaf in spy.leaves] == [2, 4, 4]  # k2 = 4 steps re-run once history allows
    assert_same_weights(model, reference)


def test_fit_sequence_learns_and_validates_statefully():
    values = sine(400)
    settings = config(epochs=6, tbptt_steps=10, learning_rate=0.02)
    history = Trainer(settings).fit_sequence(seeded(StatefulRNN), values[:300], values[300:], streams=8)
    assert history.train_loss[-1] < history.train_loss[0] / 2 and history.val_loss[-1] < history.val_loss[0]
    with pytest.raises(DataError, match="cannot be cut into 8 streams"):
        Trainer(settings).fit_sequence(seeded(StatefulRNN), values[:5], streams=8)


def test_threads_default_leaves_a_cpu_free_and_are_restored_after_training():
    from tsseq.engine.device import resolve_threads, usable_cpus

    assert resolve_threads(None) == max(1, usable_cpus() - 1) and resolve_threads(3) == 3
    with pytest.raises(ConfigError, match="'threads' parameter must be an int >= 1"):
        TrainingConfig(threads=0)
    before = torch.get_num_threads()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, trainer, epoch, logs=None):
            seen.append(torch.get_num_threads())

    windows = make_windows(np.sin(np.arange(200.0))[:, None], 8, 2)
    trainer = Trainer(TrainingConfig(epochs=1, threads=2 if before != 2 else 1, progress=False), [Spy()])
    trainer.fit(nn.Sequential(nn.Flatten(), nn.Linear(8, 2), nn.Unflatten(1, (2, 1))), windows)
    assert seen == [trainer.threads] and torch.get_num_threads() == before


def test_the_issues_lstm_at_learning_rate_1e6_stops_instead_of_forecasting_millions():
    import pandas as pd

    from tsseq import registry

    index = pd.date_range("2020-01-01", periods=300, freq="h")
    y = pd.DataFrame({"load": 10 + np.sin(np.arange(300) / 5)}, index=index)
    training = {"epochs": 5, "learning_rate": 1e6, "device": "cpu", "progress": False}
    with pytest.raises(TrainingDivergedError, match=r"the validation loss was \S+ in epoch 0 .* although finite"):
        registry.create("lstm", input_length=24, horizon=6, training=training).fit(y)
