"""``tsseq backtest data.csv --model NAME --horizon H --start S``: historical forecasts of a CSV and their scores.

The forecasts of every origin from ``--start`` on (:func:`tsseq.backtesting.historical_forecasts`)
go to ``--output`` (columns ``[series,] cutoff, timestamp``, then each target column and its
quantile columns; a Parquet file for a ``.parquet`` name, else a CSV, as ``tsseq forecast``'s);
their scores per horizon step and overall (:func:`tsseq.backtesting.score_forecasts`) are
printed, and written to ``--metrics-json``.
Both files are written together or neither (:func:`tsseq.io.outputs`); bad input exits 2.
Imports nothing heavy at module level: the CLI builds its parser without pandas or torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "forecast from every origin of a CSV after --start (rolling origins, optional refits) and score the forecasts"


def _start(text: str) -> int | float | str:
    """``--start``: an int row position (``8640``, ``-720``), a fraction (``0.8``) or a timestamp (``2017-06-01``)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text  # a timestamp: historical_forecasts parses it and names it when it cannot


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0: never refit); got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tsseq.cli import (_columns, _parse_param, _quantile_levels, add_dialect_arguments, add_layout_arguments,
                           add_threads_argument)

    parser.add_argument("csv", type=Path)
    parser.add_argument("--model", default="auto",
                        help="registered model name (see `tsseq models`; default: auto, as tsseq forecast's)")
    parser.add_argument("--param", type=_parse_param, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--horizon", type=int, required=True, help="rows each forecast covers")
    parser.add_argument(
        "--start",
        type=_start,
        default=0.8,
        help="the first forecast: a row position (negative: from the end), a fraction of the rows (0.8, the "
        "default: the last fifth of each series), or a timestamp (the first row at or after it)",
    )
    parser.add_argument("--stride", type=int, default=1, help="rows between consecutive origins (default: 1)")
    parser.add_argument(
        "--refit", type=_non_negative_int, default=0, metavar="K",
        help="refit the model at every K-th origin (default: 0, fit once on the rows before the first origin)",
    )
    parser.add_argument("--window", choices=["expanding", "sliding"], default="expanding",
                        help="rows of each fit: all before its origin, or the last --train-length")
    parser.add_argument("--train-length", type=int, metavar="N", help="rows of a sliding window (default: those before the first origin)")
    parser.add_argument("--input-length", type=int, metavar="N",
                        help="rows of context of each forecast of a model without its own input_length (AR, the naive family; "
                        "default: the rows of the first fit); a network reads its own")
    parser.add_argument(
        "--quantiles", type=_quantile_levels, metavar="LEVELS",
        help="also forecast quantile columns y_q<level>, e.g. 0.05,0.5,0.95 (a probabilistic model)",
    )
    parser.add_argument(
        "--metric", action="append", dest="metrics", metavar="NAME",
        help="a metric to score, repeatable: mae, mse, rmse, mape, smape, mase; with --quantiles also crps, pinball, "
        "wql, and with two levels or more coverage and interval_width, of the interval between the lowest and the "
        "highest level (nominal coverage: their difference) (default: mae and mse, plus crps with --quantiles, and "
        "coverage with two levels or more)",
    )
    parser.add_argument("--season-length", type=int, default=1, help="lag of MASE's scale (default: 1)")
    add_layout_arguments(parser)
    parser.add_argument("--target", dest="columns", type=_columns, help="the same as --columns (tsseq forecast's name)")
    parser.add_argument("--output", type=Path, required=True,
                        help="historical forecasts to write: CSV, or Parquet for a .parquet name")
    parser.add_argument("--metrics-json", type=Path, help="also write the scores as JSON")
    add_dialect_arguments(parser)
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    from tsseq import io, pipeline
    from tsseq.backtesting import check_metrics, historical_forecasts, score_forecasts
    from tsseq.cli import csv_data_config
    from tsseq.config import ModelConfig
    from tsseq.fitting import with_threads
    from tsseq.streaming_jobs import is_parquet_output, output_kind, write_frames

    data = csv_data_config(args)
    levels = args.quantiles or []  # coverage needs two: the interval's bounds
    metrics = args.metrics or ["mae", "mse"] + ["crps"] * (len(levels) > 0) + ["coverage"] * (len(levels) > 1)
    check_metrics(metrics, args.quantiles)  # before any fit
    with io.outputs() as out:  # the forecasts and the scores together, or neither
        out.reads(data.files())
        kind = output_kind(args.output, "backtest")  # the suffix names the format, as tsseq forecast's --output
        out.check(args.output, kind)
        if args.metrics_json:
            out.check(args.metrics_json, "metrics JSON")
        (config,) = with_threads([ModelConfig(args.model, dict(args.param))], args.threads)
        model = pipeline.build_model(config, {"horizon": args.horizon})
        frame = pipeline.load_frame(data)
        forecasts = historical_forecasts(
            model, frame, start=args.start, horizon=args.horizon, stride=args.stride, refit=args.refit,
            window=args.window, quantiles=args.quantiles, train_length=args.train_length, input_length=args.input_length,
        )
        scores = score_forecasts(forecasts, frame, metric=metrics, season_length=args.season_length)
        report = _report(args, forecasts, scores)
        parquet = is_parquet_output(args.output)
        out.add(args.output, lambda temporary: write_frames(temporary, [forecasts], parquet=parquet, index=False), kind)
        if args.metrics_json:
            out.add_text(args.metrics_json, json.dumps(report, indent=2, default=str) + "\n", "metrics JSON")
    overall = scores[scores["step"] == "all"]
    print(", ".join(f"{name}={'undefined' if value != value else f'{value:.6g}'}"  # NaN: undefined on these data
                    for name, value in zip(overall["metric"], overall["value"])))
    print(f"wrote {len(forecasts)} forecast rows of {report['n_forecasts']} forecasts to {args.output}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace, forecasts, scores) -> dict:
    """The metrics JSON: the settings, the cutoffs, and each metric overall and per step."""
    cutoffs = forecasts["cutoff"]
    per_metric = {}
    for name, rows in scores.groupby("metric", sort=False):
        steps = rows[rows["step"] != "all"]["value"]
        overall = float(rows[rows["step"] == "all"]["value"].iloc[0])
        per_metric[name] = {"all": _number(overall), "steps": [_number(value) for value in steps]}
    return {
        "model": args.model,
        "params": {key: value for key, value in args.param},
        "horizon": args.horizon,
        "start": args.start,
        "stride": args.stride,
        "refit": args.refit,
        "window": args.window,
        "n_forecasts": int(len(forecasts) // args.horizon),  # origins, summed over series
        "first_cutoff": str(cutoffs.min()),
        "last_cutoff": str(cutoffs.max()),
        "metrics": per_metric,
    }


def _number(value: float) -> float | None:
    """JSON has no NaN: a step with no observed truth is null."""
    return None if value != value else float(value)
