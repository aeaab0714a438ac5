"""The contract every registered model follows, run over the whole registry.

A new model gets these checks for free by registering itself: the checks of
:func:`tsseq.testing.check_forecaster` (keyword-only constructor and ``fit``
arguments, clone and nested get_params/set_params, fit returns self, forecast shapes
and timestamps, the long (many-series) layout, seeded determinism, batched window
forecasts, score, save/load giving the same forecasts, quantiles or the advice to get
them), each a test here, and a neural model's tiny overfit. Neural models run in a
tiny configuration.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tsseq import registry, testing
from tsseq.errors import ConfigError
from tsseq.estimators import NeuralForecaster

# Small enough for the whole registry to run in seconds; the architecture is the preset one (the token models'
# vocabulary is smaller: PARAMS).
TINY = {"input_length": 24, "horizon": testing.HORIZON, "hidden_size": 8, "training": {"epochs": 2, "batch_size": 64}}
# Models that need parameters of their own on the checks' small frames. auto: its horizon, and the
# baselines and their ensembles only (the frames are too short for its networks anyway).
PARAMS = {
    "auto": {
        "horizon": testing.HORIZON, "input_length": 24, "candidates": ["naive", "seasonal_naive", "ar", "ensemble"],
        "verbose": False,
    },
    # The token models' preset vocabulary (4095 bins) makes their output layer and cross-entropy 16 times wider
    # than the rest of the tiny model: seconds a fit. 255 bins (the tokenizer's and the tokens' tests use as few)
    # keep the architecture and every path of the checks and the overfit.
    "token_gru": {"n_bins": 255},
    "token_transformer": {"n_bins": 255},
}


@pytest.fixture(params=registry.names())
def model(request):
    model = registry.create(request.param, **PARAMS.get(request.param, {}))
    return model.set_params(**TINY) if isinstance(model, NeuralForecaster) else model


def test_the_manifest_names_every_registered_model_and_the_module_that_registers_it():
    registry.load_all()
    registered = {name: cls.__module__ for name, cls in registry._REGISTRY.items() if cls.__module__.startswith("tsseq.")}
    assert registered == registry.MANIFEST  # tsseq's own models; a test's or another package's may be registered too
    assert set(registry.MANIFEST) <= set(registry.names())


def test_get_imports_only_the_module_of_the_model_asked_for():
    code = (
        "import sys; from tsseq import registry; registry.get('ar'); registry.create('naive'); "
        "names = registry.names(); "
        "print(','.join(m for m in ('torch', 'tsseq.estimators', 'tsseq.conformal', 'mlflow', 'optuna') if m in sys.modules), "
        "len(names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(registry.MANIFEST))]  # nothing heavy loaded, yet every name listed


def test_an_unknown_name_lists_the_manifest_and_a_stale_manifest_line_is_named(monkeypatch):
    with pytest.raises(ConfigError, match=r"Unknown model 'lstn'\. Did you mean 'lstm'\?.*segrnn"):
        registry.get("lstn")
    monkeypatch.setitem(registry.MANIFEST, "ghost", "tsseq.baselines")
    with pytest.raises(RuntimeError, match="MANIFEST says tsseq.baselines registers 'ghost'"):
        registry.get("ghost")


def test_registry_lists_the_baselines_and_the_recurrent_family():
    baselines = {"ar", "naive", "seasonal_naive", "drift", "mean", "naive2"}
    recurrent = {"rnn", "lstm", "gru", "mut1", "mut2", "mut3", "segrnn", "seq2seq"}
    assert baselines | recurrent <= set(registry.names())
    assert registry.create("lstm").cell == "lstm" and registry.create("lstm", cell="gru").cell == "gru"


def test_a_model_is_named_by_the_preset_it_matches_best():
    registry.load_all()
    assert all(registry.name_of(registry.create(name)) == name for name in registry.names())
    # A SegRNN given another segment and size is still one, not the GRU whose one preset argument it also matches.
    assert registry.name_of(registry.create("segrnn", hidden_size=8, segment_length=13)) == "segrnn"
    assert registry.name_of(registry.create("rnn", hidden_size=128)) == "rnn"  # one of segrnn's seven: too few
    assert registry.name_of(registry.create("rnn", cell="gru", num_layers=3)) == "gru"


@pytest.mark.parametrize("check", testing.CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_contract(model, check):
    check(model)  # a check that does not apply raises unittest.SkipTest: a skip


def test_neural_models_overfit_a_tiny_series(model):
    if not isinstance(model, NeuralForecaster):
        pytest.skip("closed-form baseline: nothing is trained")
    steps = np.arange(72)
    frame = pd.DataFrame(
        {"a": np.sin(2 * np.pi * steps / 12)}, index=pd.date_range("2022-01-01", periods=72, freq="h")
    )
    model.set_params(
        input_length=24,
        horizon=4,
        hidden_size=16,
        validation_fraction=0.0,
        training={"epochs": 60, "batch_size": 64, "learning_rate": 0.02},
    )
    model.fit(frame)
    assert model.history_.train_loss[-1] < 0.05 * model.history_.train_loss[0]
