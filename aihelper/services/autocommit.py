"""Reads on the turn's path, on a connection in autocommit (the `autocommit` bind): no BEGIN, no
COMMIT or ROLLBACK, one round trip each on MySQL/MariaDB."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from aihelper.config import AUTOCOMMIT_BIND
from aihelper.extensions import db


def autocommit_connection() -> Connection:
    return db.engines[AUTOCOMMIT_BIND].connect()


def read_rows(statement, parameters: dict[str, Any] | None = None) -> list[Row]:
    """One statement's rows; a connection the server had closed is replaced and the read repeated."""
    for attempt in (1, 2):
        try:
            with autocommit_connection() as connection:
                return connection.execute(statement, parameters).all()
        except DBAPIError as error:
            if attempt == 2 or not error.connection_invalidated:
                raise
    raise AssertionError("unreachable")
