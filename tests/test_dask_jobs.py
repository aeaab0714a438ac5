"""Many-series jobs on Dask: the single-process output bit for bit, retried workers, clear refusals."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("distributed")

from tsseq.anomaly.config import DetectionConfig, DetectorConfig  # noqa: E402
from tsseq.anomaly.job import run_detection  # noqa: E402
from tsseq.anomaly.many import detect_many  # noqa: E402
from tsseq.cli import main  # noqa: E402
from tsseq.config import DataConfig, ModelConfig  # noqa: E402
from tsseq.dask_jobs import Engine, forecast_on_dask  # noqa: E402
from tsseq.data.parquet import read_parquet  # noqa: E402
from tsseq.pipeline import fit_forecast  # noqa: E402
from tsseq.streaming_jobs import forecast_in_batches  # noqa: E402


def _series(n_series: int, lengths, seed: int = 0) -> pd.DataFrame:
    """AR(2) series with their own levels (long layout), ids that sort as generated."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        length = int(lengths(rng))
        values = lfilter([1.0], [1.0, -0.6, 0.2], rng.standard_normal(length + 50))[50:]
        stamps = pd.date_range("2022-01-01", periods=length, freq="h")
        parts.append(pd.DataFrame({"id": f"s{s:04d}", "time": stamps, "y": 20 + s % 7 + values}))
    return pd.concat(parts, ignore_index=True)


def _parquet(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=2000)
    return path


@pytest.fixture(scope="module")
def client():
    """One local cluster of 2 worker processes on loopback for the whole module."""
    from tsseq.dask_jobs import local_cluster

    cluster = local_cluster(2)  # what --engine dask --workers 2 starts
    with distributed.Client(cluster, set_as_default=False) as opened:
        yield opened
    cluster.close()


@pytest.fixture(scope="module")
def ragged(tmp_path_factory) -> Path:
    return _parquet(_series(60, lambda rng: rng.integers(80, 160), seed=1), tmp_path_factory.mktemp("data") / "r.parquet")


@pytest.fixture(scope="module")
def few(tmp_path_factory) -> Path:
    return _parquet(_series(16, lambda rng: rng.integers(80, 160), seed=2), tmp_path_factory.mktemp("data") / "f.parquet")


def _both(data, model, tmp_path, client, *, batch_series=20, estimator=None, quantiles=None):
    """(streamed output, Dask output) of the same job."""
    local, dask = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    options = dict(batch_series=batch_series, estimator=estimator, quantiles=quantiles)
    forecast_in_batches(data, model, 24, local, **options)
    result = forecast_on_dask(data, model, 24, dask, client=client, **options)
    return pd.read_parquet(local), pd.read_parquet(dask), result


@pytest.mark.parametrize(
    "model, quantiles",
    [
        (ModelConfig("ar", {"max_order": 8}), [0.1, 0.9]),
        (ModelConfig("naive"), [0.05, 0.95]),
        (ModelConfig("seasonal_naive", {"season_length": 24}), None),
        (ModelConfig("drift"), None),
        (ModelConfig("mean"), None),
        (ModelConfig("naive2", {"season_length": 24}), None),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_dask_forecast_equals_the_single_process_forecast_bit_for_bit(ragged, tmp_path, client, model, quantiles):
    data = DataConfig(csv=str(ragged), series_column="id")
    local, dask, result = _both(data, model, tmp_path, client, quantiles=quantiles)
    assert (result.series, result.batches, result.rows) == (60, 3, 60 * 24)
    pd.testing.assert_frame_equal(dask, local, check_exact=True)
    if model.name != "ar":  # the naive family: also the forecast of all series fitted at once
        whole = fit_forecast(model, read_parquet(ragged, series_column="id"), 24, quantiles).reset_index()
        whole["time"] = whole["time"].astype(dask["time"].dtype)
        pd.testing.assert_frame_equal(dask, whole, check_exact=True)


def test_a_saved_global_neural_model_is_shipped_once_and_forecasts_each_series(ragged, tmp_path, client):
    from tsseq import persistence, registry

    history = _series(1, lambda rng: 200, seed=3).set_index("time")[["y"]]
    model = registry.get("gru")(
        input_length=24, horizon=24, hidden_size=4, num_layers=1, training={"epochs": 1, "batch_size": 64, "seed": 0}
    ).fit(history)
    path = persistence.save(model, tmp_path / "gru.pt")
    estimator = persistence.load(path)
    data = DataConfig(csv=str(ragged), series_column="id")
    local, dask, result = _both(data, None, tmp_path, client, estimator=estimator, batch_series=25)
    assert result.batches == 3 and len(dask) == 60 * 24
    pd.testing.assert_frame_equal(dask, local, check_exact=True)
    # Each series from its own last 24 rows: the first series alone gives its rows of the job's output.
    first = read_parquet(ragged, series_column="id").loc[["s0000"]]
    alone = estimator.predict_windows(first["y"].to_numpy()[-24:].reshape(1, 24, 1), 24)[0, :, 0]
    np.testing.assert_allclose(dask["y"].to_numpy()[:24], alone, rtol=1e-6)
    cli_output = tmp_path / "cli.parquet"
    code = main(["forecast", str(ragged), "--series-column", "id", "--model-file", str(path), "--horizon", "24",
                 "--batch-series", "25", "--output", str(cli_output)])
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(cli_output), local, check_exact=True)


def _detection(path: Path, **fields) -> DetectionConfig:
    return DetectionConfig(
        name="many",
        data=DataConfig(csv=str(path), series_column="id"),
        detector=DetectorConfig("ar_residual", {"forecaster_params": {"max_order": 4}}),
        window=8,
        threshold="quantile",
        **fields,
    )


def test_dask_detection_equals_the_single_process_scores_of_each_series(few, tmp_path, client):
    config = _detection(few)
    local, dask = tmp_path / "local.csv", tmp_path / "dask.parquet"
    here = detect_many(config, local, batch_series=6)
    there = detect_many(config, dask, batch_series=6, engine=Engine(), client=client)
    assert (here.series, here.batches, here.flagged) == (there.series, there.batches, there.flagged) == (16, 3, here.flagged)
    scores = pd.read_parquet(dask)
    from_csv = pd.read_csv(local, parse_dates=["timestamp"])
    from_csv["timestamp"] = from_csv["timestamp"].astype(scores["timestamp"].dtype)
    pd.testing.assert_frame_equal(scores, from_csv, check_exact=True)
    assert list(scores.columns[:6]) == ["id", "timestamp", "y", "score", "threshold", "is_anomaly"]
    # A series' rows are what `tsseq detect` gives that series alone.
    one = pd.read_parquet(few).query("id == 's0007'").drop(columns="id")
    one.to_csv(tmp_path / "one.csv", index=False)
    alone = run_detection(dataclasses.replace(config, data=DataConfig(csv=str(tmp_path / "one.csv")))).table
    mine = scores[scores["id"] == "s0007"].set_index("timestamp").drop(columns="id")
    np.testing.assert_array_equal(mine["score"].to_numpy(), alone["score"].to_numpy())
    np.testing.assert_array_equal(mine["is_anomaly"].to_numpy(), alone["is_anomaly"].to_numpy())


def test_dask_detection_of_series_too_short_or_of_another_frequency_equals_the_single_process_one(tmp_path, client):
    # a first batch of one series too short (written unscored, its columns from a later batch), one of 30 minutes
    frame = _series(7, lambda rng: 120, seed=4)
    frame = frame[(frame["id"] != "s0000") | (frame.groupby("id").cumcount() < 5)].copy()
    half_hourly = frame["id"] == "s0003"
    frame.loc[half_hourly, "time"] = pd.date_range("2022-01-01", periods=int(half_hourly.sum()), freq="30min")
    config = _detection(_parquet(frame, tmp_path / "panel.parquet"))
    local, dask = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    with pytest.warns(UserWarning, match=r"1 of 7 series not scored, too short; .*'s0000' \(5 rows\)"):
        here = detect_many(config, local, batch_series=2)
    with pytest.warns(UserWarning, match=r"1 of 7 series not scored"):
        there = detect_many(config, dask, batch_series=2, engine=Engine(), client=client)
    assert here.skipped == there.skipped == ("s0000",) and here.batches == there.batches == 4
    scores = pd.read_parquet(dask)
    pd.testing.assert_frame_equal(scores, pd.read_parquet(local), check_exact=True)
    assert scores["score"].iloc[:5].isna().all() and not scores["is_anomaly"].iloc[:5].any()
    np.testing.assert_array_equal(scores.loc[scores["id"] == "s0003", "timestamp"], frame.loc[half_hourly, "time"])


class _KillOnce(distributed.WorkerPlugin):
    """Kills its worker process (SIGKILL) when the task of partition ``suffix`` starts, once (a marker file)."""

    name = "tsseq-test-kill-once"

    def __init__(self, marker: str, suffix: str) -> None:
        self.marker, self.suffix = marker, suffix

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing" and str(key).endswith(self.suffix) and not os.path.exists(self.marker):
            with open(self.marker, "w") as handle:
                handle.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_job_is_retried_without_losing_or_duplicating_series(ragged, tmp_path, client):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module
    marker = tmp_path / "killed"
    client.register_plugin(_KillOnce(str(marker), "-2"))
    try:
        data = DataConfig(csv=str(ragged), series_column="id")
        local, dask, result = _both(data, ModelConfig("ar", {"max_order": 8}), tmp_path, client, batch_series=15)
    finally:
        client.unregister_worker_plugin(_KillOnce.name)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker did die, running partition 2 of 4
    assert result.batches == 4
    assert dask.groupby("id").size().eq(24).all() and dask["id"].nunique() == 60  # each series once
    pd.testing.assert_frame_equal(dask, local, check_exact=True)
    client.wait_for_workers(2, timeout=60)


def test_what_cannot_run_on_dask_is_refused_with_exit_2(ragged, tmp_path, capsys):
    output = tmp_path / "f.parquet"
    base = ["forecast", str(ragged), "--series-column", "id", "--horizon", "4", "--output", str(output)]
    assert main([*base, "--model", "gru", "--engine", "dask"]) == 2
    assert "model 'gru' is not a per-series model" in capsys.readouterr().err
    assert main([*base, "--model", "ar", "--workers", "2"]) == 2
    assert "--workers is for engine 'dask'" in capsys.readouterr().err
    assert main([*base, "--model", "ar", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"]) == 2
    assert "--workers sizes the local cluster" in capsys.readouterr().err
    csv = tmp_path / "r.csv"
    pd.read_parquet(ragged).to_csv(csv, index=False)
    assert main(["forecast", str(csv), "--series-column", "id", "--model", "ar", "--horizon", "4", "--engine", "dask",
                 "--output", str(output)]) == 2
    assert "--engine dask reads Parquet input" in capsys.readouterr().err
    assert main(["detect", str(csv), "--series-column", "id", "--detector", "ar_residual", "--engine", "dask",
                 "--output", str(output)]) == 2
    assert "--engine dask reads Parquet input" in capsys.readouterr().err
    assert main(["detect", str(ragged), "--series-column", "id", "--detector", "ar_residual", "--plot",
                 str(tmp_path / "p.png"), "--output", str(output)]) == 2
    assert "plots, events and labels are for one series" in capsys.readouterr().err
    assert not output.exists()


def test_a_scheduler_that_does_not_answer_is_named(ragged, tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a free port on loopback: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = tmp_path / "f.parquet"
    code = main(["forecast", str(ragged), "--series-column", "id", "--model", "ar", "--horizon", "4", "--engine", "dask",
                 "--scheduler", f"tcp://127.0.0.1:{port}", "--output", str(output)])
    assert code == 2
    assert f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answers there" in capsys.readouterr().err
    assert not output.exists()


@pytest.fixture(params=["silent", "http"])
def not_a_scheduler(request):
    """The tcp:// address of a listener that is not Dask: one that accepts and says nothing, or an HTTP server."""
    import socket
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    if request.param == "http":
        server = HTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        server.server_close()
        return
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in accepted:
        connection.close()


def test_a_listener_that_is_not_a_scheduler_is_refused_within_the_timeout(not_a_scheduler, capfd):
    import time

    from tsseq.dask_jobs import dask_client
    from tsseq.errors import ConfigError

    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"--scheduler {not_a_scheduler}: no Dask scheduler answers there"):
        with dask_client(Engine(scheduler=not_a_scheduler)):
            pass
    assert time.monotonic() - start < 60  # a hang guard (the handshake is bounded by CONNECT_TIMEOUT), not a speed test
    import gc

    gc.collect()  # a half-made Client would close itself here, in __del__, with a traceback
    err = capfd.readouterr().err
    assert "Client.__del__" not in err and "Traceback" not in err


def test_a_protocol_dask_does_not_know_is_refused_at_once_and_quietly(capfd):
    import gc
    import time

    from tsseq.dask_jobs import dask_client
    from tsseq.errors import ConfigError

    start = time.monotonic()
    with pytest.raises(ConfigError, match="--scheduler http://127.0.0.1:8787: .*unknown address scheme 'http'") as caught:
        with dask_client(Engine(scheduler="http://127.0.0.1:8787")):
            pass
    del caught  # its traceback would keep a half-made Client alive past the check
    gc.collect()
    assert time.monotonic() - start < 15  # no 20 s wait for a half-made Client's close
    err = capfd.readouterr().err
    assert "Client.__del__" not in err and "Traceback" not in err


def test_the_detection_job_file_mirrors_the_engine_options(few, tmp_path, client, capsys):
    from tsseq.config import from_mapping
    from tsseq.errors import ConfigError

    mapping = {"name": "many", "data": {"csv": str(few), "series_column": "id"}, "detector": {"name": "ar_residual"},
               "window": 8, "threshold": "quantile", "engine": "dask", "scheduler": client.scheduler.address, "batch_series": 8}  # fmt: skip
    config = from_mapping(DetectionConfig, mapping)
    assert (config.engine, config.scheduler, config.batch_series) == ("dask", client.scheduler.address, 8)
    job = tmp_path / "job.yaml"
    import yaml

    job.write_text(yaml.safe_dump({**mapping, "output": {"directory": str(tmp_path), "csv": "scores.parquet"}}))
    assert main(["detect", "--config", str(job)]) == 0
    assert "of 16 series flagged (2 batches on Dask (tcp://127.0.0.1" in capsys.readouterr().err
    assert pd.read_parquet(tmp_path / "scores.parquet")["id"].nunique() == 16
    with pytest.raises(ConfigError, match="workers is for engine 'dask'"):
        from_mapping(DetectionConfig, {**mapping, "engine": "local", "scheduler": None, "workers": 2})
    with pytest.raises(ConfigError, match="engine: expected one of 'local', 'dask'; got 'ray'"):
        from_mapping(DetectionConfig, {**mapping, "engine": "ray"})


def _m4_hourly_parquet(data_dir: Path, path: Path) -> Path:
    table = pd.read_csv(data_dir / "m4" / "Hourly-train.csv", index_col="V1")
    parts = []
    for series_id, row in table.iterrows():
        values = row.to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        stamps = pd.date_range("2000-01-01", periods=len(values), freq="h")
        parts.append(pd.DataFrame({"series": series_id, "timestamp": stamps, "value": values}))
    return _parquet(pd.concat(parts, ignore_index=True), path)


@pytest.mark.shared_data
def test_m4_hourly_on_dask_equals_the_single_process_path_bit_for_bit(data_dir, tmp_path, client):
    source = _m4_hourly_parquet(data_dir, tmp_path / "m4-hourly.parquet")
    data = DataConfig(csv=str(source), series_column="series")
    model = ModelConfig("ar", {"max_order": 48})
    local, dask = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    with pytest.warns(UserWarning, match="series 'H13'"):  # one explosive fit replaced by a stable lower order
        forecast_in_batches(data, model, 48, local, batch_series=100)
    result = forecast_on_dask(data, model, 48, dask, batch_series=100, client=client)
    assert (result.series, result.batches, result.rows) == (414, 5, 414 * 48)
    pd.testing.assert_frame_equal(pd.read_parquet(dask), pd.read_parquet(local), check_exact=True)


def test_the_local_engine_imports_no_dask(ragged, tmp_path):
    import subprocess

    code = (
        "import sys; from tsseq.cli import main; "
        f"code = main(['forecast', {str(ragged)!r}, '--series-column', 'id', '--model', 'ar', '--horizon', '3', "
        f"'--batch-series', '30', '--output', {str(tmp_path / 'f.parquet')!r}]); "
        "print(code, ','.join(m for m in ('dask', 'distributed', 'torch', 'sklearn') if m in sys.modules) or '-')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["0", "-"], result.stderr[-2000:]
