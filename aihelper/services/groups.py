"""Groups of users: who is in which, which models a group opens, and the group new accounts join.

A model with no groups is open to everyone; one with groups only to their members. Admins follow
the same rule in the chat (they may put themselves in a group); the admin pages list every model.
Each function commits its own work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import exists, func, select

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, NotFound
from aihelper.i18n import N_
from aihelper.ids import is_id
from aihelper.models import AppSetting, ModelConfig, User, UserGroup, group_members, model_access
from aihelper.services import audit
from aihelper.services.quotas import QuotaChange, apply_quota, quota_json
from aihelper.services.unique import commit_or_conflict
from aihelper.times import iso_utc
from aihelper.validation import Fields, FieldType, OptionalText, RequiredText, refuse

GROUP_NAME_MAX, GROUP_DESCRIPTION_MAX = 50, 500
GROUPS_MAX = 1000  # groups named in one change
DEFAULT_GROUP = "default_group"


def model_open_to(model_id_column, user_id) -> Any:
    """The condition that the model whose config id is `model_id_column` may be used by the user
    `user_id` (a column or a bound parameter): it has no groups, or the user is in one of them."""
    restricted = select(model_access.c.group_id).where(model_access.c.model_config_id == model_id_column)
    member = (
        select(model_access.c.group_id)
        .join(group_members, group_members.c.group_id == model_access.c.group_id)
        .where(model_access.c.model_config_id == model_id_column, group_members.c.user_id == user_id)
    )
    return ~exists(restricted) | exists(member)


class GroupIds(FieldType):
    """A list of group ids (JSON), or the same as a comma-separated form field (the model editor
    posts a form); every id must be a group's."""

    def validate(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            value = [int(part) if part.isdigit() else part for part in parts]
        if not isinstance(value, list) or len(value) > GROUPS_MAX or not all(is_id(i) for i in value):
            raise refuse("invalid_field", N_("invalid_groups"))
        return tuple(dict.fromkeys(value))


Groups = Annotated[tuple[int, ...], GroupIds(), Field(title=N_("field_groups"))]


def groups_by_id(group_ids: Sequence[int]) -> list[UserGroup]:
    """The groups named, in that order; an id no group has is refused."""
    found = {g.id: g for g in db.session.scalars(select(UserGroup).where(UserGroup.id.in_(group_ids)))}
    if len(found) != len(group_ids):
        raise Invalid("invalid_field", N_("invalid_groups"))
    return [found[group_id] for group_id in group_ids]


def group_json(group: UserGroup, member_count: int, default_id: int | None = None) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description or "",
        "member_count": member_count,
        "quota": quota_json(group),
        "is_default": (default_id if default_id is not None else default_group_id()) == group.id,
        "create_time": iso_utc(group.create_time),
    }


def list_groups() -> list[dict[str, Any]]:
    counts = dict(
        db.session.execute(select(group_members.c.group_id, func.count()).group_by(group_members.c.group_id)).all()
    )
    default_id = default_group_id() or 0
    groups = db.session.scalars(select(UserGroup).order_by(UserGroup.name, UserGroup.id))
    return [group_json(group, counts.get(group.id, 0), default_id) for group in groups]


def get_group(group_id: int) -> UserGroup:
    group = db.session.get(UserGroup, group_id)
    if group is None:
        raise NotFound("not_found", N_("group_not_found"))
    return group


def member_count(group_id: int) -> int:
    return db.session.scalar(select(func.count()).where(group_members.c.group_id == group_id)) or 0


class GroupChange(Fields):
    """PUT /api/admin/groups/<id>: any of these."""

    name: Annotated[str, RequiredText(GROUP_NAME_MAX, strip=True), Field(title=N_("field_group_name"))] = ""
    description: Annotated[str | None, OptionalText(GROUP_DESCRIPTION_MAX), Field(title=N_("field_description"))] = None
    quota: QuotaChange | None = None


class NewGroup(GroupChange):
    """POST /api/admin/groups."""

    name: Annotated[str, RequiredText(GROUP_NAME_MAX, strip=True), Field(title=N_("field_group_name"))]


def create_group(new: NewGroup) -> UserGroup:
    group = UserGroup()
    _apply(group, new, new.model_fields_set | {"name"})
    return group


def update_group(group_id: int, change: GroupChange) -> UserGroup:
    group = get_group(group_id)
    _apply(group, change, change.model_fields_set)
    return group


def _audited(group: UserGroup) -> dict[str, Any]:
    return {"name": group.name, "description": group.description, "quota": quota_json(group)}


def _apply(group: UserGroup, change: GroupChange, given: set[str]) -> None:
    before = _audited(group) if group.id is not None else {}
    if "name" in given:
        group.name = change.name
    if "description" in given:
        group.description = change.description
    if "quota" in given:
        apply_quota(group, change.quota)
    audit.record("group.update" if before else "group.create", group.name, audit.diff(before, _audited(group)))
    db.session.add(group)
    commit_or_conflict(Conflict(N_("group_exists")))


def delete_group(group_id: int) -> None:
    """Its members stay. A group that alone opens a model is not deleted (409 naming the models):
    the model would silently become open to everyone; the admin changes the model first."""
    group = get_group(group_id)
    other = model_access.alias("other_access")
    only_opener = (
        select(ModelConfig.model_name)
        .join(model_access, model_access.c.model_config_id == ModelConfig.id)
        .where(model_access.c.group_id == group.id)
        .where(
            ~exists(
                select(other.c.group_id).where(other.c.model_config_id == ModelConfig.id, other.c.group_id != group.id)
            )
        )
        .order_by(ModelConfig.sort_order, ModelConfig.id)
    )
    models = db.session.scalars(only_opener).all()
    if models:
        raise Conflict("group_opens_models", N_("group_opens_models"), models=", ".join(models[:5]))
    was_default = default_group_id() == group.id
    if was_default:
        db.session.delete(db.session.get(AppSetting, DEFAULT_GROUP))
    audit.record("group.delete", group.name, {"default_group": [group.id, None]} if was_default else None)
    db.session.delete(group)
    db.session.commit()


def set_user_groups(user: User, group_ids: Sequence[int]) -> None:
    """Part of a user change: the caller commits."""
    user.groups = groups_by_id(group_ids)


def set_model_groups(model: ModelConfig, group_ids: Sequence[int]) -> None:
    """Part of a model change: the caller commits."""
    model.groups = groups_by_id(group_ids)


def default_group_id() -> int | None:
    stored = db.session.get(AppSetting, DEFAULT_GROUP)
    return int(stored.value) if stored is not None else None


def set_default_group(group_id: int | None) -> None:
    """The group every new account joins (None: none). Part of a settings change: the caller commits."""
    if group_id is None:
        stored = db.session.get(AppSetting, DEFAULT_GROUP)
        if stored is not None:
            db.session.delete(stored)
        return
    if db.session.get(UserGroup, group_id) is None:
        raise Invalid("invalid_field", N_("invalid_groups"))
    db.session.merge(AppSetting(key=DEFAULT_GROUP, value=str(group_id)))


def join_default_group(user: User) -> None:
    """A new account joins the default group, in the transaction that creates it (whose commit
    decides whether the name is taken: nothing is flushed here)."""
    with db.session.no_autoflush:
        group_id = default_group_id()
        group = db.session.get(UserGroup, group_id) if group_id is not None else None
        if group is not None:
            user.groups.append(group)
