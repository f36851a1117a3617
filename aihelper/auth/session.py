"""Binding a login to the browser's session cookie, shared by the pages and the JSON API."""

from __future__ import annotations

from flask import redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from aihelper.errors import ApiError, wants_json
from aihelper.i18n import t
from aihelper.models import User
from aihelper.services import accounts


def log_in(user: User) -> None:
    # A fresh cookie on every login: nothing set before authentication survives it (fixation).
    session.clear()
    accounts.start_login(user, request.remote_addr, request.user_agent.string)
    login_user(user)


def log_out() -> None:
    if current_user.is_authenticated:
        accounts.end_login(current_user.login_token)
    logout_user()
    session.clear()


def public_user(user: User) -> dict:
    return {"id": user.id, "username": user.username, "is_admin": user.is_admin}


def safe_next(target: str | None) -> str:
    """Only a path on this site may follow a login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def register_login_loader(manager: LoginManager) -> None:
    manager.user_loader(accounts.load_login)

    @manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            raise ApiError(401, "unauthorized", t("unauthorized"))
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
