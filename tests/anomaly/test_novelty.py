"""Pattern novelty (tsseq.anomaly.novelty) and its place in OnlineResidualDetector."""

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.novelty import novelty_raw
from tsseq.anomaly.online import OnlineResidualDetector
from tsseq.errors import ConfigError


def brute_force_distances(x: np.ndarray, window: int, history: int) -> np.ndarray:
    """d_t by the module docstring's definition, one window pair at a time."""
    out = np.full(len(x), np.nan)
    for t in range(len(x)):
        candidates = [
            np.sqrt(np.mean((x[t - window + 1 : t + 1] - x[s - window + 1 : s + 1]) ** 2))
            for s in range(max(window - 1, t - window - history), t - window)
        ]
        if candidates:
            out[t] = min(candidates)
    return out


def raw_from_distances(distances: np.ndarray, halflife: float, scale: float) -> np.ndarray:
    """a_t = min(d_t / (scale m_{t-1}), 1), m the pandas EWM mean of the earlier finite distances."""
    means = pd.Series(distances).ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.minimum(distances / (scale * means), 1.0), nan=0.0, posinf=1.0)


@pytest.mark.parametrize("history", [5, 40, 1000])
def test_raw_scores_equal_the_definition_one_window_pair_at_a_time(history):
    x = np.random.default_rng(0).standard_normal(160)
    raw, _ = novelty_raw(x, None, window=4, history=history, halflife=20.0, scale=3.0)
    expected = raw_from_distances(brute_force_distances(x, 4, history), 20.0, 3.0)
    np.testing.assert_allclose(raw, expected, rtol=1e-12, atol=1e-12)
    assert np.all(raw[:8] == 0.0)  # no earlier, non-overlapping window yet (s < t - W)


def test_scoring_in_pieces_equals_scoring_at_once():
    x = np.random.default_rng(1).standard_normal(500)
    whole, _ = novelty_raw(x, None, window=6, history=50, halflife=30.0, scale=4.0)
    state, pieces = None, []
    for a, b in ((0, 3), (3, 200), (200, 201), (201, 500)):
        raw, state = novelty_raw(x[a:b], state, window=6, history=50, halflife=30.0, scale=4.0)
        pieces.append(raw)
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-12, atol=0)
    assert len(state.recent) == 2 * 6 + 50  # bounded memory


def test_a_repeated_pattern_is_not_novel_and_a_new_shape_is():
    period = np.sin(2 * np.pi * np.arange(24) / 24)
    x = np.tile(period, 20)
    x[400:412] = np.linspace(-1, 1, 12)  # a ramp where the sine should be: a shape never seen
    raw, _ = novelty_raw(x, None, window=8, history=200, halflife=50.0, scale=3.0)
    assert raw[100:400].max() == 0.0  # every window has an exact earlier copy
    assert raw[400:420].max() == 1.0


def seasonal_stream(rows: int = 1400, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.2 * rng.standard_normal(rows)
    return pd.Series(values, index=pd.date_range("2020-01-01", periods=rows, freq="h"), name="value")


@pytest.mark.parametrize(
    "warmup, bounds",
    [
        (0.0, ((300, 700), (700, 701), (701, None))),
        # 750 = (1 + 1.5) * 300 is the first row the novelty counts at: chunks end just before and at it.
        (1.5, ((300, 749), (749, 750), (750, 751), (751, None))),
    ],
)
def test_the_detector_with_novelty_stays_causal_and_chunkable(warmup, bounds):
    y = seasonal_stream()
    detector = OnlineResidualDetector(novelty_window=12, novelty_history=300, novelty_warmup=warmup, suppression=0.05)
    whole = detector.stream(y, train_rows=300)
    perturbed = y.copy()
    perturbed.iloc[1001:] += 40.0
    changed = detector.stream(perturbed, train_rows=300)
    np.testing.assert_array_equal(whole.iloc[:1001].to_numpy(), changed.iloc[:1001].to_numpy())
    detector.fit(y.iloc[:300])
    chunks = [detector.update(y.iloc[a:b]) for a, b in bounds]
    np.testing.assert_allclose(pd.concat(chunks).to_numpy(), whole.iloc[300:].to_numpy(), rtol=1e-9, atol=1e-12)


def square_wave_stream() -> pd.Series:
    """From row 1000 the daily cycle turns into a square wave of the same range: the AR's
    residual returns to normal as it learns, the pattern stays unlike the history."""
    y = seasonal_stream(rows=1600)
    square = 10 + 3 * np.sign(np.sin(2 * np.pi * np.arange(1000, 1600) / 24))
    y.iloc[1000:] = square + 0.2 * np.random.default_rng(3).standard_normal(600)
    return y


def test_novelty_flags_a_new_shape_that_the_learning_residual_forgets():
    y = square_wave_stream()
    options = dict(spatial_tolerance=None, suppression=0.0)
    residual_only = OnlineResidualDetector(**options).stream(y, train_rows=300)
    with_novelty = OnlineResidualDetector(novelty_window=12, **options).stream(y, train_rows=300)
    assert with_novelty.iloc[300:1000].max() < 0.5
    assert (with_novelty.iloc[1000:1200] >= 0.5).sum() > (residual_only.iloc[1000:1200] >= 0.5).sum()
    assert np.all(with_novelty.iloc[300:] >= residual_only.iloc[300:] - 1e-12)  # the larger of the two


@pytest.mark.parametrize(
    "params, message",
    [
        ({"novelty_window": 1}, "'novelty_window' parameter must be an int >= 2"),
        ({"novelty_window": 8, "novelty_history": 0}, "novelty_history"),
        ({"novelty_window": 8, "novelty_scale": 0.0}, "'novelty_scale' parameter must be > 0"),
    ],
)
def test_bad_novelty_parameters_name_themselves(params, message):
    with pytest.raises(ConfigError, match=message):
        OnlineResidualDetector(**params).fit(seasonal_stream(rows=400))


def test_novelty_warmup_leaves_the_novelty_out_until_its_row_and_then_equals_it():
    # Known answer: before row (1 + w) * n_train the score is the residual's alone (the
    # detector without novelty), from that row on the score with novelty from the start.
    y = square_wave_stream()
    options = dict(spatial_tolerance=None, suppression=0.0)
    residual_only = OnlineResidualDetector(**options).stream(y, train_rows=300)
    at_once = OnlineResidualDetector(novelty_window=12, **options).stream(y, train_rows=300)
    warmed = OnlineResidualDetector(novelty_window=12, novelty_warmup=2.0, **options).stream(y, train_rows=300)
    first = 3 * 300  # (1 + 2.0) * 300
    np.testing.assert_array_equal(warmed.iloc[:first].to_numpy(), residual_only.iloc[:first].to_numpy())
    np.testing.assert_array_equal(warmed.iloc[first:].to_numpy(), at_once.iloc[first:].to_numpy())
    assert (warmed.iloc[1000:1200] >= 0.5).any()  # the new shape after the warm-up still alarms


@pytest.mark.parametrize("value", [-1.0, float("nan"), "2"])
def test_bad_novelty_warmup_names_itself(value):
    with pytest.raises(ConfigError, match="'novelty_warmup' parameter must be a number >= 0"):
        OnlineResidualDetector(novelty_window=8, novelty_warmup=value).fit(seasonal_stream(rows=400))
