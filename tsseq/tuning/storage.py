"""Where studies live: a SQLite file by default, any SQLAlchemy URL to share one between workers.

:func:`storage_url` resolves the setting: None is ``sqlite:///<cwd>/mlflow/optuna.db``
(beside the local MLflow store), a path is a SQLite file, and anything with ``://``
is used as it is, e.g. ``postgresql+psycopg2://user@host:5432/studies`` for many
workers on many machines (SQLite suits one machine and a few workers).

:func:`open_storage` returns an Optuna ``RDBStorage`` with heartbeats: each running
trial records a heartbeat every ``heartbeat_interval`` seconds from a thread of its
worker. When a worker dies without a word (SIGKILL, a lost machine) its trial stops
beating; the next worker to ask the study for a trial after ``grace_period`` seconds
marks it FAIL and, through Optuna's retry callback, queues a copy with the same
parameters (system attribute ``failed_trial``: the number of the first failed attempt)
that the next free worker runs.

Workers that start together on a fresh SQLite file would race to create Optuna's
tables; :func:`open_storage` creates them under the inter-process lock of
:func:`tsseq.tracking.store.database_setup_lock` and tries again while SQLite says
"database is locked". (On PostgreSQL the losers of the race find the tables made on
a second look.)
"""

from __future__ import annotations

import inspect
import time
import warnings
from pathlib import Path

from tsseq.errors import ConfigError
from tsseq.tuning.config import StorageConfig

LOCAL_STORE_DIR = "mlflow"
DATABASE_FILE = "optuna.db"
_OPEN_ATTEMPTS = 4


def storage_url(url: str | None = None) -> str:
    """The SQLAlchemy URL of the study storage (see the module docstring); creates a SQLite file's folder."""
    if url is None:
        path = Path.cwd() / LOCAL_STORE_DIR / DATABASE_FILE
    elif "://" in str(url):
        return str(url)
    else:
        path = Path(url).expanduser().resolve()
    if path.is_dir():
        raise ConfigError(f"storage: {str(path)!r} is a folder; give a database file, e.g. {str(path / DATABASE_FILE)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def redacted(url: str) -> str:
    """``url`` without its password, for logs and MLflow tags."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL fails later with SQLAlchemy's own message
        return url


def open_storage(config: StorageConfig, url: str | None = None):
    """An ``optuna.storages.RDBStorage`` at ``url`` (default ``config.url``) with heartbeats and retries."""
    for name in ("heartbeat_interval", "grace_period"):
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"storage.{name} must be a whole number of seconds >= 1; got {value!r}.")
    resolved = storage_url(url if url is not None else config.url)
    # SQLite: wait for a lock instead of failing at once when several workers write.
    engine_kwargs = {"connect_args": {"timeout": 60}} if resolved.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return _locked_rdb_storage(resolved, config, engine_kwargs)
        except ConfigError:
            raise
        except ImportError as error:
            raise ConfigError(
                f"storage {redacted(resolved)!r} needs a database driver that is not installed ({error}); for "
                "PostgreSQL: pip install psycopg2-binary."
            ) from None
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's and Optuna's errors vary by backend
            from sqlalchemy.exc import IntegrityError, ProgrammingError

            # Workers starting together on an empty database race to create Optuna's tables and types;
            # the losers find them made on a second look.
            if isinstance(error, (IntegrityError, ProgrammingError)) and attempt + 1 < _OPEN_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
                continue
            said = str(error).split("\n[SQL:")[0].strip()  # SQLAlchemy appends the statement and a web link
            raise ConfigError(f"storage {redacted(resolved)!r} could not be opened: {type(error).__name__}: {said}") from None


def _locked_rdb_storage(url: str, config: StorageConfig, engine_kwargs: dict):
    """The storage; a SQLite file's tables are created under its set-up lock."""
    from sqlalchemy.engine import make_url

    from tsseq.tracking.store import _is_sqlite_file, database_setup_lock, retry_locked

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return _rdb_storage(url, config, engine_kwargs)
    database = Path(parsed.database)
    if database.is_file() and database.stat().st_size and not _is_sqlite_file(database):  # before its lock file
        raise ConfigError(
            f"storage {redacted(url)!r}: {str(database)!r} is not a SQLite database; give a new file (Optuna creates "
            "it) or a study's database, e.g. sqlite:///studies/optuna.db."
        )
    with database_setup_lock(database):
        return retry_locked(lambda: _rdb_storage(url, config, engine_kwargs))


def _rdb_storage(url: str, config: StorageConfig, engine_kwargs: dict):
    import optuna

    with warnings.catch_warnings():  # heartbeats and their retry callback are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=config.heartbeat_interval,
            grace_period=config.grace_period,
            **_retry_callback(config.max_retry),
        )


def retry_callback(max_retry: int | None):
    """Optuna's callback ``(study, failed_trial)`` that queues a copy of a failed trial (same parameters and
    user attributes; system attribute ``failed_trial``), unless it was retried ``max_retry`` times already."""
    import optuna

    with warnings.catch_warnings():  # marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        (callback,) = _retry_callback(max_retry).values()
    return callback


def _retry_callback(max_retry: int | None) -> dict:
    """The retry of heartbeat-stale trials, under the argument name this Optuna uses.

    Optuna 4.9 renamed ``failed_trial_callback``/``RetryFailedTrialCallback`` to
    ``heartbeat_stale_trial_callback``/``RetryHeartbeatStaleTrialCallback`` (the old
    names are deprecated); ``pyproject.toml`` allows older releases.
    """
    import optuna

    storages = optuna.storages
    if "heartbeat_stale_trial_callback" in inspect.signature(storages.RDBStorage.__init__).parameters:
        return {"heartbeat_stale_trial_callback": storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry)}
