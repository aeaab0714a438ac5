"""Event gaps: how ``tsseq detect``'s events fare as runs of flags further apart are joined.

The flags do not change with the gap, only the events built from them: so this script
reads the scores ``threshold_study.py`` cached (``--cache`` / ``--clean-cache``, files
``<corpus>_<series>_<detector>.npz`` with ``train``, ``test`` and ``labels``; the eighteenth
study used ``auto_shipped``), applies both defaults of ``tsseq detect`` as the job does
(batch: ``transductive``; causal: ``adaptive``; each fitted on the training rows' scores),
and builds the events as the job does (:func:`tsseq.anomaly.events.detection_events`: flagged
rows joined across the rows whose smoothed score passes the threshold, then across at
most ``gap`` unflagged rows) for each ``--gaps`` value. Printed per corpus and mode:

* event F1 against the labelled segments (a segment is found when an event overlaps it,
  an event is true when it overlaps one), mean over the series;
* events per 1,000 scored rows, of the labelled and of the anomaly-free (``-clean``)
  corpora.

The eighteenth study (``threshold_study.md``) fixed its rule before running it::

    OMP_NUM_THREADS=1 TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/threshold_study.py \\
        --detectors auto_shipped --no-spot --smoothing 1 --cache tmp/cache/eighteenth \\
        --clean-cache tmp/cache/eighteenth_clean --corpora daily --seeds 100 101 102 103 104 105 106 107 \\
        --clean-corpora daily-clean --clean-seeds 100 101 102 103 104 105 106 107   # and the other sets
    python pipelines/benchmarks/event_gap_study.py --cache tmp/cache/eighteenth \\
        --clean-cache tmp/cache/eighteenth_clean --gaps 0 8

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
from tsseq.anomaly.metrics import event_precision_recall_f1
from tsseq.anomaly.thresholds import make_thresholder

MODES = {"batch": "transductive", "causal": "adaptive"}  # tsseq detect's default threshold by mode


def detection_table(method: str, normal: np.ndarray, scored: np.ndarray) -> pd.DataFrame:
    """The default threshold's output on ``scored`` as the job writes it: score, smoothed score, threshold, flags."""
    thresholder = make_thresholder(method).fit(normal)
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


def series_rows(path: Path, gaps: list[int]):
    """One row per mode and gap of the cached series at ``path``."""
    cached = np.load(path)
    normal, scored, labels = cached["train"], cached["test"], cached["labels"].astype(bool)
    name = path.name.rsplit("_", 2)[0]  # <corpus>_<series>, the detector's name dropped
    corpus = name.rsplit("_seed", 1)[0]
    for mode, method in MODES.items():
        table = detection_table(method, normal, scored)
        for gap in gaps:
            inside, count = event_rows(table, gap)
            row = {"corpus": corpus, "series": name, "mode": mode, "gap": gap,
                   "events per 1000 rows": 1000 * count / len(scored), "labelled": bool(labels.any())}  # fmt: skip
            if labels.any():
                row["event F1"] = event_precision_recall_f1(inside, labels).f1
            yield row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="threshold_study.py's --cache of the labelled corpora")
    parser.add_argument("--clean-cache", type=Path, default=None, help="its --clean-cache (anomaly-free corpora)")
    parser.add_argument("--detector", default="auto_shipped", help="the cached detector's name")
    parser.add_argument("--gaps", type=int, nargs="+", default=[0, 8], help="event gaps to compare (rows)")
    args = parser.parse_args()
    folders = [args.cache] + ([args.clean_cache] if args.clean_cache else [])
    paths = sorted(path for folder in folders for path in folder.glob(f"*_{args.detector}.npz"))
    if not paths:
        print(f"error: no *_{args.detector}.npz under {', '.join(map(str, folders))}", file=sys.stderr)
        return 2
    table = pd.DataFrame([row for path in paths for row in series_rows(path, args.gaps)])
    pd.set_option("display.width", 200)
    labelled = table[table["labelled"]]
    f1 = labelled.groupby(["corpus", "mode", "gap"])["event F1"].mean().unstack("gap")
    print(f"event F1 (mean over series), {args.detector}, by gap:\n{f1.round(3).to_string()}\n")
    means = f1.groupby(level="mode").mean()
    print(f"mean over the corpora:\n{means.round(4).to_string()}\n")
    rate = table.groupby(["corpus", "mode", "gap"])["events per 1000 rows"].mean().unstack("gap")
    print(f"events per 1,000 scored rows:\n{rate.round(2).to_string()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
