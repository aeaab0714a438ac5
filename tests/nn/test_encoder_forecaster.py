"""The point-token encoder forecaster: shapes, covariates, gradients."""

from __future__ import annotations

import pytest
import torch

from tsseq.errors import DataError
from tsseq.nn.encoder_forecaster import EncoderForecaster


def test_shapes_with_and_without_covariates():
    torch.manual_seed(0)
    plain = EncoderForecaster(2, 16, 5, d_model=8, n_heads=2)
    assert plain(torch.randn(3, 16, 2)).shape == (3, 5, 2)
    with_codes = EncoderForecaster(2, 16, 5, d_model=8, n_heads=2, covariates={"hour": 24, "series": 3})
    codes = torch.stack([torch.randint(0, 24, (3, 16)), torch.randint(0, 3, (3, 16))], dim=-1)
    assert with_codes(torch.randn(3, 16, 2), codes).shape == (3, 5, 2)


def test_covariates_change_the_forecast_and_get_gradients():
    torch.manual_seed(0)
    model = EncoderForecaster(1, 12, 3, d_model=8, n_heads=2, dropout=0.0, covariates={"hour": 24}).eval()
    x = torch.randn(2, 12, 1)
    codes = torch.arange(12).view(1, 12, 1).repeat(2, 1, 1)
    forecast = model(x, codes)
    assert not torch.allclose(forecast, model(x, (codes + 5) % 24))
    forecast.sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_missing_or_unexpected_codes_are_refused():
    model = EncoderForecaster(1, 12, 3, d_model=8, n_heads=2, covariates={"hour": 24})
    with pytest.raises(DataError, match="covariates"):
        model(torch.randn(2, 12, 1))
    with pytest.raises(DataError, match="no covariates"):
        EncoderForecaster(1, 12, 3, d_model=8, n_heads=2)(torch.randn(2, 12, 1), torch.zeros(2, 12, 1, dtype=torch.long))
    with pytest.raises(DataError, match=r"\(B, 12, 1\)"):
        model(torch.randn(2, 10, 1))
