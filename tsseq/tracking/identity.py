"""Which data a run used: a name, where it comes from, and a sha256 that pins the bytes.

A catalog data set (:mod:`tsseq.data.catalog`) is identified by its catalog entry:
the source URL of the data set and the sha256 the catalog records for its files
(:func:`tsseq.data.catalog.load` refuses files that do not match them, so a run
that loaded the data used exactly those bytes). A data set of one file logs that
file's sha256; one of several files (M4's train and test, NAB's series and labels)
logs the sha256 of the lines ``"<sha256>  <path>"`` of its files, in catalog order,
and the per-file hashes as a JSON artifact. An embedded data set (shipped inside
statsmodels, no file of its own) logs the sha256 of its frame written as CSV (index and
values, full precision). A data file (CSV, Parquet) is identified by its path and the sha256 of its
content; a folder of files (a Parquet dataset) as a data set of several files is.

A run records the identity twice: as parameters (``dataset.name``, ``dataset.source``,
``dataset.sha256``) and as an MLflow dataset input (:meth:`DatasetIdentity.mlflow_input`,
what ``mlflow.log_input`` records), which fills the Dataset column and panel of the
MLflow UI: name, source (a URL, or a local path) and digest (:attr:`DatasetIdentity.digest`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsseq.errors import DataFileNotFoundError

DIGEST_LENGTH = 36  # the longest dataset digest MLflow's SQL stores keep


@dataclass(frozen=True)
class DatasetIdentity:
    """What a run logs about its data: ``dataset.name``, ``dataset.source``, ``dataset.sha256``."""

    name: str
    source: str  # a URL or a file path
    sha256: str | None  # None: the catalog records no checksum for some file
    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256, for several files

    def params(self) -> dict[str, str]:
        return {"dataset.name": self.name, "dataset.source": self.source, "dataset.sha256": str(self.sha256)}

    @property
    def digest(self) -> str:
        """MLflow's dataset digest: the first :data:`DIGEST_LENGTH` hex digits of ``sha256``.

        Without a sha256 (a catalog file nobody has hashed yet) it is the hash of the name
        and source: it then tells sources apart, not versions of the bytes.
        """
        known = self.sha256 or hashlib.sha256(f"{self.name}\n{self.source}".encode()).hexdigest()
        return known[:DIGEST_LENGTH]

    def mlflow_input(self, context: str = "training") -> Any:
        """This identity as an ``mlflow.entities.DatasetInput`` (what ``mlflow.log_input`` logs).

        The source is ``http`` for a URL, ``local`` for a file path (the JSON of MLflow's
        ``HTTPDatasetSource`` and ``LocalArtifactDatasetSource``); the profile holds the
        full sha256 and the per-file hashes; ``context`` becomes the input's
        ``mlflow.data.context`` tag.
        """
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        remote = self.source.startswith(("http://", "https://"))
        source_type, source = ("http", {"url": self.source}) if remote else ("local", {"uri": self.source})
        profile = json.dumps({"sha256": self.sha256, "files": self.files})
        dataset = Dataset(self.name, self.digest, source_type, json.dumps(source), profile=profile)
        return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])


def catalog_identity(name: str) -> DatasetIdentity:
    """The identity of catalog data set ``name`` (case-insensitive): from the catalog, or the content of an embedded one."""
    from tsseq.data.catalog import catalog_entry

    entry = catalog_entry(name)
    files = {file.path: file.sha256 for file in entry.files}
    if not files:  # the statsmodels data sets ship inside statsmodels: the hash of their content
        from tsseq.data.embedded import load_frame

        return DatasetIdentity(entry.name, entry.url, frame_sha256(load_frame(entry.name)))
    if len(files) == 1:
        return DatasetIdentity(entry.name, entry.url, next(iter(files.values())), files)
    if any(digest is None for digest in files.values()):
        return DatasetIdentity(entry.name, entry.url, None, files)
    listing = "".join(f"{digest}  {path}\n" for path, digest in files.items())
    return DatasetIdentity(entry.name, entry.url, hashlib.sha256(listing.encode()).hexdigest(), files)


def file_identity(path: str | Path) -> DatasetIdentity:
    """The identity of a data file (its name, absolute path, the sha256 of its bytes) or folder.

    A folder (a Parquet dataset of many files) is identified as a catalog data set of
    several files is: the sha256 of the lines ``"<sha256>  <relative path>"`` of its files,
    in sorted order, with the per-file hashes kept.
    """
    path = Path(path)
    if path.is_dir():
        files = {str(file.relative_to(path)): _file_sha256(file) for file in sorted(path.rglob("*")) if file.is_file()}
        listing = "".join(f"{digest}  {name}\n" for name, digest in files.items())
        return DatasetIdentity(path.name, str(path.resolve()), hashlib.sha256(listing.encode()).hexdigest(), files)
    if not path.is_file():
        raise DataFileNotFoundError(f"Data file {str(path)!r} does not exist.")
    return DatasetIdentity(path.name, str(path.resolve()), _file_sha256(path))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def frame_sha256(frame: Any) -> str:
    """The sha256 of a frame written as CSV: its index, columns and values at full precision."""
    return hashlib.sha256(frame.to_csv(float_format="%.17g").encode()).hexdigest()
