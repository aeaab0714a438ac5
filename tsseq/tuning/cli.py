"""``tsseq tune STUDY.yaml``: create or resume a named study and run trials of it.

Several workers (on one machine or many) share a study by running the same command
against the same ``--storage`` (a PostgreSQL URL for many machines). Imports nothing
heavy at module level: the CLI builds its parser without Optuna or torch.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

HELP = "run trials of an Optuna study (YAML job): create or resume it, prune, track, refit the best"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=Path, help="study job file, e.g. pipelines/tune_lstm_etth1_S24.yaml")
    parser.add_argument("--study-name", help="name of the study in the storage (default: the job's name)")
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="SQLAlchemy URL (e.g. postgresql+psycopg2://user@host/db) or SQLite file path "
        "(default: the job's storage.url, else mlflow/optuna.db)",
    )
    parser.add_argument("--n-trials", type=int, metavar="N", help="trials this worker runs (default: the job's n_trials)")
    parser.add_argument("--timeout", type=float, metavar="S", help="stop starting trials after S seconds")
    parser.add_argument("--pruner", choices=["median", "hyperband", "none"], help="default: the job's pruner.kind")
    parser.add_argument("--seed", type=int, help="sampler seed (give concurrent workers different seeds)")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write each neural trial's checkpoints under DIR/<study>/trial-<n>; a trial retried after its worker "
        "was stopped (SIGTERM, Ctrl-C, killed) resumes from them (default: the job's checkpoint_dir, else none)",
    )
    from tsseq.cli import add_threads_argument

    add_threads_argument(parser)


def apply_overrides(config, args: argparse.Namespace):
    """The job's StudyConfig with the command line's settings over it."""
    replace = dataclasses.replace
    changes: dict = {}
    if args.study_name:
        changes["name"] = args.study_name
    if args.storage:
        changes["storage"] = replace(config.storage, url=args.storage)
    if args.n_trials is not None:
        changes["n_trials"] = args.n_trials
    if args.timeout is not None:
        changes["timeout_s"] = args.timeout
    if args.pruner:
        changes["pruner"] = replace(config.pruner, kind=args.pruner)
    if args.seed is not None:
        changes["sampler"] = replace(config.sampler, seed=args.seed)
    if args.no_tracking:
        changes["tracking"] = replace(config.tracking, enabled=False)
    if args.checkpoint_dir:
        changes["checkpoint_dir"] = args.checkpoint_dir
    if getattr(args, "threads", None) is not None:  # into the model's training, unless it sets its own threads
        from tsseq.fitting import with_threads

        (changes["model"],) = with_threads([config.model], args.threads)
    return replace(config, **changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from tsseq.tuning.config import load_study
    from tsseq.tuning.study import tune

    config, base_dir = load_study(args.study)
    result = tune(apply_overrides(config, args), base_dir=base_dir, source=args.study.name)
    print(result.summary())
    return 0
