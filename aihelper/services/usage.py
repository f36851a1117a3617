"""What an answer (or a generated title) used, what it cost, and the daily rollup it adds to.

Tokens come from the provider's `usage` when it sends one (a missing count derived from its
total); otherwise they are counted here from the text and the answer is marked `usage_estimated`:
a token per four ASCII characters and per three bytes of everything else in UTF-8 — a Chinese,
Japanese or Korean character (three bytes) is one token, as the tokenizers of GLM, Qwen, DeepSeek
and OpenAI roughly give, an emoji a little more — and each message of the prompt a few tokens of
framing. Counting bytes is C work (encode, translate): a megabyte answer is estimated in
milliseconds, where a regular expression over it held the worker for half a second. An answer that
failed before anything arrived costs nothing. The cost is the model's price per million tokens at
the moment the turn began: a later price never rewrites it.

The rollup (`usage_daily`) is added to in the caller's transaction with one upsert per answer, so
that it is exact across workers and instances without a lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import mysql, sqlite

from aihelper.models import UsageDay
from aihelper.times import utcnow

ASCII_PER_TOKEN = 4
OTHER_BYTES_PER_TOKEN = 3  # a CJK character's UTF-8 bytes
MESSAGE_FRAMING_TOKENS = 4  # the role and separators each prompt message costs
TOKENS_PER_PRICE_UNIT = 1_000_000
_ASCII = bytes(range(128))


def estimated_tokens(text: str) -> int:
    encoded = text.encode("utf-8", "replace")
    other = len(encoded.translate(None, _ASCII))
    return math.ceil((len(encoded) - other) / ASCII_PER_TOKEN) + math.ceil(other / OTHER_BYTES_PER_TOKEN)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


NOTHING = Usage(0, 0, estimated=False)


def usage_of(reported: dict[str, int] | None, payload: dict[str, Any], answer: str) -> Usage:
    """The provider's count (llm.sse.normalise_usage), unless it says nothing was used of an
    answer that has text; else an estimate from the text."""
    if reported and (reported["prompt_tokens"] + reported["completion_tokens"] > 0 or not answer):
        return Usage(reported["prompt_tokens"], reported["completion_tokens"], estimated=False)
    prompt = sum(
        estimated_tokens(message["content"]) + MESSAGE_FRAMING_TOKENS
        for message in payload.get("messages", ())
        if isinstance(message.get("content"), str)
    )
    return Usage(prompt, estimated_tokens(answer), estimated=True)


@dataclass(frozen=True)
class Price:
    """A model's price per million tokens, as it was when the turn began."""

    input: float
    output: float
    currency: str

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True)
class Spent:
    """What one answer used and cost, as it is stored (plain values: a spooled answer keeps them
    in JSON until the database takes it)."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    cost: float
    currency: str

    @classmethod
    def of(cls, used: Usage, price: Price) -> Spent:
        return cls(used.prompt_tokens, used.completion_tokens, used.estimated, price.cost(used), price.currency)

    def counted(self) -> dict[str, Any]:
        """What the rollup adds up."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "currency": self.currency,
        }


_ROLLUP = UsageDay.__table__


def add_to_rollup(
    connection: Connection,
    *,
    user_id: int,
    model_id: str | None,
    answers: int,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float,
    currency: str,
) -> None:
    """Add one answer (`answers=1`) or title (`answers=0`) to the user's day (UTC, today), in the
    caller's transaction: one statement, exact however many workers add at once."""
    row = {
        "day": utcnow().date(),
        "user_id": user_id,
        "model_id": model_id or "",
        "messages": answers,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost": cost,
        "currency": currency,
    }
    added = ("messages", "prompt_tokens", "completion_tokens", "cost")
    if connection.dialect.name == "sqlite":
        statement = sqlite.insert(_ROLLUP).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["day", "user_id", "model_id", "currency"],
            set_={name: _ROLLUP.c[name] + statement.excluded[name] for name in added},
        )
    else:
        statement = mysql.insert(_ROLLUP).values(row)
        statement = statement.on_duplicate_key_update(
            {name: _ROLLUP.c[name] + statement.inserted[name] for name in added}
        )
    connection.execute(statement)
