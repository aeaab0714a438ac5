"""Writing output files: one atomically, or all of a job's outputs together.

:func:`write_atomic` renders a file into a temporary file in the destination folder,
then renames it over the destination (``os.replace`` is atomic on POSIX and Windows
within a file system): a failed write never leaves a half-written file.

:func:`outputs` does the same for every file of a job at once (forecast CSV, plots,
results JSON, scores): each is rendered to its temporary file as the job goes, and all
are renamed into place together when the block ends without error; on any error,
including a signal, the temporaries (and the folders the block created) are removed,
and files that had already been renamed are put back. Either every output is written,
or none is::

    with io.outputs() as out:
        out.check(csv_path, "forecast CSV")          # before any training: exit 2 early
        ...                                          # the work
        out.add_csv(csv_path, forecast, "forecast CSV")
        out.add(png_path, lambda temporary: draw(temporary), "plot")
    # both renamed here, or neither

``outputs(write=False)`` is the same transaction in a process that writes nothing (the
processes other than rank 0 of a job under ``torchrun``, :mod:`tsseq.main_process`):
it checks, renders and renames nothing, and its methods return the caller's paths.

:func:`check_destination` refuses, before any work, a destination that is a directory,
whose folder is a file, or whose folder cannot be written, with an
:class:`~tsseq.errors.OutputError` naming the caller's path.

Written files follow the caller's umask (``0o666 & ~umask``, like a shell redirection),
or keep the permissions of the file they replace.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from tsseq.errors import OutputError


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _file_mode(destination: Path) -> int:
    """The mode a new ``destination`` gets: the replaced file's, else ``0o666 & ~umask``."""
    try:
        return destination.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _temporary_beside(destination: Path) -> Path:
    """A new empty file in ``destination``'s folder with the mode ``destination`` will have."""
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    try:
        os.fchmod(handle, _file_mode(destination))  # mkstemp creates 0o600
    except (AttributeError, OSError):  # no fchmod (Windows): keep mkstemp's mode
        pass
    finally:
        os.close(handle)
    return Path(temporary)


def _written_path(destination: Path, what: str = "output file") -> Path:
    """The path a write to ``destination`` renames its temporary onto: a symbolic link's target (the link
    stays a link), refused (:class:`OutputError`) when it exists and is not a regular file or a directory.

    The rename would replace a device, a FIFO or a socket by a plain file (``--output
    /dev/null`` run as root would replace the system's ``/dev/null``), and a link by a file.
    """
    target = Path(os.path.realpath(destination)) if destination.is_symlink() else destination
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return target  # nothing there yet (or a dangling link's target): a new file
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = {stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device", stat.S_ISFIFO: "a FIFO (named pipe)",
                stat.S_ISSOCK: "a socket"}  # fmt: skip
        name = next((text for test, text in kind.items() if test(mode)), "not a regular file")
        raise OutputError(
            f"The {what} {str(destination)!r} is {name}; tsseq writes a new file and renames it into place, "
            "which would replace it. Give the path of a regular file."
        )
    return target


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success."""
    destination = _written_path(Path(destination))
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(destination)
    try:
        yield temporary
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


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def check_destination(path: str | Path, what: str = "output file") -> Path:
    """Refuse, before any work, an output path that cannot be written (:class:`OutputError`).

    The path must not be an existing directory; its nearest existing ancestor must be a
    directory in which a file can be created (tried with a probe file, removed at once,
    so that read-only folders and file systems are found, whoever runs the job).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"The {what} {str(path)!r} is a directory; give a file path, e.g. {str(path / 'name')!r}.")
    ancestor = _written_path(path, what).parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"The {what} {str(path)!r} cannot be written: {str(ancestor)!r} is a file, not a directory.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".tsseq-probe.", dir=ancestor)
    except OSError as error:
        raise OutputError(
            f"The {what} {str(path)!r} cannot be written: the directory {str(ancestor)!r} is not writable "
            f"({_reason(error)})."
        ) from None
    os.close(handle)
    os.unlink(probe)
    return path


class Outputs:
    """The files of one job, staged as temporaries and renamed into place together (:func:`outputs`).

    ``write=False``: a transaction that touches nothing (see the module docstring).
    """

    def __init__(self, write: bool = True) -> None:
        self.write = write
        self._staged: list[tuple[Path, Path, str]] = []  # (temporary, destination, what)
        self._planned: dict[Path, str] = {}  # absolute destination -> what, to refuse two outputs at one path
        self._read: dict[Path, str] = {}  # real path of a file the job reads -> what: no output may replace it
        self._created: list[Path] = []  # folders made by this transaction, outermost first

    def reads(self, paths: Iterable[str | Path], what: str = "input data file") -> None:
        """Files the job reads: :meth:`check` refuses an output that would replace one of them."""
        for path in paths:
            self._read[Path(os.path.realpath(path))] = what

    def check(self, path: str | Path, what: str = "output file") -> Path:
        """:func:`check_destination`, and refuse a second output at the same path or one over a file the job reads."""
        path = Path(path)
        if not self.write:
            return path
        read = self._read.get(Path(os.path.realpath(path)))
        if read is not None:
            raise OutputError(f"The {what} {str(path)!r} is the {read} this job reads; give the output another path.")
        key = Path(os.path.abspath(path))
        if key in self._planned and self._planned[key] != what:
            raise OutputError(f"The {what} and the {self._planned[key]} are both {str(path)!r}; give them different paths.")
        self._planned[key] = what
        return check_destination(path, what)

    def check_plot(self, path: str | Path, what: str = "plot") -> Path:
        """:meth:`check` a plot's path, which must end in .png (or nothing): plots are PNG images, and ``plot.pdf``
        would hold PNG bytes under another format's name."""
        path = self.check(path, what)
        suffix = path.suffix.lower()
        if self.write and suffix not in ("", ".png"):
            raise OutputError(f"The {what} {str(path)!r} ends in {suffix!r}, but plots are PNG images: name it .png.")
        return path

    def add(self, path: str | Path, write: Callable[[Path], object], what: str = "output file") -> Path:
        """Render ``write(temporary)`` now; it becomes ``path`` (a link's target) when the transaction commits."""
        path = Path(path)
        self.check(path, what)
        if not self.write:
            return path
        written = _written_path(path, what)
        try:
            self._make_folder(written.parent)
            temporary = _temporary_beside(written)
        except OSError as error:
            raise OutputError(f"Could not write the {what} {str(path)!r}: {_reason(error)}.") from None
        self._staged.append((temporary, written, what))
        try:
            write(temporary)
        except OutputError:
            raise
        except OSError as error:  # full disk, quota, I/O error: name the caller's path, not the temporary
            raise OutputError(f"Could not write the {what} {str(path)!r}: {_reason(error)}.") from None
        return path

    def add_csv(self, path: str | Path, frame: pd.DataFrame, what: str = "CSV file") -> Path:
        return self.add(path, lambda temporary: frame.to_csv(temporary), what)

    def add_text(self, path: str | Path, text: str, what: str = "text file") -> Path:
        return self.add(path, lambda temporary: temporary.write_text(text), what)

    @property
    def paths(self) -> list[Path]:
        """The destinations staged so far, in order."""
        return [destination for _, destination, _ in self._staged]

    def _make_folder(self, folder: Path) -> None:
        missing = []
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            folder.mkdir()
            self._created.append(folder)

    def commit(self) -> None:
        """Rename every staged file into place; on a failure put back what was there before."""
        done: list[tuple[Path, Path | None]] = []  # (destination, backup of the file it replaced)
        try:
            for temporary, destination, what in self._staged:
                backup = self._backup(destination)
                try:
                    os.replace(temporary, destination)
                except OSError as error:
                    if backup is not None:
                        os.unlink(backup)
                    raise OutputError(f"Could not write the {what} {str(destination)!r}: {_reason(error)}.") from None
                done.append((destination, backup))
        except BaseException:
            for destination, backup in reversed(done):
                if backup is not None:
                    _quietly(os.replace, backup, destination)
                else:
                    _quietly(os.unlink, destination)
            self.rollback()
            raise
        for _, backup in done:
            if backup is not None:
                _quietly(os.unlink, backup)
        self._staged.clear()

    @staticmethod
    def _backup(destination: Path) -> Path | None:
        """A hard link to the file ``destination`` will replace (None if there is none, or no links here)."""
        if not destination.is_file():
            return None
        backup = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.bak")
        try:
            os.link(destination, backup)
        except OSError:
            return None
        return backup

    def rollback(self) -> None:
        """Remove every temporary and every folder this transaction created (when empty)."""
        for temporary, _, _ in self._staged:
            _quietly(os.unlink, temporary)
        self._staged.clear()
        for folder in reversed(self._created):
            _quietly(os.rmdir, folder)
        self._created.clear()


def _quietly(function: Callable, *args: object) -> None:
    try:
        function(*args)
    except OSError:
        pass


@contextmanager
def outputs(write: bool = True) -> Iterator[Outputs]:
    """A job's outputs, all written when the block ends without error, or none (see the module docstring).

    ``write=False``: nothing is written (the other processes of a job under torchrun).
    """
    transaction = Outputs(write)
    try:
        yield transaction
    except BaseException:
        transaction.rollback()
        raise
    transaction.commit()
