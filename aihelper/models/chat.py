"""Conversations and their messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aihelper.extensions import db
from aihelper.models.types import MYSQL_TABLE_OPTIONS, LongText, Money, exact_string
from aihelper.times import utcnow


class MessageStatus(StrEnum):
    """How a message stands (API.md §3): a question is done; an answer is streaming until it is
    done, stopped by its user, or failed (error)."""

    DONE = "done"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"


class Role(StrEnum):
    """Who wrote a message; SYSTEM only ever goes to a provider (a model's system prompt)."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


# A placeholder answer older than the longest possible answer belongs to a generation that died
# with its process: it is reported as an error and no longer makes its conversation busy.
STALE_STREAMING = timedelta(minutes=20)
# The origin_id of a conversation an import is still writing (services/imports.py), followed by a
# digest of its real origin: one left so by a crash is replaced by the next import of its file.
IMPORTING = "importing:"


class ChatSession(db.Model):
    __tablename__ = "chat_sessions"
    # "A user's sessions by last activity": the history list and the time-range filter.
    __table_args__ = (
        Index("ix_chat_sessions_user_id_update_time", "user_id", "update_time"),
        # An imported conversation remembers the id it had where it was exported: importing the
        # same file twice adds nothing.
        Index("uq_chat_sessions_user_id_origin_id", "user_id", "origin_id", unique=True),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # The provider's model name as used (kept even when the model config is deleted).
    model_id: Mapped[str | None] = mapped_column(String(100))
    model_config_id: Mapped[int | None] = mapped_column(ForeignKey("model_configs.id", ondelete="SET NULL"))
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    origin_id: Mapped[str | None] = mapped_column(exact_string(64))
    # The last message of the branch the user chose to see; None: the newest message's branch,
    # which is where every new turn goes, so a turn only writes here after the user switched.
    selected_leaf_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # The preset it was started from: its system prompt and temperature apply to every turn while
    # it exists; once deleted, the conversation goes on with the plain model. No foreign key:
    # SQLite cannot add one to a table holding rows without copying it (and its messages with
    # it); preset ids are never reused, so one left by a deleted preset names nothing.
    preset_id: Mapped[int | None] = mapped_column(Integer)

    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ChatMessage.id",
    )


class ChatMessage(db.Model):
    __tablename__ = "ai_chat_messages"
    __table_args__ = (
        # "A session's messages in order": ordered by id, since DATETIME keeps whole seconds.
        Index("ix_ai_chat_messages_session_id_id", "session_id", "id"),
        Index("ix_ai_chat_messages_user_id_timestamp", "user_id", "timestamp"),
        # The sweep for answers whose worker died reads only the few rows with a lease.
        Index("ix_ai_chat_messages_lease_until", "lease_until"),
        # A client may resend a message after a reconnect; its client_id makes that harmless.
        UniqueConstraint("user_id", "client_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.session_id", ondelete="CASCADE"), nullable=False)
    # The message this one follows (None: the first). Siblings are branches: an edited question
    # or a regenerated answer. No foreign key: InnoDB cascades at most 15 levels deep, and a
    # conversation's messages go with it anyway.
    parent_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    # A model's separately streamed thinking, kept apart from the answer.
    reasoning: Mapped[str | None] = mapped_column(LongText)
    timestamp: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=MessageStatus.DONE)
    model_id: Mapped[str | None] = mapped_column(String(100))
    finish_reason: Mapped[str | None] = mapped_column(String(20))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    # The tokens were counted here from the text: the provider sent no usage.
    usage_estimated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # At the model's price when the answer was stored; a later price never rewrites it.
    cost: Mapped[float | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(8))
    # Why an answer failed (a provider error code, or internal_error), to explain it when reopened.
    error_code: Mapped[str | None] = mapped_column(String(32))
    # From the request to the provider until its last token: the answer's speed in tokens per second.
    generation_ms: Mapped[int | None] = mapped_column(Integer)
    # Until when the worker generating the answer vouches for it (renewed by its checkpoints);
    # None once the answer is stored whole. A lapsed lease means the worker died.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Compared byte for byte: "Msg-1" and "msg-1 " are different messages on MySQL too.
    client_id: Mapped[str | None] = mapped_column(exact_string(64))
    # How many files came with the question: a turn reads attachments only when some message has them.
    attachment_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    session: Mapped[ChatSession] = relationship(back_populates="messages")
