"""Creating and upgrading the database schema.

Alembic migrations (migrations/) are the single source of the schema: an empty database is
brought to the newest revision by running them, an existing one is upgraded by them.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine

from aihelper.extensions import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# How long a SQLite statement waits for another writer to finish.
SQLITE_BUSY_TIMEOUT_MS = 10000
log = logging.getLogger(__name__)


def described_by_models(name: str | None, type_: str, _parent_names) -> bool:
    """For schema comparisons: the search index (message_search, and on SQLite the FTS5 tables
    behind it) is no model, since it is a different kind of table on each database."""
    return not (type_ == "table" and name is not None and name.startswith("message_search"))


def enable_sqlite_foreign_keys(engine: Engine) -> None:
    """SQLite ignores ON DELETE CASCADE unless each connection asks for it; WAL lets readers
    proceed while a writer commits, and busy_timeout makes writers wait instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the database and survives a crash of the app; only a
            # power cut can undo the last commits. It saves an fsync on every turn's commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def ensure_schema() -> None:
    """Create the schema when the database is empty; warn when it is older than the code.

    Several gunicorn workers start at once: a lock file in the instance folder lets one of them
    create the schema while the others wait and then find it there.
    """
    lock_path = Path(current_app.instance_path) / ".schema.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not inspect(db.engine).has_table("users"):
                log.info("empty database: creating the schema")
                upgrade(directory=str(MIGRATIONS_DIR))
            elif current_revision() != head_revision():
                log.warning("the database schema is older than the code: run `flask --app app db upgrade`")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def init_or_upgrade() -> str:
    """For `flask init-db`: create the schema, or bring an existing one to the newest revision;
    returns the revision the database is at afterwards."""
    upgrade(directory=str(MIGRATIONS_DIR))
    return current_revision() or "none"


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migration_scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str | None:
    return migration_scripts().get_current_head()
