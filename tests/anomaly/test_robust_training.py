"""Robust training of the neural detectors on contaminated training rows (training.trim_fraction)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import make_detector
from tsseq.cli import main
from tsseq.errors import ConfigError

L = 16
TRAIN_ROWS = 1000
TRAINING_SHIFTS = ((150, 162), (400, 412), (650, 662))  # rows [a, b) pushed up by 4 (about 6 std) in training
TEST_SHIFT = (1100, 1112)  # the same kind of anomaly after the training rows


def contaminated_series() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(1300)
    values = np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(len(t))
    for start, stop in (*TRAINING_SHIFTS, TEST_SHIFT):
        values[start:stop] += 4.0
    return pd.DataFrame({"sensor": values}, index=pd.date_range("2000-01-01", periods=len(t), freq="h"))


def fitted(trim_fraction: float | str, frame: pd.DataFrame):
    training = {"epochs": 15, "batch_size": 32, "learning_rate": 3e-3, "seed": 0, "device": "cpu", "threads": 1,
                "progress": False, "trim_fraction": trim_fraction, "trim_warmup_epochs": 2}  # fmt: skip
    detector = make_detector("lstm_ae", window_length=L, threshold=None, model_params={"hidden_size": 32},
                             training=training)  # fmt: skip
    return detector.fit(frame.iloc[:TRAIN_ROWS])


def test_robust_training_ignores_injected_training_anomalies():
    """Known answer: with trim_fraction above the share of contaminated windows (81 of 785, 10.3%),
    every training window that overlaps an injected shift sits out every epoch after the warm-up,
    and the detector scores a test shift of the same kind far higher relative to normal rows."""
    frame = contaminated_series()
    plain, robust = fitted(0.0, frame), fitted(0.12, frame)
    overlapping = {s for a, b in TRAINING_SHIFTS for s in range(a - L + 1, b)}  # window s covers rows s .. s + L - 1
    assert len(overlapping) == 81
    # 800 training rows (validation_fraction=0.2) give 785 windows: floor(0.12 * 785) = 94 sit out.
    assert [len(dropped) for dropped in robust.history_.trimmed] == [0, 0] + [94] * 13
    for dropped in robust.history_.trimmed[2:]:
        assert overlapping <= set(dropped)  # all 81, each epoch; the other 13 are normal windows
    assert plain.history_.trimmed == []

    def test_ratio(detector) -> float:
        scores = detector.score(frame).to_numpy()
        return np.nanmean(scores[slice(*TEST_SHIFT)]) / np.nanmedian(scores[TRAIN_ROWS : TEST_SHIFT[0]])

    assert test_ratio(robust) > 1.5 * test_ratio(plain)  # measured 34.0 against 18.7


def test_auto_trimming_drops_exactly_the_windows_overlapping_the_injected_anomalies():
    """Known answer: with trim_fraction="auto" no fraction is given, and the 81 training windows that
    overlap a shift, and no other, sit out every epoch after the warm-up."""
    frame = contaminated_series()
    robust = fitted("auto", frame)
    overlapping = {s for a, b in TRAINING_SHIFTS for s in range(a - L + 1, b)}
    assert robust.history_.trimmed[:2] == [[], []]
    for dropped in robust.history_.trimmed[2:]:
        assert set(dropped) == overlapping


def test_auto_contamination_refits_without_exactly_the_windows_overlapping_the_injected_anomalies():
    """The detector's two-fit option with the same fence: after the first fit the 81 windows overlapping
    a shift, and no other, are left out of the refit."""
    frame = contaminated_series()
    training = {"epochs": 15, "batch_size": 32, "learning_rate": 3e-3, "seed": 0, "device": "cpu", "threads": 1,
                "progress": False}  # fmt: skip
    detector = make_detector("lstm_ae", window_length=L, threshold=None, model_params={"hidden_size": 32},
                             training=training, contamination="auto").fit(frame.iloc[:TRAIN_ROWS])  # fmt: skip
    overlapping = {s for a, b in TRAINING_SHIFTS for s in range(a - L + 1, b)}
    assert set(detector.contamination_dropped_.tolist()) == overlapping
    with pytest.raises(ConfigError, match="'contamination' parameter must be a float in \\(0, 0.5\\), 'auto' or None"):
        make_detector("lstm_ae", window_length=L, contamination="most").fit(frame.iloc[:200])


def test_trim_fraction_is_validated_through_the_detectors_training_mapping():
    frame = contaminated_series().iloc[:200]
    detector = make_detector("gru_ae", window_length=L, threshold=None, training={"trim_fraction": 0.5})
    with pytest.raises(ConfigError, match=r"'trim_fraction' parameter must be a number in \[0, 0.5\)"):
        detector.fit(frame)


def test_trim_fraction_reaches_the_detector_from_the_command_line(tmp_path: Path, capsys):
    frame = contaminated_series().iloc[:600]
    frame.index.name = "timestamp"
    path = tmp_path / "sensor.csv"
    frame.to_csv(path)
    output = tmp_path / "scores.csv"
    training = "training={epochs: 3, batch_size: 64, progress: false, trim_fraction: 0.05}"
    code = main(["detect", str(path), "--detector", "lstm_ae", "--param", training, "--window", "16",
                 "--threshold", "none", "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert pd.read_csv(output)["score"].notna().sum() > 0
    bad = "training={epochs: 3, trim_fraction: 0.6}"
    assert main(["detect", str(path), "--detector", "lstm_ae", "--param", bad, "--output", str(output)]) == 2
    assert "'trim_fraction'" in capsys.readouterr().err
