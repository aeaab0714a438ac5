"""The ensemble forecaster: combinations, fitted weights, seed ensembles, quantiles, save/load, errors."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq import persistence, testing
from tsseq.ensemble import EnsembleForecaster, simplex_least_squares
from tsseq.errors import ConfigError, DataError

MEMBERS = ["naive", {"name": "seasonal_naive", "params": {"season_length": 24}}, {"name": "ar", "params": {"max_order": 6}}]
TINY_RNN = {"input_length": 24, "horizon": 5, "hidden_size": 8, "training": {"epochs": 2, "batch_size": 64}}
LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]


def _member_models() -> list:
    return [tsseq.create("naive"), tsseq.create("seasonal_naive", season_length=24), tsseq.create("ar", max_order=6)]


def _stack(frames: list[pd.DataFrame]) -> np.ndarray:
    return np.stack([frame.to_numpy() for frame in frames])


def _seasonal_frame(rows: int = 240) -> pd.DataFrame:
    """A daily pattern repeated exactly (seasonal naive forecasts it without error) plus a level shift per day."""
    steps = np.arange(rows)
    pattern = np.sin(2 * np.pi * steps / 24) + 0.5 * np.cos(2 * np.pi * 3 * steps / 24)
    index = pd.date_range("2022-01-01", periods=rows, freq="h", name="timestamp")
    return pd.DataFrame({"a": 5 + pattern, "b": 2 * pattern - 1}, index=index)


# ---------------------------------------------------------------------- mean and median


@pytest.mark.parametrize("combine", ["mean", "median"])
def test_mean_and_median_equal_the_combination_of_the_members_forecasts(combine):
    frame, horizon = testing.wide_frame(), 7
    ensemble = tsseq.create("ensemble", members=MEMBERS, combine=combine).fit(frame)
    members = [model.fit(frame) for model in _member_models()]
    reduce = np.mean if combine == "mean" else np.median
    expected = reduce(_stack([m.predict(horizon) for m in members]), axis=0)
    forecast = ensemble.predict(horizon)
    np.testing.assert_allclose(forecast.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert list(forecast.columns) == ["a", "b"] and forecast.index.equals(members[0].predict(horizon).index)
    windows = testing._windows(frame, 48)[:9]
    expected_windows = reduce(np.stack([m.predict_windows(windows, horizon) for m in members]), axis=0)
    np.testing.assert_allclose(ensemble.predict_windows(windows, horizon), expected_windows, rtol=1e-12, atol=1e-12)
    assert ensemble.labels_ == ["naive", "seasonal_naive", "ar"]
    np.testing.assert_array_equal(ensemble.weights_, np.full(3, 1 / 3))


def test_long_frames_combine_every_series():
    frame, horizon = testing.long_frame(), 6
    ensemble = tsseq.create("ensemble", members=MEMBERS, combine="mean").fit(frame)
    members = [model.fit(frame) for model in _member_models()]
    forecast = ensemble.predict(horizon)
    expected = np.mean(_stack([m.predict(horizon) for m in members]), axis=0)
    np.testing.assert_allclose(forecast.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert forecast.groupby(level="series").size().to_dict() == {"s1": horizon, "s2": horizon, "s3": horizon}
    quantiles = ensemble.predict(horizon, quantiles=[0.1, 0.9])
    expected = np.mean(_stack([m.predict(horizon, quantiles=[0.1, 0.9]) for m in members]), axis=0)
    np.testing.assert_allclose(quantiles.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    paths = ensemble.sample(horizon, 4, seed=0)
    assert paths.index.names == ["series", "sample", "timestamp"] and len(paths) == 3 * 4 * horizon


# ---------------------------------------------------------------------- weighted


def test_weighted_puts_all_weight_on_the_member_exact_on_the_validation_tail():
    frame = _seasonal_frame()
    members = ["naive", "mean", {"name": "seasonal_naive", "params": {"season_length": 24}}]
    ensemble = tsseq.create("ensemble", members=members, combine="weighted", horizon=12, validation_length=48).fit(frame)
    assert np.all(ensemble.weights_ >= 0) and ensemble.weights_.sum() == pytest.approx(1, abs=1e-12)
    assert ensemble.weights_[2] == pytest.approx(1, abs=1e-6)
    assert ensemble.validation_errors_[2] == pytest.approx(0, abs=1e-20) and ensemble.validation_errors_[:2].min() > 0.01
    exact = tsseq.create("seasonal_naive", season_length=24).fit(frame).predict(24)
    np.testing.assert_allclose(ensemble.predict(24).to_numpy(), exact.to_numpy(), atol=1e-5)


def test_weighted_on_many_series_uses_one_origin_per_series():
    parts = []
    for series, shift in (("x", 0.0), ("y", 100.0)):  # very different levels: scaled errors weigh them alike
        part = _seasonal_frame(200) + shift
        part.index = pd.MultiIndex.from_arrays([[series] * len(part), part.index], names=["series", "timestamp"])
        parts.append(part)
    frame = pd.concat(parts)
    members = ["naive", {"name": "seasonal_naive", "params": {"season_length": 24}}]
    ensemble = tsseq.create("ensemble", members=members, combine="weighted", horizon=24).fit(frame)
    assert ensemble.weights_ == pytest.approx([0, 1], abs=1e-6)
    assert ensemble.predict(24).groupby(level="series").size().to_dict() == {"x": 24, "y": 24}


def test_weighted_with_a_validation_frame_fits_the_weights_on_it_without_refitting():
    frame = _seasonal_frame(480)
    train, validation = frame.iloc[:360], frame.iloc[360 - 48 :]  # the validation frame starts with its input rows
    members = [{"name": "ar", "params": {"max_order": 3}}, {"name": "seasonal_naive", "params": {"season_length": 24}}]
    ensemble = tsseq.create("ensemble", members=members, combine="weighted", horizon=12, input_length=48)
    ensemble.fit(train, validation=validation)
    # Known answer: the weights solve the simplex least squares over every validation window of the members fitted
    # once on the training rows (the ones kept), scaled by the training rows' mean absolute change.
    fitted = [tsseq.create("ar", max_order=3).fit(train), tsseq.create("seasonal_naive", season_length=24).fit(train)]
    values = validation.to_numpy()
    origins = np.arange(48, len(values) - 12 + 1)
    windows = np.stack([values[o - 48 : o] for o in origins])
    truth = np.stack([values[o : o + 12] for o in origins])
    scale = np.mean(np.abs(np.diff(train.to_numpy(), axis=0)), axis=0)
    stacked = np.stack([m.predict_windows(windows, 12) for m in fitted]) / scale
    expected = simplex_least_squares(stacked.reshape(2, -1), (truth / scale).ravel())
    np.testing.assert_allclose(ensemble.weights_, expected, atol=1e-8)
    assert ensemble.weights_[1] == pytest.approx(1, abs=1e-6)  # seasonal naive is exact on this series
    for kept, reference in zip(ensemble.members_, fitted):  # the members are those fitted on ``train``: no refit
        np.testing.assert_allclose(kept.predict(12).to_numpy(), reference.predict(12).to_numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="validation_length is ignored: the weights are fitted on the validation frame"):
        tsseq.create("ensemble", members=members, combine="weighted", horizon=12, input_length=48,
                     validation_length=24).fit(train, validation=validation)
    with pytest.raises(DataError, match=r"No validation window .* the validation frame has 50 rows, .* 48 input rows and 12"):
        tsseq.create("ensemble", members=members, combine="weighted", horizon=12, input_length=48).fit(
            train, validation=validation.iloc[:50])
    with pytest.raises(ConfigError, match="no member sets input_length. Pass the ensemble's 'input_length'"):
        tsseq.create("ensemble", members=members, combine="weighted", horizon=12).fit(train, validation=validation)


def test_refit_members_are_fitted_again_on_the_training_and_validation_rows_after_the_weights(tmp_path: Path):
    frame = _seasonal_frame(480)
    frame["a"] += np.random.default_rng(3).normal(0, 0.2, len(frame))  # else AR's fit is exact whatever its rows
    train, validation = frame.iloc[:360], frame.iloc[360 - 48 :]  # overlapping by the first window's input rows
    members = [{"name": "ar", "params": {"max_order": 3}}, {"name": "seasonal_naive", "params": {"season_length": 24}}]
    params = {"members": members, "combine": "weighted", "horizon": 12, "input_length": 48}
    kept = tsseq.create("ensemble", **params).fit(train, validation=validation)
    refitted = tsseq.create("ensemble", **params, refit=["ar"]).fit(train, validation=validation)
    np.testing.assert_array_equal(refitted.weights_, kept.weights_)  # the weights come from the members fitted on train
    assert (refitted.refitted_, kept.refitted_) == (["ar"], [])
    on_every_row = tsseq.create("ar", max_order=3).fit(frame)  # the training rows, then the validation frame's later ones
    np.testing.assert_allclose(refitted.members_[0].predict(12).to_numpy(), on_every_row.predict(12).to_numpy(), rtol=1e-12)
    assert not np.allclose(kept.members_[0].predict(12).to_numpy(), on_every_row.predict(12).to_numpy())
    np.testing.assert_array_equal(refitted.members_[1].predict(12).to_numpy(), kept.members_[1].predict(12).to_numpy())
    windows = frame.to_numpy()[None, -48:]
    expected = sum(w * m.predict_windows(windows, 12) for w, m in zip(refitted.weights_, [on_every_row, kept.members_[1]]))
    np.testing.assert_allclose(refitted.predict_windows(windows, 12), expected, rtol=1e-12)
    loaded = persistence.load(persistence.save(refitted, tmp_path / "ensemble.pt"))
    assert loaded.refitted_ == ["ar"] and loaded.get_params()["refit"] == ["ar"]
    np.testing.assert_array_equal(loaded.predict_windows(windows, 12), refitted.predict_windows(windows, 12))
    with pytest.raises(DataError, match=r"rows from 2022-01-05 04:00:00 not in the fit rows, which end at 2022-01-15 23:00:00"):
        tsseq.create("ensemble", **params, refit=["ar"]).fit(frame.iloc[200:360], validation=frame.iloc[100:260])
    with pytest.raises(DataError, match=r"refit of ensemble member 'ar' on the fit and validation rows: .*irregular spacing"):
        tsseq.create("ensemble", **params, refit=["ar"]).fit(frame.iloc[:288], validation=frame.iloc[312:])  # a gap
    with pytest.raises(ConfigError, match=r"'refit' parameter names 'arr', which no member is labelled\. Did you mean 'ar'\?"):
        tsseq.create("ensemble", **params, refit=["arr"]).fit(train, validation=validation)
    with pytest.raises(ConfigError, match=r"'refit' parameter must be a list of member labels, e.g. \['ar'\]\. Got 'ar'"):
        tsseq.create("ensemble", **params, refit="ar").fit(train, validation=validation)
    with pytest.warns(UserWarning, match="refit is used with a validation frame of one series given to fit"):
        assert tsseq.create("ensemble", **params, refit=["ar"]).fit(train).refitted_ == []
    mean = {**params, "combine": "mean"}  # no weights to fit: refit after the members' fits, the same way
    averaged = tsseq.create("ensemble", **mean, refit=["ar"]).fit(train, validation=validation)
    assert averaged.refitted_ == ["ar"] and averaged.weights_.tolist() == [0.5, 0.5]
    np.testing.assert_allclose(averaged.members_[0].predict(12).to_numpy(), on_every_row.predict(12).to_numpy(), rtol=1e-12)
    expected = (on_every_row.predict_windows(windows, 12) + kept.members_[1].predict_windows(windows, 12)) / 2
    np.testing.assert_allclose(averaged.predict_windows(windows, 12), expected, rtol=1e-12)


def test_a_trained_member_is_refitted_for_the_epochs_its_validated_fit_chose_with_no_rows_held_out():
    frame = _seasonal_frame(400)[["a"]]
    frame["a"] += np.random.default_rng(4).normal(0, 0.3, len(frame))
    train, validation = frame.iloc[:300], frame.iloc[300 - 24 :]
    # A learning rate this high overfits within a few epochs: early stopping ends the validated fit after its best.
    training = {"epochs": 12, "batch_size": 16, "learning_rate": 0.1, "seed": 0, "early_stopping_patience": 3}
    rnn = {"name": "rnn", "params": {"input_length": 24, "horizon": 6, "hidden_size": 8, "training": training}}
    validated = tsseq.create("rnn", **rnn["params"]).fit(train, validation=validation)
    chosen = validated.history_.best_epoch + 1  # restore_best: the best epoch's weights were kept
    assert chosen < validated.history_.epochs  # the known answer below differs from "every epoch run"
    ensemble = tsseq.create("ensemble", members=[rnn, "naive"], combine="weighted", horizon=6, input_length=24,
                            refit=["rnn"]).fit(train, validation=validation)  # fmt: skip
    refitted = ensemble.members_[0]
    assert refitted.training_config().epochs == chosen and refitted.training_config().early_stopping_patience is None
    assert refitted.validation_fraction == 0 and refitted.history_.val_loss == []  # every row trained on
    direct = tsseq.create("rnn", **{**rnn["params"], "validation_fraction": 0.0,
                                    "training": {**training, "epochs": chosen, "early_stopping_patience": None}})
    direct.fit(frame)  # the training rows, then the validation frame's later ones
    np.testing.assert_allclose(refitted.predict(6).to_numpy(), direct.predict(6).to_numpy(), rtol=1e-6)


def test_simplex_least_squares_matches_the_exact_active_set_solution():
    rng = np.random.default_rng(3)
    for _ in range(20):
        forecasts, target = rng.standard_normal((4, 60)), rng.standard_normal(60)
        best, best_loss = None, np.inf
        for size in range(1, 5):  # the optimum lies on some face of the simplex: solve each face exactly
            for face in itertools.combinations(range(4), size):
                a = forecasts[list(face)].T
                kkt = np.block([[2 * a.T @ a, np.ones((size, 1))], [np.ones((1, size)), np.zeros((1, 1))]])
                solution = np.linalg.lstsq(kkt, np.concatenate([2 * a.T @ target, [1]]), rcond=None)[0][:size]
                if np.all(solution >= -1e-12):
                    weights = np.zeros(4)
                    weights[list(face)] = solution
                    loss = np.sum((weights @ forecasts - target) ** 2)
                    if loss < best_loss:
                        best, best_loss = weights, loss
        weights = simplex_least_squares(forecasts, target)
        assert np.all(weights >= 0) and weights.sum() == pytest.approx(1, abs=1e-12)
        assert np.sum((weights @ forecasts - target) ** 2) == pytest.approx(best_loss, rel=1e-7)
        np.testing.assert_allclose(weights, best, atol=1e-5)


# ---------------------------------------------------------------------- seed ensembles


def test_a_seed_ensemble_fits_one_recipe_per_seed_and_averages_them():
    frame, horizon = testing.wide_frame(), 5
    ensemble = tsseq.create("ensemble", members=[{"name": "rnn", "params": TINY_RNN}], seeds=[0, 1, 2]).fit(frame)
    assert ensemble.labels_ == ["rnn[seed=0]", "rnn[seed=1]", "rnn[seed=2]"]
    assert [m.training_config().seed for m in ensemble.members_] == [0, 1, 2]
    forecasts = _stack([m.predict(horizon) for m in ensemble.members_])
    for first, second in itertools.combinations(forecasts, 2):
        assert not np.allclose(first, second)
    np.testing.assert_allclose(ensemble.predict(horizon).to_numpy(), forecasts.mean(axis=0), rtol=1e-12, atol=1e-12)
    single = tsseq.create("rnn", **{**TINY_RNN, "training": {**TINY_RNN["training"], "seed": 1}}).fit(frame)
    np.testing.assert_array_equal(single.predict(horizon).to_numpy(), forecasts[1])


# ---------------------------------------------------------------------- quantiles and paths


@pytest.mark.parametrize("combine", ["mean", "median", "weighted"])
def test_quantiles_are_the_combined_member_quantiles_and_never_cross(combine):
    frame, horizon = testing.wide_frame(), 8
    weighted = {"validation_length": 30, "horizon": 8} if combine == "weighted" else {}
    ensemble = tsseq.create("ensemble", members=MEMBERS, combine=combine, **weighted).fit(frame)
    assert ensemble.probabilistic
    # Columns a, a_q0.05, ..., b, b_q0.05, ...: (H, C, 1 + Q), the point first.
    quantiles = ensemble.predict(horizon, quantiles=LEVELS).to_numpy().reshape(horizon, 2, 1 + len(LEVELS))[..., 1:]
    members = _stack([m.predict(horizon, quantiles=LEVELS) for m in ensemble.members_])
    member_quantiles = members.reshape(3, horizon, 2, 1 + len(LEVELS))[..., 1:]
    if combine == "median":
        expected = np.median(member_quantiles, axis=0)
    else:
        expected = np.tensordot(ensemble.weights_, member_quantiles, axes=1)
    np.testing.assert_allclose(quantiles, expected, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(quantiles, axis=-1) >= 0)
    windows = testing._windows(frame, 48)[:5]
    window_quantiles = ensemble.predict_windows(windows, horizon, quantiles=LEVELS)
    assert window_quantiles.shape == (5, horizon, 2, len(LEVELS)) and np.all(np.diff(window_quantiles, axis=-1) >= 0)
    interval = ensemble.predict_interval(horizon, coverage=0.9)
    np.testing.assert_allclose(interval["a_lower"].to_numpy(), quantiles[:, 0, 0], rtol=1e-12)


def test_sample_paths_are_the_members_paths_drawn_by_weight():
    frame, horizon = testing.wide_frame(), 6
    ensemble = tsseq.create("ensemble", members=MEMBERS).fit(frame)
    paths = ensemble.sample(horizon, 3000, seed=4)
    assert paths.index.names == ["sample", "timestamp"] and paths.shape == (3000 * horizon, 2)
    pd.testing.assert_frame_equal(paths, ensemble.sample(horizon, 3000, seed=4))
    # The mixture's mean is the weighted mean of the members' means (their point forecasts).
    mixture_mean = paths.groupby(level="timestamp").mean().to_numpy()
    spread = paths.groupby(level="timestamp").std().to_numpy()
    assert np.all(np.abs(mixture_mean - ensemble.predict(horizon).to_numpy()) < 5 * spread / np.sqrt(3000))
    ensemble.weights_ = np.array([0.0, 1.0, 0.0])  # all paths from the seasonal naive: its daily walk
    one = ensemble.sample(horizon, 200, seed=0).groupby(level="timestamp").mean().to_numpy()
    seasonal = ensemble.members_[1].predict(horizon).to_numpy()
    assert np.all(np.abs(one - seasonal) < 0.2)


# ---------------------------------------------------------------------- persistence


def test_save_and_load_give_bit_identical_forecasts(tmp_path: Path):
    frame, horizon = testing.wide_frame(), 5
    members = [*MEMBERS, {"name": "rnn", "params": {**TINY_RNN, "training": {**TINY_RNN["training"], "loss": "quantile"}},
                          "label": "tiny-rnn"}]
    ensemble = tsseq.create("ensemble", members=members, combine="weighted", horizon=5, validation_length=20).fit(frame)
    path = persistence.save(ensemble, tmp_path / "ensemble.pt")
    loaded = persistence.load(path)
    assert type(loaded) is EnsembleForecaster and loaded.labels_ == ["naive", "seasonal_naive", "ar", "tiny-rnn"]
    assert [type(m) for m in loaded.members_] == [type(m) for m in ensemble.members_]
    np.testing.assert_array_equal(loaded.weights_, ensemble.weights_)
    pd.testing.assert_frame_equal(loaded.predict(horizon), ensemble.predict(horizon), check_exact=True)
    pd.testing.assert_frame_equal(
        loaded.predict(horizon, quantiles=LEVELS), ensemble.predict(horizon, quantiles=LEVELS), check_exact=True
    )
    windows = testing._windows(frame, 48)[:4]
    np.testing.assert_array_equal(loaded.predict_windows(windows, horizon), ensemble.predict_windows(windows, horizon))
    pd.testing.assert_frame_equal(loaded.sample(horizon, 10, seed=2), ensemble.sample(horizon, 10, seed=2), check_exact=True)


# ---------------------------------------------------------------------- errors


def test_an_unknown_member_is_named_with_the_closest_registered_name():
    with pytest.raises(ConfigError, match=r"ensemble members\[1\]: Unknown model 'arr'\. Did you mean 'ar'\?"):
        tsseq.create("ensemble", members=["naive", "arr"]).fit(testing.wide_frame())
    with pytest.raises(ConfigError, match=r"members\[0\]: unknown key 'parms'\. Did you mean 'params'\?"):
        tsseq.create("ensemble", members=[{"name": "ar", "parms": {}}]).fit(testing.wide_frame())
    with pytest.raises(ConfigError, match=r"Ensemble member 'ar'.*no parameter 'max_ordr'\. Did you mean 'max_order'\?"):
        tsseq.create("ensemble", members=[{"name": "ar", "params": {"max_ordr": 3}}]).fit(testing.wide_frame())


@pytest.mark.parametrize("members", [[], (), "ar", None])
def test_members_must_be_a_non_empty_list(members):
    with pytest.raises(ConfigError, match="'members' parameter must be a non-empty list"):
        tsseq.create("ensemble", members=members).fit(testing.wide_frame())


def test_bad_parameters_are_named():
    frame = testing.wide_frame()
    with pytest.raises(ConfigError, match=r"'combine' parameter must be one of mean, median, weighted\. Got 'meen'.*'mean'"):
        tsseq.create("ensemble", combine="meen").fit(frame)
    with pytest.raises(ConfigError, match="validation_length' parameter must be at least the horizon \\(10\\)"):
        tsseq.create("ensemble", combine="weighted", horizon=10, validation_length=4).fit(frame)
    with pytest.raises(ConfigError, match="'ar' has no training settings"):
        tsseq.create("ensemble", members=["ar"], seeds=[0, 1]).fit(frame)
    with pytest.raises(ConfigError, match="give exactly one member, not 2"):
        tsseq.create("ensemble", members=["rnn", "gru"], seeds=[0, 1]).fit(frame)
    with pytest.warns(UserWarning, match="validation_length is used by combine='weighted' only"):
        tsseq.create("ensemble", validation_length=10).fit(frame)


def test_a_point_only_member_is_named_when_quantiles_are_asked_for():
    frame = testing.wide_frame()
    ensemble = tsseq.create("ensemble", members=["naive", {"name": "rnn", "params": TINY_RNN, "label": "my-rnn"}])
    assert not ensemble.probabilistic  # known before fitting, as a job checks before training
    ensemble.fit(frame)
    assert ensemble.predict(5).shape == (5, 2)
    with pytest.raises(ConfigError, match=r"point forecasts only, not quantiles: its member\(s\) 'my-rnn' give point"
                                          r" forecasts only\..*conformal"):
        ensemble.predict(5, quantiles=[0.1, 0.9])
    with pytest.raises(ConfigError, match="'my-rnn'"):
        ensemble.sample(5, 3)


def test_windows_too_short_for_a_member_name_it():
    frame = testing.wide_frame()
    ensemble = tsseq.create("ensemble", members=["naive", {"name": "rnn", "params": TINY_RNN}]).fit(frame)
    assert ensemble.predict_windows(testing._windows(frame, 30)[:3], 5).shape == (3, 5, 2)  # rnn reads the last 24
    with pytest.raises(DataError, match=r"windows of 10 steps; ensemble member 'rnn' reads the last input_length=24"):
        ensemble.predict_windows(testing._windows(frame, 10)[:3], 5)
    ar = tsseq.create("ensemble", members=[{"name": "ar", "params": {"order": 12}}]).fit(frame)
    with pytest.raises(DataError, match=r"Ensemble member 'ar': predict_windows got windows of 5 steps"):
        ar.predict_windows(testing._windows(frame, 5)[:3], 5)


def test_the_benchmark_ensemble_jobs_parse_and_build():
    from tsseq.config import load_pipeline
    from tsseq.pipeline import build_model

    folder = Path(__file__).resolve().parents[1] / "pipelines" / "benchmarks"
    config, _ = load_pipeline(folder / "m4_hourly_ensemble.yaml")
    assert config.evaluation.protocol == "m4"
    (model,) = config.models
    ensemble = build_model(model, {"horizon": 48, "season_length": 24})  # what the m4 protocol passes
    assert ensemble.combine == "median" and ensemble.horizon == 48
    names = ["segrnn_mae", "segrnn_mae_seed1", "segrnn_log", "segrnn_log_seed1", "seasonal_naive"]
    assert [c.display_name for c in ensemble.member_configs()] == names
    networks = [ensemble._build_member(config) for config in ensemble.member_configs()[:4]]
    assert [network.training["seed"] for network in networks] == [0, 1, 0, 1]  # two seeds of each recipe
    assert all(network.target_transform == "log" and network.scale is False for network in networks[2:])
    config, _ = load_pipeline(folder / "etth1_M96_best.yaml")
    (model,) = config.models
    ensemble = build_model(model, {"horizon": 96, "input_length": 720})  # what the ett protocol passes
    members = [ensemble._build_member(member) for member in ensemble.member_configs()]
    assert ensemble.combine == "mean"  # step 15
    assert ensemble.refit == ["ar_direct", "ar_recursive", "segrnn_mse", "segrnn_seg48", "segrnn_seg48_seed1",
                              "segrnn_seg48_seed2", "segrnn_seg48_seed3"]  # steps 9 to 12: every member  # fmt: skip
    (single,) = load_pipeline(folder / "etth1_M96_segrnn.yaml")[0].models
    network = build_model(single, {"horizon": 96, "input_length": 720})
    for seed, member in enumerate(members[:4]):  # seeds 0-3 over 48-step segments: only those differ from the network
        assert member.training_config() == dataclasses.replace(network.training_config(), seed=seed)
        assert {**member.get_params(deep=False), "training": None} == {
            **network.get_params(deep=False), "training": None, "segment_length": 48}
    mse_loss = dataclasses.replace(network.training_config(), loss="mse")
    assert members[4].training_config() == mse_loss
    assert {**members[4].get_params(deep=False), "training": None} == {**network.get_params(deep=False), "training": None}
    assert [m.get_params()["strategy"] for m in members[5:]] == ["direct", "recursive"]
    assert len(members) == 7


def test_covariates_no_member_takes_are_refused_naming_the_kind_and_the_members():
    frame = _seasonal_frame()
    driver = frame.rename(columns=lambda column: f"{column}_driver")
    with pytest.raises(ConfigError, match="ensemble does not take past covariates: it takes future covariates only. "
                                          "No member takes them: 'naive' takes none; 'ar' takes future"):
        tsseq.create("ensemble", members=["naive", "ar"]).fit(frame, past_covariates=driver)


def test_a_members_refusal_to_forecast_names_the_member():
    index = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"y": np.sin(np.arange(200) / 4)}, index=index)
    members = [{"name": "linear", "params": {"input_length": 24, "horizon": 3}}, "naive"]
    ensemble = tsseq.create("ensemble", members=members, horizon=6).fit(frame)
    for call in (lambda: ensemble.predict(6), lambda: ensemble.predict(6, quantiles=[0.1, 0.9])):
        with pytest.raises(ConfigError, match=r"Ensemble member 'linear': .*fitted for horizon=3; it cannot forecast 6"):
            call()
    assert ensemble.predict(3).shape == (3, 1)
