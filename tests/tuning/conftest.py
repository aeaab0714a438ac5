"""Fixtures of the tuning tests: small study job files, and a throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

import pytest
import yaml


def _study_mapping(name: str, storage: Path | str, **changes) -> dict:
    """A study of a tiny LSTM on yearly sunspots (309 rows, offline): about 20 ms an epoch."""
    mapping = {
        "name": name,
        "data": {"dataset": "sunspots"},
        "model": {
            "name": "lstm",
            "params": {
                "input_length": 24,
                "horizon": 6,
                "num_layers": 1,
                "training": {"epochs": 3, "batch_size": 32, "device": "cpu", "progress": False},
            },
        },
        "search_space": {
            "hidden_size": {"type": "int", "low": 4, "high": 16},
            "num_layers": None,
            "dropout": None,
            "training.learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "training.batch_size": None,
            "training.weight_decay": None,
        },
        "n_trials": 3,
        "sampler": {"seed": 0, "n_startup_trials": 2},
        "pruner": {"kind": "none"},
        "storage": {"url": str(storage), "heartbeat_interval": 1, "grace_period": 3},
        "tracking": {"enabled": False},
        "refit": False,
    }
    for key, value in changes.items():
        if key in ("sampler", "pruner", "storage", "tracking"):  # settings: update; the rest: replace
            mapping[key] = {**mapping[key], **value}
        else:
            mapping[key] = value
    return mapping


@pytest.fixture
def study_mapping():
    """``study_mapping(name, storage, **changes) -> dict``: a study job as YAML gives it."""
    return _study_mapping


@pytest.fixture
def write_job(tmp_path):
    """``write_job(name, **changes) -> path`` of a study job file (storage: a SQLite file in tmp_path)."""

    def write(name: str = "study", **changes) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_study_mapping(name, tmp_path / "optuna.db", **changes)))
        return path

    return write


# ------------------------------------------------------------------------------------- PostgreSQL


def _server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).resolve().parent)):
        return Path(found).resolve().parent
    for folder in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of a database on a PostgreSQL server started for this test session.

    The server runs from a temporary folder on a free loopback port, trusting local
    connections, and is stopped at the end. PostgreSQL refuses to run as root: as root,
    it runs as the ``postgres`` user that Debian's package creates.
    """
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binary (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin; "
                    "install Debian's 'postgresql' package (.ci/run does)")
    owner: dict = {}
    root = Path(tempfile.mkdtemp(prefix="tsseq-postgres-"))
    if os.geteuid() == 0:
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no 'postgres' user to run the PostgreSQL server as "
                        "(PostgreSQL refuses to run as root); install Debian's 'postgresql' package, which creates it")
        os.chown(root, account.pw_uid, account.pw_gid)
        owner = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, sockets, port = root / "data", root / "sockets", _free_port()

    def run(*command: str) -> None:
        subprocess.run(command, cwd=root, check=True, capture_output=True, text=True, timeout=120, **owner)

    try:
        run("mkdir", str(sockets))
        run(str(binaries / "initdb"), "-D", str(data), "-U", "tsseq", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o", options, "start")
    except subprocess.CalledProcessError as error:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"starting PostgreSQL failed: {error.cmd}\n{error.stdout}\n{error.stderr}\n{log}") from None
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="tsseq", dbname="postgres")
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE studies")
        connection.close()
        yield f"postgresql+psycopg2://tsseq@127.0.0.1:{port}/studies"
    finally:
        subprocess.run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], cwd=root,
                       capture_output=True, timeout=60, **owner)
        shutil.rmtree(root, ignore_errors=True)
