"""Cross-site protection: JSON-only API, CSRF tokens on page forms, an Origin check on both."""

from __future__ import annotations

from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import User
from tests.fixtures.actions import PASSWORD, make_admin_and_user, page_data, register


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_a_form_encoded_api_post_is_refused_with_415(client, app):
    response = client.post("/api/register", data={"username": "eve", "password": PASSWORD})
    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"
    assert user_count(app) == 0


def test_a_text_plain_api_post_is_refused_with_415(client, app):
    body = f'{{"username": "eve", "password": "{PASSWORD}"}}'
    response = client.post("/api/register", data=body, content_type="text/plain")
    assert response.status_code == 415
    assert user_count(app) == 0


def test_a_json_post_from_a_foreign_origin_is_refused(client, app):
    response = client.post(
        "/api/register", json={"username": "eve", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json["code"] == "foreign_origin"
    assert user_count(app) == 0


def test_a_logged_in_users_password_cannot_be_changed_cross_site(client, app):
    register(client, "victim")
    response = client.post(
        "/api/user/password",
        json={"old_password": PASSWORD, "new_password": "attacker-chosen"},
        headers={"Origin": "null"},
    )
    assert response.status_code == 403
    client.post("/api/logout")
    assert client.post("/api/login", json={"username": "victim", "password": PASSWORD}).status_code == 200


def test_same_origin_and_configured_origins_are_accepted(client, app):
    own = client.post(
        "/api/register", json={"username": "own", "password": PASSWORD}, headers={"Origin": "http://localhost"}
    )
    assert own.status_code == 201
    app.config["AIHELPER_ALLOWED_ORIGINS"] = "https://chat.example.com, https://app.example.com/"
    try:
        allowed = app.test_client().post(
            "/api/register",
            json={"username": "friend", "password": PASSWORD},
            headers={"Origin": "https://app.example.com"},
        )
        assert allowed.status_code == 201
    finally:
        app.config["AIHELPER_ALLOWED_ORIGINS"] = ""


def test_requests_without_origin_are_accepted(client):
    # curl and scripts send no Origin header.
    assert register(client, "scripted").status_code == 201
    assert client.post("/api/logout").status_code == 200


def test_a_page_form_post_without_csrf_token_is_refused(client, app):
    response = client.post("/register", data={"username": "eve", "password": PASSWORD})
    assert response.status_code == 400
    assert user_count(app) == 0


def test_a_page_form_post_with_a_forged_csrf_token_is_refused(client, app):
    client.get("/register")
    response = client.post("/register", data={"username": "eve", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert user_count(app) == 0


def test_logout_form_without_csrf_token_keeps_the_user_logged_in(client):
    register(client, "sticky")
    client.post("/logout")
    assert client.get("/api/user/info").status_code == 200


def test_page_forms_work_with_their_csrf_token(client, app):
    token = page_data(client.get("/register").get_data(as_text=True))["csrf_token"]
    response = client.post("/register", data={"username": "formuser", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    logout_token = page_data(home.get_data(as_text=True))["csrf_token"]
    assert client.post("/logout", data={"csrf_token": logout_token}).status_code == 302
    assert client.get("/api/user/info").status_code == 401


def form_token(client, path: str) -> str:
    return page_data(client.get(path).get_data(as_text=True))["csrf_token"]


def test_a_page_form_from_a_foreign_origin_is_refused_even_with_a_valid_csrf_token(client, app):
    token = form_token(client, "/register")
    response = client.post(
        "/register",
        data={"username": "eve", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.mimetype == "text/html", "a page's refusal is a page"
    assert user_count(app) == 0
    own = client.post(
        "/register",
        data={"username": "formuser", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "http://localhost"},
    )
    assert own.status_code == 302
    assert user_count(app) == 1


def test_login_and_logout_forms_from_a_foreign_origin_change_nothing(client):
    register(client, "sticky")
    logout = client.post("/logout", data={"csrf_token": form_token(client, "/")}, headers={"Origin": "null"})
    assert logout.status_code == 403
    assert client.get("/api/user/info").json["username"] == "sticky"
    stranger = client.application.test_client()
    login = stranger.post(
        "/login",
        data={"username": "sticky", "password": PASSWORD, "csrf_token": form_token(stranger, "/login")},
        headers={"Origin": "https://evil.example"},
    )
    assert login.status_code == 403
    assert stranger.get("/api/user/info").status_code == 401


def test_an_admin_page_form_from_a_foreign_origin_is_refused(app):
    admin, _user = make_admin_and_user(app)
    with app.app_context():
        bob = db.session.scalar(select(User.id).where(User.username == "user_bob"))
    response = admin.post(
        f"/admin/users/{bob}/delete",
        data={"csrf_token": form_token(admin, "/admin/users")},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert user_count(app) == 2
