"""``tsseq convert data.csv --output data.parquet``: a CSV to Parquet, in chunks, so that any size converts.

The work is :func:`tsseq.data.convert.csv_to_parquet`'s; see there how each chunk is
typed. ``--partition-by-series`` writes a hive-partitioned directory instead of one file.
Bad input exits 2, and a failed conversion leaves nothing at ``--output``. Imports nothing
heavy at module level: the CLI builds its parser without pandas.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "convert a CSV (of any size: read in chunks) to Parquet, optionally partitioned by series"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tsseq.cli import _columns, add_dialect_arguments, positive_int

    parser.add_argument("csv", type=Path, help="the CSV file to convert")
    parser.add_argument("--output", type=Path, required=True, help="the Parquet file (or, partitioned, directory) to write")
    parser.add_argument("--series-column", help="long format: the column holding series ids")
    parser.add_argument("--timestamp-column", help="default: detected as `tsseq forecast` detects it")
    parser.add_argument("--columns", type=_columns, help="comma-separated value columns to keep (default: all)")
    parser.add_argument(
        "--partition-by-series",
        action="store_true",
        help="write a directory with one hive partition per series (<series column>=<id>/) instead of one file",
    )
    parser.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=1_000_000,
        metavar="N",
        help="CSV rows read at a time, and rows per Parquet row group (default: 1000000)",
    )
    add_dialect_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tsseq.data.convert import csv_to_parquet

    dialect = {key: value for key, value in (("sep", args.sep), ("decimal", args.decimal)) if value is not None}
    result = csv_to_parquet(
        args.csv,
        args.output,
        series_column=args.series_column,
        timestamp_column=args.timestamp_column,
        value_columns=args.columns,
        partition_by_series=args.partition_by_series,
        chunk_rows=args.chunk_rows,
        **dialect,
    )
    print(f"wrote {result.rows} rows ({', '.join(result.columns)}) to {result.path}", file=sys.stderr)
    return 0
