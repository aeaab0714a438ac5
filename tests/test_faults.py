"""Fault injection: bad output paths, failing writers, a full disk, nonsense forecasts, wrong-kind files.

Every case checks the exit code (2 bad input, 3 a result that failed its sanity checks),
the message (the user's path, never a temporary file) and that no file is left behind.
They run in-process on tiny data with the naive model or a fake one (a few seconds in
all); one case runs a real process. Read-only folders are simulated where the tests run
as root (chmod does not stop root), with a real chmod otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq import io, persistence
from tsseq.cli import main
from tsseq.errors import DataError, OutputError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """120 hourly values near 10 (9 to 11)."""
    index = pd.date_range("2021-03-01", periods=120, freq="h", name="time")
    frame = pd.DataFrame({"load": 10 + np.sin(2 * np.pi * np.arange(120) / 24)}, index=index)
    path = tmp_path / "plant.csv"
    frame.to_csv(path)
    return path


@pytest.fixture
def fixed(monkeypatch):
    """Register ``fixed``: a model forecasting ``value`` (a parameter) everywhere, e.g. a diverged 1.7e6."""
    from tsseq import registry
    from tsseq.base import Forecaster

    class Fixed(Forecaster):
        registry_name = "fixed"

        def __init__(self, *, value: float = 0.0, horizon: int = 1) -> None:
            self.value = value
            self.horizon = horizon

        def _fit(self, series, validation=None):
            self.channels_ = series[0].shape[1]

        def _predict(self, horizon):
            return [np.full((horizon, self.channels_), float(self.value))]

        def _predict_windows(self, inputs, horizon):
            return np.full((len(inputs), horizon, inputs.shape[2]), float(self.value))

    registry.names()
    monkeypatch.setitem(registry._REGISTRY, "fixed", Fixed)
    monkeypatch.setitem(registry._PRESETS, "fixed", {})
    return "fixed"


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any model is fitted or any data read: checks that must come first."""
    from tsseq.base import Forecaster

    def refuse(*args, **kwargs):
        raise AssertionError("a model was trained before the bad input was found")

    monkeypatch.setattr(Forecaster, "fit", refuse)


def leftovers(folder: Path) -> list[str]:
    """Every file under ``folder`` except the inputs the test wrote (csv, yaml, pt named input*)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(("plant", "input", "job"))
    )


def forecast(data: Path, *extra: str) -> int:
    return main(["forecast", str(data), "--model", "naive", "--horizon", "3", *extra])


# ---- output paths, checked before any training (exit 2, the user's path) -------------------


def test_output_naming_a_directory_is_bad_input(data, tmp_path, capsys, no_training):
    folder = tmp_path / "existing"
    folder.mkdir()
    assert forecast(data, "--output", str(folder)) == 2
    error = capsys.readouterr().err
    assert f"'{folder}' is a directory" in error and ".tmp" not in error
    assert leftovers(tmp_path) == []


def test_plot_whose_folder_is_a_file_refuses_before_training_and_writes_no_csv(data, tmp_path, capsys, no_training):
    (tmp_path / "afile").write_text("")
    output, plot = tmp_path / "out" / "forecast.csv", tmp_path / "afile" / "forecast.png"
    assert forecast(data, "--output", str(output), "--plot", str(plot)) == 2
    error = capsys.readouterr().err
    assert str(plot) in error and "is a file, not a directory" in error
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == ["afile"]


def _refuse_in(folder: Path, monkeypatch, code: int = errno.EROFS) -> None:
    """Make file creation in ``folder`` fail as on a read-only file system (works as root too)."""
    real = io.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(code, os.strerror(code))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp)


def test_read_only_folder_simulated(data, tmp_path, capsys, monkeypatch, no_training):
    folder = tmp_path / "locked"
    folder.mkdir()
    _refuse_in(folder, monkeypatch)
    assert forecast(data, "--output", str(tmp_path / "f.csv"), "--plot", str(folder / "p.png")) == 2
    error = capsys.readouterr().err
    assert str(folder / "p.png") in error and "not writable (Read-only file system)" in error
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="chmod does not stop root (simulated above)")
def test_read_only_folder_by_chmod(data, tmp_path, capsys, no_training):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert forecast(data, "--output", str(folder / "sub" / "f.csv")) == 2
        assert str(folder / "sub" / "f.csv") in capsys.readouterr().err
    finally:
        folder.chmod(0o755)
    assert leftovers(tmp_path) == []


def test_run_checks_every_output_before_scoring(data, tmp_path, capsys, no_training):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").write_text("a file where a folder should be")
    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: job\ndata: {{csv: {data.name}}}\nmodels: [{{name: naive}}]\nevaluation: {{horizon: 3}}\n"
        f"output: {{directory: {out}, plot: plots/forecast.png}}\n"
    )
    assert main(["run", str(job)]) == 2
    assert str(out / "plots" / "forecast.png") in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["plots"]


def test_two_outputs_at_one_path_are_refused(data, tmp_path, capsys, no_training):
    path = tmp_path / "same"
    assert forecast(data, "--output", str(path), "--plot", str(path)) == 2
    assert "both" in capsys.readouterr().err and leftovers(tmp_path) == []


def test_detect_output_naming_a_directory_is_bad_input(data, tmp_path, capsys):
    assert main(["detect", str(data), "--detector", "ar_residual", "--window", "12", "--output", str(tmp_path)]) == 2
    assert f"'{tmp_path}' is a directory" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


# ---- failures while writing: all or nothing ---------------------------------------------------


def test_failing_plot_writer_leaves_no_csv_and_keeps_the_old_files(data, tmp_path, capsys, monkeypatch):
    import tsseq.plotting

    output, plot = tmp_path / "forecast.csv", tmp_path / "forecast.png"
    output.write_text("old forecast")

    def half_then_fail(history, frame, path, **options):
        Path(path).write_bytes(b"\x89PNG half")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(tsseq.plotting, "plot_forecast", half_then_fail)
    assert forecast(data, "--output", str(output), "--plot", str(plot)) == 1
    assert "renderer crashed" in capsys.readouterr().err
    assert output.read_text() == "old forecast" and not plot.exists()
    assert leftovers(tmp_path) == ["forecast.csv"]


def test_full_disk_while_writing_is_reported_on_the_users_path(data, tmp_path, capsys, monkeypatch):
    def disk_full(self, path, *args, **kwargs):
        Path(path).write_text("time,load\n2021-03")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    output = tmp_path / "new" / "deeper" / "forecast.csv"
    assert forecast(data, "--output", str(output)) == 2
    error = capsys.readouterr().err
    assert f"'{output}'" in error and "No space left on device" in error and ".tmp" not in error
    assert not (tmp_path / "new").exists()  # the folders the job made are gone too
    assert leftovers(tmp_path) == []


def test_a_failed_rename_puts_back_what_was_committed(tmp_path, monkeypatch):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("old a")
    real, calls = os.replace, []

    def replace(source, destination):
        calls.append(destination)
        if Path(destination) == second:
            raise OSError(errno.EIO, "Input/output error")
        return real(source, destination)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(OutputError, match=r"b\.csv.*Input/output error"):
        with io.outputs() as out:
            out.add_text(first, "new a")
            out.add_text(second, "new b")
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_signal_during_the_job_leaves_nothing(tmp_path):
    from tsseq.signals import Terminated

    with pytest.raises(Terminated):
        with io.outputs() as out:
            out.add_text(tmp_path / "sub" / "a.txt", "a")
            raise Terminated(15)
    assert list(tmp_path.iterdir()) == []


def test_run_fails_at_the_last_file_and_leaves_none(data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: job\ndata: {{csv: {data.name}}}\nmodels: [{{name: naive}}]\nevaluation: {{horizon: 3}}\n"
        f"output: {{directory: {out}, plot: null}}\n"
    )
    real = io.Outputs.add_text

    def fail_json(self, path, text, what="text file"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.Outputs, "add_text", fail_json)
    assert main(["run", str(job)]) == 1
    assert not out.exists()
    monkeypatch.setattr(io.Outputs, "add_text", real)
    assert main(["run", str(job)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv", "results.json"]


def test_detect_writes_scores_and_plot_together_or_neither(data, tmp_path, capsys, monkeypatch):
    import tsseq.anomaly.plotting

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tsseq.anomaly.plotting, "plot_detection", fail)
    scores, plot = tmp_path / "scores.csv", tmp_path / "scores.png"
    code = main(["detect", str(data), "--detector", "ar_residual", "--window", "12", "--output", str(scores), "--plot", str(plot)])
    assert code == 2 and str(plot) in capsys.readouterr().err
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(data, tmp_path, mask, mode):
    previous = os.umask(mask)
    try:
        assert forecast(data, "--output", str(tmp_path / "f.csv")) == 0
        path = io.write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "f.csv").stat().st_mode & 0o777 == mode
    assert path.stat().st_mode & 0o777 == mode


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o640)
    with io.outputs() as out:
        out.add_text(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


# ---- nonsense forecasts and scores ------------------------------------------------------------


def test_implausible_forecast_exits_3_naming_the_column_and_writes_nothing(data, tmp_path, capsys, fixed):
    output = tmp_path / "f.csv"
    code = main(["forecast", str(data), "--model", fixed, "--param", "value=1.7e6", "--horizon", "3", "--output", str(output)])
    assert code == 3
    error = capsys.readouterr().err
    assert "'load'" in error and "1.7e+06" in error and "--allow-implausible" in error
    assert leftovers(tmp_path) == []


def test_allow_implausible_writes_with_a_warning(data, tmp_path, capsys, fixed):
    output = tmp_path / "f.csv"
    code = main(
        ["forecast", str(data), "--model", fixed, "--param", "value=1.7e6", "--horizon", "3", "--output", str(output),
         "--allow-implausible"]
    )  # fmt: skip
    assert code == 0
    assert "warning: implausible forecast, column 'load'" in capsys.readouterr().err
    assert pd.read_csv(output)["load"].eq(1.7e6).all()


def test_a_plausible_forecast_passes(data, tmp_path, fixed):
    # Data in [9, 11]: anything within 10 spans (max(11 - 9, 11) = 11) of the range is accepted.
    code = main(["forecast", str(data), "--model", fixed, "--param", "value=100", "--horizon", "3", "--output", str(tmp_path / "f.csv")])
    assert code == 0


def test_a_negative_forecast_of_a_never_negative_column_is_written_with_a_warning(data, tmp_path, capsys, fixed):
    output = tmp_path / "f.csv"
    code = main(["forecast", str(data), "--model", fixed, "--param", "value=-1", "--horizon", "3", "--output", str(output)])
    assert code == 0
    assert ("warning: column 'load': 3 of the 3 forecast values are below 0, down to -1 (load), though its training "
            "values never are") in capsys.readouterr().err
    assert pd.read_csv(output)["load"].eq(-1).all()  # said, not changed


def test_below_zero_names_the_series_of_a_panel_and_leaves_signed_columns_alone():
    from tsseq.sanity import below_zero

    stamps = pd.date_range("2024-01-01", periods=4, freq="D")
    history = pd.DataFrame({"sales": [0.0, 2, 0, 5] * 2, "temp": [-3.0, 1, 2, 0] * 2},
                           index=pd.MultiIndex.from_product([["a", "b"], stamps], names=["id", "timestamp"]))
    future = pd.MultiIndex.from_product([["a", "b"], pd.date_range("2024-01-05", periods=2, freq="D")])
    forecast = pd.DataFrame({"sales": [1.0, 1, 1, 1], "sales_q0.1": [-0.5, 0, -2, 0.1], "temp": [-5.0] * 4,
                             "temp_q0.1": [-9.0] * 4}, index=future)  # fmt: skip
    (line,) = below_zero(forecast, history)
    assert line.startswith("column 'sales': 2 of the 8 forecast values of 2 series (lowest in series 'b') are below "
                           "0, down to -2 (sales_q0.1)")
    assert below_zero(forecast.clip(lower=0), history) == []


def test_non_finite_forecast_exits_3_naming_the_column(data, tmp_path, capsys, fixed):
    code = main(["forecast", str(data), "--model", fixed, "--param", "value=.nan", "--horizon", "3", "--output", str(tmp_path / "f.csv")])
    assert code == 3
    assert "NaN or infinite" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_run_refuses_an_implausible_forecast_or_records_the_warning(data, tmp_path, capsys, fixed):
    out = tmp_path / "out"
    job = tmp_path / "job.yaml"
    base = (
        f"name: job\ndata: {{csv: {data.name}}}\nmodels: [{{name: {fixed}, params: {{value: 1.7e+6}}}}]\n"
        f"evaluation: {{horizon: 3}}\noutput: {{directory: {out}, plot: null"
    )
    job.write_text(base + "}\n")
    assert main(["run", str(job)]) == 3
    assert not out.exists()
    job.write_text(base + ", allow_implausible: true}\n")
    assert main(["run", str(job)]) == 0
    results = pd.read_json(out / "results.json", typ="series")
    assert "column 'load'" in results["warnings"][0]


def test_huge_input_values_are_refused_when_read(data, tmp_path, capsys):
    frame = pd.read_csv(data, index_col=0)
    frame.iloc[50, 0] = 1e308
    frame.to_csv(data)
    assert forecast(data, "--output", str(tmp_path / "f.csv")) == 2
    error = capsys.readouterr().err
    assert "column 'load' at 2021-03-03 02:00:00 holds 1e+308" in error
    assert leftovers(tmp_path) == []


def test_a_forecast_over_the_model_file_it_reads_is_refused(data, tmp_path, capsys):
    import tsseq

    model_file = tmp_path / "input-model.pt"
    persistence.save(tsseq.create("naive").fit(pd.read_csv(data, index_col=0, parse_dates=True)), model_file)
    saved = model_file.read_bytes()
    for option in ("--output", "--plot"):
        paths = {"--output": str(tmp_path / "f.csv"), option: str(model_file)}
        arguments = ["forecast", str(data), "--model-file", str(model_file), "--horizon", "3"]
        assert main(arguments + [part for pair in paths.items() for part in pair]) == 2  # 0 before: a CSV over the model
        assert f"'{model_file}' is the model file this job reads" in capsys.readouterr().err
    assert model_file.read_bytes() == saved and leftovers(tmp_path) == []


def test_a_column_too_small_to_have_a_spread_is_refused_when_read(data, tmp_path, capsys):
    frame = pd.read_csv(data, index_col=0)
    frame["load"] *= 1e-300  # squares underflow to 0: the naive interval had width 0
    frame.to_csv(data)
    assert forecast(data, "--quantiles", "0.1,0.9", "--output", str(tmp_path / "f.csv")) == 2
    error = capsys.readouterr().err
    assert "column 'load' holds no value larger than 1.1e-299 in magnitude" in error
    assert "Rescale the column" in error
    assert leftovers(tmp_path) == []


def test_zeros_and_single_tiny_values_are_read(data, tmp_path):
    frame = pd.read_csv(data, index_col=0)
    frame["idle"] = 0.0
    frame.iloc[3, 0] = 1e-300
    frame.to_csv(data)
    assert forecast(data, "--output", str(tmp_path / "f.csv")) == 0


def test_a_huge_horizon_is_refused_up_front_with_its_override(data, tmp_path, capsys, monkeypatch, no_training):
    assert main(["forecast", str(data), "--horizon", str(10**8), "--output", str(tmp_path / "f.csv")]) == 2
    error = capsys.readouterr().err
    assert "horizon=100000000" in error and "--max-horizon" in error and "TSSEQ_MAX_HORIZON" in error
    assert leftovers(tmp_path) == []


def test_max_horizon_allows_a_long_forecast(data, tmp_path, monkeypatch, capsys):
    args = ["forecast", str(data), "--model", "naive", "--horizon", "12001", "--output", str(tmp_path / "f.csv")]
    assert main(args) == 2  # 120 rows: at most 12000
    assert main([*args, "--max-horizon", "12001"]) == 0
    monkeypatch.setenv("TSSEQ_MAX_HORIZON", "20000")
    assert main(args) == 0
    with pytest.raises(SystemExit) as stop:  # a limit must be a positive number of rows: a usage error
        main([*args, "--max-horizon", "0"])
    assert stop.value.code == 2 and "--max-horizon: expected a whole number >= 1; got '0'" in capsys.readouterr().err


def test_non_finite_detection_scores_exit_3(data, tmp_path, capsys, monkeypatch):
    import tsseq.anomaly.streaming
    from tsseq.anomaly.streaming import score_stream

    def diverged(*args, **kwargs):
        result = score_stream(*args, **kwargs)
        result.frame.iloc[-5:, result.frame.columns.get_loc("score")] = np.inf
        return result

    monkeypatch.setattr(tsseq.anomaly.streaming, "score_stream", diverged)
    code = main(["detect", str(data), "--detector", "ar_residual", "--window", "12", "--output", str(tmp_path / "s.csv")])
    assert code == 3
    assert "NaN or infinite" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_exit_codes_in_a_real_process(data, tmp_path):
    """The CLI's exit codes and one-line messages hold in a real process too."""
    folder = tmp_path / "existing"
    folder.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tsseq.cli", "forecast", str(data), "--model", "naive", "--horizon", "3", "--output", str(folder)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr and str(folder) in result.stderr


# ---- files of the wrong kind -----------------------------------------------------------------


BINARY = bytes(range(256)) * 4


def test_binary_pipeline_file(tmp_path, capsys):
    job = tmp_path / "input.yaml"
    job.write_bytes(BINARY)
    assert main(["run", str(job)]) == 2
    assert "holds binary data, not text; expected a YAML text file of PipelineConfig keys" in capsys.readouterr().err


def test_csv_given_as_pipeline(data, capsys):
    assert main(["run", str(data)]) == 2
    assert "reads as a str (is it a CSV file?), not a mapping of keys" in capsys.readouterr().err


def test_binary_labels_file(data, tmp_path, capsys):
    labels = tmp_path / "input-labels.csv"
    labels.write_bytes(BINARY)
    code = main(["detect", str(data), "--detector", "ar_residual", "--labels", str(labels), "--output", str(tmp_path / "s.csv")])
    assert code == 2
    error = capsys.readouterr().err
    assert f"Labels file '{labels}' holds binary data; expected a CSV text file of labelled anomaly windows" in error
    assert leftovers(tmp_path) == []


def test_binary_data_file(tmp_path, capsys):
    path = tmp_path / "input.csv"
    path.write_bytes(BINARY)
    assert forecast(path, "--output", str(tmp_path / "f.csv")) == 2
    assert "holds binary data, not text; expected a CSV text file" in capsys.readouterr().err


def test_csv_given_as_a_model_file(data):
    with pytest.raises(DataError, match=r"looks like a CSV \(first line 'time,load'\).*expected a model file written by model.save"):
        persistence.load(data)


class _Payload:
    """What a tampered model file holds: an object whose unpickling would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_tampered_model_file_is_refused_without_running_it_or_advising_to(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "input-model.pt"
    torch.save({"format": persistence.FORMAT, "metadata": "{}", "tensors": {}, "x": _Payload(marker)}, path)
    with pytest.raises(DataError) as caught:
        persistence.load(path)
    message = str(caught.value)
    assert "holds objects other than tensors" in message and "weights_only" not in message
    assert "safe_globals" not in message and not marker.exists()


def test_binary_and_empty_model_files(tmp_path):
    path = tmp_path / "input.pt"
    path.write_bytes(BINARY)
    with pytest.raises(DataError, match="is binary data, not a tsseq model"):
        persistence.load(path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="is empty, not a tsseq model"):
        persistence.load(path)


# ---- numbers in YAML and parameter types --------------------------------------------------------


def test_yaml_1_1_numbers_reach_the_training_configuration():
    import yaml

    from tsseq.config import from_mapping
    from tsseq.engine import TrainingConfig

    fields = yaml.safe_load("{learning_rate: 1e6, weight_decay: 1E-3, momentum: .5, epochs: 1e1}")
    assert isinstance(fields["learning_rate"], str)  # what YAML 1.1 gives
    config = from_mapping(TrainingConfig, fields, where="training")
    assert (config.learning_rate, config.weight_decay, config.momentum, config.epochs) == (1e6, 1e-3, 0.5, 10)


def test_a_word_where_a_number_belongs_is_named_before_training(data, tmp_path, capsys, no_training):
    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: job\ndata: {{csv: {data.name}}}\n"
        "models: [{name: segrnn, params: {training: {learning_rate: fast}}}]\nevaluation: {horizon: 3}\n"
        f"output: {{directory: {tmp_path / 'out'}}}\n"
    )
    assert main(["run", str(job)]) == 2
    assert "training.learning_rate: expected a number; got 'fast'" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_a_parameter_of_the_wrong_type_names_the_parameter_and_the_type(data, tmp_path, capsys):
    assert main(["forecast", str(data), "--model", "segrnn", "--param", "training=5", "--horizon", "3", "--output", str(tmp_path / "f.csv")]) == 2
    error = capsys.readouterr().err
    assert "the 'training' parameter must be a mapping of TrainingConfig fields" in error and "got 5 (int)" in error
