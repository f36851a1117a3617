"""What an answer (or a generated title) used, what it cost, and the daily rollup it adds to.

Tokens come from the provider's `usage` when it sends one; otherwise they are counted here from
the text and the answer is marked `usage_estimated`: Chinese, Japanese and Korean characters count
one token each (the tokenizers of GLM, Qwen, DeepSeek and OpenAI give 0.6-1.5 per character), other
text a token per four characters, and each message of the prompt a few tokens of framing. The cost
is the model's price per million tokens at the moment the answer is stored: a later price never
rewrites it.

The rollup (`usage_daily`) is added to in the caller's transaction with one upsert per answer, so
that it is exact across workers and instances without a lock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import mysql, sqlite

from aihelper.models import UsageDay
from aihelper.times import utcnow

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
CHARS_PER_TOKEN = 4  # of text other than CJK
MESSAGE_FRAMING_TOKENS = 4  # the role and separators each prompt message costs
TOKENS_PER_PRICE_UNIT = 1_000_000


def estimated_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_of(reported: dict[str, Any] | None, payload: dict[str, Any], answer: str) -> Usage:
    """The provider's count when it sent one (both numbers), else an estimate from the text."""
    if (
        reported
        and _count(reported.get("prompt_tokens")) is not None
        and _count(reported.get("completion_tokens")) is not None
    ):
        return Usage(reported["prompt_tokens"], reported["completion_tokens"], estimated=False)
    prompt = sum(
        estimated_tokens(message["content"]) + MESSAGE_FRAMING_TOKENS
        for message in payload.get("messages", ())
        if isinstance(message.get("content"), str)
    )
    return Usage(prompt, estimated_tokens(answer), estimated=True)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


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
