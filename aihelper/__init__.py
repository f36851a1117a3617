"""aihelper: a self-hosted, multi-user AI chat system.

`create_app()` builds the app in this order: config -> logging and the request log -> the host check
in front of it (ProxyFix for requests from the proxy before that, and the reading away of unread
bodies before everything) -> extensions -> blueprints -> cli -> error handlers and request guards
-> schema on an empty database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from aihelper import i18n
from aihelper.config import AUTOCOMMIT_BIND, load_settings
from aihelper.extensions import csrf, db, limiter, login_manager, migrate, sock
from aihelper.live import create_hub
from aihelper.llm import ProviderClient
from aihelper.telemetry import metrics
from aihelper.telemetry.logs import configure_logging, register_request_log
from aihelper.web.host_check import HostCheck
from aihelper.web.json_body import BodyJSONProvider
from aihelper.web.proxies import TrustedProxyFix
from aihelper.web.unread_body import DrainUnreadBody

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    app = Flask(
        __name__,
        # AIHELPER_INSTANCE_PATH moves the folder of secrets, SQLite file and uploads (tests, packaging).
        instance_path=instance_path or os.environ.get("AIHELPER_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.update(load_settings(app.instance_path, overrides))
    app.json = BodyJSONProvider(app)
    app.json.ensure_ascii = False  # Chinese stays readable in JSON answers
    app.json.sort_keys = False  # key order carries meaning (providers grouped in model order)
    configure_logging(app)
    # Before every other request hook (extensions' too): it times them all and logs what they left.
    register_request_log(app)
    # The first thing a request meets (after ProxyFix has set the forwarded Host).
    app.wsgi_app = HostCheck(app.wsgi_app, app)
    if app.config["AIHELPER_PROXY_FIX"]:
        hops, proxies = app.config["AIHELPER_PROXY_FIX"], app.config["FORWARDED_ALLOW_IPS"]
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, hops, proxies)
    # Outermost: whatever refused a request before reading its body, the rest is read away here.
    app.wsgi_app = DrainUnreadBody(app.wsgi_app)

    _init_extensions(app)
    _register_blueprints(app)

    from aihelper.cli import register_commands
    from aihelper.errors import register_error_handlers
    from aihelper.web.assets import register_assets
    from aihelper.web.guards import register_request_guards
    from aihelper.web.headers import register_security_headers

    register_commands(app)
    register_error_handlers(app)
    register_request_guards(app)
    # Before the assets: after_request handlers run last first, so static files set their caching
    # before the headers' default of no-store applies.
    register_security_headers(app)
    register_assets(app)

    if app.config["AIHELPER_CREATE_SCHEMA_ON_START"]:
        from aihelper.schema import ensure_schema

        with app.app_context():
            ensure_schema()
    return app


def _init_extensions(app: Flask) -> None:
    from aihelper import models  # noqa: F401  (registers the tables)
    from aihelper.auth.session import register_login_loader
    from aihelper.chat.checkpoints import Checkpoints
    from aihelper.chat.drain import Drain
    from aihelper.schema import MIGRATIONS_DIR, enable_sqlite_foreign_keys

    i18n.init_app(app)
    db.init_app(app)
    with app.app_context():
        enable_sqlite_foreign_keys(db.engine)
        enable_sqlite_foreign_keys(db.engines[AUTOCOMMIT_BIND])
        metrics.count_database_errors(db.engine)
        metrics.count_database_errors(db.engines[AUTOCOMMIT_BIND])
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    register_login_loader(login_manager)
    csrf.init_app(app)
    limiter.init_app(app)
    sock.init_app(app)
    # The one outbound client: every provider call goes through it (aihelper/llm).
    app.extensions["llm_client"] = ProviderClient(
        refuse_private_networks=app.config["AIHELPER_REFUSE_PRIVATE_NETWORKS"]
    )
    # Generations running now: in memory, or in Redis (shared by all workers) when REDIS_URL is set.
    app.extensions["live_hub"] = create_hub(app.config["REDIS_URL"], app.config["AIHELPER_ANSWER_LEASE_SECONDS"])
    # Their text written to the rows as it grows, and answers whose worker died finished.
    app.extensions["checkpoints"] = Checkpoints(app)
    # A stopping worker's running answers finish, or are stored as interrupted, before it exits.
    app.extensions["drain"] = Drain(app)
    if not app.testing:
        app.before_request(app.extensions["checkpoints"].start)


def _register_blueprints(app: Flask) -> None:
    from aihelper.admin import bp as admin_bp
    from aihelper.auth import bp as auth_bp
    from aihelper.chat import api, attachments, pages, presets, socket  # noqa: F401  (the chat routes register on import)
    from aihelper.chat import bp as chat_bp
    from aihelper.health import bp as health_bp
    from aihelper.history import bp as history_bp
    from aihelper.ids import IdConverter
    from aihelper.shares import bp as shares_bp
    from aihelper.telemetry.scrape import bp as metrics_bp

    # Routes name row ids as <id:...>: bound to the id columns' range (aihelper/ids.py).
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(auth_bp)
    app.register_blueprint(chat_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(shares_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
