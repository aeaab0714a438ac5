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

``--engine dask --workers 2`` runs the same job on a local Dask cluster of 2 worker
processes (``pip install -e ".[dask]"``): a child process starts the cluster, runs
:func:`tsseq.dask_jobs.forecast_on_dask` (what ``tsseq forecast --engine dask`` runs) and
reports its own peak memory (``getrusage(RUSAGE_SELF)``) and each worker's (``client.run``
of the same, before the cluster closes). ``--engine both`` runs the streamed job and then
the Dask job on the same data set, checks that their outputs are identical, and reports both.
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


def run_dask_child(args: argparse.Namespace) -> int:
    """The Dask job in this (child) process: prints JSON with the driver's and each worker's peak memory (KiB)."""
    import resource

    from distributed import Client

    from tsseq.config import DataConfig, ModelConfig
    from tsseq.dask_jobs import forecast_on_dask, local_cluster

    dataset, output = args.run_dask
    data = DataConfig(csv=dataset, series_column="series")
    cluster = local_cluster(args.workers)  # what `tsseq forecast --engine dask --workers N` starts
    with Client(cluster, set_as_default=False) as client:
        started = time.perf_counter()
        result = forecast_on_dask(data, ModelConfig("ar"), args.horizon, output, batch_series=args.batch_series, client=client)
        wall = time.perf_counter() - started
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    cluster.close()
    print(json.dumps({
        "series": result.series, "rows": result.rows, "job_s": wall,
        "driver_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "worker_peak_kib": sorted(workers.values()),
    }))  # fmt: skip
    return 0


def run_streamed(args, dataset: Path, output: Path, log: Path) -> dict | int:
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
    return {"engine": "local", "wall_s": round(wall, 1), "series_per_s": round(args.series / wall),
            "peak_rss_mib": round(peak_kib / 1024), "output_mib": round(output.stat().st_size / 2**20, 1)}  # fmt: skip


def run_dask(args, dataset: Path, output: Path, log: Path) -> dict | int:
    command = [sys.executable, __file__, "--run-dask", str(dataset), str(output), "--series", str(args.series),
               "--horizon", str(args.horizon), "--batch-series", str(args.batch_series), "--workers", str(args.workers)]  # fmt: skip
    code, wall, _ = run_child(command, log)
    if code != 0:
        print(log.read_text(), file=sys.stderr)
        return code
    report = json.loads(log.read_text().strip().splitlines()[-1])
    if (report["series"], report["rows"]) != (args.series, args.series * args.horizon):
        print(f"expected {args.series} series, got {report}", file=sys.stderr)
        return 1
    return {
        "engine": f"dask ({args.workers} workers)", "wall_s": round(wall, 1), "job_s": round(report["job_s"], 1),
        "series_per_s": round(args.series / wall), "driver_peak_rss_mib": round(report["driver_peak_kib"] / 1024),
        "worker_peak_rss_mib": [round(kib / 1024) for kib in report["worker_peak_kib"]],
        "output_mib": round(output.stat().st_size / 2**20, 1),
    }  # fmt: skip


def same_files(first: Path, second: Path) -> bool:
    """Whether two Parquet outputs hold the same table (run in a child: this process imports no pyarrow)."""
    check = f"import pyarrow.parquet as pq, sys; sys.exit(0 if pq.read_table({str(first)!r}).equals(pq.read_table({str(second)!r})) else 1)"
    return subprocess.run([sys.executable, "-c", check]).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, required=True, help="number of series N")
    parser.add_argument("--rows", type=int, default=100, help="rows per series (default: 100)")
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--batch-series", type=int, default=10_000)
    parser.add_argument("--series-per-file", type=int, default=50_000)
    parser.add_argument("--engine", choices=["local", "dask", "both"], default="local",
                        help="local: the streamed job (tsseq forecast --batch-series); dask: on a local Dask cluster; both")
    parser.add_argument("--workers", type=int, default=2, help="--engine dask: worker processes (default: 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--write-dataset", type=Path, help=argparse.SUPPRESS)  # the child that writes the data set
    parser.add_argument("--run-dask", nargs=2, help=argparse.SUPPRESS)  # the child that runs the Dask job
    args = parser.parse_args()
    if args.write_dataset is not None:
        print(write_dataset(args.write_dataset, args.series, args.rows, args.series_per_file))
        return 0
    if args.run_dask is not None:
        return run_dask_child(args)
    with tempfile.TemporaryDirectory(prefix="tsseq-many-series-") as folder:
        dataset, log = Path(folder) / "dataset", Path(folder) / "log"
        dataset.mkdir()
        writer = [sys.executable, __file__, "--write-dataset", str(dataset), "--series", str(args.series),
                  "--rows", str(args.rows), "--series-per-file", str(args.series_per_file)]
        code, generated, _ = run_child(writer, log)
        if code != 0:
            print(log.read_text(), file=sys.stderr)
            return code
        size = int(log.read_text().split()[-1])
        runs = []
        engines = {"local": [run_streamed], "dask": [run_dask], "both": [run_streamed, run_dask]}[args.engine]
        outputs = []
        for run in engines:
            outputs.append(Path(folder) / f"forecasts-{run.__name__}.parquet")
            figures = run(args, dataset, outputs[-1], log)
            if isinstance(figures, int):
                return figures
            runs.append(figures)
        identical = same_files(*outputs) if len(outputs) == 2 else None
    summary = {
        "series": args.series, "rows_per_series": args.rows, "horizon": args.horizon, "batch_series": args.batch_series,
        "dataset_mib": round(size / 2**20, 1), "generate_s": round(generated, 1), "runs": runs,
    }  # fmt: skip
    if identical is not None:
        summary["outputs_identical"] = identical
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.series} series x {args.rows} rows ({summary['dataset_mib']} MiB of Parquet), AR, horizon "
            f"{args.horizon}, batches of {args.batch_series}:"
        )
        for figures in runs:
            memory = (
                f"peak memory {figures['peak_rss_mib']} MiB" if "peak_rss_mib" in figures else
                f"peak memory: driver {figures['driver_peak_rss_mib']} MiB, workers {figures['worker_peak_rss_mib']} MiB"
            )  # fmt: skip
            print(f"  {figures['engine']}: {figures['wall_s']} s, {figures['series_per_s']} series/s, {memory}")
        if identical is not None:
            print(f"  outputs identical: {identical}")
    return 0 if identical in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
