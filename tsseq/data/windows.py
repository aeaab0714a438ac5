"""Sliding windows over time series as zero-copy torch views, and back to timestamps.

A window starting at row ``s`` of a series ``(T, C)`` has ``L`` inputs at rows
``s, s + d, ..., s + (L - 1) d`` (``d`` = ``dilation``) and its targets after them:

* ``"many_to_many"``: the ``H`` consecutive rows ``s + (L - 1) d + 1 ... s + (L - 1) d + H``
  (targets are never dilated: they are the next ``H`` values after the last input);
* ``"many_to_one"``: the next row ``s + (L - 1) d + 1`` only (``H = 1``);
* ``"synchronized"``: one target per input step, the next sampled step: target ``j`` is
  row ``s + (j + 1) d``, so ``targets[:, :-1] == inputs[:, 1:]`` (with ``d = 1`` the target
  at step ``t`` is the value at ``t + 1``).

Windows start ``stride`` rows apart, so a series of ``T`` rows has
``N = (T - span) // stride + 1`` windows, ``span`` being the rows one window reaches
(``(L - 1) d + H + 1`` for many-to-many: ``N = T - L - H + 1`` with stride and dilation 1).

Inputs and targets are :meth:`torch.Tensor.as_strided` views of the series: building
them copies nothing, whatever ``N``. NaN marks an unobserved value: a series with any
NaN is copied once with NaN replaced by 0, next to its observed mask ``(T, C)`` (bool),
and the windows view those two. Only ``gather`` copies, one batch at a time. The views
share memory with the caller's array (numpy via :func:`torch.from_numpy`, read-only
pandas buffers included): treat them as read-only.

Many series of different lengths are laid end to end in one flat buffer
(:func:`make_multi_series_windows`): windows never straddle two series, and window ``i``
maps to ``(series, start)`` by :func:`torch.searchsorted` over cumulative window counts.
:func:`windows_to_timestamps` maps per-window outputs back to per-timestamp values.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

KINDS = ("many_to_many", "many_to_one", "synchronized")
AGGREGATIONS = ("mean", "max", "last")
# (inputs (B, L, C), targets (B, H, C), input_mask or None, target_mask or None)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


@dataclass(frozen=True)
class WindowLayout:
    """Where the inputs and targets of a window lie, in rows after its first input row."""

    kind: str
    input_length: int
    horizon: int = 1
    stride: int = 1
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"The 'kind' parameter must be one of {', '.join(KINDS)}. "
                f"Got {self.kind!r} instead.{closest_match(str(self.kind), KINDS)}"
            )
        for name in ("input_length", "horizon", "stride", "dilation"):
            check_positive_int(getattr(self, name), name)
        if self.kind != "many_to_many" and self.horizon != 1:
            raise ConfigError(
                f"kind={self.kind!r} has one target per window step, so the 'horizon' parameter must be 1. "
                f"Got {self.horizon!r} instead; use kind='many_to_many' to predict several steps ahead."
            )

    @property
    def target_length(self) -> int:
        """Targets per window: ``L`` when synchronized, else ``H``."""
        return self.input_length if self.kind == "synchronized" else self.horizon

    @property
    def target_offset(self) -> int:
        """Rows from a window's first input to its first target."""
        return self.dilation if self.kind == "synchronized" else (self.input_length - 1) * self.dilation + 1

    @property
    def target_step(self) -> int:
        """Rows between consecutive targets of a window."""
        return self.dilation if self.kind == "synchronized" else 1

    @property
    def span(self) -> int:
        """Rows one window reaches, from its first input to its last target."""
        return self.target_offset + (self.target_length - 1) * self.target_step + 1

    def count(self, n_rows: int) -> int:
        """Windows in a series of ``n_rows`` rows (0 when it is too short)."""
        return max(0, (n_rows - self.span) // self.stride + 1)

    def too_short(self, what: str) -> str:
        dilated = f" with dilation={self.dilation}" if self.dilation > 1 else ""
        targets = "1 shifted target step" if self.kind == "synchronized" else f"horizon={self.horizon}"
        return (
            f"{what} too short for input_length={self.input_length}{dilated} + {targets}: "
            f"a window needs at least {self.span} rows."
        )


@dataclass(frozen=True, eq=False)  # tensors have no truth value: compare by identity
class Windows:
    """The ``N`` windows of one series, as views of it.

    ``inputs`` is ``(N, L, C)`` (unobserved values set to 0); ``targets`` is ``(N, H, C)``
    (``(N, L, C)`` when synchronized, ``(N, 1, C)`` many-to-one); the bool masks have the
    same shapes, True where observed, and are None when the series has no NaN.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    input_mask: torch.Tensor | None
    target_mask: torch.Tensor | None
    layout: WindowLayout

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def starts(self) -> torch.Tensor:
        """``(N,)`` row of each window's first input (made on demand, so building stays O(1))."""
        return torch.arange(len(self), device=self.inputs.device) * self.layout.stride

    def gather(self, indices: torch.Tensor) -> Batch:
        """The windows ``indices (B,)`` as a :data:`Batch`: one advanced-index copy per tensor."""
        return self._take(_check_indices(indices, len(self), self.inputs.device))

    def _take(self, indices: torch.Tensor) -> Batch:
        # index_select copies strided windows several times faster than view[indices] on CPU.
        inputs, targets = self.inputs.index_select(0, indices), self.targets.index_select(0, indices)
        if self.input_mask is None:
            return inputs, targets, None, None
        return inputs, targets, self.input_mask.index_select(0, indices), self.target_mask.index_select(0, indices)


@dataclass(frozen=True, eq=False)  # tensors have no truth value: compare by identity
class MultiSeriesWindows:
    """The windows of ``S`` series laid end to end in one buffer of ``R`` rows."""

    row_windows: Windows  # windows at every buffer row (stride 1); only those inside one series are gathered
    lengths: torch.Tensor  # (S,) rows of each series
    series_offsets: torch.Tensor  # (S,) buffer row of each series' first row
    window_offsets: torch.Tensor  # (S + 1,) series s owns windows window_offsets[s] <= i < window_offsets[s + 1]
    stride: int  # rows between the starts of consecutive windows of one series

    def __len__(self) -> int:
        return int(self.window_offsets[-1])

    def locate(self, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(series, start)``, each ``(B,)``, of windows ``indices`` (default: all).

        ``start`` is the window's first input row within its series; its buffer row,
        ``series_offsets[series] + start``, is what :func:`windows_to_timestamps` takes.
        """
        if indices is None:
            indices = torch.arange(len(self), device=self.lengths.device)
        indices = _check_indices(indices, len(self), self.lengths.device)
        series = torch.searchsorted(self.window_offsets[1:], indices, right=True)
        return series, (indices - self.window_offsets[series]) * self.stride

    def series_of(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """``(B,)`` series of windows ``indices`` (default: all)."""
        return self.locate(indices)[0]

    def gather(self, indices: torch.Tensor) -> Batch:
        """The windows ``indices (B,)`` as a :data:`Batch`, as :meth:`Windows.gather`."""
        series, starts = self.locate(indices)
        return self.row_windows._take(self.series_offsets[series] + starts)  # rows checked by locate


def make_windows(
    values: np.ndarray | torch.Tensor,
    input_length: int,
    horizon: int = 1,
    *,
    kind: str = "many_to_many",
    stride: int = 1,
    dilation: int = 1,
    device: str | torch.device | None = None,
) -> Windows:
    """All windows of one series, as views of it.

    Parameters
    ----------
    values : array-like or torch.Tensor
        ``(T, C)`` series, or ``(T,)`` taken as one channel ``(T, 1)``; NaN = unobserved.
        Floating dtypes are kept; integers are converted to float64.
    input_length, horizon, kind, stride, dilation
        The window geometry (module docstring); ``horizon`` must be 1 unless many-to-many.
    device : str or torch.device, optional
        Where the windows live; the series is moved there once. Default: where it is.

    Returns
    -------
    Windows
        ``N = (T - span) // stride + 1`` windows.
    """
    layout = WindowLayout(kind, input_length, horizon, stride, dilation)
    series = _as_series(values, device)
    n_windows = layout.count(series.shape[0])
    if n_windows == 0:
        raise DataError(layout.too_short(f"A series of {series.shape[0]} rows is"))
    return _windows(series, layout, n_windows)


def make_multi_series_windows(
    series: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor | pd.DataFrame,
    input_length: int,
    horizon: int = 1,
    *,
    lengths: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    kind: str = "many_to_many",
    stride: int = 1,
    dilation: int = 1,
    device: str | torch.device | None = None,
) -> MultiSeriesWindows:
    """The windows of many series of different lengths, for global models.

    Parameters
    ----------
    series
        A long DataFrame, MultiIndex ``(series, timestamp)``, each series' rows contiguous
        (its ``to_numpy()`` buffer is viewed; series in order of appearance); or one
        ``(R, C)`` buffer with ``lengths`` (viewed); or a list of ``(T_i, C)`` or ``(T_i,)``
        arrays (concatenated once).
    lengths : sequence of int, optional
        ``(S,)`` rows of each series of the buffer, in order; only with one buffer.
    input_length, horizon, kind, stride, dilation, device
        As in :func:`make_windows`. A series shorter than one window has no windows.
    """
    layout = WindowLayout(kind, input_length, horizon, stride, dilation)
    buffer, lengths = _as_buffer(series, lengths, device)
    lengths = torch.as_tensor(lengths, dtype=torch.long, device=buffer.device)
    counts = torch.clamp((lengths - layout.span) // stride + 1, min=0)  # floor division: negative -> 0
    if int(counts.sum()) == 0:
        raise DataError(layout.too_short(f"Every series (the longest has {int(lengths.max())} rows) is"))
    zero = torch.zeros(1, dtype=torch.long, device=buffer.device)
    every_row = WindowLayout(kind, input_length, horizon, 1, dilation)
    return MultiSeriesWindows(
        row_windows=_windows(buffer, every_row, every_row.count(buffer.shape[0])),
        lengths=lengths,
        series_offsets=torch.cat([zero, torch.cumsum(lengths, 0)[:-1]]),
        window_offsets=torch.cat([zero, torch.cumsum(counts, 0)]),
        stride=stride,
    )


class BatchSampler:
    """Batches of window indices, ``(B,)`` LongTensors; one pass of ``iter`` is one epoch.

    An epoch is one :func:`torch.randperm` (``arange`` without shuffling) split into
    batches, so every index comes exactly once; ``drop_last`` drops the incomplete last
    batch. A ``seed`` (or a ``generator``) makes the sequence of epochs reproducible;
    successive epochs of one sampler differ.
    """

    def __init__(
        self,
        n_windows: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if seed is not None and generator is not None:
            raise ConfigError("Pass either 'seed' or 'generator' to BatchSampler, not both.")
        self.n_windows = check_positive_int(n_windows, "n_windows")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        full, remainder = divmod(self.n_windows, self.batch_size)
        return full if self.drop_last or remainder == 0 else full + 1

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.n_windows, generator=self.generator)
        else:
            order = torch.arange(self.n_windows)
        # split() of an empty tensor would give one empty batch; drop_last with too few windows gives none.
        return iter(order[: len(self) * self.batch_size].split(self.batch_size) if len(self) else ())


def windows_to_timestamps(
    window_values: torch.Tensor,
    starts: torch.Tensor,
    n_timestamps: int,
    *,
    aggregation: str = "mean",
    offset: int = 0,
    step: int = 1,
) -> torch.Tensor:
    """Per-window outputs back to one value per timestamp.

    Window ``i`` covers timestamps ``starts[i] + offset + w * step`` for ``w < W``. For
    the inputs of :class:`Windows` pass ``offset=0, step=layout.dilation``; for its
    targets ``offset=layout.target_offset, step=layout.target_step``.

    Parameters
    ----------
    window_values : torch.Tensor
        ``(N, W, C)`` or ``(N, W)`` values, one per window step.
    starts : torch.Tensor
        ``(N,)`` integer first row of each window (:attr:`Windows.starts`).
    n_timestamps : int
        ``T``, the rows of the output.
    aggregation : {"mean", "max", "last"}
        How the values at one timestamp combine: the mean or the maximum over the windows
        covering it, or ``"last"``: the value of the window that *ends* there (its last
        step; the causal value, computed from data up to that timestamp), the window with
        the largest index if several end there.

    Returns
    -------
    torch.Tensor
        ``(T, C)``, or ``(T,)`` for 2-D ``window_values``. Policy: a timestamp that no
        window covers (for ``"last"``: where no window ends), such as the first ``L - 1``
        timestamps when scoring input windows of length ``L``, is NaN.
    """
    if aggregation not in AGGREGATIONS:
        raise ConfigError(
            f"The 'aggregation' parameter must be one of {', '.join(AGGREGATIONS)}. "
            f"Got {aggregation!r} instead.{closest_match(str(aggregation), AGGREGATIONS)}"
        )
    n_timestamps = check_positive_int(n_timestamps, "n_timestamps")
    offset, step = check_positive_int(offset, "offset", minimum=0), check_positive_int(step, "step")
    values, positions = _window_positions(window_values, starts, n_timestamps, offset, step)
    output = torch.full((n_timestamps, values.shape[2]), torch.nan, dtype=values.dtype, device=values.device)
    if aggregation == "last":
        # The largest index of the windows ending at each timestamp, -1 where none ends.
        latest = torch.full((n_timestamps,), -1, dtype=torch.long, device=values.device)
        latest.scatter_reduce_(0, positions[:, -1], torch.arange(len(values), device=values.device), reduce="amax")
        ended = latest >= 0
        output[ended] = values[latest[ended], -1]
    else:
        flat_values = values.reshape(-1, values.shape[2])  # (N * W, C)
        flat_positions = positions.reshape(-1, 1).expand_as(flat_values)
        reduce = "mean" if aggregation == "mean" else "amax"
        # include_self=False: covered timestamps ignore the NaN they start with; uncovered keep it.
        output.scatter_reduce_(0, flat_positions, flat_values, reduce=reduce, include_self=False)
    return output[:, 0] if torch.as_tensor(window_values).ndim == 2 else output


def _windows(series: torch.Tensor, layout: WindowLayout, n_windows: int) -> Windows:
    """Views of ``series (T, C)``; with NaN, views of one filled copy and of its observed mask."""
    observed = None
    # NaN anywhere makes the sum NaN: one cheap reduction rules NaN out (isnan().any() is ~15x slower).
    missing = torch.isnan(series) if bool(torch.isnan(series.sum())) else None
    if missing is not None and bool(missing.any()):
        observed = ~missing
        series = torch.where(missing, torch.zeros((), dtype=series.dtype, device=series.device), series)

    def views(source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = _strided(source, n_windows, layout.stride, 0, layout.input_length, layout.dilation)
        targets = _strided(
            source, n_windows, layout.stride, layout.target_offset, layout.target_length, layout.target_step
        )
        return inputs, targets

    inputs, targets = views(series)
    input_mask, target_mask = (None, None) if observed is None else views(observed)
    return Windows(inputs, targets, input_mask, target_mask, layout)


def _strided(
    source: torch.Tensor, n_windows: int, stride: int, first_row: int, n_steps: int, step: int
) -> torch.Tensor:
    """``(n_windows, n_steps, C)`` view of ``source (T, C)``: ``[i, j]`` is row ``first_row + i stride + j step``."""
    row_stride, column_stride = source.stride()
    return source.as_strided(
        (n_windows, n_steps, source.shape[1]),
        (stride * row_stride, step * row_stride, column_stride),
        source.storage_offset() + first_row * row_stride,
    )


def _as_series(values: object, device: str | torch.device | None, name: str = "values") -> torch.Tensor:
    """An array-like ``(T,)`` or ``(T, C)`` -> a ``(T, C)`` floating tensor, sharing memory when it can."""
    if not isinstance(values, torch.Tensor):
        try:
            array = np.asarray(values)
        except (TypeError, ValueError) as error:
            raise DataError(f"{name} must be a numeric array of shape (T, C) or (T,): {error}") from None
        if array.dtype.kind not in "iuf":
            raise DataError(f"{name} must hold real numbers. Got an array of dtype {array.dtype}.")
        if array.dtype.kind != "f" or any(stride < 0 for stride in array.strides):
            # torch.from_numpy takes neither negative strides nor integers as floats: one copy of the series.
            array = np.ascontiguousarray(array, dtype=array.dtype if array.dtype.kind == "f" else np.float64)
        with warnings.catch_warnings():
            # Read-only buffers (pandas' to_numpy) are shared as they are: windows are read-only views.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            values = torch.from_numpy(array)
    if values.is_complex() or values.dtype == torch.bool:
        raise DataError(f"{name} must hold real numbers. Got a tensor of dtype {values.dtype}.")
    values = values if values.is_floating_point() else values.to(torch.float64)
    values = values.unsqueeze(1) if values.ndim == 1 else values
    if values.ndim != 2 or values.shape[1] == 0:
        raise DataError(f"{name} must have shape (T, C) or (T,) with C >= 1. Got shape {tuple(values.shape)}.")
    if device is None:
        return values
    try:
        return values.to(torch.device(device))
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"The 'device' parameter {device!r} is not a usable torch device: {error}") from None


def _as_buffer(series: object, lengths: object, device: str | torch.device | None) -> tuple[torch.Tensor, list[int]]:
    """The accepted multi-series inputs -> (buffer ``(R, C)``, the ``S`` lengths summing to ``R``)."""
    if isinstance(series, (pd.DataFrame, list, tuple)) and lengths is not None:
        raise ConfigError("Pass 'lengths' only with one buffer array, not with a DataFrame or a list of series.")
    if isinstance(series, pd.DataFrame):
        buffer_array, lengths = _long_frame_buffer(series)
        return _as_series(buffer_array, device, "the long frame"), lengths
    if isinstance(series, (list, tuple)):
        if not series:
            raise DataError("The list of series is empty.")
        parts = [_as_series(part, device, f"series {position}") for position, part in enumerate(series)]
        channels = [part.shape[1] for part in parts]
        if len(set(channels)) > 1:
            raise DataError(f"Every series must have the same number of channels. Got {channels}.")
        return torch.cat(parts), [len(part) for part in parts]  # one copy of the series (torch.cat promotes dtypes)
    if lengths is None:
        raise ConfigError("Pass 'lengths' (the rows of each series) with one buffer array, or a list of series.")
    buffer = _as_series(series, device, "the buffer")
    lengths = [int(length) for length in np.asarray(lengths).reshape(-1)]
    if not lengths or min(lengths) < 1 or sum(lengths) != buffer.shape[0]:
        raise DataError(
            f"'lengths' must be ints >= 1 summing to the buffer's {buffer.shape[0]} rows. "
            f"Got {len(lengths)} lengths summing to {sum(lengths)}, the smallest {min(lengths, default=None)}."
        )
    return buffer, lengths


def _long_frame_buffer(frame: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """A long frame ``(series, timestamp)`` -> its values ``(R, C)`` and the rows of each series."""
    if not isinstance(frame.index, pd.MultiIndex) or frame.index.nlevels != 2:
        raise DataError(
            "A DataFrame of many series must have a MultiIndex (series, timestamp). "
            f"Got an index of type {type(frame.index).__name__}."
        )
    codes, uniques = pd.factorize(frame.index.get_level_values(0))
    run_starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]  # rows where a run of one series begins
    if len(run_starts) != len(uniques):
        run_codes = codes[run_starts]
        repeated = uniques[run_codes[pd.Series(run_codes).duplicated().to_numpy()][0]]
        raise DataError(
            f"The rows of series {repeated!r} are not contiguous in the long frame; "
            "sort it by series then timestamp (check_series(..., sort=True))."
        )
    return frame.to_numpy(), np.diff(np.r_[run_starts, len(codes)]).tolist()


def _window_positions(
    window_values: torch.Tensor, starts: torch.Tensor, n_timestamps: int, offset: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate; return floating ``values (N, W, C)`` and the timestamps they cover ``(N, W)``."""
    values = torch.as_tensor(window_values)
    values = values.unsqueeze(2) if values.ndim == 2 else values
    values = values if values.is_floating_point() else values.to(torch.get_default_dtype())
    starts = torch.as_tensor(starts, device=values.device)
    if values.ndim != 3 or values.shape[1] == 0 or starts.shape != values.shape[:1] or starts.is_floating_point():
        raise DataError(
            "windows_to_timestamps expects window_values of shape (N, W, C) or (N, W) with W >= 1 and integer "
            f"starts of shape (N,). Got {tuple(values.shape)} and {tuple(starts.shape)} of {starts.dtype}."
        )
    steps = torch.arange(values.shape[1], device=values.device) * step
    positions = starts.long().unsqueeze(1) + offset + steps  # (N, W)
    outside = (positions[:, 0] < 0) | (positions[:, -1] >= n_timestamps)
    if bool(outside.any()):
        window = int(torch.nonzero(outside)[0])
        raise DataError(
            f"Window {window} covers timestamps {int(positions[window, 0])}..{int(positions[window, -1])}, "
            f"outside 0..{n_timestamps - 1} (n_timestamps={n_timestamps})."
        )
    return values, positions


def _check_indices(indices: object, n_windows: int, device: torch.device) -> torch.Tensor:
    """``(B,)`` integer window indices in ``[0, n_windows)`` -> a LongTensor on ``device``.

    The range is checked where the indices are (the sampler makes them on the CPU), before
    they move: checking on a GPU would make it wait for every batch.
    """
    indices = torch.as_tensor(indices)
    if indices.ndim != 1 or indices.is_floating_point() or indices.dtype == torch.bool:
        raise DataError(
            f"Window indices must be a 1-D integer tensor. Got shape {tuple(indices.shape)} of {indices.dtype}."
        )
    if indices.device.type == "cpu" and len(indices):
        smallest, largest = torch.aminmax(indices)
        if int(smallest) < 0 or int(largest) >= n_windows:
            raise DataError(
                f"Window indices must lie in 0..{n_windows - 1}. Got values from {int(smallest)} to {int(largest)}."
            )
    return indices.to(device=device, dtype=torch.long, non_blocking=True)
