"""Rate limits on login and registration, per client address and per account name.

Counted in Redis when REDIS_URL is set (shared by every worker), in memory otherwise. The page and
the JSON API share their counters (same scope), so switching between them gains nothing.
"""

from __future__ import annotations

from flask import current_app, request

from aihelper.extensions import limiter
from aihelper.services.accounts import username_key


def _submitted_account() -> str:
    fields = request.get_json(silent=True) if request.is_json else request.form
    name = fields.get("username") if hasattr(fields, "get") else None
    return "account:" + (username_key(name) if isinstance(name, str) else "")


def _setting(name: str):
    return lambda: current_app.config[name]


def _failed(response) -> bool:
    return response.status_code >= 400


def login_limits(view):
    # Per account only failures count, so a user who types the password right is never locked out.
    view = limiter.limit(
        _setting("RATELIMIT_LOGIN_PER_ACCOUNT"),
        key_func=_submitted_account,
        methods=["POST"],
        scope="login-account",
        deduct_when=_failed,
    )(view)
    return limiter.limit(_setting("RATELIMIT_LOGIN"), methods=["POST"], scope="login-address")(view)


def register_limits(view):
    return limiter.limit(_setting("RATELIMIT_REGISTER"), methods=["POST"], scope="register-address")(view)
