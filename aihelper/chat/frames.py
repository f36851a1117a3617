"""The one definition of every frame the server sends (API.md §4), each encoded to JSON once.

A Frame is built once and then shared: every socket that follows a generation, the Redis mirror
another worker reads, the replay of a repeated client_id and the SSE adapter all use the same
object and the same encoded bytes. Building a frame never happens per follower.

Only the generation numbers frames (`seq` 1, 2, 3 …, the final `done`/`error` included), so a
follower that comes back with `after` gets exactly what it missed. A socket that fell behind gets
consecutive deltas of one answer merged into one frame, which carries the last merged seq.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

# "About 16 KB" of text per delta: big enough that a fast provider costs few frames, small enough
# that one frame never holds up a socket's other conversations for long.
MAX_DELTA_CHARS = 16 * 1024

START, DELTA, DONE, ERROR, TITLE, PONG, SAVING = "start", "delta", "done", "error", "title", "pong", "saving"


class Frame:
    """One server frame: its fields, and the JSON text made from them the first time it is needed."""

    __slots__ = ("_json", "_sse", "fields", "final", "message_id", "seq", "session_id", "type")

    def __init__(self, fields: dict[str, Any], *, encoded: bytes | None = None) -> None:
        self.fields = fields  # never changed after construction: the encoding is cached
        self.type: str = fields["type"]
        self.session_id: str | None = fields.get("session_id")
        self.message_id: int | None = fields.get("message_id")
        self.seq: int | None = fields.get("seq")
        # The last frame of a generation; a refused turn's error has no seq and ends nothing.
        self.final = self.type in (DONE, ERROR) and self.seq is not None
        self._json = encoded
        self._sse: bytes | None = None

    @classmethod
    def decode(cls, encoded: bytes) -> Frame:
        """A frame read back from where it was stored encoded (the Redis mirror)."""
        return cls(orjson.loads(encoded), encoded=encoded)

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.fields)
        return self._json

    @property
    def sse(self) -> bytes | None:
        """This frame in the original system's SSE format, or None when that format has no place for it."""
        if self._sse is None:
            piece = _sse_piece(self.fields)
            if piece is None:
                return None
            self._sse = b"data: " + orjson.dumps(piece) + b"\n\n"
        return self._sse

    def __repr__(self) -> str:
        return f"Frame({self.fields!r})"


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def start(session_id: str, user_message_id: int, message_id: int, model_id: str, client_id: str | None) -> Frame:
    return Frame(
        _without_none(
            {
                "type": START,
                "session_id": session_id,
                "user_message_id": user_message_id,
                "message_id": message_id,
                "model_id": model_id,
                "client_id": client_id,
            }
        )
    )


def delta(session_id: str, message_id: int, seq: int, content: str, reasoning: str = "") -> Frame:
    fields: dict[str, Any] = {
        "type": DELTA,
        "session_id": session_id,
        "message_id": message_id,
        "seq": seq,
        "content": content,
    }
    if reasoning:
        fields["reasoning"] = reasoning
    return Frame(fields)


def done(
    session_id: str,
    message_id: int,
    seq: int,
    *,
    status: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    title: str | None,
) -> Frame:
    return Frame(
        {
            "type": DONE,
            "session_id": session_id,
            "message_id": message_id,
            "seq": seq,
            "status": status,
            "finish_reason": finish_reason,
            "usage": usage,
            "title": title,
        }
    )


def error(
    message: str,
    code: str,
    *,
    session_id: str | None = None,
    message_id: int | None = None,
    client_id: str | None = None,
    seq: int | None = None,
    details: dict[str, Any] | None = None,
) -> Frame:
    """An error: a generation's last frame (with seq), or a refused frame or turn (without);
    `details` are the failure's own fields (a quota's `limit` and `reset_at`)."""
    return Frame(
        _without_none(
            {
                "type": ERROR,
                "error": message,
                "code": code,
                "session_id": session_id,
                "message_id": message_id,
                "client_id": client_id,
                "seq": seq,
                **(details or {}),
            }
        )
    )


def from_store(final: Frame) -> Frame:
    """A final frame built from the stored answer, not by its generation (whose process went away):
    `stored: true` tells the page that the stored text is the one to show."""
    return Frame({**final.fields, "stored": True})


def saving(session_id: str, message_id: int, seq: int) -> Frame:
    """The answer is whole but not stored yet (the database is away): `done` comes once it is."""
    return Frame({"type": SAVING, "session_id": session_id, "message_id": message_id, "seq": seq})


def title(session_id: str, new_title: str) -> Frame:
    return Frame({"type": TITLE, "session_id": session_id, "title": new_title})


PONG_FRAME = Frame({"type": PONG})


def split_text(content: str, reasoning: str) -> list[tuple[str, str]]:
    """(content, reasoning) pieces of at most MAX_DELTA_CHARS each, the thinking first."""
    if len(content) + len(reasoning) <= MAX_DELTA_CHARS:
        return [(content, reasoning)]
    pieces = [("", reasoning[i : i + MAX_DELTA_CHARS]) for i in range(0, len(reasoning), MAX_DELTA_CHARS)]
    pieces += [(content[i : i + MAX_DELTA_CHARS], "") for i in range(0, len(content), MAX_DELTA_CHARS)]
    return pieces


def merged(frames: Iterable[Frame]) -> list[Frame]:
    """The frames with each run of consecutive deltas of one answer joined (up to MAX_DELTA_CHARS)."""
    out: list[Frame] = []
    run: list[Frame] = []
    size = 0

    def flush_run() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            last = run[-1]
            out.append(
                delta(
                    last.session_id,
                    last.message_id,
                    last.seq,
                    "".join(f.fields["content"] for f in run),
                    "".join(f.fields.get("reasoning", "") for f in run),
                )
            )
        run.clear()

    for frame in frames:
        if frame.type != DELTA:
            flush_run()
            size = 0
            out.append(frame)
            continue
        length = len(frame.fields["content"]) + len(frame.fields.get("reasoning", ""))
        if run and (run[-1].message_id != frame.message_id or size + length > MAX_DELTA_CHARS):
            flush_run()
            size = 0
        run.append(frame)
        size += length
    flush_run()
    return out


def _sse_piece(fields: dict[str, Any]) -> dict[str, Any] | None:
    kind = fields["type"]
    if kind == DELTA:
        piece = {"content": fields["content"]}
        if fields.get("reasoning"):
            piece["reasoning"] = fields["reasoning"]
        return piece
    if kind == DONE:
        return {
            "done": True,
            "session_id": fields["session_id"],
            "message_id": fields["message_id"],
            "status": fields["status"],
            "finish_reason": fields["finish_reason"],
        }
    if kind == ERROR:
        return {
            "error": fields["error"],
            "code": fields["code"],
            "session_id": fields.get("session_id"),
            "message_id": fields.get("message_id"),
        }
    return None
