"""Bringing conversations back in from an export file (services/exports.py), idempotently.

An imported conversation gets a new id and remembers the one it came from (`origin_id`): importing
the same file twice, into the account that exported it or into another, adds nothing the second
time. A file is checked whole before anything is written: a bad file changes nothing.

A file may hold 100 000 messages (read and checked by services/import_file.py), and one worker
serves everyone else's streams on the same event loop, so they are written in slices of a few
hundred messages, each its own short transaction, with the worker's other work in between (fair_db).
A conversation written over several slices gets its `origin_id` in its last one: until then a
repeated import would not skip it, so one cut short by a crash is imported again whole. Should a
slice fail, everything this import wrote is deleted again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from aihelper.extensions import db
from aihelper.failures import Conflict
from aihelper.fair_db import Turns, fair_share
from aihelper.i18n import N_
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.models.chat import IMPORTING, Role
from aihelper.services import search
from aihelper.services.history import erase_conversations

SLICE_MESSAGES = 100  # written per transaction, and at most SLICE_CHARS characters
SLICE_CHARS = 200_000
SLICE_CONVERSATIONS = 50

_messages = ChatMessage.__table__
# A message linked to the one it follows, once both have their ids.
_LINK_PARENT = update(_messages).where(_messages.c.id == bindparam("linked")).values(parent_id=bindparam("parent"))


# --- writing it ------------------------------------------------------------------------------------


def _already_here(user_id: int, ids: set[str]) -> set[str]:
    """Which of these ids the user already has, as a conversation or as the origin of an import."""
    present: set[str] = set()
    id_list = list(ids)
    for offset in range(0, len(id_list), 500):
        chunk = id_list[offset : offset + 500]
        with fair_share():
            rows = db.session.execute(
                select(ChatSession.session_id, ChatSession.origin_id).where(
                    ChatSession.user_id == user_id,
                    or_(ChatSession.session_id.in_(chunk), ChatSession.origin_id.in_(chunk)),
                )
            ).all()
        for session_id, origin_id in rows:
            present.update({session_id, origin_id} - {None})
    db.session.commit()
    return present & ids


def _new(user_id: int, conversations: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The conversations the user does not have yet (nor twice in this file), and how many are skipped."""
    wanted = {c["origin_id"] for c in conversations} | {c["session_id"] for c in conversations}
    present = _already_here(user_id, wanted)
    new: list[dict[str, Any]] = []
    seen: set[str] = set()
    for conversation in conversations:
        origin = conversation["origin_id"]
        if origin in present or conversation["session_id"] in present or origin in seen:
            continue
        seen.add(origin)
        new.append(conversation)
    return new, len(conversations) - len(new)


@dataclass
class _Written:
    """What one conversation of the file has in the database so far."""

    conversation: dict[str, Any]
    session_id: str
    ids: list[int] = field(default_factory=list)  # the new id of each message written, in order
    # (new message id, the files the file names for it), to bring in once the messages are in.
    files: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)


@dataclass
class _Piece:
    written: _Written
    start: int  # messages[start:end] of the conversation
    end: int

    @property
    def begins(self) -> bool:
        return self.start == 0

    @property
    def completes(self) -> bool:
        return self.end == len(self.written.conversation["messages"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.written.conversation["messages"][self.start : self.end]


def _slices(conversations: list[dict[str, Any]]) -> Iterator[list[_Piece]]:
    """The conversations cut into slices of at most SLICE_MESSAGES messages, SLICE_CHARS characters
    (a message longer than that is a slice alone) and SLICE_CONVERSATIONS conversations: small
    ones share a slice, a long one spans several."""
    pieces: list[_Piece] = []
    count = characters = 0
    for conversation in conversations:
        written = _Written(conversation, str(uuid.uuid4()))
        messages, start = conversation["messages"], 0
        for index, message in enumerate(messages):
            size = len(message["content"]) + len(message["reasoning"] or "")
            if count and (count >= SLICE_MESSAGES or characters + size > SLICE_CHARS):
                if index > start:
                    pieces.append(_Piece(written, start, index))
                yield pieces
                pieces, count, characters, start = [], 0, 0, index
            count += 1
            characters += size
        pieces.append(_Piece(written, start, len(messages)))
        if len(pieces) >= SLICE_CONVERSATIONS:
            yield pieces
            pieces, count, characters = [], 0, 0
    if pieces:
        yield pieces


def _pending(origin: str) -> str:
    return IMPORTING + hashlib.sha256(origin.encode()).hexdigest()[:40]


def _write(connection, user_id: int, piece: _Piece, index_terms: list[str]) -> int:
    """One piece of a conversation (its messages' search terms made beforehand), in the slice's
    transaction; returns its number of questions."""
    written, conversation = piece.written, piece.written.conversation
    if piece.begins:
        connection.execute(
            insert(ChatSession.__table__),
            {
                "session_id": written.session_id,
                "user_id": user_id,
                "title": conversation["title"],
                "model_id": conversation["model_id"],
                "pinned": conversation["pinned"],
                "create_time": conversation["create_time"],
                "update_time": conversation["update_time"],
                "origin_id": conversation["origin_id"] if piece.completes else _pending(conversation["origin_id"]),
            },
        )
    messages = piece.messages
    ids = _insert_linked(connection, user_id, written, messages) if messages else []
    if piece.completes:
        _finish_conversation(connection, written, begun_here=piece.begins)
    named = conversation["files"]
    for offset, message_id in enumerate(ids):  # files only ever come with questions
        if piece.start + offset in named and messages[offset]["role"] == Role.USER:
            written.files.append((message_id, named[piece.start + offset]))
    if ids:
        search.write_index(connection, list(zip(ids, index_terms, strict=True)))
    return sum(1 for m in messages if m["role"] == Role.USER)


def _insert_linked(connection, user_id: int, written: _Written, messages: list[dict[str, Any]]) -> list[int]:
    """Insert a piece's messages, then link each to the message it follows (whose new id is known
    only now); returns their ids."""
    connection.execute(
        insert(_messages),
        [
            {**_columns(message), "session_id": written.session_id, "user_id": user_id, "parent_id": None}
            for message in messages
        ],
    )
    # The new messages' ids, in the order inserted (ids only grow).
    ids = (
        connection.execute(
            select(_messages.c.id)
            .where(_messages.c.session_id == written.session_id, _messages.c.id > (written.ids or [0])[-1])
            .order_by(_messages.c.id)
        )
        .scalars()
        .all()
    )
    written.ids += ids
    links = [
        {"linked": message_id, "parent": written.ids[message["parent_index"]]}
        for message_id, message in zip(ids, messages, strict=True)
        if message["parent_index"] is not None
    ]
    if links:
        connection.execute(_LINK_PARENT, links)
    return ids


def _columns(message: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in message.items() if name != "parent_index"}


def _finish_conversation(connection, written: _Written, *, begun_here: bool) -> None:
    """The conversation is whole: it gets its real origin (one begun in this very piece has it
    already) and the branch its file showed, unless that is the newest message's."""
    values: dict[str, Any] = {} if begun_here else {"origin_id": written.conversation["origin_id"]}
    selected = written.conversation["selected_index"]
    if selected is not None and selected != len(written.ids) - 1:
        values["selected_leaf_id"] = written.ids[selected]
    if values:
        connection.execute(
            update(ChatSession.__table__)
            .where(ChatSession.__table__.c.session_id == written.session_id)
            .values(**values)
        )


def _count_questions(connection, user_id: int, questions: int) -> None:
    if questions:
        users = User.__table__
        connection.execute(
            users.update().where(users.c.id == user_id).values(message_count=users.c.message_count + questions)
        )


def _undo(user_id: int, session_ids: list[str], questions: int) -> None:
    """Delete what an import that failed half-way wrote."""
    db.session.rollback()
    rows = []
    for offset in range(0, len(session_ids), 500):
        with fair_share():
            rows += db.session.scalars(
                select(ChatSession.id).where(
                    ChatSession.user_id == user_id, ChatSession.session_id.in_(session_ids[offset : offset + 500])
                )
            ).all()
    erase_conversations(rows)
    with fair_share():
        _count_questions(db.session.connection(), user_id, -questions)
        db.session.commit()


def _index_terms(piece: _Piece, turns: Turns) -> list[str]:
    """The search terms of a piece's messages: the costly part of indexing, done outside the
    database's turn and a message at a time."""
    made = []
    for message in piece.messages:
        made.append(search.indexed_terms(message["content"]))
        turns.take()
    return made


def _replace_leftovers(user_id: int, conversations: list[dict[str, Any]]) -> None:
    """Delete what an earlier import of these conversations left half-written when its process
    died (their `origin_id` is still the pending one), and take back the questions it counted."""
    pending = [_pending(c["origin_id"]) for c in conversations]
    rows: list[int] = []
    questions = 0
    for offset in range(0, len(pending), 500):
        with fair_share():
            found = db.session.scalars(
                select(ChatSession.id).where(
                    ChatSession.user_id == user_id, ChatSession.origin_id.in_(pending[offset : offset + 500])
                )
            ).all()
            if found:
                questions += db.session.scalar(
                    select(func.count(ChatMessage.id))
                    .join(ChatSession, ChatSession.session_id == ChatMessage.session_id)
                    .where(ChatSession.id.in_(found), ChatMessage.role == Role.USER)
                )
            db.session.commit()
        rows += found
    if rows:
        erase_conversations(rows)
        with fair_share():
            _count_questions(db.session.connection(), user_id, -questions)
            db.session.commit()


FileBringer = Callable[[int, list[tuple[int, list[dict[str, Any]]]]], int]


def import_conversations(
    user_id: int, conversations: list[dict[str, Any]], bring_files: FileBringer | None = None
) -> dict[str, int]:
    """Add the conversations the user does not have yet; returns {added, skipped, files}.
    `bring_files` (an export zip's) attaches the files the new messages name, once they are in."""
    new, skipped = _new(user_id, conversations)
    _replace_leftovers(user_id, new)
    turns = Turns()
    started: list[str] = []
    writtens: dict[str, _Written] = {}
    questions = 0
    try:
        for pieces in _slices(new):
            index_terms = [_index_terms(piece, turns) for piece in pieces]
            with fair_share():
                connection = db.session.connection()
                in_slice = sum(map(partial(_write, connection, user_id), pieces, index_terms))
                _count_questions(connection, user_id, in_slice)
                db.session.commit()
            started += [piece.written.session_id for piece in pieces if piece.begins]
            writtens.update((piece.written.session_id, piece.written) for piece in pieces)
            questions += in_slice
            turns.take()
    except IntegrityError:
        # Only another import of the same conversations, at the same moment, gives one.
        _undo(user_id, started, questions)
        raise Conflict(N_("import_conflict")) from None
    except Exception:
        _undo(user_id, started, questions)
        raise
    named = [found for written in writtens.values() for found in written.files]
    brought = bring_files(user_id, named) if bring_files is not None and named else 0
    return {"added": len(new), "skipped": skipped, "files": brought}
