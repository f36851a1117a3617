"""The audit log: who did what to the instance, when, from where, and what it changed.

Every admin action (providers, models, users, groups, quotas, settings), key rotation, every admin
login and every failed login. `changes` is JSON {field: [before, after]}; a secret (an API key, a
password) appears only as having changed, never as itself. The actor's name is kept with the
entry, so it still says who after the account is deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, LongText
from aihelper.times import utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    # Each filter of the page reads its own index newest first (the id is the page's cursor).
    __table_args__ = (
        Index("ix_audit_log_action_id", "action", "id"),
        Index("ix_audit_log_kind_id", "kind", "id"),
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
        Index("ix_audit_log_actor_name_id", "actor_name", "id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(64), nullable=False)  # a name tried, for a failed login
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # "user.update"
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # what it was done to: "user"
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    changes: Mapped[str] = mapped_column(LongText, nullable=False, default="{}")
