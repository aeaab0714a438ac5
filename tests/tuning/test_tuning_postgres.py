"""Distributed studies: ``tsseq tune`` workers (real processes) sharing one study in PostgreSQL."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml



HELD_CLI = Path(__file__).parents[1] / "held_cli.py"  # `tsseq ...` imported now, run once a file exists


def _worker(job, url: str, *args: str, held_until: Path | None = None) -> subprocess.Popen:
    tune = ["tune", str(job), "--storage", url, *args]
    start = ["-m", "tsseq.cli"] if held_until is None else [str(HELD_CLI), str(held_until)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}  # two workers share the cores
    return subprocess.Popen([sys.executable, *start, *tune], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment)  # fmt: skip


def _finish(worker: subprocess.Popen, timeout: float = 120) -> str:
    stdout, stderr = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, f"worker failed ({worker.returncode}):\n{stdout}\n{stderr}"
    return stdout


@functools.lru_cache(maxsize=None)
def _storage(url: str):
    """One storage (one connection pool) per server: polling must not open a connection per look."""
    import optuna

    return optuna.storages.RDBStorage(url)


def _load(name: str, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=_storage(url))


def _check_consistent(study) -> None:
    """Numbers 0..n-1 once each; the best value is the minimum over the completed trials."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    assert sorted(trial.number for trial in trials) == list(range(len(trials)))
    complete = [trial for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert study.best_value == min(trial.value for trial in complete)


def test_two_workers_share_one_study(tmp_path, postgres_url, study_mapping):
    import optuna

    job = tmp_path / "shared.yaml"
    job.write_text(yaml.safe_dump(study_mapping("two-workers", postgres_url, n_trials=4)))
    workers = [_worker(job, postgres_url, "--seed", str(seed)) for seed in (1, 2)]
    outputs = [_finish(worker) for worker in workers]

    study = _load("two-workers", postgres_url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 8 and all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    by_worker: dict[str, int] = {}
    for trial in trials:
        by_worker[trial.user_attrs["worker"]] = by_worker.get(trial.user_attrs["worker"], 0) + 1
    assert sorted(by_worker.values()) == [4, 4]  # each process recorded its own 4 trials, once
    _check_consistent(study)
    assert all("study 'two-workers'" in output for output in outputs)


def test_killed_worker_trial_is_failed_retried_and_the_study_continues(tmp_path, postgres_url, study_mapping):
    import optuna

    name = "killed-worker"
    job = tmp_path / "slow.yaml"
    # 40 epochs (one or two seconds) a trial; the kill lands after its first and before its 31st.
    slow = {"training": {"epochs": 40, "batch_size": 32, "device": "cpu", "progress": False}}
    model = {"name": "lstm", "params": {**study_mapping(name, postgres_url)["model"]["params"], **slow}}
    job.write_text(yaml.safe_dump(study_mapping(name, postgres_url, n_trials=20, model=model)))

    worker = _worker(job, postgres_url, "--seed", "3")
    deadline = time.monotonic() + 240  # generous: a loaded CI machine starts workers slowly
    while True:  # until one trial is complete and the next has trained an epoch or two
        assert time.monotonic() < deadline and worker.poll() is None, worker.communicate()
        try:
            trials = _load(name, postgres_url).get_trials(deepcopy=False)
        except KeyError:  # the worker has not created the study yet
            trials = []
        running = [
            t for t in trials if t.state == optuna.trial.TrialState.RUNNING and 1 <= len(t.intermediate_values) <= 20
        ]
        if running and any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
            break
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()

    before = _load(name, postgres_url).get_trials(deepcopy=False)
    # The trial the kill interrupted (on a slow machine, possibly the one after the trial seen running).
    still_running = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(still_running) == 1  # nobody has noticed yet
    killed = still_running[0]
    completed = {t.number: t.value for t in before if t.state == optuna.trial.TrialState.COMPLETE}
    # The next worker imports while the grace period passes, and asks for a trial only after it.
    retrying = _worker(job, postgres_url, "--seed", "4", "--n-trials", "2", held_until=tmp_path / "go")
    time.sleep(4)  # past the grace period (3 s) since the killed trial's last heartbeat
    (tmp_path / "go").touch()
    _finish(retrying)

    study = _load(name, postgres_url)
    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].state == optuna.trial.TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1
    assert retries[0].params == killed.params and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert {t.number: t.value for t in trials if t.number in completed} == completed  # no completed trial lost
    assert len(trials) == len(before) + 2
    _check_consistent(study)
