"""One exception hierarchy for every error a user can cause.

Each class also inherits the matching builtin, so ``except ValueError`` keeps
working for callers who do not know labelwise. The CLI turns any
:class:`LabelwiseError` into a one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "LabelwiseError",
    "InvalidInputError",
    "EmptyPoolError",
    "UnknownNameError",
    "DataFileError",
    "MissingRequirementError",
]


class LabelwiseError(Exception):
    """Base class of every error labelwise raises on purpose."""


class InvalidInputError(LabelwiseError, ValueError):
    """An array, argument or file content that labelwise cannot use as given."""


class EmptyPoolError(InvalidInputError):
    """There is nothing left to select from."""


class UnknownNameError(LabelwiseError, KeyError):
    """A strategy, model, metric or data set name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class DataFileError(LabelwiseError, ValueError):
    """A data file that is missing, unreadable or malformed."""


class MissingRequirementError(LabelwiseError, ValueError):
    """A strategy needs something (a committee, embeddings, a model) it was not given."""


def did_you_mean(name: str, choices) -> str:
    """Return a ' Did you mean ...?' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
