"""Warnings of the fits a model makes inside its own ``fit``, re-issued once each, saying which fit gave them.

A model that fits others (``auto`` its candidates, a forecast-residual detector its
forecaster) would otherwise pass on their warnings as they come: pointing at library lines,
without saying whose fit warned (a validation fit? the final refit?), and once per fit, so
one cause may warn many times. :class:`FitWarnings` keeps them and issues each UserWarning
once, as ``<owner>: <fit>: <message>``, at the line that called the owner's ``fit``; the
user's warning filters still apply (to the prefixed message). Other warnings (deprecations,
say) are not the model's message to the user: they are issued as they were, where they were.
Fits of one kind (a backtest's refits of one series) warn alike but with their own numbers
(an AR's root modulus): given ``alike``, their warnings of one line are issued once, the first.
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
        # The first of identical ones (or of one line, for fits alike) -> [category, fit, message, later fits alike].
        self._caught: dict[tuple, list] = {}
        self._others: list[warnings.WarningMessage] = []

    @contextlib.contextmanager
    def of(self, fit: str, alike: str | None = None) -> Iterator[None]:
        """Keep the warnings raised inside; UserWarnings as ``<owner>: <fit>: <message>``.

        ``alike`` names the fits of one kind this one belongs to (e.g. one series' refits): of
        their UserWarnings raised at one line, the first fit's is kept, as ``<owner>: <fit> and
        N later fits: <message>``.
        """
        with warnings.catch_warnings(record=True) as caught:
            try:
                yield
            finally:
                counted = set()  # a fit counts once per line, however often it warned there
                for record in caught:
                    if not issubclass(record.category, UserWarning):
                        self._others.append(record)
                        continue
                    message = str(record.message)
                    key = ((record.category, f"{fit}: {message}") if alike is None
                           else (record.category, alike, record.filename, record.lineno))
                    if key not in self._caught:
                        self._caught[key] = [record.category, fit, message, 0]
                    elif alike is not None and key not in counted:
                        self._caught[key][3] += 1  # a later fit alike warned at this line too
                    counted.add(key)

    def issue(self, stacklevel: int = 3) -> None:
        """Issue them, each once; ``stacklevel`` 3 points at the caller of the method that calls this."""
        for record in self._others:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno, source=record.source)
        for category, fit, message, later in self._caught.values():
            fits = f"{fit} and {later} later fit{'s' if later > 1 else ''}" if later else fit
            warnings.warn(f"{self.owner}: {fits}: {message}", category, stacklevel=stacklevel)
        self._caught.clear()
        self._others.clear()
