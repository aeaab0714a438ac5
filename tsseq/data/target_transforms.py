"""Target transforms: the neural estimators' ``target_transform`` parameter.

A neural estimator (:class:`tsseq.estimators.neural.NeuralForecaster`) constructed with
``target_transform="log"`` or ``"log1p"`` trains on ``g(y)`` instead of ``y`` (before its
per-series standardisation, ``scale``) and returns ``g^-1`` of what it predicts on that
scale: point forecasts, quantiles, sample paths, windows' forecasts. Both transforms are
increasing, so quantiles map exactly (``q_{g(Y)}(tau) = g(q_Y(tau))``): a median (the
point forecast of an MAE or quantile loss) stays a median. A mean does not: with a mean
loss (MSE, ``"normal"``) the point forecast is ``g^-1`` of the mean of ``g(Y)``, below
the mean of ``Y`` by Jensen's inequality.

On the log scale an absolute error is a relative one, ``|log y - log f| ~ |y - f| / y``,
so a loss there weighs every series by its relative errors (as sMAPE and MAPE do) rather
than by its absolute ones.

* ``"log"``: ``g(y) = log(y)``, ``g^-1(z) = exp(z)``; every observed value must be > 0.
* ``"log1p"``: ``g(y) = log(1 + y)``, ``g^-1(z) = exp(z) - 1``; every observed value
  must be >= 0 (zeros allowed: counts, sales).

NaNs (unobserved values) stay NaN.
"""

from __future__ import annotations

import numpy as np

from tsseq.errors import ConfigError, DataError, closest_match

TARGET_TRANSFORMS = ("log", "log1p")

_DOMAIN = {"log": ("> 0", lambda values: values > 0), "log1p": (">= 0", lambda values: values >= 0)}


def check_target_transform(value: object) -> str | None:
    """``value`` if it is None or a known transform's name; else a ConfigError listing them."""
    if value is None or (isinstance(value, str) and value in TARGET_TRANSFORMS):
        return value
    hint = closest_match(value, TARGET_TRANSFORMS) if isinstance(value, str) else ""
    raise ConfigError(
        f"The 'target_transform' parameter must be None or one of {', '.join(map(repr, TARGET_TRANSFORMS))}. "
        f"Got {value!r} instead.{hint}"
    )


def forward(name: str | None, values: np.ndarray, what: str = "the series") -> np.ndarray:
    """``g(values)`` (a new float array; ``values`` itself when ``name`` is None).

    Raises a DataError naming the first observed value outside the transform's domain.
    """
    if name is None:
        return values
    values = np.asarray(values, dtype=np.float64)
    bound, inside = _DOMAIN[check_target_transform(name)]
    observed = ~np.isnan(values)
    bad = observed & ~inside(np.where(observed, values, 1.0))
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"target_transform={name!r} needs every observed value of {what} {bound}; the value at {position} is "
            f"{float(values[position]):g}. Use target_transform=None"
            + (", or 'log1p' for non-negative values with zeros." if name == "log" else ".")
        )
    with np.errstate(invalid="ignore"):
        return np.log(values) if name == "log" else np.log1p(values)


def inverse(name: str | None, values: np.ndarray) -> np.ndarray:
    """``g^-1(values)``; ``values`` itself when ``name`` is None."""
    if name is None:
        return values
    check_target_transform(name)
    values = np.asarray(values, dtype=np.float64)
    return np.exp(values) if name == "log" else np.expm1(values)
