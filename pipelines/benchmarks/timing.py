"""Timing helpers shared by the benchmark scripts in this folder.

Not a benchmark itself: the scripts import it as ``from timing import ...``, which
works because Python puts a script's own folder first on ``sys.path``.

* :class:`Stopwatch`: wall-clock seconds of a ``with`` block (``time.perf_counter``);
* :func:`median_seconds`: median seconds of repeated calls of one function;
* :func:`interleaved_repeats`: several functions timed in turn within each repeat,
  in an order rotated every repeat, so that load from other processes on a shared
  machine spreads over all of them alike;
* :func:`median_and_best`: the two figures the scripts print for a list of times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

Result = TypeVar("Result")


class Stopwatch:
    """Seconds of wall-clock time spent in a ``with`` block, in ``seconds`` once the block ends.

    Examples
    --------
    >>> with Stopwatch() as watch:
    ...     _ = sum(range(1000))
    >>> watch.seconds > 0
    True
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exception: object) -> None:
        self.seconds = time.perf_counter() - self._start


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``function()``, each timed alone."""
    times = []
    for _ in range(repeats):
        with Stopwatch() as watch:
            function()
        times.append(watch.seconds)
    return statistics.median(times)


def interleaved_repeats(
    runs: Mapping[str, Callable[[int], Result]], repeats: int, warmup: int = 0
) -> dict[str, list[Result]]:
    """Call every function once per repeat, in turn, and collect what each returns.

    Repeat ``r`` calls the functions in the order of ``runs`` rotated by ``r`` places
    (with two functions: A B, B A, A B, ...), so that no function always follows the
    same one and drifting load hits all of them alike.

    Parameters
    ----------
    runs : mapping of name -> function of the repeat index
        Each function times what it measures itself and returns it (e.g. seconds); it
        gets the repeat index ``0 .. warmup + repeats - 1``, e.g. to seed itself.
    repeats : int
        Repeats whose results are kept.
    warmup : int
        Repeats run first and discarded (first calls load code paths and fill caches).

    Returns
    -------
    dict of name -> list of ``repeats`` results, in repeat order.
    """
    names = list(runs)
    results: dict[str, list[Result]] = {name: [] for name in names}
    for repeat in range(warmup + repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            result = runs[name](repeat)
            if repeat >= warmup:
                results[name].append(result)
    return results


def median_and_best(times: Sequence[float]) -> tuple[float, float]:
    """(median, minimum) of ``times``: on a shared machine the best run shows the cost without others' load."""
    return statistics.median(times), min(times)
