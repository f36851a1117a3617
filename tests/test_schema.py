"""The schema: created from the migrations, equal to the models, equal to database.sql on MySQL,
and upgraded without losing rows."""

from __future__ import annotations

import re
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from aihelper import create_app
from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.models import UsageDay
from aihelper.schema import MIGRATIONS_DIR, current_revision, described_by_models, head_revision
from aihelper.services import accounts, search
from aihelper.services.accounts import username_key
from tests.fixtures.actions import PASSWORD, captured_logs
from tests.fixtures.servers import FAST_PASSWORD_HASH, PROJECT_ROOT, TEST_DATABASE_URL, on_mysql

FIRST_REVISION = "2fa20d34e11d"


def test_the_migrated_database_matches_the_models_exactly(app, app_context):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": described_by_models}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
    assert current_revision() == head_revision()


def test_indexes_serve_the_history_list_and_message_order(app, app_context):
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    session_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("chat_sessions")}
    message_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("ai_chat_messages")}
    assert ("user_id", "update_time") in session_indexes
    assert ("session_id", "id") in message_indexes


def scratch_database_url(tmp_path, name: str) -> str:
    """An empty database of the kind under test: a SQLite file, or a new MariaDB database."""
    if not on_mysql():
        return f"sqlite:///{tmp_path / (name + '.db')}"
    return new_mysql_database(TEST_DATABASE_URL, name)


def new_mysql_database(server_url: str, name: str) -> str:
    """Create (or re-create) database `name` on the server of `server_url`, with the server's defaults."""
    url = make_url(server_url)
    server = create_engine(url.set(database=""))
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        connection.execute(text(f"CREATE DATABASE `{name}`"))
    server.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def app_on(database_url: str, instance_dir):
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "AIHELPER_CREATE_SCHEMA_ON_START": False, "RATELIMIT_ENABLED": True},
        instance_path=str(instance_dir),
    )


ROWS = {
    "users": {
        "id": 7,
        "username": "legacy",
        "username_key": "legacy",
        "password_hash": "scrypt:x",
        "is_admin": 1,
        "status": "active",
        "message_count": 2,
        "create_time": "2025-01-02 03:04:05",
    },
    "api_providers": {
        "id": 3,
        "name": "GLM",
        "base_url": "https://open.bigmodel.cn/api/paas/v4",
        "api_key": "gAAAA-token",
        "status": "active",
        "create_time": "2025-01-02 03:04:05",
        "update_time": "2025-01-02 03:04:05",
    },
    "model_configs": {
        "id": 4,
        "provider_id": 3,
        "model_id": "glm-4.5",
        "model_name": "GLM-4.5",
        "max_tokens": 4096,
        "temperature": 0.7,
        "context_messages": 20,
        "status": "active",
        "sort_order": 1,
        "create_time": "2025-01-02 03:04:05",
        "update_time": "2025-01-02 03:04:05",
    },
    "chat_sessions": {
        "id": 5,
        "session_id": "0f5e6c1e-1111-4222-8333-944455556666",
        "user_id": 7,
        "title": "旧对话 😀",
        "model_id": "glm-4.5",
        "pinned": 0,
        "create_time": "2025-01-02 03:04:05",
        "update_time": "2025-01-02 03:05:00",
    },
    "ai_chat_messages": {
        "id": 9,
        "session_id": "0f5e6c1e-1111-4222-8333-944455556666",
        "user_id": 7,
        "role": "assistant",
        "content": "你好 👨‍👩‍👧 " + "x" * 70000,
        "status": "done",
        "timestamp": "2025-01-02 03:05:00",
    },
}


def test_upgrading_a_database_made_by_the_first_migration_keeps_every_row(tmp_path, instance_dir):
    database_url = scratch_database_url(tmp_path, "aihelper_upgrade_test")
    scratch = app_on(database_url, instance_dir)
    with scratch.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=FIRST_REVISION)
        with db.engine.begin() as connection:
            for table, row in ROWS.items():
                columns = ", ".join(row)
                connection.execute(
                    text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})"), row
                )
        upgrade(directory=str(MIGRATIONS_DIR))
        assert current_revision() == head_revision()
        with db.engine.connect() as connection:
            for table, row in ROWS.items():
                stored = (
                    connection.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row["id"]})
                    .mappings()
                    .one()
                )
                for column, value in row.items():
                    got = stored[column]
                    if hasattr(got, "strftime"):
                        got = got.strftime("%Y-%m-%d %H:%M:%S")
                    if (table, column) == ("users", "username_key"):
                        value = username_key(row["username"])  # recomputed: look-alikes are one account
                    assert got == value, f"{table}.{column}"
        # Answers older than the usage rollup were counted into it by its migration.
        rolled_up = db.session.execute(
            select(UsageDay.day, UsageDay.user_id, UsageDay.model_id, UsageDay.messages)
        ).all()
        assert [tuple(row) for row in rolled_up] == [(date(2025, 1, 2), 7, "", 1)]
        # Messages older than the search index were indexed by its migration.
        [hit] = search.search(7, search.SearchQuery(q="你好"))
        assert (hit["message_id"], hit["session_id"]) == (9, ROWS["chat_sessions"]["session_id"])
        # And a message deleted takes its search entry along (no later migration lost the trigger).
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM ai_chat_messages WHERE id = 9"))
        assert search.search(7, search.SearchQuery(q="你好")) == []
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM message_search")).scalar() == 0
        db.session.remove()
        db.engine.dispose()


BEFORE_LOOKALIKE_KEYS = "d4a8c2e61f37"


def insert_users(rows: list[tuple[int, str, str]]) -> None:
    """Accounts (id, username, username_key) written as an earlier revision stored them, all with PASSWORD."""
    password_hash = generate_password_hash(PASSWORD, method=FAST_PASSWORD_HASH)
    with db.engine.begin() as connection:
        for user_id, username, key in rows:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, username_key, password_hash, is_admin, status, "
                    "message_count, create_time) VALUES (:id, :name, :key, :hash, 0, 'active', 0, '2025-01-02')"
                ),
                {"id": user_id, "name": username, "key": key, "hash": password_hash},
            )


def test_upgrading_gives_look_alike_names_one_key_and_every_account_still_logs_in(tmp_path, instance_dir):
    database_url = scratch_database_url(tmp_path, "aihelper_lookalike_upgrade")
    scratch = app_on(database_url, instance_dir)
    # Distinct accounts under the earlier keys (NFKC, case folded); "b0b" looks like "bob".
    accounts_before = [(1, "bob", "bob"), (2, "b0b", "b0b"), (3, "Alice", "alice"), (4, "\u0430lice", "\u0430lice")]
    with scratch.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE_LOOKALIKE_KEYS)
        insert_users(accounts_before)
        with captured_logs() as records:
            upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as connection:
            keys = dict(connection.execute(text("SELECT username, username_key FROM users")).all())
        assert keys["bob"] == username_key("bob") == username_key("b0b")
        assert keys["Alice"] == username_key("alice") == username_key("\u0430lice")
        # The later look-alikes keep their earlier keys, and each name still opens its own account.
        assert (keys["b0b"], keys["\u0430lice"]) == ("b0b", "\u0430lice")
        for typed, user_id in (("bob", 1), ("b0b", 2), ("B0B", 2), ("ALICE", 3), ("\u0430lice", 4)):
            assert accounts.authenticate(typed, PASSWORD).id == user_id, typed
        # A new look-alike of either is taken.
        with pytest.raises(Failure) as taken:
            accounts.register("B\u041eB", PASSWORD)
        assert taken.value.code == "username_taken"
        db.session.remove()
        db.engine.dispose()
    warnings = [r.getMessage() for r in records if r.name == "aihelper.migrations"]
    assert len(warnings) == 2
    assert "'b0b' (id 2) looks like 'bob' (id 1)" in warnings[0]


BEFORE_CAPITAL_KEYS = "9b7e3c5a1d42"


def test_upgrading_gives_capital_look_alikes_one_key_and_every_account_still_logs_in(tmp_path, instance_dir):
    database_url = scratch_database_url(tmp_path, "aihelper_capital_upgrade")
    scratch = app_on(database_url, instance_dir)
    # Keys as the previous rules stored them (digests of skeletons made after case folding): "Admin"
    # and "admln" were two names, as were "KATE" and "ΚATE" (a Greek capital kappa); "b0b" kept its
    # earlier key when it came to look like "bob". The new key of "Admin" is the old one of "admln".
    accounts_before = [
        (1, "Admin", "7kxF3HUSFXjI5F1krjLErXHqGPAHeR_ogfVCHX_G95Q"),
        (2, "admln", "W81TlUCWhbPWoe8JfcGfCYezzrquBEugbCMdnf2R3n0"),
        (3, "KATE", "LCSUc6pQHEPxVMxb0jMsTFq1KBzcfCK6BJckiC7aJfc"),
        (4, "\u039aATE", "8Bo8_SZoU4brjFsHmFUIxSJUmzn55u0-VfcrRoAAWic"),
        (5, "bill", "YjIQFnVTk5yH7YxfK_4LPgaE4Sw6PdJRNhPE5nJjtaE"),
        (6, "bob", "gbY32PzSxtpjWeaWMROhFw3nleS3JbhNHgtM_Z7FjOk"),
        (7, "b0b", "b0b"),
    ]
    with scratch.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE_CAPITAL_KEYS)
        insert_users(accounts_before)
        with captured_logs() as records:
            upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as connection:
            keys = dict(connection.execute(text("SELECT username, username_key FROM users")).all())
        assert keys["Admin"] == username_key("admln") == username_key("AdmIn")
        assert keys["KATE"] == username_key("\u039aATE")
        assert (keys["bill"], keys["bob"]) == (username_key("BILL"), username_key("b0b"))
        # The later look-alikes get (or keep) their earlier keys; each name still opens its own account.
        assert (keys["admln"], keys["\u039aATE"], keys["b0b"]) == ("admln", "\u03baate", "b0b")
        for typed, user_id in (
            ("admin", 1),
            ("AdmIn", 1),
            ("admln", 2),
            ("ADMLN", 2),
            ("kate", 3),
            ("\u039aATE", 4),
            ("\u03baate", 4),
            ("BILL", 5),
            ("bob", 6),
            ("b0b", 7),
        ):
            assert accounts.authenticate(typed, PASSWORD).id == user_id, typed
        # A new look-alike of any of them is taken.
        for look_alike in ("\u0430dmin", "\u041aATE", "blll"):
            with pytest.raises(Failure) as taken:
                accounts.register(look_alike, PASSWORD)
            assert taken.value.code == "username_taken", look_alike
        db.session.remove()
        db.engine.dispose()
    warnings = [r.getMessage() for r in records if r.name == "aihelper.migrations"]
    assert len(warnings) == 2, "b0b was named when it kept its earlier key, and is not again"
    assert "'admln' (id 2) now looks like 'Admin' (id 1)" in warnings[0]
    assert "'ΚATE' (id 4) now looks like 'KATE' (id 3)" in warnings[1]


def test_the_schema_is_created_on_first_start_of_an_empty_database(tmp_path, instance_dir):
    database_url = scratch_database_url(tmp_path, "aihelper_first_start")
    fresh = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": True}, instance_path=str(instance_dir)
    )
    with fresh.app_context():
        assert current_revision() == head_revision()
        response = fresh.test_client().post("/api/register", json={"username": "first", "password": "long-enough-1"})
        assert response.status_code == 201
        db.engine.dispose()


# --- database.sql on MariaDB / MySQL ---------------------------------------------------------------

SCHEMA_QUERIES = {
    "tables": "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db",
    "columns": (
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,"
        " CHARACTER_SET_NAME, COLLATION_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = :db"
    ),
    "indexes": (
        "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS"
        " WHERE TABLE_SCHEMA = :db"
    ),
    "foreign_keys": (
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,"
        " r.DELETE_RULE, r.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k"
        " JOIN information_schema.REFERENTIAL_CONSTRAINTS r"
        "   ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME"
        " WHERE k.TABLE_SCHEMA = :db AND k.REFERENCED_TABLE_NAME IS NOT NULL"
    ),
}


def describe_schema(database_url: str) -> dict[str, dict]:
    """Every table, column, index and foreign key of a MySQL database, keyed for comparison."""
    engine = create_engine(database_url)
    name = make_url(database_url).database
    described = {}
    with engine.connect() as connection:
        for kind, query in SCHEMA_QUERIES.items():
            rows = [tuple(row) for row in connection.execute(text(query), {"db": name})]
            described[kind] = {row[:3] if kind != "tables" else row[:1]: row for row in rows}
        described["version"] = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    return described


def sql_statements(script: str) -> list[str]:
    without_comments = re.sub(r"^--.*$", "", script, flags=re.M)
    return [statement.strip() for statement in without_comments.split(";") if statement.strip()]


def test_database_sql_creates_exactly_the_schema_of_the_models(mysql_server_url, instance_dir):
    migrated_url = new_mysql_database(mysql_server_url, "aihelper_schema_migrated")
    migrated = app_on(migrated_url, instance_dir)
    with migrated.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.engine.dispose()

    loaded_url = new_mysql_database(mysql_server_url, "aihelper_schema_database_sql")
    engine = create_engine(loaded_url)
    with engine.begin() as connection:
        for statement in sql_statements((PROJECT_ROOT / "database.sql").read_text(encoding="utf-8")):
            connection.exec_driver_sql(statement)
    engine.dispose()

    from_script = describe_schema(loaded_url)
    from_models = describe_schema(migrated_url)
    assert from_script["version"] == from_models["version"] == [head_revision()]
    for kind in ("tables", "columns", "indexes", "foreign_keys"):
        script_rows, model_rows = from_script[kind], from_models[kind]
        assert sorted(script_rows) == sorted(model_rows), f"{kind} differ in name"
        for key, row in model_rows.items():
            assert script_rows[key] == row, f"{kind} {key} differs"


def test_database_sql_seeds_no_accounts():
    script = (PROJECT_ROOT / "database.sql").read_text(encoding="utf-8")
    inserts = re.findall(r"INSERT INTO `?(\w+)", script)
    assert inserts == ["alembic_version"]


@pytest.mark.parametrize("emoji", ["😀 𝕏 👨‍👩‍👧", "中文标题"])
def test_four_byte_characters_and_long_bodies_are_stored_whole(app, app_context, emoji):
    from aihelper.models import ChatMessage, ChatSession, User

    user = User(username="emoji", username_key="emoji", password_hash="x")
    db.session.add(user)
    db.session.flush()
    session = ChatSession(session_id="s-" + str(user.id), user_id=user.id, title=emoji)
    db.session.add(session)
    db.session.flush()
    body = (emoji + " ") * 8000  # well over MySQL TEXT's 64 KB
    db.session.add(ChatMessage(session_id=session.session_id, user_id=user.id, role="assistant", content=body))
    db.session.commit()
    db.session.expunge_all()
    stored = db.session.scalar(db.select(ChatMessage))
    assert stored.content == body
    assert db.session.scalar(db.select(ChatSession.title)) == emoji


BEFORE_BRANCHES = "d9e1f3a5c7b2"


def test_upgrading_turns_every_conversation_into_a_single_branch(tmp_path, instance_dir):
    database_url = scratch_database_url(tmp_path, "aihelper_branches_upgrade")
    scratch = app_on(database_url, instance_dir)
    with scratch.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE_BRANCHES)
        insert_users([(7, "brancher", "brancher")])
        with db.engine.begin() as connection:
            for session_id in ("s1", "s2"):
                connection.execute(
                    text(
                        "INSERT INTO chat_sessions (session_id, user_id, title, pinned, create_time, update_time)"
                        " VALUES (:s, 7, 't', 0, '2025-01-02', '2025-01-02')"
                    ),
                    {"s": session_id},
                )
            # Two conversations written at the same time: their messages' ids interleave.
            for message_id, session_id in ((1, "s1"), (2, "s2"), (3, "s1"), (4, "s1"), (5, "s2")):
                connection.execute(
                    text(
                        "INSERT INTO ai_chat_messages (id, session_id, user_id, role, content, timestamp, status,"
                        " usage_estimated, attachment_count) VALUES (:id, :s, 7, 'user', 'x', '2025-01-02', 'done',"
                        " 0, 0)"
                    ),
                    {"id": message_id, "s": session_id},
                )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as connection:
            parents = dict(connection.execute(text("SELECT id, parent_id FROM ai_chat_messages")).all())
            selected = connection.execute(text("SELECT selected_leaf_id FROM chat_sessions")).scalars().all()
        assert parents == {1: None, 3: 1, 4: 3, 2: None, 5: 2}
        assert selected == [None, None], "each shows its newest message's branch"
        db.session.remove()
        db.engine.dispose()
