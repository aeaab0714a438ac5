"""Studies end to end (in process, SQLite): pruning, resume after a crash, seeding, tracking, the CLI."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from tsseq.tuning.config import load_study
from tsseq.tuning.objective import Objective
from tsseq.tuning.study import PARENT_RUN_ATTR, open_study, tune

AR_JOB = {
    "model": {"name": "ar"},
    "validation": {"input_length": 30, "horizon": 6},
    "search_space": {"max_order": {"type": "int", "low": 1, "high": 12}},
}


def _states(study) -> list[str]:
    return [trial.state.name for trial in study.get_trials(deepcopy=False)]


def test_a_trial_with_a_huge_learning_rate_is_pruned_at_its_first_epoch(write_job):
    config, base = load_study(
        write_job(
            "pruning",
            pruner={"kind": "median", "n_startup_trials": 2},
            model={"name": "lstm", "params": {"input_length": 24, "horizon": 6, "num_layers": 1,
                                              "training": {"epochs": 6, "device": "cpu"}}},
            search_space={**_search(), "training.learning_rate": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}},
        )
    )
    study = open_study(config)
    for learning_rate in (1e-2, 2e-2, 10.0):
        study.enqueue_trial({"hidden_size": 8, "training.learning_rate": learning_rate})
    result = tune(dataclasses.replace(config, n_trials=3), base_dir=base)

    good, other, bad = study.get_trials(deepcopy=False)
    assert [good.state.name, other.state.name, bad.state.name] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert len(good.intermediate_values) == len(other.intermediate_values) == 6
    assert list(bad.intermediate_values) == [0]  # stopped by the pruner after its first of 6 epochs
    assert "diverged" not in bad.user_attrs
    assert bad.intermediate_values[0] > max(good.intermediate_values[0], other.intermediate_values[0])
    assert result.states == {"COMPLETE": 2, "PRUNED": 1} and result.epochs == 13


def test_a_diverging_trial_is_pruned_with_the_reason_and_the_study_goes_on(write_job):
    lstm = {"input_length": 24, "horizon": 6, "num_layers": 1, "training": {"epochs": 3, "device": "cpu", "optimizer": "sgd"}}
    space = {**_search(), "training.learning_rate": {"type": "float", "low": 1e-3, "high": 1e6, "log": True}}
    config, base = load_study(write_job("diverging", model={"name": "lstm", "params": lstm}, search_space=space))
    study = open_study(config)
    study.enqueue_trial({"hidden_size": 8, "training.learning_rate": 1e6})  # SGD: an infinite loss in epoch 0
    study.enqueue_trial({"hidden_size": 8, "training.learning_rate": 1e-2})
    result = tune(dataclasses.replace(config, n_trials=2), base_dir=base)

    diverged, healthy = study.get_trials(deepcopy=False)
    assert diverged.state.name == "PRUNED" and "Training diverged" in diverged.user_attrs["diverged"]
    assert healthy.state.name == "COMPLETE" and result.best_trial == 1


def _search() -> dict:
    return {
        "hidden_size": {"type": "int", "low": 4, "high": 16},
        "num_layers": None,
        "dropout": None,
        "training.batch_size": None,
        "training.weight_decay": None,
    }


def test_the_reported_losses_are_the_engine_validation_losses_and_the_score_its_best_epoch(write_job):
    config, base = load_study(write_job("reports", n_trials=1))
    result = tune(config, base_dir=base)
    study = open_study(config)
    (trial,) = study.get_trials(deepcopy=False)
    from tsseq.pipeline import load_frame
    from tsseq.tuning.objective import build_estimator

    refitted = build_estimator(config, trial.params)
    objective = Objective(config, load_frame(config.data), {})
    assert objective.fit_and_score(refitted) == pytest.approx(result.best_value, rel=1e-6)  # seeded training
    assert list(trial.intermediate_values.values()) == pytest.approx(refitted.history_.val_loss, rel=1e-6)


def test_a_study_resumes_after_a_crash_keeping_its_trials_and_best(write_job, monkeypatch):
    config, base = load_study(write_job("resume", **AR_JOB))
    first = tune(config, base_dir=base)
    assert first.states == {"COMPLETE": 3}

    def power_cut(self, estimator, callbacks=(), **options):
        raise KeyboardInterrupt  # what Ctrl-C or a dying worker leaves: a trial that never finished

    with monkeypatch.context() as patch:
        patch.setattr(Objective, "fit_and_score", power_cut)
        with pytest.raises(KeyboardInterrupt):
            tune(config, base_dir=base)

    second = tune(config, base_dir=base)
    study = open_study(config)
    assert _states(study) == ["COMPLETE"] * 3 + ["FAIL"] + ["COMPLETE"] * 3
    assert second.states == {"COMPLETE": 6, "FAIL": 1}
    assert second.best_value == min(t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE")
    assert second.best_value <= first.best_value
    assert study.trials[first.best_trial].value == first.best_value  # the first run's best is still there


def test_a_seeded_sampler_draws_the_same_parameters_twice(write_job):
    def draws(name: str, seed: int) -> list[dict]:
        config, base = load_study(write_job(name, n_trials=5, sampler={"seed": seed, "n_startup_trials": 2}, **AR_JOB))
        tune(config, base_dir=base)
        return [trial.params for trial in open_study(config).get_trials(deepcopy=False)]

    once, twice = draws("seeded-a", 7), draws("seeded-b", 7)
    assert once == twice and len(once) == 5
    assert draws("seeded-c", 8) != once


def test_the_cli_runs_a_job_with_command_line_overrides(write_job, tmp_path, capsys):
    from tsseq.cli import main

    job = write_job("cli", **AR_JOB)
    storage = tmp_path / "elsewhere" / "studies.db"
    code = main(["tune", str(job), "--study-name", "renamed", "--storage", str(storage), "--n-trials", "2", "--pruner", "hyperband"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"study 'renamed' in sqlite:///{storage}: 2 complete" in captured.out
    assert "[renamed] trial 1 COMPLETE" in captured.err
    assert storage.is_file()


def test_the_cli_names_a_bad_key_of_the_job_file(write_job, capsys):
    from tsseq.cli import main

    job = write_job("bad", pruner={"kind": "median", "n_startup_trial": 1})
    assert main(["tune", str(job)]) == 2
    assert "bad.yaml: pruner: unknown key 'n_startup_trial'. Did you mean 'n_startup_trials'?" in capsys.readouterr().err


def test_each_trial_is_a_child_run_of_the_study_run_and_the_best_is_refitted_and_logged(write_job, tmp_path, empty_mlflow_store):
    import mlflow

    uri = empty_mlflow_store(tmp_path / "mlflow" / "mlflow.db")
    config, base = load_study(
        write_job(
            "tracked",
            n_trials=2,
            tracking={"enabled": True, "experiment": "tuning-test", "tracking_uri": uri},
            refit=True,
            best_model_path=str(tmp_path / "best.pt"),
            pruner={"kind": "median", "n_startup_trials": 1},
            model={"name": "lstm", "params": {"input_length": 24, "horizon": 6, "num_layers": 1,
                                              "training": {"epochs": 2, "device": "cpu"}}},
            search_space={**_search(), "training.learning_rate": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}},
        )
    )
    study = open_study(config)
    study.enqueue_trial({"hidden_size": 8, "training.learning_rate": 1e-2})
    study.enqueue_trial({"hidden_size": 8, "training.learning_rate": 10.0})  # pruned after its first epoch
    result = tune(config, base_dir=base)
    study.enqueue_trial({"hidden_size": 12, "training.learning_rate": 1e-2})
    resumed = tune(dataclasses.replace(config, n_trials=1, refit=False), base_dir=base)

    client = mlflow.MlflowClient(uri)
    parent = client.get_run(result.mlflow_run_id)
    assert resumed.mlflow_run_id == parent.info.run_id == open_study(config).user_attrs[PARENT_RUN_ATTR]
    assert parent.info.status == "FINISHED" and parent.data.tags["best.trial"] == "0"
    assert parent.data.params["model.name"] == "lstm" and parent.data.params["dataset.name"] == "sunspots"
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    roles = sorted((run.data.tags["tsseq.tuning.role"], run.data.tags["optuna.trial"], run.info.status) for run in children)
    assert roles == [("best", "0", "FINISHED"), ("trial", "0", "FINISHED"), ("trial", "1", "KILLED"), ("trial", "2", "FINISHED")]
    trial_zero = next(run for run in children if run.data.tags["tsseq.tuning.role"] == "trial" and run.data.tags["optuna.trial"] == "0")
    assert trial_zero.data.params["model.hidden_size"] == "8" and trial_zero.data.params["training.learning_rate"] == "0.01"
    assert trial_zero.data.metrics["validation_mse"] == pytest.approx(study.trials[0].value)
    assert len(client.get_metric_history(trial_zero.info.run_id, "val_loss")) == 2
    best = next(run for run in children if run.data.tags["tsseq.tuning.role"] == "best")
    assert best.data.metrics["validation_mse"] == pytest.approx(result.best_value) and "tsseq.model_uri" in best.data.tags
    from tsseq.persistence import load

    assert load(tmp_path / "best.pt").hidden_size == 8

    # The pruned trial's run holds the epoch that pruned it (its callback logs before the pruner raises).
    pruned = next(run for run in children if run.info.status == "KILLED")
    assert [m.step for m in client.get_metric_history(pruned.info.run_id, "val_loss")] == [0] == list(study.trials[1].intermediate_values)
    # Every run records the data set (the UI's Dataset column) and the preset's name, lstm, not rnn.
    for run in [parent, *children]:
        (dataset_input,) = client.get_run(run.info.run_id).inputs.dataset_inputs
        assert dataset_input.dataset.name == "sunspots" and len(dataset_input.dataset.digest) == 36
        assert run.data.params["model.name"] == "lstm"
    # The champion has a test metric: the refitted best scored on the rows no trial saw.
    assert best.data.metrics["test_mse"] == pytest.approx(result.best_test_mse) and result.best_test_mse > 0
    assert parent.data.metrics["best_test_mse"] == pytest.approx(result.best_test_mse)
    from tsseq.tracking import compare_runs

    trials = compare_runs("tuning-test", metric="validation_mse", tracking_uri=uri)
    assert trials.pruned == 1 and set(trials.table["model"]) == {"lstm"} and len(trials.table) == 3  # 2 trials, best
    assert list(compare_runs("tuning-test", metric="mse", tracking_uri=uri).table["run_id"]) == [best.info.run_id]


def test_the_refitted_best_configuration_is_scored_on_the_test_rows(write_job):
    from tsseq.pipeline import load_frame
    from tsseq.tuning.objective import build_estimator, split_rows, windows_mse

    config, base = load_study(write_job("tested", refit=True, **AR_JOB))
    result = tune(config, base_dir=base)
    refitted = build_estimator(config, result.best_params)
    split = split_rows(load_frame(config.data, base), config.validation, 30)
    refitted.fit(split.train)
    assert result.best_test_mse == pytest.approx(windows_mse(refitted, split.train, split.test, 30, 6), rel=1e-9)
    assert f"test MSE {result.best_test_mse:.6g}" in result.summary()


def test_workers_that_start_a_new_study_together_agree_on_one_study_run(write_job, tmp_path, monkeypatch, empty_mlflow_store):
    import mlflow
    import optuna

    from tsseq.tuning import study as study_module
    from tsseq.tuning.storage import open_storage

    uri = empty_mlflow_store(tmp_path / "mlflow.db")
    config, _ = load_study(write_job("together", tracking={"enabled": True, "experiment": "race", "tracking_uri": uri}))
    study = open_study(config)
    client = mlflow.MlflowClient(uri)
    # Both workers found no run recorded on the study: each creates one, the later one elects the first.
    first = study_module._new_study_run(study, config, client)
    second = study_module._new_study_run(study, config, client)
    assert second == first == study.user_attrs[PARENT_RUN_ATTR]
    experiment = client.get_experiment_by_name("race").experiment_id
    active = client.search_runs([experiment], "tags.`tsseq.tuning.role` = 'study'")
    deleted = client.search_runs([experiment], "", run_view_type=mlflow.entities.ViewType.DELETED_ONLY)
    assert [run.info.run_id for run in active] == [first] and len(deleted) == 1
    assert active[0].data.params["model.name"] == "lstm"  # the elected run alone logs the configuration

    # A study of the same name created later (the old one deleted): a run of its own, the old one left alone.
    monkeypatch.setattr(study_module, "STUDY_RUN_RACE_S", 0.0)
    optuna.delete_study(study_name=config.name, storage=open_storage(config.storage))
    study = open_study(config)
    again = study_module._new_study_run(study, config, client)
    assert again != first and study.user_attrs[PARENT_RUN_ATTR] == again
    assert client.get_run(first).info.lifecycle_stage == "active"


HELD_CLI = Path(__file__).parents[1] / "held_cli.py"  # `tsseq ...` imported now, run once a file exists


def test_three_tune_workers_starting_together_on_fresh_stores_all_succeed(write_job, tmp_path, wait_until_ready):
    """A fresh study database and a fresh MLflow store, three workers at the same moment (issue 17)."""
    import os
    import subprocess
    import sys

    import optuna
    from mlflow import MlflowClient

    job = write_job("race", tracking={"enabled": True}, **AR_JOB)
    barrier, uri = tmp_path / "go", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    env = {**os.environ, "TSSEQ_TRACKING_URI": uri}
    workers = [
        subprocess.Popen([sys.executable, str(HELD_CLI), str(barrier), "tune", str(job), "--n-trials", "2", "--seed",
                          str(seed)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in range(3)
    ]  # fmt: skip
    wait_until_ready(workers, [tmp_path / f"go.ready-{worker.pid}" for worker in workers])
    barrier.touch()
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], [stderr[-2000:] for _, stderr in results]

    study = optuna.load_study(study_name="race", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert _states(study) == ["COMPLETE"] * 6
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id])
    roles = sorted(run.data.tags.get("tsseq.tuning.role") for run in runs)
    assert roles == ["study"] + ["trial"] * 6  # one study run, elected by the three
    assert {run.info.status for run in runs} == {"FINISHED"}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_each_trial_is_one_line_and_a_terminal_also_gets_a_bar_of_trials(write_job, terminal):
    config, base = load_study(write_job(f"lines-{terminal}", n_trials=3, **AR_JOB))
    stream = _Terminal() if terminal else io.StringIO()
    tune(config, base_dir=base, stream=stream)
    text = stream.getvalue()
    for number in range(3):
        assert f"[lines-{terminal}] trial {number} COMPLETE value" in text
    assert ("\r" in text and "trials" in text and "3/3" in text) is terminal  # tqdm redraws with \r


def test_a_best_trial_already_refitted_is_not_refitted_again(write_job, tmp_path, empty_mlflow_store):
    import io

    import mlflow

    from tsseq.tuning.study import REFIT_ATTR

    uri = empty_mlflow_store(tmp_path / "mlflow" / "mlflow.db")
    config, base = load_study(
        write_job("twice", n_trials=1, refit=True, best_model_path=str(tmp_path / "best.pt"),
                  tracking={"enabled": True, "experiment": "refit-once", "tracking_uri": uri}, **AR_JOB)  # fmt: skip
    )
    study = open_study(config)
    study.enqueue_trial({"max_order": 6})
    first_log = io.StringIO()
    first = tune(config, base_dir=base, stream=first_log)
    record = open_study(config).user_attrs[REFIT_ATTR]
    assert record["trial"] == 0 and record["path"] == str(tmp_path / "best.pt") and record["run_id"]
    written = (tmp_path / "best.pt").stat().st_mtime_ns
    from tsseq.persistence import load

    assert load(tmp_path / "best.pt").max_order == 6  # an AR model file (AR has no save method of its own)

    study.enqueue_trial({"max_order": 1})  # a second worker's trial, worse: the best stays trial 0
    second_log = io.StringIO()
    second = tune(config, base_dir=base, stream=second_log)
    assert "trial 0's configuration is refitted already" in second_log.getvalue()
    assert f"MLflow run {record['run_id']}" in second_log.getvalue()
    assert second.best_model_path == first.best_model_path and second.best_test_mse == pytest.approx(first.best_test_mse)
    assert (tmp_path / "best.pt").stat().st_mtime_ns == written
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("refit-once").experiment_id
    bests = client.search_runs([experiment], "tags.`tsseq.tuning.role` = 'best'")
    assert len(bests) == 1

    (tmp_path / "best.pt").unlink()  # the model file is gone: the next worker writes it again
    study.enqueue_trial({"max_order": 2})
    third_log = io.StringIO()
    tune(config, base_dir=base, stream=third_log)
    assert "refitted trial 0's configuration" in third_log.getvalue() and (tmp_path / "best.pt").is_file()
