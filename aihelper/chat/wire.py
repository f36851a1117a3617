"""Frames onto a websocket: RFC 6455 text frames written straight to the socket.

simple-websocket (under flask-sock) does the handshake and reads the client's frames; sending
through it would cost wsproto's framing per frame and, worse, a plain send() that may write only
part of a frame when the socket is full. A server's frames are unmasked, so a text frame is a
two-to-ten byte header and the JSON. Everything written to the socket — our frames and
simple-websocket's own pings, pongs and close — goes through one lock, whole.

permessage-deflate is not negotiated (web/guards.py drops the offer at the handshake): a frame is
a few dozen bytes of JSON, and zlib would cost every socket about 300 KB and every frame a
compression.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from aihelper.chat.frames import Frame

_TEXT = 0x81  # FIN + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 65536:
        return bytes((_TEXT, 126)) + size.to_bytes(2, "big") + payload
    return bytes((_TEXT, 127)) + size.to_bytes(8, "big") + payload


class SocketWriter:
    """The one writer of a websocket connection's socket: what is written goes out whole and in order."""

    def __init__(self, ws: Any) -> None:
        self._sock: socket.socket = ws.sock
        self._lock = threading.Lock()
        # What a write that could not wait left unsent: written before anything else.
        self._rest = b""
        # simple-websocket writes pongs, pings and the close frame from its reader thread with
        # sock.send(); from now on they go through the lock, after the rest of any frame.
        ws.sock = _SerialisedSocket(self._sock, self)

    @staticmethod
    def encode(frames: Iterable[Frame]) -> bytes:
        return b"".join([text_frame(frame.json) for frame in frames])

    @property
    def behind(self) -> bool:
        """Part of a frame is still waiting for the socket."""
        return bool(self._rest)

    def send(self, frames: Iterable[Frame]) -> None:
        """Write the frames in one go; raises OSError when the client is gone."""
        self.sendall(self.encode(frames))

    def sendall(self, data: bytes = b"") -> None:
        """Write what is behind, then data, waiting for the socket as long as it takes."""
        with self._lock:
            if self._rest:
                data, self._rest = self._rest + data, b""
            if data:
                self._sock.sendall(data)

    def send_now(self, data: bytes) -> bool:
        """Write data without waiting (gevent's timeout 0); True when all of it went out. What the
        socket did not take stays behind, for the next sendall(). Raises OSError when the client is
        gone."""
        if not self._lock.acquire(blocking=False):
            self._rest += data  # a write is under way: this goes right after it
            return False
        try:
            if self._rest:
                data, self._rest = self._rest + data, b""
            try:
                sent = self._sock.send(data, 0, 0.0)
            except BlockingIOError:
                sent = 0
            self._rest = data[sent:]
            return not self._rest
        finally:
            self._lock.release()

    def abort(self) -> None:
        """Cut the connection at once, even under a send that is blocked on a full socket."""
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class _SerialisedSocket:
    """The socket as simple-websocket sees it: its writes are whole and never interleave with ours."""

    def __init__(self, sock: socket.socket, writer: SocketWriter) -> None:
        self._sock = sock
        self._writer = writer

    def send(self, data: bytes) -> int:
        self._writer.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
