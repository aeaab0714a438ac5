"""Fixtures of the tracking tests: one SQLite store, no run left active."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory) -> str:
    """A SQLite tracking store for the session (creating one runs MLflow's migrations: seconds).

    Tests keep apart by experiment names of their own.
    """
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _no_active_run():
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def hourly() -> pd.DataFrame:
    """300 hourly rows of a noisy seasonal series with a trend (one channel)."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2021-01-01", periods=300, freq="h", name="time")
    values = np.sin(np.arange(300) * 2 * np.pi / 24) + 0.01 * np.arange(300) + 0.1 * rng.standard_normal(300)
    return pd.DataFrame({"load": values}, index=index)
