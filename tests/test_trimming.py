"""Robust training (TrainingConfig.trim_fraction): the windows of highest loss sit each epoch out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tsseq.data.windows import make_windows
from tsseq.engine import Trainer, TrainingConfig
from tsseq.engine.trimming import kept_windows, outlier_count, trim_count, trimmed_windows, window_losses
from tsseq.engine.losses import masked_mae
from tsseq.errors import ConfigError

INPUT_LENGTH = 8
OUTLIERS = (150, 400)  # rows pushed up by 20


class Linear(nn.Module):
    """``(B, L, 1) -> (B, 1, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(INPUT_LENGTH, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(inputs[..., 0]).unsqueeze(-1)


def contaminated_windows():
    """A sine of period 16 (600 rows) with two outliers: windows whose input or target holds one are hit."""
    values = np.sin(2 * np.pi * np.arange(600) / 16)[:, None].astype(np.float32)
    for row in OUTLIERS:
        values[row] += 20.0
    windows = make_windows(values, input_length=INPUT_LENGTH, horizon=1)
    hit = {start for row in OUTLIERS for start in range(row - INPUT_LENGTH, row + 1)}  # window s reads s .. s + L
    return windows, hit


def config(**changes) -> TrainingConfig:
    base = dict(epochs=4, batch_size=32, learning_rate=1e-2, seed=0, device="cpu", threads=1, progress=False)
    return TrainingConfig(**{**base, **changes})


def test_trimmed_windows_are_the_largest_losses_largest_first_ties_to_the_lower_index():
    losses = torch.tensor([0.1, 5.0, 0.3, 5.0, 9.0, float("nan"), 0.2, 0.0, 0.4, 0.5])
    assert trim_count(10, 0.3) == 3 and trim_count(10, 0.0) == 0 and trim_count(3, 0.49) == 1
    assert trimmed_windows(losses, 0.3).tolist() == [5, 4, 1]  # NaN ranks first
    assert trimmed_windows(losses, 0.4).tolist() == [5, 4, 1, 3]
    assert kept_windows(10, torch.tensor([5, 4, 1])).tolist() == [0, 2, 3, 6, 7, 8, 9]


def test_auto_trims_the_losses_beyond_the_log_scale_fence_at_most_a_quarter():
    generator = torch.Generator().manual_seed(0)
    clean = torch.distributions.Chi2(torch.tensor(24.0)).sample((1000,)) / 24  # one window's mean squared error
    assert outlier_count(clean) == 0
    dirty = clean.clone()
    dirty[[7, 300, 301]] *= 40
    assert outlier_count(dirty) == 3 and trimmed_windows(dirty, "auto").sort().values.tolist() == [7, 300, 301]
    assert outlier_count(torch.tensor([1.0] * 9 + [float("nan")])) == 1  # no spread: only the NaN
    assert outlier_count(torch.tensor([1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 0.0, 50.0])) == 1  # a zero loss is no outlier
    likelihood = torch.tensor([-1.0, -1.1, -0.9, -1.05, -0.95, -1.0, float("-inf"), 30.0])  # negative log-likelihoods
    assert outlier_count(likelihood) == 1 and trimmed_windows(likelihood, "auto").tolist() == [7]
    bulk, spikes = 0.9 + 0.2 * torch.rand(300, generator=generator), torch.full((100,), 1e6)
    assert outlier_count(torch.cat([bulk, spikes])) == 100  # a quarter of 400
    assert outlier_count(torch.cat([bulk[:200], spikes])) == 75  # capped at a quarter of 300


def test_window_losses_are_each_windows_loss_alone():
    predictions, targets = torch.zeros(3, 2, 1), torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, -4.0]])[..., None]
    mask = torch.tensor([[True, False], [True, True], [False, True]])[..., None]
    assert window_losses(masked_mae, predictions, targets, mask).tolist() == [1.0, 2.0, 4.0]
    assert window_losses(masked_mae, predictions, targets, None).tolist() == [2.0, 2.0, 2.0]


def test_trimming_drops_the_windows_holding_the_outliers_after_the_warm_up():
    windows, hit = contaminated_windows()
    history = Trainer(config(trim_fraction=0.04, trim_warmup_epochs=1)).fit(Linear(), windows)
    count = int(0.04 * len(windows))
    assert [len(dropped) for dropped in history.trimmed] == [0, count, count, count]
    # Known answer: the 2 x 9 windows that read an outlier have the highest losses of all.
    assert set(history.trimmed[-1][: len(hit)]) == hit
    assert len(hit) < count


def test_auto_trimming_drops_only_windows_holding_the_outliers_and_nothing_of_clean_data():
    windows, hit = contaminated_windows()
    history = Trainer(config(trim_fraction="auto")).fit(Linear(), windows)
    assert history.trimmed[0] == []
    for dropped in history.trimmed[1:]:
        assert set(dropped) <= hit and len(dropped) >= len(hit) // 2
    noise = 0.1 * np.random.default_rng(0).standard_normal((600, 1)).astype(np.float32)
    clean = make_windows(np.sin(2 * np.pi * np.arange(600) / 16)[:, None].astype(np.float32) + noise, INPUT_LENGTH, 1)
    assert Trainer(config(trim_fraction="auto")).fit(Linear(), clean).trimmed == [[], [], [], []]


def test_trimming_is_reproducible_and_off_by_default():
    windows, _ = contaminated_windows()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Linear()
        history = Trainer(config(trim_fraction=0.1)).fit(model, windows)
        runs.append((history.trimmed, history.train_loss, model.linear.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1] and torch.equal(runs[0][2], runs[1][2])
    torch.manual_seed(0)
    plain = Trainer(config()).fit(Linear(), windows)
    assert plain.trimmed == []
    assert plain.train_loss[0] == runs[0][1][0]  # the warm-up epoch is an ordinary epoch


def test_trimming_robust_fit_recovers_the_clean_model():
    """A linear AR fitted with the outlier windows dropped predicts the clean sine far better."""
    windows, hit = contaminated_windows()
    clean = np.sin(2 * np.pi * np.arange(600) / 16)[:, None].astype(np.float32)
    clean_windows = make_windows(clean, input_length=INPUT_LENGTH, horizon=1)
    errors = {}
    for fraction in (0.0, 0.05):
        torch.manual_seed(0)
        model = Linear()
        trainer = Trainer(config(epochs=30, trim_fraction=fraction, trim_warmup_epochs=2))
        trainer.fit(model, windows)
        errors[fraction] = trainer.evaluate(model, clean_windows)
    assert errors[0.05] < 0.2 * errors[0.0]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"trim_fraction": 0.5}, "'trim_fraction' parameter must be a number in [0, 0.5)"),
        ({"trim_fraction": -0.1}, "'trim_fraction'"),
        ({"trim_fraction": "0.1"}, "'trim_fraction' parameter must be a number in [0, 0.5) (0: no trimming), or 'auto'"),
        ({"trim_fraction": "auto", "trim_warmup_epochs": 4}, "for trim_fraction=auto to drop anything"),
        ({"trim_warmup_epochs": -1}, "'trim_warmup_epochs' parameter must be an int >= 0"),
        ({"trim_fraction": 0.1, "trim_warmup_epochs": 4}, "'trim_warmup_epochs' parameter must be below 'epochs' (4)"),
    ],
)
def test_trimming_settings_are_validated(changes, message):
    with pytest.raises(ConfigError) as error:
        config(**changes)
    assert message in str(error.value)


def test_truncated_bptt_refuses_trimming():
    with pytest.raises(ConfigError, match="'trim_fraction' parameter drops whole training windows"):
        Trainer(config(trim_fraction=0.1)).fit_sequence(nn.LSTM(1, 1), np.zeros(64, dtype=np.float32))


def test_window_losses_fall_back_to_one_call_per_window_for_a_loss_vmap_cannot_batch():
    def picky(predictions, targets, mask):  # data-dependent control flow: vmap refuses it
        errors = predictions - targets
        return errors.abs().mean() if bool((targets > 0).all()) else errors.square().mean()

    predictions, targets = torch.zeros(2, 1, 1), torch.tensor([3.0, -3.0]).reshape(2, 1, 1)
    assert window_losses(picky, predictions, targets, None).tolist() == [3.0, 9.0]


def test_a_resumed_trimmed_run_matches_an_uninterrupted_one(tmp_path):
    windows, _ = contaminated_windows()
    torch.manual_seed(0)
    whole = Linear()
    expected = Trainer(config(epochs=4, trim_fraction=0.1)).fit(whole, windows)
    torch.manual_seed(0)
    Trainer(config(epochs=2, trim_fraction=0.1, checkpoint_dir=str(tmp_path))).fit(Linear(), windows)
    resumed = Linear()
    trainer = Trainer(config(epochs=4, trim_fraction=0.1, checkpoint_dir=str(tmp_path)))
    history = trainer.fit(resumed, windows, resume=True)
    assert history.trimmed == expected.trimmed and history.train_loss == expected.train_loss
    assert torch.equal(resumed.linear.weight, whole.linear.weight)
