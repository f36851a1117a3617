"""AI providers (OpenAI-compatible endpoints) and the models offered through them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aihelper.extensions import db
from aihelper.models.organisation import UserGroup, model_access
from aihelper.models.types import CURRENCY_DEFAULT, MYSQL_TABLE_OPTIONS, Money, Status
from aihelper.times import utcnow


class ApiProvider(db.Model):
    __tablename__ = "api_providers"
    __table_args__ = MYSQL_TABLE_OPTIONS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    base_url: Mapped[str] = mapped_column(String(500), nullable=False)
    # Fernet token of the key (never the key itself); see AIHELPER_ENCRYPTION_KEYS.
    api_key: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.ACTIVE)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    models: Mapped[list[ModelConfig]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelConfig(db.Model):
    __tablename__ = "model_configs"
    __table_args__ = (UniqueConstraint("provider_id", "model_id"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("api_providers.id", ondelete="CASCADE"), nullable=False)
    model_id: Mapped[str] = mapped_column(String(100), nullable=False)
    model_name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    max_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=4096)
    temperature: Mapped[float] = mapped_column(Float, nullable=False, default=0.7)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    # How many earlier messages of the conversation go into the request.
    context_messages: Mapped[int] = mapped_column(Integer, nullable=False, default=20)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.ACTIVE)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # What the provider charges per million tokens; an answer keeps the cost at the price of its day.
    price_input: Mapped[float] = mapped_column(Money, nullable=False, default=0)
    price_output: Mapped[float] = mapped_column(Money, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default=CURRENCY_DEFAULT)
    # Whether it reads images (OpenAI content parts); an image for any other model is refused.
    vision: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # How many tokens its context holds: documents attached to a question are cut to fit.
    context_window: Mapped[int] = mapped_column(Integer, nullable=False, default=32768)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    provider: Mapped[ApiProvider] = relationship(back_populates="models")
    # The groups whose members may use it; none: everyone may.
    groups: Mapped[list[UserGroup]] = relationship(secondary=model_access, passive_deletes=True)
