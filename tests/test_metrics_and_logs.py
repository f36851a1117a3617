"""Operations: GET /metrics (off without a token, then only with it; counts adding up across
gunicorn workers) and the log lines (one per request and per turn, as JSON lines, never a message's
text, a provider key, a cookie or an Authorization header).

The turns run on a gunicorn of this module's own (two workers, metrics and JSON logs on), beside the
suite's live server on the same database and Redis.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from aihelper.telemetry.logs import JsonLines
from tests.fixtures.actions import add_provider, login, register, wait_for
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.servers import LiveServer, connect_fake_provider, running_gunicorn

TOKEN = "metrics-token-" + "7" * 24


@pytest.fixture(scope="module")
def _metered_server(_live_server, database_url, instance_dir, tmp_path_factory) -> Iterator[LiveServer]:
    settings = {"AIHELPER_METRICS_TOKEN": TOKEN, "AIHELPER_LOG_FORMAT": "json", "AIHELPER_LOG_LEVEL": "DEBUG"}
    with running_gunicorn(
        database_url, instance_dir, tmp_path_factory.mktemp("metered"), workers=2, env=settings
    ) as server:
        yield server


@pytest.fixture
def metered(app, _metered_server) -> LiveServer:
    """The metered gunicorn; tables emptied before each test like for `app`."""
    return _metered_server


def scrape(server: LiveServer, token: str = TOKEN) -> dict[tuple[str, frozenset], float]:
    """The scraped samples by (name, labels); one new connection, so any worker may answer."""
    response = ChatUser(server.url).get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def json_lines(text: str) -> list[dict]:
    """The JSON log lines of a log (gunicorn's own lines stay text)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# -- /metrics: who may read it ---------------------------------------------------------------------


def test_without_a_token_setting_metrics_do_not_exist(client):
    unknown = client.get("/no-such-path")
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == unknown.status_code == 404
    assert metrics.data == unknown.data


def test_metrics_answer_only_the_bearer_token_and_never_touch_the_session(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "AIHELPER_METRICS_TOKEN", TOKEN)
    for refused in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        response = client.get("/metrics", headers=refused)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "aihelper_" not in response.text

    register(client, "logged_in_admin")  # a browser with a session cookie
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert "# TYPE aihelper_running_generations gauge" in response.text
    assert "Set-Cookie" not in response.headers, "no session cookie is set or refreshed"
    assert response.headers["Cache-Control"] == "no-store"


# -- /metrics: what it counts, across two workers --------------------------------------------------


def test_a_turn_is_counted_with_its_status_latency_and_tokens(metered, fake_provider):
    _admin, _provider, model = connect_fake_provider(metered.url, fake_provider, "metrics_admin")
    user = ChatUser.register(metered.url, "metrics_user")
    before = scrape(metered)
    fake_provider.script(reply="Counted answer, four pieces.")

    chat = user.socket()
    try:
        wait_for(lambda: value(scrape(metered), "aihelper_websocket_connections") == 1)
        counted = chat.chat("Count this.", model["model_id"])
        assert counted[-1]["type"] == "done"
        chat.title_of(counted[0]["session_id"])  # its title request, before the provider fails
        fake_provider.script(status=500)
        assert chat.chat("Fail this.", model["model_id"])[-1]["code"] == "provider_down"
    finally:
        chat.close()

    def settled():
        samples = scrape(metered)
        idle = value(samples, "aihelper_websocket_connections") == value(samples, "aihelper_running_generations") == 0
        return samples if idle else None

    after = wait_for(settled)
    model_id = model["model_id"]

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("aihelper_turns_total", model=model_id, status="done") == 1
    assert grew("aihelper_turns_total", model=model_id, status="error") == 1
    assert grew("aihelper_provider_errors_total", code="provider_down") == 1
    assert grew("aihelper_time_to_first_token_seconds_count", model=model_id) == 1, "the failed turn had no text"
    assert grew("aihelper_answer_duration_seconds_count", model=model_id) == 2
    assert grew("aihelper_answer_duration_seconds_sum", model=model_id) > 0
    assert grew("aihelper_tokens_total", model=model_id, kind="prompt") > 0
    assert grew("aihelper_tokens_total", model=model_id, kind="completion") == 4
    assert value(after, "aihelper_running_generations") == 0


def test_one_scrape_adds_up_the_turns_of_both_workers(metered, fake_provider):
    _admin, _provider, model = connect_fake_provider(metered.url, fake_provider, "workers_admin")
    user = ChatUser.register(metered.url, "workers_user")
    before = value(scrape(metered), "aihelper_turns_total", model=model["model_id"], status="done")
    first = user.socket()
    first_worker = metered.worker_serving(first.client.sock.getsockname()[1])
    second = wait_for(lambda: socket_in_another_worker(metered, user, first_worker), timeout=20)
    try:
        for chat in (first, second, second):
            assert chat.chat("Count me.", model["model_id"])[-1]["type"] == "done"
    finally:
        first.close()
        second.close()

    for _ in range(4):  # whichever worker answers the scrape
        done = value(scrape(metered), "aihelper_turns_total", model=model["model_id"], status="done")
        assert done - before == 3


def socket_in_another_worker(server: LiveServer, user: ChatUser, worker: int | None):
    """A socket of the user that another worker than `worker` serves, or None (this one did not)."""
    socket = user.socket()
    if server.worker_serving(socket.client.sock.getsockname()[1]) not in (None, worker):
        return socket
    socket.close()
    return None


# -- logs: a line per request and per turn, and no secret in any ----------------------------------


@pytest.fixture
def app_output(app) -> Iterator[io.StringIO]:
    """What the in-process app writes to its log meanwhile, as JSON lines."""
    handler = logging.getLogger("aihelper").handlers[0]
    buffer = io.StringIO()
    stream, formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(JsonLines())
    try:
        yield buffer
    finally:
        handler.setStream(stream)
        handler.setFormatter(formatter)


def test_log_lines_carry_requests_and_turns_and_never_a_message_a_key_or_a_cookie(
    metered, fake_provider, client, app_output
):
    key = f"sk-canary-{secrets.token_hex(12)}"
    question, answer = f"question-canary-{secrets.token_hex(8)}", f"answer-canary-{secrets.token_hex(8)}"
    log_before = len(metered.log())

    admin = ChatUser.register(metered.url, "canary_admin")  # the first account: the admin
    admin_id = admin.get("/api/user/info").json()["id"]

    # In this process: the admin stores the canary key and tests it against a provider that
    # quotes it in its refusal.
    assert login(client, "canary_admin").status_code == 200
    with FakeProvider(expected_key="sk-something-else") as refusing:
        refusing.echo_key_in_errors = True
        provider = add_provider(client, refusing.base_url, api_key=key)
        assert client.post(f"/api/admin/providers/{provider['id']}/test", json={}).json["ok"] is False

    # On the gunicorn: a turn whose question and answer are canaries, with the canary key.
    fake_provider.expected_key = key
    created = admin.http.post(
        metered.url + "/api/admin/providers",
        json={"name": "Canary", "base_url": fake_provider.base_url, "api_key": key},
    ).json()
    admin.http.post(metered.url + "/api/admin/models", json={"provider_id": created["id"], "model_id": "fake-model"})
    fake_provider.script(reply=f"Here it is: {answer}")
    user = ChatUser.register(metered.url, "canary_user")
    user_id = user.get("/api/user/info").json()["id"]
    chat = user.socket()
    try:
        frames = chat.chat(f"Please repeat {question}", "fake-model")
        assert frames[-1]["type"] == "done" and answer in "".join(f.get("content", "") for f in frames)
        chat.title_of(frames[0]["session_id"])  # the title request went by too
    finally:
        chat.close()
    scrape(metered)  # an Authorization header, which must not be logged either

    def server_lines() -> list[dict]:
        return json_lines(metered.log()[log_before:])

    turn = wait_for(lambda: next((line for line in server_lines() if line["logger"] == "aihelper.turn"), None))
    socket_line = wait_for(lambda: next((line for line in server_lines() if line.get("path") == "/ws/chat"), None))
    everything = metered.log()[log_before:] + app_output.getvalue()
    for secret in (key, key[-12:], question, answer, user.cookie, admin.cookie, TOKEN):
        assert secret not in everything
    assert "[redacted]" in app_output.getvalue(), "what the refusing provider said was logged, cut"

    lines = server_lines() + json_lines(app_output.getvalue())
    assert all({"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)
    assert turn["message"] == "turn" and turn["level"] == "INFO"
    assert turn["request_id"] == socket_line["request_id"] != "-"
    assert turn["user_id"] == user_id
    assert turn["model"] == "fake-model"
    assert (turn["status"], turn["finish_reason"], turn["error_code"], turn["stored"]) == ("done", "stop", None, True)
    assert 0 <= turn["ttft_ms"] <= turn["duration_ms"]
    assert turn["prompt_tokens"] > 0 and turn["completion_tokens"] == 4
    assert "session_id" not in turn

    assert (socket_line["method"], socket_line["status"], socket_line["user_id"]) == ("GET", 101, user_id)
    info = next(line for line in lines if line.get("path") == "/api/user/info" and line["user_id"] == user_id)
    assert (info["logger"], info["message"], info["method"], info["status"]) == (
        "aihelper.request",
        "request",
        "GET",
        200,
    )
    assert isinstance(info["duration_ms"], float) and info["client"] == "127.0.0.1"
    scraped = next(line for line in server_lines() if line.get("path") == "/metrics")
    assert (scraped["level"], scraped["status"], scraped["user_id"]) == ("DEBUG", 200, None)
    tested = next(line for line in json_lines(app_output.getvalue()) if line.get("path", "").endswith("/test"))
    assert (tested["method"], tested["status"], tested["user_id"]) == ("POST", 200, admin_id)


def test_text_log_lines_append_the_fields_and_probes_stay_at_debug(app, client, app_log):
    client.get("/healthz?probe=secret-query")
    client.get("/login?next=/secret-query")
    line = next(r for r in app_log if getattr(r, "fields", {}).get("path") == "/login")
    text = logging.getLogger("aihelper").handlers[0].formatter.format(line)
    assert " request method=GET path=/login status=200 duration_ms=" in text
    assert "user_id=- client=127.0.0.1" in text
    assert "secret-query" not in text
    assert not [r for r in app_log if getattr(r, "fields", {}).get("path") == "/healthz"]

    package_log = logging.getLogger("aihelper")
    level = package_log.level
    package_log.setLevel(logging.DEBUG)
    try:
        client.get("/healthz")
    finally:
        package_log.setLevel(level)
    (health,) = [r for r in app_log if getattr(r, "fields", {}).get("path") == "/healthz"]
    assert health.levelno == logging.DEBUG


def test_a_path_cannot_forge_a_text_log_line(app, client, app_log):
    client.get("/x%0A2026-01-01 00:00:00 INFO [-] aihelper.request: request path=/api/admin/users status=200")
    line = next(r for r in app_log if getattr(r, "fields", {}).get("path", "").startswith("/x"))
    text = logging.getLogger("aihelper").handlers[0].formatter.format(line)
    assert "\n" not in text and "path=/x\\x0a2026-01-01\\x2000:00:00\\x20INFO" in text


def test_the_server_logs_no_query_string_of_its_own(live_server):
    """gunicorn's access log (which would hold search text and, as Referer, shared links) is off
    unless named: the app's line is the request's one line."""
    before = len(live_server.log())
    requests.get(live_server.url + "/login?next=/search-text-canary", timeout=10)
    assert wait_for(lambda: "path=/login " in live_server.log()[before:])
    assert "search-text-canary" not in live_server.log()[before:]
