"""models have prices, answers keep their cost, and usage is rolled up by day

Issue #15: the admin sets a price per million input and output tokens and a currency on each
model; an answer keeps the cost at the price of its day (`cost`, `currency`) and whether its tokens
were counted here because the provider sent none (`usage_estimated`). `usage_daily` adds up each
user's answers and tokens per UTC day and model, for the dashboard and the quotas; the answers
already stored are counted into it (at no cost: they had no price).

Revision ID: f7a2c4e8b1d3
Revises: e5f1a7c3b9d0
Create Date: 2026-12-02 02:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "f7a2c4e8b1d3"
down_revision = "e5f1a7c3b9d0"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 8, asdecimal=False)


def upgrade():
    # Plain ADD COLUMN: on SQLite a batch operation would copy ai_chat_messages whole, and the copy
    # would lose its trigger (message_search_forget). The defaults fill the rows already there;
    # MySQL drops them after, so that its schema is database.sql's.
    op.add_column("model_configs", sa.Column("price_input", MONEY, nullable=False, server_default="0"))
    op.add_column("model_configs", sa.Column("price_output", MONEY, nullable=False, server_default="0"))
    op.add_column("model_configs", sa.Column("currency", sa.String(length=8), nullable=False, server_default="USD"))
    op.add_column(
        "ai_chat_messages", sa.Column("usage_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("ai_chat_messages", sa.Column("cost", MONEY, nullable=True))
    op.add_column("ai_chat_messages", sa.Column("currency", sa.String(length=8), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        for table, column, type_ in (
            ("model_configs", "price_input", MONEY),
            ("model_configs", "price_output", MONEY),
            ("model_configs", "currency", sa.String(length=8)),
            ("ai_chat_messages", "usage_estimated", sa.Boolean()),
        ):
            op.alter_column(table, column, server_default=None, existing_type=type_, existing_nullable=False)
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_daily_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_daily")),
        sa.UniqueConstraint(
            "day", "user_id", "model_id", "currency", name=op.f("uq_usage_daily_day_user_id_model_id_currency")
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.execute(
        "INSERT INTO usage_daily (day, user_id, model_id, messages, prompt_tokens, completion_tokens, cost, currency) "
        "SELECT DATE(timestamp), user_id, COALESCE(model_id, ''), COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
        "COALESCE(SUM(completion_tokens), 0), 0, 'USD' FROM ai_chat_messages WHERE role = 'assistant' "
        "GROUP BY DATE(timestamp), user_id, COALESCE(model_id, '')"
    )


def downgrade():
    op.drop_table("usage_daily")
    for table, column in (
        ("ai_chat_messages", "currency"),
        ("ai_chat_messages", "cost"),
        ("ai_chat_messages", "usage_estimated"),
        ("model_configs", "currency"),
        ("model_configs", "price_output"),
        ("model_configs", "price_input"),
    ):
        op.drop_column(table, column)  # SQLite drops a column in place (3.35+): its triggers stay
