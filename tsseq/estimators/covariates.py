"""Covariates of the neural estimators: calendar and series codes carried next to the values.

The engine trains on the windows of one buffer per series. To give a model covariates
without changing the engine, each series' rows carry the integer codes of its ``K``
covariates as extra float columns after its ``C`` values: rows ``(T, C + K)``. The
windows of that buffer have inputs ``(B, L, C + K)``; :class:`PackedCodes` splits them
into the values and the codes the module takes, and :class:`ValuesLoss` scores the
predictions ``(B, H, C)`` against the value channels of the targets only.

The covariates (:data:`COVARIATES`): the calendar features of
:func:`tsseq.nn.embeddings.calendar_features` (``"hour"``, ``"day_of_week"``,
``"day_of_month"``, ``"month"``), derived from each series' timestamps, and
``"series"``, the position of the series among those the model was fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from tsseq.engine import masked_mse
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.embeddings import CALENDAR_CARDINALITIES, calendar_features

COVARIATES = (*CALENDAR_CARDINALITIES, "series")


def check_covariates(covariates: Sequence[str]) -> tuple[str, ...]:
    """The validated covariate names, in order."""
    if isinstance(covariates, str):
        raise ConfigError(
            f"The 'covariates' parameter must be a list of names, e.g. [{covariates!r}]. Got the string {covariates!r}."
        )
    names = tuple(covariates)
    for name in names:
        if name not in COVARIATES:
            raise ConfigError(
                f"Unknown covariate {name!r} in the 'covariates' parameter.{closest_match(str(name), COVARIATES)} "
                f"Known covariates: {', '.join(COVARIATES)}."
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"The 'covariates' parameter names {repeated[0]!r} more than once: {list(names)}.")
    return names


def cardinalities(names: Sequence[str], n_series: int) -> dict[str, int]:
    """Distinct codes of each covariate: the calendar's fixed ones, ``n_series`` for ``"series"``."""
    return {name: n_series if name == "series" else CALENDAR_CARDINALITIES[name] for name in names}


def row_codes(names: Sequence[str], index: pd.DatetimeIndex, series_code: int) -> np.ndarray:
    """``(T, K)`` int64 codes of the ``T`` rows of one series with timestamps ``index``."""
    columns = [
        np.full(len(index), series_code, dtype=np.int64) if name == "series" else calendar_features(index, [name])[:, 0]
        for name in names
    ]
    return np.stack(columns, axis=1)  # (T, K)


def window_codes(
    names: Sequence[str], window_starts: object, input_length: int, freq: str, series_code: int
) -> np.ndarray:
    """``(N, L, K)`` codes of ``N`` windows of ``L`` rows at frequency ``freq``.

    ``window_starts`` holds the timestamp of each window's first row, ``(N,)``; the
    other rows follow every ``freq``. The codes of the grid spanning all the windows are
    computed once and gathered.
    """
    try:
        starts = pd.DatetimeIndex(window_starts)
    except (TypeError, ValueError) as error:
        raise DataError(f"'window_starts' must be timestamps, one per window: {error}") from None
    if len(starts) == 0 or starts.hasnans:
        raise DataError(f"'window_starts' must hold one timestamp per window, without NaT. Got {list(starts)[:3]}.")
    span = pd.date_range(starts.min(), starts.max(), freq=freq)
    positions = span.get_indexer(starts)  # (N,), -1 when off the grid
    if (positions < 0).any():
        off = starts[np.flatnonzero(positions < 0)[0]]
        raise DataError(
            f"'window_starts' must lie on the model's time grid (frequency {freq!r} from {starts.min()}); "
            f"{off} does not."
        )
    grid = pd.date_range(starts.min(), periods=len(span) + input_length - 1, freq=freq)
    codes = row_codes(names, grid, series_code)  # (G, K)
    return codes[positions[:, None] + np.arange(input_length)]  # (N, L, K)


class PackedCodes(nn.Module):
    """Calls ``model(values (B, L, C), codes (B, L, K))`` on packed inputs ``(B, L, C + K)``.

    The codes travel as float columns (exact in float32 up to 2**24) and are turned back
    into integers here. The state dict is the wrapped model's under ``model.``.
    """

    def __init__(self, model: nn.Module, n_channels: int) -> None:
        super().__init__()
        self.model, self.n_channels = model, n_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        values, codes = inputs[..., : self.n_channels], inputs[..., self.n_channels :]  # (B, L, C), (B, L, K)
        return self.model(values, codes.round().long())


class ValuesLoss:
    """A training loss (e.g. :func:`~tsseq.engine.masked_mse`) of predictions ``(B, H, C)`` against the first ``C`` target channels."""

    def __init__(self, n_channels: int, loss=masked_mse) -> None:
        self.n_channels, self.loss = n_channels, loss

    def __call__(
        self, predictions: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor | None
    ) -> torch.Tensor:
        channels = slice(0, self.n_channels)
        mask = None if target_mask is None else target_mask[..., channels]
        return self.loss(predictions, targets[..., channels], mask)
