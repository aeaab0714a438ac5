"""Configuration of a tsseq job: plain frozen dataclasses, mirrored one-to-one by YAML.

A pipeline file is a mapping whose keys are exactly the fields below (nested
mappings for nested dataclasses). :func:`load_pipeline` reads it with
``yaml.safe_load`` and :func:`from_mapping` converts it, rejecting unknown keys by
name (with the closest valid key) and values of the wrong type, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from tsseq.errors import ConfigError, DataFileNotFoundError, closest_match, located

MissingPolicy = Literal["error", "interpolate", "ffill", "mask"]
TimestampUnit = Literal["s", "ms", "us", "ns"]  # the CLI's --timestamp-unit choices; tsseq.data.checks.UNIX_UNITS (pandas-free here)


@dataclass(frozen=True)
class DataConfig:
    """Where the series come from: a catalog data set or a data file (CSV or Parquet), and their covariates.

    ``target`` names the forecast columns (``columns`` is its older name; give one).
    ``past_covariates`` and ``future_covariates`` name columns of the same file
    (:mod:`tsseq.data.covariates`): past ones are observed up to the forecast origin,
    future ones are known over the horizon too, and ``future_csv`` holds their values
    over the horizon (same timestamp and series columns). ``static_csv`` holds one row
    per series (the series id in ``series_column``, or the first column), numeric and
    categorical columns. Paths are relative to the pipeline file.
    """

    dataset: str | None = None  # a catalog name, e.g. "ETTh1", "co2", "m4-hourly"
    # The data file, relative to the pipeline file: a CSV, or Parquet (a .parquet file or a directory of
    # Parquet files, told apart by the suffix); one key for every file kind, as the CLI's one positional path.
    csv: str | None = None
    timestamp_column: str | None = None
    columns: list[str] | None = None  # target channels; None = every value column
    series_column: str | None = None  # long format: the series id column
    freq: str | None = None
    missing: MissingPolicy = "error"
    sort: bool = False
    reindex: bool = False
    sep: str | None = None  # CSV field delimiter; None: detected (',', ';', tab or '|')
    decimal: str | None = None  # CSV decimal mark; None: '.', or ',' in a ';'-separated file that uses it
    timestamp_unit: TimestampUnit | None = None  # timestamps that are numbers: Unix times in s, ms, us or ns
    header: bool = True  # False: a CSV without a header line (columns named value, or value_1, value_2, ...)
    target: list[str] | None = None  # the forecast columns; None = every value column that is not a covariate
    past_covariates: list[str] | None = None  # columns observed up to the forecast origin
    future_covariates: list[str] | None = None  # columns known over the horizon too
    future_csv: str | None = None  # the future covariates over the horizon
    static_csv: str | None = None  # one row per series: static covariates

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.csv is None):
            raise ConfigError("data: give exactly one of 'dataset' (a catalog name) or 'csv' (a file path).")
        if self.target is not None and self.columns is not None:
            raise ConfigError("data: give the forecast columns once, as 'target' (or its older name 'columns').")
        if self.future_csv is not None and not self.future_covariates:
            raise ConfigError("data: 'future_csv' holds the future covariates over the horizon; name them in 'future_covariates'.")
        units = get_args(TimestampUnit)
        if self.timestamp_unit is not None and self.timestamp_unit not in units:
            raise ConfigError(
                f"data: 'timestamp_unit' (--timestamp-unit) must be one of {', '.join(units)}: the unit of "
                f"timestamps written as Unix times. Got {self.timestamp_unit!r}." + closest_match(str(self.timestamp_unit), units)
            )
        if not isinstance(self.header, bool):
            raise ConfigError(f"data: 'header' must be true or false. Got {self.header!r}.")

    @property
    def target_columns(self) -> list[str] | None:
        return self.target if self.target is not None else self.columns

    @property
    def has_covariates(self) -> bool:
        return bool(self.past_covariates or self.future_covariates or self.static_csv)

    def files(self, base_dir: Path = Path(".")) -> list[Path]:
        """The files the job reads (``csv``, ``future_csv``, ``static_csv``), relative to ``base_dir``: no output may replace them."""
        return [job_path(name, base_dir) for name in (self.csv, self.future_csv, self.static_csv) if name is not None]


def job_path(name: str | Path, base_dir: Path) -> Path:
    """A path written in a job file: a relative one resolves against ``base_dir`` (the job file's folder)."""
    path = Path(name)
    return path if path.is_absolute() else base_dir / path


@dataclass(frozen=True)
class ModelConfig:
    """A registered model and its constructor arguments."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # the name shown in result tables; defaults to `name`

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class EvaluationConfig:
    """How forecasts are scored.

    ``holdout``: fit on all but the last ``horizon`` rows, forecast them.
    ``windows``: split by ``train_fraction``/``validation_fraction``, fit on the
    train rows, score every window (stride 1) of the test rows, optionally on the
    standardised scale (``scale: standard``), like the published protocols.
    ``ett`` and ``m4``: the published protocols of those data sets.

    ``interval`` (a nominal coverage in (0, 1), e.g. 0.95) also scores central
    prediction intervals of that coverage (a probabilistic model's
    ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles): ``m4`` adds M4's
    ``msis``, ``coverage`` and ``acd``; ``holdout`` and ``windows`` add ``coverage``,
    ``acd``, ``msis`` (scaled like MASE, with ``season_length``) and ``interval_width``.
    ``ett`` takes none: it reports CRPS and 80%/90% coverage for every probabilistic model.
    """

    protocol: Literal["holdout", "windows", "ett", "m4"] = "holdout"
    horizon: int = 24
    input_length: int = 96
    setting: Literal["S", "M"] = "S"
    train_fraction: float = 0.7
    validation_fraction: float = 0.1
    scale: Literal["none", "standard"] = "none"
    drop_last: bool = False
    season_length: int = 1  # for MASE on holdout / windows
    metrics: list[str] = field(default_factory=lambda: ["mse", "mae"])
    interval: float | None = None  # nominal coverage of scored prediction intervals, e.g. 0.95

    def __post_init__(self) -> None:
        if self.interval is None:
            return
        if not 0 < self.interval < 1:
            raise ConfigError(f"evaluation.interval: expected a coverage in (0, 1), e.g. 0.95; got {self.interval!r}.")
        if self.protocol == "ett":
            raise ConfigError(
                "evaluation.interval: the 'ett' protocol scores no intervals of a chosen coverage; it reports "
                "CRPS and 80%/90% coverage for every probabilistic model. Leave interval out."
            )


@dataclass(frozen=True)
class OutputConfig:
    """What the job writes: file names inside ``directory`` (relative to the working directory)."""

    directory: str = "outputs"
    forecast_csv: str | None = "forecast.csv"  # the first model refitted on all rows, next `horizon` rows
    plot: str | None = "forecast.png"
    results_json: str | None = "results.json"
    # The holdout protocol: every model's forecast of the held-out rows over the actuals.
    holdout_plot: str | None = None
    # Quantile levels of the forecast CSV (a `y_q<level>` column after each column `y`)
    # and the fan chart of the plot; needs a probabilistic first model.
    quantiles: list[float] | None = None
    # Write a forecast even where it lies far outside the training data's range
    # (tsseq.sanity.check_forecast), with a warning per series and column, also in results.json.
    allow_implausible: bool = False

    def __post_init__(self) -> None:
        if self.quantiles is not None:
            from tsseq.quantiles import check_levels

            check_levels(self.quantiles, name="output.quantiles")


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow tracking of a job (opt-in): one run per model (see :mod:`tsseq.tracking.jobs`)."""

    enabled: bool = False
    experiment: str | None = None  # default: the pipeline's name
    tracking_uri: str | None = None  # default: $TSSEQ_TRACKING_URI, $MLFLOW_TRACKING_URI, else ./mlflow/mlflow.db
    log_model: bool = True  # log each fitted model as an MLflow (pyfunc) model


@dataclass(frozen=True)
class PipelineConfig:
    """A whole job: data, models, evaluation, outputs, tracking, and how its neural models train.

    The last three keys apply to every neural model of the job (the others ignore them)
    and mirror the command line of ``tsseq run`` one-to-one:

    * ``checkpoint_dir`` (``--checkpoint-dir DIR``): each fit of a neural model writes
      its per-epoch checkpoint in a folder of its own, ``<checkpoint_dir>/<model
      label>/<fit>``, the fit being ``holdout``, ``windows``, ``ett`` or ``m4`` (the
      scored fit) or ``refit`` (the forecast's fit on all rows); a model whose
      ``training.checkpoint_dir`` is set uses ``<that folder>/<fit>`` instead. Relative
      to the working directory, like ``output.directory``. None: no checkpoints (unless
      a model sets its own).
    * ``resume`` (``--resume/--no-resume``): True (the default) continues each fit from
      its checkpoint when there is one of the same job (same settings and data; see
      :mod:`tsseq.engine.checkpoint`), and refuses one of another job, naming what
      differs; False starts every fit over, replacing its checkpoint.
    * ``threads`` (``--threads N``): torch's CPU threads for every neural model that
      does not set its own ``training.threads`` (None: one less than the usable CPUs).
    """

    name: str
    data: DataConfig
    models: list[ModelConfig]
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    checkpoint_dir: str | None = None
    resume: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("models: list at least one model, e.g. [{name: ar}].")
        names = [model.display_name for model in self.models]
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        if repeated:  # results, runs and files are keyed by the name: a second would silently replace the first
            positions = ", ".join(f"{name!r} (models {[i for i, n in enumerate(names) if n == name]})" for name in repeated)
            raise ConfigError(
                f"models: two or more models are named {positions}; results are kept by name. "
                "Give each a 'label' of its own, e.g. {name: ar, label: ar_order10, params: {max_order: 10}}."
            )
        check_threads(self.threads, "threads")


def check_threads(threads: object, where: str) -> None:
    """``threads``: None or an int >= 1, else a ConfigError naming ``where``."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{where}: expected a number of threads >= 1 (or null for the default); got {threads!r}.")


ENGINES = ("local", "dask")


def check_engine(engine: object, scheduler: object, workers: object, where: str = "") -> None:
    """``engine`` (local or dask), ``scheduler`` (an address) and ``workers`` (>= 1), checked together.

    ``scheduler`` and ``workers`` belong to the dask engine; ``workers`` sizes the local
    cluster started when no ``scheduler`` is given. ``where`` prefixes the keys in messages.
    """
    if engine not in ENGINES:
        raise ConfigError(
            f"{where}engine must be one of {', '.join(ENGINES)}. Got {engine!r}.{closest_match(str(engine), ENGINES)}"
        )
    if engine != "dask" and (scheduler is not None or workers is not None):
        given = "scheduler" if scheduler is not None else "workers"
        raise ConfigError(f"{where}{given} is for engine 'dask' (a Dask cluster); the engine is {engine!r}.")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"{where}workers: expected a number of worker processes >= 1. Got {workers!r}.")
    if workers is not None and scheduler is not None:
        raise ConfigError(
            f"{where}workers sizes the local cluster; the cluster at scheduler {scheduler!r} has its own workers. "
            "Give one of them."
        )
    if scheduler is not None and (not isinstance(scheduler, str) or ":" not in scheduler):
        raise ConfigError(
            f"{where}scheduler: expected a Dask scheduler address such as tcp://10.0.0.5:8786. Got {scheduler!r}."
        )


# Parameters that hold a wrapped registered model's parameters, and the parameter naming that model
# (the conformal wrapper's model, the residual and interval detectors' forecaster).
WRAPPED_MODEL_PARAMETERS = {"model_params": "model", "forecaster_params": "forecaster"}


def with_training_defaults(params: Mapping[str, Any], accepted: Collection[str], defaults: Mapping[str, Any]) -> dict:
    """``params`` of a model whose ``training`` gets each field of ``defaults`` it leaves unset (absent or None).

    ``accepted``: the model's constructor parameters; a model without ``training`` (AR,
    the naive family) is returned unchanged. A wrapped registered model (conformal's
    ``model``, a detector's ``forecaster``, given by name) gets the defaults in its own
    parameters (``model_params``, ``forecaster_params``). E.g. the job's ``threads``:
    ``with_training_defaults(params, registry.parameters(name), {"threads": 1})``.
    """
    params = dict(params)
    if not defaults:
        return params
    if "training" in accepted:
        params["training"] = _training_with_defaults(params.get("training"), defaults)
    for key, name_key in WRAPPED_MODEL_PARAMETERS.items():
        inner = params.get(name_key)
        if key in accepted and isinstance(inner, str) and isinstance(params.get(key) or {}, Mapping):
            from tsseq import registry

            if inner in registry.names():
                params[key] = with_training_defaults(params.get(key) or {}, registry.parameters(inner), defaults)
    return params


def _training_with_defaults(training: Any, defaults: Mapping[str, Any]) -> Any:
    if training is None:
        return dict(defaults)
    if isinstance(training, Mapping):
        return {**training, **{key: value for key, value in defaults.items() if training.get(key) is None}}
    if dataclasses.is_dataclass(training) and not isinstance(training, type):
        unset = {key: value for key, value in defaults.items() if getattr(training, key, None) is None}
        return dataclasses.replace(training, **unset)
    return training  # not a training configuration: the model's own checks name it


T = TypeVar("T")


def from_mapping(cls: type[T], mapping: object, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types.

    ``where`` is the key path of ``mapping`` in its file (``""``: the file's top level,
    ``"models[1].params.training"``), which every message starts with: the keys below it
    are appended (``models[1].params.training.epochs: expected int; got 'abc'``). A message
    of the dataclass's own checks gets ``where`` in front unless it names its key already
    (``evaluation.interval: ...``; :func:`located`), so no key is said twice.
    """
    at = f"{where}: " if where else ""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{at}expected a mapping of {cls.__name__} fields, got {type(mapping).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in mapping if key not in fields]
    if unknown:
        key = str(unknown[0])
        raise ConfigError(f"{at}unknown key {key!r}.{closest_match(key, fields)} Allowed keys: {', '.join(fields)}.")
    missing = [
        name
        for name, f in fields.items()
        if name not in mapping and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{at}missing required key {missing[0]!r}.")
    values = {key: _convert(hints[key], value, key_path(where, key)) for key, value in mapping.items()}
    try:
        return cls(**values)
    except ConfigError as error:
        raise located(error, where) if where else error from None


def key_path(where: str, key: str) -> str:
    """The key path of ``key`` inside the mapping at ``where``: ``"models[1].params"`` + ``"training"``."""
    return f"{where}.{key}" if where else key


def _convert(annotation: Any, value: Any, where: str) -> Any:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, allowed))}; got {value!r}.")
        return value
    if origin is list:
        (item_type,) = get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list; got {value!r}.")
        return [_convert(item_type, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list; got {value!r}.")
        item_type = get_args(annotation)[0]
        return tuple(_convert(item_type, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping; got {value!r}.")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        return from_mapping(annotation, value, where)
    if annotation is Any:
        return value
    if annotation in (int, float):
        return _number(annotation, value, where)
    if annotation in (str, bool) and (type(value) is not annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}; got {value!r}.")
    return value


# A decimal number as YAML 1.2 writes it; yaml.safe_load (YAML 1.1) reads '1e6', '1E-3' and
# '+.5' as strings, because 1.1 wants a dot and a signed exponent (1.0e+6).
_NUMBER = re.compile(r"^[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _number(annotation: type, value: Any, where: str) -> int | float:
    """``value`` as an int or float field: numbers, and numeric strings such as '1e6', '1E-3', '.5'.

    An int field takes a float or string only when it is whole (``1e3`` -> 1000).
    """
    number = value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value.strip().replace("_", ""))
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        expected = "int" if annotation is int else "a number"
        raise ConfigError(f"{where}: expected {expected}; got {value!r}.")
    if annotation is float:
        return float(number)
    if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
        raise ConfigError(f"{where}: expected int (a whole number); got {value!r}.")
    return int(number)


def check_parameters(cls: type, params: dict[str, Any], owner: str, where: str = "") -> dict[str, Any]:
    """Constructor parameters checked against ``cls.__init__``'s annotations before anything is built.

    A parameter annotated with a configuration dataclass (``training: TrainingConfig |
    dict | None``) or a mapping must be given a mapping (or the dataclass), and a mapping
    is validated field by field with :func:`from_mapping` (unknown keys, types, numbers
    like ``1e-3``), so that ``--param training=5`` names the parameter and what it takes
    before any data is read. A parameter annotated ``int`` or ``float`` takes numeric
    strings such as ``'1e-3'``. Everything else is left to the class's own checks.
    ``owner`` names the model in messages, e.g. ``"Model 'segrnn'"``; ``where`` is the key path
    of ``params`` in a job file (e.g. ``"models[1].params"``), which the messages about a
    mapping's fields start with (``models[1].params.training.epochs: expected int; ...``).
    """
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: leave the checks to the class
        return dict(params)
    return {
        key: value if value is None or key not in hints else _check_parameter(hints[key], value, key, owner, where)
        for key, value in params.items()
    }


def _check_parameter(annotation: Any, value: Any, key: str, owner: str, where: str) -> Any:
    union = get_origin(annotation) in (typing.Union, types.UnionType)
    members = [m for m in (get_args(annotation) if union else (annotation,)) if m is not type(None)]
    configs = [m for m in members if dataclasses.is_dataclass(m) and isinstance(m, type)]
    mappings = [m for m in members if m in (dict, Mapping) or get_origin(m) in (dict, Mapping)]
    if configs or mappings:
        if any(isinstance(value, config) for config in configs):
            return value
        if isinstance(value, Mapping):
            if configs:
                from_mapping(configs[0], dict(value), where=key_path(where, key))
            return value
        if len(configs) + len(mappings) < len(members):
            return value  # the parameter also takes something else (a name, a number)
        if configs:
            first, *rest = dataclasses.fields(configs[0])
            example = "..." if first.default is dataclasses.MISSING else repr(first.default)
            names = ", ".join(f.name for f in [first, *rest][:4])
            expected = f"a mapping of {configs[0].__name__} fields ({names}, ...), e.g. {key}={{{first.name}: {example}}}"
        else:
            expected = "a mapping, e.g. {name: value}"
        raise ConfigError(f"{owner}: the {key!r} parameter must be {expected}; got {value!r} ({type(value).__name__}).")
    if isinstance(value, str) and members and all(m in (int, float) for m in members):
        try:
            return _number(float if float in members else int, value, key)
        except ConfigError:
            return value  # the class says what it expects
    return value


# The key that only one kind of job file has, that kind, and the command that runs it.
_JOB_KINDS = {
    "detector": ("a detection job", "tsseq detect --config"),
    "search_space": ("an Optuna study", "tsseq tune"),
    "models": ("a pipeline", "tsseq run"),
}


def load_job(path: str | Path, config_class: type[T], what: str) -> tuple[T, Path]:
    """Read a YAML job file into ``config_class`` -> (config, the folder its relative paths resolve against).

    ``what`` names the kind of file in errors, e.g. ``"Pipeline file"``.
    """
    import yaml

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a directory; expected a YAML file.")
    if not path.is_file():
        raise DataFileNotFoundError(f"{what} {str(path)!r} does not exist.")
    keys = ", ".join(field.name for field in dataclasses.fields(config_class))
    expected = f"expected a YAML text file of {config_class.__name__} keys ({keys})"
    data = path.read_bytes()
    try:
        if b"\x00" in data[:8192]:
            raise UnicodeDecodeError("utf-8", data[:1], 0, 1, "NUL byte")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} holds binary data, not text; {expected}.") from None
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(mapping, dict):
        got = "nothing (the file is empty)" if mapping is None else f"a {type(mapping).__name__}"
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        if path.suffix.lower() in (".csv", ".tsv") or "," in first or ";" in first:
            got += " (is it a CSV file?)"
        raise ConfigError(f"{what} {str(path)!r} reads as {got}, not a mapping of keys; {expected}.")
    fields = {field.name for field in dataclasses.fields(config_class)}
    for key, (kind, command) in _JOB_KINDS.items():  # a job file of another command: say which
        if key in mapping and key not in fields:
            raise ConfigError(
                f"{path.name}: the key {key!r} makes it {kind}, not a {what.lower()}: run it with {command} {path}."
            )
    try:
        config = from_mapping(config_class, mapping)
    except ConfigError as error:  # its messages start with the key path (none at the top level); the file goes first
        raise located(error, path.name) from None
    return config, path.parent


def load_pipeline(path: str | Path) -> tuple[PipelineConfig, Path]:
    """Read a pipeline YAML file -> (config, the folder relative paths resolve against)."""
    return load_job(path, PipelineConfig, "Pipeline file")
