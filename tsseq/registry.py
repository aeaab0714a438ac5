"""Name -> model class, read by the CLI, the YAML pipelines and the contract tests.

A new model is one file plus one ``@register("name")`` line, and one line in
``MANIFEST`` below. A name may also preset some constructor arguments, so that one
estimator class serves a family (``@register("lstm", cell="lstm")`` on the recurrent
forecaster).

The registry is lazy: ``MANIFEST`` names the module whose ``@register`` line defines
each model, and :func:`get` imports only that module, so that ``get("ar")`` imports
the baselines and not torch (``tsseq forecast --model ar`` starts in a fraction of a
second). :func:`names` reads the manifest; :func:`load_all` imports every module (what
``tsseq models`` needs for the descriptions). A contract test
(``tests/test_registry.py``) checks the manifest against what the modules register.
Models registered by other packages (``register`` called when their module is
imported) are found once that module is imported.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import TypeVar

from tsseq.errors import ConfigError, closest_match

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
_PRESETS: dict[str, dict[str, object]] = {}
_SUMMARIES: dict[str, str] = {}  # a preset's own line in `tsseq models`, where the class's would be shared
# Registered name -> the module whose @register line defines it; one line per model.
MANIFEST: dict[str, str] = {
    "naive": "tsseq.baselines",
    "mean": "tsseq.baselines",
    "drift": "tsseq.baselines",
    "seasonal_naive": "tsseq.baselines",
    "naive2": "tsseq.baselines",
    "ar": "tsseq.baselines",
    "var": "tsseq.var",
    "linear": "tsseq.linear",
    "conformal": "tsseq.conformal",
    "ensemble": "tsseq.ensemble",
    "auto": "tsseq.auto",
    "rnn": "tsseq.estimators.rnn",
    "lstm": "tsseq.estimators.rnn",
    "gru": "tsseq.estimators.rnn",
    "mut1": "tsseq.estimators.rnn",
    "mut2": "tsseq.estimators.rnn",
    "mut3": "tsseq.estimators.rnn",
    "segrnn": "tsseq.estimators.rnn",
    "seq2seq": "tsseq.estimators.seq2seq",
    "transformer": "tsseq.estimators.transformer",
    "patchtst": "tsseq.estimators.transformer",
    "transformer_seq2seq": "tsseq.estimators.transformer_seq2seq",
    "decoder_only": "tsseq.estimators.transformer_seq2seq",
    "token_transformer": "tsseq.estimators.tokens",
    "token_gru": "tsseq.estimators.tokens",
}
_MODEL_MODULES = tuple(dict.fromkeys(MANIFEST.values()))  # in manifest order, each once


def register(name: str, summary: str | None = None, /, **preset: object) -> Callable[[T], T]:
    """Class decorator: make ``cls`` available as ``get(name)``, with ``preset`` arguments.

    ``summary``: the one line that ``tsseq models`` shows for ``name``; by default the first
    line of the class's docstring, which a family's presets would otherwise all share.
    """

    def decorator(cls: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ConfigError(f"Model name {name!r} is already registered to {existing.__qualname__}.")
        _REGISTRY[name] = cls
        _PRESETS[name] = dict(preset)
        if summary is not None:
            _SUMMARIES[name] = summary
        if not preset:
            cls.registry_name = name
        return cls

    return decorator


def load_all() -> None:
    """Import every module of the manifest, registering all of tsseq's models (torch included)."""
    for module in _MODEL_MODULES:
        importlib.import_module(module)


def get(name: str) -> type:
    """The model class registered under ``name``, importing its module first; a ConfigError lists the known names."""
    if name not in _REGISTRY and isinstance(name, str) and name in MANIFEST:
        importlib.import_module(MANIFEST[name])
        if name not in _REGISTRY:  # a manifest line without its @register line: a bug, named
            raise RuntimeError(f"tsseq.registry.MANIFEST says {MANIFEST[name]} registers {name!r}, but it does not.")
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = names()
        raise ConfigError(
            f"Unknown model {name!r}.{closest_match(str(name), known)} Registered models: {', '.join(known)}."
        ) from None


def preset(name: str) -> dict[str, object]:
    """The constructor arguments that ``name`` presets (empty for most models)."""
    get(name)
    return dict(_PRESETS[name])


def summary(name: str) -> str:
    """The one line that describes ``name``, as plain text: its own summary, else its class docstring's first."""
    doc = (get(name).__doc__ or "").strip()
    line = _SUMMARIES.get(name) or (doc.splitlines()[0] if doc else "")
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", line).replace("``", "")  # a terminal shows reST markup as is


def name_of(model: object) -> str:
    """The registered name that builds ``model``: the preset its parameters match best, e.g. ``"gru"`` not ``"rnn"``.

    A preset is read by the arguments it sets away from the class's defaults: the name whose
    such arguments the model matches most (more than half of them, so that a SegRNN given
    another segment and hidden size is still ``"segrnn"``, not ``"gru"``), else the class's own.
    """
    cls = type(model)  # its module is imported, so every name it registers is known
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    defaults = {name: parameter.default for name, parameter in inspect.signature(cls).parameters.items()}
    best, best_key = getattr(cls, "registry_name", cls.__name__), (0, 0.0)
    for name, registered in _REGISTRY.items():
        defining = {k: v for k, v in _PRESETS[name].items() if defaults.get(k, inspect.Parameter.empty) != v}
        if registered is not cls or not defining:
            continue
        matched = sum(params.get(k) == v for k, v in defining.items())
        key = (matched, matched / len(defining))
        if 2 * matched > len(defining) and key > best_key:
            best, best_key = name, key
    return best


def names() -> list[str]:
    """All registered model names, sorted: the manifest's, and any registered from other packages (no import)."""
    return sorted({*MANIFEST, *_REGISTRY})


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
