"""Searching one's own conversations (GET /api/chat/search): words in titles and messages, Chinese
included, newest first, with the time range — and never another user's text."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatSession
from aihelper.services import import_file, imports, search
from tests.fixtures.records import user

RESULT_FIELDS = {"session_id", "title", "message_id", "role", "snippet", "timestamp"}


def conversation(app, user_id: int, title: str, *messages: tuple[str, str, str]) -> str:
    """Store a conversation of (role, content, timestamp) messages; returns its session id."""
    document = {
        "format": "aihelper-conversations",
        "conversations": [
            {
                "session_id": f"source-{title}",
                "title": title,
                "messages": [{"role": r, "content": c, "timestamp": ts} for r, c, ts in messages],
            }
        ],
    }
    with app.app_context():
        imports.import_conversations(user_id, import_file.parse_import([json.dumps(document).encode()], 32000))
        session_id = db.session.scalar(
            select(ChatSession.session_id).where(
                ChatSession.user_id == user_id, ChatSession.origin_id == f"source-{title}"
            )
        )
        db.session.remove()
    return session_id


def found(client, **query) -> list[dict]:
    response = client.get("/api/chat/search", query_string=query)
    assert response.status_code == 200, response.json
    assert all(set(r) == RESULT_FIELDS for r in response.json["results"])
    return response.json["results"]


@pytest.fixture
def library(app):
    client, me = user(app, "searcher")
    other_client, other = user(app, "neighbour")
    ids = {
        "db": conversation(
            app,
            me,
            "数据库调优",
            ("user", "怎样给数据库加索引？", "2026-03-01T09:00:00"),
            ("assistant", "先看慢查询日志，再为 WHERE 条件建立 B-tree 索引。", "2026-03-01T09:00:05"),
        ),
        "trip": conversation(
            app,
            me,
            "Trip planning",
            ("user", "Plan a weekend in Hangzhou", "2026-05-10T10:00:00"),
            ("assistant", "Day one: West Lake at sunrise, then Longjing tea fields.", "2026-05-10T10:00:09"),
        ),
        "latest": conversation(
            app,
            me,
            "Later",
            ("user", "Another question about the 数据库 migration", "2026-06-01T08:00:00"),
        ),
        "secret": conversation(
            app,
            other,
            "邻居的数据库",
            ("user", "my private 数据库 password is hunter2", "2026-06-02T08:00:00"),
        ),
    }
    return {"client": client, "other_client": other_client, "ids": ids}


def test_two_chinese_characters_find_messages_and_titles_newest_first(library):
    results = found(library["client"], q="数据")
    sessions = [r["session_id"] for r in results]
    assert sessions[0] == library["ids"]["latest"]  # June, newest
    assert set(sessions) == {library["ids"]["latest"], library["ids"]["db"]}
    assert [r["timestamp"] for r in results] == sorted((r["timestamp"] for r in results), reverse=True)
    question = next(r for r in results if r["role"] == "user" and r["session_id"] == library["ids"]["db"])
    assert "数据库" in question["snippet"] and question["title"] == "数据库调优"


def test_a_chinese_phrase_must_appear_as_written_not_just_its_pairs(library, app):
    _, me = user(app, "pairs")
    conversation(app, me, "x", ("user", "数据 很多，据库 很少", "2026-01-01T00:00:00"))
    client = library["client"]
    assert found(client, q="数据据库") == []
    phrase = found(client, q="慢查询")
    assert len(phrase) == 1 and phrase[0]["role"] == "assistant" and "慢查询" in phrase[0]["snippet"]


def test_english_words_match_whole_words_in_any_case(library):
    client = library["client"]
    results = found(client, q="west LAKE")
    assert [r["session_id"] for r in results] == [library["ids"]["trip"]]
    assert "West Lake" in results[0]["snippet"]
    assert found(client, q="trip")[0]["message_id"] is None  # the title matched
    assert found(client, q="nothing-like-this") == []


def test_search_never_returns_another_users_text(library):
    assert all("hunter2" not in r["snippet"] for r in found(library["client"], q="数据库"))
    assert found(library["client"], q="hunter2") == []
    theirs = found(library["other_client"], q="数据库")
    assert [r["session_id"] for r in theirs] == [library["ids"]["secret"]] * 2  # the title and the message


def test_search_within_a_time_range(library):
    client = library["client"]
    results = found(client, q="数据库", start_time="2026-03-01", end_time="2026-03-31")
    assert {r["session_id"] for r in results} == {library["ids"]["db"]}
    shanghai = found(
        client, q="数据库", start_time="2026-06-01T15:00:00", end_time="2026-06-01T17:00:00", tz="Asia/Shanghai"
    )
    assert [r["session_id"] for r in shanghai] == [library["ids"]["latest"]]


def test_results_page_with_limit_and_before(library):
    client = library["client"]
    first = found(client, q="数据库", limit="1")
    assert len(first) == 1
    rest = found(client, q="数据库", before=first[0]["timestamp"])
    assert rest and all(r["timestamp"] < first[0]["timestamp"] for r in rest)


@pytest.mark.parametrize(
    "query, code",
    [
        ({}, "missing_field"),
        ({"q": "   "}, "missing_field"),
        ({"q": "x" * 201}, "invalid_query"),
        ({"q": "a", "limit": "0"}, "invalid_limit"),
        ({"q": "a", "before": "0001-01-01T14:30", "tz": "America/Metlakatla"}, "invalid_time"),
        ({"q": "a", "page": "2"}, "unknown_field"),
        ({"q": "a", "start_time": "2026-02-01", "end_time": "2026-01-01"}, "invalid_range"),
    ],
)
def test_unreadable_searches_are_refused(library, query, code):
    response = library["client"].get("/api/chat/search", query_string=query)
    assert response.status_code == 400 and response.json["code"] == code


def test_punctuation_only_finds_nothing_and_quotes_cannot_break_the_query(library):
    client = library["client"]
    assert found(client, q="？！…") == []
    assert found(client, q='" OR * NEAR( -') == []
    assert found(client, q='数据库" OR "x') == []


def test_search_needs_a_login(client):
    assert client.get("/api/chat/search?q=x").status_code == 401


def test_terms_pair_up_chinese_and_keep_words_whole():
    assert search.terms("Hello 数据库!") == ["zzhello", "zz数", "zz数据", "zz据", "zz据库", "zz库"]


def test_a_live_answer_and_its_question_become_searchable(chat, fake_provider):
    person = chat["user"]
    fake_provider.script(tokens=["向量", "检索", "很快"])
    frames = person.socket().chat("什么是向量数据库", chat["model_id"])
    assert frames[-1]["type"] == "done"
    # Only messages: the generated title may say the same words.
    results = [r for r in person.get("/api/chat/search?q=检索").json()["results"] if r["role"]]
    assert [(r["role"], r["message_id"]) for r in results] == [("assistant", frames[0]["message_id"])]
    questions = [r for r in person.get("/api/chat/search?q=向量数据库").json()["results"] if r["role"]]
    assert [(r["role"], r["message_id"]) for r in questions] == [("user", frames[0]["user_message_id"])]
