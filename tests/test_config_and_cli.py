"""Configuration from the environment and instance/, kept secrets, and the operator commands."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from aihelper import create_app
from aihelper.config import engine_options, load_settings
from aihelper.extensions import db
from aihelper.models import User
from tests.fixtures.actions import PASSWORD, login, register


def test_missing_secrets_are_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("AIHELPER_ENCRYPTION_KEYS", raising=False)
    first = load_settings(str(tmp_path))
    second = load_settings(str(tmp_path))
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 40
    assert first["AIHELPER_ENCRYPTION_KEYS"] == second["AIHELPER_ENCRYPTION_KEYS"]
    Fernet(first["AIHELPER_ENCRYPTION_KEYS"].split(",")[0])  # a valid Fernet key
    for name in ("secret_key", "encryption_keys"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_defaults_serve_sqlite_from_the_instance_folder(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "HOST", "PORT", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'aihelper.db'}"
    assert (settings["HOST"], settings["PORT"]) == ("127.0.0.1", 8000)
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"


def test_environment_overrides_instance_config_which_overrides_defaults(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("PORT = 9001\nHOST = '0.0.0.0'\nSECRET_KEY = 'from-file'\n")
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://u:p@db:3306/ai?charset=utf8mb4")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = load_settings(str(tmp_path))
    assert settings["PORT"] == 9100
    assert settings["HOST"] == "0.0.0.0"
    assert settings["SECRET_KEY"] == "from-file"
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("mysql+pymysql://")
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    assert not (tmp_path / "secret_key").exists(), "a given secret is not replaced by a generated one"


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        ("mysql+pymysql://u:p@127.0.0.1:3306/ai", "off"),
        ("mysql+pymysql://u:p@localhost/ai", "off"),
        ("mysql+pymysql://u:p@[::1]/ai", "off"),
        ("mysql+pymysql://u@/ai?unix_socket=/run/mysqld/mysqld.sock", "off"),
        ("mysql+pymysql://u:p@db.internal:3306/ai", "PyMySQL's"),
        ("mysql+pymysql://u:p@localhost.evil.example/ai", "PyMySQL's"),
        ("mysql+pymysql://u:p@127.0.0.1/ai?ssl_ca=/etc/ca.pem&ssl_verify_identity=true", "PyMySQL's"),
    ],
)
def test_tls_to_the_database_is_left_out_only_on_this_machine(url, tls):
    options = engine_options(url)
    assert ("off" if options.get("connect_args", {}).get("ssl_disabled") else "PyMySQL's") == tls


def test_a_restart_keeps_sessions(app, client, database_url, instance_dir):
    register(client, "persistent")
    cookie = client.get_cookie("aihelper_session").value
    restarted = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": True}, instance_path=str(instance_dir)
    )
    other = restarted.test_client()
    other.set_cookie("aihelper_session", cookie)
    assert other.get("/api/user/info").json["username"] == "persistent"


def test_init_db_reports_the_schema_revision(app):
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database schema is ready (revision" in result.output


def test_create_admin_creates_an_account_with_the_given_password(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "root_admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin root_admin" in result.output
    assert login(client, "root_admin").json["user"]["is_admin"] is True
    # The role is taken: the next registration is an ordinary user.
    assert register(app.test_client(), "afterwards").json["user"]["is_admin"] is False


def test_create_admin_prompts_for_a_password_when_none_is_given(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "prompted"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert login(client, "prompted").status_code == 200


def test_create_admin_promotes_an_existing_account_and_keeps_its_password(app, client):
    register(client, "owner")
    register(app.test_client(), "helper")
    result = app.test_cli_runner().invoke(args=["create-admin", "helper"])
    assert result.exit_code == 0, result.output
    assert "Promoted admin helper" in result.output
    with app.app_context():
        assert db.session.scalar(select(User.is_admin).where(User.username == "helper")) is True
    assert login(app.test_client(), "helper").status_code == 200


@pytest.mark.parametrize("password", ["short", "x" * 200])
def test_create_admin_refuses_a_bad_password(app, password):
    result = app.test_cli_runner().invoke(args=["create-admin", "weak", "--password", password])
    assert result.exit_code != 0
    assert "8–128" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "weak")) is None


def test_create_admin_on_an_existing_name_ends_that_accounts_logins(app, client):
    register(client, "squatter")
    register(app.test_client(), "Admin")  # registered before the operator got to it
    squatter_client = app.test_client()
    login(squatter_client, "Admin")
    result = app.test_cli_runner().invoke(args=["create-admin", "admin", "--password", "operator-pass-1"])
    assert result.exit_code == 0, result.output
    assert squatter_client.get("/api/user/info").status_code == 401
    assert login(app.test_client(), "admin", "operator-pass-1").json["user"]["is_admin"] is True


def test_the_instance_folder_is_private(tmp_path):
    instance = tmp_path / "fresh-instance"
    load_settings(str(instance))
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
