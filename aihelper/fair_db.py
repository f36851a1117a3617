"""Database work and long work in Python that would freeze a whole worker are cut into slices,
between streams.

Under gunicorn's gevent worker every websocket is a greenlet on one thread. The sqlite3 module is
C code that gevent cannot interrupt, so while a query runs every stream of the worker stands still.
When hundreds of turns start (or end) at once, their database work would run back to back and the
answers already streaming would stall for the whole burst (PERFORMANCE.md: added gap p99 ≤ 50 ms).
`fair_share()` runs such pieces one at a time, and once they have held the loop for SLICE_SECONDS
in one loop iteration, the next piece waits for the next iteration, whose network events (tokens
to relay) are served first. A lone turn never waits. MySQL's driver yields to the loop on every
round trip, so for it, and outside gevent (tests, `flask run`), there is nothing to do.

Work that is long in itself (reading a 30 MB import, checking its 100 000 messages, writing an
export) runs in small steps and calls `Turns.take()` between them: after SLICE_SECONDS of work the
loop serves everyone else before the next step, whatever the database.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from aihelper.extensions import db

SLICE_SECONDS = 0.005


class _Gate:
    """One per worker process, made on first use (after gunicorn forked and gevent patched)."""

    def __init__(self) -> None:
        from gevent.lock import Semaphore

        self.lock = Semaphore(1)
        self.iteration = -1
        self.slice_started = 0.0

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        import gevent

        with self.lock:
            loop = gevent.get_hub().loop
            if loop.iteration != self.iteration:
                self.iteration, self.slice_started = loop.iteration, time.perf_counter()
            elif time.perf_counter() - self.slice_started > SLICE_SECONDS:
                _let_others_run()
                self.iteration, self.slice_started = loop.iteration, time.perf_counter()
            yield


_gate: _Gate | None = None


def _let_others_run() -> None:
    import gevent

    # A timer, not sleep(0): sleep(0) may resume in the same iteration, before any socket was
    # polled; a timer fires after the poll and after its events.
    gevent.sleep(0.0001)


class Turns:
    """One long piece of work taking turns with the rest of the worker: call `take()` between
    steps small enough to last well under SLICE_SECONDS."""

    def __init__(self) -> None:
        self._cooperative = _gevent_patched()
        self._since = time.perf_counter()

    def take(self) -> None:
        if not self._cooperative:
            return
        now = time.perf_counter()
        if now - self._since > SLICE_SECONDS:
            _let_others_run()
            self._since = time.perf_counter()


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


@contextlib.contextmanager
def fair_share() -> Iterator[None]:
    """Wrap one short piece of database work (inside an app context)."""
    global _gate
    if db.engine.dialect.name != "sqlite" or not _gevent_patched():
        yield
        return
    if _gate is None:
        _gate = _Gate()
    with _gate.enter():
        yield
