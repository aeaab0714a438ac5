"""tsseq.relay.FitWarnings: the warnings of fits made inside a model's fit, once each, named by the fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tsseq.relay import FitWarnings


def _owner_fit(relay: FitWarnings, fail: bool = False) -> None:
    try:
        with relay.of("validation fit of ar"):
            for _ in range(3):  # one cause, many fits: issued once
                warnings.warn("AR: order 3 -> 1", UserWarning, stacklevel=1)
            warnings.warn("an old keyword", DeprecationWarning, stacklevel=1)
            if fail:
                raise ValueError("the fit failed")
        with relay.of("final refit of ar"):
            warnings.warn("AR: order 3 -> 1", UserWarning, stacklevel=1)
    finally:
        relay.issue()  # points at the caller of _owner_fit


def test_each_user_warning_once_prefixed_at_the_callers_line_and_others_as_they_were() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _owner_fit(FitWarnings("auto"))
    users = [w for w in caught if w.category is UserWarning]
    assert [str(w.message) for w in users] == [
        "auto: validation fit of ar: AR: order 3 -> 1",
        "auto: final refit of ar: AR: order 3 -> 1",
    ]
    assert all(w.filename == __file__ for w in users)
    (deprecation,) = [w for w in caught if w.category is DeprecationWarning]
    assert str(deprecation.message) == "an old keyword" and deprecation.filename == __file__


def test_the_warnings_are_issued_when_the_fit_fails_too_and_user_filters_apply() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="auto: final refit")
        with pytest.raises(ValueError, match="the fit failed"):
            _owner_fit(FitWarnings("auto"), fail=True)
    assert [str(w.message) for w in caught if w.category is UserWarning] == ["auto: validation fit of ar: AR: order 3 -> 1"]


def test_a_forecast_residual_detector_says_its_forecasters_warning_is_its_own() -> None:
    from tsseq.anomaly.detectors import make_detector

    rng = np.random.default_rng(0)
    growing = 100 * 1.05 ** np.arange(120) * (1 + 0.01 * rng.standard_normal(120))  # every AR order explodes
    frame = pd.DataFrame({"value": growing}, index=pd.date_range("2000-01-01", periods=120, freq="MS"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_detector("ar_residual", window_length=12).fit(frame)
    (warning,) = [w for w in caught if "explosive" in str(w.message)]
    assert str(warning.message).startswith("ForecastResidualDetector: fit of its forecaster 'ar': AR: 1 fitted model")
    assert warning.filename == __file__
