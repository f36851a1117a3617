"""Frames onto a websocket: RFC 6455 text frames written straight to the socket.

simple-websocket (under flask-sock) does the handshake and reads the client's frames; sending
through it would cost wsproto's framing per frame and, worse, a plain send() that may write only
part of a frame when the socket is full. A server's frames are unmasked, so a text frame is a
two-to-ten byte header and the JSON. Everything written to the socket — our frames and
simple-websocket's own pings, pongs and close — goes through one lock, whole.

permessage-deflate is not negotiated (web_security drops the offer at the handshake): a frame is
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
    """The one writer of a websocket connection's socket."""

    def __init__(self, ws: Any) -> None:
        self._sock: socket.socket = ws.sock
        self._lock = threading.Lock()
        # simple-websocket writes pongs, pings and the close frame from its reader thread with
        # sock.send(); from now on they go through the lock, whole.
        ws.sock = _SerialisedSocket(self._sock, self)

    @staticmethod
    def encode(frames: Iterable[Frame]) -> bytes:
        return b"".join([text_frame(frame.json) for frame in frames])

    def send(self, frames: Iterable[Frame]) -> None:
        """Write the frames in one go; raises OSError when the client is gone."""
        self.sendall(self.encode(frames))

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def send_now(self, data: bytes) -> int:
        """Write what the socket takes without waiting (gevent's timeout 0): the number of bytes
        written, 0 when it is full or another write holds it. Raises OSError when the client is gone."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            return self._sock.send(data, 0, 0.0)
        except BlockingIOError:
            return 0
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
