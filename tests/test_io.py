"""Atomic output: a failed write leaves neither a partial file nor a temporary file."""

from __future__ import annotations

import pandas as pd
import pytest

from tsseq import io


def test_write_csv_round_trips(tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5]}, index=pd.date_range("2020-01-01", periods=2, freq="D", name="date"))
    path = io.write_csv(tmp_path / "sub" / "out.csv", frame)
    back = pd.read_csv(path, index_col="date", parse_dates=True)
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.txt"
    io.write_text(path, "old")

    def fail(temporary):
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        io.write_atomic(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
