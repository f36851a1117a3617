"""The audit log (models/audit.py): recording what admins do, admin logins and failed logins, and
reading it back for the admin's page and GET /api/admin/audit.

A change is recorded in the transaction that makes it (`record`, before the service commits), so
an entry exists exactly when the change does; a login event has no other transaction
(`record_now`). Who and from where come from the request: the logged-in user and the client
address (after ProxyFix), or the operator's command line. A secret never goes in: a field named in
`SECRET_FIELDS` is written as changed, not as its value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Annotated, Any

from flask import has_request_context, request
from flask_login import current_user
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from aihelper.extensions import db
from aihelper.i18n import N_
from aihelper.ids import ID_MAX
from aihelper.models import AuditEntry
from aihelper.times import WrittenTime, iso_utc
from aihelper.validation import Fields, Moment, Number, OptionalText, PageSize, TimeZone, defaulted

log = logging.getLogger(__name__)

SECRET_FIELDS = frozenset({"api_key", "password"})
CHANGED = "(changed)"  # what a secret's change reads as
CLEARED = "(cleared)"  # a secret taken away
COMMAND_LINE = "(command line)"
TARGET_MAX, NAME_MAX, IP_MAX = 200, 64, 45
PAGE_DEFAULT, PAGE_MAX = 50, 200


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def snapshot(record: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The audited fields of an object as they are now (a secret's stored form stays inside)."""
    return {name: _plain(getattr(record, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for what differs; a secret only says that it changed."""
    changes = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old != new:
            changes[name] = [CHANGED, CHANGED] if name in SECRET_FIELDS else [old, new]
    return changes


def created(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    return diff({}, values)


def _who() -> tuple[int | None, str, str | None]:
    if not has_request_context():
        return None, COMMAND_LINE, None
    ip = request.remote_addr
    if current_user and current_user.is_authenticated:
        return current_user.id, current_user.username, ip
    return None, "", ip


def _printable(text: str, limit: int) -> str:
    """At most `limit` characters, control characters (NUL, escapes) dropped."""
    return "".join(c for c in text if c.isprintable())[:limit]


def record(action: str, target: str = "", changes: Mapping[str, Any] | None = None, *, actor_name: str | None = None):
    """Add an entry to the caller's transaction (the caller commits); an update that changed
    nothing is no entry. `actor_name` names who when nobody is logged in (a login)."""
    if not changes and action.endswith(".update"):
        return
    actor_id, name, ip = _who()
    db.session.add(
        AuditEntry(
            actor_id=actor_id,
            actor_name=_printable(actor_name if actor_name is not None else name, NAME_MAX),
            ip=(ip or "")[:IP_MAX] or None,
            action=action,
            kind=action.partition(".")[0],
            target=_printable(target, TARGET_MAX),
            changes=json.dumps(changes or {}, ensure_ascii=False, default=str),
        )
    )


def record_login(action: str, name: str, changes: Mapping[str, Any] | None = None) -> None:
    """A login event, best effort and committed at once: failing to write it never turns a login
    into an error, nor keeps a wrong password from being counted (the caller counts first)."""
    try:
        record(action, name, changes, actor_name=name)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not record %s in the audit log", action, exc_info=True)


def record_now(
    action: str, target: str = "", changes: Mapping[str, Any] | None = None, *, actor_name: str | None = None
) -> None:
    """An entry of its own (a command, the first account becoming admin): recorded and committed."""
    record(action, target, changes, actor_name=actor_name)
    db.session.commit()


# --- reading ----------------------------------------------------------------------------------


class AuditQuery(Fields):
    """GET /api/admin/audit: newest first, `limit` entries older than the entry `before`."""

    actor: Annotated[str | None, OptionalText(NAME_MAX), Field(title=N_("field_actor"))] = None
    action: Annotated[str | None, OptionalText(64), Field(title=N_("field_action"))] = None
    since: Annotated[WrittenTime | None, Moment(optional=True), Field(alias="from", title=N_("field_from"))] = None
    until: Annotated[WrittenTime | None, Moment(optional=True), Field(alias="to", title=N_("field_to"))] = None
    before: Annotated[int | None, Number(1, ID_MAX * 1_000_000, None), Field(title=N_("field_before"))] = None
    limit: Annotated[int, PageSize(PAGE_DEFAULT, PAGE_MAX)] = defaulted()
    tz: Annotated[tzinfo, TimeZone()] = defaulted()


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": iso_utc(entry.time),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "ip": entry.ip,
        "action": entry.action,
        "target": entry.target,
        "changes": json.loads(entry.changes),
    }


def entries(query: AuditQuery) -> list[dict[str, Any]]:
    """The entries matching every filter given: `actor` a user id (digits) or a name, `action` one
    action (`user.update`) or a kind (`user`), `from`/`to` dates or times read in `tz`."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit)
    if query.actor:
        actor = query.actor.strip()
        by_id = actor.isascii() and actor.isdigit() and int(actor) <= ID_MAX
        statement = statement.where(AuditEntry.actor_id == int(actor) if by_id else AuditEntry.actor_name == actor)
    if query.action:
        by_kind = "." not in query.action
        statement = statement.where(AuditEntry.kind == query.action if by_kind else AuditEntry.action == query.action)
    if query.since:
        statement = statement.where(AuditEntry.time >= query.since.stored(query.tz))
    if query.until:
        statement = statement.where(AuditEntry.time <= query.until.stored(query.tz, end=True))
    if query.before:
        statement = statement.where(AuditEntry.id < query.before)
    return [entry_json(entry) for entry in db.session.scalars(statement)]


PURGE_BATCH = 5000


def purge_older_than(days: int, now: datetime) -> int:
    """Forget the entries older than `days` days (the retention job), a batch per transaction so
    that no admin action or login waits long for the table; returns how many."""
    expired = select(AuditEntry.id).where(AuditEntry.time < now - timedelta(days=days)).limit(PURGE_BATCH)
    deleted = 0
    while ids := db.session.scalars(expired).all():  # through the time index
        db.session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)
    db.session.commit()
    return deleted
