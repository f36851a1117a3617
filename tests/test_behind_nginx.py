"""Behind nginx (issue #18 part 1): Debian's nginx running deploy/nginx/aihelper.conf over HTTPS in
front of gunicorn with AIHELPER_PROXY_FIX=1. The websocket is upgraded, the SSE stream arrives
piece by piece, the session cookie is Secure, and the app counts and records the address nginx
saw, never one the client wrote into X-Forwarded-For."""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.fixtures.actions import PASSWORD
from tests.fixtures.chat_client import ChatUser, text_of
from tests.fixtures.nginx import nginx_program, running_nginx, self_signed_certificate, site_for_test, trusting
from tests.fixtures.servers import (
    FAST_PASSWORD_HASH,
    LiveServer,
    connect_fake_provider,
    free_port,
    require,
    running_gunicorn,
)

FORGED = "1.2.3.4"


class _FromAddress(HTTPAdapter):
    """Connections from a loopback address of the test's choosing: a client nginx sees as that one."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


@dataclass
class Proxied:
    url: str  # https through nginx
    http_url: str  # nginx's plain-HTTP redirect
    app_server: LiveServer  # gunicorn itself, for the test's setup
    certificate: Path

    @property
    def tls(self) -> ssl.SSLContext:
        return trusting(self.certificate)

    def session(self, source: str = "127.0.0.1") -> requests.Session:
        """A browser at `source`, trusting the proxy's certificate."""
        session = requests.Session()
        # Not the environment's: its REQUESTS_CA_BUNDLE would take the place of `verify`.
        session.trust_env = False
        session.verify = str(self.certificate)
        session.mount("https://", _FromAddress(source))
        return session


def _instance(directory: Path) -> Path:
    (directory / "config.py").write_text(
        f"PASSWORD_HASH_METHOD = {FAST_PASSWORD_HASH!r}\n"
        "AIHELPER_RETENTION_JOB = False\n"
        "AIHELPER_AUTO_TITLE = False\n"
        "# The limit under test is the login's per address; each test registers its accounts anew.\n"
        "RATELIMIT_LOGIN = '3 per minute'\n"
        "RATELIMIT_REGISTER = '1000 per minute'\n"
    )
    return directory


@pytest.fixture(scope="module")
def proxied(_app, database_url, tmp_path_factory) -> Iterator[Proxied]:
    require(
        nginx_program() is not None,
        "Debian's nginx is not installed",
        "install it with: apt-get install nginx (or run scripts/test.sh as root)",
    )
    instance = _instance(tmp_path_factory.mktemp("proxied-instance"))
    # Outside pytest's private temp folder: nginx's workers (nobody, under root) use its temp paths.
    with tempfile.TemporaryDirectory(prefix="aihelper-nginx-") as prefix_name, pytest.MonkeyPatch.context() as env:
        prefix = Path(prefix_name)
        prefix.chmod(0o755)
        certificate, key = self_signed_certificate(prefix)
        env.setenv("AIHELPER_PROXY_FIX", "1")
        # One worker, no Redis: a resume meets its generation in the same process.
        logs = tmp_path_factory.mktemp("proxied")
        with running_gunicorn(database_url, instance, logs, workers=1, redis_url="") as server:
            https_port, http_port = free_port(), free_port()  # chosen while gunicorn holds its own
            site = site_for_test(server.url.removeprefix("http://"), https_port, http_port, certificate, key)
            with running_nginx(prefix, site, https_port):
                yield Proxied(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", server, certificate)


@pytest.fixture
def setup(proxied, app, fake_provider):
    """The admin (signed up at gunicorn directly) connected the fake provider; a user signed up
    through nginx."""
    admin, _provider, model = connect_fake_provider(proxied.app_server.url, fake_provider, "proxy_admin")
    user = ChatUser.register(proxied.url, "proxied_user", proxied.session())
    return {"admin": admin, "user": user, "model_id": model["model_id"]}


def test_plain_http_is_redirected_to_https(proxied):
    answer = requests.get(proxied.http_url + "/login?next=%2F", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == proxied.url + "/login?next=%2F"


def test_a_websocket_turn_goes_through_the_upgrade(setup, proxied, fake_provider):
    fake_provider.script(reply="Answered through nginx")
    socket = setup["user"].socket(proxied.tls)
    frames = socket.chat("hello over wss", setup["model_id"])
    assert frames[0]["type"] == "start" and frames[-1]["type"] == "done"
    assert text_of(frames) == "Answered through nginx"
    socket.close()
    history = setup["user"].get(f"/api/chat/history?session_id={frames[0]['session_id']}").json()
    assert [m["content"] for m in history["conversation"]] == ["hello over wss", "Answered through nginx"]


def test_the_sse_stream_arrives_piece_by_piece(setup, proxied, fake_provider):
    """The provider holds the answer after its first piece: that piece can only reach the client
    meanwhile if nothing on the way (nginx above all) buffers the stream."""
    fake_provider.script(tokens=["first ", "second ", "third"], stall_after=1)
    stream = setup["user"].http.post(
        proxied.url + "/api/chat/stream",
        json={"message": "stream over https", "model_id": setup["model_id"]},
        stream=True,
        timeout=15,
    )
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    events = (json.loads(line.removeprefix(b"data: ")) for line in stream.iter_lines() if line.startswith(b"data: "))
    assert next(events) == {"content": "first "}  # while the provider still holds the rest
    fake_provider.release()
    rest = list(events)
    assert "".join(event.get("content", "") for event in rest) == "second third"
    assert rest[-1]["done"] is True and rest[-1]["message_id"]


def test_a_login_over_https_gets_a_secure_cookie(setup, proxied):
    through_nginx = proxied.session().post(
        proxied.url + "/api/login", json={"username": "proxied_user", "password": PASSWORD}, timeout=10
    )
    assert through_nginx.status_code == 200
    cookie = through_nginx.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    # The same app reached over plain HTTP (no proxy saying https) sends the cookie without it.
    direct = requests.post(
        proxied.app_server.url + "/api/login", json={"username": "proxied_user", "password": PASSWORD}, timeout=10
    )
    assert direct.status_code == 200 and "Secure" not in direct.headers["Set-Cookie"]


def test_the_app_records_the_address_nginx_saw_not_a_forged_one(setup, proxied):
    forged = {"X-Forwarded-For": FORGED}
    guesser = proxied.session(source="127.0.0.2")
    wrong = guesser.post(
        proxied.url + "/api/login",
        json={"username": "proxied_user", "password": "not-the-password"},
        headers=forged,
        timeout=10,
    )
    assert wrong.status_code == 401
    admin = proxied.session(source="127.0.0.3")
    logged_in = admin.post(
        proxied.url + "/api/login", json={"username": "proxy_admin", "password": PASSWORD}, headers=forged, timeout=10
    )
    assert logged_in.status_code == 200

    entries = admin.get(proxied.url + "/api/admin/audit", timeout=10).json()["entries"]
    by_action = {entry["action"]: entry for entry in entries}
    assert by_action["login.failed"]["ip"] == "127.0.0.2"
    assert by_action["login.admin"]["ip"] == "127.0.0.3"
    assert all(entry["ip"] != FORGED for entry in entries)
    # And so do the request log lines.
    logins = [line for line in proxied.app_server.log().splitlines() if "path=/api/login " in line]
    assert any("client=127.0.0.2" in line for line in logins) and any("client=127.0.0.3" in line for line in logins)
    assert FORGED not in proxied.app_server.log()


def test_forwarded_headers_from_outside_the_proxy_are_not_believed(setup, proxied):
    """A client that reaches gunicorn itself, from an address not in FORWARDED_ALLOW_IPS (here
    127.0.0.1, nginx's), can't pass itself off as another address or as HTTPS."""
    bypass = requests.Session()
    bypass.mount("http://", _FromAddress("127.0.0.6"))
    answer = bypass.post(
        proxied.app_server.url + "/api/login",
        json={"username": "proxy_admin", "password": PASSWORD},
        headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"},
        timeout=10,
    )
    assert answer.status_code == 200 and "Secure" not in answer.headers["Set-Cookie"]
    entries = bypass.get(proxied.app_server.url + "/api/admin/audit?action=login.admin", timeout=10).json()["entries"]
    assert [entry["ip"] for entry in entries] == ["127.0.0.6"]


def test_the_login_limit_counts_each_real_address(setup, proxied):
    """RATELIMIT_LOGIN is 3 per minute here. A new forged X-Forwarded-For with every attempt does
    not make a new client; another real address is a new client (the proxy's own address, the
    same for everyone, is not what is counted)."""
    guesser = proxied.session(source="127.0.0.4")

    def attempt(session: requests.Session, n: int) -> int:
        return session.post(
            proxied.url + "/api/login",
            json={"username": f"guess{n}", "password": "not-the-password"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
            timeout=10,
        ).status_code

    assert [attempt(guesser, n) for n in range(4)] == [401, 401, 401, 429]
    assert attempt(proxied.session(source="127.0.0.5"), 9) == 401


def test_a_reconnected_page_resumes_the_answer_through_nginx(setup, proxied, fake_provider):
    tokens = [f"w{i} " for i in range(6)]
    fake_provider.script(tokens=tokens, stall_after=3)
    first = setup["user"].socket(proxied.tls)
    first.send(type="chat", message="a long answer", model_id=setup["model_id"], session_id=None)
    start = first.receive()
    seen = first.receive_text("".join(tokens[:3]))
    first.close()  # the connection drops mid-answer

    second = setup["user"].socket(proxied.tls)
    second.send(type="resume", session_id=start["session_id"], after=seen[-1]["seq"])
    fake_provider.release()
    rest = second.receive_until_end()
    assert text_of(seen + rest[:-1]) == "".join(tokens)
    assert rest[-1]["type"] == "done" and rest[-1]["message_id"] == start["message_id"]
    second.close()


def test_the_metrics_are_not_served_through_nginx(proxied):
    answer = proxied.session().get(proxied.url + "/metrics", headers={"Authorization": "Bearer x"}, timeout=10)
    assert answer.status_code == 404
