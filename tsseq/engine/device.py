"""Where training runs and in which precision, and how data gets there once.

Data should live on the training device before the loop starts, so that a batch is
one index operation there and nothing crosses the bus per step. Two ways:

* build the windows there: ``make_windows(values, L, H, device="cuda")``;
* or let the trainer call :func:`to_device` on a window source: a dataclass source
  (:class:`~tsseq.data.windows.Windows`, :class:`~tsseq.data.windows.MultiSeriesWindows`)
  is rebuilt around copies of the *storages* its tensors view, so the series crosses
  once (and is cast once to the model's floating dtype), not the ``N`` windows.

Any other source (an object with ``__len__`` and ``gather``) is gathered where it lives
and each batch is copied over (:func:`batch_to_device`: pinned host memory and
``non_blocking`` copies on CUDA).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tsseq.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; CUDA names are checked against the machine.

    A CUDA device always carries its index (``cuda:0``), so that comparing it with a
    tensor's device tells whether the tensor is already there.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"The 'device' parameter is {name!r} but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False). Use device='cpu' or 'auto'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"The 'device' parameter is {name!r} but this machine has {torch.cuda.device_count()} CUDA "
                f"device(s), numbered from 0."
            )
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision=name`` on ``device``; None means plain fp32."""
    if name == "fp32" or (name == "auto" and device.type != "cuda"):
        return None
    if name == "fp16":
        if device.type != "cuda":
            raise ConfigError(
                "precision='fp16' needs a CUDA device (it relies on gradient scaling there); "
                f"the training device is {device}. Use precision='bf16' or 'fp32' on the CPU."
            )
        return torch.float16
    if name == "bf16" and device.type != "cuda":
        return torch.bfloat16  # CPU autocast to bfloat16, only when asked for explicitly
    if _cuda_supports_bf16():
        return torch.bfloat16
    if name == "bf16":
        raise ConfigError(
            f"precision='bf16' is not supported by {torch.cuda.get_device_name(device)}; use 'fp16' or 'auto'."
        )
    return torch.float16


def _cuda_supports_bf16() -> bool:
    try:  # torch >= 2.3 can report emulated bf16 as supported; emulation is slow: ask for the real thing
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        return torch.cuda.is_bf16_supported()


def autocast_factory(
    device: torch.device, dtype: torch.dtype | None
) -> Callable[[], contextlib.AbstractContextManager]:
    """A function returning the forward pass's autocast context (a no-op context for fp32)."""
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (float32 for a model without any)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def to_device(source: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """``source`` with its tensors on ``device`` and its floating tensors in ``dtype``.

    A dataclass (nested dataclasses included) is rebuilt with :func:`dataclasses.replace`;
    tensors that view one storage (a series and its windows) still view one moved copy
    of it, so memory stays that of the series. Anything else is returned as it is.
    """
    if not dataclasses.is_dataclass(source) or isinstance(source, type):
        return source
    return _move_dataclass(source, device, dtype, {})


def _move_dataclass(obj: Any, device: torch.device, dtype: torch.dtype, moved: dict) -> Any:
    changes = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if isinstance(value, torch.Tensor):
            changes[field.name] = _move_view(value, device, dtype, moved)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[field.name] = _move_dataclass(value, device, dtype, moved)
    unchanged = all(changes[name] is getattr(obj, name) for name in changes)
    return obj if unchanged else dataclasses.replace(obj, **changes)


def _move_view(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype, moved: dict) -> torch.Tensor:
    """``tensor`` as the same view of its storage, moved (and cast) once per storage."""
    target_dtype = dtype if tensor.is_floating_point() else tensor.dtype
    if tensor.device == device and tensor.dtype == target_dtype:
        return tensor
    storage = tensor.untyped_storage()
    key = (storage.data_ptr(), tensor.dtype, target_dtype)
    if key not in moved:
        flat = torch.empty(0, dtype=tensor.dtype, device=tensor.device).set_(storage)  # (storage elements,)
        moved[key] = flat.to(device=device, dtype=target_dtype)
    # Strides and offset count elements, so they hold for the cast copy too.
    return moved[key].as_strided(tensor.shape, tensor.stride(), tensor.storage_offset())


def batch_to_device(
    tensors: tuple[torch.Tensor | None, ...], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor | None, ...]:
    """Each tensor on ``device`` (floating ones in ``dtype``); a no-op for data already there."""
    return tuple(None if tensor is None else tensor_to_device(tensor, device, dtype) for tensor in tensors)


def tensor_to_device(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    target_dtype = dtype if tensor.is_floating_point() else tensor.dtype
    if tensor.device == device:
        return tensor if tensor.dtype == target_dtype else tensor.to(target_dtype)
    if device.type == "cuda" and tensor.device.type == "cpu":
        # Page-locked memory lets the copy run asynchronously, overlapping the previous step's kernels.
        return tensor.pin_memory().to(device, non_blocking=True).to(target_dtype)
    return tensor.to(device=device, dtype=target_dtype)


def usable_cpus() -> int:
    """CPUs this process may really use: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def resolve_threads(threads: int | None) -> int:
    """Intra-op threads for CPU work: ``threads``, or by default one less than the usable CPUs.

    Leaving a CPU free matters: torch's threads wait for each other at every operation,
    so when another process holds one of them a step takes 10 to 30 times longer (the
    same segrnn epoch ran at 202 against 6,591 windows/s on 2 CPUs with one busy;
    ``pipelines/benchmarks/bench_threads.py``).
    """
    return threads if threads is not None else max(1, usable_cpus() - 1)


@contextlib.contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` within the block, restored after."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
