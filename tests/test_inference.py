"""Batch inference of a fitted model on given series: each series from its own last rows, refusals named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.baselines import AR
from tsseq.errors import DataError
from tsseq.inference import forecast_series


def _long(lengths, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for number, length in enumerate(lengths):
        index = pd.MultiIndex.from_arrays(
            [[f"s{number}"] * length, pd.date_range("2024-01-01", periods=length, freq="h")], names=["id", "time"]
        )
        frames.append(pd.DataFrame({"y": 10 + rng.standard_normal(length).cumsum() * 0.1}, index=index))
    return pd.concat(frames)


def test_each_series_is_forecast_from_its_own_rows_whatever_the_batch():
    model = AR(max_order=4).fit(_long([300]).droplevel(0))
    history = _long([120, 80, 120], seed=1)
    together = forecast_series(model, history, 6, [0.1, 0.9])
    assert list(together.columns) == ["y", "y_q0.1", "y_q0.9"] and together.index.names == ["id", "time"]
    for series_id in ("s0", "s1", "s2"):
        alone = forecast_series(model, history.loc[[series_id]], 6, [0.1, 0.9])
        pd.testing.assert_frame_equal(together.loc[[series_id]], alone, check_exact=True)
    assert together.loc["s1"].index[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=80)


def test_what_the_model_cannot_read_is_refused_by_name():
    model = AR(max_order=4).fit(_long([300]).droplevel(0))
    with pytest.raises(DataError, match=r"data.parquet: the model forecasts the column\(s\) \['y'\]; \['y'\] are not"):
        forecast_series(model, _long([50]).rename(columns={"y": "z"}), 6, source="data.parquet")
    daily = _long([50]).droplevel(0).asfreq("h").resample("D").mean()
    with pytest.raises(DataError, match="the data's frequency is 'D'; the model was fitted on 'h' data"):
        forecast_series(model, daily, 6)
