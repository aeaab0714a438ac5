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
    assert coupled > 0.85  # seeds 0-3: 0.885, 0.819, 0.868, 0.884
    assert alone < 0.7  # q's own past says little about q: 0.666, 0.557, 0.667, 0.653


def test_on_one_channel_it_is_ar_residual():
    frame = driven()[["u"]]
    scores = [make_detector(name, window_length=16).fit(frame.iloc[:TRAIN_ROWS]).score(frame) for name in ("var_residual", "ar_residual")]
    np.testing.assert_allclose(scores[0].to_numpy(), scores[1].to_numpy(), rtol=1e-7, equal_nan=True)
