"""Calendar features and categorical covariates as learned embeddings.

:func:`calendar_features` turns timestamps into zero-based integer codes (a pure
function over a DatetimeIndex); :class:`CovariateEmbedding` maps ``K`` integer code
columns (calendar codes, a series id, any categorical covariate) through one
:class:`torch.nn.Embedding` each and concatenates the vectors, ready to be concatenated
to a model's inputs: ``torch.cat([x, embedding(codes)], dim=-1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError, closest_match

# Number of distinct zero-based codes of each calendar feature (its embedding's cardinality).
CALENDAR_CARDINALITIES = {"hour": 24, "day_of_week": 7, "day_of_month": 31, "month": 12}
_CALENDAR_CODES = {
    "hour": lambda index: index.hour,
    "day_of_week": lambda index: index.day_of_week,
    "day_of_month": lambda index: index.day - 1,
    "month": lambda index: index.month - 1,
}


def calendar_features(
    index: pd.DatetimeIndex, features: Sequence[str] = tuple(CALENDAR_CARDINALITIES)
) -> np.ndarray:
    """Zero-based calendar codes of each timestamp.

    Parameters
    ----------
    index : pd.DatetimeIndex
        ``T`` timestamps (for a long frame: ``frame.index.get_level_values(-1)``).
    features : sequence of str
        Columns to make, in order, from :data:`CALENDAR_CARDINALITIES`:
        ``"hour"`` (0-23), ``"day_of_week"`` (0 = Monday .. 6), ``"day_of_month"``
        (0 = the 1st .. 30), ``"month"`` (0 = January .. 11).

    Returns
    -------
    np.ndarray
        ``(T, K)`` int64, ``K = len(features)``; column ``k`` lies in
        ``[0, CALENDAR_CARDINALITIES[features[k]])``.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            f"calendar_features expects a pandas DatetimeIndex. Got {type(index).__name__} instead; "
            "for a long frame pass frame.index.get_level_values(-1)."
        )
    if isinstance(features, str) or len(features) == 0:
        raise ConfigError(f"The 'features' parameter must be a non-empty list of feature names. Got {features!r}.")
    for name in features:
        if name not in _CALENDAR_CODES:
            raise ConfigError(
                f"Unknown calendar feature {name!r}.{closest_match(str(name), _CALENDAR_CODES)} "
                f"Known features: {', '.join(_CALENDAR_CODES)}."
            )
    if index.hasnans:
        raise DataError("calendar_features got a DatetimeIndex with missing timestamps (NaT).")
    columns = [np.asarray(_CALENDAR_CODES[name](index), dtype=np.int64) for name in features]
    return np.stack(columns, axis=1)  # (T, K)


class CovariateEmbedding(nn.Module):
    """One learned embedding per categorical covariate, concatenated.

    ``out[b, t] = [E_1[codes[b, t, 0]]; E_2[codes[b, t, 1]]; ...; E_K[codes[b, t, K-1]]]``
    with ``E_k`` a ``(cardinality_k, dim_k)`` table.

    Parameters
    ----------
    cardinalities : dict[str, int]
        Number of distinct codes of each covariate, codes being ``0 .. cardinality - 1``;
        the order of the keys is the order of the ``K`` code columns.
    embedding_dims : dict[str, int]
        Size of each covariate's vector; the same keys as ``cardinalities``.

    Inputs
    ------
    codes : ``(B, L, K)`` integer tensor (any leading dimensions work: ``(..., K)``).

    Outputs
    -------
    ``(B, L, E)`` with ``E = sum(embedding_dims.values())`` (:attr:`output_size`).

    Attributes
    ----------
    embeddings : nn.ModuleDict
        The ``nn.Embedding`` of each covariate, by name.
    """

    def __init__(self, cardinalities: dict[str, int], embedding_dims: dict[str, int]) -> None:
        super().__init__()
        if not isinstance(cardinalities, dict) or not cardinalities:
            raise ConfigError(f"The 'cardinalities' parameter must be a non-empty dict. Got {cardinalities!r}.")
        if not isinstance(embedding_dims, dict):
            raise ConfigError(f"The 'embedding_dims' parameter must be a dict. Got {embedding_dims!r}.")
        for name in cardinalities:
            if name not in embedding_dims:
                raise ConfigError(
                    f"The covariate {name!r} has a cardinality but no entry in 'embedding_dims'."
                    f"{closest_match(str(name), embedding_dims)}"
                )
        for name in embedding_dims:
            if name not in cardinalities:
                raise ConfigError(
                    f"The 'embedding_dims' entry {name!r} is not a covariate of 'cardinalities'."
                    f"{closest_match(str(name), cardinalities)}"
                )
        self.names = tuple(cardinalities)
        self.cardinalities = {
            name: check_positive_int(value, f"cardinalities[{name!r}]") for name, value in cardinalities.items()
        }
        dims = {name: check_positive_int(embedding_dims[name], f"embedding_dims[{name!r}]") for name in self.names}
        tables = {name: nn.Embedding(self.cardinalities[name], dims[name]) for name in self.names}
        self.embeddings = nn.ModuleDict(tables)

    @property
    def output_size(self) -> int:
        """``E``, the size of the concatenated vectors."""
        return sum(embedding.embedding_dim for embedding in self.embeddings.values())

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        self._check(codes)
        vectors = [self.embeddings[name](codes[..., k]) for k, name in enumerate(self.names)]  # K x (B, L, dim_k)
        return torch.cat(vectors, dim=-1)  # (B, L, E)

    def _check(self, codes: torch.Tensor) -> None:
        if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
            raise DataError(f"CovariateEmbedding expects integer codes. Got dtype {codes.dtype} instead.")
        if codes.dim() < 1 or codes.shape[-1] != len(self.names):
            raise DataError(
                f"CovariateEmbedding expects codes of shape (B, L, {len(self.names)}), one column per covariate "
                f"({', '.join(self.names)}). Got {tuple(codes.shape)} instead."
            )
        if codes.numel() == 0:
            return
        # Checked here because an out-of-range index fails in nn.Embedding without naming the covariate
        # (and as an opaque device-side assert on a GPU).
        low, high = codes.reshape(-1, len(self.names)).aminmax(dim=0)  # (K,), (K,)
        limits = torch.tensor([self.cardinalities[name] for name in self.names], device=codes.device)  # (K,)
        outside = (low < 0) | (high >= limits)  # (K,)
        if bool(outside.any()):
            k = int(outside.nonzero()[0])
            name, bad = self.names[k], int(low[k]) if low[k] < 0 else int(high[k])
            raise DataError(
                f"Covariate {name!r} (column {k} of codes) has code {bad}, outside its range "
                f"0 .. {self.cardinalities[name] - 1} (cardinality {self.cardinalities[name]})."
            )
