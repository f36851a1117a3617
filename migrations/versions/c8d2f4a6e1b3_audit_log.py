"""the audit log: who did what to the instance, when, from where, and what it changed

Issue #15: every admin action, key rotation, admin login and failed login is an `audit_log` row;
the actor's name is kept with it (the account may go), and entries are read newest first by
action, kind or actor (their indexes end in the id, the page's cursor).

Revision ID: c8d2f4a6e1b3
Revises: a3c5e7f9b2d4
Create Date: 2026-12-02 07:11:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "c8d2f4a6e1b3"
down_revision = "a3c5e7f9b2d4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("changes", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])
    op.create_index("ix_audit_log_kind_id", "audit_log", ["kind", "id"])
    op.create_index("ix_audit_log_actor_id_id", "audit_log", ["actor_id", "id"])
    op.create_index("ix_audit_log_actor_name_id", "audit_log", ["actor_name", "id"])
    op.create_index(op.f("ix_audit_log_time"), "audit_log", ["time"])


def downgrade():
    op.drop_table("audit_log")
