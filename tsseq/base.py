"""The estimator contract every tsseq forecaster follows (scikit-learn style).

``fit`` takes pandas data with a DatetimeIndex and returns ``self``; ``predict(horizon)``
returns the next ``horizon`` rows in the same layout; ``predict_windows`` forecasts
many input windows at once (backtests, published protocols); ``score`` is the negative
MSE so that greater is better, as in scikit-learn's scorers. ``get_params``,
``set_params`` and ``clone`` come from :class:`sklearn.base.BaseEstimator`, so
constructors take keyword arguments and only store them.

Two layouts are accepted:

* wide: a DataFrame indexed by a DatetimeIndex, one column per channel (a Series is
  one channel);
* long: a DataFrame indexed by a MultiIndex ``(series id, timestamp)``, the same
  channel columns for every series; the series may have different lengths.

Subclasses implement three array methods and never see pandas:

* ``_fit(series, validation)`` with ``series`` a list of float64 arrays of shape
  ``(T_i, C)`` and ``validation`` None or a list like it;
* ``_predict(horizon)`` returning a list of ``(horizon, C)`` arrays, one per series;
* ``_predict_windows(inputs, horizon)`` mapping ``(N, L, C)`` to ``(N, horizon, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tsseq.errors import ConfigError, DataError


@dataclass(frozen=True)
class SeriesLayout:
    """What is needed to turn per-series arrays back into the caller's pandas layout."""

    columns: tuple[str, ...]
    freq: str
    last_timestamps: tuple[pd.Timestamp, ...]
    series_ids: tuple[object, ...] | None  # None for the wide layout (one series)
    index_names: tuple[str | None, ...]

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    def future_index(self, series: int, horizon: int) -> pd.DatetimeIndex:
        start = self.last_timestamps[series] + pd.tseries.frequencies.to_offset(self.freq)
        return pd.date_range(start, periods=horizon, freq=self.freq, name=self.index_names[-1])

    def to_frame(self, forecasts: list[np.ndarray]) -> pd.DataFrame:
        """Per-series ``(H, C)`` arrays -> a frame in the layout the model was fitted on."""
        if self.series_ids is None:
            return pd.DataFrame(forecasts[0], index=self.future_index(0, len(forecasts[0])), columns=list(self.columns))
        lengths = [len(values) for values in forecasts]
        series = np.repeat(np.asarray(self.series_ids, dtype=object), lengths)
        timestamps = np.concatenate([self.future_index(i, n).to_numpy() for i, n in enumerate(lengths)])
        index = pd.MultiIndex.from_arrays([series, timestamps], names=list(self.index_names))
        return pd.DataFrame(np.concatenate(forecasts), index=index, columns=list(self.columns))


def split_frame(y: pd.DataFrame | pd.Series) -> tuple[list[np.ndarray], SeriesLayout]:
    """A validated wide or long frame -> (list of ``(T_i, C)`` float64 arrays, layout)."""
    from tsseq.data.checks import check_series, series_frequency

    frame = check_series(y.to_frame() if isinstance(y, pd.Series) else y, missing="mask")
    freq = series_frequency(frame)
    columns = tuple(str(column) for column in frame.columns)
    if isinstance(frame.index, pd.MultiIndex):
        series_ids, arrays, last = [], [], []
        level = frame.index.names[0]
        for series_id, group in frame.groupby(level=0, sort=False):
            series_ids.append(series_id)
            arrays.append(group.to_numpy(dtype=np.float64))
            last.append(group.index.get_level_values(-1)[-1])
        layout = SeriesLayout(columns, freq, tuple(last), tuple(series_ids), (level, frame.index.names[-1]))
        return arrays, layout
    layout = SeriesLayout(columns, freq, (frame.index[-1],), None, (frame.index.name,))
    return [frame.to_numpy(dtype=np.float64)], layout


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Validate an integer parameter, naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"The {name!r} parameter must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


class Forecaster(BaseEstimator):
    """Base class of tsseq forecasters; see the module docstring for the contract."""

    def fit(self, y: pd.DataFrame | pd.Series, validation: pd.DataFrame | pd.Series | None = None) -> "Forecaster":
        """Fit on ``y``; ``validation`` (same layout and columns) serves models that stop early.

        Closed-form models (the baselines) have nothing to tune on it and ignore it.
        """
        series, layout = split_frame(y)
        validation_series = None if validation is None else split_frame(validation)[0]
        self._fit(series, validation_series)
        self.layout_ = layout
        self.n_channels_ = layout.n_channels
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        forecasts = self._predict(horizon)
        return self.layout_.to_frame(forecasts)

    def predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast ``horizon`` steps after each of ``N`` input windows ``(N, L, C)``."""
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 3 or inputs.shape[2] != self.n_channels_:
            raise DataError(
                f"predict_windows expects inputs of shape (N, L, {self.n_channels_}) "
                f"(windows, input length, channels). Got shape {inputs.shape}."
            )
        return self._predict_windows(inputs, horizon)

    def score(self, y: pd.DataFrame | pd.Series) -> float:
        """Negative mean squared error of a forecast of the rows of ``y`` (greater is better).

        ``y`` holds the rows that follow the training data, in the same layout.
        """
        check_is_fitted(self, "layout_")
        truth = y.to_frame() if isinstance(y, pd.Series) else y
        if isinstance(truth.index, pd.MultiIndex):
            horizon = int(truth.groupby(level=0, sort=False).size().max())
        else:
            horizon = len(truth)
        forecast = self.predict(horizon).reindex(truth.index)
        if forecast.isna().to_numpy().any():
            raise DataError(
                "score() expects the rows right after the training data, with the same timestamps "
                "and series; some rows of y are not among the forecast timestamps."
            )
        error = truth.to_numpy(dtype=np.float64) - forecast[list(truth.columns)].to_numpy(dtype=np.float64)
        return -float(np.nanmean(error**2))

    # Subclasses implement these three on arrays.
    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        raise NotImplementedError

    def _predict(self, horizon: int) -> list[np.ndarray]:
        raise NotImplementedError

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError
