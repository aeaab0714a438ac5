"""The tsseq command end to end: outputs, exit codes, and nothing half-written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hourly_csv(tmp_path: Path) -> Path:
    index = pd.date_range("2021-03-01", periods=120, freq="h", name="time")
    hours = np.arange(120)
    frame = pd.DataFrame(
        {"load": 10 + np.sin(2 * np.pi * hours / 24), "temperature": 20 + 0.01 * hours}, index=index
    )
    path = tmp_path / "plant.csv"
    frame.to_csv(path)
    return path


def test_forecast_writes_future_rows(hourly_csv, tmp_path, capsys):
    output = tmp_path / "out" / "forecast.csv"
    plot = tmp_path / "out" / "forecast.png"
    code = main(["forecast", str(hourly_csv), "--model", "naive", "--horizon", "6", "--output", str(output), "--plot", str(plot)])
    assert code == 0
    forecast = pd.read_csv(output, index_col=0, parse_dates=True)
    assert list(forecast.columns) == ["load", "temperature"]
    assert list(forecast.index) == list(pd.date_range("2021-03-06", periods=6, freq="h"))
    source = pd.read_csv(hourly_csv, index_col=0)
    np.testing.assert_allclose(forecast.to_numpy(), np.repeat(source.to_numpy()[-1:], 6, axis=0))
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_forecast_with_model_parameters_and_columns(hourly_csv, tmp_path):
    output = tmp_path / "ar.csv"
    code = main(
        ["forecast", str(hourly_csv), "--model", "ar", "--param", "order=2", "--columns", "load", "--horizon", "3", "--output", str(output)]
    )
    assert code == 0
    assert list(pd.read_csv(output, index_col=0).columns) == ["load"]


def test_bad_csv_exits_2_names_the_row_and_writes_nothing(hourly_csv, tmp_path, capsys):
    lines = hourly_csv.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",hot"
    hourly_csv.write_text("\n".join(lines) + "\n")
    output = tmp_path / "forecast.csv"
    code = main(["forecast", str(hourly_csv), "--horizon", "6", "--output", str(output)])
    assert code == 2
    error = capsys.readouterr().err
    assert "hot" in error and "temperature" in error and "Traceback" not in error
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".forecast.csv")]


def test_unknown_model_is_a_usage_error_with_a_suggestion(hourly_csv, tmp_path, capsys):
    code = main(["forecast", str(hourly_csv), "--model", "naiv", "--horizon", "2", "--output", str(tmp_path / "f.csv")])
    assert code == 2
    assert "Did you mean 'naive'?" in capsys.readouterr().err


def test_bad_model_parameter_is_a_usage_error(hourly_csv, tmp_path, capsys):
    code = main(["forecast", str(hourly_csv), "--model", "ar", "--param", "order=0", "--horizon", "2", "--output", str(tmp_path / "f.csv")])
    assert code == 2
    assert "order" in capsys.readouterr().err


def test_run_quickstart_pipeline(tmp_path, capsys):
    code = main(["run", str(REPO_ROOT / "pipelines" / "quickstart.yaml"), "--output-dir", str(tmp_path)])
    assert code == 0
    table = capsys.readouterr().out
    models = {"segrnn", "ar", "linear", "seasonal_naive", "drift", "naive"}
    for model in models:
        assert model in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["scores"]) == models
    assert results["scores"]["ar"]["mse"] < results["scores"]["naive"]["mse"]
    for scores in results["scores"].values():  # every model's 90% interval is scored
        assert {"coverage", "acd", "msis", "interval_width"} <= set(scores) and 0 <= scores["coverage"] <= 1
    forecast = pd.read_csv(tmp_path / "forecast.csv", index_col=0, parse_dates=True)
    assert list(forecast.columns) == ["co2"] + [f"co2_q{level}" for level in ("0.05", "0.25", "0.5", "0.75", "0.95")]
    assert len(forecast) == 104 and not forecast.isna().any().any()
    assert (forecast.diff(axis=1).iloc[:, 2:] >= 0).all().all()  # quantile columns never cross
    for figure in ("forecast.png", "holdout.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_run_rejects_unknown_pipeline_key(tmp_path, capsys):
    path = tmp_path / "job.yaml"
    path.write_text("name: job\ndata: {dataset: co2}\nmodels: [{name: naive}]\nevaluation: {horizn: 3}\n")
    assert main(["run", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "unknown key 'horizn'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_two_models_of_one_name_are_refused_naming_them(tmp_path, capsys):
    path = tmp_path / "job.yaml"
    path.write_text("name: job\ndata: {dataset: co2}\nmodels: [{name: ar, params: {max_order: 1}}, {name: naive}, "
                    "{name: ar, params: {max_order: 10}}]\nevaluation: {horizon: 3}\n")
    assert main(["run", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "two or more models are named 'ar' (models [0, 2]); results are kept by name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [
    ["forecast", "{data}", "--model", "naive", "--horizon", "3", "--output", "{data}"],
    ["forecast", "{data}", "--model", "naive", "--horizon", "3", "--output", "{out}", "--plot", "{data}"],
    ["detect", "{data}", "--detector", "ar_residual", "--output", "{data}"],
    ["backtest", "{data}", "--model", "naive", "--horizon", "3", "--start", "0.8", "--output", "{data}"],
])
def test_an_output_over_the_input_exits_2_and_leaves_the_input(hourly_csv, tmp_path, capsys, command):
    before = hourly_csv.read_bytes()
    argv = [part.format(data=hourly_csv, out=tmp_path / "f.csv") for part in command]
    assert main(argv) == 2
    assert f"'{hourly_csv}' is the input data file this job reads" in capsys.readouterr().err
    assert hourly_csv.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["plant.csv"]


def test_reindex_and_sort_are_command_line_options_as_the_error_says(hourly_csv, tmp_path, capsys):
    frame = pd.read_csv(hourly_csv, index_col=0)
    gappy = tmp_path / "gappy.csv"
    frame.drop(frame.index[50]).iloc[::-1].to_csv(gappy)  # one hour missing, newest row first
    argv = ["forecast", str(gappy), "--model", "naive", "--horizon", "3", "--output", str(tmp_path / "f.csv")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "not in increasing order" in error and "pass sort=True (tsseq: --sort)" in error
    assert main([*argv, "--sort"]) == 2
    assert "Pass reindex=True (tsseq: --reindex)" in capsys.readouterr().err
    assert main([*argv, "--sort", "--reindex", "--missing", "interpolate"]) == 0
    assert len(pd.read_csv(tmp_path / "f.csv")) == 3


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in ("ar", "naive", "seasonal_naive", "naive2", "drift", "mean"):
        assert name in listed


def test_models_gives_each_preset_its_own_line_in_plain_text(capsys):
    assert main(["models"]) == 0
    forecasters = capsys.readouterr().out.split("\n\n")[0].splitlines()[1:]
    summaries = {line.split()[0]: line.split(None, 1)[1].split(" [")[0] for line in forecasters}
    recurrent = [summaries[name] for name in ("rnn", "lstm", "gru", "mut1", "mut2", "mut3", "segrnn")]
    assert len(set(recurrent)) == len(recurrent)
    assert summaries["token_gru"] != summaries["token_transformer"]
    assert not any("``" in line or ":mod:" in line for line in forecasters)


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly():
    """`tsseq models | head -1`: exit 141 (SIGPIPE's), as a Unix tool, without a traceback or an 'unexpected' line."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write: deterministic, where `| head` races
    try:
        result = subprocess.run([sys.executable, "-m", "tsseq.cli", "models"], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, cwd=REPO_ROOT)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_usage_error_exit_code_in_a_real_process(tmp_path):
    missing = tmp_path / "missing.csv"
    result = subprocess.run(
        [sys.executable, "-m", "tsseq.cli", "forecast", str(missing), "--horizon", "3", "--output", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "missing.csv" in result.stderr and "Traceback" not in result.stderr
    no_arguments = subprocess.run([sys.executable, "-m", "tsseq.cli"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert no_arguments.returncode == 2


@pytest.mark.shared_data
def test_evaluate_ett_json_reproduces_repeat_last_value(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(data_dir))
    assert main(["evaluate", "ETTh1", "--model", "naive", "--setting", "M", "--horizon", "96", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["n_windows"] == 2785
    assert report["scores"]["naive"]["mse"] == pytest.approx(1.2944, abs=5e-5)
    assert report["scores"]["naive"]["mae"] == pytest.approx(0.7132, abs=5e-5)


def test_model_spec_carries_parameters():
    from tsseq.cli import _model_spec

    spec = _model_spec("ar:max_order=96,criterion=bic")
    assert (spec.name, spec.params, spec.display_name) == ("ar", {"max_order": 96, "criterion": "bic"}, "ar:max_order=96,criterion=bic")
    assert _model_spec("naive").display_name == "naive"


def test_misspelled_model_parameter_is_named(hourly_csv, tmp_path, capsys):
    code = main(["forecast", str(hourly_csv), "--model", "ar", "--param", "max_ordr=3", "--horizon", "2", "--output", str(tmp_path / "f.csv")])
    assert code == 2
    assert "no parameter 'max_ordr'. Did you mean 'max_order'?" in capsys.readouterr().err


def test_forecast_with_a_neural_model_uses_the_requested_horizon(hourly_csv, tmp_path):
    output = tmp_path / "gru.csv"
    arguments = ["forecast", str(hourly_csv), "--model", "gru", "--horizon", "7", "--output", str(output)]
    parameters = ["input_length=24", "hidden_size=8", "training={epochs: 1}"]
    assert main(arguments + [item for parameter in parameters for item in ("--param", parameter)]) == 0
    forecast = pd.read_csv(output, index_col=0, parse_dates=True)
    assert len(forecast) == 7 and np.isfinite(forecast.to_numpy()).all()


# ---------------------------------------------------------------------------- quantiles and intervals (issue 12)


def test_forecast_with_quantiles_writes_the_point_and_one_column_per_level(hourly_csv, tmp_path):
    output, plot = tmp_path / "q.csv", tmp_path / "q.png"
    arguments = ["forecast", str(hourly_csv), "--model", "naive", "--horizon", "6", "--output", str(output)]
    assert main(arguments + ["--quantiles", "0.95,0.05,0.5", "--plot", str(plot)]) == 0
    forecast = pd.read_csv(output, index_col=0, parse_dates=True)
    levels = ["", "_q0.05", "_q0.5", "_q0.95"]  # the point forecast, then the levels increasing
    assert list(forecast.columns) == [f"{column}{level}" for column in ("load", "temperature") for level in levels]
    from tsseq import create, read_csv

    expected = create("naive").fit(read_csv(hourly_csv)).predict(6, quantiles=[0.05, 0.5, 0.95])
    np.testing.assert_allclose(forecast.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert (np.diff(forecast[["load_q0.05", "load_q0.5", "load_q0.95"]].to_numpy(), axis=1) >= 0).all()
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("levels", ["0.05,1.5", "low,high", ",", "0.5,0"])
def test_bad_quantiles_exit_2_naming_the_option(hourly_csv, tmp_path, capsys, levels):
    output = tmp_path / "q.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", str(hourly_csv), "--horizon", "3", "--output", str(output), "--quantiles", levels])
    assert exit_info.value.code == 2
    assert "argument --quantiles" in capsys.readouterr().err and not output.exists()


@pytest.mark.parametrize(
    "arguments, hint",
    [
        (["detect", "{csv}", "--model", "lstm_ae"], "unrecognized arguments: --model lstm_ae. tsseq detect takes --detector, not --model."),
        (["forecast", "{csv}", "--horizon", "3", "--output", "{out}", "--detector", "naive"], "tsseq forecast takes --model, not --detector."),
        (["forecast", "{csv}", "--horizon", "3", "--output", "{out}", "--treads", "1"], "Did you mean '--threads'?"),
        (["forecast", "{csv}", "--horizon", "3", "--output", "{out}", "leftover"], "unrecognized arguments: leftover."),
    ],
)
def test_an_unknown_option_is_answered_with_the_one_meant(hourly_csv, tmp_path, capsys, arguments, hint):
    output = tmp_path / "f.csv"
    with pytest.raises(SystemExit) as exit_info:
        main([argument.format(csv=hourly_csv, out=output) for argument in arguments])
    assert exit_info.value.code == 2
    assert hint in capsys.readouterr().err and not output.exists()


def test_the_default_model_gives_the_quantiles_asked_for(hourly_csv, tmp_path, capsys):
    output = tmp_path / "q.csv"
    arguments = ["forecast", str(hourly_csv), "--columns", "load", "--horizon", "3", "--quantiles", "0.1,0.9"]
    assert main(arguments + ["--output", str(output)]) == 0, capsys.readouterr().err  # auto refused them before
    forecast = pd.read_csv(output)
    assert list(forecast.columns) == ["time", "load", "load_q0.1", "load_q0.9"]
    assert (forecast["load_q0.1"] <= forecast["load"]).all() and (forecast["load"] <= forecast["load_q0.9"]).all()


def test_a_job_of_auto_writes_the_quantiles_of_output_quantiles(hourly_csv, tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: q\ndata: {{csv: {hourly_csv.name}, columns: [load]}}\nevaluation: {{horizon: 3}}\n"
        "models: [{name: auto}]\noutput: {quantiles: [0.1, 0.9]}\n"
    )
    assert main(["run", str(job), "--output-dir", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "out" / "forecast.csv").columns) == ["time", "load", "load_q0.1", "load_q0.9"]


def test_point_only_model_with_quantiles_exits_2_with_its_message_before_fitting(hourly_csv, tmp_path, capsys, monkeypatch):
    from tsseq import registry

    monkeypatch.setattr(registry.get("gru"), "fit", lambda *args, **kwargs: pytest.fail("fitted"))
    output = tmp_path / "q.csv"
    arguments = ["forecast", str(hourly_csv), "--model", "gru", "--param", "input_length=24", "--horizon", "3"]
    assert main(arguments + ["--output", str(output), "--quantiles", "0.1,0.9"]) == 2
    error = capsys.readouterr().err
    assert "gives point forecasts only, not quantiles" in error and "conformal" in error and "Traceback" not in error
    assert not output.exists()


def test_levels_beyond_a_network_s_training_levels_exit_2_before_fitting(hourly_csv, tmp_path, capsys, monkeypatch):
    from tsseq import registry

    monkeypatch.setattr(registry.get("segrnn"), "fit", lambda *args, **kwargs: pytest.fail("fitted"))
    output = tmp_path / "q.csv"
    arguments = ["forecast", str(hourly_csv), "--model", "segrnn", "--param", "input_length=24", "--param",
                 "segment_length=6", "--param", "training={loss: quantile}", "--horizon", "3"]  # fmt: skip
    assert main(arguments + ["--output", str(output), "--quantiles", "0.001,0.5,0.99"]) == 2
    error = capsys.readouterr().err
    assert "levels outside [0.025, 0.975] cannot be read from it: [0.001, 0.99] of [0.001, 0.5, 0.99]" in error
    assert "np.float64" not in error and "quantiles: [0.001, 0.5, 0.99]" in error and not output.exists()


def test_a_tweaked_segrnn_is_named_segrnn_when_it_refuses_quantiles(hourly_csv, tmp_path, capsys):
    arguments = ["forecast", str(hourly_csv), "--model", "segrnn", "--param", "input_length=24", "--param",
                 "segment_length=6", "--param", "hidden_size=8", "--horizon", "3", "--quantiles", "0.1,0.9"]  # fmt: skip
    assert main(arguments + ["--output", str(tmp_path / "q.csv")]) == 2
    error = capsys.readouterr().err
    assert "segrnn gives point forecasts only" in error and "model='segrnn'" in error


def test_evaluate_interval_must_be_a_coverage_and_belongs_to_m4(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "m4-hourly", "--interval", "95"])
    assert exit_info.value.code == 2 and "argument --interval" in capsys.readouterr().err
    assert main(["evaluate", "ETTh1", "--interval", "0.9"]) == 2
    assert "--interval applies to the m4 protocol" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, named",
    [(["--horizon", "24"], "--horizon applies"), (["--setting", "S", "--input-length", "5"], "--setting, --input-length apply"),
     (["--drop-last"], "--drop-last applies")],
)
def test_evaluate_m4_refuses_the_ett_options_it_would_ignore(capsys, options, named):
    assert main(["evaluate", "m4-hourly", "--model", "naive", *options]) == 2  # exit 0 before, horizon=48 regardless
    assert f"{named} to the ett protocol; the m4 protocol fixes the horizon of 'm4-hourly'" in capsys.readouterr().err


@pytest.mark.shared_data
def test_evaluate_m4_interval_json_adds_msis_coverage_acd(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(data_dir))
    assert main(["evaluate", "m4-hourly", "--model", "naive", "--interval", "0.95", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["interval"] == 0.95
    scores = report["scores"]["naive"]
    assert {"smape", "mase", "owa", "msis", "coverage", "acd"} <= set(scores) and "interval" not in scores
    assert scores["msis"] == pytest.approx(71.245, abs=5e-4)  # M4's published MSIS of Naive on Hourly
    assert scores["acd"] == pytest.approx(abs(scores["coverage"] - 0.95))


@pytest.mark.shared_data
def test_evaluate_ett_reports_crps_for_probabilistic_models_only(data_dir, monkeypatch, capsys, point_only):
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(data_dir))
    arguments = ["evaluate", "ETTh1", "--model", "naive", "--model", "point_only", "--setting", "S", "--horizon", "24"]
    assert main(arguments + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # valid JSON: no NaN for the missing CRPS
    assert report["protocol"]["crps_levels"] == "0.05:0.95:0.05"
    assert {"crps", "coverage_80", "coverage_90"} <= set(report["scores"]["naive"])
    assert set(report["scores"]["point_only"]) == {"mse", "mae"}
    assert report["scores"]["point_only"]["mse"] == pytest.approx(report["scores"]["naive"]["mse"])
    assert main(arguments) == 0
    table = capsys.readouterr().out
    assert "crps" in table and "nan" not in table.lower()


def test_run_json_prints_the_interval_scores_and_writes_quantile_columns(hourly_csv, tmp_path, capsys):
    pipeline_file = tmp_path / "intervals.yaml"
    pipeline_file.write_text(
        f"name: intervals\ndata: {{csv: {hourly_csv}}}\nmodels: [{{name: naive}}, {{name: drift}}]\n"
        "evaluation: {horizon: 12, season_length: 24, metrics: [mse, mase], interval: 0.9}\n"
        "output: {quantiles: [0.1, 0.5, 0.9]}\n"
    )
    assert main(["run", str(pipeline_file), "--output-dir", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["interval"] == 0.9
    for model in ("naive", "drift"):
        assert set(report["scores"][model]) == {"mse", "mase", "coverage", "acd", "msis", "interval_width"}
    forecast = pd.read_csv(tmp_path / "out" / "forecast.csv", index_col=0)
    assert list(forecast.columns[:4]) == ["load", "load_q0.1", "load_q0.5", "load_q0.9"]
    assert (tmp_path / "out" / "forecast.png").stat().st_size > 1000


def test_models_also_lists_the_anomaly_detectors_with_a_line_each(capsys):
    from tsseq.anomaly.detectors import DETECTORS

    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    forecasters, detectors = listed.split("Anomaly detectors")
    assert "segrnn" in forecasters
    for name in DETECTORS:
        line = next(line for line in detectors.splitlines() if line.split()[:1] == [name])
        assert len(line.split(maxsplit=1)[1]) > 20  # a description, not only the name
    assert "online_residual" in detectors and "best on NAB" in detectors


def test_forecast_reads_a_semicolon_file_with_decimal_commas(tmp_path):
    path = tmp_path / "bench.csv"
    rows = [f"2021-03-01 {hour:02d}:00;{10 + hour},{hour}5" for hour in range(12)]
    path.write_text("time;load\n" + "\n".join(rows) + "\n")
    output = tmp_path / "f.csv"
    assert main(["forecast", str(path), "--model", "naive", "--horizon", "2", "--output", str(output)]) == 0
    assert pd.read_csv(output)["load"].tolist() == [21.115, 21.115]
    assert main(["forecast", str(path), "--sep", ";", "--decimal", ",", "--model", "naive", "--horizon", "2", "--output", str(output)]) == 0


def test_forecast_with_the_wrong_sep_says_the_header_holds_a_delimiter(tmp_path, capsys):
    path = tmp_path / "bench.csv"
    path.write_text("time;load\n2021-03-01 00:00;1,5\n2021-03-01 01:00;2,5\n")
    assert main(["forecast", str(path), "--sep", ",", "--horizon", "2", "--output", str(tmp_path / "f.csv")]) == 2
    assert "the header is one column, 'time;load', that contains ';'" in capsys.readouterr().err


def test_forecast_row_with_more_fields_than_the_header_names_the_line(hourly_csv, tmp_path, capsys):
    lines = hourly_csv.read_text().splitlines()
    lines[1] += ",7"
    hourly_csv.write_text("\n".join(lines) + "\n")
    assert main(["forecast", str(hourly_csv), "--horizon", "2", "--output", str(tmp_path / "f.csv")]) == 2
    assert "line 2 has 4 fields, but the header names 3 columns (time, load, temperature)" in capsys.readouterr().err


@pytest.mark.shared_data
def test_evaluate_reports_a_failing_model_in_its_row_and_scores_the_others(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("TSSEQ_DATA_DIR", str(data_dir))
    arguments = ["evaluate", "ETTh1", "--model", "naive", "--model", "ar:max_order=0", "--setting", "S", "--horizon", "24"]
    assert main(arguments) == 2  # every model tried; non-zero at the end
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines()[2:]}
    assert rows["naive"].split()[1] == "0.0343"
    assert "error: The 'max_order' parameter must be an int >= 1" in rows["ar:max_order=0"]
    assert "ar:max_order=0 failed" in captured.err
    assert main(arguments + ["--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert set(report["scores"]) == {"naive"} and "max_order" in report["errors"]["ar:max_order=0"]


# ---------------------------------------------------------------------------- start-up, threads, resume, signals (issues 13, 17)


def test_a_non_neural_forecast_imports_neither_torch_nor_scikit_learn(hourly_csv, tmp_path):
    code = (
        "import sys; from tsseq.cli import main; "
        f"code = main(['forecast', {str(hourly_csv)!r}, '--model', 'ar', '--horizon', '3', '--output', {str(tmp_path / 'f.csv')!r}]); "
        "print(code, ','.join(m for m in ('torch', 'tsseq.estimators', 'mlflow', 'optuna', 'matplotlib', 'statsmodels', "
        "'sklearn', 'scipy') if m in sys.modules) or '-')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.stdout.split() == ["0", "-"], result.stderr[-2000:]


def test_threads_must_be_a_positive_whole_number(hourly_csv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", str(hourly_csv), "--horizon", "3", "--output", str(tmp_path / "f.csv"), "--threads", "0"])
    assert exit_info.value.code == 2
    assert "argument --threads: expected a whole number >= 1; got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "forecast", "evaluate", "detect", "tune"])
def test_every_command_that_trains_takes_threads(command):
    from tsseq.cli import build_parser

    positional = {"run": ["job.yaml"], "forecast": ["y.csv", "--horizon", "2", "--output", "f.csv"],
                  "evaluate": ["ETTh1"], "detect": ["y.csv"], "tune": ["study.yaml"]}[command]  # fmt: skip
    assert build_parser().parse_args([command, *positional, "--threads", "2"]).threads == 2


def test_run_and_forecast_take_checkpoint_dir_and_resume_switches():
    from tsseq.cli import build_parser

    parser = build_parser()
    for command, positional in (("run", ["job.yaml"]), ("forecast", ["y.csv", "--horizon", "2", "--output", "f.csv"])):
        assert parser.parse_args([command, *positional]).resume is None  # the job's resume key (default: resume)
        args = parser.parse_args([command, *positional, "--checkpoint-dir", "ck", "--no-resume"])
        assert args.checkpoint_dir == "ck" and args.resume is False
        assert parser.parse_args([command, *positional, "--resume"]).resume is True


def test_tune_threads_go_into_the_models_training_unless_it_sets_its_own():
    import argparse

    from tsseq.config import DataConfig, ModelConfig
    from tsseq.tuning.cli import apply_overrides
    from tsseq.tuning.config import StudyConfig

    args = argparse.Namespace(study_name=None, storage=None, n_trials=None, timeout=None, pruner=None, seed=None,
                              no_tracking=False, checkpoint_dir=None, threads=1)  # fmt: skip
    study = StudyConfig(name="s", data=DataConfig(dataset="co2"), model=ModelConfig("lstm", {"training": {"epochs": 2}}))
    assert apply_overrides(study, args).model.params == {"training": {"epochs": 2, "threads": 1}}
    own = StudyConfig(name="s", data=DataConfig(dataset="co2"), model=ModelConfig("lstm", {"training": {"threads": 3}}))
    assert apply_overrides(own, args).model.params == {"training": {"threads": 3}}


def test_detect_threads_go_into_the_neural_detector_and_a_wrapped_forecaster():
    from tsseq.anomaly.cli import with_threads
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig
    from tsseq.config import DataConfig

    def detector(name, params):
        job = DetectionConfig(name="j", data=DataConfig(csv="y.csv"), detector=DetectorConfig(name, params))
        return with_threads(job, 1).detector.params

    assert detector("lstm_ae", {}) == {"training": {"threads": 1}}
    assert detector("forecast_residual", {"forecaster": "gru"}) == {"forecaster": "gru", "forecaster_params": {"training": {"threads": 1}}}
    assert detector("ar_residual", {"order": 3}) == {"order": 3}  # nothing neural: unchanged


LSTM_PARAMS = ["input_length=24", "hidden_size=4", "training={epochs: 2, seed: 0, device: cpu}"]


def _forecast_lstm(csv, output, *options, params=LSTM_PARAMS) -> list[str]:
    return ["forecast", str(csv), "--model", "lstm", "--horizon", "3", "--output", str(output), "--threads", "1",
            *[item for param in params for item in ("--param", param)], *options]  # fmt: skip


def test_forecast_resumes_by_default_refuses_another_jobs_checkpoint_and_no_resume_starts_over(hourly_csv, tmp_path, capsys):
    folder = tmp_path / "ck"
    first, again = tmp_path / "first.csv", tmp_path / "again.csv"
    assert main(_forecast_lstm(hourly_csv, first, "--checkpoint-dir", str(folder))) == 0
    assert f"lstm [refit]: training from epoch 1/2; a checkpoint after each epoch in {folder / 'lstm' / 'refit'}" in capsys.readouterr().err
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.pt")) == ["lstm/refit/last.pt"]

    assert main(_forecast_lstm(hourly_csv, again, "--checkpoint-dir", str(folder))) == 0  # the same job: resumed
    assert "lstm [refit]: the checkpoint" in capsys.readouterr().err  # ... holds its finished training
    pd.testing.assert_frame_equal(pd.read_csv(first), pd.read_csv(again))

    other = ["input_length=24", "hidden_size=4", "training={epochs: 3, seed: 0, device: cpu}"]
    assert main(_forecast_lstm(hourly_csv, again, "--checkpoint-dir", str(folder), params=other)) == 2
    error = capsys.readouterr().err
    assert "lstm [refit]: Cannot resume" in error and "training.epochs: 2 in the checkpoint, 3 now" in error
    assert "--no-resume starts it over" in error and "Traceback" not in error

    assert main(_forecast_lstm(hourly_csv, again, "--checkpoint-dir", str(folder), "--no-resume", params=other)) == 0
    error = capsys.readouterr().err
    assert "lstm [refit]: starting over at epoch 1/3 (no resume)" in error and "UserWarning" not in error


def test_resume_without_a_checkpoint_folder_is_a_usage_error(hourly_csv, tmp_path, capsys):
    assert main(_forecast_lstm(hourly_csv, tmp_path / "f.csv", "--resume")) == 2
    assert "--resume needs a checkpoint folder to resume from: --checkpoint-dir DIR" in capsys.readouterr().err


HELD_CLI = Path(__file__).parent / "held_cli.py"  # `tsseq ...` imported now, run once a file exists


def _tsseq(arguments: list[str], cwd: Path, held_until: Path | None = None, **options) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    start = ["-m", "tsseq.cli"] if held_until is None else [str(HELD_CLI), str(held_until)]
    return subprocess.Popen([sys.executable, *start, *arguments], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)  # fmt: skip


def test_run_killed_mid_training_then_resumed_ends_with_the_scores_of_an_uninterrupted_run(tmp_path, request):
    import torch

    index = pd.date_range("2022-01-01", periods=1000, freq="h", name="time")
    steps = np.arange(1000)
    frame = pd.DataFrame({"load": 10 + np.sin(2 * np.pi * steps / 24) + 0.01 * steps}, index=index)
    frame.to_csv(tmp_path / "load.csv")
    # 25 epochs: killed after its third, the holdout fit still has about twenty to run (about 0.1 s an epoch: seconds
    # of margin for the poll below on a loaded machine); the resumed fit trains them after the checkpoint.
    epochs = 25
    training = f"{{epochs: {epochs}, seed: 0, device: cpu, learning_rate: 0.01, progress: false}}"
    (tmp_path / "job.yaml").write_text(
        "name: resumed\ndata: {csv: load.csv}\n"
        f"models:\n  - {{name: lstm, params: {{input_length: 48, hidden_size: 16, training: {training}}}}}\n  - {{name: ar}}\n"
        "evaluation: {protocol: holdout, horizon: 12}\n"
        "output: {forecast_csv: forecast.csv, plot: null, results_json: results.json}\n"
    )
    job = ["run", "job.yaml", "--threads", "1"]
    # The uninterrupted run goes on beside the killed and the resumed ones (one thread each, and a second core to
    # use): only its outputs are compared, at the end.
    reference = _tsseq([*job, "--output-dir", "reference", "--checkpoint-dir", "ck-reference"], tmp_path)
    request.addfinalizer(reference.kill)  # not left running by a failure below

    # Killed (SIGKILL: no clean-up at all) once the holdout fit has finished three epochs.
    checkpoint = tmp_path / "ck" / "lstm" / "holdout" / "last.pt"
    killed = _tsseq([*job, "--output-dir", "out", "--checkpoint-dir", "ck"], tmp_path)
    # The resumed run, started now, imports while the killed one trains; it runs once `go` exists, after the kill.
    resumed = _tsseq([*job, "--output-dir", "out", "--checkpoint-dir", "ck", "--resume"], tmp_path, tmp_path / "go")
    request.addfinalizer(resumed.kill)
    deadline, epochs_done = time.monotonic() + 300, 0
    while epochs_done < 3:
        assert killed.poll() is None, f"ended before it could be killed: {killed.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        if checkpoint.is_file():
            epochs_done = torch.load(checkpoint, weights_only=True)["epoch"]  # renamed into place whole
        time.sleep(0.02)
    killed.kill()
    killed.communicate(timeout=60)
    assert killed.returncode == -9 and not (tmp_path / "out").exists()  # nothing half-written
    at_kill = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 3 <= at_kill < epochs

    (tmp_path / "go").touch()
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    started = re.search(rf"lstm \[holdout\]: resuming at epoch (\d+)/{epochs} from the checkpoint", stderr)
    assert started and int(started.group(1)) == at_kill + 1, stderr  # not from epoch 1
    assert f"lstm [refit]: training from epoch 1/{epochs}" in stderr
    _, stderr = reference.communicate(timeout=600)
    assert reference.returncode == 0, stderr[-3000:]
    expected = json.loads((tmp_path / "reference" / "results.json").read_text())
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["scores"] == expected["scores"]  # identical, to the last digit
    assert (tmp_path / "out" / "forecast.csv").read_text() == (tmp_path / "reference" / "forecast.csv").read_text()
    assert torch.load(checkpoint, weights_only=True)["epoch"] == epochs
    assert sorted(p.relative_to(tmp_path / "ck").as_posix() for p in (tmp_path / "ck").rglob("*")) == [
        "lstm", "lstm/holdout", "lstm/holdout/last.pt", "lstm/refit", "lstm/refit/last.pt"
    ]  # fmt: skip


@pytest.mark.parametrize("command", [["datasets"], ["forecast", "missing.csv", "--horizon", "2", "--output", "f.csv"]])
def test_a_sigterm_during_the_interpreters_shutdown_leaves_the_commands_exit_code(tmp_path, command):
    # atexit handlers run last-registered first: this one, registered before the command, runs after
    # MLflow's and the others, as late in the shutdown as a signal can come.
    code = (
        "import atexit, os, signal, sys, time\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(0.2)))\n"
        f"sys.argv = ['tsseq', *{command!r}]\n"
        "from tsseq.cli import main\n"
        "sys.exit(main())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == (0 if command == ["datasets"] else 2), result.stderr[-2000:]


def test_forecast_without_a_model_lets_auto_choose_and_say_what(hourly_csv, tmp_path, capsys):
    output = tmp_path / "forecast.csv"
    assert main(["forecast", str(hourly_csv), "--horizon", "6", "--output", str(output)]) == 0
    assert "auto: chose " in capsys.readouterr().err
    forecast = pd.read_csv(output, index_col=0)
    assert list(forecast.columns) == ["load", "temperature"] and len(forecast) == 6
    assert np.isfinite(forecast.to_numpy()).all()


def test_a_one_row_series_with_its_frequency_stated_is_forecast(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("timestamp,y\n2024-01-01 00:00,1.0\n")
    output = tmp_path / "f.csv"
    assert main(["forecast", str(data), "--model", "naive", "--horizon", "2", "--output", str(output)]) == 2
    assert "one.csv: cannot infer a frequency from series of one row; pass freq= (tsseq: --freq)" in capsys.readouterr().err
    assert main(["forecast", str(data), "--model", "naive", "--horizon", "2", "--freq", "h", "--output", str(output)]) == 0
    assert pd.read_csv(output)["timestamp"].tolist() == ["2024-01-01 01:00:00", "2024-01-01 02:00:00"]


def test_a_warning_during_a_command_prints_as_a_message_of_the_command_not_a_library_line():
    import warnings

    from tsseq.cli import _warnings_as_messages

    original = warnings.formatwarning
    with _warnings_as_messages("detect", show_traceback=False):
        assert warnings.formatwarning(UserWarning("channel 'spare' is constant"), UserWarning, "/lib/x.py", 7) == (
            "tsseq detect: warning: channel 'spare' is constant\n"
        )
        assert warnings.formatwarning(RuntimeWarning("overflow"), RuntimeWarning, "/lib/x.py", 7) == (
            "tsseq detect: RuntimeWarning: overflow\n"
        )
    assert warnings.formatwarning is original
    with _warnings_as_messages("detect", show_traceback=True):  # --traceback: where it came from, as Python says it
        assert warnings.formatwarning is original
