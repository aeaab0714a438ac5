"""Calendar codes of known dates, and covariate embeddings' shapes, lookups and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.embeddings import CALENDAR_CARDINALITIES, CovariateEmbedding, calendar_features


def test_calendar_codes_of_known_dates() -> None:
    # 2024-02-28 is a Wednesday; 2024 is a leap year, so the 29th follows.
    index = pd.date_range("2024-02-28 22:00", periods=5, freq="h")
    codes = calendar_features(index)
    expected = np.array(
        [
            # hour, day_of_week (Monday = 0), day_of_month (1st = 0), month (January = 0)
            [22, 2, 27, 1],
            [23, 2, 27, 1],
            [0, 3, 28, 1],
            [1, 3, 28, 1],
            [2, 3, 28, 1],
        ]
    )
    np.testing.assert_array_equal(codes, expected)
    assert codes.dtype == np.int64


def test_calendar_features_in_the_asked_order() -> None:
    index = pd.date_range("2023-12-31", periods=2, freq="D")  # a Sunday, then New Year's Day
    np.testing.assert_array_equal(calendar_features(index, ["month", "day_of_week"]), [[11, 6], [0, 0]])
    assert calendar_features(index[:0], ["hour"]).shape == (0, 1)


def test_calendar_codes_fill_exactly_their_cardinalities() -> None:
    codes = calendar_features(pd.date_range("2024-01-01", "2024-12-31 23:00", freq="h"))
    for k, (name, cardinality) in enumerate(CALENDAR_CARDINALITIES.items()):
        np.testing.assert_array_equal(np.unique(codes[:, k]), np.arange(cardinality), err_msg=name)


def test_calendar_errors() -> None:
    with pytest.raises(DataError, match="expects a pandas DatetimeIndex. Got RangeIndex"):
        calendar_features(pd.RangeIndex(3))
    with pytest.raises(ConfigError, match="Unknown calendar feature 'hours'. Did you mean 'hour'?"):
        calendar_features(pd.date_range("2024-01-01", periods=3, freq="h"), ["hours"])
    with pytest.raises(ConfigError, match="non-empty list"):
        calendar_features(pd.date_range("2024-01-01", periods=3, freq="h"), "hour")
    with pytest.raises(DataError, match="NaT"):
        calendar_features(pd.DatetimeIndex(["2024-01-01", None]))


def _embedding() -> CovariateEmbedding:
    return CovariateEmbedding({"series": 5, "hour": 24, "weekday": 7}, {"series": 3, "hour": 4, "weekday": 2})


def test_embedding_shapes_and_lookups() -> None:
    embedding = _embedding()
    codes = torch.stack(
        [torch.randint(0, 5, (2, 6)), torch.randint(0, 24, (2, 6)), torch.randint(0, 7, (2, 6))], dim=-1
    )  # (B, L, K)
    vectors = embedding(codes)
    assert vectors.shape == (2, 6, 9) and embedding.output_size == 9
    # The columns are each covariate's table row, in the order of the cardinalities.
    tables = embedding.embeddings
    torch.testing.assert_close(vectors[..., :3], tables["series"].weight[codes[..., 0]])
    torch.testing.assert_close(vectors[..., 3:7], tables["hour"].weight[codes[..., 1]])
    torch.testing.assert_close(vectors[..., 7:], tables["weekday"].weight[codes[..., 2]])
    inputs = torch.randn(2, 6, 1)
    assert torch.cat([inputs, vectors], dim=-1).shape == (2, 6, 10)


def test_embedding_of_calendar_codes_learns() -> None:
    index = pd.date_range("2024-03-01", periods=8, freq="h")
    codes = torch.from_numpy(calendar_features(index, ["hour", "day_of_week"])).unsqueeze(0)  # (1, L, 2)
    names = ["hour", "day_of_week"]
    embedding = CovariateEmbedding({n: CALENDAR_CARDINALITIES[n] for n in names}, {"hour": 3, "day_of_week": 2})
    embedding(codes).square().sum().backward()
    hour_grad = embedding.embeddings["hour"].weight.grad
    assert bool((hour_grad[:8].abs().sum(dim=1) > 0).all())  # hours 0 .. 7 were seen
    assert bool((hour_grad[8:] == 0).all())


def test_embedding_errors_name_the_covariate() -> None:
    with pytest.raises(ConfigError, match="'weekday' has a cardinality but no entry in 'embedding_dims'. Did you mean"):
        CovariateEmbedding({"weekday": 7}, {"weekdays": 2})
    with pytest.raises(ConfigError, match="'embedding_dims' entry 'month' is not a covariate"):
        CovariateEmbedding({"weekday": 7}, {"weekday": 2, "month": 3})
    with pytest.raises(ConfigError, match=r"The \"cardinalities\['hour'\]\" parameter must be an int >= 1. Got 0"):
        CovariateEmbedding({"hour": 0}, {"hour": 2})
    with pytest.raises(ConfigError, match="non-empty dict"):
        CovariateEmbedding({}, {})
    embedding = _embedding()
    with pytest.raises(DataError, match=r"'hour' \(column 1 of codes\) has code 24, outside its range 0 .. 23"):
        embedding(torch.tensor([[[0, 24, 0]]]))
    with pytest.raises(DataError, match="Covariate 'series' .* has code -1"):
        embedding(torch.tensor([[[-1, 0, 0]]]))
    with pytest.raises(DataError, match=r"codes of shape \(B, L, 3\).*series, hour, weekday"):
        embedding(torch.zeros(1, 4, 2, dtype=torch.long))
    with pytest.raises(DataError, match="integer codes. Got dtype torch.float32"):
        embedding(torch.zeros(1, 4, 3))
