"""Fixtures: the app on SQLite or MariaDB, a test client, a gunicorn live server, Debian's
Chromium through Playwright, and the fake OpenAI-compatible provider.

The database is SQLite in a temporary file unless AIHELPER_TEST_DATABASE_URL names a MariaDB/MySQL
server, whose tables are dropped and rebuilt from the migrations at the start of the run. Every
test starts with empty tables.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, inspect, text

from aihelper import create_app
from aihelper.extensions import db, limiter
from tests.fixtures.actions import captured_logs
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.servers import (
    CHROMIUM,
    FAST_PASSWORD_HASH,
    LIVE_SERVER_REDIS_URL,
    MYSQL_SERVER_URL,
    TEST_DATABASE_URL,
    LiveServer,
    connect_fake_provider,
    fresh_redis,
    require,
    running_gunicorn,
)


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
    """The app, with empty tables (and no attachment files), fresh rate-limit counters and
    registration open."""
    with _app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.session.remove()
    for stray in (Path(_app.instance_path) / "attachments").glob("*"):
        stray.unlink()
    limiter.reset()
    yield _app
    with _app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


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
