"""Shared fixtures: the public benchmark data directory, deterministic seeds, processes started together."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tiny models run faster on one thread, and a 2-core CI machine is often shared.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data (ETTh1, M4 Hourly, NAB); skips when it is not on this machine."""
    path = Path(os.environ.get("TSSEQ_DATA_DIR", REPO_ROOT.parent / "shared" / "datasets"))
    if not (path / "ett" / "ETTh1.csv").is_file():
        pytest.skip(f"benchmark data not found under {path}; set TSSEQ_DATA_DIR to the shared datasets folder")
    return path


@pytest.fixture
def point_only(monkeypatch) -> str:
    """A point-only model (repeats the last value, no quantiles) registered as ``point_only`` for one test.

    The registry's contract test never sees it.
    """
    from tsseq import registry
    from tsseq.base import Forecaster

    class RepeatLast(Forecaster):
        registry_name = "point_only"

        def __init__(self, *, horizon: int = 1) -> None:
            self.horizon = horizon

        def _fit(self, series, validation=None):
            self.last_ = [values[-1] for values in series]

        def _predict(self, horizon):
            return [np.repeat(last[None], horizon, axis=0) for last in self.last_]

        def _predict_windows(self, inputs, horizon):
            return np.repeat(inputs[:, -1:], horizon, axis=1)

    registry.names()  # load the registered models first
    monkeypatch.setitem(registry._REGISTRY, "point_only", RepeatLast)
    monkeypatch.setitem(registry._PRESETS, "point_only", {})
    return "point_only"


def _wait_until_ready(processes, ready: list[Path], timeout_s: float = 120) -> None:
    """Until every process has made its ``ready`` file (its imports done, it waits on a barrier); a process that
    ends first, or the timeout, fails the test with every process's stderr."""
    deadline = time.monotonic() + timeout_s
    while not all(path.exists() for path in ready):
        if any(process.poll() is not None for process in processes) or time.monotonic() > deadline:
            for process in processes:
                process.kill()
            pytest.fail(f"not all waiting on the barrier: {[p.communicate()[1][-2000:] for p in processes]}")
        time.sleep(0.01)


@pytest.fixture
def wait_until_ready():
    """``wait_until_ready(processes, ready_files)``: processes raced together start when all have imported."""
    return _wait_until_ready


@pytest.fixture(scope="session")
def _empty_mlflow_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema made and nothing logged: made once a session (MLflow's migrations)."""
    mlflow = pytest.importorskip("mlflow")
    import contextlib

    folder = tmp_path_factory.mktemp("empty-mlflow-store")
    with contextlib.chdir(folder):  # the Default experiment's artifact location: here, not the session's folder
        mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments(max_results=1)
    return folder / "mlflow.db"


@pytest.fixture
def empty_mlflow_store(_empty_mlflow_store):
    """``empty_mlflow_store(path) -> URI``: a copy of an empty MLflow SQLite store, its schema made, at ``path``.

    For tests about something other than making a store: a fresh store costs a second or more of MLflow's
    migrations in every process that makes one. The tests of stores made by racing processes make their own.
    """
    import shutil

    def copy(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_empty_mlflow_store, path)
        return f"sqlite:///{path}"

    return copy


@pytest.fixture(scope="session")
def nab_benchmark():
    """``pipelines/benchmarks/nab.py`` as a module (a script, not part of the package)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "pipelines" / "benchmarks" / "nab.py"
    spec = importlib.util.spec_from_file_location("nab_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stuck_sensor():
    """Hourly ``a`` (a daily sine in noise) beside ``b``, stuck at 5.0 for 1,200 rows, then at 5.5: a channel
    constant in any training rows taken from the first 1,200, which moves later."""
    import pandas as pd

    steps = np.arange(1500)
    stuck = np.where(steps < 1200, 5.0, 5.5)
    noise = np.random.default_rng(0).normal(size=1500)
    return pd.DataFrame({"a": np.sin(2 * np.pi * steps / 24) + 0.2 * noise, "b": stuck},
                        index=pd.date_range("2024-01-01", periods=1500, freq="h"))  # fmt: skip
