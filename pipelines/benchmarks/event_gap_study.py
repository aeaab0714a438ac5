"""Event gaps, brief gates and raises: how ``tsseq detect``'s events and flags fare as runs of flags further apart
are joined, as short events need a peak (the default thresholds' ``brief_gate``), and as the batch threshold rises
to a split above its floor (``raise_excess``).

Neither changes the scores, only the flags and the events built from them: so this script
reads the scores ``threshold_study.py`` cached (``--cache`` / ``--clean-cache``, files
``<corpus>_<series>_<detector>.npz`` with ``train``, ``test`` and ``labels``; the eighteenth
study used ``auto_shipped``), applies both defaults of ``tsseq detect`` as the job does
(batch: ``transductive``; causal: ``adaptive``; each fitted on the training rows' scores,
with its ``brief_gate`` each of the ``--brief-gates`` values, ``none`` for None, and the batch
one's ``raise_excess`` each of the ``--raise-excess`` values), and builds
the events as the job does (:func:`tsseq.anomaly.events.detection_events`: flagged
rows joined across the rows whose smoothed score passes the threshold, then across at
most ``gap`` unflagged rows) for each ``--gaps`` value. Printed per corpus and mode:

* event F1 against the labelled segments (a segment is found when an event overlaps it,
  an event is true when it overlaps one), mean over the series;
* point F1 and its gap to the oracle (the best fixed quantile of the training scores,
  one of ``threshold_study.ORACLE_QUANTILES`` per corpus, chosen on the labels: the largest
  mean point F1 over the corpus's series, as ``threshold_study.py`` reports it);
* event F1's gap to its own oracle: the same fixed quantiles' flags made events as the job
  makes them (the same gap), the quantile of the largest mean event F1 (added after the
  twentieth study);
* events per 1,000 scored rows and the share of the rows flagged, of the labelled and of the
  anomaly-free (``-clean``) corpora.

NAB files (``nab_<file>``) count as one corpus, ``nab``.

The eighteenth study (``threshold_study.md``) fixed its rule before running it::

    OMP_NUM_THREADS=1 TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/threshold_study.py \\
        --detectors auto_shipped --no-spot --smoothing 1 --cache tmp/cache/eighteenth \\
        --clean-cache tmp/cache/eighteenth_clean --corpora daily --seeds 100 101 102 103 104 105 106 107 \\
        --clean-corpora daily-clean --clean-seeds 100 101 102 103 104 105 106 107   # and the other sets
    python pipelines/benchmarks/event_gap_study.py --cache tmp/cache/eighteenth \\
        --clean-cache tmp/cache/eighteenth_clean --gaps 0 8 --brief-gates none

(``--brief-gates none``: the thresholds as they were then), and so did the nineteenth, the
same commands with the caches ``tmp/cache/nineteenth`` (seeds 110-117 / 110-113, and NAB's
``realKnownCause``), then::

    python pipelines/benchmarks/event_gap_study.py --cache tmp/cache/nineteenth \\
        --clean-cache tmp/cache/nineteenth_clean --gaps 8 --brief-gates none 0.98 --raise-excess none

(``--raise-excess none``: the batch threshold as it was before the twentieth study, which gave it
``raise_excess=2``; the eighteenth study's command needs it too). The twentieth study's, on its
confirmation series (seeds 120-127 / 120-123; NAB's ``realKnownCause`` from the nineteenth's cache)::

    python pipelines/benchmarks/event_gap_study.py --cache tmp/cache/twentieth \\
        --clean-cache tmp/cache/twentieth_clean --gaps 8 --raise-excess none 2

NAB's side (its windows as the labelled events, the events' onsets as alarms) is
``nab.py`` with ``nab_auto_flags.yaml``, which builds the events with ``tsseq detect``'s
default gap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq.anomaly.events import detection_events
from tsseq.anomaly.metrics import event_precision_recall_f1, point_precision_recall_f1
from tsseq.anomaly.thresholds import make_thresholder

from threshold_study import ORACLE_QUANTILES  # this folder's study: the oracle's quantiles

MODES = {"batch": "transductive", "causal": "adaptive"}  # tsseq detect's default threshold by mode


def detection_table(
    method: str, normal: np.ndarray, scored: np.ndarray, brief_gate: float | None, raise_excess: float | None = 2.0
) -> pd.DataFrame:
    """The default threshold's output on ``scored`` as the job writes it: score, smoothed score, threshold, flags.
    ``raise_excess`` is the batch threshold's (``transductive``; the causal one has none)."""
    params = {"raise_excess": raise_excess} if method == "transductive" else {}
    thresholder = make_thresholder(method, brief_gate=brief_gate, **params).fit(normal)
    smoothed = thresholder.smooth(scored)  # before run: a causal smoothing continues from what it has seen
    if method == "adaptive":
        flags, thresholds = thresholder.run(scored)
    else:
        flags = thresholder.predict(scored)
        thresholds = np.full(len(scored), thresholder.threshold_)
    return pd.DataFrame({"score": scored, "smoothed_score": smoothed, "threshold": thresholds,
                         "is_anomaly": np.asarray(flags, dtype=bool)})  # fmt: skip


def event_rows(table: pd.DataFrame, gap: int) -> tuple[np.ndarray, int]:
    """(rows inside an event, number of events) of the events as ``tsseq detect`` builds them."""
    events = detection_events(table, gap=gap)
    inside = np.zeros(len(table), dtype=bool)
    for start, end in zip(events["start"], events["end"]):
        inside[int(start) : int(end) + 1] = True
    return inside, len(events)


def series_rows(
    path: Path, detector: str, gaps: list[int], brief_gates: list[float | None], raise_excesses: list[float | None]
):
    """One row per mode, brief gate, raise excess (batch; causal mode has none) and gap of the cached series at
    ``path``."""
    cached = np.load(path)
    normal, scored, labels = cached["train"], cached["test"], cached["labels"].astype(bool)
    name = path.name.removesuffix(f"_{detector}.npz")  # <corpus>_<series>
    corpus = "nab" if name.startswith("nab_") else name.rsplit("_seed", 1)[0]
    oracle, event_oracle = {}, {gap: {} for gap in gaps}
    if labels.any():
        finite = normal[np.isfinite(normal)]
        for q in ORACLE_QUANTILES:
            flags = scored >= np.quantile(finite, q)
            oracle[f"oracle {q}"] = point_precision_recall_f1(flags, labels).f1
            for gap in gaps:  # the same quantile's flags made events as the job makes them
                inside, _ = event_rows(pd.DataFrame({"score": scored, "is_anomaly": flags}), gap)
                event_oracle[gap][f"event oracle {q}"] = event_precision_recall_f1(inside, labels).f1
    for mode, method in MODES.items():
        for brief_gate in brief_gates:
            table = None
            for raise_excess in raise_excesses:
                if table is None or method == "transductive":  # the causal threshold has no raise_excess: one table
                    table = detection_table(method, normal, scored, brief_gate, raise_excess)
                flags = table["is_anomaly"].to_numpy()
                for gap in gaps:
                    inside, count = event_rows(table, gap)
                    row = {"corpus": corpus, "series": name, "mode": mode, "brief gate": str(brief_gate),
                           "raise excess": str(raise_excess), "gap": gap,
                           "events per 1000 rows": 1000 * count / len(scored), "share flagged": flags.mean(),
                           "labelled": bool(labels.any())}  # fmt: skip
                    if labels.any():
                        row["event F1"] = event_precision_recall_f1(inside, labels).f1
                        row["point F1"] = point_precision_recall_f1(flags, labels).f1
                    yield row | oracle | event_oracle[gap]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="threshold_study.py's --cache of the labelled corpora")
    parser.add_argument("--clean-cache", type=Path, default=None, help="its --clean-cache (anomaly-free corpora)")
    parser.add_argument("--detector", default="auto_shipped", help="the cached detector's name")
    parser.add_argument("--gaps", type=int, nargs="+", default=[0, 8], help="event gaps to compare (rows)")
    parser.add_argument("--brief-gates", nargs="+", default=["0.98"],
                        help="the thresholds' brief_gate values to compare (none: None)")
    parser.add_argument("--raise-excess", nargs="+", default=["2"],
                        help="the batch threshold's raise_excess values to compare (none: None)")
    args = parser.parse_args()
    def numbers(values: list[str]) -> list[float | None]:
        return [None if value.lower() in ("none", "null") else float(value) for value in values]

    try:
        brief_gates, raise_excesses = numbers(args.brief_gates), numbers(args.raise_excess)
    except ValueError:
        print(f"error: --brief-gates and --raise-excess take numbers or none; got {' '.join(args.brief_gates)} and "
              f"{' '.join(args.raise_excess)}", file=sys.stderr)  # fmt: skip
        return 2
    folders = [args.cache] + ([args.clean_cache] if args.clean_cache else [])
    paths = sorted(path for folder in folders for path in folder.glob(f"*_{args.detector}.npz"))
    if not paths:
        print(f"error: no *_{args.detector}.npz under {', '.join(map(str, folders))}", file=sys.stderr)
        return 2
    table = pd.DataFrame([row for path in paths
                          for row in series_rows(path, args.detector, args.gaps, brief_gates, raise_excesses)])  # fmt: skip
    pd.set_option("display.width", 200)
    columns = ["brief gate", "raise excess", "gap"]
    labelled = table[table["labelled"]]
    by_corpus = labelled.groupby(["corpus", "mode", *columns])
    oracle = by_corpus[[column for column in table if column.startswith("oracle ")]].mean().max(axis=1)
    event_oracle = by_corpus[[column for column in table if column.startswith("event oracle ")]].mean().max(axis=1)
    gaps_to = {"gap to the oracle": (oracle, "point F1"), "event-F1 gap to its oracle": (event_oracle, "event F1")}
    for measure in ("event F1", "point F1", *gaps_to):
        if measure in gaps_to:
            best, measured = gaps_to[measure]
            means = best - by_corpus[measured].mean()
        else:
            means = by_corpus[measure].mean()
        means = means.unstack(columns)
        print(f"{measure} (mean over series), {args.detector}, by brief gate and gap:\n"
              f"{means.round(3).to_string()}\n")
        overall = means.groupby(level="mode").mean()
        print(f"mean over the corpora:\n{overall.round(4).to_string()}\n")
    for measure in ("events per 1000 rows", "share flagged"):
        rate = table.groupby(["corpus", "mode", *columns])[measure].mean().unstack(columns)
        print(f"{measure}:\n{rate.round(4).to_string()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
