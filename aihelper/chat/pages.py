"""GET / and GET /c/<session_id>: the chat page (a conversation is opened by the page itself)."""

from __future__ import annotations

from flask import current_app, render_template
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from aihelper.chat import bp
from aihelper.services import settings
from aihelper.services.accounts import OWN_VIEW, user_json


@bp.get("/")
@bp.get("/c/<path:session_id>")
@login_required
def index(session_id: str | None = None):
    page = {
        "user": user_json(current_user, OWN_VIEW),
        "csrf_token": generate_csrf(),
        # Only handed to the page's script as data: the conversation is fetched (and its
        # ownership checked) through the API.
        "session_id": session_id,
        "max_message_chars": current_app.config["AIHELPER_MAX_MESSAGE_CHARS"],
        "attachments_per_message": current_app.config["AIHELPER_ATTACHMENTS_PER_MESSAGE"],
        # Shown in the sidebar, so nobody is surprised when old conversations go.
        "retention_days": settings.retention_days(),
    }
    return render_template("chat/index.html", page=page)
