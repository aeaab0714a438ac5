"""Where runs are tracked: one setting picks the store, embedded by default.

The tracking URI is, in this order of precedence:

1. the ``tracking_uri`` argument (a pipeline's ``tracking.tracking_uri``, ``--tracking-uri``);
2. the environment variable ``TSSEQ_TRACKING_URI``;
3. the environment variable ``MLFLOW_TRACKING_URI`` (MLflow's own);
4. the local store ``sqlite:///<cwd>/mlflow/mlflow.db``, created on first use.

:func:`check_store` vets the URI before anything uses it, and its ConfigError names the
setting the URI came from (:func:`tracking_setting`: ``tracking.tracking_uri``,
``--tracking-uri``, ``$TSSEQ_TRACKING_URI``, ...): a bare folder or file path (MLflow 3
refuses folder stores unless ``MLFLOW_ALLOW_FILE_STORE=true``; tsseq's stores are SQLite
files or servers), a ``sqlite:///`` path that is a folder or a file of another kind, a
tracking server that does not answer within :data:`SERVER_PROBE_TIMEOUT_S` (one request,
instead of MLflow's minutes of retries), and, for the commands that only read
(``tsseq compare``), a store that does not exist (which MLflow would create empty).

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
import re
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
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
DEFAULT_STORE_URI = f"sqlite:///{LOCAL_STORE_DIR}/{DATABASE_FILE}"  # as users write it, relative to the working directory
SERVER_PROBE_TIMEOUT_S = 5.0  # a tracking server answers a probe in milliseconds; MLflow's retries take minutes
SERVER_PROBE_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"  # MLflow's REST API: JSON from an MLflow server
AUTHENTICATION_CODES = frozenset({401, 403, 407})  # a proxy in front of the server asks who we are: it is there
FILE_STORE_OPT_IN_ENV = "MLFLOW_ALLOW_FILE_STORE"  # MLflow 3's switch that re-enables folder stores
MLFLOW_TABLES = frozenset({"experiments", "runs"})  # present in every MLflow SQL store


def local_store_dir() -> Path:
    """The folder of the default local store: ``./mlflow`` of the current working directory."""
    return Path.cwd() / LOCAL_STORE_DIR


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The tracking URI to use (see the module docstring for the precedence)."""
    return tracking_setting(tracking_uri)[0]


def tracking_setting(tracking_uri: str | None = None, setting: str = "tracking_uri") -> tuple[str, str]:
    """``(uri, where it came from)``: ``setting`` for the argument, else ``$TSSEQ_TRACKING_URI``, ... (for messages)."""
    if tracking_uri:
        return str(tracking_uri), setting
    for variable in (TRACKING_URI_ENV, MLFLOW_TRACKING_URI_ENV):
        if os.environ.get(variable):
            return os.environ[variable], f"${variable}"
    return f"sqlite:///{local_store_dir() / DATABASE_FILE}", "the default store"


def check_store(tracking_uri: str | None = None, *, setting: str = "tracking_uri", must_exist: bool = False) -> str:
    """The resolved tracking URI once it names a store tsseq can use; else a ConfigError naming where it came from.

    ``setting`` names the argument (``"--tracking-uri"``, ``"tracking.tracking_uri"``);
    a URI from the environment or the default is named as such. ``must_exist``: refuse a
    SQLite store that does not exist yet (a command that only reads must not create one).
    Creates nothing. See the module docstring for what is refused.
    """
    uri, origin = tracking_setting(tracking_uri, setting)
    where = f"{origin} {uri!r}"
    if re.fullmatch(r"[\w.-]+:\d+/?", uri):  # "localhost:5000": urlparse reads the host as a scheme
        raise ConfigError(f"{where} lacks its scheme: a tracking server is http://{uri} (or https://).")
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # a path ("mlflow", "./mlruns", "C:\\runs") or file:...
        if os.environ.get(FILE_STORE_OPT_IN_ENV, "").lower() in ("1", "true"):
            return uri  # the user re-enabled MLflow's folder stores
        raise ConfigError(_not_a_store_uri(where, Path(unquote(urlparse(uri).path) if scheme == "file" else uri)))
    if scheme == "sqlite":
        try:
            database = sqlite_path(uri)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        _check_sqlite_file(where, database, must_exist)
    elif scheme in ("http", "https"):
        _probe_server(where, uri, origin)
    return uri


def _not_a_store_uri(where: str, path: Path) -> str:
    """The message for a path given as a tracking URI: what it is, and the URI to give instead."""
    if path.is_file():
        if _is_sqlite_file(path):
            return f"{where} is a SQLite file given as a path: give it as sqlite:///{path.as_posix()}."
        return (
            f"{where} is a file, not a tracking store: expected a SQLite store, e.g. {DEFAULT_STORE_URI} "
            "(tsseq's default), or a tracking server, e.g. http://host:5000."
        )
    suggested = f"sqlite:///{path.as_posix().rstrip('/') or '.'}/{DATABASE_FILE}"
    default = "" if suggested == DEFAULT_STORE_URI else f"; tsseq's default store is {DEFAULT_STORE_URI}"
    return (
        f"{where} is a folder path, but MLflow 3 keeps runs in a database or on a tracking server (its './mlruns' "
        f"folder store is off unless ${FILE_STORE_OPT_IN_ENV}=true): give {suggested} for a SQLite store in that "
        f"folder, or a server, e.g. http://host:5000{default}."
    )


def _is_sqlite_file(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _check_sqlite_file(where: str, database: Path, must_exist: bool) -> None:
    """A ``sqlite:///`` store's file: absent (unless ``must_exist``), empty, or a SQLite database holding MLflow's tables."""
    if database.is_dir():
        raise ConfigError(
            f"{where} names a folder; expected a database file, e.g. sqlite:///{database.as_posix()}/{DATABASE_FILE}."
        )
    if not database.exists():
        if must_exist:
            hint = (
                "tsseq looks for mlflow/mlflow.db in the working directory: run it where your runs are, or name the "
                f"store (--tracking-uri, ${TRACKING_URI_ENV})"
                if where.startswith("the default")
                else "check the path"
            )
            raise ConfigError(
                f"{where}: there is no tracking store at {str(database)!r}, and this command only reads one; {hint}. "
                "A tracked job creates its store on first use."
            )
        return
    if database.stat().st_size == 0:
        if must_exist:
            raise ConfigError(f"{where}: {str(database)!r} is an empty file, not a tracking store with runs.")
        return
    if not _is_sqlite_file(database):
        raise ConfigError(
            f"{where}: {str(database)!r} is not a SQLite database; expected an MLflow store such as {DEFAULT_STORE_URI}."
        )
    tables = retry_locked(lambda: _sqlite_tables(where, database))
    if not MLFLOW_TABLES <= tables:
        raise ConfigError(
            f"{where}: {str(database)!r} is a SQLite database of something else (tables: "
            f"{', '.join(sorted(tables)[:5])}), not an MLflow store; use a file of its own, e.g. {DEFAULT_STORE_URI}."
        )


def _sqlite_tables(where: str, database: Path) -> set[str]:
    """The table names of a SQLite file, opened read-only (SQLite's "database is locked" propagates, to be retried)."""
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error as error:
        if "database is locked" in str(error):
            raise
        raise ConfigError(f"{where}: cannot read the SQLite database {str(database)!r}: {error}.") from None


def _probe_server(where: str, uri: str, origin: str) -> None:
    """One request to MLflow's REST API with a short timeout: is an MLflow tracking server there?

    An MLflow server answers JSON (an experiment list, or an ``error_code``); an authenticating
    proxy in front of it 401/403/407. Any other answer (a web page, another service's 404) is
    a server that is not MLflow's: refused here, where MLflow would fail at the first run with
    a JSON parsing error.
    """
    request = urllib.request.Request(uri.rstrip("/") + SERVER_PROBE_PATH, method="GET")
    answer = None
    try:
        with urllib.request.urlopen(request, timeout=SERVER_PROBE_TIMEOUT_S) as response:
            answer, code, kind = response.read(65536), response.status, response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        if error.code in AUTHENTICATION_CODES:
            return
        answer, code, kind = error.read(65536), error.code, error.headers.get_content_type()
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLError):
            return  # it answered; whether to trust its certificate is MLflow's setting (MLFLOW_TRACKING_INSECURE_TLS)
        reason = error.reason
    except (TimeoutError, OSError) as error:
        reason = error
    if answer is not None:
        if _is_mlflow_answer(answer):
            return
        raise ConfigError(
            f"{where}: the server answers, but not as an MLflow tracking server (GET {SERVER_PROBE_PATH.split('?')[0]} "
            f"gave HTTP {code}, {kind}). Check the address and port (mlflow server's, see mlflow/README.md; a path "
            "prefix belongs in the URI)."
        )
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        reason = f"no answer within {SERVER_PROBE_TIMEOUT_S:g} s"
    fix = f"unset {origin[1:]}" if origin.startswith("$") else "leave it out"
    raise ConfigError(
        f"{where}: the tracking server cannot be reached ({reason}). Start it (mlflow server, see mlflow/README.md), "
        f"correct the address, or {fix} to use the local store {DEFAULT_STORE_URI}."
    )


def _is_mlflow_answer(body: bytes) -> bool:
    """Whether a response body is what MLflow's REST API gives: a JSON object (experiments, or an ``error_code``)."""
    import json

    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(parsed, dict) and (not parsed or "experiments" in parsed or "error_code" in parsed)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI, None for any other store."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    path = unquote(tracking_uri[len("sqlite:///") :].split("?", 1)[0])  # "?timeout=30": SQLAlchemy's options
    if not path or path == ":memory:":
        raise ConfigError(f"Tracking URI {tracking_uri!r}: a SQLite store needs a file, e.g. sqlite:///mlflow/mlflow.db.")
    return Path(path)


def artifact_location(tracking_uri: str) -> str | None:
    """Where new experiments of this store keep artifacts: beside a SQLite file, else the server's choice."""
    database = sqlite_path(tracking_uri)
    if database is None:
        return None
    return (database.parent.resolve() / ARTIFACTS_DIR).as_uri()


def use_store(tracking_uri: str | None = None, *, setting: str = "tracking_uri") -> str:
    """Point MLflow's fluent API at the resolved store (creating a SQLite store's folder and schema); return its URI.

    The URI is vetted first (:func:`check_store`; ``setting`` names the argument in its errors).
    """
    import mlflow

    uri = check_store(tracking_uri, setting=setting)
    database = sqlite_path(uri)
    if database is not None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"Cannot create the folder of the tracking store {uri!r}: {error.strerror}.") from None
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
