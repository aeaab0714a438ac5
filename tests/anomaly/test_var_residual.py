"""var_residual: a sensor that stops following its driver, which a per-channel AR cannot see; one channel is ar_residual."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from tsseq.anomaly.detectors import make_detector

TRAIN_ROWS, BREAK = 600, slice(750, 850)


def driven(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``q`` follows ``u`` one step back; on the BREAK rows it is noise of the same spread that follows nothing."""
    rng = np.random.default_rng(seed)
    u = np.zeros(rows)
    for t in range(1, rows):
        u[t] = 0.8 * u[t - 1] + rng.normal()
    q = np.r_[0.0, 0.9 * u[:-1]] + 0.2 * rng.normal(size=rows)
    q[BREAK] = rng.normal(0, q[:TRAIN_ROWS].std(), size=q[BREAK].shape)
    return pd.DataFrame({"u": u, "q": q}, index=pd.date_range("2024-01-01", periods=rows, freq="min"))


def _auc(name: str, frame: pd.DataFrame) -> float:
    detector = make_detector(name, window_length=16, threshold=None).fit(frame.iloc[:TRAIN_ROWS])
    scores = detector.score(frame).to_numpy()[TRAIN_ROWS:]
    labels = np.zeros(len(frame), dtype=bool)
    labels[BREAK] = True
    return roc_auc_score(labels[TRAIN_ROWS:], scores)


def test_a_broken_coupling_is_seen_by_the_vector_autoregression_only():
    frame = driven()
    coupled, alone = _auc("var_residual", frame), _auc("ar_residual", frame)
    # seeds 0-3: 0.846, 0.766, 0.822, 0.846 (the least squares with the channels' mean: 0.885, 0.819, 0.868, 0.884)
    assert coupled > 0.8
    assert alone < 0.7  # q's own past says little about q: 0.666, 0.557, 0.667, 0.653


def test_on_one_channel_it_is_ar_residual():
    frame = driven()[["u"]]
    scores = [make_detector(name, window_length=16).fit(frame.iloc[:TRAIN_ROWS]).score(frame) for name in ("var_residual", "ar_residual")]
    np.testing.assert_allclose(scores[0].to_numpy(), scores[1].to_numpy(), rtol=1e-7, equal_nan=True)


def unrelated_channels(channels: int = 24, rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Independent channels, each an AR(1) around levels that jump every 100-300 rows: a wide log whose
    channels share nothing, where least-squares cross terms only fit the training rows' coincidences."""
    rng = np.random.default_rng(seed)
    values = np.empty((rows, channels))
    for c in range(channels):
        jumps = np.cumsum(rng.integers(100, 300, size=rows // 100))
        level = rng.normal(0, 2, size=len(jumps) + 1)[np.searchsorted(jumps, np.arange(rows), side="right")]
        noise = np.zeros(rows)
        for t in range(1, rows):
            noise[t] = 0.7 * noise[t - 1] + rng.normal()
        values[:, c] = level + noise
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=rows, freq="min"))


def test_on_unrelated_channels_the_shrunk_var_errs_about_as_little_as_a_per_channel_ar():
    # The right model here is one AR per channel: the least-squares VAR's cross terms fit the training rows'
    # coincidences and err more on new rows; shrunk towards the AR they cost little.
    frame = unrelated_channels(channels=30)
    train = 600
    error = {}
    for label, name, penalty in (("ar", "ar_residual", None), ("ols", "var_residual", None), ("gcv", "var_residual", "gcv")):
        # the channels' mean error, as ar_residual's, and no screen (var_residual's defaults: the test below)
        vector = {"forecaster_params": {"cross_penalty": penalty, "cross_screen": None}, "scorer_params": {"reduction": "mean"}}
        params = {} if name == "ar_residual" else vector
        detector = make_detector(name, window_length=16, threshold=None, **params).fit(frame.iloc[:train])
        error[label] = np.nanmedian(detector.score(frame).to_numpy()[train:])
    # seeds 0-3, median new-row score over the AR's: least squares 1.27 / 1.17 / 1.25 / 1.22, shrunk 1.08 / 1.06 / 1.07 / 1.06
    assert error["gcv"] < 1.12 * error["ar"] < error["ols"], error


def test_its_var_is_screened_and_a_row_scored_by_its_largest_channel_by_default():
    # The eleventh study (threshold_study.md): the VAR screened and shrunk (SCREENED_VAR), the largest channel error.
    frame = unrelated_channels(channels=12, rows=700)
    detector = make_detector("var_residual", window_length=16, threshold=None).fit(frame.iloc[:600])
    assert detector.forecaster_.cross_screen == 0.01 and detector.forecaster_.cross_penalty == "gcv"
    assert detector.scorer_.reduction == "max"
    errors, _, _ = detector._window_errors(detector._scaled(frame))
    np.testing.assert_allclose(detector.scorer_.score(errors)[:, 0], np.abs(errors[:, 0]).max(axis=1))
    # forecaster_params update the screen key by key; another scorer does not take the preset's reduction
    capped = make_detector("var_residual", window_length=16, forecaster_params={"max_order": 2}).fit(frame.iloc[:600])
    assert capped.forecaster_.max_order == 2 and capped.forecaster_.cross_screen == 0.01
    squared = make_detector("var_residual", window_length=16, scorer="squared").fit(frame.iloc[:600])
    assert squared.scorer_.reduction == "mean"
    assert make_detector("var_residual", scorer="mahalanobis").scorer_params is None
    assert make_detector("var_residual", scorer_params={"reduction": "mean"}).scorer_params == {"reduction": "mean"}
