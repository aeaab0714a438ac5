"""Search spaces: every family yields trainable configurations; YAML overrides are checked by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq import registry
from tsseq.config import from_mapping
from tsseq.engine import TrainingConfig
from tsseq.errors import ConfigError
from tsseq.tuning.config import ParameterSpace, StudyConfig
from tsseq.tuning.spaces import FAMILIES, configure, family, search_space, searchable, suggest

FAMILY_MODELS = [name for name in registry.names() if family(name) is not None]


def _series(rows: int = 160) -> pd.DataFrame:
    steps = np.arange(rows)
    values = np.sin(2 * np.pi * steps / 12) + 0.1 * np.random.default_rng(0).standard_normal(rows)
    return pd.DataFrame({"y": values}, index=pd.date_range("2000-01-01", periods=rows, freq="h"))


def _trials(n: int, seed: int = 0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask() for _ in range(n)]


def test_the_recurrent_seq2seq_and_autoregressive_families_cover_their_models():
    assert {family(name) for name in ("rnn", "lstm", "gru", "mut1", "mut2", "mut3", "segrnn")} == {"recurrent"}
    assert family("seq2seq") == "seq2seq" and family("ar") == "autoregressive"
    assert family("naive") is None


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_parameter_belongs_to_a_model_of_the_family(name):
    models = [model for model in FAMILY_MODELS if family(model) == name]
    if not models:
        pytest.skip(f"no model of the {name} family is registered")
    known = set().union(*(searchable(model) for model in models))
    assert set(FAMILIES[name]()) <= known


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_sampled_configurations_of_every_family_model_train_and_forecast(name):
    space = search_space(name)
    assert space and set(space) <= searchable(name)
    frame = _series()
    for trial in _trials(2):
        estimator = registry.create(name)
        if "training" in registry.parameters(name):
            small = {"input_length": 24, "horizon": 4, "training": TrainingConfig(epochs=1, device="cpu")}
            estimator.set_params(**{key: value for key, value in small.items() if key in registry.parameters(name)})
            if name == "segrnn":
                estimator.set_params(segment_length=6)  # SegRNN cuts the 24 input steps into segments
        params = suggest(trial, space)
        configure(estimator, params)
        forecast = estimator.fit(frame).predict(4)
        assert forecast.shape == (4, 1) and np.isfinite(forecast.to_numpy()).all()
        for key, value in params.items():
            if key.startswith("training."):
                assert getattr(estimator.training_config(), key.removeprefix("training.")) == value
            else:
                assert estimator.get_params()[key] == value


def test_overrides_replace_add_and_drop_family_parameters():
    overrides = {
        "hidden_size": ParameterSpace("categorical", choices=[8, 16]),
        "bidirectional": ParameterSpace("categorical", choices=[False, True]),
        "dropout": None,
    }
    space = search_space("lstm", overrides)
    assert space["hidden_size"].choices == [8, 16] and "bidirectional" in space and "dropout" not in space
    assert space["training.learning_rate"] == search_space("lstm")["training.learning_rate"]


def test_an_override_of_an_unknown_parameter_is_named_with_the_closest_one():
    with pytest.raises(ConfigError, match=r"search_space\.hiden_size: 'lstm' has no parameter 'hiden_size'\. Did you mean 'hidden_size'"):
        search_space("lstm", {"hiden_size": ParameterSpace("int", 1, 4)})
    with pytest.raises(ConfigError, match=r"search_space\.training\.learnig_rate.*Did you mean 'training\.learning_rate'"):
        search_space("lstm", {"training.learnig_rate": ParameterSpace("float", 1e-4, 1e-2)})


def test_a_model_without_a_family_needs_a_declared_space():
    with pytest.raises(ConfigError, match=r"'naive' has no search space left.*declare the parameters"):
        search_space("naive")
    space = search_space("seasonal_naive", {"season_length": ParameterSpace("categorical", choices=[1, 24])})
    assert list(space) == ["season_length"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, r"search_space\.x: 'low' must be <= 'high'; got low=1\.0, high=0\.1"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, r"search_space\.x: a log-scale parameter needs low > 0"),
        ({"type": "int", "low": 1.5, "high": 4}, r"search_space\.x: an int parameter needs an integer 'low'; got 1\.5"),
        ({"type": "int", "high": 4}, r"search_space\.x: a int parameter needs a finite number 'low'; got None"),
        ({"type": "categorical"}, r"search_space\.x: a categorical parameter needs a non-empty list 'choices'"),
        ({"type": "categorical", "choices": [[1, 2]]}, r"search_space\.x: choices must be None, booleans, numbers or strings"),
        ({"type": "float", "low": 0.1, "high": 1.0, "choices": [1]}, r"search_space\.x: 'choices' is for type 'categorical'"),
        ({"type": "uniform", "low": 0, "high": 1}, r"search_space\.x\.type: expected one of 'float', 'int', 'categorical'; got 'uniform'"),
        ({"type": "float", "lo": 0, "high": 1}, r"search_space\.x: unknown key 'lo'\. Did you mean 'low'\?"),
    ],
)
def test_yaml_overrides_are_validated_with_the_parameter_named(spec, message):
    mapping = {"name": "s", "data": {"dataset": "sunspots"}, "model": {"name": "lstm"}, "search_space": {"x": spec}}
    with pytest.raises(ConfigError, match=message):
        from_mapping(StudyConfig, mapping, where="study.yaml")


def test_a_study_mapping_converts_one_to_one_and_rejects_unknown_keys():
    mapping = {
        "name": "s",
        "data": {"dataset": "sunspots"},
        "model": {"name": "lstm", "params": {"hidden_size": 8}},
        "search_space": {"num_layers": {"type": "int", "low": 1, "high": 2}, "dropout": None},
        "pruner": {"kind": "hyperband", "min_resource": 2},
        "storage": {"url": "postgresql+psycopg2://u@h/db", "heartbeat_interval": 5},
    }
    config = from_mapping(StudyConfig, mapping, where="study.yaml")
    assert config.search_space == {"num_layers": ParameterSpace("int", 1.0, 2.0), "dropout": None}
    assert config.pruner.kind == "hyperband" and config.storage.heartbeat_interval == 5 and config.tracking.enabled
    with pytest.raises(ConfigError, match=r"study\.yaml\.pruner: unknown key 'knd'\. Did you mean 'kind'\?"):
        from_mapping(StudyConfig, {**mapping, "pruner": {"knd": "median"}}, where="study.yaml")
    with pytest.raises(ConfigError, match=r"Give n_trials or timeout_s"):
        from_mapping(StudyConfig, {**mapping, "n_trials": None}, where="study.yaml")
