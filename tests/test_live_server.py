"""Against gunicorn with the production config: concurrent registrations, real cookies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests
from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import AppSetting, User
from tests.fixtures.actions import PASSWORD


def test_exactly_one_admin_when_twenty_registrations_race(live_server, app):
    start_together = Barrier(20)

    def register(index: int) -> requests.Response:
        start_together.wait()
        return requests.post(
            live_server.url + "/api/register",
            json={"username": f"racer{index:02d}", "password": PASSWORD},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(register, range(20)))

    assert [r.status_code for r in responses] == [201] * 20
    admins = [r.json()["user"]["username"] for r in responses if r.json()["user"]["is_admin"]]
    assert len(admins) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 20
        assert db.session.scalar(select(func.count()).select_from(User).where(User.is_admin.is_(True))) == 1
        claim = db.session.get(AppSetting, "first_admin_id")
        assert db.session.get(User, int(claim.value)).username == admins[0]


def test_a_session_from_the_live_server_survives_across_workers_and_ends_at_logout(live_server, app):
    browser = requests.Session()
    assert browser.post(live_server.url + "/api/register", json={"username": "walker", "password": PASSWORD}).ok
    # Several requests: with two workers they are served by either, both must accept the cookie.
    assert all(browser.get(live_server.url + "/api/user/info").status_code == 200 for _ in range(6))
    cookie = browser.cookies.get("aihelper_session")
    assert browser.post(live_server.url + "/api/logout").status_code == 200
    replay = requests.get(live_server.url + "/api/user/info", cookies={"aihelper_session": cookie}, timeout=10)
    assert replay.status_code == 401
