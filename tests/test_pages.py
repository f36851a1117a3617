"""Pages without a browser: redirects, form posts, errors and the data handed to Vue."""

from __future__ import annotations

from tests.fixtures.actions import PASSWORD, page_data, register


def csrf_token(client, path: str) -> str:
    return page_data(client.get(path).get_data(as_text=True))["csrf_token"]


def test_the_start_page_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/"


def test_login_form_logs_in_and_follows_a_local_next(client, app):
    register(app.test_client(), "pat")
    token = csrf_token(client, "/login?next=/")
    response = client.post("/login?next=/", data={"username": "pat", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/api/user/info").json["username"] == "pat"


def test_login_form_never_redirects_off_site(client, app):
    register(app.test_client(), "quinn")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/x"):
        token = csrf_token(client, "/login")
        response = client.post(
            "/login",
            query_string={"next": target},
            data={"username": "quinn", "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == "/", target
        client.post("/api/logout")


def test_a_wrong_password_on_the_form_shows_the_error_and_keeps_the_name(client, app):
    register(app.test_client(), "rose")
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "rose", "password": "wrong-wrong", "csrf_token": token})
    assert response.status_code == 401
    data = page_data(response.get_data(as_text=True))
    assert data["error"] == "用户名或密码错误"
    assert data["username"] == "rose"
    assert "password" not in data


def test_register_form_explains_a_bad_username(client):
    client.set_cookie("lang", "en")
    token = csrf_token(client, "/register")
    response = client.post("/register", data={"username": "x", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 400
    assert page_data(response.get_data(as_text=True))["error"] == "The username must be 3–50 characters long."


def test_user_text_reaches_the_page_only_as_escaped_json(client):
    token = csrf_token(client, "/login")
    hostile = "</script><script>alert(1)</script>{{7*7}}"
    response = client.post("/login", data={"username": hostile, "password": PASSWORD, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "{{7*7}}" not in html.split('id="page-data"')[0], "nothing user-typed before the data block"
    assert page_data(html)["username"] == hostile


def test_the_chat_page_carries_the_user_for_the_header(client):
    register(client, "sam")
    data = page_data(client.get("/").get_data(as_text=True))
    assert data["user"]["username"] == "sam"
    assert data["user"]["is_admin"] is True
    assert data["csrf_token"]


def test_logged_in_users_visiting_login_go_to_the_app(client):
    register(client, "tina")
    assert client.get("/login").headers["Location"] == "/"
    assert client.get("/register").headers["Location"] == "/"


def test_language_follows_the_cookie_then_the_browser(client):
    assert 'lang="zh-CN"' in client.get("/login").get_data(as_text=True)
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en"' in english
    client.set_cookie("lang", "zh")
    chinese = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in chinese
