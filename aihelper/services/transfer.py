"""Taking conversations out (Markdown, JSON) and bringing them back in (JSON), idempotently.

The JSON file (`format: aihelper-conversations`, version 1) is the same for one conversation and
for all of them, so either can be imported. An imported conversation gets a new id and remembers
the one it came from (`origin_id`): importing the same file twice, into the account that exported
it or into another, adds nothing the second time. A file is checked whole before anything is
written, and then written in one transaction: a bad file changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select

from aihelper.errors import ApiError
from aihelper.extensions import db
from aihelper.fair_db import fair_share
from aihelper.i18n import t
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.models.chat import DONE, ERROR, STOPPED, STREAMING
from aihelper.services import search
from aihelper.services.history import SESSION_ID_MAX, TITLE_MAX, message_dict, owned_session
from aihelper.timefmt import iso_utc

FORMAT, VERSION = "aihelper-conversations", 1
EXPORT_BATCH = 50  # conversations read per query while streaming "export everything"
MESSAGES_MAX = 100_000  # per file: one import is one transaction
CONVERSATIONS_MAX = 20_000  # per file
ANSWER_MAX = 500_000  # characters of an answer or its reasoning (far beyond any max_tokens)
YEARS = (1970, 9999)  # what every supported database's DATETIME holds
ROLES = ("user", "assistant")
STATUSES = (DONE, STOPPED, ERROR)


# --- export --------------------------------------------------------------------------------------


def _conversation_document(session: ChatSession, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "origin_id": session.origin_id or session.session_id,
        "title": session.title,
        "model_id": session.model_id,
        "pinned": bool(session.pinned),
        "create_time": iso_utc(session.create_time),
        "update_time": iso_utc(session.update_time),
        "messages": [
            {
                "role": m["role"],
                "content": m["content"],
                "reasoning": m["reasoning"],
                "timestamp": m["timestamp"],
                "status": m["status"],
                "model_id": m["model_id"],
                "finish_reason": m["finish_reason"],
                "usage": m["usage"],
            }
            for m in messages
        ],
    }


def _header() -> str:
    """The start of the export document, up to the opening of its list of conversations."""
    fields = json.dumps({"format": FORMAT, "version": VERSION, "exported_at": iso_utc(datetime.now(UTC))})
    return fields[:-1] + ', "conversations": ['


def _messages_of(session_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {session_id: [] for session_id in session_ids}
    rows = db.session.scalars(
        select(ChatMessage)
        .where(ChatMessage.session_id.in_(session_ids))
        .order_by(ChatMessage.session_id, ChatMessage.id)
    )
    for message in rows:
        grouped[message.session_id].append(message_dict(message))
    return grouped


def export_one(user_id: int, session_id: str) -> dict[str, Any]:
    session = owned_session(user_id, session_id)
    document = _conversation_document(session, _messages_of([session.session_id])[session.session_id])
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso_utc(datetime.now(UTC)),
        "conversations": [document],
    }


def export_all(user_id: int) -> Iterator[str]:
    """Every conversation of the user as one JSON document, in pieces: a batch of conversations is
    read, written out and forgotten, and no database connection is held between batches (a slow
    download must not keep one)."""
    yield _header()
    last_id, first = 0, True
    while True:
        with fair_share():
            try:
                sessions = db.session.scalars(
                    select(ChatSession)
                    .where(ChatSession.user_id == user_id, ChatSession.id > last_id)
                    .order_by(ChatSession.id)
                    .limit(EXPORT_BATCH)
                ).all()
                messages = _messages_of([s.session_id for s in sessions]) if sessions else {}
                pieces = [
                    json.dumps(_conversation_document(s, messages[s.session_id]), ensure_ascii=False) for s in sessions
                ]
            finally:
                db.session.remove()
        if not sessions:
            break
        last_id = sessions[-1].id
        for piece in pieces:
            yield ("" if first else ",\n") + piece
            first = False
    yield "]}\n"


def export_count(user_id: int) -> int:
    return db.session.scalar(select(db.func.count(ChatSession.id)).where(ChatSession.user_id == user_id)) or 0


def export_markdown(user_id: int, session_id: str, labels: dict[str, str]) -> str:
    """One conversation as Markdown: the title, then each message under its author and time."""
    document = export_one(user_id, session_id)["conversations"][0]
    lines = [f"# {document['title'] or session_id}", ""]
    if document["model_id"]:
        lines.append(f"- {labels['model']}: {document['model_id']}")
    lines += [f"- {labels['created']}: {document['create_time']}", ""]
    for message in document["messages"]:
        author = labels["you"] if message["role"] == "user" else (message["model_id"] or labels["assistant"])
        lines += ["---", "", f"### {author} · {message['timestamp']}", ""]
        if message["status"] != DONE:
            lines += [f"> {labels['status_' + message['status']]}", ""]
        lines += [message["content"], ""]
    return "\n".join(lines)


# --- import --------------------------------------------------------------------------------------


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
        raise _Invalid(where, "import_not_text")
    if len(value) > max_length:
        raise _Invalid(where, "import_too_long", limit=max_length)
    if not empty and not value.strip():
        raise _Invalid(where, "import_empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(where, "import_not_unicode") from None
    return value


def _moment(value: Any, where: str) -> datetime:
    """An ISO 8601 time as naive UTC; never later than now (a time in the future would keep a
    conversation on top of the list, and out of reach of the retention clean-up, for ever)."""
    if not isinstance(value, str):
        raise _Invalid(where, "import_not_time")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _Invalid(where, "import_not_time") from None
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise _Invalid(where, "import_years", low=YEARS[0], high=YEARS[1])
    return min(moment.replace(microsecond=0), datetime.now(UTC).replace(tzinfo=None, microsecond=0))


def _keys(value: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, "import_not_object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _Invalid(where, "import_unknown_field", name=unknown[0][:40])
    missing = sorted(required - set(value))
    if missing:
        raise _Invalid(where, "import_missing_field", name=missing[0])
    return value


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise _Invalid(where, "import_not_count")
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
        raise _Invalid(f"{where}.role", "import_bad_role")
    status = message.get("status", DONE)
    status = ERROR if status == STREAMING else status  # exported while it was still generating
    if status not in STATUSES:
        raise _Invalid(f"{where}.status", "import_bad_status")
    usage = message.get("usage")
    if usage is not None:
        usage = _keys(usage, f"{where}.usage", {"prompt_tokens", "completion_tokens"}, set())
    return {
        "role": message["role"],
        # A question as long as one typed here, at most: earlier messages go to the provider again.
        "content": _text(
            message["content"], f"{where}.content", question_max if message["role"] == "user" else ANSWER_MAX
        ),
        "reasoning": _text(message.get("reasoning"), f"{where}.reasoning", ANSWER_MAX, optional=True) or None,
        "timestamp": _moment(message["timestamp"], f"{where}.timestamp"),
        "status": status,
        "model_id": _text(message.get("model_id"), f"{where}.model_id", 100, optional=True),
        "finish_reason": _text(message.get("finish_reason"), f"{where}.finish_reason", 20, optional=True),
        "prompt_tokens": _count((usage or {}).get("prompt_tokens"), f"{where}.usage.prompt_tokens"),
        "completion_tokens": _count((usage or {}).get("completion_tokens"), f"{where}.usage.completion_tokens"),
    }


def _checked_conversation(value: Any, where: str, question_max: int) -> dict[str, Any]:
    conversation = _keys(value, where, _CONVERSATION_FIELDS, {"session_id", "title", "messages"})
    # Compared stripped: MySQL's unique index would not tell "x" and "x " apart.
    session_id = _text(conversation["session_id"], f"{where}.session_id", SESSION_ID_MAX, empty=False).strip()
    origin = _text(conversation.get("origin_id"), f"{where}.origin_id", SESSION_ID_MAX, optional=True, empty=False)
    origin = origin.strip() if origin else None
    messages = conversation["messages"]
    if not isinstance(messages, list):
        raise _Invalid(f"{where}.messages", "import_not_list")
    pinned = conversation.get("pinned", False)
    if not isinstance(pinned, bool):
        raise _Invalid(f"{where}.pinned", "import_not_flag")
    checked = [_checked_message(m, f"{where}.messages[{i}]", question_max) for i, m in enumerate(messages)]
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
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return {
        "origin_id": origin or session_id,
        "session_id": session_id,
        "title": " ".join(_text(conversation["title"], f"{where}.title", TITLE_MAX).split()),
        "model_id": _text(conversation.get("model_id"), f"{where}.model_id", 100, optional=True),
        "pinned": pinned,
        "create_time": create_time or now,
        "update_time": update_time or now,
        "messages": checked,
    }


def parse_import(raw: bytes, question_max: int) -> list[dict[str, Any]]:
    """The conversations of an export file, checked whole; ApiError 400 saying where it is wrong."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "import_not_json", t("import_not_json")) from None
    try:
        _keys(document, "file", {"format", "version", "exported_at", "conversations"}, {"format", "conversations"})
        if document["format"] != FORMAT or document.get("version", VERSION) != VERSION:
            raise _Invalid("format", "import_bad_format", format=FORMAT, version=VERSION)
        conversations = document["conversations"]
        if not isinstance(conversations, list) or len(conversations) > CONVERSATIONS_MAX:
            raise _Invalid("conversations", "import_too_many_conversations", limit=CONVERSATIONS_MAX)
        total = sum(len(c.get("messages") or ()) if isinstance(c, dict) else 0 for c in conversations)
        if total > MESSAGES_MAX:
            raise _Invalid("conversations", "import_too_many_messages", count=total, limit=MESSAGES_MAX)
        return [_checked_conversation(c, f"conversations[{i}]", question_max) for i, c in enumerate(conversations)]
    except _Invalid as invalid:
        problem = t(invalid.problem, **invalid.values)
        raise ApiError(400, "import_invalid", t("import_invalid", where=invalid.where, problem=problem)) from None


def _already_here(user_id: int, ids: set[str]) -> set[str]:
    """Which of these ids the user already has, as a conversation or as the origin of an import."""
    present: set[str] = set()
    id_list = list(ids)
    for offset in range(0, len(id_list), 500):
        chunk = id_list[offset : offset + 500]
        rows = db.session.execute(
            select(ChatSession.session_id, ChatSession.origin_id).where(
                ChatSession.user_id == user_id,
                or_(ChatSession.session_id.in_(chunk), ChatSession.origin_id.in_(chunk)),
            )
        )
        for session_id, origin_id in rows:
            present.update({session_id, origin_id} - {None})
    return present & ids


def import_conversations(user_id: int, conversations: list[dict[str, Any]]) -> dict[str, int]:
    """Add the conversations the user does not have yet; returns {added, skipped}."""
    wanted = {c["origin_id"] for c in conversations} | {c["session_id"] for c in conversations}
    present = _already_here(user_id, wanted)
    added = skipped = 0
    seen: set[str] = set()
    connection = db.session.connection()
    for conversation in conversations:
        origin = conversation["origin_id"]
        if origin in present or conversation["session_id"] in present or origin in seen:
            skipped += 1
            continue
        seen.add(origin)
        session_id = str(uuid.uuid4())
        connection.execute(
            insert(ChatSession.__table__),
            {
                "session_id": session_id,
                "user_id": user_id,
                "title": conversation["title"],
                "model_id": conversation["model_id"],
                "pinned": conversation["pinned"],
                "create_time": conversation["create_time"],
                "update_time": conversation["update_time"],
                "origin_id": origin,
            },
        )
        if conversation["messages"]:
            connection.execute(
                insert(ChatMessage.__table__),
                [{**message, "session_id": session_id, "user_id": user_id} for message in conversation["messages"]],
            )
            # A new conversation's ids, in the order inserted (ids only grow).
            ids = connection.execute(
                select(ChatMessage.id).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)
            ).scalars()
            search.index_messages(connection, zip(ids, (m["content"] for m in conversation["messages"]), strict=True))
        if conversation["messages"]:
            user_messages = sum(1 for m in conversation["messages"] if m["role"] == "user")
            connection.execute(
                User.__table__.update()
                .where(User.__table__.c.id == user_id)
                .values(message_count=User.__table__.c.message_count + user_messages)
            )
        added += 1
    db.session.commit()
    return {"added": added, "skipped": skipped}
