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
    "NotFoundError",
    "ConflictError",
    "AuthError",
    "ForbiddenError",
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


class NotFoundError(LabelwiseError, LookupError):
    """A sample, user, label or assignment that does not exist (HTTP 404)."""


class ConflictError(LabelwiseError, RuntimeError):
    """The thing changed under you: already done, taken by someone else (HTTP 409)."""


class AuthError(LabelwiseError, PermissionError):
    """Not logged in, or a wrong user name or password (HTTP 401)."""


class ForbiddenError(LabelwiseError, PermissionError):
    """Logged in, but the role does not allow it (HTTP 403)."""


def did_you_mean(name: str, choices) -> str:
    """Return a ' Did you mean ...?' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
