"""Security headers on every response, and errors that reveal nothing internal."""

from __future__ import annotations

import logging
import re

import pytest

from aihelper.errors import message_of, status_of
from aihelper.failures import Failure, Invalid, Term
from aihelper.i18n import N_, speaking
from aihelper.services import accounts
from tests.fixtures.actions import PASSWORD, register


@pytest.mark.parametrize("path", ["/login", "/register", "/api/user/info", "/no-such-page", "/static/css/app.css"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in script_src
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers["X-Request-ID"]


def test_pages_load_nothing_from_other_servers(client):
    register(client, "uma")
    for path in ("/", "/login", "/register"):
        if path != "/":
            client.post("/api/logout")
        html = client.get(path).get_data(as_text=True)
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/"), f"{path} loads {url}"
        assert "<script>" not in html, "no inline scripts"


def test_every_referenced_asset_exists_and_is_versioned(client):
    html = client.get("/login").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert "?v=" in url
        assert client.get(url).status_code == 200, url


def test_api_errors_are_json_with_a_code(client):
    missing = client.get("/api/no-such-endpoint")
    assert missing.status_code == 404
    assert set(missing.json) == {"error", "code"}
    wrong_method = client.get("/api/login")
    assert (wrong_method.status_code, wrong_method.json["code"]) == (405, "method_not_allowed")


def test_page_errors_are_friendly_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "找不到请求的内容" in response.get_data(as_text=True)


def test_an_unexpected_error_reveals_nothing_and_is_logged_with_its_request_id(client, monkeypatch):
    secret_detail = "SELECT password_hash FROM users -- sk-live-SECRET123"

    def explode(*_args, **_kwargs):
        raise RuntimeError(secret_detail)

    monkeypatch.setattr(accounts, "authenticate", explode)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("aihelper").addHandler(handler)
    try:
        response = client.post("/api/login", json={"username": "vera", "password": PASSWORD})
    finally:
        logging.getLogger("aihelper").removeHandler(handler)
    assert response.status_code == 500
    assert response.json["code"] == "internal_error"
    body = response.get_data(as_text=True)
    assert "SECRET123" not in body and "Traceback" not in body and "SELECT" not in body
    request_id = response.headers["X-Request-ID"]
    assert request_id in response.json["error"]
    logged = [r for r in records if r.exc_info]
    assert logged and request_id in logged[0].getMessage()
    assert secret_detail in str(logged[0].exc_info[1])


def test_a_forged_request_id_is_replaced(client):
    forged = client.get("/login", headers={"X-Request-ID": "abc INFO [admin] fake log line"})
    assert forged.headers["X-Request-ID"] != "abc"
    assert "fake" not in forged.headers["X-Request-ID"]
    kept = client.get("/login", headers={"X-Request-ID": "proxy-id-123"})
    assert kept.headers["X-Request-ID"] == "proxy-id-123"


def test_versioned_static_files_are_compressed_and_cached_for_a_year(client):
    import gzip
    import re

    html = client.get("/login").get_data(as_text=True)
    script = re.search(r'src="(/static/vendor/vue/[^"]+\?v=[0-9a-f]+)"', html).group(1)
    response = client.get(script, headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]
    plain = client.get(script.split("?")[0])
    assert gzip.decompress(response.data) == plain.data
    assert "immutable" not in plain.headers.get("Cache-Control", "")
    assert len(response.data) < len(plain.data) / 2


# Deeper than any JSON parser recurses: Python's json gives up with a RecursionError.
DEEPLY_NESTED = "[" * 100000


def assert_refused_as_bad_json(response, app_log) -> None:
    assert response.status_code == 400
    assert response.json["code"] == "bad_json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert [r.exc_info for r in app_log if "nested" in r.getMessage()] == [None]  # one line, no traceback


def test_a_deeply_nested_body_to_the_login_api_is_a_400_logged_in_one_line(client, app_log):
    response = client.post("/api/login", data=DEEPLY_NESTED, content_type="application/json")
    assert_refused_as_bad_json(response, app_log)


def test_a_deeply_nested_body_to_an_authenticated_json_endpoint_is_a_400(client, app_log):
    register(client, "nester")
    response = client.post("/api/chat/history/time-range", data=DEEPLY_NESTED, content_type="application/json")
    assert_refused_as_bad_json(response, app_log)
    assert client.get("/api/user/info").json["username"] == "nester"


@pytest.mark.parametrize("page", ["/login", "/register"])
def test_a_deeply_nested_json_post_to_a_form_page_is_a_400(client, app_log, page):
    from tests.fixtures.actions import page_data

    token = page_data(client.get(page).get_data(as_text=True))["csrf_token"]
    response = client.post(page, data=DEEPLY_NESTED, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert [r.exc_info for r in app_log if "nested" in r.getMessage()] == [None]


def test_pages_are_never_stored_by_a_cache_but_static_files_keep_their_caching(client):
    register(client, "cacheless")
    for path in ("/", "/admin", "/no-such-page"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    client.post("/api/logout")
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Cache-Control"] == "no-store"  # the redirect to the login page
    html = client.get("/login").get_data(as_text=True)
    versioned = re.search(r'href="(/static/css/[^"]+\?v=[0-9a-f]+)"', html).group(1)
    assert "max-age=31536000" in client.get(versioned).headers["Cache-Control"]
    assert "no-store" not in client.get(versioned.split("?")[0]).headers["Cache-Control"]


@pytest.mark.parametrize("kind", Failure.__subclasses__(), ids=lambda kind: kind.__name__)
def test_every_kind_of_failure_has_its_http_status(kind):
    assert 400 <= status_of(kind("some_code")) < 600


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "The title may be at most 200 characters long."), ("zh", "标题不能超过 200 个字符")],
)
def test_a_failure_is_worded_in_the_language_of_whoever_reads_it(app, language, message):
    too_long = Invalid(N_("too_long"), field=Term(N_("field_title")), limit=200)
    with app.app_context(), speaking(language):
        assert message_of(too_long) == message
