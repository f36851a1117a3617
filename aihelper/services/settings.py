"""Instance-wide settings an admin changes at run time, stored in `app_settings`."""

from __future__ import annotations

from typing import Any

from flask import current_app

from aihelper.extensions import db
from aihelper.models import AppSetting
from aihelper.services import fields

REGISTRATION_OPEN = "registration_open"


def registration_open() -> bool:
    stored = db.session.get(AppSetting, REGISTRATION_OPEN)
    if stored is None:
        return bool(current_app.config["AIHELPER_REGISTRATION_OPEN"])
    return stored.value == "1"


def set_registration_open(is_open: bool) -> None:
    db.session.merge(AppSetting(key=REGISTRATION_OPEN, value="1" if is_open else "0"))
    db.session.commit()


def all_settings() -> dict[str, Any]:
    return {"registration_open": registration_open()}


def update_settings(values: dict[str, Any]) -> dict[str, Any]:
    if "registration_open" in values:
        set_registration_open(fields.flag(values, "registration_open", "field_registration_open"))
    return all_settings()
