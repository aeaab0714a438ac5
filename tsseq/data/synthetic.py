"""Seeded synthetic series with labelled, injected anomalies (for anomaly-detection tests).

A clean channel is ``level + trend * t + sum_k a_k sin(2 pi t / p_k + phi_k) + noise``
with a random phase ``phi_k`` per channel and seasonality. Anomalies are then injected
into random, non-overlapping stretches of single channels:

* ``spike``: one point moved by ``magnitude`` standard deviations of the detrended
  clean channel;
* ``level_shift``: a stretch moved by ``magnitude`` such standard deviations;
* ``variance_change``: the noise of a stretch multiplied by ``magnitude`` (needs noise);
* ``flatline``: a stretch stuck at its first value (a frozen sensor);
* ``seasonal_break``: the seasonal component of a stretch shifted by half the first
  period (a phase break; needs a seasonality).

The clean components and the anomalies come from independent streams spawned from
the seed, so ``generate(..., anomalies={})`` with the same seed is the series before
injection: the two differ only inside the labelled stretches.

Multivariate coupled channels (a control input driving sensors that depend on each
other) with collective faults labelled per row and per channel are
:func:`tsseq.data.plant.generate_plant` (which places its faults with :func:`_place`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, closest_match

ANOMALY_KINDS = ("spike", "level_shift", "variance_change", "flatline", "seasonal_break")


@dataclass(frozen=True, eq=False)
class SyntheticSeries:
    """What :func:`generate` returns.

    ``frame``: wide ``(T, C)`` float64, DatetimeIndex ``date`` with freq, columns
    ``channel_0 ..``. ``labels``: boolean ``(T, C)`` frame, True where an anomaly was
    injected into that channel. ``anomalies``: one row per anomaly with columns
    ``kind``, ``start``, ``end`` (first and last anomalous timestamps, inclusive),
    ``channel`` (column name), in time order.
    """

    frame: pd.DataFrame
    labels: pd.DataFrame
    anomalies: pd.DataFrame

    @property
    def is_anomaly(self) -> np.ndarray:
        """``(T,)`` boolean: True where any channel is anomalous."""
        return self.labels.to_numpy().any(axis=1)


def _check_kinds(anomalies: Mapping[str, int]) -> list[str]:
    """``{"spike": 2, "flatline": 1}`` -> ``["spike", "spike", "flatline"]``, validated."""
    kinds = []
    for kind, count in anomalies.items():
        if kind not in ANOMALY_KINDS:
            raise ConfigError(
                f"Unknown anomaly kind {kind!r}.{closest_match(kind, ANOMALY_KINDS)} Kinds: {', '.join(ANOMALY_KINDS)}."
            )
        kinds += [kind] * check_positive_int(count, f"anomalies[{kind!r}]", minimum=0)
    return kinds


def _place(lengths: np.ndarray, first: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """Random starts of non-overlapping stretches of ``lengths``, in order, inside ``[first, total)``.

    Stars and bars: the free rows are split into ``n + 1`` random gaps, and consecutive
    stretches are kept at least one row apart so that every stretch is its own event.
    """
    free = total - first - int(lengths.sum()) - max(len(lengths) - 1, 0)
    if free < 0:
        raise ConfigError(
            f"The anomalies need {int(lengths.sum())} rows plus gaps but only {total - first} rows follow "
            f"'clean_start'={first}. Use fewer or shorter anomalies, or a larger 'length'."
        )
    offsets = np.sort(rng.integers(0, free + 1, size=len(lengths)))
    before = np.cumsum(lengths) - lengths + np.arange(len(lengths))  # rows of earlier stretches + gaps
    return first + offsets + before


def _seasonal(time: np.ndarray, seasonalities: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """``(T,)`` steps, ``(K, 2)`` (period, amplitude), ``(K, C)`` phases -> ``(T, C)``."""
    if len(seasonalities) == 0:
        return np.zeros((len(time), phases.shape[1]))
    periods, amplitudes = seasonalities[:, 0], seasonalities[:, 1]
    angles = 2 * np.pi * time[:, None, None] / periods[None, :, None] + phases[None]  # (T, K, C)
    return (amplitudes[None, :, None] * np.sin(angles)).sum(axis=1)


def generate(
    length: int = 1000,
    *,
    channels: int = 1,
    freq: str = "h",
    start: str | pd.Timestamp = "2000-01-01",
    level: float = 0.0,
    trend: float = 0.0,
    seasonalities: Sequence[tuple[float, float]] = ((24, 1.0),),
    noise: float = 0.1,
    anomalies: Mapping[str, int] | None = None,
    anomaly_length: tuple[int, int] = (10, 50),
    magnitude: float = 4.0,
    clean_start: int = 0,
    seed: int = 0,
) -> SyntheticSeries:
    """Generate a seeded wide series ``(length, channels)`` with labelled anomalies.

    Parameters
    ----------
    length, channels : int
        Rows ``T`` and channels ``C``.
    freq, start
        The DatetimeIndex: ``pd.date_range(start, periods=length, freq=freq)``.
    level, trend : float
        Intercept and slope per step.
    seasonalities : sequence of (period, amplitude)
        Periods in steps (need not be integers); each channel gets random phases.
    noise : float
        Standard deviation of the Gaussian noise.
    anomalies : mapping kind -> count, optional
        E.g. ``{"spike": 3, "level_shift": 1}``; kinds in :data:`ANOMALY_KINDS`.
    anomaly_length : (int, int)
        Inclusive range of the length of every kind but ``spike`` (one row).
    magnitude : float
        Size of spikes and level shifts in standard deviations of the detrended clean
        channel (seasonal + noise), and the factor a variance change multiplies the noise by.
    clean_start : int
        Leading rows kept free of anomalies (e.g. a detector's training period).
    seed : int
        Same seed, same output.
    """
    length = check_positive_int(length, "length")
    channels = check_positive_int(channels, "channels")
    clean_start = check_positive_int(clean_start, "clean_start", minimum=0)
    shortest = check_positive_int(anomaly_length[0], "anomaly_length[0]")
    longest = check_positive_int(anomaly_length[1], "anomaly_length[1]", minimum=shortest)
    kinds = _check_kinds(anomalies or {})
    table = np.asarray(seasonalities, dtype=np.float64).reshape(-1, 2)
    if (table[:, 0] <= 0).any() or not np.isfinite(table).all():
        raise ConfigError(f"The 'seasonalities' periods must be > 0 and amplitudes finite. Got {table.tolist()}.")
    if not noise >= 0:
        raise ConfigError(f"The 'noise' parameter must be a float >= 0. Got {noise!r} instead.")
    if "variance_change" in kinds and noise <= 0:
        raise ConfigError(f"'variance_change' anomalies scale the noise, so 'noise' must be > 0. Got {noise}.")
    if "seasonal_break" in kinds and not len(table):
        raise ConfigError("'seasonal_break' anomalies shift the seasonal component; give at least one seasonality.")
    try:
        index = pd.date_range(start, periods=length, freq=freq, name="date")
    except (ValueError, TypeError) as error:
        raise ConfigError(f"Bad 'start' {start!r} or 'freq' {freq!r}: {error}") from None

    clean_rng, anomaly_rng = np.random.default_rng(seed).spawn(2)
    time = np.arange(length, dtype=np.float64)
    phases = clean_rng.uniform(0, 2 * np.pi, size=(len(table), channels))
    seasonal = _seasonal(time, table, phases)  # (T, C)
    noise_values = noise * clean_rng.standard_normal((length, channels))  # (T, C)
    values = level + trend * time[:, None] + seasonal + noise_values

    placements = _draw(kinds, length, channels, (shortest, longest), clean_start, anomaly_rng)
    scale = (seasonal + noise_values).std(axis=0)  # (C,) detrended clean channels
    parts = _Parts(
        seasonal=seasonal,
        # The seasonal component half a (first) period later: what a phase break shows.
        broken=_seasonal(time + table[0, 0] / 2, table, phases) if len(table) else seasonal,
        noise=noise_values,
        scale=np.where(scale > 0, scale, 1.0),  # a constant channel still gets visible anomalies
    )
    labels = np.zeros((length, channels), dtype=bool)
    for placement in placements:
        _apply(values, placement, parts, magnitude)
        labels[placement.start : placement.stop, placement.channel] = True

    columns = [f"channel_{channel}" for channel in range(channels)]
    return SyntheticSeries(
        frame=pd.DataFrame(values, index=index, columns=columns),
        labels=pd.DataFrame(labels, index=index, columns=columns),
        anomalies=_anomaly_table(placements, index, columns),
    )


@dataclass(frozen=True)
class _Placement:
    """One anomaly: rows ``[start, stop)`` of channel ``channel``, pushed in direction ``sign``."""

    kind: str
    start: int
    stop: int
    channel: int
    sign: float


@dataclass(frozen=True, eq=False)
class _Parts:
    """The clean components an anomaly may modify, ``(T, C)``, and the channel scales ``(C,)``."""

    seasonal: np.ndarray
    broken: np.ndarray
    noise: np.ndarray
    scale: np.ndarray


def _draw(kinds: list[str], length: int, channels: int, lengths_range: tuple[int, int], clean_start: int,
          rng: np.random.Generator) -> list[_Placement]:
    """Random, non-overlapping placements of ``kinds`` in random order, sorted by time."""
    kinds = [kinds[position] for position in rng.permutation(len(kinds))]
    drawn = rng.integers(lengths_range[0], lengths_range[1] + 1, size=len(kinds))
    lengths = np.where(np.array(kinds, dtype=object) == "spike", 1, drawn).astype(np.int64)
    starts = _place(lengths, clean_start, length, rng)
    targets = rng.integers(0, channels, size=len(kinds))
    signs = rng.choice([-1.0, 1.0], size=len(kinds))
    return [
        _Placement(kind, int(start), int(start + size), int(channel), float(sign))
        for kind, start, size, channel, sign in zip(kinds, starts, lengths, targets, signs)
    ]


def _anomaly_table(placements: list[_Placement], index: pd.DatetimeIndex, columns: list[str]) -> pd.DataFrame:
    """One row per placement: ``kind``, ``start``, ``end`` (inclusive timestamps), ``channel`` (column name)."""
    return pd.DataFrame(
        {
            "kind": pd.Series([placement.kind for placement in placements], dtype=object),
            "start": index[[placement.start for placement in placements]],
            "end": index[[placement.stop - 1 for placement in placements]],
            "channel": pd.Series([columns[placement.channel] for placement in placements], dtype=object),
        }
    )


def _apply(values: np.ndarray, placement: _Placement, parts: _Parts, magnitude: float) -> None:
    """Inject one anomaly into ``values`` ``(T, C)`` in place, touching only its rows and channel."""
    rows, channel = slice(placement.start, placement.stop), placement.channel
    if placement.kind in ("spike", "level_shift"):
        values[rows, channel] += placement.sign * magnitude * parts.scale[channel]
    elif placement.kind == "variance_change":
        values[rows, channel] += (magnitude - 1.0) * parts.noise[rows, channel]
    elif placement.kind == "flatline":
        values[rows, channel] = values[placement.start, channel]
    else:  # seasonal_break
        values[rows, channel] += parts.broken[rows, channel] - parts.seasonal[rows, channel]
