"""Answers the database could not take within AIHELPER_STORE_RETRY_SECONDS, kept in the instance
folder until it can take them.

One JSON file per answer (`instance/spool/answer-<id>.json`, readable by the owner only): what
`answers.finish_answer` writes and the turn's fields it needs — never the provider's key or the request
sent to it. Every worker's checkpoint loop replays the folder (aihelper/chat/checkpoints.py), so a
spooled answer is stored by the next worker that finds the database back, after a restart too.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError

from aihelper.errors import database_unreachable
from aihelper.llm.sse import normalise_usage
from aihelper.models.types import CURRENCY_DEFAULT
from aihelper.services import answers
from aihelper.services.conversations import PreparedTurn
from aihelper.services.usage import Price, Spent, usage_of

log = logging.getLogger(__name__)

# The turn's fields finish_answer reads; the rest (the key, the payload, the URL) stays in memory.
_KEPT_TURN_FIELDS = (
    "session_id",
    "title",
    "is_new_session",
    "kind",
    "user_message_id",
    "answer_id",
    "model_id",
    "model_config_id",
    "question_text",
    "price",
)


def folder(app: Flask) -> Path:
    return Path(app.instance_path) / "spool"


def keep(app: Flask, turn: PreparedTurn, user_id: int, fields: dict[str, Any]) -> Path:
    """Write the answer to the spool (whole or not at all: written aside, then renamed)."""
    directory = folder(app)
    directory.mkdir(mode=0o700, exist_ok=True)
    kept_turn = {name: value for name, value in asdict(turn).items() if name in _KEPT_TURN_FIELDS}
    path = directory / f"answer-{turn.answer_id}.json"
    partial = path.with_suffix(".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        kept_fields = {**fields, "spent": asdict(fields["spent"])}
        json.dump({"turn": kept_turn, "user_id": user_id, "fields": kept_fields}, file, ensure_ascii=False)
    partial.replace(path)
    log.error("answer %s is kept in %s until the database takes it", turn.answer_id, path)
    return path


def _read_kept(path: Path) -> tuple[PreparedTurn, int, dict[str, Any]]:
    """A spooled answer's turn, user and fields; one kept before answers had a cost (no price, the
    provider's usage as it came) is stored at no cost with that usage, one kept before branches
    (which named the exchange it replaced) as a branch beside it."""
    kept = json.loads(path.read_text(encoding="utf-8"))
    fields = dict(kept["fields"])
    kept_turn = {name: value for name, value in kept["turn"].items() if name in _KEPT_TURN_FIELDS}
    price = Price(**kept_turn["price"]) if "price" in kept_turn else Price(0, 0, CURRENCY_DEFAULT)
    turn = PreparedTurn(**{**kept_turn, "price": price}, base_url="", api_key=None, payload={})
    if "spent" in fields:
        fields["spent"] = Spent(**fields["spent"])
    else:
        used = usage_of(normalise_usage(fields.pop("usage", None)), {}, fields["content"])
        fields["spent"] = Spent.of(used, price)
    return turn, kept["user_id"], fields


def replay(app: Flask) -> int:
    """Store the spooled answers the database takes now (in an app context); how many were."""
    directory = folder(app)
    if not directory.is_dir():
        return 0
    stored = 0
    for path in sorted(directory.glob("answer-*.json")):
        try:
            turn, user_id, fields = _read_kept(path)
        except (ValueError, KeyError, TypeError):
            log.exception("spooled answer %s cannot be read; set aside as %s.unreadable", path.name, path.name)
            path.replace(path.with_name(path.name + ".unreadable"))
            continue
        try:
            answers.finish_answer(turn, user_id, **fields)
        except DBAPIError as error:
            if database_unreachable(error):
                return stored  # still away: the next round tries again
            raise
        path.unlink()
        stored += 1
        log.warning("spooled answer %s is stored", turn.answer_id)
    return stored
