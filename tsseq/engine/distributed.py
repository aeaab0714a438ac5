"""Data-parallel training over several processes: ``torchrun`` and ``DistributedDataParallel``.

Start one process per device with ``torchrun``; each runs the same script, and the one
:class:`~tsseq.engine.Trainer` trains data-parallel when ``TrainingConfig.distributed`` is
``"auto"`` (the default) and the launcher's ``WORLD_SIZE`` is above 1 (or a default
process group of more than one process is already initialised)::

    torchrun --nproc_per_node=2 train.py      # NCCL on GPUs (cuda:LOCAL_RANK), gloo on CPUs

What changes then (``W`` processes, this one's ``RANK``):

* the default process group starts on the first ``fit`` (:func:`init_distributed`, from
  torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)
  and is destroyed when the interpreter exits (:func:`destroy_at_exit`); device ``"auto"``
  or ``"cuda"`` means ``cuda:LOCAL_RANK``;
* the model is wrapped in ``DistributedDataParallel``, which averages the gradients over
  the processes during ``backward``: gradient norms, clipping and the optimizer step act
  on the averaged gradients, identical everywhere, so the weights stay identical;
* ``batch_size`` is the *global* batch. Every process draws the same seeded permutation
  and takes its contiguous share of each global batch, ``batch_size / W`` windows
  (:class:`ShardedBatches`), so ``W`` processes take the steps one process would take
  with the same ``batch_size`` and seed. A smaller last batch is split as evenly as
  possible and each share's loss scaled by its size, so that the averaged gradient is
  still that of the batch's mean loss (exactly so when every target is observed: with
  missing targets each share's loss is the mean over its own observed targets);
* the recorded losses are global: per-step training losses and the validation loss (each
  process evaluates its share of the validation windows) are all-reduced, so every
  process has the same history, best epoch, early stopping and schedule, and
  ``trainer.should_stop`` set on any process stops all of them;
* only the main process (rank 0) writes checkpoints and draws the progress bar. Callbacks
  run on every process; one that writes (tracking, files) checks
  ``trainer.is_main_process``. An exception on one process ends it, and torchrun then
  stops the others.

With ``distributed="off"`` every process trains alone, e.g. workers of one Optuna study.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch

from tsseq.data.windows import BatchSampler
from tsseq.engine.tbptt import Streams
from tsseq.errors import ConfigError

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the ``world_size`` processes that train together."""

    rank: int  # 0 .. world_size - 1, over all machines
    local_rank: int  # on this machine: the index of its GPU
    world_size: int

    @property
    def is_main_process(self) -> bool:
        """Rank 0: the process that writes (checkpoints, logs, progress)."""
        return self.rank == 0


def launch_context(mode: str = "auto") -> DistributedContext | None:
    """The processes this one trains with, or None to train alone; starts nothing.

    ``mode`` ``"off"``: None. ``"auto"``: an initialised default process group of more than
    one process, else torchrun's ``WORLD_SIZE`` above 1 (``RANK`` and ``LOCAL_RANK`` from
    the environment; ``LOCAL_RANK`` defaults to the rank).
    """
    if mode == "off":
        return None
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world_size, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
    else:
        world_size = _environment_int("WORLD_SIZE", 1)
        if world_size <= 1:
            return None
        if "RANK" not in os.environ:
            raise ConfigError(
                f"WORLD_SIZE={world_size} is set but RANK is not: start the processes with torchrun, which sets "
                f"{', '.join(_LAUNCH_VARIABLES)}, or use TrainingConfig(distributed='off') to train each alone."
            )
        rank = _environment_int("RANK", 0)
    if world_size <= 1:
        return None
    return DistributedContext(rank, _environment_int("LOCAL_RANK", rank), world_size)


def init_distributed(backend: str | None = None) -> DistributedContext:
    """Start the default process group from torchrun's environment (once); this process's place in it.

    ``backend`` defaults to ``"nccl"`` when CUDA is available (after
    ``torch.cuda.set_device(LOCAL_RANK)``), else ``"gloo"``. Without a launcher (no
    ``WORLD_SIZE`` above 1) nothing starts and the context is rank 0 of 1, so the same
    script runs alone or under torchrun. The :class:`~tsseq.engine.Trainer` calls it itself;
    call it first where a script needs its rank before training.
    """
    context = launch_context("auto")
    if context is None:
        return DistributedContext(0, 0, 1)
    if torch.distributed.is_initialized():
        return context
    missing = [name for name in _LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise ConfigError(
            f"Distributed training needs the launcher's environment variables; {', '.join(missing)} "
            "not set. Start the processes with torchrun (e.g. torchrun --nproc_per_node=2 script.py)."
        )
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if context.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK={context.local_rank} but this machine has {torch.cuda.device_count()} CUDA device(s): "
                "start at most one process per GPU (torchrun --nproc_per_node)."
            )
        torch.cuda.set_device(context.local_rank)
    torch.distributed.init_process_group(backend, rank=context.rank, world_size=context.world_size)
    atexit.register(destroy_at_exit)
    return context


def destroy_at_exit() -> None:
    """Destroy the default process group if it is still there (registered by :func:`init_distributed`).

    The group's connections are closed before the interpreter's teardown rather than during
    it. Destroying the group is local to each process (no collective), so a process whose
    peers have gone is not held up. (A process that aborted at shutdown after its job had
    returned, 'terminate called without an active exception', was a gloo worker thread
    releasing the job's last collective: :data:`_LAST_COLLECTIVE`.)
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def process_device(name: str, context: DistributedContext) -> str:
    """The device name ``name`` means for this process: ``"auto"`` and ``"cuda"`` mean ``cuda:LOCAL_RANK``."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if name in ("auto", "cuda") or name == f"cuda:{context.local_rank}":
        return f"cuda:{context.local_rank}"
    raise ConfigError(
        f"The 'device' parameter is {name!r}, but under distributed training each process trains on its own "
        f"GPU, cuda:LOCAL_RANK (here cuda:{context.local_rank}). Use device='cuda' or 'auto'."
    )


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` (which broadcasts rank 0's weights now)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class Shard(NamedTuple):
    """This process's part of one global batch."""

    indices: torch.Tensor  # (b,) window indices
    windows: int  # how many windows the share holds (0 for a stand-in, see ShardedBatches)
    loss_scale: float  # multiplies the share's mean loss before backward


class ShardedBatches:
    """Each process's share of the global batches of a :class:`~tsseq.data.windows.BatchSampler`.

    The sampler's generator must be seeded alike on every process, so that they all draw
    the same global batches. Share ``rank`` of a global batch of ``n`` windows is chunk
    ``rank`` of ``tensor_split(world_size)``; its loss is scaled by ``b W / n`` (``b``
    windows in the share), so that the mean over processes of the scaled shares' mean
    losses, what ``DistributedDataParallel``'s averaged gradients differentiate, is the
    mean loss of the global batch. An empty share (``n < W``) is replaced by the batch's
    first window with scale 0: the process still runs forward and backward, which the
    gradient all-reduce needs from all of them. One process: the sampler's batches, scale 1.
    """

    def __init__(self, sampler: BatchSampler, rank: int = 0, world_size: int = 1) -> None:
        if sampler.batch_size % world_size:
            raise ConfigError(
                f"Under distributed training 'batch_size' is the global batch, split evenly between the "
                f"{world_size} processes; it must be a multiple of {world_size}. Got batch_size={sampler.batch_size}."
            )
        self.sampler, self.rank, self.world_size = sampler, rank, world_size

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Shard]:
        for batch in self.sampler:
            if self.world_size == 1:
                yield Shard(batch, len(batch), 1.0)
                continue
            share = batch.tensor_split(self.world_size)[self.rank]
            if len(share) == 0:
                yield Shard(batch[:1], 0, 0.0)
            else:
                yield Shard(share, len(share), len(share) * self.world_size / len(batch))


def shard_streams(streams: Streams, context: DistributedContext) -> Streams:
    """This process's contiguous block of ``B / W`` of the ``B`` training streams of truncated BPTT."""
    count = streams.inputs.shape[0]
    if count % context.world_size:
        raise ConfigError(
            f"Under distributed training the {count} streams of fit_sequence are split evenly between the "
            f"{context.world_size} processes; 'streams' must be a multiple of {context.world_size}."
        )
    block = slice(context.rank * count // context.world_size, (context.rank + 1) * count // context.world_size)
    mask = None if streams.target_mask is None else streams.target_mask[block]
    return Streams(streams.inputs[block], streams.targets[block], mask)


def share_of(count: int, context: DistributedContext) -> torch.Tensor:
    """``(n,)`` this process's contiguous share of ``count`` indices (validation windows)."""
    return torch.arange(count).tensor_split(context.world_size)[context.rank]


def global_mean(total: torch.Tensor, weight: float) -> float:
    """``sum(total) / sum(weight)`` over the processes (one all-reduce; every process gets it)."""
    weight = torch.tensor(float(weight), dtype=torch.float64, device=total.device)
    figures = torch.stack([total.detach().double(), weight])
    collective(torch.distributed.all_reduce, figures)
    return float(figures[0] / figures[1])


def global_step_losses(losses: list[torch.Tensor], weights: list[int]) -> tuple[list[torch.Tensor], list[int]]:
    """Per-step losses and weights of the global batches from each process's shares (one all-reduce)."""
    device = losses[0].device
    weight = torch.tensor(weights, dtype=torch.float64, device=device)  # (steps,)
    figures = torch.stack([torch.stack(losses).double() * weight, weight])  # (2, steps)
    collective(torch.distributed.all_reduce, figures)
    return list((figures[0] / figures[1]).unbind()), [int(value) for value in figures[1].tolist()]


def main_process_copy(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rank 0's ``values`` on every process (same shape everywhere; one broadcast), on the CPU."""
    shared = values.to(device)
    collective(torch.distributed.broadcast, shared, src=0)
    return shared.cpu()


def any_process(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is True on any (one all-reduce)."""
    value = torch.tensor([float(flag)], device=device)
    collective(torch.distributed.all_reduce, value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item())


# The last collective's work and tensors, held until the next collective (or the interpreter's shutdown). A gloo
# worker thread drops its reference to a work just after completing it; were that the last one, the work's tensors
# (Python objects) would be released on that thread, which must take the GIL for it. If the interpreter is shutting
# down by then (a job's last collective, then exit), a thread that takes the GIL is ended in a way that aborts the
# process: 'terminate called without an active exception', SIGABRT, in 4 of 132 two-process CLI jobs on 2 cores
# (a core dump showed the worker releasing the job's last all-gather during Py_FinalizeEx). Held here, they are
# released by the thread that runs the next collective, or by the interpreter's shutdown, which hold the GIL.
_LAST_COLLECTIVE: list = []


def collective(operation: Callable, *tensors, **options) -> None:
    """``operation(*tensors, **options)``, a ``torch.distributed`` collective, waited for; its work and tensors held
    until the next one (:data:`_LAST_COLLECTIVE`)."""
    work = operation(*tensors, async_op=True, **options)
    _LAST_COLLECTIVE[:] = [work, tensors]
    work.wait()


def _environment_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"The environment variable {name} must be an integer. Got {text!r}.") from None
