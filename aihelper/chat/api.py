"""GET /api/models and POST /api/chat/stream (the original system's SSE endpoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, jsonify
from flask_login import current_user, login_required

from aihelper.auth.session import login_active
from aihelper.chat import bp, frames, incoming, turns
from aihelper.chat.frames import Frame
from aihelper.chat.turns import OpenedTurn
from aihelper.extensions import db
from aihelper.i18n import current_language
from aihelper.live import LiveHub, live_hub
from aihelper.live.base import Wakeup
from aihelper.services import providers
from aihelper.services.conversations import TurnRequest
from aihelper.web.json_body import json_object


@bp.get("/api/models")
@login_required
def available_models():
    return jsonify(providers.available_models(current_user.id))


@bp.post("/api/chat/stream")
@login_required
def chat_stream():
    """`data: {"content"}` per piece, then `data: {"done": true, "session_id", "message_id"}`;
    a failure after the stream began is `data: {"error", "code"}`, before it an ordinary JSON error."""
    language, user_id = current_language(), current_user.id
    asked = incoming.read_chat_body(json_object())
    request = incoming.turn_request(asked, user_id, by_admin=current_user.is_admin)
    opened = turns.open_turn(request, language=language, request_id=g.get("request_id", "-"))
    db.session.remove()
    stop_when_gone = not current_app.config["AIHELPER_FINISH_IN_BACKGROUND"]
    login = _LoginWatch(current_app._get_current_object(), current_user.login_token)
    return Response(
        _server_sent_events(opened, live_hub(), request, language, stop_when_gone, login),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _LoginWatch:
    """The SSE response as one of the user's open pages: when its login ends (logout, password
    change, disabled account), the stream and its answer end too (SECURITY.md rule 10)."""

    def __init__(self, app: Flask, token: str) -> None:
        self.app = app
        self.token = token
        self.wakeup = Wakeup()
        self.ended = False

    def notice(self, frame: Frame) -> None:
        pass  # the original format has no place for a title

    def recheck_login(self) -> None:
        threading.Thread(target=self._recheck, daemon=True).start()

    def _recheck(self) -> None:
        with self.app.app_context():
            if not login_active(self.token):
                self.ended = True
                self.wakeup.wake()


def _server_sent_events(
    opened: OpenedTurn, hub: LiveHub, request: TurnRequest, language: str, stop_when_gone: bool, login: _LoginWatch
) -> Iterator[bytes]:
    """The same frames as the websocket gets, in the original format (frames.Frame.sse)."""
    user_id = request.user_id
    wakeup = login.wakeup
    cursor = opened.follow(wakeup)
    hub.listen(user_id, login)
    ended = False
    try:
        while not ended:
            wakeup.wait()
            if login.ended:
                hub.request_stop(opened.session_id, user_id)
                return
            for frame in frames.merged(cursor.take()):
                if frame.sse is not None:
                    yield frame.sse
                ended = ended or frame.final
            if cursor.at_end and not ended:
                # The generating process went away: how its answer was stored ends the stream.
                yield turns.final_frame_after_loss(login.app, cursor, language, request.by_admin).sse
                ended = True
    finally:
        cursor.close()
        hub.unlisten(user_id, login)
        # The client went away mid-answer (the server closed this generator early).
        if not ended and stop_when_gone:
            hub.request_stop(opened.session_id, user_id)
