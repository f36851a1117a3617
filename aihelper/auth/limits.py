"""Rate limits on login, registration, password changes, imports, uploads and shared links
(SECURITY.md rule 9).

Counted in Redis when REDIS_URL is set (shared by every worker), in memory otherwise. The limits
are shared limits: the login page and POST /api/login draw on the same counters. The per-account
login limits are in login_guard.
"""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from aihelper.extensions import limiter


def _logged_in_account() -> str:
    # Limits are checked before the view's login_required, so the visitor may be anonymous.
    return f"user:{getattr(current_user, 'id', 'anonymous')}"


def _setting(name: str):
    return lambda: current_app.config[name]


def _failed(response) -> bool:
    return response.status_code >= 400


def login_limits(view):
    # Every attempt from one address counts here; the per-account limits need to know whether the
    # password was right, so they are checked around it (login_guard.authenticate).
    return limiter.shared_limit(_setting("RATELIMIT_LOGIN"), "login-address", methods=["POST"])(view)


def register_limits(view):
    return limiter.shared_limit(_setting("RATELIMIT_REGISTER"), "register-address", methods=["POST"])(view)


def password_change_limits(view):
    # Someone holding a stolen cookie must not be able to guess the current password at leisure.
    return limiter.shared_limit(
        _setting("RATELIMIT_PASSWORD_CHANGE"),
        "password-change",
        key_func=_logged_in_account,
        methods=["POST"],
        deduct_when=_failed,
    )(view)


def upload_limits(view):
    # Each upload starts a child process that reads the file: a person attaches a few a minute.
    return limiter.shared_limit(_setting("RATELIMIT_UPLOAD"), "upload", key_func=_logged_in_account, methods=["POST"])(
        view
    )


def import_limits(view):
    # An import writes up to a whole history in one transaction: a few per hour is plenty.
    return limiter.shared_limit(_setting("RATELIMIT_IMPORT"), "import", key_func=_logged_in_account, methods=["POST"])(
        view
    )


def share_limits(view):
    return limiter.shared_limit(_setting("RATELIMIT_SHARE"), "share", key_func=_logged_in_account, methods=["POST"])(
        view
    )
