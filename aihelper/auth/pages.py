"""The /login and /register pages (form posts with CSRF) and /logout."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from aihelper.auth import bp, login_guard
from aihelper.auth.forms import CredentialsForm, LogoutForm
from aihelper.auth.limits import login_limits, register_limits
from aihelper.auth.session import log_in, log_out, safe_next
from aihelper.errors import message_of, status_of
from aihelper.failures import Failure
from aihelper.services import accounts
from aihelper.services.settings import registration_open


def _render(mode: str, form: CredentialsForm, error: str | None = None, status: int = 200):
    page = {
        "mode": mode,
        "csrf_token": form.csrf_token.current_token,
        "username": form.username.data or "",
        "error": error,
        "next": safe_next(request.args.get("next")),
        "registration_open": registration_open(),
        # A fresh install: the pages say that the first account becomes the admin.
        "no_users": not accounts.any_account(),
        # Sent here by a page whose login the server stopped accepting: say why it is here.
        "notice": gettext("login_ended") if mode == "login" and request.args.get("ended") else None,
    }
    return render_template("auth/auth.html", page=page, mode=mode), status


def _submit(mode: str, action):
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = CredentialsForm()
    if request.method == "GET":
        return _render(mode, form)
    if not form.validate_on_submit():
        # Only a missing or stale CSRF token makes this empty form invalid.
        return _render(mode, form, error=next(iter(form.errors.get("csrf_token", []))), status=400)
    try:
        user = action(form.username.data or "", form.password.data or "")
    except Failure as failure:
        return _render(mode, form, error=message_of(failure), status=status_of(failure))
    log_in(user)
    return redirect(safe_next(request.args.get("next")))


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login():
    return _submit("login", login_guard.authenticate)


@bp.route("/register", methods=["GET", "POST"])
@register_limits
def register():
    return _submit("register", accounts.register)


@bp.post("/logout")
def logout():
    if LogoutForm().validate_on_submit():
        log_out()
    return redirect(url_for("auth.login"))
