"""Admins manage accounts: disable, promote, reset passwords, delete — never the last admin."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.models import ChatMessage, ChatSession, LoginSession, User
from aihelper.services import admin_users
from aihelper.services.admin_users import UserChange
from tests.fixtures.actions import PASSWORD, login, make_admin_and_user, page_data, register


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def test_the_user_list_shows_counts_logins_and_status(app):
    admin, _user = make_admin_and_user(app)
    users = admin.get("/api/admin/users").json["users"]
    assert [u["username"] for u in users] == ["admin_ann", "user_bob"]
    assert set(users[0]) == {
        "id",
        "username",
        "avatar",
        "is_admin",
        "status",
        "message_count",
        "create_time",
        "last_login",
        "groups",
        "quota",
        "limits",
        "today",
    }
    assert users[0]["is_admin"] and not users[1]["is_admin"]
    assert "password_hash" not in str(users)


def test_disabling_a_user_ends_their_session_at_once(app):
    admin, user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    response = admin.put(f"/api/admin/users/{bob}", json={"status": "disabled"})
    assert (response.status_code, response.json["status"]) == (200, "disabled")
    assert user.get("/api/user/info").status_code == 401
    assert login(app.test_client(), "user_bob").status_code == 403
    assert admin.put(f"/api/admin/users/{bob}", json={"status": "active"}).status_code == 200
    assert login(app.test_client(), "user_bob").status_code == 200


def test_promoting_and_demoting(app):
    admin, user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    assert admin.put(f"/api/admin/users/{bob}", json={"is_admin": True}).json["is_admin"] is True
    assert user.get("/api/admin/users").status_code == 200
    assert admin.put(f"/api/admin/users/{bob}", json={"is_admin": False}).json["is_admin"] is False


def test_an_admin_cannot_lock_themselves_out(app):
    admin, _user = make_admin_and_user(app)
    me = user_id(app, "admin_ann")
    for change in ({"status": "disabled"}, {"is_admin": False}):
        response = admin.put(f"/api/admin/users/{me}", json=change)
        assert (response.status_code, response.json["code"]) == (400, "cannot_change_self")
    assert admin.delete(f"/api/admin/users/{me}").json["code"] == "cannot_change_self"
    assert admin.get("/api/admin/users").status_code == 200


def test_the_last_admin_cannot_be_removed_by_anyone(app, app_context):
    register(app.test_client(), "only_admin")
    register(app.test_client(), "someone")
    only_admin = db.session.scalar(select(User).where(User.username == "only_admin"))
    someone = db.session.scalar(select(User).where(User.username == "someone"))
    for action in (
        lambda: admin_users.update_user(someone, only_admin.id, UserChange(status="disabled")),
        lambda: admin_users.update_user(someone, only_admin.id, UserChange(is_admin=False)),
        lambda: admin_users.delete_user(someone, only_admin.id),
    ):
        with pytest.raises(Failure) as refused:
            action()
        assert refused.value.code == "last_admin"
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(User, only_admin.id).is_admin is True


def test_resetting_a_password_ends_the_old_sessions(app):
    admin, user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    short = admin.put(f"/api/admin/users/{bob}", json={"password": "short"})
    assert short.json["code"] == "password_length"
    assert admin.put(f"/api/admin/users/{bob}", json={"password": "reset-by-admin"}).status_code == 200
    assert user.get("/api/user/info").status_code == 401
    assert login(app.test_client(), "user_bob", PASSWORD).status_code == 401
    assert login(app.test_client(), "user_bob", "reset-by-admin").status_code == 200


def test_deleting_a_user_removes_their_conversations(app):
    admin, _user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    with app.app_context():
        db.session.add(ChatSession(session_id="bob-chat", user_id=bob, title="hello"))
        db.session.add(ChatMessage(session_id="bob-chat", user_id=bob, role="user", content="hi"))
        db.session.commit()
    assert admin.delete(f"/api/admin/users/{bob}").status_code == 200
    with app.app_context():
        assert db.session.get(User, bob) is None
        assert db.session.scalar(select(func.count()).select_from(ChatSession)) == 0
        assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0
    assert admin.delete(f"/api/admin/users/{bob}").status_code == 404


def test_two_admins_deleting_each_other_at_once_leave_one_admin_and_lose_nothing_half_way(app, monkeypatch):
    """Ann deletes Bob while Bob, meanwhile, deletes Ann: Bob's deletion is decided (and Bob
    disabled) before his conversations go, so his own request is refused as the last admin's, and
    Ann's deletion of Bob completes instead of failing with his conversations already gone."""
    admin, _user = make_admin_and_user(app)
    ann, bob = user_id(app, "admin_ann"), user_id(app, "user_bob")
    assert admin.put(f"/api/admin/users/{bob}", json={"is_admin": True}).status_code == 200
    with app.app_context():
        db.session.add(ChatSession(session_id="bob-chat", user_id=bob, title="hello"))
        db.session.add(ChatMessage(session_id="bob-chat", user_id=bob, role="user", content="hi"))
        db.session.commit()
    bob_meanwhile: list[Failure] = []
    erase = admin_users.erase_conversations

    def bob_deletes_ann_meanwhile(conversations):
        monkeypatch.setattr(admin_users, "erase_conversations", erase)  # Bob's request comes once
        with app.app_context():  # another request: its own session and transaction
            with pytest.raises(Failure) as refused:
                admin_users.delete_user(db.session.get(User, bob), ann)
            bob_meanwhile.append(refused.value)
        erase(conversations)

    monkeypatch.setattr(admin_users, "erase_conversations", bob_deletes_ann_meanwhile)
    with app.app_context():
        admin_users.delete_user(db.session.get(User, ann), bob)
    assert [error.code for error in bob_meanwhile] == ["last_admin"]
    with app.app_context():
        assert db.session.get(User, bob) is None
        assert db.session.get(User, ann).is_admin is True
        assert db.session.scalar(select(func.count()).select_from(ChatSession)) == 0
        assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0
    assert admin.get("/api/admin/users").status_code == 200


def test_a_user_being_deleted_is_disabled_and_logged_out_before_their_conversations_go(app, monkeypatch):
    admin, _user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    seen_while_erasing = []
    erase = admin_users.erase_conversations

    def look_at_bob_first(conversations):
        with app.app_context():  # what any other request sees meanwhile
            logins = db.session.scalar(
                select(func.count()).select_from(LoginSession).where(LoginSession.user_id == bob)
            )
            seen_while_erasing.append((db.session.get(User, bob).status, logins))
        erase(conversations)

    monkeypatch.setattr(admin_users, "erase_conversations", look_at_bob_first)
    assert admin.delete(f"/api/admin/users/{bob}").status_code == 200
    assert seen_while_erasing == [("disabled", 0)]


def test_user_pages_use_forms_with_csrf(app):
    admin, _user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    assert admin.post(f"/admin/users/{bob}/delete").status_code == 400, "no CSRF token, no delete"
    assert user_id(app, "user_bob") == bob
    token = page_data(admin.get("/admin/users").get_data(as_text=True))["csrf_token"]
    response = admin.post(f"/admin/users/{bob}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert user_id(app, "user_bob") is None


def test_a_refused_page_form_reopens_with_the_reason(app):
    admin, _user = make_admin_and_user(app)
    bob = user_id(app, "user_bob")
    token = page_data(admin.get("/admin/users").get_data(as_text=True))["csrf_token"]
    response = admin.post(f"/admin/users/{bob}", data={"csrf_token": token, "password": "short"})
    assert response.status_code == 400
    error = page_data(response.get_data(as_text=True))["form_error"]
    assert error["dialog"] == "user" and error["id"] == bob
    assert "8–128" in error["message"]
    assert "password" not in error["values"], "a password is never echoed into the page"


def test_registration_can_be_closed_and_reopened_from_the_settings(app):
    admin, _user = make_admin_and_user(app)
    assert admin.put("/api/admin/settings", json={"registration_open": False}).json == {
        "registration_open": False,
        "retention_days": 0,
        "default_group": None,
        "audit_retention_days": 365,
        "sharing_enabled": True,
    }
    assert register(app.test_client(), "too_late").status_code == 403
    token = page_data(admin.get("/admin/settings").get_data(as_text=True))["csrf_token"]
    assert admin.post("/admin/settings", data={"csrf_token": token, "registration_open": "1"}).status_code == 302
    assert register(app.test_client(), "in_time").status_code == 201
    assert admin.get("/api/admin/stats").json == {
        "users": 3,
        "providers": 0,
        "models": 0,
        "sessions": 0,
        "messages_today": 0,
    }


def test_an_admin_creates_an_account_while_registration_is_closed(app):
    admin, _user = make_admin_and_user(app)
    assert admin.put("/api/admin/settings", json={"registration_open": False}).status_code == 200
    refused = admin.post("/api/admin/users", json={"username": "carol", "password": PASSWORD, "status": "disabled"})
    assert (refused.status_code, refused.json["code"]) == (400, "unknown_field"), "a new account is active"
    response = admin.post("/api/admin/users", json={"username": "  carol ", "password": PASSWORD})
    assert response.status_code == 201
    created = response.json
    assert (created["username"], created["is_admin"], created["status"]) == ("carol", False, "active")
    assert created["id"] == user_id(app, "carol")
    assert login(app.test_client(), "carol").status_code == 200, "the new account logs in with its password"

    made_admin = admin.post("/api/admin/users", json={"username": "dave", "password": PASSWORD, "is_admin": True})
    assert (made_admin.status_code, made_admin.json["is_admin"]) == (201, True)
    assert [u["username"] for u in admin.get("/api/admin/users").json["users"]] == [
        "admin_ann",
        "user_bob",
        "carol",
        "dave",
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "ab", "password": PASSWORD}, 400, "username_length"),
        ({"username": "bad name!", "password": PASSWORD}, 400, "username_chars"),
        ({"username": "erin", "password": "short"}, 400, "password_length"),
        ({"password": PASSWORD}, 400, "missing_field"),
        ({"username": "erin"}, 400, "missing_field"),
        ({"username": "erin", "password": PASSWORD, "is_admin": "maybe"}, 400, "invalid_field"),
        ({"username": "USER_BOB", "password": PASSWORD}, 409, "username_taken"),
        # A full-width ｂ, a Cyrillic а: the same names to a reader, so taken.
        ({"username": "user_\uff42ob", "password": PASSWORD}, 409, "username_taken"),
        ({"username": "\u0430dmin_ann", "password": PASSWORD}, 409, "username_taken"),
    ],
)
def test_creating_an_account_follows_the_registration_rules(app, body, status, code):
    admin, _user = make_admin_and_user(app)
    response = admin.post("/api/admin/users", json=body)
    assert (response.status_code, response.json["code"]) == (status, code)
    assert len(admin.get("/api/admin/users").json["users"]) == 2, "nothing was created"


def test_only_admins_create_accounts_and_only_from_the_app_itself(app):
    admin, user = make_admin_and_user(app)
    body = {"username": "mallory", "password": PASSWORD, "is_admin": True}
    assert app.test_client().post("/api/admin/users", json=body).status_code == 401
    assert user.post("/api/admin/users", json=body).status_code == 403
    foreign = admin.post("/api/admin/users", json=body, headers={"Origin": "https://evil.example"})
    assert (foreign.status_code, foreign.json["code"]) == (403, "foreign_origin")
    as_form = admin.post("/api/admin/users", data=body)
    assert as_form.status_code == 415
    assert user_id(app, "mallory") is None
    assert admin.post("/api/admin/users", json=body, headers={"Origin": "http://localhost"}).status_code == 201
