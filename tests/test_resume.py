"""Resuming a fit from its checkpoint: killed at random points, it ends as if never interrupted.

The kill test runs a driver script in a subprocess. The driver imports tsseq once, then
forks one child per attempt (so no attempt pays for the imports) and SIGKILLs it after a
seeded random delay; each child fits with ``resume=True`` and marks on a file when it
starts (from which epoch) and ends each epoch. Checkpoint writes are slowed (50 ms
after the temporary file is written, before it is renamed), so that some kills land in
the middle of one. The last attempt runs to the end; its weights, forecasts and losses
are compared with an uninterrupted fit's, bit for bit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq import registry
from tsseq.engine import Callback
from tsseq.engine.checkpoint import CheckpointMismatchError
from tsseq.errors import ConfigError

KILLS = int(os.environ.get("TSSEQ_RESUME_KILLS", "20"))  # the target: 20 random points

DRIVER = r'''
import json, os, random, signal, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

torch.set_num_threads(1)
import torch._dynamo  # noqa: E402,F401 - torch.optim imports it on first use: 1.5 s in every child otherwise
from tsseq import registry
from tsseq.engine import Callback

registry.load_all()  # import every model now, once: the children start from here (no torch op before a fork)

out, kills, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
index = pd.date_range("2020-01-01", periods=600, freq="h")
rng = np.random.default_rng(0)
y = pd.DataFrame({"load": 10 + np.sin(np.arange(600) / 5) + 0.1 * rng.normal(size=600)}, index=index)


def estimator(checkpoint_dir):
    training = {"epochs": 10, "learning_rate": 0.01, "lr_schedule": "cosine", "early_stopping_patience": 8,
                "device": "cpu", "progress": False, "threads": 1, "seed": 3, "checkpoint_dir": checkpoint_dir}
    return registry.create("lstm", input_length=24, horizon=6, hidden_size=16, num_layers=2, dropout=0.2,
                           training=training)


class Marks(Callback):
    """One line per event, flushed at once: what a SIGKILL cannot take back."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def mark(self, *words):
        self.file.write(" ".join(map(str, (time.monotonic(), *words))) + "\n")

    def on_train_begin(self, trainer):
        self.mark("start", trainer.state.epochs_done)

    def on_epoch_end(self, trainer, epoch, metrics):
        self.mark("epoch", epoch)


def child(name, checkpoint_dir, slow):
    marks = Marks(out / "marks.txt")
    marks.mark("forked")
    if slow:  # a slow disk: the temporary file is written, the rename comes 50 ms later
        import tsseq.engine.checkpoint as checkpoint
        save = checkpoint.torch.save

        def slow_save(state, path):
            marks.mark("write")
            save(state, path)
            time.sleep(0.05)
        checkpoint.torch.save = slow_save
    model = estimator(checkpoint_dir).fit(y, callbacks=[marks], resume=checkpoint_dir is not None)
    folder = out / name
    folder.mkdir(exist_ok=True)  # an attempt killed while writing these left it
    torch.save(model.module_.state_dict(), folder / "weights.pt")
    np.save(folder / "forecast.npy", model.predict(6).to_numpy())
    history = model.history_
    (folder / "history.json").write_text(json.dumps([history.train_loss, history.val_loss, history.best_epoch]))
    marks.mark("done")


def run(name, checkpoint_dir, slow, delay=None):
    """Fork a child; kill it after ``delay`` seconds (None: let it finish): its status, [forked, killed] times."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child(name, checkpoint_dir, slow)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    if delay is not None:
        while time.monotonic() - started < delay:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, None
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        status = os.waitpid(pid, 0)[1]
        return status, [started, killed] if os.WIFSIGNALED(status) else None  # else it ended just before
    return os.waitpid(pid, 0)[1], None


status, _ = run("reference", None, True)
assert status == 0, status
times = {" ".join(line.split()[1:]): float(line.split()[0]) for line in (out / "marks.txt").read_text().splitlines()}
span_s = times["epoch 2"] - times["forked"]  # setup, the first epoch (slower: warming up), two more
(out / "marks.txt").unlink()
randoms = random.Random(seed)
killed = []
for _ in range(kills):  # each attempt dies at a random point of its setup and next three epochs: ~1 epoch a kill
    status, killed_at = run("resumed", str(out / "checkpoints"), True, delay=randoms.uniform(0, span_s))
    if killed_at is not None:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        killed.append(killed_at)
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
status, _ = run("resumed", str(out / "checkpoints"), True)
assert status == 0, status
first_s, epoch_s = times["epoch 0"] - times["forked"], (times["epoch 9"] - times["epoch 1"]) / 8
leftovers = sorted(path.name for path in (out / "checkpoints").iterdir())
report = {"kills": killed, "first_epoch_s": first_s, "epoch_s": epoch_s, "leftovers": leftovers}
(out / "driver.json").write_text(json.dumps(report))
'''


def _events(path: Path) -> list[tuple[float, str, int | None]]:
    rows = []
    for line in path.read_text().splitlines():
        time_s, kind, *rest = line.split()
        rows.append((float(time_s), kind, int(rest[0]) if rest else None))
    return rows


def test_sigkill_at_random_points_loses_at_most_the_running_epoch_and_ends_identical(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(driver), str(tmp_path), str(KILLS), "17"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "driver.json").read_text())

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    weights, again = torch.load(reference / "weights.pt"), torch.load(resumed / "weights.pt")
    assert weights.keys() == again.keys()
    for name in weights:
        assert torch.equal(weights[name], again[name]), name
    assert np.array_equal(np.load(reference / "forecast.npy"), np.load(resumed / "forecast.npy"))
    assert json.loads((reference / "history.json").read_text()) == json.loads((resumed / "history.json").read_text())
    assert report["leftovers"] == ["last.pt"]  # no temporary file of a write cut short

    # Each attempt started from the epochs every earlier one had finished (or one more: killed between the
    # checkpoint and its mark).
    events = _events(tmp_path / "marks.txt")
    finished = 0
    for time_s, kind, value in events:
        if kind == "start":
            assert value in (finished, finished + 1), (value, finished)
            finished = value
        elif kind == "epoch":
            assert value == finished
            finished += 1
    assert finished == 10
    # So a kill loses no finished epoch: only what its attempt did after its last checkpoint (the set-up and the
    # epoch running). Timed for the report only: timing on a shared machine varies.
    lost, mid_write = [], 0
    for forked_at, killed_at in report["kills"]:
        own = [event for event in events if forked_at <= event[0] < killed_at]
        lost.append((killed_at - max([forked_at] + [time_s for time_s, kind, _ in own if kind == "epoch"])))
        mid_write += bool(own) and own[-1][1] == "write"
    assert len(lost) >= min(KILLS, 5)
    print(f"\n{len(lost)} SIGKILLs ({mid_write} during a checkpoint write): identical weights, forecasts and losses; "
          f"no finished epoch lost; time lost per kill (set-up and the epoch running) {np.mean(lost) * 1000:.0f} ms "
          f"on average, at most {max(lost) * 1000:.0f} ms (uninterrupted: {report['epoch_s'] * 1000:.0f} ms an "
          f"epoch, {report['first_epoch_s'] * 1000:.0f} ms for the set-up and first epoch)")


# ----------------------------------------------------------------------------- in process: which checkpoint resumes
def _series(rows: int = 200) -> pd.DataFrame:
    index = pd.date_range("2021-01-01", periods=rows, freq="h")
    return pd.DataFrame({"load": 10 + np.sin(np.arange(rows) / 4)}, index=index)


def _lstm(checkpoint_dir, **changes):
    training = {"epochs": 3, "device": "cpu", "progress": False, "checkpoint_dir": str(checkpoint_dir), "seed": 1}
    params = {"input_length": 12, "horizon": 3, "hidden_size": 4, "num_layers": 1, **changes}
    training.update(params.pop("training", {}))
    return registry.create("lstm", training=training, **params)


class _Interrupt(Callback):
    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt


def test_resume_continues_a_matching_checkpoint_and_refuses_another_jobs(tmp_path):
    y = _series()
    reference = _lstm(tmp_path / "reference").fit(y)
    with pytest.raises(KeyboardInterrupt):
        _lstm(tmp_path).fit(y, callbacks=[_Interrupt()], resume=True)  # no checkpoint yet: starts afresh
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 2

    for other, what in [
        (_lstm(tmp_path, hidden_size=5), "configuration differs (model.hidden_size: 4 in the checkpoint, 5 now)"),
        (_lstm(tmp_path, training={"learning_rate": 0.01}), "training.learning_rate: 0.001 in the checkpoint, 0.01 now"),
    ]:
        with pytest.raises(CheckpointMismatchError, match=re.escape(what)):
            other.fit(y, resume=True)
    with pytest.raises(CheckpointMismatchError, match="its data differs") as refused:
        _lstm(tmp_path).fit(y.iloc[1:], resume=True)
    assert "configuration" not in str(refused.value) and "resume=False to start over" in str(refused.value)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 2  # refused: left as it was

    # Settings that do not change the result may differ (progress, threads, device, the folder).
    resumed = _lstm(tmp_path, training={"progress": None, "threads": 1}).fit(y, resume=True)
    assert resumed.history_.epochs == 3 and resumed.history_.train_loss == reference.history_.train_loss
    assert np.array_equal(resumed.predict(3).to_numpy(), reference.predict(3).to_numpy())

    # A finished job resumes to the same fitted model, without training again.
    again = _lstm(tmp_path).fit(y, callbacks=[_Interrupt()], resume=True)  # the interrupting epoch never comes
    assert np.array_equal(again.predict(3).to_numpy(), reference.predict(3).to_numpy())


def test_starting_over_says_it_replaces_the_checkpoint(tmp_path):
    y = _series()
    _lstm(tmp_path, training={"epochs": 1}).fit(y)
    with pytest.warns(UserWarning, match=r"Starting over \(resume=False\): the checkpoint .*last.pt' of an earlier run"):
        _lstm(tmp_path, hidden_size=5).fit(y, resume=False)
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 3 and checkpoint["job"]["settings"]["model.hidden_size"] == "5"


def test_resume_needs_a_checkpoint_dir_and_a_boolean(tmp_path):
    estimator = registry.create("lstm", input_length=12, horizon=3, training={"device": "cpu"})
    with pytest.raises(ConfigError, match="resume=True needs training.checkpoint_dir"):
        estimator.fit(_series(), resume=True)
    with pytest.raises(ConfigError, match="'resume' parameter must be True or False. Got 'yes'"):
        estimator.fit(_series(), resume="yes")


def test_a_write_cut_short_leaves_the_previous_checkpoint_and_its_temporary_is_removed(tmp_path):
    y = _series()
    _lstm(tmp_path, training={"epochs": 1}).fit(y)
    before = (tmp_path / "last.pt").read_bytes()
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(before[: len(before) // 2])  # what a SIGKILL mid-write leaves
    with pytest.raises(CheckpointMismatchError):  # epochs differ: refused, the checkpoint untouched
        _lstm(tmp_path).fit(y, resume=True)
    assert (tmp_path / "last.pt").read_bytes() == before
    _lstm(tmp_path, training={"epochs": 1}).fit(y, resume=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.pt"]
