"""Every admin route, page or API, refuses anonymous visitors and ordinary users.

The routes are read from app.url_map, so a new admin route is checked without touching this file.
"""

from __future__ import annotations

import re

import pytest

from tests.fixtures.actions import make_admin_and_user, page_data

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def admin_routes(app) -> list[tuple[str, str, bool]]:
    """(method, concrete url, is_api) for every admin endpoint, with 1 for each id."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        url = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        for method in sorted(rule.methods - IGNORED_METHODS):
            routes.append((method, url, url.startswith("/api/")))
    return routes


def call(client, method: str, url: str, is_api: bool, csrf_token: str | None = None):
    if is_api:
        return client.open(url, method=method, json={} if method != "GET" else None)
    data = {"csrf_token": csrf_token} if method == "POST" and csrf_token else None
    return client.open(url, method=method, data=data)


def test_there_are_admin_routes_to_check(app):
    routes = admin_routes(app)
    assert ("GET", "/admin", False) in routes
    assert ("DELETE", "/api/admin/users/1", True) in routes
    assert len(routes) >= 30


def test_anonymous_visitors_get_401_or_the_login_page(app, client):
    for method, url, is_api in admin_routes(app):
        response = call(client, method, url, is_api)
        if is_api:
            assert response.status_code == 401, (method, url)
            assert response.json["code"] == "unauthorized"
        elif method == "GET":
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/login")
        else:
            # A form post without a session has no CSRF token either: refused before anything runs.
            assert response.status_code in (400, 302), (method, url)


def test_ordinary_users_get_403_everywhere(app):
    _admin, user = make_admin_and_user(app)
    token = page_data(user.get("/").get_data(as_text=True))["csrf_token"]
    for method, url, is_api in admin_routes(app):
        response = call(user, method, url, is_api, token)
        assert response.status_code == 403, (method, url, response.status_code)


@pytest.mark.parametrize("path", ["/admin", "/admin/providers", "/admin/models", "/admin/users", "/admin/settings"])
def test_admins_get_every_page(app, path):
    admin, _user = make_admin_and_user(app)
    response = admin.get(path)
    assert response.status_code == 200
    assert page_data(response.get_data(as_text=True))["section"] in path or path == "/admin"


def test_a_demoted_admin_loses_access_on_the_next_request(app):
    admin, _user = make_admin_and_user(app)
    second = app.test_client()
    from tests.fixtures.actions import register

    second_id = register(second, "second_admin").json["user"]["id"]
    assert admin.put(f"/api/admin/users/{second_id}", json={"is_admin": True}).status_code == 200
    assert second.get("/api/admin/users").status_code == 200
    assert admin.put(f"/api/admin/users/{second_id}", json={"is_admin": False}).status_code == 200
    assert second.get("/api/admin/users").status_code == 403
