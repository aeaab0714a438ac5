"""Public benchmark data sets by name: sources, checksums, licences and standard protocols.

The catalog (``datasets/catalog.yaml``, shipped as ``tsseq/data/catalog.yaml``) lists
every data set with the public URL, sha256 and local relative path of each file.
:func:`load` looks for each file, in this order,

1. in the data directory: the ``data_dir`` argument, else the environment variable
   ``TSSEQ_DATA_DIR`` (layout: ``ett/ETTh1.csv``, ``m4/Hourly-train.csv``,
   ``nab/data/<category>/<file>.csv``, ``nab/labels/combined_windows.json``);
2. in the user cache: ``TSSEQ_CACHE_DIR``, default ``~/.cache/tsseq`` (same layout);
3. by downloading it into the cache (a temporary file, verified, then renamed).

Every file is checked against its sha256 (hashes are remembered per process by path,
size and modification time, so repeated loads are fast). A file the catalog has no
hash for is used with a :class:`ChecksumUnknownWarning`. A file that is missing and
cannot be downloaded, or that does not match its hash, raises
:class:`~tsseq.errors.DatasetUnavailableError` naming the files, the layout and the URLs.

The files are then read by :mod:`tsseq.data.formats` (ETT, M4, NAB). The statsmodels
data sets (sunspots, co2, nile, elnino) need no file at all (:mod:`tsseq.data.embedded`).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.resources
import os
import re
import tempfile
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pandas as pd
import yaml

from tsseq.data.formats import nab_key, read_ett, read_m4, read_nab
from tsseq.errors import ConfigError, DataError, DatasetUnavailableError

DATA_DIR_ENV = "TSSEQ_DATA_DIR"
CACHE_DIR_ENV = "TSSEQ_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20
_FORMATS = ("ett", "m4", "nab", "statsmodels")
_ENTRY_KEYS = ("description", "url", "licence", "format", "columns", "protocol")  # and "freq", may be null
_FILE_KEYS = ("path", "url", "sha256", "role")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# (resolved path, size, mtime_ns) -> sha256 hex digest of the files hashed in this process.
_DIGESTS: dict[tuple[str, int, int], str] = {}


class ChecksumUnknownWarning(UserWarning):
    """A data file was used without verification because the catalog has no sha256 for it."""


@dataclass(frozen=True)
class CatalogFile:
    """One file of a data set: where it lives locally, where it comes from, its hash."""

    path: str  # posix path relative to the data directory, e.g. "ett/ETTh1.csv"
    url: str
    sha256: str | None  # None: unknown, the file is used unverified with a warning
    role: str  # what the parser does with it: data, train, test, series, windows, labels


@dataclass(frozen=True)
class Protocol:
    """A standard evaluation protocol: its name and parameters (read-only mapping)."""

    name: str
    parameters: Mapping[str, object]


@dataclass(frozen=True)
class CatalogEntry:
    """One data set of the catalog; see ``datasets/catalog.yaml`` for the meaning of each field."""

    name: str
    description: str
    url: str
    licence: str
    format: str
    freq: str | None  # None: irregular (NAB)
    columns: tuple[str, ...]
    files: tuple[CatalogFile, ...]
    protocol: Protocol
    start: str | None = None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set.

    ``frame`` is a wide frame ``(T, C)`` (ETT, statsmodels data sets) or a long frame
    indexed by ``("series", "timestamp")`` (M4: the training values; NAB: the raw rows).
    ``test`` holds M4's held-out values in the same layout, ``anomaly_windows`` and
    ``anomaly_points`` NAB's labels keyed like the series, e.g. ``"realKnownCause/nyc_taxi.csv"``.
    """

    name: str
    frame: pd.DataFrame
    entry: CatalogEntry
    test: pd.DataFrame | None = None
    anomaly_windows: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] | None = None
    anomaly_points: dict[str, list[pd.Timestamp]] | None = None


# ---------------------------------------------------------------------------- catalog


def parse_catalog(text: str, source: str = "<catalog>") -> dict[str, CatalogEntry]:
    """Parse and validate catalog YAML (the format of ``datasets/catalog.yaml``)."""
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), dict):
        raise ConfigError(f"{source}: expected a mapping with a 'datasets' mapping at the top level.")
    return {str(name): _parse_entry(str(name), raw, source) for name, raw in document["datasets"].items()}


def _parse_entry(name: str, raw: object, source: str) -> CatalogEntry:
    where = f"{source}: data set {name!r}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping. Got {type(raw).__name__} instead.")
    missing = [key for key in _ENTRY_KEYS if raw.get(key) in (None, "", [])]
    if "freq" not in raw or (raw["freq"] is None and raw.get("format") != "nab"):
        missing.append("freq")  # only NAB, kept as raw irregular rows, has no frequency
    if missing:
        raise ConfigError(f"{where} lacks the required field(s) {missing}.")
    if raw["format"] not in _FORMATS:
        raise ConfigError(f"{where}: 'format' must be one of {list(_FORMATS)}. Got {raw['format']!r} instead.")
    files = raw.get("files") or []
    if raw["format"] != "statsmodels" and not files:
        raise ConfigError(f"{where}: a data set in format {raw['format']!r} needs a 'files' list.")
    protocol = raw["protocol"]
    if not isinstance(protocol, dict) or "name" not in protocol:
        raise ConfigError(f"{where}: 'protocol' must be a mapping with a 'name'. Got {protocol!r} instead.")
    return CatalogEntry(
        name=name,
        description=str(raw["description"]),
        url=str(raw["url"]),
        licence=str(raw["licence"]),
        format=raw["format"],
        freq=None if raw["freq"] is None else str(raw["freq"]),
        columns=tuple(str(column) for column in raw["columns"]),
        files=tuple(_parse_file(item, where) for item in files),
        protocol=Protocol(str(protocol["name"]), MappingProxyType(dict(protocol.get("parameters") or {}))),
        start=None if raw.get("start") is None else str(raw["start"]),
    )


def _parse_file(raw: object, where: str) -> CatalogFile:
    if not isinstance(raw, dict) or any(key not in raw for key in _FILE_KEYS):
        raise ConfigError(f"{where}: every item of 'files' needs the fields {list(_FILE_KEYS)}. Got {raw!r}.")
    path = PurePosixPath(str(raw["path"]))
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(f"{where}: file path {str(path)!r} must be relative and stay inside the data directory.")
    sha256 = raw["sha256"]
    if sha256 is not None and not _SHA256.fullmatch(str(sha256)):
        raise ConfigError(f"{where}: sha256 of {str(path)!r} must be 64 lowercase hex digits or null. Got {sha256!r}.")
    return CatalogFile(str(path), str(raw["url"]), None if sha256 is None else str(sha256), str(raw["role"]))


@lru_cache(maxsize=1)
def _catalog() -> MappingProxyType:
    resource = importlib.resources.files("tsseq.data").joinpath("catalog.yaml")
    return MappingProxyType(parse_catalog(resource.read_text(encoding="utf-8"), source="tsseq/data/catalog.yaml"))


def catalog() -> dict[str, CatalogEntry]:
    """All catalog entries by canonical name, in catalog order."""
    return dict(_catalog())


def available() -> list[str]:
    """The canonical names of the catalog's data sets, in catalog order."""
    return list(_catalog())


def catalog_entry(name: str) -> CatalogEntry:
    """The catalog entry for ``name`` (case-insensitive); a ConfigError lists the names."""
    entries = _catalog()
    by_lower = {key.lower(): entry for key, entry in entries.items()}
    entry = by_lower.get(str(name).lower())
    if entry is None:
        found = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)  # case-insensitively
        suggestion = f" Did you mean {by_lower[found[0]].name!r}?" if found else ""  # spelled as the catalog does
        raise ConfigError(f"Unknown data set {name!r}.{suggestion} Available data sets: {', '.join(entries)}.")
    return entry


# ------------------------------------------------------------------ finding the files


def cache_dir() -> Path:
    """The user cache for downloaded files: ``TSSEQ_CACHE_DIR``, default ``~/.cache/tsseq``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tsseq"


def _digest_key(path: Path) -> tuple[str, int, int]:
    """The key of ``path`` in ``_DIGESTS``: a rewritten file gets a new key."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _sha256_of(path: Path) -> str:
    key = _digest_key(path)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _checksum_problem(file: CatalogFile, path: Path, digest: str, entry: CatalogEntry) -> str | None:
    """A description of a mismatch, or None when ``path`` may be used (with a warning if unverifiable)."""
    if file.sha256 is None:
        warnings.warn(
            f"The checksum of {file.path} (data set {entry.name!r}) is unknown: the catalog has no sha256 "
            f"for it, so {path} is used unverified.",
            ChecksumUnknownWarning,
            stacklevel=5,  # _checksum_problem <- _fetch_one <- _locate <- load <- the caller
        )
        return None
    if digest != file.sha256:
        return f"checksum mismatch in {path}: expected sha256 {file.sha256}, found {digest}"
    return None


def _download(file: CatalogFile, target: Path) -> str:
    """Stream ``file.url`` into a temporary file next to ``target``, check it, rename it; return its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)
    partial = Path(handle.name)
    try:
        with handle, urllib.request.urlopen(file.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
                handle.write(chunk)
        sha256 = digest.hexdigest()
        if file.sha256 is not None and sha256 != file.sha256:
            raise DataError(f"checksum mismatch: expected sha256 {file.sha256}, found {sha256}")
        os.replace(partial, target)  # atomic: nobody ever sees a partial file under the final name
    finally:
        partial.unlink(missing_ok=True)
    _DIGESTS[_digest_key(target)] = sha256
    return sha256


def _fetch_one(file: CatalogFile, entry: CatalogEntry, directories: list[Path], verify: bool,
               no_download: str | None) -> tuple[Path, str | None]:
    """The local path of ``file`` (found or downloaded) and a problem description, or None.

    ``no_download`` is None to allow a download, else the reason not to try one.
    """
    path = next((directory / file.path for directory in directories if (directory / file.path).is_file()), None)
    if path is not None:
        return path, _checksum_problem(file, path, _sha256_of(path), entry) if verify else None
    path = cache_dir() / file.path
    if no_download:
        return path, f"not found and {no_download}"
    try:
        digest = _download(file, path)
    except (OSError, ValueError) as error:  # URLError, HTTPError, timeouts, bad URLs, wrong checksum
        return path, f"download from {file.url} failed: {error}"
    return path, _checksum_problem(file, path, digest, entry)


def _locate(entry: CatalogEntry, data_dir: str | os.PathLike | None, download: bool, verify: bool) -> list[Path]:
    """Local, verified paths of ``entry.files`` (same order), downloading what is missing."""
    configured = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    directories = ([Path(configured).expanduser()] if configured else []) + [cache_dir()]
    paths: list[Path] = []
    problems: dict[str, str] = {}
    no_download = None if download else "download=False"
    for file in entry.files:
        path, problem = _fetch_one(file, entry, directories, verify, no_download)
        if problem and problem.startswith("download from"):
            # Offline or blocked: do not wait for a timeout on every other file.
            no_download = "not downloaded after a failed download"
        if problem:
            problems[file.path] = problem
        paths.append(path)
    if problems:
        raise DatasetUnavailableError(_unavailable_message(entry, problems, directories, configured is not None))
    return paths


def _unavailable_message(
    entry: CatalogEntry, problems: dict[str, str], directories: list[Path], has_data_dir: bool
) -> str:
    searched = "; ".join(f"{d}{'' if d.is_dir() else ' (does not exist)'}" for d in directories)
    lines = [
        f"Data set {entry.name!r} is unavailable: {len(problems)} of its {len(entry.files)} files could not be "
        f"found, verified or downloaded.",
        *(f"  {path}: {problem}" for path, problem in problems.items()),
        f"Looked in: {searched}{'' if has_data_dir else f' (no {DATA_DIR_ENV} set)'}.",
        f"Put unmodified copies of the files under a data directory with this layout and set {DATA_DIR_ENV} "
        f"to it (or pass data_dir=...):",
        *(f"  <{DATA_DIR_ENV}>/{file.path}  from  {file.url}" for file in entry.files),
    ]
    return "\n".join(lines)


# -------------------------------------------------------------- files -> Dataset


def _paths_by_role(entry: CatalogEntry, paths: list[Path]) -> dict[str, list[Path]]:
    """The local paths of ``entry.files`` grouped by role, in catalog order."""
    by_role: dict[str, list[Path]] = {}
    for file, path in zip(entry.files, paths):
        by_role.setdefault(file.role, []).append(path)
    return by_role


def _ett_dataset(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    return Dataset(entry.name, read_ett(paths[0], columns=entry.columns, freq=entry.freq), entry)


def _m4_dataset(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    by_role = _paths_by_role(entry, paths)
    train, test = read_m4(
        by_role["train"][0], by_role["test"][0], start=entry.start, freq=entry.freq,
        horizon=entry.protocol.parameters.get("horizon"),
    )
    return Dataset(entry.name, train, entry, test=test)


def _nab_dataset(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    series = {nab_key(file.path): path for file, path in zip(entry.files, paths) if file.role == "series"}
    by_role = _paths_by_role(entry, paths)
    nab = read_nab(series, by_role["windows"][0], by_role["labels"][0], columns=entry.columns)
    return Dataset(
        entry.name, nab.frame, entry, anomaly_windows=nab.anomaly_windows, anomaly_points=nab.anomaly_points
    )


def _statsmodels_dataset(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    from tsseq.data.embedded import load_frame  # imports statsmodels only when needed

    return Dataset(entry.name, load_frame(entry.name), entry)


_DATASET_BUILDERS = {"ett": _ett_dataset, "m4": _m4_dataset, "nab": _nab_dataset, "statsmodels": _statsmodels_dataset}


def load(
    name: str | CatalogEntry,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load a catalog data set by name (case-insensitive) or by an explicit :class:`CatalogEntry`.

    Parameters
    ----------
    name : str or CatalogEntry
        E.g. ``"ETTh1"``, ``"m4-hourly"``, ``"nab"``, ``"co2"``; see :func:`available`.
    data_dir : path, optional
        Directory with the catalog layout; default: the ``TSSEQ_DATA_DIR`` environment variable.
    download : bool
        Download files found neither in ``data_dir`` nor in the cache (into the cache).
    verify : bool
        Check local files against their sha256. Downloads are always checked.

    Returns
    -------
    Dataset
        ETT: ``frame`` wide ``(17420, 7)`` for ETTh1, freq ``"h"``. M4: long ``frame``
        (training values) and ``test`` (``horizon`` values per series). NAB: long ``frame``
        of 58 series and ``anomaly_windows``. statsmodels sets: wide ``(T, 1)`` frames.
    """
    entry = name if isinstance(name, CatalogEntry) else catalog_entry(name)
    paths = _locate(entry, data_dir, download=download, verify=verify)
    return _DATASET_BUILDERS[entry.format](entry, paths)
