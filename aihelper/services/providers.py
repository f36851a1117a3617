"""Providers (OpenAI-compatible endpoints) and the models offered through them.

Admin-only operations; views check the role, these functions check the data. Each commits its own
work. Nothing returned here carries a provider's key: only its hint.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from flask import current_app
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, NotFound, ProviderFailed
from aihelper.i18n import N_
from aihelper.ids import ID_MAX, is_id
from aihelper.llm import ProviderError, check_base_url
from aihelper.llm.url_safety import address_problem, origin
from aihelper.models import ApiProvider, ModelConfig
from aihelper.models.types import CURRENCY_DEFAULT, Status
from aihelper.services import audit
from aihelper.services.groups import Groups, model_open_to, set_model_groups
from aihelper.services.provider_client import provider_client
from aihelper.services.provider_failures import provider_error_message, provider_failure
from aihelper.services.provider_keys import KEY_CLEARED, encrypt_key, key_hint, key_state, key_to_send
from aihelper.services.unique import commit_or_conflict
from aihelper.times import iso_utc
from aihelper.validation import (
    Fields,
    FieldType,
    Flag,
    Number,
    OptionalText,
    RequiredText,
    StatusChoice,
    is_text,
    refuse,
)

log = logging.getLogger(__name__)

NAME_MAX, URL_MAX, KEY_MAX, DESCRIPTION_MAX, PROMPT_MAX = 100, 500, 1000, 2000, 20000
MODEL_ID_MAX = 100


# --- providers --------------------------------------------------------------------------------


def provider_dict(provider: ApiProvider, model_count: int | None = None) -> dict[str, Any]:
    result = {
        "id": provider.id,
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key_hint": key_hint(provider.api_key),
        "key_status": key_state(provider.api_key),
        "description": provider.description or "",
        "status": provider.status,
        "create_time": iso_utc(provider.create_time),
        "update_time": iso_utc(provider.update_time),
    }
    if model_count is not None:
        result["model_count"] = model_count
    return result


def list_providers() -> list[dict[str, Any]]:
    counts = dict(
        db.session.execute(select(ModelConfig.provider_id, func.count()).group_by(ModelConfig.provider_id)).all()
    )
    providers = db.session.scalars(select(ApiProvider).order_by(ApiProvider.id))
    return [provider_dict(p, counts.get(p.id, 0)) for p in providers]


def get_provider(provider_id: int) -> ApiProvider:
    provider = db.session.get(ApiProvider, provider_id)
    if provider is None:
        raise NotFound("not_found", N_("provider_not_found"))
    return provider


Name = Annotated[str, RequiredText(NAME_MAX, strip=True), Field(title=N_("field_name"))]
BaseUrl = Annotated[str, RequiredText(URL_MAX), Field(title=N_("field_base_url"))]
Description = Annotated[str | None, OptionalText(DESCRIPTION_MAX), Field(title=N_("field_description"))]


class ProviderChange(Fields):
    """PUT /api/admin/providers/<id> (and the edit form): any of these."""

    name: Name = ""
    base_url: BaseUrl = ""
    description: Description = None
    status: StatusChoice = Status.ACTIVE
    # Write-only: empty or absent keeps the stored key.
    api_key: Annotated[str | None, OptionalText(KEY_MAX), Field(title=N_("field_api_key"))] = None


class NewProvider(ProviderChange):
    """POST /api/admin/providers (and the new-provider form)."""

    name: Name
    base_url: BaseUrl


def _checked_base_url(raw: str) -> str:
    try:
        return check_base_url(raw)
    except ProviderError:
        if _is_refused_address(raw):
            raise Invalid(N_("base_url_blocked")) from None
        raise Invalid(N_("base_url_invalid")) from None


def _is_refused_address(url: str) -> bool:
    """True when the URL names a literal IP address the client would never connect to."""
    try:
        address = ipaddress.ip_address(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return False
    return address_problem(address, refuse_private=False) is not None


AUDITED_PROVIDER = ("name", "base_url", "description", "status", "api_key")


def create_provider(new: NewProvider) -> ApiProvider:
    provider = ApiProvider(status=Status.ACTIVE)
    _apply_provider_fields(provider, new, set(NewProvider.model_fields))
    audit.record("provider.create", provider.name, audit.created(audit.snapshot(provider, AUDITED_PROVIDER)))
    return _save_provider(provider)


def update_provider(provider_id: int, change: ProviderChange) -> ApiProvider:
    provider = get_provider(provider_id)
    before = audit.snapshot(provider, AUDITED_PROVIDER)
    _apply_provider_fields(provider, change, change.model_fields_set)
    changes = audit.diff(before, audit.snapshot(provider, AUDITED_PROVIDER))
    if "api_key" in changes and provider.api_key == KEY_CLEARED:  # moved to another host, no key given
        changes["api_key"] = [audit.CHANGED, audit.CLEARED]
    audit.record("provider.update", provider.name, changes)
    return _save_provider(provider)


def _apply_provider_fields(provider: ApiProvider, change: ProviderChange, given: set[str]) -> None:
    moved = False
    if "name" in given:
        provider.name = change.name
    if "base_url" in given:
        base_url = _checked_base_url(change.base_url)
        moved = provider.base_url is not None and _other_host(provider.base_url, base_url)
        provider.base_url = base_url
    if "description" in given:
        provider.description = change.description
    if "status" in given:
        provider.status = change.status
    # The key is write-only: an empty or absent key keeps the stored one, unless the provider moved
    # to another host, which would then receive a key given for the old one (SECURITY.md rule 4).
    new_key = change.api_key
    if new_key:
        provider.api_key = encrypt_key(new_key)
    elif moved and provider.api_key:
        provider.api_key = KEY_CLEARED


def _other_host(old_url: str, new_url: str) -> bool:
    """True when requests to *new_url* would go to another scheme, host or port than to *old_url*
    (a stored URL that no longer passes the checks counts as another host)."""
    try:
        return origin(old_url) != origin(new_url)
    except ProviderError:
        return True


def _save_provider(provider: ApiProvider) -> ApiProvider:
    db.session.add(provider)
    commit_or_conflict(Conflict(N_("provider_name_taken")))
    return provider


def delete_provider(provider_id: int) -> None:
    """Delete a provider with its models; conversations keep the model name they used."""
    provider = get_provider(provider_id)
    audit.record("provider.delete", provider.name)
    db.session.delete(provider)
    db.session.commit()


def _connection_details(provider_id: int) -> tuple[str, str | None]:
    """The base URL and plain key of a provider, read and released before any network call."""
    provider = get_provider(provider_id)
    details = provider.base_url, key_to_send(provider.api_key, N_("key_needs_reentry"))
    # No database connection is held while waiting on the provider.
    db.session.close()
    return details


def check_connection(provider_id: int) -> dict[str, Any]:
    """Call the provider's GET /models: reachable or not, HTTP status, latency and model count.

    Never the key and never the provider's body: failures are described by a code and a sentence.
    """
    base_url, key = _connection_details(provider_id)
    started = time.monotonic()
    try:
        listing = provider_client().list_models(
            base_url, key, timeout=current_app.config["AIHELPER_TEST_CONNECTION_TIMEOUT"]
        )
    except ProviderError as error:
        log.warning("connection test of provider %s failed: %s (%s)", provider_id, error.code, error.detail)
        return {
            "ok": False,
            "status": error.status,
            "latency_ms": round((time.monotonic() - started) * 1000),
            "model_count": None,
            "code": error.code,
            "message": provider_error_message(error),
        }
    return {
        "ok": True,
        "status": listing.status,
        "latency_ms": round(listing.latency_ms),
        "model_count": len(listing.model_ids),
        "code": "ok",
        "message": "",
    }


def remote_models(provider_id: int) -> list[dict[str, Any]]:
    """The models the provider lists, each marked whether it is already configured here."""
    configured = set(db.session.scalars(select(ModelConfig.model_id).where(ModelConfig.provider_id == provider_id)))
    base_url, key = _connection_details(provider_id)
    try:
        listing = provider_client().list_models(
            base_url, key, timeout=current_app.config["AIHELPER_TEST_CONNECTION_TIMEOUT"]
        )
    except ProviderError as error:
        log.warning("listing models of provider %s failed: %s (%s)", provider_id, error.code, error.detail)
        raise ProviderFailed(error.code, provider_failure(error)) from None
    return [{"model_id": model_id, "imported": model_id in configured} for model_id in sorted(set(listing.model_ids))]


# --- models -----------------------------------------------------------------------------------


def model_dict(model: ModelConfig) -> dict[str, Any]:
    return {
        "id": model.id,
        "provider_id": model.provider_id,
        "provider_name": model.provider.name,
        "model_id": model.model_id,
        "model_name": model.model_name,
        "description": model.description or "",
        "max_tokens": model.max_tokens,
        "temperature": model.temperature,
        "system_prompt": model.system_prompt or "",
        "context_messages": model.context_messages,
        "status": model.status,
        "sort_order": model.sort_order,
        "price_input": model.price_input,
        "price_output": model.price_output,
        "currency": model.currency,
        "groups": [group.id for group in model.groups],
        "vision": model.vision,
        "context_window": model.context_window,
    }


def list_models() -> list[dict[str, Any]]:
    models = db.session.scalars(
        select(ModelConfig).options(selectinload(ModelConfig.groups)).order_by(ModelConfig.sort_order, ModelConfig.id)
    )
    return [model_dict(m) for m in models]


def get_model(model_config_id: int) -> ModelConfig:
    model = db.session.get(ModelConfig, model_config_id)
    if model is None:
        raise NotFound("not_found", N_("model_config_not_found"))
    return model


def _next_sort_order() -> int:
    return (db.session.scalar(select(func.max(ModelConfig.sort_order))) or 0) + 1


PRICE_MAX = 1_000_000  # per million tokens, in any currency


class _Currency(FieldType):
    """An ISO 4217 code such as USD or CNY (upper-cased)."""

    def validate(self, value: Any) -> str:
        code = value.strip().upper() if isinstance(value, str) else ""
        if not (len(code) == 3 and code.isascii() and code.isalpha()):
            raise refuse("invalid_field", N_("invalid_currency"))
        return code


ModelId = Annotated[str, RequiredText(MODEL_ID_MAX, strip=True), Field(title=N_("field_model_id"))]
ProviderRef = Annotated[int, Number(1, ID_MAX, 0), Field(title=N_("field_provider"))]


class ModelChange(Fields):
    """PUT /api/admin/models/<id> (and the edit form): any of these."""

    provider_id: ProviderRef = 0
    model_id: ModelId = ""
    model_name: Annotated[str | None, OptionalText(NAME_MAX), Field(title=N_("field_model_name"))] = None
    description: Description = None
    max_tokens: Annotated[int, Number(1, 1_000_000, 4096), Field(title=N_("field_max_tokens"))] = 4096
    temperature: Annotated[float, Number(0.0, 2.0, 0.7, decimal=True), Field(title=N_("field_temperature"))] = 0.7
    system_prompt: Annotated[str | None, OptionalText(PROMPT_MAX), Field(title=N_("field_system_prompt"))] = None
    context_messages: Annotated[int, Number(0, 500, 20), Field(title=N_("field_context_messages"))] = 20
    status: StatusChoice = Status.ACTIVE
    sort_order: Annotated[int, Number(-(10**6), 10**6, 0), Field(title=N_("field_sort_order"))] = 0
    price_input: Annotated[float, Number(0, PRICE_MAX, 0, decimal=True), Field(title=N_("field_price_input"))] = 0
    price_output: Annotated[float, Number(0, PRICE_MAX, 0, decimal=True), Field(title=N_("field_price_output"))] = 0
    currency: Annotated[str, _Currency(), Field(title=N_("field_currency"))] = CURRENCY_DEFAULT
    groups: Groups = ()  # none: open to everyone
    vision: Annotated[bool, Flag(), Field(title=N_("field_vision"))] = False
    context_window: Annotated[int, Number(1024, 10_000_000, 32768), Field(title=N_("field_context_window"))] = 32768


class NewModel(ModelChange):
    """POST /api/admin/models (and the new-model form); its place is after the others."""

    provider_id: ProviderRef
    model_id: ModelId


def create_model(new: NewModel) -> ModelConfig:
    get_provider(new.provider_id)
    model = ModelConfig(provider_id=new.provider_id, sort_order=_next_sort_order())
    _apply_model_fields(model, new, set(NewModel.model_fields) - {"provider_id", "sort_order"} | new.model_fields_set)
    audit.record("model.create", model.model_id, audit.created(_audited(model)))
    return _save_model(model)


def update_model(model_config_id: int, change: ModelChange) -> ModelConfig:
    model = get_model(model_config_id)
    before = _audited(model)
    if "provider_id" in change.model_fields_set:
        model.provider_id = get_provider(change.provider_id).id
    _apply_model_fields(model, change, change.model_fields_set - {"provider_id"})
    audit.record("model.update", model.model_id, audit.diff(before, _audited(model)))
    return _save_model(model)


def _audited(model: ModelConfig) -> dict[str, Any]:
    return {
        **audit.snapshot(model, (name for name in ModelChange.model_fields if name != "groups")),
        "groups": sorted(group.id for group in model.groups),
    }


def _apply_model_fields(model: ModelConfig, change: ModelChange, given: set[str]) -> None:
    for name in given - {"model_name", "groups"}:
        setattr(model, name, getattr(change, name))
    if "groups" in given:
        set_model_groups(model, change.groups)
    if "model_name" in given:
        model.model_name = change.model_name or model.model_id


def _save_model(model: ModelConfig) -> ModelConfig:
    db.session.add(model)
    commit_or_conflict(Conflict(N_("model_exists")))
    return model


def delete_model(model_config_id: int) -> None:
    model = get_model(model_config_id)
    audit.record("model.delete", model.model_id)
    db.session.delete(model)
    db.session.commit()


class _ModelIds(FieldType):
    def validate(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(is_text(m) and m.strip() and len(m) <= MODEL_ID_MAX for m in value):
            raise refuse("invalid_field", N_("field_required"))
        return [m.strip() for m in value]


class ModelImport(Fields):
    """POST /api/admin/providers/<id>/import: the provider's model ids to add."""

    model_ids: Annotated[list[str], _ModelIds(), Field(title=N_("field_model_id"))]


class _Order(FieldType):
    def validate(self, value: Any) -> list[int]:
        # An id no row can have is refused like a missing one, before it reaches the database.
        if not isinstance(value, list) or not all(is_id(i) for i in value) or len(value) != len(set(value)):
            raise refuse("invalid_order", N_("invalid_order"))
        return value


class ModelOrder(Fields):
    """PUT /api/admin/models/order: every model's id, in the order wanted."""

    ids: Annotated[list[int], _Order()]


def import_models(provider_id: int, chosen: ModelImport) -> list[ModelConfig]:
    """Add the given provider model ids as models (display name = id); ids already present are skipped."""
    get_provider(provider_id)
    model_ids = chosen.model_ids
    existing = set(db.session.scalars(select(ModelConfig.model_id).where(ModelConfig.provider_id == provider_id)))
    order = _next_sort_order()
    created = []
    for model_id in dict.fromkeys(model_ids):
        if model_id in existing:
            continue
        model = ModelConfig(provider_id=provider_id, model_id=model_id, model_name=model_id, sort_order=order)
        order += 1
        db.session.add(model)
        created.append(model)
    if created:
        provider = get_provider(provider_id)
        audit.record("model.import", provider.name, {"model_ids": [[], [m.model_id for m in created]]})
    db.session.commit()
    return created


def reorder_models(order: ModelOrder) -> None:
    """Give the listed models the sort order of their position (1, 2, 3 …)."""
    model_config_ids = order.ids
    models = {m.id: m for m in db.session.scalars(select(ModelConfig).where(ModelConfig.id.in_(model_config_ids)))}
    if len(models) != len(model_config_ids):
        raise Invalid(N_("invalid_order"))
    before = [m.model_id for m in sorted(models.values(), key=lambda m: (m.sort_order, m.id))]
    for position, model_config_id in enumerate(model_config_ids, start=1):
        models[model_config_id].sort_order = position
    audit.record(
        "model.reorder", "", audit.diff({"order": before}, {"order": [models[i].model_id for i in model_config_ids]})
    )
    db.session.commit()


def open_models(user_id: int):
    """The models a user may chat with: enabled models of enabled providers open to them."""
    return (
        select(ModelConfig)
        .join(ApiProvider, ApiProvider.id == ModelConfig.provider_id)
        .where(
            ModelConfig.status == Status.ACTIVE,
            ApiProvider.status == Status.ACTIVE,
            model_open_to(ModelConfig.id, user_id),
        )
    )


def available_models(user_id: int) -> dict[str, Any]:
    """What a user may chat with (GET /api/models): the open models in order, grouped by
    provider; no base URL, no key."""
    rows = db.session.execute(
        open_models(user_id).add_columns(ApiProvider.name).order_by(ModelConfig.sort_order, ModelConfig.id)
    ).all()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for model, provider_name in rows:
        grouped.setdefault(provider_name, []).append(
            {
                "id": model.id,
                "model_id": model.model_id,
                "model_name": model.model_name,
                "description": model.description or "",
                "max_tokens": model.max_tokens,
            }
        )
    return {"models": [model.model_id for model, _ in rows], "providers": grouped}
