"""Progress bars for long work: the steps of a training run, the models of a job (and any other loop).

One rule everywhere: a bar is drawn on stderr (with tqdm) only when stderr is a
terminal, so a job whose output goes to a file, a pipe or a scheduler's log gets no
control characters in it; ``show=True`` draws it anyway, ``show=False`` never.
tqdm is imported on the first call, not with this module.

Usage::

    from tsseq.progress import progress

    for model in progress(models, desc="models", unit="model"):
        ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any


def should_show(show: bool | None = None, stream: IO[str] | None = None) -> bool:
    """Whether to draw: ``show``, or by default whether ``stream`` (stderr) is a terminal."""
    if show is not None:
        return bool(show)
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    show: bool | None = None,
    stream: IO[str] | None = None,
    leave: bool | None = None,
    refresh_s: float = 0.2,
    **options: Any,
):
    """A tqdm bar over ``iterable`` (or ``total`` manual ``update`` steps), or a silent stand-in.

    ``leave``: keep the finished bar on screen (None: only when it is not nested in
    another bar). The stand-in is tqdm itself with ``disable=True``: the same methods
    (``update``, ``set_postfix_str``, ``close``, iteration), doing nothing.
    """
    from tqdm import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr if stream is None else stream,
        leave=leave,
        mininterval=refresh_s,
        dynamic_ncols=True,
        disable=not should_show(show, stream),
        **options,
    )
