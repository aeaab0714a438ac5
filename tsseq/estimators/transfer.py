"""Freezing named parts of a module while it is fine-tuned.

A part is named by a prefix of parameter names, component-wise: ``"encoder"`` is every
parameter under ``encoder.``; ``"encoder.layers.0"`` only the first layer's. Frozen
parameters have ``requires_grad=False``, so the engine leaves them out of the
optimizer: they come out of training bit for bit as they went in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from torch import nn

from tsseq.errors import ConfigError, closest_match


def parts(module: nn.Module) -> list[str]:
    """The top-level names that own parameters (children and direct parameters), in order."""
    return list(dict.fromkeys(name.split(".")[0] for name, _ in module.named_parameters()))


def parameters_under(module: nn.Module, prefixes: Sequence[str]) -> list[nn.Parameter]:
    """The parameters of ``module`` named by ``prefixes``; a prefix that names none is an error."""
    if isinstance(prefixes, str):
        raise ConfigError(
            f"The 'freeze' parameter must be a list of parameter-name prefixes, e.g. [{prefixes!r}]. "
            f"Got the string {prefixes!r}."
        )
    named = list(module.named_parameters())
    selected: dict[int, nn.Parameter] = {}
    for prefix in prefixes:
        matches = [parameter for name, parameter in named if name == prefix or name.startswith(f"{prefix}.")]
        if not matches:
            known = parts(module)
            raise ConfigError(
                f"The 'freeze' entry {prefix!r} names no parameter of {type(module).__name__}."
                f"{closest_match(str(prefix), known)} Its parts: {', '.join(known)}."
            )
        selected.update((id(parameter), parameter) for parameter in matches)
    return list(selected.values())


@contextlib.contextmanager
def frozen(module: nn.Module, prefixes: Sequence[str]) -> Iterator[list[nn.Parameter]]:
    """Inside the block the parameters named by ``prefixes`` do not train; their flags are restored after."""
    parameters = parameters_under(module, prefixes)
    flags = [parameter.requires_grad for parameter in parameters]
    try:
        for parameter in parameters:
            parameter.requires_grad_(False)
        yield parameters
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)
