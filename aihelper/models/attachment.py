"""Files a user attached to a message: an image for a vision model or a document whose text goes
into the prompt. The file itself is in the attachments folder under `storage_name` (random);
`name` is what the user called it, shown as text and never used as a path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, LongText, exact_string
from aihelper.times import utcnow


class Attachment(db.Model):
    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_user_id_message_id", "user_id", "message_id"),
        Index("ix_attachments_message_id", "message_id"),
        MYSQL_TABLE_OPTIONS,
    )

    # Unguessable, like a conversation's id: it appears in image URLs.
    id: Mapped[str] = mapped_column(exact_string(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # The question it was sent with; None until then (an upload in the composer).
    message_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("ai_chat_messages.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "image" or "document"
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)  # of the stored file
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    text: Mapped[str] = mapped_column(LongText, nullable=False, default="")  # a document's, extracted once
    # How much of the text the model was sent with the question (None: not sent yet).
    sent_chars: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # among the message's files
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
