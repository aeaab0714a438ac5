"""auto on the inputs a default model meets: gaps, short series, quantiles in a backtest, explosive AR fits."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq.auto import AutoForecaster, isolated_extremes
from tsseq.backtesting import historical_forecasts
from tsseq.baselines import Naive
from tsseq.cli import main
from tsseq.errors import DataError

BASELINE_CANDIDATES = ["naive", "seasonal_naive", "ar", "ensemble"]  # no network: fast


def annual(values: np.ndarray, name: str = "volume") -> pd.DataFrame:
    """A yearly series, as statsmodels' nile (100 rows from 1871)."""
    return pd.DataFrame({name: values}, index=pd.date_range("1871-01-01", periods=len(values), freq="YS", name="date"))


def nile_like(rows: int = 100, seed: int = 0) -> pd.DataFrame:
    return annual(900 + 150 * np.random.default_rng(seed).standard_normal(rows))


def hourly_with_gaps(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = 10 + np.sin(2 * np.pi * np.arange(rows) / 24) + 0.1 * rng.standard_normal(rows)
    values[[40, 41, 200]] = np.nan
    return pd.DataFrame({"load": values}, index=pd.date_range("2021-03-01", periods=rows, freq="h", name="time"))


def growing(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Monthly, growing 4% a step: AR's fits are explosive and replaced (a random walk with drift)."""
    rng = np.random.default_rng(seed)
    values = np.cumsum(1.04 ** np.arange(rows) + rng.standard_normal(rows))
    return pd.DataFrame({"y": values}, index=pd.date_range("2000-01-01", periods=rows, freq="MS"))


@pytest.fixture
def no_candidate_fits(monkeypatch):
    """Fails a test in which auto scores any candidate."""
    monkeypatch.setattr(AutoForecaster, "_score", lambda *args, **kwargs: pytest.fail("a candidate was scored"))


# --------------------------------------------------------------------------- missing values


def test_missing_values_are_refused_before_any_candidate_is_fitted_naming_the_column_count_and_first_timestamp(
    no_candidate_fits,
):
    with pytest.raises(DataError) as refusal:
        tsseq.create("auto", horizon=12, verbose=False).fit(hourly_with_gaps())
    message = str(refusal.value)
    assert "auto cannot use missing values: column 'load' has 3 missing value(s), the first at 2021-03-02 16:00:00" in message
    assert "check_series(frame, missing='interpolate')" in message  # the Python form ...
    assert "--missing interpolate or --missing ffill" in message  # ... and the command line's


def test_missing_values_of_a_long_frame_name_the_series(no_candidate_fits):
    clean = hourly_with_gaps().ffill()
    frame = pd.concat({"a": clean, "b": hourly_with_gaps(), "c": hourly_with_gaps(seed=1)}, names=["id", "time"])
    with pytest.raises(DataError, match=r"column 'load' has 6 missing value\(s\) in 2 series, the first at series 'b' at "
                                        r"2021-03-02 16:00:00"):
        tsseq.create("auto", horizon=12, verbose=False).fit(frame)


def test_gaps_filled_as_the_message_says_are_forecast():
    from tsseq.data.checks import check_series

    model = tsseq.create("auto", horizon=12, verbose=False, candidates=BASELINE_CANDIDATES)
    model.fit(check_series(hourly_with_gaps(), missing="interpolate"))
    assert np.isfinite(model.predict(12).to_numpy()).all()


def test_cli_forecast_of_auto_with_missing_mask_exits_2_before_training_saying_how_to_fill(
    tmp_path, capsys, no_candidate_fits
):
    path, output = tmp_path / "gaps.csv", tmp_path / "out.csv"
    hourly_with_gaps().to_csv(path)
    assert main(["forecast", str(path), "--horizon", "12", "--missing", "mask", "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "auto cannot use missing values: column 'load' has 3 missing value(s)" in error
    assert "--missing interpolate" in error and "Traceback" not in error
    assert not output.exists()


def test_the_first_error_on_a_file_with_gaps_does_not_offer_mask_to_the_default_model(tmp_path, capsys):
    path, output = tmp_path / "gaps.csv", tmp_path / "out.csv"
    hourly_with_gaps().to_csv(path)
    assert main(["forecast", str(path), "--horizon", "12", "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "gaps.csv: column 'load' has 3 missing value(s)" in error
    assert "(tsseq: --missing interpolate or --missing ffill)" in error
    assert "for the neural models only" in error and "auto (the default of tsseq forecast and of tsseq detect)" in error
    assert "or 'mask' to handle them" not in error


# --------------------------------------------------------------------------- quantiles in a backtest


def test_cli_backtest_of_auto_gives_the_quantiles_asked_for(tmp_path, capsys):
    path, output = tmp_path / "nile.csv", tmp_path / "b.csv"
    nile_like().to_csv(path)
    arguments = ["backtest", str(path), "--horizon", "10", "--start", "0.8", "--model", "auto",
                 "--quantiles", "0.1,0.5,0.9", "--output", str(output)]
    assert main(arguments) == 0, capsys.readouterr().err  # refused before: auto may choose a point-loss network
    forecasts = pd.read_csv(output)
    assert list(forecasts.columns) == ["cutoff", "timestamp", "volume", "volume_q0.1", "volume_q0.5", "volume_q0.9"]
    assert (forecasts["volume_q0.1"] <= forecasts["volume_q0.9"]).all()


def test_historical_forecasts_with_quantiles_set_auto_up_for_them_and_leave_the_callers_model_as_it_was():
    model = tsseq.create("auto", horizon=10, verbose=False)
    forecasts = historical_forecasts(model, nile_like(), start=80, horizon=10, stride=5, quantiles=[0.1, 0.9])
    assert {"volume_q0.1", "volume_q0.9"} <= set(forecasts.columns)
    assert model.training is None and not hasattr(model, "chosen_")  # the caller's auto: unchanged, unfitted


# --------------------------------------------------------------------------- imports


def test_auto_on_a_short_series_without_covariates_never_imports_torch_or_scikit_learn(tmp_path):
    # torch: auto built a network to ask what it takes; scikit-learn: its clone, in every validation fit
    # (tsseq forecast on this series took 3.0 s with both, 0.56 s with neither; the timing is in the commits)
    path = tmp_path / "nile.csv"
    nile_like().to_csv(path)
    code = (
        "import sys, pandas as pd, tsseq; "
        f"frame = pd.read_csv({str(path)!r}, index_col=0, parse_dates=True); "
        "model = tsseq.create('auto', horizon=10, verbose=False).fit(frame); model.predict(10, quantiles=[0.1, 0.9]); "
        "print(model.chosen_['name'], 'torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    chosen, torch_imported, sklearn_imported = result.stdout.split()
    assert chosen in ("naive", "ar", "ensemble") and torch_imported == sklearn_imported == "False"


# --------------------------------------------------------------------------- warnings and the report


def test_the_candidates_warnings_name_the_fit_and_point_at_the_callers_line_and_the_report_names_the_replacement():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = tsseq.create("auto", horizon=12, verbose=False, candidates=BASELINE_CANDIDATES).fit(growing())
    explosive = [w for w in caught if "were explosive" in str(w.message)]
    assert [str(w.message).split(": AR: ")[0] for w in explosive] == [
        "auto: validation backtest of ar(max_order=10)", f"auto: final refit of {model.chosen_['label']}",
    ]
    assert {Path(w.filename) for w in explosive} == {Path(__file__)}  # the fit call above, not a library line
    assert "its final refit's AR replaced 1 explosive fit(s) (channel 'y': order 1 -> a random walk with drift)" in (
        model.report()
    )


def test_identical_warnings_of_the_validation_fits_are_issued_once(monkeypatch):
    fit = Naive.fit

    def warning_fit(self, *args, **kwargs):
        warnings.warn("Naive: a note", UserWarning, stacklevel=2)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Naive, "fit", warning_fit)
    rng = np.random.default_rng(0)
    index = pd.date_range("2021-01-01", periods=80, freq="D")
    frame = pd.concat({name: pd.DataFrame({"y": rng.standard_normal(80).cumsum()}, index=index) for name in "abc"},
                      names=["id", "time"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tsseq.create("auto", horizon=7, validation_origins=3, verbose=False, candidates=["naive"]).fit(frame)
    relayed = [str(w.message) for w in caught if "Naive: a note" in str(w.message)]
    assert relayed.count("auto: validation backtest of naive: Naive: a note") == 1  # 3 origins, 3 fits, 1 warning
    assert all(message.startswith("auto: ") for message in relayed)


@pytest.mark.filterwarnings("ignore:.*are explosive")  # the kept fit, forecast
def test_the_advice_relayed_from_an_explosive_ar_fit_is_one_the_user_of_auto_can_follow(tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tsseq.create("auto", horizon=12, verbose=False, candidates=BASELINE_CANDIDATES).fit(growing())
    explosive = [str(w.message) for w in caught if "were explosive" in str(w.message)]
    assert explosive  # "Pass stable=False" before, which auto refuses: it is AR's parameter
    assert all(message.endswith("AR's parameter stable=False keeps them (tsseq: --model ar --param stable=false).")
               for message in explosive)
    path, output = tmp_path / "growing.csv", tmp_path / "out.csv"
    growing().rename_axis("time").to_csv(path)
    arguments = ["forecast", str(path), "--horizon", "12", "--model", "ar", "--param", "stable=false", "--output", str(output)]
    assert main(arguments) == 0, capsys.readouterr().err  # the command it gives runs


def test_a_warning_filter_of_the_user_still_applies():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="auto: .*were explosive")
        tsseq.create("auto", horizon=12, verbose=False, candidates=BASELINE_CANDIDATES).fit(growing())
    assert not [w for w in caught if "were explosive" in str(w.message)]


# --------------------------------------------------------------------------- isolated extreme values


def daily_with_a_typo(rows: int = 365, at: int = 300, seed: int = 0) -> pd.DataFrame:
    """A daily series of 50 with a weekly cycle of 5 and unit noise, one value typed as 5000."""
    steps = np.arange(rows)
    values = 50 + 5 * np.sin(2 * np.pi * steps / 7) + np.random.default_rng(seed).standard_normal(rows)
    values[at] = 5000
    return pd.DataFrame({"sales": values}, index=pd.date_range("2022-01-01", periods=rows, freq="D", name="day"))


def test_an_isolated_extreme_value_is_named_with_how_to_blank_and_interpolate_it():
    with pytest.warns(UserWarning) as record:
        tsseq.create("auto", horizon=14, verbose=False, candidates=BASELINE_CANDIDATES).fit(daily_with_a_typo())
    (message,) = [str(w.message) for w in record if "isolated extreme" in str(w.message)]
    assert message.startswith("auto: 1 isolated extreme value(s) in the rows to fit: column 'sales' at 2022-10-28 "
                              "00:00:00: 5000 (")
    assert ("blank it (an empty cell) and fill it by interpolation: tsseq.data.checks.check_series(frame, "
            "missing='interpolate') before fit (tsseq: --missing interpolate)") in message
    assert {Path(w.filename) for w in record if "isolated extreme" in str(w.message)} == {Path(__file__)}


def test_the_extreme_value_of_a_panel_is_named_with_its_series():
    frame = pd.concat({"north": daily_with_a_typo(at=100).assign(sales=lambda f: f["sales"].clip(upper=60)),
                       "south": daily_with_a_typo(seed=1)}, names=["store", "day"])
    with pytest.warns(UserWarning, match=r"auto: 1 isolated extreme value\(s\) in the rows to fit: series 'south', "
                                         r"column 'sales' at 2022-10-28 00:00:00: 5000 \("):
        tsseq.create("auto", horizon=14, verbose=False, candidates=BASELINE_CANDIDATES).fit(frame)


def test_the_warnings_advice_gives_back_the_season_and_the_forecast_the_typo_took():
    from tsseq.data.checks import check_series

    frame = daily_with_a_typo()
    frame.iloc[300, 0] = np.nan
    model = tsseq.create("auto", horizon=14, verbose=False, candidates=BASELINE_CANDIDATES)
    model.fit(check_series(frame, missing="interpolate"))
    assert model.season_length_ == 7 and model.chosen_["name"] != "naive"  # naive, with the typo in


def test_what_is_no_isolated_extreme_value():
    rng = np.random.default_rng(0)
    steps = np.arange(700)
    noise = rng.standard_normal(700)
    assert isolated_extremes(noise, 7) == []  # Gaussian noise: a change of 10 robust sds has probability ~1e-23
    assert isolated_extremes(np.where(steps < 350, 0.0, 100.0) + noise, 7) == []  # a level shift: one large change
    busy_saturday = 40.0 * (steps % 7 == 5) + noise  # far from Friday and Sunday, near the Saturday before and after
    assert isolated_extremes(busy_saturday, 7) == []
    assert [row for row, _ in isolated_extremes(np.where(steps == 198, 40.0, busy_saturday), 7)] == [198]  # a Tuesday
    edges = noise.copy()
    edges[[0, -1]] = 100.0  # one neighbour each: a spike or the start of a shift, who can tell
    assert isolated_extremes(edges, 7) == []
    assert isolated_extremes(np.where(rng.random(700) < 0.8, 0.0, 5.0), 7) == []  # intermittent: no scale to measure


# --------------------------------------------------------------------------- too short


def test_a_series_too_short_for_one_origin_is_told_the_longest_horizon_and_the_models_that_need_no_validation():
    with pytest.raises(DataError) as refusal:
        tsseq.create("auto", horizon=10, verbose=False).fit(nile_like(rows=15))
    message = str(refusal.value)
    assert "the validation holds out the last 10 rows" in message
    assert ("Pass horizon=5 or less (tsseq: --horizon 5), or a model that forecasts short series without a validation: "
            "naive or ar (e.g. tsseq.create('ar'); tsseq: --model ar).") in message
    assert "validation_origins" not in message  # there is one origin already: fewer is no advice


@pytest.mark.filterwarnings("ignore:.*were explosive")  # AR on a few rows of noise
def test_too_many_validation_origins_are_told_how_many_fit():
    with pytest.raises(DataError, match=r"5 validation origins 5 rows apart hold out the last 30 rows.*The data have 35 "
                                        r"rows\. Pass validation_origins=4 or fewer \(tsseq: --param validation_origins=4\)"):
        tsseq.create("auto", horizon=10, validation_origins=5, verbose=False).fit(nile_like(rows=35))
    tsseq.create("auto", horizon=10, validation_origins=4, verbose=False, candidates=BASELINE_CANDIDATES).fit(
        nile_like(rows=35)
    )


@pytest.mark.filterwarnings("ignore:.*were explosive")  # AR on a few rows of noise
def test_a_series_too_short_for_any_horizon_is_told_the_models_that_forecast_it():
    with pytest.raises(DataError, match=r"The data have 8 rows\. Pass a model that forecasts short series without a "
                                        r"validation: naive or ar"):
        tsseq.create("auto", horizon=5, verbose=False).fit(nile_like(rows=8))
    assert np.isfinite(tsseq.create("ar").fit(nile_like(rows=8)).predict(5).to_numpy()).all()  # as the advice says
