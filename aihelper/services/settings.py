"""Instance-wide settings an admin changes at run time, stored in `app_settings`."""

from __future__ import annotations

from typing import Annotated, Any

from flask import current_app
from pydantic import Field

from aihelper.extensions import db
from aihelper.i18n import N_
from aihelper.ids import ID_MAX
from aihelper.models import AppSetting
from aihelper.services import audit, groups
from aihelper.validation import Fields, Flag, Number

REGISTRATION_OPEN = "registration_open"
RETENTION_DAYS = "retention_days"
RETENTION_DAYS_MAX = 3650
AUDIT_RETENTION_DAYS = "audit_retention_days"
AUDIT_RETENTION_DEFAULT = 365
SHARING_ENABLED = "sharing_enabled"


def registration_open() -> bool:
    stored = db.session.get(AppSetting, REGISTRATION_OPEN)
    if stored is None:
        return bool(current_app.config["AIHELPER_REGISTRATION_OPEN"])
    return stored.value == "1"


def set_registration_open(is_open: bool) -> None:
    db.session.merge(AppSetting(key=REGISTRATION_OPEN, value="1" if is_open else "0"))
    db.session.commit()


def sharing_enabled() -> bool:
    """Whether users may share conversations as links, and existing links open (on by default)."""
    stored = db.session.get(AppSetting, SHARING_ENABLED)
    return stored is None or stored.value == "1"


def retention_days() -> int:
    """How many days conversations are kept after their last activity; 0 = for ever (the default)."""
    stored = db.session.get(AppSetting, RETENTION_DAYS)
    return int(stored.value) if stored is not None else 0


def audit_retention_days() -> int:
    """How many days the audit log keeps an entry (a year unless the admin says otherwise)."""
    stored = db.session.get(AppSetting, AUDIT_RETENTION_DAYS)
    return int(stored.value) if stored is not None else AUDIT_RETENTION_DEFAULT


def all_settings() -> dict[str, Any]:
    return {
        "registration_open": registration_open(),
        "retention_days": retention_days(),
        "default_group": groups.default_group_id(),
        "audit_retention_days": audit_retention_days(),
        "sharing_enabled": sharing_enabled(),
    }


class SettingsChange(Fields):
    """PUT /api/admin/settings (and the settings page's form): any of these."""

    registration_open: Annotated[bool, Flag(), Field(title=N_("field_registration_open"))] = True
    retention_days: Annotated[int, Number(0, RETENTION_DAYS_MAX, 0), Field(title=N_("field_retention_days"))] = 0
    # The group new accounts join; null (or an empty form field): none.
    default_group: Annotated[int | None, Number(1, ID_MAX, None), Field(title=N_("field_default_group"))] = None
    audit_retention_days: Annotated[
        int, Number(1, RETENTION_DAYS_MAX, AUDIT_RETENTION_DEFAULT), Field(title=N_("field_audit_retention_days"))
    ] = AUDIT_RETENTION_DEFAULT
    sharing_enabled: Annotated[bool, Flag(), Field(title=N_("field_sharing_enabled"))] = True


def update_settings(change: SettingsChange) -> dict[str, Any]:
    """All of the change or none of it (a default group that does not exist refuses it)."""
    before = all_settings()
    if "default_group" in change.model_fields_set:
        groups.set_default_group(change.default_group)
    for key in (RETENTION_DAYS, AUDIT_RETENTION_DAYS):
        if key in change.model_fields_set:
            db.session.merge(AppSetting(key=key, value=str(getattr(change, key))))
    for key in (REGISTRATION_OPEN, SHARING_ENABLED):
        if key in change.model_fields_set:
            db.session.merge(AppSetting(key=key, value="1" if getattr(change, key) else "0"))
    after = {**before, **{name: getattr(change, name) for name in change.model_fields_set}}
    audit.record("settings.update", "", audit.diff(before, after))
    db.session.commit()
    return all_settings()
