"""attachments: files sent with a question, and which models read images

Issue #16: `attachments` holds each uploaded file's owner, message, kind, media type, size, sha256
and extracted text (the file itself is in the attachments folder under a random name). A model
says whether it reads images (`vision`) and how many tokens its context holds (`context_window`,
to cut documents to fit); a message how many files came with it (`attachment_count`), so that a
turn reads attachments only when there are some.

Revision ID: d9e1f3a5c7b2
Revises: c8d2f4a6e1b3
Create Date: 2026-12-02 07:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "d9e1f3a5c7b2"
down_revision = "c8d2f4a6e1b3"
branch_labels = None
depends_on = None

MESSAGE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "attachments",
        sa.Column(
            "id", sa.String(length=32).with_variant(mysql.VARCHAR(32, collation="utf8mb4_bin"), "mysql", "mariadb")
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message_id", MESSAGE_ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_name", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
        sa.Column("sent_chars", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ai_chat_messages.id"],
            name=op.f("fk_attachments_message_id_ai_chat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_attachments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("storage_name", name=op.f("uq_attachments_storage_name")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_attachments_user_id_message_id", "attachments", ["user_id", "message_id"])
    op.create_index("ix_attachments_message_id", "attachments", ["message_id"])
    # Plain ADD COLUMN: a batch operation would copy ai_chat_messages and lose its search trigger
    # on SQLite. The defaults fill the rows already there; MySQL drops them after (database.sql).
    op.add_column("model_configs", sa.Column("vision", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("model_configs", sa.Column("context_window", sa.Integer(), nullable=False, server_default="32768"))
    op.add_column("ai_chat_messages", sa.Column("attachment_count", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name != "sqlite":
        for table, column, type_ in (
            ("model_configs", "vision", sa.Boolean()),
            ("model_configs", "context_window", sa.Integer()),
            ("ai_chat_messages", "attachment_count", sa.Integer()),
        ):
            op.alter_column(table, column, server_default=None, existing_type=type_, existing_nullable=False)


def downgrade():
    op.drop_column("ai_chat_messages", "attachment_count")
    op.drop_column("model_configs", "context_window")
    op.drop_column("model_configs", "vision")
    op.drop_table("attachments")
