"""What admins do to accounts: list, disable/enable, make or remove admin, reset a password, put
in groups, set a quota, delete.

Two rules hold whatever the order of requests: the last active admin can't be disabled, demoted or
deleted, and an admin can't do any of those to their own account (no self lock-out).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, NotFound
from aihelper.i18n import N_
from aihelper.models import ChatSession, User
from aihelper.models.types import Status
from aihelper.services import accounts, attachments, audit
from aihelper.services.groups import Groups, set_user_groups
from aihelper.services.history import erase_conversations
from aihelper.services.quotas import (
    NOTHING_TODAY,
    QuotaChange,
    apply_quota,
    everyones_limits,
    limits_of,
    quota_json,
    used_today,
)
from aihelper.validation import Fields, Flag, OptionalText, StatusChoice

IsAdmin = Annotated[bool, Flag(), Field(title=N_("field_is_admin"))]


def user_dict(user: User, today: dict[str, Any] | None = None, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """A user as the admin sees them: the account, its groups (ids), its own quota, the limits
    that apply (its own, else its groups') and what it used today."""
    return {
        **accounts.user_json(user, accounts.ADMIN_VIEW),
        "groups": [group.id for group in user.groups],
        "quota": quota_json(user),
        "limits": limits if limits is not None else limits_of(user.id),
        "today": today if today is not None else used_today(user.id).get(user.id, NOTHING_TODAY),
    }


def list_users() -> list[dict[str, Any]]:
    users = db.session.scalars(select(User).options(selectinload(User.groups)).order_by(User.id)).all()
    today, limits = used_today(), everyones_limits()
    return [user_dict(user, today.get(user.id, NOTHING_TODAY), limits[user.id]) for user in users]


class NewUser(accounts.Credentials):
    """POST /api/admin/users."""

    is_admin: IsAdmin = False


class UserChange(Fields):
    """PUT /api/admin/users/<id> (and the users page's form): any of these."""

    status: StatusChoice = Status.ACTIVE
    is_admin: IsAdmin = False
    password: Annotated[str | None, OptionalText(accounts.PASSWORD_MAX), Field(title=N_("field_password"))] = None
    groups: Groups = ()
    quota: QuotaChange | None = None  # the user's own limits, before their groups'


def create_user(new: NewUser) -> User:
    """An account made by an admin (also while registration is closed)."""
    user = accounts.create_account(new.username, new.password, is_admin=new.is_admin)
    audit.record_now("user.create", user.username, audit.created(_audited(user)))
    return user


def _audited(user: User) -> dict[str, Any]:
    return {
        "status": str(user.status),
        "is_admin": user.is_admin,
        "password": user.password_hash,  # a secret: recorded as changed, never as itself
        "groups": sorted(group.id for group in user.groups),
        "quota": quota_json(user),
    }


def _get_user(user_id: int, *, lock: bool = False) -> User:
    statement = select(User).where(User.id == user_id)
    if lock:
        statement = statement.with_for_update()
    user = db.session.scalar(statement)
    if user is None:
        raise NotFound("not_found", N_("user_not_found"))
    return user


def _guard_admin_removal(actor: User, target: User) -> None:
    """Refuse taking away the target's admin power when it is the actor or the last active admin."""
    if target.id == actor.id:
        raise Invalid(N_("cannot_change_self"))
    if not (target.is_admin and target.status == Status.ACTIVE):
        return
    # Locks the active admins' rows on MySQL, so two admins demoting each other can't both succeed.
    other_admins = db.session.scalar(
        select(func.count()).select_from(
            select(User.id)
            .where(User.is_admin.is_(True), User.status == Status.ACTIVE, User.id != target.id)
            .with_for_update()
            .subquery()
        )
    )
    if not other_admins:
        raise Conflict(N_("last_admin"))


def update_user(actor: User, user_id: int, change: UserChange) -> User:
    target = _get_user(user_id, lock=True)
    before = _audited(target)
    given = change.model_fields_set
    new_status = change.status if "status" in given else target.status
    new_admin = change.is_admin if "is_admin" in given else target.is_admin
    if (new_status == Status.DISABLED and target.status == Status.ACTIVE) or (target.is_admin and not new_admin):
        _guard_admin_removal(actor, target)
    password = change.password
    if password is not None:
        problem = accounts.password_problem(password)
        if problem:
            raise Invalid(problem)
        target.password_hash = accounts.hash_password(password)
    target.is_admin = new_admin
    if "groups" in given:
        set_user_groups(target, change.groups)
    if "quota" in given:
        apply_quota(target, change.quota)
    audit.record("user.update", target.username, audit.diff(before, {**_audited(target), "status": str(new_status)}))
    db.session.commit()
    if new_status != target.status:
        accounts.set_status(target, new_status)
    elif password is not None:
        # A reset password ends the sessions opened with the old one.
        accounts.end_other_logins(target)
    return target


def delete_user(actor: User, user_id: int) -> None:
    """Delete an account with its conversations and messages (those a slice at a time first).

    Decided once, before anything is erased: the guard and disabling the account are one locked
    transaction, so a concurrent removal of the last other admin sees this one already disabled
    and is refused, and nothing can refuse the deletion once its conversations start to go.
    """
    target = _get_user(user_id, lock=True)
    _guard_admin_removal(actor, target)
    # Commits: its logins and running generations end, and no new ones start while it is erased.
    accounts.set_status(target, Status.DISABLED)
    conversations = db.session.scalars(select(ChatSession.id).where(ChatSession.user_id == user_id)).all()
    erase_conversations(conversations)
    attachments.delete_user_files(user_id)  # what the conversations did not take: unsent uploads
    audit.record("user.delete", target.username)
    db.session.delete(target)
    db.session.commit()
