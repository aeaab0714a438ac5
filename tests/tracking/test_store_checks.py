"""Tracking URIs that cannot work are refused at once, with exit 2 and the setting they came from.

A folder or file path (MLflow 3 has no folder store by default), a ``sqlite:///`` path
to something that is not an MLflow database, a tracking server that does not answer
(one short probe, not MLflow's minutes of retries), and, for ``tsseq compare``, a store
that does not exist (a reading command creates none).
"""

from __future__ import annotations

import socket
import sqlite3
import threading

import pytest
import yaml

from tsseq.cli import main
from tsseq.errors import ConfigError
from tsseq.tracking import store
from tsseq.tracking.store import check_store


@pytest.fixture(autouse=True)
def _no_uri_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for variable in ("TSSEQ_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers: ``http://127.0.0.1:<port>``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def _job(tmp_path, tracking_uri: str) -> str:
    """A one-model tracked job file whose store is ``tracking_uri``."""
    rows = "\n".join(f"2021-01-01 {hour:02d}:00,{hour % 5}.0" for hour in range(24))
    (tmp_path / "load.csv").write_text("time,load\n" + rows + "\n")
    job = {
        "name": "store-check",
        "data": {"csv": "load.csv"},
        "models": [{"name": "naive"}],
        "evaluation": {"protocol": "holdout", "horizon": 3},
        "output": {"forecast_csv": None, "plot": None, "results_json": None},
        "tracking": {"enabled": True, "tracking_uri": tracking_uri},
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return str(path)


def test_a_folder_given_as_the_uri_says_which_sqlite_uri_to_give(tmp_path, capsys):
    (tmp_path / "mlflow").mkdir()
    assert main(["compare", "--experiment", "x", "--tracking-uri", "mlflow"]) == 2
    error = capsys.readouterr().err
    assert "--tracking-uri 'mlflow' is a folder path" in error and "give sqlite:///mlflow/mlflow.db" in error
    assert "unexpected" not in error and "Traceback" not in error
    with pytest.raises(ConfigError, match=r"tracking_uri '.*runs' is a folder path.*sqlite:///.*runs/mlflow.db"):
        check_store(str(tmp_path / "runs"))  # absent folders too: MLflow would create a folder store there


def test_a_job_file_with_a_bad_uri_exits_2_naming_tracking_tracking_uri(tmp_path, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a model was scored although the store is unusable")

    monkeypatch.setattr("tsseq.pipeline.score_holdout", no_training)
    (tmp_path / "notes.txt").write_text("not a database\n")
    for uri, expected in (
        ("mlflow", "tracking.tracking_uri 'mlflow' is a folder path"),
        (str(tmp_path / "notes.txt"), "is a file, not a tracking store"),
        ("sqlite:///notes.txt", "'notes.txt' is not a SQLite database"),
        ("localhost:5000", "lacks its scheme: a tracking server is http://localhost:5000"),
    ):
        assert main(["run", _job(tmp_path, uri)]) == 2, uri
        error = capsys.readouterr().err
        assert expected in error and "unexpected" not in error, error
    assert not (tmp_path / "mlflow").exists()


def test_sqlite_uris_must_name_an_mlflow_database(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="names a folder; expected a database file, e.g. sqlite:///.*folder/mlflow.db"):
        check_store(f"sqlite:///{tmp_path / 'folder'}")
    optuna = tmp_path / "optuna.db"
    with sqlite3.connect(optuna) as connection:
        connection.execute("CREATE TABLE studies (id INTEGER)")
    with pytest.raises(ConfigError, match=r"SQLite database of something else \(tables: studies\), not an MLflow store"):
        check_store(f"sqlite:///{optuna}", setting="tracking.tracking_uri")
    sqlite_file = tmp_path / "runs.db"
    with sqlite3.connect(sqlite_file) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ConfigError, match=f"SQLite file given as a path: give it as sqlite:///{sqlite_file}"):
        check_store(str(sqlite_file))
    assert store.sqlite_path("sqlite:///runs.db?timeout=30") == store.Path("runs.db")  # SQLAlchemy's options are no path
    fresh = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    assert check_store(fresh) == fresh and not (tmp_path / "new").exists()  # a job may create it; checking creates nothing


def test_compare_refuses_a_store_that_does_not_exist_instead_of_creating_it(tmp_path, capsys):
    missing = tmp_path / "nonexistent" / "x.db"
    assert main(["compare", "--experiment", "x", "--tracking-uri", f"sqlite:///{missing}"]) == 2
    assert f"there is no tracking store at '{missing}', and this command only reads one" in capsys.readouterr().err
    assert not missing.parent.exists()
    assert main(["compare", "--experiment", "x"]) == 2  # the default store, ./mlflow/mlflow.db: not there either
    assert "the default store 'sqlite:///" in capsys.readouterr().err
    assert not (tmp_path / "mlflow").exists()


def test_an_unreachable_server_is_refused_before_any_training_naming_the_setting(tmp_path, closed_port, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a model was scored although the server is down")

    monkeypatch.setattr("tsseq.pipeline.score_holdout", no_training)
    server = f"http://127.0.0.1:{closed_port}"
    assert main(["run", _job(tmp_path, server)]) == 2
    error = capsys.readouterr().err
    assert f"tracking.tracking_uri '{server}': the tracking server cannot be reached" in error and "refused" in error
    assert main(["compare", "--experiment", "x", "--tracking-uri", server]) == 2
    assert f"--tracking-uri '{server}': the tracking server cannot be reached" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    assert main(["compare", "--experiment", "x"]) == 2
    error = capsys.readouterr().err
    assert f"$MLFLOW_TRACKING_URI '{server}'" in error and "unset MLFLOW_TRACKING_URI" in error


def test_a_server_that_never_answers_is_given_up_after_the_probe_timeout(silent_server, monkeypatch):
    monkeypatch.setattr(store, "SERVER_PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setenv("TSSEQ_TRACKING_URI", silent_server)
    with pytest.raises(ConfigError, match=r"\$TSSEQ_TRACKING_URI .*cannot be reached \(no answer within 0.2 s\)") as refused:
        check_store()
    assert "unset TSSEQ_TRACKING_URI to use the local store" in str(refused.value)


def test_folder_stores_pass_when_the_user_re_enables_them(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_store("mlruns") == "mlruns"


@pytest.fixture
def answering_server():
    """A loopback HTTP server answering every GET with ``answer["code"]``, ``answer["type"]`` and ``answer["body"]``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            answer["path"] = self.path
            body = answer["body"].encode()
            self.send_response(answer["code"])
            self.send_header("Content-Type", answer["type"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # serve_forever looks for shutdown() every poll_interval (0.5 s by default: half a second of every teardown)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    ("code", "kind", "body"),
    [
        (200, "application/json", '{"experiments": [{"experiment_id": "0", "name": "Default"}]}'),  # MLflow
        (200, "application/json", "{}"),  # MLflow with no experiment to list
        (404, "application/json", '{"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"}'),  # MLflow
        (401, "text/html", "<html>Log in</html>"),  # an authenticating proxy in front of it
        (403, "text/plain", "Forbidden"),
    ],
)
def test_an_mlflow_server_or_a_proxy_asking_who_we_are_passes(answering_server, code, kind, body):
    url, answer = answering_server
    answer.update(code=code, type=kind, body=body)
    assert check_store(url + "/mlflow/") == url + "/mlflow/"
    assert answer["path"] == "/mlflow/api/2.0/mlflow/experiments/search?max_results=1"  # under the URI's path prefix


@pytest.mark.parametrize(
    ("code", "kind", "body"),
    [
        (404, "text/html", "<html><body>Not Found</body></html>"),  # another web server on that port
        (200, "text/html", "<html><body>Grafana</body></html>"),  # a web application that answers every path
        (200, "application/json", '{"status": "ok"}'),  # another JSON service
        (200, "application/json", "[1, 2]"),
    ],
)
def test_a_server_that_is_not_mlflow_is_refused_naming_what_it_answered(answering_server, code, kind, body, tmp_path, capsys):
    url, answer = answering_server
    answer.update(code=code, type=kind, body=body)
    with pytest.raises(ConfigError, match=rf"not as an MLflow tracking server \(GET /api/2.0/mlflow/experiments/search gave HTTP {code}, {kind}\)"):
        check_store(url)
    assert main(["run", _job(tmp_path, url)]) == 2
    assert f"tracking.tracking_uri '{url}': the server answers, but not as an MLflow tracking server" in capsys.readouterr().err
