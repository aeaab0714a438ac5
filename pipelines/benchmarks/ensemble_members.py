"""An ETT ensemble's members fitted one at a time and cached, then any subset combined as the ensemble combines them.

``tsseq run`` fits a weighted ensemble's members, their validation forecasts and the
weights in one process: for ``etth1_M96_best.yaml`` that is about 5 h of one-thread CPU,
and trying one more member means all of it again. This script does the same steps member
by member and keeps each member's forecasts, so that a new member costs its own fit and a
new combination costs seconds:

1. the job file's ETT protocol (its data set, setting, input length and horizon; the
   data set can be overridden by ``--dataset``): the standard split, standardised with
   the training rows' statistics (:func:`tsseq.protocols.evaluate_ett`'s steps);
2. each member of the job's ensemble (``--members`` picks them by label) is built as the
   ensemble builds it (:meth:`tsseq.ensemble.EnsembleForecaster._build_member`), fitted
   on the scaled training rows with the scaled validation rows as ``validation``, and
   forecasts every validation window (origins from the ensemble's input length on, as
   ``combine: weighted`` forecasts them) and every test window (``predict_windows``; a
   member the ensemble's ``refit`` names forecasts them refitted on the training and
   validation rows, as the ensemble refits it); the
   forecasts are cached under ``--cache`` by member label and a hash of its parameters and
   the protocol (a member whose parameters change is fitted again). Several processes may run
   at once (one per core): each claims the member it fits (a ``.claim`` file beside the
   cache, made atomically) and the others pass it by;
3. ``--combine A,B,...`` (repeatable) combines those members as the job's ensemble does:
   ``combine: weighted`` fits their simplex weights on the validation forecasts, each
   channel scaled by its mean absolute change over the training rows
   (:meth:`~tsseq.ensemble.EnsembleForecaster._solve_weights`, the ensemble's own fit),
   ``mean`` and ``median`` take their mean or median; it prints the weights, the validation
   MSE (standardised scale, as the test's) and the test MSE / MAE over every test window.
   Each member alone is printed too.

The combination of every member equals what ``tsseq run JOB --json`` reports for the
ensemble, to float32 rounding of the cached forecasts. Run (one torch thread; members that
are cached are read back)::

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/ensemble_members.py \\
        pipelines/benchmarks/etth1_M96_best.yaml --members ar_direct ar_recursive
    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/ensemble_members.py \\
        pipelines/benchmarks/etth1_M96_best.yaml --fit none --combine ar_direct,ar_recursive
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tsseq.backtesting import forecast_origins
from tsseq.conformal import history_scale
from tsseq.config import load_pipeline
from tsseq.data.windows import make_windows
from tsseq.ensemble import EnsembleForecaster, rows_with_validation
from tsseq.pipeline import build_model
from tsseq.protocols import ett_splits


def protocol_data(job, dataset: str, context: int) -> dict:
    """The job's ETT protocol (scaled training and validation rows, test windows) and what the weight fit reads:
    the validation origins from ``context`` on, their targets, and each channel's mean absolute change."""
    evaluation = job.evaluation
    horizon = evaluation.horizon
    train, validation, test = ett_splits(dataset, evaluation.setting, evaluation.input_length)
    windows = make_windows(test.to_numpy(), evaluation.input_length, horizon)
    values = validation.to_numpy(dtype=np.float64)
    origins = np.arange(context, len(values) - horizon + 1)
    return {"train": train, "validation": validation, "test_inputs": windows.inputs.numpy(),
            "test_targets": windows.targets.numpy().astype(np.float64), "validation_origins": origins,
            "validation_targets": values[origins[:, None] + np.arange(horizon)],
            "scale": history_scale(train.to_numpy(dtype=np.float64), "naive")}  # fmt: skip


def member_key(config, job, dataset: str, refit: bool = False) -> str:
    """A file name for the member's cached forecasts: its label and a hash of what they depend on."""
    evaluation = job.evaluation
    what = {"name": config.name, "params": config.params, "dataset": dataset, "setting": evaluation.setting,
            "input_length": evaluation.input_length, "horizon": evaluation.horizon}  # fmt: skip
    if refit:  # only then: the keys of the members fitted once stay those of their existing caches
        what["refit"] = True
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{config.display_name}_{digest}.npz"


def claim(path: Path) -> bool:
    """Make ``path``'s claim file; False if another process has it (its member is being fitted)."""
    try:
        os.close(os.open(path.with_suffix(".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def fitted_forecasts(ensemble: EnsembleForecaster, config, data: dict, context: int, horizon: int,
                     refit: bool = False) -> dict:
    """Fit one member as the ensemble fits it -> its validation and test forecasts (float32) and fit seconds.

    ``refit`` (a member the ensemble's ``refit`` names): the test forecasts come from the
    member refitted on the training and validation rows, as the ensemble refits it.
    """
    member = ensemble._build_member(config)
    started = time.perf_counter()
    member.fit(data["train"], validation=data["validation"])
    seconds = time.perf_counter() - started
    length = member.get_params(deep=False).get("input_length") or context
    validation, _ = forecast_origins(member, data["validation"], data["validation_origins"], length, horizon)
    if refit:
        started = time.perf_counter()
        member = ensemble._refit_member(config, member, rows_with_validation(data["train"], data["validation"]), {})
        seconds += time.perf_counter() - started
    inputs = data["test_inputs"]
    test = np.concatenate([member.predict_windows(inputs[start : start + 256][:, inputs.shape[1] - length :], horizon)
                           for start in range(0, len(inputs), 256)])  # fmt: skip
    return {"validation": validation.astype(np.float32), "test": test.astype(np.float32), "fit_seconds": seconds}


def combined(forecasts: list[dict], data: dict, ensemble: EnsembleForecaster) -> dict:
    """The members' forecasts combined as ``ensemble`` combines them (``"weighted"``: its weight fit on their
    validation forecasts; ``"mean"``, ``"median"``), and the combination's validation and test errors."""
    truth = data["validation_targets"]
    stacked = np.stack([f["validation"].astype(np.float64) for f in forecasts])
    combiner = copy.copy(ensemble)
    combiner.weights_ = (EnsembleForecaster._solve_weights(stacked, truth, data["scale"])[0]
                         if ensemble.combine == "weighted" else np.full(len(forecasts), 1 / len(forecasts)))  # fmt: skip
    fitted = combiner._combine(stacked)
    test = combiner._combine(np.stack([f["test"].astype(np.float64) for f in forecasts]))
    error = test - data["test_targets"]
    return {"weights": combiner.weights_, "validation_mse": float(np.mean((fitted - truth) ** 2)),
            "test_mse": float(np.mean(error**2)), "test_mae": float(np.mean(np.abs(error)))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", type=Path, help="a pipeline YAML whose first model is a weighted ensemble, ETT protocol")
    parser.add_argument("--dataset", default=None, help="the ETT data set (default: the job's)")
    parser.add_argument("--members", nargs="+", default=None, help="fit only these members (labels; default: all)")
    parser.add_argument("--fit", choices=["missing", "none"], default="missing",
                        help="fit the members not cached yet (missing), or only read the cache (none)")
    parser.add_argument("--combine", action="append", default=[], metavar="A,B,...",
                        help="members to combine with the ensemble's weight fit (repeatable; 'all': every cached one)")
    parser.add_argument("--cache", type=Path, default=Path("tmp/cache/ensemble_members"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the honest setting on 2 shared cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    job, _ = load_pipeline(args.job)
    if job.evaluation.protocol != "ett" or job.models[0].name != "ensemble":
        parser.error(f"{args.job}: expected an ETT protocol job whose first model is an ensemble")
    dataset = args.dataset or job.data.dataset
    evaluation = job.evaluation
    ensemble = build_model(job.models[0], {"input_length": evaluation.input_length, "horizon": evaluation.horizon})
    configs = {config.display_name: config for config in ensemble.member_configs()}
    unknown = sorted(set(args.members or []) - set(configs))
    if unknown:
        parser.error(f"no member labelled {', '.join(unknown)} in {args.job}; its members: {', '.join(configs)}")
    context, horizon = ensemble.input_length or evaluation.input_length, evaluation.horizon
    data = protocol_data(job, dataset, context)
    args.cache.mkdir(parents=True, exist_ok=True)
    cached = {}
    refit = set(ensemble.refit or ())
    for label, config in configs.items():
        path = args.cache / member_key(config, job, dataset, refit=label in refit)
        wanted = args.fit == "missing" and (args.members is None or label in args.members)
        if wanted and not path.exists() and not claim(path):
            print(f"{label}: another process is fitting it (else delete {path.with_suffix('.claim')})", flush=True)
        elif wanted and not path.exists():
            try:
                print(f"fitting {label} ...", flush=True)
                forecasts = fitted_forecasts(ensemble, config, data, context, horizon, refit=label in refit)
                partial = path.with_suffix(".partial.npz")
                np.savez(partial, **forecasts)
                partial.replace(path)
                print(f"  {label}: fitted in {forecasts['fit_seconds']:.0f} s", flush=True)
            finally:
                path.with_suffix(".claim").unlink()
        if path.exists():
            with np.load(path) as stored:
                cached[label] = dict(stored)
    print(f"\n{dataset} {evaluation.setting}, L={evaluation.input_length}, H={horizon}: "
          f"{len(data['test_targets'])} test windows; cached members: {len(cached)} of {len(configs)}")  # fmt: skip
    for label, forecasts in cached.items():
        alone = combined([forecasts], data, ensemble)
        print(f"  {label:24s} test MSE {alone['test_mse']:.4f}  MAE {alone['test_mae']:.4f}  "
              f"(fitted in {float(forecasts['fit_seconds']):.0f} s)")  # fmt: skip
    for spec in args.combine:
        labels = list(cached) if spec == "all" else spec.split(",")
        missing = [label for label in labels if label not in cached]
        if missing:
            print(f"\n{spec}: not cached yet: {', '.join(missing)}")
            continue
        result = combined([cached[label] for label in labels], data, ensemble)
        weights = " / ".join(f"{w:.3f}" for w in result["weights"])
        print(f"\n{' + '.join(labels)}\n  weights {weights}\n  validation MSE {result['validation_mse']:.4f}"
              f"  test MSE {result['test_mse']:.4f}  MAE {result['test_mae']:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
