"""/api/presets: the presets a user sees, and their own (or, for admins, published) ones changed."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext
from flask_login import current_user, login_required

from aihelper.chat import bp
from aihelper.services import presets
from aihelper.validation import read
from aihelper.web.json_body import json_object


@bp.get("/api/presets")
@login_required
def api_list_presets():
    return jsonify(presets=presets.list_presets(current_user))


@bp.post("/api/presets")
@login_required
def api_create_preset():
    preset = presets.create_preset(current_user, read(presets.NewPreset, json_object()))
    return jsonify(presets.preset_json(preset, current_user)), 201


@bp.put("/api/presets/<id:preset_id>")
@login_required
def api_update_preset(preset_id: int):
    preset = presets.update_preset(current_user, preset_id, read(presets.PresetChange, json_object()))
    return jsonify(presets.preset_json(preset, current_user))


@bp.delete("/api/presets/<id:preset_id>")
@login_required
def api_delete_preset(preset_id: int):
    presets.delete_preset(current_user, preset_id)
    return jsonify(message=gettext("deleted"))
