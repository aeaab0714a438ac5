"""Many-series jobs on Dask: per-series work partitioned by series, on a local cluster or any scheduler.

``--engine dask`` runs what :mod:`tsseq.streaming_jobs` runs in one process, one task per
batch of series (a *partition*: the ids from ``first`` to ``last`` of the sorted ids, the
same batches as the streamed path's), on the workers of a ``dask.distributed`` cluster:
a local one (:func:`local_cluster`: ``workers`` processes of one thread each on 127.0.0.1,
no dashboard, no task profiling) unless ``scheduler`` names one (``tcp://HOST:PORT``), whose workers must have
tsseq installed and see the data file at the same path. Each task reads its own series
from the Parquet input and returns its frame; the driver writes the frames in partition
order to a temporary file renamed into place at the end (:func:`tsseq.io.outputs`), so the
output is the streamed path's, bit for bit, and a failed job leaves none.

Retries: tasks are pure (a partition's result depends on its bounds and the job alone)
and keyed by partition, and the driver keeps one result per key; a worker that dies
mid-task has its tasks rerun elsewhere by the scheduler (up to its
``distributed.scheduler.allowed-failures``), a task that raises an unexpected error is
retried ``retries`` times, and no series is lost or written twice. Bad input (a
:class:`~tsseq.errors.TsseqError`: a gap in a series, a model that cannot fit it) is not
retried: it fails the job at once with its own message and exit code, as in one process. A global model (a fitted estimator read
from a model file) is shipped to every worker once (``client.scatter(broadcast=True)``)
and each task forecasts its partition with it (:func:`tsseq.inference.forecast_series`);
a neural model fitted on many series forecasts those series, each scaled with its own
statistics (one it was not fitted on fails the job, named).
At most two partitions per worker thread are in flight at a time, so that neither the driver
nor the workers hold more than a few batches whatever the number of series.

dask is imported only here, and only when a job runs on it (``pip install 'tsseq[dask]'``).
This module sits above the estimators and is never imported by them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tsseq import io
from tsseq.config import DataConfig, ModelConfig
from tsseq.errors import ConfigError
from tsseq.streaming_jobs import (
    DEFAULT_BATCH_SERIES,
    BatchForecast,
    StreamedForecast,
    batch_job,
    forecast_batch,
    is_parquet_output,
    open_series,
    output_kind,
    read_batch,
    write_counted,
)

DEFAULT_RETRIES = 3  # reruns of a task that raised (a worker's death is counted by the scheduler's allowed-failures)
CONNECT_TIMEOUT = "10s"  # how long a scheduler address is given to answer


@dataclass(frozen=True)
class Engine:
    """Where a many-series job runs: a local cluster of ``workers`` processes, or the cluster at ``scheduler``."""

    scheduler: str | None = None
    workers: int | None = None  # None: the CPUs this process may use
    retries: int = DEFAULT_RETRIES


def default_workers() -> int:
    """The usable CPUs of this process (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def local_cluster(workers: int):
    """A ``LocalCluster`` of ``workers`` processes of one thread each on 127.0.0.1: no dashboard, no task profiling.

    Dask's statistical profiler samples each running task's stack every 10 ms, which made
    the AR fits of a batch 20 to 40% slower; the workers are started without it. Each
    worker runs :func:`dask_setup` (a preload), so that Ctrl-C, which the terminal sends to
    every process of the job, stops only the driver, which then closes the cluster.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": False}), warnings.catch_warnings():
        # Without a dashboard the scheduler still serves health checks over HTTP, on 8787 or, taken, any free port.
        warnings.filterwarnings("ignore", message="Port 8787 is already in use", category=UserWarning)
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            preload=[__name__],
        )


def dask_setup(worker) -> None:
    """A local cluster's worker process ignores SIGINT: the driver is interrupted and closes the cluster.

    Without this, Ctrl-C (sent to the whole process group) raised KeyboardInterrupt in each
    worker too, which printed its traceback, and the driver's closing then met workers
    already gone (CancelledError, CommClosedError). Run by dask in each worker (a preload).
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def dask_client(engine: Engine) -> Iterator[object]:
    """A ``distributed.Client`` of ``engine``'s cluster, closed (with the local cluster) at the end.

    Raises a ConfigError naming the address when nothing listens there, what listens is
    not a Dask scheduler (no handshake within :data:`CONNECT_TIMEOUT`) or dask does not know
    its protocol, and one saying how to install dask when it is missing.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--engine dask needs dask.distributed, which is not installed: pip install 'tsseq[dask]'"
        ) from None
    cluster = None
    if engine.scheduler is not None:
        try:
            _reachable(engine.scheduler)
            _handshake(engine.scheduler)  # before Client: its handshake has no timeout, and a failed one leaves it to __del__
            client = Client(engine.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ConfigError(
                f"--scheduler {engine.scheduler}: no Dask scheduler answers there "
                f"({' '.join(str(error).split()) or type(error).__name__}). Start one (`dask scheduler`) or "
                "leave --scheduler out for a local cluster."
            ) from None
    else:
        cluster = local_cluster(engine.workers or default_workers())
        client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _reachable(address: str) -> None:
    """Fail fast (an OSError) when nothing listens at a ``tcp://HOST:PORT`` address; other protocols are left to dask."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()


def _handshake(address: str) -> None:
    """Fail (an OSError or ValueError) unless a Dask server completes the comm handshake at ``address`` in time.

    ``Client(address, timeout=...)`` bounds only the connection: a listener that accepts and
    says nothing (an HTTP server, a bare socket) keeps it in the handshake for ever, which
    dask leaves without a timeout on purpose. The same handshake is made here, on its own
    event loop in a daemon thread (a running loop, as in a notebook, is left alone), bounded
    by :data:`CONNECT_TIMEOUT`, and the connection closed.
    """
    import asyncio
    import threading

    from dask.utils import parse_timedelta
    from distributed.comm import connect
    from distributed.security import Security

    timeout = parse_timedelta(CONNECT_TIMEOUT, "s")
    arguments = Security().get_connection_args("client")
    outcome: list[BaseException | None] = []

    async def shake() -> None:
        comm = await connect(address, timeout=timeout, **arguments)
        await comm.close()

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(shake(), timeout))
        except TimeoutError:
            outcome.append(TimeoutError(f"no answer to Dask's handshake within {timeout:g} s"))
        except Exception as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name="tsseq-scheduler-handshake", daemon=True)
    thread.start()
    thread.join(timeout + 5)  # the loop's own bound, and time to unwind it
    if not outcome:
        raise TimeoutError(f"no answer to Dask's handshake within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def map_partitions(
    client,
    function: Callable,
    partitions: Sequence[object],
    *,
    shared: Sequence[object] = (),
    retries: int = DEFAULT_RETRIES,
    name: str = "tsseq",
) -> Iterator[object]:
    """``function(*shared, partition)`` for each partition on the cluster; the results in partition order.

    Each partition is one task, keyed by its position; each result is yielded exactly
    once, as soon as those before it are in. ``shared`` (e.g. scattered futures) are
    passed to every task. At most twice as many tasks as workers are in flight. A task's
    error is raised here, and the tasks still pending are cancelled.
    """
    from distributed import as_completed

    token = uuid.uuid4().hex[:12]
    window = 2 * max(1, sum(client.nthreads().values()))  # two tasks per worker thread: one running, one queued
    futures, done = {}, {}
    submitted = yielded = 0
    completed = as_completed(loop=client.loop)
    try:
        while yielded < len(partitions):
            while submitted < len(partitions) and submitted - yielded < window:
                future = client.submit(
                    _guarded, function, *shared, partitions[submitted], key=f"{name}-{token}-{submitted}",
                    retries=retries, pure=False,
                )  # fmt: skip
                futures[submitted] = future
                completed.add(future)
                submitted += 1
            future = next(completed)
            position = int(future.key.rsplit("-", 1)[1])
            if position in done or position < yielded:
                continue  # already have it: one result per partition
            failed, result = future.result()
            if failed:
                raise result  # bad input (a TsseqError): the same on every try, so it is not retried
            done[position] = result
            futures.pop(position).release()
            while yielded in done:
                yield done.pop(yielded)
                yielded += 1
    finally:
        if futures:
            client.cancel(list(futures.values()))


def _guarded(function: Callable, *arguments) -> tuple[bool, object]:
    """``(False, function(*arguments))``, or ``(True, error)`` for bad input, which a retry would only repeat."""
    from tsseq.errors import TsseqError

    try:
        return False, function(*arguments)
    except TsseqError as error:
        return True, error


def forecast_on_dask(
    data: DataConfig,
    model: ModelConfig | None,
    horizon: int,
    output: str | Path,
    *,
    engine: Engine = Engine(),
    batch_series: int = DEFAULT_BATCH_SERIES,
    quantiles: list[float] | None = None,
    max_horizon: int | None = None,
    allow_implausible: bool = False,
    base_dir: Path = Path("."),
    estimator=None,
    threads: int = 1,
    client=None,
) -> StreamedForecast:
    """:func:`tsseq.streaming_jobs.forecast_in_batches` with each batch a task on Dask; the same output file.

    ``client``: an open ``distributed.Client`` to use (else one of ``engine``, closed at the end).
    """
    job = batch_job(model, horizon, quantiles, max_horizon, allow_implausible, estimator, threads)
    with io.outputs() as out:
        out.reads(data.files(base_dir))
        out.check(output, output_kind(output))
        source = open_series(data, base_dir)  # bad input (no file, no column) is found here, before any cluster
        partitions = _partitions(source, batch_series)
        summary = {}
        with open_client(engine, client) as active:
            shared = [] if estimator is None else [active.scatter(estimator, broadcast=True, hash=False)]
            results = map_partitions(
                active, _forecast_task, partitions, shared=[job, data, base_dir, *shared], retries=engine.retries,
                name="tsseq-forecast",
            )  # fmt: skip
            out.add(
                output,
                lambda temporary: summary.update(write_counted(temporary, results, parquet=is_parquet_output(output),
                                                               notes="warnings", source=source.name, data=data)),
                output_kind(output),
            )
    return StreamedForecast(Path(output), **summary)


def _forecast_task(job: BatchForecast, data: DataConfig, base_dir: Path, *rest):
    """One partition on a worker -> (forecast, warnings, series, frequency): what the streamed loop does for a batch."""
    from tsseq.data.checks import series_frequency

    *estimator, bounds = rest
    source = open_series(data, base_dir)
    history = read_batch(source, data, bounds)
    forecast, warnings = forecast_batch(job, history, source.name, estimator[0] if estimator else None)
    return forecast, warnings, history.index.get_level_values(0).nunique(), series_frequency(history)


def partitions_of(data: DataConfig, batch_series: int, base_dir: Path = Path(".")) -> list[tuple[object, object]]:
    """The partitions of a job's Parquet input: (first id, last id) of each batch of ``batch_series`` series."""
    return _partitions(open_series(data, base_dir), batch_series)


def _partitions(source, batch_series: int) -> list[tuple[object, object]]:
    from tsseq.data.parquet import series_ranges
    from tsseq.errors import check_positive_int

    return series_ranges(source, check_positive_int(batch_series, "batch_series"))


@contextlib.contextmanager
def open_client(engine: Engine, client=None) -> Iterator[object]:
    """``client`` when given (left open), else a new one of ``engine`` (:func:`dask_client`), closed at the end."""
    if client is not None:
        yield client
        return
    with dask_client(engine) as opened:
        yield opened
