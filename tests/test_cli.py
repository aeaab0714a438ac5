"""The tsseq command end to end: outputs, exit codes, and nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
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
    for model in ("ar", "seasonal_naive", "drift", "naive"):
        assert model in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["scores"]) == {"ar", "seasonal_naive", "drift", "naive"}
    assert results["scores"]["ar"]["mse"] < results["scores"]["naive"]["mse"]
    forecast = pd.read_csv(tmp_path / "forecast.csv", index_col=0, parse_dates=True)
    assert len(forecast) == 104 and not forecast.isna().any().any()
    assert (tmp_path / "forecast.png").stat().st_size > 1000


def test_run_rejects_unknown_pipeline_key(tmp_path, capsys):
    path = tmp_path / "job.yaml"
    path.write_text("name: job\ndata: {dataset: co2}\nmodels: [{name: naive}]\nevaluation: {horizn: 3}\n")
    assert main(["run", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "unknown key 'horizn'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in ("ar", "naive", "seasonal_naive", "naive2", "drift", "mean"):
        assert name in listed


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
