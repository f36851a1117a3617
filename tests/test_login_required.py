"""Every route but the few meant for visitors needs a login: an API call answers 401 `unauthorized`,
a page sends the visitor to the login page and back. The routes are read from app.url_map, so a new
route is checked without touching this file (admin routes: test_admin_access.py)."""

from __future__ import annotations

import re

# What a visitor without a login may reach: logging in, registering, logging out, the health checks,
# the pages' strings, static files, a shared link's page and snapshot (test_shares.py), and the
# metrics, which take a bearer token instead (test_metrics_and_logs.py).
PUBLIC = {
    "i18n.page_catalog",
    "auth.api_login",
    "auth.api_register",
    "auth.api_logout",
    "auth.login",
    "auth.register",
    "auth.logout",
    "health.healthz",
    "health.readyz",
    "metrics.metrics",
    "shares.api_view",
    "shares.page",
    "static",
}


def member_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, concrete url) of every route that needs a login, 1 for each row id and
    "x1" for every other variable."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith("admin."):
            continue
        url = re.sub(r"<(?:\w+:)?\w+>", "x1", re.sub(r"<id:\w+>", "1", rule.rule))
        routes.extend((rule.endpoint, method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return routes


def test_the_routes_that_need_a_login_are_found(app):
    found = {(method, url) for _endpoint, method, url in member_routes(app)}
    assert {
        ("GET", "/"),
        ("GET", "/api/chat/history"),
        ("GET", "/ws/chat"),
        ("DELETE", "/api/chat/session/x1"),
    } <= found
    assert len(found) >= 15


def test_a_visitor_without_a_login_is_refused_everywhere_else(app, client):
    for endpoint, method, url in member_routes(app):
        api = url.startswith(("/api/", "/ws/"))
        response = client.open(url, method=method, json={} if api and method != "GET" else None)
        if api:
            assert (response.status_code, response.json["code"]) == (401, "unauthorized"), (endpoint, method)
        else:
            assert response.status_code == 302, (endpoint, method)
            assert response.headers["Location"] == "/login?next=" + url, (endpoint, method)
