"""Saving and loading fitted estimators: one file, tensors plus JSON, no pickle.

A file holds ``{"format", "metadata", "tensors"}`` written by :func:`torch.save` and read
back with ``torch.load(..., weights_only=True)``, which only rebuilds tensors and plain
containers: loading an untrusted file cannot run code. ``metadata`` is a JSON string
with the registry name, the constructor parameters and every fitted attribute (names
ending in ``_``) that is not an array; arrays, lists of arrays and the state dicts of
``torch.nn.Module`` attributes go to ``tensors``. A module is rebuilt by the estimator's
``_build_module()`` from its parameters and fitted sizes, then given its saved weights.
Only the dataclasses listed in ``_DATACLASSES`` are rebuilt from metadata.
"""

from __future__ import annotations

import dataclasses
import json
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
    from tsseq.engine.history import TrainingHistory

    return {"SeriesLayout": SeriesLayout, "TrainingHistory": TrainingHistory}


def save(estimator: Any, path: str | Path) -> Path:
    """Write a fitted estimator to ``path`` (atomically)."""
    from tsseq import registry

    if not hasattr(estimator, "layout_"):
        raise DataError(f"Only a fitted estimator can be saved; call fit() on this {type(estimator).__name__} first.")
    name = getattr(estimator, "registry_name", None)
    if name is None or registry.get(name) is not type(estimator):
        raise DataError(f"{type(estimator).__name__} is not a registered model, so it could not be loaded back.")
    tensors: dict[str, torch.Tensor] = {}
    fitted: dict[str, Any] = {}
    for attribute, value in vars(estimator).items():
        if attribute.endswith("_") and not attribute.startswith("_"):
            fitted[attribute] = _encode(attribute, value, tensors)
    metadata = {"model": name, "params": _jsonable(estimator.get_params()), "fitted": fitted}
    payload = {"format": FORMAT, "metadata": json.dumps(metadata), "tensors": tensors}
    return io.write_atomic(path, lambda temporary: torch.save(payload, temporary))


def load(path: str | Path) -> Any:
    """Read an estimator written by :func:`save`; it predicts exactly what the original did."""
    from tsseq import registry

    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"Model file {str(path)!r} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the caller's bad input
        raise DataError(f"{str(path)!r} is not a tsseq model file: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(f"{str(path)!r} is not a tsseq model file (expected format {FORMAT!r}).")
    metadata, tensors = json.loads(payload["metadata"]), payload["tensors"]
    estimator = registry.get(metadata["model"])(**metadata["params"])
    modules = {}
    for attribute, encoded in metadata["fitted"].items():
        if isinstance(encoded, dict) and encoded.get("kind") == "module":
            modules[attribute] = encoded
        else:
            setattr(estimator, attribute, _decode(attribute, encoded, tensors))
    for attribute in modules:
        module = estimator._build_module()
        prefix = f"{attribute}."
        module.load_state_dict({key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)})
        module.eval()
        setattr(estimator, attribute, module)
    return estimator


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
    return value


def _jsonable(value: Any) -> Any:
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
