"""Pinned parameters are not searched, and job errors fail before any study exists, in one line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tsseq.engine import TrainingConfig
from tsseq.errors import ConfigError, DataError
from tsseq.tuning.checks import check_study, probe_values
from tsseq.tuning.config import ParameterSpace, load_study
from tsseq.tuning.objective import Objective
from tsseq.tuning.spaces import pinned_parameters, search_space
from tsseq.tuning.study import open_study, tune

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
AR_JOB = {
    "model": {"name": "ar"},
    "validation": {"input_length": 30, "horizon": 6},
    "search_space": {"max_order": {"type": "int", "low": 1, "high": 12}},
}
ONE_EPOCH = {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False}


# ------------------------------------------------------------------------------- pinned parameters


def test_parameters_pinned_in_model_params_leave_the_family_space():
    pinned = pinned_parameters({"hidden_size": 16, "num_layers": 1, "dropout": None, "training": {"batch_size": 32}})
    assert pinned == {"hidden_size": 16, "num_layers": 1, "training.batch_size": 32}  # None pins nothing
    space = search_space("lstm", {}, pinned)
    assert not {"hidden_size", "num_layers", "training.batch_size"} & set(space)
    assert {"dropout", "training.learning_rate", "training.weight_decay"} <= set(space)
    # A TrainingConfig object pins what it sets away from the defaults, not every field.
    assert pinned_parameters({"training": TrainingConfig(epochs=2)}) == {"training.epochs": 2}


def test_a_range_for_a_pinned_parameter_is_refused_naming_both_keys_and_null_is_not():
    with pytest.raises(ConfigError, match=r"search_space\.hidden_size and model\.params\.hidden_size both set 'hidden_size'.*ambiguous"):
        search_space("lstm", {"hidden_size": ParameterSpace("int", 8, 64)}, {"hidden_size": 16})
    with pytest.raises(ConfigError, match=r"search_space\.training\.batch_size and model\.params\.training\.batch_size"):
        search_space("lstm", {"training.batch_size": ParameterSpace("categorical", choices=[64])}, {"training.batch_size": 32})
    assert "num_layers" not in search_space("lstm", {"num_layers": None}, {"num_layers": 1})  # the examples' null


def test_a_study_with_pinned_parameters_never_searches_them_and_its_summary_says_so(write_job):
    model = {"name": "lstm", "params": {"input_length": 24, "horizon": 6, "hidden_size": 16, "num_layers": 1,
                                        "training": ONE_EPOCH}}
    config, base = load_study(write_job("pinned", model=model, search_space={"training.weight_decay": None}, n_trials=2))
    result = tune(config, base_dir=base, stream=io.StringIO())
    trials = open_study(config).get_trials(deepcopy=False)
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    for trial in trials:
        assert set(trial.params) == {"dropout", "training.learning_rate"}
    assert "pinned by model.params, not searched: hidden_size = 16, num_layers = 1, training.batch_size = 32" in result.summary()


@pytest.mark.parametrize("job", sorted(PIPELINES.glob("tune_*.yaml")), ids=lambda path: path.name)
def test_the_example_jobs_pass_the_checks_and_keep_their_pinned_values(job):
    config, _ = load_study(job)  # the checks of load and of the configuration, without the data
    space = check_study(config)
    assert not set(space) & set(pinned_parameters(config.model.params))


# ------------------------------------------------------------------------------- errors of the job


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"validation": {"train_fraction": 0.9, "test_fraction": 0.2}},
         "validation.train_fraction + validation.test_fraction must be < 1, so that rows are left between them "
         "to validate on; got 0.9 + 0.2 = 1.1."),
        ({"validation": {"preset": "ETTh3"}}, "validation.preset: unknown split preset 'ETTh3'. Did you mean 'ETTh2'?"),
        ({"model": {"name": "ar"}, "search_space": {"max_order": {"type": "int", "low": 1, "high": 4}}},
         "validation.input_length: AR has no 'input_length' of its own"),
        ({"model": {"name": "lstm", "params": {"input_length": 24, "horizon": 400, "training": ONE_EPOCH}}},
         "model.params.input_length = 24 and model.params.horizon = 400 need 424 rows for a window, but the "
         "training rows are 216 (validation.train_fraction 0.7 of the 309 rows of the series)"),
        ({**AR_JOB, "validation": {"input_length": 30, "horizon": 40}},
         "validation.input_length = 30 and validation.horizon = 40 need 70 rows for a validation window, but the "
         "validation rows are 62"),
        ({"search_space": {"hidden_size": {"type": "float", "low": 8, "high": 64}, "num_layers": None}},
         "search_space.hidden_size: a float in [8, 64] draws values such as 8.0, which model 'lstm' refuses: "
         "The 'hidden_size' parameter must be an int >= 1. Got 8.0 instead."),
        ({"search_space": {"dropout": {"type": "categorical", "choices": [0.0, 1.5]}, "num_layers": None}},
         "search_space.dropout: a choice of [0.0, 1.5] draws values such as 1.5, which model 'lstm' refuses"),
        ({"model": {"name": "lstm", "params": {"input_length": 24, "horizon": 6, "hidden_size": 0, "training": ONE_EPOCH}},
          "search_space": {"hidden_size": None}},
         "model.params: The 'hidden_size' parameter must be an int >= 1. Got 0 instead."),
    ],
    ids=["fractions", "preset", "ar-input-length", "horizon-400", "validation-window", "float-for-int", "bad-choice",
         "bad-pinned-value"],
)
def test_a_job_error_fails_in_one_line_naming_the_file_and_key_before_any_study_exists(write_job, tmp_path, capfd, changes, message):
    from tsseq.cli import main

    job = write_job("faulty", **changes)
    assert main(["tune", str(job)]) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"tsseq tune: error: faulty.yaml: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err and "[W " not in err, err
    assert not (tmp_path / "optuna.db").exists()  # no study, so no failed trial


def test_a_tsseq_error_inside_a_trial_stops_the_study_in_one_line_without_optunas_traceback(write_job, monkeypatch, capfd):
    from tsseq.cli import main

    def unreadable(self, estimator, callbacks=(), **options):
        raise DataError("a check only the trial can make failed")

    monkeypatch.setattr(Objective, "fit_and_score", unreadable)
    job = write_job("in-trial", **AR_JOB)
    assert main(["tune", str(job)]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err and "[W " not in err and "failed with" not in err, err
    assert err.splitlines()[-1].startswith("tsseq tune: error: trial 0 (max_order=")
    assert err.splitlines()[-1].endswith("): a check only the trial can make failed")
    config, _ = load_study(job)
    assert [trial.state.name for trial in open_study(config).get_trials(deepcopy=False)] == ["FAIL"]


def test_probe_values_are_the_values_a_trial_can_draw_at_the_ends_and_inside_a_float_range():
    assert probe_values(ParameterSpace("int", 1.0, 10.0, step=4)) == [1, 9]
    assert probe_values(ParameterSpace("categorical", choices=["aic", "bic"])) == ["aic", "bic"]
    low, inside, high = probe_values(ParameterSpace("float", 8.0, 64.0))
    assert (low, high) == (8.0, 64.0) and 8 < inside < 64 and not inside.is_integer()
    assert all(isinstance(value, int) for value in probe_values(ParameterSpace("int", 16.0, 256.0, log=True)))


def test_a_storage_file_that_is_not_a_database_is_named_and_gets_no_lock_file(tmp_path):
    from tsseq.tuning.config import StorageConfig
    from tsseq.tuning.storage import open_storage

    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    with pytest.raises(ConfigError, match=r"notes.txt' is not a SQLite database; give a new file") as caught:
        open_storage(StorageConfig(url=f"sqlite:///{notes}"))
    assert "[SQL:" not in str(caught.value) and "sqlalche.me" not in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]  # no notes.txt.lock beside it
