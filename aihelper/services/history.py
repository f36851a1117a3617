"""A user's conversations: listing, reading one, finding them by time, deleting one.

Ownership of a conversation is decided here and only here (SECURITY.md rule 2): `owned_session`
answers someone else's session id exactly like one that does not exist. Every caller that takes a
session id from a user (these endpoints, the chat stream, the websocket) goes through it.

Timestamps are stored as naive UTC; times a user sends are converted to naive UTC before a query.

A little over 400 lines, as one module: every way of reading a user's conversations shares
owned_session, the row shapes and the page cursors.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import OperationalError

from aihelper.errors import lost_to_another_transaction
from aihelper.extensions import db
from aihelper.failures import Invalid, NotFound
from aihelper.fair_db import Turns, fair_share
from aihelper.i18n import N_, current_language
from aihelper.ids import MESSAGE_ID_MAX
from aihelper.models import ChatMessage, ChatSession
from aihelper.models.chat import STALE_STREAMING, MessageStatus
from aihelper.services import attachments, branches
from aihelper.services.provider_failures import failure_explained
from aihelper.times import WrittenTime, iso_utc, stored, utcnow
from aihelper.validation import (
    Fields,
    Flag,
    Moment,
    Number,
    OptionalText,
    PageSize,
    RequiredText,
    SessionIds,
    TimeZone,
    defaulted,
)

SESSION_ID_MAX = 64  # the column's length: anything longer cannot exist
LIMIT_DEFAULT = 50
LIMIT_MAX = 200
# A conversation is read a page of messages at a time, newest first: all of an ordinary one at once
# (as the original clients expect), never more work than a page however long it grew.
PAGE_DEFAULT = 1000
PAGE_CHARS = 2_000_000
_PAGE_READ = 100  # rows per query while a page fills
PREVIEW_LENGTH = 80
# Previews read only the start of each last message (answers can be megabytes); a longer one that
# collapses to under PREVIEW_LENGTH (a run of white space) is read again in full.
_PREVIEW_WINDOW = 1000
# Keeps IN (...) lists well below every database's limit on bound parameters.
_CHUNK = 500
_DIGITS = re.compile(r"[0-9]+")

# What the API shows of messages and of sessions, read as plain rows (ORM objects cost several times
# more to load, and a list or a long conversation is nothing but reading).
_MESSAGE_FIELDS = tuple(
    getattr(ChatMessage, name)
    for name in (
        "id",
        "role",
        "content",
        "timestamp",
        "status",
        "model_id",
        "reasoning",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "error_code",
        "generation_ms",
        "lease_until",
        "attachment_count",
        "parent_id",
    )
)
_SESSION_ROW = tuple(ChatSession.__table__.columns)

# Newest activity first; id breaks ties between sessions updated within the same second.
_NEWEST_FIRST = (ChatSession.update_time.desc(), ChatSession.id.desc())


# --- ownership ---------------------------------------------------------------------------------


def owned_session(user_id: int, session_id: str) -> ChatSession:
    """The session `session_id` of user `user_id`, or a 404 identical for "missing" and "not yours"."""
    session = None
    if isinstance(session_id, str) and 0 < len(session_id) <= SESSION_ID_MAX:
        session = db.session.scalar(
            select(ChatSession).where(ChatSession.session_id == session_id, ChatSession.user_id == user_id)
        )
    # MySQL's collation ignores case and trailing spaces; only the exact id counts, as on SQLite.
    if session is None or session.session_id != session_id:
        raise NotFound("not_found", N_("session_not_found"))
    return session


# --- objects as the API shows them -------------------------------------------------------------


def make_preview(content: str | None) -> str:
    """A message as a one-line preview: white space collapsed, cut to PREVIEW_LENGTH characters."""
    return " ".join((content or "").split())[:PREVIEW_LENGTH]


def _session_fields(session: ChatSession) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "title": session.title,
        "model_id": session.model_id,
        "create_time": iso_utc(session.create_time),
        "update_time": iso_utc(session.update_time),
        "pinned": bool(session.pinned),
        "preset_id": session.preset_id,
    }


def session_summary(session: ChatSession, preview: str | None = None) -> dict[str, Any]:
    """The list object. Without `preview`, the last message is read for it (one query)."""
    if preview is None:
        preview = _previews([session.session_id]).get(session.session_id, "")
    return {**_session_fields(session), "preview": preview}


def reported_status(message: ChatMessage) -> str:
    """The stored status, except that an answer whose generation died with its process shows as an
    error: its lease lapsed (before the sweep stores it so), or, for an answer from before leases,
    it is older than STALE_STREAMING."""
    if message.status != MessageStatus.STREAMING:
        return message.status
    lease = message.lease_until
    lapsed = lease < utcnow() if lease is not None else message.timestamp < utcnow() - STALE_STREAMING
    return MessageStatus.ERROR if lapsed else MessageStatus.STREAMING


def message_dict(message: ChatMessage) -> dict[str, Any]:
    usage = None
    if message.prompt_tokens is not None or message.completion_tokens is not None:
        usage = {"prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens}
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "timestamp": iso_utc(message.timestamp),
        "status": reported_status(message),
        "model_id": message.model_id,
        "reasoning": message.reasoning,
        "finish_reason": message.finish_reason,
        "usage": usage,
        "parent_id": message.parent_id,
    }


def shown_message(row: Any, *, for_admin: bool) -> dict[str, Any]:
    """A message of an open conversation: as message_dict, with how long the answer took and, for
    one that failed, why, in the reader's words (an admin reads the technical reason)."""
    shown = message_dict(row)
    shown["generation_ms"] = row.generation_ms
    shown["attachment_count"] = row.attachment_count  # replaced by the files themselves (conversation)
    if shown["status"] == MessageStatus.ERROR:
        code = row.error_code
        if row.status == MessageStatus.STREAMING:  # its generation died with its process
            code = "interrupted"
            shown["finish_reason"] = "interrupted"
        shown["error"] = failure_explained(code, current_language(), for_admin=for_admin)
    return shown


def message_rows():
    """A SELECT of the message fields the API shows (add the conditions and the order)."""
    return select(*_MESSAGE_FIELDS)


def _message_cursor(before: str | None) -> int | None:
    """`before` of a conversation page: a message id; the page holds messages older than it."""
    if before is None or before == "":
        return None
    if not _DIGITS.fullmatch(before):
        raise Invalid(N_("invalid_cursor"))
    digits = before.lstrip("0") or "0"
    # Beyond any id the column holds, everything is older (and int() of thousands of digits fails).
    if len(digits) > len(str(MESSAGE_ID_MAX)) or int(digits) > MESSAGE_ID_MAX:
        return None
    return int(digits)


def _newest_messages(
    path: list[int], limit: int, before: int | None, *, for_admin: bool
) -> tuple[list[dict[str, Any]], bool]:
    """The newest `limit` messages of the branch `path` (its ids) older than `before`, in order,
    and whether older ones remain. A page also stops growing past PAGE_CHARS characters (after one
    message at least), and is read a slice at a time, so that however long the conversation the
    work is the page's."""
    end = len(path) if before is None else bisect.bisect_left(path, before)  # ids grow along a path
    kept: list[dict[str, Any]] = []
    characters = 0
    while end and len(kept) < limit and characters < PAGE_CHARS:
        ids = path[max(0, end - min(_PAGE_READ, limit - len(kept))) : end]
        with fair_share():
            rows = {row.id: row for row in db.session.execute(message_rows().where(ChatMessage.id.in_(ids)))}
        for message_id in reversed(ids):
            if len(kept) >= limit or characters >= PAGE_CHARS:
                break
            end -= 1
            row = rows.get(message_id)
            if row is not None:  # else deleted since the tree was read
                kept.append(shown_message(row, for_admin=for_admin))
                characters += len(row.content) + len(row.reasoning or "")
    kept.reverse()
    return kept, end > 0


class ConversationPage(Fields):
    """GET /api/chat/history?session_id=X: its newest `limit` messages older than `before` (a
    message id)."""

    session_id: str
    limit: Annotated[int, PageSize(PAGE_DEFAULT, PAGE_DEFAULT)] = defaulted()
    before: str | None = None


def conversation(user_id: int, page: ConversationPage, *, for_admin: bool = False) -> dict[str, Any]:
    """The newest messages of the branch shown (all of an ordinary conversation), `has_more` when
    older ones remain, and the whole tree: every message with its parent and children."""
    session = owned_session(user_id, page.session_id)
    return shown_conversation(session, page.limit, page.before, for_admin=for_admin)


def shown_conversation(
    session: ChatSession,
    limit: int = PAGE_DEFAULT,
    before: str | None = None,
    *,
    for_admin: bool = False,
    nodes: list[branches.Node] | None = None,  # the tree, when the caller has just read it
) -> dict[str, Any]:
    nodes = branches.structure(session.session_id) if nodes is None else nodes
    path = branches.shown_path(nodes, session.selected_leaf_id)
    messages, has_more = _newest_messages(path, limit, _message_cursor(before), for_admin=for_admin)
    files = attachments.of_messages(m["id"] for m in messages if m.pop("attachment_count"))
    for message in messages:
        message["attachments"] = [attachments.attachment_json(a) for a in files.get(message["id"], [])]
    return {
        **_session_fields(session),
        "conversation": messages,
        "has_more": has_more,
        "tree": branches.tree(nodes),
    }


class BranchChoice(Fields):
    """PUT /api/chat/session/<id>/branch: show the branch through this message (answered as a
    conversation page of `limit` messages)."""

    message_id: Annotated[int, Number(1, MESSAGE_ID_MAX, 0), Field(title=N_("field_message_id"))]
    limit: Annotated[int, PageSize(PAGE_DEFAULT, PAGE_DEFAULT)] = defaulted()


def choose_branch(user_id: int, session_id: str, choice: BranchChoice, *, for_admin: bool = False) -> dict[str, Any]:
    """Switch the conversation to the branch through a message; answers it as `conversation` does."""
    session = owned_session(user_id, session_id)
    nodes = branches.select_branch(session, choice.message_id)
    return shown_conversation(session, choice.limit, for_admin=for_admin, nodes=nodes)


def _previews(session_ids: list[str]) -> dict[str, str]:
    """session_id -> preview of its last message, one query per _CHUNK sessions."""
    previews: dict[str, str] = {}
    for offset in range(0, len(session_ids), _CHUNK):
        chunk = session_ids[offset : offset + _CHUNK]
        # Per conversation, its last message id by one descending step of the index (session_id,
        # id); a GROUP BY over the whole chunk would read every message id of those conversations.
        newest = (
            select(ChatMessage.id)
            .where(ChatMessage.session_id == ChatSession.session_id)
            .order_by(ChatMessage.id.desc())
            .limit(1)
            .correlate(ChatSession)
            .scalar_subquery()
        )
        last_ids = select(newest.label("last_id")).where(ChatSession.session_id.in_(chunk)).subquery()
        head = func.substr(ChatMessage.content, 1, _PREVIEW_WINDOW + 1)
        rows = db.session.execute(
            select(ChatMessage.id, ChatMessage.session_id, head).join(last_ids, ChatMessage.id == last_ids.c.last_id)
        )
        for message_id, session_id, beginning in rows:
            preview = make_preview(beginning)
            if len(preview) < PREVIEW_LENGTH and len(beginning or "") > _PREVIEW_WINDOW:
                whole = db.session.scalar(select(ChatMessage.content).where(ChatMessage.id == message_id))
                preview = make_preview(whole)
            previews[session_id] = preview
    return previews


def _summaries(sessions: Iterable[ChatSession]) -> list[dict[str, Any]]:
    sessions = list(sessions)
    previews = _previews([s.session_id for s in sessions])
    return [session_summary(s, previews.get(s.session_id, "")) for s in sessions]


# --- the list, with a cursor -------------------------------------------------------------------


def _cursor_condition(user_id: int, before: str):
    """Sessions after `before` in newest-first order: `before` is a session id or an ISO 8601 time."""
    try:
        cursor = owned_session(user_id, before)
    except NotFound:
        cursor = None
    if cursor is not None:
        return or_(
            ChatSession.update_time < cursor.update_time,
            and_(ChatSession.update_time == cursor.update_time, ChatSession.id < cursor.id),
        )
    try:
        moment = stored(datetime.fromisoformat(before.strip()))
    except (ValueError, OverflowError):
        raise Invalid(N_("invalid_cursor")) from None
    return ChatSession.update_time < moment


class SessionsPage(Fields):
    """GET /api/chat/history: `limit` sessions older than `before` (a session id or a time)."""

    limit: Annotated[int, PageSize(LIMIT_DEFAULT, LIMIT_MAX)] = defaulted()
    before: Annotated[str | None, OptionalText(SESSION_ID_MAX)] = None


def list_sessions(user_id: int, page: SessionsPage) -> list[dict[str, Any]]:
    """The user's sessions, newest activity first, a page at a time."""
    statement = select(*_SESSION_ROW).where(ChatSession.user_id == user_id)
    if page.before is not None:
        statement = statement.where(_cursor_condition(user_id, page.before))
    statement = statement.order_by(*_NEWEST_FIRST).limit(page.limit)
    return _summaries(db.session.execute(statement))


# --- sessions by the time of their messages ------------------------------------------------------


class TimeSpan(Fields):
    """POST /api/chat/history/time-range: from a date or time to another, read in `tz`."""

    start_time: Annotated[WrittenTime, Moment(), Field(title=N_("field_start_time"))]
    end_time: Annotated[WrittenTime, Moment(), Field(title=N_("field_end_time"))]
    tz: Annotated[tzinfo, TimeZone()] = defaulted()


def sessions_in_range(user_id: int, span: TimeSpan) -> list[dict[str, Any]]:
    """Sessions with a message in [start, end], newest activity first."""
    start, end = span.start_time.stored(span.tz), span.end_time.stored(span.tz, end=True)
    if start > end:
        raise Invalid(N_("invalid_range"))
    # A conversation's messages all lie between its create_time and update_time (its first and its
    # latest activity), so only conversations overlapping the range are candidates: the index
    # (user_id, update_time) finds them, and each is then checked for a message inside the range
    # by the index (session_id, id) — however long the history, the work is the range's.
    has_message = (
        select(ChatMessage.id)
        .where(
            ChatMessage.session_id == ChatSession.session_id,
            ChatMessage.timestamp >= start,
            ChatMessage.timestamp <= end,
        )
        .exists()
    )
    overlapping = and_(ChatSession.update_time >= start, ChatSession.create_time <= end)
    statement = (
        select(*_SESSION_ROW).where(ChatSession.user_id == user_id, overlapping, has_message).order_by(*_NEWEST_FIRST)
    )
    return _summaries(db.session.execute(statement))


# --- deleting ----------------------------------------------------------------------------------


ERASE_SLICE = 1000  # messages deleted per transaction


def erase_conversations(row_ids: Iterable[int]) -> None:
    """Delete conversations (by row id) with their messages and their files. The messages go a slice per short
    transaction first: one cascade over a conversation of 10 000 messages holds SQLite, and with
    it every stream of the worker, for ~80 ms, and a bulk delete or a clean-up can hold hundreds."""
    turns = Turns()
    row_ids = list(row_ids)
    for offset in range(0, len(row_ids), _CHUNK):
        chunk = row_ids[offset : offset + _CHUNK]
        of_chunk = select(ChatSession.session_id).where(ChatSession.id.in_(chunk)).scalar_subquery()
        while True:
            with fair_share():
                doomed = db.session.scalars(
                    select(ChatMessage.id).where(ChatMessage.session_id.in_(of_chunk)).limit(ERASE_SLICE)
                ).all()
                files = attachments.storage_names_of_messages(doomed)
                db.session.commit()
                if doomed:
                    _delete_giving_way(delete(ChatMessage).where(ChatMessage.id.in_(doomed)))
            attachments.remove_files(files)  # their rows went with the messages
            turns.take()
            if len(doomed) < ERASE_SLICE:
                break
        with fair_share():
            # Messages added meanwhile (an answer being stored) go with their conversation.
            _delete_giving_way(delete(ChatSession).where(ChatSession.id.in_(chunk)))


DELETE_TRIES = 3


def _delete_giving_way(statement) -> None:
    """Run and commit a delete. On MariaDB one that lost a deadlock (to an answer of the
    conversation being checkpointed or stored meanwhile) is rolled back: it runs again."""
    for attempt in range(1, DELETE_TRIES + 1):
        try:
            db.session.execute(statement.execution_options(synchronize_session=False))
            db.session.commit()
            return
        except OperationalError as error:
            db.session.rollback()
            if attempt == DELETE_TRIES or not lost_to_another_transaction(error):
                raise


def delete_session(user_id: int, session_id: str) -> None:
    """Delete one of the user's sessions with its messages."""
    erase_conversations([owned_session(user_id, session_id).id])


BULK_DELETE_MAX = 200


class SessionChoice(Fields):
    """POST /api/chat/sessions/delete."""

    session_ids: Annotated[list[str], SessionIds(BULK_DELETE_MAX)]


def delete_sessions(user_id: int, chosen: SessionChoice) -> list[str]:
    """Delete several of the user's sessions at once: all of them, or (one is not theirs) none."""
    wanted = set(chosen.session_ids)
    owned = db.session.execute(
        select(ChatSession.id, ChatSession.session_id).where(
            ChatSession.user_id == user_id, ChatSession.session_id.in_(wanted)
        )
    ).all()
    # MySQL's collation ignores case and trailing spaces; only exact ids count.
    found = {row.session_id: row.id for row in owned if row.session_id in wanted}
    if len(found) != len(wanted):
        raise NotFound("not_found", N_("session_not_found"))
    erase_conversations(found.values())
    return list(found)


TITLE_MAX = 200


class SessionChange(Fields):
    """PUT /api/chat/session/<id>: a new title, pinned or not; either or both."""

    title: Annotated[str, RequiredText(TITLE_MAX), Field(title=N_("field_title"))] = ""
    pinned: Annotated[bool, Flag(), Field(title=N_("field_pinned"))] = False


def update_session(user_id: int, session_id: str, change: SessionChange) -> dict[str, Any]:
    """Rename a conversation and/or pin it to the top of the list."""
    session = owned_session(user_id, session_id)
    if "title" in change.model_fields_set:
        session.title = " ".join(change.title.split())
    if "pinned" in change.model_fields_set:
        session.pinned = change.pinned
    db.session.commit()
    return session_summary(session)
