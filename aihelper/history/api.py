"""GET /api/chat/history, POST /api/chat/history/time-range (alias date-range), DELETE /api/chat/session/<id>.

Thin views: every rule (ownership, cursors, time parsing) lives in aihelper.services.history.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user, login_required

from aihelper.history import bp
from aihelper.i18n import t
from aihelper.payload import json_object
from aihelper.services import history
from aihelper.streaming import live_hub


@bp.get("/api/chat/history")
@login_required
def api_history():
    if "session_id" in request.args:
        return jsonify(history.conversation(current_user.id, request.args["session_id"]))
    sessions = history.list_sessions(current_user.id, request.args.get("limit"), request.args.get("before"))
    return jsonify(sessions=sessions)


@bp.post("/api/chat/history/time-range")
@bp.post("/api/chat/history/date-range", endpoint="api_history_date_range")
@login_required
def api_history_time_range():
    body = json_object()
    sessions = history.sessions_in_range(current_user.id, body.get("start_time"), body.get("end_time"), body.get("tz"))
    return jsonify(sessions=sessions)


@bp.put("/api/chat/session/<path:session_id>")
@login_required
def api_update_session(session_id: str):
    return jsonify(history.update_session(current_user.id, session_id, json_object()))


@bp.delete("/api/chat/session/<path:session_id>")
@login_required
def api_delete_session(session_id: str):
    # An answer still being generated for it stops: its provider call would be paid for nothing.
    live_hub().request_stop(session_id, current_user.id)
    history.delete_session(current_user.id, session_id)
    return jsonify(message=t("deleted"))
