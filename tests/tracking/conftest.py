"""Fixtures of the tracking tests: one SQLite store, no run left active."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory, _empty_mlflow_store) -> str:
    """A SQLite tracking store for the session: a copy of the session's empty store (creating one runs MLflow's
    migrations: seconds, paid once for both).

    Tests keep apart by experiment names of their own.
    """
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    shutil.copyfile(_empty_mlflow_store, path)
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def _no_active_run():
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _hourly() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    index = pd.date_range("2021-01-01", periods=300, freq="h", name="time")
    values = np.sin(np.arange(300) * 2 * np.pi / 24) + 0.01 * np.arange(300) + 0.1 * rng.standard_normal(300)
    return pd.DataFrame({"load": values}, index=index)


@pytest.fixture
def hourly() -> pd.DataFrame:
    """300 hourly rows of a noisy seasonal series with a trend (one channel)."""
    return _hourly()


@pytest.fixture(scope="module")
def module_hourly() -> pd.DataFrame:
    """The rows of ``hourly``, for module-scoped fixtures (made once a module: not to be changed in place)."""
    return _hourly()


@pytest.fixture
def mlflow_process():
    """``start(arguments, log, probe, timeout_s, give_up, env=None)``: a context manager running ``mlflow <arguments>``
    on a free loopback port; yields its URL once ``GET <url><probe>`` answers 200.

    ``--host``/``--port`` are added to ``arguments``; ``give_up`` (pytest.fail or
    pytest.skip) is called with the log's end when it dies or does not answer in time.
    The process runs in its own group, so that its workers are stopped with it.
    """

    @contextlib.contextmanager
    def start(arguments: list[str], log: Path, probe: str, timeout_s: float, give_up, env: dict | None = None):
        executable = shutil.which("mlflow")
        command = [executable] if executable else [sys.executable, "-m", "mlflow"]
        port = _free_port()
        with log.open("w") as output:
            process = subprocess.Popen(
                [*command, *arguments, "--host", "127.0.0.1", "--port", str(port)],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + timeout_s
                while not _answers(url + probe):
                    if process.poll() is not None or time.monotonic() > deadline:
                        give_up(f"mlflow {arguments[0]} did not answer on {url} within {timeout_s} s; its log ends:\n"
                                f"{log.read_text()[-2000:]}")  # fmt: skip
                    time.sleep(0.1)
                yield url
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()

    return start


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
