"""Reading JSON request bodies into plain values, with errors a person can read."""

from __future__ import annotations

from typing import Any

from flask import request

from aihelper.errors import ApiError
from aihelper.i18n import t


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 error."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", t("invalid_json"))
    return body
