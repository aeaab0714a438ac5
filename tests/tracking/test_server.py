"""Runs logged to a real ``mlflow server`` on loopback, started (and stopped) by the test itself."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tsseq import create
from tsseq.tracking import tracked_run
from tsseq.tracking.pyfunc import input_example

START_TIMEOUT_S = 45


@pytest.fixture
def server(tmp_path: Path, mlflow_process, empty_mlflow_store):
    """``mlflow server`` with a SQLite backend and proxied artifacts in ``tmp_path``; yields its URL.

    The backend starts as a copy of an empty store: the server need not run MLflow's migrations before it answers.
    """
    arguments = ["server", "--workers", "1", "--backend-store-uri", empty_mlflow_store(tmp_path / "server.db"),
                 "--artifacts-destination", str(tmp_path / "artifacts")]  # fmt: skip
    with mlflow_process(arguments, tmp_path / "server.log", "/health", START_TIMEOUT_S, pytest.skip) as url:
        yield url

def test_runs_models_and_statuses_go_to_a_tracking_server(server, hourly):
    estimator = create("ar", order=3).fit(hourly)
    with tracked_run(experiment="served", run_name="ar", tracking_uri=server) as run:
        run.log_estimator(estimator, "ar")
        run.log_metrics({"mse": 0.25}, prefix="test_")
        run.log_metrics({"train_loss": 1.0}, step=0)
        run.log_metrics({"train_loss": 0.5}, step=1)
        info = run.log_model(estimator, hourly, horizon=4)
    with pytest.raises(ZeroDivisionError):
        with tracked_run(experiment="served", run_name="crash", tracking_uri=server) as crashed:
            1 / 0
    client = MlflowClient(server)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and client.get_run(crashed.run_id).info.status == "FAILED"
    assert logged.data.params["model.order"] == "3" and logged.data.metrics["test_mse"] == 0.25
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "train_loss")] == [(0, 1.0), (1, 0.5)]
    # The model went through the server's artifact proxy and comes back predicting the same.
    mlflow.set_tracking_uri(server)
    history = input_example(estimator, hourly.iloc[-50:])
    forecast = mlflow.pyfunc.load_model(info.model_uri).predict(history)
    expected = estimator.predict_windows(hourly.iloc[-50:].to_numpy()[None], 4)[0, :, 0]
    np.testing.assert_array_equal(forecast["load"].to_numpy(), expected)
