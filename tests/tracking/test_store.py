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
