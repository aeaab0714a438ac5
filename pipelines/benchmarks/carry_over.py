"""Do tsseq's defaults carry over to public series nobody tuned them on? A hold-out check on statsmodels' data.

Every univariate series below (statsmodels' bundled data sets, offline) loses its last
``H`` rows (12 monthly, 8 quarterly, 52 weekly, 10 annual; at most a fifth of a short
series). Four forecasters are fitted on the rest with their defaults and forecast them:

* ``auto`` with nothing but ``horizon=H`` (the default of ``tsseq forecast``);
* ``naive``; ``seasonal_naive`` with ``season_length`` from the frequency (its default,
  1, would be naive again; annual series have no season, so it is naive there); ``ar``.

Each is scored by MASE (scale: the mean absolute lag-``m`` change of the training rows,
``m`` from the frequency: 52 weekly, 12 monthly, 4 quarterly, 1 annual) and sMAPE on the
observed held-out rows. ``auto``'s 0.1/0.5/0.9 quantiles are fitted as ``tsseq forecast
--quantiles`` fits them (:meth:`~tsseq.base.Forecaster.for_quantiles`: its networks, if
any qualify, train on the quantile loss; otherwise the point model's own quantiles) and
checked: the coverage of the 80% interval, NaN, inverted (lower > upper) or empty
(lower == upper) intervals, crossing quantiles. Also recorded per fit: wall seconds,
every warning's text, an exception's type and message, what ``auto`` chose and its
report, non-finite or implausible forecasts (how many training spans outside the
training range), flat forecasts. ``auto``'s out-of-sample ratio is its MASE over the best
of naive, seasonal naive and AR: ``auto`` promises <= 1 on its own validation backtest
only, so this measures how that promise carries over to the held-out rows.

A single hold-out of 3 to 12 rows is a noisy verdict, so series of at least 50 rows
also get a rolling-origin backtest (:func:`tsseq.backtesting.historical_forecasts`: every
origin from 70% of the rows on, one row apart, each model fitted once on the rows before
the first): its MASE and 80% coverage pooled over every origin and step (``roll_*``
columns; ``--no-rolling`` skips it).

Unless ``--no-cli``, each series' training rows are written to a CSV and ``tsseq
forecast train.csv --horizon H --quantiles 0.1,0.5,0.9`` is run on it (no other option,
no ``--missing``): its exit status, seconds, last stderr line, and its largest difference
from the Python forecasts (in MASE scales) are recorded. ``--backtest NAME`` runs
``tsseq backtest`` with only the required options on that series (repeatable), with the
default model (ar) and with ``--model auto``.

Outputs under ``--workdir`` (default ``tmp/carry``): the CSV of ``--output`` (one row per
series and model), ``warnings.json`` (every warning and report), the training CSVs and
the CLI's forecasts. Run from the repository root, 2 cores, one thread (a few minutes):

    OMP_NUM_THREADS=1 MPLBACKEND=Agg python pipelines/benchmarks/carry_over.py \\
        --output tmp/carry/carry_over.csv --backtest nile --backtest elec_equip

``--series nile --series co2`` picks series (``--list`` names them).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import tsseq
from tsseq.auto import frequency_season
from tsseq.metrics import coverage, mase, msis, seasonal_naive_scale, smape

LEVELS = (0.1, 0.5, 0.9)
NATURAL_HORIZON = {1: 10, 4: 8, 12: 12, 52: 52}  # by season length m: annual, quarterly, monthly, weekly
BASELINES = ("naive", "seasonal_naive", "ar")
MODELS = ("auto", *BASELINES)
MEAN_FALLBACK = " -> 0 (root modulus"  # AR's warning when an explosive fit is replaced by order 0, the mean


# --------------------------------------------------------------------------- data


def _statsmodels(name: str) -> pd.DataFrame:
    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _frame(values, index: pd.DatetimeIndex, column: str) -> pd.DataFrame:
    index = pd.DatetimeIndex(index, freq=index.freq, name="date")
    return pd.DataFrame({column: np.asarray(values, dtype=np.float64)}, index=index)


def _annual(first_year: int, values, column: str) -> pd.DataFrame:
    return _frame(values, pd.date_range(f"{int(first_year)}-01-01", periods=len(values), freq="YS-JAN"), column)


def _quarterly(data: pd.DataFrame, column: str) -> pd.DataFrame:
    """macrodata / interest_inflation: year and quarter columns -> quarter starts."""
    first = pd.Timestamp(year=int(data["year"].iloc[0]), month=3 * int(data["quarter"].iloc[0]) - 2, day=1)
    index = pd.date_range(first, periods=len(data), freq="QS-JAN")
    expected = pd.PeriodIndex.from_fields(year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q")
    assert (index.to_period("Q") == expected).all(), f"{column}: quarters are not consecutive"
    return _frame(data[column], index, column)


def co2() -> pd.DataFrame:
    data = _statsmodels("co2")  # weekly, Saturdays, 59 NaN weeks kept
    return _frame(data["co2"], pd.DatetimeIndex(data.index, freq="W-SAT"), "co2")


def co2_interpolated() -> pd.DataFrame:
    """co2 with its missing weeks filled as auto's NaN error suggests (check_series(missing="interpolate"))."""
    from tsseq.data.checks import check_series

    return check_series(co2(), missing="interpolate")


def elec_equip() -> pd.DataFrame:
    data = _statsmodels("elec_equip")
    return _frame(data.iloc[:, 0], pd.DatetimeIndex(data.index, freq="MS"), "elec_equip")


def elnino() -> pd.DataFrame:
    data = _statsmodels("elnino")  # one row per year, 12 month columns
    months = data.drop(columns="YEAR").to_numpy(np.float64).reshape(-1)
    return _frame(months, pd.date_range(f"{int(data['YEAR'].iloc[0])}-01-01", periods=len(months), freq="MS"), "sst")


def nile() -> pd.DataFrame:
    data = _statsmodels("nile")
    return _annual(data["year"].iloc[0], data["volume"], "volume")


def sunspots() -> pd.DataFrame:
    data = _statsmodels("sunspots")
    return _annual(data["YEAR"].iloc[0], data["SUNACTIVITY"], "sunactivity")


def macrodata(column: str) -> Callable[[], pd.DataFrame]:
    return lambda: _quarterly(_statsmodels("macrodata"), column)


def interest_inflation(column: str) -> Callable[[], pd.DataFrame]:
    return lambda: _quarterly(_statsmodels("interest_inflation"), column)


def danish(column: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        data = _statsmodels("danish_data")  # already quarter starts
        return _frame(data[column], pd.DatetimeIndex(data.index, freq="QS-JAN"), column)

    return load


def copper(column: str) -> Callable[[], pd.DataFrame]:
    # statsmodels: "World Copper Market 1951-1975"; TIME runs 1..25.
    def load() -> pd.DataFrame:
        data = _statsmodels("copper")
        return _annual(1950 + int(data["TIME"].iloc[0]), data[column], column.lower())

    return load


def longley() -> pd.DataFrame:
    data = _statsmodels("longley")
    return _annual(data["YEAR"].iloc[0], data["TOTEMP"], "totemp")


def grunfeld_gm() -> pd.DataFrame:
    data = _statsmodels("grunfeld")
    firm = data[data["firm"] == "General Motors"].sort_values("year")
    return _annual(firm["year"].iloc[0], firm["invest"], "invest")


SERIES: dict[str, Callable[[], pd.DataFrame]] = {
    "co2": co2,
    "co2_interpolated": co2_interpolated,
    "elec_equip": elec_equip,
    "elnino": elnino,
    "nile": nile,
    "sunspots": sunspots,
    "macro_realgdp": macrodata("realgdp"),
    "macro_cpi": macrodata("cpi"),
    "macro_unemp": macrodata("unemp"),
    "macro_infl": macrodata("infl"),
    "ii_Dp": interest_inflation("Dp"),
    "ii_R": interest_inflation("R"),
    "danish_lrm": danish("lrm"),
    "danish_lry": danish("lry"),
    "danish_ibo": danish("ibo"),
    "copper_consumption": copper("WORLDCONSUMPTION"),
    "copper_price": copper("COPPERPRICE"),
    "grunfeld_gm_invest": grunfeld_gm,
    "longley_totemp": longley,
}


def horizon_for(frame: pd.DataFrame, m: int) -> int:
    """The natural horizon of the frequency, at most a fifth of the rows."""
    return max(1, min(NATURAL_HORIZON.get(m, 2 * m), len(frame) // 5))


# --------------------------------------------------------------------------- one fit


@dataclass
class Fit:
    """One model's hold-out forecast and what happened on the way."""

    seconds: float = math.nan
    point: np.ndarray | None = None  # (H,)
    quantiles: np.ndarray | None = None  # (H, 3) at LEVELS
    error: str | None = None
    warnings: list[str] | None = None
    stderr: str = ""
    model: object = None


def run_fit(build: Callable[[], object], train: pd.DataFrame, horizon: int, quantiles: bool = False) -> Fit:
    """Fit ``build()`` on ``train`` and forecast ``horizon`` rows (with LEVELS), recording warnings and stderr."""
    fit, stderr = Fit(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            model = build()
            model.fit(train)
            fit.seconds = time.perf_counter() - started
            fit.model = model
            forecast = model.predict(horizon, quantiles=list(LEVELS) if quantiles else None)
            column = train.columns[0]
            fit.point = forecast[column].to_numpy(np.float64)
            if quantiles:
                fit.quantiles = forecast[[c for c in forecast.columns if c != column]].to_numpy(np.float64)
        except Exception as error:  # noqa: BLE001 - a failure is a finding, recorded with its message
            fit.seconds = time.perf_counter() - started if math.isnan(fit.seconds) else fit.seconds
            fit.error = f"{type(error).__name__}: {error}"
    fit.warnings = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    fit.stderr = stderr.getvalue().strip()
    return fit


def builders(horizon: int, m: int) -> dict[str, Callable[[], object]]:
    return {
        "auto": lambda: tsseq.create("auto", horizon=horizon),
        "naive": lambda: tsseq.create("naive"),
        "seasonal_naive": lambda: tsseq.create("seasonal_naive", season_length=m),
        "ar": lambda: tsseq.create("ar"),
    }


def quantile_fit(auto: Fit, train: pd.DataFrame, horizon: int) -> tuple[Fit, str]:
    """auto's quantiles as ``tsseq forecast --quantiles`` makes them, and where they came from.

    ``for_quantiles`` changes only the networks' loss: when no network was scored the
    point model's choice stands and its quantiles are asked for; else auto is refitted.
    """
    model = auto.model
    networks = model.leaderboard_[model.leaderboard_["candidate"].str.startswith(("segrnn", "patchtst"))]
    if networks["skipped"].isna().any():
        refit = run_fit(lambda: tsseq.create("auto", horizon=horizon).for_quantiles(), train, horizon, quantiles=True)
        return refit, "refitted with for_quantiles()"
    same = run_fit(lambda: _Fitted(model), train, horizon, quantiles=True)
    return same, "the point model"


class _Fitted:
    """A fitted model whose ``fit`` does nothing (so run_fit asks an already fitted model for quantiles)."""

    def __init__(self, model) -> None:
        self.model = model

    def fit(self, train):
        return self

    def predict(self, horizon, quantiles=None):
        return self.model.predict(horizon, quantiles=quantiles)


# --------------------------------------------------------------------------- scores and checks


def scores(point: np.ndarray | None, truth: np.ndarray, scale: float) -> tuple[float, float]:
    if point is None:
        return math.nan, math.nan
    observed = np.isfinite(truth)
    if not np.isfinite(point[observed]).all():
        return math.inf, math.nan
    return mase(truth[observed], point[observed], scale=scale), smape(truth[observed], point[observed])


def spans_outside(values: np.ndarray, train: np.ndarray) -> float:
    """How many training spans (sanity.py's) the farthest forecast lies outside the training range (0 inside)."""
    low, high = np.nanmin(train), np.nanmax(train)
    span = max(high - low, abs(high), abs(low)) or 1.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan
    return float(max(0.0, np.max(finite - high), np.max(low - finite)) / span)


def interval_checks(fit: Fit, truth: np.ndarray) -> dict:
    q = fit.quantiles
    if q is None:
        return {"coverage80": math.nan, "interval_problems": fit.error or "no quantiles"}
    lower, median, upper = q[:, 0], q[:, 1], q[:, 2]
    problems = []
    if not np.isfinite(q).all():
        problems.append(f"{int((~np.isfinite(q)).sum())} non-finite quantiles")
    if (lower > upper).any():
        problems.append(f"{int((lower > upper).sum())} inverted intervals")
    if (lower == upper).any():
        problems.append(f"{int((lower == upper).sum())} empty intervals")
    if ((median < lower) | (median > upper)).any():
        problems.append("crossing quantiles")
    if fit.point is not None and not np.allclose(median, fit.point, rtol=1e-9, atol=1e-9):
        problems.append(f"median differs from point by up to {np.max(np.abs(median - fit.point)):.3g}")
    observed = np.isfinite(truth)
    inside = (truth[observed] >= lower[observed]) & (truth[observed] <= upper[observed])
    return {"coverage80": float(inside.mean()) if observed.any() else math.nan,
            "interval_problems": "; ".join(problems)}


def forecast_problems(point: np.ndarray | None, train: np.ndarray) -> str:
    if point is None:
        return ""
    problems = []
    if not np.isfinite(point).all():
        problems.append(f"{int((~np.isfinite(point)).sum())} non-finite")
    outside = spans_outside(point, train)
    if outside > 1:
        problems.append(f"{outside:.1f} training spans outside the training range")
    if np.isfinite(point).all() and np.all(point == 0) and np.nanmax(np.abs(train)) > 0:
        problems.append("all zero")
    last = train[np.isfinite(train)][-1]
    if np.isfinite(point).all() and np.ptp(point) == 0 and not np.isclose(point[0], last, rtol=1e-9, atol=0):
        problems.append(f"flat at {point[0]:.6g} (last training value {last:.6g}, training mean {np.nanmean(train):.6g})")
    return "; ".join(problems)


# --------------------------------------------------------------------------- command line of tsseq


def tsseq_command(arguments: list[str], environment: dict[str, str]) -> tuple[int, float, str]:
    """(exit status, seconds, stderr) of ``tsseq ARGUMENTS``."""
    started = time.perf_counter()
    executable = shutil.which("tsseq")  # the installed entry point, as a user runs it
    command = [executable] if executable else [sys.executable, "-m", "tsseq.cli"]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True,
                          env=environment, check=False)
    return done.returncode, time.perf_counter() - started, (done.stderr + done.stdout).strip()


def cli_forecast(name: str, train: pd.DataFrame, horizon: int, workdir: Path, reference: Fit, scale: float,
                 environment: dict[str, str]) -> dict:
    """``tsseq forecast`` with defaults and quantiles on the training CSV; its difference from the Python path."""
    csv = workdir / f"{name}.train.csv"
    train.to_csv(csv, index_label="date")
    output = workdir / f"{name}.cli_forecast.csv"
    output.unlink(missing_ok=True)
    levels = ",".join(str(level) for level in LEVELS)
    code, seconds, stderr = tsseq_command(
        ["forecast", str(csv), "--horizon", str(horizon), "--quantiles", levels, "--output", str(output)], environment)
    record = {"cli_exit": int(code), "cli_seconds": seconds, "cli_message": stderr.splitlines()[-1] if stderr else "",
              "cli_stderr": stderr, "cli_max_diff": math.nan}
    if code == 0 and output.exists() and reference.quantiles is not None:
        written = pd.read_csv(output, index_col=0)
        ours = np.column_stack([reference.point, reference.quantiles])
        record["cli_max_diff"] = float(np.max(np.abs(written.to_numpy(np.float64) - ours)) / scale)
    return record


def cli_backtest(name: str, frame: pd.DataFrame, horizon: int, workdir: Path, environment: dict[str, str]) -> list[dict]:
    """``tsseq backtest`` with only the required options (default model ar), then with ``--model auto``."""
    csv = workdir / f"{name}.csv"
    frame.to_csv(csv, index_label="date")
    records = []
    for model in ("ar", "auto"):
        output = workdir / f"{name}.backtest_{model}.csv"
        arguments = ["backtest", str(csv), "--horizon", str(horizon), "--start", "0.8", "--output", str(output)]
        if model != "ar":
            arguments += ["--model", model]
        code, seconds, text = tsseq_command(arguments, environment)
        records.append({"series": name, "command": "tsseq " + " ".join(arguments), "exit": code,
                        "seconds": round(seconds, 2), "output": text})
    return records


# --------------------------------------------------------------------------- rolling origins


def rolling(name: str, frame: pd.DataFrame, horizon: int, m: int, start: float) -> list[dict]:
    """Every origin from ``start`` (a fraction of the rows) on, one row apart, each model fitted once before the first.

    A steadier estimate than the one hold-out: MASE (scale of the rows before the first
    origin) and the 80% coverage pooled over every origin and step. ``auto`` is asked for
    quantiles as ``tsseq forecast --quantiles`` sets it up (``for_quantiles()``).
    """
    from tsseq.backtesting import historical_forecasts

    column = frame.columns[0]
    models = {**builders(horizon, m), "auto": lambda: tsseq.create("auto", horizon=horizon).for_quantiles()}
    records = []
    for model, build in models.items():
        record = {"series": name, "model": model, "origins": 0, "rolling_mase": math.nan, "rolling_coverage80": math.nan,
                  "rolling_score80": math.nan, "rolling_error": "", "rolling_seconds": math.nan}
        started = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")  # the hold-out run records them
            try:
                forecasts = historical_forecasts(build(), frame, start=start, horizon=horizon, stride=1,
                                                 quantiles=[LEVELS[0], LEVELS[-1]])
                record["rolling_seconds"] = time.perf_counter() - started
                truth = frame[column].reindex(pd.DatetimeIndex(forecasts["timestamp"])).to_numpy(np.float64)
                first = frame.index.get_loc(forecasts["cutoff"].min()) + 1
                scale = float(seasonal_naive_scale(frame[column].to_numpy(np.float64)[:first], m if first > m else 1))
                observed = np.isfinite(truth)
                point, lower, upper = (forecasts[name].to_numpy(np.float64)
                                       for name in (column, f"{column}_q{LEVELS[0]}", f"{column}_q{LEVELS[-1]}"))
                # The 80% interval's MSIS (its width plus 2 / 0.2 times each miss, in MASE scales), so that a
                # coverage bought with width shows; tsseq.metrics refuses non-finite or crossed values: recorded.
                record.update(origins=int(forecasts["cutoff"].nunique()),
                              rolling_mase=mase(truth, point, scale=scale, mask=observed),
                              rolling_coverage80=coverage(truth, lower, upper, mask=observed),
                              rolling_score80=msis(truth, lower, upper, scale=scale, alpha=1 - 0.8, mask=observed))
            except Exception as error:  # noqa: BLE001 - recorded
                record["rolling_error"] = f"{type(error).__name__}: {error}"[:300]
        records.append(record)
    return records


# --------------------------------------------------------------------------- the benchmark


def one_series(name: str, frame: pd.DataFrame, args: argparse.Namespace, environment: dict[str, str]) -> tuple[list[dict], dict]:
    m = frequency_season(frame.index.freqstr)
    horizon = args.horizon or horizon_for(frame, m)
    train, test = frame.iloc[:-horizon], frame.iloc[-horizon:]
    values, truth = train.iloc[:, 0].to_numpy(np.float64), test.iloc[:, 0].to_numpy(np.float64)
    scale = float(seasonal_naive_scale(values, m if len(values) > m else 1))
    fits = {model: run_fit(build, train, horizon, quantiles=model != "auto")
            for model, build in builders(horizon, m).items()}
    rows = []
    for model, fit in fits.items():
        mase_value, smape_value = scores(fit.point, truth, scale)
        rows.append({
            "series": name, "freq": frame.index.freqstr, "rows": len(frame), "missing": int(frame.iloc[:, 0].isna().sum()),
            "m": m, "horizon": horizon, "model": model, "mase": mase_value, "smape": smape_value, "fit_seconds": fit.seconds,
            "error": fit.error or "", "forecast_problems": forecast_problems(fit.point, values),
            "n_warnings": len(fit.warnings),
            "ar_mean_fallbacks": sum(MEAN_FALLBACK in text for text in fit.warnings),
            **({} if model == "auto" else interval_checks(fit, truth)),
        })
    auto, details = fits["auto"], {"series": name, "horizon": horizon, "m": m}
    details["warnings"] = {model: fit.warnings for model, fit in fits.items() if fit.warnings}
    details["errors"] = {model: fit.error for model, fit in fits.items() if fit.error}
    auto_row = rows[0]
    best = min((r for r in rows[1:] if np.isfinite(r["mase"])), key=lambda r: r["mase"], default=None)
    auto_row["best_baseline"] = best["model"] if best else ""
    auto_row["ratio_to_best"] = auto_row["mase"] / best["mase"] if best and best["mase"] > 0 else math.nan
    if auto.model is not None:
        auto_row["chosen"] = auto.model.chosen_["label"]
        auto_row["validation_mase"] = auto.model.validation_score_
        auto_row["validation_baseline_mase"] = auto.model.baseline_score_
        details["report"] = auto.model.report()
        details["leaderboard"] = auto.model.leaderboard_.to_dict(orient="records")
        quantiles, source = quantile_fit(auto, train, horizon)
        if quantiles.point is not None and source != "the point model":
            auto_row["quantile_model_mase"] = scores(quantiles.point, truth, scale)[0]
            auto_row["quantile_chosen"] = quantiles.model.chosen_["label"]
        auto_row.update(interval_checks(quantiles, truth), quantile_source=source, quantile_seconds=quantiles.seconds)
        details["quantile_warnings"] = quantiles.warnings
    if args.cli:
        reference = quantiles if auto.model is not None else Fit()
        record = cli_forecast(name, train, horizon, args.workdir, reference, scale, environment)
        details["cli_stderr"] = record.pop("cli_stderr")
        auto_row.update(record)
    if args.rolling and len(frame) >= args.rolling_min_rows:
        by_model = {record["model"]: record for record in rolling(name, frame, horizon, m, args.rolling_start)}
        for row in rows:
            row.update({key: value for key, value in by_model[row["model"]].items() if key not in ("series", "model")})
    return rows, details


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per series: the four MASEs and sMAPEs, auto's choice, the 80% coverages, the seconds."""
    def wide(column: str, prefix: str) -> pd.DataFrame:
        return table.pivot(index="series", columns="model", values=column)[list(MODELS)].add_prefix(prefix)

    auto = table[table["model"] == "auto"].set_index("series")
    out = wide("mase", "mase_").join(wide("smape", "smape_")).join(wide("coverage80", "cover_"))
    if "rolling_mase" in table:
        out = out.join(wide("rolling_mase", "roll_mase_")).join(wide("rolling_coverage80", "roll_cover_"))
        out = out.join(wide("rolling_score80", "roll_is80_"))
    for column in ("horizon", "ratio_to_best", "chosen", "interval_problems", "cli_exit", "cli_max_diff"):
        if column in auto:
            out[column] = auto[column]
    if "cli_exit" in out:
        out["cli_exit"] = out["cli_exit"].astype("Int64")
    out["mean_fallbacks"] = table.groupby("series")["ar_mean_fallbacks"].sum()
    seconds = table.pivot(index="series", columns="model", values="fit_seconds")
    out["auto_s"] = seconds["auto"]
    out["baselines_s"] = seconds[list(BASELINES)].sum(axis=1)
    return out.loc[list(table["series"].unique())]


def warm_up() -> None:
    """Import what the fits import (scikit-learn, scipy) before any is timed."""
    frame = _annual(2000, np.arange(24.0) % 5, "y")
    for build in builders(2, 1).values():
        run_fit(build, frame, 2, quantiles=False)


def geometric_mean(values: pd.Series) -> float:
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.log(values).mean())) if len(values) else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", action="append", choices=list(SERIES), metavar="NAME",
                        help="a series to run, repeatable (default: all; --list names them)")
    parser.add_argument("--output", type=Path, default=Path("tmp/carry/carry_over.csv"), help="per-series, per-model CSV")
    parser.add_argument("--workdir", type=Path, default=None, help="CSV files and logs (default: the output's folder)")
    parser.add_argument("--horizon", type=int, help="one horizon for every series (default: by frequency)")
    parser.add_argument("--no-cli", dest="cli", action="store_false", help="skip `tsseq forecast` on each series")
    parser.add_argument("--backtest", action="append", default=[], choices=list(SERIES), metavar="NAME",
                        help="also run `tsseq backtest` with default options on this series (repeatable)")
    parser.add_argument("--no-rolling", dest="rolling", action="store_false",
                        help="skip the rolling-origin backtest (every origin after --rolling-start, models fitted once)")
    parser.add_argument("--rolling-start", type=float, default=0.7, help="first origin, a fraction of the rows")
    parser.add_argument("--rolling-min-rows", type=int, default=50, help="shorter series get no rolling backtest")
    parser.add_argument("--list", action="store_true", help="print the series with their rows and frequency and exit")
    args = parser.parse_args()
    if args.list:
        for name, load in SERIES.items():
            frame = load()
            print(f"{name:20} {len(frame):5} rows  {frame.index.freqstr:7} {int(frame.iloc[:, 0].isna().sum())} missing")
        return 0
    args.workdir = args.workdir or args.output.parent
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(1)
    warm_up()
    rows, details = [], []
    for name in args.series or list(SERIES):
        started = time.perf_counter()
        series_rows, series_details = one_series(name, SERIES[name](), args, environment)
        rows += series_rows
        details.append(series_details)
        auto = series_rows[0]
        print(f"{name}: auto MASE {auto['mase']:.3f} ({auto.get('chosen', auto['error'][:160])}), "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.output, index=False)
    backtests = []
    for name in args.backtest:
        frame = SERIES[name]()
        horizon = args.horizon or horizon_for(frame, frequency_season(frame.index.freqstr))
        backtests += cli_backtest(name, frame, horizon, args.workdir, environment)
    (args.workdir / "warnings.json").write_text(json.dumps({"series": details, "backtests": backtests}, indent=2,
                                                           default=str) + "\n")
    view = summary(table)
    mase_view = ["horizon", *(f"mase_{model}" for model in MODELS), "ratio_to_best", "chosen", "cover_auto", "auto_s",
                 "baselines_s", "cli_exit", "cli_max_diff", "mean_fallbacks"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 64,
                           "display.float_format", "{:.3f}".format):
        print(view[[c for c in mase_view if c in view]].to_string())
        print()
        print(view[[c for c in view if c.startswith(("smape_", "cover_"))]].to_string())
        if "roll_mase_auto" in view:
            print()
            print(view[[c for c in view if c.startswith("roll_")]].dropna(how="all").to_string())
    print()
    for model in MODELS:
        values = view[f"mase_{model}"]
        print(f"{model:15} MASE median {values.median():.3f}  geometric mean {geometric_mean(values):.3f}  "
              f"sMAPE median {view[f'smape_{model}'].median():.2f}  80% coverage mean {view[f'cover_{model}'].mean():.3f}"
              f"  ({values.notna().sum()} series scored)")
    if "roll_mase_auto" in view:
        rolled = view.dropna(subset=["roll_mase_auto"])
        best = rolled[[f"roll_mase_{model}" for model in BASELINES]].min(axis=1)
        ratio = rolled["roll_mase_auto"] / best
        print(f"rolling origins ({len(rolled)} series): auto / best baseline geometric mean {geometric_mean(ratio):.3f}, "
              f"worse in {int((ratio > 1.0001).sum())}, by more than 10% in {int((ratio > 1.1).sum())}; "
              + ", ".join(f"{model} coverage mean {rolled[f'roll_cover_{model}'].mean():.3f}" for model in MODELS))
        print("rolling origins, 80% interval score in MASE scales (width + 10 x misses; lower is better), geometric "
              "mean: " + ", ".join(f"{model} {geometric_mean(rolled[f'roll_is80_{model}']):.3f}" for model in MODELS))
    ratio = view["ratio_to_best"]
    print(f"auto / best of naive, seasonal naive, AR in hindsight: median {ratio.median():.3f}, geometric mean "
          f"{geometric_mean(ratio):.3f}; worse in {int((ratio > 1.0001).sum())}/{ratio.notna().sum()}, by more than "
          f"10% in {int((ratio > 1.1).sum())}, by more than 50% in {int((ratio > 1.5).sum())}")
    for model in BASELINES:
        each = view["mase_auto"] / view[f"mase_{model}"]
        print(f"auto / {model}: geometric mean {geometric_mean(each):.3f}; auto better in {int((each < 0.9999).sum())}, "
              f"tied in {int(((each >= 0.9999) & (each <= 1.0001)).sum())}, worse in {int((each > 1.0001).sum())}")
    for record in backtests:
        last = record["output"].splitlines()[-2:] if record["output"] else []
        print(f"{record['command']}: exit {record['exit']}, {record['seconds']} s: {' | '.join(last)}")
    print(f"wrote {args.output} and {args.workdir / 'warnings.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
