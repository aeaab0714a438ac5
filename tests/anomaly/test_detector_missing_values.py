"""Missing values given to a detector: refused naming column, timestamp and count, or masked with a warning; and a
detector given to tsseq.persistence.save is refused saying why and what to do instead."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import tsseq
from tsseq import persistence
from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.streaming import score_stream
from tsseq.errors import DataError, MissingValuesError

TINY = {"epochs": 2, "batch_size": 64, "seed": 0, "progress": False, "threads": 1}
FIRST = "2024-01-11 10:00:00"  # row 250


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """300 hourly rows of two channels, and a copy with channel 'b' missing at row 250."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=300, freq="h")
    y = pd.DataFrame({"a": 10 + np.sin(np.arange(300) * 2 * np.pi / 24) + rng.normal(0, 0.2, 300),
                      "b": rng.normal(5, 1, 300)}, index=index)  # fmt: skip
    holes = y.copy()
    holes.iloc[250, 1] = np.nan
    return y, holes


def _refusal(owner: str, name: str = "y") -> str:
    return re.escape(f"{owner} needs every value of {name}: column 'b' has 1 missing or infinite value(s), the first "
                     f"at {FIRST}.")


@pytest.mark.parametrize(
    "name, owner",
    [("ar_residual", "ForecastResidualDetector (forecaster 'ar')"),
     ("var_residual", "ForecastResidualDetector (forecaster 'var')"),
     ("interval", "IntervalDetector (forecaster 'ar')")],
)  # fmt: skip
def test_forecasting_detectors_refuse_missing_values_naming_column_timestamp_and_count(frames, name, owner) -> None:
    y, holes = frames
    fitted = make_detector(name, window_length=24).fit(y.iloc[:200])
    for entry in (fitted.score, fitted.detect, fitted.contributions):
        with pytest.raises(MissingValuesError, match=_refusal(owner)) as refused:
            entry(holes)
    assert "check_series(frame, missing='interpolate') (tsseq detect --missing interpolate)" in str(refused.value)
    with pytest.raises(MissingValuesError, match=_refusal(owner)):
        make_detector(name, window_length=24).fit(holes.iloc[100:])
    with pytest.raises(MissingValuesError, match=_refusal(owner, "validation")):
        make_detector(name, window_length=24).fit(y.iloc[:200], validation=holes.iloc[200:])
    with pytest.raises(MissingValuesError, match=_refusal(owner)):  # streaming scores through raw_scores
        score_stream(make_detector(name, window_length=24), holes, train_rows=200)


def test_the_refusal_counts_every_column_with_missing_values(frames) -> None:
    _, holes = frames
    holes = holes.copy()
    holes.iloc[[260, 270], 0] = np.nan
    with pytest.raises(MissingValuesError, match=re.escape(f"column 'b' has 1 missing or infinite value(s), the first "
                                                           f"at {FIRST} (and column(s) 'a' 2).")):  # fmt: skip
        make_detector("ar_residual", window_length=24).fit(holes)


def test_auto_refuses_missing_values_naming_the_members_that_need_them(frames) -> None:
    y, holes = frames
    owner = "auto (its member(s) var_residual, interval)"
    with pytest.raises(MissingValuesError, match=_refusal(owner)):  # not a member's words
        make_detector("auto", window_length=16, training=TINY).fit(holes)
    fitted = make_detector("auto", window_length=16, training=TINY).fit(y.iloc[:200])
    for entry in (fitted.score, fitted.contributions):
        with pytest.raises(MissingValuesError, match=_refusal(owner)):
            entry(holes)


def test_reconstruction_detectors_mask_missing_values_and_warn_how_many_rows_got_no_score(frames) -> None:
    y, holes = frames
    detector = make_detector("lstm_ae", window_length=24, training=TINY).fit(y.iloc[:200])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean rows: no warning
        clean = detector.score(y)
    with pytest.warns(UserWarning, match=re.escape(f"ReconstructionDetector (model 'lstm_ae'): 1 of the 300 rows of y "
                                                   f"got no score (NaN, never flagged), the first at {FIRST}")):  # fmt: skip
        scores = detector.score(holes)
    assert np.isnan(scores.iloc[250]) and scores.iloc[24:].drop(scores.index[250]).notna().all()
    assert clean.iloc[23:].notna().all()


def test_var_names_the_column_of_a_missing_value() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(120, 2)), columns=["flow", "temp"],
                         index=pd.date_range("2024-01-01", periods=120, freq="h"))  # fmt: skip
    holes = frame.copy()
    holes.iloc[70, 1] = np.nan
    with pytest.raises(MissingValuesError, match=re.escape("the series, channel 1 has 1 missing or infinite value(s) "
                                                           "(column 'temp', first at row 70)")):  # fmt: skip
        tsseq.create("var").fit(holes)
    windows = np.repeat(frame.to_numpy()[None, -24:], 3, axis=0)
    windows[2, 5, 1] = np.nan
    with pytest.raises(MissingValuesError, match=re.escape("input window 2, channel 1 has 1 missing or infinite "
                                                           "value(s) (column 'temp', first at step 5)")):  # fmt: skip
        tsseq.create("var", order=2).fit(frame).predict_windows(windows, 1)


def test_saving_a_detector_is_refused_saying_detectors_are_not_saved_and_to_refit(frames, tmp_path) -> None:
    y, _ = frames
    path = tmp_path / "detector.pt"
    for detector in (make_detector("ar_residual", window_length=24).fit(y.iloc[:200]), make_detector("auto")):
        name = type(detector).__name__
        with pytest.raises(DataError, match=re.escape(f"{name} is an anomaly detector: tsseq.persistence saves fitted "
                                                      "forecasters only, not detectors. Refit it instead")) as refused:
            persistence.save(detector, path)
        assert "not fitted" not in str(refused.value) and "call fit()" not in str(refused.value)
        assert "tsseq detect --config" in str(refused.value) and not path.exists()
    with pytest.raises(DataError, match="Only a fitted estimator can be saved; call fit"):  # a forecaster: as before
        persistence.save(tsseq.create("naive"), path)
