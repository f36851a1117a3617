"""Running answers written to their rows as they grow, and answers whose worker died finished.

Every AIHELPER_CHECKPOINT_SECONDS each worker writes the text so far of all its running answers that grew,
and renews the lease of every one of them, in one UPDATE (never one per token or per stream). A
worker killed mid-answer so loses at most the last interval of text.

An answer's lease (`lease_until`, set when the turn is stored) says until when its worker vouches
for it. Once it lapsed (at most AIHELPER_ANSWER_LEASE_SECONDS after the worker died) any worker's
sweep finishes the answer: status `error`, `finish_reason` and `error_code` `interrupted`, the
checkpointed text kept. Reads show a lapsed answer as interrupted even before a sweep.

The same loop stores answers spooled while the database was away (aihelper/chat/spool.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask
from sqlalchemy import bindparam, case, select, update
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from aihelper.chat import spool
from aihelper.config import AUTOCOMMIT_BIND
from aihelper.errors import lost_to_another_transaction
from aihelper.extensions import db
from aihelper.fair_db import fair_share
from aihelper.models import ChatMessage
from aihelper.models.chat import MessageStatus
from aihelper.schema import SQLITE_BUSY_TIMEOUT_MS
from aihelper.times import utcnow

log = logging.getLogger(__name__)

_messages = ChatMessage.__table__
# Sweeps for answers whose worker died, once per this many checkpoint intervals.
SWEEP_EVERY = 5


class _Running:
    """One answer being generated in this process: the pieces its turn appends to."""

    __slots__ = ("content", "reasoning", "written")

    def __init__(self, content: list[str], reasoning: list[str]) -> None:
        self.content = content
        self.reasoning = reasoning
        self.written = 0  # pieces of content already in the row


class Checkpoints:
    """One per app. A serving app starts its writer in each worker process at its first request; in
    tests (TESTING) nothing runs by itself: a test calls write() and sweep()."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = app.config["AIHELPER_CHECKPOINT_SECONDS"]
        self.lease = timedelta(seconds=app.config["AIHELPER_ANSWER_LEASE_SECONDS"])
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._pid = -1

    def lease_until(self):
        """The lease a newly stored answer gets."""
        return utcnow() + self.lease

    def track(self, answer_id: int, content: list[str], reasoning: list[str]) -> None:
        """The answer's turn appends its pieces to these lists; they are written as they grow."""
        with self._lock:
            self._running[answer_id] = _Running(content, reasoning)

    def forget(self, answer_id: int) -> None:
        """The answer is being stored whole by its turn."""
        with self._lock:
            self._running.pop(answer_id, None)

    def start(self) -> None:
        """The writer of this process, started once: called before every request of a serving
        app (cheap), so a worker that gunicorn forked or restarted runs its own."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._running = {}  # what the parent process ran is not this worker's
        threading.Thread(target=self._loop, name="aihelper-checkpoints", daemon=True).start()

    def _loop(self) -> None:
        rounds = 0
        due = time.monotonic()
        while True:
            # On a fixed beat, not `interval` after the last write ended: a kill loses at most an
            # interval of text, and the write it interrupted.
            due = max(due + self.interval, time.monotonic())
            time.sleep(max(due - time.monotonic(), 0))
            rounds += 1
            with self.app.app_context():
                try:
                    self._write_on_a_live_connection()
                    spool.replay(self.app)
                    if rounds % SWEEP_EVERY == 0:
                        self.sweep()
                except SQLAlchemyError:
                    log.warning("checkpoint failed; the next one writes what is missing", exc_info=True)
                finally:
                    db.session.remove()

    def _write_on_a_live_connection(self) -> None:
        """write(), once more at once when the database had dropped the pooled connection (it
        restarted): the autocommit pool does not ping, and waiting for the next beat would let a
        kill meanwhile lose two intervals of text."""
        try:
            self.write()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            self.write()

    def write(self) -> int:
        """One statement: the text so far of the answers that grew, a new lease for all of them."""
        with self._lock:
            running = list(self._running.items())
        if not running:
            return 0
        grown = {answer_id: answer for answer_id, answer in running if len(answer.content) > answer.written}
        counts = {answer_id: len(answer.content) for answer_id, answer in grown.items()}
        values: dict = {"lease_until": self.lease_until()}
        if grown:
            values["content"] = case(
                {answer_id: "".join(answer.content[: counts[answer_id]]) for answer_id, answer in grown.items()},
                value=_messages.c.id,
                else_=_messages.c.content,
            )
            values["reasoning"] = case(
                {answer_id: "".join(answer.reasoning) or None for answer_id, answer in grown.items()},
                value=_messages.c.id,
                else_=_messages.c.reasoning,
            )
        statement = (
            update(_messages)
            .where(_messages.c.id.in_(bindparam("ids", expanding=True)), _messages.c.status == MessageStatus.STREAMING)
            .values(**values)
        )
        with fair_share(), db.engines[AUTOCOMMIT_BIND].connect() as connection, _never_waiting(connection) as free:
            if free(lambda: connection.execute(statement, {"ids": [answer_id for answer_id, _ in running]})) is None:
                return 0
        for answer_id, answer in grown.items():
            answer.written = counts[answer_id]
        return len(grown)

    def sweep(self) -> int:
        """Finish the answers whose lease lapsed: their worker died, with what was checkpointed."""
        swept = self._interrupt_lapsed()
        if swept:
            log.warning("%d answer(s) whose worker died were stored as interrupted", swept)
        return swept

    def settled(self, answer_id: int) -> ChatMessage | None:
        """An answer whose generating process went away (a follower saw its feed end without a
        final frame), once it is final: stored by its own worker, or finished here as interrupted
        when its lease lapsed. None when it is still vouched for after a whole lease: its worker
        lives on, out of this one's reach."""
        deadline = time.monotonic() + self.lease.total_seconds() + self.interval
        while True:
            with fair_share(), db.engines[AUTOCOMMIT_BIND].connect() as connection:
                status = connection.execute(select(_messages.c.status).where(_messages.c.id == answer_id)).scalar()
            if status is None:
                return None
            if status == MessageStatus.STREAMING and self._interrupt_lapsed(_messages.c.id == answer_id) == 0:
                if time.monotonic() >= deadline:
                    return None
                time.sleep(self.interval)
                continue
            with fair_share():
                answer = db.session.get(ChatMessage, answer_id, populate_existing=True)
            return answer if answer is not None and answer.status != MessageStatus.STREAMING else None

    def _interrupt_lapsed(self, *only) -> int:
        """Answers still streaming whose lease lapsed (of those `only` selects) become interrupted."""
        lapsed = (_messages.c.lease_until < utcnow(), _messages.c.status == MessageStatus.STREAMING, *only)
        statement = (
            update(_messages)
            .where(*lapsed)
            .values(status=MessageStatus.ERROR, finish_reason="interrupted", error_code="interrupted", lease_until=None)
        )
        with fair_share(), db.engines[AUTOCOMMIT_BIND].connect() as connection:
            # A read first (it never waits): the write, rare, only when there is something to finish.
            if connection.execute(select(_messages.c.id).where(*lapsed).limit(1)).first() is None:
                return 0
            with _never_waiting(connection) as free:
                result = free(lambda: connection.execute(statement))
            return result.rowcount if result else 0


@contextmanager
def _never_waiting(connection):
    """Statements that give up rather than wait for SQLite's write lock: under gevent that wait is
    spent in C and holds every stream of the worker (while an import writes, say). On MySQL and
    MariaDB a statement that lost a deadlock to a turn storing its answer, or waited a second for
    a row, gives way the same. What a skipped checkpoint would have written, the next one writes."""
    sqlite = connection.dialect.name == "sqlite"
    mysql = connection.dialect.name in ("mysql", "mariadb")
    if sqlite:
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
    elif mysql:
        # InnoDB would wait 50 s for a row lock, longer than a lease: the answer would meanwhile
        # be taken for one whose worker died.
        connection.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")

    def free(run):
        try:
            return run()
        except OperationalError as error:
            if sqlite and "locked" in str(error.orig):
                return None
            if mysql and lost_to_another_transaction(error):
                log.info("checkpoint gave way to another transaction (%s); the next one writes it", error.orig.args[0])
                return None
            raise

    try:
        yield free
    finally:
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        elif mysql:
            connection.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = DEFAULT")
