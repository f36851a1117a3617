"""Conversation history: the list, one conversation, the time-range filter and deletion (API.md §3)."""

from flask import Blueprint

bp = Blueprint("history", __name__)

from aihelper.history import api  # noqa: E402,F401  (routes register on import)
