"""POST /api/register, /api/login, /api/logout, /api/user/password, GET /api/user/info and /api/user/usage."""

from __future__ import annotations

from flask import jsonify, request, send_file
from flask_babel import gettext
from flask_login import current_user, login_required

from aihelper.auth import bp, login_guard
from aihelper.auth.limits import login_limits, password_change_limits, register_limits
from aihelper.auth.session import log_in, log_out
from aihelper.failures import NotFound, UnsupportedType
from aihelper.i18n import N_
from aihelper.services import accounts, avatars, quotas
from aihelper.services.accounts import LOGIN_VIEW, OWN_VIEW, Credentials, PasswordChange, user_json
from aihelper.validation import read
from aihelper.web.guards import accepts_multipart
from aihelper.web.json_body import json_object


@bp.post("/api/register")
@register_limits
def api_register():
    credentials = read(Credentials, json_object())
    user = accounts.register(credentials.username, credentials.password)
    log_in(user)
    return jsonify(message=gettext("registered"), user=user_json(user, LOGIN_VIEW)), 201


@bp.post("/api/login")
@login_limits
def api_login():
    credentials = read(Credentials, json_object())
    user = login_guard.authenticate(credentials.username, credentials.password)
    log_in(user)
    return jsonify(message=gettext("logged_in"), user=user_json(user, LOGIN_VIEW))


@bp.post("/api/logout")
def api_logout():
    log_out()
    return jsonify(message=gettext("logged_out"))


@bp.get("/api/user/info")
@login_required
def api_user_info():
    return jsonify(user_json(current_user, OWN_VIEW))


@bp.get("/api/user/usage")
@login_required
def api_user_usage():
    return jsonify(quotas.usage_report(current_user.id))


@bp.post("/api/user/password")
@login_required
@password_change_limits
def api_change_password():
    change = read(PasswordChange, json_object())
    accounts.change_password(current_user, change.old_password, change.new_password)
    return jsonify(message=gettext("password_changed"))


@bp.post("/api/user/avatar")
@login_required
@accepts_multipart
def api_upload_avatar():
    upload = request.files.get("file")
    if upload is None:
        raise UnsupportedType(N_("not_an_image"))
    # One byte over the limit is enough to know it is too large.
    url = avatars.set_avatar(current_user, upload.stream.read(avatars.MAX_BYTES + 1))
    return jsonify(message=gettext("avatar_saved"), avatar=url)


@bp.get("/avatars/<name>")
@login_required
def avatar_file(name: str):
    path = avatars.readable_avatar(current_user, name)
    if path is None:
        raise NotFound(N_("not_found"))
    response = send_file(path, mimetype="image/webp", max_age=86400)
    response.cache_control.public = False
    response.cache_control.private = True  # only its owner and admins may see it
    response.headers["Content-Disposition"] = "inline"
    return response
