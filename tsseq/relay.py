"""Warnings of the fits a model makes inside its own ``fit``, re-issued once each, saying which fit gave them.

A model that fits others (``auto`` its candidates, a forecast-residual detector its
forecaster) would otherwise pass on their warnings as they come: pointing at library lines,
without saying whose fit warned (a validation fit? the final refit?), and once per fit, so
one cause may warn many times. :class:`FitWarnings` keeps them and issues each UserWarning
once, as ``<owner>: <fit>: <message>``, at the line that called the owner's ``fit``; the
user's warning filters still apply (to the prefixed message). Other warnings (deprecations,
say) are not the model's message to the user: they are issued as they were, where they were.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

__all__ = ["FitWarnings"]


class FitWarnings:
    """Collect the warnings of fits made inside ``owner``'s fit (:meth:`of`), then :meth:`issue` them once each."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._caught: dict[tuple[type[Warning], str], None] = {}  # an ordered set: the first of identical ones
        self._others: list[warnings.WarningMessage] = []

    @contextlib.contextmanager
    def of(self, fit: str) -> Iterator[None]:
        """Keep the warnings raised inside; UserWarnings as ``<owner>: <fit>: <message>``."""
        with warnings.catch_warnings(record=True) as caught:
            try:
                yield
            finally:
                for record in caught:
                    if issubclass(record.category, UserWarning):
                        self._caught.setdefault((record.category, f"{self.owner}: {fit}: {record.message}"))
                    else:
                        self._others.append(record)

    def issue(self, stacklevel: int = 3) -> None:
        """Issue them, each once; ``stacklevel`` 3 points at the caller of the method that calls this."""
        for record in self._others:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno, source=record.source)
        for category, message in self._caught:
            warnings.warn(message, category, stacklevel=stacklevel)
        self._caught.clear()
        self._others.clear()
