"""The /admin pages: Jinja pages hydrated by the admin Vue components; create, edit and delete are
form posts carrying a CSRF token. A refused form re-renders the page with its dialog open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from aihelper.admin import bp
from aihelper.errors import message_of, status_of
from aihelper.failures import Failure
from aihelper.i18n import N_
from aihelper.services import admin_users, groups, providers, settings, stats
from aihelper.validation import read

# Each page's name in the browser tab (the dashboard is the admin area itself).
_SECTION_TITLES = {
    "dashboard": N_("admin_dashboard"),
    "usage": N_("admin_usage"),
    "providers": N_("admin_providers"),
    "models": N_("admin_models"),
    "users": N_("admin_users"),
    "groups": N_("admin_groups"),
    "presets": N_("admin_presets"),
    "audit": N_("admin_audit"),
    "shares": N_("admin_shares"),
    "settings": N_("admin_settings"),
}
# Form fields never echoed back into a page.
SECRET_FIELDS = ("api_key", "password", "csrf_token")


def _section_data(section: str) -> dict[str, Any]:
    if section == "dashboard":
        return {"counts": stats.dashboard_counts(), "providers": providers.list_providers()}
    if section == "providers":
        return {"providers": providers.list_providers()}
    if section == "models":
        return {
            "models": providers.list_models(),
            "providers": providers.list_providers(),
            "groups": groups.list_groups(),
        }
    if section == "users":
        return {"users": admin_users.list_users(), "groups": groups.list_groups()}
    if section == "groups":
        return {"groups": groups.list_groups()}
    if section == "presets":  # the presets themselves come from GET /api/presets
        models = [{"id": m["id"], "model_name": m["model_name"]} for m in providers.list_models()]
        return {"models": models, "groups": groups.list_groups()}
    if section in ("usage", "audit", "shares"):
        # The page asks the JSON API (GET /api/admin/usage, /api/admin/audit, /api/admin/shares).
        return {}
    return {"settings": settings.all_settings(), "groups": groups.list_groups()}


def _render(section: str, form_error: dict[str, Any] | None = None, status: int = 200):
    page = {
        "section": section,
        "csrf_token": generate_csrf(),
        "me": {"id": current_user.id, "username": current_user.username},
        "flash": get_flashed_messages(),
        "form_error": form_error,
        "quota_currency": current_app.config["AIHELPER_QUOTA_CURRENCY"],
        **_section_data(section),
    }
    return render_template("admin/page.html", page=page, section_title=_SECTION_TITLES[section]), status


def _submit(section: str, dialog: str, action: Callable[[dict[str, Any]], Any], record_id: int | None = None):
    values = request.form.to_dict()
    try:
        action({name: value for name, value in values.items() if name != "csrf_token"})  # checked already
    except Failure as refused:
        echoed = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
        error = {"dialog": dialog, "id": record_id, "values": echoed, "message": message_of(refused)}
        return _render(section, error, status_of(refused))
    flash(gettext("saved") if dialog != "delete" else gettext("deleted"))
    return redirect(url_for(f"admin.{section}"))


@bp.get("/admin")
def dashboard():
    return _render("dashboard")


@bp.get("/admin/usage", endpoint="usage")
def usage_page():
    return _render("usage")


@bp.get("/admin/audit", endpoint="audit")
def audit_page():
    return _render("audit")


@bp.get("/admin/presets", endpoint="presets")
def presets_page():
    return _render("presets")


@bp.get("/admin/shares", endpoint="shares")
def shares_page():
    return _render("shares")


@bp.get("/admin/providers", endpoint="providers")
def providers_page():
    return _render("providers")


@bp.post("/admin/providers")
def create_provider():
    return _submit("providers", "provider", lambda v: providers.create_provider(read(providers.NewProvider, v)))


@bp.post("/admin/providers/<id:provider_id>")
def edit_provider(provider_id: int):
    return _submit(
        "providers",
        "provider",
        lambda v: providers.update_provider(provider_id, read(providers.ProviderChange, v)),
        provider_id,
    )


@bp.post("/admin/providers/<id:provider_id>/delete")
def delete_provider(provider_id: int):
    return _submit("providers", "delete", lambda _v: providers.delete_provider(provider_id), provider_id)


@bp.get("/admin/models", endpoint="models")
def models_page():
    return _render("models")


@bp.post("/admin/models")
def create_model():
    return _submit("models", "model", lambda v: providers.create_model(read(providers.NewModel, v)))


@bp.post("/admin/models/<id:model_config_id>")
def edit_model(model_config_id: int):
    return _submit(
        "models",
        "model",
        lambda v: providers.update_model(model_config_id, read(providers.ModelChange, v)),
        model_config_id,
    )


@bp.post("/admin/models/<id:model_config_id>/delete")
def delete_model(model_config_id: int):
    return _submit("models", "delete", lambda _v: providers.delete_model(model_config_id), model_config_id)


@bp.get("/admin/users", endpoint="users")
def users_page():
    return _render("users")


@bp.post("/admin/users/<id:user_id>")
def edit_user(user_id: int):
    return _submit(
        "users",
        "user",
        lambda v: admin_users.update_user(current_user, user_id, read(admin_users.UserChange, v)),
        user_id,
    )


@bp.post("/admin/users/<id:user_id>/delete")
def delete_user(user_id: int):
    return _submit("users", "delete", lambda _v: admin_users.delete_user(current_user, user_id), user_id)


@bp.get("/admin/groups", endpoint="groups")
def groups_page():
    return _render("groups")


@bp.get("/admin/settings", endpoint="settings")
def settings_page():
    return _render("settings")


@bp.post("/admin/settings")
def save_settings():
    # An unchecked box is absent from a form post: absent means off.
    return _submit(
        "settings",
        "settings",
        lambda v: settings.update_settings(
            read(
                settings.SettingsChange,
                {name: "1" if v.get(name) else "0" for name in ("registration_open", "sharing_enabled")}
                | {name: v[name] for name in ("retention_days", "default_group", "audit_retention_days") if name in v},
            )
        ),
    )
