"""Hyperparameter studies with Optuna (``tsseq tune``).

* :mod:`.config`: :class:`StudyConfig` (the YAML job, one-to-one) and :func:`load_study`;
* :mod:`.spaces`: search spaces, one function per model family, overridable from YAML;
* :mod:`.pruning`: :class:`PruningCallback`, the engine callback reporting each epoch's
  validation loss to the trial;
* :mod:`.objective`: what a trial does (build, train, score: the validation MSE);
* :mod:`.storage`: SQLite by default, any SQLAlchemy URL (PostgreSQL) for many workers,
  with heartbeats and retry of trials whose worker died;
* :mod:`.checks`: the job checked before any study is opened (model, windows, search
  space against each parameter, the split of the data);
* :mod:`.identity`: what defines the trials' scores, recorded with the study; a job that
  differs is refused by name;
* :mod:`.study`: :func:`tune` (create or resume, optimise, track in MLflow, refit the best).

Importing this package imports neither Optuna nor torch; its modules do when used.
"""

from __future__ import annotations

import importlib

__all__ = ["PruningCallback", "StudyConfig", "TuningResult", "load_study", "open_study", "search_space", "tune"]

_LOCATIONS = {
    "PruningCallback": "tsseq.tuning.pruning",
    "StudyConfig": "tsseq.tuning.config",
    "TuningResult": "tsseq.tuning.study",
    "load_study": "tsseq.tuning.config",
    "open_study": "tsseq.tuning.study",
    "search_space": "tsseq.tuning.spaces",
    "tune": "tsseq.tuning.study",
}


def __getattr__(name: str):
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'tsseq.tuning' has no attribute {name!r}")
