"""The expected failures the services and guards raise: what went wrong, in no language and with
no HTTP status.

A failure is its kind (the class: not found, conflict, too large, …), a machine code the API
answers with, and what to tell the person as a message key with its values. The words are chosen
when the failure is answered, in the language of whoever reads it (a request's, or a socket's for a
stream that outlives its request); errors.py maps each kind to its HTTP status, in one table.

    raise NotFound("not_found", N_("session_not_found"))
    raise Invalid(N_("too_long"), field=Term(N_("field_title")), limit=200)   # key = code

N_ marks a message key for the catalog check (tests/test_translations.py).
"""

from __future__ import annotations

from typing import Any


class Term:
    """A message key and its values, turned into words only when shown; a value may be a Term."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, /, **values: Any) -> None:
        self.key = key
        self.values = values

    def __repr__(self) -> str:
        return f"Term({self.key!r}, {self.values!r})"


class Failure(Exception):
    """An expected failure: `code` for machines, `message` (a Term) for people. The message key is
    the code unless given."""

    def __init__(self, code: str, message: str | Term | None = None, /, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message if isinstance(message, Term) else Term(message or code, **values)
        # Fields the JSON error and the error frame carry besides `error` and `code` (a quota's
        # `limit` and `reset_at`).
        self.details: dict[str, Any] = {}


class Invalid(Failure):
    """What was sent is wrong (a field, a frame, a file)."""


class NotAuthenticated(Failure):
    """Nobody is logged in, or the credentials are wrong."""


class Forbidden(Failure):
    """Logged in, but not allowed."""


class NotFound(Failure):
    """It does not exist, or it is not the asker's (the same answer: no telling which)."""


class Conflict(Failure):
    """The state it would change is not what the request expects (a name taken, nothing to redo)."""


class TooLarge(Failure):
    """More than the limits allow."""


class UnsupportedType(Failure):
    """A body or file of a type this endpoint does not take."""


class TooMany(Failure):
    """Too many at once: the asker must wait."""


class ProviderFailed(Failure):
    """The model's provider refused or failed a call made on the asker's behalf."""


class Unavailable(Failure):
    """The server cannot serve it now (restarting); a retry may succeed."""
