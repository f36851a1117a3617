"""Accounts: the login and register pages and the account JSON API."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from aihelper.auth import api, pages  # noqa: E402,F401  (routes register on import)
