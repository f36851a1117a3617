"""Presets: a saved name, system prompt, model and temperature (and a first message) that a
conversation can start from, kept by a user for themselves or published by an admin to everyone
or to groups (issue #17)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Float, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aihelper.extensions import db
from aihelper.models.organisation import UserGroup
from aihelper.models.types import MYSQL_TABLE_OPTIONS, LongText
from aihelper.times import utcnow


class PresetScope(StrEnum):
    """Who sees a preset: its owner, every user, or the members of its groups."""

    ME = "me"
    EVERYONE = "everyone"
    GROUPS = "groups"


preset_groups = Table(
    "preset_groups",
    db.metadata,
    Column("preset_id", ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True, index=True),
    **MYSQL_TABLE_OPTIONS,
)


class Preset(db.Model):
    __tablename__ = "presets"
    # "A user's own presets" and "the published ones": the two halves of every preset list.
    __table_args__ = (
        Index("ix_presets_user_id", "user_id"),
        Index("ix_presets_scope", "scope"),
        # Never reused: a conversation may still hold the id of a deleted preset (models/chat.py).
        {"sqlite_autoincrement": True, **MYSQL_TABLE_OPTIONS},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False, default=PresetScope.ME)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    system_prompt: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    # None: the conversation's model is chosen on the page (or the model was deleted).
    model_config_id: Mapped[int | None] = mapped_column(ForeignKey("model_configs.id", ondelete="SET NULL"))
    # None: the model's own temperature.
    temperature: Mapped[float | None] = mapped_column(Float)
    first_message: Mapped[str | None] = mapped_column(LongText)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    groups: Mapped[list[UserGroup]] = relationship(secondary=preset_groups, passive_deletes=True)
