"""Providers and models through the admin API, the connection test, import, order, and what users see."""

from __future__ import annotations

from sqlalchemy import select, text

from aihelper.extensions import db
from aihelper.models import ApiProvider
from tests.fixtures.actions import add_provider, make_admin_and_user, page_data
from tests.fixtures.fake_provider import FakeProvider


def test_a_provider_key_is_write_only_and_shown_as_a_hint(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    created = add_provider(admin, fake_provider.base_url, api_key="sk-abcdefghijklmnopqrstuvwx3f9a")
    assert created["api_key_hint"] == "sk-…3f9a"
    assert created["key_status"] == "set"
    assert "api_key" not in created
    assert set(created) >= {
        "id",
        "name",
        "base_url",
        "api_key_hint",
        "description",
        "status",
        "create_time",
        "update_time",
    }
    # An empty key keeps the stored one, a new key replaces it.
    kept = admin.put(f"/api/admin/providers/{created['id']}", json={"api_key": "", "description": "d"}).json
    assert kept["api_key_hint"] == "sk-…3f9a" and kept["description"] == "d"
    replaced = admin.put(
        f"/api/admin/providers/{created['id']}", json={"api_key": "sk-zyxwvutsrqponmlkjihgfedc0000"}
    ).json
    assert replaced["api_key_hint"] == "sk-…0000"


def test_the_key_hint_never_shows_more_than_a_quarter_of_the_key(app, fake_provider):
    """At most the last 4 characters, fewer for a short key, and the vendor prefix (`sk-`) only where
    it still fits: however short the key, the hint never gives most of it away."""
    admin, _user = make_admin_and_user(app)
    long_key = "sk-" + "x" * 44 + "3f9a"
    for key, hint in (
        ("k", "…"),
        ("abcd", "…d"),
        ("sk-abcde", "…de"),
        ("sk-0123456789abc", "…9abc"),
        (long_key, "sk-…3f9a"),
    ):
        created = add_provider(admin, fake_provider.base_url, api_key=key, name=f"Key of {len(key)}")
        assert created["api_key_hint"] == hint, key
        shown = hint.replace("…", "")
        assert len(shown) <= len(key) // 4 and key.endswith(hint.split("…")[1])
    assert len(long_key) == 51


KEY = "sk-for-the-first-host-00000000000000000042"


def test_a_base_url_moved_to_another_host_clears_the_key_unless_one_comes_with_it(app):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, "https://api.example.com/v1", api_key=KEY)
    url = f"/api/admin/providers/{provider['id']}"

    # The same place, written differently, keeps the key.
    for same_host in (
        "https://api.example.com/v2/openai",  # another path
        "https://API.Example.COM/v1",  # the host's case
        "https://api.example.com:443/v1",  # the default port, spelt out
        "https://api.example.com./v1/",  # a fully qualified name, a trailing slash
    ):
        kept = admin.put(url, json={"base_url": same_host}).json
        assert (kept["key_status"], kept["api_key_hint"]) == ("set", "sk-…0042"), same_host

    # Anywhere else would receive a key given for that host, so it is cleared.
    for elsewhere in (
        "https://api.example.com:8443/v1",  # the same host, another port: another server
        "http://api.example.com/v1",  # another scheme
        "https://evil.example.net/v1",  # another host
        "https://api.example.com.evil.example.net/v1",
    ):
        admin.put(url, json={"base_url": "https://api.example.com/v1", "api_key": KEY})
        moved = admin.put(url, json={"base_url": elsewhere, "description": "moved"}).json
        assert (moved["key_status"], moved["api_key_hint"]) == ("needs_reentry", ""), elsewhere
        assert moved["base_url"] == elsewhere.rstrip("/") and moved["description"] == "moved"
        listed = admin.get("/api/admin/providers").json["providers"][0]
        assert (listed["key_status"], listed["api_key_hint"]) == ("needs_reentry", "")

    # A key that comes with the move is the new host's key.
    admin.put(url, json={"base_url": "https://api.example.com/v1", "api_key": KEY})
    rekeyed = admin.put(url, json={"base_url": "https://other.example.org/v1", "api_key": "sk-" + "9" * 40}).json
    assert (rekeyed["key_status"], rekeyed["api_key_hint"]) == ("set", "sk-…9999")
    # An empty key does not count as one (a page form always sends the field).
    emptied = admin.put(url, json={"base_url": "https://third.example.org/v1", "api_key": ""}).json
    assert emptied["key_status"] == "needs_reentry"


def test_a_provider_without_a_key_moves_without_one(app):
    admin, _user = make_admin_and_user(app)
    ollama = admin.post("/api/admin/providers", json={"name": "Ollama", "base_url": "http://127.0.0.1:11434/v1"}).json
    assert ollama["key_status"] == "missing"
    moved = admin.put(f"/api/admin/providers/{ollama['id']}", json={"base_url": "http://10.0.0.7:11434/v1"}).json
    assert (moved["key_status"], moved["api_key_hint"]) == ("missing", "")


def test_a_moved_provider_is_not_called_until_its_key_is_entered_again(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    fake_provider.expected_key = KEY
    provider = add_provider(admin, fake_provider.base_url, api_key=KEY)
    assert admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json["ok"] is True
    with FakeProvider() as new_host:
        admin.put(f"/api/admin/providers/{provider['id']}", json={"base_url": new_host.base_url})
        for response in (
            admin.post(f"/api/admin/providers/{provider['id']}/test", json={}),
            admin.get(f"/api/admin/providers/{provider['id']}/remote-models"),
        ):
            assert (response.status_code, response.json["code"]) == (409, "key_needs_reentry")
            assert KEY not in response.get_data(as_text=True)
        assert new_host.requests == [], "neither the key nor a call without it went to the new host"
        new_host.expected_key = "sk-the-new-hosts-own-key-0000000001"
        admin.put(f"/api/admin/providers/{provider['id']}", json={"api_key": new_host.expected_key})
        assert admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json["ok"] is True
        assert [r["headers"]["Authorization"] for r in new_host.requests] == [f"Bearer {new_host.expected_key}"]


def test_the_provider_form_clears_the_key_of_a_moved_provider_too(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, fake_provider.base_url, api_key=KEY)
    token = page_data(admin.get("/admin/providers").get_data(as_text=True))["csrf_token"]
    form = {"name": "Fake", "base_url": "https://elsewhere.example.com/v1", "api_key": "", "status": "active"}
    assert admin.post(f"/admin/providers/{provider['id']}", data={**form, "csrf_token": token}).status_code == 302
    listed = page_data(admin.get("/admin/providers").get_data(as_text=True))["providers"][0]
    assert (listed["base_url"], listed["key_status"], listed["api_key_hint"]) == (form["base_url"], "needs_reentry", "")


def test_provider_fields_are_checked(app):
    admin, _user = make_admin_and_user(app)
    for body, code in (
        ({"name": "", "base_url": "https://api.deepseek.com/v1"}, "missing_field"),
        ({"name": "X", "base_url": "ftp://example.com"}, "base_url_invalid"),
        ({"name": "X", "base_url": "not a url"}, "base_url_invalid"),
        ({"name": "X", "base_url": "https://user:pw@example.com/v1"}, "base_url_invalid"),
        ({"name": "X", "base_url": "https://api.deepseek.com/v1", "status": "maybe"}, "invalid_status"),
        ({"name": "X" * 101, "base_url": "https://api.deepseek.com/v1"}, "too_long"),
    ):
        response = admin.post("/api/admin/providers", json=body)
        assert (response.status_code, response.json["code"]) == (400, code), body
    add_provider(admin, "https://api.deepseek.com/v1/", name="DeepSeek")
    duplicate = admin.post("/api/admin/providers", json={"name": "DeepSeek", "base_url": "https://x.example/v1"})
    assert duplicate.status_code == 409
    assert admin.get("/api/admin/providers").json["providers"][0]["base_url"] == "https://api.deepseek.com/v1"


def test_connection_test_reports_status_latency_and_model_count(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    fake_provider.expected_key = "sk-right-key-123456"
    provider = add_provider(admin, fake_provider.base_url, api_key="sk-right-key-123456")
    result = admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json
    assert result["ok"] is True
    assert result["status"] == 200
    assert result["model_count"] == 2
    assert isinstance(result["latency_ms"], int)
    request = fake_provider.requests[-1]
    assert (request["method"], request["path"]) == ("GET", "/v1/models")
    assert request["headers"]["Authorization"] == "Bearer sk-right-key-123456"


def test_connection_test_with_a_wrong_key_says_so_without_the_body_or_key(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    fake_provider.expected_key = "sk-the-real-one-0000"
    provider = add_provider(admin, fake_provider.base_url, api_key="sk-wrong-key-999999")
    response = admin.post(f"/api/admin/providers/{provider['id']}/test", json={})
    result = response.json
    assert (result["ok"], result["status"], result["code"]) == (False, 401, "unauthorized")
    assert "sk-wrong-key-999999" not in response.get_data(as_text=True)
    assert "invalid_api_key" not in response.get_data(as_text=True), "the provider's body stays out"


def test_connection_test_times_out(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    fake_provider.script(hang_before_headers=True)
    provider = add_provider(admin, fake_provider.base_url)
    app.config["AIHELPER_TEST_CONNECTION_TIMEOUT"] = 0.5
    try:
        result = admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json
    finally:
        app.config["AIHELPER_TEST_CONNECTION_TIMEOUT"] = 10.0
    assert (result["ok"], result["code"]) == (False, "timeout")
    assert result["latency_ms"] < 5000


def test_a_redirect_is_not_followed_and_its_target_receives_nothing(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    with FakeProvider() as target:
        fake_provider.script(redirect_to=target.base_url + "/models")
        provider = add_provider(admin, fake_provider.base_url, api_key="sk-must-not-travel-1")
        result = admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json
        assert (result["ok"], result["status"], result["code"]) == (False, 302, "redirect")
        assert target.requests == []


def test_a_metadata_address_is_refused_when_saved(app):
    admin, _user = make_admin_and_user(app)
    for url in ("http://169.254.169.254/latest", "http://[::ffff:169.254.169.254]/v1", "http://[fe80::1]/v1"):
        response = admin.post("/api/admin/providers", json={"name": "Meta", "base_url": url})
        assert (response.status_code, response.json["code"]) == (400, "base_url_blocked"), url


def test_a_name_that_resolves_to_a_metadata_address_is_refused_before_connecting(app, monkeypatch):
    import socket

    from aihelper.llm import url_safety

    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, "http://models.internal.example:8080/v1")
    metadata = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 8080))]
    monkeypatch.setattr(url_safety, "getaddrinfo", lambda *args, **kwargs: metadata)
    result = admin.post(f"/api/admin/providers/{provider['id']}/test", json={}).json
    assert (result["ok"], result["code"]) == (False, "blocked_url")


def test_import_models_from_the_provider_list(app, fake_provider):
    admin, user = make_admin_and_user(app)
    fake_provider.models = ["glm-4.5", "glm-4.5-air", "embedding-3"]
    provider = add_provider(admin, fake_provider.base_url, name="GLM")
    listed = admin.get(f"/api/admin/providers/{provider['id']}/remote-models").json["models"]
    assert [m["model_id"] for m in listed] == ["embedding-3", "glm-4.5", "glm-4.5-air"]
    assert not any(m["imported"] for m in listed)
    response = admin.post(
        f"/api/admin/providers/{provider['id']}/import", json={"model_ids": ["glm-4.5", "glm-4.5-air"]}
    )
    assert response.status_code == 201
    assert [m["model_id"] for m in response.json["models"]] == ["glm-4.5", "glm-4.5-air"]
    again = admin.post(f"/api/admin/providers/{provider['id']}/import", json={"model_ids": ["glm-4.5"]})
    assert again.json["models"] == [], "importing twice adds nothing"
    relisted = admin.get(f"/api/admin/providers/{provider['id']}/remote-models").json["models"]
    assert [m["imported"] for m in relisted] == [False, True, True]
    assert user.get("/api/models").json["models"] == ["glm-4.5", "glm-4.5-air"]


def test_models_can_be_edited_reordered_disabled_and_deleted(app, fake_provider):
    admin, user = make_admin_and_user(app)
    glm = add_provider(admin, fake_provider.base_url, name="GLM")
    qwen = add_provider(admin, fake_provider.base_url, name="Qwen")
    a = admin.post(
        "/api/admin/models", json={"provider_id": glm["id"], "model_id": "glm-4.5", "model_name": "GLM-4.5"}
    ).json
    b = admin.post(
        "/api/admin/models",
        json={
            "provider_id": qwen["id"],
            "model_id": "qwen3-max",
            "temperature": 1.2,
            "system_prompt": "你是助手",
            "context_messages": 6,
        },
    ).json
    c = admin.post("/api/admin/models", json={"provider_id": glm["id"], "model_id": "glm-4.5-air"}).json
    assert b["model_name"] == "qwen3-max" and b["temperature"] == 1.2 and b["provider_name"] == "Qwen"
    assert set(a) == {
        "id",
        "provider_id",
        "provider_name",
        "model_id",
        "model_name",
        "description",
        "max_tokens",
        "temperature",
        "system_prompt",
        "context_messages",
        "status",
        "sort_order",
        "price_input",
        "price_output",
        "currency",
        "groups",
        "vision",
        "context_window",
    }

    assert admin.put("/api/admin/models/order", json={"ids": [b["id"], c["id"], a["id"]]}).status_code == 200
    seen = user.get("/api/models").json
    assert seen["models"] == ["qwen3-max", "glm-4.5-air", "glm-4.5"]
    assert list(seen["providers"]) == ["Qwen", "GLM"]
    assert seen["providers"]["GLM"][0] == {
        "id": c["id"],
        "model_id": "glm-4.5-air",
        "model_name": "glm-4.5-air",
        "description": "",
        "max_tokens": 4096,
    }
    assert "base_url" not in str(seen) and "api_key" not in str(seen)

    assert admin.put(f"/api/admin/models/{c['id']}", json={"status": "disabled"}).json["status"] == "disabled"
    assert admin.put(f"/api/admin/providers/{qwen['id']}", json={"status": "disabled"}).status_code == 200
    assert user.get("/api/models").json["models"] == ["glm-4.5"]
    assert admin.delete(f"/api/admin/models/{a['id']}").status_code == 200
    assert user.get("/api/models").json == {"models": [], "providers": {}}


def test_model_fields_are_checked(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, fake_provider.base_url)
    for body, code in (
        ({"provider_id": provider["id"], "model_id": ""}, "missing_field"),
        ({"provider_id": 999, "model_id": "m"}, "not_found"),
        ({"provider_id": provider["id"], "model_id": "m", "temperature": 3}, "out_of_range"),
        ({"provider_id": provider["id"], "model_id": "m", "max_tokens": 0}, "out_of_range"),
        ({"provider_id": provider["id"], "model_id": "m", "max_tokens": "many"}, "out_of_range"),
        ({"model_id": "m"}, "missing_field"),
    ):
        response = admin.post("/api/admin/models", json=body)
        assert response.json["code"] == code, body
    admin.post("/api/admin/models", json={"provider_id": provider["id"], "model_id": "m"})
    assert admin.post("/api/admin/models", json={"provider_id": provider["id"], "model_id": "m"}).status_code == 409
    assert admin.put("/api/admin/models/order", json={"ids": [1, 1]}).json["code"] == "invalid_order"
    lone_surrogate = admin.post(
        f"/api/admin/providers/{provider['id']}/import",
        data='{"model_ids": ["\\ud800"]}',
        content_type="application/json",
    )
    assert (lone_surrogate.status_code, lone_surrogate.json["code"]) == (400, "invalid_field")


def test_deleting_a_provider_deletes_its_models(app, fake_provider):
    admin, user = make_admin_and_user(app)
    provider = add_provider(admin, fake_provider.base_url)
    admin.post(f"/api/admin/providers/{provider['id']}/import", json={"model_ids": ["fake-model"]})
    assert admin.delete(f"/api/admin/providers/{provider['id']}").status_code == 200
    assert admin.get("/api/admin/models").json["models"] == []
    assert user.get("/api/models").json["models"] == []


def test_provider_pages_save_through_csrf_forms_and_reopen_on_errors(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    token = page_data(admin.get("/admin/providers").get_data(as_text=True))["csrf_token"]
    form = {
        "name": "Form",
        "base_url": fake_provider.base_url,
        "api_key": "sk-form-key-0000000001234567",
        "status": "active",
    }
    assert admin.post("/admin/providers", data=form).status_code == 400, "no CSRF token"
    assert admin.post("/admin/providers", data={**form, "csrf_token": token}).status_code == 302
    page = page_data(admin.get("/admin/providers").get_data(as_text=True))
    assert page["flash"] == ["已保存"]
    assert page["providers"][0]["api_key_hint"] == "sk-…4567"
    refused = admin.post("/admin/providers", data={**form, "base_url": "gopher://x", "csrf_token": token})
    assert refused.status_code == 400
    error = page_data(refused.get_data(as_text=True))["form_error"]
    assert error["values"]["name"] == "Form" and "api_key" not in error["values"]


def test_a_key_that_cannot_be_decrypted_shows_as_needs_reentry(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, fake_provider.base_url)
    original = app.config["AIHELPER_ENCRYPTION_KEYS"]
    from cryptography.fernet import Fernet

    app.config["AIHELPER_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    try:
        listed = admin.get("/api/admin/providers").json["providers"][0]
        assert (listed["key_status"], listed["api_key_hint"]) == ("needs_reentry", "")
        assert admin.get("/admin/providers").status_code == 200
        test = admin.post(f"/api/admin/providers/{provider['id']}/test", json={})
        assert (test.status_code, test.json["code"]) == (409, "key_needs_reentry")
        admin.put(f"/api/admin/providers/{provider['id']}", json={"api_key": "sk-entered-again-42"})
        assert admin.get("/api/admin/providers").json["providers"][0]["key_status"] == "set"
    finally:
        app.config["AIHELPER_ENCRYPTION_KEYS"] = original


def test_rotate_keys_re_encrypts_with_the_newest_key(app, fake_provider):
    from cryptography.fernet import Fernet

    admin, _user = make_admin_and_user(app)
    add_provider(admin, fake_provider.base_url, api_key="sk-rotate-me-000000000000000001")
    original = app.config["AIHELPER_ENCRYPTION_KEYS"]
    newest = Fernet.generate_key().decode()
    app.config["AIHELPER_ENCRYPTION_KEYS"] = f"{newest},{original}"
    try:
        result = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert result.exit_code == 0 and "Re-encrypted 1 provider key" in result.output
        app.config["AIHELPER_ENCRYPTION_KEYS"] = newest  # the old key retired
        listed = admin.get("/api/admin/providers").json["providers"][0]
        assert (listed["key_status"], listed["api_key_hint"]) == ("set", "sk-…0001")
    finally:
        app.config["AIHELPER_ENCRYPTION_KEYS"] = original


def test_rotate_keys_leaves_a_key_cleared_by_a_move_alone(app):
    admin, _user = make_admin_and_user(app)
    moved = add_provider(admin, "https://api.example.com/v1", api_key=KEY, name="Moved")
    add_provider(admin, "https://api.example.org/v1", api_key="sk-stays-where-it-is-000000000001", name="Stays")
    admin.put(f"/api/admin/providers/{moved['id']}", json={"base_url": "https://api.example.net/v1"})
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0 and "Re-encrypted 1 provider key" in result.output
    assert "could not be decrypted" not in result.output, "a cleared key is not an unreadable one"
    listed = {p["name"]: p["key_status"] for p in admin.get("/api/admin/providers").json["providers"]}
    assert listed == {"Moved": "needs_reentry", "Stays": "set"}


def test_the_key_is_stored_encrypted(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    add_provider(admin, fake_provider.base_url, api_key="sk-plain-text-never-stored")
    with app.app_context():
        raw = db.session.execute(text("SELECT api_key FROM api_providers")).scalar()
        assert "sk-plain-text-never-stored" not in raw
        assert db.session.scalar(select(ApiProvider.api_key)).startswith("gAAAA")
