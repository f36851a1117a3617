"""Binding a login to the browser's session cookie, shared by the pages and the JSON API."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from aihelper.errors import wants_json
from aihelper.extensions import db
from aihelper.failures import NotAuthenticated
from aihelper.fair_db import fair_share
from aihelper.i18n import N_
from aihelper.models import User
from aihelper.services import accounts


def log_in(user: User) -> None:
    # A login replaces whatever login this browser had, and starts a fresh cookie: nothing set
    # before authentication survives it (fixation).
    if current_user.is_authenticated:
        accounts.end_login(current_user.login_token)
    session.clear()
    # Kept across browser restarts for PERMANENT_SESSION_LIFETIME; the server ends it then too.
    session.permanent = True
    accounts.start_login(user, request.remote_addr, request.user_agent.string)
    login_user(user)


def log_out() -> None:
    if current_user.is_authenticated:
        accounts.end_login(current_user.login_token)
    logout_user()
    session.clear()


def login_active(token: str) -> bool:
    """Whether a login still holds, for a socket or a stream that outlives its request."""
    try:
        with fair_share():
            return accounts.load_login(token) is not None
    finally:
        db.session.remove()


def safe_next(target: str | None) -> str:
    """Only a path on this site may follow a login (no open redirect).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so `/\t/evil` or
    `/\\evil` would leave the site: any such character refuses the target.
    """
    if not target or not target.startswith("/") or any(ch.isspace() or ch == "\\" or ord(ch) < 32 for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


def register_login_loader(manager: LoginManager) -> None:
    manager.user_loader(accounts.load_login)

    @manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            raise NotAuthenticated(N_("unauthorized"))
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
