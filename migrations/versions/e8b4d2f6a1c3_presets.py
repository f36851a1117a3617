"""presets: saved system prompts, models and temperatures a conversation starts from

Issue #17 part 3: `presets` holds each preset's owner, scope (me, everyone, groups), name, system
prompt, model (SET NULL when the model is deleted), temperature and first message;
`preset_groups` the groups a groups-scope preset is published to; `chat_sessions.preset_id` the
preset a conversation was started from. It has no foreign key: SQLite adds none to a table with
rows without copying the table, and dropping the old chat_sessions would cascade to every message.
Preset ids are never reused (AUTOINCREMENT on SQLite), so one a deleted preset left names nothing.

Revision ID: e8b4d2f6a1c3
Revises: e2b4d6f8a1c3
Create Date: 2026-12-09 09:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "e8b4d2f6a1c3"
down_revision = "e2b4d6f8a1c3"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade():
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("system_prompt", LONG_TEXT, nullable=False),
        sa.Column("model_config_id", sa.Integer(), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("first_message", LONG_TEXT, nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_config_id"],
            ["model_configs.id"],
            name=op.f("fk_presets_model_config_id_model_configs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_presets_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presets")),
        sqlite_autoincrement=True,
        **TABLE_OPTIONS,
    )
    op.create_index("ix_presets_user_id", "presets", ["user_id"])
    op.create_index("ix_presets_scope", "presets", ["scope"])
    op.create_table(
        "preset_groups",
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["user_groups.id"], name=op.f("fk_preset_groups_group_id_user_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["preset_id"], ["presets.id"], name=op.f("fk_preset_groups_preset_id_presets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("preset_id", "group_id", name=op.f("pk_preset_groups")),
        **TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_preset_groups_group_id"), "preset_groups", ["group_id"])
    op.add_column("chat_sessions", sa.Column("preset_id", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("chat_sessions", "preset_id")
    op.drop_table("preset_groups")
    op.drop_table("presets")
