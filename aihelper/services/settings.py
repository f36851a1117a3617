"""Instance-wide settings an admin changes at run time, stored in `app_settings`."""

from __future__ import annotations

from typing import Any

from flask import current_app

from aihelper.extensions import db
from aihelper.i18n import N_
from aihelper.models import AppSetting
from aihelper.services import fields

REGISTRATION_OPEN = "registration_open"
RETENTION_DAYS = "retention_days"
RETENTION_DAYS_MAX = 3650


def registration_open() -> bool:
    stored = db.session.get(AppSetting, REGISTRATION_OPEN)
    if stored is None:
        return bool(current_app.config["AIHELPER_REGISTRATION_OPEN"])
    return stored.value == "1"


def set_registration_open(is_open: bool) -> None:
    db.session.merge(AppSetting(key=REGISTRATION_OPEN, value="1" if is_open else "0"))
    db.session.commit()


def retention_days() -> int:
    """How many days conversations are kept after their last activity; 0 = for ever (the default)."""
    stored = db.session.get(AppSetting, RETENTION_DAYS)
    return int(stored.value) if stored is not None else 0


def all_settings() -> dict[str, Any]:
    return {"registration_open": registration_open(), "retention_days": retention_days()}


def update_settings(values: dict[str, Any]) -> dict[str, Any]:
    if "registration_open" in values:
        set_registration_open(fields.flag(values, "registration_open", N_("field_registration_open")))
    if "retention_days" in values:
        days = fields.integer(values, "retention_days", N_("field_retention_days"), 0, RETENTION_DAYS_MAX, 0)
        db.session.merge(AppSetting(key=RETENTION_DAYS, value=str(days)))
        db.session.commit()
    return all_settings()
