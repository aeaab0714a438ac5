"""attention_weights of transformer estimators fitted with covariates: the attention of the forecast actually made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.data.covariates import WindowCovariates
from tsseq.errors import ConfigError, DataError
from tsseq.estimators.transformer import TransformerForecaster
from tsseq.estimators.transformer_seq2seq import DecoderOnlyForecaster, TransformerSeq2SeqForecaster
from tsseq.nn.transformer import attention_weights, record_attention

HORIZON, LENGTH, ROWS = 4, 16, 160
TRAINING = {"epochs": 2, "batch_size": 32, "learning_rate": 0.005, "seed": 0}


def data(seed: int = 0):
    """(y, past, future, static) hourly; the covariate frames run HORIZON rows past y."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=ROWS + HORIZON, freq="h")
    promo = (rng.random(len(index)) < 0.3).astype(float)
    sensor = rng.normal(size=len(index))
    values = np.sin(2 * np.pi * np.arange(len(index)) / 12) + promo + 0.3 * np.roll(sensor, 1)
    y = pd.DataFrame({"y": values}, index=index).iloc[:ROWS]
    past = pd.DataFrame({"sensor": sensor}, index=index)
    future = pd.DataFrame({"promo": promo}, index=index)
    static = pd.DataFrame({"size": [3.0], "region": ["north"]})
    return y, past, future, static


MODELS = {
    "transformer_seq2seq": lambda: TransformerSeq2SeqForecaster(
        input_length=LENGTH, horizon=HORIZON, hidden_size=8, n_heads=2, training=TRAINING
    ),
    "decoder_only": lambda: DecoderOnlyForecaster(
        input_length=LENGTH, horizon=HORIZON, hidden_size=8, n_heads=2, patch_length=2, training=TRAINING
    ),
    "transformer": lambda: TransformerForecaster(
        input_length=LENGTH, horizon=HORIZON, hidden_size=8, n_heads=2, d_ff=16, num_layers=1, training=TRAINING
    ),
}


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request):
    y, past, future, static = data()
    model = MODELS[request.param]().fit(y, past_covariates=past, future_covariates=future, static_covariates=static)
    return request.param, model, (y, past, future, static)


def test_attention_weights_with_covariates_are_those_of_the_forecast_predict_makes(fitted):
    name, model, (y, past, future, static) = fitted
    with record_attention(model.module_):
        forecast = model.predict(HORIZON, future_covariates=future)
        expected = {key: value.numpy() for key, value in attention_weights(model.module_).items()}
    weights = model.attention_weights(future_covariates=future)
    assert np.isfinite(forecast.to_numpy()).all()
    assert weights.keys() == expected.keys() and weights
    for key, value in weights.items():
        np.testing.assert_array_equal(value, expected[key])
        np.testing.assert_allclose(value.sum(axis=-1), 1.0, rtol=1e-5)  # every row a softmax over its keys
    if name == "transformer_seq2seq":
        assert weights["decoder.layers.0.cross_attention"].shape == (1, 2, HORIZON, LENGTH)
        assert weights["decoder.layers.0.self_attention"].shape == (1, 2, HORIZON, HORIZON)
    elif name == "transformer":
        assert weights["encoder.layers.0.attention"].shape == (1, 2, LENGTH, LENGTH)
    else:  # 8 context patches of 2 rows, 2 forecast patches: 8 + 2 - 1 tokens in the last rollout step
        assert weights["decoder.layers.0.attention"].shape == (1, 2, 9, 9)

    # The same forecast from the last window given with its covariates (predict_windows' form): the same weights.
    rows = slice(ROWS - LENGTH, ROWS + HORIZON)  # the window's rows and its horizon in the covariate frames
    windows = WindowCovariates(
        past=past.to_numpy()[None, ROWS - LENGTH : ROWS], future=future.to_numpy()[None, rows],
        static_numeric=np.array([[3.0]]), static_codes=np.array([[0]]),
    )
    given = model.attention_weights(y.to_numpy()[None, -LENGTH:], covariates=windows)
    for key, value in weights.items():
        np.testing.assert_allclose(given[key], value, rtol=1e-5, atol=1e-6)


def test_attention_weights_of_windows_with_covariates_in_passes_of_one_engine_batch(fitted):
    name, model, (y, past, future, static) = fitted
    origins = np.array([ROWS - 30, ROWS - 11, ROWS])  # three windows, the last one predict's
    steps = origins[:, None] - LENGTH + np.arange(LENGTH + HORIZON)  # (3, L + H) rows of each window and horizon
    values = y.to_numpy()[steps[:, :LENGTH]]  # (3, L, 1)
    windows = WindowCovariates(
        past=past.to_numpy()[steps[:, :LENGTH]], future=future.to_numpy()[steps],
        static_numeric=np.full((3, 1), 3.0), static_codes=np.zeros((3, 1), dtype=np.int64),
    )
    together = model.attention_weights(values, covariates=windows)
    try:  # one window per engine batch: three recorded passes, each with its window's covariates
        one_by_one = model.set_params(training__eval_batch_size=1).attention_weights(values, covariates=windows)
    finally:
        model.set_params(training__eval_batch_size=None)
    last = model.attention_weights(future_covariates=future)
    for key, value in together.items():
        assert value.shape[0] == 3
        np.testing.assert_allclose(one_by_one[key], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value[2:], last[key], rtol=1e-5, atol=1e-6)
        assert not np.allclose(value[0], value[1])  # each window's own attention


def test_a_future_covariate_inside_the_horizon_moves_the_attention_of_a_decoder_that_reads_it(fitted):
    name, model, (y, past, future, static) = fitted
    flipped = future.copy()
    flipped.iloc[ROWS + 1, 0] = 1 - flipped.iloc[ROWS + 1, 0]  # the horizon's second step
    before = model.attention_weights(future_covariates=future)
    after = model.attention_weights(future_covariates=flipped)
    for key in before:
        reads = not key.startswith("encoder.")  # decoder tokens add the known future of the step they forecast
        assert (not np.allclose(before[key], after[key])) == reads, key


def test_attention_weights_name_the_missing_covariate_kind(fitted):
    name, model, (y, past, future, static) = fitted
    with pytest.raises(DataError, match=r"future covariates \['promo'\]: attention_weights needs future_covariates"):
        model.attention_weights()
    with pytest.raises(DataError, match="fitted with past and future and static covariates: attention_weights"):
        model.attention_weights(y.to_numpy()[None, -LENGTH:], window_starts=[y.index[-LENGTH]])
    with pytest.raises(ConfigError, match="covariates=window_covariates"):
        model.attention_weights(y.to_numpy()[None, -LENGTH:], future_covariates=future)
