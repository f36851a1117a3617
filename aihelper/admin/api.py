"""/api/admin/*: providers, models, users, groups and settings as JSON (the original system's admin API)."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_babel import gettext
from flask_login import current_user

from aihelper.admin import bp
from aihelper.services import admin_users, audit, groups, providers, settings, shares, stats, usage_report
from aihelper.shares.views import with_url
from aihelper.validation import read
from aihelper.web.json_body import json_object


@bp.get("/api/admin/providers")
def api_list_providers():
    return jsonify(providers=providers.list_providers())


@bp.post("/api/admin/providers")
def api_create_provider():
    return jsonify(providers.provider_dict(providers.create_provider(read(providers.NewProvider, json_object())))), 201


@bp.put("/api/admin/providers/<id:provider_id>")
def api_update_provider(provider_id: int):
    return jsonify(
        providers.provider_dict(providers.update_provider(provider_id, read(providers.ProviderChange, json_object())))
    )


@bp.delete("/api/admin/providers/<id:provider_id>")
def api_delete_provider(provider_id: int):
    providers.delete_provider(provider_id)
    return jsonify(message=gettext("deleted"))


@bp.post("/api/admin/providers/<id:provider_id>/test")
def api_check_provider(provider_id: int):
    return jsonify(providers.check_connection(provider_id))


@bp.get("/api/admin/providers/<id:provider_id>/remote-models")
def api_remote_models(provider_id: int):
    return jsonify(models=providers.remote_models(provider_id))


@bp.post("/api/admin/providers/<id:provider_id>/import")
def api_import_models(provider_id: int):
    created = providers.import_models(provider_id, read(providers.ModelImport, json_object()))
    return jsonify(models=[providers.model_dict(m) for m in created]), 201


@bp.get("/api/admin/models")
def api_list_models():
    return jsonify(models=providers.list_models())


@bp.post("/api/admin/models")
def api_create_model():
    return jsonify(providers.model_dict(providers.create_model(read(providers.NewModel, json_object())))), 201


@bp.put("/api/admin/models/order")
def api_reorder_models():
    providers.reorder_models(read(providers.ModelOrder, json_object()))
    return jsonify(models=providers.list_models())


@bp.put("/api/admin/models/<id:model_config_id>")
def api_update_model(model_config_id: int):
    return jsonify(
        providers.model_dict(providers.update_model(model_config_id, read(providers.ModelChange, json_object())))
    )


@bp.delete("/api/admin/models/<id:model_config_id>")
def api_delete_model(model_config_id: int):
    providers.delete_model(model_config_id)
    return jsonify(message=gettext("deleted"))


@bp.get("/api/admin/users")
def api_list_users():
    return jsonify(users=admin_users.list_users())


@bp.post("/api/admin/users")
def api_create_user():
    return jsonify(admin_users.user_dict(admin_users.create_user(read(admin_users.NewUser, json_object())))), 201


@bp.put("/api/admin/users/<id:user_id>")
def api_update_user(user_id: int):
    return jsonify(
        admin_users.user_dict(
            admin_users.update_user(current_user, user_id, read(admin_users.UserChange, json_object()))
        )
    )


@bp.delete("/api/admin/users/<id:user_id>")
def api_delete_user(user_id: int):
    admin_users.delete_user(current_user, user_id)
    return jsonify(message=gettext("deleted"))


@bp.get("/api/admin/groups")
def api_list_groups():
    return jsonify(groups=groups.list_groups())


@bp.post("/api/admin/groups")
def api_create_group():
    group = groups.create_group(read(groups.NewGroup, json_object()))
    return jsonify(groups.group_json(group, 0)), 201


@bp.put("/api/admin/groups/<id:group_id>")
def api_update_group(group_id: int):
    group = groups.update_group(group_id, read(groups.GroupChange, json_object()))
    return jsonify(groups.group_json(group, groups.member_count(group.id)))


@bp.delete("/api/admin/groups/<id:group_id>")
def api_delete_group(group_id: int):
    groups.delete_group(group_id)
    return jsonify(message=gettext("deleted"))


@bp.get("/api/admin/settings")
def api_get_settings():
    return jsonify(settings.all_settings())


@bp.put("/api/admin/settings")
def api_update_settings():
    return jsonify(settings.update_settings(read(settings.SettingsChange, json_object())))


@bp.get("/api/admin/usage")
def api_usage():
    return jsonify(rows=usage_report.usage_rows(read(usage_report.UsageQuery, request.args.to_dict())))


@bp.get("/api/admin/usage.csv")
def api_usage_csv():
    query = read(usage_report.UsageQuery, request.args.to_dict())
    first, last = usage_report.days_of(query)
    return Response(
        usage_report.usage_csv(usage_report.usage_rows(query)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="usage-{query.by}-{first}-{last}.csv"'},
    )


@bp.get("/api/admin/audit")
def api_audit():
    return jsonify(entries=audit.entries(read(audit.AuditQuery, request.args.to_dict())))


@bp.get("/api/admin/stats")
def api_dashboard_stats():
    return jsonify(stats.dashboard_counts())


@bp.get("/api/admin/shares")
def api_list_shares():
    query = read(shares.AdminSharesQuery, request.args.to_dict())
    return jsonify(shares=[with_url(link) for link in shares.all_shares(query)])


@bp.delete("/api/admin/shares/<share_id>")
def api_revoke_share(share_id: str):
    shares.admin_revoke(share_id)
    return jsonify(message=gettext("share_revoked"))
