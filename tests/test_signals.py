"""SIGTERM and SIGINT end every job cleanly: deferred steps, checkpoints, MLflow runs, Optuna trials.

The end-to-end tests run the real CLI in a subprocess, wait until training is under way
(its first checkpoint is on disk), send SIGTERM, and read what is left: the exit code
(143), stderr (one line, no traceback), the MLflow store (no run RUNNING) and the
study (the trial FAIL, a retry queued that resumes from the checkpoint).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tsseq import registry
from tsseq.signals import Terminated, deferred, terminating


# ----------------------------------------------------------------------------- deferred
def test_a_signal_inside_a_deferred_block_is_acted_on_when_it_ends():
    steps = []
    with pytest.raises(Terminated) as stopped, terminating():
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler would have run here
            steps.append("finished")
        steps.append("after")  # never: the signal is acted on as the block ends
    assert steps == ["finished"] and stopped.value.exit_code == 143


def test_deferred_gives_ctrl_c_back_to_pythons_own_handler_outside_terminating():
    # Python's own handler, also where this process was started with SIGINT ignored (a background job of a script)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_deferred_does_nothing_outside_the_main_thread():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_enter_deferred()))
    thread.start()
    thread.join()
    assert seen == [True]


def _enter_deferred() -> bool:
    with deferred():
        return True


# ----------------------------------------------------------------------------- checkpoints
def test_sigterm_during_a_checkpoint_write_keeps_that_epoch_whole(tmp_path, monkeypatch):
    import tsseq.engine.checkpoint as checkpoint

    save, calls = checkpoint.torch.save, []

    def save_then_signal(state, path):
        save(state, path)
        calls.append(state["epoch"])
        if state["epoch"] == 2:  # half way through the write of epoch 2's checkpoint
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)

    monkeypatch.setattr(checkpoint.torch, "save", save_then_signal)
    index = pd.date_range("2021-01-01", periods=200, freq="h")
    y = pd.DataFrame({"load": np.sin(np.arange(200) / 4)}, index=index)
    training = {"epochs": 5, "device": "cpu", "progress": False, "checkpoint_dir": str(tmp_path)}
    model = registry.create("lstm", input_length=12, horizon=3, hidden_size=4, training=training)
    with pytest.raises(Terminated), terminating():
        model.fit(y)
    assert calls == [1, 2]
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]["train_loss"]) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.pt"]


# ----------------------------------------------------------------------------- the CLI, end to end
HELD_CLI = Path(__file__).parent / "held_cli.py"  # `tsseq ...` imported now, run once a file exists


def _start(arguments: list[str], cwd: Path, held_until: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TSSEQ_TRACKING_URI": f"sqlite:///{cwd / 'mlflow' / 'mlflow.db'}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = ["-m", "tsseq.cli"] if held_until is None else [str(HELD_CLI), str(held_until)]
    return subprocess.Popen([sys.executable, *start, *arguments], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _terminate_once_training(process: subprocess.Popen, checkpoint: Path, timeout_s: float = 120) -> tuple[int, str]:
    """SIGTERM ``process`` once ``checkpoint`` exists (an epoch is done); its exit code and stderr."""
    deadline = time.monotonic() + timeout_s
    while not checkpoint.is_file():
        if process.poll() is not None:
            raise AssertionError(f"ended before training ({process.returncode}): {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("no checkpoint in time")
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def _runs(tmp_path: Path) -> dict[str, str]:
    """run name -> status, over every experiment of the job's store."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    return {run.info.run_name: run.info.status for run in client.search_runs(experiments)}


CHECKPOINT_REPORT = re.compile(r"tsseq: \S+ \[\w+\]: (training from|resuming at) epoch ")  # where a pipeline fit starts


def _assert_one_clean_line(stderr: str, command: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [
        line
        for line in stderr.splitlines()
        if line.strip() and " INFO mlflow" not in line and not CHECKPOINT_REPORT.match(line)
    ]
    assert lines == [f"tsseq {command}: terminated by SIGTERM; stopped cleanly, nothing half-written"], stderr


def test_sigterm_to_tsseq_tune_fails_the_trial_kills_its_runs_and_the_retry_resumes(tmp_path, request, empty_mlflow_store):
    study = {  # a tiny LSTM on yearly sunspots (309 rows, offline), 40 epochs a trial
        "name": "stopped",
        "data": {"dataset": "sunspots"},
        "model": {"name": "lstm", "params": {"input_length": 24, "horizon": 6, "num_layers": 1,
                                              "training": {"epochs": 40, "device": "cpu", "progress": False}}},
        "search_space": {"hidden_size": {"type": "int", "low": 4, "high": 16}, "num_layers": None, "dropout": None,
                         "training.batch_size": None, "training.weight_decay": None},
        "n_trials": 2,
        "pruner": {"kind": "none"},
        "storage": {"url": str(tmp_path / "optuna.db")},
        "tracking": {"enabled": True},
        "refit": False,
        "checkpoint_dir": str(tmp_path / "checkpoints"),
    }
    job = tmp_path / "stopped.yaml"
    job.write_text(yaml.safe_dump(study))
    empty_mlflow_store(tmp_path / "mlflow" / "mlflow.db")  # the store _start names, its schema made already
    trial_zero = tmp_path / "checkpoints" / "stopped" / "trial-0"
    # The second run, started now, imports while the first runs and is read; it tunes once `go` exists.
    again = _start(["tune", str(job), "--n-trials", "1"], tmp_path, held_until=tmp_path / "go")
    request.addfinalizer(again.kill)  # not left waiting by a failure below

    code, stderr = _terminate_once_training(_start(["tune", str(job)], tmp_path), trial_zero / "last.pt")
    assert code == 143, stderr[-3000:]
    _assert_one_clean_line(stderr, "tune")
    runs = _runs(tmp_path)
    assert runs == {"stopped": "KILLED", "stopped-trial-0": "KILLED"}, runs

    import optuna

    stopped = optuna.load_study(study_name="stopped", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    failed, retry = stopped.get_trials(deepcopy=False)
    assert failed.state.name == "FAIL" and retry.state.name == "WAITING"
    assert retry.params == failed.params and retry.user_attrs["checkpoint_dir"] == str(trial_zero)
    saved = torch.load(trial_zero / "last.pt", weights_only=True)["epoch"]

    # Run again: the retry comes first and continues from the checkpoint, not from epoch 1.
    (tmp_path / "go").touch()
    _, again_stderr = again.communicate(timeout=300)
    assert again.returncode == 0, again_stderr[-3000:]
    retried = stopped.get_trials(deepcopy=False)[1]
    assert retried.state.name == "COMPLETE"
    assert sorted(retried.intermediate_values) == list(range(saved, 40))  # epochs saved..39, reported by the retry
    assert "RUNNING" not in _runs(tmp_path).values()


def test_sigterm_to_a_tracked_tsseq_run_ends_its_run_killed(tmp_path, empty_mlflow_store):
    index = pd.date_range("2020-01-01", periods=400, freq="h")
    frame = pd.DataFrame({"load": 10 + np.sin(np.arange(400) / 5)}, index=pd.Index(index, name="time"))
    frame.to_csv(tmp_path / "load.csv")
    training = {"epochs": 200, "device": "cpu", "checkpoint_dir": str(tmp_path / "checkpoints")}
    job = {
        "name": "stopped-run",
        "data": {"csv": "load.csv", "timestamp_column": "time"},
        "models": [{"name": "lstm", "params": {"input_length": 24, "horizon": 6, "hidden_size": 8,
                                                "training": training}}],
        "evaluation": {"protocol": "holdout", "horizon": 6},
        "output": {"directory": "out", "results_json": "results.json"},
        "tracking": {"enabled": True},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    empty_mlflow_store(tmp_path / "mlflow" / "mlflow.db")  # the store _start names, its schema made already

    checkpoint = tmp_path / "checkpoints" / "holdout" / "last.pt"  # the pipeline's holdout fit: a folder of its own
    code, stderr = _terminate_once_training(_start(["run", "job.yaml"], tmp_path), checkpoint)
    assert code == 143, stderr[-3000:]
    _assert_one_clean_line(stderr, "run")
    runs = _runs(tmp_path)
    assert list(runs.values()) == ["KILLED"], runs
    assert not (tmp_path / "out" / "results.json").exists()


# ----------------------------------------------------------------------------- storage writes are not cut in half
class _StorageWrite:
    """A stand-in for a store's write that a SIGTERM lands in the middle of."""

    def __init__(self):
        self.completed = False

    def __call__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler would have run here, mid-write
        self.completed = True


def test_a_signal_during_a_trials_report_is_acted_on_after_the_write():
    from tsseq.tuning.pruning import PruningCallback

    class Trial:
        number, report = 0, _StorageWrite()

        def should_prune(self):
            return False

    trial = Trial()
    with pytest.raises(Terminated), terminating():
        PruningCallback(trial).on_epoch_end(None, 0, {"train_loss": 1.0})
    assert trial.report.completed


def test_a_signal_during_an_epochs_metrics_write_is_acted_on_after_it():
    from tsseq.tracking.callback import MlflowCallback

    callback = MlflowCallback.__new__(MlflowCallback)
    callback._client, callback._run_id, callback.prefix = type("Client", (), {"log_batch": _StorageWrite()})(), "run", ""
    with pytest.raises(Terminated), terminating():
        callback.on_epoch_end(None, 0, {"train_loss": 1.0})
    assert callback._client.log_batch.completed
