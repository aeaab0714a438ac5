"""`tsseq detect` on short series (yearly, quarterly): the defaults shrink to what the series holds, and say so.

30% of a yearly series of 100 rows is 30 training rows, 6 of them held out: auto's normalisers need 10 held-out
scores, and its default window of 48 needs 207 rows. The job trains on the fewest rows that hold out 10, and shortens
a window it was not given to half the rows it trains on; a series too short even for that is refused, naming the
numbers; a long series is untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.auto import rows_holding_out
from tsseq.anomaly.detectors import make_detector
from tsseq.cli import main
from tsseq.errors import ConfigError

FAST = "training={epochs: 2, batch_size: 64, progress: false}"


def _yearly_csv(tmp_path: Path, rows: int) -> Path:
    noise = np.random.default_rng(5).normal(size=rows)
    values = np.empty(rows)
    values[0] = noise[0]
    for t in range(1, rows):
        values[t] = 0.6 * values[t - 1] + noise[t]
    path = tmp_path / "yearly.csv"
    index = pd.date_range("1901", periods=rows, freq="YS", name="timestamp")
    pd.DataFrame({"volume": 1000 + 50 * values}, index=index).to_csv(path)
    return path


@pytest.mark.parametrize(("fraction", "rows"), [(0.2, 48), (0.1, 95), (0.25, 38), (0.5, 19)])
def test_rows_holding_out_is_the_fewest_whose_rounded_share_is_the_count(fraction: float, rows: int) -> None:
    assert rows_holding_out(fraction, 10) == rows
    assert int(round(fraction * rows)) == 10 and int(round(fraction * (rows - 1))) == 9


def test_a_yearly_series_of_100_rows_is_scored_with_shrunk_defaults_that_the_job_names(tmp_path: Path, capsys) -> None:
    output = tmp_path / "scores.csv"
    code = main(["detect", str(_yearly_csv(tmp_path, 100)), "--param", FAST, "--output", str(output)])
    error = capsys.readouterr().err
    assert code == 0, error
    assert "short series: trained on the first 48 rows, not train_fraction=0.3's 30" in error and "--train-rows" in error
    assert "short series: window 19 instead of the default 48, so that the 38 rows it trains on" in error
    table = pd.read_csv(output)
    assert len(table) == 100 and table["score"].iloc[:48].isna().all()  # causal: the training rows are unscored
    assert np.isfinite(table["score"].iloc[48:]).all()


def test_what_the_user_sets_is_kept_and_a_clear_error_names_the_rows_auto_needs(tmp_path: Path, capsys) -> None:
    csv, output = _yearly_csv(tmp_path, 100), tmp_path / "scores.csv"
    assert main(["detect", str(csv), "--param", FAST, "--window", "12", "--output", str(output)]) == 0
    error = capsys.readouterr().err
    assert "trained on the first 48 rows" in error and "instead of the default" not in error
    code = main(["detect", str(csv), "--param", FAST, "--window", "8", "--train-rows", "30", "--output", str(output)])
    assert code == 2
    error = capsys.readouterr().err
    assert "validation_fraction=0.2 of its 30 training rows gives 6 held-out scores" in error
    assert "--train-rows 48" in error


def test_a_series_too_short_even_for_shrunk_defaults_is_refused_naming_the_numbers(tmp_path: Path, capsys) -> None:
    output = tmp_path / "scores.csv"
    assert main(["detect", str(_yearly_csv(tmp_path, 40)), "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "40 rows are too few for detector 'auto': it trains on at least 48 rows (10 of them held out" in error
    assert not output.exists()


def test_a_series_long_enough_for_the_defaults_gets_them_and_no_note(tmp_path: Path, capsys) -> None:
    csv, output, given = _yearly_csv(tmp_path, 400), tmp_path / "scores.csv", tmp_path / "given.csv"
    code = main(["detect", str(csv), "--detector", "ar_residual", "--output", str(output)])
    error = capsys.readouterr().err
    assert code == 0, error
    assert "trained on the first" not in error and "instead of the default" not in error
    assert main(["detect", str(csv), "--detector", "ar_residual", "--window", "48", "--train-rows", "120",
                 "--output", str(given)]) == 0  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(output), pd.read_csv(given))


def test_a_lag_selecting_forecaster_reads_at_most_the_window(tmp_path: Path) -> None:
    frame = pd.read_csv(_yearly_csv(tmp_path, 120), index_col=0, parse_dates=True)
    for name in ("ar_residual", "var_residual", "interval"):
        detector = make_detector(name, window_length=6).fit(frame.iloc[:80])  # the forecasters' own max_order is 10
        assert detector.forecaster_.get_params()["max_order"] == 6
        assert np.isfinite(detector.score(frame).to_numpy()[6:]).all()
    assert make_detector("ar_residual", window_length=48).fit(frame.iloc[:80]).forecaster_.get_params()["max_order"] == 10
    for key in ("order", "max_order"):
        with pytest.raises(ConfigError, match=f"forecaster 'ar' with {key}=12 reads more rows than window_length=8"):
            make_detector("ar_residual", window_length=8, forecaster_params={key: 12}).fit(frame.iloc[:80])


def test_in_a_panel_each_short_series_note_names_its_series(tmp_path: Path, capsys) -> None:
    yearly = pd.read_csv(_yearly_csv(tmp_path, 100))
    panel = pd.concat([yearly.assign(station="A"), yearly.iloc[:80].assign(station="B")])
    panel.to_csv(tmp_path / "panel.csv", index=False)
    output = tmp_path / "scores.csv"
    code = main(["detect", str(tmp_path / "panel.csv"), "--series-column", "station", "--param", FAST,
                 "--output", str(output)])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 0, error
    for station, rows in (("A", 30), ("B", 24)):
        assert f"series '{station}': short series: trained on the first 48 rows, not train_fraction=0.3's {rows}" in error
    assert pd.read_csv(output).groupby("station").size().to_dict() == {"A": 100, "B": 80}
