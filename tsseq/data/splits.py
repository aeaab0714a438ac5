"""Temporal train / validation / test splits and rolling-origin backtests.

Splits never shuffle: train comes first, then validation, then test. The parts are
``iloc`` views of one series, a wide DataFrame ``(T, C)`` or an array ``(T, C)``
(split many series one by one).

``input_length`` (``L``) lets the validation and test parts start ``L`` rows early,
so that their first forecast has a full input window; only the rows after those
``L`` are ever targets. This is how the published ETT protocol builds its loaders:
with train ``[0, a)``, validation ``[a - L, b)`` and test ``[b - L, c)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

__all__ = [
    "PRESETS",
    "Split",
    "rolling_origin",
    "split_by_dates",
    "split_by_fraction",
    "split_by_rows",
    "split_preset",
]

SeriesData = pd.DataFrame | np.ndarray

# Row counts (train, validation, test) of the standard ETT split (Zhou et al., Informer,
# 2021): 12 / 4 / 4 months of hourly rows, or four times as many 15-minute rows.
PRESETS: dict[str, tuple[int, int, int]] = {
    "ETTh1": (8640, 2880, 2880),
    "ETTh2": (8640, 2880, 2880),
    "ETTm1": (34560, 11520, 11520),
    "ETTm2": (34560, 11520, 11520),
}


@dataclass(frozen=True)
class Split:
    """Three consecutive parts of one series (``iloc`` views, not copies)."""

    train: SeriesData
    validation: SeriesData
    test: SeriesData


def _check_single_series(data: SeriesData) -> int:
    """Return the number of rows of a wide frame or array; reject long frames."""
    if isinstance(data, pd.DataFrame):
        if isinstance(data.index, pd.MultiIndex):
            raise DataError(
                "Temporal splits take one series (a wide frame); got a long frame with a MultiIndex. "
                "Split each series separately, e.g. with frame.groupby(level=0)."
            )
        return len(data)
    if isinstance(data, np.ndarray) and data.ndim >= 1:
        return len(data)
    raise DataError(f"Temporal splits take a wide pandas DataFrame or a numpy array. Got {type(data).__name__}.")


def _rows(data: SeriesData, start: int, stop: int) -> SeriesData:
    return data.iloc[start:stop] if isinstance(data, pd.DataFrame) else data[start:stop]


def split_by_rows(
    data: SeriesData, train: int, validation: int, test: int | None = None, *, input_length: int = 0
) -> Split:
    """Split by row counts: train ``[0, a)``, validation ``[a - L, a + v)``, test ``[a + v - L, a + v + t)``.

    Parameters
    ----------
    data : wide DataFrame or array of shape ``(T, C)``
        One series.
    train, validation : int
        Rows of the train part and validation targets (``validation`` may be 0).
    test : int, optional
        Rows of test targets; default all rows after validation. Rows after
        ``train + validation + test`` are left out (ETT uses 14,400 of 17,420 rows).
    input_length : int
        ``L``: validation and test parts start ``L`` rows early (lookback window).

    Returns
    -------
    Split
    """
    n_rows = _check_single_series(data)
    train = check_positive_int(train, "train")
    validation = check_positive_int(validation, "validation", minimum=0)
    input_length = check_positive_int(input_length, "input_length", minimum=0)
    test = n_rows - train - validation if test is None else check_positive_int(test, "test")
    if test < 1 or train + validation + test > n_rows:
        raise DataError(
            f"The split needs train + validation + test = {train} + {validation} + {max(test, 1)} rows; "
            f"the data has {n_rows}."
        )
    if input_length > train:
        raise DataError(
            f"input_length={input_length} is longer than the {train} train rows, so the validation inputs "
            "would start before the first row."
        )
    test_start = train + validation
    return Split(
        train=_rows(data, 0, train),
        validation=_rows(data, train - input_length, test_start),
        test=_rows(data, test_start - input_length, test_start + test),
    )


def held_out_rows(fraction: float, rows: int) -> int:
    """The validation rows an estimator holds out of ``rows`` fitting rows: ``fraction`` of them, rounded."""
    return int(round(fraction * rows))


def rows_holding_out(fraction: float, count: int) -> int:
    """The fewest fitting rows of which :func:`held_out_rows` holds out ``count``."""
    rows = max(1, int((count - 0.5) / fraction) - 1)
    while held_out_rows(fraction, rows) < count:
        rows += 1
    return rows


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"The {name!r} parameter must be a fraction in (0, 1). Got {value!r} instead.")
    return float(value)


def split_by_fraction(data: SeriesData, train: float = 0.7, test: float = 0.2, *, input_length: int = 0) -> Split:
    """Split by fractions of the rows; validation gets the rows in between.

    ``floor(train * T)`` train rows and ``floor(test * T)`` test rows, the rest for
    validation, as the reference code of Informer / Autoformer splits its "custom"
    data sets (weather, electricity, traffic: 0.7 / 0.1 / 0.2).
    """
    n_rows = _check_single_series(data)
    train_rows = int(_check_fraction(train, "train") * n_rows)
    test_rows = int(_check_fraction(test, "test") * n_rows)
    if train + test >= 1:
        raise ConfigError(f"train + test must be < 1 so that validation gets rows. Got {train} + {test}.")
    if train_rows < 1 or test_rows < 1:
        raise DataError(f"{n_rows} rows are too few for train={train}, test={test}: a part would be empty.")
    return split_by_rows(data, train_rows, n_rows - train_rows - test_rows, test_rows, input_length=input_length)


def split_by_dates(
    data: pd.DataFrame,
    validation_start: str | pd.Timestamp,
    test_start: str | pd.Timestamp,
    end: str | pd.Timestamp | None = None,
    *,
    input_length: int = 0,
) -> Split:
    """Split a wide frame at dates: train before ``validation_start``, validation before ``test_start``.

    The test part runs from ``test_start`` up to ``end`` (excluded; default: to the
    last row). Dates are compared with the frame's DatetimeIndex, which must be sorted.
    """
    _check_single_series(data)
    if not isinstance(data, pd.DataFrame) or not isinstance(data.index, pd.DatetimeIndex):
        raise DataError("split_by_dates needs a wide DataFrame indexed by a DatetimeIndex.")
    if not data.index.is_monotonic_increasing:
        raise DataError("split_by_dates needs a DatetimeIndex sorted in increasing order.")
    try:
        dates = [pd.Timestamp(date) for date in (validation_start, test_start)]
        if end is not None:
            dates.append(pd.Timestamp(end))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"split_by_dates could not read a date: {error}") from None
    if not dates[0] < dates[1] or (end is not None and not dates[1] <= dates[2]):
        raise ConfigError(
            "Dates must satisfy validation_start < test_start <= end. "
            f"Got {', '.join(str(date) for date in dates)}."
        )
    first, second, *rest = (int(position) for position in data.index.searchsorted(dates, side="left"))
    stop = rest[0] if rest else len(data)
    if first == 0 or second == first or stop == second:
        raise DataError(
            f"The dates leave a part empty: the frame spans {data.index[0]} .. {data.index[-1]}; "
            f"got validation_start={dates[0]}, test_start={dates[1]}, end={end}."
        )
    return split_by_rows(data, first, second - first, stop - second, input_length=input_length)


def split_preset(data: SeriesData, name: str, *, input_length: int = 0) -> Split:
    """A named standard split from :data:`PRESETS`, e.g. ``"ETTh1"``.

    ETTh: rows ``[0, 14400)``: train ``[0, 8640)``, validation ``[8640 - L, 11520)``,
    test ``[11520 - L, 14400)``. ETTm: the same four times over, within ``[0, 57600)``.
    """
    if name not in PRESETS:
        raise ConfigError(
            f"Unknown split preset {name!r}.{closest_match(name, PRESETS)} Known presets: {', '.join(PRESETS)}."
        )
    return split_by_rows(data, *PRESETS[name], input_length=input_length)


def rolling_origin(
    data: SeriesData,
    *,
    initial: int,
    horizon: int,
    step: int | None = None,
    max_windows: int | None = None,
    window: str = "expanding",
) -> Iterator[tuple[SeriesData, SeriesData]]:
    """Rolling-origin backtest: yield ``(train, test)`` pairs of ``iloc`` views.

    The ``k``-th origin is ``o_k = initial + k * step``; test is rows ``[o_k, o_k + horizon)``,
    and train is ``[0, o_k)`` (``window="expanding"``) or ``[o_k - initial, o_k)``
    (``window="sliding"``, a fixed length). Origins run while the test part fits.

    Parameters
    ----------
    initial : int
        Train rows at the first origin (and the train length of a sliding window).
    horizon : int
        Test rows per origin.
    step : int, optional
        Rows between origins; default ``horizon`` (test parts do not overlap).
    max_windows : int, optional
        Keep only the last ``max_windows`` origins, the ones closest to the end of the
        data (as statsforecast's ``cross_validation(n_windows=...)`` does).
    window : {"expanding", "sliding"}

    Raises
    ------
    DataError
        Eagerly (at the call, not at the first iteration) if not even one window fits.
    """
    n_rows = _check_single_series(data)
    initial = check_positive_int(initial, "initial")
    horizon = check_positive_int(horizon, "horizon")
    step = horizon if step is None else check_positive_int(step, "step")
    if window not in ("expanding", "sliding"):
        suggestion = closest_match(str(window), ["expanding", "sliding"])
        raise ConfigError(f"The 'window' parameter must be 'expanding' or 'sliding'. Got {window!r} instead.{suggestion}")
    if initial + horizon > n_rows:
        raise DataError(
            f"No backtest window fits: initial={initial} + horizon={horizon} rows are needed, the data has {n_rows}."
        )
    origins = range(initial, n_rows - horizon + 1, step)
    if max_windows is not None:
        origins = origins[-check_positive_int(max_windows, "max_windows") :]
    return _backtest_windows(data, origins, initial, horizon, window == "sliding")


def _backtest_windows(
    data: SeriesData, origins: range, initial: int, horizon: int, sliding: bool
) -> Iterator[tuple[SeriesData, SeriesData]]:
    for origin in origins:
        yield _rows(data, origin - initial if sliding else 0, origin), _rows(data, origin, origin + horizon)
