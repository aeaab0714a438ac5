"""The forecaster contract as checks any model can run: ``check_forecaster(model)``.

What scikit-learn's ``check_estimator`` and sktime's ``check_estimator`` do for their
estimators: a model registered with tsseq (``@tsseq.registry.register("name")``, one's
own or a third party's) runs ::

    from tsseq.testing import check_forecaster

    check_forecaster(MyForecaster(input_length=24, horizon=5, training={"epochs": 2}))

and learns whether it keeps the contract of :mod:`tsseq.base` that the CLI, the YAML
pipelines, tuning and tracking rely on. Each check in :data:`CHECKS` takes the
unfitted model, works on a clone of it (the model passed in is never fitted) and

* returns when the model passes;
* raises :class:`unittest.SkipTest` when the check does not apply (quantiles of a point
  model), which pytest reports as a skip;
* raises AssertionError saying what was expected and what came, or lets the model's
  own error through.

The data are two small synthetic hourly frames (:func:`wide_frame`, 160 rows of two
channels; :func:`long_frame`, three series of 120 to 150 rows). A neural model should
be configured small (a few epochs, a short ``input_length``) so that the checks run in
seconds; a model with a ``horizon`` shorter than :data:`HORIZON` is asked for its own.
The registry's contract test (``tests/test_registry.py``) runs every check over every
registered model; one of them checks that ``supported_covariates`` is what the model
takes and that every other covariate kind is refused by name.
"""

from __future__ import annotations

import inspect
import tempfile
import unittest
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CHECKS", "HORIZON", "check_forecaster", "long_frame", "wide_frame"]

HORIZON = 5  # the steps forecast by the checks (or the model's horizon, if shorter)
WHOLE_HISTORY_ROWS = 48  # the window length given to models that read all of their history (no input_length)

Check = Callable[[object], None]


def wide_frame(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """``rows`` hourly rows of two channels: ``a`` a daily sine, ``b`` a trend, both with a little noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    values = np.column_stack(
        [
            5 + np.sin(2 * np.pi * steps / 24) + 0.1 * rng.standard_normal(rows),
            1 + 0.02 * steps + 0.1 * rng.standard_normal(rows),
        ]
    )
    index = pd.date_range("2022-01-01", periods=rows, freq="h", name="timestamp")
    return pd.DataFrame(values, index=index, columns=["a", "b"])


def long_frame() -> pd.DataFrame:
    """Three series ``s1``, ``s2``, ``s3`` of 120, 150 and 130 rows, indexed by ``(series, timestamp)``."""
    parts = []
    for series, rows in (("s1", 120), ("s2", 150), ("s3", 130)):
        part = wide_frame(rows, seed=rows)
        part.index = pd.MultiIndex.from_arrays([[series] * rows, part.index], names=["series", "timestamp"])
        parts.append(part)
    return pd.concat(parts)


def check_forecaster(model: object, *, checks: Sequence[Check] | None = None) -> dict[str, str]:
    """Run the contract ``checks`` (default: all of :data:`CHECKS`) on ``model``; see the module docstring.

    Returns ``{check name: "passed" or "skipped: <reason>"}``. Every check runs; if any
    failed, an AssertionError lists each failure as ``<check name>: <error>``.
    """
    outcomes, failures = {}, []
    for check in CHECKS if checks is None else checks:
        try:
            check(model)
        except unittest.SkipTest as skipped:
            outcomes[check.__name__] = f"skipped: {skipped}"
        except Exception as error:  # noqa: BLE001 - every failure is reported, with its type
            failures.append(f"{check.__name__}: {type(error).__name__}: {error}")
        else:
            outcomes[check.__name__] = "passed"
    if failures:
        raise AssertionError(f"{type(model).__name__} fails {len(failures)} contract check(s):\n" + "\n".join(failures))
    return outcomes


# --------------------------------------------------------------------------- the checks


def check_constructor_takes_keywords_and_stores_them(model) -> None:
    """``__init__`` takes keyword-only arguments and stores them unchanged: clone and ``get_params`` are exact."""
    from sklearn.base import clone

    init = type(model).__init__
    if init is not object.__init__:
        positional = [
            name
            for name, parameter in list(inspect.signature(init).parameters.items())[1:]
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
        _require(not positional, f"constructor arguments must be keyword-only (after '*'); these are not: {positional}")
    params = model.get_params(deep=False)
    copy = clone(model)  # scikit-learn's clone checks that the constructor stored every argument as given
    _require(copy is not model and copy.get_params(deep=False).keys() == params.keys(), "clone changed the parameters")
    _require(copy.set_params(**params) is copy, "set_params must return the estimator")
    try:
        copy.set_params(not_a_parameter=1)
    except ValueError:
        pass
    else:
        raise AssertionError("set_params(not_a_parameter=1) must raise a ValueError")


def check_nested_parameters_round_trip(model) -> None:
    """``set_params(**get_params(deep=True))`` (nested ``a__b`` names included) keeps every parameter's value.

    Only the leaves are compared: a parameter with nested ones (``training`` beside
    ``training__epochs``) may come back as another object holding the same values.
    """
    from sklearn.base import clone

    copy = clone(model)
    params = copy.get_params(deep=True)
    copy.set_params(**params)
    again = copy.get_params(deep=True)
    leaves = [name for name in params if not any(other.startswith(f"{name}__") for other in params)]
    changed = [name for name in leaves if name not in again or not _same(params[name], again[name])]
    _require(not changed, f"set_params(**get_params(deep=True)) changed {changed[:5]}")


def check_fit_takes_validation_by_keyword_only(model) -> None:
    """``fit(y, *, validation=None, ...)``: a second positional argument (scikit-learn's ``X``) is refused."""
    parameters = list(inspect.signature(model.fit).parameters.values())
    _require(bool(parameters), "fit must take the series y")
    later = [p.name for p in parameters[1:] if p.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)]
    _require(not later, f"fit's arguments after y must be keyword-only, so that fit(y, X) fails; these are not: {later}")


def check_fit_returns_self_and_forecast_continues_the_index(model) -> None:
    fitted, frame, horizon = _fitted(model)
    forecast = fitted.predict(horizon)
    _require(list(forecast.columns) == ["a", "b"], f"forecast columns {list(forecast.columns)}, expected ['a', 'b']")
    expected = pd.date_range(frame.index[-1] + pd.Timedelta(hours=1), periods=horizon, freq="h")
    _require(list(forecast.index) == list(expected), f"forecast timestamps {list(forecast.index)}, expected {list(expected)}")
    _require(bool(np.isfinite(forecast.to_numpy()).all()), "the forecast has non-finite values")


def check_long_layout_forecasts_every_series(model) -> None:
    from sklearn.base import clone

    frame, horizon = long_frame(), _horizon(model)
    forecast = clone(model).fit(frame).predict(horizon)
    _require(forecast.index.names == ["series", "timestamp"], f"index levels {forecast.index.names}")
    sizes = forecast.groupby(level="series").size().to_dict()
    _require(sizes == {"s1": horizon, "s2": horizon, "s3": horizon}, f"rows per series {sizes}, expected {horizon} each")
    last = frame.xs("s2", level="series").index[-1]
    first = forecast.xs("s2", level="series").index[0]
    _require(first == last + pd.Timedelta(hours=1), f"series s2's forecast starts at {first}, expected the hour after {last}")


def check_predict_windows_shape(model) -> None:
    fitted, frame, horizon = _fitted(model)
    inputs = _windows(frame, _window_length(model))[:7]
    forecasts = fitted.predict_windows(inputs, horizon)
    _require(forecasts.shape == (7, horizon, 2), f"predict_windows gave shape {forecasts.shape}, expected (7, {horizon}, 2)")
    _require(bool(np.isfinite(forecasts).all()), "predict_windows gave non-finite values")


def check_fitting_twice_gives_identical_forecasts(model) -> None:
    from sklearn.base import clone

    first, frame, horizon = _fitted(model)
    second = clone(model).fit(frame)
    pd.testing.assert_frame_equal(first.predict(horizon), second.predict(horizon), obj="forecasts of two seeded fits")


def check_predict_before_fit_is_refused(model) -> None:
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    try:
        clone(model).predict(_horizon(model))
    except NotFittedError:
        return
    raise AssertionError("predict before fit must raise sklearn.exceptions.NotFittedError")


def check_score_is_negative_mse_of_the_holdout(model) -> None:
    from sklearn.base import clone

    frame, horizon = wide_frame(), _horizon(model)
    train, future = frame.iloc[:-horizon], frame.iloc[-horizon:]
    fitted = clone(model).fit(train)
    expected = -np.mean((future.to_numpy() - fitted.predict(horizon).to_numpy()) ** 2)
    score = fitted.score(future)
    _require(np.isclose(score, expected, rtol=1e-6, atol=1e-12), f"score {score}, expected the negative MSE {expected}")


def check_save_and_load_give_identical_forecasts(model) -> None:
    from tsseq import persistence

    fitted, frame, horizon = _fitted(model)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        persistence.save(fitted, path)
        loaded = persistence.load(path)
    _require(type(loaded) is type(fitted), f"loaded a {type(loaded).__name__}, saved a {type(fitted).__name__}")
    pd.testing.assert_frame_equal(loaded.predict(horizon), fitted.predict(horizon), obj="forecasts after save and load")
    inputs = frame.to_numpy()[None, -_window_length(model) :]
    np.testing.assert_array_equal(loaded.predict_windows(inputs, horizon), fitted.predict_windows(inputs, horizon))


def check_probabilistic_models_give_ordered_quantiles_and_paths(model) -> None:
    from tsseq import persistence

    if not model.probabilistic:
        raise unittest.SkipTest("point forecasts only (see check_point_models_say_how_to_get_intervals)")
    fitted, _, horizon = _fitted(model)
    quantiles = fitted.predict(horizon, quantiles=[0.1, 0.5, 0.9])
    expected = ["a", "a_q0.1", "a_q0.5", "a_q0.9", "b", "b_q0.1", "b_q0.5", "b_q0.9"]
    _require(list(quantiles.columns) == expected, f"quantile columns {list(quantiles.columns)}, expected {expected}")
    for column in ("a", "b"):
        values = quantiles[[f"{column}_q0.1", f"{column}_q0.5", f"{column}_q0.9"]].to_numpy()
        _require(bool(np.isfinite(values).all()), f"non-finite quantiles of {column!r}")
        _require(bool((np.diff(values, axis=1) >= 0).all()), f"quantiles of {column!r} cross")
    paths = fitted.sample(horizon, 7, seed=1)
    _require(paths.shape == (7 * horizon, 2), f"sample(h, 7) gave shape {paths.shape}, expected {(7 * horizon, 2)}")
    _require(paths.index.names == ["sample", "timestamp"], f"sample paths indexed by {paths.index.names}")
    with tempfile.TemporaryDirectory() as folder:
        persistence.save(fitted, Path(folder) / "model.pt")
        loaded = persistence.load(Path(folder) / "model.pt")
    pd.testing.assert_frame_equal(
        loaded.predict(horizon, quantiles=[0.1, 0.9]), fitted.predict(horizon, quantiles=[0.1, 0.9]), obj="quantiles after load"
    )


def check_point_models_say_how_to_get_intervals(model) -> None:
    from tsseq.errors import ConfigError

    if model.probabilistic:
        raise unittest.SkipTest("probabilistic")
    fitted, _, horizon = _fitted(model)
    try:
        fitted.predict(horizon, quantiles=[0.1, 0.9])
    except ConfigError as error:
        _require("point forecasts only" in str(error), f"the ConfigError must say 'point forecasts only'; got: {error}")
        return
    raise AssertionError("a point model asked for quantiles must raise a ConfigError saying how to get them")


def check_covariate_kinds_are_declared_taken_and_refused_by_name(model) -> None:
    """``supported_covariates`` says which kinds the model takes: those fit, forecast and backtest (past ones after the
    origin unread); each other kind is refused by a ConfigError naming the model and the kind."""
    from sklearn.base import clone

    from tsseq.data.covariates import KINDS
    from tsseq.errors import ConfigError
    from tsseq.registry import name_of

    parameters = inspect.signature(model.fit).parameters
    if "future_covariates" not in parameters and not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        raise unittest.SkipTest("fit takes no covariate keywords")
    supported = getattr(model, "supported_covariates", frozenset())
    _require(isinstance(supported, frozenset) and supported <= set(KINDS),
             f"supported_covariates must be a frozenset of {KINDS}; got {supported!r}")
    frame, horizon = wide_frame(), _horizon(model)
    frames = _covariate_frames(frame, horizon)
    name = name_of(model)
    for kind in KINDS:
        if kind in supported:
            continue
        try:
            clone(model).fit(frame, **{f"{kind}_covariates": frames[kind]})
        except ConfigError as error:
            _require(f"{name} does not take {kind} covariates" in str(error),
                     f"the refusal of {kind} covariates must say '{name} does not take {kind} covariates'; got: {error}")
            continue
        raise AssertionError(f"{name} does not list {kind} in supported_covariates, yet fit took {kind} covariates")
    if not supported:
        return
    given = {f"{kind}_covariates": frames[kind] for kind in KINDS if kind in supported}
    fitted = clone(model).fit(frame, **given)
    spec = getattr(fitted, "covariate_spec_", None)
    kinds = tuple(kind for kind in KINDS if kind in supported)
    _require(spec is not None and spec.kinds == kinds, f"covariate_spec_.kinds must be {kinds}; got {spec}")
    future = {"future_covariates": frames["future"]} if "future" in supported else {}
    forecast = fitted.predict(horizon, **future)
    _require(forecast.shape == (horizon, 2) and bool(np.isfinite(forecast.to_numpy()).all()),
             f"the forecast with covariates has shape {forecast.shape} or non-finite values")
    start = len(frame) - horizon - 3
    backtests = []
    changed = frames["past"].copy()
    changed.iloc[start:] = 1e3  # the rows after the first cutoff
    for past in (frames["past"], changed):
        options = {**given, **({"past_covariates": past} if "past" in supported else {})}
        backtests.append(clone(model).historical_forecasts(frame, start=start, horizon=horizon, **options))
    first = backtests[0]["cutoff"] == frame.index[start - 1]
    _require(int(first.sum()) == horizon, f"the backtest with covariates has {int(first.sum())} rows at its first cutoff")
    np.testing.assert_allclose(backtests[1].loc[first, ["a", "b"]], backtests[0].loc[first, ["a", "b"]], rtol=0, atol=1e-6,
                               err_msg="past covariates after a cutoff changed its backtest forecast")


CHECKS: tuple[Check, ...] = (
    check_constructor_takes_keywords_and_stores_them,
    check_nested_parameters_round_trip,
    check_fit_takes_validation_by_keyword_only,
    check_fit_returns_self_and_forecast_continues_the_index,
    check_long_layout_forecasts_every_series,
    check_predict_windows_shape,
    check_fitting_twice_gives_identical_forecasts,
    check_predict_before_fit_is_refused,
    check_score_is_negative_mse_of_the_holdout,
    check_save_and_load_give_identical_forecasts,
    check_probabilistic_models_give_ordered_quantiles_and_paths,
    check_point_models_say_how_to_get_intervals,
    check_covariate_kinds_are_declared_taken_and_refused_by_name,
)


# --------------------------------------------------------------------------- helpers


def _require(condition: bool, message: str) -> None:
    """An assertion that ``python -O`` keeps."""
    if not condition:
        raise AssertionError(message)


def _horizon(model) -> int:
    own = getattr(model, "horizon", None)
    return min(HORIZON, own) if isinstance(own, int) and own > 0 else HORIZON


def _window_length(model) -> int:
    return getattr(model, "input_length", None) or WHOLE_HISTORY_ROWS


def _windows(frame: pd.DataFrame, length: int) -> np.ndarray:
    """Every window of ``length`` rows of ``frame``, ``(N, length, C)``."""
    return np.lib.stride_tricks.sliding_window_view(frame.to_numpy(), length, axis=0).transpose(0, 2, 1)


def _fitted(model):
    """A clone of ``model`` fitted on :func:`wide_frame` (checking that fit returns it), the frame, the horizon."""
    from sklearn.base import clone

    frame, copy = wide_frame(), clone(model)
    fitted = copy.fit(frame)
    _require(fitted is copy, f"fit must return the estimator itself; it returned {type(fitted).__name__}")
    return fitted, frame, _horizon(model)


def _covariate_frames(frame: pd.DataFrame, horizon: int) -> dict[str, pd.DataFrame]:
    """A past, a future (running ``horizon`` rows past ``frame``) and a static (numeric and categorical) covariate frame."""
    rng = np.random.default_rng(1)
    index = pd.date_range(frame.index[0], periods=len(frame) + horizon, freq="h", name=frame.index.name)
    return {
        "past": pd.DataFrame({"sensor": rng.standard_normal(len(index))}, index=index),
        "future": pd.DataFrame({"promo": (rng.random(len(index)) < 0.3).astype(float)}, index=index),
        "static": pd.DataFrame({"size": [2.0], "region": ["north"]}),
    }


def _same(first: object, second: object) -> bool:
    """Equal values, or the same estimator type with equal parameters (nested estimators are rebuilt)."""
    if hasattr(first, "get_params") and not isinstance(first, type):
        return type(first) is type(second) and first.get_params(deep=False) == second.get_params(deep=False)
    try:
        return bool(first == second)
    except (TypeError, ValueError):  # arrays and the like: equal element by element
        return bool(np.array_equal(first, second))
