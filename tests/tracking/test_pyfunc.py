"""The pyfunc flavour: a logged forecaster reloads in a fresh process and predicts exactly the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tsseq import create
from tsseq.errors import ConfigError, DataError
from tsseq.tracking import forecast_from_history, tracked_run
from tsseq.tracking.pyfunc import input_example

# Reads each model URI's input CSV, predicts with the case's params, writes the forecast values (.npy, no pickle),
# their timestamps (.time.npy) and the column names (.json).
FRESH_PROCESS = """
import json, sys
import numpy as np, pandas as pd, torch, mlflow
torch.set_num_threads(1)
for case in json.loads(sys.argv[1]):
    model = mlflow.pyfunc.load_model(case["uri"])
    history = pd.read_csv(case["input"], parse_dates=["timestamp"])
    forecast = model.predict(history, params=case["params"])
    values = forecast.drop(columns="timestamp")
    np.save(case["output"], values.to_numpy(np.float64), allow_pickle=False)
    np.save(case["output"] + ".time.npy", forecast["timestamp"].to_numpy("datetime64[ns]").astype(np.int64))
    with open(case["output"] + ".json", "w") as file:
        json.dump(list(values.columns), file)
"""


def _models():
    return {
        "ar": create("ar", max_order=12),
        "lstm": create("lstm", input_length=24, horizon=6, hidden_size=8, training={"epochs": 2, "batch_size": 64, "seed": 0}),
    }


def _history(estimator, rows: pd.DataFrame, earlier_rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Two history windows (the `window` column) as the pyfunc model takes them, and as ``(2, L, 1)`` windows."""
    example, earlier = input_example(estimator, rows), input_example(estimator, earlier_rows)
    history = pd.concat([example.assign(window=0), earlier.assign(window=1)], ignore_index=True)
    return history, np.stack([example["load"].to_numpy(), earlier["load"].to_numpy()])[..., None]


@pytest.fixture(scope="module")
def fresh_process(store_uri, module_hourly, tmp_path_factory):
    """The models of the two fresh-process tests below, fitted and logged here, reloaded and run in one fresh process
    (its start-up, seconds of imports, paid once).

    Returns ``{name: (estimator, windows, {ask: output path})}``: ``ar`` and ``lstm`` (a point LSTM) asked for
    ``points``, ``quantile_lstm`` for ``points`` and ``quantiles``; each output path holds the values (``.npy``),
    the timestamps (``.time.npy``) and the column names (``.json``) the fresh process predicted.
    """
    hourly, folder = module_hourly, tmp_path_factory.mktemp("pyfunc")
    training = {"loss": "quantile", "epochs": 2, "batch_size": 64, "seed": 0}
    quantile_lstm = create("lstm", input_length=24, horizon=6, hidden_size=8, training=training)
    models = {**_models(), "quantile_lstm": quantile_lstm}
    cases, fitted = [], {}
    for name, estimator in models.items():
        estimator.fit(hourly)
        experiment, run_name = ("pyfunc-quantiles", None) if name == "quantile_lstm" else ("pyfunc", name)
        with tracked_run(experiment=experiment, run_name=run_name, tracking_uri=store_uri) as run:
            info = run.log_model(estimator, hourly, horizon=6)
        if name == "quantile_lstm":  # the training tail, and the tail of the rows before the last 50
            history, windows = _history(estimator, hourly, hourly.iloc[:-50])
            asks = {"quantiles": {"horizon": 6, "quantiles": "0.95,0.05,0.5"}, "points": {"horizon": 6}}
        else:  # the training tail and the window 50 rows earlier
            rows = getattr(estimator, "input_length", None) or 100
            history, windows = _history(estimator, hourly.iloc[-rows:], hourly.iloc[-rows - 50 : -50])
            asks = {"points": {"horizon": 6}}
        history.to_csv(folder / f"{name}.csv", index=False)
        outputs = {ask: str(folder / f"{name}-{ask}.npy") for ask in asks}
        cases += [{"uri": info.model_uri, "input": str(folder / f"{name}.csv"), "output": outputs[ask], "params": params}
                  for ask, params in asks.items()]  # fmt: skip
        fitted[name] = (estimator, windows, outputs)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri}
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, json.dumps(cases)], check=True, env=env, capture_output=True)
    return fitted


def test_logged_models_predict_exactly_the_same_in_a_fresh_process(fresh_process):
    for name in _models():
        estimator, windows, outputs = fresh_process[name]
        by_windows, after_training = estimator.predict_windows(windows, 6), estimator.predict(6)
        values = np.load(outputs["points"])  # columns: window, load
        assert json.loads(Path(outputs["points"] + ".json").read_text()) == ["window", "load"]
        np.testing.assert_array_equal(values[:, 0], np.repeat([0, 1], 6))
        np.testing.assert_array_equal(values[:, 1], by_windows[:, :, 0].ravel())
        # The training tail as history forecasts what predict() forecasts after the training data
        # (up to float32 rounding: predict() runs the LSTM on a batch of one window, not two).
        np.testing.assert_allclose(values[:6, 1], after_training["load"].to_numpy(), rtol=1e-6)
        timestamps = pd.to_datetime(np.load(outputs["points"] + ".time.npy")[:6])
        assert list(timestamps) == list(after_training.index)


def test_the_model_carries_a_signature_and_an_input_example(store_uri, hourly):
    estimator = create("ar", order=2).fit(hourly)
    with tracked_run(experiment="pyfunc", tracking_uri=store_uri) as run:
        info = run.log_model(estimator, hourly, horizon=4)
    signature = info.signature
    assert signature.inputs.input_names() == ["window", "timestamp", "load"]
    assert [spec.required for spec in signature.inputs.inputs] == [False, True, True]
    assert signature.outputs.input_names() == ["window", "timestamp", "load"]
    assert signature.params.params[0].name == "horizon" and signature.params.params[0].default == 4
    assert info.saved_input_example_info is not None
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert len(loaded.predict(input_example(estimator, hourly))) == 4  # the default horizon


def test_bad_history_is_refused_with_what_was_expected(hourly):
    lstm = create("lstm", input_length=24, horizon=6, hidden_size=8, training={"epochs": 1, "seed": 0}).fit(hourly)
    example = input_example(lstm, hourly)
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['load'\]"):
        forecast_from_history(lstm, example.rename(columns={"load": "demand"}), 6)
    with pytest.raises(DataError, match="has 10 rows; the model reads the last 24"):
        forecast_from_history(lstm, example.iloc[-10:], 6)
    with pytest.raises(DataError, match="strictly increasing"):
        forecast_from_history(lstm, example.iloc[::-1], 6)


def test_a_quantile_model_returns_its_quantiles_when_asked_in_a_fresh_process(fresh_process):
    estimator, windows, outputs = fresh_process["quantile_lstm"]
    levels = [0.05, 0.5, 0.95]
    quantiles = estimator.predict_windows(windows, 6, quantiles=levels)  # (2, 6, 1, 3)
    points = estimator.predict_windows(windows, 6)  # (2, 6, 1)
    values = np.load(outputs["quantiles"])
    assert json.loads(Path(outputs["quantiles"] + ".json").read_text()) == ["window", "load", "load_q0.05", "load_q0.5", "load_q0.95"]
    np.testing.assert_array_equal(values[:, 0], np.repeat([0, 1], 6))
    np.testing.assert_array_equal(values[:, 1], points[:, :, 0].ravel())
    np.testing.assert_array_equal(values[:, 2:], quantiles[:, :, 0, :].reshape(12, 3))
    assert (np.diff(values[:, 2:], axis=1) >= 0).all()  # never crossing
    # Without the parameter: the point forecasts only, as before.
    assert json.loads(Path(outputs["points"] + ".json").read_text()) == ["window", "load"]
    np.testing.assert_array_equal(np.load(outputs["points"])[:, 1], points[:, :, 0].ravel())


def test_the_quantiles_parameter_is_a_string_with_an_empty_default(store_uri, hourly):
    estimator = create("naive").fit(hourly)
    with tracked_run(experiment="pyfunc-quantiles", tracking_uri=store_uri) as run:
        info = run.log_model(estimator, hourly, horizon=4)
    params = {param.name: param for param in info.signature.params.params}
    assert params["quantiles"].dtype.name == "string" and params["quantiles"].default == ""
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    example = input_example(estimator, hourly.iloc[-48:])
    bands = loaded.predict(example, params={"quantiles": "0.1, 0.9"})
    assert list(bands.columns) == ["window", "timestamp", "load", "load_q0.1", "load_q0.9"] and len(bands) == 4
    expected = estimator.predict_windows(example[["load"]].to_numpy()[None], 4, quantiles=[0.1, 0.9])
    np.testing.assert_allclose(bands[["load_q0.1", "load_q0.9"]].to_numpy(), expected[0, :, 0, :], rtol=1e-12)


def test_quantiles_are_refused_for_a_point_model_and_bad_levels(hourly):
    lstm = create("lstm", input_length=24, horizon=6, hidden_size=8, training={"epochs": 1, "seed": 0}).fit(hourly)
    example = input_example(lstm, hourly)
    with pytest.raises(ConfigError, match="point forecasts only, not quantiles"):
        forecast_from_history(lstm, example, 6, quantiles="0.1,0.9")
    assert list(forecast_from_history(lstm, example, 6, quantiles="").columns) == ["window", "timestamp", "load"]
    naive = create("naive").fit(hourly)
    with pytest.raises(ConfigError, match="comma-separated levels"):
        forecast_from_history(naive, example, 6, quantiles="0.1;0.9")
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        forecast_from_history(naive, example, 6, quantiles=[0.5, 1.5])


def test_history_at_another_frequency_is_refused_as_the_saved_model_path_refuses_it(store_uri):
    """A yearly model given monthly rows: no forecasts stamped a year apart, the error of ``--model-file``."""
    from tsseq.inference import forecast_series

    years = pd.date_range("1950-01-01", periods=60, freq="YS")
    yearly = pd.DataFrame({"y": np.sin(np.arange(60) / 3.0) + 0.01 * np.arange(60)}, index=years)
    estimator = create("ar", max_order=4).fit(yearly)
    with tracked_run(experiment="pyfunc-frequency", tracking_uri=store_uri) as run:
        info = run.log_model(estimator, yearly, horizon=3)
    model = mlflow.pyfunc.load_model(info.model_uri)
    monthly = pd.DataFrame({"timestamp": pd.date_range("2000-01-01", periods=30, freq="MS"), "y": np.arange(30.0)})
    with pytest.raises(DataError) as refused:
        model.predict(monthly)
    with pytest.raises(DataError) as saved_model_path:
        forecast_series(estimator, monthly.set_index("timestamp"), 3, source="the model input")
    assert str(refused.value) == str(saved_model_path.value)
    assert "the data's frequency is 'MS'; the model was fitted on 'YS-JAN' data" in str(refused.value)
    # Yearly rows still forecast the next years.
    forecast = model.predict(input_example(estimator, yearly))
    assert list(forecast["timestamp"]) == list(pd.date_range("2010-01-01", periods=3, freq="YS"))
