"""Where runs are tracked: one setting picks the store, embedded by default.

The tracking URI is, in this order of precedence:

1. the ``tracking_uri`` argument (a pipeline's ``tracking.tracking_uri``, ``--tracking-uri``);
2. the environment variable ``TSSEQ_TRACKING_URI``;
3. the environment variable ``MLFLOW_TRACKING_URI`` (MLflow's own);
4. the local store ``sqlite:///<cwd>/mlflow/mlflow.db``, created on first use.

The local store lives in the folder ``mlflow/`` of the *current working directory*
(like MLflow's own ``./mlruns`` default): run tsseq from the repository root and
every run lands in the repository's ``mlflow/`` (ignored by git, see
``mlflow/README.md``). Artifacts of a SQLite store go beside the database, in
``<database folder>/artifacts/``; a tracking server (``http://...``) decides where
its artifacts go itself. Scaling out is changing the URI, e.g.
``TSSEQ_TRACKING_URI=http://tracking-host:5000``.

Several processes may start on a fresh SQLite store at the same moment (two ``tsseq
tune`` workers, a job and its tuning): MLflow creates the tables and runs its schema
migrations on first use, and two processes doing so together break each other. So
:func:`use_store` opens a SQLite store under an inter-process lock,
:func:`database_setup_lock` (a lock file beside the database): the first process
creates the schema, the others wait and find it made. The Optuna storage
(:mod:`tsseq.tuning.storage`) takes the same lock for its SQLite files.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from tsseq.errors import ConfigError

T = TypeVar("T")
SETUP_LOCK_TIMEOUT_S = 600.0  # creating MLflow's schema takes seconds; a lock held longer is a stuck process

TRACKING_URI_ENV = "TSSEQ_TRACKING_URI"
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
LOCAL_STORE_DIR = "mlflow"  # relative to the current working directory
DATABASE_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
DEFAULT_EXPERIMENT = "tsseq"


def local_store_dir() -> Path:
    """The folder of the default local store: ``./mlflow`` of the current working directory."""
    return Path.cwd() / LOCAL_STORE_DIR


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The tracking URI to use (see the module docstring for the precedence)."""
    for candidate in (tracking_uri, os.environ.get(TRACKING_URI_ENV), os.environ.get(MLFLOW_TRACKING_URI_ENV)):
        if candidate:
            return str(candidate)
    return f"sqlite:///{local_store_dir() / DATABASE_FILE}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI, None for any other store."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    path = unquote(tracking_uri[len("sqlite:///") :])
    if not path or path == ":memory:":
        raise ConfigError(f"Tracking URI {tracking_uri!r}: a SQLite store needs a file, e.g. sqlite:///mlflow/mlflow.db.")
    return Path(path)


def artifact_location(tracking_uri: str) -> str | None:
    """Where new experiments of this store keep artifacts: beside a SQLite file, else the server's choice."""
    database = sqlite_path(tracking_uri)
    if database is None:
        return None
    return (database.parent.resolve() / ARTIFACTS_DIR).as_uri()


def use_store(tracking_uri: str | None = None) -> str:
    """Point MLflow's fluent API at the resolved store (creating a SQLite store's folder and schema); return its URI."""
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        with database_setup_lock(database):
            # The first query creates the schema (MLflow's migrations); later ones find it made.
            retry_locked(lambda: mlflow.MlflowClient(uri).search_experiments(max_results=1))
    mlflow.set_tracking_uri(uri)
    return uri


@contextlib.contextmanager
def database_setup_lock(database: Path, timeout_s: float = SETUP_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the inter-process lock of a SQLite ``database``'s set-up (the file ``<database>.lock`` beside it).

    A ``filelock.FileLock`` (an ``flock`` on POSIX, released by the system if the holder
    dies); waits up to ``timeout_s`` seconds, then raises a ConfigError naming the lock file.
    """
    from filelock import FileLock, Timeout

    path = Path(f"{database}.lock")
    lock = FileLock(path, timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"Another process has held the set-up lock of the database {str(database)!r} for {timeout_s:.0f} s "
            f"({str(path)!r}); if no tsseq process is running, delete the lock file."
        ) from None
    try:
        yield
    finally:
        lock.release()


def retry_locked(action: Callable[[], T], attempts: int = 6, first_wait_s: float = 0.5) -> T:
    """``action()``, tried again (waits doubling from ``first_wait_s``) while SQLite says "database is locked"."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's, sqlite3's and MLflow's wrappers all say it
            if "database is locked" not in str(error) or attempt + 1 == attempts:
                raise
            time.sleep(first_wait_s * 2**attempt)
    raise AssertionError("unreachable")


def experiment_id(name: str, tracking_uri: str) -> str:
    """The id of experiment ``name`` in the store, created (artifacts per :func:`artifact_location`) if new."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise ConfigError(
                f"Experiment {name!r} is deleted in {tracking_uri}; restore it (mlflow experiments restore) or pick another name."
            )
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))
    except MlflowException:
        # Another process created it between our look-up and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
