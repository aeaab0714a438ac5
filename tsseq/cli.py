"""The ``tsseq`` command: argument parsing only; the work is done in :mod:`tsseq.pipeline`.

Exit codes (one line on stderr, no traceback unless ``--traceback``):

* 0: success;
* 1: an unexpected failure (a bug; ``--traceback`` shows where);
* 2: bad input or usage (:class:`~tsseq.errors.TsseqError`): data, parameters, files of
  the wrong kind, an output path that cannot be written (checked before any training),
  a full disk;
* 3: the result failed its sanity checks (:class:`~tsseq.errors.ForecastError`): a
  forecast or anomaly score that is NaN or infinite, or far outside what the training
  data make plausible (``--allow-implausible`` writes it anyway, with a warning);
* 128 + N: stopped by signal N (130 Ctrl-C, 143 SIGTERM; 141 when the reader of its
  standard output has closed it, as ``tsseq models | head`` does, without a message).

Every command writes its files together at the end, or none of them (:func:`tsseq.io.outputs`).

Neural models: ``--threads N`` (``run``, ``forecast``, ``evaluate``, ``detect``, ``tune``)
sets torch's CPU threads of every neural model that does not set its own
``training.threads``; ``--checkpoint-dir DIR`` (``run``, ``forecast``) keeps each fit's
per-epoch checkpoint under ``DIR/<model>/<fit>``, and a job run again continues each fit
from its checkpoint (``--resume``, the default) or starts it over (``--no-resume``).

Start-up: this module imports nothing heavy, and the registry imports only the module
of the model asked for, so a non-neural ``tsseq forecast`` never imports torch
(``pipelines/benchmarks/bench_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_IMPLAUSIBLE = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE's, what a tool killed by it reports


def exit_code(error: BaseException) -> int:
    """The exit code of a command that failed with ``error`` (see the module docstring)."""
    from tsseq.errors import ForecastError, TsseqError

    if isinstance(error, TsseqError) and isinstance(getattr(error, "exit_code", None), int):
        return error.exit_code  # another process's failure under torchrun: its code (tsseq.main_process)
    if isinstance(error, ForecastError):
        return EXIT_IMPLAUSIBLE
    return EXIT_USAGE if isinstance(error, TsseqError) else EXIT_FAILURE


def _parse_param(text: str) -> tuple[str, object]:
    import yaml

    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. max_order=48; got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        return key, value


def _model_spec(text: str):
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` -> ModelConfig (e.g. ``ar:max_order=96``)."""
    from tsseq.config import ModelConfig

    name, _, params = text.partition(":")
    pairs = [_parse_param(item) for item in params.split(",") if item.strip()]
    return ModelConfig(name.strip(), dict(pairs), label=text if pairs else None)


def _columns(text: str) -> list[str]:
    return [column.strip() for column in text.split(",") if column.strip()]


def _quantile_levels(text: str) -> list[float]:
    """``0.05,0.5,0.95`` -> [0.05, 0.5, 0.95]; argparse names ``--quantiles`` in the error (exit 2)."""
    from tsseq.errors import ConfigError
    from tsseq.quantiles import check_levels

    try:
        levels = [float(item) for item in text.split(",") if item.strip()]
        return check_levels(levels).tolist()
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated quantile levels strictly between 0 and 1, e.g. 0.05,0.5,0.95; got {text!r}"
        ) from None


def _coverage(text: str) -> float:
    """A nominal interval coverage in (0, 1), e.g. ``0.95``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a coverage strictly between 0 and 1, e.g. 0.95; got {text!r}")
    return value


def _one_character(text: str) -> str:
    """``--sep`` / ``--decimal``: one character; ``\\t`` or ``tab`` for a tab."""
    text = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character, e.g. ';' or ',' ('\\t' or tab for a tab); got {text!r}")
    return text


def add_dialect_arguments(parser: argparse.ArgumentParser) -> None:
    """``--sep`` and ``--decimal`` of a command that reads a CSV."""
    parser.add_argument(
        "--sep", type=_one_character, help="CSV field delimiter (default: detected among , ; tab |)"
    )
    parser.add_argument(
        "--decimal", type=_one_character, help="decimal mark (default: '.', or ',' detected in a ;-separated file)"
    )


def positive_int(text: str) -> int:
    """An int >= 1 (``--threads``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return value


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` of a command that may train neural models."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch CPU threads of every neural model that does not set its own training.threads "
        "(default: one less than the CPUs this process may use)",
    )


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """How a command reads its CSV: ``--columns``, ``--timestamp-column``, ``--series-column``, ``--freq``, ``--missing``."""
    parser.add_argument("--columns", type=_columns, help="comma-separated target columns (default: all)")
    parser.add_argument("--timestamp-column")
    parser.add_argument("--series-column", help="long format: the column holding series ids")
    parser.add_argument("--freq", help="pandas frequency, e.g. h, D, 15min (default: inferred)")
    parser.add_argument("--missing", choices=["error", "interpolate", "ffill", "mask"], default="error")
    add_timestamp_arguments(parser)
    add_grid_arguments(parser)


def add_timestamp_arguments(parser: argparse.ArgumentParser) -> None:
    """``--timestamp-unit`` and ``--no-header`` (DataConfig's ``timestamp_unit`` and ``header``)."""
    from typing import get_args

    from tsseq.config import TimestampUnit

    parser.add_argument(
        "--timestamp-unit", choices=get_args(TimestampUnit),
        help="timestamps written as numbers are Unix times in this unit (e.g. 1416726000 with s)",
    )  # fmt: skip
    parser.add_argument(
        "--no-header", action="store_true",
        help="the CSV has no header line: its columns are named value (or value_1, value_2, ...) and timestamp",
    )  # fmt: skip


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """``--sort`` and ``--reindex`` (DataConfig's ``sort`` and ``reindex``) of a command that reads a CSV."""
    parser.add_argument("--sort", action="store_true", help="sort the rows by time (default: out-of-order rows are an error)")
    parser.add_argument(
        "--reindex", action="store_true",
        help="insert the missing timestamps of the regular grid as missing values, which --missing then fills",
    )  # fmt: skip


def csv_data_config(args: argparse.Namespace, **fields: object):
    """The :class:`~tsseq.config.DataConfig` of ``args.csv`` read as the layout and dialect arguments say (and ``fields``)."""
    from tsseq.config import DataConfig

    return DataConfig(
        csv=str(args.csv),
        timestamp_column=args.timestamp_column,
        columns=args.columns,
        series_column=args.series_column,
        freq=args.freq,
        missing=args.missing,
        sep=args.sep,
        decimal=args.decimal,
        sort=args.sort,
        reindex=args.reindex,
        timestamp_unit=args.timestamp_unit,
        header=not args.no_header,
        **fields,
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--scheduler`` and ``--workers`` of a command that runs many-series work (:mod:`tsseq.dask_jobs`)."""
    parser.add_argument(
        "--engine",
        choices=["local", "dask"],
        help="local (default): this process; dask: each batch of series a task on a Dask cluster (needs "
        "`pip install 'tsseq[dask]'`, Parquet input with --series-column), the same output",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDR", help="--engine dask: the scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)"
    )
    parser.add_argument(
        "--workers", type=positive_int, metavar="N", help="--engine dask, local cluster: worker processes (default: the usable CPUs)"
    )


def dask_engine(args: argparse.Namespace):
    """The :class:`tsseq.dask_jobs.Engine` of the engine arguments, or None for the local engine (checked together)."""
    from tsseq.config import check_engine

    engine = args.engine or "local"
    check_engine(engine, args.scheduler, args.workers, where="--")
    if engine != "dask":
        return None
    from tsseq.dask_jobs import Engine

    return Engine(scheduler=args.scheduler, workers=args.workers)


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint-dir DIR`` and ``--resume/--no-resume`` of a command that fits neural models."""
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="keep each neural fit's per-epoch checkpoint in DIR/<model>/<fit> (fit: holdout, windows, ett, m4, "
        "refit), so that a job killed at any point loses at most the epoch in progress",
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="continue each fit from its checkpoint when it is one of the same job (same settings and data; "
        "another job's is refused, naming what differs); --no-resume starts every fit over, replacing it "
        "(default: resume, or the pipeline's resume key)",
    )


def add_sanity_arguments(parser: argparse.ArgumentParser, horizon: bool = True) -> None:
    """``--allow-implausible`` (and ``--max-horizon``) of a command that writes forecasts."""
    parser.add_argument(
        "--allow-implausible",
        action="store_true",
        help="write a forecast even where it lies more than 10 training spans outside the training range "
        "(default: refuse, exit 3); each such series and column gets a warning",
    )
    if horizon:
        parser.add_argument(
            "--max-horizon",
            type=positive_int,
            metavar="N",
            help="allow horizons up to N rows (default: 100 times the training rows, or $TSSEQ_MAX_HORIZON)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsseq", description="Time-series forecasting and anomaly detection.")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.command_parsers = commands.choices  # for _unrecognized's suggestions

    run = commands.add_parser("run", help="run a declarative pipeline (YAML)")
    run.add_argument("pipeline", type=Path, help="pipeline file, e.g. pipelines/quickstart.yaml")
    run.add_argument("--output-dir", type=Path, help="write outputs here instead of the pipeline's output.directory")
    run.add_argument("--json", action="store_true", help="print the results as JSON")
    add_sanity_arguments(run)
    add_checkpoint_arguments(run)
    add_threads_argument(run)

    forecast = commands.add_parser("forecast", help="fit a model on a CSV or Parquet file and forecast the next rows")
    forecast.add_argument("csv", type=Path, help="the data: a CSV file, a .parquet file, or a directory of Parquet files")
    forecast.add_argument("--horizon", type=int, required=True, help="number of future rows to forecast")
    forecast.add_argument("--model", default="auto", help="registered model name (see `tsseq models`; default: auto, which chooses one)")
    forecast.add_argument("--param", type=_parse_param, action="append", default=[], metavar="KEY=VALUE")
    forecast.add_argument("--target", type=_columns, help="comma-separated target columns (the same as --columns)")
    forecast.add_argument(
        "--past-covariates", type=_columns, metavar="A,B", help="columns observed up to the forecast origin only"
    )
    forecast.add_argument(
        "--future-covariates", type=_columns, metavar="A,B", help="columns known over the horizon too (see --future)"
    )
    forecast.add_argument(
        "--future", type=Path, metavar="CSV", help="the future covariates over the horizon (same timestamp/series columns)"
    )
    forecast.add_argument(
        "--static-covariates", type=Path, metavar="CSV", help="one row per series: series id, then numeric or categorical columns"
    )
    add_layout_arguments(forecast)
    forecast.add_argument("--output", type=Path, required=True, help="forecast to write: CSV, or Parquet for a .parquet name")
    forecast.add_argument(
        "--batch-series",
        type=positive_int,
        metavar="N",
        help="Parquet input with a per-series model (ar, the naive family): fit, forecast and write N series at a "
        "time, so that memory does not grow with the number of series (the default there, N=10000)",
    )
    forecast.add_argument(
        "--model-file",
        type=Path,
        metavar="PATH",
        help="forecast with a fitted model saved by model.save() (a global model: no fitting), each series from "
        "its last input_length rows; instead of --model",
    )
    add_engine_arguments(forecast)
    forecast.add_argument(
        "--quantiles",
        type=_quantile_levels,
        metavar="LEVELS",
        help="also write quantile columns y_q<level> after each column y, e.g. 0.05,0.5,0.95 (a probabilistic model)",
    )
    forecast.add_argument("--plot", type=Path, help="also write a PNG of history and forecast (a fan chart with --quantiles)")
    add_dialect_arguments(forecast)
    add_sanity_arguments(forecast)
    add_checkpoint_arguments(forecast)
    add_threads_argument(forecast)

    evaluate = commands.add_parser("evaluate", help="score models on a catalog data set with its published protocol")
    evaluate.add_argument("dataset", help="catalog name, e.g. ETTh1 or m4-hourly (see `tsseq datasets`)")
    evaluate.add_argument(
        "--model",
        type=_model_spec,
        action="append",
        dest="models",
        metavar="NAME[:KEY=VALUE,...]",
        help="model and parameters, e.g. ar:max_order=96; repeat to compare (default: naive, ar:max_order=96)",
    )
    evaluate.add_argument("--protocol", choices=["ett", "m4"], help="default: the data set's standard protocol")
    # The ETT options default to None so that the m4 protocol, which fixes its own, can refuse them when given.
    evaluate.add_argument("--setting", choices=["S", "M"], help="ETT: S = OT only, M = all channels (default)")
    evaluate.add_argument("--input-length", type=int, help="ETT: the input windows' length (default 96)")
    evaluate.add_argument("--horizon", type=int, help="ETT: the forecast horizon (default 96; M4 fixes its own)")
    evaluate.add_argument("--drop-last", action="store_true", help="ETT: drop the last incomplete batch of 32 test windows, as the published reference code does")
    evaluate.add_argument(
        "--interval",
        type=_coverage,
        metavar="COVERAGE",
        help="M4: also score central prediction intervals of this coverage (msis, coverage, acd), e.g. 0.95; "
        "ETT reports CRPS and 80/90%% coverage for probabilistic models without it",
    )
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    add_threads_argument(evaluate)

    commands.add_parser("models", help="list the registered models and anomaly detectors")
    commands.add_parser("datasets", help="list the catalog data sets")
    for name, module in _command_modules().items():
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


# Commands that live beside the code they drive. Each module defines HELP,
# add_arguments(parser) and run(args) -> exit code, and imports nothing heavy at module level.
EXTENSION_COMMANDS = {
    "detect": "tsseq.anomaly.cli",
    "tune": "tsseq.tuning.cli",
    "compare": "tsseq.tracking.cli",
    "backtest": "tsseq.backtest_cli",
    "convert": "tsseq.convert_cli",
    "export": "tsseq.export_cli",
}


def _command_modules() -> dict:
    import importlib

    return {name: importlib.import_module(module) for name, module in EXTENSION_COMMANDS.items()}


def _run(args: argparse.Namespace) -> int:
    from tsseq import pipeline

    overrides = {
        key: value
        for key, value in (("checkpoint_dir", args.checkpoint_dir), ("resume", args.resume), ("threads", args.threads))
        if value is not None
    }
    result = pipeline.run_file(
        args.pipeline,
        args.output_dir,
        overrides=overrides,
        max_horizon=args.max_horizon,
        allow_implausible=args.allow_implausible or None,
    )
    from tsseq.main_process import is_main_process

    if is_main_process():  # under torchrun: once, by rank 0
        _print_warnings(args.command, result.warnings)
        _print_result(result, args.json)
    return EXIT_OK


def _print_warnings(command: str, warnings) -> None:
    for warning in warnings:
        print(f"tsseq {command}: warning: {warning}", file=sys.stderr)


def _forecast(args: argparse.Namespace) -> int:
    from tsseq import fitting, io, main_process, pipeline, sanity
    from tsseq.config import ModelConfig

    data = csv_data_config(
        args,
        target=args.target,
        past_covariates=args.past_covariates,
        future_covariates=args.future_covariates,
        future_csv=None if args.future is None else str(args.future),
        static_csv=None if args.static_covariates is None else str(args.static_covariates),
    )
    from tsseq import streaming_jobs

    engine = dask_engine(args)
    _refuse_outputs_over_the_model_file(args)
    estimator = _saved_model(args)
    batch_series = streaming_jobs.streamed_batch_size(
        data,
        None if estimator is not None else args.model,
        args.batch_series,
        whole_frame_outputs=args.plot is not None,
        required_by=None if engine is None else "--engine dask",
    )
    if batch_series is not None:
        return _forecast_streamed(args, data, batch_series, engine, estimator)
    what = "forecast Parquet file" if args.output.suffix.lower() == ".parquet" else "forecast CSV"
    main_process.start_job()  # under torchrun: every process fits, rank 0 alone writes and prints
    main = main_process.is_main_process()
    with io.outputs(write=main) as out:  # the forecast and the plot together, or neither
        with main_process.shared_outcome("checking the output paths"):
            out.reads(data.files())
            out.check(args.output, what)
            if args.plot:
                out.check_plot(args.plot)
        (model,) = fitting.with_threads([ModelConfig(args.model, dict(args.param))], args.threads)
        checkpoints = fitting.Checkpoints(args.checkpoint_dir, resume=args.resume is not False)
        if args.resume:
            fitting.require_checkpoints([model], args.checkpoint_dir)
        frame, covariates = pipeline.load_inputs(data)
        if estimator is None:
            forecast = pipeline.fit_forecast(
                model, frame, args.horizon, args.quantiles, max_horizon=args.max_horizon, checkpoints=checkpoints,
                covariates=covariates,
            )
        else:
            from tsseq.inference import forecast_series

            sanity.check_horizon(args.horizon, frame, len(args.quantiles or ()), args.max_horizon)
            forecast = forecast_series(
                estimator, frame, args.horizon, args.quantiles, threads=args.threads or 1, source=str(args.csv)
            )
        with main_process.shared_outcome("writing the outputs"):
            warnings = sanity.check_forecast(forecast, frame, allow_implausible=args.allow_implausible)
            if what == "forecast CSV":
                out.add_csv(args.output, forecast, what)
            else:
                out.add(args.output, lambda temporary: streaming_jobs.write_forecast(forecast, temporary, parquet=True), what)
            if args.plot:
                from tsseq.plotting import plot_forecast

                title = f"{args.csv.name}: {args.model}"
                out.add(args.plot, lambda temporary: plot_forecast(frame, forecast, temporary, title=title), "plot")
        main_process.on_main_process(out.commit, "writing the outputs")
    if main:
        _print_warnings(args.command, warnings)
        print(f"wrote {len(forecast)} forecast rows to {args.output}", file=sys.stderr)
    return EXIT_OK


def _refuse_outputs_over_the_model_file(args: argparse.Namespace) -> None:
    """An output at the --model-file it reads would replace the model; checked before the paths' own job runs."""
    if args.model_file is None:
        return
    from tsseq import io

    planned = io.Outputs()
    planned.reads([args.model_file], "model file")
    planned.check(args.output, "forecast output")
    if args.plot:
        planned.check_plot(args.plot)


def _saved_model(args: argparse.Namespace):
    """The fitted estimator of ``--model-file`` (None without it); refused beside --model, --param or covariates."""
    from tsseq.errors import ConfigError

    if args.model_file is None:
        return None
    if args.model != "auto" or args.param:
        raise ConfigError("--model-file forecasts with a fitted model; drop --model and --param (they fit a new one).")
    if args.past_covariates or args.future_covariates or args.static_covariates:
        raise ConfigError("--model-file forecasts each series from its own values alone; drop the covariates.")
    from tsseq.persistence import load

    return load(args.model_file)


def _forecast_streamed(args: argparse.Namespace, data, batch_series: int, engine=None, estimator=None) -> int:
    """``tsseq forecast`` of Parquet input with a per-series (or saved) model, in batches of series, here or on Dask."""
    from tsseq.config import ModelConfig

    options = dict(
        batch_series=batch_series,
        quantiles=args.quantiles,
        max_horizon=args.max_horizon,
        allow_implausible=args.allow_implausible,
        estimator=estimator,
        threads=args.threads or 1,
    )
    model = None if estimator is not None else ModelConfig(args.model, dict(args.param))
    if engine is None:
        from tsseq.streaming_jobs import forecast_in_batches

        result = forecast_in_batches(data, model, args.horizon, args.output, **options)
    else:
        from tsseq.dask_jobs import forecast_on_dask

        result = forecast_on_dask(data, model, args.horizon, args.output, engine=engine, **options)
    _print_warnings(args.command, result.warnings)
    where = "" if engine is None else f" on Dask ({engine.scheduler or 'a local cluster'})"
    print(
        f"wrote {result.rows} forecast rows of {result.series} series ({result.batches} batches of at most "
        f"{batch_series}{where}) to {args.output}",
        file=sys.stderr,
    )
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    from tsseq import pipeline
    from tsseq.config import DataConfig, EvaluationConfig, ModelConfig
    from tsseq.data.catalog import catalog_entry
    from tsseq.errors import ConfigError
    from tsseq.fitting import with_threads

    protocol = args.protocol or catalog_entry(args.dataset).protocol.name
    if protocol not in ("ett", "m4"):
        raise ConfigError(f"{args.dataset!r} has protocol {protocol!r}; `tsseq evaluate` runs the 'ett' and 'm4' forecasting protocols.")
    if protocol == "ett" and args.interval is not None:
        raise ConfigError("--interval applies to the m4 protocol; the ett protocol reports CRPS and 80/90% coverage for every probabilistic model without it.")
    ett_options = {"--setting": args.setting, "--input-length": args.input_length, "--horizon": args.horizon,
                   "--drop-last": args.drop_last or None}  # fmt: skip
    given = [option for option, value in ett_options.items() if value is not None]
    if protocol == "m4" and given:
        raise ConfigError(
            f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the ett protocol; the m4 protocol "
            f"fixes the horizon of {args.dataset!r} and scores every series: drop {'it' if len(given) == 1 else 'them'}."
        )
    models = args.models or [ModelConfig("naive"), ModelConfig("ar", {"max_order": 96}, label="ar:max_order=96")]
    models = with_threads(models, args.threads)
    evaluation = EvaluationConfig(
        protocol=protocol,
        setting=args.setting or "M",
        input_length=96 if args.input_length is None else args.input_length,
        horizon=96 if args.horizon is None else args.horizon,
        drop_last=args.drop_last,
        interval=args.interval,
    )
    failures: dict[str, Exception] = {}
    scores, description = pipeline.score_protocol(DataConfig(dataset=args.dataset), models, evaluation, failures=failures)
    errors = {name: _one_line(error) for name, error in failures.items()}
    if args.json:
        report = {"protocol": description, "scores": pipeline.scores_to_dict(scores)}
        print(json.dumps({**report, "errors": errors} if errors else report, indent=2, default=str))
    else:
        print(", ".join(f"{key}={value}" for key, value in description.items()))
        print(_score_table(scores, errors, [model.display_name for model in models]))
    for name, message in errors.items():
        print(f"tsseq evaluate: {name} failed: {message}", file=sys.stderr)
    # Every model was tried; the exit code is the first failure's (2 bad input, 3 implausible, 1 other).
    return exit_code(next(iter(failures.values()))) if failures else EXIT_OK


def _one_line(error: Exception) -> str:
    """A failure as one line: the message of a TsseqError, else the type and message."""
    from tsseq.errors import TsseqError

    message = " ".join(str(error).split())
    return message if isinstance(error, TsseqError) else f"unexpected {type(error).__name__}: {message}"


def _score_table(scores, errors: dict[str, str], order: list[str]) -> str:
    """The scores table, models in ``order``; a failed model's row holds ``error: <message>``."""
    from tsseq.pipeline import format_scores

    if not errors:
        return format_scores(scores)
    names = [name for name in order if name in scores.index or name in errors]
    width = max(len(name) for name in names)
    lines = format_scores(scores.reindex(names)).splitlines() if len(scores.columns) else [""] + names
    rows = [lines[0]] + [
        f"{name:<{width}} error: {errors[name]}" if name in errors else line for name, line in zip(names, lines[1:])
    ]
    return "\n".join(row for row in rows if row)


def _print_result(result, as_json: bool) -> None:
    from tsseq.pipeline import format_scores

    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    print(f"{result.name}: " + ", ".join(f"{key}={value}" for key, value in result.protocol.items()))
    print(format_scores(result.scores))
    for kind, path in result.files.items():
        print(f"{kind}: {path}")


def _models(args: argparse.Namespace) -> int:
    from tsseq import registry
    from tsseq.anomaly.cli import detector_descriptions

    print("Forecasters (tsseq forecast --model NAME):")
    for name in registry.names():
        preset = ", ".join(f"{key}={value!r}" for key, value in registry.preset(name).items())
        print(f"  {name:19s} {registry.summary(name)}" + (f" [{preset}]" if preset else ""))
    print("\nAnomaly detectors (tsseq detect --detector NAME):")
    for name, summary in detector_descriptions().items():
        print(f"  {name:19s} {summary}")
    return EXIT_OK


def _datasets(args: argparse.Namespace) -> int:
    from tsseq.data.catalog import catalog

    for name, entry in catalog().items():
        print(f"{name:14s} {entry.freq or '':6s} {entry.protocol.name:6s} {entry.licence}")
    return EXIT_OK


def _ignore_signals() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_IGN)


COMMANDS = {"run": _run, "forecast": _forecast, "evaluate": _evaluate, "models": _models, "datasets": _datasets}


# An option of one command given to another where it has another name (forecast's model is detect's detector).
_OTHER_NAMES = {"--model": "--detector", "--detector": "--model"}


def _unrecognized(command_parser: argparse.ArgumentParser, command: str, extras: list[str]) -> str:
    """argparse's "unrecognized arguments" message, with the option meant where one is close or renamed."""
    from tsseq.errors import closest_match

    options = {option for action in command_parser._actions for option in action.option_strings}
    hints = []
    for extra in extras:
        name = extra.split("=", 1)[0]
        if not name.startswith("--"):
            continue
        if _OTHER_NAMES.get(name) in options:
            hints.append(f" tsseq {command} takes {_OTHER_NAMES[name]}, not {name}.")
        else:
            hints.append(closest_match(name, sorted(options)))
    return f"unrecognized arguments: {' '.join(extras)}.{''.join(hints)}".replace("..", ".")


@contextlib.contextmanager
def _warnings_as_messages(command: str, show_traceback: bool) -> Iterator[None]:
    """Inside: a warning is printed as ``tsseq <command>: warning: <message>``, as errors are, without the
    library file and source line Python's format adds (they say nothing to a user of the command; with
    ``--traceback`` they are kept). Other warning categories keep their name."""
    if show_traceback:
        yield
        return
    import warnings

    def message_only(message, category, filename, lineno, line=None) -> str:
        kind = "warning" if category is UserWarning else category.__name__
        return f"tsseq {command}: {kind}: {message}\n"

    original = warnings.formatwarning
    warnings.formatwarning = message_only
    try:
        yield
    finally:
        warnings.formatwarning = original


def _stdout_closed() -> bool:
    """Whether standard output is a pipe its reader has closed; if so, point it at /dev/null.

    Asked of the pipe itself (poll's POLLERR: no reader left), so that a broken pipe
    elsewhere, a socket to a Dask scheduler, stays an error. Without the redirection the
    interpreter's own flush at exit prints one more BrokenPipeError.
    """
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(flags & select.POLLERR for _, flags in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (a test's StringIO)
        return False
    if closed:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return closed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command of ``argv`` (None: the process's own command line); returns its exit code.

    Inside the command SIGTERM and SIGINT raise :class:`~tsseq.signals.Terminated`. When
    ``argv`` is None (the ``tsseq`` executable, ``python -m tsseq.cli``) the command is the
    process's, and once it has returned both signals are ignored for the rest of the
    process's life: the interpreter's shutdown (MLflow ends its runs and flushes then)
    is not cut short by a late signal, and the exit code stays the command's.
    """
    from tsseq.errors import TsseqError
    from tsseq.signals import Terminated, terminating

    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.error(_unrecognized(parser.command_parsers[args.command], args.command, extras))
    show_traceback = args.traceback or os.environ.get("TSSEQ_TRACEBACK") == "1"
    try:
        command = COMMANDS.get(args.command) or _command_modules()[args.command].run
        if argv is None:
            _ignore_signals()  # what terminating() restores when the command ends: ignored until the exit
        with terminating(), _warnings_as_messages(args.command, show_traceback):
            return command(args)
    except Terminated as stop:
        print(f"tsseq {args.command}: {stop}; stopped cleanly, nothing half-written", file=sys.stderr)
        return stop.exit_code
    except TsseqError as error:
        if show_traceback:
            raise
        print(f"tsseq {args.command}: error: {error}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("tsseq: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's last line of defence
        if isinstance(error, BrokenPipeError) and _stdout_closed():
            return EXIT_BROKEN_PIPE  # `tsseq models | head`: the reader has what it wanted, as for any Unix tool
        if show_traceback:
            raise
        print(f"tsseq {args.command}: unexpected {type(error).__name__}: {error} (rerun with --traceback for details)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
