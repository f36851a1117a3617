"""Bringing conversations back in from an export file (services/exports.py), idempotently.

An imported conversation gets a new id and remembers the one it came from (`origin_id`): importing
the same file twice, into the account that exported it or into another, adds nothing the second
time. A file is checked whole before anything is written: a bad file changes nothing.

A file may hold 100 000 messages in 32 MB, and one worker serves everyone else's streams on the same
event loop, so nothing here happens in one go: the file is parsed a piece at a time as it arrives
(ijson), checked a message at a time, and written in slices of a few hundred messages, each its own
short transaction, with the worker's other work in between (fair_db). A conversation written over
several slices gets its `origin_id` in its last one: until then a repeated import would not skip it,
so one cut short by a crash is imported again whole. Should a slice fail, everything this import
wrote is deleted again.

Long, and one module on purpose: reading, checking and writing share the document's shape and the
slicing; the checks become pydantic models with issue #14's validation.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import ijson
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, Term
from aihelper.fair_db import Turns, fair_share
from aihelper.i18n import N_
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.models.chat import IMPORTING, MessageStatus, Role
from aihelper.services import search
from aihelper.services.exports import FORMAT, VERSION
from aihelper.services.history import SESSION_ID_MAX, TITLE_MAX, erase_conversations
from aihelper.times import stored, utcnow

MESSAGES_MAX = 100_000  # per file
MESSAGES_PER_CONVERSATION_MAX = 10_000
CONVERSATIONS_MAX = 20_000  # per file
ANSWER_MAX = 500_000  # characters of an answer or its reasoning (far beyond any max_tokens)
YEARS = (1970, 9999)  # what every supported database's DATETIME holds
ROLES = (Role.USER, Role.ASSISTANT)
STATUSES = (MessageStatus.DONE, MessageStatus.STOPPED, MessageStatus.ERROR)
SLICE_MESSAGES = 100  # written per transaction, and at most SLICE_CHARS characters
SLICE_CHARS = 200_000
SLICE_CONVERSATIONS = 50
PARSE_PIECE = 64 * 1024  # bytes parsed between turns (about a millisecond)
NESTING_MAX = 16  # an export nests 5 deep
# What an export within the limits holds at most, outside strings: a message is an object with
# 8 fields and a usage object, a conversation an object with 8 fields and a list.
CONTAINERS_MAX = 2 * MESSAGES_MAX + 2 * CONVERSATIONS_MAX + 2
SEPARATORS_MAX = 10 * MESSAGES_MAX + 8 * CONVERSATIONS_MAX + 4
FIELDS_MAX = 16  # of one object
ITEMS_MAX = max(CONVERSATIONS_MAX, MESSAGES_PER_CONVERSATION_MAX)  # of one list


# --- reading the file ------------------------------------------------------------------------------


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


# The rest of a string through its closing quote; a string from its opening quote to its closing
# one (group 1) or to the end of the piece. Possessive: no backtracking.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.S)
_STRING_OR_START = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:(")|\\?\Z)', re.S)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_OPEN_OBJECT, _OPEN_LIST, _SEPARATOR = b"{"[0], b"["[0], b","[0]


class _ShapeGuard:
    """Follows the brackets and commas outside strings, piece by piece, and refuses a file before
    the parser builds it when it nests deeper than NESTING_MAX (ijson's work grows with the square
    of the depth: 200 KB of "[" would hold a worker for minutes and take gigabytes), when one object
    or list is longer than any in an export within the limits (one dict of a million keys is
    rebuilt in one step as it grows), or when it holds more objects, lists or values in all than
    such an export can (32 MB of "{}," would become 0.8 GB of Python objects)."""

    def __init__(self) -> None:
        self.open: list[list[int]] = []  # [kind, separators so far] of each open object or list
        self.containers = 0
        self.separators = 0
        self.in_string = False
        self.escaped = False  # the last piece ended on a backslash inside a string

    def check(self, piece: bytes) -> None:
        if self.escaped:
            piece, self.escaped = piece[1:], False
        if self.in_string:
            rest = _STRING_REST.match(piece)
            if rest is None:
                self._ends_inside_string(piece)
                return
            piece, self.in_string = piece[rest.end() :], False
        # Each string matched once, from its opening quote to its closing one or to the piece's end:
        # no quote inside a string is ever retried as an opening one (linear in the piece).
        kept, position = [], 0
        for string in _STRING_OR_START.finditer(piece):
            kept.append(piece[position : string.start()])
            position = string.end()
            if string.group(1) is None:  # a string begins here and goes on in the next piece
                self.in_string = True
                self._ends_inside_string(piece)
        kept.append(piece[position:])
        self._follow(b"".join(kept).translate(None, _NOT_STRUCTURE))

    def _follow(self, structure: bytes) -> None:
        open_ = self.open
        for char in structure:
            if char == _SEPARATOR:
                if open_:
                    current = open_[-1]
                    current[1] += 1
                    if current[1] >= (FIELDS_MAX if current[0] == _OPEN_OBJECT else ITEMS_MAX):
                        raise _TooMany
                self.separators += 1
            elif char in (_OPEN_OBJECT, _OPEN_LIST):
                open_.append([char, 0])
                self.containers += 1
                if len(open_) > NESTING_MAX:
                    raise _TooDeep
            elif open_:
                open_.pop()
        if self.containers > CONTAINERS_MAX or self.separators > SEPARATORS_MAX:
            raise _TooMany

    def _ends_inside_string(self, piece: bytes) -> None:
        backslashes = len(piece) - len(piece.rstrip(b"\\"))
        self.escaped = backslashes % 2 == 1


def _parts(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The upload in parts of at most PARSE_PIECE bytes, without a leading byte order mark."""
    first = True
    for piece in pieces:
        if first and piece:
            piece, first = piece.removeprefix(b"\xef\xbb\xbf"), False
        for offset in range(0, len(piece), PARSE_PIECE):
            yield piece[offset : offset + PARSE_PIECE]


def read_file(pieces: Iterable[bytes]) -> Any:
    """The JSON document of an upload given in pieces of any size, parsed as they come."""
    turns = Turns()
    guard = _ShapeGuard()
    parsed = ijson.sendable_list()
    parser = ijson.items_coro(parsed, "", use_float=True)
    try:
        for part in _parts(pieces):
            guard.check(part)
            parser.send(part)
            turns.take()
        parser.close()
    except (ijson.JSONError, _TooDeep):
        raise Invalid(N_("import_not_json")) from None
    except _TooMany:
        problem = Term(N_("import_too_many_values"), limit=str(MESSAGES_MAX))
        raise Invalid(N_("import_invalid"), where="file", problem=problem) from None
    return parsed[0]


# --- checking it -----------------------------------------------------------------------------------


class _Invalid(Exception):
    """Where a file is wrong (a path such as conversations[3].messages[2].role) and what is wrong
    (an i18n key and its values)."""

    def __init__(self, where: str, problem: str, **values: Any):
        super().__init__(where, problem)
        self.where, self.problem, self.values = where, problem, {k: str(v) for k, v in values.items()}


def _text(value: Any, where: str, max_length: int, *, optional: bool = False, empty: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Invalid(where, N_("import_not_text"))
    if len(value) > max_length:
        raise _Invalid(where, N_("import_too_long"), limit=max_length)
    if not empty and not value.strip():
        raise _Invalid(where, N_("import_empty"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(where, N_("import_not_unicode")) from None
    return value


def _now() -> datetime:
    return utcnow().replace(microsecond=0)


def _moment(value: Any, where: str) -> datetime:
    """An ISO 8601 time as naive UTC; never later than now (a time in the future would keep a
    conversation on top of the list, and out of reach of the retention clean-up, for ever)."""
    if not isinstance(value, str):
        raise _Invalid(where, N_("import_not_time"))
    try:
        moment = stored(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        raise _Invalid(where, N_("import_not_time")) from None
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise _Invalid(where, N_("import_years"), low=YEARS[0], high=YEARS[1])
    return min(moment.replace(microsecond=0), _now())


def _keys(value: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, N_("import_not_object"))
    # The first unknown field in the file's order: an object may have millions (nothing sorted).
    unknown = next((key for key in value if key not in allowed), None)
    if unknown is not None:
        raise _Invalid(where, N_("import_unknown_field"), name=unknown[:40])
    missing = sorted(required - value.keys())
    if missing:
        raise _Invalid(where, N_("import_missing_field"), name=missing[0])
    return value


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise _Invalid(where, N_("import_not_count"))
    return value


_CONVERSATION_FIELDS = {
    "session_id",
    "origin_id",
    "title",
    "model_id",
    "pinned",
    "create_time",
    "update_time",
    "messages",
}
_MESSAGE_FIELDS = {"role", "content", "reasoning", "timestamp", "status", "model_id", "finish_reason", "usage"}


def _checked_message(value: Any, where: str, question_max: int) -> dict[str, Any]:
    message = _keys(value, where, _MESSAGE_FIELDS, {"role", "content", "timestamp"})
    if message["role"] not in ROLES:
        raise _Invalid(f"{where}.role", N_("import_bad_role"))
    status = message.get("status", MessageStatus.DONE)
    status = (
        MessageStatus.ERROR if status == MessageStatus.STREAMING else status
    )  # exported while it was still generating
    if status not in STATUSES:
        raise _Invalid(f"{where}.status", N_("import_bad_status"))
    usage = message.get("usage")
    if usage is not None:
        usage = _keys(usage, f"{where}.usage", {"prompt_tokens", "completion_tokens"}, set())
    return {
        "role": message["role"],
        # A question as long as one typed here, at most: earlier messages go to the provider again.
        "content": _text(
            message["content"], f"{where}.content", question_max if message["role"] == Role.USER else ANSWER_MAX
        ),
        "reasoning": _text(message.get("reasoning"), f"{where}.reasoning", ANSWER_MAX, optional=True) or None,
        "timestamp": _moment(message["timestamp"], f"{where}.timestamp"),
        "status": status,
        "model_id": _text(message.get("model_id"), f"{where}.model_id", 100, optional=True),
        "finish_reason": _text(message.get("finish_reason"), f"{where}.finish_reason", 20, optional=True),
        "prompt_tokens": _count((usage or {}).get("prompt_tokens"), f"{where}.usage.prompt_tokens"),
        "completion_tokens": _count((usage or {}).get("completion_tokens"), f"{where}.usage.completion_tokens"),
    }


def _checked_conversation(value: Any, where: str, question_max: int, turns: Turns) -> dict[str, Any]:
    conversation = _keys(value, where, _CONVERSATION_FIELDS, {"session_id", "title", "messages"})
    # Compared stripped: MySQL's unique index would not tell "x" and "x " apart.
    session_id = _text(conversation["session_id"], f"{where}.session_id", SESSION_ID_MAX, empty=False).strip()
    origin = _text(conversation.get("origin_id"), f"{where}.origin_id", SESSION_ID_MAX, optional=True, empty=False)
    origin = origin.strip() if origin else None
    messages = conversation["messages"]
    if not isinstance(messages, list):
        raise _Invalid(f"{where}.messages", N_("import_not_list"))
    if len(messages) > MESSAGES_PER_CONVERSATION_MAX:
        raise _Invalid(
            f"{where}.messages",
            N_("import_conversation_too_long"),
            count=len(messages),
            limit=MESSAGES_PER_CONVERSATION_MAX,
        )
    pinned = conversation.get("pinned", False)
    if not isinstance(pinned, bool):
        raise _Invalid(f"{where}.pinned", N_("import_not_flag"))
    checked = []
    for index, message in enumerate(messages):
        checked.append(_checked_message(message, f"{where}.messages[{index}]", question_max))
        turns.take()
    create_time = (
        _moment(conversation["create_time"], f"{where}.create_time") if "create_time" in conversation else None
    )
    update_time = (
        _moment(conversation["update_time"], f"{where}.update_time") if "update_time" in conversation else None
    )
    # Every message lies between create_time and update_time, as for a conversation held here:
    # the time-range filter relies on it.
    if checked:
        first, last = min(m["timestamp"] for m in checked), max(m["timestamp"] for m in checked)
        create_time = min(create_time or first, first)
        update_time = max(update_time or last, last)
    return {
        "origin_id": origin or session_id,
        "session_id": session_id,
        "title": " ".join(_text(conversation["title"], f"{where}.title", TITLE_MAX).split()),
        "model_id": _text(conversation.get("model_id"), f"{where}.model_id", 100, optional=True),
        "pinned": pinned,
        "create_time": create_time or _now(),
        "update_time": update_time or _now(),
        "messages": checked,
    }


def parse_import(pieces: Iterable[bytes], question_max: int) -> list[dict[str, Any]]:
    """The conversations of an export file given in pieces, checked whole; Invalid saying where it
    is wrong."""
    document = read_file(pieces)
    turns = Turns()
    try:
        _keys(document, "file", {"format", "version", "exported_at", "conversations"}, {"format", "conversations"})
        if document["format"] != FORMAT or document.get("version", VERSION) != VERSION:
            raise _Invalid("format", N_("import_bad_format"), format=FORMAT, version=VERSION)
        conversations = document["conversations"]
        if not isinstance(conversations, list) or len(conversations) > CONVERSATIONS_MAX:
            raise _Invalid("conversations", N_("import_too_many_conversations"), limit=CONVERSATIONS_MAX)
        total = sum(len(c.get("messages") or ()) if isinstance(c, dict) else 0 for c in conversations)
        if total > MESSAGES_MAX:
            raise _Invalid("conversations", N_("import_too_many_messages"), count=total, limit=MESSAGES_MAX)
        return [
            _checked_conversation(c, f"conversations[{i}]", question_max, turns) for i, c in enumerate(conversations)
        ]
    except _Invalid as invalid:
        problem = Term(invalid.problem, **invalid.values)
        raise Invalid(N_("import_invalid"), where=invalid.where, problem=problem) from None


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
    last_message_id: int = 0


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
    elif piece.completes:
        connection.execute(
            update(ChatSession.__table__)
            .where(ChatSession.__table__.c.session_id == written.session_id)
            .values(origin_id=conversation["origin_id"])
        )
    messages = piece.messages
    if not messages:
        return 0
    connection.execute(
        insert(ChatMessage.__table__),
        [{**message, "session_id": written.session_id, "user_id": user_id} for message in messages],
    )
    # The new messages' ids, in the order inserted (ids only grow).
    ids = (
        connection.execute(
            select(ChatMessage.id)
            .where(ChatMessage.session_id == written.session_id, ChatMessage.id > written.last_message_id)
            .order_by(ChatMessage.id)
        )
        .scalars()
        .all()
    )
    written.last_message_id = ids[-1]
    search.write_index(connection, list(zip(ids, index_terms, strict=True)))
    return sum(1 for m in messages if m["role"] == Role.USER)


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


def import_conversations(user_id: int, conversations: list[dict[str, Any]]) -> dict[str, int]:
    """Add the conversations the user does not have yet; returns {added, skipped}."""
    new, skipped = _new(user_id, conversations)
    _replace_leftovers(user_id, new)
    turns = Turns()
    started: list[str] = []
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
            questions += in_slice
            turns.take()
    except IntegrityError:
        # Only another import of the same conversations, at the same moment, gives one.
        _undo(user_id, started, questions)
        raise Conflict(N_("import_conflict")) from None
    except Exception:
        _undo(user_id, started, questions)
        raise
    return {"added": len(new), "skipped": skipped}
