"""How long conversations are kept: an admin setting (off by default) and the daily clean-up, which
also forgets audit entries past the audit log's retention (a year by default) and removes uploads
never sent within a day.

A conversation whose last activity is older than the setting is deleted with its messages (and
their search index rows). One answering right now is left alone. Every worker checks hourly
whether a clean-up is due; the one that moves `retention_last_run` forward runs it, so it happens
once a day however many workers there are.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import exists, select, update

from aihelper.extensions import db
from aihelper.models import AppSetting, ChatMessage, ChatSession
from aihelper.models.chat import STALE_STREAMING, MessageStatus
from aihelper.services import attachments, audit, settings, shares
from aihelper.services.history import erase_conversations
from aihelper.times import utcnow

log = logging.getLogger(__name__)

LAST_RUN = "retention_last_run"
EVERY = timedelta(days=1)
CHECK_SECONDS = 3600
BATCH = 500


def purge_expired(now: datetime | None = None) -> int:
    """Delete the conversations older than the retention setting; returns how many."""
    days = settings.retention_days()
    if not days:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    answering = exists().where(
        ChatMessage.session_id == ChatSession.session_id,
        ChatMessage.status == MessageStatus.STREAMING,
        ChatMessage.timestamp > now - STALE_STREAMING,
    )
    deleted = 0
    while True:
        ids = db.session.scalars(
            select(ChatSession.id).where(ChatSession.update_time < cutoff, ~answering).limit(BATCH)
        ).all()
        if not ids:
            return deleted
        erase_conversations(ids)
        deleted += len(ids)


def claim_daily_run(now: datetime | None = None) -> bool:
    """True for the one caller that may run today's clean-up (a compare-and-set on the last run)."""
    now = now or utcnow()
    stored = db.session.get(AppSetting, LAST_RUN)
    if stored is None:
        db.session.add(AppSetting(key=LAST_RUN, value=now.isoformat()))
        try:
            db.session.commit()
            return True
        except Exception:  # another worker inserted it first
            db.session.rollback()
            return False
    if now - datetime.fromisoformat(stored.value) < EVERY:
        db.session.rollback()
        return False
    claimed = db.session.execute(
        update(AppSetting)
        .where(AppSetting.key == LAST_RUN, AppSetting.value == stored.value)
        .values(value=now.isoformat())
    ).rowcount
    db.session.commit()
    return claimed == 1


def run_if_due() -> int:
    """Once a day: conversations past their retention (when one is set), audit entries past
    theirs, unsent uploads and long-expired shared links. Returns how many conversations went."""
    if not claim_daily_run():
        return 0
    try:
        deleted = purge_expired()
        if deleted:
            log.info("retention: deleted %d conversation(s) older than %d day(s)", deleted, settings.retention_days())
    finally:  # the audit log's clean-up is due today too, whatever happened to the conversations'
        db.session.rollback()
        forgotten = audit.purge_older_than(settings.audit_retention_days(), utcnow())
        if forgotten:
            days = settings.audit_retention_days()
            log.info("retention: forgot %d audit entries older than %d day(s)", forgotten, days)
        swept = attachments.sweep(utcnow())
        if swept:
            log.info("retention: removed %d attachment file(s) never sent or no longer used", swept)
        expired = shares.purge_expired(utcnow())
        if expired:
            log.info("retention: deleted %d shared link(s) expired over %d days ago", expired, shares.EXPIRED_KEPT.days)
    return deleted


def start_daily_job(app: Flask) -> None:
    """Check once an hour, in the background, for as long as the worker lives."""

    def loop() -> None:
        while True:
            with app.app_context():
                try:
                    run_if_due()
                except Exception:
                    log.exception("retention clean-up failed; it is tried again in an hour")
                finally:
                    db.session.remove()
            time.sleep(CHECK_SECONDS)

    threading.Thread(target=loop, name="retention", daemon=True).start()
