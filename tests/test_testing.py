"""tsseq.testing.check_forecaster on models from outside tsseq: one that keeps the contract, ones that break it."""

from __future__ import annotations

import numpy as np
import pytest

from tsseq import registry
from tsseq.base import Forecaster, store_arguments
from tsseq.testing import CHECKS, check_forecaster


class LastValue(Forecaster):
    """A third party's forecaster: repeats each channel's last value plus ``offset``."""

    def __init__(self, *, offset: float = 0.0) -> None:
        store_arguments(self, locals())

    def _fit(self, series, validation=None) -> None:
        self.last_ = [values[-1] + self.offset for values in series]

    def _predict(self, horizon: int) -> list[np.ndarray]:
        return [np.repeat(last[None], horizon, axis=0) for last in self.last_]

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        return np.repeat(inputs[:, -1:] + self.offset, horizon, axis=1)


class PositionalValidation(LastValue):
    """Takes validation rows as fit's second positional argument, where scikit-learn puts X."""

    def fit(self, y, validation=None):
        return super().fit(y, validation=validation)


class ChangesItsArguments(LastValue):
    """Turns its argument into another object in __init__ (a tuple into a list): clone cannot rebuild it exactly."""

    def __init__(self, *, offset: float = 0.0, lags: tuple[int, ...] = (1,)) -> None:
        self.offset = offset
        self.lags = list(lags)


@pytest.fixture
def third_party(monkeypatch):
    """Register models as another package would, leaving tsseq's registry as it was afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PRESETS", dict(registry._PRESETS))
    for name, cls in (("last_value", LastValue), ("positional", PositionalValidation), ("changes", ChangesItsArguments)):
        monkeypatch.setattr(cls, "registry_name", name, raising=False)
        registry.register(name)(cls)


def test_a_registered_third_party_model_that_keeps_the_contract_passes_every_check(third_party):
    outcomes = check_forecaster(registry.create("last_value", offset=1.0))
    assert set(outcomes) == {check.__name__ for check in CHECKS}
    assert outcomes["check_save_and_load_give_identical_forecasts"] == "passed"
    assert outcomes["check_probabilistic_models_give_ordered_quantiles_and_paths"].startswith("skipped: point forecasts")
    assert outcomes["check_point_models_say_how_to_get_intervals"] == "passed"


def test_a_positional_validation_argument_fails_the_check_that_names_it(third_party):
    with pytest.raises(AssertionError) as failure:
        check_forecaster(PositionalValidation())
    message = str(failure.value)
    assert "PositionalValidation fails 1 contract check(s)" in message
    assert "check_fit_takes_validation_by_keyword_only: AssertionError: fit's arguments after y must be keyword-only" in message
    assert "['validation']" in message


def test_a_constructor_that_changes_its_arguments_fails_clone(third_party):
    with pytest.raises(AssertionError, match="check_constructor_takes_keywords_and_stores_them: RuntimeError: Cannot clone"):
        check_forecaster(ChangesItsArguments(), checks=[CHECKS[0]])


def test_a_chosen_subset_of_checks_runs_alone(third_party):
    assert check_forecaster(LastValue(), checks=CHECKS[:2]) == {check.__name__: "passed" for check in CHECKS[:2]}
