"""The package itself: a light import and a lazily loaded public API."""

from __future__ import annotations

import subprocess
import sys

import tsseq

HEAVY = ("torch", "mlflow", "optuna", "sklearn", "statsmodels", "pandas", "matplotlib", "numba")


def test_import_tsseq_loads_no_heavy_dependency():
    code = "import sys, tsseq; print(','.join(m for m in " + repr(HEAVY) + " if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_public_names_resolve():
    for name in tsseq.__all__:
        assert getattr(tsseq, name) is not None
    assert tsseq.run_pipeline.__name__ == "run_file" and tsseq.load_model.__module__ == "tsseq.persistence"
