"""The user's covariates through the public API: past, future and static, for AR and the neural families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from statsmodels.tsa.ar_model import AutoReg

import tsseq
from tsseq.cli import main
from tsseq.errors import ConfigError, DataError
from tsseq.nn.exogenous import ExogenousInputs, ExogenousSizes

HORIZON, LENGTH = 12, 24
TINY = {"input_length": LENGTH, "horizon": HORIZON, "training": {"epochs": 2, "seed": 0, "threads": 1}}


def promoted(length: int = 360, seed: int = 0, series: str | None = None):
    """A daily-seasonal series lifted by 3 on promotion hours, with a noise sensor: (y, past, future) frames.

    The covariate frames run ``HORIZON`` rows past ``y``: the promotions of the horizon are known.
    """
    rng = np.random.default_rng(seed)
    steps = length + HORIZON
    index = pd.date_range("2021-01-01", periods=steps, freq="h", name="timestamp")
    promo = (rng.random(steps) < 0.25).astype(float)
    values = np.sin(np.arange(steps) * 2 * np.pi / 24) + 3 * promo + 0.1 * rng.normal(size=steps)
    y = pd.DataFrame({"y": values}, index=index)
    past, future = pd.DataFrame({"sensor": rng.normal(size=steps)}, index=index), pd.DataFrame({"promo": promo}, index=index)
    if series is not None:
        y, past, future = (pd.concat({series: frame}, names=["store"]) for frame in (y, past, future))
    return y, past, future


def first(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.groupby(level=0).head(rows) if isinstance(frame.index, pd.MultiIndex) else frame.iloc[:rows]


# ------------------------------------------------------------------------------------------- AR


@pytest.mark.parametrize("order", [1, 4])
def test_ar_with_future_covariates_equals_statsmodels_autoreg_exog(order: int) -> None:
    y, _, future = promoted(200, seed=3)
    train = y.iloc[:200]
    model = tsseq.create("ar", order=order).fit(train, future_covariates=future)
    forecast = model.predict(HORIZON, future_covariates=future)
    result = AutoReg(train["y"].to_numpy(), lags=order, trend="c", exog=future.iloc[:200].to_numpy()).fit()
    expected = result.predict(start=200, end=200 + HORIZON - 1, exog_oos=future.iloc[200:].to_numpy())
    np.testing.assert_allclose(forecast["y"].to_numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.exog_coef_[0, 0], result.params[-1:], rtol=0, atol=1e-6)


def test_ar_refuses_past_and_static_covariates_saying_why() -> None:
    y, past, _ = promoted(100)
    with pytest.raises(ConfigError, match=r"ar does not take past covariates: it takes future covariates only.*shifted"):
        tsseq.create("ar").fit(y.iloc[:100], past_covariates=past)


def test_a_known_future_driver_halves_the_error_of_ar_and_of_gru() -> None:
    torch.set_num_threads(1)
    y, _, future = promoted(480, seed=1)
    train, truth = y.iloc[:480], y.iloc[480:]["y"].to_numpy()

    def mse(model, **covariates) -> float:
        model.fit(train, **covariates)
        forecast = model.predict(HORIZON, future_covariates=covariates.get("future_covariates"))
        return float(np.mean((forecast["y"].to_numpy() - truth) ** 2))

    ar_ratio = mse(tsseq.create("ar", max_order=30), future_covariates=future) / mse(tsseq.create("ar", max_order=30))
    settings = {**TINY, "hidden_size": 32, "num_layers": 1, "training": {"epochs": 30, "seed": 0, "threads": 1, "learning_rate": 0.01}}
    gru_ratio = mse(tsseq.create("gru", **settings), future_covariates=future) / mse(tsseq.create("gru", **settings))
    assert ar_ratio < 0.5 and gru_ratio < 0.5, (ar_ratio, gru_ratio)


# ------------------------------------------------------------------------------- neural families


@pytest.mark.parametrize(
    "name, params",
    [
        ("gru", {}),
        ("lstm", {"head": "parallel", "segment_length": 4, "channel_independent": True}),
        ("segrnn", {"segment_length": 12}),
        ("seq2seq", {}),
        ("transformer", {"hidden_size": 16, "n_heads": 2}),
    ],
)
def test_families_take_every_kind_and_future_covariates_change_the_forecast(name: str, params: dict) -> None:
    torch.set_num_threads(1)
    y, past, future = promoted(200)
    model = tsseq.create(name, **TINY, **params).fit(y.iloc[:200], past_covariates=past, future_covariates=future)
    forecast = model.predict(HORIZON, future_covariates=future)
    assert forecast.shape == (HORIZON, 1) and np.isfinite(forecast.to_numpy()).all()
    flipped = future.copy()
    flipped.iloc[200:] = 1 - flipped.iloc[200:]
    assert not np.allclose(model.predict(HORIZON, future_covariates=flipped), forecast)


def test_past_covariates_after_the_origin_never_change_the_forecast() -> None:
    torch.set_num_threads(1)
    y, past, future = promoted(200)
    changed = past.copy()
    changed.iloc[200:] = 1e3  # rows after the forecast origin
    forecasts = [
        tsseq.create("gru", **TINY).fit(y.iloc[:200], past_covariates=rows, future_covariates=future).predict(
            HORIZON, future_covariates=future
        )
        for rows in (past, changed)
    ]
    pd.testing.assert_frame_equal(*forecasts)


def test_gradients_reach_every_covariate_weight() -> None:
    sizes = ExogenousSizes(past=2, future=1, static_numeric=1, static_cardinalities={"region": 3})
    model = tsseq.nn.rnn_forecaster.RecurrentForecaster(1, HORIZON, hidden_size=8, num_layers=1, cell="gru", exogenous=sizes)
    block = torch.randn(4, LENGTH, sizes.width(LENGTH, HORIZON))
    block[..., -1] = 2.0  # the region code
    forecast = model(torch.randn(4, LENGTH, 1), None, block)
    assert forecast.shape == (4, HORIZON, 1)
    forecast.sum().backward()
    for name in ("exogenous_head.weight", "exogenous.static_embedding.embeddings.region.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    steps, ahead = ExogenousInputs(sizes, HORIZON, 3)(block)
    assert steps.shape == (4, LENGTH, 2 + 1 + 1 + 3) and ahead.shape == (4, HORIZON, 1 + 1 + 3)


def test_the_lead_columns_carry_the_horizon_of_every_window() -> None:
    sizes = ExogenousSizes(future=1)
    length, horizon = 4, 6  # two leads past the window: ceil(6 / 4) = 2
    from tsseq.estimators.covariates import lead_columns

    sequence = np.arange(20.0)[:, None]
    rows = lead_columns(sequence, length, sizes.n_leads(length, horizon), len(sequence))  # (20, 3)
    window = torch.tensor(rows[5 : 5 + length])[None]  # the window of rows 5..8
    steps, ahead = ExogenousInputs(sizes, horizon)(window)
    np.testing.assert_array_equal(steps[0, :, 0], [5, 6, 7, 8])
    np.testing.assert_array_equal(ahead[0, :, 0], [9, 10, 11, 12, 13, 14])


def test_long_frames_with_static_covariates_and_a_round_trip(tmp_path) -> None:
    torch.set_num_threads(1)
    parts = [promoted(120, seed=seed, series=name) for seed, name in enumerate(["a", "b", "c"])]
    y, past, future = (pd.concat([part[k] for part in parts]) for k in range(3))
    static = pd.DataFrame({"region": ["north", "south", "north"], "size": [1.0, 3.0, 2.0]}, index=["a", "b", "c"])
    for name in ("gru", "transformer", "seq2seq"):
        params = {"hidden_size": 16, "n_heads": 2} if name == "transformer" else {}
        model = tsseq.create(name, **TINY, **params)
        model.fit(first(y, 120), future_covariates=future, past_covariates=past, static_covariates=static)
        assert model.covariate_spec_.static_categorical == ("region",)
        forecast = model.predict(HORIZON, future_covariates=future)
        assert forecast.index.get_level_values(0).unique().tolist() == ["a", "b", "c"]
        model.save(tmp_path / f"{name}.pt")
        loaded = tsseq.load_model(tmp_path / f"{name}.pt")
        pd.testing.assert_frame_equal(loaded.predict(HORIZON, future_covariates=future), forecast, check_exact=True)


def test_a_static_covariate_without_a_value_is_refused_before_training(tmp_path, capsys, monkeypatch) -> None:
    from tsseq.estimators.neural import NeuralForecaster

    def no_training(self, *args, **kwargs):
        raise AssertionError("trained before the static covariates were checked")

    monkeypatch.setattr(NeuralForecaster, "_run", no_training)
    parts = [promoted(120, seed=seed, series=name) for seed, name in enumerate(["a", "b"])]
    y, past, _ = (pd.concat([part[k] for part in parts]) for k in range(3))
    for column, region, size in (("region", ["north", None], [1.0, 3.0]), ("size", ["north", "south"], [1.0, np.nan])):
        static = pd.DataFrame({"region": region, "size": size}, index=["a", "b"])
        expected = rf"The static covariate '{column}' has no value for series 'b': a static covariate needs a value for every"
        with pytest.raises(DataError, match=expected):
            tsseq.create("gru", **TINY).fit(first(y, 120), past_covariates=past, static_covariates=static)
    pd.concat([first(y, 120), first(past, 120)], axis=1).to_csv(tmp_path / "data.csv")
    (tmp_path / "static.csv").write_text("store,region,size\na,north,1.0\nb,,3.0\n")
    code = main(["forecast", str(tmp_path / "data.csv"), "--series-column", "store", "--target", "y",
                 "--past-covariates", "sensor", "--static-covariates", str(tmp_path / "static.csv"), "--model", "gru",
                 "--param", f"input_length={LENGTH}", "--horizon", str(HORIZON), "--output", str(tmp_path / "f.csv")])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "static.csv: The static covariate 'region' has no value for series 'b'" in error
    assert "not seen at fit time" not in error


def test_past_covariates_alone_train_and_forecast_without_a_warning_from_torch() -> None:
    import warnings

    torch.set_num_threads(1)
    y, past, _ = promoted(200)
    for name, params in (("gru", {}), ("lstm", {"head": "parallel", "segment_length": 4}), ("seq2seq", {}),
                         ("transformer", {"hidden_size": 16, "n_heads": 2})):  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = tsseq.create(name, **TINY, **params).fit(y.iloc[:200], past_covariates=past)
            forecast = model.predict(HORIZON)
        assert not [str(w.message) for w in caught if "zero-element" in str(w.message)], name
        assert forecast.shape == (HORIZON, 1) and np.isfinite(forecast.to_numpy()).all()


def test_missing_covariate_values_are_not_offered_mask(tmp_path, capsys) -> None:
    write_files(tmp_path)
    table = pd.read_csv(tmp_path / "data.csv")
    table.loc[[20, 21, 50], "sensor"] = np.nan
    table.to_csv(tmp_path / "data.csv", index=False)
    arguments = ["forecast", str(tmp_path / "data.csv"), "--target", "y", "--past-covariates", "sensor",
                 "--model", "gru", "--param", f"input_length={LENGTH}", "--param", "training={epochs: 1}",
                 "--threads", "1", "--horizon", str(HORIZON), "--output", str(tmp_path / "f.csv")]  # fmt: skip
    for missing in ([], ["--missing", "mask"]):  # mask was the advice, and then failed on the covariate
        assert main(arguments + missing) == 2
        error = capsys.readouterr().err
        assert "column 'sensor' has 3 missing value(s); the first is at line 22" in error
        assert "A covariate needs a value at every row" in error and "--missing interpolate" in error
        assert "neural models only" not in error
    assert main(arguments + ["--missing", "interpolate"]) == 0


def test_missing_coverage_names_the_column_the_timestamp_and_the_series() -> None:
    y, past, future = promoted(100, series="shop")
    with pytest.raises(DataError, match=r"future covariate 'promo' has no value at 2021-01-05 16:00:00 of series 'shop'.*horizon"):
        tsseq.create("ar").fit(first(y, 100), future_covariates=future).predict(HORIZON + 1, future_covariates=future)
    with pytest.raises(DataError, match=r"past covariate 'sensor' has no value at 2021-01-01 00:00:00.*every training row"):
        tsseq.create("gru", **TINY).fit(first(y, 100), past_covariates=past.iloc[1:])
    fitted = tsseq.create("ar").fit(first(y, 100), future_covariates=future)
    with pytest.raises(DataError, match="pass future_covariates|predict needs future_covariates"):
        fitted.predict(HORIZON)


def test_refusals_name_the_model_the_kind_and_what_it_takes() -> None:
    y, past, future = promoted(100)
    with pytest.raises(ConfigError, match=r"patchtst does not take future covariates: it takes past and static covariates only.*no token"):
        tsseq.create("patchtst", input_length=LENGTH, horizon=HORIZON).fit(y.iloc[:100], future_covariates=future)
    with pytest.raises(ConfigError, match=r"naive does not take future covariates: it takes no covariates"):
        tsseq.create("naive").fit(y.iloc[:100], future_covariates=future)
    with pytest.raises(ConfigError, match=r"gru does not take past covariates: it takes future and static.*recursive head"):
        tsseq.create("gru", **TINY, head="recursive").fit(y.iloc[:100], past_covariates=past)
    model = tsseq.create("gru", **TINY).fit(y.iloc[:100], future_covariates=future)
    with pytest.raises(ConfigError, match="predict_windows"):
        model.predict_windows(np.zeros((1, LENGTH, 1)), HORIZON)


def test_validation_frames_take_their_covariates_from_the_same_frames() -> None:
    torch.set_num_threads(1)
    y, past, future = promoted(200)
    model = tsseq.create("gru", **TINY).fit(
        y.iloc[:150], validation=y.iloc[150 - LENGTH : 200], past_covariates=past, future_covariates=future
    )
    assert len(model.history_.val_loss) == 2 and np.isfinite(model.history_.val_loss).all()


# ------------------------------------------------------------------------------------ CLI, YAML


def write_files(tmp_path):
    y, past, future = promoted(200)
    table = pd.concat([y, past, future], axis=1).iloc[:200]
    table.to_csv(tmp_path / "data.csv", index_label="timestamp")
    future.iloc[200:].to_csv(tmp_path / "future.csv", index_label="timestamp")
    return future


def test_cli_forecast_with_covariates_end_to_end(tmp_path, capsys) -> None:
    write_files(tmp_path)
    arguments = [
        "forecast", str(tmp_path / "data.csv"), "--target", "y", "--future-covariates", "promo",
        "--future", str(tmp_path / "future.csv"), "--horizon", str(HORIZON), "--output", str(tmp_path / "f.csv"),
    ]
    assert main(arguments) == 0  # the default model, auto, keeps the candidates that take them (ARX here)
    assert len(pd.read_csv(tmp_path / "f.csv")) == HORIZON
    assert main(arguments + ["--model", "ar", "--past-covariates", "sensor"]) == 2
    assert "ar does not take past covariates" in capsys.readouterr().err
    arguments += ["--model", "ar"]
    assert main(arguments) == 0
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert len(forecast) == HORIZON and list(forecast.columns)[-1] == "y"
    short = pd.read_csv(tmp_path / "future.csv").iloc[:5]
    short.to_csv(tmp_path / "future.csv", index=False)
    assert main(arguments[:-4] + ["--output", str(tmp_path / "g.csv"), "--model", "ar"]) == 2
    error = capsys.readouterr().err
    assert "future.csv" in error and "'promo'" in error and "2021-01-09 13:00:00" in error
    assert main(arguments + ["--past-covariates", "nothere"]) == 2
    assert "nothere" in capsys.readouterr().err


def test_future_covariates_short_of_the_horizon_are_refused_before_any_fit(tmp_path, capsys, monkeypatch) -> None:
    from tsseq.auto import AutoForecaster
    from tsseq.base import Forecaster

    write_files(tmp_path)
    pd.read_csv(tmp_path / "future.csv").iloc[:5].to_csv(tmp_path / "future.csv", index=False)

    def no_fit(self, *args, **kwargs):
        raise AssertionError("fitted before the future covariates were checked")

    for estimator in (Forecaster, AutoForecaster):
        monkeypatch.setattr(estimator, "fit", no_fit)
    data = str(tmp_path / "data.csv")
    for future in (["--future", str(tmp_path / "future.csv")], []):  # too few rows; none after the data's end
        code = main(["forecast", data, "--target", "y", "--future-covariates", "promo", *future,
                     "--horizon", str(HORIZON), "--output", str(tmp_path / "f.csv")])  # fmt: skip
        assert code == 2
        error = capsys.readouterr().err
        assert "The future covariate 'promo' has no value at" in error and "auto: chose" not in error
    assert not (tmp_path / "f.csv").exists()


def test_yaml_pipeline_with_covariates(tmp_path) -> None:
    write_files(tmp_path)
    job = {
        "name": "covariates",
        "data": {"csv": "data.csv", "target": ["y"], "past_covariates": ["sensor"], "future_covariates": ["promo"],
                 "future_csv": "future.csv"},
        "models": [{"name": "gru", "params": TINY}],
        "evaluation": {"protocol": "holdout", "horizon": HORIZON},
        "output": {"directory": "out", "forecast_csv": "forecast.csv"},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    result = tsseq.pipeline.run_file(tmp_path / "job.yaml", tmp_path / "out")
    assert len(result.forecast) == HORIZON and "gru" in result.scores.index
