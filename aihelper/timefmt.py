"""Timestamps as API.md §2 writes them: ISO 8601, UTC, with an offset."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime | None) -> str | None:
    """A stored naive-UTC datetime as `2026-11-24T14:15:11+00:00`."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC, microsecond=0).isoformat()
