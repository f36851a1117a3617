"""Small actions the tests repeat: registering, logging in, reading a page's embedded data."""

from __future__ import annotations

import json
import re

PASSWORD = "correct-horse-42"


def register(client, username: str, password: str = PASSWORD, **extra):
    return client.post("/api/register", json={"username": username, "password": password, **extra})


def login(client, username: str, password: str = PASSWORD):
    return client.post("/api/login", json={"username": username, "password": password})


def page_data(html: str) -> dict:
    """The JSON a Jinja page hands to its Vue component."""
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert match, "the page has no page-data block"
    return json.loads(match.group(1))


def session_cookie(client) -> str:
    cookie = client.get_cookie("aihelper_session")
    assert cookie is not None, "no session cookie was set"
    return cookie.value
