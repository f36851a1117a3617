"""users.login_limits_reset: when `create-admin` last cleared an account's login limits

Revision ID: d4a8c2e61f37
Revises: b41e7f0c9a12
Create Date: 2026-12-02 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d4a8c2e61f37"
down_revision = "b41e7f0c9a12"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ALTER: a batch (table copy) on SQLite would drop users, and the foreign keys' ON DELETE
    # CASCADE would take every login and conversation with it.
    op.add_column("users", sa.Column("login_limits_reset", sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column("users", "login_limits_reset")
