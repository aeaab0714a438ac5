"""NAB benchmark: a causal detector over the 58 NAB series, scored with the NAB score.

NAB's protocol (``tsseq.anomaly.nab``): for each file the detector is trained on the
probationary period (the first ``min(floor(0.15 * rows), 750)`` rows) and then scores
every later row from the rows up to it (it may keep learning from rows it has already
scored); it never sees the labels. Per-file scores are written to
``<output_dir>/<category>/<file>.csv`` (``timestamp,value,anomaly_score``, atomically;
training rows have no score). One threshold per profile is then chosen over the whole
corpus, as NAB does, and the standard / reward-low-FP / reward-low-FN scores are printed
with the wall time and the scoring throughput (points per second). One configuration
serves the whole corpus (the YAML job), never tuned per file.

Detectors (``detector`` in the job):

* ``online_residual``: :class:`tsseq.anomaly.online.OnlineResidualDetector` (online AR +
  Numenta anomaly likelihood), and ``online_interval``:
  :class:`tsseq.anomaly.online_interval.OnlineIntervalDetector` (the same AR's Gaussian
  one-step tail probability), ``params`` their constructor arguments, on the real
  timestamps;
* any name of :func:`tsseq.anomaly.detectors.make_detector` (``ar_residual``,
  ``lstm_ae``, ...), replayed by :func:`tsseq.anomaly.streaming.score_stream` with
  ``causal=True`` and no threshold; ``refit_every`` rows it is refitted on the rows seen
  (the last ``refit_window`` of them, if given).
  With a ``threshold`` in ``params`` and ``flags: true`` the file's score is the detector's
  own alarms (1 where an event begins, as ``tsseq detect`` joins flagged rows, else 0), so
  the NAB score is that of what ``tsseq detect`` flags with each file's own threshold
  (``nab_auto_flags.yaml``): they are scored as they are (threshold 1), not through the
  corpus optimiser, which would rather raise no alarm at all when that scores higher.

With tsseq installed (``pip install -e .``)::

    TSSEQ_DATA_DIR=/work/shared/datasets python pipelines/benchmarks/nab.py pipelines/benchmarks/nab.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass(frozen=True)
class NabJob:
    """The YAML job, key for key."""

    detector: str = "online_residual"
    params: dict[str, Any] = field(default_factory=dict)
    refit_every: int | None = None  # make_detector detectors only
    refit_window: int | None = None  # with refit_every: each refit on the last this many rows (None: every row seen)
    output_dir: str = "outputs/nab"  # relative to the current directory
    data_dir: str | None = None  # default: $TSSEQ_DATA_DIR, then the tsseq cache
    workers: int = 2
    files: list[str] | None = None  # a subset of NAB keys, for development; None: all 58
    # make_detector detectors with a threshold in params: score their own alarms (1 where an event of flagged rows
    # begins, as tsseq detect's output joins them, 0 elsewhere) instead of their scores, so that NAB scores what
    # tsseq detect flags (each file's own threshold).
    flags: bool = False


def read_job(path: Path) -> NabJob:
    import yaml

    from tsseq.config import from_mapping
    from tsseq.errors import ConfigError

    try:
        mapping = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return from_mapping(NabJob, mapping, where=str(path))


def score_file(job: NabJob, key: str, series) -> tuple[str, "object", float]:
    """One file's causal scores ``(T,)`` (NaN on the training rows) and the seconds they took."""
    import numpy as np
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from tsseq.anomaly.nab import probationary_rows

    train_rows = probationary_rows(len(series))
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        if job.detector in ("online_residual", "online_interval"):
            # Online detectors read the real timestamps (their seasonal lags come from them).
            from tsseq.anomaly.online import OnlineResidualDetector
            from tsseq.anomaly.online_interval import OnlineIntervalDetector

            online = OnlineResidualDetector if job.detector == "online_residual" else OnlineIntervalDetector
            scores = online(**job.params).stream(series, train_rows=train_rows)
        else:
            import torch

            from tsseq.anomaly.detectors import make_detector
            from tsseq.anomaly.streaming import score_stream

            torch.set_num_threads(1)
            detector = make_detector(job.detector, **{"threshold": None, **job.params, "causal": True})
            # These detectors check for a regular time grid; NAB's raw rows have gaps and
            # repeats, and NAB scores by row, so they get the rows on a nominal grid.
            rows = pd.DataFrame({"value": series.to_numpy()}, index=pd.date_range("2000-01-01", periods=len(series), freq="min"))
            stream = score_stream(
                detector, rows, train_rows=train_rows, refit_every=job.refit_every, max_train_rows=job.refit_window
            )
            frame = stream.frame
            scores = frame["score"]
            if job.flags:  # an alarm where an event begins, as tsseq detect's output joins flagged rows into events
                # (NAB scores alarms: each later row of an event outside a window would count as another false one)
                from tsseq.anomaly.events import detection_events

                events = detection_events(frame, getattr(stream.detector, "thresholder_", None))
                onsets = np.zeros(len(frame))
                onsets[frame.index.get_indexer(events["start"])] = 1.0
                scores = pd.Series(onsets, index=scores.index).where(scores.notna())
    return key, np.asarray(scores, dtype=np.float64), time.perf_counter() - started


def _score_file(arguments):
    return score_file(*arguments)


def write_scores(output_dir: Path, key: str, series, scores) -> None:
    import pandas as pd

    from tsseq.io import write_atomic

    frame = pd.DataFrame({"timestamp": series.index, "value": series.to_numpy(), "anomaly_score": scores})
    write_atomic(output_dir / key, lambda path: frame.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S"))


def corpus_results(scores: dict, windows: dict, flags: bool) -> dict:
    """The NAB result of every profile: one corpus threshold chosen by NAB's optimiser, or, for ``flags`` (scores
    that are alarms, 1 or 0), the alarms as they are: the optimiser would rather raise none when that scores higher."""
    from tsseq.anomaly.nab import nab_score, optimize_threshold

    if flags:
        alarms = {key: values >= 1.0 for key, values in scores.items()}
        return {name: nab_score(alarms, windows, name, threshold=1.0) for name in PROFILE_NAMES}
    return {name: optimize_threshold(scores, windows, name) for name in PROFILE_NAMES}


def run(job: NabJob) -> int:
    import pandas as pd

    from tsseq.data.catalog import load
    from tsseq.errors import ConfigError
    from tsseq.io import write_text

    dataset = load("nab", data_dir=job.data_dir)
    keys = list(dataset.anomaly_windows) if job.files is None else list(job.files)
    unknown = [key for key in keys if key not in dataset.anomaly_windows]
    if unknown:
        raise ConfigError(f"files: {unknown[0]!r} is not a NAB file; e.g. {next(iter(dataset.anomaly_windows))!r}.")
    series = {key: dataset.frame.loc[key]["value"] for key in keys}
    points = sum(len(s) for s in series.values())
    print(f"NAB: {len(keys)} files, {points} points; detector {job.detector} {json.dumps(job.params)}; "
          f"{job.workers} worker(s) on {os.cpu_count()} CPU(s)", flush=True)

    started = time.perf_counter()
    tasks = [(job, key, series[key]) for key in keys]
    if job.workers > 1:
        with get_context("fork").Pool(job.workers) as pool:
            results = pool.map(_score_file, tasks, chunksize=1)
    else:
        results = [score_file(*task) for task in tasks]
    scoring_seconds = time.perf_counter() - started
    output_dir = Path(job.output_dir)
    scores = {}
    for key, values, _ in results:
        write_scores(output_dir, key, series[key], values)
        scores[key] = pd.Series(values, index=series[key].index)
    detect_seconds = time.perf_counter() - started

    results_by_profile = corpus_results(scores, dataset.anomaly_windows, job.flags)
    total_seconds = time.perf_counter() - started
    for name, result in results_by_profile.items():
        print(f"  {name:20s} score {result.score:6.1f}  (threshold {result.threshold:.4f}; windows detected "
              f"{result.detected_windows}, missed {result.missed_windows}; false positives {result.false_positives})")
    per_file_seconds = sorted(((seconds, key) for key, _, seconds in results), reverse=True)
    print(f"wall time {total_seconds:.1f} s (scoring {scoring_seconds:.1f} s, with CSVs {detect_seconds:.1f} s); "
          f"throughput {points / scoring_seconds:.0f} points/s; slowest file {per_file_seconds[0][1]} "
          f"{per_file_seconds[0][0]:.1f} s")
    summary = {
        "job": asdict(job),
        "scores": {name: asdict(result) | {"per_file": None} for name, result in results_by_profile.items()},
        "wall_seconds": total_seconds,
        "points": points,
        "points_per_second": points / scoring_seconds,
    }
    write_text(output_dir / "results.json", json.dumps(summary, indent=2, default=str) + "\n")
    print(f"scores written under {output_dir}/", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", type=Path, help="the YAML job (pipelines/benchmarks/nab.yaml)")
    parser.add_argument("--output-dir", default=None, help="overrides the job's output_dir")
    parser.add_argument("--workers", type=int, default=None, help="overrides the job's workers")
    args = parser.parse_args()
    from tsseq.errors import TsseqError

    try:
        job = read_job(args.job)
        overrides = {k: v for k, v in (("output_dir", args.output_dir), ("workers", args.workers)) if v is not None}
        return run(NabJob(**{**asdict(job), **overrides}))
    except TsseqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
