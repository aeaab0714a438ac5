"""``tsseq detect``: score a CSV (or a job file's data) for anomalies; write scores and flags.

Examples::

    tsseq detect data.csv --detector lstm_ae --window 48 --threshold spot --mode causal --output scores.csv
    tsseq detect data.csv --detector ar_residual --param scorer=likelihood --output scores.csv --plot scores.png
    tsseq detect data.csv --detector online_residual --threshold alarm_level --output scores.csv
    tsseq detect --config pipelines/detect_elnino.yaml

The output CSV has the columns ``timestamp``, the value column(s), ``score`` and
``is_anomaly``, and is written atomically. Modes: ``causal`` (default) trains on the first
rows and streams the rest (the score of ``t`` uses rows up to ``t``; training rows get no
score); ``batch`` trains on the same rows and scores every row offline, windows both sides
of each point included. This module imports nothing heavy until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

HELP = "score a series for anomalies (CSV or job file): scores, flags and an optional plot"
_FILLED_BY_JOB = ("window_length", "threshold", "threshold_params", "causal")


def _key_value(text: str) -> tuple[str, object]:
    import yaml

    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. scorer=likelihood; got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def _columns(text: str) -> list[str]:
    return [column.strip() for column in text.split(",") if column.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", type=Path, nargs="?", help="CSV file with a timestamp column and value column(s)")
    parser.add_argument("--config", type=Path, help="a detection job file (YAML) instead of a CSV and options")
    parser.add_argument(
        "--detector", default="lstm_ae",
        help="e.g. online_residual (best on NAB; causal only), lstm_ae, gru_ae, segment_ae, lstm_vae, patchtst_ae, ar_residual",
    )  # fmt: skip
    parser.add_argument(
        "--param", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="detector parameter (YAML)"
    )
    parser.add_argument("--window", type=int, help="window length L (points; default 48; not for online_residual)")
    parser.add_argument(
        "--threshold", default="default",
        help="quantile, ksigma, spot, dspot, telemanom, none (scores only), or default: the detector's own "
        "(spot; online_residual: alarm_level, its calibrated likelihood level)",
    )  # fmt: skip
    parser.add_argument("--threshold-param", type=_key_value, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--mode", choices=["causal", "batch"], default="causal")
    parser.add_argument("--train-rows", type=int, help="rows to train on (default: --train-fraction of them)")
    parser.add_argument("--train-fraction", type=float, default=0.3)
    parser.add_argument("--refit-every", type=int, help="causal mode: refit every N rows on the rows seen so far")
    parser.add_argument("--output", type=Path, help="scores CSV to write")
    parser.add_argument("--plot", type=Path, help="also write a PNG of series, score, threshold and labels")
    parser.add_argument("--labels", type=Path, help="CSV of labelled anomaly windows (columns start, end) to plot")
    parser.add_argument("--timestamp-column")
    parser.add_argument("--columns", type=_columns, help="comma-separated value columns (default: all)")
    parser.add_argument("--freq", help="pandas frequency, e.g. h, D, 5min (default: inferred)")
    parser.add_argument("--missing", choices=["error", "interpolate", "ffill", "mask"], default="error")


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

    from tsseq.anomaly.detectors import detector_parameters, make_detector
    from tsseq.anomaly.streaming import score_stream
    from tsseq.errors import ConfigError, DataError
    from tsseq.pipeline import load_frame

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
    accepted = detector_parameters(config.detector.name)
    params = {**config.detector.params, "threshold_params": dict(config.threshold_params)}
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
    return DetectionResult(table, config.mode == "causal", threshold, scored)


def read_labels(path: Path):
    """A CSV of labelled anomaly windows -> a frame with ``start`` and ``end`` timestamps."""
    import pandas as pd

    from tsseq.errors import DataError, DataFileNotFoundError

    if not Path(path).is_file():
        raise DataFileNotFoundError(f"Labels file {str(path)!r} does not exist.")
    labels = pd.read_csv(path)
    missing = [column for column in ("start", "end") if column not in labels.columns]
    if missing:
        raise DataError(
            f"Labels file {str(path)!r} needs columns 'start' and 'end'; missing {missing}. Got {list(labels.columns)}."
        )
    try:
        return pd.DataFrame({"start": pd.to_datetime(labels["start"]), "end": pd.to_datetime(labels["end"])})
    except (ValueError, TypeError) as error:
        raise DataError(f"Labels file {str(path)!r}: 'start'/'end' must be timestamps: {error}") from None


def run(args: argparse.Namespace) -> int:
    from tsseq import io
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig, load_detection_job
    from tsseq.config import DataConfig
    from tsseq.errors import ConfigError

    if (args.csv is None) == (args.config is None):
        raise ConfigError("tsseq detect: give either a CSV file or --config JOB.yaml (exactly one).")
    if args.config is not None:
        config, base_dir = load_detection_job(args.config)
        directory = Path(config.output.directory)
        output = args.output or directory / config.output.csv
        plot = args.plot or (directory / config.output.plot if config.output.plot else None)
    else:
        if args.output is None:
            raise ConfigError("tsseq detect: --output SCORES.csv is required with a CSV file.")
        config = DetectionConfig(
            name=args.csv.stem,
            data=DataConfig(csv=str(args.csv), timestamp_column=args.timestamp_column, columns=args.columns,
                            freq=args.freq, missing=args.missing),
            detector=DetectorConfig(args.detector, dict(args.param)),
            window=args.window,
            threshold=None if str(args.threshold).lower() == "none" else args.threshold,
            threshold_params=dict(args.threshold_param),
            mode=args.mode,
            train_rows=args.train_rows,
            train_fraction=args.train_fraction,
            refit_every=args.refit_every,
            labels=None if args.labels is None else str(args.labels),
        )  # fmt: skip
        base_dir, output, plot = Path("."), args.output, args.plot
    labels = None if config.labels is None else read_labels(base_dir / config.labels)
    result = run_detection(config, base_dir)
    io.write_csv(output, result.table)
    if plot is not None:
        from tsseq.anomaly.plotting import plot_detection

        values = result.table.drop(columns=[c for c in ("score", "is_anomaly") if c in result.table])
        plot_detection(values, result.plot_data, plot, labels=labels, title=f"{config.name}: {config.detector.name}")
    flagged = int(result.table["is_anomaly"].sum()) if "is_anomaly" in result.table else 0
    mode = "causal" if result.causal else "batch (offline)"
    written = f"{output} and {plot}" if plot else f"{output}"
    print(f"{config.name}: {mode}, {flagged} of {len(result.table)} rows flagged; wrote {written}", file=sys.stderr)
    return 0
