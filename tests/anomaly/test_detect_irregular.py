"""`tsseq detect` on sensor logs as they come: jittered 1-2 s stamps, ';' and decimal commas; forecasting unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.config import DetectionConfig
from tsseq.cli import main
from tsseq.config import DataConfig
from tsseq.data.checks import check_series
from tsseq.data.csv import read_csv
from tsseq.errors import ConfigError, DataError

ROWS, SPIKE_ROW = 900, 700


def _jittered_stamps(rows: int, seed: int = 0) -> pd.DatetimeIndex:
    steps = np.random.default_rng(seed).uniform(1.0, 2.0, rows)  # every 1 to 2 s, to the millisecond
    return (pd.Timestamp("2024-03-01 08:00:00") + pd.to_timedelta(np.cumsum(steps), unit="s")).round("ms")


@pytest.fixture()
def sensor_log(tmp_path: Path) -> tuple[Path, pd.DatetimeIndex]:
    """A ';'-separated export with decimal commas, like a test bench writes: a spike in 'druck' at SPIKE_ROW."""
    rng = np.random.default_rng(1)
    stamps, phase = _jittered_stamps(ROWS), 2 * np.pi * np.arange(ROWS) / 60
    pressure = 20 + 2 * np.sin(phase) + 0.1 * rng.standard_normal(ROWS)
    pressure[SPIKE_ROW] += 4.0
    temperature = 5 + 0.5 * np.cos(phase) + 0.05 * rng.standard_normal(ROWS)
    lines = ["Zeit;druck;temp"] + [
        f"{stamp:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f";{p:.3f};{t:.3f}".replace(".", ",")
        for stamp, p, t in zip(stamps, pressure, temperature)
    ]
    path = tmp_path / "bench_log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, stamps


def test_detect_on_the_row_sequence_carries_the_timestamps_through(sensor_log, tmp_path: Path, capsys) -> None:
    path, stamps = sensor_log
    output, events, plot = tmp_path / "out" / "scores.csv", tmp_path / "out" / "events.csv", tmp_path / "out" / "p.png"
    code = main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--timestamps", "rows",
                 "--output", str(output), "--events", str(events), "--plot", str(plot)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    columns = ["timestamp", "druck", "temp", "score", "smoothed_score", "threshold", "is_anomaly",
               "contribution_druck", "contribution_temp"]  # fmt: skip
    assert list(table.columns) == columns and len(table) == ROWS
    pd.testing.assert_index_equal(pd.DatetimeIndex(table["timestamp"]), stamps, check_names=False, exact=False)
    first_value = path.read_text().splitlines()[1].split(";")[1]  # e.g. "20,158"
    assert table["druck"].iloc[0] == pytest.approx(float(first_value.replace(",", ".")))
    assert table["score"].idxmax() == SPIKE_ROW and table["is_anomaly"].iloc[SPIKE_ROW]
    found = pd.read_csv(events, parse_dates=["start", "end", "peak_time"])
    assert list(found.columns) == ["start", "end", "duration", "rows", "peak_score", "peak_time", "channels"]
    spike_event = found[(found["start"] <= stamps[SPIKE_ROW]) & (found["end"] >= stamps[SPIKE_ROW])]
    assert len(spike_event) == 1 and spike_event["peak_time"].iloc[0] == stamps[SPIKE_ROW]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "timestamps: rows (irregular steps" in capsys.readouterr().err


def test_irregular_logs_are_detected_on_their_rows_by_default(sensor_log, tmp_path: Path, capsys) -> None:
    path, stamps = sensor_log
    output = tmp_path / "scores.csv"
    assert main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--output", str(output)]) == 0
    assert "timestamps: rows" in capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    assert pd.DatetimeIndex(table["timestamp"]).equals(pd.DatetimeIndex(stamps))


def test_resample_puts_the_log_on_a_grid_of_bin_means(sensor_log, tmp_path: Path, capsys) -> None:
    path, stamps = sensor_log
    output = tmp_path / "scores.csv"
    code = main(["detect", str(path), "--detector", "ar_residual", "--window", "12", "--resample", "5s",
                 "--missing", "interpolate", "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"]).set_index("timestamp")
    assert (np.diff(table.index) == pd.Timedelta("5s")).all() and table.index[0] == stamps[0].floor("5s")
    raw = read_csv(path, irregular="keep")
    first_bin = raw.loc[table.index[0] : table.index[0] + pd.Timedelta("4.999s"), "druck"]
    assert table["druck"].iloc[0] == pytest.approx(first_bin.mean())  # the mean of [bin, bin + 5 s)


def test_resampled_empty_bins_that_missing_fills_are_marked_filled(sensor_log, tmp_path: Path, capsys) -> None:
    path, stamps = sensor_log
    output = tmp_path / "scores.csv"
    code = main(["detect", str(path), "--detector", "ar_residual", "--window", "12", "--resample", "1s",
                 "--missing", "interpolate", "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    empty = ~table["timestamp"].isin(stamps.floor("1s"))  # the bins no reading fell in: their values are made up
    assert 0 < empty.sum() < len(table)
    pd.testing.assert_series_equal(table["filled"], empty, check_names=False)
    assert f"; {empty.sum()} rows filled by --missing interpolate (column 'filled')" in capsys.readouterr().err


def test_resample_with_empty_bins_and_missing_error_is_refused(sensor_log, tmp_path: Path, capsys) -> None:
    path, _ = sensor_log
    output = tmp_path / "scores.csv"
    assert main(["detect", str(path), "--detector", "ar_residual", "--resample", "500ms", "--output", str(output)]) == 2
    assert "missing value" in capsys.readouterr().err and not output.exists()


def test_timestamps_grid_refuses_irregular_spacing_as_before(sensor_log, tmp_path: Path, capsys) -> None:
    path, _ = sensor_log
    output = tmp_path / "scores.csv"
    code = main(["detect", str(path), "--detector", "ar_residual", "--timestamps", "grid", "--output", str(output)])
    assert code == 2 and "irregular spacing" in capsys.readouterr().err and not output.exists()


def test_forecasting_still_needs_a_regular_grid(sensor_log, tmp_path: Path, capsys) -> None:
    path, _ = sensor_log
    with pytest.raises(DataError, match="irregular spacing"):
        read_csv(path)  # the default: what the forecasting path reads
    output = tmp_path / "forecast.csv"
    assert main(["forecast", str(path), "--model", "naive", "--horizon", "5", "--output", str(output)]) == 2
    assert "irregular spacing" in capsys.readouterr().err and not output.exists()


def test_semicolon_export_with_decimal_commas_is_read_keeping_its_rows(sensor_log) -> None:
    path, stamps = sensor_log
    frame = read_csv(path, irregular="keep")
    assert list(frame.columns) == ["druck", "temp"] and frame.index.freq is None
    assert frame.index.equals(pd.DatetimeIndex(stamps, name="Zeit")) and frame["druck"].between(15, 30).all()


def test_check_series_keeps_irregular_rows_only_when_asked() -> None:
    stamps = _jittered_stamps(50, seed=3)
    frame = pd.DataFrame({"value": np.arange(50.0)}, index=stamps)
    with pytest.raises(DataError, match="irregular spacing"):
        check_series(frame)
    kept = check_series(frame, irregular="keep")
    assert kept.index.equals(stamps) and kept.index.freq is None
    regular = check_series(frame.set_axis(pd.date_range("2024-01-01", periods=50, freq="s")), irregular="keep")
    assert regular.index.freqstr == "s"  # a regular series keeps its grid
    with pytest.raises(ConfigError, match="'irregular'"):
        check_series(frame, irregular="drop")


def test_events_all_or_nothing_and_policies_validated(sensor_log, tmp_path: Path, capsys) -> None:
    path, _ = sensor_log
    output, events = tmp_path / "scores.csv", tmp_path / "events_dir"
    events.mkdir()
    arguments = ["detect", str(path), "--detector", "ar_residual", "--output", str(output)]
    assert main([*arguments, "--events", str(events)]) == 2
    assert "events CSV" in capsys.readouterr().err and not output.exists()  # checked before any training
    code = main(["detect", str(path), "--detector", "ar_residual", "--threshold", "none", "--output", str(output),
                 "--events", str(tmp_path / "events.csv")])  # fmt: skip
    assert code == 2 and "needs a threshold" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="resample"):
        DetectionConfig(name="x", data=DataConfig(csv="x.csv"), timestamps="rows", resample="5s")
    with pytest.raises(ConfigError, match="Did you mean 'rows'"):
        DetectionConfig(name="x", data=DataConfig(csv="x.csv"), timestamps="row")
    with pytest.raises(ConfigError, match="event_gap"):
        DetectionConfig(name="x", data=DataConfig(csv="x.csv"), event_gap=-1)


def test_job_file_writes_events(sensor_log, tmp_path: Path, monkeypatch) -> None:
    path, _ = sensor_log
    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: bench\ndata: {{csv: {path.name}}}\ndetector: {{name: ar_residual}}\nwindow: 24\n"
        "timestamps: rows\nevent_gap: 3\noutput: {directory: results, csv: scores.csv, events: events.csv}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["detect", "--config", str(job)]) == 0
    events = pd.read_csv(tmp_path / "results" / "events.csv")
    assert len(events) >= 1 and (events["rows"] >= 1).all()


def test_a_failed_plot_leaves_neither_scores_nor_events(sensor_log, tmp_path: Path, capsys, monkeypatch) -> None:
    import tsseq.anomaly.plotting

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tsseq.anomaly.plotting, "plot_detection", fail)
    path, _ = sensor_log
    out = tmp_path / "out"
    code = main(["detect", str(path), "--detector", "ar_residual", "--output", str(out / "scores.csv"),
                 "--events", str(out / "events.csv"), "--plot", str(out / "plot.png")])  # fmt: skip
    assert code == 2 and "plot.png" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


# ---- public anomaly benchmarks as they are written: numbers for timestamps, or none --------------------------------
def _cycle_with_a_spike(rows: int = 900) -> np.ndarray:
    values = np.sin(2 * np.pi * np.arange(rows) / 24) + 0.1 * np.random.default_rng(2).standard_normal(rows)
    values[SPIKE_ROW] += 3.0
    return values


def test_a_row_counter_for_timestamps_is_scored_in_order_and_written_back(tmp_path: Path, capsys) -> None:
    # Yahoo's A1 benchmark: timestamp 1, 2, 3, ... and a label column, which is left out with --columns.
    values = _cycle_with_a_spike()
    path = tmp_path / "real_1.csv"
    pd.DataFrame({"timestamp": np.arange(1, ROWS + 1), "value": values, "is_anomaly": 0}).to_csv(path, index=False)
    output, events, plot = tmp_path / "scores.csv", tmp_path / "events.csv", tmp_path / "plot.png"
    code = main(["detect", str(path), "--detector", "ar_residual", "--output", str(output)])
    assert code == 2 and "clash with the output columns" in capsys.readouterr().err and not output.exists()
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"start": [SPIKE_ROW + 1], "end": [SPIKE_ROW + 1]}).to_csv(labels, index=False)
    code = main(["detect", str(path), "--columns", "value", "--detector", "ar_residual", "--output", str(output),
                 "--events", str(events), "--plot", str(plot), "--labels", str(labels)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "numbered by column 'timestamp' from 1 to 900 (every 1; numbers, not dates" in err
    table = pd.read_csv(output)
    assert table["timestamp"].tolist() == list(range(1, ROWS + 1))
    assert table["score"].idxmax() == SPIKE_ROW and table["is_anomaly"].iloc[SPIKE_ROW]
    found = pd.read_csv(events)
    assert ((found["start"] <= SPIKE_ROW + 1) & (found["end"] >= SPIKE_ROW + 1)).sum() == 1 and plot.exists()


def test_unix_times_need_their_unit_to_be_dates(tmp_path: Path, capsys) -> None:
    stamps = 1416726000 + 3600 * np.arange(ROWS)
    path = tmp_path / "A3Benchmark-TS1.csv"
    pd.DataFrame({"timestamps": stamps, "value": _cycle_with_a_spike()}).to_csv(path, index=False)
    output = tmp_path / "scores.csv"
    assert main(["detect", str(path), "--detector", "ar_residual", "--output", str(output)]) == 0
    assert "Unix times need --timestamp-unit s" in capsys.readouterr().err
    assert pd.read_csv(output)["timestamp"].tolist() == stamps.tolist()
    assert main(["detect", str(path), "--detector", "ar_residual", "--timestamp-unit", "s", "--output", str(output)]) == 0
    assert "timestamps:" not in capsys.readouterr().err  # a regular grid of dates
    written = pd.read_csv(output, parse_dates=["timestamp"])["timestamp"]
    assert written.iloc[0] == pd.Timestamp("2014-11-23 07:00") and (written.diff().iloc[1:] == pd.Timedelta("1h")).all()
    code = main(["detect", str(path), "--resample", "2h", "--output", str(output)])
    assert code == 2 and "Leave resample out, or give Unix times a unit" in capsys.readouterr().err


def test_a_file_of_bare_numbers_without_a_header(tmp_path: Path, capsys) -> None:
    # The UCR anomaly archive: one value per line, no header, no timestamps.
    path = tmp_path / "001_UCR_Anomaly_x_300_700_705.txt"
    np.savetxt(path, _cycle_with_a_spike())
    output = tmp_path / "scores.csv"
    code = main(["detect", str(path), "--detector", "ar_residual", "--output", str(output)])
    assert code == 2 and "--no-header" in capsys.readouterr().err
    labels = tmp_path / "labels.csv"
    labels.write_text("start,end\n2024-01-01,2024-01-02\n")
    code = main(["detect", str(path), "--no-header", "--detector", "ar_residual", "--output", str(output),
                 "--labels", str(labels), "--plot", str(tmp_path / "p.png")])  # fmt: skip
    assert code == 2 and "its windows are dates, but the data's timestamps are numbers" in capsys.readouterr().err
    assert not output.exists()
    assert main(["detect", str(path), "--no-header", "--detector", "ar_residual", "--output", str(output)]) == 0
    table = pd.read_csv(output)
    assert list(table.columns[:2]) == ["timestamp", "value"] and table["timestamp"].tolist() == list(range(ROWS))
    assert table["score"].idxmax() == SPIKE_ROW


def test_a_numpy_array_of_values_is_scored_in_row_order(tmp_path: Path, capsys) -> None:
    # NASA's SMAP and MSL sets: a (rows, channels) .npy array, the telemetry value first, no timestamps.
    values = np.c_[_cycle_with_a_spike(), (np.arange(ROWS) % 100 < 5).astype(float)]
    path = tmp_path / "P-1.npy"
    np.save(path, values)
    output = tmp_path / "scores.csv"
    assert main(["detect", str(path), "--detector", "ar_residual", "--columns", "value_1", "--output", str(output)]) == 0
    assert "rows in order, numbered from 0 to 899 in the output (the data have no timestamps)" in capsys.readouterr().err
    table = pd.read_csv(output)
    assert list(table.columns[:2]) == ["timestamp", "value_1"] and table["timestamp"].tolist() == list(range(ROWS))
    np.testing.assert_array_equal(table["value_1"], values[:, 0])
    assert table["score"].idxmax() == SPIKE_ROW
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["detect", str(pickled), "--output", str(output)]) == 2
    assert "holds Python objects, not numbers; it is refused, never unpickled" in capsys.readouterr().err
    assert main(["forecast", str(path), "--horizon", "5", "--output", str(tmp_path / "f.csv")]) == 2
    assert "forecasting needs dates" in capsys.readouterr().err


def _log_with_a_dropout(tmp_path: Path, jitter: bool) -> tuple[Path, pd.DatetimeIndex]:
    """600 rows a minute apart (or 50 to 70 s), 30 minutes missing after row 299."""
    rng = np.random.default_rng(2)
    steps = rng.uniform(50, 70, 599).round() if jitter else np.full(599, 60.0)
    steps[299] = 1860.0
    stamps = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.concatenate(([0.0], np.cumsum(steps))), unit="s")
    path = tmp_path / "dropout.csv"
    pd.DataFrame({"timestamp": stamps, "temp": 20 + 0.1 * rng.standard_normal(600)}).to_csv(path, index=False)
    return path, pd.DatetimeIndex(stamps)


@pytest.mark.parametrize("jitter", [False, True])
def test_the_spacing_note_names_the_gaps_and_how_to_fill_them(tmp_path: Path, jitter: bool, capsys) -> None:
    path, stamps = _log_with_a_dropout(tmp_path, jitter)
    options = ["detect", str(path), "--detector", "ar_residual", "--window", "24"]
    assert main([*options, "--output", str(tmp_path / "scores.csv")]) == 0
    fill = "--resample 60s --missing interpolate" if jitter else "--reindex --missing interpolate"
    assert (f"; 1 step over 5 times the median, a gap in the log, scored as one step each: 1860 s after {stamps[299]}; "
            f"{fill} puts the rows on the grid of the median step and fills the gaps, marking the filled rows "
            "(column 'filled')\n") in capsys.readouterr().err  # fmt: skip
    if not jitter:  # what the note says works: 30 rows on the grid, filled and marked
        assert main([*options, *fill.split(), "--output", str(tmp_path / "filled.csv")]) == 0
        filled = pd.read_csv(tmp_path / "filled.csv", parse_dates=["timestamp"]).set_index("timestamp")["filled"]
        assert len(filled) == 630 and filled.sum() == 30 and filled[stamps[299] + pd.Timedelta("1min")]


def test_the_spacing_note_of_jittered_rows_names_the_largest_step(sensor_log, tmp_path: Path, capsys) -> None:
    path, stamps = sensor_log
    assert main(["detect", str(path), "--detector", "ar_residual", "--window", "24",
                 "--output", str(tmp_path / "scores.csv")]) == 0  # fmt: skip
    largest = int(np.argmax(np.diff(stamps.asi8)))
    step = (stamps[largest + 1] - stamps[largest]).total_seconds()
    assert f" s); the largest, {step:g} s after {stamps[largest]}\n" in capsys.readouterr().err
