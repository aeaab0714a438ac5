"""Pipeline pieces: protocol defaults for model parameters, and the windows protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsseq.config import EvaluationConfig, ModelConfig
from tsseq.pipeline import build_model, score_windows


def test_protocol_defaults_fill_only_what_the_model_takes_and_leaves_out():
    defaults = {"input_length": 48, "horizon": 12}
    gru = build_model(ModelConfig("gru", {"horizon": 6}), defaults)
    assert (gru.input_length, gru.horizon, gru.cell) == (48, 6, "gru")
    assert build_model(ModelConfig("naive"), defaults).get_params() == {}


def test_windows_protocol_scores_every_test_window():
    index = pd.date_range("2020-01-01", periods=300, freq="h")
    frame = pd.DataFrame({"x": np.sin(np.arange(300) / 5.0)}, index=index)
    evaluation = EvaluationConfig(protocol="windows", input_length=24, horizon=6, scale="standard")
    models = [ModelConfig("naive"), ModelConfig("gru", {"hidden_size": 8, "training": {"epochs": 1}})]
    scores, protocol = score_windows(frame, models, evaluation)
    test_rows = int(0.2 * 300) + 24  # the test fraction, plus input_length rows of context before it
    assert protocol["n_windows"] == test_rows - 24 - 6 + 1
    assert list(scores.index) == ["naive", "gru"] and np.isfinite(scores.to_numpy()).all()
