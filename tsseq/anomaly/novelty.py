r"""Pattern novelty of a stream: how far the latest window is from every earlier one.

A causal raw anomaly score that complements a forecast residual. A forecaster that keeps
learning (:mod:`tsseq.anomaly.online`) adapts within a few rows to a new pattern, and its
residual then looks normal again; the new pattern is still unlike anything seen before.
For each row ``t`` of a standardised stream ``x``:

* ``w_t = (x_{t-W+1}, .., x_t)``, the last ``W`` values (``W = window``);
* ``d_t = min_s ||w_t - w_s|| / sqrt(W)`` over the earlier windows that do not overlap it
  (``s < t - W``) and end at most ``history + W`` rows before ``t`` (a bounded search:
  the cost per row is ``O(history W)``, not growing with the stream), the distance to the
  nearest neighbour (the 1-NN distance of KNN-CAD, Burnaev & Ishimtsev 2016, without its
  conformal step); NaN while there is no earlier window;
* ``m_{t-1}``, the exponentially weighted mean of the finite ``d`` before ``t`` (half-life
  ``halflife`` rows), and the raw score ``a_t = min(d_t / (scale m_{t-1}), 1)`` in
  ``[0, 1]`` (0 while ``d`` or ``m`` is undefined; a flat stream scores 0).

The raw score then goes through Numenta's anomaly likelihood like the residual's
(:class:`tsseq.anomaly.scorers.LikelihoodScorer`). Scoring a stream in pieces equals
scoring it at once: the state carries the last ``2 W + history`` values and the mean's sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True, eq=False)
class NoveltyState:
    """What the novelty score carries from one row to the next (never mutated in place)."""

    recent: np.ndarray  # the last (at most) 2 W + history standardised values
    scale_sum: float  # EWMA of the distances = scale_sum / scale_weight (pandas' adjust=True form)
    scale_weight: float


@numba.njit(cache=True)
def _nearest_distances(buffer, first, window, history):
    """``d_t`` for the rows ``first ..`` of ``buffer`` (module docstring); NaN where no earlier window exists."""
    out = np.full(len(buffer) - first, np.nan)
    for t in range(first, len(buffer)):
        best = np.inf
        for s in range(max(window - 1, t - window - history), t - window):
            total = 0.0
            for j in range(window):
                difference = buffer[t - j] - buffer[s - j]
                total += difference * difference
                if total >= best:  # cannot be nearer: stop early
                    break
            if total < best:
                best = total
        if best < np.inf:
            out[t - first] = np.sqrt(best / window)
    return out


@numba.njit(cache=True)
def _running_means(distances, decay, scale_sum, scale_weight):
    """``m_{t-1}`` for each row (NaN before the first finite distance), and the sums after the last row."""
    means = np.full(len(distances), np.nan)
    for i in range(len(distances)):
        if scale_weight > 0:
            means[i] = scale_sum / scale_weight
        if np.isfinite(distances[i]):
            scale_sum = decay * scale_sum + distances[i]
            scale_weight = decay * scale_weight + 1.0
    return means, scale_sum, scale_weight


def novelty_raw(
    x: np.ndarray, state: NoveltyState | None, *, window: int, history: int, halflife: float, scale: float
) -> tuple[np.ndarray, NoveltyState]:
    """Raw scores ``a`` ``(T,)`` of the standardised values ``x`` that follow ``state`` (None: the stream's start), and the state after them."""
    state = state or NoveltyState(np.empty(0), 0.0, 0.0)
    buffer = np.concatenate([state.recent, np.asarray(x, dtype=np.float64)])
    distances = _nearest_distances(buffer, len(state.recent), window, history)
    decay = float(np.exp(-np.log(2.0) / halflife))
    means, scale_sum, scale_weight = _running_means(distances, decay, state.scale_sum, state.scale_weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.minimum(distances / (scale * means), 1.0)
    raw = np.nan_to_num(raw, nan=0.0, posinf=1.0)
    keep = 2 * window + history
    return raw, NoveltyState(buffer[-keep:].copy(), float(scale_sum), float(scale_weight))
