"""End-to-end tests of `tsseq detect` through tsseq.cli.main: CSV in, scores CSV (and PNG) out."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.cli import main
from tsseq.data.synthetic import generate

SPIKE_ROW = 420
TINY_AE = "training={epochs: 3, batch_size: 64, progress: false}"


@pytest.fixture()
def spiky_csv(tmp_path: Path) -> Path:
    frame = generate(600, seed=3).frame  # hourly, daily season, noise 0.1
    frame.iloc[SPIKE_ROW, 0] += 3.0
    frame.index.name = "timestamp"
    path = tmp_path / "sensor.csv"
    frame.to_csv(path)
    return path


def test_detect_flags_an_injected_spike_and_writes_csv_and_plot(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    output, plot = tmp_path / "out" / "scores.csv", tmp_path / "out" / "scores.png"
    code = main(["detect", str(spiky_csv), "--detector", "ar_residual", "--window", "24", "--threshold", "spot",
                 "--threshold-param", "q=0.001", "--output", str(output), "--plot", str(plot)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    assert list(table.columns) == ["timestamp", "channel_0", "score", "threshold", "is_anomaly", "contribution_channel_0"]
    assert len(table) == 600 and table["score"].iloc[:180].isna().all()  # causal: the 30% training rows are unscored
    assert table["is_anomaly"].iloc[SPIKE_ROW]
    assert table["score"].idxmax() == SPIKE_ROW
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "causal" in capsys.readouterr().err


def test_detect_writes_parquet_scores_and_events_for_parquet_names(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    # one series, as many: the suffix names the format, a .parquet name holds Parquet, not CSV text
    options = ["--detector", "ar_residual", "--window", "24", "--threshold", "spot", "--threshold-param", "q=0.001"]
    for suffix in ("csv", "parquet"):
        code = main(["detect", str(spiky_csv), *options, "--output", str(tmp_path / f"scores.{suffix}"),
                     "--events", str(tmp_path / f"events.{suffix}")])  # fmt: skip
        assert code == 0, capsys.readouterr().err
    for name, dates in (("scores", ["timestamp"]), ("events", ["start", "end", "peak_time"])):
        assert (tmp_path / f"{name}.parquet").read_bytes()[:4] == b"PAR1"
        written = pd.read_parquet(tmp_path / f"{name}.parquet")
        expected = pd.read_csv(tmp_path / f"{name}.csv", parse_dates=dates)
        if "duration" in expected:
            expected["duration"] = pd.to_timedelta(expected["duration"])
        assert len(written) > 0
        pd.testing.assert_frame_equal(written, expected, check_dtype=False)


def test_detect_batch_mode_with_an_autoencoder(spiky_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores.csv"
    code = main(["detect", str(spiky_csv), "--detector", "bilstm_ae", "--param", TINY_AE, "--window", "24",
                 "--mode", "batch", "--threshold", "quantile", "--threshold-param", "q=0.995",
                 "--output", str(output)])  # fmt: skip
    assert code == 0
    table = pd.read_csv(output)
    assert table["score"].notna().all()  # offline: every row scored, mean over covering windows
    assert table["is_anomaly"].iloc[SPIKE_ROW]


def test_detect_job_file(spiky_csv: Path, tmp_path: Path, monkeypatch) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"start": ["2000-01-18 11:00"], "end": ["2000-01-18 13:00"]}).to_csv(labels, index=False)
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: sensor\n"
        f"data: {{csv: {spiky_csv.name}}}\n"
        "detector: {name: gru_ae, params: {training: {epochs: 3, progress: false}, model_params: {hidden_size: 8}}}\n"
        "window: 24\nthreshold: ksigma\nthreshold_params: {k: 4.0}\nlabels: labels.csv\n"
        "output: {directory: results, csv: sensor_scores.csv, plot: sensor.png}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["detect", "--config", str(job)]) == 0
    table = pd.read_csv(tmp_path / "results" / "sensor_scores.csv")
    assert table["is_anomaly"].iloc[SPIKE_ROW] and (tmp_path / "results" / "sensor.png").is_file()


@pytest.mark.parametrize(
    "detector, message",
    [
        ("{name: ar_residual, params: {scorr: 1}}", "job.yaml: detector: Detector 'ar_residual' has no parameter "
         "'scorr'. Did you mean 'scorer'?"),
        ("{name: ar_residul}", "job.yaml: detector: Unknown detector 'ar_residul'. Did you mean 'ar_residual'?"),
        ("{name: lstm_ae, params: {training: {epocs: 1}}}", "job.yaml: detector.params.training: unknown key 'epocs'. "
         "Did you mean 'epochs'?"),
    ],
)  # fmt: skip
def test_a_job_files_unknown_detector_or_parameter_is_named_with_the_file(spiky_csv: Path, tmp_path: Path, capsys,
                                                                           detector: str, message: str) -> None:
    # as its unknown top-level keys are (job.yaml: unknown key ...), before any data is read
    from tsseq.anomaly.config import load_detection_job
    from tsseq.errors import ConfigError

    job = tmp_path / "job.yaml"
    job.write_text(f"name: sensor\ndata: {{csv: {spiky_csv.name}}}\ndetector: {detector}\n"
                   "output: {directory: results, csv: scores.csv}\n")  # fmt: skip
    assert main(["detect", "--config", str(job)]) == 2
    assert f"tsseq detect: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_detection_job(job)


def test_detect_with_the_online_residual_detector(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "scores.csv"
    code = main(["detect", str(spiky_csv), "--detector", "online_residual", "--threshold", "alarm_level",
                 "--param", "seasonal_period=1D", "--param", "suppression=0.2", "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output)
    assert table["score"].iloc[:180].isna().all() and table["score"].iloc[180:].between(0, 1).all()
    assert table["score"].idxmax() == SPIKE_ROW
    assert list(table.index[table["is_anomaly"]]) == [SPIKE_ROW]
    assert main(["detect", str(spiky_csv), "--detector", "online_residual", "--param", "suppression=0.2",
                 "--output", str(output)]) == 0  # fmt: skip
    assert pd.read_csv(output).equals(table)  # its default threshold is the alarm level (suppression: explicit)
    assert main(["detect", str(spiky_csv), "--detector", "online_residual", "--window", "24",
                 "--output", str(output)]) == 2  # fmt: skip
    assert "has no window" in capsys.readouterr().err
    assert main(["detect", str(spiky_csv), "--detector", "online_residual", "--mode", "batch",
                 "--threshold", "alarm_level", "--output", str(output)]) == 2  # fmt: skip
    assert "causal only" in capsys.readouterr().err


def test_bad_csv_exits_2_without_writing(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2000-01-01 00:00,1.0\n2000-01-01 01:00,oops\n2000-01-01 02:00,3.0\n")
    output = tmp_path / "scores.csv"
    assert main(["detect", str(bad), "--detector", "ar_residual", "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "bad.csv" in error and "value" in error
    assert not output.exists() and list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--detector", "lstm_ea"], "Did you mean 'lstm_ae'"),
        (["--param", "window_length=3"], "set by the job"),
        (["--param", "aggregation=mean"], "aggregation='last'"),
        (["--threshold", "spott"], "Did you mean 'spot'"),
    ],
)
def test_usage_errors_exit_2(spiky_csv: Path, tmp_path: Path, capsys, arguments: list, message: str) -> None:
    output = tmp_path / "scores.csv"
    assert main(["detect", str(spiky_csv), *arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err and not output.exists()


def test_csv_and_config_are_exclusive(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    assert main(["detect", str(spiky_csv), "--config", str(tmp_path / "job.yaml")]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_masked_missing_values_have_no_score_or_are_refused_naming_the_way_out(spiky_csv: Path, tmp_path: Path,
                                                                               capsys) -> None:
    frame = pd.read_csv(spiky_csv, index_col=0)
    frame.iloc[300:306, 0] = float("nan")
    gaps = tmp_path / "gaps.csv"
    frame.to_csv(gaps)
    output = tmp_path / "scores.csv"
    code = main(["detect", str(gaps), "--detector", "lstm_ae", "--param", TINY_AE, "--window", "24",
                 "--missing", "mask", "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err  # a masked row has no score: not a diverged model (exit 3 before)
    table = pd.read_csv(output)
    assert table["score"].iloc[300:306].isna().all() and table["score"].iloc[306:].notna().all()
    code = main(["detect", str(gaps), "--detector", "ar_residual", "--missing", "mask", "--output", str(output)])
    assert code == 2
    error = capsys.readouterr().err
    assert ("gaps.csv: detector 'ar_residual' cannot score data with missing values (6 row(s) kept as missing by "
            "missing='mask'): ForecastResidualDetector (forecaster 'ar') needs every value of y: column 'channel_0' has "
            "6 missing or infinite value(s), the first at 2000-01-13 12:00:00") in error  # the detector's own check
    assert error.count("tsseq detect --missing interpolate") == 1  # the options, not only the API's words, once


def _with_gaps(spiky_csv: Path, path: Path, rows: slice = slice(300, 306), **columns) -> Path:
    """The spiky series with ``rows`` blank (and ``columns`` added), written to ``path``."""
    frame = pd.read_csv(spiky_csv, index_col=0).assign(**columns)
    frame.iloc[rows, 0] = float("nan")
    frame.to_csv(path)
    return path


@pytest.mark.parametrize("missing", ["interpolate", "ffill"])
def test_rows_whose_values_missing_filled_are_marked_and_counted_and_scored_as_before(
    spiky_csv: Path, tmp_path: Path, capsys, missing: str
) -> None:
    # a filled value is written as a measured one is: unmarked, an operator would read it, or investigate its flag,
    # as a value the sensor sent
    gaps = _with_gaps(spiky_csv, tmp_path / "gaps.csv")
    options = ["--detector", "ar_residual", "--window", "24", "--missing", missing]
    for suffix in ("csv", "parquet"):
        code = main(["detect", str(gaps), *options, "--output", str(tmp_path / f"scores.{suffix}")])
        assert code == 0, capsys.readouterr().err
        assert f"; 6 rows filled by --missing {missing} (column 'filled'); wrote" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "scores.csv", parse_dates=["timestamp"])
    assert list(table.columns)[:4] == ["timestamp", "channel_0", "filled", "score"]  # beside the values it qualifies
    assert table.index[table["filled"]].tolist() == list(range(300, 306))
    written = pd.read_parquet(tmp_path / "scores.parquet")
    assert written["filled"].dtype == bool
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    # the detection is unchanged: the same as of a file that held the filled values
    table.drop(columns="filled").set_index("timestamp")[["channel_0"]].to_csv(tmp_path / "as_filled.csv")
    assert main(["detect", str(tmp_path / "as_filled.csv"), *options, "--output", str(tmp_path / "as.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "as.csv", parse_dates=["timestamp"]),
                                  table.drop(columns="filled"))  # fmt: skip


def test_data_with_nothing_to_fill_are_written_as_without_the_missing_policy(spiky_csv: Path, tmp_path: Path,
                                                                            capsys) -> None:
    options = ["--detector", "ar_residual", "--window", "24"]
    assert main(["detect", str(spiky_csv), *options, "--output", str(tmp_path / "plain.csv")]) == 0
    for missing in ("interpolate", "ffill"):
        output = tmp_path / f"{missing}.csv"
        assert main(["detect", str(spiky_csv), *options, "--missing", missing, "--output", str(output)]) == 0
        assert "filled" not in capsys.readouterr().err
        assert output.read_bytes() == (tmp_path / "plain.csv").read_bytes()  # no column of False


def test_a_value_column_named_filled_is_refused_only_when_the_policy_fills_a_row(spiky_csv: Path, tmp_path: Path,
                                                                               capsys) -> None:
    options = ["--detector", "ar_residual", "--window", "24", "--missing", "interpolate"]
    wavy = np.cos(np.arange(600) / 7)  # a channel of its own, not constant
    complete = _with_gaps(spiky_csv, tmp_path / "complete.csv", slice(0, 0), filled=wavy)
    assert main(["detect", str(complete), *options, "--output", str(tmp_path / "scores.csv")]) == 0
    gaps = _with_gaps(spiky_csv, tmp_path / "gaps.csv", filled=wavy)
    assert main(["detect", str(gaps), *options, "--output", str(tmp_path / "scores.csv")]) == 2
    assert ("gaps.csv: value column(s) ['filled'] clash with the output columns; rename them, or score the other "
            "columns only (data.columns; tsseq detect: --columns channel_0).") in capsys.readouterr().err


def test_the_plot_shades_the_rows_whose_values_were_filled(spiky_csv: Path, tmp_path: Path, monkeypatch) -> None:
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure=None: (figures.append(figure), close(figure)))
    gaps = _with_gaps(spiky_csv, tmp_path / "gaps.csv")
    code = main(["detect", str(gaps), "--detector", "ar_residual", "--window", "24", "--missing", "ffill",
                 "--output", str(tmp_path / "scores.csv"), "--plot", str(tmp_path / "scores.png")])  # fmt: skip
    assert code == 0
    series_axis = figures[-1].axes[0]
    shaded = [patch for patch in series_axis.patches if patch.get_label() == "filled (not measured)"]
    assert len(shaded) == 1  # one run of 6 rows, one span
    spanned = shaded[0].get_x(), shaded[0].get_x() + shaded[0].get_width()
    stamps = pd.read_csv(gaps, index_col=0, parse_dates=True).index
    assert spanned == pytest.approx(tuple(mdates.date2num([stamps[300], stamps[305]])))
    assert [line.get_label() for line in series_axis.get_lines()] == ["channel_0"]  # not drawn as a channel


def test_many_series_mark_the_filled_rows_of_each_in_csv_and_parquet_input(spiky_csv: Path, tmp_path: Path,
                                                                          capsys) -> None:
    frame = pd.read_csv(spiky_csv)
    short = frame.iloc[:5].assign(channel_0=[1.0, float("nan"), 3.0, 4.0, 5.0])  # too short: written unscored
    gaps = frame.copy()
    gaps.iloc[300:303, 1] = float("nan")
    panel = pd.concat([frame.assign(station="a"), gaps.assign(station="b"), short.assign(station="c")])
    panel.to_csv(tmp_path / "panel.csv", index=False)
    panel.to_parquet(tmp_path / "panel.parquet", index=False)
    options = ["--series-column", "station", "--detector", "ar_residual", "--window", "24", "--missing", "interpolate"]
    for suffix in ("csv", "parquet"):
        output = tmp_path / f"scores_{suffix}.parquet"
        with pytest.warns(UserWarning, match="1 of 3 series not scored"):
            assert main(["detect", str(tmp_path / f"panel.{suffix}"), *options, "--output", str(output)]) == 0
        assert "; 4 rows filled by --missing interpolate (column 'filled'); wrote" in capsys.readouterr().err
        table = pd.read_parquet(output)
        assert list(table.columns)[:5] == ["station", "timestamp", "channel_0", "filled", "score"]
        assert table["filled"].dtype == bool
        marked = table[table["filled"]]
        assert list(zip(marked["station"], marked.index)) == [("b", 900), ("b", 901), ("b", 902), ("c", 1201)]
    # with many series the column is there whenever the policy fills: the first batch written fixes the columns
    frame.assign(station="a").to_csv(tmp_path / "complete.csv", index=False)
    assert main(["detect", str(tmp_path / "complete.csv"), *options, "--output", str(tmp_path / "scores.csv")]) == 0
    assert "; 0 rows filled by --missing interpolate" in capsys.readouterr().err
    panel.rename(columns={"station": "filled"}).to_csv(tmp_path / "named.csv", index=False)
    code = main(["detect", str(tmp_path / "named.csv"), *options[2:], "--series-column", "filled",
                 "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 2  # was a ValueError of pandas: two columns of one name
    assert "named.csv: series column 'filled' clashes with the output's column of that name" in capsys.readouterr().err


def test_a_labelled_window_that_ends_before_it_starts_is_refused_naming_its_line(tmp_path: Path) -> None:
    from tsseq.anomaly.job import read_labels
    from tsseq.errors import DataError

    labels = tmp_path / "labels.csv"
    labels.write_text("start,end\n2024-01-01 00:00,2024-01-01 02:00\n2024-01-02 05:00,2024-01-02 01:00\n")
    with pytest.raises(DataError, match=r"labels.csv': line 3 \(window 2\) starts at 2024-01-02 05:00:00 after it ends"):
        read_labels(labels)


def test_too_few_training_rows_for_a_window_names_the_options(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    code = main(["detect", str(spiky_csv), "--detector", "ar_residual", "--window", "48", "--train-rows", "50",
                 "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "50 rows leave 40 training rows" in error and "--train-rows, --train-fraction" in error and "--window" in error
    assert not (tmp_path / "scores.csv").exists()


def test_online_residual_on_many_columns_names_them_and_says_how_to_choose_one(tmp_path: Path, capsys) -> None:
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(300, 5)),
        index=pd.date_range("2024-01-01", periods=300, freq="h", name="timestamp"),
        columns=["a", "b", "c", "d", "e"],
    )
    frame.to_csv(tmp_path / "five.csv")
    output = tmp_path / "scores.csv"
    arguments = ["detect", str(tmp_path / "five.csv"), "--detector", "online_residual", "--output", str(output)]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "has 5 columns: 'a', 'b', 'c', 'd', 'e'. Choose one with --columns a (tsseq detect" in error, error
    assert "online_interval" in error and not output.exists()
    assert main([*arguments, "--columns", "a"]) == 0, capsys.readouterr().err  # the way out works
    assert main([*arguments[:2], "--detector", "online_interval", "--output", str(output)]) == 0  # takes them all


def test_a_floor_passed_far_more_often_than_its_rate_is_said(tmp_path: Path, capsys) -> None:
    # Anomaly-free plants side by side (a wide log) against one plant: the least-squares VAR's residual, the channels'
    # mean (var_residual's default before the eleventh study, threshold_study.md), passes its 1% floor on a large
    # share of the wide log's new rows, and the command says what that can mean; on one plant it has nothing to say.
    from tsseq.data.plant import generate_plant

    said = {}
    for plants in (1, 6):
        frame = pd.concat([generate_plant(2000, anomalies={}, seed=100 + k).frame.add_suffix(f"_{k}")
                           for k in range(plants)], axis=1)  # fmt: skip
        path, output = tmp_path / f"plants{plants}.csv", tmp_path / f"scores{plants}.csv"
        frame.to_csv(path, index_label="timestamp")
        code = main(["detect", str(path), "--detector", "var_residual", "--window", "16", "--train-rows", "800",
                     "--param", "forecaster_params={cross_penalty: null, cross_screen: null}",
                     "--param", "scorer_params={reduction: mean}", "--output", str(output)])  # fmt: skip
        said[plants] = " ".join(capsys.readouterr().err.split())
        assert code == 0, said[plants]
        table = pd.read_csv(output)
        above = float(np.mean(table["smoothed_score"].to_numpy()[800:] > table["threshold"].max()))
        assert (above > 0.1) == (plants == 6), above
        wide_share = above if plants == 6 else None
    assert f"{wide_share:.1%} of the 1200 scored rows are above its floor" in said[6]
    assert "either much of this period is anomalous" in said[6]
    assert "--refit-every N --refit-window W" in said[6]  # causal mode: the refits that learn a new normal
    assert "above its floor" not in said[1]


def test_the_note_on_a_floor_passed_too_often_names_autos_cross_fitted_reference(tmp_path: Path, capsys) -> None:
    # A clean period-7 series trained on 200 rows: auto's AR members fit them closely, so new rows pass the floor
    # fitted on in-sample scores far more often than its rate; the note names the option that fits the threshold on
    # scores of rows the models did not see, and with that option the rows flagged fall.
    rng = np.random.default_rng(1)
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(1200) / 7) + rng.normal(0, 0.5, 1200)
    path = tmp_path / "clean.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=1200, freq="h"), "y": values}).to_csv(path, index=False)
    members = ("members=[{name: ar_residual, params: {forecaster_params: {max_order: 30, criterion: aic}}}, "
               "{name: interval, params: {forecaster: ar, forecaster_params: {max_order: 30, criterion: aic}}}]")
    flagged, said = {}, {}
    for reference in ("in_sample", "cross_fitted"):
        output = tmp_path / f"{reference}.csv"
        code = main(["detect", str(path), "--param", members, "--param", f"reference={reference}", "--window", "32",
                     "--train-rows", "200", "--output", str(output)])  # fmt: skip
        said[reference] = " ".join(capsys.readouterr().err.split())
        assert code == 0, said[reference]
        flagged[reference] = float(pd.read_csv(output)["is_anomaly"].iloc[200:].mean())
    assert "times as many" in said["in_sample"] and "--param reference=cross_fitted" in said["in_sample"]
    assert "--param reference=cross_fitted" not in said["cross_fitted"]
    assert flagged["cross_fitted"] < flagged["in_sample"] / 2, flagged


def trending_csv(folder: Path, rows: int = 1000) -> Path:
    """A clean daily series: a weekly cycle, noise and a steady rise of 0.005 a day (its level leaves the first 30%'s)."""
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    values = 10 + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, rows) + 0.005 * t
    path = folder / "sales.csv"
    pd.DataFrame({"timestamp": pd.date_range("2023-01-01", periods=rows, freq="D"), "sales": values}).to_csv(
        path, index=False
    )
    return path


def test_detrended_is_the_training_rows_line_removed_or_the_first_differences() -> None:
    from tsseq.anomaly.job import detrended
    from tsseq.errors import DataError

    t = np.arange(50.0)
    frame = pd.DataFrame({"a": 2.0 + 0.3 * t, "b": -1.0 - 0.1 * t + np.where(t >= 20, 5.0, 0.0)},
                         index=pd.date_range("2024-01-01", periods=50, freq="h"))  # fmt: skip
    linear, lacking = detrended(frame, 20, "linear", "f.csv")
    assert lacking == 0 and linear.index.equals(frame.index)
    np.testing.assert_allclose(linear["a"], 0.0, atol=1e-9)  # a line, extrapolated past the training rows
    np.testing.assert_allclose(linear["b"], np.where(t >= 20, 5.0, 0.0), atol=1e-9)  # a level shift stays shifted
    differences, lacking = detrended(frame, 20, "difference", "f.csv")
    assert lacking == 1 and differences.equals(frame.diff().iloc[1:])
    assert detrended(frame, 20, None, "f.csv") == (frame, 0)
    frame.iloc[1:20, 1] = np.nan
    with pytest.raises(DataError, match=r"f\.csv: detrend 'linear' .* channel 'b' has 1 value\(s\) in its 20 training"):
        detrended(frame, 20, "linear", "f.csv")


def test_a_trending_series_is_scored_without_its_trend_when_asked_and_the_note_says_so(tmp_path: Path, capsys) -> None:
    # The default flags many of a clean trending series' later rows (their level is new) and says why and what to
    # do; detrended, it flags few; the output keeps the values as read.
    path = trending_csv(tmp_path)
    read = pd.read_csv(path)
    flagged, said = {}, {}
    for detrend in (None, "linear", "difference"):
        output = tmp_path / f"{detrend}.csv"
        code = main(["detect", str(path), "--output", str(output)] + ([] if detrend is None else ["--detrend", detrend]))
        said[detrend] = " ".join(capsys.readouterr().err.split())
        assert code == 0, said[detrend]
        table = pd.read_csv(output)
        assert len(table) == 1000 and np.array_equal(table["sales"].to_numpy(), read["sales"].to_numpy())
        flagged[detrend] = float(table["is_anomaly"].iloc[300:].mean())
    assert flagged[None] > 0.3 and flagged["linear"] < 0.1 and flagged["difference"] < 0.1, flagged
    assert "channel 'sales': 20% of its rows after the training ones lie outside the range" in said[None]
    assert "--detrend linear" in said[None] and "--detrend" not in said["linear"] + said["difference"]


def test_with_differences_the_detector_scores_the_differenced_series_and_the_first_row_gets_no_score(
    tmp_path: Path,
) -> None:
    path = trending_csv(tmp_path, 400)
    read = pd.read_csv(path)
    differences = tmp_path / "differences.csv"
    read.assign(sales=read["sales"].diff()).iloc[1:].to_csv(differences, index=False)
    tables = {}
    for name, arguments in {"detrended": [str(path), "--detrend", "difference"], "differences": [str(differences)]}.items():
        output = tmp_path / f"{name}_scores.csv"
        code = main(["detect", *arguments, "--detector", "ar_residual", "--mode", "batch", "--threshold-param",
                     "smoothing=1", "--output", str(output)])  # fmt: skip
        assert code == 0
        tables[name] = pd.read_csv(output)
    detrended, direct = tables["detrended"], tables["differences"]
    assert len(detrended) == 400 and np.array_equal(detrended["sales"].to_numpy(), read["sales"].to_numpy())
    assert np.isnan(detrended["score"].iloc[0]) and not detrended["is_anomaly"].iloc[0]
    np.testing.assert_allclose(detrended["score"].iloc[1:], direct["score"], rtol=1e-9)  # NaNs in the same rows
    assert detrended["is_anomaly"].iloc[1:].tolist() == direct["is_anomaly"].tolist()


def test_an_unknown_detrend_is_refused_naming_the_choices() -> None:
    from tsseq.anomaly.config import DetectionConfig
    from tsseq.config import DataConfig
    from tsseq.errors import ConfigError

    with pytest.raises(ConfigError, match=r"detrend must be one of linear, difference \(or null\)\. Got 'linaer'.*'linear'"):
        DetectionConfig(name="x", data=DataConfig(csv="x.csv"), detrend="linaer")


# ---------------------------------------------------------------------------- options beside --config


def test_options_beside_a_job_file_set_its_keys_and_are_named_on_stderr(spiky_csv: Path, tmp_path: Path,
                                                                      capsys) -> None:
    # they were ignored but --output, so that --mode batch --threshold ksigma ran causal with the default threshold
    job = tmp_path / "job.yaml"
    job.write_text(f"name: sensor\ndata: {{csv: {spiky_csv.name}}}\ndetector: {{name: ar_residual}}\n"
                   "threshold_params: {rate: 0.02}\noutput: {directory: results, csv: scores.csv}\n")  # fmt: skip
    options = ["--mode", "batch", "--threshold", "ksigma", "--threshold-param", "k=4", "--window", "12",
               "--train-fraction", "0.4"]  # fmt: skip
    assert main(["detect", "--config", str(job), *options, "--output", str(tmp_path / "job_scores.csv")]) == 0
    error = capsys.readouterr().err
    assert ("sensor: set on the command line over job.yaml: --window 12 (window); --threshold ksigma (threshold; "
            "the file's threshold_params dropped); --mode batch (mode); --train-fraction 0.4 (train_fraction); "
            "--threshold-param k=4 (threshold_params); --output ") in error  # fmt: skip
    assert "batch (offline)" in error and not (tmp_path / "results").exists()
    assert main(["detect", str(spiky_csv), "--detector", "ar_residual", *options, "--output",
                 str(tmp_path / "csv_scores.csv")]) == 0  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "job_scores.csv"), pd.read_csv(tmp_path / "csv_scores.csv"))


def test_every_detect_option_sets_a_job_key_beside_config() -> None:
    # a new option that run() maps from the command line only would be ignored beside --config again
    import argparse

    from tsseq.anomaly import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    options = {action.dest for action in parser._actions if action.option_strings and action.dest != "help"}
    handled = {"config", "detector", "param", "threshold_param", "output", "plot", "events", "threads"}
    assert options - handled == set(cli._JOB_OPTIONS) | set(cli._DATA_OPTIONS)
    defaults = vars(parser.parse_args([]))
    assert cli._given_settings(argparse.Namespace(**defaults)) == ({}, {})  # no default hides the file's setting


def test_a_detector_named_beside_config_drops_the_files_parameters_for_another(spiky_csv: Path, tmp_path: Path,
                                                                                capsys) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(f"name: sensor\ndata: {{csv: {spiky_csv.name}}}\ndetector: {{name: ar_residual, params: "
                   "{scorer: squared}}\noutput: {directory: results, csv: scores.csv}\n")  # fmt: skip
    output = tmp_path / "scores.csv"
    assert main(["detect", "--config", str(job), "--detector", "var_residual", "--output", str(output)]) == 0
    assert "--detector var_residual (detector.name; the file's params dropped)" in capsys.readouterr().err


def test_detect_help_lists_every_registered_detector(capsys) -> None:
    # bilstm_ae and dilated_ae were missing from a hand-written list
    from tsseq.anomaly.cli import DESCRIPTIONS
    from tsseq.anomaly.detectors import DETECTORS

    assert set(DESCRIPTIONS) == set(DETECTORS)
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert all(f"{name}," in shown or f"{name} (" in shown for name in DETECTORS)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--detector", "lstm_ae", "--param", "aggregation=mean"], "Set causal=False (tsseq detect --mode batch)"),
        (["--detector", "ar_residual", "--threshold", "telemanom"], "(tsseq detect --threshold-param batch_size=1)"),
        (["--detector", "bilstm_ae"], "tsseq detect --mode batch; or model_params={'bidirectional': False}: "
         "--param 'model_params={bidirectional: false}'"),
    ],
)  # fmt: skip
def test_causal_refusals_name_the_options_of_the_command_line(spiky_csv: Path, tmp_path: Path, capsys,
                                                              arguments: list, message: str) -> None:
    assert main(["detect", str(spiky_csv), *arguments, "--output", str(tmp_path / "scores.csv")]) == 2
    assert message in capsys.readouterr().err


def test_an_error_of_the_detect_command_has_its_prefix_once(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    code = main(["detect", str(spiky_csv), "--detector", "ar_residual", "--threshold", "none", "--events",
                 str(tmp_path / "events.csv"), "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        "tsseq detect: error: events are made of flagged rows; --events needs a threshold (not 'none').\n"
    )


# ---------------------------------------------------------------------------- labels files


def _labels(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_an_empty_cell_of_a_labels_file_is_named_by_its_line(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    labels = _labels(tmp_path, "start,end\n2000-01-18 11:00,2000-01-18 13:00\n2000-01-20 06:35,\n")
    code = main(["detect", str(spiky_csv), "--detector", "ar_residual", "--labels", str(labels), "--output",
                 str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 2  # a ConversionError from matplotlib, exit 1, before
    assert "labels.csv': line 3 (window 2) has no end (an empty cell)" in capsys.readouterr().err


def test_labels_dates_with_and_without_a_time_read_and_an_unparsable_cell_is_named(tmp_path: Path) -> None:
    from tsseq.anomaly.job import read_labels
    from tsseq.errors import DataError

    windows = read_labels(_labels(tmp_path, "start,end\n2024-01-01 06:35,2024-01-01 06:45\n2030-01-01,2030-01-02\n"))
    assert windows["start"].tolist() == [pd.Timestamp("2024-01-01 06:35"), pd.Timestamp("2030-01-01")]
    assert windows["end"].tolist() == [pd.Timestamp("2024-01-01 06:45"), pd.Timestamp("2030-01-02")]
    with pytest.raises(DataError, match=r"labels.csv': line 3 \(end\): 'soon' is not a timestamp"):
        read_labels(_labels(tmp_path, "start,end\n2024-01-01,2024-01-02\n2024-01-03,soon\n"))


@pytest.mark.parametrize("sep", [None, ";"])
def test_a_semicolon_separated_labels_file_is_read(tmp_path: Path, sep) -> None:
    from tsseq.anomaly.job import read_labels

    windows = read_labels(_labels(tmp_path, "start;end\n2024-03-01 08:10:00;2024-03-01 08:10:10\n"), sep)
    assert windows.to_dict("list") == {"start": [pd.Timestamp("2024-03-01 08:10")],
                                       "end": [pd.Timestamp("2024-03-01 08:10:10")]}  # fmt: skip
    assert len(read_labels(_labels(tmp_path, "start,end\n2024-03-01,2024-03-02\n"), ";")) == 1  # --sep of the data


def test_labels_outside_the_datas_span_are_refused_or_warned_of_by_line(spiky_csv: Path, tmp_path: Path,
                                                                       capsys) -> None:
    # they were drawn silently, the plot's time axis stretched to 2030
    options = ["detect", str(spiky_csv), "--detector", "ar_residual", "--output", str(tmp_path / "scores.csv")]
    labels = _labels(tmp_path, "start,end\n2030-01-01,2030-01-02\n")
    assert main([*options, "--labels", str(labels)]) == 2
    assert ("labels.csv': no labelled window overlaps the data's span, 2000-01-01 00:00:00 to 2000-01-25 23:00:00 "
            "(line(s) 2, from 2030-01-01") in capsys.readouterr().err  # fmt: skip
    labels = _labels(tmp_path, "start,end\n2000-01-18 11:00,2000-01-18 13:00\n2030-01-01,2030-01-02\n")
    message = ("labels.csv': 1 of 2 labelled windows lie outside the data's span, 2000-01-01 00:00:00 to "
               "2000-01-25 23:00:00, at line(s) 3; they are left off the plot.")  # fmt: skip
    with pytest.warns(UserWarning, match=re.escape(message)):
        assert main([*options, "--labels", str(labels), "--plot", str(tmp_path / "scores.png")]) == 0


def test_the_flags_are_scored_against_the_labels_over_the_scored_rows_only() -> None:
    from tsseq.anomaly.events import find_events
    from tsseq.anomaly.job import DetectionResult, scored_against_labels

    index = pd.date_range("2024-01-01", periods=20, freq="h", name="timestamp")
    flags = np.zeros(20, dtype=bool)
    flags[[1, 8, 9, 15]] = True  # row 1 is a training row (batch mode flags them too): not counted
    table = pd.DataFrame({"value": 0.0, "score": 1.0, "is_anomaly": flags}, index=index)
    result = DetectionResult(table, False, 1.0, table, find_events(table["is_anomaly"]), train_rows=5)
    labels = pd.DataFrame({"start": index[[1, 8, 18]], "end": index[[2, 10, 19]]})  # the first in the training rows
    # events 8-9 (true) and 15 (false); windows 8-10 (found) and 18-19 (missed); points: 2 of 3 flags, 2 of 5 labelled
    assert scored_against_labels(labels, result) == (
        "labels: 2 windows in the 15 scored rows (the 5 training rows not counted); event recall 0.50 (1 of 2 found), "
        "event precision 0.50 (1 of 2 events false), point F1 0.50 (precision 0.67, recall 0.40)"
    )
    labels = pd.DataFrame({"start": index[[1]], "end": index[[2]]})
    assert scored_against_labels(labels, result) == (
        "labels: no labelled window lies in the 15 scored rows (the 5 training rows not counted); the flags are not "
        "scored"
    )


def test_detect_with_labels_and_no_plot_prints_their_scores(spiky_csv: Path, tmp_path: Path, capsys) -> None:
    # the labels were read and, without --plot, left unused
    spike = pd.read_csv(spiky_csv)["timestamp"][SPIKE_ROW]
    labels = _labels(tmp_path, f"start,end\n{spike},{spike}\n")
    code = main(["detect", str(spiky_csv), "--detector", "ar_residual", "--window", "24", "--labels", str(labels),
                 "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert re.search(r"^sensor: labels: 1 window in the 420 scored rows \(the 180 training rows not counted\); "
                     r"event recall 1\.00 \(1 of 1 found\), event precision [01]\.\d\d \(\d+ of \d+ events? false\), "
                     r"point F1 [01]\.\d\d \(precision [01]\.\d\d, recall 1\.00\)$", err, re.MULTILINE)  # fmt: skip


def test_training_rows_shorter_than_a_cycle_of_the_step_are_named(tmp_path: Path, capsys) -> None:
    index = pd.date_range("2024-03-01", periods=2880, freq="min", name="timestamp")  # two days of 1-minute rows
    minute = np.arange(2880) % 1440
    values = np.sin(2 * np.pi * minute / 1440) + 0.05 * np.random.default_rng(0).standard_normal(2880)
    path = tmp_path / "daily.csv"
    pd.DataFrame({"value": values}, index=index).to_csv(path)
    options = ["detect", str(path), "--detector", "ar_residual", "--output", str(tmp_path / "scores.csv")]
    assert main(options) == 0
    assert ("daily: short training: the 864 training rows span 14.4 hours, less than one cycle of rows 1 minute apart "
            "(1 day, 1440 rows), so the detector may flag the phases of the cycle it never saw; train on a whole "
            "cycle (--train-rows 1440, or --train-fraction 0.5) or give more rows before the period to score\n"
            ) in capsys.readouterr().err  # fmt: skip
    assert main([*options, "--train-fraction", "0.5"]) == 0
    assert "short training" not in capsys.readouterr().err


def test_the_threshold_notes_count_one_row_in_the_singular() -> None:
    from types import SimpleNamespace

    from tsseq.anomaly.job import _threshold_notes

    thresholder = SimpleNamespace(rate=0.01, floor_=1.0, gate=0.9, gate_=0.5, brief_gate=0.98, brief_gate_=5.0,
                                  smoothing=9)  # fmt: skip
    smoothed, score = np.zeros(40), np.zeros(40)
    smoothed[[10, 20]], score[[10, 20]] = 2.0, [0.1, 2.0]  # row 10 under the gate, row 20 under the brief gate
    table = pd.DataFrame({"score": score, "smoothed_score": smoothed, "threshold": 1.0, "is_anomaly": False})
    notes = _threshold_notes(table, thresholder)
    assert notes[0].startswith("threshold: 1 of the 2 rows whose smoothed score passes it is not flagged: its own "
                               "score is under its gate 0.5")  # fmt: skip
    assert notes[1].startswith("threshold: 1 row over its gate is not flagged: it belongs to events shorter than")


def test_the_refit_advice_gives_values_to_start_from() -> None:
    """One cycle of rows between refits where the step gives one shorter than the training rows, else a quarter of
    them; the window is the training rows (a level shift in 5-minute rows: 181 rows flagged with 288 / 900, 793
    without refits, as the sweep of session 31 measured)."""
    from tsseq.anomaly.job import _refit_options

    five_minutes = pd.date_range("2024-03-01", periods=3000, freq="5min")
    assert _refit_options(900, five_minutes).endswith("(to start from: W = 900, its training rows, and N = 288, one cycle)")
    hourly = pd.date_range("2024-03-01", periods=300, freq="h")
    assert _refit_options(20, hourly).endswith("W = 20, its training rows, and N = 5, a quarter of them)")  # cycle > W
    assert _refit_options(None, hourly) == "--refit-every N --refit-window W"
