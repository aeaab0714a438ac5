"""tracked_run: how runs end, what they log (parameters, data identity, nesting)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from mlflow import MlflowClient

from tsseq.engine import TrainingConfig
from tsseq.tracking import catalog_identity, flatten, tracked_run
from tsseq.tracking.runs import ERROR_TAG


def _run(store_uri, run_id):
    return MlflowClient(store_uri).get_run(run_id)


def test_a_block_that_completes_ends_finished(store_uri):
    with tracked_run(experiment="status", run_name="ok", tracking_uri=store_uri) as run:
        run.log_metrics({"test_mse": 1.5})
    finished = _run(store_uri, run.run_id)
    assert finished.info.status == "FINISHED" and finished.data.metrics["test_mse"] == 1.5


def test_an_exception_ends_the_run_failed_and_propagates(store_uri):
    with pytest.raises(ValueError, match="bad batch"):
        with tracked_run(experiment="status", tracking_uri=store_uri) as run:
            raise ValueError("bad batch")
    failed = _run(store_uri, run.run_id)
    assert failed.info.status == "FAILED" and failed.data.tags[ERROR_TAG] == "ValueError: bad batch"


def test_an_interruption_ends_the_run_killed(store_uri):
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(experiment="status", tracking_uri=store_uri) as run:
            raise KeyboardInterrupt
    assert _run(store_uri, run.run_id).info.status == "KILLED"


def test_sigterm_ends_the_run_killed_and_propagates_as_terminated(store_uri):
    import os
    import signal
    import time

    from tsseq.signals import Terminated, terminating

    with pytest.raises(Terminated), terminating():
        with tracked_run(experiment="status", run_name="terminated", tracking_uri=store_uri) as run:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises long before this ends
    ended = _run(store_uri, run.run_id)
    assert ended.info.status == "KILLED"
    assert ended.data.tags[ERROR_TAG] == "Terminated: terminated by SIGTERM"


def test_killed_on_lists_exceptions_that_stop_a_run_on_purpose(store_uri):
    class Pruned(Exception):
        pass

    with pytest.raises(Pruned):
        with tracked_run(experiment="status", tracking_uri=store_uri, killed_on=(Pruned,)) as run:
            raise Pruned
    assert _run(store_uri, run.run_id).info.status == "KILLED"


def test_nested_runs_are_children_of_the_active_run_in_its_experiment(store_uri):
    with tracked_run(experiment="study", run_name="parent", tracking_uri=store_uri) as parent:
        with tracked_run(run_name="trial 0", nested=True, tags={"trial": 0}) as child:
            pass
        assert _run(store_uri, child.run_id).info.status == "FINISHED"
    child_run = _run(store_uri, child.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.run_id and child_run.data.tags["trial"] == "0"
    assert child_run.info.experiment_id == _run(store_uri, parent.run_id).info.experiment_id


def test_configuration_dataclasses_are_logged_flattened(store_uri):
    config = TrainingConfig(epochs=3, learning_rate=0.01)
    assert flatten({"model": {"name": "lstm", "params": {"hidden": 8, "dilations": [1, 2]}}}) == {
        "model.name": "lstm",
        "model.params.hidden": "8",
        "model.params.dilations": "[1, 2]",
    }
    with tracked_run(experiment="params", tracking_uri=store_uri) as run:
        run.log_config(config, "training")
        run.log_dataset(catalog_identity("ETTh1"))
    params = _run(store_uri, run.run_id).data.params
    assert len([key for key in params if key.startswith("training.")]) == len(dataclasses.fields(TrainingConfig))
    assert params["training.epochs"] == "3" and params["training.learning_rate"] == "0.01"
    assert params["dataset.name"] == "ETTh1" and params["dataset.source"].startswith("https://")
    assert len(params["dataset.sha256"]) == 64


def test_a_data_set_of_several_files_logs_one_combined_checksum():
    identity = catalog_identity("m4-hourly")
    assert len(identity.files) == 2 and all(len(digest) == 64 for digest in identity.files.values())
    assert identity.sha256 not in identity.files.values() and len(identity.sha256) == 64


def test_a_folder_of_files_is_identified_by_its_files_hashes(tmp_path):
    from tsseq.tracking import file_identity

    folder = tmp_path / "sales"
    (folder / "id=a").mkdir(parents=True)
    (folder / "id=a" / "part.parquet").write_bytes(b"first")
    (folder / "id=b.parquet").write_bytes(b"second")
    identity = file_identity(folder)
    digests = {"id=a/part.parquet": hashlib.sha256(b"first").hexdigest(), "id=b.parquet": hashlib.sha256(b"second").hexdigest()}
    assert identity.files == digests and identity.source == str(folder.resolve())
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))
    assert identity.sha256 == hashlib.sha256(listing.encode()).hexdigest()
    (folder / "id=b.parquet").write_bytes(b"changed")
    assert file_identity(folder).sha256 != identity.sha256


def test_the_data_set_is_an_mlflow_dataset_input_with_name_source_and_digest(store_uri, tmp_path):
    from tsseq.tracking import file_identity

    csv = tmp_path / "plant.csv"
    csv.write_text("time,load\n2024-01-01 00:00,1.5\n2024-01-01 01:00,2.5\n")
    inputs = {}
    for identity, options in ((catalog_identity("ETTh1"), {}), (file_identity(csv), {"context": "evaluation"})):
        with tracked_run(experiment="inputs", tracking_uri=store_uri) as run:
            run.log_dataset(identity, **options)  # the default context: training
        (inputs[identity.name],) = _run(store_uri, run.run_id).inputs.dataset_inputs
    ett, plant = inputs["ETTh1"].dataset, inputs["plant.csv"].dataset
    assert (ett.source_type, ett.digest) == ("http", catalog_identity("ETTh1").sha256[:36])
    assert json.loads(ett.source) == {"url": "https://github.com/zhouhaoyi/ETDataset"}
    assert json.loads(ett.profile)["sha256"] == catalog_identity("ETTh1").sha256
    assert plant.source_type == "local" and json.loads(plant.source) == {"uri": str(csv.resolve())}
    assert plant.digest == hashlib.sha256(csv.read_bytes()).hexdigest()[:36]
    assert {tag.key: tag.value for tag in inputs["plant.csv"].tags}["mlflow.data.context"] == "evaluation"
    assert {tag.key: tag.value for tag in inputs["ETTh1"].tags}["mlflow.data.context"] == "training"


def test_an_embedded_data_set_gets_the_digest_of_its_content():
    from tsseq.data.embedded import load_frame
    from tsseq.tracking.identity import frame_sha256

    identity = catalog_identity("co2")
    assert identity.sha256 == frame_sha256(load_frame("co2")) and len(identity.sha256) == 64
    assert identity.digest == identity.sha256[:36] and identity.source.startswith("https://www.statsmodels.org")
    assert catalog_identity("sunspots").sha256 != identity.sha256
    changed = load_frame("co2")
    changed.iloc[0, 0] += 1e-9
    assert frame_sha256(changed) != identity.sha256  # full precision: any change of a value shows


def test_estimators_are_logged_under_their_registered_preset_name(store_uri):
    from tsseq import create
    from tsseq.tracking.runs import estimator_params

    assert estimator_params(create("lstm"))["model.name"] == "lstm"
    assert estimator_params(create("segrnn"))["model.name"] == "segrnn"
    assert estimator_params(create("rnn"))["model.name"] == "rnn"
    assert estimator_params(create("lstm"), "my-label")["model.name"] == "my-label"


def test_mlflow_draws_its_artifact_bars_on_a_terminal_only():
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    read = "import os, tsseq.tracking; print(os.environ['MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR'])"
    piped = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, env=environment, check=True)
    assert piped.stdout.strip() == "false"  # stderr is a pipe here: no bars in a log
    mine = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True,
                          env={**environment, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "true"})  # fmt: skip
    assert mine.stdout.strip() == "true"  # the user's own setting wins
