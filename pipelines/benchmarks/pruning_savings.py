"""Benchmark: how many training epochs median pruning saves on the ETTh1 S, H=24 LSTM study.

The study of ``pipelines/tune_lstm_etth1_S24.yaml`` (30 trials, TPE seeded with 0, at
most 8 epochs a trial with early stopping after 3 epochs without improvement) is run
twice from scratch, the two studies at once in two processes of one torch thread
each: with its median pruner, and with no pruner. Both draw the same parameters for
their first 10 trials (TPE's random start-up); after that each sampler follows its
own results. Tracking and the refit are off: only the trials are counted.

Printed: per study, the trials by state, the epochs trained (every reported epoch,
pruned trials included), the wall-clock time, the best validation MSE and the trial
that found it; the best value after every 5 trials; and how many epochs the study
without pruning had trained when its best first came within 1% of the pruned study's
best. The figures are also written to ``--output`` (JSON).

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/pruning_savings.py \
        [--n-trials 30] [--output outputs/benchmarks/pruning_savings.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
JOB = REPOSITORY / "pipelines" / "tune_lstm_etth1_S24.yaml"
PRUNERS = ("median", "none")


def _config(pruner: str, storage: Path, n_trials: int):
    from tsseq.tuning.config import load_study

    config, base = load_study(JOB)
    return dataclasses.replace(
        config,
        name=f"{config.name}-{pruner}",
        n_trials=n_trials,
        pruner=dataclasses.replace(config.pruner, kind=pruner),
        storage=dataclasses.replace(config.storage, url=str(storage)),
        tracking=dataclasses.replace(config.tracking, enabled=False),
        refit=False,
    ), base


def run_study(pruner: str, storage: Path, n_trials: int) -> float:
    """Run one study in this process; returns its wall-clock seconds."""
    import io

    import torch

    from tsseq.tuning.study import tune

    torch.set_num_threads(1)
    config, base = _config(pruner, storage, n_trials)
    started = time.perf_counter()
    tune(config, base_dir=base, stream=io.StringIO())
    return time.perf_counter() - started


def summarise(pruner: str, storage: Path, n_trials: int, seconds: float) -> dict:
    from tsseq.tuning.study import open_study

    config, _ = _config(pruner, storage, n_trials)
    trials = open_study(config).get_trials(deepcopy=False)
    states: dict[str, int] = {}
    best, best_trial, best_so_far, epochs_so_far, epochs = float("inf"), None, [], [], 0
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        epochs += len(trial.intermediate_values)
        if trial.state.name == "COMPLETE" and trial.value < best:
            best, best_trial = trial.value, trial.number
        best_so_far.append(best)
        epochs_so_far.append(epochs)
    return {
        "pruner": pruner,
        "states": states,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "best_value": best,
        "best_trial": best_trial,
        "best_so_far": best_so_far,
        "epochs_so_far": epochs_so_far,
    }


def epochs_to_reach(summary: dict, target: float) -> int | None:
    """Epochs trained when the study's best first came to ``target`` or below (None: never)."""
    for best, epochs in zip(summary["best_so_far"], summary["epochs_so_far"]):
        if best <= target:
            return epochs
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--output", type=Path, default=REPOSITORY / "outputs" / "benchmarks" / "pruning_savings.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pruning-savings-") as folder:
        storages = {pruner: Path(folder) / f"{pruner}.db" for pruner in PRUNERS}
        context = multiprocessing.get_context("spawn")
        with context.Pool(len(PRUNERS)) as pool:
            pending = {p: pool.apply_async(run_study, (p, storages[p], args.n_trials)) for p in PRUNERS}
            seconds = {pruner: result.get() for pruner, result in pending.items()}
        summaries = {p: summarise(p, storages[p], args.n_trials, seconds[p]) for p in PRUNERS}

    pruned, plain = summaries["median"], summaries["none"]
    print(f"ETTh1 S, H=24, LSTM: {args.n_trials} trials per study ({JOB.name})")
    print(f"{'pruner':8s} {'complete':>8s} {'pruned':>6s} {'epochs':>6s} {'seconds':>8s} {'best MSE':>9s} {'at trial':>8s}")
    for summary in (pruned, plain):
        states = summary["states"]
        print(
            f"{summary['pruner']:8s} {states.get('COMPLETE', 0):8d} {states.get('PRUNED', 0):6d} {summary['epochs']:6d} "
            f"{summary['seconds']:8.0f} {summary['best_value']:9.5f} {summary['best_trial']:8d}"
        )
    print("best validation MSE after k trials:")
    for k in range(5, args.n_trials + 1, 5):
        print(f"  k={k:3d}  median {pruned['best_so_far'][k - 1]:.5f}  none {plain['best_so_far'][k - 1]:.5f}")
    saved = plain["epochs"] - pruned["epochs"]
    print(f"epochs saved by pruning: {saved} of {plain['epochs']} ({100 * saved / plain['epochs']:.0f}%)")
    target = pruned["best_value"] * 1.01
    reach = epochs_to_reach(plain, target)
    if reach is None:
        print(f"without pruning, the best never came within 1% of the pruned study's best ({pruned['best_value']:.5f})")
    else:
        print(f"without pruning, {reach} epochs were trained before the best came within 1% of the pruned study's best "
              f"({pruned['best_value']:.5f}); the pruned study trained {pruned['epochs']} epochs in all")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from tsseq.io import write_text

    write_text(args.output, json.dumps({"job": JOB.name, "n_trials": args.n_trials, "studies": summaries}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
