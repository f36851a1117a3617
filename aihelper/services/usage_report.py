"""The admin's usage dashboard: use and cost between two days, by day, week, month, model, user or
group, read from the daily rollup (`usage_daily`) and never from the messages, so a quarter over a
million messages reads a few thousand rows.

Days are the rollup's UTC days, named as dates; `tz` only decides which day "today" is when no
range is given, and which UTC day a date-time falls on. A
user counts in every group they are in now (a row per group; users in none under `none`), so the
group rows may add up to more than the total. Each row is one currency: models priced in different
currencies are never added together.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated, Any

from flask import current_app
from flask_babel import gettext
from pydantic import Field
from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.failures import Invalid
from aihelper.i18n import N_
from aihelper.models import ModelConfig, UsageDay, User, UserGroup, group_members
from aihelper.times import WrittenTime
from aihelper.validation import Fields, Moment, OneOf, TimeZone, defaulted

BUCKETS = ("day", "week", "month", "model", "user", "group")
DEFAULT_DAYS = 30
MAX_DAYS = 3660  # ten years of days, for one query
NO_GROUP = "none"
CSV_FIELDS = ("key", "label", "messages", "prompt_tokens", "completion_tokens", "cost", "currency")


class UsageQuery(Fields):
    """GET /api/admin/usage and /api/admin/usage.csv."""

    since: Annotated[WrittenTime | None, Moment(optional=True), Field(alias="from", title=N_("field_from"))] = None
    until: Annotated[WrittenTime | None, Moment(optional=True), Field(alias="to", title=N_("field_to"))] = None
    by: Annotated[str, OneOf(BUCKETS, N_("invalid_usage_by"))] = "day"
    tz: Annotated[tzinfo, TimeZone()] = defaulted()


def _day(written: WrittenTime, zone: tzinfo, *, end: bool) -> date:
    """A date is the rollup's day as written; a date-time is the UTC day it falls on."""
    return written.day if written.day is not None else written.stored(zone, end=end).date()


def days_of(query: UsageQuery) -> tuple[date, date]:
    """The first and last day asked for: the last DEFAULT_DAYS days until today (in `tz`) by default."""
    today = datetime.now(query.tz).date()
    last = _day(query.until, query.tz, end=True) if query.until else today
    first = _day(query.since, query.tz, end=False) if query.since else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last or (last - first).days >= MAX_DAYS:
        raise Invalid(N_("invalid_range"))
    return first, last


_SUMS = (
    func.sum(UsageDay.messages),
    func.sum(UsageDay.prompt_tokens),
    func.sum(UsageDay.completion_tokens),
    func.sum(UsageDay.cost),
)


def usage_rows(query: UsageQuery) -> list[dict[str, Any]]:
    """`{key, label, messages, prompt_tokens, completion_tokens, cost, currency}` per bucket and
    currency: in time order for day, week and month (days without use included, as zeros), the
    most tokens first for model, user and group."""
    first, last = days_of(query)
    in_range = (UsageDay.day >= first, UsageDay.day <= last)
    if query.by in ("day", "week", "month"):
        statement = select(UsageDay.day, UsageDay.currency, *_SUMS).where(*in_range)
        rows = db.session.execute(statement.group_by(UsageDay.day, UsageDay.currency)).all()
        return _over_time(rows, first, last, query.by)
    key_column = {"model": UsageDay.model_id, "user": UsageDay.user_id}.get(query.by, group_members.c.group_id)
    statement = select(key_column, UsageDay.currency, *_SUMS).select_from(UsageDay).where(*in_range)
    if query.by == "group":
        statement = statement.outerjoin(group_members, group_members.c.user_id == UsageDay.user_id)
    rows = db.session.execute(statement.group_by(key_column, UsageDay.currency)).all()
    labels = _LABELS[query.by]({key for key, *_ in rows})
    found = [_row(NO_GROUP if key is None else str(key), labels.get(key, str(key)), *sums) for key, *sums in rows]
    return sorted(found, key=lambda row: (-(row["prompt_tokens"] + row["completion_tokens"]), row["label"]))


def _row(key: str, label: str, currency: str, messages, prompt, completion, cost) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "messages": int(messages or 0),
        "prompt_tokens": int(prompt or 0),
        "completion_tokens": int(completion or 0),
        "cost": round(float(cost or 0), 8),
        "currency": currency,
    }


def _bucket(day: date, by: str) -> tuple[str, str]:
    if by == "week":
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return monday.isoformat(), f"{year}-W{week:02d}"
    if by == "month":
        return f"{day:%Y-%m}", f"{day:%Y-%m}"
    return day.isoformat(), day.isoformat()


def _over_time(rows, first: date, last: date, by: str) -> list[dict[str, Any]]:
    currencies = sorted({row.currency for row in rows}) or [current_app.config["AIHELPER_QUOTA_CURRENCY"]]
    totals: dict[tuple[str, str], list] = {}
    day = first
    while day <= last:  # every bucket, used or not, so that a chart's axis has no gaps
        key, label = _bucket(day, by)
        for currency in currencies:
            totals.setdefault((key, currency), [label, 0, 0, 0, 0.0])
        day += timedelta(days=1)
    for row_day, currency, messages, prompt, completion, cost in rows:
        total = totals[(_bucket(row_day, by)[0], currency)]
        for i, value in enumerate((messages, prompt, completion, cost), start=1):
            total[i] += value or 0
    return [_row(key, label, currency, *sums) for (key, currency), (label, *sums) in totals.items()]


def _model_labels(keys: set) -> dict:
    names: dict[str, str] = {}
    for model_id, model_name in db.session.execute(
        select(ModelConfig.model_id, ModelConfig.model_name).where(ModelConfig.model_id.in_(keys - {""}))
    ):
        names.setdefault(model_id, model_name)
    return names | {"": gettext("usage_unknown_model")}


def _user_labels(keys: set) -> dict:
    """Each user's name; a deleted account's use stays in the rollup under its former id."""
    named = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(keys))).all())
    return {key: named.get(key) or gettext("usage_deleted_user", id=key) for key in keys}


def _group_labels(keys: set) -> dict:
    named = dict(db.session.execute(select(UserGroup.id, UserGroup.name).where(UserGroup.id.in_(keys - {None}))).all())
    return named | {None: gettext("usage_no_group")}


_LABELS = {"model": _model_labels, "user": _user_labels, "group": _group_labels}


def _cell(value: Any) -> Any:
    """A spreadsheet never runs a cell as a formula (a label starting with = + - @ is quoted)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def usage_csv(rows: list[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for row in rows:
        writer.writerow([_cell(row[name]) for name in CSV_FIELDS])
    yield "\ufeff" + buffer.getvalue()  # a BOM: Excel then reads the Chinese names as UTF-8
