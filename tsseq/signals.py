"""Termination signals as exceptions, so that every job ends the same way on Ctrl-C and on SIGTERM.

A scheduler or ``docker stop`` sends SIGTERM; Python's default is to die on the spot,
leaving MLflow runs RUNNING and half-written files behind. Inside :func:`terminating`,
SIGTERM (and SIGINT) raise :class:`Terminated` in the main thread instead, so the code
in between unwinds like it does for any exception: runs end KILLED, trials FAIL,
temporary files are removed. :class:`Terminated` derives from ``KeyboardInterrupt``, so
code that already treats Ctrl-C as an interruption treats SIGTERM the same way. The CLI
exits with ``128 + signal number`` and a one-line message.
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
