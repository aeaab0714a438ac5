"""Many series forecast in batches: the same forecast as all at once, bounded batches, nothing half-written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tsseq.cli import main
from tsseq.config import DataConfig, ModelConfig
from tsseq.data.parquet import read_parquet
from tsseq.pipeline import fit_forecast
from tsseq.streaming_jobs import forecast_in_batches


def _series(n_series: int, lengths, seed: int = 0) -> pd.DataFrame:
    """AR(2) series with their own levels, long layout, ids that sort as generated."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        length = int(lengths(rng))
        noise = rng.standard_normal(length + 50)
        values = np.zeros(length + 50)
        for t in range(2, length + 50):
            values[t] = 0.6 * values[t - 1] - 0.2 * values[t - 2] + noise[t]
        stamps = pd.date_range("2022-01-01", periods=length, freq="h")
        parts.append(pd.DataFrame({"id": f"s{s:04d}", "time": stamps, "y": 20 + s % 7 + values[50:]}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def many_parquet(tmp_path):
    path = tmp_path / "many.parquet"
    pq.write_table(pa.Table.from_pandas(_series(300, lambda rng: 100), preserve_index=False), path, row_group_size=2000)
    return path


def _in_memory(path, model: ModelConfig, horizon: int, quantiles=None) -> pd.DataFrame:
    return fit_forecast(model, read_parquet(path, series_column="id"), horizon, quantiles).reset_index()


def test_streamed_ar_equals_the_in_memory_forecast_bit_for_bit(many_parquet, tmp_path, capsys):
    output = tmp_path / "forecasts.parquet"
    code = main(["forecast", str(many_parquet), "--series-column", "id", "--model", "ar", "--horizon", "48",
                 "--batch-series", "37", "--output", str(output)])
    assert code == 0, capsys.readouterr().err
    assert "of 300 series (9 batches of at most 37)" in capsys.readouterr().err
    streamed = pd.read_parquet(output)
    expected = _in_memory(many_parquet, ModelConfig("ar"), 48)
    assert list(streamed.columns) == ["id", "time", "y"] and len(streamed) == 300 * 48
    pd.testing.assert_frame_equal(streamed, expected, check_exact=True)


@pytest.mark.parametrize(
    "model, quantiles",
    [
        (ModelConfig("naive"), [0.1, 0.9]),
        (ModelConfig("seasonal_naive", {"season_length": 24}), None),
        (ModelConfig("naive2", {"season_length": 24}), None),
        (ModelConfig("drift"), None),
        (ModelConfig("ar", {"max_order": 8}), [0.05, 0.95]),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_streamed_per_series_models_of_different_lengths(tmp_path, model, quantiles):
    path = tmp_path / "ragged.parquet"
    frame = _series(120, lambda rng: rng.integers(60, 200), seed=1)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1500)
    output = tmp_path / "forecasts.csv"
    data = DataConfig(csv=str(path), series_column="id")
    result = forecast_in_batches(data, model, 24, output, batch_series=25, quantiles=quantiles)
    assert (result.series, result.batches, result.rows) == (120, 5, 120 * 24)
    streamed = pd.read_csv(output, parse_dates=["time"])
    expected = _in_memory(path, model, 24, quantiles)
    expected["time"] = expected["time"].astype(streamed["time"].dtype)
    if model.name == "ar":
        # Series of different lengths are zero-padded to the longest of their batch, and numpy's pairwise sums
        # group the terms by that length: the last bits may differ (see tsseq.streaming_jobs).
        pd.testing.assert_frame_equal(streamed, expected, check_exact=False, rtol=1e-12)
    else:
        pd.testing.assert_frame_equal(streamed, expected, check_exact=True)


def test_streamed_csv_output_equals_the_in_memory_csv(many_parquet, tmp_path):
    streamed, whole = tmp_path / "streamed.csv", tmp_path / "whole.csv"
    base = ["--series-column", "id", "--model", "ar", "--horizon", "12"]
    assert main(["forecast", str(many_parquet), *base, "--batch-series", "64", "--output", str(streamed)]) == 0
    csv = tmp_path / "many.csv"
    pd.read_parquet(many_parquet).to_csv(csv, index=False)
    assert main(["forecast", str(csv), *base, "--output", str(whole)]) == 0
    assert streamed.read_text() == whole.read_text()


def test_a_failure_mid_stream_leaves_no_output(tmp_path, capsys):
    frame = _series(50, lambda rng: 100)
    frame.loc[frame["id"] == "s0042", "y"] = frame.loc[frame["id"] == "s0042", "y"].where(lambda y: y.index % 9 != 0)
    path = tmp_path / "gap.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    output = tmp_path / "out" / "forecasts.parquet"
    output.parent.mkdir()
    code = main(["forecast", str(path), "--series-column", "id", "--model", "ar", "--horizon", "6",
                 "--batch-series", "10", "--output", str(output)])
    assert code == 2
    assert "missing value(s); the first is at series 's0042', the row stamped" in capsys.readouterr().err
    assert list(output.parent.iterdir()) == []  # neither the output nor the temporary the first batches went to


def test_an_existing_output_is_kept_when_the_job_fails(many_parquet, tmp_path, monkeypatch):
    import tsseq.pipeline

    output = tmp_path / "forecasts.parquet"
    output.write_bytes(b"the previous forecast")
    real, calls = tsseq.pipeline.fit_forecast, []

    def fails_at_the_third_batch(*args, **kwargs):  # after two batches were written
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stopped")
        return real(*args, **kwargs)

    monkeypatch.setattr(tsseq.pipeline, "fit_forecast", fails_at_the_third_batch)
    data = DataConfig(csv=str(many_parquet), series_column="id")
    with pytest.raises(RuntimeError, match="stopped"):
        forecast_in_batches(data, ModelConfig("naive"), 4, output, batch_series=50)
    assert output.read_bytes() == b"the previous forecast"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["forecasts.parquet", "many.parquet"]


def test_what_cannot_stream_is_refused_with_the_reason(many_parquet, tmp_path, capsys):
    output = tmp_path / "f.parquet"
    assert main(["forecast", str(many_parquet), "--series-column", "id", "--model", "gru", "--horizon", "4",
                 "--batch-series", "10", "--output", str(output)]) == 2
    assert "model 'gru' is not a per-series model" in capsys.readouterr().err
    csv = tmp_path / "many.csv"
    pd.read_parquet(many_parquet).head(200).to_csv(csv, index=False)
    assert main(["forecast", str(csv), "--series-column", "id", "--model", "ar", "--horizon", "4",
                 "--batch-series", "10", "--output", str(output)]) == 2
    assert "tsseq convert" in capsys.readouterr().err
    assert main(["forecast", str(many_parquet), "--model", "ar", "--horizon", "4", "--batch-series", "10",
                 "--output", str(output)]) == 2
    assert "--series-column" in capsys.readouterr().err
    assert not output.exists()
