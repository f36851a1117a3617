"""Counts for the admin dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import ApiProvider, ChatMessage, ChatSession, ModelConfig, User
from aihelper.models.user import ACTIVE


def dashboard_counts() -> dict[str, int]:
    start_of_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return {
        "users": db.session.scalar(select(func.count()).select_from(User)),
        "providers": db.session.scalar(select(func.count()).select_from(ApiProvider)),
        "models": db.session.scalar(select(func.count()).select_from(ModelConfig).where(ModelConfig.status == ACTIVE)),
        "sessions": db.session.scalar(select(func.count()).select_from(ChatSession)),
        "messages_today": db.session.scalar(
            select(func.count()).select_from(ChatMessage).where(ChatMessage.timestamp >= start_of_day)
        ),
    }
