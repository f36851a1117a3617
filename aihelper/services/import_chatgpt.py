"""ChatGPT's export (`conversations.json`, alone or in its zip) as conversations of our own export
document, which services/import_file.py then checks and services/imports.py writes like any other.

ChatGPT keeps a conversation as a tree: `mapping` holds every node with its `parent` and
`children`, and `current_node` is the end of the branch it showed. Only the questions and answers
people read are brought in: system prompts, tool calls and their results, hidden context and
nodes without text are left out, and a kept message follows its nearest kept ancestor, so the
branches stay branches. A conversation remembers its ChatGPT id as its origin: importing the same
export again adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aihelper.fair_db import Turns

ORIGIN_PREFIX = "chatgpt-"
# Nodes of `mapping` in a whole file, kept or not: what the shape guard lets through is bounded by
# this too, so a file of empty nodes cannot hold a worker or its memory.
NODES_MAX = 200_000
TITLE_MAX = 200
MODEL_MAX = 100
_ROLES = ("user", "assistant")
_TEXT_TYPES = ("text", "multimodal_text")
# A question longer than the instance takes is cut, and says so, rather than refusing the whole
# export: earlier questions go to a provider again, within the same limit as a typed one.
CUT_MARK = "\n\n[…]"


class NotChatGPT(Exception):
    """The value at `where` is not what ChatGPT's export has there."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class TooManyNodes(Exception):
    pass


def conversations_of(document: list[Any], question_max: int) -> list[dict[str, Any]]:
    """Our conversations of ChatGPT's export, a node at a time with the worker's other work in
    between (fair_db)."""
    if (
        sum(len(raw["mapping"]) for raw in document if isinstance(raw, dict) and isinstance(raw.get("mapping"), dict))
        > NODES_MAX
    ):
        raise TooManyNodes
    turns = Turns()
    return [_conversation(raw, f"[{index}]", question_max, turns) for index, raw in enumerate(document)]


def _conversation(raw: Any, where: str, question_max: int, turns: Turns) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("mapping"), dict):
        raise NotChatGPT(where)
    chatgpt_id = raw.get("conversation_id") or raw.get("id")
    if not isinstance(chatgpt_id, str) or not chatgpt_id.strip():
        raise NotChatGPT(f"{where}.id")
    mapping: dict[str, Any] = raw["mapping"]
    started = _time(raw.get("create_time"))
    messages, nearest_kept = _kept_messages(mapping, started, question_max, where, turns)
    title = raw.get("title") if isinstance(raw.get("title"), str) else ""
    session_id = (ORIGIN_PREFIX + chatgpt_id.strip())[:64]
    current = raw.get("current_node")
    conversation = {
        "session_id": session_id,
        "origin_id": session_id,
        "title": title[:TITLE_MAX],
        "model_id": _model(raw.get("default_model_slug")),
        "selected_leaf_id": nearest_kept.get(current) if isinstance(current, str) else None,
        "messages": messages,
    }
    times = {"create_time": started, "update_time": _time(raw.get("update_time"))}
    return {**conversation, **{name: moment for name, moment in times.items() if moment is not None}}


def _is_root(node: Any, mapping: dict[str, Any]) -> bool:
    parent = node.get("parent") if isinstance(node, dict) else None
    return not isinstance(parent, str) or parent not in mapping


def _kept_messages(
    mapping: dict[str, Any], started: str | None, question_max: int, where: str, turns: Turns
) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """The messages to keep, parents before children (depth first from the roots, children in
    their order), and for every node the nearest kept one at or above it. A node is visited once,
    however many lists name it (a cycle, or a file naming one child thousands of times)."""
    roots = [key for key, node in mapping.items() if _is_root(node, mapping)]
    nearest_kept: dict[str, str | None] = {}
    messages: list[dict[str, Any]] = []
    pending: list[tuple[str, str | None]] = [(root, None) for root in reversed(roots)]
    queued = set(roots)
    while pending:
        turns.take()
        key, kept_above = pending.pop()
        node = mapping[key]
        if not isinstance(node, dict):
            raise NotChatGPT(f"{where}.mapping.{key}")
        message = _message(node.get("message"), started, question_max)
        if message is not None:
            messages.append({"id": key, "parent_id": kept_above, **message})
            kept_above = key
        nearest_kept[key] = kept_above
        children = node.get("children") if isinstance(node.get("children"), list) else []
        for child in reversed(children):
            if isinstance(child, str) and child in mapping and child not in queued:
                queued.add(child)
                pending.append((child, kept_above))
    return messages, nearest_kept


def _message(raw: Any, started: str | None, question_max: int) -> dict[str, Any] | None:
    """A question or an answer as our export has it, or None for what people do not read."""
    if not isinstance(raw, dict):
        return None
    author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    role = author.get("role")
    if (
        role not in _ROLES
        or raw.get("recipient", "all") != "all"
        or metadata.get("is_visually_hidden_from_conversation")
    ):
        return None
    text = _text(raw.get("content"))
    if not text.strip():
        return None
    if role == "user" and len(text) > question_max:
        text = text[: question_max - len(CUT_MARK)] + CUT_MARK
    return {
        "role": role,
        "content": text,
        "timestamp": _time(raw.get("create_time")) or started or datetime.now(UTC).replace(microsecond=0).isoformat(),
        "status": "done",
        "model_id": _model(metadata.get("model_slug")) if role == "assistant" else None,
    }


def _text(content: Any) -> str:
    """A message's text: its string parts (an image part has no text to bring)."""
    if not isinstance(content, dict) or content.get("content_type") not in _TEXT_TYPES:
        return ""
    parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    return "\n".join(part for part in parts if isinstance(part, str))


def _time(seconds: Any) -> str | None:
    """ChatGPT's times are seconds since 1970 (fractions of them); ours ISO 8601."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=0).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _model(slug: Any) -> str | None:
    return slug[:MODEL_MAX] if isinstance(slug, str) and slug else None
