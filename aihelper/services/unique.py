"""Committing a row that a unique key guards: the database decides who was first, so that two
requests at the same moment cannot both take a name (no read-then-write race)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from aihelper.extensions import db
from aihelper.failures import Conflict


def committed_unique() -> bool:
    """Commit the session; False (and rolled back) when a unique key refused it."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def commit_or_conflict(conflict: Conflict) -> None:
    """Commit the session, or roll back and raise `conflict` when a unique key refused it."""
    if not committed_unique():
        raise conflict
