"""Request guards that apply to every route (SECURITY.md rules 6 and 7): the request id, the Origin
and content type of what changes state, the websocket handshake, the session cookie (none for views
marked sessionless)."""

from __future__ import annotations

import re
import secrets

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from aihelper.config import allowed_origins
from aihelper.extensions import csrf
from aihelper.failures import Forbidden, NotAuthenticated, UnsupportedType
from aihelper.i18n import N_

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def accepts_multipart(view):
    """Mark a JSON API view that takes a multipart upload instead of a JSON body."""
    view.accepts_multipart = True
    return view


def sessionless(view):
    """Mark a view for machines (a metrics scraper): it never sets or refreshes a session cookie."""
    view.sessionless = True
    return view


def origin_allowed(origin: str | None) -> bool:
    """True for a request without Origin (scripts) or from this app's own origin or an allowed one."""
    if origin is None:
        return True
    origin = origin.rstrip("/")
    own = f"{request.scheme}://{request.host}"
    return origin == own or origin in allowed_origins(current_app.config["AIHELPER_ALLOWED_ORIGINS"])


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure when configured or when the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["AIHELPER_SECURE_COOKIES"]) or (request.is_secure if request else False)

    def save_session(self, app: Flask, session, response) -> None:
        if getattr(app.view_functions.get(request.endpoint or ""), "sessionless", False):
            return
        super().save_session(app, session, response)


def register_request_guards(app: Flask) -> None:
    app.session_interface = SessionInterface()

    @app.before_request
    def assign_request_id():
        # A proxy's request id is kept when it is a plain token, so log lines can't be forged.
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else secrets.token_hex(8)

    @app.before_request
    def guard_state_changes():
        if request.method not in STATE_CHANGING:
            return
        # Every path, pages too: a page form does not rest on its CSRF token alone (a token that
        # leaked, a form that forgot it); browsers name the posting page's origin on every POST.
        if not origin_allowed(request.headers.get("Origin")):
            raise Forbidden(N_("foreign_origin"))
        if not request.path.startswith("/api/"):
            # Pages post Jinja forms, which carry a CSRF token.
            csrf.protect()
            return
        view = app.view_functions.get(request.endpoint or "")
        mimetype = request.mimetype
        if view is not None and getattr(view, "accepts_multipart", False) and mimetype == "multipart/form-data":
            return
        # A body-less request (e.g. logout from a script) carries nothing to forge; a cross-site
        # form always sends a form content type and is refused here.
        if mimetype and mimetype != "application/json":
            raise UnsupportedType(N_("unsupported_media_type"))
        if not mimetype and (request.content_length or request.headers.get("Transfer-Encoding")):
            raise UnsupportedType(N_("unsupported_media_type"))

    @app.before_request
    def guard_websocket_handshake():
        # Checked before the upgrade, so a refused handshake is a plain HTTP 401/403 (flask-sock
        # routes can't carry decorators of their own).
        if not request.path.startswith("/ws/"):
            return
        if not origin_allowed(request.headers.get("Origin")):
            raise Forbidden(N_("foreign_origin"))
        if not current_user.is_authenticated:
            raise NotAuthenticated(N_("unauthorized"))
        # No permessage-deflate: frames are small and written straight to the socket (chat/wire.py).
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
