"""/ws/chat: one websocket carries many turns (API.md §4).

The handshake was already checked in web_security (session 401, Origin 403), before upgrading.
Each turn is generated in its own greenlet and published to the live hub; this connection follows
the hub for each turn it started or resumed, so frames of several conversations may interleave.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, g
from flask_login import current_user
from simple_websocket import ConnectionClosed

from aihelper.chat import bp
from aihelper.errors import ApiError
from aihelper.extensions import db, sock
from aihelper.fair_db import fair_share
from aihelper.i18n import current_language, t_in
from aihelper.services import accounts
from aihelper.services.conversations import TurnRequest
from aihelper.services.history import owned_session
from aihelper.streaming import existing_turn_frames, frame_data, start_turn, turn_request_from

log = logging.getLogger(__name__)

# Close code for a login that ended while the socket was open (policy violation).
CLOSE_LOGIN_ENDED = 1008
# An idle socket re-checks its login this often, so a logout or a disabled account ends it.
LOGIN_CHECK_SECONDS = 30
# Beyond any real seq; also what Redis stream ids can hold.
MAX_SEQ = 2**53


@sock.route("/ws/chat", bp=bp)
def chat_socket(ws) -> None:
    connection = ChatConnection(
        ws,
        app=current_app._get_current_object(),
        user_id=current_user.id,
        login_token=current_user.login_token,
        language=current_language(),
        request_id=g.get("request_id", "-"),
    )
    # The handshake's database work is done: hold no connection for the socket's lifetime.
    db.session.remove()
    connection.serve()


class ChatConnection:
    def __init__(self, ws, *, app: Flask, user_id: int, login_token: str, language: str, request_id: str):
        self.ws = ws
        self.app = app
        self.user_id = user_id
        self.login_token = login_token
        self.language = language
        self.request_id = request_id
        self.send_lock = threading.Lock()
        self.open = True
        # Sessions whose generation this connection started and still follows.
        self.following: set[str] = set()

    # -- sending ---------------------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> bool:
        """Send one frame; False once the client is gone."""
        if not self.open:
            return False
        try:
            with self.send_lock:
                self.ws.send(json.dumps(frame, ensure_ascii=False))
            return True
        except (ConnectionClosed, OSError):
            self.open = False
            return False

    def send_error(self, code: str, message: str, **ids: Any) -> None:
        self.send({"type": "error", "error": message, "code": code, **{k: v for k, v in ids.items() if v is not None}})

    # -- receiving -------------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while self.open:
                raw = self.ws.receive(timeout=LOGIN_CHECK_SECONDS)
                if raw is None:
                    with self.app.app_context():
                        try:
                            self.still_logged_in()
                        finally:
                            db.session.remove()
                    continue
                self.handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self.open = False
            if not self.app.config["AIHELPER_FINISH_IN_BACKGROUND"]:
                for session_id in list(self.following):
                    self.hub.request_stop(session_id, self.user_id)

    @property
    def hub(self):
        return self.app.extensions["live_hub"]

    def handle(self, raw: Any) -> None:
        try:
            frame = json.loads(raw) if isinstance(raw, str | bytes) else None
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            frame = None
        if not isinstance(frame, dict) or frame.get("type") not in ("ping", "chat", "regenerate", "resume", "stop"):
            self.send_error("bad_frame", t_in(self.language, "bad_frame"))
            return
        kind = frame["type"]
        with self.app.app_context():
            try:
                if not self.still_logged_in():
                    return
                if kind == "ping":
                    self.send({"type": "pong"})
                else:
                    getattr(self, "on_" + kind)(frame)
            except ApiError as refused:
                session_id = frame.get("session_id") if isinstance(frame.get("session_id"), str) else None
                self.send_error(refused.code, refused.message, session_id=session_id)
            except Exception:
                # Never a crash: the socket stays open and says what happened.
                log.exception("websocket frame %r failed [request %s]", kind, self.request_id)
                self.send_error("internal_error", t_in(self.language, "internal_error", request_id=self.request_id))
            finally:
                db.session.remove()

    def still_logged_in(self) -> bool:
        """A logout, password change or disabled account ends this socket at its next frame."""
        with fair_share():
            if accounts.load_login(self.login_token) is not None:
                return True
        self.send_error("unauthorized", t_in(self.language, "unauthorized"))
        self.open = False
        self.ws.close(reason=CLOSE_LOGIN_ENDED)
        return False

    def on_chat(self, frame: dict[str, Any]) -> None:
        self.start(turn_request_from(frame, self.user_id, kind="chat", language=self.language))

    def on_regenerate(self, frame: dict[str, Any]) -> None:
        self.start(turn_request_from(frame, self.user_id, kind="regenerate", language=self.language))

    def start(self, request: TurnRequest) -> None:
        replay = existing_turn_frames(request, self.language)
        if replay is not None:
            self.follow_in_background(replay, None)
            return
        started = start_turn(request, language=self.language, request_id=self.request_id)
        self.send(
            {
                "type": "start",
                "session_id": started.session_id,
                "user_message_id": started.user_message_id,
                "message_id": started.answer_id,
                "model_id": started.model_id,
            }
        )
        frames = self.hub.follow(started.session_id, self.user_id, 0)
        if frames is not None:
            self.follow_in_background(frame_data(frames), started.session_id)

    def on_resume(self, frame: dict[str, Any]) -> None:
        session_id, after = frame.get("session_id"), frame.get("after", 0)
        if (
            not isinstance(session_id, str)
            or not isinstance(after, int)
            or isinstance(after, bool)
            or not 0 <= after <= MAX_SEQ
        ):
            raise ApiError(400, "bad_frame", t_in(self.language, "bad_frame"))
        owned_session(self.user_id, session_id)  # someone else's id: 404, like one that does not exist
        if session_id in self.following:
            return  # already relayed on this socket: a second follower would only send everything twice
        frames = self.hub.follow(session_id, self.user_id, after)
        if frames is None:
            raise ApiError(409, "not_running", t_in(self.language, "not_running"))
        self.follow_in_background(frame_data(frames), session_id)

    def on_stop(self, frame: dict[str, Any]) -> None:
        session_id = frame.get("session_id")
        targets = [session_id] if isinstance(session_id, str) else list(self.following)
        for target in targets:
            self.hub.request_stop(target, self.user_id)

    # -- following a generation ------------------------------------------------------------------

    def follow_in_background(self, frames: Iterator[dict[str, Any]], session_id: str | None) -> None:
        """Relay frames in their own greenlet, so this socket keeps reading (stop, ping, more turns)."""
        if session_id:
            self.following.add(session_id)
        threading.Thread(target=self.relay, args=(frames, session_id), daemon=True).start()

    def relay(self, frames: Iterator[dict[str, Any]], session_id: str | None) -> None:
        try:
            for frame in frames:
                if not self.send(frame):
                    break
        except Exception:
            # The live stream broke (e.g. Redis went away); the answer is still being stored, so the
            # page is told to read it from the history instead of waiting forever.
            log.exception("relaying %s failed [request %s]", session_id, self.request_id)
            self.send_error("stream_lost", t_in(self.language, "stream_lost"), session_id=session_id)
        finally:
            frames.close()
            if session_id:
                self.following.discard(session_id)
