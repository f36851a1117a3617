"""answers keep why they failed and how long they took, and hold a lease while generated

A reopened answer showed a generic "failed" where the live page had said why (the provider refused
the key), and no speed: `error_code` keeps the reason's code, `generation_ms` the time from the
request to the last token. `lease_until` says until when the worker generating an answer vouches
for it (aihelper/chat/checkpoints.py): a lapsed lease means the worker died.

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
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.create_index("ix_ai_chat_messages_lease_until", ["lease_until"])


def downgrade():
    with op.batch_alter_table("ai_chat_messages") as batch:
        batch.drop_index("ix_ai_chat_messages_lease_until")
        batch.drop_column("lease_until")
        batch.drop_column("generation_ms")
        batch.drop_column("error_code")
