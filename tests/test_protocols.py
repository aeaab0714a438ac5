"""The ETT and M4 protocols: window counts, known answers, and the published figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.base import Forecaster
from tsseq.errors import ConfigError, DataError
from tsseq.protocols import EttResult, M4Result, evaluate_ett, evaluate_m4


class _RepeatLast(Forecaster):
    """Test stand-in: repeats the last input value; remembers what it was fitted on."""

    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        self.train_ = series

    def _predict(self, horizon: int) -> list[np.ndarray]:
        return [np.repeat(values[-1:], horizon, axis=0) for values in self.train_]

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        return np.repeat(inputs[:, -1:, :], horizon, axis=1)


def _linear_ett_frame(rows: int = 14400) -> pd.DataFrame:
    """Two channels that are both linear in time, so standardised they are the same line."""
    index = pd.date_range("2016-07-01", periods=rows, freq="h", name="date")
    time = np.arange(rows, dtype=np.float64)
    return pd.DataFrame({"HUFL": 2.0 * time + 5.0, "OT": time}, index=index)


def test_ett_known_answer_on_a_line() -> None:
    forecaster = _RepeatLast()
    horizon = 24
    result = evaluate_ett(forecaster, frame=_linear_ett_frame(), input_length=48, horizon=horizon)
    # Standardised, the line rises by a = 1 / std(0..8639) per row, so repeating the
    # last value is off by h * a at step h: MSE = a^2 mean(h^2), MAE = a mean(h).
    slope = 1.0 / np.arange(8640.0).std()
    steps = np.arange(1, horizon + 1)
    assert result.mse == pytest.approx(slope**2 * np.mean(steps**2), rel=1e-10)
    assert result.mae == pytest.approx(slope * np.mean(steps), rel=1e-10)
    # fitted on the standardised train rows [0, 8640) only
    (train,) = forecaster.train_
    assert train.shape == (8640, 2)
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-10)
    assert forecaster.layout_.last_timestamps[0] == pd.Timestamp("2016-07-01") + pd.Timedelta(hours=8639)


@pytest.mark.parametrize("horizon", [24, 96, 192, 336, 720])
def test_ett_window_counts(horizon: int) -> None:
    frame = _linear_ett_frame()
    for input_length in (96, 336):
        result = evaluate_ett(_RepeatLast(), frame=frame, setting="S", input_length=input_length, horizon=horizon)
        assert result.n_windows == 2881 - horizon
    dropped = evaluate_ett(_RepeatLast(), frame=frame, setting="S", horizon=horizon, drop_last=True)
    assert dropped.n_windows == 32 * ((2881 - horizon) // 32) and dropped.drop_last


def test_ett_result_records_its_configuration() -> None:
    result = evaluate_ett(_RepeatLast(), frame=_linear_ett_frame(), setting="S", input_length=24, horizon=48)
    assert isinstance(result, EttResult)
    assert result.to_dict() == {
        "protocol": "ett",
        "model": "_RepeatLast",
        "dataset": "ETTh1",
        "setting": "S",
        "input_length": 24,
        "horizon": 48,
        "n_windows": 2881 - 48,
        "drop_last": False,
        "mse": result.mse,
        "mae": result.mae,
    }


def test_ett_figures_do_not_depend_on_the_batch_size() -> None:
    frame = _linear_ett_frame()
    frame["OT"] = np.sin(np.arange(len(frame)) / 7.0)  # errors that differ window by window
    small = evaluate_ett(_RepeatLast(), frame=frame, horizon=24, batch_size=7)
    large = evaluate_ett(_RepeatLast(), frame=frame, horizon=24, batch_size=5000)
    assert small.mse == pytest.approx(large.mse, rel=1e-12)
    assert small.mae == pytest.approx(large.mae, rel=1e-12)


def test_ett_errors() -> None:
    frame = _linear_ett_frame()
    with pytest.raises(ConfigError, match="'setting' parameter must be 'M' or 'S'. Got 'MS'"):
        evaluate_ett(_RepeatLast(), frame=frame, setting="MS")
    with pytest.raises(ConfigError, match="Unknown ETT dataset 'ETTh3'. Did you mean"):
        evaluate_ett(_RepeatLast(), frame=frame, dataset="ETTh3")
    with pytest.raises(DataError, match="forecasts the 'OT' column"):
        evaluate_ett(_RepeatLast(), frame=frame[["HUFL"]], setting="S")
    with pytest.raises(DataError, match="drop_last leaves no window: 2857 test windows < batch_size=4000"):
        evaluate_ett(_RepeatLast(), frame=frame, horizon=24, drop_last=True, batch_size=4000)
    with pytest.raises(DataError, match="the data has 14000"):
        evaluate_ett(_RepeatLast(), frame=frame.iloc[:14000])


def _m4_frames(horizon: int = 48) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two hourly series with a daily cycle; the test part continues each series."""
    rng = np.random.default_rng(0)
    train_parts, test_parts = [], []
    for series_id, rows in (("H1", 24 * 10), ("H2", 24 * 7 + 5)):
        time = np.arange(rows + horizon)
        values = 100.0 + 20.0 * np.sin(2 * np.pi * time / 24) + rng.normal(size=len(time))
        index = pd.MultiIndex.from_arrays(
            [[series_id] * len(time), pd.date_range("2000-01-01", periods=len(time), freq="h")],
            names=["series", "timestamp"],
        )
        frame = pd.DataFrame({"value": values}, index=index)
        train_parts.append(frame.iloc[:rows])
        test_parts.append(frame.iloc[rows:])
    return pd.concat(train_parts), pd.concat(test_parts)


def test_m4_perfect_forecast_and_naive2_reference() -> None:
    pytest.importorskip("tsseq.baselines")
    train, test = _m4_frames()

    class Oracle(_RepeatLast):
        def _predict(self, horizon: int) -> list[np.ndarray]:
            return [group.to_numpy() for _, group in test.groupby(level=0, sort=False)]

    result = evaluate_m4(Oracle(), train=train, test=test)
    assert isinstance(result, M4Result)
    assert (result.smape, result.mase, result.owa) == (0.0, 0.0, 0.0)
    assert (result.n_series, result.horizon, result.season_length, result.dataset) == (2, 48, 24, "m4-hourly")
    assert result.smape_naive2 > 0 and result.mase_naive2 > 0
    assert result.to_dict()["protocol"] == "m4"


def test_m4_matches_the_metrics_series_by_series() -> None:
    from tsseq.metrics import mase, smape

    pytest.importorskip("tsseq.baselines")
    train, test = _m4_frames()
    result = evaluate_m4(_RepeatLast(), train=train, test=test)
    smapes, mases = [], []
    for series_id in ("H1", "H2"):
        history, truth = train.loc[series_id].to_numpy(), test.loc[series_id].to_numpy()
        forecast = np.repeat(history[-1:], 48, axis=0)
        smapes.append(smape(truth, forecast))
        mases.append(mase(truth, forecast, insample=history, season_length=24))
    assert result.smape == pytest.approx(np.mean(smapes), rel=1e-12)
    assert result.mase == pytest.approx(np.mean(mases), rel=1e-12)


def test_m4_errors() -> None:
    train, test = _m4_frames()
    with pytest.raises(ConfigError, match="Unknown M4 frequency 'hourly'. Did you mean 'Hourly'"):
        evaluate_m4(_RepeatLast(), frequency="hourly", train=train, test=test)
    with pytest.raises(ConfigError, match="Pass both train= and test="):
        evaluate_m4(_RepeatLast(), train=train)
    pytest.importorskip("tsseq.baselines")
    with pytest.raises(DataError, match="must have 48 rows per series; series 'H1' has 47"):
        evaluate_m4(_RepeatLast(), train=train, test=test.drop(test.index[0]))
    with pytest.raises(DataError, match="no rows for 1 series, e.g. 'H2'"):
        evaluate_m4(_RepeatLast(), train=train, test=test.loc[["H1"]])


@pytest.mark.shared_data
def test_published_ett_naive_figures(data_dir) -> None:
    from tsseq.baselines import Naive

    full = evaluate_ett(Naive(), dataset="ETTh1", setting="M", input_length=96, horizon=96, data_dir=data_dir)
    dropped = evaluate_ett(Naive(), setting="M", horizon=96, drop_last=True, data_dir=data_dir)
    print(f"ETTh1 M H=96 naive: all {full.n_windows} windows MSE {full.mse:.6f} MAE {full.mae:.6f}; "
          f"drop_last {dropped.n_windows} windows MSE {dropped.mse:.6f} MAE {dropped.mae:.6f}")
    assert (full.n_windows, round(full.mse, 4), round(full.mae, 4)) == (2785, 1.2944, 0.7132)
    assert (dropped.n_windows, round(dropped.mse, 4), round(dropped.mae, 4)) == (2784, 1.2946, 0.7133)


@pytest.mark.shared_data
def test_ett_window_counts_on_the_data(data_dir) -> None:
    from tsseq.baselines import Naive

    for horizon in (24, 96, 192, 336, 720):
        result = evaluate_ett(Naive(), setting="S", horizon=horizon, data_dir=data_dir)
        assert result.n_windows == 2881 - horizon


@pytest.mark.shared_data
def test_published_m4_hourly_figures(data_dir) -> None:
    from tsseq.baselines import Naive2, SeasonalNaive

    naive2 = evaluate_m4(Naive2(season_length=24), frequency="Hourly", data_dir=data_dir)
    seasonal = evaluate_m4(SeasonalNaive(season_length=24), data_dir=data_dir)
    print(f"M4 Hourly: Naive2 sMAPE {naive2.smape:.4f} MASE {naive2.mase:.4f} OWA {naive2.owa:.4f}; "
          f"seasonal naive sMAPE {seasonal.smape:.4f} MASE {seasonal.mase:.4f} OWA {seasonal.owa:.4f}")
    assert naive2.n_series == 414
    assert (round(naive2.smape, 3), round(naive2.mase, 3), naive2.owa) == (18.383, 2.395, 1.0)
    assert (round(seasonal.smape, 3), round(seasonal.mase, 3)) == (13.912, 1.193)
