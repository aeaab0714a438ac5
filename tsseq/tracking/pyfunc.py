"""The MLflow model flavour of tsseq: a fitted forecaster as a ``pyfunc`` model.

What is stored: the estimator in tsseq's own file format (``persistence.save``, one
``.pt`` file of tensors and JSON, read back with ``weights_only=True``; see
:mod:`tsseq.persistence`) as the model's artifact ``estimator``, and a few lines of
code (:mod:`tsseq.tracking.model_code`, MLflow's "models from code") that load it.
Nothing is pickled. Loading needs tsseq installed (it is in the model's requirements).

What it predicts: forecasts from given history. The input is a DataFrame of recent
rows: a ``timestamp`` column, one float column per channel the model was fitted on
(same names) and optionally an integer ``window`` column; each ``window`` value (the
whole frame without the column) is one history, in time order. The parameter
``horizon`` (default: the model's horizon) is how many steps to forecast after each.
Models with an ``input_length`` (the neural ones) read the last ``input_length``
rows of each history, which must have at least that many; the others (AR, naive
family) read all of it. The output has columns ``window``, ``timestamp`` (the next
``horizon`` timestamps at the fitted frequency) and the channels.

The parameter ``quantiles`` (a comma-separated string, e.g. ``"0.05,0.5,0.95"``;
default ``""``: point forecasts only) asks a probabilistic model for quantiles: each
channel ``y`` is then followed by ``y_q0.05``, ``y_q0.5``, ``y_q0.95`` (levels
increasing, never crossing), the layout of :meth:`tsseq.base.Forecaster.predict`. It is
a string, not a list, because MLflow checks parameters against the signature's types
strictly: a string passes unchanged through Python calls and the ``params`` field of
JSON requests (REST serving, ``mlflow models predict``), whereas a list-typed parameter
(``ParamSpec(shape=(-1,))``) refuses a tuple, a single number and a string. The signature's output schema lists the point columns only
(the levels are the caller's choice): pyfunc does not enforce output schemas, but
``spark_udf`` derives its result type from it, so pass ``result_type`` there to get the
quantile columns. A point-only model asked for quantiles raises a ConfigError.

The values must be on the scale the model was fitted on: a model fitted by the ETT
protocol, or the windows protocol with ``scale: standard``, takes standardised data
(the run's tag ``tsseq.input_scale`` says which). Only models fitted on one (wide)
series forecast from given history (``predict_windows``).

Example::

    model = mlflow.pyfunc.load_model("models:/etth1-lstm@champion")
    forecast = model.predict(recent_rows, params={"horizon": 24})
    bands = model.predict(recent_rows, params={"horizon": 24, "quantiles": "0.05,0.5,0.95"})
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from tsseq.errors import ConfigError, DataError
from tsseq.quantiles import check_levels

TIMESTAMP = "timestamp"
WINDOW = "window"
ESTIMATOR_ARTIFACT = "estimator"
MAX_EXAMPLE_ROWS = 1024  # input example of a model that reads all of its history
_REQUIREMENTS = ("tsseq", "mlflow", "torch", "numpy", "pandas", "scikit-learn")


def history_rows(estimator: Any) -> int | None:
    """The rows of history the model reads (its ``input_length``), None when it reads all of it."""
    rows = getattr(estimator, "input_length", None)
    return int(rows) if rows is not None else None


def quantile_levels(value: object) -> np.ndarray | None:
    """The ``quantiles`` parameter -> sorted levels, or None for point forecasts.

    ``None`` or ``""``: None; ``"0.05,0.5,0.95"`` or a sequence of numbers: the levels.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = [float(item) for item in value.split(",") if item.strip()]
        except ValueError:
            raise ConfigError(
                f"The 'quantiles' parameter must be comma-separated levels in (0, 1), e.g. '0.05,0.5,0.95'. Got {value!r}."
            ) from None
    return check_levels(value)


def forecast_from_history(estimator: Any, history: pd.DataFrame, horizon: int, quantiles: object = None) -> pd.DataFrame:
    """The pyfunc's prediction (see the module docstring): forecasts after each history window.

    ``quantiles`` (levels, or a comma-separated string): each channel ``y`` is followed by ``y_q<level>``.
    The windows go through the batch forecast of a saved model (:func:`tsseq.inference.forecast_series`,
    what ``tsseq forecast --model-file`` runs) as the series of a long frame, one per ``window``:
    its checks apply (the data's frequency must be the fitted one, each window long enough),
    and windows of one length are forecast in one batch.
    """
    import torch

    from tsseq.inference import forecast_series

    levels = quantile_levels(quantiles)
    if levels is not None and not estimator.probabilistic:
        estimator.require_probabilistic("quantiles")  # the model's own ConfigError: how to get a probabilistic model
    columns = list(estimator.layout_.columns)
    missing = [column for column in (TIMESTAMP, *columns) if column not in history.columns]
    if missing:
        raise DataError(
            f"The model input lacks the column(s) {missing}: it needs {TIMESTAMP!r} and the channels {columns}"
            f" (and optionally {WINDOW!r}). Got {list(history.columns)}."
        )
    windows = history[WINDOW].to_numpy(np.int64) if WINDOW in history.columns else np.zeros(len(history), np.int64)
    timestamps = pd.DatetimeIndex(history[TIMESTAMP])
    needed = history_rows(estimator)
    for window, positions in pd.Series(np.arange(len(history))).groupby(windows, sort=True):
        stamps = timestamps[positions.to_numpy()]
        if not (stamps.is_monotonic_increasing and stamps.is_unique):
            raise DataError(f"Window {window!r}: the {TIMESTAMP!r} column must be strictly increasing.")
        if needed is not None and len(stamps) < needed:
            raise DataError(f"Window {window!r} has {len(stamps)} rows; the model reads the last {needed} (its input_length).")
    index = pd.MultiIndex.from_arrays([windows, timestamps], names=[WINDOW, TIMESTAMP])
    frame = history[columns].set_axis(index)
    forecast = forecast_series(
        estimator,
        frame,
        horizon,
        None if levels is None else list(levels),
        threads=torch.get_num_threads(),  # the caller's (a server's) setting, as predict_windows would run
        source="the model input",
    )
    forecast = forecast.reset_index()
    forecast[WINDOW] = forecast[WINDOW].astype(np.int64)
    return forecast


class ForecasterModel(mlflow.pyfunc.PythonModel):
    """The pyfunc model: loads the tsseq estimator artifact, forecasts from given history."""

    def load_context(self, context) -> None:
        from tsseq import persistence

        self.estimator = persistence.load(context.artifacts[ESTIMATOR_ARTIFACT])
        self.default_horizon = int(context.model_config["default_horizon"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        horizon = int(params.get("horizon", self.default_horizon))
        return forecast_from_history(self.estimator, model_input, horizon, quantiles=params.get("quantiles"))


def signature(columns: list[str], horizon: int):
    """Input ``window`` (optional), ``timestamp``, channels; output ``window``, ``timestamp``, channels.

    Params: ``horizon`` (default ``horizon``) and ``quantiles`` (a comma-separated string,
    default ``""``). The output schema names the point columns; the ``y_q<level>`` columns
    that ``quantiles`` adds depend on the call and are not listed (pyfunc does not
    enforce output schemas; see the module docstring).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    channels = [ColSpec("double", column) for column in columns]
    return ModelSignature(
        inputs=Schema([ColSpec("long", WINDOW, required=False), ColSpec("datetime", TIMESTAMP), *channels]),
        outputs=Schema([ColSpec("long", WINDOW), ColSpec("datetime", TIMESTAMP), *channels]),
        params=ParamSchema([ParamSpec("horizon", "long", horizon), ParamSpec("quantiles", "string", "")]),
    )


def input_example(estimator: Any, history: pd.DataFrame) -> pd.DataFrame:
    """The model input for the last rows of ``history`` (a wide frame indexed by time)."""
    rows = history_rows(estimator) or min(len(history), MAX_EXAMPLE_ROWS)
    tail = history.iloc[-rows:]
    example = tail.reset_index(drop=True)
    example.insert(0, TIMESTAMP, tail.index.to_numpy())
    return example


def log_forecaster(estimator: Any, history: pd.DataFrame, *, name: str = "model", horizon: int | None = None):
    """Log a fitted forecaster as a pyfunc model of the active run; returns MLflow's ``ModelInfo``.

    ``history``: the data the model works on (wide frame, on its scale); its last rows
    are the input example. ``horizon``: the default of the ``horizon`` parameter
    (default: the estimator's ``horizon``).
    """
    columns = [str(column) for column in estimator.layout_.columns]
    if estimator.layout_.series_ids is not None:
        raise DataError(
            f"Only a model fitted on one (wide) series forecasts from given history; this one was fitted on "
            f"{len(estimator.layout_.series_ids)} series. Save it with estimator.save(path) instead."
        )
    clashes = [column for column in columns if column in (TIMESTAMP, WINDOW)]
    if clashes:
        raise DataError(f"Channel name(s) {clashes} clash with the model input's own columns {TIMESTAMP!r} and {WINDOW!r}.")
    horizon = horizon if horizon is not None else getattr(estimator, "horizon", None)
    if horizon is None:
        raise ConfigError(f"log_forecaster needs a default 'horizon': {type(estimator).__name__} has none of its own.")
    from tsseq import persistence

    example = input_example(estimator, history)
    with tempfile.TemporaryDirectory(prefix="tsseq-model-") as folder:
        path = persistence.save(estimator, Path(folder) / "estimator.pt")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("model_code.py")),
            artifacts={ESTIMATOR_ARTIFACT: str(path)},
            model_config={"default_horizon": int(horizon)},
            signature=signature(columns, int(horizon)),
            input_example=(example, {"horizon": int(horizon)}),
            pip_requirements=_requirements(),
        )


def _requirements() -> list[str]:
    """The installed versions of what loading the model imports (MLflow would otherwise infer them slowly)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
