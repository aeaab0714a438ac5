"""Checks of a study job before any study is created or opened.

A job error found inside a trial would leave a failed trial in the study and reach the
user through Optuna's traceback; found here, it fails once, in one line that names the
key, and the storage is left as it was. :func:`check_study` needs only the
configuration: the model's parameters (the estimator's own :meth:`check_params`, which
builds the network once), the validation windows' geometry, and each search-space
entry against the parameter it sets, by building the model with the values the range
can draw at its ends (and inside it, for a float). :func:`check_data` needs the
series: the split, and windows of the largest ``input_length`` + ``horizon`` a trial
may use in the training and validation rows.

What stays for the trials is a combination of values no single check covers (a width
that is not a multiple of a searched head count); such a trial stops the worker with
the trial named (:class:`~tsseq.tuning.objective.Objective`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pandas as pd

from tsseq import registry
from tsseq.config import check_parameters
from tsseq.errors import ConfigError, DataError, TsseqError, located
from tsseq.tuning.config import ParameterSpace, StudyConfig
from tsseq.tuning.objective import build_estimator, split_rows, window_geometry
from tsseq.tuning.spaces import Space, study_space

# Where inside a float range the probe value lies: not the middle, which is a whole number for
# ranges like [8, 64], so that an int parameter searched as a float is refused as its trials would be.
_INSIDE = 0.382


def check_study(config: StudyConfig) -> Space:
    """Check the job's model, validation windows and search space; returns the search space.

    Raises a ConfigError naming the key at fault (``model.params``,
    ``validation.input_length``, ``search_space.<name>``).
    """
    space = study_space(config)
    try:
        check_parameters(registry.get(config.model.name), dict(config.model.params), f"Model {config.model.name!r}")
        estimator = _checked(config, {})
    except ConfigError as error:
        raise located(error, "model.params") from None
    window_geometry(estimator, config.validation)  # names validation.input_length for a model without one
    for name, spec in space.items():
        for value in probe_values(spec):
            try:
                _checked(config, {name: value})
            except ConfigError as error:
                raise ConfigError(
                    f"search_space.{name}: {describe(spec)} draws values such as {value!r}, which model "
                    f"{config.model.name!r} refuses: {error}"
                ) from None
    return space


def check_data(config: StudyConfig, frame: pd.DataFrame, space: Space) -> None:
    """Check that the split of ``frame`` leaves windows for the largest geometry a trial may draw.

    Raises a ConfigError or DataError naming the keys that set the window (``model.params.horizon``,
    ``validation.input_length``, ...) and the rows there are.
    """
    from tsseq.estimators import NeuralForecaster

    largest = {}  # the longest window a trial may draw
    for name in ("input_length", "horizon"):
        sizes = [value for value in probe_values(space[name]) if isinstance(value, int)] if name in space else []
        if sizes:
            largest[name] = max(sizes)
    estimator = build_estimator(config, largest)
    input_length, horizon = window_geometry(estimator, config.validation)
    try:
        split = split_rows(frame, config.validation, input_length)
    except (ConfigError, DataError) as error:
        raise located(error, "validation") from None
    rows = f"{len(frame)} rows of the series"
    if config.validation.preset is not None:
        part = f"(split preset {config.validation.preset!r} of the {rows})"
    else:
        part = f"(validation.train_fraction {config.validation.train_fraction} of the {rows})"
    if isinstance(estimator, NeuralForecaster):  # it trains on windows of its own geometry, in both parts
        own = {name: getattr(estimator, name) for name in ("input_length", "horizon")}
        needed = own["input_length"] + own["horizon"]
        for what, rows_of_part in (("training", len(split.train)), ("validation", len(split.validation))):
            if rows_of_part < needed:
                raise DataError(
                    f"{_source(config, space, 'input_length', model=True)} = {own['input_length']} and "
                    f"{_source(config, space, 'horizon', model=True)} = {own['horizon']} need {needed} rows for a "
                    f"window, but the {what} rows are {rows_of_part} "
                    f"{part if what == 'training' else '(with the input rows before them)'}; shorten the window "
                    "or give that part more rows."
                )
    if len(split.validation) < input_length + horizon:
        raise DataError(
            f"{_source(config, space, 'input_length')} = {input_length} and {_source(config, space, 'horizon')} = "
            f"{horizon} need {input_length + horizon} rows for a validation window, but the validation rows are "
            f"{len(split.validation)} (with the input rows before them); shorten the window or give validation more "
            "rows (validation.train_fraction, validation.test_fraction)."
        )


def probe_values(spec: ParameterSpace) -> list[Any]:
    """Values a trial may draw from ``spec``, as Optuna returns them: each choice; the ends of a range
    (on its ``step`` grid), and for a float one value inside it."""
    if spec.type == "categorical":
        return list(spec.choices or [])
    if spec.type == "int":
        step = int(spec.step or 1)
        low = int(spec.low)
        return sorted({low, low + (int(spec.high) - low) // step * step})
    low, high = float(spec.low), float(spec.high)
    if spec.step is not None:
        return sorted({low, low + math.floor((high - low) / spec.step) * spec.step})
    inside = math.exp(math.log(low) + _INSIDE * (math.log(high) - math.log(low))) if spec.log else low + _INSIDE * (high - low)
    return sorted({low, inside, high})


def describe(spec: ParameterSpace) -> str:
    """``spec`` in words: ``a float in [8, 64]``, ``a choice of [32, 64]``."""
    if spec.type == "categorical":
        return f"a choice of {spec.choices!r}"
    ends = f"[{spec.low:g}, {spec.high:g}]"
    return f"{'an' if spec.type == 'int' else 'a'} {spec.type} in {ends}{' (log scale)' if spec.log else ''}"


def _checked(config: StudyConfig, params: dict[str, Any]) -> Any:
    """The study's model with ``params`` (space names) set, after its own :meth:`check_params`."""
    estimator = build_estimator(config, params)
    with warnings.catch_warnings():  # a probe's warnings (dropout with one layer, ...) are the trials' to give
        warnings.simplefilter("ignore")
        try:
            estimator.check_params()
        except TsseqError:
            raise
        except (TypeError, ValueError) as error:  # a value of the wrong kind met arithmetic before a check
            raise ConfigError(str(error)) from None
    return estimator


def _source(config: StudyConfig, space: Space, name: str, *, model: bool = False) -> str:
    """The key that sets the window's ``name``: the validation's (unless ``model``), the search space's, the model's."""
    if not model and getattr(config.validation, name) is not None:
        return f"validation.{name}"
    if name in space:
        return f"search_space.{name} (its largest value)"
    if config.model.params.get(name) is not None:
        return f"model.params.{name}"
    return f"the default {name} of model {config.model.name!r}"
