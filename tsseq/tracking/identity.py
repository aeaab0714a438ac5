"""Which data a run used: a name, where it comes from, and a sha256 that pins the bytes.

A catalog data set (:mod:`tsseq.data.catalog`) is identified by its catalog entry:
the source URL of the data set and the sha256 the catalog records for its files
(:func:`tsseq.data.catalog.load` refuses files that do not match them, so a run
that loaded the data used exactly those bytes). A data set of one file logs that
file's sha256; one of several files (M4's train and test, NAB's series and labels)
logs the sha256 of the lines ``"<sha256>  <path>"`` of its files, in catalog order,
and the per-file hashes as a JSON artifact. A CSV file is identified by its path
and the sha256 of its content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tsseq.errors import DataFileNotFoundError


@dataclass(frozen=True)
class DatasetIdentity:
    """What a run logs about its data: ``dataset.name``, ``dataset.source``, ``dataset.sha256``."""

    name: str
    source: str  # a URL or a file path
    sha256: str | None  # None: the catalog records no checksum for some file
    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256, for several files

    def params(self) -> dict[str, str]:
        return {"dataset.name": self.name, "dataset.source": self.source, "dataset.sha256": str(self.sha256)}


def catalog_identity(name: str) -> DatasetIdentity:
    """The identity of catalog data set ``name`` (case-insensitive), from the catalog alone."""
    from tsseq.data.catalog import catalog_entry

    entry = catalog_entry(name)
    files = {file.path: file.sha256 for file in entry.files}
    if not files:  # the statsmodels data sets ship inside statsmodels
        return DatasetIdentity(entry.name, entry.url, None)
    if len(files) == 1:
        return DatasetIdentity(entry.name, entry.url, next(iter(files.values())), files)
    if any(digest is None for digest in files.values()):
        return DatasetIdentity(entry.name, entry.url, None, files)
    listing = "".join(f"{digest}  {path}\n" for path, digest in files.items())
    return DatasetIdentity(entry.name, entry.url, hashlib.sha256(listing.encode()).hexdigest(), files)


def file_identity(path: str | Path) -> DatasetIdentity:
    """The identity of a data file: its name, absolute path and the sha256 of its bytes."""
    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"Data file {str(path)!r} does not exist.")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return DatasetIdentity(path.name, str(path.resolve()), digest.hexdigest())
