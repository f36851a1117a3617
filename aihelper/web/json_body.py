"""Reading JSON request bodies into plain values, with errors a person can read."""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from aihelper.failures import Invalid
from aihelper.i18n import N_

log = logging.getLogger(__name__)


class BodyJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested deeper than the parser can follow is a 400
    `bad_json`: json raises RecursionError, which `get_json(silent=True)` lets through as a 500,
    and so does every other reader of the body (Flask-WTF reads a page form's JSON body too)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            log.warning("refused a JSON body nested too deeply to parse")
            raise Invalid(N_("bad_json")) from None


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 error."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(N_("invalid_json"))
    return body
