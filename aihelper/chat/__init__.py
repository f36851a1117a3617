"""The chat page."""

from flask import Blueprint

bp = Blueprint("chat", __name__)

from aihelper.chat import api, pages, socket  # noqa: E402,F401  (routes register on import)
