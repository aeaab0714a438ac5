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
    # Any case, as the catalog reads names (tsseq evaluate etth1 failed after loading the data).
    again = evaluate_ett(_RepeatLast(), dataset="etth1", frame=_linear_ett_frame(), input_length=48, horizon=horizon)
    assert again.dataset == "ETTh1" and again.mse == result.mse


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


class _GaussianAroundLast(_RepeatLast):
    """Test stand-in for a probabilistic model: quantiles of N(last value, sigma^2) at every step."""

    def __init__(self, *, sigma: float = 1.0) -> None:
        self.sigma = sigma

    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        from scipy.stats import norm

        return [point[:, :, None] + self.sigma * norm.ppf(levels) for point in self._predict(horizon)]

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        return self._predict_windows(inputs, horizon)[..., None] + self.sigma * norm.ppf(levels)


def test_m4_interval_of_a_wide_interval_covers_everything() -> None:
    from scipy.stats import norm

    from tsseq.metrics import seasonal_naive_scale

    pytest.importorskip("tsseq.baselines")
    train, test = _m4_frames()
    sigma = 1e4
    result = evaluate_m4(_GaussianAroundLast(sigma=sigma), train=train, test=test, interval=0.95)
    assert result.coverage == 1.0
    assert result.acd == pytest.approx(0.05)
    # Nothing outside: MSIS is the width over each series' scale, averaged over series.
    width = 2 * sigma * norm.ppf(0.975)
    scales = [float(seasonal_naive_scale(train.loc[key].to_numpy(), 24)[0]) for key in ("H1", "H2")]
    assert result.msis == pytest.approx(np.mean([width / scale for scale in scales]), rel=1e-9)
    # the point figures are those of the point forecast
    point = evaluate_m4(_RepeatLast(), train=train, test=test)
    assert (result.smape, result.mase, result.owa) == (point.smape, point.mase, point.owa)
    assert point.msis is None and "msis" not in point.to_dict()
    scores = result.to_dict()
    assert (scores["interval"], scores["msis"], scores["coverage"], scores["acd"]) == (
        0.95,
        result.msis,
        1.0,
        result.acd,
    )


def _yearly_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two M4-like yearly series (horizon 6, m = 1) small enough to score by hand."""
    values = {
        "Y1": ([1.0, 2.0, 4.0, 7.0], [7.0, 8.0, 6.0, 10.0, 7.0, 5.5]),
        "Y2": ([10.0, 14.0, 10.0, 14.0], [14.0] * 5 + [16.0]),
    }
    parts = {"train": [], "test": []}
    for key, (history, future) in values.items():
        years = pd.date_range("2000-01-01", periods=len(history) + len(future), freq="YS")
        for part, rows, stamps in (("train", history, years[: len(history)]), ("test", future, years[len(history) :])):
            index = pd.MultiIndex.from_arrays([[key] * len(rows), stamps], names=["series", "timestamp"])
            parts[part].append(pd.DataFrame({"value": rows}, index=index))
    return pd.concat(parts["train"]), pd.concat(parts["test"])


def test_m4_interval_known_answer_on_two_yearly_series() -> None:
    from scipy.stats import norm

    pytest.importorskip("tsseq.baselines")
    train, test = _yearly_frames()
    # 95% bounds at last value -+ 1: Y1 [6, 8], Y2 [13, 15]; 2 / alpha = 40.
    model = _GaussianAroundLast(sigma=1 / norm.ppf(0.975))
    result = evaluate_m4(model, frequency="Yearly", train=train, test=test, interval=0.95)
    # Y1 (scale mean(1, 2, 3) = 2): widths 2 each, 10 above by 2 -> +80, 5.5 below by 0.5 -> +20:
    #    (12 + 100) / 6 / 2.  Y2 (scale 4): 16 above by 1 -> +40: (12 + 40) / 6 / 4.
    assert result.msis == pytest.approx(((12 + 100) / 6 / 2 + (12 + 40) / 6 / 4) / 2, rel=1e-9)
    assert result.coverage == pytest.approx(9 / 12)  # 4 of 6 and 5 of 6 inside
    assert result.acd == pytest.approx(0.2)
    assert (result.dataset, result.horizon, result.season_length, result.n_series) == ("m4-yearly", 6, 1, 2)


def test_m4_interval_errors() -> None:
    train, test = _m4_frames()
    with pytest.raises(ConfigError, match=r"_RepeatLast gives point forecasts only, not the quantiles that evaluate_m4\(interval=0.95\) scores"):
        evaluate_m4(_RepeatLast(), train=train, test=test, interval=0.95)
    with pytest.raises(ConfigError, match=r"'interval' parameter must be a number in \(0, 1\).*Got 95"):
        evaluate_m4(_GaussianAroundLast(), train=train, test=test, interval=95)


def test_ett_crps_and_coverage_known_answer_on_a_line() -> None:
    from scipy.stats import norm

    from tsseq.protocols import ETT_CRPS_LEVELS

    horizon = 24
    slope = 1.0 / np.arange(8640.0).std()  # standardised rise per row, as above
    # 90% half-width 10.5 steps of the line: steps 1..10 inside; 80% half-width 8.2 steps: 1..8.
    sigma = 10.5 * slope / norm.ppf(0.95)
    model = _GaussianAroundLast(sigma=sigma)
    result = evaluate_ett(model, frame=_linear_ett_frame(), input_length=48, horizon=horizon, crps=True)
    assert result.coverage_90 == pytest.approx(10 / 24)
    assert result.coverage_80 == pytest.approx(8 / 24)
    # At step h the truth is h * slope above the median; CRPS is twice the mean pinball loss.
    levels = np.arange(1, 20) / 20
    np.testing.assert_allclose(ETT_CRPS_LEVELS, levels)
    error = slope * np.arange(1, horizon + 1)[:, None] - sigma * norm.ppf(levels)  # (H, Q)
    expected = 2 * np.maximum(levels * error, (levels - 1) * error).mean()
    assert result.crps == pytest.approx(expected, rel=1e-9)
    assert result.mse == pytest.approx(slope**2 * np.mean(np.arange(1, horizon + 1) ** 2), rel=1e-10)
    scores = result.to_dict()
    assert scores["crps_levels"] == "0.05:0.95:0.05" and scores["crps"] == result.crps


def test_ett_crps_does_not_depend_on_the_batch_size() -> None:
    frame = _linear_ett_frame()
    frame["OT"] = np.sin(np.arange(len(frame)) / 7.0)
    small = evaluate_ett(_GaussianAroundLast(sigma=0.3), frame=frame, horizon=24, batch_size=7, crps=True)
    large = evaluate_ett(_GaussianAroundLast(sigma=0.3), frame=frame, horizon=24, batch_size=5000, crps=True)
    for name in ("crps", "coverage_80", "coverage_90"):
        assert getattr(small, name) == pytest.approx(getattr(large, name), rel=1e-12)
    assert 0 < small.coverage_80 < small.coverage_90 < 1


def test_ett_crps_needs_a_probabilistic_model() -> None:
    with pytest.raises(ConfigError, match=r"_RepeatLast gives point forecasts only, not the quantiles that evaluate_ett\(crps=True\)"):
        evaluate_ett(_RepeatLast(), frame=_linear_ett_frame(), crps=True)
    result = evaluate_ett(_GaussianAroundLast(), frame=_linear_ett_frame(), setting="S", horizon=24)
    assert result.crps is None and "crps" not in result.to_dict()


@pytest.mark.shared_data
def test_published_m4_hourly_naive_interval_figures(data_dir) -> None:
    from tsseq.baselines import Naive

    if not Naive().probabilistic:
        pytest.skip("Naive gives no intervals in this build")
    result = evaluate_m4(Naive(), frequency="Hourly", data_dir=data_dir, interval=0.95)
    print(f"M4 Hourly Naive 95%: MSIS {result.msis:.4f} coverage {result.coverage:.4f} ACD {result.acd:.4f}")
    # The competition's results file: Naive MSIS 71.245, ACD 0.011.
    assert (round(result.msis, 3), round(result.acd, 3)) == (71.245, 0.011)
