"""Tests of tsseq.parameters: scikit-learn's parameter protocol without importing scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from tsseq.parameters import Estimator, check_is_fitted, is_estimator


class Inner(Estimator):
    def __init__(self, alpha=1.0, beta=None):
        self.alpha = alpha
        self.beta = beta


class Outer(Estimator):
    def __init__(self, inner=None, steps=3, name="x"):
        self.inner = inner
        self.steps = steps
        self.name = name


class SklearnInner(BaseEstimator):
    def __init__(self, alpha=1.0, beta=None):
        self.alpha = alpha
        self.beta = beta


class SklearnOuter(BaseEstimator):
    def __init__(self, inner=None, steps=3, name="x"):
        self.inner = inner
        self.steps = steps
        self.name = name


def test_get_params_equals_scikit_learns_shallow_and_deep():
    ours, theirs = Outer(Inner(2.0), steps=5), SklearnOuter(SklearnInner(2.0), steps=5)
    assert ours.get_params(deep=False).keys() == theirs.get_params(deep=False).keys()
    deep_ours = {k: v for k, v in ours.get_params().items() if k != "inner"}
    deep_theirs = {k: v for k, v in theirs.get_params().items() if k != "inner"}
    assert deep_ours == deep_theirs == {"inner__alpha": 2.0, "inner__beta": None, "name": "x", "steps": 5}


def test_set_params_sets_nested_parameters_and_names_the_unknown_one():
    model = Outer(Inner()).set_params(steps=7, inner__alpha=0.5)
    assert model.steps == 7 and model.inner.alpha == 0.5
    with pytest.raises(ValueError, match=r"Invalid parameter 'stepz' for estimator Outer\. Valid parameters are: \['inner', 'name', 'steps'\]"):
        model.set_params(stepz=1)
    assert model.set_params() is model


def test_scikit_learns_clone_copies_parameters_not_fitted_state():
    model = Outer(Inner(3.0), steps=4)
    model.fitted_ = True
    copy = clone(model)
    assert type(copy) is Outer and copy.steps == 4 and copy.inner.alpha == 3.0
    assert copy.inner is not model.inner and not hasattr(copy, "fitted_")


def test_repr_shows_the_parameters_that_differ_from_their_defaults():
    assert repr(Outer(steps=5)) == "Outer(steps=5)"
    assert repr(Outer()) == "Outer()"
    assert repr(Outer(Inner(beta=np.arange(2)))) == "Outer(inner=Inner(beta=array([0, 1])))"


def test_varargs_constructors_are_refused_as_in_scikit_learn():
    class Loose(Estimator):
        def __init__(self, *values):
            self.values = values

    with pytest.raises(RuntimeError, match=r"Loose.__init__ must name its parameters"):
        Loose(1).get_params()


def test_check_is_fitted_raises_scikit_learns_error():
    model = Inner()
    with pytest.raises(NotFittedError, match="This Inner instance is not fitted yet"):
        check_is_fitted(model)
    with pytest.raises(NotFittedError):
        check_is_fitted(model, ["coef_", "scale_"])
    model.coef_ = 1
    check_is_fitted(model)
    check_is_fitted(model, "coef_")
    with pytest.raises(NotFittedError):
        check_is_fitted(model, ["coef_", "scale_"])


def test_is_estimator_accepts_instances_of_either_base_not_classes():
    assert is_estimator(Inner()) and is_estimator(SklearnInner())
    assert not is_estimator(Inner) and not is_estimator({"alpha": 1})
