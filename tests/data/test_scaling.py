"""Scalers: known answers, exact inverses in every layout, per-series statistics, no leakage."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import RobustScaler, StandardScaler

from tsseq.data.scaling import Scaler
from tsseq.data.splits import split_by_rows
from tsseq.errors import ConfigError, DataError

METHODS = ("standard", "minmax", "robust")


def _wide(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2020-01-01", periods=rows, freq="h", name="timestamp")
    values = rng.normal(size=(rows, 2)) * [1.0, 50.0] + [3.0, -200.0]
    return pd.DataFrame(values, index=index, columns=["load", "temperature"])


def _long() -> pd.DataFrame:
    parts = []
    for series_id, (rows, offset) in {"a": (12, 0.0), "b": (7, 1000.0)}.items():
        frame = _wide(rows, seed=rows) + offset
        frame.index = pd.MultiIndex.from_product([[series_id], frame.index], names=["series", "timestamp"])
        parts.append(frame)
    return pd.concat(parts)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("standard", [-1.5 / np.sqrt(1.25), -0.5 / np.sqrt(1.25), 0.5 / np.sqrt(1.25), 1.5 / np.sqrt(1.25)]),
        ("minmax", [0.0, 1 / 3, 2 / 3, 1.0]),
        ("robust", [-1.5 / 1.5, -0.5 / 1.5, 0.5 / 1.5, 1.5 / 1.5]),  # median 2.5, IQR 3.25 - 1.75
    ],
)
def test_known_answers(method: str, expected: list[float]) -> None:
    # mean 2.5, population variance 1.25, range 3
    scaled = Scaler(method).fit_transform(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(scaled, expected, rtol=1e-12)


def test_standard_and_robust_match_scikit_learn_and_ignore_nan() -> None:
    values = _wide().to_numpy(copy=True)
    values[[3, 17], 1] = np.nan
    for ours, theirs in (("standard", StandardScaler()), ("robust", RobustScaler())):
        np.testing.assert_allclose(Scaler(ours).fit_transform(values), theirs.fit_transform(values), atol=1e-12)
    assert np.isnan(Scaler().fit_transform(values)[[3, 17], 1]).all()


def test_standard_uses_the_population_standard_deviation() -> None:
    values = _wide().to_numpy()
    np.testing.assert_allclose(Scaler().fit(values).scale_[0], values.std(axis=0, ddof=0), rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_inverse_is_exact_in_every_layout(method: str) -> None:
    wide, long = _wide(), _long()
    arrays = [wide.to_numpy()[:25], wide.to_numpy()[25:]]
    for data in (wide.to_numpy(), wide.to_numpy()[:, 0], wide, long):
        scaler = Scaler(method).fit(data)
        restored = scaler.inverse_transform(scaler.transform(data))
        np.testing.assert_allclose(np.asarray(restored), np.asarray(data), rtol=1e-12, atol=1e-12)
    scaler = Scaler(method).fit(arrays)
    for restored, original in zip(scaler.inverse_transform(scaler.transform(arrays)), arrays):
        np.testing.assert_allclose(restored, original, rtol=1e-12, atol=1e-12)


def test_frames_keep_their_layout() -> None:
    wide, long = _wide(), _long()
    scaled_wide = Scaler().fit_transform(wide)
    assert scaled_wide.index.equals(wide.index) and scaled_wide.index.freq == "h"
    assert list(scaled_wide.columns) == ["load", "temperature"]
    scaled_long = Scaler().fit_transform(long)
    assert scaled_long.index.equals(long.index) and scaled_long.index.names == ["series", "timestamp"]


def test_long_frames_get_one_set_of_statistics_per_series_and_channel() -> None:
    long = _long()
    scaler = Scaler().fit(long)
    assert scaler.series_ids_ == ("a", "b") and scaler.center_.shape == (2, 2)
    scaled = scaler.transform(long)
    per_series = scaled.groupby(level="series")
    np.testing.assert_allclose(per_series.mean().to_numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(per_series.std(ddof=0).to_numpy(), 1.0, rtol=1e-12)
    # transforming one series alone uses that series' statistics
    pd.testing.assert_frame_equal(scaler.transform(long.loc[["b"]]), scaled.loc[["b"]])


def test_lists_of_arrays_are_scaled_per_series_by_position() -> None:
    first, second = np.array([[1.0], [3.0]]), np.array([[10.0], [30.0], [50.0]])
    scaled = Scaler("minmax").fit_transform([first, second])
    np.testing.assert_allclose(scaled[0], [[0.0], [1.0]])
    np.testing.assert_allclose(scaled[1], [[0.0], [0.5], [1.0]])


def test_pooled_statistics_when_not_per_series() -> None:
    long = _long()
    scaler = Scaler(per_series=False).fit(long)
    assert scaler.series_ids_ is None
    np.testing.assert_allclose(scaler.center_[0], long.to_numpy().mean(axis=0), rtol=1e-12)


def test_constant_channel_gets_scale_one_with_a_warning() -> None:
    values = np.column_stack([np.arange(5.0), np.full(5, 7.0)])
    with pytest.warns(UserWarning, match=r"1 channel\(s\) are constant.*channel 1.*scale 1"):
        scaler = Scaler().fit(values)
    assert scaler.scale_[0, 1] == 1.0
    scaled = scaler.transform(values)
    assert np.isfinite(scaled).all() and (scaled[:, 1] == 0.0).all()
    np.testing.assert_array_equal(scaler.inverse_transform(scaled), values)


def test_validation_and_test_rows_never_influence_the_fit() -> None:
    frame = _wide(rows=60)
    split = split_by_rows(frame, 30, 15, input_length=5)
    reference = Scaler().fit(split.train)

    changed = frame.copy()
    changed.iloc[30:] = np.random.default_rng(1).normal(size=(30, 2)) * 1e6 + 42.0
    changed_split = split_by_rows(changed, 30, 15, input_length=5)
    refitted = Scaler().fit(changed_split.train)

    np.testing.assert_array_equal(refitted.center_, reference.center_)
    np.testing.assert_array_equal(refitted.scale_, reference.scale_)
    pd.testing.assert_frame_equal(refitted.transform(changed_split.train), reference.transform(split.train))
    # ... whereas the statistics of the whole frame are different ones
    leaky = Scaler().fit(changed)
    assert not np.allclose(leaky.center_, reference.center_)
    assert not np.allclose(leaky.scale_, reference.scale_)


def test_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'minmax'"):
        Scaler("min_max").fit(np.ones((3, 1)))


def test_channel_with_no_observed_value_is_an_error() -> None:
    values = np.column_stack([np.arange(3.0), np.full(3, np.nan)])
    with pytest.raises(DataError, match="no observed .* channel 1"):
        Scaler().fit(values)


def test_transform_checks_columns_and_series() -> None:
    wide, long = _wide(), _long()
    with pytest.raises(DataError, match=r"fitted on columns \['load', 'temperature'\]"):
        Scaler().fit(wide).transform(wide.rename(columns={"load": "power"}))
    with pytest.raises(DataError, match="fitted on 2 channel"):
        Scaler().fit(wide).transform(np.ones((3, 1)))
    scaler = Scaler().fit(long)
    renamed = long.rename(index={"b": "bb"}, level="series")
    with pytest.raises(DataError, match="Series 'bb' was not seen.*Did you mean 'b'"):
        scaler.transform(renamed)
    with pytest.raises(DataError, match="per series on 2 series"):
        scaler.transform(wide)
    with pytest.raises(DataError, match="list of 2 series; got 1"):
        Scaler().fit([np.arange(3.0), np.arange(4.0)]).transform([np.arange(3.0)])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(NotFittedError):
        Scaler().transform(np.ones((2, 1)))
    with pytest.raises(DataError, match=r"shape \(T,\) or \(T, C\). Got shape \(2, 2, 2\)"):
        Scaler().fit(np.ones((2, 2, 2)))
    with pytest.raises(DataError, match=r"same channels in every series; got channel counts \[1, 2\]"):
        Scaler().fit([np.ones((3, 2)), np.ones(3)])
    with pytest.raises(DataError, match="Got dict"):
        Scaler().fit({"a": [1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Scaler().fit(np.arange(4.0))  # no spurious warnings on ordinary data


def test_a_scaler_is_a_step_of_a_scikit_learn_pipeline() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=60, freq="D")
    features = pd.DataFrame(rng.normal(size=(60, 2)) * [1.0, 1000.0] + [0.0, 5000.0], index=index, columns=["a", "b"])
    target = 2 * features["a"] + features["b"] / 1000
    pipeline = Pipeline([("scale", Scaler("standard")), ("ridge", Ridge(alpha=1e-9))])
    pipeline.fit(features.iloc[:40], target.iloc[:40])  # the pipeline passes the target to every step's fit_transform
    np.testing.assert_allclose(pipeline.predict(features.iloc[40:]), target.iloc[40:], atol=1e-6)
    scaler = pipeline.named_steps["scale"]
    np.testing.assert_allclose(scaler.center_[0], features.iloc[:40].mean(), rtol=1e-12)  # the rows it was fitted on
    scaled = Scaler("minmax").fit_transform(features, target)
    assert isinstance(scaled, pd.DataFrame) and scaled.min().tolist() == [0.0, 0.0]
