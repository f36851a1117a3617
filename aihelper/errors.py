"""Errors as `{"error", "code"}` JSON under /api and /ws, friendly pages elsewhere.

Nothing internal (stack trace, SQL, provider body, secret) reaches a response; unexpected errors are
logged with the request id, which the answer repeats so an operator can find the log line.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import BadHost, HTTPException

from aihelper.failures import (
    Conflict,
    Failure,
    Forbidden,
    Invalid,
    NotAuthenticated,
    NotFound,
    ProviderFailed,
    TooLarge,
    TooMany,
    Unavailable,
    UnsupportedType,
)
from aihelper.i18n import N_, words

log = logging.getLogger(__name__)

# HTTP status -> (machine code, message key) for errors raised by Flask or Werkzeug.
_HTTP_ERRORS = {
    400: ("bad_request", N_("bad_request")),
    401: ("unauthorized", N_("unauthorized")),
    403: ("forbidden", N_("forbidden")),
    404: ("not_found", N_("not_found")),
    405: ("method_not_allowed", N_("method_not_allowed")),
    413: ("too_large", N_("too_large")),
    415: ("unsupported_media_type", N_("unsupported_media_type")),
    429: ("rate_limited", N_("rate_limited")),
}


# Each kind of expected failure's HTTP status: the one place a service's failure meets HTTP.
_STATUSES: dict[type[Failure], int] = {
    Invalid: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedType: 415,
    TooMany: 429,
    ProviderFailed: 502,
    Unavailable: 503,
}


def status_of(failure: Failure) -> int:
    return next(status for kind, status in _STATUSES.items() if isinstance(failure, kind))


def message_of(failure: Failure) -> str:
    return words(failure.message)


# Paths whose errors are JSON: the API and the websocket handshake.
JSON_PATHS = ("/api/", "/ws/")


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None):
    if wants_json():
        response = jsonify(error=message, code=code, **(details or {}))
        response.status_code = status
        return response
    if request_ctx.url_adapter is None:
        # Werkzeug could build no URLs for this request (it refused the Host), and the page links
        # its stylesheet by URL: the message alone, rather than a 500 from the error page.
        return Response(message, status, mimetype="text/plain")
    return render_template("errors/error.html", status=status, message=message), status


# MySQL client errors meaning the server is away (can't connect, gone away, lost, shutting down).
_SERVER_AWAY = frozenset({1053, 2002, 2003, 2006, 2013, 2055})


# MySQL/MariaDB: the statement lost a deadlock, or waited too long for a row lock.
_GAVE_WAY = frozenset({1213, 1205})


def lost_to_another_transaction(error: BaseException) -> bool:
    """Whether `error` is MySQL's deadlock or lock-wait timeout: the transaction was rolled back
    for another's sake, and the same work done again succeeds."""
    args = getattr(getattr(error, "orig", None), "args", ())
    return isinstance(error, OperationalError) and bool(args) and args[0] in _GAVE_WAY


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` says the database server (or the way to it) is away, rather than that a
    statement failed: then the answer is 503 `database_unavailable` and a retry may succeed."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    if error.connection_invalidated:
        return True
    args = getattr(error.orig, "args", ())
    return bool(args) and args[0] in _SERVER_AWAY


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError):
        if not database_unreachable(error):
            return handle_unexpected_error(error)
        log.warning(
            "the database is unreachable: %s %s answered 503 [%s]",
            request.method,
            request.path,
            type(error.orig).__name__,
        )
        # Nobody is logged in for the error page: Flask-Login would read the login from the
        # database to put it in the template.
        g._login_user = current_app.login_manager.anonymous_user()
        return error_response(503, "database_unavailable", gettext("database_unavailable"))

    @app.errorhandler(Failure)
    def handle_failure(failure: Failure):
        return error_response(status_of(failure), failure.code, message_of(failure), failure.details)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        return error_response(400, "csrf_failed", gettext("csrf_failed"))

    @app.errorhandler(BadHost)
    def handle_bad_host(error: BadHost):
        # A Host that passed the host check but that Werkzeug can't encode (say a label longer
        # than DNS allows under a wildcard name) is refused like the names nobody configured.
        return error_response(400, "bad_host", gettext("bad_host"))

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        code, key = _HTTP_ERRORS.get(status, ("error", "bad_request"))
        response = error_response(status, code, gettext(key))
        # Keep headers such as Retry-After (429) and Allow (405).
        headers = error.get_headers()
        if not isinstance(response, tuple):
            for name, value in headers:
                if name.lower() != "content-type":
                    response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def handle_unexpected_error(error: Exception):
        request_id = g.get("request_id", "-")
        log.exception("unhandled error in %s %s [request %s]", request.method, request.path, request_id)
        return error_response(500, "internal_error", gettext("internal_error", request_id=request_id))
