"""Choose an M4 ensemble recipe on a validation split cut from the training values alone.

Each series' last ``H`` training values (Hourly: 48) are held out; every candidate member
is fitted once on the values before them and forecasts them. Its forecasts are cached
(``--cache``, one ``.npz`` per member recipe, keyed by the recipe's JSON), so candidate
ensembles (``--combos``: a combine rule over a list of members) are scored from stored
forecasts without refitting anything. Scores are M4's, computed as
:func:`tsseq.protocols.evaluate_m4` computes them (sMAPE and MASE averaged over series,
MASE scaled by each series' in-sample lag-``m`` mean absolute difference of the fitting
part, OWA against Naive2 fitted on the same part). The M4 test values are never read.

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/m4_validation_selection.py \\
        --dataset m4-hourly --members seg336 seg336_s1 seg168 --combos median:seg336,seg336_s1,seg168

``--list`` prints the member recipes; ``--clip`` also scores every candidate with its
forecasts clipped at 0 (M4's series are positive).

``--split test`` fits the members on all the training values and caches their forecasts
of the test period (``--fit-only``: without reading the test values, e.g. while the
validation runs are still going), and scores exactly one candidate (the one chosen on
validation) on the M4 test values: the script refuses to score several there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import tsseq
from tsseq import registry
from tsseq.baselines import Naive2
from tsseq.metrics import mase, owa, seasonal_naive_scale, smape
from tsseq.protocols import M4_FREQUENCIES, _per_series_values


def _segrnn(input_length: int = 336, seed: int = 0, loss: str = "mae", **extra) -> dict:
    """The MAE SegRNN of pipelines/benchmarks/m4_hourly_recurrent.yaml, varied."""
    training = {"epochs": 10, "loss": loss, "batch_size": 256, "learning_rate": 0.002,
                "early_stopping_patience": 3, "seed": seed}
    params = {"input_length": input_length, "hidden_size": 256, "segment_length": 24, "dropout": 0.2,
              "training": training, **extra}
    return {"name": "segrnn", "params": params}


MEMBERS: dict[str, dict] = {
    "seg336": _segrnn(336),
    "seg336_s1": _segrnn(336, seed=1),
    "seg336_s2": _segrnn(336, seed=2),
    "seg168": _segrnn(168),
    "seg504": _segrnn(504),
    "seg336_log": _segrnn(336, target_transform="log", scale=False),
    "seg336_logstd": _segrnn(336, target_transform="log"),
    "seg336_log_s1": _segrnn(336, seed=1, target_transform="log", scale=False),
    "ar": {"name": "ar", "params": {"max_order": 168, "criterion": "bic", "variance": "unbiased"}},
    "snaive": {"name": "seasonal_naive", "params": {"season_length": 24}},
    "linear336": {"name": "linear", "params": {"input_length": 336}},  # session 21: closed-form NLinear, pooled
}


def validation_split(train: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training values of each series without their last ``horizon`` rows, and those rows."""
    position = train.groupby(level=0, sort=False).cumcount(ascending=False)
    return train[position >= horizon], train[position < horizon]


def recipe_key(recipe: dict) -> str:
    return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def member_forecasts(name: str, fit_part: pd.DataFrame, series_ids: pd.Index, horizon: int, cache: Path,
                     dataset: str) -> np.ndarray:
    """``(S, H, C)`` forecasts of member ``name`` after ``fit_part``, fitted once and cached."""
    recipe = MEMBERS[name]
    path = cache / f"{dataset}-{name}-{recipe_key(recipe)}.npz"
    if path.exists():
        return np.load(path)["forecast"]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # explosive AR fits on a few series: the figures say what they cost
        params = dict(recipe["params"])
        if "horizon" in registry.parameters(recipe["name"]):
            params.setdefault("horizon", horizon)  # as the M4 pipeline sets it: the networks forecast all H steps
        model = tsseq.create(recipe["name"], **params)
        model.fit(fit_part)
        forecast = _per_series_values(model.predict(horizon), series_ids, horizon, "model forecast")
    seconds = time.perf_counter() - started
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, forecast=forecast, seconds=seconds, recipe=json.dumps(recipe))
    print(f"fitted {name} in {seconds:.0f} s -> {path}", flush=True)
    return forecast


def combine(rule: str, forecasts: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(forecasts)
    if rule == "median":
        return np.median(stacked, axis=0)
    if rule == "mean":
        return stacked.mean(axis=0)
    raise SystemExit(f"Unknown combine rule {rule!r}: use median or mean.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="m4-hourly")
    parser.add_argument("--members", nargs="+", default=["seg336", "seg336_s1", "seg168"],
                        help="member recipes to fit (names of MEMBERS; --list shows them)")
    parser.add_argument("--combos", nargs="*", default=[],
                        help="candidate ensembles, e.g. median:seg336,seg168,seg504 (members must be fitted)")
    parser.add_argument("--cache", type=Path, default=Path("outputs/m4_validation_selection"))
    parser.add_argument("--clip", action="store_true", help="also score forecasts clipped at 0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--fit-only", action="store_true", help="fit and cache the members' forecasts; score nothing")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, recipe in MEMBERS.items():
            print(f"{name}: {json.dumps(recipe)}")
        return
    import torch

    torch.set_num_threads(args.threads)
    frequency = args.dataset.split("-", 1)[1].title()
    horizon, season_length = M4_FREQUENCIES[frequency]
    loaded = tsseq.load(args.dataset)
    if args.split == "validation":
        fit_part, held_out = validation_split(loaded.frame, horizon)
        cache_name = args.dataset
    else:
        fit_part, held_out = loaded.frame, loaded.test
        cache_name = f"{args.dataset}-test"
        if not args.fit_only and len(args.members) + len(args.combos) != 1 and len(args.combos) != 1:
            raise SystemExit("--split test scores one candidate, the one chosen on validation: give one combo (or member).")
    series_ids = fit_part.index.get_level_values(0).unique()
    if args.fit_only:
        for name in args.members:
            member_forecasts(name, fit_part, series_ids, horizon, args.cache, cache_name)
        return
    truth = _per_series_values(held_out, series_ids, horizon, "held-out values")
    groups = fit_part.groupby(level=0, sort=False)
    scales = np.stack([seasonal_naive_scale(group.to_numpy(dtype=np.float64), season_length) for _, group in groups])
    scales = scales.reshape(len(series_ids), 1, -1)
    naive2 = _per_series_values(Naive2(season_length=season_length).fit(fit_part).predict(horizon), series_ids,
                                horizon, "naive2 forecast")
    smape_naive2 = smape(truth, naive2)
    mase_naive2 = mase(truth, naive2, scale=scales, season_length=season_length)
    print(f"{args.dataset} {args.split}: {len(series_ids)} series, {horizon} values held out per series; "
          f"Naive2 sMAPE {smape_naive2:.3f} MASE {mase_naive2:.3f}", flush=True)

    forecasts = {name: member_forecasts(name, fit_part, series_ids, horizon, args.cache, cache_name)
                 for name in args.members}
    candidates = {} if args.split == "test" and args.combos else {name: forecasts[name] for name in args.members}
    for combo in args.combos:
        rule, names = combo.split(":", 1)
        missing = [name for name in names.split(",") if name not in forecasts]
        if missing:
            raise SystemExit(f"{combo}: fit {missing} first (add them to --members)")
        candidates[combo] = combine(rule, [forecasts[name] for name in names.split(",")])
    rows = []
    for name, forecast in candidates.items():
        variants = {"": forecast}
        if args.clip:
            variants["+clip0"] = np.clip(forecast, 0, None)
        for suffix, values in variants.items():
            s = smape(truth, values)
            m = mase(truth, values, scale=scales, season_length=season_length)
            rows.append({"candidate": name + suffix, "smape": s, "mase": m,
                         "owa": owa(s, m, smape_naive2, mase_naive2),
                         "negative_share": float((values < 0).mean())})
    table = pd.DataFrame(rows).sort_values("owa")
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))


if __name__ == "__main__":
    main()
