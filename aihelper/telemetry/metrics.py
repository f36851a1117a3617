"""The Prometheus metric families, each recorded in the one place where what it counts happens.

A turn's counters and histograms are recorded once, when it ends (its first token is noted once:
nothing per token or per frame); the running generations and open websockets where they begin and
end; database errors by the engines' error event; Redis errors where the live hub catches them.
Labels stay bounded: models (the admin's list), statuses, error codes, never a user or a
conversation.

Under gunicorn, gunicorn.conf.py gives all workers one PROMETHEUS_MULTIPROC_DIR before any of them
imports this module: each worker writes its values to files there, and a scrape answered by any
worker adds up all of them (the gauges count live workers only: `livesum`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from aihelper.errors import database_unreachable, lost_to_another_transaction

RUNNING_GENERATIONS = Gauge("aihelper_running_generations", "Answers being generated now.", multiprocess_mode="livesum")
WEBSOCKET_CONNECTIONS = Gauge(
    "aihelper_websocket_connections", "Open /ws/chat websockets.", multiprocess_mode="livesum"
)
TURNS = Counter(
    "aihelper_turns", "Turns ended, by final status (done, stopped, error, interrupted).", ["model", "status"]
)
TIME_TO_FIRST_TOKEN = Histogram(
    "aihelper_time_to_first_token_seconds",
    "From the provider call to the answer's first piece of text.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
ANSWER_DURATION = Histogram(
    "aihelper_answer_duration_seconds",
    "From the provider call to the answer's end, whatever the end.",
    ["model"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900),
)
TOKENS = Counter("aihelper_tokens", "Tokens of answered turns, as counted against quotas.", ["model", "kind"])
PROVIDER_ERRORS = Counter("aihelper_provider_errors", "Failed provider calls of answers and titles, by code.", ["code"])
DATABASE_ERRORS = Counter(
    "aihelper_database_errors",
    "Failed database statements and connections: unreachable, contention (deadlock, lock wait, "
    "SQLite busy), constraint, other.",
    ["kind"],
)
REDIS_ERRORS = Counter("aihelper_redis_errors", "Redis calls of the live hub that failed (the app went on without).")


def count_database_errors(engine: Engine) -> None:
    event.listen(engine, "handle_error", _database_error)


def _database_error(context) -> None:
    DATABASE_ERRORS.labels(_kind_of(context)).inc()


def _kind_of(context) -> str:
    error = context.sqlalchemy_exception
    if context.is_disconnect or (error is not None and database_unreachable(error)):
        return "unreachable"
    if error is not None and (lost_to_another_transaction(error) or "locked" in str(error.orig)):
        return "contention"
    if isinstance(error, IntegrityError):
        return "constraint"
    return "other"
