"""``tsseq compare``: the runs of an experiment as a sorted table, a plot, the best model registered.

Imports nothing heavy at module level (the CLI loads this module to build its parser).
"""

from __future__ import annotations

import argparse

HELP = "compare the tracked runs of an experiment by a metric (MLflow); optionally register the best model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", required=True, help="MLflow experiment name (a pipeline's name by default)")
    parser.add_argument("--metric", default="mse", help="metric to sort by; 'mse' also finds test_mse (default: mse)")
    parser.add_argument("--maximize", action="store_true", help="higher is better (default: lower is better)")
    parser.add_argument("--top", type=int, default=10, help="rows shown, best first (default: 10)")
    parser.add_argument("--plot", metavar="FILE.png", help="write a bar chart of the metric per run")
    parser.add_argument(
        "--data",
        metavar="NAME",
        help="rank only the runs on this data set (its logged name, e.g. sunspots or load.csv); by default the "
        "runs comparable with the newest run (same data and evaluation settings) are ranked and the others counted",
    )
    parser.add_argument(
        "--where",
        action="append",
        type=_setting,
        default=[],
        metavar="SETTING=VALUE",
        help="rank only the runs with this parameter value, e.g. evaluation.horizon=24; repeatable",
    )
    parser.add_argument(
        "--register",
        metavar="MODEL_NAME",
        help="register the best run's model under this name (refused while runs of other data or settings are left out)",
    )
    parser.add_argument("--alias", default="champion", help="alias of the registered version (default: champion)")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store; default $TSSEQ_TRACKING_URI, $MLFLOW_TRACKING_URI, else sqlite:///mlflow/mlflow.db",
    )


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected SETTING=VALUE, e.g. evaluation.horizon=24. Got {text!r}.")
    return name.strip(), value.strip()


def run(args: argparse.Namespace) -> int:
    from tsseq.base import check_positive_int
    from tsseq.tracking.compare import check_comparable, compare_runs, format_table, register_best, write_plot
    top = check_positive_int(args.top, "--top")
    comparison = compare_runs(
        args.experiment,
        metric=args.metric,
        top=top,
        maximize=args.maximize,
        tracking_uri=args.tracking_uri,
        setting="--tracking-uri",
        data=args.data,
        where=dict(args.where),
    )
    print(format_table(comparison))
    if comparison.left_out():
        print(comparison.left_out())
    if args.register:
        check_comparable(comparison)  # before the plot is written: refused means nothing written
    if args.plot:
        print(f"plot: {write_plot(comparison, args.plot)}")
    if args.register:
        version = register_best(comparison, args.register, alias=args.alias, tracking_uri=args.tracking_uri)
        print(f"registered {args.register} version {version.version} as @{args.alias}: models:/{args.register}@{args.alias}")
    return 0
