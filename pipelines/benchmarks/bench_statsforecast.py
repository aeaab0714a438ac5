"""StatsForecast's own paths on the data set of ``bench_many_series.py``: one process, and its Dask backend (fugue).

The reference for issue 15's figures: the same N AR(2) series x 100 hourly rows, an
autoregression of order 2 (``AutoRegressive(lags=2)``, fitted by CSS-ML as ARIMA(2, 0, 0)
with a mean), horizon 48, fitted by StatsForecast in this process (``n_jobs=1``) and on a
local Dask cluster of ``--workers`` worker processes (``StatsForecast.forecast(df=<dask
DataFrame>)``, which runs through fugue). Not a dependency of tsseq: run it with an
interpreter where StatsForecast is installed (a scratch virtual environment)::

    python -m venv /tmp/sf && /tmp/sf/bin/pip install statsforecast "fugue[dask]"
    /tmp/sf/bin/python pipelines/benchmarks/bench_statsforecast.py --series 10000

Reports wall time, series per second and peak memory (this process's ``ru_maxrss``, and
each Dask worker's through ``client.run``). StatsForecast fits each series by numerical
optimisation (numba-compiled: this process and each worker fit one series first, before
the clock starts, so that compiling is not timed), where tsseq's AR solves all series of a
batch in one least-squares problem, so the two differ in what they fit as well as how
fast: this measures StatsForecast's engines, not a like-for-like model.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_many_series import write_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, required=True)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None, help="Dask partitions (default: 4 per worker)")
    args = parser.parse_args()

    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster
    from statsforecast import StatsForecast
    from statsforecast.models import AutoRegressive

    figures = {"series": args.series, "rows_per_series": args.rows, "horizon": args.horizon}
    with tempfile.TemporaryDirectory(prefix="sf-many-series-") as folder:
        write_dataset(Path(folder), args.series, args.rows, series_per_file=max(args.series, 1))
        frame = pd.read_parquet(folder).rename(columns={"series": "unique_id", "time": "ds"})
    warm = frame[frame["unique_id"] == frame["unique_id"].iloc[0]]
    StatsForecast(models=[AutoRegressive(lags=2)], freq="h", n_jobs=1).forecast(df=warm, h=args.horizon)  # compile

    started = time.perf_counter()
    local = StatsForecast(models=[AutoRegressive(lags=2)], freq="h", n_jobs=1).forecast(df=frame, h=args.horizon)
    wall = time.perf_counter() - started
    figures["local"] = {"wall_s": round(wall, 1), "series_per_s": round(args.series / wall),
                        "rows": len(local), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}  # fmt: skip

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=40)  # fmt: skip
    with Client(cluster) as client:
        client.run(lambda: len(StatsForecast(models=[AutoRegressive(lags=2)], freq="h").forecast(df=warm, h=args.horizon)))
        distributed_frame = dd.from_pandas(frame, npartitions=args.partitions or 4 * args.workers)
        started = time.perf_counter()
        result = StatsForecast(models=[AutoRegressive(lags=2)], freq="h").forecast(df=distributed_frame, h=args.horizon)
        rows = len(result.compute()) if hasattr(result, "compute") else len(result)
        wall = time.perf_counter() - started
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    cluster.close()
    figures["dask"] = {
        "workers": args.workers, "wall_s": round(wall, 1), "series_per_s": round(args.series / wall), "rows": rows,
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "worker_peak_rss_mib": sorted(round(kib / 1024) for kib in workers.values()),
    }  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
