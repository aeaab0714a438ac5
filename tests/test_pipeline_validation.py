"""A job's mistakes are found before any work, and named where they are in the job file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tsseq import pipeline
from tsseq.base import Forecaster
from tsseq.cli import main
from tsseq.config import DataConfig, EvaluationConfig, ModelConfig, OutputConfig, PipelineConfig
from tsseq.errors import ConfigError

# Two quick models that would train first, then the model under test, third.
JOB = """\
name: job
data: {{csv: daily.csv, timestamp_column: time}}
evaluation: {{horizon: 5}}
models:
  - name: naive
  - name: ar
    params: {{max_order: 3}}
  - {third}
"""


@pytest.fixture
def job(tmp_path, monkeypatch):
    """Write ``job.yaml`` (with a third model) beside a daily CSV; reading data or fitting fails the test."""
    index = pd.date_range("2021-01-01", periods=80, freq="D", name="time")
    pd.DataFrame({"y": np.sin(np.arange(80) / 4.0)}, index=index).to_csv(tmp_path / "daily.csv")

    def never(*args, **kwargs):
        raise AssertionError("a model was fitted or the data read before the bad parameter was refused")

    monkeypatch.setattr(Forecaster, "fit", never)  # naive's and AR's fit (AR.fit calls it)
    monkeypatch.setattr(pipeline, "load_inputs", never)

    def write(third: str, change: tuple[str, str] = ("", "")):
        path = tmp_path / "job.yaml"
        path.write_text(JOB.format(third=third).replace(*change))
        return path

    return write


def _run(path, capsys) -> tuple[int, str]:
    code = main(["run", str(path), "--output-dir", str(path.parent / "out")])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("third", "expected"),
    [
        ("{name: lstm, params: {hidden_size: -3}}",
         "job.yaml: models[2] (lstm): The 'hidden_size' parameter must be an int >= 1. Got -3 instead."),
        ("{name: lstm, label: small, params: {hidden_size: abc}}",
         "job.yaml: models[2] (small): The 'hidden_size' parameter must be an int >= 1. Got 'abc' instead."),
        ("{name: segrnn, params: {segment_length: 0}}",
         "job.yaml: models[2] (segrnn): The 'segment_length' parameter must be an int >= 1. Got 0 instead."),
        ("{name: lstm, params: {training: {epochs: 0}}}",
         "job.yaml: models[2].params.training: The 'epochs' parameter must be an int >= 1. Got 0 instead."),
        ("{name: gru, params: {training: {loss: msee}}}",
         "job.yaml: models[2].params.training: The 'loss' parameter must be one of 'mse', 'mae', 'quantile', "
         "'normal', 'student_t', 'negative_binomial'. Got 'msee' instead. Did you mean 'mse'?"),
        ("{name: seasonal_naive, params: {season_length: -1}}",
         "job.yaml: models[2] (seasonal_naive): The 'season_length' parameter must be an int >= 1. Got -1 instead."),
        ("{name: ar, label: ar0, params: {max_order: 0}}",
         "job.yaml: models[2] (ar0): The 'max_order' parameter must be an int >= 1. Got 0 instead."),
        ("{name: auto, params: {candidates: 0}}",
         "job.yaml: models[2] (auto): The 'candidates' parameter must be a list of names. Got 0 instead."),
        ("{name: auto, params: {training: {epochs: 0}}}",
         "job.yaml: models[2] (auto): training: The 'epochs' parameter must be an int >= 1. Got 0 instead."),
        ("{name: ensemble, params: {members: [naive, {name: lstm, params: {hidden_size: -3}}]}}",
         "job.yaml: models[2] (ensemble): Ensemble member 'lstm': The 'hidden_size' parameter must be an int >= 1. "
         "Got -3 instead."),
        ("{name: conformal, params: {model: lstm, model_params: {hidden_size: -3}}}",
         "job.yaml: models[2] (conformal): its model 'lstm': The 'hidden_size' parameter must be an int >= 1. "
         "Got -3 instead."),
    ],
)
def test_a_bad_parameter_of_a_later_model_exits_2_before_any_model_is_fitted(job, capsys, third, expected):
    code, err = _run(job(third), capsys)
    assert code == 2
    assert err == f"tsseq run: error: {expected}"
    assert not (job("{name: naive}").parent / "out").exists()


def test_the_python_api_checks_every_model_before_reading_data(job):
    config = PipelineConfig(
        "job", DataConfig(csv="daily.csv"), [ModelConfig("naive"), ModelConfig("lstm", {"num_layers": 0})],
        EvaluationConfig(horizon=5), OutputConfig(directory="never"),
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^models\[1\] \(lstm\): The 'num_layers' parameter must be an int >= 1"):
        pipeline.run(config, job("{name: naive}").parent)


@pytest.mark.parametrize(
    ("third", "expected"),
    [
        ("{name: lstm, params: {training: {epochs: abc}}}", "job.yaml: models[2].params.training.epochs: expected int; got 'abc'."),
        ("{name: lstm, params: {training: 5}}",
         "job.yaml: models[2] (lstm): the 'training' parameter must be a mapping of TrainingConfig fields"),
        ("{name: lstm, params: {training: {epochz: 3}}}",
         "job.yaml: models[2].params.training: unknown key 'epochz'. Did you mean 'epochs'?"),
        ("{name: ar, label: ar2, params: {max_ordr: 3}}",
         "job.yaml: models[2].params: Model 'ar' has no parameter 'max_ordr'. Did you mean 'max_order'?"),
        ("{name: lsmt}", "job.yaml: models[2].name: Unknown model 'lsmt'. Did you mean 'lstm'?"),
        ("{nam: ar}", "job.yaml: models[2]: unknown key 'nam'. Did you mean 'name'?"),
        ("{name: ensemble, params: {members: [naive, {name: lstm, params: {training: {epochs: abc}}}]}}",
         "job.yaml: models[2] (ensemble): Ensemble member 'lstm': training.epochs: expected int; got 'abc'."),
    ],
)
def test_a_models_bad_value_names_the_file_and_the_key_path_once(job, capsys, third, expected):
    code, err = _run(job(third), capsys)
    assert code == 2
    assert err.startswith(f"tsseq run: error: {expected}")
    assert err.count("job.yaml") == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("evaluation: {horizon: 5}", "evaluation: {horizon: ten}"), "job.yaml: evaluation.horizon: expected int; got 'ten'."),
        (("evaluation: {horizon: 5}", "evaluation: {horizon: 5, interval: 2}"),
         "job.yaml: evaluation.interval: expected a coverage in (0, 1), e.g. 0.95; got 2.0."),
        (("evaluation: {horizon: 5}", "evaluation: 5"), "job.yaml: evaluation: expected a mapping of EvaluationConfig fields, got int."),
        (("data: {csv: daily.csv,", "data: {dataset: co2, csv: daily.csv,"),
         "job.yaml: data: give exactly one of 'dataset' (a catalog name) or 'csv' (a file path)."),
        (("timestamp_column: time", "timestamp_column: 3"), "job.yaml: data.timestamp_column: expected str; got 3."),
        (("evaluation: {horizon: 5}", "evaluation: {horizon: 5}\noutput: {quantiles: [0.5, 1.5]}"),
         "job.yaml: The 'output.quantiles' parameter must be a non-empty sequence of levels strictly between 0 and 1"),
        (("evaluation: {horizon: 5}", "evaluation: {horizon: 5}\nthreads: 0"),
         "job.yaml: threads: expected a number of threads >= 1 (or null for the default); got 0."),
        (("name: job", "name: job\nmodls: []"), "job.yaml: unknown key 'modls'. Did you mean 'models'?"),
    ],
)
def test_a_bad_value_anywhere_in_the_job_file_names_the_file_and_the_key_path_once(job, capsys, change, expected):
    code, err = _run(job("{name: drift}", change), capsys)
    assert code == 2
    assert err.startswith(f"tsseq run: error: {expected}")
    assert err.count("job.yaml") == 1


def test_the_early_check_leaves_the_global_random_state_alone():
    import torch

    before = torch.random.get_rng_state()
    pipeline.check_models([ModelConfig("lstm", {"hidden_size": 8}), ModelConfig("transformer")], {"horizon": 5})
    assert torch.equal(torch.random.get_rng_state(), before)


def test_checking_naive_and_ar_imports_no_torch():
    code = (
        "import sys; from tsseq.config import ModelConfig; from tsseq.pipeline import check_models; "
        "check_models([ModelConfig('naive'), ModelConfig('ar', {'max_order': 3}), "
        "ModelConfig('seasonal_naive', {'season_length': 7})], {'horizon': 5}); "
        "print(sorted(m for m in ('torch', 'tsseq.auto', 'tsseq.ensemble') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
