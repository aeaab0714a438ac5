"""`tsseq detect --threshold telemanom`: the spike row flagged, and the table shows what each flag was compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.cli import main

SPIKE_ROW = 400


@pytest.fixture()
def spike_csv(tmp_path: Path) -> Path:
    """A noisy sine of 600 minutes with a spike of 50 standard deviations at SPIKE_ROW."""
    values = np.sin(2 * np.pi * np.arange(600) / 60) + np.random.default_rng(0).normal(scale=0.15, size=600)
    values[SPIKE_ROW] += 50 * values.std()
    frame = pd.DataFrame({"value": values}, index=pd.date_range("2024-01-01", periods=600, freq="min"))
    frame.index.name = "timestamp"
    path = tmp_path / "spike.csv"
    frame.to_csv(path)
    return path


def _detect(csv: Path, tmp_path: Path, *options: str) -> pd.DataFrame:
    output = tmp_path / "scores.csv"
    code = main(["detect", str(csv), "--detector", "ar_residual", "--threshold", "telemanom", *options,
                 "--output", str(output)])  # fmt: skip
    assert code == 0
    return pd.read_csv(output)


def test_telemanom_in_batch_mode_flags_the_spike_row_and_shows_its_comparison(spike_csv: Path, tmp_path: Path) -> None:
    table = _detect(spike_csv, tmp_path, "--mode", "batch")
    assert table["is_anomaly"].iloc[SPIKE_ROW]
    scored = table[table["score"].notna()]
    flags, score = scored["is_anomaly"].to_numpy(), scored["score"].to_numpy()
    smoothed, threshold = scored["smoothed_score"].to_numpy(), scored["threshold"].to_numpy()
    above = smoothed > threshold
    assert not (above & ~flags).any()  # nothing pruned in this series
    # a flagged row's smoothed error passes its batch's epsilon, or it opens the sequence: its own error passes
    # epsilon and the rows up to the first that passes it smoothed pass it too (the EWMA lags a spike)
    onset = flags & ~above
    assert onset[scored.index.get_loc(SPIKE_ROW)] and (score[onset] > threshold[onset]).all()
    for row in np.flatnonzero(onset):
        assert above[row + np.argmax(~onset[row:])]


def test_telemanom_point_by_point_compares_every_row_with_its_own_epsilon(spike_csv: Path, tmp_path: Path) -> None:
    table = _detect(spike_csv, tmp_path, "--threshold-param", "batch_size=1")
    assert table["is_anomaly"].iloc[SPIKE_ROW]
    scored = table[table["score"].notna()]
    flags = scored["is_anomaly"].to_numpy()
    above = (scored["smoothed_score"] > scored["threshold"]).to_numpy()
    assert not (flags & ~above).any()  # no onset before a row in a batch of one; pruning unflags some of the rest
    assert scored["threshold"].nunique() > 1


@pytest.mark.parametrize(
    "options, message",
    [
        (["--threshold-param", "gaet=0.9", "--mode", "batch"],
         "Threshold method 'transductive' (the default of --mode batch) has no parameter 'gaet'; its parameters are "
         "brief_gate, gate,"),
        (["--threshold-param", "gaet=0.9"], "Threshold method 'adaptive' (the default of --mode causal)"),
        (["--threshold", "telemanom"], "--threshold-param batch_size=1"),
        (["--threshold", "transductive"], "--mode batch"),
    ],
)  # fmt: skip
def test_threshold_errors_name_the_method_in_use_and_the_cli_options(spike_csv: Path, tmp_path: Path, capsys,
                                                                       options: list, message: str) -> None:
    output = tmp_path / "scores.csv"
    assert main(["detect", str(spike_csv), "--detector", "ar_residual", *options, "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert message in error and not output.exists()
    if "gaet" in options[1]:
        assert "Did you mean 'gate'?" in error
