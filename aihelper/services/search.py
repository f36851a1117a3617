"""Searching a user's own conversations by words, Chinese included.

Neither database can search Chinese out of the box the same way: MariaDB has no ngram parser
(MySQL 8 has one, MariaDB never got it) and SQLite's FTS5 tokenizers either need three characters
(trigram) or treat a run of Chinese as one word (unicode61). So every message gets a list of
*terms* computed here, identically for both: each word of a space-separated script, and each
character and each pair of neighbouring characters of Chinese, Japanese and Korean text (so a
two-character query finds them). The terms are indexed by the database's own full-text engine:

- SQLite: an FTS5 table `message_search` (rowid = message id), which can return matches newest first
  without sorting them;
- MySQL / MariaDB: the table `message_search` with an InnoDB FULLTEXT index on `terms`.

Each term carries a two-letter prefix, so that no term is shorter than InnoDB's minimum token size
(3) or one of its stop words. A match of every term is then checked against the message itself,
so "数据库" does not match a text that merely contains 数据 and 据库 apart. Rows of
`message_search` go with their message (a foreign key on MySQL, a trigger on SQLite).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, column, select, table, text
from sqlalchemy.engine import Connection

from aihelper.errors import ApiError
from aihelper.extensions import db
from aihelper.i18n import t
from aihelper.models import ChatMessage, ChatSession
from aihelper.services.history import parse_moment, zone
from aihelper.timefmt import iso_utc

TERM_PREFIX = "zz"
WORD_MAX = 40  # longer words are indexed (and searched) by their first 40 characters
QUERY_MAX = 200
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
SNIPPET_BEFORE, SNIPPET_LENGTH = 30, 120
# Candidates are checked in batches; a query whose terms are everywhere but whose phrase is rare
# stops after this many, so one search never reads a whole history.
CANDIDATES_MAX = 3000

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_SEARCH_TABLE = table("message_search", column("rowid"), column("message_id"), column("terms"))
_TOKENS = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")
_INDEXED_CHARS = 200_000  # of one message: the rest of a huge answer is not searchable


def normalize(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def terms(value: str) -> list[str]:
    """The distinct search terms of a text, in order of first appearance."""
    found: dict[str, None] = {}
    for cjk, word in _TOKENS.findall(normalize(value[:_INDEXED_CHARS])):
        if word:
            found[TERM_PREFIX + word[:WORD_MAX]] = None
            continue
        for index, char in enumerate(cjk):
            found[TERM_PREFIX + char] = None
            if index + 1 < len(cjk):
                found[TERM_PREFIX + cjk[index : index + 2]] = None
    return list(found)


def _query_terms(segment: str) -> list[str]:
    """The fewest terms that every text containing `segment` has: pairs, not single characters."""
    chosen: list[str] = []
    for cjk, word in _TOKENS.findall(segment):
        if word:
            chosen.append(TERM_PREFIX + word[:WORD_MAX])
        elif len(cjk) == 1:
            chosen.append(TERM_PREFIX + cjk)
        else:
            chosen += [TERM_PREFIX + cjk[i : i + 2] for i in range(len(cjk) - 1)]
    return chosen


# --- keeping the index ---------------------------------------------------------------------------


def index_messages(connection: Connection, messages: Iterable[tuple[int, str]]) -> None:
    """Index (or re-index) messages given as (id, content), in the caller's transaction."""
    rows = [{"message_id": message_id, "terms": " ".join(terms(content or ""))} for message_id, content in messages]
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        connection.execute(text("DELETE FROM message_search WHERE rowid = :message_id"), rows)
        connection.execute(text("INSERT INTO message_search (rowid, terms) VALUES (:message_id, :terms)"), rows)
    else:
        connection.execute(
            text(
                "INSERT INTO message_search (message_id, terms) VALUES (:message_id, :terms) "
                "ON DUPLICATE KEY UPDATE terms = VALUES(terms)"
            ),
            rows,
        )


# --- searching -----------------------------------------------------------------------------------


@dataclass
class _Query:
    segments: list[str]  # normalized, space separated parts: each must occur in a match
    terms: list[str]


def _parse_query(value: Any) -> _Query:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "missing_field", t("field_required", field=t("field_query")))
    if len(value) > QUERY_MAX:
        raise ApiError(400, "invalid_query", t("query_too_long", limit=str(QUERY_MAX)))
    segments = [s for s in normalize(value).split() if _TOKENS.search(s)]
    found: dict[str, None] = {}
    for segment in segments:
        found.update(dict.fromkeys(_query_terms(segment)))
    return _Query(segments, list(found))


def _limit(value: Any) -> int:
    if value in (None, ""):
        return LIMIT_DEFAULT
    if not isinstance(value, str) or not value.isdigit() or int(value) < 1:
        raise ApiError(400, "invalid_limit", t("invalid_limit", high=str(LIMIT_MAX)))
    return min(int(value), LIMIT_MAX)


def _match_condition(connection: Connection, query_terms: list[str]):
    """A WHERE clause on message_search for "has every term", and the id column it joins on.
    Terms are made of word characters only, so they need no quoting inside the expression."""
    if connection.dialect.name == "sqlite":
        expression = " AND ".join(f'"{term}"' for term in query_terms)
        return text("message_search MATCH :match").bindparams(match=expression), _SEARCH_TABLE.c.rowid
    expression = " ".join(f"+{term}" for term in query_terms)
    condition = text("MATCH (message_search.terms) AGAINST (:match IN BOOLEAN MODE)").bindparams(match=expression)
    return condition, _SEARCH_TABLE.c.message_id


def _contains_all(content: str, segments: list[str]) -> bool:
    folded = normalize(content)
    return all(segment in folded for segment in segments)


def snippet(content: str, segments: list[str]) -> str:
    """The part of `content` around the first match, on one line."""
    flat = " ".join(content.split())
    folded = normalize(flat)
    positions = [folded.find(s) for s in segments if folded.find(s) >= 0]
    # NFKC may change lengths (rare: ligatures, full-width forms); positions then are approximate.
    start = max(0, min(positions) - SNIPPET_BEFORE) if positions else 0
    piece = flat[start : start + SNIPPET_LENGTH]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_LENGTH < len(flat) else "")


def _message_hits(user_id: int, query: _Query, start, end, before, limit: int) -> list[dict[str, Any]]:
    connection = db.session.connection()
    match, id_column = _match_condition(connection, query.terms)
    messages = ChatMessage.__table__
    hits: list[dict[str, Any]] = []
    below: int | None = None
    scanned = 0
    batch = max(limit * 3, 50)
    while len(hits) < limit and scanned < CANDIDATES_MAX:
        conditions = [match, messages.c.user_id == user_id]
        if start is not None:
            conditions += [messages.c.timestamp >= start, messages.c.timestamp <= end]
        if before is not None:
            conditions.append(messages.c.timestamp < before)
        if below is not None:
            conditions.append(id_column < below)
        rows = connection.execute(
            select(messages.c.id, messages.c.session_id, messages.c.role, messages.c.content, messages.c.timestamp)
            .select_from(_SEARCH_TABLE.join(messages, messages.c.id == id_column))
            .where(and_(*conditions))
            # By the index's own id: FTS5 then returns matches newest first without sorting them.
            .order_by(id_column.desc())
            .limit(batch)
        ).all()
        for row in rows:
            if _contains_all(row.content, query.segments):
                hits.append(
                    {
                        "session_id": row.session_id,
                        "message_id": row.id,
                        "role": row.role,
                        "snippet": snippet(row.content, query.segments),
                        "moment": row.timestamp,
                    }
                )
                if len(hits) == limit:
                    break
        scanned += len(rows)
        if len(rows) < batch:
            break
        below = rows[-1].id
    return hits


def _title_hits(user_id: int, query: _Query, start, end, before, limit: int) -> list[dict[str, Any]]:
    """Conversations whose title has every part of the query (titles are short: a scan of the user's)."""
    statement = select(ChatSession.session_id, ChatSession.title, ChatSession.update_time).where(
        ChatSession.user_id == user_id
    )
    if start is not None:
        statement = statement.where(ChatSession.update_time >= start, ChatSession.update_time <= end)
    if before is not None:
        statement = statement.where(ChatSession.update_time < before)
    hits = []
    for session_id, title, update_time in db.session.execute(statement.order_by(ChatSession.update_time.desc())):
        if _contains_all(title, query.segments):
            hits.append(
                {"session_id": session_id, "message_id": None, "role": None, "snippet": title, "moment": update_time}
            )
            if len(hits) == limit:
                break
    return hits


def search(user_id: int, args: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /api/chat/search: the user's messages and titles matching `q`, newest first."""
    query = _parse_query(args.get("q"))
    limit = _limit(args.get("limit"))
    start = end = before = None
    time_zone = zone(args.get("tz"))
    if args.get("start_time") or args.get("end_time"):
        start = parse_moment(args.get("start_time"), time_zone, end=False, label_key="field_start_time")
        end = parse_moment(args.get("end_time"), time_zone, end=True, label_key="field_end_time")
        if start > end:
            raise ApiError(400, "invalid_range", t("invalid_range"))
    if args.get("before"):
        before = parse_moment(args.get("before"), time_zone, end=False, label_key="field_before")
    if not query.terms:
        return []
    hits = _message_hits(user_id, query, start, end, before, limit) + _title_hits(
        user_id, query, start, end, before, limit
    )
    hits.sort(key=lambda hit: (hit["moment"], hit["message_id"] or 0), reverse=True)
    titles = dict(
        db.session.execute(
            select(ChatSession.session_id, ChatSession.title).where(
                ChatSession.session_id.in_({hit["session_id"] for hit in hits[:limit]})
            )
        ).all()
    )
    return [
        {
            "session_id": hit["session_id"],
            "title": titles.get(hit["session_id"], ""),
            "message_id": hit["message_id"],
            "role": hit["role"],
            "snippet": hit["snippet"],
            "timestamp": iso_utc(hit["moment"]),
        }
        for hit in hits[:limit]
    ]
