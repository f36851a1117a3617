"""What the keys cost, a day at a time: the rollup the usage dashboard and the quotas read.

One row per UTC day, user, model and currency, added to in the transaction that stores an answer
(and when a title is generated), so that a chart over months reads a few thousand rows, never the
messages.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, Money


class UsageDay(db.Model):
    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint("day", "user_id", "model_id", "currency"),
        # A user's days: the quota check before each turn reads this month's.
        Index("ix_usage_daily_user_id_day", "user_id", "day"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    # No foreign key: a deleted account's use stays counted (the dashboard's past totals and costs
    # do not change when someone leaves).
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    model_id: Mapped[str] = mapped_column(String(100), nullable=False)  # "" when unknown
    messages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # answers (titles count 0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cost: Mapped[float] = mapped_column(Money, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
