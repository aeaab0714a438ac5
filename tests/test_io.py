"""Atomic output: a failed write leaves neither a partial file nor a temporary file."""

from __future__ import annotations

import os
import stat

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


# ---- a job's outputs together: io.outputs ------------------------------------------------------


def test_outputs_appear_together_when_the_block_ends(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "sub" / "b.txt"
    frame = pd.DataFrame({"x": [1.0]})
    with io.outputs() as out:
        out.add_csv(first, frame, "forecast CSV")
        assert not first.exists()  # staged as a temporary until the end
        out.add_text(second, "b", "results JSON")
        assert out.paths == [first, second]
    assert pd.read_csv(first, index_col=0).equals(frame) and second.read_text() == "b"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.csv", "b.txt", "sub"]


def test_an_error_in_the_block_leaves_nothing_and_keeps_the_old_files(tmp_path):
    old = tmp_path / "a.csv"
    old.write_text("old")
    with pytest.raises(RuntimeError, match="model failed"):
        with io.outputs() as out:
            out.add_text(old, "new")
            out.add_text(tmp_path / "made" / "deeper" / "b.txt", "b")
            raise RuntimeError("model failed")
    assert old.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # temporaries and the folders made are gone


def test_check_destination_names_the_users_path(tmp_path):
    from tsseq.errors import OutputError

    with pytest.raises(OutputError, match=rf"The plot '{tmp_path}' is a directory"):
        io.check_destination(tmp_path, "plot")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"'.*file/x/y.csv' cannot be written: '.*file' is a file, not a directory"):
        io.check_destination(tmp_path / "file" / "x" / "y.csv", "forecast CSV")
    assert io.check_destination(tmp_path / "new" / "y.csv") == tmp_path / "new" / "y.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the probe is removed, no folder made


def test_two_kinds_of_output_at_one_path_are_refused(tmp_path):
    from tsseq.errors import OutputError

    with pytest.raises(OutputError, match="The plot and the forecast CSV are both"):
        with io.outputs() as out:
            out.check(tmp_path / "x", "forecast CSV")
            out.check(tmp_path / "x", "plot")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_special_file_is_refused_not_replaced_by_a_plain_file(tmp_path):
    """The rename into place would turn a FIFO or a device (``--output /dev/null`` as root) into a plain file."""
    from tsseq.errors import OutputError

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"'.*pipe.csv' is a FIFO \(named pipe\); tsseq writes a new file and renames"):
        io.check_destination(fifo, "forecast CSV")
    with pytest.raises(OutputError, match="is a FIFO"):
        io.write_text(fifo, "x")
    with pytest.raises(OutputError, match="is a FIFO"), io.outputs() as out:
        out.add_text(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]


def test_a_symbolic_link_stays_a_link_and_its_target_is_written(tmp_path):
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old")
    link.symlink_to(target.name)
    io.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    with io.outputs() as out:
        out.add_text(link, "newer")
    assert link.is_symlink() and target.read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "target.csv"]


def test_an_output_over_a_file_the_job_reads_is_refused(tmp_path):
    from tsseq.errors import OutputError

    data = tmp_path / "data.csv"
    data.write_text("time,y\n")
    (tmp_path / "alias.csv").symlink_to(data.name)
    for path in (data, tmp_path / "alias.csv", tmp_path / "sub" / ".." / "data.csv"):
        with pytest.raises(OutputError, match=r"The plot '.*' is the input data file this job reads"):
            with io.outputs() as out:
                out.reads([data])
                out.check(path, "plot")
    assert data.read_text() == "time,y\n"


def test_a_plot_path_with_another_suffix_than_png_is_refused(tmp_path):
    """Plots are PNG: 'plot.pdf' would hold PNG bytes under a PDF's name."""
    from tsseq.errors import OutputError

    for path in (tmp_path / "plot.pdf", tmp_path / "holdout.svg"):
        with pytest.raises(OutputError, match=r"ends in '\.(pdf|svg)', but plots are PNG images: name it \.png"):
            with io.outputs() as out:
                out.check_plot(path, "holdout plot")
    with io.outputs() as out:
        for name in ("plot.png", "PLOT.PNG", "plot"):
            out.check_plot(tmp_path / name)
