"""``tsseq detect``: score a CSV (or a job file's data) for anomalies; write scores and flags.

Examples::

    tsseq detect data.csv --output scores.csv --plot scores.png --events events.csv   # auto, the default
    tsseq detect data.csv --detector lstm_ae --window 48 --threshold spot --mode causal --output scores.csv
    tsseq detect data.csv --detector ar_residual --param scorer=likelihood --output scores.csv --plot scores.png
    tsseq detect data.csv --detector online_residual --threshold alarm_level --output scores.csv
    tsseq detect data.csv --detector online_interval --output scores.csv          # -log10 tail probability
    tsseq detect data.csv --detector interval --param forecaster=lstm --param "forecaster_params={training: {loss: normal}}" --output scores.csv
    tsseq detect sensor_log.csv --detector ar_residual --timestamps rows --events events.csv --output scores.csv
    tsseq detect sensor_log.csv --detector ar_residual --resample 2s --missing interpolate --output scores.csv
    tsseq detect sales.csv --detrend difference --output scores.csv               # a series whose level trends
    tsseq detect --config pipelines/detect_elnino.yaml

The default detector is ``auto`` (:mod:`tsseq.anomaly.auto`: a reconstruction, a
forecast-residual and an interval detector, their scores normalised and combined; what it
combined is printed on stderr). The output CSV (a Parquet file for a ``.parquet`` name, the
events' too) has the columns ``timestamp``, the value
column(s), ``score``, ``smoothed_score`` (when the threshold smooths the scores first, as
the default does), ``threshold`` (the one each scored row met), ``is_anomaly`` and, for
detectors that give them, each score's
per-channel contributions ``contribution_<channel>`` (drawn under the score on the plot,
and naming the events' channels); after the values, ``filled`` (True where ``--missing interpolate``
or ``ffill`` filled a value, a resampled empty bin's included: not measured; shaded grey on the plot)
when the policy filled any, and always when it can fill with ``--series-column``; ``--events``
adds a CSV of events (flagged rows merged, ``--event-gap`` rows bridged: start, end, duration, rows,
peak score and time, channels), shaded on the plot. The files are written together at the end, or none (the paths
are checked before any training; non-finite scores are refused, exit 3). Irregularly
stamped logs are detected on their row sequence by default (``--timestamps``; or
``--resample FREQ``; :class:`tsseq.anomaly.config.DetectionConfig`), as are files whose
timestamps are numbers that count rows, or that have none (``--no-header`` for a file of
bare numbers; a NumPy ``.npy`` array of values): the output carries those numbers, or the
rows' numbers from 0. Modes: ``causal`` (default) trains on the first
rows and streams the rest (the score of ``t`` uses rows up to ``t``; training rows get no
score); ``batch`` trains on the same rows and scores every row offline, windows both sides
of each point included. With ``--config``, an option given beside it sets its job-file key over the
file's (``--mode batch`` sets ``mode``, ``--sep`` ``data.sep``, ``--output`` the scores file of ``output``), as
``tsseq run``'s and ``tsseq tune``'s options do, and one line on stderr names them; a ``--detector`` or
``--threshold`` other than the file's drops the file's ``detector.params`` or ``threshold_params``, which were
for its own (``--param``, ``--threshold-param`` then give the new one's). The job itself is
:func:`tsseq.anomaly.job.run_detection`; this module only parses arguments and writes files, and imports
nothing heavy until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "score a series for anomalies (CSV or job file): scores, flags and an optional plot"

# One line per detector of the registry (DETECTORS, which imports torch: not read to build the parser) for `tsseq
# models`, and the names `tsseq detect --help` lists; tests/anomaly/test_detect_cli.py checks both hold every one.
DESCRIPTIONS = {
    "auto": "the default: lstm_ae (on centred windows for several channels), var_residual and interval (a VAR's "
    "predictive; unrelated channels left out, the other cross terms shrunk), each scoring a row by its largest "
    "channel, each score as -log10 of its tail probability under its own validation scores, the largest taken",
    "lstm_ae": "LSTM autoencoder: how badly it reconstructs the windows around each point",
    "gru_ae": "GRU autoencoder: how badly it reconstructs the windows around each point",
    "bilstm_ae": "bidirectional LSTM autoencoder (reads each window both ways)",
    "segment_ae": "GRU autoencoder over segments of 8 points: fast on long windows",
    "dilated_ae": "three-layer dilated GRU autoencoder (dilations 1, 2, 4): long windows",
    "lstm_vae": "LSTM variational autoencoder: reconstruction error under a latent Gaussian",
    "patchtst_ae": "PatchTST encoder pretrained on masked patches; leave-one-patch-out scoring",
    "forecast_residual": "error of any registered forecaster's prediction of each point (param forecaster=NAME)",
    "ar_residual": "error of an autoregressive model's prediction of each point (Telemanom-style)",
    "var_residual": "largest channel error of a vector autoregression's prediction of each point from the related "
    "channels' past (for many channels)",
    "online_residual": "online AR and Numenta's anomaly likelihood, learning as it scores (causal only; best on NAB)",
    "online_interval": "-log10 tail probability under the online AR's Gaussian predictive (causal only)",
    "interval": "-log10 tail probability under a probabilistic forecaster's predictive distribution",
}


def detector_descriptions() -> dict[str, str]:
    """Every detector of ``tsseq detect`` -> its one-line description."""
    from tsseq.anomaly.detectors import DETECTORS

    described = {}
    for name, (cls, _) in sorted(DETECTORS.items()):
        fallback = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        described[name] = DESCRIPTIONS.get(name, fallback)
    return described


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
    parser.add_argument(
        "csv", type=Path, nargs="?",
        help="the data: a CSV file (a timestamp column, or none: rows in order; --no-header for bare numbers), "
        "Parquet, or a NumPy .npy array of values (rows x channels, as NASA's SMAP and MSL sets)",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path,
        help="a detection job file (YAML) instead of a CSV; the options given beside it set their keys over the "
        "file's (named on stderr)",
    )  # fmt: skip
    parser.add_argument(
        "--detector",
        help=f"one of {', '.join(DESCRIPTIONS)} (`tsseq models` says what each does); default auto: reconstruction, "
        "forecast residual and interval detectors combined",
    )  # fmt: skip
    parser.add_argument(
        "--param", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="detector parameter (YAML)"
    )
    parser.add_argument(
        "--window", type=int,
        help="window length L (points; default 48, shortened on a short series to half the rows it trains on; not "
        "for online_residual, online_interval)",
    )
    parser.add_argument(
        "--threshold",
        help="false_alarm, adaptive, quantile, ksigma, spot, dspot, telemanom, transductive (batch only), none "
        "(scores only), or default: for every windowed detector and auto, adaptive in causal mode (the scores "
        "smoothed by a causal moving mean of 9 rows, --threshold-param smoothing=9, the 1%% false-alarm threshold "
        "of the smoothed training scores, rate=0.01, lowered to Otsu's split of the scored rows seen so far when "
        "they hold a separate group of high scores; a row is flagged when its smoothed score passes that and its own "
        "score the 0.9 quantile of the training scores, gate=0.9, gate=null for none, and an event shorter than 9 rows "
        "only if one of its rows passes the 0.98 quantile, brief_gate=0.98) and transductive with --mode "
        "batch (the same with a centred moving mean and a split of all the scored rows, also raised to that split "
        "when it lies above the floor and the rows between hold at most twice the training rows' share there, "
        "raise_excess=2, raise_excess=null for never); false_alarm is the 1%% "
        "threshold alone; online_residual, "
        "online_interval: alarm_level, their calibrated levels",
    )  # fmt: skip
    parser.add_argument("--threshold-param", type=_key_value, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--mode", choices=["causal", "batch"],
        help="causal (default): train on the first rows, stream the rest; batch: score every row offline",
    )  # fmt: skip
    parser.add_argument("--train-rows", type=int, help="rows to train on (default: --train-fraction of them)")
    parser.add_argument(
        "--train-fraction", type=float,
        help="share of the rows to train on (default 0.3; raised on a short series so that the detector holds out "
        "10 validation rows)",
    )
    parser.add_argument("--refit-every", type=int, help="causal mode: refit every N rows on the rows seen so far")
    parser.add_argument("--refit-window", type=int, help="with --refit-every: each refit on the last N rows only")
    parser.add_argument("--output", type=Path, help="scores to write: CSV, or Parquet for a .parquet name")
    parser.add_argument("--plot", type=Path, help="also write a PNG: series, score, threshold, labels, events")
    parser.add_argument(
        "--events", type=Path,
        help="also write the events (merged flagged rows, their peaks): CSV, or Parquet for a .parquet name",
    )  # fmt: skip
    parser.add_argument(
        "--event-gap", type=int, default=None,
        help="join events at most N unflagged rows apart (default: the threshold's smoothing window less one, 8)",
    )
    parser.add_argument(
        "--timestamps", choices=["auto", "grid", "rows"],
        help="auto (default): the grid when regular, else the row sequence; grid: irregular steps refused; "
        "rows: detect on the row sequence, timestamps carried through unchanged",
    )  # fmt: skip
    parser.add_argument(
        "--resample", metavar="FREQ",
        help="put irregular rows on a FREQ grid first (e.g. 2s): the mean of each bin; empty bins go through --missing",
    )  # fmt: skip
    from tsseq.anomaly.config import DETRENDS  # no heavy import: the config module is plain dataclasses

    parser.add_argument(
        "--detrend", choices=DETRENDS,
        help="score a trending series without its trend: linear (minus the training rows' least-squares line; a level "
        "shift stays shifted) or difference (first differences; a level shift scores as one jump)",
    )  # fmt: skip
    parser.add_argument(
        "--labels", type=Path,
        help="CSV of labelled anomaly windows (columns start, end): the flags of the rows after the training ones "
        "scored against them on stderr (event recall and precision, point F1), and the windows drawn on the plot",
    )  # fmt: skip
    parser.add_argument("--timestamp-column")
    parser.add_argument("--columns", type=_columns, help="comma-separated value columns (default: all)")
    parser.add_argument("--freq", help="pandas frequency, e.g. h, D, 5min (default: inferred)")
    parser.add_argument(
        "--missing", choices=["error", "interpolate", "ffill", "mask"],
        help="missing values: error (default), interpolate, ffill, or mask (kept, for the neural detectors)",
    )  # fmt: skip
    parser.add_argument(
        "--series-column", help="many series (long format): the column of series ids; each series is scored on its own"
    )
    from tsseq.cli import (add_dialect_arguments, add_engine_arguments, add_grid_arguments, add_threads_argument,
                           add_timestamp_arguments, positive_int)

    parser.add_argument(
        "--batch-series", type=positive_int, metavar="N", help="many series: score N at a time (default 1000)"
    )
    add_engine_arguments(parser)
    add_dialect_arguments(parser)
    add_timestamp_arguments(parser)
    add_grid_arguments(parser)
    add_threads_argument(parser)


def with_threads(config, threads: int | None):
    """The job with ``threads`` in its neural detector's (or wrapped forecaster's) training, unless set there."""
    if threads is None:
        return config
    import dataclasses

    from tsseq.anomaly.detectors import detector_parameters
    from tsseq.config import with_training_defaults

    detector = config.detector
    params = with_training_defaults(detector.params, detector_parameters(detector.name), {"threads": threads})
    return dataclasses.replace(config, detector=dataclasses.replace(detector, params=params))


def run(args: argparse.Namespace) -> int:
    from tsseq import io
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig, load_detection_job
    from tsseq.anomaly.job import FILLED_COLUMN, check_labels_match, read_labels, run_detection, scored_against_labels
    from tsseq.config import DataConfig
    from tsseq.errors import ConfigError
    from tsseq.streaming_jobs import is_parquet_output, output_kind, write_frames

    if (args.csv is None) == (args.config is None):
        raise ConfigError("give either a CSV file or --config JOB.yaml (exactly one).")
    job, data = _given_settings(args)
    if args.config is not None:
        config, base_dir = load_detection_job(args.config)
        config, given = _over_the_job_file(config, args, job, data)
        directory = Path(config.output.directory)
        output = args.output or directory / config.output.csv
        plot = args.plot or (directory / config.output.plot if config.output.plot else None)
        events = args.events or (directory / config.output.events if config.output.events else None)
        if given:
            over = f"set on the command line over {args.config.name}"
            print(f"{config.name}: {over}: {'; '.join(given)}", file=sys.stderr)
    else:
        if args.output is None:
            raise ConfigError("--output SCORES.csv is required with a CSV file.")
        config = DetectionConfig(
            name=args.csv.stem,
            data=DataConfig(csv=str(args.csv), **data),
            detector=DetectorConfig(args.detector or "auto", dict(args.param)),
            threshold_params=dict(args.threshold_param),
            **job,
        )  # fmt: skip
        base_dir, output, plot, events = Path("."), args.output, args.plot, args.events
    config = with_threads(config, args.threads)
    if config.data.series_column is not None:
        return _run_many(config, base_dir, output, plot, events)
    if events is not None and config.threshold is None:
        raise ConfigError("events are made of flagged rows; --events needs a threshold (not 'none').")
    # the suffix names each file's format, as with many series and tsseq forecast's --output
    kind = output_kind(output, "scores")
    events_kind = None if events is None else output_kind(events, "events")
    with io.outputs() as out:  # the scores, the events and the plot together, or none of them
        out.reads(config.data.files(base_dir))
        if config.labels is not None:
            out.reads([base_dir / config.labels], "labels file")
        out.check(output, kind)
        if plot is not None:
            out.check_plot(plot)
        if events is not None:
            out.check(events, events_kind)
        labels = None if config.labels is None else read_labels(base_dir / config.labels, config.data.sep)
        result = run_detection(config, base_dir)
        if labels is not None:
            labels = check_labels_match(labels, result.table.index, base_dir / config.labels)
        parquet = is_parquet_output(output)
        out.add(output, lambda temporary: write_frames(temporary, [result.table], parquet=parquet), kind)
        if events is not None:
            events_parquet = is_parquet_output(events)
            out.add(
                events,
                lambda temporary: write_frames(temporary, [result.events], parquet=events_parquet, index=False),
                events_kind,
            )
        if plot is not None:
            from tsseq.anomaly.plotting import plot_detection

            from tsseq.anomaly.detectors import CONTRIBUTION_PREFIX
            from tsseq.anomaly.job import RESULT_COLUMNS

            table = result.table
            contributions = [c for c in table if c.startswith(CONTRIBUTION_PREFIX) and c[len(CONTRIBUTION_PREFIX) :] in table]
            outputs = [c for c in (*RESULT_COLUMNS, FILLED_COLUMN) if c in table] + contributions
            values = result.table.drop(columns=outputs)
            filled = table[FILLED_COLUMN] if FILLED_COLUMN in table else None
            title = f"{config.name}: {config.detector.name}"
            out.add(
                plot,
                lambda temporary: plot_detection(
                    values, result.plot_data, temporary, labels=labels, events=result.events, title=title,
                    filled=filled,
                ),
                "plot",
            )
    flagged = int(result.table["is_anomaly"].sum()) if "is_anomaly" in result.table else 0
    mode = "causal" if result.causal else "batch (offline)"
    written = ", ".join(str(path) for path in (output, events, plot) if path is not None)
    found = "" if result.events is None else f" in {len(result.events)} event(s)"
    if result.spacing != "grid":
        print(f"{config.name}: timestamps: {result.spacing}", file=sys.stderr)
    for note in result.notes:
        print(f"{config.name}: {note}", file=sys.stderr)
    if labels is not None:
        print(f"{config.name}: {scored_against_labels(labels, result)}", file=sys.stderr)
    filled = _filled(int(result.table[FILLED_COLUMN].sum()) if FILLED_COLUMN in result.table else None,
                     config.data.missing)  # fmt: skip
    print(
        f"{config.name}: {mode}, {flagged} of {len(result.table)} rows flagged{found}{filled}; wrote {written}",
        file=sys.stderr,
    )
    return 0


def _filled(rows: int | None, missing: str) -> str:
    """The summary line's words on the ``rows`` whose values ``missing`` filled ("" for None: the output marks none)."""
    from tsseq.anomaly.job import FILLED_COLUMN

    return "" if rows is None else f"; {rows} rows filled by --missing {missing} (column {FILLED_COLUMN!r})"


# The options that set a DetectionConfig field of the same name, and a DataConfig field (--no-header: header).
_JOB_OPTIONS = ("window", "threshold", "mode", "train_rows", "train_fraction", "refit_every", "refit_window", "labels",
                "timestamps", "resample", "detrend", "event_gap", "batch_series", "engine", "scheduler", "workers")
_DATA_OPTIONS = ("timestamp_column", "columns", "series_column", "freq", "missing", "sep", "decimal", "sort", "reindex",
                 "timestamp_unit", "no_header")  # fmt: skip


def _given_settings(args: argparse.Namespace) -> tuple[dict, dict]:
    """The options given on the command line -> (their DetectionConfig fields, their DataConfig fields).

    An option left out is absent (its default is None, or False for a flag), so that the job file's setting, or
    the dataclass's default, stands: what lets ``--config`` tell the options given beside it from the others.
    """
    job = {name: getattr(args, name) for name in _JOB_OPTIONS if getattr(args, name) is not None}
    if "threshold" in job and str(job["threshold"]).lower() == "none":
        job["threshold"] = None
    if "labels" in job:
        job["labels"] = str(job["labels"])
    data = {name: getattr(args, name) for name in _DATA_OPTIONS if getattr(args, name) not in (None, False)}
    if data.pop("no_header", False):
        data["header"] = False
    return job, data


def _over_the_job_file(config, args: argparse.Namespace, job: dict, data: dict):
    """A job file's config with the options given beside ``--config`` over its settings -> (config, one
    ``--option value (key)`` text for each, for the line on stderr that names them)."""
    import dataclasses

    def named(option: str, value: object, key: str) -> str:
        shown = "" if value is True else " " + (",".join(value) if isinstance(value, list) else str(value))
        return f"--{option.replace('_', '-')}{shown} ({key})"

    detector, threshold_params = config.detector, config.threshold_params
    keys = {name: name for name in _JOB_OPTIONS}
    if "threshold" in job and job["threshold"] != config.threshold and threshold_params:  # another method's
        keys["threshold"] += "; the file's threshold_params dropped"
        threshold_params = {}
    given = [named(name, getattr(args, name), keys[name]) for name in _JOB_OPTIONS if name in job]
    given += [named(name, getattr(args, name), f"data.{name}") for name in _DATA_OPTIONS if name in data]
    if args.no_header:
        given.append(named("no_header", True, "data.header"))
    if "labels" in job:  # a path on the command line is the working directory's, not the job file's folder's
        job["labels"] = str(Path(job["labels"]).absolute())
    if job.get("engine") == "local":  # the file's Dask settings go with its engine
        job = {"scheduler": None, "workers": None, **job}
    if args.detector is not None:  # another detector's parameters are not this one's
        kept = args.detector == detector.name or not detector.params
        key = "detector.name" + ("" if kept else "; the file's params dropped")
        given.append(named("detector", args.detector, key))
        detector = dataclasses.replace(detector, name=args.detector, params=dict(detector.params) if kept else {})
    for option, key in (("param", "detector.params"), ("threshold_param", "threshold_params")):
        given += [named(option, f"{name}={value}", key) for name, value in getattr(args, option)]
    detector = dataclasses.replace(detector, params={**detector.params, **dict(args.param)})
    threshold_params = {**threshold_params, **dict(args.threshold_param)}
    given += [named(option, getattr(args, option), f"output.{key}")
              for option, key in (("output", "csv"), ("plot", "plot"), ("events", "events"))
              if getattr(args, option) is not None]  # fmt: skip
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, **data), detector=detector,
                                 threshold_params=threshold_params, **job)  # fmt: skip
    return config, given


def _run_many(config, base_dir: Path, output: Path, plot, events) -> int:
    """Many series (a series column): each scored on its own, here or on Dask (:mod:`tsseq.anomaly.many`)."""
    from tsseq.anomaly.many import detect_many
    from tsseq.errors import ConfigError

    if plot is not None or events is not None or config.labels is not None:
        raise ConfigError(
            "with many series (a series column) tsseq detect writes the scores of each; plots, events and labels are "
            "for one series: drop --plot, --events and --labels (or score one series)."
        )
    engine = None
    if config.engine == "dask":
        from tsseq.dask_jobs import Engine

        engine = Engine(scheduler=config.scheduler, workers=config.workers)
    result = detect_many(config, output, base_dir=base_dir, batch_series=config.batch_series, engine=engine)
    for note in result.notes:
        print(f"{config.name}: {note}", file=sys.stderr)
    where = "" if engine is None else f" on Dask ({engine.scheduler or 'a local cluster'})"
    print(
        f"{config.name}: {result.flagged} of {result.rows} rows of {result.series} series flagged ({result.batches} "
        f"batches{where}){_filled(result.filled, config.data.missing)}; wrote {output}",
        file=sys.stderr,
    )
    return 0
