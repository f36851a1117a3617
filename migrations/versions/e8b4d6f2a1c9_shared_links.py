"""shared links: read-only snapshots of conversations behind unguessable ids

Issue #17: `shared_links` holds each link's id (compared byte for byte), its owner, the
conversation it came from (the link goes with it), the snapshot (title and messages as JSON),
whether the owner's name is shown, when it was made and when it expires. Revoking deletes the row.

Revision ID: e8b4d6f2a1c9
Revises: e8b4d2f6a1c3
Create Date: 2026-12-09 09:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "e8b4d6f2a1c9"
down_revision = "e8b4d2f6a1c3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "shared_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "share_id",
            sa.String(length=32).with_variant(mysql.VARCHAR(32, collation="utf8mb4_bin"), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("author_name", sa.String(length=64), nullable=True),
        sa.Column("snapshot", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
        sa.Column("snapshot_bytes", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.session_id"],
            name=op.f("fk_shared_links_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_shared_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_links")),
        sa.UniqueConstraint("share_id", name=op.f("uq_shared_links_share_id")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_shared_links_user_id_id", "shared_links", ["user_id", "id"])
    op.create_index("ix_shared_links_session_id", "shared_links", ["session_id"])


def downgrade():
    op.drop_table("shared_links")
