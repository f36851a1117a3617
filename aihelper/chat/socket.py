"""/ws/chat: one websocket carries many turns (API.md §4).

The handshake was already checked in web/guards.py (session 401, Origin 403), before upgrading.
This greenlet reads the client's frames and acts on them. The connection follows the live feed of
every answer it started or resumed, so frames of several conversations may interleave: a frame is
written by whoever publishes it when the socket takes it at once, otherwise by the connection's
sender greenlet, in order. While the socket is busy, what waits merges (consecutive deltas of one
answer become one frame); a socket that takes nothing for AIHELPER_STALLED_SOCKET_SECONDS while
frames wait is cut, and the page reconnects and resumes.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from contextlib import suppress
from typing import Any

from flask import Flask, current_app, g
from flask_babel import gettext
from flask_login import current_user
from simple_websocket import ConnectionClosed

from aihelper.auth.session import login_active
from aihelper.chat import bp, frames, incoming, turns
from aihelper.chat.frames import Frame
from aihelper.chat.wire import SocketWriter
from aihelper.errors import database_unreachable, message_of
from aihelper.extensions import db, sock
from aihelper.failures import Conflict, Failure
from aihelper.fair_db import fair_share
from aihelper.i18n import N_, current_language, speaking
from aihelper.live import Cursor, LiveHub, live_hub
from aihelper.live.base import Wakeup
from aihelper.services.history import owned_session
from aihelper.telemetry.metrics import WEBSOCKET_CONNECTIONS

log = logging.getLogger(__name__)

# Close code for a login that ended while the socket was open (policy violation).
CLOSE_LOGIN_ENDED = 1008
# Close code for a worker going away (RFC 6455 "service restart"): the page reconnects elsewhere.
CLOSE_SERVICE_RESTART = 1012
# Frames taken from one feed per write: a long backlog (a resume) goes out in bounded pieces.
BATCH_FRAMES = 64
# The socket is behind when this many frames of one answer wait, or when its last write had to wait
# for the client: then consecutive deltas merge (and the seq of such a frame is its last one's).
MERGE_BACKLOG = 16
BUSY_SECONDS = 0.002
# Replies (errors, pongs) waiting for a client: one that sends this many frames without reading the
# replies is closed rather than queued for.
MAX_OUTGOING = 256
# The longest id a refusal repeats back (a session id's column length).
ECHOED_MAX = 64


# This worker's open sockets, for a graceful stop (aihelper/chat/drain.py).
_OPEN: weakref.WeakSet[ChatConnection] = weakref.WeakSet()


def open_connections() -> list[ChatConnection]:
    return list(_OPEN)


@sock.route("/ws/chat", bp=bp)
def chat_socket(ws) -> None:
    connection = ChatConnection(
        ws,
        app=current_app._get_current_object(),
        hub=live_hub(),
        user_id=current_user.id,
        is_admin=current_user.is_admin,
        login_token=current_user.login_token,
        language=current_language(),
        request_id=g.get("request_id", "-"),
    )
    # The handshake's database work is done: hold no connection for the socket's lifetime.
    db.session.remove()
    connection.serve()


class ChatConnection:
    def __init__(
        self,
        ws,
        *,
        app: Flask,
        hub: LiveHub,
        user_id: int,
        is_admin: bool,
        login_token: str,
        language: str,
        request_id: str,
    ) -> None:
        self.ws = ws
        self.writer = SocketWriter(ws)
        self.app = app
        self.hub = hub
        self.user_id = user_id
        self.is_admin = is_admin
        self.login_token = login_token
        self.language = language
        self.request_id = request_id
        self.stalled_seconds = app.config["AIHELPER_STALLED_SOCKET_SECONDS"]
        # Besides being told at once when one of the user's logins ends, the socket checks its own
        # this often (at most: never per frame).
        self.login_check_seconds = app.config["AIHELPER_LOGIN_CHECK_SECONDS"]
        self.open = True
        self.login_checked_at = time.monotonic()
        # What the sender writes: frames of this connection's own (start, errors, pong, notices)
        # first, then whatever the followed feeds have.
        self.outgoing: deque[Frame] = deque()
        self.cursors: list[Cursor] = []
        self.started: set[str] = set()  # conversations whose answer this connection asked for
        self._wakeup = Wakeup()
        self._sender_waiting = False  # the sender greenlet waits for news (it is not mid-write)
        self._busy = False  # the last write had to wait for the client: waiting deltas merge
        self._sending_since: float | None = None
        self.restarting = False  # the worker is stopping: close once no answer is followed

    # -- the sender ------------------------------------------------------------------------------
    #
    # What the feeds publish is written by whoever publishes it, when the socket can take it at once
    # (the usual case: no greenlet switch per frame). Anything else — a socket that is full, the
    # connection's own frames, the end of a feed — goes through the sender greenlet, in order.

    def wake(self) -> None:
        """A followed feed has news (called by whoever published it: must return at once, and
        never raise: the publisher is a generation, or the reader of another worker's frames)."""
        if not self.open:
            return
        if self._sender_waiting and not self.outgoing and not self.writer.behind:
            try:
                if self._write_now():
                    return
            except OSError:  # the client is gone: the sender and the reading side end
                self._close()
                return
        self._cut_if_stalled()
        self._wakeup.wake()

    def _close(self) -> None:
        self.open = False
        self.writer.abort()
        self._wakeup.wake()

    def _cut_if_stalled(self) -> None:
        """A client that takes nothing for stalled_seconds while frames wait is cut, rather than
        left further and further behind (its page reconnects and resumes)."""
        since = self._sending_since
        if since is not None and time.monotonic() - since > self.stalled_seconds:
            log.info("websocket of user %s stalled; closed [request %s]", self.user_id, self.request_id)
            self.writer.abort()

    def _write_now(self) -> bool:
        """Write the followed feeds' new frames without waiting; False when the sender must go on
        (the socket took only part of them, or a feed ended)."""
        batch: list[Frame] = []
        settled = True
        for cursor in self.cursors:
            batch += cursor.take(BATCH_FRAMES)
            settled = settled and not cursor.pending and not cursor.at_end
        if not batch:
            return settled
        if not self.writer.send_now(self.writer.encode(batch)):
            self._busy = True  # the rest goes out through the sender
            return False
        return settled

    def notice(self, frame: Frame) -> None:
        """A frame for the user's pages (a generated title)."""
        self.say(frame)

    def recheck_login(self) -> None:
        """One of the user's logins ended somewhere: if it was this one, the socket ends now."""
        threading.Thread(target=self._recheck_login, daemon=True).start()

    def _recheck_login(self) -> None:
        with self.app.app_context():
            self.still_logged_in()

    def say(self, frame: Frame) -> None:
        if len(self.outgoing) >= MAX_OUTGOING:
            # The client sends and reads nothing back (every frame gets an answer): stop it here.
            log.info("websocket of user %s reads no replies; closed [request %s]", self.user_id, self.request_id)
            self._close()
            return
        self.outgoing.append(frame)
        self._wakeup.wake()

    def _send_loop(self) -> None:
        try:
            while True:
                self._sender_waiting = True
                self._wakeup.wait()
                self._sender_waiting = False
                if not self.open:
                    return
                if self.writer.behind:
                    self._write(b"")
                batch = [self.outgoing.popleft() for _ in range(min(len(self.outgoing), BATCH_FRAMES))]
                if self.outgoing:
                    self._wakeup.wake()  # the rest in the next write
                for cursor in list(self.cursors):
                    taken = cursor.take(BATCH_FRAMES)
                    batch += frames.merged(taken) if self._busy or len(taken) > MERGE_BACKLOG else taken
                    if cursor.pending:
                        self._wakeup.wake()  # the rest in the next write
                    elif cursor.at_end:
                        self._unfollow(cursor)
                        if cursor.lost:
                            # The generating process went away: its answer's final frame comes once
                            # the answer is stored (its lease lapses), from a thread of its own.
                            threading.Thread(target=self._finish_lost, args=(cursor,), daemon=True).start()
                if batch:
                    self._write(self.writer.encode(batch))
                if self.restarting and not self.cursors and not self.outgoing:
                    self._close_for_restart()
                    return
        except (OSError, ConnectionClosed):
            self.open = False  # the client is gone; the reading side notices too
        except Exception:
            log.exception("websocket sender failed [request %s]", self.request_id)
            self.open = False
            self.writer.abort()

    def _write(self, data: bytes) -> None:
        self._sending_since = started = time.monotonic()
        self.writer.sendall(data)
        self._sending_since = None
        self._busy = time.monotonic() - started > BUSY_SECONDS

    def restart_when_idle(self) -> None:
        """The worker is stopping: close as soon as the answers this socket follows have ended."""
        self.restarting = True
        self._wakeup.wake()

    def _close_for_restart(self) -> None:
        self.open = False
        with suppress(OSError, ConnectionClosed):
            self.ws.close(reason=CLOSE_SERVICE_RESTART)
        self.writer.abort()

    def _finish_lost(self, cursor: Cursor) -> None:
        self.say(turns.final_frame_after_loss(self.app, cursor, self.language, self.is_admin))

    def _follow(self, cursor: Cursor) -> None:
        self.cursors.append(cursor)
        self._wakeup.wake()

    def _unfollow(self, cursor: Cursor) -> None:
        cursor.close()
        if cursor in self.cursors:
            self.cursors.remove(cursor)
        self.started.discard(cursor.session_id)

    # -- reading the client's frames -------------------------------------------------------------

    def serve(self) -> None:
        _OPEN.add(self)
        WEBSOCKET_CONNECTIONS.inc()
        sender = threading.Thread(target=self._send_loop, name=f"ws-sender-{self.request_id}", daemon=True)
        sender.start()
        self.hub.listen(self.user_id, self)
        try:
            while self.open:
                wait = self.login_checked_at + self.login_check_seconds - time.monotonic()
                # Woken at least this often also to notice a stalled client once nothing is published.
                raw = self.ws.receive(timeout=max(min(wait, self.stalled_seconds), 0))
                self._cut_if_stalled()
                if time.monotonic() - self.login_checked_at >= self.login_check_seconds and not self.still_logged_in():
                    return
                if raw is not None and self.open:
                    self.handle(raw)
        except ConnectionClosed:
            pass
        finally:
            _OPEN.discard(self)
            WEBSOCKET_CONNECTIONS.dec()
            self.open = False
            self._wakeup.wake()
            self.hub.unlisten(self.user_id, self)
            for cursor in list(self.cursors):
                cursor.close()
            if not self.app.config["AIHELPER_FINISH_IN_BACKGROUND"]:
                for session_id in list(self.started):
                    self.hub.request_stop(session_id, self.user_id)

    def still_logged_in(self) -> bool:
        """A logout, password change or disabled account ends this socket and the answers it asked
        for (SECURITY.md rule 10); checked when told, and every login_check_seconds."""
        self.login_checked_at = time.monotonic()
        if login_active(self.login_token):
            return True
        if not self.open:
            return False
        self.open = False  # nothing more is read or sent for this login
        for cursor in list(self.cursors):
            cursor.close()
        self.cursors.clear()
        for session_id in list(self.started):
            self.hub.request_stop(session_id, self.user_id)
        with suppress(OSError, ConnectionClosed):
            # Written here, not by the sender, so that it goes out before the close frame.
            with speaking(self.language):
                self.writer.send([frames.error(gettext("unauthorized"), "unauthorized")])
            self.ws.close(reason=CLOSE_LOGIN_ENDED)
        self.writer.abort()  # the close frame is on its way; what the client sends now is not read
        self._wakeup.wake()
        return False

    def handle(self, raw: Any) -> None:
        try:
            frame = incoming.read_frame(raw)
        except Failure as refused:
            self._refuse(refused)
            return
        try:
            match frame:
                case incoming.PingFrame():
                    self.say(frames.PONG_FRAME)
                case incoming.ChatFrame() | incoming.RegenerateFrame():
                    self.start(incoming.turn_request(frame, self.user_id, by_admin=self.is_admin))
                case incoming.ResumeFrame():
                    self.resume(frame.session_id, frame.after)
                case incoming.StopFrame():
                    self.stop(frame.session_id)
        except Failure as refused:
            self._refuse(refused, session_id=_echoed(frame, "session_id"), client_id=_echoed(frame, "client_id"))
        except Exception as error:
            # Never a crash: the socket stays open and says what happened.
            if database_unreachable(error):
                log.warning("websocket frame %r: the database is unreachable [request %s]", frame.type, self.request_id)
                with speaking(self.language):
                    message, code = gettext("database_unavailable"), "database_unavailable"
            else:
                log.exception("websocket frame %r failed [request %s]", frame.type, self.request_id)
                with speaking(self.language):
                    message, code = gettext("internal_error", request_id=self.request_id), "internal_error"
            self.say(frames.error(message, code, client_id=_echoed(frame, "client_id")))
        finally:
            db.session.remove()

    def _refuse(self, refused: Failure, **turn: str | None) -> None:
        with speaking(self.language):
            message = message_of(refused)
        self.say(frames.error(message, refused.code, details=refused.details, **turn))

    def start(self, request) -> None:
        opened = turns.open_turn(request, language=self.language, request_id=self.request_id)
        self.outgoing.append(opened.start)
        self.started.add(opened.session_id)
        self._follow(opened.follow(self))

    def resume(self, session_id: str, after: int) -> None:
        with fair_share():
            owned_session(self.user_id, session_id)  # someone else's id: 404, like one that does not exist
        if any(cursor.session_id == session_id for cursor in self.cursors):
            return  # already relayed on this socket: a second follower would only send everything twice
        cursor = self.hub.follow(session_id, self.user_id, after, self)
        if cursor is None:
            raise Conflict(N_("not_running"))
        self._follow(cursor)

    def stop(self, session_id: str | None) -> None:
        for target in [session_id] if session_id is not None else list(self.started):
            self.hub.request_stop(target, self.user_id)


def _echoed(frame: incoming.Frame, name: str) -> str | None:
    value = getattr(frame, name, None)
    return value if isinstance(value, str) and len(value) <= ECHOED_MAX else None
