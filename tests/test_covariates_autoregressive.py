"""Covariates in the autoregressive families: the recursive RNN head, transformer_seq2seq and decoder_only.

Each rolls its own forecasts out over the horizon; the known future covariates must enter
every rollout step (and every sampled path), past covariates must stop at the origin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import tsseq
from tsseq.errors import ConfigError
from tsseq.estimators.covariates import lead_columns
from tsseq.nn.decoder_only import DecoderOnlyTransformer
from tsseq.nn.exogenous import ExogenousSizes
from tsseq.nn.transformer_seq2seq import TransformerSeq2Seq

HORIZON, LENGTH = 12, 24
TRAINING = {"epochs": 2, "seed": 0, "threads": 1}
SMALL = {"hidden_size": 16, "n_heads": 2}
# name, parameters, the kinds it takes
MODELS = [
    ("gru", {"head": "recursive", "hidden_size": 16, "num_layers": 1}, ("future",)),
    ("lstm", {"head": "recursive", "segment_length": 4, "channel_independent": True, "hidden_size": 16}, ("future",)),
    ("transformer_seq2seq", SMALL, ("past", "future")),
    ("decoder_only", SMALL, ("past", "future")),
    ("decoder_only", {**SMALL, "patch_length": 5, "channel_independent": True}, ("past", "future")),
]
IDS = ["gru-recursive", "lstm-recursive-segments", "transformer_seq2seq", "decoder_only", "decoder_only-patches"]


def promoted(length: int = 200, seed: int = 0, series: str | None = None):
    """A daily-seasonal series lifted by 3 on promotion hours, a noise sensor: (y, past, future, truth of the horizon).

    The covariate frames run ``HORIZON`` rows past ``y``: the promotions of the horizon are known.
    """
    rng = np.random.default_rng(seed)
    steps = length + HORIZON
    index = pd.date_range("2021-01-01", periods=steps, freq="h", name="timestamp")
    promo = (rng.random(steps) < 0.25).astype(float)
    values = np.sin(np.arange(steps) * 2 * np.pi / 24) + 3 * promo + 0.1 * rng.normal(size=steps)
    y = pd.DataFrame({"y": values[:length]}, index=index[:length])
    past, future = pd.DataFrame({"sensor": rng.normal(size=steps)}, index=index), pd.DataFrame({"promo": promo}, index=index)
    if series is not None:
        y, past, future = (pd.concat({series: frame}, names=["store"]) for frame in (y, past, future))
    return y, past, future, values[length:]


def fitted(name: str, params: dict, kinds, y, past, future, static=None):
    """The model fitted with the covariate kinds it takes (and ``static`` when given)."""
    frames = {"past": past, "future": future}
    given = {f"{kind}_covariates": frames[kind] for kind in kinds}
    if static is not None:
        given["static_covariates"] = static
    model = tsseq.create(name, input_length=LENGTH, horizon=HORIZON, training=TRAINING, **params)
    return model.fit(y, **given)


@pytest.mark.parametrize("name, params, kinds", MODELS, ids=IDS)
def test_the_horizon_future_changes_the_forecast_and_nothing_after_it_or_after_the_origin_does(name, params, kinds) -> None:
    y, past, future, _ = promoted()
    model = fitted(name, params, kinds, y, past, future)
    forecast = model.predict(HORIZON, future_covariates=future)
    assert forecast.shape == (HORIZON, 1) and np.isfinite(forecast.to_numpy()).all()
    flipped = future.copy()
    flipped.iloc[len(y) :] = 1 - flipped.iloc[len(y) :]  # the horizon's promotions
    assert np.abs(model.predict(HORIZON, future_covariates=flipped).to_numpy() - forecast.to_numpy()).max() > 1e-3
    later = pd.concat([future, pd.DataFrame({"promo": 5.0}, index=future.index[-1:] + pd.Timedelta("1h"))])
    pd.testing.assert_frame_equal(model.predict(HORIZON, future_covariates=later), forecast)
    if "past" in kinds:  # rows after the origin, at fit time: never read
        changed = past.copy()
        changed.iloc[len(y) :] = 1e3
        again = fitted(name, params, kinds, y, changed, future).predict(HORIZON, future_covariates=future)
        pd.testing.assert_frame_equal(again, forecast)


def test_the_recursive_head_refuses_past_covariates_naming_the_model_and_the_kind() -> None:
    y, past, future, _ = promoted(100)
    model = tsseq.create("gru", input_length=LENGTH, horizon=HORIZON, head="recursive", training=TRAINING)
    assert model.supported_covariates == frozenset({"future", "static"})
    with pytest.raises(ConfigError, match=r"gru does not take past covariates: it takes future and static covariates only"):
        model.fit(y, past_covariates=past, future_covariates=future)
    stateful = tsseq.create("gru", input_length=LENGTH, horizon=HORIZON, head="recursive", stateful=True)
    with pytest.raises(ConfigError, match=r"gru does not take future covariates: it takes no covariates.*stateful"):
        stateful.fit(y, future_covariates=future)


def test_decoder_only_rollout_equals_teacher_forcing_and_ignores_past_covariates_after_the_origin() -> None:
    torch.manual_seed(0)
    length, horizon, patch = 8, 4, 2  # N_c = 4 context tokens, R = 2 forecast patches, M = 12 rows
    sizes = ExogenousSizes(past=1, future=1, static_numeric=1)
    model = DecoderOnlyTransformer(1, horizon, input_length=length, patch_length=patch, d_model=8, n_heads=2,
                                   exogenous=sizes).eval()
    past, future = torch.randn(20, 1).double().numpy(), torch.randn(20, 1).double().numpy()
    leads = sizes.n_leads(length, horizon)

    def block(rows: int, past_rows: np.ndarray) -> torch.Tensor:  # packed as the estimators pack it
        packed = np.concatenate([past_rows[:rows], lead_columns(future, length, leads, rows), np.full((rows, 1), 0.5)], axis=1)
        return torch.tensor(packed, dtype=torch.float32)[None]

    x = torch.randn(1, length, 1)
    with torch.no_grad():
        rolled = model(x, block(length, past))  # (1, H, 1)
        garbage = past.copy()
        garbage[length:] = 1e3  # past covariates after the origin: never read
        sequence = torch.cat([x, rolled[:, :patch]], dim=1)  # the context and the fed-back first patch, (1, 10, 1)
        forced = model.forward_sequence(sequence, block(11, garbage))  # predicts rows 2 .. 11
        torch.testing.assert_close(forced[:, length - patch :], rolled, rtol=0, atol=1e-5)
        future[length + horizon :] = 9.0  # future covariates after the horizon: never read
        torch.testing.assert_close(model(x, block(length, past)), rolled, rtol=0, atol=0)


def test_transformer_seq2seq_rollout_equals_teacher_forcing_with_covariates() -> None:
    torch.manual_seed(0)
    sizes = ExogenousSizes(past=2, future=1, static_cardinalities={"region": 3})
    model = TransformerSeq2Seq(2, 6, input_length=10, d_model=8, n_heads=2, exogenous=sizes).eval()
    block = torch.randn(3, 10, sizes.width(10, 6))
    block[..., -1] = 1.0  # the region code
    x = torch.randn(3, 10, 2)
    with torch.no_grad():
        rolled = model(x, exogenous=block)
        forced = model(x, rolled, exogenous=block)
    assert rolled.shape == (3, 6, 2)
    torch.testing.assert_close(forced, rolled, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name, params", [("transformer_seq2seq", SMALL), ("decoder_only", {**SMALL, "patch_length": 4})])
def test_sampled_paths_follow_the_known_future(name, params) -> None:
    y, _, future, _ = promoted()
    training = {**TRAINING, "loss": "normal"}
    model = tsseq.create(name, input_length=LENGTH, horizon=HORIZON, training=training, **params)
    model.fit(y, future_covariates=future)
    paths = model.sample(HORIZON, 8, future_covariates=future, seed=1)
    assert paths.shape == (8 * HORIZON, 1) and np.isfinite(paths.to_numpy()).all()
    pd.testing.assert_frame_equal(model.sample(HORIZON, 8, future_covariates=future, seed=1), paths)
    flipped = future.copy()
    flipped.iloc[len(y) :] = 1 - flipped.iloc[len(y) :]
    assert not np.allclose(model.sample(HORIZON, 8, future_covariates=flipped, seed=1).to_numpy(), paths.to_numpy())


def test_long_frames_with_static_covariates_round_trip_exactly(tmp_path) -> None:
    parts = [promoted(100, seed=seed, series=name) for seed, name in enumerate(["a", "b", "c"])]
    y, past, future = (pd.concat([part[k] for part in parts]) for k in range(3))
    static = pd.DataFrame({"region": ["north", "south", "north"], "size": [1.0, 3.0, 2.0]}, index=["a", "b", "c"])
    for (name, params, kinds), label in zip(MODELS, IDS):
        model = fitted(name, params, kinds, y, past, future, static)
        assert model.covariate_spec_.static_categorical == ("region",)
        forecast = model.predict(HORIZON, future_covariates=future)
        assert forecast.index.get_level_values(0).unique().tolist() == ["a", "b", "c"]
        model.save(tmp_path / f"{label}.pt")
        loaded = tsseq.load_model(tmp_path / f"{label}.pt")
        pd.testing.assert_frame_equal(loaded.predict(HORIZON, future_covariates=future), forecast, check_exact=True)


@pytest.mark.parametrize(
    "name, params",
    [
        ("gru", {"head": "recursive", "hidden_size": 16, "num_layers": 1, "segment_length": 4}),
        ("transformer_seq2seq", {"hidden_size": 32, "n_heads": 2, "num_encoder_layers": 1}),
        ("decoder_only", {"hidden_size": 32, "n_heads": 2, "num_layers": 1, "patch_length": 4}),
    ],
)
def test_a_known_future_driver_halves_the_error(name, params) -> None:
    y, _, future, truth = promoted(240, seed=1)
    training = {"epochs": 8, "seed": 0, "threads": 1, "learning_rate": 0.01}

    def mse(**covariates) -> float:
        model = tsseq.create(name, input_length=LENGTH, horizon=HORIZON, training=training, **params).fit(y, **covariates)
        forecast = model.predict(HORIZON, future_covariates=covariates.get("future_covariates"))
        return float(np.mean((forecast["y"].to_numpy() - truth) ** 2))

    ratio = mse(future_covariates=future) / mse()
    assert ratio < 0.5, ratio
