"""Time as the app stores and writes it: naive UTC in every DATETIME column, ISO 8601 with an offset
in the API (API.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo


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


@dataclass(frozen=True)
class WrittenTime:
    """A date or date-time as a person wrote it (ISO 8601), not yet placed in a time zone."""

    day: date | None = None  # a date alone: the whole day
    moment: datetime | None = None  # a date-time, with or without an offset

    @classmethod
    def parse(cls, text: str) -> WrittenTime:
        """ValueError unless `text` is an ISO 8601 date or date-time."""
        try:
            return cls(day=date.fromisoformat(text))
        except ValueError:
            return cls(moment=datetime.fromisoformat(text))

    def stored(self, zone: tzinfo, *, end: bool = False) -> datetime:
        """As a column stores it (naive UTC). A date alone is the start of that day, or for an
        `end` its last microsecond; a date-time without an offset is read in `zone`. OverflowError
        when that is outside the years a datetime holds."""
        moment = datetime.combine(self.day, time.max if end else time.min) if self.day else self.moment
        if moment.tzinfo is None:  # a time the person wrote: in their zone
            moment = moment.replace(tzinfo=zone)
        return stored(moment)
