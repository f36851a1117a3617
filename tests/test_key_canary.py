"""The canary: a provider key never appears in any response, page, log line or raw database column.

Runs on the gunicorn live server so that its real log output is checked too.
"""

from __future__ import annotations

import re
import secrets

import requests
from sqlalchemy import text

from aihelper.extensions import db
from tests.helpers import PASSWORD


def logged_in(base_url: str, username: str) -> requests.Session:
    client = requests.Session()
    response = client.post(base_url + "/api/register", json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 201
    return client


def everything_an_admin_can_read(base_url: str, admin: requests.Session, provider_id: int) -> list[str]:
    pages = ["/", "/admin", "/admin/providers", "/admin/models", "/admin/users", "/admin/settings"]
    apis = [
        "/api/models",
        "/api/user/info",
        "/api/admin/providers",
        "/api/admin/models",
        "/api/admin/users",
        "/api/admin/settings",
        "/api/admin/stats",
        f"/api/admin/providers/{provider_id}/remote-models",
    ]
    bodies = [admin.get(base_url + path, timeout=10).text for path in pages + apis]
    bodies.append(admin.post(base_url + f"/api/admin/providers/{provider_id}/test", json={}, timeout=10).text)
    return bodies


def test_the_canary_key_never_leaves_where_it_belongs(live_server, app, fake_provider):
    canary = f"sk-canary-{secrets.token_hex(12)}"
    url = live_server.url
    admin = logged_in(url, "canary_admin")
    user = logged_in(url, "canary_user")

    # A provider that accepts the key, and one whose 401 answer repeats the key it was given.
    fake_provider.expected_key = canary
    good = admin.post(
        url + "/api/admin/providers",
        json={"name": "Good", "base_url": fake_provider.base_url, "api_key": canary},
        timeout=10,
    )
    assert good.status_code == 201
    provider_id = good.json()["id"]
    imported = admin.post(
        url + f"/api/admin/providers/{provider_id}/import", json={"model_ids": ["fake-model"]}, timeout=10
    )
    assert imported.status_code == 201
    assert admin.post(url + f"/api/admin/providers/{provider_id}/test", json={}, timeout=10).json()["ok"] is True
    assert fake_provider.requests[-1]["headers"]["Authorization"] == f"Bearer {canary}", (
        "the key does reach its provider"
    )

    fake_provider.expected_key = "sk-something-else"
    fake_provider.echo_key_in_errors = True
    failing = admin.post(url + f"/api/admin/providers/{provider_id}/test", json={}, timeout=10)
    assert failing.json()["code"] == "unauthorized"

    seen = everything_an_admin_can_read(url, admin, provider_id)
    seen += [user.get(url + path, timeout=10).text for path in ("/", "/api/models", "/api/user/info")]
    seen.append(failing.text)
    for body in seen:
        assert canary not in body
        assert canary[-12:] not in body, "not even most of it"

    with app.app_context():
        raw = db.session.execute(text("SELECT api_key FROM api_providers")).scalar()
    assert canary not in raw

    log = live_server.log()
    assert "test of provider" in log or re.search(r"unauthorized", log), "the failure was logged"
    assert canary not in log
