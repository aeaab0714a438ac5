"""``tsseq run`` under torchrun: every process trains, rank 0 alone tracks and writes (tsseq.main_process).

Two CLI jobs run under ``python -m torch.distributed.run --standalone --nproc_per_node=2``
on the CPU (gloo): a tracked one, which must leave one MLflow run and one logged model
per model of the job and one set of files, and one whose output folder rank 0 cannot
write, which must stop both processes with exit code 2. The processes other than rank 0
are also played in this process (their exchanges with rank 0 stood in for), to show that
they never touch the store nor write a file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient

from tsseq import main_process, pipeline
from tsseq.cli import main
from tsseq.config import load_pipeline

LSTM = {"hidden_size": 8, "training": {"epochs": 2, "seed": 0, "batch_size": 32, "device": "cpu", "threads": 1}}
OUTPUT_FILES = {"forecast.csv", "results.json"}


def write_job(folder: Path, hourly: pd.DataFrame, store_uri: str, experiment: str, output: str = "out") -> Path:
    """A holdout job of an LSTM and the naive model on 300 hourly rows, tracked in ``store_uri``, files in ``output``."""
    hourly.to_csv(folder / "load.csv")
    job = {
        "name": "ddp-job",
        "data": {"csv": "load.csv"},
        "models": [{"name": "lstm", "params": LSTM}, {"name": "naive"}],
        "evaluation": {"protocol": "holdout", "horizon": 6, "input_length": 24},
        "output": {"directory": output, "plot": None},  # a plot would cost seconds and test nothing more
        "tracking": {"enabled": True, "experiment": experiment, "tracking_uri": store_uri},
        "checkpoint_dir": "checkpoints",
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def torchrun(job: Path) -> subprocess.CompletedProcess:
    """``tsseq run job`` in two processes, as torchrun starts them, in the job's folder."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TSSEQ_TRACKING_URI")
    }
    environment.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    # --tee 3: each line of either stream is prefixed with its rank ([default1]:...), so that a failure's
    # output says which process printed what
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--tee", "3",
               "-m", "tsseq.cli"]  # fmt: skip
    return subprocess.run(
        [*command, "run", str(job)], cwd=job.parent, env=environment, capture_output=True, text=True, timeout=300
    )


def test_a_torchrun_job_leaves_one_run_and_one_model_per_model_and_one_set_of_files(tmp_path, hourly, store_uri):
    job = write_job(tmp_path, hourly, store_uri, "torchrun-job")
    finished = torchrun(job)
    assert finished.returncode == 0, finished.stderr[-3000:]

    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("torchrun-job")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted((run.info.run_name, run.info.status) for run in runs) == [("lstm", "FINISHED"), ("naive", "FINISHED")]
    models = client.search_logged_models([experiment.experiment_id])
    assert sorted(model.source_run_id for model in models) == sorted(run.info.run_id for run in runs)
    lstm = next(run for run in runs if run.info.run_name == "lstm")
    assert [metric.step for metric in client.get_metric_history(lstm.info.run_id, "train_loss")] == [0, 1]

    assert {path.name for path in (tmp_path / "out").iterdir()} == OUTPUT_FILES  # no temporaries left
    assert finished.stdout.count("forecast_csv: out/forecast.csv") == 1  # printed by rank 0 alone
    assert finished.stderr.count("Creating initial MLflow database tables") <= 1  # 0: another test made the store
    forecast = pd.read_csv(tmp_path / "out" / "forecast.csv", index_col=0, parse_dates=True)
    assert len(forecast) == 6 and forecast.index[0] == hourly.index[-1] + pd.Timedelta("1h")
    assert all(math.isfinite(value) for value in forecast["load"])
    scores = json.loads((tmp_path / "out" / "results.json").read_text())["scores"]
    assert set(scores) == {"lstm", "naive"} and all(math.isfinite(value) for value in scores["lstm"].values())


def test_a_failure_of_rank_0_alone_stops_every_process_with_its_exit_code(tmp_path, hourly):
    (tmp_path / "taken").write_text("a file where the output folder should be")
    finished = torchrun(write_job(tmp_path, hourly, f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", "failure", "taken"))
    assert finished.returncode != 0
    summary = finished.stderr
    # Rank 0 exits 2, as tsseq run alone (bad input). Rank 1 stops on its own with the same
    # code, but torchrun SIGTERMs the processes left once the first has failed, so which code
    # it reports for rank 1 depends on which comes first (the in-process rank-1 test below
    # checks that code); what rank 1 must say is that it stopped because rank 0 failed.
    assert "exitcode  : 2" in summary, summary[-3000:]
    assert "checking the output paths: the main process (rank 0) failed (OutputError: The forecast CSV" in summary
    assert "this process (rank 1) stops with it" in summary
    assert not (tmp_path / "store").exists() and not (tmp_path / "checkpoints").exists()


@pytest.fixture
def rank_1(monkeypatch):
    """This process as rank 1 of 2; rank 0's outcomes of its steps are taken from the list returned, in order.

    An empty list: rank 0 succeeds in every step.
    """
    for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    answers: list[tuple[int, str]] = []
    monkeypatch.setattr(main_process, "start_job", lambda: None)
    monkeypatch.setattr(
        main_process, "_exchange", lambda context, mine, failing: [answers.pop(0) if answers else (0, ""), mine]
    )
    return answers


def test_the_other_processes_never_touch_the_store_nor_write_a_file(tmp_path, hourly, rank_1, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rank 1 opened the MLflow store")

    monkeypatch.setattr("tsseq.tracking.store.use_store", refuse)
    monkeypatch.setattr("tsseq.tracking.runs.use_store", refuse)
    job = write_job(tmp_path, hourly, f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", "rank-1")
    config, base_dir = load_pipeline(job)
    result = pipeline.run(dataclasses.replace(config, models=config.models[1:]), base_dir, tmp_path / "out")  # naive
    assert set(result.scores.index) == {"naive"} and len(result.forecast) == 6  # computed here all the same
    assert {path.name for path in result.files.values()} == OUTPUT_FILES
    assert sorted(path.name for path in tmp_path.iterdir()) == ["job.yaml", "load.csv"]


def test_a_process_other_than_rank_0_exits_with_rank_0s_exit_code(tmp_path, hourly, rank_1, capsys):
    hourly.to_csv(tmp_path / "load.csv")
    rank_1.extend([(0, ""), (3, "ForecastError: the forecast of 'load' is implausible")])  # paths fine, then writing
    output = tmp_path / "f.csv"
    code = main(["forecast", str(tmp_path / "load.csv"), "--model", "naive", "--horizon", "3", "--output", str(output)])
    assert code == 3  # tsseq forecast alone exits 3 on an implausible forecast
    assert "writing the outputs: the main process (rank 0) failed (ForecastError" in capsys.readouterr().err
    assert not output.exists()


def test_alone_every_step_runs_here_and_nothing_is_exchanged(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(main_process, "_exchange", None)  # would fail if called
    assert main_process.start_job() is None and main_process.is_main_process()
    assert main_process.on_main_process(lambda: 42, "a step") == 42
    with pytest.raises(ZeroDivisionError), main_process.shared_outcome("a step"):
        1 / 0


@pytest.fixture
def group_of_one():
    """A gloo process group of this process alone (it meets in a HashStore), destroyed afterwards."""
    import torch.distributed as distributed

    from tsseq.engine.distributed import DistributedContext

    distributed.init_process_group("gloo", store=distributed.HashStore(), rank=0, world_size=1)
    yield DistributedContext(0, 0, 1)
    distributed.destroy_process_group()


@pytest.mark.parametrize("outcome", [(0, ""), (3, "ForecastError: the forecast of 'débit' is implausible")])
def test_an_exchange_returns_each_outcome_and_holds_its_last_collective_until_the_next(group_of_one, outcome):
    # Released by gloo's worker thread instead, a job's last exchange aborted a process at shutdown.
    from tsseq.engine import distributed

    assert main_process._exchange(group_of_one, outcome, failing=False) == [outcome]
    work, tensors = distributed._LAST_COLLECTIVE
    assert work.is_completed() and tensors[1].dtype == (torch.uint8 if outcome[1] else torch.int64)  # text, header
    assert distributed.any_process(True, torch.device("cpu"))  # the next collective holds its own instead
    assert distributed._LAST_COLLECTIVE[0] is not work and distributed._LAST_COLLECTIVE[0].is_completed()
