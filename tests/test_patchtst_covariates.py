"""PatchTST with covariates: past and static ones enter every target token; future ones are refused.

The signal test: ``y_t = x_{t-4} + daily cycle + noise`` with ``x`` white noise observed
only up to the forecast origin; with ``horizon = 4`` every forecast value is a known past
``x``, so patchtst with ``x`` as a past covariate must be far better than without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import tsseq
from tsseq.backtesting import backtest, historical_forecasts
from tsseq.data.covariates import WindowCovariates
from tsseq.errors import ConfigError
from tsseq.nn.exogenous import ExogenousSizes
from tsseq.nn.masked_pretraining import MaskedPatchModel
from tsseq.nn.patchtst import PatchTST
from tsseq.persistence import load

ROWS, LAG, HORIZON, LENGTH = 800, 4, 4, 32
SMALL = dict(
    input_length=LENGTH, horizon=HORIZON, patch_length=8, stride=8, hidden_size=16, num_layers=1, n_heads=2, d_ff=32,
    dropout=0.0, training={"epochs": 15, "batch_size": 32, "learning_rate": 3e-3, "seed": 0},
)
QUICK = {**SMALL, "training": {"epochs": 2, "batch_size": 64, "seed": 0}}


def lagged_driver(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``load_t = driver_{t-4} + 0.5 sin(2 pi t / 24) + 0.1 noise``; ``driver`` white noise (the past covariate)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=rows, freq="h", name="timestamp")
    driver = rng.standard_normal(rows)
    load_values = np.zeros(rows)
    load_values[LAG:] = driver[:-LAG]
    load_values += 0.5 * np.sin(2 * np.pi * np.arange(rows) / 24) + 0.1 * rng.standard_normal(rows)
    return pd.DataFrame({"load": load_values}, index=index), pd.DataFrame({"driver": driver}, index=index)


def overall_mse(scores: pd.DataFrame) -> float:
    return float(scores.loc[(scores["metric"] == "mse") & (scores["step"] == "all"), "value"].iloc[0])


def test_a_past_covariate_carrying_the_signal_makes_the_forecast_much_better():
    y, past = lagged_driver()
    options = dict(metric="mse", start=0.8, horizon=HORIZON, stride=HORIZON)
    without = overall_mse(backtest(tsseq.create("patchtst", **SMALL), y, **options))
    with_past = overall_mse(backtest(tsseq.create("patchtst", **SMALL), y, past_covariates=past, **options))
    print(f"backtest MSE without the past covariate {without:.4f}, with it {with_past:.4f}")
    assert with_past < 0.7 * without  # at least 30% lower (measured: about 98% lower)
    assert with_past < 0.1  # the noise is 0.01; the unexplained daily cycle alone would be ~0.125


def test_past_covariates_after_the_origin_are_never_read():
    y, past = lagged_driver(300)
    changed = past.copy()
    changed.iloc[200:] = 1e3
    first = tsseq.create("patchtst", **QUICK).fit(y.iloc[:200], past_covariates=past)
    second = tsseq.create("patchtst", **QUICK).fit(y.iloc[:200], past_covariates=changed)
    pd.testing.assert_frame_equal(first.predict(HORIZON), second.predict(HORIZON))
    # a backtest forecast from cutoff 219 reads rows up to 219 only
    after = past.copy()
    after.iloc[220:] = -1e3
    forecasts = [
        historical_forecasts(tsseq.create("patchtst", **QUICK), y, start=220, horizon=HORIZON, past_covariates=frame)
        for frame in (past, after)
    ]
    at_first = forecasts[0]["cutoff"] == y.index[219]
    assert int(at_first.sum()) == HORIZON
    np.testing.assert_allclose(forecasts[1].loc[at_first, "load"], forecasts[0].loc[at_first, "load"], rtol=0, atol=1e-6)


def test_save_and_load_with_covariates_give_identical_forecasts(tmp_path):
    y, past = lagged_driver(300)
    model = tsseq.create("patchtst", **QUICK).fit(y, past_covariates=past)
    model.save(tmp_path / "patchtst.pt")
    loaded = load(tmp_path / "patchtst.pt")
    pd.testing.assert_frame_equal(loaded.predict(HORIZON), model.predict(HORIZON))
    assert loaded.covariate_spec_ == model.covariate_spec_
    windows = np.stack([y.to_numpy()[start : start + LENGTH] for start in (0, 50, 100)])
    covariates = WindowCovariates(past=np.stack([past.to_numpy()[start : start + LENGTH] for start in (0, 50, 100)]))
    np.testing.assert_array_equal(
        loaded.predict_windows(windows, HORIZON, covariates=covariates),
        model.predict_windows(windows, HORIZON, covariates=covariates),
    )
    weights = loaded.attention_weights(windows, covariates=covariates)  # the windows' covariates are passed on
    n_patches = loaded.module_.n_patches
    assert weights and all(w.shape == (3, 2, n_patches, n_patches) for w in weights.values())


def test_static_covariates_of_a_long_frame_and_past_ones_together():
    y, past = lagged_driver(200)
    frames, pasts = [], []
    for series, level in (("a", 0.0), ("b", 5.0)):
        index = pd.MultiIndex.from_arrays([[series] * len(y), y.index], names=["series", "timestamp"])
        frames.append(pd.DataFrame({"load": y["load"].to_numpy() + level}, index=index))
        pasts.append(pd.DataFrame({"driver": past["driver"].to_numpy()}, index=index))
    static = pd.DataFrame({"size": [1.0, 3.0], "region": ["north", "south"]}, index=pd.Index(["a", "b"], name="series"))
    model = tsseq.create("patchtst", **QUICK).fit(pd.concat(frames), past_covariates=pd.concat(pasts), static_covariates=static)
    assert model.covariate_spec_.kinds == ("past", "static")
    assert model.module_.exogenous.static_projection is not None
    forecast = model.predict(HORIZON)
    assert forecast.shape == (2 * HORIZON, 1) and np.isfinite(forecast.to_numpy()).all()


def test_refused_kinds_name_the_model_and_the_kind():
    y, past = lagged_driver(200)
    future = past.rename(columns={"driver": "promo"})
    assert tsseq.create("patchtst").supported_covariates == frozenset({"past", "static"})
    with pytest.raises(ConfigError, match=r"patchtst does not take future covariates: it takes past and static covariates only"):
        tsseq.create("patchtst", **QUICK).fit(y, future_covariates=future)
    with pytest.raises(ConfigError, match="patchtst does not take future covariates"):
        historical_forecasts(tsseq.create("patchtst", **QUICK), y, start=150, horizon=HORIZON, future_covariates=future)
    with pytest.raises(ConfigError, match="pretrain does not take past covariates"):
        tsseq.create("patchtst", **QUICK).pretrain(y, past_covariates=past)
    fitted = tsseq.create("patchtst", **QUICK).fit(y, past_covariates=past)
    with pytest.raises(ConfigError, match="reconstruct_windows reads the values only.*past covariates"):
        fitted.reconstruct_windows(y.to_numpy()[None, :LENGTH])
    with pytest.raises(ConfigError, match="Masked pretraining takes no covariates"):
        MaskedPatchModel(fitted.module_)
    with pytest.raises(ConfigError, match="PatchTST takes past and static covariates only"):
        PatchTST(1, LENGTH, HORIZON, exogenous=ExogenousSizes(past=1, future=1))


def test_fit_with_covariates_after_pretraining_starts_from_the_pretrained_backbone():
    y, past = lagged_driver(300)
    model = tsseq.create("patchtst", **QUICK).pretrain(y)
    pretrained = model.module_.backbone.patch_embedding.weight.detach().clone()
    model.set_params(training={**QUICK["training"], "epochs": 1, "learning_rate": 1e-12})
    model.fit(y, past_covariates=past)
    assert model.forecast_trained_
    torch.testing.assert_close(model.module_.backbone.patch_embedding.weight, pretrained, rtol=0, atol=1e-6)
    assert np.isfinite(model.predict(HORIZON).to_numpy()).all()


def test_fine_tuning_a_model_fitted_with_past_covariates_takes_them():
    y, past = lagged_driver(300)
    model = tsseq.create("patchtst", **QUICK).fit(y.iloc[:200], past_covariates=past)
    frozen_backbone = {k: v.clone() for k, v in model.module_.state_dict().items() if k.startswith("backbone.")}
    model.fine_tune(y, past_covariates=past, freeze=["backbone"])
    for name, tensor in frozen_backbone.items():
        if "running" not in name and "num_batches" not in name:  # BatchNorm statistics follow the new data
            torch.testing.assert_close(model.module_.state_dict()[name], tensor, rtol=0, atol=0)
    forecast = model.predict(HORIZON)
    assert forecast.index[0] == y.index[-1] + pd.Timedelta("1h") and np.isfinite(forecast.to_numpy()).all()


def module(**overrides) -> PatchTST:
    torch.manual_seed(0)
    options = dict(patch_length=8, stride=4, d_model=8, n_heads=2, d_ff=16, n_layers=1, dropout=0.0, norm="layer")
    return PatchTST(3, LENGTH, 6, exogenous=ExogenousSizes(past=2, static_numeric=1), **{**options, **overrides})


def trained_maps(model: PatchTST) -> PatchTST:
    """The covariate maps start at zero; give them weights so that the covariates matter."""
    with torch.no_grad():
        for projection in (model.exogenous.past_projection, model.exogenous.static_projection):
            projection.weight.normal_()
    return model.eval()


def test_the_module_keeps_channel_independence_and_revin_leaves_the_covariates_alone():
    model = trained_maps(module())
    x, block = torch.randn(4, LENGTH, 3), torch.randn(4, LENGTH, 3)
    block[:, :, 2] = block[:, :1, 2]  # the static column is constant over the rows
    with torch.no_grad():
        forecast = model(x, None, block)
        assert forecast.shape == (4, 6, 3)  # the targets only: covariates are not forecast
        changed = x.clone()
        changed[:, :, 1] = torch.randn(4, LENGTH) * 5
        other = model(changed, None, block)
        torch.testing.assert_close(other[:, :, [0, 2]], forecast[:, :, [0, 2]])  # channels never meet
        # RevIN: the forecast follows the targets' level and scale while the covariates stay as they are
        torch.testing.assert_close(model(10 * x + 3, None, block), 10 * forecast + 3, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(model(x, None, 10 * block + 3), forecast)  # the covariates are read, unnormalised
        # causality inside the window: only its rows are read, and changing the last covariate step moves the forecast
        late = block.clone()
        late[:, -1, :2] += 1.0
        assert not torch.allclose(model(x, None, late), forecast)
