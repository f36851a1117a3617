"""The canary: a provider key never appears in any response, page, websocket frame, log line or raw
database column, whatever the provider answers.

Runs on the gunicorn live server so that its real log output (every logger, gunicorn's too) is
checked, not only what one in-process logger saw.
"""

from __future__ import annotations

import json
import secrets

import pytest
import requests
from sqlalchemy import text

from aihelper.extensions import db
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.fake_provider import KEY_ECHOING_ANSWERS


class Witness:
    """Everything the clients of one test received: HTTP bodies and headers, websocket frames."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def watch(self, user: ChatUser) -> ChatUser:
        user.http.hooks["response"].append(self._response)
        return user

    def _response(self, response: requests.Response, *args, **kwargs) -> None:
        self.texts.append(json.dumps(dict(response.headers)))
        self.texts.append(response.text)

    def frames(self, frames: list[dict]) -> list[dict]:
        self.texts.extend(json.dumps(frame, ensure_ascii=False) for frame in frames)
        return frames

    def assert_never_saw(self, key: str) -> None:
        for seen in self.texts:
            assert key not in seen
            assert key[-12:] not in seen, "not even most of it"


def connect_canary_provider(url: str, admin: ChatUser, base_url: str, canary: str) -> int:
    created = admin.http.post(
        url + "/api/admin/providers", json={"name": "Canary", "base_url": base_url, "api_key": canary}
    )
    assert created.status_code == 201
    provider_id = created.json()["id"]
    imported = admin.http.post(url + f"/api/admin/providers/{provider_id}/import", json={"model_ids": ["fake-model"]})
    assert imported.status_code == 201
    return provider_id


def everything_an_admin_can_read(url: str, admin: ChatUser, provider_id: int) -> None:
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
    for path in pages + apis:
        admin.get(path)
    admin.http.post(url + f"/api/admin/providers/{provider_id}/test", json={}, timeout=10)


def test_the_canary_key_reaches_its_provider_and_nothing_else(live_server, app, fake_provider):
    canary = f"sk-canary-{secrets.token_hex(12)}"
    url = live_server.url
    witness = Witness()
    admin = witness.watch(ChatUser.register(url, "canary_admin"))
    user = witness.watch(ChatUser.register(url, "canary_user"))

    fake_provider.expected_key = canary
    provider_id = connect_canary_provider(url, admin, fake_provider.base_url, canary)
    assert admin.http.post(url + f"/api/admin/providers/{provider_id}/test", json={}).json()["ok"] is True
    assert fake_provider.requests[-1]["headers"]["Authorization"] == f"Bearer {canary}", (
        "the key does reach its provider"
    )

    fake_provider.expected_key = "sk-something-else"
    fake_provider.echo_key_in_errors = True
    failing = admin.http.post(url + f"/api/admin/providers/{provider_id}/test", json={})
    assert failing.json()["code"] == "unauthorized"

    everything_an_admin_can_read(url, admin, provider_id)
    for path in ("/", "/api/models", "/api/user/info"):
        user.get(path)
    witness.assert_never_saw(canary)

    with app.app_context():
        raw = db.session.execute(text("SELECT api_key FROM api_providers")).scalar()
    assert canary not in raw

    log = live_server.log()
    assert "test of provider" in log, "the failure was logged"
    assert canary not in log


@pytest.mark.parametrize("answer", KEY_ECHOING_ANSWERS.values(), ids=KEY_ECHOING_ANSWERS.keys())
def test_whatever_the_provider_answers_the_key_stays_out_of_logs_responses_and_frames(
    answer, live_server, app, fake_provider
):
    canary = f"sk-canary-{secrets.token_hex(12)}"
    url = live_server.url
    log_before = len(live_server.log())
    witness = Witness()
    admin = witness.watch(ChatUser.register(url, "canary_admin"))
    user = witness.watch(ChatUser.register(url, "canary_user"))
    fake_provider.expected_key = canary
    provider_id = connect_canary_provider(url, admin, fake_provider.base_url, canary)
    fake_provider.script(answer_with=answer)

    # Every call that reaches the provider: the connection test, its model list, a turn on the
    # websocket and one on the SSE endpoint (and a title, after an answer that ended well).
    tested = admin.http.post(url + f"/api/admin/providers/{provider_id}/test", json={})
    assert tested.json()["ok"] is False
    assert admin.get(f"/api/admin/providers/{provider_id}/remote-models").status_code == 502
    chat = user.socket()
    try:
        ending = witness.frames(chat.chat("Hello?", "fake-model"))[-1]
    finally:
        chat.close()
    assert ending["type"] in ("error", "done")
    user.http.post(url + "/api/chat/stream", json={"message": "Hello again?", "model_id": "fake-model"}, timeout=15)
    everything_an_admin_can_read(url, admin, provider_id)

    assert {r["headers"].get("Authorization") for r in fake_provider.requests} == {f"Bearer {canary}"}
    witness.assert_never_saw(canary)
    log = live_server.log()[log_before:]
    assert "[redacted]" in log, "what the provider said was logged, with the key cut out"
    assert canary not in log
    assert canary[-12:] not in log
