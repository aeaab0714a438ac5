"""Shared fixtures: the public benchmark data directory and deterministic seeds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tiny models run faster on one thread, and a 2-core CI machine is often shared.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data (ETTh1, M4 Hourly, NAB); skips when it is not on this machine."""
    path = Path(os.environ.get("TSSEQ_DATA_DIR", REPO_ROOT.parent / "shared" / "datasets"))
    if not (path / "ett" / "ETTh1.csv").is_file():
        pytest.skip(f"benchmark data not found under {path}; set TSSEQ_DATA_DIR to the shared datasets folder")
    return path
