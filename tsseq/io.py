"""Writing output files atomically: a failed run never leaves a half-written file.

Each writer renders into a temporary file in the destination folder, then renames it
over the destination (``os.replace`` is atomic on POSIX and Windows within a file
system).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_atomic(destination: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)`` and move the result to ``destination``."""
    with atomic_path(destination) as temporary:
        write(temporary)
    return Path(destination)


def write_text(destination: str | Path, text: str) -> Path:
    return write_atomic(destination, lambda path: path.write_text(text))


def write_csv(destination: str | Path, frame: pd.DataFrame) -> Path:
    return write_atomic(destination, lambda path: frame.to_csv(path))
