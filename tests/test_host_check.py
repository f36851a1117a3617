"""DNS rebinding (SECURITY.md rule 6): a request for a host name the operator did not configure is
refused before the app does anything with it, so a page on a domain pointed at this server can't
drive it; the names a server is really reached by keep working."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from aihelper import create_app
from aihelper.extensions import db
from aihelper.models import User
from tests.fixtures.actions import PASSWORD, register

REBINDING_HOST = "rebind.attacker.example"


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_a_rebinding_page_cannot_claim_the_first_admin_of_a_fresh_install(client, app):
    response = client.post(
        "/api/register",
        json={"username": "intruder", "password": PASSWORD},
        headers={"Host": REBINDING_HOST, "Origin": f"http://{REBINDING_HOST}"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "bad_host"
    assert user_count(app) == 0
    # Refused before the app ran: no session, no request id, no login.
    assert "Set-Cookie" not in response.headers
    assert "X-Request-ID" not in response.headers
    assert register(client, "owner").json["user"]["is_admin"] is True


def test_a_page_for_an_unknown_host_is_a_small_plain_refusal(client):
    response = client.get("/login", headers={"Host": REBINDING_HOST, "Accept-Language": "en"})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert "host name" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_refused_api_request_is_answered_in_the_callers_language(client):
    chinese = client.get("/api/user/info", headers={"Host": REBINDING_HOST})
    english = client.get("/api/user/info", headers={"Host": REBINDING_HOST, "Accept-Language": "en"})
    assert chinese.json["code"] == english.json["code"] == "bad_host"
    assert chinese.json["error"] != english.json["error"]
    assert "host name" in english.json["error"]


def test_a_websocket_handshake_for_an_unknown_host_is_refused(client):
    register(client, "socket_owner")
    response = client.get("/ws/chat", headers={"Host": REBINDING_HOST, "Origin": f"http://{REBINDING_HOST}"})
    assert (response.status_code, response.json["code"]) == (400, "bad_host")


def test_the_live_server_refuses_a_rebinding_websocket_handshake_and_answers_its_own_address(live_server):
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    refused = requests.get(live_server.url + "/ws/chat", headers={**handshake, "Host": REBINDING_HOST}, timeout=10)
    assert (refused.status_code, refused.json()["code"]) == (400, "bad_host")
    # The live server is reached as 127.0.0.1:<port>, and by that name it answers.
    assert requests.get(live_server.url + "/login", timeout=10).status_code == 200
    assert requests.get(live_server.url + "/ws/chat", headers=handshake, timeout=10).status_code == 401


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST."])
def test_loopback_names_are_always_allowed(client, host):
    assert client.get("/login", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["localhost..", "localhost..:8000", "a..b", ".localhost", ".."])
@pytest.mark.parametrize("path", ["/api/user/info", "/login"])
def test_a_host_with_an_empty_label_is_refused_not_a_server_error(client, host, path):
    """One final dot is DNS's root ("localhost." is localhost); more leave an empty label."""
    response = client.get(path, headers={"Host": host, "Accept-Language": "en"})
    assert response.status_code == 400
    assert "host name" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/user/info", "/login"])
def test_a_configured_name_werkzeug_cannot_encode_is_refused_not_a_server_error(app, monkeypatch, path):
    """A label longer than DNS allows passes the wildcard, and then Werkzeug can build no URLs for
    the request: its error page, which links its stylesheet by URL, must still be an answer."""
    monkeypatch.setitem(app.config, "AIHELPER_ALLOWED_HOSTS", "*.corp.example")
    client = app.test_client(use_cookies=False)  # the test client's cookie jar can't parse that Host either
    response = client.get(path, headers={"Host": "a" * 64 + ".corp.example", "Accept-Language": "en"})
    assert response.status_code == 400
    assert "host name" in response.get_data(as_text=True)
    if path.startswith("/api/"):
        assert response.json["code"] == "bad_host"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("chat.example.com", True),
        ("Chat.Example.COM:8443", True),
        ("team.corp.example", True),
        ("a.b.corp.example", True),
        ("corp.example", False),
        ("chat.example.com.evil.example", False),
        ("evilchat.example.com", False),
    ],
)
def test_configured_names_and_subdomain_wildcards_are_allowed(client, app, monkeypatch, host, allowed):
    monkeypatch.setitem(app.config, "AIHELPER_ALLOWED_HOSTS", "chat.example.com, *.corp.example")
    assert (client.get("/login", headers={"Host": host}).status_code == 200) is allowed


@pytest.mark.parametrize(
    ("listening_on", "host", "allowed"),
    [
        ("192.0.2.10", "192.0.2.10:8000", True),
        ("192.0.2.10", "192.0.2.11", False),
        ("0.0.0.0", "192.0.2.11:8000", True),
        ("::", "[2001:db8::5]:8000", True),
        ("0.0.0.0", REBINDING_HOST, False),
    ],
)
def test_the_address_the_server_listens_on_is_allowed_as_an_ip(client, listening_on, host, allowed):
    """A load balancer's health check, or a person typing the server's IP, reaches it by address."""
    response = client.get("/login", headers={"Host": host}, environ_overrides={"SERVER_NAME": listening_on})
    assert (response.status_code == 200) is allowed


def test_behind_a_proxy_the_forwarded_host_is_the_one_checked(app, database_url, instance_dir):
    proxied = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AIHELPER_PROXY_FIX": 1,
            "AIHELPER_ALLOWED_HOSTS": "chat.example.com",
            "AIHELPER_CREATE_SCHEMA_ON_START": False,
            "RATELIMIT_ENABLED": app.config["RATELIMIT_ENABLED"],
        },
        instance_path=str(instance_dir),
    ).test_client()
    # The proxy reaches the app at 127.0.0.1; what counts is the name the browser used.
    proxy = {"Host": "127.0.0.1:8000", "X-Forwarded-Proto": "https"}
    assert proxied.get("/login", headers={**proxy, "X-Forwarded-Host": "chat.example.com"}).status_code == 200
    assert proxied.get("/login", headers={**proxy, "X-Forwarded-Host": REBINDING_HOST}).status_code == 400
    # ProxyFix copies the forwarded name into SERVER_NAME; the listening address is still 127.0.0.1.
    assert proxied.get("/login", headers={**proxy, "X-Forwarded-Host": "203.0.113.5"}).status_code == 400
