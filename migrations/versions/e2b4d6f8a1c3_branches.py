"""branches: messages follow a parent, a conversation remembers the branch shown

Issue #17: an edited question or a regenerated answer becomes a sibling of the one it replaces
instead of replacing it. `ai_chat_messages.parent_id` links each message to the one it follows;
`chat_sessions.selected_leaf_id` is the last message of the branch the user chose (NULL: the
newest message's). Existing conversations become single-path trees: each message follows the one
before it.

Revision ID: e2b4d6f8a1c3
Revises: d9e1f3a5c7b2
Create Date: 2026-12-02 13:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e2b4d6f8a1c3"
down_revision = "d9e1f3a5c7b2"
branch_labels = None
depends_on = None

MESSAGE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    # Plain ADD COLUMN: a batch operation would copy ai_chat_messages and lose its search trigger
    # on SQLite.
    op.add_column("ai_chat_messages", sa.Column("parent_id", MESSAGE_ID, nullable=True))
    op.add_column("chat_sessions", sa.Column("selected_leaf_id", MESSAGE_ID, nullable=True))
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        # MySQL refuses a subquery on the table being updated; a window over it, joined, is fine.
        op.execute(
            "UPDATE ai_chat_messages m JOIN (SELECT id, LAG(id) OVER (PARTITION BY session_id ORDER BY id) AS previous"
            " FROM ai_chat_messages) p ON p.id = m.id SET m.parent_id = p.previous"
        )
    else:
        op.execute(
            "UPDATE ai_chat_messages SET parent_id = (SELECT MAX(p.id) FROM ai_chat_messages p"
            " WHERE p.session_id = ai_chat_messages.session_id AND p.id < ai_chat_messages.id)"
        )


def downgrade():
    op.drop_column("chat_sessions", "selected_leaf_id")
    op.drop_column("ai_chat_messages", "parent_id")
