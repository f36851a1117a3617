"""Presets (issue #17 part 3): a name, a system prompt, a model, a temperature and a first message
that a new conversation starts from.

Who sees a preset: its owner (scope `me`), every user (`everyone`) or the members of its groups
(`groups`); admins see every published one. Only admins publish, and only they change a published
preset; a preset the asker does not see answers 404 like one that does not exist (SECURITY.md
rule 2). A private preset's model must be one its owner may chat with; a published one's any
model (a member the model is closed to gets `model_unavailable` when starting from it). Changes
to published presets are admin actions, audit-logged. Each function commits its own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import bindparam, exists, func, select, update

from aihelper.extensions import db
from aihelper.failures import Conflict, Forbidden, Invalid, NotFound
from aihelper.i18n import N_
from aihelper.ids import ID_MAX
from aihelper.models import ChatSession, ModelConfig, Preset, PresetScope, User, group_members, preset_groups
from aihelper.services import audit
from aihelper.services.autocommit import read_rows
from aihelper.services.groups import Groups, groups_by_id
from aihelper.services.providers import PROMPT_MAX, open_models
from aihelper.times import iso_utc
from aihelper.validation import Fields, Number, OneOf, OptionalText, RequiredText

NAME_MAX = 100
PRESETS_PER_USER = 200  # far more than anyone picks from; a bound on what one account stores

_presets = Preset.__table__


def visible_to(user_id: Any, is_admin: bool) -> Any:
    """The condition that the preset is one the user `user_id` (a value or a bound parameter)
    sees: their own, or a published one for them (every published one for an admin)."""
    if is_admin:
        return (_presets.c.user_id == user_id) | (_presets.c.scope != PresetScope.ME)
    member = (
        select(preset_groups.c.group_id)
        .join(group_members, group_members.c.group_id == preset_groups.c.group_id)
        .where(preset_groups.c.preset_id == _presets.c.id, group_members.c.user_id == user_id)
    )
    return (
        (_presets.c.user_id == user_id)
        | (_presets.c.scope == PresetScope.EVERYONE)
        | ((_presets.c.scope == PresetScope.GROUPS) & exists(member))
    )


Scope = Annotated[str, OneOf(tuple(PresetScope), N_("invalid_preset_scope")), Field(title=N_("field_preset_scope"))]


class PresetChange(Fields):
    """PUT /api/presets/<id>: any of these."""

    name: Annotated[str, RequiredText(NAME_MAX, strip=True), Field(title=N_("field_preset_name"))] = ""
    system_prompt: Annotated[str, RequiredText(PROMPT_MAX), Field(title=N_("field_system_prompt"))] = ""
    model_id: Annotated[int | None, Number(1, ID_MAX, None), Field(title=N_("field_model"))] = None
    temperature: Annotated[float | None, Number(0.0, 2.0, None, decimal=True), Field(title=N_("field_temperature"))] = (
        None
    )
    first_message: Annotated[str | None, OptionalText(PROMPT_MAX), Field(title=N_("field_first_message"))] = None
    scope: Scope = PresetScope.ME
    groups: Groups = ()


class NewPreset(PresetChange):
    """POST /api/presets."""

    name: Annotated[str, RequiredText(NAME_MAX, strip=True), Field(title=N_("field_preset_name"))]
    system_prompt: Annotated[str, RequiredText(PROMPT_MAX), Field(title=N_("field_system_prompt"))]


def preset_json(preset: Preset, asker: User) -> dict[str, Any]:
    mine = preset.user_id == asker.id
    return {
        "id": preset.id,
        "name": preset.name,
        "system_prompt": preset.system_prompt,
        "model_id": preset.model_config_id,
        "temperature": preset.temperature,
        "first_message": preset.first_message,
        "scope": preset.scope,
        # Which groups see it is the admins' business.
        "groups": [group.id for group in preset.groups] if asker.is_admin else [],
        "mine": mine,
        "editable": _may_change(preset, asker),
        "create_time": iso_utc(preset.create_time),
        "update_time": iso_utc(preset.update_time),
    }


def list_presets(asker: User) -> list[dict[str, Any]]:
    """The presets the asker sees: their own first, then the published ones, each by name."""
    presets = db.session.scalars(
        select(Preset)
        .where(visible_to(asker.id, asker.is_admin))
        .order_by((Preset.user_id == asker.id).desc(), Preset.name, Preset.id)
    )
    return [preset_json(preset, asker) for preset in presets]


def create_preset(asker: User, new: NewPreset) -> Preset:
    owned = db.session.scalar(select(func.count()).where(Preset.user_id == asker.id)) or 0
    if owned >= PRESETS_PER_USER:
        raise Conflict("too_many_presets", N_("too_many_presets"), limit=str(PRESETS_PER_USER))
    preset = Preset(user_id=asker.id)
    _apply(preset, asker, new, new.model_fields_set | {"name", "system_prompt", "scope"})
    return preset


def update_preset(asker: User, preset_id: int, change: PresetChange) -> Preset:
    preset = _changeable(asker, preset_id)
    _apply(preset, asker, change, change.model_fields_set)
    return preset


def delete_preset(asker: User, preset_id: int) -> None:
    """Its conversations stay, and go on with their plain model."""
    preset = _changeable(asker, preset_id)
    if preset.scope != PresetScope.ME:
        audit.record("preset.delete", preset.name)
    db.session.execute(update(ChatSession).where(ChatSession.preset_id == preset.id).values(preset_id=None))
    db.session.delete(preset)
    db.session.commit()


def _visible(asker: User, preset_id: int) -> Preset:
    preset = db.session.scalar(select(Preset).where(Preset.id == preset_id, visible_to(asker.id, asker.is_admin)))
    if preset is None:
        raise NotFound("not_found", N_("preset_not_found"))
    return preset


def _may_change(preset: Preset, asker: User) -> bool:
    return asker.is_admin if preset.scope != PresetScope.ME else preset.user_id == asker.id


def _changeable(asker: User, preset_id: int) -> Preset:
    preset = _visible(asker, preset_id)
    if not _may_change(preset, asker):
        raise Forbidden("forbidden", N_("preset_read_only"))
    return preset


_AUDITED = ("name", "system_prompt", "model_config_id", "temperature", "first_message", "scope")


def _audited(preset: Preset) -> dict[str, Any]:
    return {**audit.snapshot(preset, _AUDITED), "groups": sorted(group.id for group in preset.groups)}


def _apply(preset: Preset, asker: User, change: PresetChange, given: set[str]) -> None:
    scope = change.scope if "scope" in given else preset.scope
    if scope != PresetScope.ME and not asker.is_admin:
        raise Forbidden("forbidden", N_("preset_publish_admin_only"))
    before = _audited(preset) if preset.id is not None else {}
    for name in ("name", "system_prompt", "temperature", "first_message"):
        if name in given:
            setattr(preset, name, getattr(change, name))
    preset.scope = scope
    if "model_id" in given:
        preset.model_config_id = change.model_id
    if "model_id" in given or "scope" in given:
        _check_model(preset, asker)
    if scope != PresetScope.GROUPS:
        preset.groups = []
    elif "groups" in given or not preset.groups:
        if not change.groups:
            raise Invalid("invalid_field", N_("preset_groups_required"))
        preset.groups = groups_by_id(change.groups)
    after = _audited(preset)
    if before.get("scope", PresetScope.ME) != PresetScope.ME or scope != PresetScope.ME:
        audit.record("preset.update" if before else "preset.create", preset.name, audit.diff(before, after))
    db.session.add(preset)
    db.session.commit()


def _check_model(preset: Preset, asker: User) -> None:
    """A private preset's model is one its owner may chat with; a published one's any model."""
    model_id = preset.model_config_id
    if model_id is None:
        return
    if preset.scope == PresetScope.ME:
        usable = db.session.scalar(open_models(preset.user_id).where(ModelConfig.id == model_id))
    else:
        usable = db.session.get(ModelConfig, model_id)
    if usable is None:
        raise Invalid("invalid_field", N_("preset_model_unavailable"))


# --- for a turn ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnPreset:
    """What a turn takes from the preset of its conversation."""

    id: int
    system_prompt: str
    temperature: float | None
    model_config_id: int | None = None


_VISIBLE_READS = {
    is_admin: select(_presets.c.id, _presets.c.system_prompt, _presets.c.temperature, _presets.c.model_config_id).where(
        _presets.c.id == bindparam("preset_id"), visible_to(bindparam("user_id"), is_admin)
    )
    for is_admin in (False, True)
}


def preset_for_turn(user_id: int, is_admin: bool, preset_id: int) -> TurnPreset:
    """The preset a new conversation starts from, if the user sees it (NotFound otherwise)."""
    rows = read_rows(_VISIBLE_READS[is_admin], {"preset_id": preset_id, "user_id": user_id})
    if not rows:
        raise NotFound("not_found", N_("preset_not_found"))
    return TurnPreset(*rows[0])
