"""Windows as views, against a naive loop over window starts; batches; back to timestamps."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from tsseq.data.windows import (
    BatchSampler,
    Windows,
    make_multi_series_windows,
    make_windows,
    windows_to_timestamps,
)
from tsseq.errors import ConfigError, DataError


def reference_windows(values, input_length, horizon, kind, stride, dilation):
    """The obvious loop: (inputs (N, L, C), targets (N, H, C), starts (N,)) as numpy arrays."""
    inputs, targets, starts = [], [], []
    start = 0
    while True:
        input_rows = [start + step * dilation for step in range(input_length)]
        if kind == "synchronized":
            target_rows = [row + dilation for row in input_rows]
        else:
            target_rows = [input_rows[-1] + 1 + step for step in range(horizon)]
        if target_rows[-1] >= len(values):
            break
        inputs.append(values[input_rows])
        targets.append(values[target_rows])
        starts.append(start)
        start += stride
    return np.array(inputs), np.array(targets), np.array(starts)


def geometry_grid():
    for kind, input_length, stride, dilation in itertools.product(
        ("many_to_many", "many_to_one", "synchronized"), (1, 4), (1, 3), (1, 2)
    ):
        for horizon in (1, 5) if kind == "many_to_many" else (1,):
            yield kind, input_length, horizon, stride, dilation


GRID = list(geometry_grid())


def series(rows=23, channels=2, seed=0):
    return np.random.default_rng(seed).normal(size=(rows, channels))


@pytest.mark.parametrize("kind, input_length, horizon, stride, dilation", GRID)
def test_windows_match_the_reference_loop(kind, input_length, horizon, stride, dilation):
    values = series()
    windows = make_windows(values, input_length, horizon, kind=kind, stride=stride, dilation=dilation)
    inputs, targets, starts = reference_windows(values, input_length, horizon, kind, stride, dilation)
    assert len(windows) == len(starts) > 0
    np.testing.assert_array_equal(windows.inputs.numpy(), inputs)
    np.testing.assert_array_equal(windows.targets.numpy(), targets)
    np.testing.assert_array_equal(windows.starts.numpy(), starts)
    assert windows.input_mask is None and windows.target_mask is None


@pytest.mark.parametrize("rows, input_length, horizon", [(23, 4, 5), (101, 96, 5), (17420, 96, 96)])
def test_many_to_many_count_is_rows_minus_input_minus_horizon_plus_one(rows, input_length, horizon):
    windows = make_windows(np.zeros((rows, 1)), input_length, horizon)
    assert len(windows) == rows - input_length - horizon + 1
    assert windows.inputs.shape == (len(windows), input_length, 1)
    assert windows.targets.shape == (len(windows), horizon, 1)


def test_synchronized_targets_are_the_inputs_shifted_by_one_step():
    windows = make_windows(series(), 6, kind="synchronized", dilation=2)
    assert torch.equal(windows.targets[:, :-1], windows.inputs[:, 1:])
    assert windows.targets.shape == windows.inputs.shape


@pytest.mark.parametrize("kind, input_length, horizon, stride, dilation", GRID)
def test_windows_are_views_of_the_numpy_series(kind, input_length, horizon, stride, dilation):
    values = series()
    windows = make_windows(values, input_length, horizon, kind=kind, stride=stride, dilation=dilation)
    assert windows.inputs.untyped_storage().data_ptr() == values.ctypes.data
    assert windows.targets.untyped_storage().data_ptr() == values.ctypes.data
    values[:] = -7.0  # writing to the source shows through every window
    assert bool((windows.inputs == -7.0).all()) and bool((windows.targets == -7.0).all())


def test_windows_of_a_tensor_share_its_storage_and_dtype():
    values = torch.randn(30, 3, dtype=torch.float32)
    windows = make_windows(values, 5, 2, device="cpu")
    assert windows.inputs.untyped_storage().data_ptr() == values.untyped_storage().data_ptr()
    assert windows.inputs.dtype == torch.float32 and windows.inputs.device == torch.device("cpu")
    values[7, 1] = 99.0
    assert windows.inputs[3, 4, 1] == 99.0 and windows.targets[1, 1, 1] == 99.0


def test_windows_of_a_column_slice_are_views_too():
    values = series(channels=4)
    columns = values[:, 1::2]  # not contiguous, positive strides: still shared
    windows = make_windows(columns, 3, 2)
    inputs, targets, _ = reference_windows(columns, 3, 2, "many_to_many", 1, 1)
    np.testing.assert_array_equal(windows.inputs.numpy(), inputs)
    np.testing.assert_array_equal(windows.targets.numpy(), targets)
    values[0, 1] = 42.0
    assert windows.inputs[0, 0, 0] == 42.0


def test_reversed_array_is_copied_once_and_still_correct():
    values = series()[::-1]
    windows = make_windows(values, 4, 3, stride=2)
    inputs, targets, _ = reference_windows(values, 4, 3, "many_to_many", 2, 1)
    np.testing.assert_array_equal(windows.inputs.numpy(), inputs)
    np.testing.assert_array_equal(windows.targets.numpy(), targets)


def test_one_dimensional_series_is_one_channel():
    windows = make_windows(np.arange(10.0), 3, 2)
    assert windows.inputs.shape == (6, 3, 1) and windows.targets.shape == (6, 2, 1)
    assert windows.targets[0, :, 0].tolist() == [3.0, 4.0]


def test_integers_become_float64_and_frames_are_shared():
    assert make_windows(np.arange(10), 3).inputs.dtype == torch.float64
    frame = pd.DataFrame(series(), columns=["a", "b"])
    windows = make_windows(frame, 3, 2)
    assert windows.inputs.untyped_storage().data_ptr() == frame.to_numpy().ctypes.data
    np.testing.assert_array_equal(windows.inputs[2].numpy(), frame.to_numpy()[2:5])


def test_masks_mark_unobserved_values_and_inputs_hold_zero_there():
    values = series(rows=15)
    values[[2, 9], [0, 1]] = np.nan
    windows = make_windows(values, 4, 3, stride=2, dilation=2)
    inputs, targets, _ = reference_windows(values, 4, 3, "many_to_many", 2, 2)
    np.testing.assert_array_equal(windows.input_mask.numpy(), ~np.isnan(inputs))
    np.testing.assert_array_equal(windows.target_mask.numpy(), ~np.isnan(targets))
    np.testing.assert_array_equal(windows.inputs.numpy(), np.nan_to_num(inputs, nan=0.0))
    np.testing.assert_array_equal(windows.targets.numpy(), np.nan_to_num(targets, nan=0.0))
    assert windows.input_mask.dtype == torch.bool
    assert np.isnan(values[2, 0])  # the caller's series is left alone


def test_masked_windows_view_one_filled_copy_of_the_series():
    values = series(rows=15)
    values[4, 0] = np.nan
    windows = make_windows(values, 3, 2)
    filled = windows.inputs.untyped_storage()
    assert filled.data_ptr() != values.ctypes.data and filled.nbytes() == values.nbytes
    assert windows.targets.untyped_storage().data_ptr() == filled.data_ptr()
    assert windows.input_mask.untyped_storage().data_ptr() == windows.target_mask.untyped_storage().data_ptr()


def test_gather_copies_one_batch_with_masks():
    values = series(rows=20)
    values[5, 1] = np.nan
    windows = make_windows(values, 4, 2)
    indices = torch.tensor([7, 0, 3, 3])
    inputs, targets, input_mask, target_mask = windows.gather(indices)
    torch.testing.assert_close(inputs, windows.inputs[indices])
    torch.testing.assert_close(targets, windows.targets[indices])
    assert torch.equal(input_mask, windows.input_mask[indices])
    assert torch.equal(target_mask, windows.target_mask[indices])
    assert inputs.untyped_storage().data_ptr() != windows.inputs.untyped_storage().data_ptr()


def test_gather_without_missing_values_returns_no_masks():
    windows = make_windows(series(), 4, 2)
    assert windows.gather(torch.tensor([1, 2]))[2:] == (None, None)


@pytest.mark.parametrize(
    "indices, message",
    [
        (torch.tensor([0, 16]), r"Window indices must lie in 0\.\.15\. Got values from 0 to 16\."),
        (torch.tensor([-1]), r"must lie in 0\.\.15"),
        (torch.tensor([0.0, 1.0]), r"1-D integer tensor"),
        (torch.tensor([[0, 1]]), r"1-D integer tensor"),
    ],
)
def test_gather_rejects_bad_indices(indices, message):
    with pytest.raises(DataError, match=message):
        make_windows(series(), 4, 4).gather(indices)


@pytest.mark.parametrize(
    "rows, kwargs, message",
    [
        (50, dict(input_length=48, horizon=5), "A series of 50 rows is too short for input_length=48 + horizon=5: "
         "a window needs at least 53 rows."),
        (50, dict(input_length=24, horizon=5, dilation=2), "input_length=24 with dilation=2 + horizon=5: "
         "a window needs at least 52 rows."),
        (10, dict(input_length=10, kind="synchronized"), "input_length=10 + 1 shifted target step: "
         "a window needs at least 11 rows."),
    ],
)
def test_too_short_series_is_a_data_error_naming_the_rows_needed(rows, kwargs, message):
    with pytest.raises(DataError) as error:
        make_windows(np.zeros((rows, 1)), **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_length=0), "The 'input_length' parameter must be an int >= 1. Got 0 instead."),
        (dict(input_length=3, horizon=1.5), "The 'horizon' parameter must be an int >= 1. Got 1.5 instead."),
        (dict(input_length=3, stride=0), "The 'stride' parameter must be an int >= 1. Got 0 instead."),
        (dict(input_length=3, dilation=True), "The 'dilation' parameter must be an int >= 1. Got True instead."),
        (dict(input_length=3, kind="many_to_mani"), "Did you mean 'many_to_many'?"),
        (dict(input_length=3, horizon=4, kind="many_to_one"), "'horizon' parameter must be 1. Got 4 instead"),
        (dict(input_length=3, horizon=2, kind="synchronized"), "use kind='many_to_many'"),
        (dict(input_length=3, device="not-a-device"), "The 'device' parameter 'not-a-device'"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as error:
        make_windows(series(), **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros((4, 3, 2)), r"must have shape \(T, C\) or \(T,\) with C >= 1. Got shape \(4, 3, 2\)"),
        (np.zeros((9, 0)), r"Got shape \(9, 0\)"),
        (np.array(["a", "b", "c", "d"]), "must hold real numbers. Got an array of dtype <U1"),
        (np.ones(9, dtype=complex), "must hold real numbers"),
        (torch.ones(9, dtype=torch.bool), "must hold real numbers. Got a tensor of dtype torch.bool"),
    ],
)
def test_bad_values_are_data_errors(values, message):
    with pytest.raises(DataError, match=message):
        make_windows(values, 2)


def test_windows_are_frozen():
    windows = make_windows(series(), 3)
    assert isinstance(windows, Windows)
    with pytest.raises(AttributeError):
        windows.inputs = None


# Many series laid end to end.

LENGTHS = (9, 3, 14, 7, 11)


def many_series(seed=1, channels=2):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(length, channels)) for length in LENGTHS]


@pytest.mark.parametrize("kind, input_length, horizon, stride, dilation", GRID)
def test_multi_series_windows_match_the_per_series_reference(kind, input_length, horizon, stride, dilation):
    parts = many_series()
    windows = make_multi_series_windows(
        parts, input_length, horizon, kind=kind, stride=stride, dilation=dilation
    )
    references = [reference_windows(part, input_length, horizon, kind, stride, dilation) for part in parts]
    expected_series = np.concatenate([np.full(len(ref[2]), position) for position, ref in enumerate(references)])
    nonempty = [ref for ref in references if len(ref[2])]
    inputs, targets, _, _ = windows.gather(torch.arange(len(windows)))
    assert len(windows) == len(expected_series)
    np.testing.assert_array_equal(inputs.numpy(), np.concatenate([ref[0] for ref in nonempty]))
    np.testing.assert_array_equal(targets.numpy(), np.concatenate([ref[1] for ref in nonempty]))
    series_of, starts = windows.locate()
    np.testing.assert_array_equal(series_of.numpy(), expected_series)
    np.testing.assert_array_equal(windows.series_of().numpy(), expected_series)
    np.testing.assert_array_equal(starts.numpy(), np.concatenate([ref[2] for ref in references]))


@pytest.mark.parametrize("kind, input_length, horizon, stride, dilation", GRID)
def test_multi_series_windows_never_straddle_two_series(kind, input_length, horizon, stride, dilation):
    windows = make_multi_series_windows(
        many_series(), input_length, horizon, kind=kind, stride=stride, dilation=dilation
    )
    series_of, starts = windows.locate()
    last_row = starts + windows.row_windows.layout.span - 1
    assert bool((starts >= 0).all()) and bool((last_row < windows.lengths[series_of]).all())


def test_too_short_series_has_no_windows():
    windows = make_multi_series_windows(many_series(), 4, 2)  # span 6: the series of 3 rows has none
    assert windows.window_offsets.tolist() == [0, 4, 4, 13, 15, 21]
    assert 1 not in windows.series_of().tolist()


def test_buffer_with_lengths_is_viewed_not_copied():
    buffer = np.concatenate(many_series())
    windows = make_multi_series_windows(buffer, 3, 2, lengths=LENGTHS)
    assert windows.row_windows.inputs.untyped_storage().data_ptr() == buffer.ctypes.data
    assert windows.series_offsets.tolist() == [0, 9, 12, 26, 33]
    buffer[12, 0] = 5.0  # first row of series 2
    inputs, _, _, _ = windows.gather(torch.tensor([int(windows.window_offsets[2])]))
    assert inputs[0, 0, 0] == 5.0


def test_long_frame_is_split_by_its_index_without_copying():
    parts = many_series()
    ids = ["H7", "H2", "H10", "H1", "H3"]  # order of appearance, not sorted order
    index = pd.MultiIndex.from_arrays(
        [np.repeat(ids, LENGTHS), np.concatenate([pd.date_range("2020", periods=n, freq="h") for n in LENGTHS])],
        names=["series", "timestamp"],
    )
    frame = pd.DataFrame(np.concatenate(parts), index=index, columns=["a", "b"])
    windows = make_multi_series_windows(frame, 3, 2, stride=2)
    assert windows.lengths.tolist() == list(LENGTHS)
    assert windows.row_windows.inputs.untyped_storage().data_ptr() == frame.to_numpy().ctypes.data
    from_list = make_multi_series_windows(parts, 3, 2, stride=2)
    everything = torch.arange(len(windows))
    for ours, theirs in zip(windows.gather(everything)[:2], from_list.gather(everything)[:2]):
        torch.testing.assert_close(ours, theirs)


def test_multi_series_masks():
    parts = many_series()
    parts[2][0, 1] = np.nan
    windows = make_multi_series_windows(parts, 3, 2)
    inputs, targets, input_mask, target_mask = windows.gather(torch.arange(len(windows)))
    references = [reference_windows(part, 3, 2, "many_to_many", 1, 1) for part in parts if len(part) >= 6]
    expected_inputs = np.concatenate([ref[0] for ref in references])
    np.testing.assert_array_equal(input_mask.numpy(), ~np.isnan(expected_inputs))
    np.testing.assert_array_equal(inputs.numpy(), np.nan_to_num(expected_inputs, nan=0.0))
    assert bool(target_mask.all())  # the NaN is in the first row of its series: never a target
    assert np.isnan(parts[2][0, 1])


def test_multi_series_gather_is_an_index_copy_of_the_batch():
    windows = make_multi_series_windows(many_series(), 3, 2)
    inputs, targets, input_mask, target_mask = windows.gather(torch.tensor([11, 0]))
    assert inputs.shape == (2, 3, 2) and targets.shape == (2, 2, 2) and input_mask is None and target_mask is None
    with pytest.raises(DataError, match=r"must lie in 0\.\.24"):  # 5 + 0 + 10 + 3 + 7 windows
        windows.gather(torch.tensor([25]))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: make_multi_series_windows(many_series(), 20, 2), DataError,
         "Every series (the longest has 14 rows) is too short for input_length=20 + horizon=2"),
        (lambda: make_multi_series_windows(np.zeros((10, 1)), 3), ConfigError, "Pass 'lengths'"),
        (lambda: make_multi_series_windows(np.zeros((10, 1)), 3, lengths=[4, 5]), DataError,
         "'lengths' must be ints >= 1 summing to the buffer's 10 rows. Got 2 lengths summing to 9"),
        (lambda: make_multi_series_windows(np.zeros((10, 1)), 3, lengths=[10, 0]), DataError, "the smallest 0"),
        (lambda: make_multi_series_windows(many_series(), 3, lengths=LENGTHS), ConfigError,
         "Pass 'lengths' only with one buffer array"),
        (lambda: make_multi_series_windows([], 3), DataError, "The list of series is empty."),
        (lambda: make_multi_series_windows([np.zeros((8, 2)), np.zeros((8, 3))], 3), DataError,
         "same number of channels. Got [2, 3]"),
        (lambda: make_multi_series_windows(pd.DataFrame({"a": np.zeros(8)}), 3), DataError,
         "must have a MultiIndex (series, timestamp)"),
    ],
)
def test_multi_series_errors(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value)


def test_long_frame_with_interleaved_series_is_rejected():
    index = pd.MultiIndex.from_arrays([["a", "a", "b", "a"], pd.date_range("2020", periods=4, freq="h")])
    with pytest.raises(DataError, match="The rows of series 'a' are not contiguous"):
        make_multi_series_windows(pd.DataFrame({"x": np.zeros(4)}, index=index), 1)


# Batches of indices.


@pytest.mark.parametrize("n_windows, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, True, [4, 4]), (3, 4, True, []), (3, 4, False, [3]),
])
def test_sampler_batch_sizes_and_length(n_windows, batch_size, drop_last, sizes):
    sampler = BatchSampler(n_windows, batch_size, drop_last=drop_last, seed=0)
    batches = list(sampler)
    assert [len(batch) for batch in batches] == sizes and len(sampler) == len(sizes)
    assert all(batch.dtype == torch.long for batch in batches)


def test_sampler_covers_every_index_once_per_epoch():
    sampler = BatchSampler(103, 8, seed=3)
    for _ in range(3):
        assert sorted(torch.cat(list(sampler)).tolist()) == list(range(103))


def test_sampler_is_reproducible_with_a_seed_and_epochs_differ():
    first, second = BatchSampler(50, 7, seed=11), BatchSampler(50, 7, seed=11)
    epochs_first = [torch.cat(list(first)) for _ in range(2)]
    epochs_second = [torch.cat(list(second)) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(epochs_first, epochs_second))
    assert not torch.equal(epochs_first[0], epochs_first[1])
    assert not torch.equal(epochs_first[0], torch.cat(list(BatchSampler(50, 7, seed=12))))


def test_sampler_with_a_generator_and_without_shuffling():
    generator = torch.Generator().manual_seed(5)
    expected = torch.randperm(20, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.cat(list(BatchSampler(20, 6, generator=generator))), expected)
    assert torch.cat(list(BatchSampler(20, 6, shuffle=False))).tolist() == list(range(20))


def test_sampler_drop_last_leaves_out_only_the_remainder():
    kept = torch.cat(list(BatchSampler(10, 4, drop_last=True, seed=0)))
    assert len(kept) == 8 and len(set(kept.tolist())) == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_windows=10, batch_size=0), "The 'batch_size' parameter must be an int >= 1. Got 0 instead."),
        (dict(n_windows=0, batch_size=2), "The 'n_windows' parameter must be an int >= 1. Got 0 instead."),
        (dict(n_windows=10, batch_size=2, seed=1, generator=torch.Generator()), "either 'seed' or 'generator'"),
    ],
)
def test_sampler_errors(kwargs, message):
    with pytest.raises(ConfigError) as error:
        BatchSampler(**kwargs)
    assert message in str(error.value)


# Back to timestamps.

NAN = float("nan")
# Three windows of width 2 starting at rows 0, 1, 2 of a 5-row series: they cover rows 0..3.
WINDOW_VALUES = torch.tensor([[1.0, 2.0], [4.0, 3.0], [5.0, 9.0]])
STARTS = torch.tensor([0, 1, 2])


@pytest.mark.parametrize(
    "aggregation, expected",
    [
        ("mean", [1.0, 3.0, 4.0, 9.0, NAN]),
        ("max", [1.0, 4.0, 5.0, 9.0, NAN]),
        ("last", [NAN, 2.0, 3.0, 9.0, NAN]),  # the last step of the window ending at each row
    ],
)
def test_windows_to_timestamps_known_answers(aggregation, expected):
    result = windows_to_timestamps(WINDOW_VALUES, STARTS, 5, aggregation=aggregation)
    torch.testing.assert_close(result, torch.tensor(expected), equal_nan=True)


def test_windows_to_timestamps_keeps_channels_and_offsets():
    values = torch.stack([WINDOW_VALUES, -WINDOW_VALUES], dim=2)  # (3, 2, 2)
    result = windows_to_timestamps(values, STARTS, 7, aggregation="mean", offset=2)
    expected = torch.tensor([NAN, NAN, 1.0, 3.0, 4.0, 9.0, NAN])
    torch.testing.assert_close(result, torch.stack([expected, -expected], dim=1), equal_nan=True)


def test_last_prefers_the_latest_window_when_several_end_together():
    result = windows_to_timestamps(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([1, 1, 0]), 3, aggregation="last")
    torch.testing.assert_close(result, torch.tensor([3.0, 2.0, NAN]), equal_nan=True)


@pytest.mark.parametrize("aggregation", ["mean", "max", "last"])
@pytest.mark.parametrize("kind, input_length, horizon, stride, dilation", GRID)
def test_targets_map_back_to_the_series(aggregation, kind, input_length, horizon, stride, dilation):
    values = series()
    windows = make_windows(values, input_length, horizon, kind=kind, stride=stride, dilation=dilation)
    layout = windows.layout
    result = windows_to_timestamps(
        windows.targets, windows.starts, len(values), aggregation=aggregation,
        offset=layout.target_offset, step=layout.target_step,
    ).numpy()
    _, _, starts = reference_windows(values, input_length, horizon, kind, stride, dilation)
    rows = starts[:, None] + layout.target_offset + np.arange(layout.target_length) * layout.target_step
    covered = np.zeros(len(values), dtype=bool)
    covered[(rows[:, -1:] if aggregation == "last" else rows).ravel()] = True
    np.testing.assert_allclose(result[covered], values[covered], rtol=1e-12)  # a mean of equal values
    assert np.isnan(result[~covered]).all()


def test_scoring_input_windows_leaves_the_first_timestamps_nan():
    values = series(rows=12)
    windows = make_windows(values, 4, 1)
    scores = windows.inputs.abs().sum(dim=2)  # (N, L) one score per input step
    causal = windows_to_timestamps(scores, windows.starts, len(values), aggregation="last")
    assert torch.isnan(causal[:3]).all() and not torch.isnan(causal[3:11]).any()
    torch.testing.assert_close(causal[3:11], torch.from_numpy(np.abs(values[3:11]).sum(axis=1)))
    assert torch.isnan(causal[11])  # the last row is only ever a target


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(aggregation="maxx"), ConfigError, "Did you mean 'max'?"),
        (dict(n_timestamps=3), DataError, "Window 2 covers timestamps 2..3, outside 0..2 (n_timestamps=3)."),
        (dict(starts=torch.tensor([0, 1])), DataError, "starts of shape (N,). Got (3, 2, 1) and (2,)"),
        (dict(starts=torch.tensor([0.0, 1.0, 2.0])), DataError, "integer starts"),
        (dict(offset=-1), ConfigError, "The 'offset' parameter must be an int >= 0. Got -1 instead."),
        (dict(step=0), ConfigError, "The 'step' parameter must be an int >= 1. Got 0 instead."),
    ],
)
def test_windows_to_timestamps_errors(kwargs, error, message):
    arguments = dict(window_values=WINDOW_VALUES, starts=STARTS, n_timestamps=5) | kwargs
    with pytest.raises(error) as raised:
        windows_to_timestamps(**arguments)
    assert message in str(raised.value)
