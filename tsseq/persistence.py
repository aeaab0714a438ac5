"""Saving and loading fitted estimators: one file, tensors plus JSON, no pickle.

A file holds ``{"format", "metadata", "tensors"}`` written by :func:`torch.save` and read
back with ``torch.load(..., weights_only=True)``, which only rebuilds tensors and plain
containers: loading an untrusted file cannot run code. ``metadata`` is a JSON string
with the registry name, the constructor parameters and every fitted attribute (names
ending in ``_``) that is not an array; arrays, lists of arrays and the state dicts of
``torch.nn.Module`` attributes go to ``tensors``. A module is rebuilt by the estimator's
``_build_module()`` from its parameters and fitted sizes, then given its saved weights.
A fitted attribute that is itself a fitted estimator (a wrapper's model), or a list of
them (an ensemble's members), is stored the same way, nested; an estimator given as a
constructor parameter is stored by its registry name and parameters. Only the
dataclasses listed in ``_DATACLASSES`` are rebuilt from metadata.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tsseq import io
from tsseq.errors import DataError, DataFileNotFoundError

FORMAT = "tsseq-estimator/1"


def _dataclasses() -> dict[str, type]:
    from tsseq.base import SeriesLayout
    from tsseq.data.covariates import CovariateSpec
    from tsseq.engine.history import TrainingHistory

    return {"SeriesLayout": SeriesLayout, "TrainingHistory": TrainingHistory, "CovariateSpec": CovariateSpec}


def save(estimator: Any, path: str | Path) -> Path:
    """Write a fitted estimator to ``path`` (atomically)."""
    if not hasattr(estimator, "layout_"):
        raise DataError(_not_saved(estimator))
    tensors: dict[str, torch.Tensor] = {}
    metadata = _encode_estimator(estimator, "", tensors)
    payload = {"format": FORMAT, "metadata": json.dumps(metadata), "tensors": tensors}
    return io.write_atomic(path, lambda temporary: torch.save(payload, temporary))


def _not_saved(estimator: Any) -> str:
    """Why ``estimator`` cannot be saved: an anomaly detector never can (its scaler, scorers and threshold have no
    saved form); anything else only once fitted."""
    from tsseq.anomaly.detectors import DETECTORS

    name = type(estimator).__name__
    if isinstance(estimator, tuple(cls for cls, _ in DETECTORS.values())):
        return (
            f"{name} is an anomaly detector: tsseq.persistence saves fitted forecasters only, not detectors. Refit it "
            "instead: the same parameters on the same training rows give the same detector (deterministic, its "
            "networks with training seed 0 unless set otherwise): tsseq detect --config with the job file again, or "
            "tsseq.anomaly.make_detector(name, **params).fit(rows)."
        )
    return f"Only a fitted estimator can be saved; call fit() on this {name} first."


_EXPECTED = "expected a model file written by model.save() (a zip archive of tensors and JSON)"
_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"  # torch.save's archive; its legacy format starts with a pickle


def load(path: str | Path) -> Any:
    """Read an estimator written by :func:`save`; it predicts exactly what the original did.

    Anything else is refused with a :class:`~tsseq.errors.DataError` that says what the
    file looks like (a text file such as a CSV, other binary data, a damaged archive),
    and a file holding objects other than tensors and plain containers is refused
    without running any of it.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"Model file {str(path)!r} is a directory; {_EXPECTED}.")
    if not path.is_file():
        raise DataFileNotFoundError(f"Model file {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head.startswith((_ZIP, _PICKLE)):
        raise DataError(f"Model file {str(path)!r} is {_looks_like(path, head)}, not a tsseq model; {_EXPECTED}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the caller's bad input
        raise DataError(f"Model file {str(path)!r} was refused: {_load_failure(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(f"Model file {str(path)!r} is not a tsseq model file (expected format {FORMAT!r}).")
    try:
        return _decode_estimator(json.loads(payload["metadata"]), "", payload["tensors"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise DataError(
            f"Model file {str(path)!r} is damaged or from another tsseq version ({type(error).__name__}: {error}); "
            "save the model again."
        ) from None


def _looks_like(path: Path, head: bytes) -> str:
    """What a file that is not a model file looks like, for the message."""
    if not head:
        return "empty"
    if b"\x00" in head:
        return "binary data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    first = text.splitlines()[0] if text.splitlines() else ""
    if path.suffix.lower() in (".csv", ".tsv") or first.count(",") >= 1 or first.count(";") >= 1:
        return f"a text file that looks like a CSV (first line {first[:60]!r})"
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        return f"a {path.suffix.lower().lstrip('.').upper()} text file"
    return "a text file"


def _load_failure(error: Exception) -> str:
    """torch.load's refusal, without its advice to load with weights_only=False (which would run the file's code)."""
    message = str(error)
    if "Weights only load failed" in message or "WeightsUnpickler" in message:
        names = sorted(set(re.findall(r"GLOBAL ([\w.]+)", message)))
        found = f" (it refers to {', '.join(names)})" if names else ""
        return (
            f"it holds objects other than tensors and plain containers{found}, which tsseq never writes: it was "
            "not written by tsseq's save(), or it has been altered. Nothing in it was run; do not load it by other means."
        )
    first = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return f"it could not be read as a tsseq model file ({first}); {_EXPECTED}."


def _registered_name(estimator: Any) -> str:
    from tsseq import registry

    name = getattr(estimator, "registry_name", None)
    if name is None or registry.get(name) is not type(estimator):
        raise DataError(f"{type(estimator).__name__} is not a registered model, so it could not be loaded back.")
    return name


def _encode_estimator(estimator: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> dict:
    """The metadata of an estimator; its arrays and weights go to ``tensors`` under ``prefix``.

    A fitted attribute that is itself a fitted estimator (a wrapper's model, e.g. the
    conformal wrapper's) is encoded the same way, its tensors under ``prefix + "attribute/"``;
    a list of fitted estimators (an ensemble's members) likewise, item ``i`` under
    ``prefix + "attribute/i/"``.
    """
    fitted: dict[str, Any] = {}
    for attribute, value in vars(estimator).items():
        if attribute.endswith("_") and not attribute.startswith("_"):
            if _is_fitted_estimator(value):
                fitted[attribute] = {"kind": "estimator", "metadata": _encode_estimator(value, f"{prefix}{attribute}/", tensors)}
            elif isinstance(value, list) and value and all(_is_fitted_estimator(item) for item in value):
                items = [_encode_estimator(item, f"{prefix}{attribute}/{i}/", tensors) for i, item in enumerate(value)]
                fitted[attribute] = {"kind": "estimator_list", "metadata": items}
            else:
                fitted[attribute] = _encode(f"{prefix}{attribute}", value, tensors)
    return {"model": _registered_name(estimator), "params": _jsonable(estimator.get_params(deep=False)), "fitted": fitted}


def _decode_estimator(metadata: dict, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    from tsseq import registry

    estimator = registry.get(metadata["model"])(**_decode_params(metadata["params"]))
    modules = []
    for attribute, encoded in metadata["fitted"].items():
        kind = encoded.get("kind") if isinstance(encoded, dict) else None
        if kind == "module":
            modules.append(attribute)
        elif kind == "estimator":
            setattr(estimator, attribute, _decode_estimator(encoded["metadata"], f"{prefix}{attribute}/", tensors))
        elif kind == "estimator_list":
            items = [_decode_estimator(item, f"{prefix}{attribute}/{i}/", tensors) for i, item in enumerate(encoded["metadata"])]
            setattr(estimator, attribute, items)
        else:
            setattr(estimator, attribute, _decode(f"{prefix}{attribute}", encoded, tensors))
    for attribute in modules:
        module = estimator._build_module()
        start = f"{prefix}{attribute}."
        module.load_state_dict({key[len(start) :]: value for key, value in tensors.items() if key.startswith(start)})
        module.eval()
        setattr(estimator, attribute, module)
    return estimator


def _is_estimator(value: Any) -> bool:
    from tsseq.parameters import is_estimator

    return is_estimator(value)


def _is_fitted_estimator(value: Any) -> bool:
    return _is_estimator(value) and hasattr(value, "layout_")


def _decode_params(params: dict) -> dict:
    """Constructor parameters from metadata; an estimator parameter is rebuilt (unfitted)."""
    def decode(value: Any) -> Any:
        if isinstance(value, dict) and "__estimator__" in value:
            from tsseq import registry

            return registry.get(value["__estimator__"])(**_decode_params(value["params"]))
        return value

    return {name: decode(value) for name, value in params.items()}


def _encode(attribute: str, value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.nn.Module):
        for key, tensor in value.state_dict().items():
            tensors[f"{attribute}.{key}"] = tensor.detach().cpu()
        return {"kind": "module"}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        tensors[attribute] = torch.tensor(value) if isinstance(value, np.ndarray) else value.detach().cpu()
        return {"kind": "tensor", "numpy": isinstance(value, np.ndarray)}
    if isinstance(value, list) and value and all(isinstance(item, np.ndarray) for item in value):
        for position, item in enumerate(value):
            tensors[f"{attribute}.{position}"] = torch.tensor(item)  # a copy: the array may be read-only
        return {"kind": "array_list", "length": len(value)}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _dataclasses():
        fields = {field.name: _jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return {"kind": "dataclass", "class": type(value).__name__, "fields": fields}
    return {"kind": "json", "value": _jsonable(value)}


def _decode(attribute: str, encoded: dict, tensors: dict[str, torch.Tensor]) -> Any:
    kind = encoded["kind"]
    if kind == "tensor":
        tensor = tensors[attribute]
        return tensor.numpy() if encoded["numpy"] else tensor
    if kind == "array_list":
        return [tensors[f"{attribute}.{position}"].numpy() for position in range(encoded["length"])]
    if kind == "dataclass":
        cls = _dataclasses()[encoded["class"]]
        return cls(**{name: _restore(cls, name, value) for name, value in encoded["fields"].items()})
    return encoded["value"]


def _restore(cls: type, name: str, value: Any) -> Any:
    """Undo :func:`_jsonable` for the fields that were not JSON types."""
    if cls.__name__ == "SeriesLayout":
        if name == "last_timestamps":
            return tuple(pd.Timestamp(text) for text in value)
        if isinstance(value, list):
            return tuple(value)
    if cls.__name__ == "CovariateSpec":  # tuples of names, and of category values per column
        return tuple(tuple(item) if isinstance(item, list) else item for item in value)
    return value


def _jsonable(value: Any) -> Any:
    if _is_estimator(value):  # a wrapper's model given as an instance: its name and parameters
        return {"__estimator__": _registered_name(value), "params": _jsonable(value.get_params(deep=False))}
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
