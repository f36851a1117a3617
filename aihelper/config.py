"""Settings from defaults, `instance/config.py` and the environment (API.md §1).

Precedence, lowest first: the defaults below, `instance/config.py`, environment variables, and the
overrides passed to `create_app` (tests). Secrets that are not given are generated once and kept in
the instance folder with mode 0600, so restarts keep sessions and stored provider keys readable.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Environment variables read as they are (strings) or converted by the given function.
_ENV_SETTINGS: dict[str, Any] = {
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "AIHELPER_ENCRYPTION_KEYS": str,
    "REDIS_URL": str,
    "HOST": str,
    "PORT": int,
    "AIHELPER_ALLOWED_ORIGINS": str,
    "AIHELPER_ALLOWED_HOSTS": str,
    "AIHELPER_REGISTRATION_OPEN": _flag,
    "AIHELPER_PROXY_FIX": int,
    "FORWARDED_ALLOW_IPS": str,
    "AIHELPER_SECURE_COOKIES": _flag,
    "AIHELPER_LOG_LEVEL": str,
    "AIHELPER_LOG_FORMAT": str,
    "AIHELPER_METRICS_TOKEN": str,
    "AIHELPER_REFUSE_PRIVATE_NETWORKS": _flag,
    "AIHELPER_MAX_MESSAGE_CHARS": int,
    "AIHELPER_MAX_RUNNING_TURNS": int,
    "AIHELPER_QUOTA_CURRENCY": str,
    "AIHELPER_TIMEOUT_CONNECT": float,
    "AIHELPER_TIMEOUT_FIRST_TOKEN": float,
    "AIHELPER_TIMEOUT_BETWEEN_TOKENS": float,
    "AIHELPER_TIMEOUT_TOTAL": float,
    "AIHELPER_FINISH_IN_BACKGROUND": _flag,
    "AIHELPER_AUTO_TITLE": _flag,
    "AIHELPER_IMPORT_MAX_MB": int,
    "AIHELPER_ATTACHMENTS_DIR": str,
    "AIHELPER_ATTACHMENT_MAX_MB": int,
    "AIHELPER_ATTACHMENTS_PER_MESSAGE": int,
    "AIHELPER_ATTACHMENT_QUOTA_MB": int,
    "AIHELPER_EXTRACT_SECONDS": float,
    "AIHELPER_EXTRACT_MEMORY_MB": int,
    "AIHELPER_SHARES_PER_USER": int,
    "AIHELPER_SHARE_STORAGE_MB": int,
    "AIHELPER_RETENTION_JOB": _flag,
    "AIHELPER_STALLED_SOCKET_SECONDS": float,
    "AIHELPER_LOGIN_CHECK_SECONDS": float,
    "AIHELPER_CHECKPOINT_SECONDS": float,
    "AIHELPER_DRAIN_SECONDS": float,
    "AIHELPER_STORE_RETRY_SECONDS": float,
    "AIHELPER_ANSWER_LEASE_SECONDS": float,
}

DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "REDIS_URL": None,
    "AIHELPER_ALLOWED_ORIGINS": "",
    # Host names the server answers for besides localhost, the loopback addresses and its listening
    # address (aihelper/web/host_check.py); any other Host is refused (DNS rebinding).
    "AIHELPER_ALLOWED_HOSTS": "",
    # Registration starts open so the first visitor can become the admin; admins may close it.
    "AIHELPER_REGISTRATION_OPEN": True,
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted, and
    # the addresses they connect from (gunicorn reads the same variable; aihelper/web/proxies.py).
    "AIHELPER_PROXY_FIX": 0,
    "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
    "AIHELPER_SECURE_COOKIES": False,
    "AIHELPER_LOG_LEVEL": "INFO",
    # `text` lines, or `json`: one JSON object per line (aihelper/telemetry/logs.py).
    "AIHELPER_LOG_FORMAT": "text",
    # GET /metrics exists only when set, and answers only `Authorization: Bearer <this>`.
    "AIHELPER_METRICS_TOKEN": None,
    # Loopback and private networks are allowed by default so a local Ollama or vLLM works; set
    # this to refuse them (link-local and cloud-metadata addresses are always refused).
    "AIHELPER_REFUSE_PRIVATE_NETWORKS": False,
    # Seconds a "test connection" or model listing may take.
    "AIHELPER_TEST_CONNECTION_TIMEOUT": 10.0,
    # Chat: the longest message a user may send, and the provider time limits (seconds).
    "AIHELPER_MAX_MESSAGE_CHARS": 32000,
    "AIHELPER_TIMEOUT_CONNECT": 10.0,
    "AIHELPER_TIMEOUT_FIRST_TOKEN": 120.0,
    "AIHELPER_TIMEOUT_BETWEEN_TOKENS": 60.0,
    "AIHELPER_TIMEOUT_TOTAL": 900.0,
    # When the browser goes away mid-answer: finish it in the background (so reopening the
    # conversation shows the whole answer) or stop it at once.
    "AIHELPER_FINISH_IN_BACKGROUND": True,
    # How many answers one user may have generating at the same time.
    "AIHELPER_MAX_RUNNING_TURNS": 3,
    # The currency of the cost-per-month quotas: answers priced in it count against them.
    "AIHELPER_QUOTA_CURRENCY": "USD",
    # After a new conversation's first answer, ask the same model for a short title.
    "AIHELPER_AUTO_TITLE": True,
    # The largest conversations file a user may import (MB).
    "AIHELPER_IMPORT_MAX_MB": 32,
    # Attachments: where the files are (default: `attachments` in the instance folder; several
    # instances mount the same folder), the largest file, how many per message, and how much one
    # user may keep in all.
    "AIHELPER_ATTACHMENTS_DIR": None,
    "AIHELPER_ATTACHMENT_MAX_MB": 20,
    "AIHELPER_ATTACHMENTS_PER_MESSAGE": 10,
    "AIHELPER_ATTACHMENT_QUOTA_MB": 500,
    # Reading an uploaded file (decoding an image, a PDF's text) runs in a child process with these
    # limits: a hostile file stops there, never in the worker.
    "AIHELPER_EXTRACT_SECONDS": 20.0,
    "AIHELPER_EXTRACT_MEMORY_MB": 768,
    # How many shared links one user may keep (revoking one makes room).
    "AIHELPER_SHARES_PER_USER": 100,
    # And how much their snapshots may hold in all: each is a copy of the messages it shows.
    "AIHELPER_SHARE_STORAGE_MB": 100,
    # Each worker checks hourly whether the daily clean-up of conversations older than the
    # admin's retention setting is due (one worker runs it); off, run `flask purge-history` instead.
    "AIHELPER_RETENTION_JOB": True,
    # flask-sock: a ping every 25 s keeps proxies from closing idle sockets; a frame over 64 KB
    # closes the socket with 1009.
    "SOCK_SERVER_OPTIONS": {"ping_interval": 25, "max_message_size": 64 * 1024},
    # A websocket that takes nothing for this long while frames wait for it is closed; the page
    # reconnects and resumes from where it was.
    "AIHELPER_STALLED_SOCKET_SECONDS": 30.0,
    # An open websocket checks its login this often; an ended login (logout, password change,
    # disabled account) also tells the user's sockets at once, in every worker.
    "AIHELPER_LOGIN_CHECK_SECONDS": 30.0,
    "SESSION_COOKIE_NAME": "aihelper_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": 30 * 24 * 3600,
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    # CSRF is checked for every page form post in web/guards.py; the JSON API relies on its
    # JSON-only and Origin rules instead (API.md §2).
    "WTF_CSRF_CHECK_DEFAULT": False,
    "PASSWORD_HASH_METHOD": "scrypt",
    # Create the schema on start when the database is empty (tests turn this off and build their own).
    "AIHELPER_CREATE_SCHEMA_ON_START": True,
    "RATELIMIT_ENABLED": True,
    # While Redis is away the limits are counted in each process's memory instead of failing
    # requests; Redis is tried again now and then, and used once it answers.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_LOGIN": "10 per minute;50 per hour",
    "RATELIMIT_REGISTER": "5 per minute;30 per hour",
    "RATELIMIT_LOGIN_PER_ACCOUNT": "10 per 5 minutes",
    "RATELIMIT_LOGIN_ACCOUNT_TOTAL": "100 per hour",
    "RATELIMIT_PASSWORD_CHANGE": "10 per 5 minutes",
    "RATELIMIT_IMPORT": "20 per hour",
    "RATELIMIT_UPLOAD": "60 per minute;600 per hour",
    # Making a shared link or copying one into one's account (a copy writes a whole conversation).
    "RATELIMIT_SHARE": "30 per minute;300 per hour",
    # A running answer's text is written to its row this often (aihelper/chat/checkpoints.py), and
    # its lease renewed; an answer whose lease lapsed (its worker died) is stored as interrupted.
    "AIHELPER_CHECKPOINT_SECONDS": 2.0,
    "AIHELPER_ANSWER_LEASE_SECONDS": 30.0,
    # A stopping worker (a deploy, a shutdown) lets running answers finish for this long, then
    # stores the rest as interrupted (aihelper/chat/drain.py); gunicorn.conf.py gives it the time.
    "AIHELPER_DRAIN_SECONDS": 120.0,
    # An answer that can't be stored because the database is away is tried again this long.
    "AIHELPER_STORE_RETRY_SECONDS": 600.0,
}

SECRET_FILES = {
    "SECRET_KEY": ("secret_key", lambda: secrets.token_urlsafe(48)),
    "AIHELPER_ENCRYPTION_KEYS": ("encryption_keys", lambda: Fernet.generate_key().decode()),
}


def load_settings(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the merged settings for an app whose instance folder is `instance_path`."""
    settings = dict(DEFAULTS)
    settings.update(_read_instance_config(Path(instance_path) / "config.py"))
    for name, convert in _ENV_SETTINGS.items():
        raw = os.environ.get(name)
        if raw not in (None, ""):
            settings[name] = convert(raw)
    settings.update(overrides or {})

    # The instance folder holds secrets and the SQLite file (every chat): readable by its owner only.
    Path(instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    # Which secrets are the instance folder's files (a backup copies those; see services/backup.py).
    settings["AIHELPER_SECRETS_FROM_FILES"] = set()
    for name, (filename, generate) in SECRET_FILES.items():
        if not settings.get(name):
            settings[name] = _kept_secret(Path(instance_path) / filename, generate)
            settings["AIHELPER_SECRETS_FROM_FILES"].add(name)
    if not settings.get("SQLALCHEMY_DATABASE_URI"):
        settings["SQLALCHEMY_DATABASE_URI"] = settings.get("DATABASE_URL") or (
            f"sqlite:///{Path(instance_path) / 'aihelper.db'}"
        )
    settings["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings["SQLALCHEMY_DATABASE_URI"])
    settings["SQLALCHEMY_BINDS"] = {
        AUTOCOMMIT_BIND: {
            "url": settings["SQLALCHEMY_DATABASE_URI"],
            **autocommit_options(settings["SQLALCHEMY_DATABASE_URI"]),
        }
    }
    settings["RATELIMIT_STORAGE_URI"] = settings.get("REDIS_URL") or "memory://"
    return settings


def engine_options(database_uri: str) -> dict[str, Any]:
    """Connection-pool settings that fit the database behind `database_uri`."""
    if database_uri.startswith("mysql"):
        # MySQL closes idle connections (wait_timeout); pre-ping and recycle avoid "gone away".
        options: dict[str, Any] = {
            "pool_pre_ping": True,
            "pool_recycle": 1800,
            # A gevent worker runs hundreds of turns at once: connections beyond pool_size are
            # closed when returned, and opening one costs milliseconds of CPU, so the pool keeps
            # what a burst needs (2 workers x 2 engines x 30 stays under MySQL's 151 connections).
            "pool_size": 20,
            "max_overflow": 10,
            "hide_parameters": True,  # a logged SQL error must not carry password hashes or keys
            # Each statement sees what other workers committed.
            "isolation_level": "READ COMMITTED",
        }
        url = make_url(database_uri)
        on_this_machine = url.host in (None, "", "localhost", "127.0.0.1", "::1") or "unix_socket" in url.query
        if on_this_machine and not any(name.startswith("ssl") for name in url.query):
            # PyMySQL tries TLS unless told otherwise, and loads the system's CA certificates for
            # every new connection (~5 ms of CPU); over loopback or a socket TLS protects nothing.
            # TLS options in the URL (a tunnel to a remote server, say) are kept as they are.
            options["connect_args"] = {"ssl_disabled": True}
        return options
    return {"hide_parameters": True}


# The turn's read and its one-statement write need no transaction: on connections that stay in
# autocommit, each is one round trip, with no COMMIT, no ROLLBACK on return and no ping before it.
AUTOCOMMIT_BIND = "autocommit"


def autocommit_options(database_uri: str) -> dict[str, Any]:
    options = {
        **engine_options(database_uri),
        "isolation_level": "AUTOCOMMIT",
        "pool_reset_on_return": None,
        # PyMySQL would send the ROLLBACK SQLAlchemy issues when a connection closes, autocommit or not.
        "skip_autocommit_rollback": True,
    }
    # A connection the server closed is replaced on its first failure instead (the turn retries its
    # read once); pinging before every use would be a round trip of its own.
    options.pop("pool_pre_ping", None)
    return options


def allowed_origins(setting: str) -> frozenset[str]:
    """The extra origins of `AIHELPER_ALLOWED_ORIGINS`, normalised without a trailing slash."""
    return frozenset(o.strip().rstrip("/") for o in setting.split(",") if o.strip())


def _read_instance_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102 - operator's own file
    return {k: v for k, v in namespace.items() if k.isupper()}


def _kept_secret(path: Path, generate) -> str:
    """Read the secret at `path`, creating it (mode 0600) when it does not exist yet.

    Created with O_EXCL so that several workers starting at once agree on one value.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        # Another process created the file but has not written it yet.
        for _ in range(50):
            time.sleep(0.02)
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret") from None
    value = generate()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
