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
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import column, func, select, table, text
from sqlalchemy.engine import Connection

from aihelper.extensions import db
from aihelper.failures import Invalid, Term
from aihelper.fair_db import fair_share
from aihelper.i18n import N_
from aihelper.models import ChatMessage, ChatSession
from aihelper.times import WrittenTime, iso_utc
from aihelper.validation import Fields, Moment, PageSize, RequiredText, TimeZone, defaulted

TERM_PREFIX = "zz"
WORD_MAX = 40  # longer words are indexed (and searched) by their first 40 characters
QUERY_MAX = 200
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
SNIPPET_BEFORE, SNIPPET_LENGTH = 30, 120
# Candidates are checked in batches; a query whose terms are everywhere but whose phrase is rare
# stops after this many, so one search never reads a whole history.
CANDIDATES_MAX = 3000
SEARCH_SECONDS = 0.5
RECENT_SCAN = 2000  # MySQL: the newest messages read directly before the FULLTEXT index is asked

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_SEARCH_TABLE = table("message_search", column("rowid"), column("message_id"), column("terms"))
_TOKENS = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")
# Of one message, whichever comes first: the rest of a huge answer is not searchable. Both bound
# the work of indexing one message (~20 ms) however long and varied it is.
_INDEXED_CHARS = 50_000
TERMS_MAX = 20_000


def normalize(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def terms(value: str) -> list[str]:
    """The distinct search terms of a text, in order of first appearance, at most TERMS_MAX."""
    found: dict[str, None] = {}
    for match in _TOKENS.finditer(normalize(value[:_INDEXED_CHARS])):
        cjk, word = match.groups()
        if word:
            found[TERM_PREFIX + word[:WORD_MAX]] = None
        else:
            for index, char in enumerate(cjk):
                found[TERM_PREFIX + char] = None
                if index + 1 < len(cjk):
                    found[TERM_PREFIX + cjk[index : index + 2]] = None
                if len(found) >= TERMS_MAX:
                    break
        if len(found) >= TERMS_MAX:
            break
    return list(found)[:TERMS_MAX]


def indexed_terms(content: str | None) -> str:
    """What the index holds for a message: its terms, space separated."""
    return " ".join(terms(content or ""))


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


# Built once: a text() statement parses its SQL each time it is made.
_FORGET_SQLITE = text("DELETE FROM message_search WHERE rowid = :message_id")
_INDEX_SQLITE = text("INSERT INTO message_search (rowid, terms) VALUES (:message_id, :terms)")
_INDEX_MYSQL = text(
    "INSERT INTO message_search (message_id, terms) VALUES (:message_id, :terms) "
    "ON DUPLICATE KEY UPDATE terms = VALUES(terms)"
)


def index_messages(connection: Connection, messages: Iterable[tuple[int, str]]) -> None:
    """Index (or re-index) messages given as (id, content), in the caller's transaction."""
    write_index(connection, [(message_id, indexed_terms(content)) for message_id, content in messages])


def write_index(connection: Connection, entries: list[tuple[int, str]]) -> None:
    """Index (or re-index) messages given as (id, indexed_terms(content)), in the caller's transaction."""
    rows = [{"message_id": message_id, "terms": terms_text} for message_id, terms_text in entries]
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        connection.execute(_FORGET_SQLITE, rows)
        connection.execute(_INDEX_SQLITE, rows)
    else:
        connection.execute(_INDEX_MYSQL, rows)


# --- searching -----------------------------------------------------------------------------------


@dataclass
class _Query:
    segments: list[str]  # normalized, space separated parts: each must occur in a match
    terms: list[str]


def _parse_query(value: str) -> _Query:
    if len(value) > QUERY_MAX:
        raise Invalid("invalid_query", N_("query_too_long"), limit=str(QUERY_MAX))
    segments = [s for s in normalize(value).split() if _TOKENS.search(s)]
    found: dict[str, None] = {}
    for segment in segments:
        found.update(dict.fromkeys(_query_terms(segment)))
    return _Query(segments, list(found))


def _match_expression(dialect: str, query_terms: list[str]) -> str:
    """ "Has every term", in the engine's syntax. Terms are made of word characters only, so they
    need no quoting inside the expression (which is sent as a bound parameter anyway)."""
    if dialect == "sqlite":
        return " AND ".join(f'"{term}"' for term in query_terms)
    return " ".join(f"+{term}" for term in query_terms)


def _candidates_sqlite(connection: Connection, user_id: int, match: str, below, window, batch: int) -> list[int]:
    """The user's matching message ids, newest first: FTS5 yields matches in descending rowid
    order, and each is checked against its message row by primary key."""
    messages = ChatMessage.__table__
    statement = (
        select(_SEARCH_TABLE.c.rowid)
        .select_from(_SEARCH_TABLE.join(messages, messages.c.id == _SEARCH_TABLE.c.rowid))
        .where(text("message_search MATCH :match").bindparams(match=match), messages.c.user_id == user_id, *window)
        .order_by(_SEARCH_TABLE.c.rowid.desc())
        .limit(batch)
    )
    if below is not None:
        statement = statement.where(_SEARCH_TABLE.c.rowid < below)
    return list(connection.execute(statement).scalars())


def _candidates_mysql(connection: Connection, match: str, below, id_range, batch: int) -> list[int]:
    """Matching message ids of anyone, newest first, from the FULLTEXT index alone: joining every
    match to its message row before sorting would read hundreds of thousands of rows for a
    common word. The caller keeps the user's."""
    statement = (
        select(_SEARCH_TABLE.c.message_id)
        .where(text("MATCH (message_search.terms) AGAINST (:match IN BOOLEAN MODE)").bindparams(match=match))
        .order_by(_SEARCH_TABLE.c.message_id.desc())
        .limit(batch)
    )
    if below is not None:
        statement = statement.where(_SEARCH_TABLE.c.message_id < below)
    if id_range is not None:
        statement = statement.where(_SEARCH_TABLE.c.message_id.between(*id_range))
    return list(connection.execute(statement).scalars())


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


def _recent_rows_mysql(connection: Connection, user_id: int, query: _Query, window: list, limit: int):
    """The user's newest RECENT_SCAN messages (in the window) whose text has every part of the
    query, newest first, and whether that scan covered all of them. A frequent word is found here
    at once, where InnoDB's FULLTEXT would have to collect and sort every match first."""
    messages = ChatMessage.__table__
    recent = (
        select(messages.c.id)
        .where(messages.c.user_id == user_id, *window)
        .order_by(messages.c.timestamp.desc(), messages.c.id.desc())
        .limit(RECENT_SCAN)
        .subquery()
    )
    rows = connection.execute(
        select(messages.c.id, messages.c.session_id, messages.c.role, messages.c.content, messages.c.timestamp)
        .join(recent, recent.c.id == messages.c.id)
        .where(*[messages.c.content.contains(segment, autoescape=True) for segment in query.segments])
        .order_by(messages.c.timestamp.desc(), messages.c.id.desc())
        .limit(limit * 3)
    ).all()
    # Is there a message beyond the scanned ones? Answered by the index (user_id, timestamp) alone.
    beyond = connection.execute(
        select(messages.c.timestamp)
        .where(messages.c.user_id == user_id, *window)
        .order_by(messages.c.timestamp.desc())
        .limit(1)
        .offset(RECENT_SCAN)
    ).first()
    return rows, beyond is None


def _hit(row, query: _Query) -> dict[str, Any]:
    return {
        "session_id": row.session_id,
        "message_id": row.id,
        "role": row.role,
        "snippet": snippet(row.content, query.segments),
        "moment": row.timestamp,
    }


def _message_hits(user_id: int, query: _Query, window: list, limit: int) -> list[dict[str, Any]]:
    """Matching messages of the user, newest first, checked against their text, in batches; a
    search stops after CANDIDATES_MAX candidates or SEARCH_SECONDS, whichever comes first."""
    connection = db.session.connection()
    sqlite = connection.dialect.name == "sqlite"
    match = _match_expression(connection.dialect.name, query.terms)
    messages = ChatMessage.__table__
    id_range = None
    if window and not sqlite:
        # Ids grow with time, so the time window is an id range too: it spares sorting newer matches.
        id_range = connection.execute(
            select(func.min(messages.c.id), func.max(messages.c.id)).where(messages.c.user_id == user_id, *window)
        ).one()
        if id_range[0] is None:
            return []
    hits: list[dict[str, Any]] = []
    seen: set[int] = set()
    if not sqlite:
        recent_rows, covered_all = _recent_rows_mysql(connection, user_id, query, window, limit)
        for row in recent_rows:
            if _contains_all(row.content, query.segments) and len(hits) < limit:
                hits.append(_hit(row, query))
                seen.add(row.id)
        if len(hits) == limit or covered_all:
            return hits
        # A rarer word: its matches are few, so the FULLTEXT index finds and sorts them quickly.
    below, scanned, deadline = None, 0, time.monotonic() + SEARCH_SECONDS
    batch = max(limit * 3, 60) if sqlite else 300
    while len(hits) < limit and scanned < CANDIDATES_MAX and time.monotonic() < deadline:
        with fair_share():
            if sqlite:
                ids = _candidates_sqlite(connection, user_id, match, below, window, batch)
            else:
                ids = _candidates_mysql(connection, match, below, id_range, batch)
            rows = (
                connection.execute(
                    select(
                        messages.c.id, messages.c.session_id, messages.c.role, messages.c.content, messages.c.timestamp
                    )
                    .where(messages.c.id.in_(ids), messages.c.user_id == user_id, *window)
                    .order_by(messages.c.id.desc())
                ).all()
                if ids
                else []
            )
        for row in rows:
            if row.id not in seen and _contains_all(row.content, query.segments):
                hits.append(_hit(row, query))
                if len(hits) == limit:
                    break
        scanned += len(ids)
        if len(ids) < batch:
            break
        below = ids[-1]
    return hits


def _title_hits(user_id: int, query: _Query, start, end, before, limit: int) -> list[dict[str, Any]]:
    """Conversations whose title has every part of the query, newest first: the database filters
    the user's titles (short, one row per conversation), and each is checked as messages are."""
    statement = select(ChatSession.session_id, ChatSession.title, ChatSession.update_time).where(
        ChatSession.user_id == user_id, *[ChatSession.title.contains(s, autoescape=True) for s in query.segments]
    )
    if start is not None:
        statement = statement.where(ChatSession.update_time >= start, ChatSession.update_time <= end)
    if before is not None:
        statement = statement.where(ChatSession.update_time < before)
    hits = []
    rows = db.session.execute(statement.order_by(ChatSession.update_time.desc()).limit(limit * 3))
    for session_id, title, update_time in rows:
        if _contains_all(title, query.segments):
            hits.append(
                {"session_id": session_id, "message_id": None, "role": None, "snippet": title, "moment": update_time}
            )
            if len(hits) == limit:
                break
    return hits


class SearchQuery(Fields):
    """GET /api/chat/search: `q`, `limit` results older than `before`, within [start, end] if
    given (both, read in `tz`)."""

    q: Annotated[str, RequiredText(), Field(title=N_("field_query"))]
    limit: Annotated[int, PageSize(LIMIT_DEFAULT, LIMIT_MAX)] = defaulted()
    before: Annotated[WrittenTime | None, Moment(optional=True), Field(title=N_("field_before"))] = None
    start_time: Annotated[WrittenTime | None, Moment(optional=True), Field(title=N_("field_start_time"))] = None
    end_time: Annotated[WrittenTime | None, Moment(optional=True), Field(title=N_("field_end_time"))] = None
    tz: Annotated[tzinfo, TimeZone()] = defaulted()


def search(user_id: int, asked: SearchQuery) -> list[dict[str, Any]]:
    """The user's messages and titles matching the query, newest first."""
    query = _parse_query(asked.q)
    limit, zone = asked.limit, asked.tz
    start = end = None
    if asked.start_time or asked.end_time:
        if asked.start_time is None or asked.end_time is None:
            missing = N_("field_start_time") if asked.start_time is None else N_("field_end_time")
            raise Invalid("missing_field", N_("field_required"), field=Term(missing))
        start, end = asked.start_time.stored(zone), asked.end_time.stored(zone, end=True)
        if start > end:
            raise Invalid(N_("invalid_range"))
    before = asked.before.stored(zone) if asked.before else None
    if not query.terms:
        return []
    messages = ChatMessage.__table__
    window = []
    if start is not None:
        window += [messages.c.timestamp >= start, messages.c.timestamp <= end]
    if before is not None:
        window.append(messages.c.timestamp < before)
    hits = _message_hits(user_id, query, window, limit) + _title_hits(user_id, query, start, end, before, limit)
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
