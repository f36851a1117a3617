"""Groups of users, which models each group may use, and the quotas on what people spend.

A model with no group rows is open to everyone; one with rows only to the members of those groups.
Quota columns are shared by groups and users: null is "no limit here".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String, Table, Text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, mapped_column

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, Money
from aihelper.times import utcnow


class QuotaColumns:
    """What a group or a user may spend; null = not limited by this row."""

    quota_tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)
    quota_tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    quota_messages_per_day: Mapped[int | None] = mapped_column(Integer)
    quota_cost_per_month: Mapped[float | None] = mapped_column(Money)


class UserGroup(QuotaColumns, db.Model):
    __tablename__ = "user_groups"
    __table_args__ = MYSQL_TABLE_OPTIONS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique whatever the case, on SQLite as under MySQL's collation ("Staff" and "staff" are one).
    name: Mapped[str] = mapped_column(
        String(50).with_variant(sqlite.VARCHAR(50, collation="NOCASE"), "sqlite"), nullable=False, unique=True
    )
    description: Mapped[str | None] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


group_members = Table(
    "user_group_members",
    db.metadata,
    Column("group_id", ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    **MYSQL_TABLE_OPTIONS,
)

model_access = Table(
    "model_group_access",
    db.metadata,
    Column("model_config_id", ForeignKey("model_configs.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True, index=True),
    **MYSQL_TABLE_OPTIONS,
)
