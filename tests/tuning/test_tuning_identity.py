"""A study records what defines its trials' scores: the same job resumes it, another job is refused."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest

from tsseq.tuning.config import load_study
from tsseq.tuning.identity import SETTINGS_ATTR, StudyMismatchError
from tsseq.tuning.study import open_study, tune

AR_JOB = {
    "model": {"name": "ar"},
    "validation": {"input_length": 30, "horizon": 6},
    "search_space": {"max_order": {"type": "int", "low": 1, "high": 12}},
}
ONE_EPOCH = {"name": "lstm", "params": {"input_length": 24, "horizon": 6, "num_layers": 1,
                                        "training": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False}}}


def _trials(config) -> list:
    return open_study(config).get_trials(deepcopy=False)


def test_rerunning_a_job_with_another_horizon_is_refused_naming_it_and_the_ways_out(write_job, capfd):
    from tsseq.cli import main

    assert main(["tune", str(write_job("probe", model=ONE_EPOCH, n_trials=1))]) == 0
    changed = {**ONE_EPOCH, "params": {**ONE_EPOCH["params"], "horizon": 12}}
    job = write_job("probe", model=changed, n_trials=1)
    capfd.readouterr()

    assert main(["tune", str(job)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tsseq tune: error: probe.yaml: Study 'probe' in sqlite:///")
    assert "model.params.horizon: 6 in the study, 12 now" in err
    assert "--study-name" in err and "optuna delete-study --study-name probe" in err and "move its storage file aside" in err
    config, _ = load_study(write_job("probe", model=ONE_EPOCH, n_trials=1))
    assert [trial.number for trial in _trials(config)] == [0]  # no trial of the changed job was added


def test_another_dataset_is_refused_naming_the_data_and_its_sha256(write_job):
    config, base = load_study(write_job("data", n_trials=1, **AR_JOB))
    tune(config, base_dir=base, stream=io.StringIO())
    co2, base = load_study(write_job("data", data={"dataset": "co2", "missing": "interpolate"}, n_trials=1, **AR_JOB))
    with pytest.raises(StudyMismatchError) as refused:
        tune(co2, base_dir=base, stream=io.StringIO())
    message = str(refused.value)
    assert "data.dataset: sunspots in the study, co2 now" in message
    assert 'data.missing: "error" in the study, "interpolate" now' in message and "data.sha256: " in message
    assert len(_trials(config)) == 1


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"validation": {"input_length": 30, "horizon": 12}}, "validation.horizon: 6 in the study, 12 now"),
        ({"search_space": {"max_order": {"type": "int", "low": 1, "high": 24}}}, "search_space.max_order: "),
        ({"model": {"name": "ar", "params": {"criterion": "bic"}}}, 'model.params.criterion: (not set) in the study, "bic" now'),
    ],
)
def test_a_job_that_scores_its_trials_otherwise_is_refused_before_any_trial(write_job, changes, named):
    config, base = load_study(write_job("changed", **AR_JOB))
    study = open_study(config)  # created, with the job's settings recorded
    other, _ = load_study(write_job("changed", **{**AR_JOB, **changes}))
    with pytest.raises(StudyMismatchError, match=re.escape(named)):
        open_study(other)
    assert study.get_trials(deepcopy=False) == [] and study.user_attrs[SETTINGS_ATTR]["settings"]["model.name"] == "ar"


def test_settings_that_only_say_how_trials_run_are_free_to_differ_between_workers(write_job, tmp_path):
    from argparse import Namespace

    from tsseq.tuning.cli import apply_overrides

    config, base = load_study(write_job("workers", model=ONE_EPOCH))
    tune(dataclasses.replace(config, n_trials=1), base_dir=base, stream=io.StringIO())
    worker = Namespace(study_name=None, storage=None, n_trials=1, timeout=30.0, pruner="median", seed=7,
                       no_tracking=True, checkpoint_dir=str(tmp_path / "checkpoints"), threads=1)
    other = apply_overrides(dataclasses.replace(config, refit=True), worker)
    assert other.model.params["training"]["threads"] == 1  # result-neutral: not compared
    result = tune(other, base_dir=base, stream=io.StringIO())
    assert result.states == {"COMPLETE": 2}


def test_a_study_created_before_settings_were_recorded_is_reopened_with_a_warning_then_records_them(write_job):
    import optuna

    from tsseq.tuning.storage import open_storage

    config, base = load_study(write_job("legacy", n_trials=1, **AR_JOB))
    old = optuna.create_study(study_name="legacy", storage=open_storage(config.storage))
    old.enqueue_trial({"max_order": 3})
    old.optimize(lambda trial: float(trial.suggest_int("max_order", 1, 12)), n_trials=1)  # as tsseq did, unrecorded
    assert SETTINGS_ATTR not in old.user_attrs

    stream = io.StringIO()
    result = tune(config, base_dir=base, stream=stream)
    assert "[legacy] warning: Study 'legacy' in sqlite:///" in stream.getvalue()
    assert "created before tsseq recorded the settings" in stream.getvalue() and "its 1 trials" in stream.getvalue()
    assert result.states == {"COMPLETE": 2}
    assert SETTINGS_ATTR in open_study(config).user_attrs  # from now on, another job is refused
    other, _ = load_study(write_job("legacy", n_trials=1, **{**AR_JOB, "validation": {"input_length": 30, "horizon": 3}}))
    with pytest.raises(StudyMismatchError, match="validation.horizon: 6 in the study, 3 now"):
        open_study(other)


def test_a_data_file_is_identified_by_its_bytes_not_its_path(write_job, tmp_path):
    import numpy as np
    import pandas as pd

    index = pd.date_range("2020-01-01", periods=200, freq="D", name="time")
    frame = pd.DataFrame({"y": np.sin(np.arange(200) / 4) + 0.1 * np.random.default_rng(0).standard_normal(200)}, index=index)
    frame.to_csv(tmp_path / "a.csv")
    (tmp_path / "moved").mkdir()
    frame.to_csv(tmp_path / "moved" / "b.csv")  # the same bytes elsewhere: another machine's path
    data = {"csv": "a.csv", "timestamp_column": "time"}
    config, base = load_study(write_job("file", data=data, n_trials=1, **AR_JOB))
    tune(config, base_dir=base, stream=io.StringIO())
    moved = dataclasses.replace(config, data=dataclasses.replace(config.data, csv=str(tmp_path / "moved" / "b.csv")))
    assert tune(moved, base_dir=base, stream=io.StringIO()).states == {"COMPLETE": 2}

    frame.iloc[:100].to_csv(tmp_path / "a.csv")  # other bytes at the same path
    with pytest.raises(StudyMismatchError, match=r"data\.sha256: [0-9a-f]{12} in the study, [0-9a-f]{12} now"):
        tune(config, base_dir=base, stream=io.StringIO())
    assert len(_trials(dataclasses.replace(config, data=moved.data))) == 2
