"""Termination signals as exceptions, so that every job ends the same way on Ctrl-C and on SIGTERM.

A scheduler or ``docker stop`` sends SIGTERM; Python's default is to die on the spot,
leaving MLflow runs RUNNING and half-written files behind. Inside :func:`terminating`,
SIGTERM (and SIGINT) raise :class:`Terminated` in the main thread instead, so the code
in between unwinds like it does for any exception: runs end KILLED, trials FAIL,
temporary files are removed. :class:`Terminated` derives from ``KeyboardInterrupt``, so
code that already treats Ctrl-C as an interruption treats SIGTERM the same way. The CLI
exits with ``128 + signal number`` and a one-line message.

:func:`deferred` holds the signals back during a short step that must not be cut in
two (writing a checkpoint, ending an MLflow run, marking a trial FAIL) and acts on
them when the step is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (``signum``: SIGTERM 15, SIGINT 2)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminating(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, ``signals`` raise :class:`Terminated`; the previous handlers come back after.

    Only the main thread can install handlers; elsewhere the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def deferred(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, ``signals`` are only recorded; when it ends, the first one is acted on.

    Acting on it means calling the handler that was in place before the block (inside
    :func:`terminating`: raising :class:`Terminated`; Ctrl-C outside it: Python's
    ``KeyboardInterrupt``), or, where that handler is the system default, raising the
    signal again so that the process ends as it would have. A signal that arrives while
    the block is already leaving with an exception replaces that exception (a stop
    asked for outranks a failure). Only the main thread can install handlers; elsewhere
    the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame) -> None:
        received.append(signum)

    previous = {number: signal.signal(number, record) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if received:
            _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler) -> None:
    """What the signal would have done without :func:`deferred`."""
    if callable(handler):
        handler(signum, None)
    elif handler in (signal.SIG_DFL, None):
        signal.raise_signal(signum)  # the default action: for SIGTERM, the end of the process
