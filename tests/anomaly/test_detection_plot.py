"""The detection plot's series panel: which channels it draws when not all fit, and where the flagged dots sit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tsseq.anomaly.plotting import BY_CONTRIBUTION, BY_DEPARTURE, MAX_CHANNELS, flag_channels, series_channels
from tsseq.cli import main

PREFIX = "contribution_"
ROWS, SPIKE_ROW = 600, 400


def _six_sines(rows: int = ROWS) -> pd.DataFrame:
    """Six noisy sines, 30 added to the last channel at ``SPIKE_ROW``."""
    rng = np.random.default_rng(0)
    t = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * t / 24 + np.arange(6)) + 0.1 * rng.standard_normal((rows, 6))
    values[SPIKE_ROW, 5] += 30.0
    index = pd.date_range("2024-01-01", periods=rows, freq="min")
    return pd.DataFrame(values, columns=[f"ch{k}" for k in range(6)], index=index)


def _result(values: pd.DataFrame, contributions: bool) -> pd.DataFrame:
    """Flags on the spike and the row after it; the spike's score mostly ch5's, the next row's mostly ch2's."""
    result = pd.DataFrame({"score": 1.0, "is_anomaly": False}, index=values.index)
    result.iloc[[SPIKE_ROW, SPIKE_ROW + 1], 1] = True
    if contributions:
        parts = np.full((len(values), 6), 1.0 / 6)
        parts[SPIKE_ROW] = [0.0, 0.0, 0.1, 0.0, 0.0, 0.9]
        parts[SPIKE_ROW + 1] = [0.0, 0.1, 0.6, 0.0, 0.0, 0.3]
        for k in range(parts.shape[1]):
            result[f"{PREFIX}ch{k}"] = parts[:, k]
    return result


def test_the_panel_draws_the_channels_that_contribute_to_the_flags_most_first() -> None:
    values = _six_sines()
    shown, rule = series_channels(values, _result(values, contributions=True), None, PREFIX)
    assert len(shown) == MAX_CHANNELS and shown[:2] == ["ch5", "ch2"] and rule == BY_CONTRIBUTION
    # the channels the events name come first, whatever the flagged rows' sums
    events = pd.DataFrame({"channels": ["ch4, ch5"]})
    assert series_channels(values, _result(values, contributions=True), events, PREFIX)[0][:3] == ["ch5", "ch4", "ch2"]


def test_without_contributions_the_panel_draws_the_channels_that_depart_most() -> None:
    values = _six_sines()
    shown, rule = series_channels(values, _result(values, contributions=False), None, PREFIX)
    assert shown[0] == "ch5" and len(shown) == MAX_CHANNELS and rule == BY_DEPARTURE


def test_channels_that_fit_are_all_drawn_in_their_order() -> None:
    values = _six_sines().iloc[:, ::-1].iloc[:, :MAX_CHANNELS]
    assert series_channels(values, _result(values, contributions=True), None, PREFIX) == (list(values.columns), "")


def test_a_flagged_dot_sits_on_the_shown_channel_that_contributed_most_to_its_row() -> None:
    values = _six_sines()
    result = _result(values, contributions=True)
    on = flag_channels(result, ["ch5", "ch2", "ch1", "ch0"], PREFIX)
    assert list(on.index) == list(values.index[[SPIKE_ROW, SPIKE_ROW + 1]]) and list(on) == ["ch5", "ch2"]
    assert list(flag_channels(result, ["ch0", "ch1", "ch5"], PREFIX)) == ["ch5", "ch5"]  # ch2 is not drawn
    assert flag_channels(_result(values, contributions=False), ["ch5"], PREFIX) is None  # dots on every channel


def test_the_plot_of_six_channels_draws_the_spiking_last_one(tmp_path: Path, monkeypatch, capsys) -> None:
    import matplotlib.pyplot as plt

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure=None: (figures.append(figure), close(figure)))
    path, plot = tmp_path / "mv6.csv", tmp_path / "mv6.png"
    _six_sines().rename_axis("time").to_csv(path)
    code = main(["detect", str(path), "--detector", "var_residual", "--output", str(tmp_path / "scores.csv"),
                 "--plot", str(plot), "--events", str(tmp_path / "events.csv")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    series_axis = figures[-1].axes[0]
    assert [line.get_label() for line in series_axis.get_lines()][0] == "ch5"
    assert series_axis.get_legend().get_title().get_text().startswith(f"{MAX_CHANNELS} of 6 channels")


def test_scores_far_above_the_threshold_put_the_score_axis_on_a_log_scale_above_it(tmp_path: Path) -> None:
    """A counter's reset scored 9e5 against a threshold near 1: on a linear axis the threshold and every ordinary
    score lay flat on 0."""
    from tsseq.anomaly.plotting import log_scale_from

    index = pd.date_range("2024-01-01", periods=5, freq="h")
    ordinary = pd.DataFrame({"score": [0.2, 0.5, 0.9, 1.5, 0.3], "threshold": [1.0, 1.0, 1.2, 1.2, 1.2]}, index=index)
    assert log_scale_from(ordinary) is None
    assert log_scale_from(ordinary.assign(score=[0.2, 9e5, 0.9, 1.5, 0.3])) == 1.2  # the median threshold
    fixed = pd.DataFrame({"score": [0.2, 500.0]}, index=index[:2])
    fixed.attrs["threshold"] = 2.0
    assert log_scale_from(fixed) == 2.0
    fixed.attrs["threshold"] = 0.0  # no positive threshold: nothing to keep linear below
    assert log_scale_from(fixed) is None
