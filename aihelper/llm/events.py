"""What a streamed answer is made of: pieces of text, then one end marker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Delta(NamedTuple):
    """A piece of the answer as the provider sent it; either field may be empty, not both.

    A named tuple: one is made per provider event, and a frozen dataclass costs several times more
    to make."""

    content: str = ""
    reasoning: str = ""

    @classmethod
    def joined(cls, pieces: list[Delta]) -> Delta:
        return cls("".join(piece.content for piece in pieces), "".join(piece.reasoning for piece in pieces))


@dataclass(frozen=True)
class Done:
    """The end of an answer.

    finish_reason: the provider's word ("stop", "length", "content_filter", ...) or None when it
    gave none (e.g. a stream that ended without one). usage: ``{"prompt_tokens": int,
    "completion_tokens": int}`` from the last chunk that carried usage, or None.
    """

    finish_reason: str | None
    usage: dict[str, int] | None


class Completion(NamedTuple):
    """A non-streamed answer: its text, and the provider's usage (None when it sent none)."""

    text: str
    usage: dict[str, int] | None
