"""A websocket chat client for the tests, speaking API.md §4 to the live server."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_websocket import Client, ConnectionClosed

from tests.helpers import PASSWORD


class BrowserLikeClient(Client):
    """simple-websocket's client leaves the port out of Host; browsers don't, and the Origin
    check compares the two."""

    def handshake(self):
        self.host = f"{self.host}:{self.port}"
        super().handshake()


@dataclass
class ChatUser:
    base_url: str
    http: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def register(cls, base_url: str, username: str) -> ChatUser:
        user = cls(base_url)
        response = user.http.post(f"{base_url}/api/register", json={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return user

    @property
    def cookie(self) -> str:
        return self.http.cookies.get("aihelper_session")

    def socket(self) -> ChatSocket:
        url = self.base_url.replace("http://", "ws://") + "/ws/chat"
        headers = {"Cookie": f"aihelper_session={self.cookie}", "Origin": self.base_url}
        return ChatSocket(BrowserLikeClient.connect(url, headers=headers))

    def raw_socket(self, receive_buffer: int) -> socket.socket:
        """A websocket opened by hand on a TCP socket with a small receive buffer, for a client that
        sends and then reads nothing (its frames pile up in the server)."""
        parts = urlsplit(self.base_url)
        conn = socket.socket()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        conn.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        conn.sendall(
            (
                f"GET /ws/chat HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {self.base_url}\r\n"
                f"Cookie: aihelper_session={self.cookie}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(1)  # byte by byte: nothing after the handshake is read
        assert head.startswith(b"HTTP/1.1 101"), head
        return conn

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=10, **kwargs)


class ChatSocket:
    def __init__(self, client: Client):
        self.client = client
        # `title` frames (a generated title), which arrive whenever they are ready, kept apart.
        self.titles: list[dict[str, Any]] = []

    def send(self, **frame: Any) -> None:
        self.client.send(json.dumps(frame))

    def receive(self, timeout: float = 15) -> dict[str, Any]:
        """The next frame other than `title`."""
        deadline = time.monotonic() + timeout
        while True:
            raw = self.client.receive(timeout=max(deadline - time.monotonic(), 0.001))
            assert raw is not None, "no frame within the timeout"
            frame = json.loads(raw)
            if frame["type"] != "title":
                return frame
            self.titles.append(frame)

    def title_of(self, session_id: str, timeout: float = 10) -> str:
        """The generated title announced for the conversation (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.titles:
                if frame["session_id"] == session_id:
                    return frame["title"]
            raw = self.client.receive(timeout=max(deadline - time.monotonic(), 0.001))
            assert raw is not None, "no title within the timeout"
            frame = json.loads(raw)
            assert frame["type"] == "title", f"unexpected frame {frame}"
            self.titles.append(frame)

    def receive_text(self, text: str, timeout: float = 15) -> list[dict[str, Any]]:
        """Delta frames until their text is `text` (however the relay grouped the pieces)."""
        deltas: list[dict[str, Any]] = []
        while text_of(deltas) != text:
            frame = self.receive(timeout)
            assert frame["type"] == "delta", f"{frame} before {text!r} arrived"
            deltas.append(frame)
            assert text.startswith(text_of(deltas)), f"{text_of(deltas)!r} is not the start of {text!r}"
        return deltas

    def receive_until_end(self, timeout: float = 15) -> list[dict[str, Any]]:
        """Frames up to and including the first `done` or `error`."""
        frames = []
        while True:
            frame = self.receive(timeout)
            frames.append(frame)
            if frame["type"] in ("done", "error"):
                return frames

    def chat(self, message: str, model_id: Any, session_id: str | None = None, **extra: Any) -> list[dict[str, Any]]:
        self.send(type="chat", message=message, model_id=model_id, session_id=session_id, **extra)
        return self.receive_until_end()

    def close(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            self.client.close()


def send_text_frame(conn: socket.socket, text: str) -> None:
    """One masked text frame (RFC 6455 §5.2: a client masks what it sends)."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    header = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    conn.sendall(header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload)))


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "delta")
