"""Rate limits on login, registration, password changes and imports (SECURITY.md rule 9).

Counted in Redis when REDIS_URL is set (shared by every worker), in memory otherwise. The limits
are shared limits: the login page and POST /api/login draw on the same counters.
"""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from aihelper.extensions import limiter
from aihelper.services.accounts import username_key


def _submitted_account() -> str:
    fields = request.get_json(silent=True) if request.is_json else request.form
    name = fields.get("username") if hasattr(fields, "get") else None
    return "account:" + (username_key(name) if isinstance(name, str) else "")


def _account_from_this_address() -> str:
    return f"{_submitted_account()}@{request.remote_addr}"


def _logged_in_account() -> str:
    # Limits are checked before the view's login_required, so the visitor may be anonymous.
    return f"user:{getattr(current_user, 'id', 'anonymous')}"


def _setting(name: str):
    return lambda: current_app.config[name]


def _failed(response) -> bool:
    return response.status_code >= 400


def login_limits(view):
    # Failures against one account from one address are limited tightly; failures against one
    # account from anywhere only loosely, so a stranger can't lock the owner out for long.
    for setting, key_func, scope in (
        ("RATELIMIT_LOGIN_PER_ACCOUNT", _account_from_this_address, "login-account-address"),
        ("RATELIMIT_LOGIN_ACCOUNT_TOTAL", _submitted_account, "login-account"),
    ):
        view = limiter.shared_limit(_setting(setting), scope, key_func=key_func, methods=["POST"], deduct_when=_failed)(
            view
        )
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


def import_limits(view):
    # An import writes up to a whole history in one transaction: a few per hour is plenty.
    return limiter.shared_limit(_setting("RATELIMIT_IMPORT"), "import", key_func=_logged_in_account, methods=["POST"])(
        view
    )
