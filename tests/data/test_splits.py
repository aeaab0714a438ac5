"""Temporal splits (rows, fractions, dates, ETT preset) and rolling-origin backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.data.splits import (
    Split,
    rolling_origin,
    split_by_dates,
    split_by_fraction,
    split_by_rows,
    split_preset,
)
from tsseq.errors import ConfigError, DataError


def _frame(rows: int) -> pd.DataFrame:
    index = pd.date_range("2016-07-01", periods=rows, freq="h", name="date")
    return pd.DataFrame({"row": np.arange(rows, dtype=np.float64)}, index=index)


def _rows(part: pd.DataFrame | np.ndarray) -> list[int]:
    values = part["row"] if isinstance(part, pd.DataFrame) else part[:, 0]
    return [int(value) for value in values]


def test_split_by_rows_with_lookback() -> None:
    split = split_by_rows(_frame(25), 10, 5, 5, input_length=3)
    assert isinstance(split, Split)
    assert _rows(split.train) == list(range(0, 10))
    assert _rows(split.validation) == list(range(7, 15))
    assert _rows(split.test) == list(range(12, 20))  # rows 20..24 are left out


def test_split_by_rows_test_defaults_to_the_rest() -> None:
    split = split_by_rows(_frame(20), 10, 4)
    assert _rows(split.test) == list(range(14, 20))


def test_parts_are_views_of_the_data() -> None:
    values = np.arange(40.0).reshape(20, 2)
    split = split_by_rows(values, 10, 5)
    assert all(np.shares_memory(part, values) for part in (split.train, split.validation, split.test))
    with pytest.raises(AttributeError):
        split.train = values  # frozen


def test_split_by_rows_errors() -> None:
    with pytest.raises(DataError, match="10 \\+ 5 \\+ 10 rows; the data has 20"):
        split_by_rows(_frame(20), 10, 5, 10)
    with pytest.raises(DataError, match="input_length=11 is longer than the 10 train rows"):
        split_by_rows(_frame(20), 10, 5, input_length=11)
    with pytest.raises(ConfigError, match="'train' parameter must be an int >= 1. Got 0"):
        split_by_rows(_frame(20), 0, 5)
    long = _frame(4).set_index(pd.Index(["a"] * 4, name="series"), append=True).swaplevel()
    with pytest.raises(DataError, match="Split each series separately"):
        split_by_rows(long, 2, 1)


def test_split_by_fraction_floors_train_and_test() -> None:
    split = split_by_fraction(_frame(101), train=0.7, test=0.2, input_length=2)
    # floor(70.7) = 70 train, floor(20.2) = 20 test, 11 validation
    assert len(split.train) == 70
    assert _rows(split.validation) == list(range(68, 81))
    assert _rows(split.test) == list(range(79, 101))
    with pytest.raises(ConfigError, match="train \\+ test must be < 1"):
        split_by_fraction(_frame(10), train=0.8, test=0.2)
    with pytest.raises(ConfigError, match="'test' parameter must be a fraction in \\(0, 1\\). Got 1.5"):
        split_by_fraction(_frame(10), test=1.5)


def test_split_by_dates() -> None:
    frame = _frame(48)  # 2016-07-01 00:00 .. 2016-07-02 23:00
    split = split_by_dates(frame, "2016-07-01 12:00", "2016-07-02 00:00", "2016-07-02 06:00", input_length=2)
    assert _rows(split.train) == list(range(0, 12))
    assert _rows(split.validation) == list(range(10, 24))
    assert _rows(split.test) == list(range(22, 30))
    assert len(split_by_dates(frame, "2016-07-01 12:00", "2016-07-02 00:00").test) == 24


def test_split_by_dates_errors() -> None:
    frame = _frame(48)
    with pytest.raises(ConfigError, match="validation_start < test_start"):
        split_by_dates(frame, "2016-07-02", "2016-07-01 12:00")
    with pytest.raises(DataError, match="leave a part empty.*spans 2016-07-01 00:00:00 .. 2016-07-02 23:00:00"):
        split_by_dates(frame, "2016-07-01 12:00", "2016-07-05")


@pytest.mark.parametrize(("name", "scale"), [("ETTh1", 1), ("ETTm1", 4)])
def test_ett_preset(name: str, scale: int) -> None:
    lookback = 96
    split = split_preset(np.arange(17420.0 * scale)[:, None], name, input_length=lookback)
    assert _rows(split.train) == list(range(0, 8640 * scale))
    assert _rows(split.validation) == list(range(8640 * scale - lookback, 11520 * scale))
    assert _rows(split.test) == list(range(11520 * scale - lookback, 14400 * scale))


def test_ett_preset_errors() -> None:
    with pytest.raises(DataError, match="8640 \\+ 2880 \\+ 2880 rows; the data has 14000"):
        split_preset(np.zeros((14000, 1)), "ETTh1")
    with pytest.raises(ConfigError, match="Unknown split preset 'ETTh3'. Did you mean"):
        split_preset(np.zeros((14400, 1)), "ETTh3")


def test_rolling_origin_expanding() -> None:
    folds = list(rolling_origin(_frame(10), initial=4, horizon=2))
    assert [(_rows(train), _rows(test)) for train, test in folds] == [
        (list(range(0, 4)), [4, 5]),
        (list(range(0, 6)), [6, 7]),
        (list(range(0, 8)), [8, 9]),
    ]


def test_rolling_origin_sliding_step_and_max_windows() -> None:
    folds = list(rolling_origin(_frame(10), initial=4, horizon=2, step=1, window="sliding"))
    assert [_rows(test)[0] for _, test in folds] == [4, 5, 6, 7, 8]
    assert all(len(train) == 4 and _rows(train)[-1] == _rows(test)[0] - 1 for train, test in folds)
    last = list(rolling_origin(_frame(10), initial=4, horizon=2, step=1, max_windows=2))
    assert [_rows(test) for _, test in last] == [[7, 8], [8, 9]]


def test_rolling_origin_errors_are_raised_at_the_call() -> None:
    with pytest.raises(DataError, match="initial=9 \\+ horizon=2 rows are needed, the data has 10"):
        rolling_origin(_frame(10), initial=9, horizon=2)
    with pytest.raises(ConfigError, match="'expanding' or 'sliding'.*Did you mean 'sliding'"):
        rolling_origin(_frame(10), initial=4, horizon=2, window="slidin")
    with pytest.raises(ConfigError, match="'max_windows' parameter must be an int >= 1"):
        rolling_origin(_frame(10), initial=4, horizon=2, max_windows=0)
