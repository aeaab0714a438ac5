"""Which store runs go to: argument, TSSEQ_TRACKING_URI, MLFLOW_TRACKING_URI, else ./mlflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsseq.errors import ConfigError
from tsseq.tracking.store import artifact_location, resolve_tracking_uri, sqlite_path


def test_precedence_argument_then_tsseq_then_mlflow_then_local(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TSSEQ_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert resolve_tracking_uri() == "http://127.0.0.1:5001"
    monkeypatch.setenv("TSSEQ_TRACKING_URI", "http://127.0.0.1:5002")
    assert resolve_tracking_uri() == "http://127.0.0.1:5002"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_artifacts_go_beside_the_database(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    assert sqlite_path(uri) == tmp_path / "store" / "mlflow.db"
    assert artifact_location(uri) == (tmp_path / "store" / "artifacts").as_uri()
    assert artifact_location("http://127.0.0.1:5000") is None and sqlite_path("http://h:1") is None
    assert sqlite_path("sqlite:///relative/mlflow.db") == Path("relative/mlflow.db")


def test_in_memory_sqlite_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="needs a file"):
        sqlite_path("sqlite:///:memory:")


RACER = """
import os, sys, time
from tsseq.tracking.runs import tracked_run
import mlflow  # noqa: F401 - imported before the start, so that the processes reach the store together

open(f"{sys.argv[1]}.ready-{sys.argv[2]}", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)
with tracked_run(experiment="race", run_name=f"racer-{sys.argv[2]}") as run:
    run.log_metrics({"racer": float(sys.argv[2])})
"""


def test_three_processes_starting_together_on_a_fresh_store_all_succeed(tmp_path, wait_until_ready):
    """MLflow creates its schema on first use; the set-up lock lets one process do it while the others wait."""
    import os
    import subprocess
    import sys

    from mlflow import MlflowClient

    barrier, uri = tmp_path / "go", f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    env = {**os.environ, "TSSEQ_TRACKING_URI": uri}
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(barrier), str(number)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for number in range(3)
    ]
    wait_until_ready(racers, [tmp_path / f"go.ready-{number}" for number in range(3)])
    barrier.touch()
    results = [racer.communicate(timeout=240) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0], [stderr[-2000:] for _, stderr in results]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["racer-0", "racer-1", "racer-2"]
    assert {run.info.status for run in runs} == {"FINISHED"}
