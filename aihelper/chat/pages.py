"""GET / : the logged-in chat page."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from aihelper.chat import bp
from aihelper.timefmt import iso_utc


@bp.get("/")
@login_required
def index():
    user = current_user
    page = {
        "user": {
            "id": user.id,
            "username": user.username,
            "avatar": user.avatar,
            "is_admin": user.is_admin,
            "message_count": user.message_count,
            "last_login": iso_utc(user.last_login),
        },
        "csrf_token": generate_csrf(),
    }
    return render_template("chat/index.html", page=page)
