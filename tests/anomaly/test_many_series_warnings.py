"""`tsseq detect --series-column`: a warning of one series' detector names that series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.cli import main


def test_a_warning_of_one_series_detector_names_the_series(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=300, freq="h", name="time")
    parts = []
    for station, flat in (("A", False), ("B", True), ("C", True)):
        level = np.full(300, 3.0) if flat else rng.normal(size=300)
        parts.append(pd.DataFrame({"station": station, "x": rng.normal(size=300), "y": level}, index=index))
    pd.concat(parts).to_csv(tmp_path / "panel.csv")
    with pytest.warns(UserWarning) as caught:
        code = main(["detect", str(tmp_path / "panel.csv"), "--series-column", "station", "--detector", "ar_residual",
                     "--window", "24", "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    said = [str(warning.message) for warning in caught if "are constant in the training data" in str(warning.message)]
    # B's and C's constant channel, said once: B named, C counted (the same warning of the same line).
    assert len(said) == 1 and "panel.csv: series 'B' and 1 later fit: 1 channel(s) are constant" in said[0], said
