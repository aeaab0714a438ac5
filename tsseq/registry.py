"""Name -> model class, read by the CLI, the YAML pipelines and the contract tests.

A new model is one file plus one ``@register("name")`` line. A name may also preset
some constructor arguments, so that one estimator class serves a family
(``@register("lstm", cell="lstm")`` on the recurrent forecaster). Modules that
register models are listed in ``_MODEL_MODULES`` and imported on first lookup, so
that ``import tsseq`` does not import torch models or statsmodels.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TypeVar

from tsseq.errors import ConfigError, closest_match

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
_PRESETS: dict[str, dict[str, object]] = {}
_MODEL_MODULES = ("tsseq.baselines", "tsseq.estimators", "tsseq.conformal")
_loaded = False


def register(name: str, **preset: object) -> Callable[[T], T]:
    """Class decorator: make ``cls`` available as ``get(name)``, with ``preset`` arguments."""

    def decorator(cls: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ConfigError(f"Model name {name!r} is already registered to {existing.__qualname__}.")
        _REGISTRY[name] = cls
        _PRESETS[name] = dict(preset)
        if not preset:
            cls.registry_name = name
        return cls

    return decorator


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in _MODEL_MODULES:
            importlib.import_module(module)
        _loaded = True


def get(name: str) -> type:
    """The model class registered under ``name``; a ConfigError lists the known names."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(
            f"Unknown model {name!r}.{closest_match(name, _REGISTRY)} Registered models: {known}."
        ) from None


def preset(name: str) -> dict[str, object]:
    """The constructor arguments that ``name`` presets (empty for most models)."""
    get(name)
    return dict(_PRESETS[name])


def name_of(model: object) -> str:
    """The registered name that builds ``model``: the preset matching its parameters, e.g. ``"gru"`` not ``"rnn"``."""
    _load_all()
    cls = type(model)
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    matches = [
        name
        for name, registered in _REGISTRY.items()
        if registered is cls and _PRESETS[name] and all(params.get(k) == v for k, v in _PRESETS[name].items())
    ]
    if matches:
        return max(matches, key=lambda name: len(_PRESETS[name]))  # the most specific preset
    return getattr(cls, "registry_name", cls.__name__)


def names() -> list[str]:
    """All registered model names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def parameters(name: str) -> list[str]:
    """The constructor parameters of the model registered under ``name``."""
    return [parameter for parameter in inspect.signature(get(name)).parameters if parameter != "self"]


def create(name: str, **params: object) -> object:
    """Instantiate the model registered under ``name``: its preset, updated by ``params``."""
    cls = get(name)
    accepted = parameters(name)
    for key in params:
        if key not in accepted:
            raise ConfigError(
                f"Model {name!r} has no parameter {key!r}.{closest_match(key, accepted)} "
                f"Its parameters: {', '.join(accepted) or '(none)'}."
            )
    return cls(**{**_PRESETS[name], **params})
