"""Shared links (issue #17): a conversation, up to a chosen message, as a read-only snapshot that
anyone holding the link may read without logging in.

A link's id is unguessable (SECURITY.md rule 11) and compared exactly. A link that was revoked
(its row deleted), that expired, or that is asked for while the admin has turned sharing off
answers exactly like one that never existed: `live_link` is the one place that decides it.
Revoking someone else's link answers like an unknown one too (rule 2).

The snapshot keeps the title and the messages' text, not their files: files are their owner's
only, so a shared message names its files and nothing more.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from flask import current_app
from pydantic import Field
from sqlalchemy import Row, delete, func, select

from aihelper.extensions import db
from aihelper.failures import Conflict, Forbidden, Invalid, NotFound, TooLarge
from aihelper.fair_db import fair_share
from aihelper.i18n import N_
from aihelper.ids import ID_MAX, MESSAGE_ID_MAX
from aihelper.models import ChatMessage, ChatSession, SharedLink, User
from aihelper.models.chat import MessageStatus
from aihelper.models.types import Status
from aihelper.services import attachments, audit, branches, imports, settings
from aihelper.services.history import message_rows, owned_session, reported_status
from aihelper.times import WrittenTime, iso_utc, utcnow
from aihelper.validation import Fields, Flag, Moment, Number, PageSize, defaulted

SHARE_ID_BYTES = 24  # secrets.token_urlsafe: 32 characters, 192 random bits
SHARE_ID_LENGTH = 32
# A snapshot is one MEDIUMTEXT (16 MB) on MySQL; half of it leaves room for JSON's escapes.
SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024
ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX = 50, 200
PATH_READ = 100  # messages read per query: a long conversation does not hold the worker
COPY_ORIGIN = "share-"  # a copy's origin_id: this, then the link's id


def _not_found() -> NotFound:
    return NotFound("not_found", N_("share_not_found"))


# --- what a link holds -----------------------------------------------------------------------------


def _path_messages(session: ChatSession, up_to_message_id: int | None) -> list[Row]:
    """The messages a link shows: the branch from the first message to `up_to_message_id` (one of
    the conversation's messages, in any branch), or the branch shown whole."""
    nodes = branches.structure(session.session_id)
    if up_to_message_id is not None and up_to_message_id not in {node[0] for node in nodes}:
        raise NotFound("not_found", N_("share_message_not_found"))
    path = branches.shown_path(nodes, up_to_message_id or session.selected_leaf_id)
    rows: list[Row] = []
    for offset in range(0, len(path), PATH_READ):
        with fair_share():
            rows += db.session.execute(
                message_rows().where(ChatMessage.id.in_(path[offset : offset + PATH_READ])).order_by(ChatMessage.id)
            ).all()
    return rows


def _snapshot(messages: list[Row]) -> list[dict[str, Any]]:
    """The messages as the link keeps them; refused while one is still being written."""
    if not messages:
        raise Invalid("share_empty", N_("share_empty"))
    if any(reported_status(m) == MessageStatus.STREAMING for m in messages):
        raise Conflict("share_streaming", N_("share_streaming"))
    files = attachments.of_messages(m.id for m in messages if m.attachment_count)
    return [
        {
            "role": m.role,
            "content": m.content,
            "reasoning": m.reasoning,
            "model_id": m.model_id,
            "timestamp": iso_utc(m.timestamp),
            "status": reported_status(m),
            "finish_reason": m.finish_reason,
            "files": [{"name": f.name, "kind": f.kind} for f in files.get(m.id, [])],
        }
        for m in messages
    ]


def link_json(link: SharedLink) -> dict[str, Any]:
    """A link as its owner (and the admin) lists it; the view adds its `url`."""
    return {
        "share_id": link.share_id,
        "session_id": link.session_id,
        "title": link.title,
        "message_count": link.message_count,
        "show_name": link.author_name is not None,
        "created_at": iso_utc(link.created_at),
        "expires_at": iso_utc(link.expires_at),
        "expired": _expired(link),
    }


def _expired(link: SharedLink) -> bool:
    return link.expires_at is not None and link.expires_at <= utcnow()


# An expired link stays listed (as expired) this long for its owner, then the daily job deletes it.
EXPIRED_KEPT = timedelta(days=30)


def purge_expired(now: datetime) -> int:
    """Delete the links expired longer than EXPIRED_KEPT ago; how many went."""
    gone = db.session.execute(delete(SharedLink).where(SharedLink.expires_at <= now - EXPIRED_KEPT)).rowcount
    db.session.commit()
    return gone


# --- making, listing and revoking links ------------------------------------------------------------


class NewShare(Fields):
    """POST /api/chat/session/<id>/share."""

    up_to_message_id: Annotated[int | None, Number(1, MESSAGE_ID_MAX, None), Field(title=N_("field_up_to_message"))] = (
        None
    )
    expires_at: Annotated[WrittenTime | None, Moment(optional=True), Field(title=N_("field_expires_at"))] = None
    show_name: Annotated[bool, Flag(), Field(title=N_("field_show_name"))] = False


def create_share(user: User, session_id: str, new: NewShare) -> dict[str, Any]:
    if not settings.sharing_enabled():
        raise Forbidden("sharing_disabled", N_("sharing_disabled"))
    session = owned_session(user.id, session_id)
    expires_at = new.expires_at.stored(UTC, end=True) if new.expires_at is not None else None
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("share_expiry_past", N_("share_expiry_past"))
    most = current_app.config["AIHELPER_SHARES_PER_USER"]
    if db.session.scalar(select(func.count(SharedLink.id)).where(SharedLink.user_id == user.id)) >= most:
        raise Conflict("share_limit", N_("share_limit"), limit=most)
    messages = _snapshot(_path_messages(session, new.up_to_message_id))
    snapshot = json.dumps(messages, ensure_ascii=False)
    size = len(snapshot.encode())
    if size > SNAPSHOT_MAX_BYTES:
        raise TooLarge("share_too_large", N_("share_too_large"))
    storage_mb = current_app.config["AIHELPER_SHARE_STORAGE_MB"]
    kept = db.session.scalar(
        select(func.coalesce(func.sum(SharedLink.snapshot_bytes), 0)).where(SharedLink.user_id == user.id)
    )
    if kept + size > storage_mb * 1024 * 1024:
        raise TooLarge("share_storage_full", N_("share_storage_full"), limit=storage_mb)
    link = SharedLink(
        share_id=secrets.token_urlsafe(SHARE_ID_BYTES),
        user_id=user.id,
        session_id=session.session_id,
        title=session.title,
        author_name=user.username if new.show_name else None,
        snapshot=snapshot,
        snapshot_bytes=size,
        message_count=len(messages),
        expires_at=expires_at,
    )
    db.session.add(link)
    db.session.commit()
    return link_json(link)


def list_shares(user_id: int) -> list[dict[str, Any]]:
    """The user's links, newest first (expired ones too, to revoke them)."""
    links = db.session.scalars(select(SharedLink).where(SharedLink.user_id == user_id).order_by(SharedLink.id.desc()))
    return [link_json(link) for link in links]


def _find(share_id: str) -> SharedLink | None:
    if not isinstance(share_id, str) or not 0 < len(share_id) <= SHARE_ID_LENGTH:
        return None
    link = db.session.scalar(select(SharedLink).where(SharedLink.share_id == share_id))
    # MySQL's collation would match an id differing in case; only the exact id counts.
    return link if link is not None and link.share_id == share_id else None


def revoke_share(user_id: int, share_id: str) -> None:
    """Delete one of the user's links; someone else's is not found, like an unknown one."""
    link = _find(share_id)
    if link is None or link.user_id != user_id:
        raise _not_found()
    db.session.delete(link)
    db.session.commit()


# --- reading a link --------------------------------------------------------------------------------


def live_link(share_id: str) -> SharedLink:
    """The link anyone may read now: unknown, revoked, expired and sharing turned off all answer
    the same."""
    link = _find(share_id) if settings.sharing_enabled() else None
    if link is None or _expired(link) or db.session.get(User, link.user_id).status != Status.ACTIVE:
        raise _not_found()  # a disabled account's links go dark with it
    return link


def shared_view(share_id: str) -> dict[str, Any]:
    """GET /api/shares/<id> and the page /s/<id>: what the link shows, and nothing of its owner but
    the name they chose to show."""
    link = live_link(share_id)
    return {
        "share_id": link.share_id,
        "title": link.title,
        "author": link.author_name,
        "created_at": iso_utc(link.created_at),
        "expires_at": iso_utc(link.expires_at),
        "messages": json.loads(link.snapshot),
    }


# --- continuing in one's own account ---------------------------------------------------------------


def copy_share(user_id: int, share_id: str) -> str:
    """The conversation of `user_id` holding the link's messages (without their files), as a single
    branch; its id. It is written as an import is, a slice at a time, and remembers the link as its
    origin: continuing from the same link again opens the same copy."""
    link = live_link(share_id)
    origin = COPY_ORIGIN + link.share_id
    messages = json.loads(link.snapshot)
    now = utcnow()
    imports.import_conversations(
        user_id,
        [
            {
                "origin_id": origin,
                "session_id": origin,
                "title": link.title,
                "model_id": next((m["model_id"] for m in reversed(messages) if m["model_id"]), None),
                "pinned": False,
                "create_time": now,
                "update_time": now,
                "messages": [_copied(message, index) for index, message in enumerate(messages)],
                "files": {},
                "selected_index": None,
            }
        ],
    )
    copy = db.session.scalar(
        select(ChatSession.session_id).where(ChatSession.user_id == user_id, ChatSession.origin_id == origin)
    )
    db.session.commit()
    if copy is None:  # deleted by its owner at that very moment
        raise _not_found()
    return copy


def _copied(message: dict[str, Any], index: int) -> dict[str, Any]:
    """A message of a snapshot as imports.py writes it, following the one before."""
    return {
        "role": message["role"],
        "content": message["content"],
        "reasoning": message["reasoning"],
        "timestamp": WrittenTime.parse(message["timestamp"]).stored(UTC),
        "status": message["status"],
        "model_id": message["model_id"],
        "finish_reason": message["finish_reason"],
        "prompt_tokens": None,
        "completion_tokens": None,
        "parent_index": index - 1 if index else None,
    }


# --- the admin's view ------------------------------------------------------------------------------


class AdminSharesQuery(Fields):
    """GET /api/admin/shares: a page of every link, newest first, older than `before` (a row id)."""

    before: Annotated[int | None, Number(1, ID_MAX, None)] = None
    limit: Annotated[int, PageSize(ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX)] = defaulted()


def all_shares(query: AdminSharesQuery) -> list[dict[str, Any]]:
    statement = select(SharedLink, User.username).join(User, User.id == SharedLink.user_id)
    if query.before is not None:
        statement = statement.where(SharedLink.id < query.before)
    rows = db.session.execute(statement.order_by(SharedLink.id.desc()).limit(query.limit)).all()
    return [
        {**link_json(link), "id": link.id, "user_id": link.user_id, "username": username} for link, username in rows
    ]


def admin_revoke(share_id: str) -> None:
    """An admin deletes anyone's link; recorded in the audit log."""
    link = _find(share_id)
    if link is None:
        raise _not_found()
    owner = db.session.get(User, link.user_id)
    audit.record(
        "share.revoke",
        share_id,
        {"owner": [owner.username if owner else None, None], "title": [link.title, None]},
    )
    db.session.delete(link)
    db.session.commit()
