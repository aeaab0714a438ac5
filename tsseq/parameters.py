"""scikit-learn's estimator parameters, without importing scikit-learn.

tsseq's estimators (forecasters, detectors, thresholds, the scaler) follow
scikit-learn's conventions: constructors store their keyword arguments unchanged,
``get_params`` / ``set_params`` read and write them (nested ones as
``component__name``), and :func:`sklearn.base.clone`, ``GridSearchCV`` and
``Pipeline`` work on them. :class:`Estimator` gives them what
:class:`sklearn.base.BaseEstimator` gives: the same ``get_params`` and ``set_params``
(which ``clone`` uses), its tags, and its ``repr`` of the changed parameters. Importing
this module imports nothing, where ``import sklearn`` imports SciPy and costs about
0.6 s: a non-neural ``tsseq forecast`` takes 0.40 s end to end without it, 1.23 s with
it (``python pipelines/benchmarks/bench_cli_startup.py --runs 7``, medians, 2 CPUs).
scikit-learn is imported when something of its own is needed: tags, ``NotFittedError``.
:func:`clone` is :func:`sklearn.base.clone` for tsseq's estimators (the backtests, the
conformal wrapper and the streaming detectors clone on every fit): ``tsseq forecast`` with
the default model, ``auto``, imported scikit-learn for it alone (see the benchmark above).
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

__all__ = ["Estimator", "check_is_fitted", "clone", "is_estimator"]


class Estimator:
    """The base class of tsseq's estimators: scikit-learn's parameter protocol (see the module docstring)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (scikit-learn's rule: no ``*args``)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        parameters = [p for p in inspect.signature(init).parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in parameters):
            raise RuntimeError(f"{cls.__name__}.__init__ must name its parameters (no *args), as scikit-learn requires.")
        return sorted(p.name for p in parameters)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters by name; with ``deep``, those of nested estimators as ``name__param``."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{name}", nested) for name, nested in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any) -> "Estimator":
        """Set parameters by name, nested ones as ``name__param``; an unknown name is a ValueError listing the valid ones."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            name, delimiter, sub_key = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if delimiter:
                nested[name][sub_key] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` with the parameters that differ from their defaults (scikit-learn's display)."""
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values() if p.name != "self"
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params(deep=False).items()
            if name not in defaults or not _same(value, defaults[name])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)


def clone(estimator: Any, *, safe: bool = True) -> Any:
    """A new, unfitted estimator with the same parameters: :func:`sklearn.base.clone`'s rule.

    Estimators are rebuilt from ``get_params(deep=False)``, each parameter cloned in turn
    (an estimator is cloned, a list or tuple element by element, anything else deep-copied);
    a list or tuple of estimators gives one of clones. An estimator that is not tsseq's goes
    to scikit-learn's own ``clone``. ``safe``: a value that is no estimator is a TypeError
    (True) or deep-copied (False), as scikit-learn's.
    """
    if isinstance(estimator, (list, tuple, set, frozenset)):
        return type(estimator)(clone(element, safe=safe) for element in estimator)
    if not is_estimator(estimator):
        if not safe:
            return copy.deepcopy(estimator)
        raise TypeError(f"Cannot clone {estimator!r} ({type(estimator).__name__}): it is not an estimator (no get_params).")
    if not isinstance(estimator, Estimator):
        from sklearn.base import clone as sklearn_clone

        return sklearn_clone(estimator, safe=safe)
    params = {name: clone(value, safe=False) for name, value in estimator.get_params(deep=False).items()}
    return type(estimator)(**params)


def _same(value: object, default: object) -> bool:
    try:
        return value is default or bool(value == default)
    except Exception:  # noqa: BLE001 (an array's ambiguous truth value: shown as changed)
        return False


def is_estimator(value: object) -> bool:
    """Whether ``value`` is an estimator instance (tsseq's or scikit-learn's), not a class."""
    return hasattr(value, "get_params") and hasattr(value, "set_params") and not isinstance(value, type)


def check_is_fitted(estimator: object, attributes: str | Iterable[str] | None = None) -> None:
    """Raise scikit-learn's ``NotFittedError`` unless ``estimator`` has the fitted ``attributes``.

    Without ``attributes``: fitted when it has an attribute ending in ``_`` (scikit-learn's rule).
    """
    if attributes is None:
        fitted = any(name.endswith("_") and not name.startswith("__") for name in vars(estimator))
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        fitted = all(hasattr(estimator, name) for name in names)
    if not fitted:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. "
            "Call 'fit' with appropriate arguments before using this estimator."
        )
