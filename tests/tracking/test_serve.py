"""A logged tsseq model behind ``mlflow models serve`` on loopback answers REST requests as the library forecasts.

The server runs in the test's own environment (``--env-manager local``: nothing is
installed) from the model's local copy, one uvicorn worker, and is stopped with its
process group. A request is MLflow's scoring protocol: ``POST /invocations`` with the
history as ``dataframe_split`` and the pyfunc parameters (``horizon``, ``quantiles``).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tsseq import create
from tsseq.tracking import tracked_run
from tsseq.tracking.pyfunc import input_example

START_TIMEOUT_S = 90  # the worker imports torch and tsseq before it answers
HORIZON = 6


def _invoke(url: str, history: pd.DataFrame, params: dict) -> pd.DataFrame:
    # Python's float repr round-trips float64 exactly (pandas' to_json keeps 10 digits).
    rows = history.assign(timestamp=history["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    split = {"columns": list(rows.columns), "data": rows.astype(object).to_numpy().tolist()}
    body = json.dumps({"dataframe_split": split, "params": params}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return pd.DataFrame(json.loads(response.read())["predictions"])


@pytest.fixture
def served(store_uri, hourly, tmp_path: Path, mlflow_process):
    """A quantile LSTM logged to the store, served by ``mlflow models serve``; yields (estimator, URL)."""
    training = {"loss": "quantile", "epochs": 2, "batch_size": 64, "seed": 0}
    estimator = create("lstm", input_length=24, horizon=HORIZON, hidden_size=8, training=training).fit(hourly)
    with tracked_run(experiment="served-model", tracking_uri=store_uri) as run:
        info = run.log_model(estimator, hourly, horizon=HORIZON)
    mlflow.set_tracking_uri(store_uri)
    local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=str(tmp_path / "model"))
    arguments = ["models", "serve", "-m", local, "--env-manager", "local", "--workers", "1"]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store_uri}
    with mlflow_process(arguments, tmp_path / "serve.log", "/ping", START_TIMEOUT_S, pytest.fail, environment) as url:
        yield estimator, url

def test_a_served_model_answers_with_the_library_forecast_and_quantiles(served, hourly):
    estimator, url = served
    example = input_example(estimator, hourly)
    earlier = input_example(estimator, hourly.iloc[:-50])
    history = pd.concat([example.assign(window=0), earlier.assign(window=1)], ignore_index=True)
    windows = np.stack([example["load"].to_numpy(), earlier["load"].to_numpy()])[..., None]  # (2, L, 1)

    points = _invoke(url, history, {"horizon": HORIZON})
    assert list(points.columns) == ["window", "timestamp", "load"]
    np.testing.assert_array_equal(points["window"], np.repeat([0, 1], HORIZON))
    np.testing.assert_allclose(points["load"], estimator.predict_windows(windows, HORIZON)[:, :, 0].ravel(), rtol=1e-12)
    after_training = estimator.predict(HORIZON)  # the training tail as history: predict()'s timestamps
    assert list(pd.to_datetime(points["timestamp"][:HORIZON])) == list(after_training.index)

    bands = _invoke(url, history, {"horizon": HORIZON, "quantiles": "0.05,0.5,0.95"})
    assert list(bands.columns) == ["window", "timestamp", "load", "load_q0.05", "load_q0.5", "load_q0.95"]
    quantiles = estimator.predict_windows(windows, HORIZON, quantiles=[0.05, 0.5, 0.95])  # (2, H, 1, 3)
    columns = ["load_q0.05", "load_q0.5", "load_q0.95"]
    np.testing.assert_allclose(bands[columns], quantiles[:, :, 0].reshape(-1, 3), rtol=1e-12)
