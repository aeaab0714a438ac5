"""Many series in bounded memory: the streamed AR forecast of N series x 100 rows from a Parquet dataset.

Generates N stationary AR(2) series of ``--rows`` hourly rows into a Parquet dataset in a
temporary directory (files of ``--series-per-file`` whole series each, sorted by series
id, row groups of 1,000 series: a dataset partitioned by ranges of series), then runs

    tsseq forecast DATASET --series-column series --model ar --horizon H --batch-series B --output forecasts.parquet

as a child process and reports its wall time, series per second and peak memory (the
child's ``ru_maxrss``, from ``os.wait4``). Linux counts into a child's ``ru_maxrss`` the
memory of the process it was forked from, so the data set is written by another child and
this process imports neither numpy nor pyarrow: the figure is the job's own. The target of issue 15: under 2 GiB at 1,000,000 series. With
tsseq installed (``pip install -e .``):

    python pipelines/benchmarks/bench_many_series.py --series 100000 --horizon 48 --batch-series 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROW_GROUP_SERIES = 1_000


def write_dataset(directory: Path, n_series: int, rows: int, series_per_file: int, seed: int = 0) -> int:
    """N AR(2) series (levels 10..20) in files of ``series_per_file`` series; returns the bytes written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    stamps = np.datetime64("2024-01-01T00", "h") + np.arange(rows)  # hourly
    width = len(str(n_series - 1))
    size = 0
    for first in range(0, n_series, series_per_file):
        count = min(series_per_file, n_series - first)
        noise = rng.standard_normal((count, rows + 50))
        values = lfilter([1.0], [1.0, -0.6, 0.2], noise, axis=1)[:, 50:] + rng.uniform(10, 20, (count, 1))
        ids = np.char.add("s", np.char.zfill(np.arange(first, first + count).astype(str), width))  # sort as numbers do
        table = pa.table(
            {
                "series": pa.array(np.repeat(ids, rows)),
                "time": pa.array(np.tile(stamps, count).astype("datetime64[us]")),
                "y": pa.array(values.ravel()),
            }
        )
        path = directory / f"part-{first // series_per_file:05d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP_SERIES * rows)
        size += path.stat().st_size
    return size


def run_child(command: list[str], log: Path) -> tuple[int, float, int]:
    """(exit code, wall seconds, peak resident KiB) of ``command``, its output to ``log``."""
    started = time.perf_counter()
    with open(log, "w") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - started, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, required=True, help="number of series N")
    parser.add_argument("--rows", type=int, default=100, help="rows per series (default: 100)")
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--batch-series", type=int, default=10_000)
    parser.add_argument("--series-per-file", type=int, default=50_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--write-dataset", type=Path, help=argparse.SUPPRESS)  # the child that writes the data set
    args = parser.parse_args()
    if args.write_dataset is not None:
        print(write_dataset(args.write_dataset, args.series, args.rows, args.series_per_file))
        return 0
    with tempfile.TemporaryDirectory(prefix="tsseq-many-series-") as folder:
        dataset, output, log = Path(folder) / "dataset", Path(folder) / "forecasts.parquet", Path(folder) / "log"
        dataset.mkdir()
        writer = [sys.executable, __file__, "--write-dataset", str(dataset), "--series", str(args.series),
                  "--rows", str(args.rows), "--series-per-file", str(args.series_per_file)]
        code, generated, _ = run_child(writer, log)
        if code != 0:
            print(log.read_text(), file=sys.stderr)
            return code
        size = int(log.read_text().split()[-1])
        command = [
            sys.executable, "-m", "tsseq.cli", "forecast", str(dataset), "--series-column", "series", "--model", "ar",
            "--horizon", str(args.horizon), "--batch-series", str(args.batch_series), "--output", str(output),
        ]
        code, wall, peak_kib = run_child(command, log)
        if code != 0:
            print(log.read_text(), file=sys.stderr)
            return code
        expected = f"wrote {args.series * args.horizon} forecast rows of {args.series} series"
        if expected not in log.read_text():
            print(f"expected: {expected}", file=sys.stderr)
            return 1
        figures = {
            "series": args.series,
            "rows_per_series": args.rows,
            "horizon": args.horizon,
            "batch_series": args.batch_series,
            "dataset_mib": round(size / 2**20, 1),
            "generate_s": round(generated, 1),
            "wall_s": round(wall, 1),
            "series_per_s": round(args.series / wall),
            "peak_rss_mib": round(peak_kib / 1024),
            "output_mib": round(output.stat().st_size / 2**20, 1),
        }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['series']} series x {args.rows} rows ({figures['dataset_mib']} MiB of Parquet), AR, horizon "
            f"{args.horizon}, batches of {args.batch_series}: {figures['wall_s']} s, {figures['series_per_s']} series/s, "
            f"peak memory {figures['peak_rss_mib']} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
