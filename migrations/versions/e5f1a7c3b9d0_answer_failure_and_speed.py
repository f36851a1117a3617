"""answers keep why they failed and how long they took

A reopened answer showed a generic "failed" where the live page had said why (the provider refused
the key), and no speed: `error_code` keeps the reason's code, `generation_ms` the time from the
request to the last token.

Revision ID: e5f1a7c3b9d0
Revises: e5f1a7c3b9d2
Create Date: 2026-12-01 20:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e5f1a7c3b9d0"
down_revision = "e5f1a7c3b9d2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ai_chat_messages") as batch:
        batch.add_column(sa.Column("error_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("generation_ms", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("ai_chat_messages") as batch:
        batch.drop_column("generation_ms")
        batch.drop_column("error_code")
