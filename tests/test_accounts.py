"""Accounts through the JSON API: register, log in, log out, user info, password change."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import LoginSession, User
from aihelper.models.types import Status
from aihelper.services import accounts, settings
from aihelper.services.accounts import username_key
from tests.fixtures.actions import PASSWORD, login, register


def test_register_logs_in_and_returns_the_public_user(client):
    response = register(client, "alice")
    assert response.status_code == 201
    assert response.json["user"] == {"id": response.json["user"]["id"], "username": "alice", "is_admin": True}
    info = client.get("/api/user/info")
    assert info.status_code == 200
    assert info.json["username"] == "alice"
    assert info.json["message_count"] == 0
    assert info.json["create_time"].endswith("+00:00")
    assert info.json["last_login"].endswith("+00:00")
    assert set(info.json) == {"id", "username", "avatar", "message_count", "is_admin", "create_time", "last_login"}


def test_only_the_first_account_becomes_admin(client, app):
    assert register(client, "first").json["user"]["is_admin"] is True
    assert register(app.test_client(), "second").json["user"]["is_admin"] is False


def test_registration_refuses_fields_it_does_not_name(client, app):
    register(client, "owner")
    response = register(app.test_client(), "mallory", is_admin=True, status="active", message_count=99, id=1)
    assert (response.status_code, response.json["code"]) == (400, "unknown_field")
    assert "is_admin" in response.json["error"]
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "mallory")) is None


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("ab", PASSWORD, "username_length"),
        ("a" * 51, PASSWORD, "username_length"),
        ("bad name", PASSWORD, "username_chars"),
        ("<script>", PASSWORD, "username_chars"),
        ("carol", "short", "password_length"),
        ("carol", "x" * 129, "password_length"),
    ],
)
def test_invalid_usernames_and_passwords_are_refused_with_a_reason(client, app, username, password, code):
    response = register(client, username, password)
    assert response.status_code == 400
    assert response.json["code"] == code
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_usernames_may_use_any_script_digits_and_punctuation(client):
    for name in ("张三丰", "Ölaf_1", "dot.dash-ok", "用户_2026"):
        assert register(client, name).status_code == 201, name
        client.post("/api/logout")


def test_messages_follow_the_chosen_language(client):
    client.set_cookie("lang", "en")
    assert register(client, "ab").json["error"] == "The username must be 3–50 characters long."
    client.set_cookie("lang", "zh")
    assert register(client, "ab").json["error"] == "用户名长度须为 3–50 个字符"
    client.delete_cookie("lang")
    response = client.post(
        "/api/register", json={"username": "ab", "password": PASSWORD}, headers={"Accept-Language": "en-US,en;q=0.9"}
    )
    assert response.json["error"].startswith("The username")


def test_a_taken_name_is_refused_whatever_its_case(client, app):
    register(client, "Alice")
    other = app.test_client()
    response = register(other, "alice")
    assert response.status_code == 409
    assert response.json["code"] == "username_taken"
    assert register(other, "ＡＬＩＣＥ").status_code == 409  # full-width letters are the same name


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430dmin",  # Cyrillic a
        "adm\u0131n",  # dotless i
        "\u1d00dmin",  # small capital A
        "\u1d00\u1d05\u1d0d\u026a\u0274",  # all small capitals
        "\uff41\uff44\uff4d\uff49\uff4e",  # full-width letters
        "ADM\u0406N",  # Cyrillic capital I
        "\u0430\u0501m\u0456n",  # Cyrillic a, komi de, Byelorussian i
    ],
)
def test_a_name_that_only_looks_like_a_taken_one_is_taken(client, app, look_alike):
    register(client, "admin")
    response = register(app.test_client(), look_alike)
    assert (response.status_code, response.json["code"]) == (409, "username_taken")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_names_that_look_different_stay_different(client, app):
    names = ("bob", "bobby", "王小明", "王小朋", "anna", "hanna", "Ödön", "odon", "user_1", "user-1")
    for number, name in enumerate(names):
        registrant = app.test_client()
        registrant.environ_base["REMOTE_ADDR"] = f"198.51.100.{number}"  # past the per-address limit
        assert register(registrant, name).status_code == 201, name


@pytest.mark.parametrize(
    ("name", "look_alike"),
    [
        ("admin", "admln"),  # i and l
        ("admln", "AdmIn"),  # l and a capital I
        ("Admin", "\u0391DM\u0399N"),  # Greek capital alpha and iota
        ("kate", "\u039aATE"),  # Greek capital kappa
        ("KATE", "\u041aate"),  # Cyrillic capital ka
        ("xena", "\u03a7ENA"),  # Greek capital chi
        ("max", "\u039cAX"),  # Greek capital mu
    ],
)
def test_capitals_that_look_like_other_letters_are_taken_too(client, app, name, look_alike):
    register(client, name)
    response = register(app.test_client(), look_alike)
    assert (response.status_code, response.json["code"]) == (409, "username_taken")
    assert login(app.test_client(), look_alike).json["user"]["username"] == name


def test_case_still_does_not_matter_where_a_capital_looks_like_a_latin_one(client, app):
    register(client, "\u041a\u0438\u0440\u0438\u043b\u043b")  # Кирилл: К looks like K, к like ĸ
    assert login(app.test_client(), "\u043a\u0438\u0440\u0438\u043b\u043b").status_code == 200
    assert register(app.test_client(), "\u041a\u0418\u0420\u0418\u041b\u041b").status_code == 409


def test_every_capital_is_one_name_with_its_small_letter():
    """Capitals are mapped before case is folded, and that must never make case count."""
    split = [
        letter
        for letter in map(chr, range(0x20000))
        if letter.casefold() != letter and username_key(letter) != username_key(letter.casefold())
    ]
    assert split == []


def test_digits_that_look_like_letters_are_taken_too(client, app):
    register(client, "bob")
    assert register(app.test_client(), "b0b").status_code == 409


def test_login_finds_the_account_by_a_look_alike_spelling_as_it_does_by_case(client, app):
    register(client, "alice")
    cyrillic = app.test_client()
    assert login(cyrillic, "\u0430lice").status_code == 200
    assert cyrillic.get("/api/user/info").json["username"] == "alice"
    assert login(app.test_client(), "\u0430lice", "not-the-password").status_code == 401


def test_missing_or_mistyped_fields_are_400(client):
    assert client.post("/api/register", json={"username": "bob"}).status_code == 400
    assert client.post("/api/register", json={"username": 5, "password": PASSWORD}).status_code == 400
    assert client.post("/api/register", json=["bob", PASSWORD]).json["code"] == "invalid_json"


def test_closed_registration_answers_403_and_creates_nothing(client, app):
    with app.app_context():
        settings.set_registration_open(False)
    response = register(client, "latecomer")
    assert response.status_code == 403
    assert response.json["code"] == "registration_closed"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_login_with_wrong_name_or_password_gives_the_same_401(client, app):
    register(client, "dave")
    stranger = app.test_client()
    wrong_password = login(stranger, "dave", "not-the-password")
    unknown_user = login(stranger, "nobody-here", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json == unknown_user.json
    assert stranger.get("/api/user/info").status_code == 401


def test_login_is_case_insensitive_on_the_name(client, app):
    register(client, "Erin")
    other = app.test_client()
    assert login(other, "erin").status_code == 200
    assert other.get("/api/user/info").json["username"] == "Erin"


def test_login_rotates_the_session(client, app):
    register(client, "frank")
    client.post("/api/logout")
    client.get("/login")  # an anonymous session cookie, e.g. planted by an attacker
    before = client.get_cookie("aihelper_session")
    assert login(client, "frank").status_code == 200
    after = client.get_cookie("aihelper_session")
    assert after is not None and (before is None or before.value != after.value)
    if before is not None:
        planted = app.test_client()
        planted.set_cookie("aihelper_session", before.value)
        assert planted.get("/api/user/info").status_code == 401


def test_logout_ends_the_session_even_for_a_replayed_cookie(client, app):
    register(client, "grace")
    cookie = client.get_cookie("aihelper_session").value
    assert client.post("/api/logout").status_code == 200
    replay = app.test_client()
    replay.set_cookie("aihelper_session", cookie)
    assert replay.get("/api/user/info").status_code == 401
    assert login(client, "grace").status_code == 200, "the account itself still works"


def test_logout_ends_only_this_device(client, app):
    register(client, "heidi")
    laptop = app.test_client()
    login(laptop, "heidi")
    client.post("/api/logout")
    assert laptop.get("/api/user/info").status_code == 200


def test_password_change_ends_every_other_session(client, app):
    register(client, "ivan")
    phone = app.test_client()
    login(phone, "ivan")
    response = client.post("/api/user/password", json={"old_password": PASSWORD, "new_password": "brand-new-pass"})
    assert response.status_code == 200
    assert client.get("/api/user/info").status_code == 200, "the device that changed it stays logged in"
    assert phone.get("/api/user/info").status_code == 401
    assert login(app.test_client(), "ivan", PASSWORD).status_code == 401
    assert login(app.test_client(), "ivan", "brand-new-pass").status_code == 200


def test_password_change_needs_the_current_password_and_a_valid_new_one(client):
    register(client, "judy")
    wrong = client.post("/api/user/password", json={"old_password": "nope-nope", "new_password": "another-pass"})
    assert (wrong.status_code, wrong.json["code"]) == (400, "wrong_old_password")
    short = client.post("/api/user/password", json={"old_password": PASSWORD, "new_password": "short"})
    assert (short.status_code, short.json["code"]) == (400, "password_length")
    assert client.post("/api/logout").status_code == 200
    assert login(client, "judy", PASSWORD).status_code == 200, "the old password still works"


def test_a_disabled_account_cannot_log_in_and_its_live_session_stops(client, app):
    register(client, "owner")
    victim = app.test_client()
    register(victim, "mallet")
    assert victim.get("/api/user/info").status_code == 200
    with app.app_context():
        user = accounts.find_user("mallet")
        accounts.set_status(user, Status.DISABLED)
        assert (
            db.session.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.user_id == user.id))
            == 0
        )
    assert victim.get("/api/user/info").status_code == 401
    refused = login(app.test_client(), "mallet")
    assert (refused.status_code, refused.json["code"]) == (403, "account_disabled")
    assert victim.get("/").status_code == 302


def test_a_forged_or_tampered_cookie_is_not_a_login(client, app):
    register(client, "kate")
    genuine = client.get_cookie("aihelper_session").value
    payload, _, _signature = genuine.rpartition(".")
    for forged in (
        genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        payload + ".forgedsignature",
        "user_id=1",
        '{"_user_id": "1"}',
    ):
        intruder = app.test_client()
        intruder.set_cookie("aihelper_session", forged)
        intruder.set_cookie("user_id", "1")  # the replaced system trusted this cookie
        assert intruder.get("/api/user/info").status_code == 401, forged


def test_a_cookie_signed_with_another_secret_is_refused(client, app):
    from flask.sessions import SecureCookieSessionInterface

    register(client, "leo")
    with app.app_context():
        token_of_leo = db.session.scalar(select(LoginSession.token_hash))
    other = app.test_client()
    with app.test_request_context():
        serializer = SecureCookieSessionInterface().get_signing_serializer(app)
        serializer.secret_keys = [b"not-the-secret-key-of-this-server"]
        forged = serializer.dumps({"_user_id": token_of_leo, "_fresh": True})
    other.set_cookie("aihelper_session", forged)
    assert other.get("/api/user/info").status_code == 401


def test_session_cookie_flags(client):
    response = register(client, "mike")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost


def test_cookie_is_secure_behind_an_https_proxy(app, database_url, instance_dir):
    from aihelper import create_app

    # Extensions are process-wide singletons: the second app keeps the first one's limiter settings.
    proxied = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AIHELPER_PROXY_FIX": 1,
            "AIHELPER_CREATE_SCHEMA_ON_START": False,
            "RATELIMIT_ENABLED": app.config["RATELIMIT_ENABLED"],
        },
        instance_path=str(instance_dir),
    )
    response = proxied.test_client().post(
        "/api/register",
        json={"username": "nina", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 201
    assert "Secure" in response.headers["Set-Cookie"]


def test_login_is_rate_limited_per_account(client, app):
    register(client, "oscar")
    app.config["RATELIMIT_LOGIN_PER_ACCOUNT"] = "3 per minute"
    try:
        codes = [login(app.test_client(), "oscar", "wrong-password").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        limited = login(app.test_client(), "oscar", "wrong-password")
        assert limited.json["code"] == "rate_limited"
        assert "Retry-After" in limited.headers
    finally:
        app.config["RATELIMIT_LOGIN_PER_ACCOUNT"] = "10 per 5 minutes"


def test_registration_is_rate_limited_per_address(client, app):
    statuses = [register(app.test_client(), f"user{i}").status_code for i in range(6)]
    assert statuses == [201] * 5 + [429]


def test_logging_in_as_someone_else_ends_the_previous_login(client, app):
    register(client, "first_one")
    old_cookie = client.get_cookie("aihelper_session").value
    register(app.test_client(), "second_one")
    assert login(client, "second_one").status_code == 200
    replay = app.test_client()
    replay.set_cookie("aihelper_session", old_cookie)
    assert replay.get("/api/user/info").status_code == 401


def test_invisible_or_overlong_usernames_are_refused(client):
    assert register(client, "admin\u3164").json["code"] == "username_chars"
    assert register(client, "\u3164\u3164\u3164").json["code"] == "username_chars"
    assert register(client, "x" * 51).json["code"] == "username_length"


@pytest.fixture
def normalised_lengths(monkeypatch) -> list[int]:
    """The length of every string Unicode-normalised meanwhile (usernames are, before lookup)."""
    lengths: list[int] = []
    normalize = unicodedata.normalize

    def recording(form: str, text: str) -> str:
        lengths.append(len(text))
        return normalize(form, text)

    monkeypatch.setattr(unicodedata, "normalize", recording)
    return lengths


HUGE = 1_000_000


def test_a_huge_username_logs_in_nobody_and_is_never_normalised(client, app, monkeypatch, normalised_lengths):
    register(client, "victim")
    checked_against = []
    check = accounts.check_password_hash

    def recording(pwhash: str, password: str) -> bool:
        checked_against.append(pwhash)
        return check(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", recording)
    # Normalising would strip the padding and find "victim"; the name as sent is no account's.
    response = login(app.test_client(), " " * HUGE + "victim")
    assert (response.status_code, response.json["code"]) == (401, "bad_credentials")
    assert max(normalised_lengths) <= accounts.RAW_USERNAME_MAX
    # Answered like an unknown name, after as long a check: against the dummy hash.
    with app.app_context():
        assert checked_against == [accounts._dummy_hash()]


def test_a_huge_username_is_refused_at_registration_before_it_is_normalised(client, app, normalised_lengths):
    response = register(client, " " * HUGE + "newcomer")
    assert (response.status_code, response.json["code"]) == (400, "username_length")
    assert max(normalised_lengths, default=0) <= accounts.RAW_USERNAME_MAX
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_name_typed_with_separate_accents_may_be_longer_than_its_normal_form(client, app):
    typed = "e\u0301" * accounts.USERNAME_MAX  # 100 code points, 50 letters é once composed
    assert register(client, typed).status_code == 201
    assert login(app.test_client(), typed).json["user"]["username"] == "\u00e9" * accounts.USERNAME_MAX


def test_logins_expire_after_the_session_lifetime(client, app):
    from datetime import timedelta

    register(client, "old_timer")
    with app.app_context():
        row = db.session.scalar(select(LoginSession))
        row.create_time -= app.permanent_session_lifetime + timedelta(minutes=1)
        db.session.commit()
    assert client.get("/api/user/info").status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_page_and_api_logins_share_their_limits(client, app):
    from tests.fixtures.actions import page_data

    register(client, "shared")
    app.config["RATELIMIT_LOGIN_PER_ACCOUNT"] = "3 per minute"
    try:
        for _ in range(3):
            assert login(app.test_client(), "shared", "wrong-password").status_code == 401
        browser = app.test_client()
        token = page_data(browser.get("/login").get_data(as_text=True))["csrf_token"]
        page = browser.post("/login", data={"username": "shared", "password": "wrong-password", "csrf_token": token})
        assert page.status_code == 429
    finally:
        app.config["RATELIMIT_LOGIN_PER_ACCOUNT"] = "10 per 5 minutes"


def test_guessing_the_current_password_is_rate_limited(client, app):
    register(client, "guessed")
    app.config["RATELIMIT_PASSWORD_CHANGE"] = "3 per minute"
    try:
        codes = [
            client.post(
                "/api/user/password", json={"old_password": f"guess-{i}-xx", "new_password": "whatever-1"}
            ).status_code
            for i in range(4)
        ]
        assert codes == [400, 400, 400, 429]
    finally:
        app.config["RATELIMIT_PASSWORD_CHANGE"] = "10 per 5 minutes"


def test_an_unknown_field_is_named_in_the_refusal_but_never_more_than_its_start(client):
    response = register(client, "mallory", **{"x" * 10_000: 1})
    assert response.json["code"] == "unknown_field"
    assert "x" * 40 in response.json["error"] and len(response.json["error"]) < 200


def test_of_many_unknown_fields_the_first_in_the_body_is_named(client):
    body = {"username": "mallory", "password": PASSWORD} | {f"extra{n}": n for n in range(150_000)}  # 3.2 MB
    response = client.post("/api/register", json=body)
    assert (response.status_code, response.json["code"]) == (400, "unknown_field")
    assert "extra0" in response.json["error"]
