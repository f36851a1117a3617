"""Shared links: a read-only snapshot of a conversation, up to a chosen message, that anyone with
the link may read without logging in (issue #17).

The snapshot is stored whole (the title and the messages as JSON): later messages, a rename or
deleting a branch do not change what the link shows. Revoking a link deletes its row, so a revoked
link is exactly a link that never existed; deleting the conversation or the account deletes it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, LongText, exact_string
from aihelper.times import utcnow


class SharedLink(db.Model):
    __tablename__ = "shared_links"
    __table_args__ = (
        # "A user's links, newest first", and counting them against the cap.
        Index("ix_shared_links_user_id_id", "user_id", "id"),
        Index("ix_shared_links_session_id", "session_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unguessable (services/shares.py), and compared byte for byte: MySQL's collation would match
    # a link whose id differs only in case.
    share_id: Mapped[str] = mapped_column(exact_string(32), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.session_id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # The owner's name when they chose to show it; None keeps the link anonymous.
    author_name: Mapped[str | None] = mapped_column(String(64))
    # The messages as JSON: [{role, content, reasoning, model_id, timestamp, status, files}].
    snapshot: Mapped[str] = mapped_column(LongText, nullable=False)
    # Its size in UTF-8, summed against the owner's share storage (AIHELPER_SHARE_STORAGE_MB).
    snapshot_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
