"""The exceptions tsseq raises on bad input, and the helpers that word their messages.

Every message names the thing at fault (file, column, row, parameter) and what was
expected, so a user can fix the input without reading our code. The CLI maps
:class:`TsseqError` to exit code 2 (bad input or usage), :class:`ForecastError` (a
result that failed its sanity checks) to 3, and everything else to 1.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Iterable


class TsseqError(Exception):
    """Base class of the errors caused by the caller's input or configuration."""


class DataError(TsseqError, ValueError):
    """The data (a CSV file, a frame, an array) is not what tsseq can use."""


class MissingValuesError(DataError):
    """A model or detector that cannot use missing values was given some (NaN or infinite)."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file that was asked for does not exist."""


class ConfigError(TsseqError, ValueError):
    """A parameter or configuration value is out of its allowed range or unknown."""


class DatasetUnavailableError(TsseqError, FileNotFoundError):
    """A catalog data set is neither in the data directory, nor cached, nor downloadable."""


class OutputError(TsseqError, OSError):
    """An output file cannot be written where the caller asked.

    The path is a directory, its folder is a file or not writable, or the disk filled
    up while writing. The message names the caller's path, never a temporary file.
    """


class ForecastError(TsseqError, ArithmeticError):
    """A forecast or score failed its sanity checks before being written.

    Non-finite values, or values implausibly far from the training data
    (:mod:`tsseq.sanity`). Not the caller's input but the model's output: the CLI
    exits 3, and nothing is written.
    """


def closest_match(name: str, candidates: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest candidate, or ``""`` if none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not matches:
        lowered = {str(candidate).lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f" Did you mean {matches[0]!r}?" if matches else ""


def listed(items: Iterable[str], limit: int, separator: str = ", ") -> str:
    """The first ``limit`` items joined, and how many more: ``"a, b, c and 4 more"``; the whole list when it fits."""
    items = list(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return separator.join(items[:limit]) + more


def _names_key(message: str, where: str) -> bool:
    """Whether ``message`` already names the key path ``where`` or a key below it (``'output.quantiles'``)."""
    return re.search(rf"(?<![\w.]){re.escape(where)}(?:$|[.:\['])", message) is not None


def located(error: Exception, where: str) -> Exception:
    """``error`` (its type kept) with ``where`` (a file name, a key path, a model) in front of its message.

    A message that already names ``where`` (or a key below it: ``evaluation.interval: ...``
    for ``evaluation``) is kept as it is, so that each place is said once.
    """
    if not _names_key(str(error), where):
        error.args = (f"{where}: {error}", *error.args[1:])
    return error


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Validate an integer parameter, naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"The {name!r} parameter must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)
