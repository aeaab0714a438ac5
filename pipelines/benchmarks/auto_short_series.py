"""Does a panel's new, short series change how ``auto`` forecasts the long ones? M4 with a few series added.

A panel often holds series that started recently (a product launched last week): too
short for ``auto``'s validation backtest. This adds such series to an M4 frequency's
training panel, each the first ``n`` rows of an existing series under a new id (``n`` from
``--short-rows``; its test rows are that series' next ``H``), fits ``auto`` on the panel
with them and without them, and reports the OWA (sMAPE and MASE over Naive2's, as M4) on
the original series, what ``auto`` chose for them and for the short ones, and the short
series' sMAPE (their own scale needs ``m`` rows: MASE is left out for them).

Run from the repository root with the benchmark files under ``TSSEQ_DATA_DIR``, one
thread (on a checkout where auto restricted the whole panel to baselines, the same
command measures that behaviour)::

    OMP_NUM_THREADS=1 python pipelines/benchmarks/auto_short_series.py --frequency Hourly \\
        --short-rows 1 12 20 --candidates naive seasonal_naive ar ensemble

Without ``--candidates``, auto's default candidates (networks included: minutes).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

import tsseq
from tsseq.data.catalog import load
from tsseq.baselines import Naive2
from tsseq.metrics import mase, owa, seasonal_naive_scale, smape
from tsseq.protocols import M4_FREQUENCIES


def with_short_series(train: pd.DataFrame, test: pd.DataFrame, rows: list[int], horizon: int):
    """``train`` and ``test`` with one series per entry of ``rows``: that many first rows of the k-th series, new id."""
    donors = train.index.get_level_values(0).unique()[: len(rows)]
    extra_train, extra_test = {}, {}
    for donor, count in zip(donors, rows):
        values = train.loc[donor]
        extra_train[f"new_{donor}_{count}"] = values.iloc[:count]
        extra_test[f"new_{donor}_{count}"] = values.iloc[count : count + horizon]
    added = lambda parts: pd.concat(parts, names=train.index.names)  # noqa: E731
    return pd.concat([train, added(extra_train)]), pd.concat([test, added(extra_test)]), list(extra_train)


def per_series(frame: pd.DataFrame, ids, horizon: int) -> np.ndarray:
    return np.stack([frame.loc[series_id].to_numpy(dtype=np.float64)[:horizon] for series_id in ids])


def run(train: pd.DataFrame, test: pd.DataFrame, original, horizon: int, season: int, candidates) -> dict:
    params = {"horizon": horizon, "verbose": False, **({"candidates": candidates} if candidates else {})}
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = tsseq.create("auto", **params).fit(train)
        forecast = model.predict(horizon)
    seconds = time.perf_counter() - started
    truth, predicted = per_series(test, original, horizon), per_series(forecast, original, horizon)
    history = train.loc[list(original)]
    scales = np.stack([seasonal_naive_scale(history.loc[s].to_numpy(dtype=np.float64), season) for s in original])
    reference = per_series(Naive2(season_length=season).fit(history).predict(horizon), original, horizon)
    smape_model, mase_model = smape(truth, predicted), mase(truth, predicted, scale=scales[:, None], season_length=season)
    smape_n2, mase_n2 = smape(truth, reference), mase(truth, reference, scale=scales[:, None], season_length=season)
    extra = [s for s in train.index.get_level_values(0).unique() if s not in set(original)]
    result = {
        "series": len(original), "added": len(extra), "chosen": model.chosen_["label"],
        "short_series_model": getattr(model, "short_series_choice_", None),
        "owa": round(owa(smape_model, mase_model, smape_n2, mase_n2), 4), "smape": round(smape_model, 3),
        "mase": round(mase_model, 4), "seconds": round(seconds, 1),
        "warnings": sorted({str(w.message)[:160] for w in caught}),
    }
    if extra:
        result["smape_added"] = round(smape(per_series(test, extra, horizon), per_series(forecast, extra, horizon)), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frequency", default="Hourly", choices=sorted(M4_FREQUENCIES))
    parser.add_argument("--short-rows", type=int, nargs="+", default=[1, 12, 20])
    parser.add_argument("--candidates", nargs="+", default=None)
    parser.add_argument("--skip-without", action="store_true", help="only the panel with the short series")
    args = parser.parse_args()
    horizon, season = M4_FREQUENCIES[args.frequency]
    loaded = load(f"m4-{args.frequency.lower()}")
    train, test = loaded.frame, loaded.test
    original = list(train.index.get_level_values(0).unique())
    results = {}
    if not args.skip_without:
        results["without"] = run(train, test, original, horizon, season, args.candidates)
    more_train, more_test, _ = with_short_series(train, test, args.short_rows, horizon)
    results["with"] = run(more_train, more_test, original, horizon, season, args.candidates)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
