"""One writer per job under ``torchrun``: every process computes, rank 0 alone writes.

A job (``tsseq run``, ``tsseq forecast``, :func:`tsseq.pipeline.run`) started by
``torchrun --nproc_per_node=W`` runs in each of the ``W`` processes. They read the same
data, build the same models and fit the neural ones together (data-parallel, see
:mod:`tsseq.engine.distributed`), so every process holds the same fitted models,
forecasts and scores. What leaves the processes is done once, by the main process
(rank 0): it alone opens the MLflow store (its set-up included), starts, logs to and
ends the runs, logs the models, and writes the output files, plots and results. The
other processes never touch the store and write nothing; their command prints nothing
either. Alone (no launcher, ``WORLD_SIZE`` unset or 1) every function here is a plain
call: nothing is started and torch is not even imported.

:func:`start_job` joins the processes at the job's start (the default process group,
gloo for CPU tensors, NCCL for CUDA ones where CUDA is available), before any work, so
that no process waits on another's start later. Then every step that only the main
process performs runs inside :func:`shared_outcome` (or :func:`on_main_process`): at its
end the processes exchange how it went (small gloo all-gathers), so that a failure of
rank 0 alone (an output path it cannot write, a store it cannot reach) ends the others
as well, with the same exit code, instead of leaving them waiting in the next collective:
they raise :class:`MainProcessError`, whose ``exit_code`` the CLI uses (2 for bad input,
3 for an implausible forecast, 1 otherwise, 128 + N for a signal). A step inside
:func:`shared_outcome` must contain no collective itself (no training), and every
process must pass the same steps in the same order, which the job's code guarantees by
taking the same path everywhere. A process that dies outright (killed, out of memory)
takes no part in the exchange: gloo then fails the others' next collective at once, and
torchrun stops the whole group and reports the first failure.

Estimators fitted inside an initialised process group need none of this: the engine
trains them together and writes its checkpoints and progress on rank 0 only.

Where it sits: above the engine (it starts the engine's process group), below the
tracking, the pipeline and the CLI, which use it; :mod:`tsseq.io` knows only its
``outputs(write=False)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from tsseq.errors import ForecastError, TsseqError

if TYPE_CHECKING:
    from tsseq.engine.distributed import DistributedContext

T = TypeVar("T")
_FIRST_SIGNAL_EXIT = 128  # the CLI's exit code for signal N is 128 + N


class MainProcessError(TsseqError):
    """Another process of the job failed in a step of its own; this one stops with the same exit code."""

    def __init__(self, message: str, exit_code: int, rank: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.rank = rank


def job_context() -> DistributedContext | None:
    """The processes this job runs in (torchrun's or an initialised process group), or None alone; starts nothing."""
    if _alone():
        return None
    from tsseq.engine.distributed import launch_context

    return launch_context("auto")


def is_main_process() -> bool:
    """True alone and on rank 0: the process that writes the job's files and tracking."""
    context = job_context()
    return context is None or context.is_main_process


def start_job() -> DistributedContext | None:
    """Join the job's processes (the default process group, started once) before any work; None alone.

    Under torchrun every process must call it at the same point, as the job's first step.
    """
    context = job_context()
    if context is None:
        return None
    import torch

    if not torch.distributed.is_initialized():
        from tsseq.engine.distributed import init_distributed

        # A GPU for every process of this machine (the same answer on each): gloo for CPU tensors and
        # NCCL for CUDA ones, so that the engine trains on either device; else gloo alone, as on CPUs.
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE") or context.world_size)
        backend = "gloo"
        if torch.cuda.is_available() and local_processes <= torch.cuda.device_count():
            torch.cuda.set_device(context.local_rank)
            backend = "cpu:gloo,cuda:nccl"
        init_distributed(backend)
    _outcome_group()
    return context


@contextmanager
def shared_outcome(what: str) -> Iterator[bool]:
    """A step with no collective inside, whose outcome every process learns at its end; yields ``is_main_process``.

    The block runs in every process (do the main process's part under ``if main:``). If it
    raises here, the exception propagates here; if it raised only in another process (the
    lowest such rank), it raises :class:`MainProcessError` with that process's exit code
    and message. ``what`` names the step in that message, e.g. ``"writing the outputs"``.
    """
    context = job_context()
    if context is None:
        yield True
        return
    try:
        yield context.is_main_process
    except GeneratorExit:
        raise
    except BaseException as error:
        _exchange(context, (_exit_code(error), f"{type(error).__name__}: {error}"), failing=True)
        raise
    outcomes = _exchange(context, (0, ""), failing=False)
    failed = [(rank, outcome) for rank, outcome in enumerate(outcomes) if outcome[0] != 0]
    if failed:
        rank, (code, message) = failed[0]
        name = "the main process (rank 0)" if rank == 0 else f"process {rank}"
        message = f"{what}: {name} failed ({message}); this process (rank {context.rank}) stops with it."
        raise MainProcessError(message, code, rank)


def on_main_process(action: Callable[[], T], what: str) -> T | None:
    """``action()`` on the main process only (None elsewhere), in a :func:`shared_outcome` step."""
    with shared_outcome(what) as main:
        return action() if main else None


def _alone() -> bool:
    """No other process to share the job with; does not import torch."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        return distributed.get_world_size() <= 1
    text = os.environ.get("WORLD_SIZE", "")
    return text.strip() in ("", "0", "1")  # anything else: launch_context reads it (and words a bad value)


_OUTCOME_GROUPS: dict[int, object] = {}  # id of the default group -> the gloo group the outcomes travel by


def _outcome_group():
    """The process group the outcomes travel by: the default one where it has gloo, else a gloo group of its own."""
    import torch.distributed as distributed

    if "gloo" in str(distributed.get_backend()):
        return None  # the default group
    key = id(distributed.group.WORLD)
    if key not in _OUTCOME_GROUPS:
        _OUTCOME_GROUPS.clear()
        _OUTCOME_GROUPS[key] = distributed.new_group(backend="gloo")
    return _OUTCOME_GROUPS[key]


def _exchange(context: DistributedContext, outcome: tuple[int, str], failing: bool) -> list[tuple[int, str]]:
    """Every process's ``(exit code, message)`` of the step, by rank (two small all-gathers).

    ``failing``: this process's step raised; an exchange that fails then (the others gone)
    must not hide that exception, so it is swallowed and only this outcome returned.
    """
    import torch
    import torch.distributed as distributed

    from tsseq.engine.distributed import collective  # holds the work: see its _LAST_COLLECTIVE

    code, message = outcome
    text = torch.tensor(list(message.encode()), dtype=torch.uint8)
    header = torch.tensor([code, len(text)], dtype=torch.int64)
    headers = [torch.empty_like(header) for _ in range(context.world_size)]
    group = _outcome_group()
    try:
        collective(distributed.all_gather, headers, header, group=group)
        longest = max(int(length) for _, length in headers)
        texts = [torch.zeros(longest, dtype=torch.uint8) for _ in range(context.world_size)]
        if longest:  # every process sees the same headers, so all take this branch or none
            padded = torch.nn.functional.pad(text, (0, longest - len(text)))
            collective(distributed.all_gather, texts, padded, group=group)
    except Exception:  # noqa: BLE001 - a collective over processes that have gone
        if not failing:
            raise
        return [outcome]
    return [
        (int(their_code), their_text[: int(length)].numpy().tobytes().decode(errors="replace"))
        for (their_code, length), their_text in zip(headers, texts)
    ]


def _exit_code(error: BaseException) -> int:
    """The CLI's exit code for ``error`` (:func:`tsseq.cli.exit_code`; signals as :class:`tsseq.signals.Terminated`)."""
    from tsseq.signals import Terminated

    if isinstance(error, Terminated):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return _FIRST_SIGNAL_EXIT + 2  # SIGINT
    if isinstance(error, MainProcessError):
        return error.exit_code
    if isinstance(error, ForecastError):
        return 3
    return 2 if isinstance(error, TsseqError) else 1
