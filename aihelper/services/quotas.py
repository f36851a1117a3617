"""Quotas: how much a user may spend per day and per month, and the check before each turn.

A limit is the user's own when set, else the highest of their groups' (a group that sets none does
not lift another's); none anywhere is no limit. Use is read from the daily rollup
(`usage_daily`), which every stored answer adds to in its own transaction, so the count is exact
across workers and instances. The check runs before the provider is called and refuses once a
limit is reached: the answer that crosses it may finish, and turns already running when it was
crossed (at most the user's running-turn limit) may too.

Days and months are UTC, like the rollup. A cost limit counts the answers priced in
AIHELPER_QUOTA_CURRENCY; models priced in another currency count against the token limits only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from flask import current_app
from sqlalchemy import bindparam, case, func, select

from aihelper.extensions import db
from aihelper.failures import Term, TooMany
from aihelper.i18n import N_
from aihelper.models import UsageDay, User, UserGroup, group_members
from aihelper.models.organisation import QuotaColumns
from aihelper.services.autocommit import read_rows
from aihelper.times import utcnow
from aihelper.validation import Fields, Number, defaulted

TOKENS_MAX = 10**15
MESSAGES_MAX = 10**9
COST_MAX = 10**9

# A quota's fields, each with its column and whether it is counted per day or per month.
LIMITS = {
    "tokens_per_day": ("quota_tokens_per_day", "day"),
    "tokens_per_month": ("quota_tokens_per_month", "month"),
    "messages_per_day": ("quota_messages_per_day", "day"),
    "cost_per_month": ("quota_cost_per_month", "month"),
}


class QuotaChange(Fields):
    """A quota in a group's or a user's change: each limit a number, or null for none."""

    tokens_per_day: Annotated[int | None, Number(0, TOKENS_MAX, None), defaulted(N_("quota_tokens_per_day"))]
    tokens_per_month: Annotated[int | None, Number(0, TOKENS_MAX, None), defaulted(N_("quota_tokens_per_month"))]
    messages_per_day: Annotated[int | None, Number(0, MESSAGES_MAX, None), defaulted(N_("quota_messages_per_day"))]
    cost_per_month: Annotated[
        float | None, Number(0, COST_MAX, None, decimal=True), defaulted(N_("quota_cost_per_month"))
    ]


def quota_json(row: QuotaColumns) -> dict[str, Any]:
    return {name: getattr(row, column) for name, (column, _period) in LIMITS.items()}


def apply_quota(row: QuotaColumns, change: QuotaChange | None) -> None:
    """Set the limits a change gives (null: no quota at all); the caller commits."""
    for name, (column, _period) in LIMITS.items():
        if change is None or name in change.model_fields_set:
            setattr(row, column, getattr(change, name) if change is not None else None)


@dataclass(frozen=True)
class Resets:
    day: datetime
    month: datetime

    def of(self, period: str) -> datetime:
        return self.day if period == "day" else self.month

    def json(self) -> dict[str, str]:
        return {"day": self.day.isoformat(), "month": self.month.isoformat()}


def resets(now: datetime) -> Resets:
    today = now.date()
    next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return Resets(datetime.combine(today + timedelta(days=1), time(), UTC), datetime.combine(next_month, time(), UTC))


class QuotaExceeded(TooMany):
    """A limit is reached: no turn until `reset_at`. The frame and the JSON error name the limit."""

    def __init__(self, limit: str, reset_at: datetime) -> None:
        shown = reset_at.strftime("%Y-%m-%d %H:%M UTC")
        super().__init__("quota_exceeded", N_("quota_exceeded"), limit=Term(f"quota_{limit}"), reset_at=shown)
        self.details = {"limit": limit, "reset_at": reset_at.isoformat()}


_LIMIT_COLUMNS = [column for column, _period in LIMITS.values()]


def _limits_statement(one_user: bool):
    """Each user's own limits and the highest of their groups', per user (or for `user_id`)."""
    statement = (
        select(
            User.id,
            *(func.max(getattr(User, column)) for column in _LIMIT_COLUMNS),
            *(func.max(getattr(UserGroup, column)) for column in _LIMIT_COLUMNS),
        )
        .select_from(User)
        .outerjoin(group_members, group_members.c.user_id == User.id)
        .outerjoin(UserGroup, UserGroup.id == group_members.c.group_id)
        .group_by(User.id)
    )
    return statement.where(User.id == bindparam("user_id")) if one_user else statement


_USER_LIMITS = _limits_statement(one_user=True)


def _applying(row) -> dict[str, float | None]:
    own, grouped = row[1 : 1 + len(LIMITS)], row[1 + len(LIMITS) :]
    return {name: own[i] if own[i] is not None else grouped[i] for i, name in enumerate(LIMITS)}


def limits_of(user_id: int) -> dict[str, float | None]:
    """The limits that apply to the user: their own, else the highest their groups set. On the
    autocommit connection: the turn's path pays one round trip and no transaction for it."""
    rows = read_rows(_USER_LIMITS, {"user_id": user_id})
    return _applying(rows[0]) if rows else dict.fromkeys(LIMITS)


def everyones_limits() -> dict[int, dict[str, float | None]]:
    """The limits that apply to every user (the admin's users page), in one read."""
    return {row[0]: _applying(row) for row in db.session.execute(_limits_statement(one_user=False))}


@dataclass(frozen=True)
class Spending:
    messages_today: int
    tokens_today: int
    cost_today: float
    messages_month: int
    tokens_month: int
    cost_month: float

    def of(self, limit: str) -> float:
        return {
            "tokens_per_day": self.tokens_today,
            "tokens_per_month": self.tokens_month,
            "messages_per_day": self.messages_today,
            "cost_per_month": self.cost_month,
        }[limit]


def spending_of(user_id: int, now: datetime) -> Spending:
    """What the user used today and this month, from the rollup (its (user_id, day) index)."""
    today, currency = now.date(), current_app.config["AIHELPER_QUOTA_CURRENCY"]
    tokens = UsageDay.prompt_tokens + UsageDay.completion_tokens
    priced = case((UsageDay.currency == currency, UsageDay.cost), else_=0)
    is_today = UsageDay.day == today
    row = read_rows(
        select(
            func.sum(case((is_today, UsageDay.messages), else_=0)),
            func.sum(case((is_today, tokens), else_=0)),
            func.sum(case((is_today, priced), else_=0)),
            func.sum(UsageDay.messages),
            func.sum(tokens),
            func.sum(priced),
        ).where(UsageDay.user_id == user_id, UsageDay.day >= today.replace(day=1))
    )[0]
    messages_today, tokens_today, cost_today, messages_month, tokens_month, cost_month = (v or 0 for v in row)
    return Spending(
        int(messages_today),
        int(tokens_today),
        float(cost_today),
        int(messages_month),
        int(tokens_month),
        float(cost_month),
    )


NOTHING_TODAY = {"messages": 0, "tokens": 0}


def used_today(user_id: int | None = None) -> dict[int, dict[str, int]]:
    """Answers and tokens today by user (the admin's users page): everyone's, or one user's."""
    tokens = func.sum(UsageDay.prompt_tokens + UsageDay.completion_tokens)
    statement = (
        select(UsageDay.user_id, func.sum(UsageDay.messages), tokens)
        .where(UsageDay.day == utcnow().date())
        .group_by(UsageDay.user_id)
    )
    if user_id is not None:
        statement = statement.where(UsageDay.user_id == user_id)
    return {
        user: {"messages": int(messages), "tokens": int(spent)}
        for user, messages, spent in db.session.execute(statement)
    }


def check_quota(user_id: int) -> None:
    """Refuse the user's next turn (QuotaExceeded) when a limit that applies is reached."""
    limits = limits_of(user_id)
    if all(limit is None for limit in limits.values()):
        return
    now = utcnow()
    spent, reset = spending_of(user_id, now), resets(now)
    for name, limit in limits.items():
        if limit is not None and spent.of(name) >= limit:
            raise QuotaExceeded(name, reset.of(LIMITS[name][1]))


def usage_report(user_id: int) -> dict[str, Any]:
    """GET /api/user/usage: today's and this month's use, the limits and when they reset."""
    now = utcnow()
    spent = spending_of(user_id, now)
    return {
        "today": {"messages": spent.messages_today, "tokens": spent.tokens_today, "cost": spent.cost_today},
        "month": {"messages": spent.messages_month, "tokens": spent.tokens_month, "cost": spent.cost_month},
        "limits": limits_of(user_id),
        "currency": current_app.config["AIHELPER_QUOTA_CURRENCY"],
        "reset_at": resets(now).json(),
    }
