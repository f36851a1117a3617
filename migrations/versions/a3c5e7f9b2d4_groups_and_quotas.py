"""groups of users open models to their members, and groups and users have quotas

Issue #15: admins put users in groups (`user_groups`, `user_group_members`); a model with rows in
`model_group_access` is open only to those groups' members. Groups and users carry the limits of a
quota (null: no limit here). The quota check reads a user's month of `usage_daily`, hence its
(user_id, day) index; the rollup no longer goes with a deleted account (its use stays counted).
Nothing else changes: every model stays open to everyone, nobody is limited.

Revision ID: a3c5e7f9b2d4
Revises: f7a2c4e8b1d3
Create Date: 2026-12-02 06:51:16

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "a3c5e7f9b2d4"
down_revision = "f7a2c4e8b1d3"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 8, asdecimal=False)
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _quota_columns():
    return [
        sa.Column("quota_tokens_per_day", sa.BigInteger(), nullable=True),
        sa.Column("quota_tokens_per_month", sa.BigInteger(), nullable=True),
        sa.Column("quota_messages_per_day", sa.Integer(), nullable=True),
        sa.Column("quota_cost_per_month", MONEY, nullable=True),
    ]


def upgrade():
    op.create_table(
        "user_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String(length=50).with_variant(sqlite.VARCHAR(50, collation="NOCASE"), "sqlite"), nullable=False
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        *_quota_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_user_groups_name")),
        **MYSQL,
    )
    op.create_table(
        "user_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_groups.id"],
            name=op.f("fk_user_group_members_group_id_user_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_user_group_members")),
        **MYSQL,
    )
    op.create_index(op.f("ix_user_group_members_user_id"), "user_group_members", ["user_id"])
    op.create_table(
        "model_group_access",
        sa.Column("model_config_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_groups.id"],
            name=op.f("fk_model_group_access_group_id_user_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_config_id"],
            ["model_configs.id"],
            name=op.f("fk_model_group_access_model_config_id_model_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_config_id", "group_id", name=op.f("pk_model_group_access")),
        **MYSQL,
    )
    op.create_index(op.f("ix_model_group_access_group_id"), "model_group_access", ["group_id"])
    op.create_index("ix_usage_daily_user_id_day", "usage_daily", ["user_id", "day"])
    # A deleted account's use stays counted: the rollup no longer cascades from users.
    with op.batch_alter_table("usage_daily") as batch:  # no trigger on this table to lose on SQLite
        batch.drop_constraint("fk_usage_daily_user_id_users", type_="foreignkey")
    # Plain ADD COLUMN (nullable, no default): no copy of the table on SQLite.
    for column in _quota_columns():
        op.add_column("users", column)


def downgrade():
    for column in _quota_columns():
        op.drop_column("users", column.name)
    op.execute("DELETE FROM usage_daily WHERE user_id NOT IN (SELECT id FROM users)")
    with op.batch_alter_table("usage_daily") as batch:
        batch.create_foreign_key("fk_usage_daily_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE")
    if op.get_bind().dialect.name != "sqlite":
        # InnoDB dropped the foreign key's own index when the (user_id, day) one could serve it.
        op.create_index("fk_usage_daily_user_id_users", "usage_daily", ["user_id"])
    op.drop_index("ix_usage_daily_user_id_day", table_name="usage_daily")
    op.drop_table("model_group_access")
    op.drop_table("user_group_members")
    op.drop_table("user_groups")
