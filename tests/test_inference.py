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


def _global_gru(**params):
    from tsseq import registry

    training = {"epochs": 1, "batch_size": 64, "seed": 0, **params.pop("training", {})}
    return registry.create("gru", input_length=12, horizon=4, hidden_size=4, num_layers=1, training=training, **params)


def _levels(lengths, seed: int = 2) -> pd.DataFrame:
    """A long frame of series at very different levels, so that a window scaled as another series would show."""
    frame = _long(lengths, seed=seed)
    offsets = np.repeat(np.arange(len(lengths)) * 50.0, lengths)
    return frame.assign(y=frame["y"].to_numpy() + offsets)


@pytest.mark.parametrize(
    "params",
    [{}, {"covariates": ["series", "hour"]}, {"training": {"loss": "quantile", "quantiles": [0.1, 0.5, 0.9]}}],
    ids=["plain", "series-code", "quantile"],
)
def test_a_global_model_forecasts_each_fitted_series_as_its_predict_does(params):
    frame = _levels([40, 30, 36, 40, 33])
    model = _global_gru(**params).fit(frame)
    ids = ["s3", "s0", "s4", "s1", "s2"]  # another order than the fit's
    windows = np.stack([frame.loc[series_id, "y"].to_numpy()[-12:, None] for series_id in ids])
    keyword = {}
    if params.get("covariates"):
        keyword["window_starts"] = pd.DatetimeIndex([frame.loc[series_id].index[-12] for series_id in ids])
    predicted = model.predict(4)
    points = model.predict_windows(windows, 4, series=ids, **keyword)
    for n, series_id in enumerate(ids):
        np.testing.assert_allclose(points[n, :, 0], predicted.loc[series_id, "y"].to_numpy(), rtol=0, atol=1e-6)
    if model.probabilistic:
        bands = model.predict_windows(windows, 4, quantiles=[0.1, 0.9], series=ids, **keyword)
        expected = model.predict(4, quantiles=[0.1, 0.9])
        for n, series_id in enumerate(ids):
            np.testing.assert_allclose(
                bands[n, :, 0], expected.loc[series_id, ["y_q0.1", "y_q0.9"]].to_numpy(), rtol=0, atol=1e-6
            )
    # Batch inference on the long frame (any order of its series) is the fitted model's predict().
    levels = [0.1, 0.9] if model.probabilistic else None
    expected = model.predict(4, quantiles=levels) if levels else predicted
    batch = forecast_series(model, frame.loc[ids], 4, levels)
    pd.testing.assert_frame_equal(batch.sort_index(), expected.sort_index(), check_exact=False, rtol=0, atol=1e-6)


def test_a_global_model_refuses_windows_without_their_series_or_of_another_series():
    frame = _levels([40, 30, 36])
    model = _global_gru().fit(frame)
    windows = np.stack([frame.loc[series_id, "y"].to_numpy()[-12:, None] for series_id in ("s0", "s1")])
    with pytest.raises(DataError, match=r"fitted on 3 series.*needs series="):
        model.predict_windows(windows, 4)
    with pytest.raises(DataError, match=r"Series 'x9' is not one the model was fitted on.*only forecast the series"):
        model.predict_windows(windows, 4, series=["s0", "x9"])
    with pytest.raises(DataError, match="series has 1 ids for 2 windows"):
        model.predict_windows(windows, 4, series=["s0"])
    with pytest.raises(DataError, match=r"data.parquet: .*'x9'"):
        forecast_series(model, _levels([20, 20]).rename(index={"s1": "x9"}), 4, source="data.parquet")
    with pytest.raises(DataError, match="fitted on 3 series \\(a long frame\\)"):
        forecast_series(model, frame.loc["s0"], 4)
    # A model fitted on one series ignores the keyword.
    single = _global_gru().fit(frame.loc["s0"])
    np.testing.assert_array_equal(single.predict_windows(windows, 4, series=["s0", "zz"]), single.predict_windows(windows, 4))
