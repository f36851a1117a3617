"""client_id compares exactly on MySQL (binary collation), as it always did on SQLite

Revision ID: 7c3d9a1e5b20
Revises: 2fa20d34e11d
Create Date: 2026-11-25 21:45:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "7c3d9a1e5b20"
down_revision = "2fa20d34e11d"
branch_labels = None
depends_on = None


def _on_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if _on_mysql():
        op.alter_column(
            "ai_chat_messages",
            "client_id",
            existing_type=sa.String(length=64),
            type_=mysql.VARCHAR(length=64, collation="utf8mb4_bin"),
            existing_nullable=True,
        )


def downgrade():
    if _on_mysql():
        op.alter_column(
            "ai_chat_messages",
            "client_id",
            existing_type=mysql.VARCHAR(length=64, collation="utf8mb4_bin"),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
