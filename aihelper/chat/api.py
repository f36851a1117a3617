"""GET /api/models and POST /api/chat/stream (the original system's SSE endpoint)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, g, jsonify
from flask_login import current_user, login_required

from aihelper.chat import bp
from aihelper.extensions import db
from aihelper.i18n import current_language
from aihelper.payload import json_object
from aihelper.services import providers
from aihelper.streaming import existing_turn_frames, frame_data, live_hub, start_turn, turn_request_from


@bp.get("/api/models")
@login_required
def available_models():
    return jsonify(providers.available_models())


@bp.post("/api/chat/stream")
@login_required
def chat_stream():
    """`data: {"content"}` per piece, then `data: {"done": true, "session_id", "message_id"}`;
    a failure after the stream began is `data: {"error", "code"}`, before it an ordinary JSON error."""
    language, user_id = current_language(), current_user.id
    request = turn_request_from(json_object(), user_id, kind="chat", language=language)
    frames = existing_turn_frames(request, language)
    session_id = None
    if frames is None:
        started = start_turn(request, language=language, request_id=g.get("request_id", "-"))
        session_id = started.session_id
        frames = frame_data(live_hub().follow(started.session_id, user_id, 0))
    db.session.remove()
    stop_when_gone = not current_app.config["AIHELPER_FINISH_IN_BACKGROUND"]
    hub = live_hub()
    return Response(
        _server_sent_events(frames, hub, session_id, user_id, stop_when_gone),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _server_sent_events(frames: Iterator[dict[str, Any]], hub, session_id, user_id, stop_when_gone) -> Iterator[str]:
    ended = False
    try:
        for frame in frames:
            kind = frame["type"]
            if kind == "delta":
                piece = {"content": frame["content"]}
                if frame.get("reasoning"):
                    piece["reasoning"] = frame["reasoning"]
            elif kind == "done":
                piece = {
                    "done": True,
                    "session_id": frame["session_id"],
                    "message_id": frame["message_id"],
                    "status": frame["status"],
                    "finish_reason": frame.get("finish_reason"),
                }
                ended = True
            elif kind == "error":
                piece = {
                    "error": frame["error"],
                    "code": frame["code"],
                    "session_id": frame.get("session_id"),
                    "message_id": frame.get("message_id"),
                }
                ended = True
            else:
                continue
            yield f"data: {json.dumps(piece, ensure_ascii=False)}\n\n"
    finally:
        frames.close()
        # The client went away mid-answer (the server closed this generator early).
        if not ended and stop_when_gone and session_id:
            hub.request_stop(session_id, user_id)
