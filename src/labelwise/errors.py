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
    "TooManyRequestsError",
    "did_you_mean",
    "shorten",
    "clip",
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


class TooManyRequestsError(LabelwiseError, PermissionError):
    """Too many attempts: try again in ``retry_after`` seconds (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def did_you_mean(name: str, choices) -> str:
    """Return a ' Did you mean ...?' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


#: The most characters of a user's value that an error message echoes.
ECHO_LIMIT = 60


def shorten(value, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` bounded in length and in work, for echoing user input in a message.

    A value from a file can be huge (a 10 MB string, a YAML alias bomb of a
    billion nodes); ``repr`` of it would build the whole text. This looks at a
    few items per level and a few levels only, and cuts the result to ``limit``
    characters with ``...``.

    Examples
    --------
    >>> shorten("x" * 100, limit=10)
    "'xxxxxx..."
    >>> shorten("ham")
    "'ham'"
    >>> shorten([[1, 2]] * 10**9)
    '[[1, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2], ...]'
    """
    import reprlib

    if isinstance(value, str):
        text = repr(value[: limit + 1])
    else:
        r = reprlib.Repr()
        r.maxlevel = 3
        r.maxstring = r.maxother = r.maxlong = limit + 2
        r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = 6
        text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` as it is (no quotes), cut to ``limit`` characters with ``...``.

    Examples
    --------
    >>> clip("strategy.params.x"), clip("y" * 100, limit=8)
    ('strategy.params.x', 'yyyyy...')
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."
