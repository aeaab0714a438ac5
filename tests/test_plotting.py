"""Forecast figures: fan charts from quantile columns, actuals, every column, readable dates."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from tsseq.errors import DataError  # noqa: E402
from tsseq.plotting import MAX_PANELS, forecast_figure, plot_forecast  # noqa: E402

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def _frames(columns=("load",), horizon=12):
    index = pd.date_range("2021-03-01", periods=96, freq="h", name="time")
    history = pd.DataFrame({c: np.sin(np.arange(96) / 5 + i) for i, c in enumerate(columns)}, index=index)
    future = pd.date_range(index[-1] + pd.Timedelta("1h"), periods=horizon, freq="h", name="time")
    forecast, actuals = {}, {}
    for column in columns:
        point = np.full(horizon, history[column].iloc[-1])
        forecast[column] = point
        for level in LEVELS:
            forecast[f"{column}_q{level}"] = point + (level - 0.5) * np.sqrt(np.arange(1, horizon + 1))
        actuals[column] = point + 0.1
    return history, pd.DataFrame(forecast, index=future), pd.DataFrame(actuals, index=future)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_quantile_columns_become_bands_more_opaque_toward_the_centre():
    history, forecast, _ = _frames()
    axis = forecast_figure(history, forecast).axes[0]
    bands = [c for c in axis.collections if isinstance(c, PolyCollection)]
    labels = [band.get_label() for band in bands]
    assert labels == ["90% interval", "50% interval"]  # outermost first
    assert bands[0].get_alpha() < bands[1].get_alpha()
    # The 90% band spans the 0.05 and 0.95 quantiles at every step.
    vertices = bands[0].get_paths()[0].vertices[:, 1]
    assert vertices.min() == pytest.approx(forecast["load_q0.05"].min())
    assert vertices.max() == pytest.approx(forecast["load_q0.95"].max())
    lines = {line.get_label() for line in axis.get_lines()}
    assert {"history", "forecast"} <= lines and "median" not in lines  # the median is the point forecast here


def test_a_distinct_median_and_an_unpaired_level_are_lines_and_lower_upper_is_a_band():
    history, forecast, _ = _frames()
    forecast["load_q0.5"] += 0.3
    forecast["load_q0.8"] = forecast["load"] + 1
    forecast["load_lower"], forecast["load_upper"] = forecast["load"] - 2, forecast["load"] + 2
    axis = forecast_figure(history, forecast).axes[0]
    bands = [c.get_label() for c in axis.collections if isinstance(c, PolyCollection)]
    assert bands == ["interval", "90% interval", "50% interval"]
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert lines["median"].get_linestyle() == "--" and lines["q0.8 quantile"].get_linestyle() == ":"


def test_actuals_are_drawn_in_their_own_colour():
    history, forecast, actuals = _frames()
    axis = forecast_figure(history, forecast, actuals=actuals).axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    np.testing.assert_allclose(lines["actual"].get_ydata(), actuals["load"].to_numpy())
    assert lines["actual"].get_color() != lines["forecast"].get_color()
    assert "actual" in [text.get_text() for text in axis.get_legend().get_texts()]


def test_every_column_is_drawn_and_the_columns_left_out_are_named():
    columns = [f"c{i}" for i in range(MAX_PANELS + 3)]
    history, forecast, _ = _frames(columns)
    figure = forecast_figure(history, forecast[columns])
    assert [axis.get_ylabel() for axis in figure.axes] == columns[:MAX_PANELS]
    (note,) = figure.texts
    assert "3 of 15 columns" in note.get_text() and "c12, c13, c14" in note.get_text()
    few = _frames(["a", "b", "c", "d", "e", "f"])
    assert len(forecast_figure(few[0], few[1]).axes) == 6  # more than the old limit of 4, no note
    chosen = forecast_figure(history, forecast, columns=["c13", "c2"])
    assert [axis.get_ylabel() for axis in chosen.axes] == ["c13", "c2"] and not chosen.texts
    with pytest.raises(DataError, match="'nope'"):
        forecast_figure(history, forecast, columns=["nope"])


def test_dates_use_the_concise_formatter():
    history, forecast, _ = _frames()
    axis = forecast_figure(history, forecast).axes[0]
    assert isinstance(axis.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)


def test_long_frames_draw_the_first_series_and_the_png_is_written(tmp_path):
    history, forecast, actuals = _frames()
    history_long, forecast_long, actuals_long = (
        pd.concat({"a": frame, "b": frame + 1}, names=["series"]) for frame in (history, forecast, actuals)
    )
    path = plot_forecast(history_long, forecast_long, tmp_path / "fan.png", actuals=actuals_long, title="job")
    assert path.read_bytes()[:4] == b"\x89PNG"
    figure = forecast_figure(history_long, forecast_long, title="job")
    assert figure.axes[0].get_title() == "job (series a)"
    np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), history["load"].iloc[-48:].to_numpy())
