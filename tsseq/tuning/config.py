"""The configuration of a study: frozen dataclasses, mirrored one-to-one by a YAML job file.

A job file (e.g. ``pipelines/tune_lstm_etth1_S24.yaml``) is a mapping whose keys are
the fields of :class:`StudyConfig`; :func:`load_study` reads it with
``yaml.safe_load`` and :func:`tsseq.config.from_mapping`, which rejects unknown keys
by name. ``search_space`` maps a searched parameter to a :class:`ParameterSpace`
(``{type, low, high, log, step, choices}``); see :mod:`tsseq.tuning.spaces` for the
names it may use and how it overrides the model family's space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tsseq.config import DataConfig, ModelConfig, TrackingConfig, from_mapping, load_job
from tsseq.errors import ConfigError, closest_match

PRUNERS = ("median", "hyperband", "none")
_CATEGORY_TYPES = (type(None), bool, int, float, str)  # what Optuna stores as a categorical choice


@dataclass(frozen=True)
class ParameterSpace:
    """The values one parameter may take in a trial.

    ``float`` and ``int``: ``low <= value <= high``, on a log scale with ``log`` (then
    ``low > 0``), on a grid of ``step`` otherwise (optional). ``categorical``: one of
    ``choices`` (None, booleans, numbers or strings).
    """

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    def check(self, name: str) -> "ParameterSpace":
        """Raise a ConfigError naming ``name`` if the bounds or choices are unusable; return self."""
        where = f"search_space.{name}"
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"{where}: a categorical parameter needs a non-empty list 'choices'; got {self.choices!r}.")
            odd = [choice for choice in self.choices if not isinstance(choice, _CATEGORY_TYPES)]
            if odd:
                raise ConfigError(
                    f"{where}: choices must be None, booleans, numbers or strings; got {odd[0]!r} "
                    f"({type(odd[0]).__name__})."
                )
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ConfigError(f"{where}: a categorical parameter takes only 'choices', not low/high/log/step.")
            return self
        if self.choices is not None:
            raise ConfigError(f"{where}: 'choices' is for type 'categorical'; a {self.type} parameter takes low and high.")
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if value is None or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"{where}: a {self.type} parameter needs a finite number {bound!r}; got {value!r}.")
            if self.type == "int" and value != int(value):
                raise ConfigError(f"{where}: an int parameter needs an integer {bound!r}; got {value!r}.")
        if not self.low <= self.high:
            raise ConfigError(f"{where}: 'low' must be <= 'high'; got low={self.low!r}, high={self.high!r}.")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: a log-scale parameter needs low > 0; got low={self.low!r}.")
        if self.step is not None:
            if self.log:
                raise ConfigError(f"{where}: give either 'log: true' or a 'step', not both.")
            if isinstance(self.step, bool) or not self.step > 0 or (self.type == "int" and self.step != int(self.step)):
                raise ConfigError(f"{where}: 'step' must be a positive {'integer' if self.type == 'int' else 'number'}; got {self.step!r}.")
        return self


@dataclass(frozen=True)
class ValidationConfig:
    """The rows trials train on and are scored on; the test rows stay unseen by tuning.

    ``preset``: a standard split of :data:`tsseq.data.splits.PRESETS` (e.g. ``"ETTh1"``:
    train rows ``[0, 8640)``, validation ``[8640, 11520)``). Otherwise the first
    ``train_fraction`` of the rows train, the last ``test_fraction`` are left out and
    the rows in between validate. ``input_length`` and ``horizon`` cut the validation
    windows; None takes the model's own (required for models without them, e.g. AR).
    """

    preset: str | None = None
    train_fraction: float = 0.7
    test_fraction: float = 0.2
    input_length: int | None = None
    horizon: int | None = None

    def __post_init__(self) -> None:
        # Checked here, at load, so that a bad split fails before any study exists (not inside trial 0).
        if self.preset is not None:
            from tsseq.data.splits import PRESETS

            if self.preset not in PRESETS:
                raise ConfigError(
                    f"validation.preset: unknown split preset {self.preset!r}.{closest_match(self.preset, PRESETS)} "
                    f"Known presets: {', '.join(PRESETS)}."
                )
        for name in ("train_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ConfigError(f"validation.{name}: expected a fraction of the rows in (0, 1); got {value!r}.")
        if self.preset is None and self.train_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"validation.train_fraction + validation.test_fraction must be < 1, so that rows are left between "
                f"them to validate on; got {self.train_fraction!r} + {self.test_fraction!r} = "
                f"{self.train_fraction + self.test_fraction:.6g}."
            )
        for name in ("input_length", "horizon"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"validation.{name}: expected an int >= 1 (or null: the model's own); got {value!r}.")


@dataclass(frozen=True)
class SamplerConfig:
    """The TPE sampler. A worker seeds it with ``seed`` plus the number of trials the study
    already has, so a resumed study does not replay its first draws; concurrent workers
    should be given different seeds (``tsseq tune --seed``)."""

    seed: int | None = 0
    n_startup_trials: int = 10


@dataclass(frozen=True)
class PrunerConfig:
    """Pruning on the per-epoch validation loss: ``median`` (stop a trial whose loss is worse
    than the median of the trials before it at the same epoch, after ``n_startup_trials``
    trials and ``n_warmup_steps`` epochs), ``hyperband`` (successive halving brackets from
    ``min_resource`` epochs, keeping 1 / ``reduction_factor`` of the trials at each rung)
    or ``none``."""

    kind: Literal["median", "hyperband", "none"] = "median"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    min_resource: int = 1
    reduction_factor: int = 3


@dataclass(frozen=True)
class StorageConfig:
    """Where the study lives (:mod:`tsseq.tuning.storage`).

    ``url``: None for ``mlflow/optuna.db`` (SQLite) in the working directory, a file path
    for another SQLite file, or any SQLAlchemy URL (``postgresql+psycopg2://...``) that
    several workers share. Every running trial writes a heartbeat each
    ``heartbeat_interval`` seconds; one silent for ``grace_period`` seconds (default twice
    the interval) is marked failed and retried with the same parameters, at most
    ``max_retry`` times (None: always).
    """

    url: str | None = None
    heartbeat_interval: int = 30
    grace_period: int | None = None
    max_retry: int | None = 3


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: the data, the model and its search space, how trials are run and kept.

    ``model`` is the registered model with the parameters every trial shares (its
    ``params.training`` mapping too): a parameter pinned there is never searched;
    ``search_space`` overrides the model family's space (:mod:`tsseq.tuning.spaces`).
    ``n_trials`` and ``timeout_s`` bound what one worker runs (as Optuna's
    ``optimize``); at least one must be set. ``refit``: fit
    the best configuration again at the end and log it (and save it to
    ``best_model_path``, if given). ``tracking``: each trial an MLflow child run of the
    study's run. ``checkpoint_dir``: where the neural trials write their per-epoch
    checkpoints (``<checkpoint_dir>/<name>/trial-<number>/``); a trial that a worker could
    not finish (stopped by SIGTERM or Ctrl-C, or killed) is queued again with the same
    parameters, and its retry continues from that checkpoint instead of epoch 1. None:
    no checkpoints, a retry starts over.
    """

    name: str
    data: DataConfig
    model: ModelConfig
    search_space: dict[str, Any] = field(default_factory=dict)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    n_trials: int | None = 20
    timeout_s: float | None = None
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    tracking: TrackingConfig = field(default_factory=lambda: TrackingConfig(enabled=True))
    refit: bool = True
    best_model_path: str | None = None
    checkpoint_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"name: the study needs a non-empty name; got {self.name!r}.")
        if self.n_trials is None and self.timeout_s is None:
            raise ConfigError("Give n_trials or timeout_s (or both): a worker with neither would never stop.")
        if self.n_trials is not None and (isinstance(self.n_trials, bool) or self.n_trials < 1):
            raise ConfigError(f"n_trials must be an int >= 1 (or null); got {self.n_trials!r}.")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0 seconds (or null); got {self.timeout_s!r}.")
        spaces = {}
        for name, space in self.search_space.items():
            if space is None:  # null in YAML: drop the family's parameter, keeping the model's value
                spaces[str(name)] = None
            elif isinstance(space, ParameterSpace):
                spaces[str(name)] = space.check(str(name))
            else:
                spaces[str(name)] = from_mapping(ParameterSpace, space, where=f"search_space.{name}").check(str(name))
        object.__setattr__(self, "search_space", spaces)


def load_study(path: str | Path) -> tuple[StudyConfig, Path]:
    """Read a study job file -> (config, the folder its relative paths resolve against)."""
    return load_job(path, StudyConfig, "Study file")
