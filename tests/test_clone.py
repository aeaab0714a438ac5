"""tsseq.parameters.clone: scikit-learn's clone for tsseq's estimators, without importing scikit-learn."""

from __future__ import annotations

import pytest
from sklearn.base import clone as sklearn_clone

import tsseq
from tsseq.parameters import clone


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ar", {"max_order": 24, "criterion": "bic"}),
        ("auto", {"horizon": 6, "candidates": ["naive", "ar"], "training": {"epochs": 2}}),
        ("conformal", {"model": "ar", "model_params": {"max_order": 5}, "calibration_length": 30}),
        ("ensemble", {"members": [{"name": "naive"}, {"name": "ar", "params": {"max_order": 3}}], "combine": "median"}),
    ],
)
def test_the_same_parameters_as_scikit_learns_clone_and_nothing_shared(name: str, params: dict) -> None:
    model = tsseq.create(name, **params)
    ours, theirs = clone(model), sklearn_clone(model)
    assert type(ours) is type(model) and ours is not model
    assert ours.get_params(deep=False) == theirs.get_params(deep=False) == model.get_params(deep=False)
    for key, value in ours.get_params(deep=False).items():
        if isinstance(value, (dict, list)):  # deep copies: changing the clone's leaves the model's as it was
            assert value is not getattr(model, key)


def test_nested_estimators_and_sequences_are_cloned_and_fitted_state_is_left_behind() -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"y": np.sin(np.arange(80) / 3)}, index=pd.date_range("2024-01-01", periods=80, freq="D"))
    fitted = tsseq.create("ar", max_order=4).fit(frame)
    copy = clone(fitted)
    assert not hasattr(copy, "coef_") and copy.max_order == 4
    first, second = clone([fitted, tsseq.create("naive")])
    assert type(first).__name__ == "AR" and not hasattr(first, "coef_") and type(second).__name__ == "Naive"
    with pytest.raises(TypeError, match="not an estimator"):
        clone({"max_order": 3})
    assert clone({"max_order": [3]}, safe=False) == {"max_order": [3]}


def test_a_scikit_learn_estimator_goes_to_scikit_learns_clone() -> None:
    from sklearn.linear_model import Ridge

    copy = clone(Ridge(alpha=3.0))
    assert isinstance(copy, Ridge) and copy.alpha == 3.0
