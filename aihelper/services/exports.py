"""Taking conversations out: one as Markdown or JSON, all of them as one JSON document.

The JSON document (`format: aihelper-conversations`, version 1) is the same for one conversation and
for all of them, so either can be imported (services/imports.py). Every export is written in
pieces, a page of messages at a time, however long the conversation: a page is read, written out
and forgotten, no database connection is held between pages (a slow download must not keep one),
and the worker serves its other users between them.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.fair_db import Turns, fair_share
from aihelper.i18n import N_
from aihelper.models import Attachment, ChatMessage, ChatSession
from aihelper.models.chat import IMPORTING, MessageStatus, Role
from aihelper.services import attachments, branches
from aihelper.services.history import message_dict, message_rows
from aihelper.times import aware, iso_utc
from aihelper.validation import Fields, OneOf, TimeZone, defaulted

# Characters no file system (or Content-Disposition) takes in a name.
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')

FORMAT, VERSION = "aihelper-conversations", 1
# In an export zip: the document, and the files beside it.
DOCUMENT_NAME, FILES_FOLDER = "conversations.json", "files/"


class ExportQuery(Fields):
    """GET /api/chat/session/<id>/export: as JSON or Markdown (times written in `tz`)."""

    format: Annotated[str, OneOf(("json", "md"), N_("invalid_export_format"))] = "json"
    tz: Annotated[tzinfo, TimeZone()] = defaulted()


class ExportAllQuery(Fields):
    """GET /api/chat/export: a zip when there are files (the default), or the JSON document alone."""

    format: Annotated[str, OneOf(("zip", "json"), N_("invalid_export_format"))] = "zip"


SESSIONS_PAGE = 50  # conversations read per query by "export everything"
MESSAGES_PAGE = 200  # messages read per query: several small conversations share one
CHUNK_CHARS = 32 * 1024


def _session_document(session: Any) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        # One an import is still writing (or left half-written) is its own origin.
        "origin_id": session.session_id
        if not session.origin_id or session.origin_id.startswith(IMPORTING)
        else session.origin_id,
        "title": session.title,
        "model_id": session.model_id,
        "pinned": bool(session.pinned),
        "create_time": iso_utc(session.create_time),
        "update_time": iso_utc(session.update_time),
        # The branch shown (None: the newest message's), by a message id of this document.
        "selected_leaf_id": session.selected_leaf_id,
    }


def _message_document(message: dict[str, Any]) -> dict[str, Any]:
    document = {
        # Ids name messages within the document only: a message follows its parent_id (None: the first).
        "id": message["id"],
        "parent_id": message["parent_id"],
        "role": message["role"],
        "content": message["content"],
        "reasoning": message["reasoning"],
        "timestamp": message["timestamp"],
        "status": message["status"],
        "model_id": message["model_id"],
        "finish_reason": message["finish_reason"],
        "usage": message["usage"],
    }
    if message.get("files"):
        document["attachments"] = [_file_reference(a) for a in message["files"]]
    return document


def _file_reference(attachment: Attachment) -> dict[str, Any]:
    """A file of a message in the export: where it is in the zip, and what it is."""
    return {
        "file": FILES_FOLDER + attachment.id,
        "name": attachment.name,
        "kind": attachment.kind,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _written_out(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces joined into chunks of about CHUNK_CHARS (one write each, not one per message),
    with the worker's other work in between: a client on a fast link takes every write at once,
    so nothing else would make this request yield."""
    turns = Turns()
    waiting: list[str] = []
    size = 0
    for piece in pieces:
        waiting.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            yield "".join(waiting)
            waiting, size = [], 0
        turns.take()
    yield "".join(waiting)


# --- reading, a page at a time ----------------------------------------------------------------------


def _read(statement) -> list[Any]:
    """One short read, its connection given back at once."""
    with fair_share():
        try:
            return db.session.execute(statement).all()
        finally:
            db.session.remove()


def _messages_of(session_ids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(session id, message) for every message of these conversations, each conversation's in order:
    small conversations are read together, a long one a page at a time."""
    counts = dict(
        _read(
            select(ChatMessage.session_id, func.count(ChatMessage.id))
            .where(ChatMessage.session_id.in_(session_ids))
            .group_by(ChatMessage.session_id)
        )
    )
    group: list[str] = []
    for session_id in session_ids:
        count = counts.get(session_id, 0)
        if count > MESSAGES_PAGE:
            yield from _long_conversation(session_id)
            continue
        if sum(counts.get(s, 0) for s in group) + count > MESSAGES_PAGE:
            yield from _short_conversations(group)
            group = []
        group.append(session_id)
    yield from _short_conversations(group)


def _short_conversations(session_ids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    if not session_ids:
        return
    rows = _read(
        message_rows()
        .add_columns(ChatMessage.session_id)
        .where(ChatMessage.session_id.in_(session_ids))
        .order_by(ChatMessage.session_id, ChatMessage.id)
    )
    grouped: dict[str, list[dict[str, Any]]] = {session_id: [] for session_id in session_ids}
    for row, message in zip(rows, _with_files(rows), strict=True):
        grouped[row.session_id].append(message)
    for session_id in session_ids:
        for message in grouped[session_id]:
            yield session_id, message


def _long_conversation(session_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    after = 0
    while True:
        rows = _read(
            message_rows()
            .where(ChatMessage.session_id == session_id, ChatMessage.id > after)
            .order_by(ChatMessage.id)
            .limit(MESSAGES_PAGE)
        )
        for message in _with_files(rows):
            yield session_id, message
        if len(rows) < MESSAGES_PAGE:
            return
        after = rows[-1].id


def _with_files(rows: list[Any]) -> list[dict[str, Any]]:
    """The rows as messages, each with its attachments (`files`) when it has some."""
    with_files = [row.id for row in rows if row.attachment_count]
    if with_files:
        with fair_share():
            try:
                files = attachments.of_messages(with_files)
                for found in files.values():
                    for attachment in found:
                        db.session.expunge(attachment)  # read after the session is gone
            finally:
                db.session.remove()
    else:
        files = {}
    return [{**message_dict(row), "files": files.get(row.id, [])} for row in rows]


# --- JSON ------------------------------------------------------------------------------------------


def _document_head() -> str:
    """The start of the export document, up to the opening of its list of conversations."""
    fields = _dumps({"format": FORMAT, "version": VERSION, "exported_at": iso_utc(datetime.now(UTC))})
    return fields[:-1] + ', "conversations": [\n'


def _conversations_json(sessions: list[Any], collect: Callable[[Attachment], None] | None = None) -> Iterator[str]:
    """The conversations, each as {fields…, "messages": [one message per line]}, comma separated;
    `collect` is given each attached file (for the zip that carries them)."""
    documents = {s.session_id: _dumps(_session_document(s))[:-1] + ', "messages": [' for s in sessions}
    current: str | None = None
    first_message = True
    for session_id, message in _messages_of(list(documents)):
        if session_id != current:
            if current is not None:
                yield "]}"
            yield (",\n" if current is not None else "") + documents.pop(session_id)
            current, first_message = session_id, True
        yield ("\n" if first_message else ",\n") + _dumps(_message_document(message))
        if collect is not None:
            for attachment in message["files"]:
                collect(attachment)
        first_message = False
    if current is not None:
        yield "]}"
    # Conversations without a message come last.
    for index, opening in enumerate(documents.values()):
        yield (",\n" if current is not None or index else "") + opening + "]}"


def download_name(session: ChatSession, extension: str, *, ascii: bool = False) -> str:
    """A file name a person recognises: the conversation's title, else its id, without the
    characters no file system takes; with `ascii`, for clients that only read ASCII names."""

    def cleaned(text: str) -> str:
        if ascii:
            text = text.encode("ascii", "ignore").decode()
        return _UNSAFE_IN_NAMES.sub("", " ".join(text.split()))[:80].strip(" .")

    title = session.title or ""
    name = (cleaned(title) if not ascii or title.isascii() else "") or "aihelper-" + cleaned(session.session_id)
    return f"{name}.{extension}"


def export_one(session: ChatSession) -> Iterator[str]:
    """One conversation (an owned_session) as an export document, in pieces."""
    db.session.remove()

    def pieces() -> Iterator[str]:
        yield _document_head()
        yield from _conversations_json([session])
        yield "\n]}\n"

    return _written_out(pieces())


def export_all(user_id: int) -> Iterator[str]:
    """Every conversation of the user as one export document, in pieces."""
    return _written_out(_all_pieces(user_id))


def has_files(user_id: int) -> bool:
    """Whether the user's export needs a zip (some message of theirs has files)."""
    sent = select(Attachment.id).where(Attachment.user_id == user_id, Attachment.message_id.is_not(None))
    return db.session.scalar(sent.limit(1)) is not None


class _Sink:
    """Where zipfile writes: bytes taken away as they come (a zip streamed, never held whole)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.buffer = bytes(self.buffer), bytearray()
        return data


def export_all_zip(user_id: int) -> Iterator[bytes]:
    """Every conversation as a zip: `conversations.json` (the export document, importable by
    itself) and each attached file beside it under `files/`, written out as it is made."""
    sink, files = _Sink(), []
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        with archive.open(DOCUMENT_NAME, "w") as member:
            for text in _written_out(_all_pieces(user_id, files.append)):
                member.write(text.encode())
                yield sink.take()
        folder = attachments.folder()
        for attachment in files:
            path = folder / attachment.storage_name
            if path.is_file():  # gone meanwhile: the document still names it
                archive.write(path, FILES_FOLDER + attachment.id, compress_type=zipfile.ZIP_STORED)
                yield sink.take()
    yield sink.take()


def _all_pieces(user_id: int, collect: Callable[[Attachment], None] | None = None) -> Iterator[str]:
    yield _document_head()
    last_id, first = 0, True
    while True:
        sessions = _read(
            select(*ChatSession.__table__.columns)
            .where(ChatSession.user_id == user_id, ChatSession.id > last_id)
            .order_by(ChatSession.id)
            .limit(SESSIONS_PAGE)
        )
        if not sessions:
            break
        last_id = sessions[-1].id
        if not first:
            yield ",\n"
        yield from _conversations_json(sessions, collect)
        first = False
    yield "\n]}\n"


def export_count(user_id: int) -> int:
    return db.session.scalar(select(func.count(ChatSession.id)).where(ChatSession.user_id == user_id)) or 0


# --- Markdown --------------------------------------------------------------------------------------


def export_markdown(session: ChatSession, labels: dict[str, str], time_zone: tzinfo) -> Iterator[str]:
    """One conversation (an owned_session) as Markdown, in pieces: the title, then each message of
    the branch shown under its author and time (in `time_zone`, the reader's)."""
    shown = set(branches.shown_path(branches.structure(session.session_id), session.selected_leaf_id))
    db.session.remove()
    messages = (message for _, message in _long_conversation(session.session_id) if message["id"] in shown)
    return _written_out(_markdown_pieces(session, messages, labels, time_zone))


def _local_time(moment: datetime, time_zone: tzinfo) -> str:
    """A moment (naive ones are UTC, as stored) as a person reads it, with the zone's offset."""
    return aware(moment).astimezone(time_zone).strftime("%Y-%m-%d %H:%M:%S (UTC%z)")


def _markdown_pieces(
    session: ChatSession, messages: Iterable[dict[str, Any]], labels: dict[str, str], time_zone: tzinfo
) -> Iterator[str]:
    head = [f"# {session.title or session.session_id}", ""]
    if session.model_id:
        head.append(f"- {labels['model']}: {session.model_id}")
    head += [f"- {labels['created']}: {_local_time(session.create_time, time_zone)}", "", ""]
    yield "\n".join(head)
    for message in messages:
        author = labels["you"] if message["role"] == Role.USER else (message["model_id"] or labels["assistant"])
        written = _local_time(datetime.fromisoformat(message["timestamp"]), time_zone)
        lines = ["---", "", f"### {author} · {written}", ""]
        if message["status"] != MessageStatus.DONE:
            lines += [f"> {labels['status_' + message['status']]}", ""]
        lines += [message["content"], "", ""]
        yield "\n".join(lines)
