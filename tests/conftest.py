"""Fixtures: the app on SQLite or MariaDB, a test client, a gunicorn live server, Debian's
Chromium through Playwright, and the fake OpenAI-compatible provider.

The database is SQLite in a temporary file unless AIHELPER_TEST_DATABASE_URL names a MariaDB/MySQL
server, whose tables are dropped and rebuilt from the migrations at the start of the run. Every
test starts with empty tables.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import create_engine, inspect, text

from aihelper import create_app
from aihelper.extensions import db, limiter
from tests.chat_client import ChatUser
from tests.fake_provider import FakeProvider

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("AIHELPER_TEST_DATABASE_URL")
IN_CI = bool(os.environ.get("CI"))
CHROMIUM = "/usr/bin/chromium"
# Slow hashes are the point in production and only cost time here.
FAST_PASSWORD_HASH = "pbkdf2:sha256:1000"


def require(condition: bool, missing: str, how_to_get_it: str) -> None:
    """Skip on a developer's machine, fail in CI (TESTING.md: no test is skipped in CI)."""
    if condition:
        return
    message = f"{missing}; {how_to_get_it}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def on_mysql() -> bool:
    return bool(TEST_DATABASE_URL) and TEST_DATABASE_URL.startswith("mysql")


# MySQL-specific checks (database.sql) use this server even when the suite itself runs on SQLite.
MYSQL_SERVER_URL = TEST_DATABASE_URL if on_mysql() else "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"


def require_reachable(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect():
            pass
    except Exception as error:
        require(
            False,
            f"MariaDB is not reachable at {database_url.split('@')[-1]} ({type(error).__name__})",
            "start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    require_reachable(MYSQL_SERVER_URL)
    return MYSQL_SERVER_URL


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if not TEST_DATABASE_URL:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'aihelper-test.db'}"
    require_reachable(TEST_DATABASE_URL)
    engine = create_engine(TEST_DATABASE_URL)
    with engine.begin() as connection:
        tables = inspect(connection).get_table_names()
        connection.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in tables:
            connection.execute(text(f"DROP TABLE `{table}`"))
        connection.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    """The instance folder shared by the in-process app and the live server (same secrets)."""
    path = tmp_path_factory.mktemp("instance")
    # Read by the live server's create_app(); the in-process app gets the same values as overrides.
    (path / "config.py").write_text(
        f"PASSWORD_HASH_METHOD = {FAST_PASSWORD_HASH!r}\n"
        "# Browser tests register many accounts from one address within a minute.\n"
        "RATELIMIT_ENABLED = False\n"
        "AIHELPER_RETENTION_JOB = False\n"
        "# Provider failures (a hang, a stall) must show within a test's patience.\n"
        "AIHELPER_TIMEOUT_FIRST_TOKEN = 3.0\n"
        "AIHELPER_TIMEOUT_BETWEEN_TOKENS = 2.0\n"
        "# An ended login must end its socket within a test's patience even without the notice.\n"
        "AIHELPER_LOGIN_CHECK_SECONDS = 1.0\n"
        "# A client that reads nothing is cut within a test's patience.\n"
        "AIHELPER_STALLED_SOCKET_SECONDS = 3.0\n"
    )
    return path


@pytest.fixture(scope="session")
def _app(database_url, instance_dir):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": True},
        instance_path=str(instance_dir),
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_app):
    """The app, with empty tables, fresh rate-limit counters and registration open."""
    with _app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.session.remove()
    limiter.reset()
    yield _app
    with _app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """The records the app logs meanwhile (its logger does not propagate to pytest's; creating an
    app replaces the logger's handlers, so capture after that)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("aihelper")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def app_log(app) -> Iterator[list[logging.LogRecord]]:
    """The records the app logs during the test."""
    with captured_logs() as records:
        yield records


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield
        db.session.remove()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """Runs in the server's process before exec: if the test run is killed (a timeout, Ctrl+C
    twice), Linux sends the server SIGTERM instead of leaving it running."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LiveServer:
    url: str
    log_path: Path
    pid: int  # gunicorn's master: its children are the workers

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[1]) == self.pid:  # its parent
                pids.append(int(stat.parent.name))
        return pids

    def worker_serving(self, client_port: int) -> int | None:
        """The worker holding the server's end of the connection from `client_port` (Linux: the
        connection's socket inode in /proc/net/tcp, then whose descriptor it is)."""
        server_port = int(self.url.rsplit(":", 1)[1])
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            if (local, remote) == (server_port, client_port):
                inodes.add(f"socket:[{fields[9]}]")
        for pid in self.worker_pids():
            if inodes & _open_files(pid):
                return pid
        return None


def _open_files(pid: int) -> set[str]:
    """What the process's descriptors point at ("socket:[inode]" for a socket)."""
    targets = set()
    with suppress(OSError):  # the process ended meanwhile
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):  # the descriptor was closed meanwhile
                targets.add(os.readlink(descriptor))
    return targets


# Another Redis database lets two suites run side by side (each flushes its own at the start).
LIVE_SERVER_REDIS_URL = os.environ.get("AIHELPER_TEST_LIVE_REDIS_URL", "redis://127.0.0.1:6379/14")


def fresh_redis(url: str) -> str:
    """An emptied Redis database at `url` (fails in CI, skips elsewhere, when Redis is down)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as error:
        require(
            False,
            f"Redis is not reachable at {url} ({type(error).__name__})",
            'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
        )
    finally:
        client.close()
    return url


@contextmanager
def running_gunicorn(
    database_url: str,
    instance_dir: Path,
    log_dir: Path,
    *,
    workers: int,
    redis_url: str = LIVE_SERVER_REDIS_URL,
    graceful_timeout: int | None = 2,
) -> Iterator[LiveServer]:
    """gunicorn with the production config and worker class on a free port, sharing the test
    database, instance folder (secrets: the same cookies work) and Redis database. A short
    graceful timeout unless the test is about graceful stops (None: gunicorn.conf.py's)."""
    port = free_port()
    log_path = log_dir / "gunicorn.log"
    env = {
        **os.environ,
        "AIHELPER_INSTANCE_PATH": str(instance_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "wsgi:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--no-control-socket",
        *(["--graceful-timeout", str(graceful_timeout)] if graceful_timeout is not None else []),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log_path=log_path, pid=process.pid)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(server.url + "/login", timeout=2).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the live server did not start:\n" + server.log()[-3000:])
        time.sleep(0.1)
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=(graceful_timeout or 130) + 10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def _live_server(_app, database_url, instance_dir, tmp_path_factory) -> Iterator[LiveServer]:
    """Two workers sharing live streams through Redis, as in production."""
    fresh_redis(LIVE_SERVER_REDIS_URL)
    with running_gunicorn(database_url, instance_dir, tmp_path_factory.mktemp("live"), workers=2) as server:
        yield server


@pytest.fixture(scope="session")
def _second_instance(_live_server, database_url, instance_dir, tmp_path_factory) -> Iterator[LiveServer]:
    with running_gunicorn(database_url, instance_dir, tmp_path_factory.mktemp("second"), workers=1) as server:
        yield server


@pytest.fixture
def second_instance(live_server, _second_instance) -> LiveServer:
    """Another instance of the app (its own gunicorn, one worker) on the same database and Redis."""
    return _second_instance


@pytest.fixture
def live_server(app, _live_server) -> LiveServer:
    """The running gunicorn server; tables are emptied before each test like for `app`."""
    return _live_server


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def connect_fake_provider(base_url: str, fake_provider: FakeProvider, admin_name: str, **model_fields):
    """The first account (the admin) connects the fake provider and adds `fake-model`."""
    admin = ChatUser.register(base_url, admin_name)
    provider = admin.http.post(
        base_url + "/api/admin/providers",
        json={"name": "Fake AI", "base_url": fake_provider.base_url, "api_key": "sk-fake-test-key-0001"},
    ).json()
    model = admin.http.post(
        base_url + "/api/admin/models", json={"provider_id": provider["id"], "model_id": "fake-model", **model_fields}
    ).json()
    return admin, provider, model


@pytest.fixture
def chat(live_server, app, fake_provider):
    """An admin who connected the fake provider (one model, with a system prompt) and a user."""
    admin, _provider, model = connect_fake_provider(
        live_server.url,
        fake_provider,
        "stream_admin",
        model_name="Fake",
        system_prompt="You are terse.",
        max_tokens=512,
        temperature=0.2,
        context_messages=4,
    )
    user = ChatUser.register(live_server.url, "streamer")
    return {"user": user, "model_id": model["model_id"], "model": model, "admin": admin}


@pytest.fixture
def chat_page(page, live_server, fake_provider, app):
    """A user logged in on the chat page; the admin connected the fake provider with one model."""
    admin, provider, model = connect_fake_provider(
        live_server.url, fake_provider, "page_admin", model_name="Fake Model"
    )
    user = ChatUser.register(live_server.url, "page_user")
    page.context.add_cookies([{"name": "aihelper_session", "value": user.cookie, "url": live_server.url}])
    page.goto(live_server.url + "/")
    expect(page.get_by_test_id("model-select")).to_be_visible()
    return {"page": page, "url": live_server.url, "user": user, "admin": admin, "provider": provider, "model": model}


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where browser tests save their screenshots: a temporary directory, so a
    test run never rewrites tracked files; AIHELPER_SCREENSHOT_DIR=docs refreshes
    the README's pictures."""
    chosen = os.environ.get("AIHELPER_SCREENSHOT_DIR")
    if not chosen:
        return tmp_path
    directory = Path(chosen).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(
        os.path.exists(CHROMIUM),
        "Debian's Chromium is not installed",
        "install it with: apt-get install chromium fonts-wqy-microhei (or run scripts/test.sh)",
    )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-quic",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 1280, "height": 800}}


def pytest_report_header(config):
    database = TEST_DATABASE_URL.split("@")[-1] if TEST_DATABASE_URL else "SQLite (temporary file)"
    return f"aihelper test database: {database}; chromium: {shutil.which('chromium') or 'missing'}"
