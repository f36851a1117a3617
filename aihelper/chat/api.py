"""GET /api/models: the models a logged-in user may chat with."""

from __future__ import annotations

from flask import jsonify
from flask_login import login_required

from aihelper.chat import bp
from aihelper.services import providers


@bp.get("/api/models")
@login_required
def available_models():
    return jsonify(providers.available_models())
