"""Per-channel, per-series scalers that are fitted on the training split only.

A :class:`Scaler` learns one ``center`` and one ``scale`` per series and channel and
maps ``x -> (x - center) / scale``; ``inverse_transform`` maps back exactly (to
rounding, ~1e-12 relative in float64). Methods:

* ``"standard"``: mean and population standard deviation (``ddof=0``), as
  scikit-learn's ``StandardScaler``, which the published ETT reference code uses;
* ``"minmax"``: minimum and range, so the training values map onto ``[0, 1]``;
* ``"robust"``: median and interquartile range, as scikit-learn's ``RobustScaler``.

Statistics ignore NaNs (unobserved values), and NaNs stay NaN through the
transforms. A channel that is constant in the training data gets scale 1 (with a
warning) instead of a division by zero.

Layouts, returned as given: an array ``(T, C)`` or ``(T,)``; a wide DataFrame; a
long DataFrame indexed by ``(series id, timestamp)``; a list of ``(T_i, C)`` arrays.
Long frames and lists get one set of statistics per series (``per_series=True``),
matched by series id (long frames) or position (lists) when transforming.

A :class:`Scaler` is a scikit-learn transformer: ``fit`` and ``fit_transform`` take (and
ignore) the target ``y`` that a :class:`sklearn.pipeline.Pipeline` passes every step, so
``Pipeline([("scale", Scaler()), ("model", Ridge())]).fit(features, target)`` scales the
feature frame with the statistics of the rows it is fitted on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy

from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.parameters import Estimator, check_is_fitted

__all__ = ["Scaler"]

ScalerInput = np.ndarray | pd.DataFrame | Sequence[np.ndarray]


def _standard(groups: DataFrameGroupBy) -> tuple[pd.DataFrame, pd.DataFrame]:
    return groups.mean(), groups.std(ddof=0)


def _minmax(groups: DataFrameGroupBy) -> tuple[pd.DataFrame, pd.DataFrame]:
    minimum = groups.min()
    return minimum, groups.max() - minimum


def _robust(groups: DataFrameGroupBy) -> tuple[pd.DataFrame, pd.DataFrame]:
    return groups.median(), groups.quantile(0.75) - groups.quantile(0.25)


_METHODS: dict[str, Callable[[DataFrameGroupBy], tuple[pd.DataFrame, pd.DataFrame]]] = {
    "standard": _standard,
    "minmax": _minmax,
    "robust": _robust,
}


@dataclass(frozen=True)
class _Flat:
    """Any supported layout as one ``(n, C)`` array plus what is needed to rebuild it."""

    values: np.ndarray  # (n, C) float64, all series stacked
    series_ids: tuple[object, ...] | None  # None: one series (array or wide frame)
    codes: np.ndarray  # (n,) position of each row's series in series_ids (0 for one series)
    columns: tuple[str, ...] | None  # None for arrays
    rebuild: Callable[[np.ndarray], ScalerInput]


def _as_float(values: object, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"Scaler expects numeric values in {what}; converting to float64 failed: {error}") from None


def _flatten(data: ScalerInput) -> _Flat:
    """Turn an array, a wide or long frame, or a list of arrays into a :class:`_Flat`."""
    if isinstance(data, pd.DataFrame):
        values = _as_float(data.to_numpy(), "the frame's columns")
        columns = tuple(str(column) for column in data.columns)

        def rebuild_frame(new_values: np.ndarray) -> pd.DataFrame:
            return pd.DataFrame(new_values, index=data.index, columns=data.columns)

        if isinstance(data.index, pd.MultiIndex):
            codes, ids = pd.factorize(data.index.get_level_values(0), sort=False)
            return _Flat(values, tuple(ids), codes, columns, rebuild_frame)
        return _Flat(values, None, np.zeros(len(values), dtype=np.intp), columns, rebuild_frame)
    if isinstance(data, (list, tuple)):
        arrays = [_as_float(array, f"series {position}") for position, array in enumerate(data)]
        if not arrays or any(array.ndim not in (1, 2) for array in arrays):
            raise DataError("Scaler expects a non-empty list of 1-D (T,) or 2-D (T, C) arrays.")
        widths = {1 if array.ndim == 1 else array.shape[1] for array in arrays}
        if len(widths) > 1:
            raise DataError(f"Scaler expects the same channels in every series; got channel counts {sorted(widths)}.")
        lengths = [len(array) for array in arrays]
        stacked = np.concatenate([array.reshape(len(array), -1) for array in arrays])
        codes = np.repeat(np.arange(len(arrays)), lengths)

        def rebuild_list(new_values: np.ndarray) -> list[np.ndarray]:
            pieces = np.split(new_values, np.cumsum(lengths)[:-1])
            return [piece.reshape(array.shape) for piece, array in zip(pieces, arrays)]

        return _Flat(stacked, tuple(range(len(arrays))), codes, None, rebuild_list)
    if isinstance(data, np.ndarray):
        array = _as_float(data, "the array")
        if array.ndim not in (1, 2):
            raise DataError(f"Scaler expects an array of shape (T,) or (T, C). Got shape {array.shape}.")
        codes = np.zeros(len(array), dtype=np.intp)
        return _Flat(array.reshape(len(array), -1), None, codes, None, lambda new: new.reshape(array.shape))
    raise DataError(
        "Scaler expects a numpy array (T, C), a wide or long pandas DataFrame, or a list of (T_i, C) arrays. "
        f"Got {type(data).__name__}."
    )


class Scaler(Estimator):
    """Scale each channel of each series with statistics of the training data.

    Parameters
    ----------
    method : {"standard", "minmax", "robust"}
        Which center and scale to learn (see the module docstring).
    per_series : bool
        For long frames and lists of arrays: one set of statistics per series (True),
        or one set pooled over all series (False). Ignored for a single series.

    Attributes
    ----------
    center_, scale_ : ndarray of shape ``(S, C)``
        Learned statistics: ``S`` series (1 when pooled or for one series), ``C`` channels.
    series_ids_ : tuple or None
        Series ids (long frames) or positions (lists) of the rows of ``center_``;
        None when one set of statistics applies to every series.
    columns_ : tuple of str or None
        Column names seen in ``fit`` (None for arrays).

    Examples
    --------
    >>> scaler = Scaler("standard").fit(split.train)      # doctest: +SKIP
    >>> scaled_test = scaler.transform(split.test)         # doctest: +SKIP
    >>> restored = scaler.inverse_transform(scaled_test)   # doctest: +SKIP
    """

    def __init__(self, method: str = "standard", *, per_series: bool = True) -> None:
        self.method = method
        self.per_series = per_series

    def fit(self, data: ScalerInput, y: object = None) -> "Scaler":
        """Learn the statistics of ``data`` (pass the training split only); ``y`` is ignored (pipelines pass it)."""
        if self.method not in _METHODS:
            raise ConfigError(
                f"Unknown scaling method {self.method!r}.{closest_match(str(self.method), _METHODS)} "
                f"Choose one of: {', '.join(_METHODS)}."
            )
        flat = _flatten(data)
        pooled = flat.series_ids is None or not self.per_series
        codes = np.zeros_like(flat.codes) if pooled else flat.codes
        n_series = 1 if pooled else len(flat.series_ids)
        groups = pd.DataFrame(flat.values).groupby(codes)
        center, scale = (
            statistic.reindex(range(n_series)).to_numpy(dtype=np.float64) for statistic in _METHODS[self.method](groups)
        )
        self.series_ids_ = None if pooled else flat.series_ids
        self.columns_ = flat.columns
        self._check_observed(center)
        self.center_ = center
        self.scale_ = self._replace_zero_scales(scale)
        return self

    def transform(self, data: ScalerInput) -> ScalerInput:
        """``(x - center) / scale``, returned in the layout of ``data``."""
        flat, codes = self._align(data)
        return flat.rebuild((flat.values - self.center_[codes]) / self.scale_[codes])

    def inverse_transform(self, data: ScalerInput) -> ScalerInput:
        """``x * scale + center``: undo :meth:`transform` (e.g. on forecasts)."""
        flat, codes = self._align(data)
        return flat.rebuild(flat.values * self.scale_[codes] + self.center_[codes])

    def fit_transform(self, data: ScalerInput, y: object = None) -> ScalerInput:
        """Fit on ``data`` and transform it; ``y`` is ignored (pipelines pass it)."""
        return self.fit(data).transform(data)

    def _describe(self, series: int, channel: int) -> str:
        name = self.columns_[channel] if self.columns_ is not None else f"channel {channel}"
        return name if self.series_ids_ is None else f"series {self.series_ids_[series]!r} / {name}"

    def _check_observed(self, center: np.ndarray) -> None:
        empty = np.argwhere(np.isnan(center))
        if len(empty):
            names = ", ".join(self._describe(*position) for position in empty[:5])
            raise DataError(
                f"Scaler cannot fit {len(empty)} channel(s) with no observed (non-NaN) training value: {names}."
            )

    def _replace_zero_scales(self, scale: np.ndarray) -> np.ndarray:
        constant = np.argwhere(scale == 0)
        if len(constant):
            names = ", ".join(self._describe(*position) for position in constant[:5])
            warnings.warn(
                f"{len(constant)} channel(s) are constant in the training data ({names}); "
                "using scale 1 for them instead of dividing by zero.",
                UserWarning,
                stacklevel=3,
            )
        return np.where(scale == 0, 1.0, scale)

    def _align(self, data: ScalerInput) -> tuple[_Flat, np.ndarray]:
        """Flatten ``data`` and find, for each row, the row of ``center_`` that applies."""
        check_is_fitted(self, "center_")
        flat = _flatten(data)
        n_channels = self.center_.shape[1]
        if flat.values.shape[1] != n_channels:
            raise DataError(f"Scaler was fitted on {n_channels} channel(s); got {flat.values.shape[1]}.")
        if self.columns_ is not None and flat.columns is not None and flat.columns != self.columns_:
            raise DataError(f"Scaler was fitted on columns {list(self.columns_)}; got {list(flat.columns)}.")
        if self.series_ids_ is None:
            return flat, np.zeros(len(flat.values), dtype=np.intp)
        if flat.series_ids is None:
            raise DataError(
                f"Scaler was fitted per series on {len(self.series_ids_)} series; pass data in the same layout "
                "(a long frame or a list of arrays), not a single series."
            )
        if isinstance(data, (list, tuple)) and len(data) != len(self.series_ids_):
            raise DataError(f"Scaler was fitted on a list of {len(self.series_ids_)} series; got {len(data)}.")
        positions = pd.Index(self.series_ids_).get_indexer(pd.Index(flat.series_ids))
        if (positions < 0).any():
            unknown = flat.series_ids[int(np.flatnonzero(positions < 0)[0])]
            raise DataError(
                f"Series {unknown!r} was not seen when the scaler was fitted."
                f"{closest_match(str(unknown), map(str, self.series_ids_))}"
            )
        return flat, positions[flat.codes]
