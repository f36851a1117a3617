"""Accounts, their login sessions, and instance-wide settings."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aihelper.extensions import db
from aihelper.models.organisation import QuotaColumns, UserGroup, group_members
from aihelper.models.types import MYSQL_TABLE_OPTIONS, Status, exact_string
from aihelper.times import utcnow


class User(QuotaColumns, UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = MYSQL_TABLE_OPTIONS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(exact_string(50), nullable=False)
    # A digest of the username's folded skeleton (services/accounts.username_key): names that look
    # alike ("Alice", "alice", "аlice") are one account on every database.
    username_key: Mapped[str] = mapped_column(exact_string(50), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    avatar: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.ACTIVE)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime)
    # When an operator last cleared this account's login limits (`create-admin`): the counters are
    # named by it, so older ones no longer count. In the database, because the command runs in
    # another process than the server, whose counters may be in its memory.
    login_limits_reset: Mapped[datetime | None] = mapped_column(DateTime)

    login_sessions: Mapped[list[LoginSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    groups: Mapped[list[UserGroup]] = relationship(secondary=group_members, passive_deletes=True)

    # Set by the user loader: the login session this request authenticated with.
    login_token = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.status == Status.ACTIVE

    def get_id(self) -> str | None:
        # The session cookie names the login session, not the user, so one login can be revoked.
        return self.login_token


class LoginSession(db.Model):
    """One signed-in browser or client. Deleting the row logs that client out everywhere."""

    __tablename__ = "login_sessions"
    __table_args__ = MYSQL_TABLE_OPTIONS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    # SHA-256 of the token: a copy of the database is not a set of valid cookies.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    create_time: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(back_populates="login_sessions")


class AppSetting(db.Model):
    """Instance-wide settings an admin can change at run time (e.g. registration open)."""

    __tablename__ = "app_settings"
    __table_args__ = MYSQL_TABLE_OPTIONS

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
