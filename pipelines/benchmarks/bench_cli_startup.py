"""Start-up of the ``tsseq`` command: a non-neural forecast end to end, and what it imports.

Issue 13's target: ``tsseq forecast`` with ``naive`` or ``ar`` on a small CSV well under
one second end to end (it took about 3.5 s when the registry imported every model and
with it torch and scikit-learn). Each command runs in a fresh process, as a user runs
it; the figures are medians of ``--runs`` runs, interleaved (one of each command per
round) so that load from other processes spreads over all of them alike:

1. ``python -c pass``: the interpreter alone, the floor;
2. ``python -c "import tsseq.cli"``: the command's own module;
3. ``tsseq forecast small.csv --model naive`` and ``--model ar`` (200 daily rows,
   horizon 12): parse, read, fit, forecast, write;
4. ``python -X importtime`` of the ``ar`` forecast: the imports made at the top level
   (not from within another one) by cumulative milliseconds, the packages by their
   modules' own time summed, and whether torch, scikit-learn, SciPy, statsmodels,
   MLflow or Optuna were imported at all.

This is a benchmark, not a test: it prints figures and asserts nothing. With tsseq
installed (``pip install -e .``)::

    python pipelines/benchmarks/bench_cli_startup.py [--runs 9] [--top 12]

To compare with another checkout (e.g. before a change)::

    PYTHONPATH=/path/to/other/checkout python pipelines/benchmarks/bench_cli_startup.py --module
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "sklearn", "scipy", "statsmodels", "mlflow", "optuna", "matplotlib", "numba")


def write_csv(path: Path, rows: int = 200) -> None:
    """A small daily series (no pandas here: this process stays light too)."""
    import datetime
    import math

    start = datetime.date(2020, 1, 1)
    values = [20 + 10 * math.sin(day / 7) + 0.1 * (day % 5) for day in range(rows)]
    lines = ["time,y"] + [f"{start + datetime.timedelta(days=day)},{value:.4f}" for day, value in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def tsseq_command() -> list[str]:
    """The installed ``tsseq`` executable next to this interpreter, else ``python -m tsseq.cli``."""
    script = Path(sys.executable).with_name("tsseq")
    if script.is_file():
        return [str(script)]
    found = shutil.which("tsseq")
    return [found] if found else [sys.executable, "-m", "tsseq.cli"]


def seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed


def import_profile(command: list[str], cwd: Path) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Of ``python -X importtime COMMAND``: (cumulative ms, module) of the imports made at the top level,
    and (ms, package) of each package's own time summed over all its modules; largest first."""
    result = subprocess.run([sys.executable, "-X", "importtime", *command], cwd=cwd, capture_output=True, text=True)
    top, packages = [], {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, module = line[len("import time:") :].split("|")
        name = module.strip()
        package = name.split(".")[0]
        packages[package] = packages.get(package, 0.0) + int(own) / 1000
        if not module[1:].startswith(" "):  # imported at the top level, not from within another import
            top.append((int(cumulative) / 1000, name))
    return sorted(top, reverse=True), sorted(((ms, name) for name, ms in packages.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (median reported)")
    parser.add_argument("--top", type=int, default=12, help="import-time entries shown")
    parser.add_argument(
        "--module",
        action="store_true",
        help="run `python -m tsseq.cli` (the tsseq found on PYTHONPATH) instead of `tsseq`",
    )
    args = parser.parse_args()

    tsseq = [sys.executable, "-m", "tsseq.cli"] if args.module else tsseq_command()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        write_csv(cwd / "small.csv")
        forecast = ["forecast", "small.csv", "--horizon", "12", "--output", "forecast.csv"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import tsseq.cli'": [sys.executable, "-c", "import tsseq.cli"],
            "tsseq forecast --model naive": [*tsseq, *forecast, "--model", "naive"],
            "tsseq forecast --model ar": [*tsseq, *forecast, "--model", "ar"],
        }
        for command in commands.values():  # warm the file cache (and the .pyc files) first
            seconds(command, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(seconds(command, cwd))
        top, packages = import_profile(["-m", "tsseq.cli", *forecast, "--model", "ar"], cwd)

    print(f"tsseq start-up: {args.runs} runs each, interleaved; {os.cpu_count()} CPUs; command: {' '.join(tsseq)}")
    print(f"{'command':34s} {'median s':>9s} {'best s':>8s}")
    for name, values in times.items():
        print(f"{name:34s} {statistics.median(values):9.3f} {min(values):8.3f}")
    print("\npython -X importtime -m tsseq.cli forecast ... --model ar")
    print("top-level imports, cumulative:")
    for milliseconds, module in top[: args.top]:
        print(f"  {milliseconds:8.1f} ms  {module}")
    print("packages, their modules' own time summed:")
    for milliseconds, package in packages[: args.top]:
        print(f"  {milliseconds:8.1f} ms  {package}")
    imported = {package for _, package in packages}
    heavy = [package for package in HEAVY if package in imported]
    print(f"heavy packages imported: {', '.join(heavy) if heavy else 'none'} (of {', '.join(HEAVY)})")


if __name__ == "__main__":
    main()
