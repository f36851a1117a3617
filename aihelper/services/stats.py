"""Counts for the admin dashboard."""

from __future__ import annotations

from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import ApiProvider, ChatMessage, ChatSession, ModelConfig, User
from aihelper.models.types import Status
from aihelper.times import utcnow


def dashboard_counts() -> dict[str, int]:
    start_of_day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "users": db.session.scalar(select(func.count()).select_from(User)),
        "providers": db.session.scalar(select(func.count()).select_from(ApiProvider)),
        "models": db.session.scalar(
            select(func.count()).select_from(ModelConfig).where(ModelConfig.status == Status.ACTIVE)
        ),
        "sessions": db.session.scalar(select(func.count()).select_from(ChatSession)),
        "messages_today": db.session.scalar(
            select(func.count()).select_from(ChatMessage).where(ChatMessage.timestamp >= start_of_day)
        ),
    }
