"""Time as the app stores and writes it: naive UTC in every DATETIME column, ISO 8601 with an offset
in the API (API.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a column stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def stored(moment: datetime) -> datetime:
    """A moment as a column stores it: an aware one in UTC without its zone; a naive one is UTC
    already, as every time the API writes."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def aware(moment: datetime) -> datetime:
    """A stored (naive UTC) moment with its zone, to show it in another one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso_utc(moment: datetime | None) -> str | None:
    """A stored naive-UTC datetime as `2026-11-24T14:15:11+00:00`."""
    if moment is None:
        return None
    return aware(moment).replace(microsecond=0).isoformat()
