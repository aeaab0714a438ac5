"""A detection job: a :class:`~tsseq.anomaly.config.DetectionConfig` run to a table of scores and flags.

What ``tsseq detect`` does between reading its arguments and writing files: load the
data, build the detector by name, train it on the first rows and score the rest, in
causal (streaming) or batch mode. The scores are checked before they are returned
(:func:`tsseq.sanity.check_scores`: finite after the first scored row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_FILLED_BY_JOB = ("window_length", "threshold", "threshold_params", "causal")


@dataclass(frozen=True)
class DetectionResult:
    """A job's output table (index ``timestamp``; values, ``score``, ``is_anomaly``) and its mode."""

    table: object  # pandas DataFrame
    causal: bool
    threshold: float | None  # the fitted threshold (causal mode: at the start of the stream)
    plot_data: object  # DataFrame the plot draws: score, is_anomaly, threshold (per point, causal mode)


def run_detection(config, base_dir: Path = Path(".")) -> DetectionResult:
    """Run a :class:`~tsseq.anomaly.config.DetectionConfig` (no files written)."""
    import pandas as pd

    from tsseq.anomaly.detectors import DETECTORS, detector_parameters, make_detector
    from tsseq.anomaly.streaming import score_stream
    from tsseq.config import check_parameters
    from tsseq.errors import ConfigError, DataError
    from tsseq.pipeline import load_frame
    from tsseq.sanity import check_scores

    # The detector's parameters first (training=5 names the parameter), then the data.
    accepted = detector_parameters(config.detector.name)
    owner = f"Detector {config.detector.name!r}"
    checked = check_parameters(DETECTORS[config.detector.name][0], dict(config.detector.params), owner)

    frame = load_frame(config.data, base_dir)
    source = config.data.csv or config.data.dataset
    if isinstance(frame.index, pd.MultiIndex):
        raise DataError(f"{source}: tsseq detect scores one series; this data holds many (a series column).")
    clashes = [column for column in frame.columns if column in ("score", "is_anomaly", "timestamp")]
    if clashes:
        raise DataError(f"{source}: value column(s) {clashes} clash with the output columns; rename them.")
    given = [key for key in config.detector.params if key in _FILLED_BY_JOB]
    if given:
        raise ConfigError(
            f"detector.params {given} are set by the job: use 'window', 'threshold', 'threshold_params' and 'mode' "
            "instead."
        )
    params = {**checked, "threshold_params": dict(config.threshold_params)}
    if config.threshold != "default":  # else the detector's own: spot, or online_residual's alarm level
        params["threshold"] = config.threshold
    if config.window is not None:
        if "window_length" not in accepted:
            raise ConfigError(
                f"Detector {config.detector.name!r} has no window (it reads its own lags, e.g. param 'order'); "
                "drop --window / 'window'."
            )
        params["window_length"] = config.window
    train_rows = config.training_rows(len(frame))
    if train_rows >= len(frame):
        raise DataError(f"{source}: train_rows={train_rows} leaves none of its {len(frame)} rows to score.")
    if config.mode == "causal":
        detector = make_detector(config.detector.name, causal=True, **params)
        stream = score_stream(detector, frame, train_rows=train_rows, refit_every=config.refit_every)
        scored = stream.frame
        threshold = None if "threshold" not in scored else float(scored["threshold"].iloc[train_rows])
    else:
        defaults = {"aggregation": "mean"} if "aggregation" in accepted else {}
        detector = make_detector(config.detector.name, causal=False, **{**defaults, **params})
        detector.fit(frame.iloc[:train_rows])
        scored = detector.detect(frame) if detector.threshold is not None else detector.score(frame).to_frame()
        threshold = detector.threshold_
    scored.attrs.update(causal=config.mode == "causal", threshold=threshold)
    table = frame.copy()
    table["score"] = scored["score"].to_numpy()
    if "is_anomaly" in scored:
        table["is_anomaly"] = scored["is_anomaly"].to_numpy(dtype=bool)
    table.index.name = "timestamp"
    check_scores(table["score"], f"{source}: detector {config.detector.name!r}")
    return DetectionResult(table, config.mode == "causal", threshold, scored)


def read_labels(path: Path):
    """A CSV of labelled anomaly windows -> a frame with ``start`` and ``end`` timestamps."""
    import pandas as pd

    from tsseq.errors import DataError, DataFileNotFoundError

    expected = "expected a CSV text file of labelled anomaly windows with columns 'start' and 'end'"
    if Path(path).is_dir():
        raise DataError(f"Labels file {str(path)!r} is a directory; {expected}.")
    if not Path(path).is_file():
        raise DataFileNotFoundError(f"Labels file {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        raise DataError(f"Labels file {str(path)!r} holds binary data; {expected}.")
    try:
        labels = pd.read_csv(path)
    except UnicodeDecodeError:
        raise DataError(f"Labels file {str(path)!r} is not UTF-8 text; {expected}.") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"Labels file {str(path)!r} is empty; {expected}.") from None
    except pd.errors.ParserError as error:
        raise DataError(f"Labels file {str(path)!r} is not a well-formed CSV file ({error}); {expected}.") from None
    missing = [column for column in ("start", "end") if column not in labels.columns]
    if missing:
        raise DataError(
            f"Labels file {str(path)!r} needs columns 'start' and 'end'; missing {missing}. Got {list(labels.columns)}."
        )
    try:
        return pd.DataFrame({"start": pd.to_datetime(labels["start"]), "end": pd.to_datetime(labels["end"])})
    except (ValueError, TypeError) as error:
        raise DataError(f"Labels file {str(path)!r}: 'start'/'end' must be timestamps: {error}") from None
