"""Frames onto the socket (aihelper.chat.wire): RFC 6455 text frames, whole and in order, whatever
else writes to the same socket."""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from aihelper.chat import frames
from aihelper.chat.wire import SocketWriter, text_frame


class FullSocket:
    """A gevent-like socket that takes `room` bytes of the next send only (then is full)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written = b""

    def send(self, data: bytes, flags: int = 0, timeout: float | None = None) -> int:
        taken = data[: self.room]
        if not taken:
            raise BlockingIOError
        self.room -= len(taken)
        self.written += taken
        return len(taken)

    def sendall(self, data: bytes) -> None:
        self.written += data


class WebSocketLike:
    def __init__(self, sock) -> None:
        self.sock = sock


def parse(data: bytes) -> list[tuple[Opcode, bytes]]:
    """The frames a client reads from `data` (server frames are unmasked)."""
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    return [
        (frame.opcode, bytes(frame.payload, "utf-8") if isinstance(frame.payload, str) else bytes(frame.payload))
        for frame in protocol.received_frames()
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 1 << 20])
def test_a_text_frame_of_any_size_reads_back(size):
    payload = ("字" * (size // 3) + "x" * (size % 3)).encode()
    assert parse(text_frame(payload)) == [(Opcode.TEXT, payload)]


def test_what_a_full_socket_did_not_take_goes_out_before_any_other_write():
    sock = FullSocket(room=100)
    ws = WebSocketLike(sock)
    writer = SocketWriter(ws)
    frame = frames.delta("s1", 1, 1, "x" * 10_000)
    assert not writer.send_now(writer.encode([frame]))
    assert writer.behind
    pong = bytes((0x8A, 0))  # what simple-websocket's reader thread sends on a ping
    ws.sock.send(pong)  # through the writer: after the rest of the frame, not inside it
    assert not writer.behind
    assert parse(sock.written) == [(Opcode.TEXT, frame.json), (Opcode.PONG, b"")]
