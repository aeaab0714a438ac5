"""fine_tune of a neural model fitted with covariates: the kinds of the fit, on the new frame, and what it refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq import registry
from tsseq.errors import ConfigError, DataError

HORIZON, LENGTH = 6, 24
TRAINING = {"epochs": 3, "batch_size": 32, "learning_rate": 0.01, "seed": 0}


def series(rows: int, seed: int, start: str = "2023-01-01"):
    """(y, past, future) hourly; y depends on the promotion (future) and on the sensor's previous row (past).

    The covariate frames run HORIZON rows past y.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=rows + HORIZON, freq="h", name="time")
    promo = (rng.random(len(index)) < 0.3).astype(float)
    sensor = rng.normal(size=len(index))
    values = 5 + np.sin(2 * np.pi * np.arange(len(index)) / 12) + 2 * promo + 0.5 * np.roll(sensor, 1)
    y = pd.DataFrame({"y": values}, index=index).iloc[:rows]
    return y, pd.DataFrame({"sensor": sensor}, index=index), pd.DataFrame({"promo": promo}, index=index)


def global_data():
    """Three series in a long frame, with past, future and static (numeric and categorical) covariates."""
    parts = {name: series(150, seed) for seed, name in enumerate("abc")}
    long = [pd.concat({name: part[k] for name, part in parts.items()}, names=["series", "time"]) for k in range(3)]
    static = pd.DataFrame({"size": [1.0, 2.0, 3.0], "region": ["north", "south", "north"]}, index=list("abc"))
    return (*long, static)


def lstm(**params):
    defaults = {"input_length": LENGTH, "horizon": HORIZON, "hidden_size": 8, "training": TRAINING,
                "validation_fraction": 0.0}
    return registry.create("lstm", **{**defaults, **params})


def test_fine_tune_with_the_covariates_of_the_fit_trains_on_and_forecasts_with_the_new_ones():
    y, past, future, static = global_data()
    model = lstm().fit(y, past_covariates=past, future_covariates=future, static_covariates=static)
    before = {name: tensor.clone() for name, tensor in model.module_.state_dict().items()}
    center, scale = model.covariate_center_.copy(), model.covariate_scale_.copy()
    target, target_past, target_future = series(120, seed=7, start="2024-03-01")  # a new series, a wide frame
    target_static = pd.DataFrame({"size": [2.5], "region": ["south"]})
    model.fine_tune(target, past_covariates=target_past, future_covariates=target_future,
                    static_covariates=target_static, training={"epochs": 2})
    assert len(model.history_.train_loss) == 2
    changed = [name for name, tensor in model.module_.state_dict().items() if not torch.equal(tensor, before[name])]
    assert changed, "fine_tune left every weight as it was"
    # The fit's covariate statistics are kept (the weights read covariates on that scale) ...
    np.testing.assert_array_equal(model.covariate_center_, center)
    np.testing.assert_array_equal(model.covariate_scale_, scale)
    # ... and the last window forecast from holds the new series' covariates: its past sensor, standardised.
    sensor = (target_past["sensor"].to_numpy()[len(target) - LENGTH : len(target)] - center[0]) / scale[0]
    np.testing.assert_allclose(model.last_inputs_[0, :, 1], sensor, rtol=1e-12)
    forecast = model.predict(HORIZON, future_covariates=target_future)
    assert forecast.index[0] == target.index[-1] + pd.Timedelta(hours=1) and np.isfinite(forecast.to_numpy()).all()
    flipped = target_future.copy()
    flipped.iloc[len(target) :] = 1 - flipped.iloc[len(target) :]  # the promotions of the new horizon
    assert not np.allclose(model.predict(HORIZON, future_covariates=flipped).to_numpy(), forecast.to_numpy())
    with pytest.raises(DataError, match="future covariate 'promo' has no value"):
        model.predict(HORIZON, future_covariates=series(150, seed=0)[2])  # 2023's promotions: not the new horizon's


def test_fine_tune_refuses_a_missing_kind_and_one_the_model_was_fitted_without_by_name():
    y, past, future, static = global_data()
    model = lstm(training={**TRAINING, "epochs": 1}).fit(y, past_covariates=past, future_covariates=future)
    reference = model.predict(HORIZON, future_covariates=future)
    target, target_past, target_future = series(120, seed=7)
    with pytest.raises(DataError, match=r"fitted with the past covariates \['sensor'\]: fine_tune needs past_covariates"):
        model.fine_tune(target, future_covariates=target_future)
    with pytest.raises(ConfigError, match="fine_tune got static_covariates, but the model was fitted with past and "
                                          "future covariates only: its module has no inputs for static covariates"):
        model.fine_tune(target, past_covariates=target_past, future_covariates=target_future,
                        static_covariates=pd.DataFrame({"size": [1.0]}))
    with pytest.raises(DataError, match="past_covariates has no column 'sensor'"):
        model.fine_tune(target, past_covariates=target_past.rename(columns={"sensor": "other"}),
                        future_covariates=target_future)
    pd.testing.assert_frame_equal(model.predict(HORIZON, future_covariates=future), reference)  # left as it was


def test_a_model_fitted_without_covariates_refuses_them_in_fine_tune():
    target, target_past, target_future = series(120, seed=3)
    model = lstm(training={**TRAINING, "epochs": 1}).fit(target)
    with pytest.raises(ConfigError, match="fine_tune got future_covariates, but the model was fitted without "
                                          "covariates: its module has no inputs for future covariates"):
        model.fine_tune(target, future_covariates=target_future)
    # A kind the configuration never takes is refused as fit refuses it.
    recursive = lstm(head="recursive", training={**TRAINING, "epochs": 1}).fit(target)
    with pytest.raises(ConfigError, match="lstm does not take past covariates"):
        recursive.fine_tune(target, past_covariates=target_past)
