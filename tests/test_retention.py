"""How long conversations are kept: off by default; an admin sets days; the daily clean-up deletes
conversations without activity for longer (never one being answered), runs once a day however many
workers ask, and users are told on the chat page."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatSession
from aihelper.services import retention, settings
from aihelper.times import utcnow
from tests.fixtures.actions import make_admin_and_user, page_data, wait_for
from tests.fixtures.records import add_session


def iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


@pytest.fixture
def aged(app):
    """A user with conversations last active 400, 40 and 2 days ago, and one answering right now
    whose last activity is 400 days ago."""
    admin, user = make_admin_and_user(app)
    user_id = user.get("/api/user/info").json["id"]
    now = utcnow()
    for name, days in (("ancient", 400), ("old", 40), ("fresh", 2)):
        moment = iso(now - timedelta(days=days))
        add_session(app, user_id, name, moment, [("user", f"hello {name}", moment)])
    add_session(
        app,
        user_id,
        "answering",
        iso(now - timedelta(days=400)),
        [{"role": "assistant", "content": "…", "timestamp": iso(now), "status": "streaming"}],
    )
    return {"admin": admin, "user": user}


def remaining(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(ChatSession.session_id)))


def test_nothing_is_deleted_while_retention_is_off(app, aged):
    with app.app_context():
        assert settings.retention_days() == 0
        assert retention.purge_expired() == 0
    assert remaining(app) == {"ancient", "old", "fresh", "answering"}


def test_an_admin_sets_the_days_and_older_conversations_go(app, aged):
    response = aged["admin"].put("/api/admin/settings", json={"retention_days": 30})
    assert response.status_code == 200 and response.json["retention_days"] == 30
    with app.app_context():
        assert retention.purge_expired() == 2
    assert remaining(app) == {"fresh", "answering"}  # the one being answered stays


@pytest.mark.parametrize("days", [-1, 3651, "x", 1.5, True])
def test_retention_days_must_be_a_sensible_number(aged, days):
    response = aged["admin"].put("/api/admin/settings", json={"retention_days": days})
    assert response.status_code == 400


def test_the_settings_page_form_sets_retention(app, aged):
    admin = aged["admin"]
    token = page_data(admin.get("/admin/settings").get_data(as_text=True))["csrf_token"]
    assert admin.post("/admin/settings", data={"csrf_token": token, "retention_days": "90"}).status_code == 302
    assert admin.get("/api/admin/settings").json["retention_days"] == 90


def test_users_are_told_on_the_chat_page(app, aged):
    assert page_data(aged["user"].get("/").get_data(as_text=True))["retention_days"] == 0
    aged["admin"].put("/api/admin/settings", json={"retention_days": 7})
    assert page_data(aged["user"].get("/").get_data(as_text=True))["retention_days"] == 7


def test_the_daily_run_is_claimed_once_per_day(app, aged):
    aged["admin"].put("/api/admin/settings", json={"retention_days": 30})
    now = utcnow()
    with app.app_context():
        assert retention.claim_daily_run(now) is True
        assert retention.claim_daily_run(now + timedelta(hours=1)) is False  # another worker, same day
        assert retention.claim_daily_run(now + timedelta(hours=25)) is True
        assert retention.claim_daily_run(now + timedelta(hours=25)) is False


def test_run_if_due_cleans_up_once(app, aged):
    aged["admin"].put("/api/admin/settings", json={"retention_days": 30})
    with app.app_context():
        assert retention.run_if_due() == 2
        assert retention.run_if_due() == 0
    assert remaining(app) == {"fresh", "answering"}


def test_the_purge_command(app, aged):
    runner = app.test_cli_runner()
    assert "every conversation is kept" in runner.invoke(args=["purge-history"]).output
    aged["admin"].put("/api/admin/settings", json={"retention_days": 100})
    result = runner.invoke(args=["purge-history"])
    assert result.exit_code == 0 and "Deleted 1 conversation without activity in the last 100 days." in result.output
    assert remaining(app) == {"old", "fresh", "answering"}


def test_the_background_job_cleans_up_as_soon_as_a_worker_starts(app, aged):
    aged["admin"].put("/api/admin/settings", json={"retention_days": 30})
    retention.start_daily_job(app)
    wait_for(lambda: remaining(app) == {"fresh", "answering"})
