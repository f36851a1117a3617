"""Shared links (API.md "Sharing and presets"): making, listing and revoking them, the read-only
page /s/<share_id> that needs no login, and continuing a shared conversation in one's account."""

from flask import Blueprint

bp = Blueprint("shares", __name__)

from aihelper.shares import views  # noqa: E402,F401  (routes register on import)
