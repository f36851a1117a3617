"""users.username_key: capitals that look like other letters count too ("AdmIn", Greek "KATE")

Revision ID: e5f1a7c3b9d2
Revises: 9b7e3c5a1d42
Create Date: 2026-12-01 20:00:00

Every key is recomputed with accounts.username_key, whose skeletons now map capitals before case
is folded and count "i" as "l" (services/skeletons.py). As in 9b7e3c5a1d42, names that were
distinct before and are one name now (say "admin" and "admln") can't share the new key: the
account registered first gets it, each later one gets (or keeps) its earlier key
(accounts.earlier_username_key), by which it still logs in under its own name in any case, and a
warning names both. Nothing fails and no account is lost. An account that kept its earlier key
in 9b7e3c5a1d42 and still looks like an earlier one keeps it without a new warning.

Keys move in two steps: a new key may be the one another account holds until its own turn (the
old key of "admln" is the new key of "admin"), and the key column is unique.
"""

import logging

import sqlalchemy as sa
from alembic import op

from aihelper.services.accounts import earlier_username_key, username_key

revision = "e5f1a7c3b9d2"
down_revision = "9b7e3c5a1d42"
branch_labels = None
depends_on = None

log = logging.getLogger("aihelper.migrations")

SET_KEY = sa.text("UPDATE users SET username_key = :key WHERE id = :id")


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, username, username_key FROM users ORDER BY id")).all()
    # No digest (base64url) and no earlier key (a name's letters) has a "#".
    for user_id, _username, _key in rows:
        connection.execute(SET_KEY, {"key": f"#{user_id}", "id": user_id})
    first_with_key: dict[str, tuple[int, str]] = {}
    for user_id, username, stored_key in rows:
        key = username_key(username)
        if key not in first_with_key:
            first_with_key[key] = (user_id, username)
            connection.execute(SET_KEY, {"key": key, "id": user_id})
            continue
        earlier = earlier_username_key(username)
        if stored_key != earlier:
            earlier_id, earlier_name = first_with_key[key]
            log.warning(
                "user %r (id %s) now looks like %r (id %s), registered before it: it keeps its earlier key "
                "and still logs in by its own name",
                username,
                user_id,
                earlier_name,
                earlier_id,
            )
        connection.execute(SET_KEY, {"key": earlier, "id": user_id})


def downgrade():
    # The earlier rules' keys can't be made again (their skeletons are gone from the code); the
    # earlier keys (NFKC, case folded) are unique and find every account by its own name.
    connection = op.get_bind()
    for user_id, username in connection.execute(sa.text("SELECT id, username FROM users")).all():
        connection.execute(SET_KEY, {"key": earlier_username_key(username), "id": user_id})
