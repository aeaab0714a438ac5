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

The statsmodels data sets (sunspots, co2, nile, elnino) need no file at all.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
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

import numpy as np
import pandas as pd
import yaml

from tsseq.errors import ConfigError, DataError, DatasetUnavailableError, closest_match

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
        suggestion = closest_match(str(name).lower(), by_lower)  # names match case-insensitively
        raise ConfigError(f"Unknown data set {name!r}.{suggestion} Available data sets: {', '.join(entries)}.")
    return entry


# ------------------------------------------------------------------ finding the files


def cache_dir() -> Path:
    """The user cache for downloaded files: ``TSSEQ_CACHE_DIR``, default ``~/.cache/tsseq``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tsseq"


def _sha256_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
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
        if file.sha256 is not None and digest.hexdigest() != file.sha256:
            raise DataError(f"checksum mismatch: expected sha256 {file.sha256}, found {digest.hexdigest()}")
        os.replace(partial, target)  # atomic: nobody ever sees a partial file under the final name
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    _DIGESTS[(str(target.resolve()), stat.st_size, stat.st_mtime_ns)] = digest.hexdigest()
    return digest.hexdigest()


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


# ------------------------------------------------------------------------- parsers


def _regular_index(index: pd.Index, freq: str, path: Path) -> pd.DatetimeIndex:
    """``index`` with ``freq`` set, or a DataError naming the first irregular row."""
    expected = pd.date_range(index[0], periods=len(index), freq=freq, name=index.name)
    wrong = np.flatnonzero(pd.DatetimeIndex(index) != expected)
    if wrong.size:
        row = int(wrong[0])
        raise DataError(
            f"{path}: timestamps must be regular at frequency {freq!r}; row {row + 1} has {index[row]}, "
            f"expected {expected[row]}."
        )
    return expected


def _check_columns(frame: pd.DataFrame, entry: CatalogEntry, source: object) -> pd.DataFrame:
    if tuple(frame.columns) != entry.columns:
        raise DataError(f"{source}: expected columns {list(entry.columns)}. Got {list(frame.columns)} instead.")
    return frame.astype(np.float64)


def _read_ett(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    """ETT CSV -> wide frame ``(T, 7)`` indexed by ``date``, float64 columns HUFL .. OT."""
    frame = pd.read_csv(paths[0], index_col="date", parse_dates=["date"], date_format="%Y-%m-%d %H:%M:%S")
    frame = _check_columns(frame, entry, paths[0])
    frame.index = _regular_index(frame.index, entry.freq, paths[0])
    return Dataset(entry.name, frame, entry)


def _read_m4_wide(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged wide M4 CSV -> (ids ``(S,)``, values ``(S, W)`` NaN-padded, lengths ``(S,)``)."""
    wide = pd.read_csv(path, index_col=0)
    values = wide.to_numpy(dtype=np.float64)
    observed = ~np.isnan(values)
    lengths = observed.sum(axis=1)
    # M4 pads each row at its end; a gap inside a row would shift every later timestamp.
    gaps = np.flatnonzero((observed != (np.arange(values.shape[1]) < lengths[:, None])).any(axis=1))
    if gaps.size:
        raise DataError(f"{path}: series {wide.index[gaps[0]]!r} has an empty cell before its last value.")
    return wide.index.to_numpy(dtype=object), values, lengths


def _long_frame(ids: np.ndarray, values: np.ndarray, offsets: np.ndarray, timeline: pd.DatetimeIndex) -> pd.DataFrame:
    """NaN-padded ``(S, W)`` values -> long frame; series ``s`` starts at ``timeline[offsets[s]]``."""
    rows, columns = np.nonzero(~np.isnan(values))  # row-major: series by series, in time order
    index = pd.MultiIndex.from_arrays(
        [ids[rows], timeline[offsets[rows] + columns]], names=["series", "timestamp"]
    )
    return pd.DataFrame({"value": values[rows, columns]}, index=index)


def _read_m4(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    """M4 train/test CSVs -> long frames on a nominal timeline starting at ``entry.start``.

    M4 files carry no dates, so every series starts at the same nominal timestamp and
    its test values continue right after its last training value.
    """
    roles = [file.role for file in entry.files]
    train_path, test_path = paths[roles.index("train")], paths[roles.index("test")]
    ids, train, lengths = _read_m4_wide(train_path)
    test_ids, test, test_lengths = _read_m4_wide(test_path)
    horizon = int(entry.protocol.parameters.get("horizon", test.shape[1]))
    if not np.array_equal(ids, test_ids) or (test_lengths != horizon).any():
        raise DataError(
            f"{test_path}: expected the series of {train_path.name} in the same order with {horizon} values each."
        )
    order = np.argsort(ids, kind="stable")  # sorted series ids, as the long layout requires
    timeline = pd.date_range(entry.start, periods=train.shape[1] + horizon, freq=entry.freq)
    frame = _long_frame(ids[order], train[order], np.zeros(len(ids), dtype=np.int64), timeline)
    test_frame = _long_frame(ids[order], test[order], lengths[order], timeline)
    return Dataset(entry.name, frame, entry, test=test_frame)


def _nab_key(file: CatalogFile) -> str:
    """``nab/data/realKnownCause/nyc_taxi.csv`` -> ``realKnownCause/nyc_taxi.csv`` (NAB's label keys)."""
    return "/".join(PurePosixPath(file.path).parts[-2:])


def _read_nab(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    """NAB CSVs -> long frame of the raw rows (irregular timestamps kept) + anomaly labels."""
    by_role: dict[str, list[tuple[str, Path]]] = {}
    for file, path in zip(entry.files, paths):
        by_role.setdefault(file.role, []).append((_nab_key(file), path))
    series = sorted(by_role["series"])
    frames = [
        pd.read_csv(path, index_col="timestamp", parse_dates=["timestamp"], date_format="%Y-%m-%d %H:%M:%S")
        for _, path in series
    ]
    frame = pd.concat(frames, keys=[key for key, _ in series], names=["series", "timestamp"])
    keys = [key for key, _ in series]
    windows = _read_json_labels(by_role["windows"][0][1], keys)
    points = _read_json_labels(by_role["labels"][0][1], keys)
    return Dataset(
        entry.name,
        _check_columns(frame, entry, "NAB series files"),
        entry,
        anomaly_windows={
            key: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in spans] for key, spans in windows.items()
        },
        anomaly_points={key: [pd.Timestamp(point) for point in stamps] for key, stamps in points.items()},
    )


def _read_json_labels(path: Path, keys: list[str]) -> dict[str, list]:
    """A NAB label file -> {series key: its labels}, checked to cover exactly ``keys``."""
    labels = json.loads(path.read_text(encoding="utf-8"))
    if set(labels) != set(keys):
        differing = sorted(set(labels) ^ set(keys))[:3]
        raise DataError(f"{path}: expected labels for exactly the {len(keys)} series files; these differ: {differing}.")
    return {key: labels[key] for key in keys}


def _read_statsmodels(entry: CatalogEntry, paths: list[Path]) -> Dataset:
    from tsseq.data.embedded import load_frame  # imports statsmodels only when needed

    return Dataset(entry.name, load_frame(entry.name), entry)


_PARSERS = {"ett": _read_ett, "m4": _read_m4, "nab": _read_nab, "statsmodels": _read_statsmodels}


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
    return _PARSERS[entry.format](entry, paths)
