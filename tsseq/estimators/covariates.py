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

The user's covariates (:mod:`tsseq.data.covariates`: past, future, static) travel the
same way, as one real-valued block of ``X`` columns between the values and the codes:
rows ``(T, C + X + K)``. Row ``t`` of a series holds (:mod:`tsseq.nn.exogenous`)

    [ p_t (P) ; f_t, f_{t+L}, ..., f_{t+mL} (F each, m = ceil(H / L)) ; s (N) ; k (K_s) ]

so that the ``L`` input rows of any window carry the future covariates of its ``H``
forecast steps too (:func:`lead_columns`): the engine's windows need no change, and a
forecast from the last window needs only the horizon's future covariates put into its
lead columns (:func:`with_horizon`). Past covariates appear on their own row only: no
window sees a past covariate after its last input step. The real covariates are
standardised with statistics of the training rows of ``y`` pooled over the series
(:func:`covariate_statistics`): a price keeps its level across series, which a per-series
scaling would erase; a column constant there keeps scale 1. Static categorical codes
are carried as floats (exact up to 2**24) and embedded in the module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from tsseq.data.covariates import CovariateSpec, SeriesCovariates
from tsseq.engine import masked_mse
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.nn.embeddings import CALENDAR_CARDINALITIES, calendar_features
from tsseq.nn.exogenous import ExogenousSizes

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


def exogenous_sizes(spec: CovariateSpec | None) -> ExogenousSizes | None:
    """The sizes a module's covariate block has for the fitted ``spec`` (None: no user covariates)."""
    if spec is None:
        return None
    return ExogenousSizes.of(len(spec.past), len(spec.future), len(spec.static_numeric), spec.cardinalities)


def covariate_statistics(covariates: SeriesCovariates) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale ``(P + F + N,)`` of the real covariates: past and future over the training rows of
    all series, static numeric over the series."""
    parts = [np.concatenate(rows) for rows in (covariates.past, covariates.future) if rows is not None]
    if covariates.static_numeric is not None:
        parts.append(covariates.static_numeric)
    center = np.concatenate([part.mean(axis=0) for part in parts]) if parts else np.empty(0)
    scale = np.concatenate([part.std(axis=0) for part in parts]) if parts else np.empty(0)
    return center, np.where(scale > 1e-12 * np.maximum(np.abs(center), 1.0), scale, 1.0)


def lead_columns(sequence: np.ndarray, input_length: int, n_leads: int, rows: int) -> np.ndarray:
    """``(..., T, F)`` -> ``(..., rows, F · n_leads)``: row ``r`` holds ``f_r, f_{r+L}, ..., f_{r+(n-1)L}`` (0 past the end)."""
    needed = (n_leads - 1) * input_length + rows
    pad = [(0, 0)] * (sequence.ndim - 2) + [(0, max(0, needed - sequence.shape[-2])), (0, 0)]
    padded = np.pad(sequence, pad)
    return np.concatenate([padded[..., k * input_length : k * input_length + rows, :] for k in range(n_leads)], axis=-1)


def exogenous_rows(
    covariates: SeriesCovariates,
    position: int,
    n_rows: int,
    statistics: tuple[np.ndarray, np.ndarray],
    input_length: int,
    horizon: int,
) -> np.ndarray:
    """The ``(T, X)`` covariate block of the ``T = n_rows`` rows of series ``position`` (standardised; see the module docstring)."""

    def pick(values):
        return None if values is None else values[position]

    parts = (covariates.past, covariates.future, covariates.static_numeric, covariates.static_codes)
    return exogenous_block(*map(pick, parts), n_rows, statistics, input_length, horizon)


def exogenous_block(
    past: np.ndarray | None,
    future: np.ndarray | None,
    static_numeric: np.ndarray | None,
    static_codes: np.ndarray | None,
    n_rows: int,
    statistics: tuple[np.ndarray, np.ndarray],
    input_length: int,
    horizon: int,
) -> np.ndarray:
    """The standardised block ``(..., T, X)`` of rows with ``past`` ``(..., T, P)``, ``future`` ``(..., T, F)`` (lead 0 of
    each row; later leads from the rows after it, 0 past the end), ``static_numeric`` ``(..., N)`` and ``static_codes``
    ``(..., K_s)``; ``...`` are batch axes (none for one series, ``N`` for windows)."""
    center, scale = statistics
    blocks, offset = [], 0

    def standardised(values: np.ndarray) -> np.ndarray:
        nonlocal offset
        width = values.shape[-1]
        result = (values - center[offset : offset + width]) / scale[offset : offset + width]
        offset += width
        return result

    if past is not None:
        blocks.append(standardised(past))
    if future is not None:
        rows = standardised(future)
        n_leads = 1 + -(-horizon // input_length)
        blocks.append(lead_columns(rows, input_length, n_leads, rows.shape[-2]))
    constant = []
    if static_numeric is not None:
        constant.append(standardised(static_numeric))
    if static_codes is not None:
        constant.append(static_codes.astype(np.float64))
    if constant:
        static = np.concatenate(constant, axis=-1)  # (..., N + K_s)
        batch = static.shape[:-1]
        blocks.append(np.broadcast_to(static[..., None, :], batch + (n_rows, static.shape[-1])))
    return np.concatenate(blocks, axis=-1)


def with_horizon(
    windows: np.ndarray, future: np.ndarray, n_channels: int, sizes: ExogenousSizes, center: np.ndarray, scale: np.ndarray, horizon: int
) -> np.ndarray:
    """Windows ``(S, L, C + X + K)`` with the lead columns filled from the horizon's future covariates ``(S, h, F)``.

    ``h <= horizon`` steps are given; the steps after them repeat the last given row (the
    module reads all ``horizon`` of them: a forecast of ``h`` steps depends on that padding
    only through a head that mixes steps).
    """
    length = windows.shape[1]
    n_leads = sizes.n_leads(length, horizon)
    start = n_channels + sizes.past  # the lead columns
    scaled = (future - center[sizes.past : sizes.past + sizes.future]) / scale[sizes.past : sizes.past + sizes.future]
    if scaled.shape[1] < horizon:
        scaled = np.concatenate([scaled, np.repeat(scaled[:, -1:], horizon - scaled.shape[1], axis=1)], axis=1)
    known = windows[:, :, start : start + sizes.future]  # lead 0: the input steps' own rows, (S, L, F)
    sequence = np.concatenate([known, scaled], axis=1)  # (S, L + H, F)
    result = windows.copy()
    result[:, :, start : start + sizes.future * n_leads] = lead_columns(sequence, length, n_leads, length)
    return result


class PackedCodes(nn.Module):
    """Calls ``model(values (B, L, C), codes (B, L, K)[, exogenous (B, L, X)])`` on packed inputs ``(B, L, C + X + K)``.

    The codes travel as float columns (exact in float32 up to 2**24) and are turned back
    into integers here (None when there are none). The state dict is the wrapped model's under ``model.``.
    """

    def __init__(self, model: nn.Module, n_channels: int, n_exogenous: int = 0) -> None:
        super().__init__()
        self.model, self.n_channels, self.n_exogenous = model, n_channels, n_exogenous

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        split = self.n_channels + self.n_exogenous
        values, codes = inputs[..., : self.n_channels], inputs[..., split:]  # (B, L, C), (B, L, K)
        codes = codes.round().long() if codes.shape[-1] else None
        if not self.n_exogenous:
            return self.model(values, codes)
        return self.model(values, codes, inputs[..., self.n_channels : split])  # (B, L, X)


class PackedExogenous(nn.Module):
    """Calls ``model(values (B, L, C)[, targets (B, T, C)], exogenous=block (B, L, X))`` on packed rows ``(B, L, C + X)``.

    For modules that take no calendar codes and are called with their targets
    (teacher forcing: the engine's ``pass_targets``); the targets' values only are
    passed on. The state dict is the wrapped model's under ``model.``.
    """

    def __init__(self, model: nn.Module, n_channels: int) -> None:
        super().__init__()
        self.model, self.n_channels = model, n_channels

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        values, block = inputs[..., : self.n_channels], inputs[..., self.n_channels :]  # (B, L, C), (B, L, X)
        if targets is None:
            return self.model(values, exogenous=block)
        return self.model(values, targets[..., : self.n_channels], exogenous=block)


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
