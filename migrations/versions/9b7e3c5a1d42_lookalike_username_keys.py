"""users.username_key: names that look alike are one account (a digest of the folded skeleton)

Revision ID: 9b7e3c5a1d42
Revises: d4a8c2e61f37
Create Date: 2026-12-02 14:00:00

Every key is recomputed with accounts.username_key. Names that were distinct before and look
alike now (say "bob" and "b0b") can't share the new key: the account registered first gets it,
each later one keeps its earlier key (accounts.earlier_username_key), by which it still logs in
under its own name, and a warning names both.
"""

import logging

import sqlalchemy as sa
from alembic import op

from aihelper.services.accounts import earlier_username_key, username_key

revision = "9b7e3c5a1d42"
down_revision = "d4a8c2e61f37"
branch_labels = None
depends_on = None

log = logging.getLogger("aihelper.migrations")


def upgrade():
    connection = op.get_bind()
    first_with_key: dict[str, tuple[int, str]] = {}
    for user_id, username in connection.execute(sa.text("SELECT id, username FROM users ORDER BY id")).all():
        key = username_key(username)
        if key in first_with_key:
            earlier_id, earlier_name = first_with_key[key]
            log.warning(
                "user %r (id %s) looks like %r (id %s), registered before it: it keeps its earlier key and "
                "still logs in by its own name",
                username,
                user_id,
                earlier_name,
                earlier_id,
            )
            continue
        first_with_key[key] = (user_id, username)
        connection.execute(sa.text("UPDATE users SET username_key = :key WHERE id = :id"), {"key": key, "id": user_id})


def downgrade():
    connection = op.get_bind()
    for user_id, username in connection.execute(sa.text("SELECT id, username FROM users")).all():
        connection.execute(
            sa.text("UPDATE users SET username_key = :key WHERE id = :id"),
            {"key": earlier_username_key(username), "id": user_id},
        )
