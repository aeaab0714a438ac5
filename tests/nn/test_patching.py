"""Patching: counts, PatchTST's end padding, and patch -> unpatch = identity."""

from __future__ import annotations

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn.patching import patch, patch_count, unpatch


@pytest.mark.parametrize(
    ("length", "size", "stride", "pad_end", "expected"),
    [(336, 16, 8, True, 42), (512, 16, 8, True, 64), (336, 16, 8, False, 41), (20, 4, 4, False, 5), (21, 5, 3, True, 7)],
)
def test_patch_count(length, size, stride, pad_end, expected):
    assert patch_count(length, size, stride, pad_end) == expected
    assert patch(torch.zeros(1, length), size, stride, pad_end).shape == (1, expected, size)


def test_end_padding_repeats_the_last_value_like_replication_pad():
    x = torch.randn(3, 24, 2)
    expected = torch.nn.ReplicationPad1d((0, 8))(x.transpose(1, 2)).unfold(-1, 16, 8)  # (B, C, N, P)
    assert torch.equal(patch(x, 16, 8), expected)


def test_patches_are_the_windows_of_the_series():
    x = torch.arange(10.0).view(1, 10)
    patches = patch(x, 4, 3, pad_end=False)
    assert patches.tolist() == [[[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]]


def test_round_trip_is_exact_without_overlap():
    x = torch.randn(4, 20)
    assert torch.equal(unpatch(patch(x, 5, 5, pad_end=False), 5, 20), x)
    assert torch.equal(unpatch(patch(x, 5, 5), 5, 20), x)


@pytest.mark.parametrize(("size", "stride"), [(16, 8), (5, 3), (6, 1)])
def test_round_trip_with_overlapping_patches(size, stride):
    x = torch.randn(2, 3, 37, dtype=torch.float64).transpose(1, 2)  # (B, L, C)
    patches = patch(x, size, stride)  # (B, C, N, P)
    torch.testing.assert_close(unpatch(patches, stride, 37), x.transpose(1, 2), rtol=0, atol=1e-14)


def test_unpatch_averages_overlapping_values():
    patches = torch.tensor([[[1.0, 2.0], [4.0, 6.0]]])  # patch 0 at steps 0-1, patch 1 at steps 1-2
    assert unpatch(patches, 1, 3).tolist() == [[1.0, 3.0, 6.0]]


def test_errors():
    with pytest.raises(ConfigError, match="patch length"):
        patch(torch.zeros(2, 8), 16, 8)
    with pytest.raises(DataError, match=r"\(B, L\)"):
        patch(torch.zeros(8), 4, 4)
    with pytest.raises(ConfigError, match="stride 3 > patch length 2"):
        unpatch(torch.zeros(1, 4, 2), 3, 8)
    with pytest.raises(DataError, match="cannot rebuild 30"):
        unpatch(torch.zeros(1, 4, 4), 4, 30)
