"""What defines a study's scores, recorded with the study so that another job cannot add trials to it.

Trials of one study are ranked by their scores, so every trial must be scored the same
way: on the same data, by the same model with the same pinned parameters, on the same
validation windows, by the same metric, drawn from the same search space. A job that
changes any of these and runs under the same study name would mix scores that cannot
be compared (a trial scored at horizon 12 "best" over trials scored at horizon 6) and
reuse the study's MLflow run.

:func:`study_settings` writes those settings as ``{name: canonical text}``:
``data.sha256`` (the data set's sha256, as tracking records it:
:mod:`tsseq.tracking.identity`; a data file is identified by its bytes, not its
path, so that workers on machines with other paths agree), the ``data.*`` settings
that select the series, ``model.name`` and each pinned ``model.params.*`` (the
training's fields too, except those that do not change what it computes:
:data:`tsseq.engine.checkpoint.RESULT_NEUTRAL`), ``validation.*``, ``metric`` and
``direction``, and each ``search_space.*`` entry as the trials draw it. What only says
how trials are run (trial counts, sampler seed, pruner, storage, tracking, checkpoints,
threads) is left out: concurrent workers differ there.

:func:`reconcile` records them with a new study (user attribute :data:`SETTINGS_ATTR`)
and compares them on reopening: the same job resumes, another is refused with a
:class:`StudyMismatchError` naming what differs, the way a checkpoint of another job is
(:class:`tsseq.engine.checkpoint.CheckpointMismatchError`). A study created before
tsseq recorded them is reopened with a :class:`UnrecordedStudyWarning` and records the
job's settings from then on.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tsseq.errors import ConfigError
from tsseq.tuning.config import StudyConfig
from tsseq.tuning.spaces import Space

SETTINGS_ATTR = "tsseq.study_settings"  # study user attribute: {"format": 1, "settings": {name: text}}
FORMAT = 1
METRIC, DIRECTION = "validation_mse", "minimize"
# DataConfig fields not compared as text: the files are compared by content (data.sha256), the
# catalog name as the catalog spells it, the older name of `target` as `target`; the covariate
# files are not read by a study.
_DATA_FIELDS_APART = frozenset({"dataset", "csv", "columns", "future_csv", "static_csv"})


class StudyMismatchError(ConfigError):
    """The study in the storage holds trials of another job: other data, model, validation or search space."""


class UnrecordedStudyWarning(UserWarning):
    """The study was created before tsseq recorded the settings that define its scores; they cannot be compared."""


def dataset_identity(config: StudyConfig, base_dir: Path = Path(".")) -> Any:
    """The study's data set identity (:mod:`tsseq.tracking.identity`); a data file's path is relative to the job file's folder."""
    from tsseq.config import job_path
    from tsseq.tracking.identity import catalog_identity, file_identity

    if config.data.dataset:
        return catalog_identity(config.data.dataset)
    return file_identity(job_path(config.data.csv, base_dir))


def study_settings(config: StudyConfig, space: Space, dataset: Any) -> dict[str, str]:
    """The settings that define the scores of ``config``'s trials (module docstring), as canonical text.

    ``space`` is the study's search space (:func:`tsseq.tuning.spaces.search_space`),
    ``dataset`` the data set's :class:`~tsseq.tracking.identity.DatasetIdentity`.
    """
    from tsseq.engine.checkpoint import RESULT_NEUTRAL

    settings = {"metric": METRIC, "direction": DIRECTION, "model.name": config.model.name}
    data = config.data
    if data.dataset is not None:
        settings["data.dataset"] = dataset.name
    settings["data.sha256"] = dataset.sha256 or f"unrecorded (name and source digest {dataset.digest})"
    settings["data.target"] = _text(data.target_columns)
    for field in dataclasses.fields(data):
        if field.name not in _DATA_FIELDS_APART:
            settings[f"data.{field.name}"] = _text(getattr(data, field.name))
    for key, value in config.model.params.items():
        if key == "training" and dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if key == "training" and isinstance(value, Mapping):
            settings.update(
                (f"model.params.training.{name}", _text(setting))
                for name, setting in value.items()
                if name not in RESULT_NEUTRAL and setting is not None
            )
        elif value is not None:  # None leaves the model's default, as leaving the key out does
            settings[f"model.params.{key}"] = _text(value)
    validation = dataclasses.asdict(config.validation)
    if config.validation.preset is not None:  # the fractions do not apply
        validation.pop("train_fraction"), validation.pop("test_fraction")
    settings.update((f"validation.{name}", _text(value)) for name, value in validation.items())
    for name, spec in space.items():
        drawn = dataclasses.asdict(spec)
        for bound in ("low", "high", "step"):  # 4 from YAML is 4.0 already; from Python it may be 4
            drawn[bound] = None if drawn[bound] is None else float(drawn[bound])
        settings[f"search_space.{name}"] = _text(drawn)
    return settings


def reconcile(study: Any, settings: Mapping[str, str], storage: str) -> None:
    """Record ``settings`` with ``study``, or check them against those it records (module docstring).

    ``storage``: the storage's URL without its password, for messages. Raises
    :class:`StudyMismatchError` when the study records other settings; warns
    (:class:`UnrecordedStudyWarning`) when it records none but has trials.
    """
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None:
        trials = len(study.get_trials(deepcopy=False))
        study.set_user_attr(SETTINGS_ATTR, {"format": FORMAT, "settings": dict(settings)})
        if trials:
            warnings.warn(
                f"Study {study.study_name!r} in {storage} was created before tsseq recorded the settings that "
                f"define a study's scores (data, model, validation, search space), so this job cannot be checked "
                f"against its {trials} trials: make sure they were scored the same way. From now on the study "
                "records this job's settings and refuses a job with others.",
                UnrecordedStudyWarning,
                stacklevel=3,
            )
        # A worker that created the same study at the same moment may have recorded its own settings since.
        recorded = study.user_attrs.get(SETTINGS_ATTR)
    from tsseq.engine.checkpoint import setting_differences

    before = recorded.get("settings", {}) if isinstance(recorded, Mapping) else {}
    changed = setting_differences(before, settings, "the study", _short)
    if not changed:
        return
    name = study.study_name
    raise StudyMismatchError(
        f"Study {name!r} in {storage} holds trials of another job, so their scores and this job's could not be "
        f"compared: {changed}. Give this job a study of its own (another 'name' in the job file, or "
        f"tsseq tune --study-name NEW), or remove the old study (optuna delete-study --study-name {name} "
        f"--storage {storage}) or move its storage file aside."
    )


def _text(value: Any) -> str:
    """``value`` as canonical JSON text (sorted keys), the form the settings are stored and compared in."""
    return json.dumps(value, sort_keys=True, default=repr)


def _short(key: str, text: str | None, limit: int = 80) -> str:
    if text is None:
        return "(not set)"
    if key == "data.sha256":
        return text[:12]
    return text if len(text) <= limit else text[: limit - 3] + "..."
