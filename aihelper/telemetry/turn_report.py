"""What is recorded of a turn when it ends, once: its metrics and its log line (no message text,
no conversation id: the request id leads from the line to the rest of the request's lines)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from aihelper.telemetry import metrics

log = logging.getLogger("aihelper.turn")


@dataclass(frozen=True)
class TurnReport:
    request_id: str
    user_id: int
    model: str
    status: str  # done, stopped, error or interrupted
    finish_reason: str | None
    error_code: str | None
    ttft_ms: int | None  # None: no text came
    duration_ms: int
    prompt_tokens: int
    completion_tokens: int
    stored: bool  # False: kept in the spool until the database takes it


def report(turn: TurnReport) -> None:
    model = turn.model
    metrics.TURNS.labels(model, turn.status).inc()
    if turn.ttft_ms is not None:
        metrics.TIME_TO_FIRST_TOKEN.labels(model).observe(turn.ttft_ms / 1000)
    metrics.ANSWER_DURATION.labels(model).observe(turn.duration_ms / 1000)
    metrics.TOKENS.labels(model, "prompt").inc(turn.prompt_tokens)
    metrics.TOKENS.labels(model, "completion").inc(turn.completion_tokens)
    fields = asdict(turn)
    request_id = fields.pop("request_id")
    log.info("turn", extra={"request_id": request_id, "fields": fields})
