"""Full-text search over messages (message_search) and the origin of imported conversations

Revision ID: b41e7f0c9a12
Revises: 7c3d9a1e5b20
Create Date: 2026-11-25 23:10:00

message_search is not a model: it is a different kind of table on each database (FTS5 on
SQLite, a table with a FULLTEXT index on MySQL; see aihelper/services/search.py). Existing
messages are indexed here, in batches.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from aihelper.services.search import index_messages

revision = "b41e7f0c9a12"
down_revision = "7c3d9a1e5b20"
branch_labels = None
depends_on = None

BATCH = 2000


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade():
    # Plain ALTER and CREATE INDEX: a batch (table copy) on SQLite would drop chat_sessions, and the
    # foreign keys' ON DELETE CASCADE would take every message with it.
    op.add_column(
        "chat_sessions",
        sa.Column(
            "origin_id",
            sa.String(length=64).with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mysql", "mariadb"),
            nullable=True,
        ),
    )
    op.create_index("uq_chat_sessions_user_id_origin_id", "chat_sessions", ["user_id", "origin_id"], unique=True)

    if _on_sqlite():
        op.execute("CREATE VIRTUAL TABLE message_search USING fts5(terms)")
        # Foreign-key cascades fire triggers, so a deleted conversation takes its index rows along.
        op.execute(
            "CREATE TRIGGER message_search_forget AFTER DELETE ON ai_chat_messages "
            "BEGIN DELETE FROM message_search WHERE rowid = old.id; END"
        )
    else:
        op.create_table(
            "message_search",
            sa.Column("message_id", sa.BigInteger(), nullable=False),
            sa.Column("terms", mysql.MEDIUMTEXT(), nullable=False),
            sa.ForeignKeyConstraint(
                ["message_id"],
                ["ai_chat_messages.id"],
                name="fk_message_search_message_id_ai_chat_messages",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("message_id", name="pk_message_search"),
            mysql_engine="InnoDB",
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_unicode_ci",
        )
        op.create_index("ft_message_search_terms", "message_search", ["terms"], mysql_prefix="FULLTEXT")

    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.text("SELECT id, content FROM ai_chat_messages WHERE id > :last ORDER BY id LIMIT :batch"),
            {"last": last_id, "batch": BATCH},
        ).all()
        if not rows:
            break
        index_messages(connection, [(row.id, row.content) for row in rows])
        last_id = rows[-1].id


def downgrade():
    if _on_sqlite():
        op.execute("DROP TRIGGER IF EXISTS message_search_forget")
        op.execute("DROP TABLE IF EXISTS message_search")
    else:
        op.drop_table("message_search")
    op.drop_index("uq_chat_sessions_user_id_origin_id", table_name="chat_sessions")
    op.drop_column("chat_sessions", "origin_id")
