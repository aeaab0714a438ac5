"""RecurrentForecaster: heads, segments, channel independence and covariate embeddings."""

from __future__ import annotations

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.rnn_forecaster import RecurrentForecaster

BATCH, STEPS, CHANNELS, HORIZON, HIDDEN = 3, 8, 2, 5, 6
COVARIATES = {"hour": 24, "series": 3}


def _model(**params) -> RecurrentForecaster:
    torch.manual_seed(0)
    defaults = {"hidden_size": HIDDEN, "num_layers": 1, "cell": "gru", "covariates": COVARIATES, "covariate_dim": 3}
    return RecurrentForecaster(CHANNELS, HORIZON, **{**defaults, **params}).eval()


def _inputs(batch: int = BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, STEPS, CHANNELS, generator=generator)
    hours = (torch.arange(STEPS) + 5 * torch.arange(batch).unsqueeze(1)) % 24  # (B, L)
    series = torch.arange(batch).unsqueeze(1).expand(-1, STEPS) % 3  # (B, L)
    return x, torch.stack([hours, series], dim=-1)  # (B, L, C), (B, L, 2)


@pytest.mark.parametrize("head", ["direct", "parallel"])
@pytest.mark.parametrize("segment_length", [1, 4])
@pytest.mark.parametrize("channel_independent", [False, True])
def test_forecast_shape_with_covariates(head, segment_length, channel_independent):
    model = _model(head=head, segment_length=segment_length, channel_independent=channel_independent)
    x, codes = _inputs()
    forecast = model(x, codes)
    assert forecast.shape == (BATCH, HORIZON, CHANNELS) and torch.isfinite(forecast).all()


def test_point_steps_concatenate_the_code_embeddings_to_the_values():
    model = _model()
    x, codes = _inputs()
    tables = model.covariate_embedding.embeddings
    covariates = torch.cat([tables["hour"](codes[..., 0]), tables["series"](codes[..., 1])], dim=-1)  # (B, L, 6)
    outputs, _ = model.encoder(torch.cat([x, covariates], dim=-1))  # (B, L, H)
    expected = model.output(outputs[:, -1]).reshape(BATCH, HORIZON, CHANNELS)
    torch.testing.assert_close(model(x, codes), expected)
    assert model.encoder.input_size == CHANNELS + 2 * 3


def test_segments_take_the_codes_of_their_first_step():
    model = _model(segment_length=4)
    x, codes = _inputs()
    first = codes[:, ::4]  # (B, L/4, 2)
    covariates = model.covariate_embedding(first)  # (B, 2, 6)
    segments = torch.cat([x.reshape(BATCH, 2, 4 * CHANNELS), covariates], dim=-1)  # (B, 2, 4·C + 6)
    outputs, _ = model.encoder(model.embed(segments))
    expected = model.output(outputs[:, -1]).reshape(BATCH, -1, CHANNELS)[:, :HORIZON]
    torch.testing.assert_close(model(x, codes), expected)
    inside = codes.clone()
    inside[:, 1:4, 0] = (inside[:, 1:4, 0] + 7) % 24  # not a segment's first step: ignored
    torch.testing.assert_close(model(x, inside), model(x, codes))


def test_changing_the_hour_of_one_window_changes_only_its_forecast():
    model = _model()
    x, codes = _inputs()
    changed = codes.clone()
    changed[0, :, 0] = (changed[0, :, 0] + 12) % 24
    before, after = model(x, codes), model(x, changed)
    assert not torch.allclose(before[0], after[0])
    torch.testing.assert_close(before[1:], after[1:])


def test_channel_independent_sequences_share_their_window_covariates():
    model = _model(channel_independent=True)
    x, codes = _inputs()
    same = x[..., :1].expand(-1, -1, CHANNELS)  # every channel carries the same values
    forecast = model(same, codes)
    torch.testing.assert_close(forecast[..., 0], forecast[..., 1])  # same values, same covariates, shared weights
    changed = codes.clone()
    changed[0, :, 1] = 2
    after = model(x, changed)
    before = model(x, codes)
    assert not torch.allclose(before[0, :, 0], after[0, :, 0]) and not torch.allclose(before[0, :, 1], after[0, :, 1])
    torch.testing.assert_close(before[1:], after[1:])  # sequence b·C + k gets window b's codes


def test_gradients_reach_the_embedding_tables():
    model = _model().train()
    x, codes = _inputs()
    model(x, codes).square().mean().backward()
    for name, table in model.covariate_embedding.embeddings.items():
        rows_with_gradient = set(table.weight.grad.abs().sum(dim=1).nonzero().flatten().tolist())
        column = 0 if name == "hour" else 1
        assert rows_with_gradient == set(codes[..., column].unique().tolist())  # exactly the codes seen


def test_codes_are_required_exactly_when_there_are_covariates():
    x, codes = _inputs()
    with pytest.raises(DataError, match=r"covariates \['hour', 'series'\] expects codes \(B, L, K\) = \(3, 8, 2\)"):
        _model()(x)
    with pytest.raises(DataError, match="has no covariates; call it without codes"):
        _model(covariates=None)(x, codes)
    with pytest.raises(DataError, match="Covariate 'series' .* has code 3, outside its range 0 .. 2"):
        _model()(x, torch.cat([codes[..., :1], torch.full_like(codes[..., 1:], 3)], dim=-1))
    assert _model(covariates=None)(x).shape == (BATCH, HORIZON, CHANNELS)


def test_covariate_configuration_is_validated():
    with pytest.raises(ConfigError, match="recursive head .* would need the covariates of the forecast steps"):
        _model(head="recursive")
    with pytest.raises(ConfigError, match="The 'covariate_dim' parameter must be an int >= 1. Got 0 instead."):
        _model(covariate_dim=0)
    with pytest.raises(ConfigError, match=r"cardinalities\['series'\]"):
        _model(covariates={"series": 0})


def test_last_value_normalisation_makes_forecasts_shift_equivariant():
    model = _model(covariates=None, normalization="last")
    x, _ = _inputs()
    torch.testing.assert_close(model(x + 10.0), model(x) + 10.0)


def test_forward_sequence_needs_the_recursive_head():
    with pytest.raises(ConfigError, match="forward_sequence .* needs head='recursive'"):
        _model(covariates=None).forward_sequence(torch.zeros(1, 4, CHANNELS))
    model = _model(covariates=None, head="recursive")
    outputs, state = model.forward_sequence(torch.zeros(2, 4, CHANNELS))
    assert outputs.shape == (2, 4, CHANNELS) and len(state) == 1
