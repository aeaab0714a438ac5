"""Truncated backpropagation through time over one long series.

Stateful training (:meth:`Trainer.fit_sequence`) cuts a series ``(T, C)`` into ``B``
contiguous, parallel streams, as in language-model batching: stream ``b`` holds the
steps ``b S ... (b + 1) S - 1`` with ``S = (T - 1) // B`` (the last ``T - 1 - B S``
steps are dropped). Targets are the next values (synchronised many-to-many): the input
at step ``t`` is ``x_t``, its target ``x_{t+1}``.

The streams are processed in chunks of ``k1`` steps, all ``B`` at once. The hidden state
flows from one chunk to the next, but is detached between them, so that gradients stop
at chunk boundaries. This is TBPTT(k1, k2) of Williams & Peng (1990): every ``k1`` steps
the weights are updated from a backward pass through the last ``k2`` steps. With
``k2 == k1`` each step is run forward and backward once per epoch. With ``k2 = m k1``
(``m`` an integer), the forward pass of each update is re-run over the last ``k2`` steps
from the detached state saved at the chunk boundary ``k2 - k1`` steps before the new
chunk (with the current weights), and the loss covers the newest ``k1`` steps only:
an epoch then costs about ``m = k2 / k1`` times as much as with ``k2 == k1``.

Model contract: ``forward(inputs (B, k, C), state) -> (outputs (B, k, C_out), state)``,
``state`` None at the start of the streams and otherwise what the previous call
returned: a tensor or a (nested) tuple or list of tensors (``nn.LSTM``'s ``(h, c)``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tsseq.base import check_positive_int
from tsseq.errors import DataError

State = Any  # None, a tensor, or nested tuples / lists of tensors


@dataclass(frozen=True, eq=False)  # tensors have no truth value: compare by identity
class Streams:
    """``B`` parallel streams of one series: ``inputs``, ``targets`` ``(B, S, C)``.

    ``target_mask`` (bool, same shape) is True where the target was observed, None when
    the series has no NaN; unobserved values are 0 in ``inputs`` and ``targets``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    target_mask: torch.Tensor | None

    @property
    def steps(self) -> int:
        """``S``, the time steps of each stream."""
        return self.inputs.shape[1]


def make_streams(series: np.ndarray | torch.Tensor, streams: int) -> Streams:
    """Cut ``series`` ``(T, C)`` (or ``(T,)``) into ``streams`` contiguous streams of next-step pairs.

    Floating dtypes are kept, integers become float64. NaN marks an unobserved value:
    it is replaced by 0 and its target masked out.
    """
    streams = check_positive_int(streams, "streams")
    values = series if isinstance(series, torch.Tensor) else torch.from_numpy(_real_array(series))
    values = values if values.is_floating_point() else values.to(torch.float64)
    values = values.unsqueeze(1) if values.ndim == 1 else values
    if values.ndim != 2 or values.is_complex():
        raise DataError(f"The series must be a real (T, C) or (T,) array. Got shape {tuple(values.shape)}.")
    steps = (values.shape[0] - 1) // streams
    if steps < 1:
        raise DataError(
            f"A series of {values.shape[0]} rows cannot be cut into {streams} streams of at least one "
            f"(input, next value) pair: it needs at least {streams + 1} rows. Use fewer streams."
        )
    missing = torch.isnan(values)
    mask = None
    if bool(missing.any()):
        mask = (~missing)[1 : streams * steps + 1].reshape(streams, steps, -1)
        values = torch.where(missing, torch.zeros((), dtype=values.dtype, device=values.device), values)
    inputs = values[: streams * steps].reshape(streams, steps, -1)  # (B, S, C), a view
    targets = values[1 : streams * steps + 1].reshape(streams, steps, -1)  # (B, S, C), a view
    return Streams(inputs, targets, mask)


def _real_array(series: object) -> np.ndarray:
    array = np.asarray(series)
    if array.dtype.kind not in "iuf":
        raise DataError(f"The series must hold real numbers. Got an array of dtype {array.dtype}.")
    return np.ascontiguousarray(array, dtype=array.dtype if array.dtype.kind == "f" else np.float64)


def detach_state(state: State) -> State:
    """``state`` with every tensor detached from the graph, its structure kept."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(part) for part in state)
    if state is None:
        return None
    raise DataError(
        f"fit_sequence needs a model whose forward returns (outputs, state) with state a tensor or a tuple of "
        f"tensors. Got a state of type {type(state).__name__}."
    )


def chunk_outputs(
    model: Callable[[torch.Tensor, State], tuple[torch.Tensor, State]],
    streams: Streams,
    chunk_steps: int,
    backprop_steps: int,
    autocast: Callable[[], Any],
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Run ``model`` over ``streams`` chunk by chunk; yield each chunk's outputs and targets.

    Yields ``(outputs (B, k, C_out), targets (B, k, C), target_mask or None)`` for the
    ``k = chunk_steps`` steps of each chunk (fewer for the last), in order. The outputs
    keep their graph back to the detached state they started from, at most
    ``backprop_steps`` steps earlier: the caller backpropagates and steps the optimizer
    before asking for the next chunk.
    """
    # Detached states at the last backprop_steps // chunk_steps chunk boundaries, oldest first.
    boundary_states: deque = deque([None], maxlen=backprop_steps // chunk_steps)
    for start in range(0, streams.steps, chunk_steps):
        stop = min(start + chunk_steps, streams.steps)
        first = start - (len(boundary_states) - 1) * chunk_steps  # where boundary_states[0] was taken
        with autocast():
            result = model(streams.inputs[:, first:stop], boundary_states[0])  # (B, stop - first, C)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise DataError(
                "fit_sequence needs a model whose forward(inputs, state) returns (outputs, state); "
                f"got a {type(result).__name__}."
            )
        outputs, state = result
        boundary_states.append(detach_state(state))
        mask = None if streams.target_mask is None else streams.target_mask[:, start:stop]
        yield outputs[:, start - first :], streams.targets[:, start:stop], mask  # the newest chunk only
