"""The neural estimators: scaling without leakage, validation, horizons, stateful training,
covariates and fine-tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

from tsseq import persistence, registry
from tsseq.engine import Callback
from tsseq.data.covariates import WindowCovariates
from tsseq.errors import ConfigError, DataError, MissingValuesError
from tsseq.estimators import RNNForecaster
from tsseq.estimators.covariates import ValuesLoss

TRAINING = {"epochs": 2, "batch_size": 32}


def sine_frame(rows: int = 240, channels: int = 1, period: int = 12, start: str = "2023-01-01") -> pd.DataFrame:
    steps = np.arange(rows)
    values = np.column_stack([3 + np.sin(2 * np.pi * (steps + 3 * k) / period) for k in range(channels)])
    index = pd.date_range(start, periods=rows, freq="h", name="time")
    return pd.DataFrame(values, index=index, columns=[f"c{k}" for k in range(channels)])


def three_series() -> pd.DataFrame:
    """A long frame of three short series of different lengths, levels and periods."""
    shapes = (("a", 96, 12, 0), ("b", 120, 8, 5), ("c", 80, 6, -2))  # name, rows, period, level
    parts = {name: sine_frame(rows, period=period) + level for name, rows, period, level in shapes}
    return pd.concat(parts, names=["series", "time"])


def tiny(name: str = "lstm", **params) -> RNNForecaster:
    defaults = {"input_length": 24, "horizon": 6, "hidden_size": 8, "training": TRAINING}
    return registry.create(name, **{**defaults, **params})


def test_a_tiny_lstm_fits_a_sine_to_near_zero_loss():
    model = tiny(hidden_size=16, training={"epochs": 40, "batch_size": 16, "learning_rate": 0.01}, validation_fraction=0.0)
    model.fit(sine_frame())
    assert model.history_.train_loss[-1] < 0.01
    truth = 3 + np.sin(2 * np.pi * (np.arange(240, 246)) / 12)
    np.testing.assert_allclose(model.predict(6)["c0"].to_numpy(), truth, atol=0.15)


def test_scaling_statistics_come_from_the_training_rows_only():
    frame = sine_frame()
    changed = frame.copy()
    changed.iloc[-24:] = 1000.0  # the held-out validation rows
    first, second = tiny(validation_fraction=0.1).fit(frame), tiny(validation_fraction=0.1).fit(changed)
    np.testing.assert_array_equal(first.center_, second.center_)
    np.testing.assert_array_equal(first.scale_, second.scale_)
    assert first.history_.val_loss[-1] != second.history_.val_loss[-1]


def test_explicit_validation_frame_is_used_for_the_validation_loss():
    frame = sine_frame(300)
    model = tiny(validation_fraction=0.0).fit(frame.iloc[:200], validation=frame.iloc[176:])
    assert len(model.history_.val_loss) == 2 and all(np.isfinite(model.history_.val_loss))
    no_validation = tiny(validation_fraction=0.0).fit(frame.iloc[:200])
    assert all(loss is None or np.isnan(loss) for loss in no_validation.history_.val_loss)


def test_forecasting_beyond_the_trained_horizon_is_refused():
    model = tiny().fit(sine_frame())
    assert len(model.predict(3)) == 3
    with pytest.raises(ConfigError, match="trained to forecast horizon=6 steps; it cannot forecast 7"):
        model.predict(7)


def test_training_mapping_is_validated_by_name():
    with pytest.raises(ConfigError, match="unknown key 'epoch'. Did you mean 'epochs'"):
        tiny(training={"epoch": 3}).fit(sine_frame())


def test_bidirectional_encoder_is_refused_for_autoregressive_decoding():
    with pytest.raises(ConfigError, match="bidirectional layers look into the future"):
        tiny(head="recursive", bidirectional=True).fit(sine_frame())
    tiny(head="direct", bidirectional=True).fit(sine_frame())  # a fully observed window: allowed


def test_too_short_series_names_the_window_size():
    with pytest.raises(DataError, match="a window needs 30 rows"):
        tiny(validation_fraction=0.0).fit(sine_frame(20))


def test_missing_values_are_masked_not_learned():
    frame = sine_frame()
    frame.iloc[50:60, 0] = np.nan
    model = tiny().fit(frame)
    assert np.isfinite(model.history_.train_loss).all()
    assert np.isfinite(model.predict(6).to_numpy()).all()


def test_callbacks_receive_the_engine_events():
    class Recorder(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, trainer, epoch, metrics):
            self.epochs.append((epoch, metrics["train_loss"]))

    recorder = Recorder()
    tiny().fit(sine_frame(), callbacks=[recorder])
    assert [epoch for epoch, _ in recorder.epochs] == [0, 1] or [epoch for epoch, _ in recorder.epochs] == [1, 2]


def test_global_model_over_series_of_different_lengths():
    parts = {name: sine_frame(rows) for name, rows in (("a", 200), ("b", 260))}
    long = pd.concat(parts, names=["series", "time"])
    model = tiny("gru").fit(long)
    assert model.center_.shape == (2, 1)
    forecast = model.predict(6)
    assert forecast.groupby(level="series").size().to_dict() == {"a": 6, "b": 6}
    with pytest.raises(DataError, match="fitted on 2 series.*needs series="):
        model.predict_windows(np.zeros((1, 24, 1)), 6)
    window = long.loc["b"].to_numpy()[-24:][None]  # each window is scaled as the series it is of
    np.testing.assert_allclose(model.predict_windows(window, 6, series=["b"])[0], forecast.loc["b"].to_numpy(), atol=1e-6)


def test_a_series_shorter_than_the_input_window_is_forecast_from_what_it_has():
    long = pd.concat({"long": sine_frame(200), "short": sine_frame(10)}, names=["series", "time"])
    model = tiny().fit(long)  # only "long" has training windows
    assert np.isnan(model.last_inputs_[1, :14]).all() and np.isfinite(model.last_inputs_[1, 14:]).all()
    assert np.isfinite(model.predict(6).xs("short", level="series").to_numpy()).all()


def test_stateful_training_by_truncated_bptt():
    model = tiny(head="recursive", stateful=True, training={"epochs": 2, "tbptt_steps": 16}).fit(sine_frame())
    assert len(model.history_.train_loss) == 2
    assert np.isfinite(model.predict(6).to_numpy()).all()
    with pytest.raises(ConfigError, match="set head='recursive'"):
        tiny(head="direct", stateful=True).fit(sine_frame())


@pytest.mark.parametrize("name", ["segrnn", "mut1", "rnn"])
def test_family_members_train_and_forecast(name):
    params = {"segment_length": 12} if name == "segrnn" else {}
    forecast = tiny(name, **params).fit(sine_frame(channels=2)).predict(6)
    assert forecast.shape == (6, 2) and np.isfinite(forecast.to_numpy()).all()


def test_seq2seq_scheduled_sampling_decays_to_zero():
    from tsseq.estimators.seq2seq import _ScheduledSampling

    schedule = _ScheduledSampling(0.8, epochs=4)
    ratios = []
    for epoch in range(4):
        schedule.on_epoch_begin(None, epoch)
        ratios.append(schedule.current)
    assert ratios == pytest.approx([0.8, 0.6, 0.4, 0.2])
    model = tiny("seq2seq", attention="luong-general", teacher_forcing_ratio=1.0).fit(sine_frame())
    assert model.module_.last_attention is None or model.module_.last_attention.shape[-1] == 24
    model.predict(6)
    assert model.module_.last_attention.shape == (1, 6, 24)


# ---------------------------------------------------------------------------------- covariates
def switch_frame(days: int = 10) -> pd.DataFrame:
    """0 before noon, 1 from noon: after one input value 0 the next is 1 only at 11:00."""
    index = pd.date_range("2023-01-01", periods=24 * days, freq="h", name="time")
    return pd.DataFrame({"v": (index.hour >= 12).astype(float)}, index=index)


def test_the_hour_covariate_tells_what_one_input_step_cannot():
    params = {"input_length": 1, "horizon": 1, "validation_fraction": 0.0}
    training = {"epochs": 8, "batch_size": 32, "learning_rate": 0.03}
    without = tiny(training=training, **params).fit(switch_frame())
    with_hour = tiny(training=training, covariates=["hour"], **params).fit(switch_frame())
    assert without.history_.train_loss[-1] > 0.25  # the switch cannot be foreseen: irreducible error ≈ 0.31
    assert with_hour.history_.train_loss[-1] < 0.01
    starts = pd.to_datetime(["2023-02-01 10:00", "2023-02-01 11:00", "2023-02-01 23:00"])
    forecasts = with_hour.predict_windows(np.array([[[0.0]], [[0.0]], [[1.0]]]), 1, window_starts=starts)
    np.testing.assert_allclose(forecasts[:, 0, 0], [0.0, 1.0, 0.0], atol=0.1)


def test_covariates_are_validated_by_name():
    with pytest.raises(ConfigError, match="Unknown covariate 'hours' .* Did you mean 'hour'"):
        tiny(covariates=["hours"]).fit(sine_frame())
    with pytest.raises(ConfigError, match=r"must be a list of names, e.g. \['hour'\]"):
        tiny(covariates="hour").fit(sine_frame())
    with pytest.raises(ConfigError, match="names 'month' more than once"):
        tiny(covariates=["month", "month"]).fit(sine_frame())
    with pytest.raises(ConfigError, match="Use head='direct' or 'parallel'"):
        tiny(covariates=["hour"], head="recursive").fit(sine_frame())


def test_covariates_with_channel_independent_segments():
    frame = sine_frame(channels=2)
    model = tiny("segrnn", segment_length=12, covariates=["hour", "day_of_week"]).fit(frame)
    assert model.last_inputs_.shape == (1, 24, 2 + 2)  # the scaled values, then the codes
    last = frame.index[-1]
    np.testing.assert_array_equal(model.last_inputs_[0, -1, 2:], [last.hour, last.day_of_week])
    forecast = model.predict(6)
    assert forecast.shape == (6, 2) and np.isfinite(forecast.to_numpy()).all()


def test_the_training_loss_ignores_the_code_channels():
    predictions = torch.ones(2, 3, 1)
    targets = torch.cat([torch.ones(2, 3, 1), torch.full((2, 3, 2), 23.0)], dim=-1)  # values, hour, series
    assert float(ValuesLoss(1)(predictions, targets, None)) == 0.0
    targets[0, 0, 0] = 5.0
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    assert float(ValuesLoss(1)(predictions, targets, mask)) == pytest.approx(16 / 6)
    mask[0, 0, 0] = False  # the unobserved value does not count; the codes never do
    assert float(ValuesLoss(1)(predictions, targets, mask)) == 0.0


def test_save_and_load_keep_the_covariates(tmp_path):
    model = tiny(covariates=["series", "hour"]).fit(three_series())
    persistence.save(model, tmp_path / "global.pt")
    loaded = persistence.load(tmp_path / "global.pt")
    assert loaded.n_series_ == 3 and loaded.series_ids_ == ["a", "b", "c"]
    pd.testing.assert_frame_equal(loaded.predict(6), model.predict(6))
    wide = tiny(covariates=["day_of_month"]).fit(sine_frame())
    persistence.save(wide, tmp_path / "wide.pt")
    inputs, starts = sine_frame().to_numpy()[None, -24:], [sine_frame().index[-24]]
    np.testing.assert_array_equal(
        persistence.load(tmp_path / "wide.pt").predict_windows(inputs, 6, window_starts=starts),
        wide.predict_windows(inputs, 6, window_starts=starts),
    )


def test_predict_windows_derives_the_codes_from_window_starts():
    model = tiny(covariates=["hour"]).fit(sine_frame())
    inputs = np.repeat(sine_frame().to_numpy()[None, :24], 2, axis=0)  # the same values twice
    with pytest.raises(DataError, match=r"covariates \['hour'\]: predict_windows needs window_starts"):
        model.predict_windows(inputs, 6)
    forecasts = model.predict_windows(inputs, 6, window_starts=pd.to_datetime(["2023-03-01 00:00", "2023-03-01 07:00"]))
    assert not np.allclose(forecasts[0], forecasts[1])  # other hours, other forecasts
    with pytest.raises(DataError, match="must lie on the model's time grid .* 2023-03-01 01:00:00 does not"):
        model.predict_windows(inputs, 6, window_starts=["2023-03-01 00:30", "2023-03-01 01:00"])
    with pytest.raises(DataError, match="window_starts has 1 timestamps for 2 windows"):
        model.predict_windows(inputs, 6, window_starts=["2023-03-01"])
    plain = tiny().fit(sine_frame())  # no covariates: window_starts is not needed and changes nothing
    ignored = plain.predict_windows(inputs, 6, window_starts=["2023-03-01"] * 2)
    np.testing.assert_array_equal(ignored, plain.predict_windows(inputs, 6))


# ---------------------------------------------------------------------------------- fine-tuning
def test_fine_tune_leaves_frozen_parameters_bit_for_bit_and_trains_the_rest():
    model = tiny(validation_fraction=0.0).fit(three_series())
    before = {name: parameter.detach().clone() for name, parameter in model.module_.named_parameters()}
    model.fine_tune(sine_frame(120, period=8), freeze=["encoder"], training={"learning_rate": 0.01})
    after = dict(model.module_.named_parameters())
    assert {name.split(".")[0] for name in after} == {"encoder", "output"}
    for name, parameter in after.items():
        assert torch.equal(parameter, before[name]) == name.startswith("encoder."), name
    assert all(parameter.requires_grad for parameter in after.values())  # trainable again


def test_fine_tune_forecasts_the_new_series():
    model = tiny(validation_fraction=0.0).fit(three_series())
    target = 10 + sine_frame(100, period=8, start="2024-03-01")
    model.fine_tune(target, training={"epochs": 1})
    assert len(model.history_.train_loss) == 1  # this run's settings, over the estimator's own
    np.testing.assert_allclose(model.center_, target.mean().to_numpy()[None], rtol=1e-12)  # its own statistics
    assert model.last_inputs_.shape == (1, 24, 1) and model.layout_.series_ids is None
    forecast = model.predict(6)
    assert forecast.index[0] == target.index[-1] + pd.Timedelta(hours=1) and list(forecast.columns) == ["c0"]
    assert (forecast["c0"] > 5).all()  # on the target's level, not the global series'


def test_global_model_then_fine_tune_one_series_with_its_series_code():
    frame = three_series()
    model = tiny(covariates=["series", "hour"]).fit(frame)
    one = frame.loc[["b"]]
    model.fine_tune(one, freeze=["covariate_embedding", "output"], training={"epochs": 1})
    assert (model.last_inputs_[0, :, 1] == 1).all()  # "b" keeps the code it had in the global fit
    forecast = model.predict(6)
    assert forecast.index.get_level_values("series").unique().tolist() == ["b"]
    assert forecast.index[0][1] == one.index[-1][1] + pd.Timedelta(hours=1)
    with pytest.raises(DataError, match=r"only knows the 3 series .*; \['z'\] are not among them"):
        model.fine_tune(one.rename(index={"b": "z"}, level="series"))
    with pytest.raises(DataError, match=r"codes the series the model was fitted on: 3 series \(a long frame\)"):
        model.fine_tune(sine_frame())


def test_fine_tune_errors_name_the_problem():
    model = tiny().fit(sine_frame())
    reference = model.predict(6)
    unknown = r"'encodr' names no parameter of RecurrentForecaster. Did you mean 'encoder'\? Its parts: encoder, output"
    with pytest.raises(ConfigError, match=unknown):
        model.fine_tune(sine_frame(), freeze=["encodr"])
    with pytest.raises(DataError, match=r"fine_tune got 2 channels \(c0, c1\); the model was fitted on 1 \(c0\)"):
        model.fine_tune(sine_frame(channels=2))
    two = tiny().fit(sine_frame(channels=2))
    with pytest.raises(DataError, match=r"fitted channels in another order \(c1, c0\); .* Reorder the columns"):
        two.fine_tune(sine_frame(channels=2)[["c1", "c0"]])
    with pytest.warns(UserWarning, match=r"fine_tune reads the channels by position: 'x' as 'c0'"):
        two.fine_tune(sine_frame(channels=2).rename(columns={"c0": "x"}), training={"epochs": 1})
    with pytest.raises(ConfigError, match="fine_tune training: unknown key 'epoch'. Did you mean 'epochs'"):
        model.fine_tune(sine_frame(), training={"epoch": 1})
    with pytest.raises(DataError, match="a window needs 30 rows"):
        model.fine_tune(sine_frame(20, start="2024-01-01"))
    pd.testing.assert_frame_equal(model.predict(6), reference)  # failed runs left the model as it was
    with pytest.raises(NotFittedError):
        tiny().fine_tune(sine_frame())


# ---------------------------------------------------------------------- scikit-learn conventions


@pytest.mark.parametrize("name", ["lstm", "ar", "naive", "conformal"])
def test_fit_y_x_in_scikit_learns_order_is_refused_not_taken_as_validation(name):
    frame = sine_frame(120)
    model = tiny(name) if name == "lstm" else registry.create(name)
    with pytest.raises(TypeError, match="positional argument"):
        model.fit(frame.iloc[:100], frame.iloc[100:])
    assert not hasattr(model, "layout_")


def test_training_settings_are_nested_parameters_for_set_params_and_clone():
    from sklearn.base import clone

    from tsseq.engine import TrainingConfig

    shared = TrainingConfig(epochs=5, learning_rate=0.01)
    model = tiny(training=shared)
    params = model.get_params()
    assert params["training__epochs"] == 5 and params["training__learning_rate"] == 0.01
    assert "training__epochs" not in model.get_params(deep=False)
    copy = clone(model)
    assert copy.training == shared and copy.get_params() == params  # clone is exact

    assert model.set_params(training__epochs=2, hidden_size=4) is model
    assert model.training_config() == TrainingConfig(epochs=2, learning_rate=0.01) and model.hidden_size == 4
    assert "training=TrainingConfig(epochs=2, learning_rate=0.01)" in repr(model)  # what was set, not all 33 fields
    assert repr(TrainingConfig()) == "TrainingConfig()"
    assert shared.epochs == 5  # the object it held is left as it was
    as_dict = tiny(training={"epochs": 3, "batch_size": 16}).set_params(training__batch_size=8)  # YAML's mapping
    assert as_dict.training_config() == TrainingConfig(epochs=3, batch_size=8)
    assert tiny(training=None).set_params(training__seed=7).training_config() == TrainingConfig(seed=7)
    with pytest.raises(ConfigError, match="unknown key 'epoch'. Did you mean 'epochs'"):
        model.set_params(training__epoch=3)
    with pytest.raises(ConfigError, match="'epochs' parameter must be an int >= 1"):
        model.set_params(training__epochs=0)
    with pytest.raises(ValueError, match="Invalid parameter 'trainin'"):
        model.set_params(trainin__epochs=3)
    conformal = registry.create("conformal", model=tiny()).set_params(model__training__epochs=1)
    assert conformal.model.training_config().epochs == 1 and conformal.get_params()["model__training__epochs"] == 1


def test_grid_search_over_a_nested_training_parameter():
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    model = tiny(horizon=6, validation_fraction=0.0, training={"epochs": 1, "batch_size": 32})
    # TimeSeriesSplit: each test fold is the rows right after its training rows, what score() expects.
    search = GridSearchCV(model, {"training__epochs": [1, 3]}, cv=TimeSeriesSplit(n_splits=2, test_size=6))
    search.fit(sine_frame(160))
    assert search.best_params_ in ({"training__epochs": 1}, {"training__epochs": 3})
    assert search.best_estimator_.training_config().epochs == search.best_params_["training__epochs"]
    assert len(search.best_estimator_.history_.train_loss) == search.best_params_["training__epochs"]
    assert model.training == {"epochs": 1, "batch_size": 32} and not hasattr(model, "module_")  # cloned, not fitted


def test_the_constructor_stores_its_arguments_as_given_and_the_module_receives_them():
    dilations = [1, 2]
    model = tiny("gru", dilations=dilations, segment_length=2, head="parallel")
    assert model.get_params(deep=False)["dilations"] is dilations and "self" not in model.get_params(deep=False)
    module = model.fit(sine_frame(120)).module_
    assert (module.segment_length, module.head) == (2, "parallel")
    patchtst = registry.create(
        "patchtst", input_length=24, horizon=4, patch_length=8, stride=4, hidden_size=8, n_heads=2, num_layers=1,
        d_ff=16, training=TRAINING,
    )
    module = patchtst.fit(sine_frame(120)).module_
    assert (module.patch_length, module.stride, module.n_patches) == (8, 4, 6)
    (layer,) = module.backbone.encoder.layers  # num_layers=1 -> n_layers, hidden_size=8 -> d_model
    assert layer.attention.query_projection.in_features == 8 and layer.feed_forward.network[0].out_features == 16


# ---------------------------------------------------------------------------------- predict_windows' input windows
WINDOW_FAMILIES = {  # one checked mechanism, NeuralForecaster.predict_windows, for every family
    "gru": {"hidden_size": 8},
    "segrnn": {"hidden_size": 8, "segment_length": 6},
    "patchtst": {"hidden_size": 8, "n_heads": 2, "num_layers": 1, "patch_length": 4, "stride": 4},
    "transformer": {"hidden_size": 8, "n_heads": 2, "num_layers": 1},
}


@pytest.fixture(scope="module", params=sorted(WINDOW_FAMILIES))
def two_channel_model(request):
    params = {"input_length": 24, "horizon": 6, "training": {"epochs": 1, "batch_size": 32}}
    return registry.create(request.param, **params, **WINDOW_FAMILIES[request.param]).fit(sine_frame(channels=2))


def test_predict_windows_refuses_an_infinite_value_naming_its_window_step_and_channel(two_channel_model):
    inputs = np.repeat(sine_frame(channels=2).to_numpy()[None, -24:], 3, axis=0)
    for value in (np.inf, -np.inf):
        broken = inputs.copy()
        broken[1, 5, 1] = value
        with pytest.raises(MissingValuesError, match=r"infinite value -?inf in window 1, step 5, channel 1 \('c1'\)"):
            two_channel_model.predict_windows(broken, 6)
    unobserved = inputs.copy()
    unobserved[1, 5, 1] = np.nan  # NaN is an unobserved value, masked as in training: still forecast
    assert np.isfinite(two_channel_model.predict_windows(unobserved, 6)).all()


def test_predict_windows_refuses_short_windows_and_reads_the_last_input_length_steps_of_long_ones(two_channel_model):
    values = sine_frame(channels=2).to_numpy()
    with pytest.raises(DataError, match="windows of 23 steps; .* needs input windows of at least 24 steps"):
        two_channel_model.predict_windows(values[None, -23:], 6)
    with pytest.raises(DataError, match="windows of 1 steps"):
        two_channel_model.predict_windows(values[None, -1:], 6)
    np.testing.assert_array_equal(
        two_channel_model.predict_windows(values[None, -48:], 6), two_channel_model.predict_windows(values[None, -24:], 6)
    )


def test_predict_windows_of_no_windows_is_an_empty_forecast(two_channel_model):
    assert two_channel_model.predict_windows(np.zeros((0, 24, 2)), 6).shape == (0, 6, 2)
    assert two_channel_model.predict_windows(np.zeros((0, 48, 2)), 4).shape == (0, 4, 2)
    with pytest.raises(ConfigError, match="cannot forecast 7"):  # the arguments are checked all the same
        two_channel_model.predict_windows(np.zeros((0, 24, 2)), 7)


def test_longer_windows_are_cut_with_their_covariates_and_window_starts():
    frame = sine_frame()
    rows = len(frame)
    past = pd.DataFrame({"p": np.cos(np.arange(rows))}, index=frame.index)
    future = pd.DataFrame({"f": np.arange(rows) % 7.0}, index=frame.index)
    model = tiny("gru", covariates=["hour"]).fit(frame.iloc[:200], past_covariates=past, future_covariates=future)
    values, p, f = frame.to_numpy(), past.to_numpy(), future.to_numpy()
    origins = np.array([210, 225])

    def forecast(length: int) -> np.ndarray:
        rows_before = origins[:, None] - length + np.arange(length)  # (N, L)
        covariates = WindowCovariates(past=p[rows_before], future=f[origins[:, None] - length + np.arange(length + 6)])
        return model.predict_windows(
            values[rows_before], 6, covariates=covariates, window_starts=frame.index[origins - length]
        )

    np.testing.assert_array_equal(forecast(40), forecast(24))
