"""Conversation history (API.md §3): the list and its cursor, one conversation, the time-range
filter, deletion — and nobody reaches another user's conversations (SECURITY.md rule 2)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from aihelper.errors import message_of, status_of
from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.models import ChatMessage, ChatSession
from aihelper.services import history, search
from aihelper.services.history import owned_session
from tests.fixtures.actions import register
from tests.fixtures.records import add_session, at, user

SUMMARY_FIELDS = {"session_id", "title", "model_id", "create_time", "update_time", "preview", "pinned", "preset_id"}
MESSAGE_FIELDS = {
    "id",
    "role",
    "content",
    "timestamp",
    "status",
    "model_id",
    "reasoning",
    "finish_reason",
    "usage",
    "generation_ms",
    "attachments",
    "parent_id",
}


def listed(client, query: str = "") -> list[str]:
    response = client.get("/api/chat/history" + query)
    assert response.status_code == 200, response.json
    return [s["session_id"] for s in response.json["sessions"]]


def in_range(client, body: dict, path: str = "/api/chat/history/time-range"):
    return client.post(path, json=body)


def in_range_ids(client, **body) -> list[str]:
    response = in_range(client, body)
    assert response.status_code == 200, response.json
    return [s["session_id"] for s in response.json["sessions"]]


def message_count(app, session_id: str | None = None) -> int:
    with app.app_context():
        statement = select(func.count()).select_from(ChatMessage)
        if session_id is not None:
            statement = statement.where(ChatMessage.session_id == session_id)
        return db.session.scalar(statement)


# --- who may ask -------------------------------------------------------------------------------


# --- the list ----------------------------------------------------------------------------------


def test_the_list_shows_newest_activity_first_with_a_one_line_preview(app):
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "old", "2026-11-20T08:00:00", [("user", "hi", "2026-11-20T08:00:00")])
    add_session(
        app,
        ann_id,
        "new",
        "2026-11-24T14:15:11",
        [
            ("user", "first question", "2026-11-24T14:15:00"),
            ("assistant", "  line one\n\n\tline two  " + "x" * 200, "2026-11-24T14:15:11"),
        ],
        title="新的对话",
        pinned=True,
        created="2026-11-24T14:15:00",
    )
    add_session(app, ann_id, "empty", "2026-11-22T00:00:00")

    sessions = ann.get("/api/chat/history").json["sessions"]

    assert [s["session_id"] for s in sessions] == ["new", "empty", "old"]
    assert set(sessions[0]) == SUMMARY_FIELDS
    assert sessions[0] == {
        "session_id": "new",
        "title": "新的对话",
        "model_id": "gpt-test",
        "create_time": "2026-11-24T14:15:00+00:00",
        "update_time": "2026-11-24T14:15:11+00:00",
        # The last message, white space collapsed, cut to 80 characters.
        "preview": ("line one line two " + "x" * 200)[:80],
        "pinned": True,
        "preset_id": None,
    }
    assert len(sessions[0]["preview"]) == 80
    assert sessions[1]["preview"] == "" and sessions[1]["pinned"] is False
    assert sessions[2]["preview"] == "hi"


def test_a_preview_looks_past_a_long_run_of_white_space(app):
    ann, ann_id = user(app, "ann")
    padded = " " * 5000 + "the answer"
    add_session(app, ann_id, "s", "2026-11-24T00:00:00", [("assistant", padded, "2026-11-24T00:00:00")])
    assert ann.get("/api/chat/history").json["sessions"][0]["preview"] == "the answer"


def test_the_list_costs_the_same_queries_for_3_sessions_as_for_60(app):
    ann, ann_id = user(app, "ann")

    def statements_for_list() -> int:
        seen = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert ann.get("/api/chat/history?limit=200").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    for n in range(3):
        add_session(app, ann_id, f"first{n}", "2026-11-24T00:00:00", [("user", "q", "2026-11-24T00:00:00")])
    few = statements_for_list()
    for n in range(57):
        add_session(app, ann_id, f"more{n}", "2026-11-24T00:00:00", [("user", "q", "2026-11-24T00:00:00")])
    assert len(listed(ann, "?limit=200")) == 60
    assert statements_for_list() == few


def test_paging_by_session_id_walks_sessions_that_share_one_second(app):
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "later", "2026-11-24T10:00:01")
    for name in ("a", "b", "c", "d", "e"):  # ids ascending: a < b < ... < e
        add_session(app, ann_id, name, "2026-11-24T10:00:00")
    add_session(app, ann_id, "earlier", "2026-11-24T09:59:59")

    pages, cursor = [], None
    while True:
        page = listed(ann, "?limit=2" + (f"&before={cursor}" if cursor else ""))
        if not page:
            break
        pages.append(page)
        cursor = page[-1]

    # Same second: the newer row (higher id) first; nothing repeated, nothing skipped.
    assert pages == [["later", "e"], ["d", "c"], ["b", "a"], ["earlier"]]


def test_paging_by_time_returns_sessions_updated_strictly_earlier(app):
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "s3", "2026-11-24T12:00:00")
    add_session(app, ann_id, "s2", "2026-11-24T11:00:00")
    add_session(app, ann_id, "s1", "2026-11-24T10:00:00")

    assert listed(ann, "?before=2026-11-24T11:00:00%2B00:00") == ["s1"]
    assert listed(ann, "?before=2026-11-24T11:00:01Z") == ["s2", "s1"]
    # The same instant written with another offset.
    assert listed(ann, "?before=2026-11-24T19:00:00%2B08:00") == ["s1"]
    # A time without an offset is UTC, like every time the API writes.
    assert listed(ann, "?before=2026-11-24T12:00:00") == ["s2", "s1"]


def test_limit_defaults_to_50_and_stops_at_200(app):
    ann, ann_id = user(app, "ann")
    with app.app_context():
        db.session.add_all(
            ChatSession(session_id=f"s{n:03}", user_id=ann_id, update_time=at("2026-11-24T00:00:00"))
            for n in range(205)
        )
        db.session.commit()
    assert len(listed(ann)) == 50
    assert len(listed(ann, "?limit=7")) == 7
    assert len(listed(ann, "?limit=500")) == 200
    assert len(listed(ann, "?limit=99999999999999999999")) == 200


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "2e3", "00"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(app, limit):
    ann, _ = user(app, "ann")
    response = ann.get("/api/chat/history", query_string={"limit": limit})
    assert (response.status_code, response.json["code"]) == (400, "invalid_limit")


def test_an_unknown_or_unreadable_cursor_is_refused(app):
    ann, ann_id = user(app, "ann")
    _bob, bob_id = user(app, "bob")
    add_session(app, ann_id, "mine", "2026-11-24T00:00:00")
    add_session(app, bob_id, "bobs", "2026-11-24T00:00:00")
    answers = [ann.get("/api/chat/history", query_string={"before": v}) for v in ("nope", "bobs", "2026-13-40")]
    assert {(r.status_code, r.json["code"]) for r in answers} == {(400, "invalid_cursor")}
    # Someone else's session id is as unknown as an id that never existed.
    assert answers[0].json == answers[1].json


# --- one conversation --------------------------------------------------------------------------


def test_one_conversation_lists_its_messages_in_id_order(app):
    ann, ann_id = user(app, "ann")
    add_session(
        app,
        ann_id,
        "s1",
        "2026-11-24T14:15:11",
        [
            {"role": "user", "content": "question", "timestamp": "2026-11-24T14:15:11"},
            {
                "role": "assistant",
                "content": "answer",
                # Stored in the same second (or a skewed clock): order is the id, not the time.
                "timestamp": "2026-11-24T14:15:10",
                "status": "done",
                "model_id": "gpt-test",
                "reasoning": "thinking",
                "finish_reason": "stop",
                "prompt_tokens": 12,
                "completion_tokens": 34,
                "generation_ms": 1700,
            },
            {"role": "user", "content": "again", "timestamp": "2026-11-24T14:16:00"},
            {"role": "assistant", "content": "partial", "timestamp": "2026-11-24T14:16:01", "status": "stopped"},
        ],
        pinned=True,
        created="2026-11-24T14:15:00",
    )

    response = ann.get("/api/chat/history?session_id=s1")

    assert response.status_code == 200
    body = response.json
    assert {k: v for k, v in body.items() if k not in ("conversation", "tree")} == {
        "session_id": "s1",
        "title": "title of s1",
        "model_id": "gpt-test",
        "create_time": "2026-11-24T14:15:00+00:00",
        "update_time": "2026-11-24T14:15:11+00:00",
        "pinned": True,
        "preset_id": None,
        "has_more": False,
    }
    messages = body["conversation"]
    assert [m["content"] for m in messages] == ["question", "answer", "again", "partial"]
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert all(set(m) == MESSAGE_FIELDS for m in messages)
    ids = [m["id"] for m in messages]
    assert [m["parent_id"] for m in messages] == [None, *ids[:-1]], "a single branch"
    assert body["tree"] == [
        {"id": message_id, "parent_id": parent, "role": role, "children": children}
        for message_id, parent, role, children in zip(
            ids, [None, *ids[:-1]], ["user", "assistant"] * 2, [[i] for i in ids[1:]] + [[]], strict=True
        )
    ]
    assert messages[1] == {
        "id": messages[1]["id"],
        "role": "assistant",
        "content": "answer",
        "timestamp": "2026-11-24T14:15:10+00:00",
        "status": "done",
        "model_id": "gpt-test",
        "reasoning": "thinking",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 12, "completion_tokens": 34},
        "generation_ms": 1700,
        "attachments": [],
        "parent_id": messages[0]["id"],
    }
    assert messages[0]["usage"] is None and messages[0]["reasoning"] is None
    assert messages[3]["status"] == "stopped"


def numbered_conversation(app, length: int, content=lambda n: f"message {n}"):
    client, user_id = user(app, "long_talker")
    messages = [("user" if n % 2 == 0 else "assistant", content(n), "2026-11-24T14:15:11") for n in range(length)]
    add_session(app, user_id, "long", "2026-11-24T14:15:11", messages)
    return client


def page(client, query: str = "") -> dict:
    response = client.get("/api/chat/history?session_id=long" + query)
    assert response.status_code == 200, response.json
    return response.json


def contents(body: dict) -> list[str]:
    return [m["content"] for m in body["conversation"]]


def test_a_long_conversation_comes_newest_page_first_and_before_reads_further_back(app):
    client = numbered_conversation(app, 25)

    newest = page(client, "&limit=10")
    assert contents(newest) == [f"message {n}" for n in range(15, 25)] and newest["has_more"] is True
    middle = page(client, f"&limit=10&before={newest['conversation'][0]['id']}")
    assert contents(middle) == [f"message {n}" for n in range(5, 15)] and middle["has_more"] is True
    oldest = page(client, f"&limit=10&before={middle['conversation'][0]['id']}")
    assert contents(oldest) == [f"message {n}" for n in range(5)] and oldest["has_more"] is False
    assert contents(oldest) + contents(middle) + contents(newest) == contents(page(client))


def test_an_ordinary_conversation_comes_whole_without_asking(app, monkeypatch):
    monkeypatch.setattr(history, "PAGE_DEFAULT", 30)
    client = numbered_conversation(app, 30)
    whole = page(client)
    assert len(whole["conversation"]) == 30 and whole["has_more"] is False

    too_many = page(client, "&limit=500")  # a page never exceeds the default
    assert len(too_many["conversation"]) == 30


def test_a_page_of_huge_messages_stops_at_its_character_budget(app, monkeypatch):
    monkeypatch.setattr(history, "PAGE_CHARS", 2500)
    client = numbered_conversation(app, 6, content=lambda n: str(n) * 1000)
    first = page(client)
    assert [m[0] for m in contents(first)] == ["3", "4", "5"] and first["has_more"] is True
    # A single message over the budget still comes, alone.
    monkeypatch.setattr(history, "PAGE_CHARS", 10)
    assert [m[0] for m in contents(page(client))] == ["5"]


@pytest.mark.parametrize("before", ["x", "-1", "1.5", "１２"])
def test_an_unreadable_message_cursor_is_refused(app, before):
    client = numbered_conversation(app, 3)
    response = client.get(f"/api/chat/history?session_id=long&before={before}")
    assert response.status_code == 400 and response.json["code"] == "invalid_cursor"


def test_a_cursor_with_leading_zeros_is_the_same_id(app):
    client = numbered_conversation(app, 5)
    third = page(client)["conversation"][2]["id"]
    padded = "0" * 30 + str(third)
    assert contents(page(client, f"&before={padded}")) == ["message 0", "message 1"]


def test_a_cursor_beyond_every_id_reads_from_the_newest(app):
    client = numbered_conversation(app, 3)
    for huge in (str(2**63), "9" * 40):
        assert contents(page(client, f"&before={huge}")) == ["message 0", "message 1", "message 2"]


# --- sessions by time ----------------------------------------------------------------------------


@pytest.fixture
def dated(app):
    """ann's sessions, each with one message at the time in its name (UTC)."""
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "day_start", "2026-11-24T00:00:00", [("user", "a", "2026-11-24T00:00:00")])
    add_session(app, ann_id, "ten", "2026-11-24T10:00:00", [("user", "b", "2026-11-24T10:00:00")])
    add_session(app, ann_id, "noon", "2026-11-24T12:00:00", [("user", "c", "2026-11-24T12:00:00")])
    # 16:30 UTC on the 24th is 00:30 on the 25th in Shanghai (UTC+8).
    add_session(app, ann_id, "evening", "2026-11-26T09:00:00", [("user", "d", "2026-11-24T16:30:00")])
    add_session(app, ann_id, "day_end", "2026-11-24T23:59:59", [("user", "e", "2026-11-24T23:59:59")])
    add_session(app, ann_id, "next_day", "2026-11-25T00:00:00", [("user", "f", "2026-11-25T00:00:00")])
    add_session(app, ann_id, "no_messages", "2026-11-24T11:00:00")
    return ann


def test_a_time_range_includes_both_bounds(dated):
    assert in_range_ids(dated, start_time="2026-11-24T10:00:00", end_time="2026-11-24T12:00:00") == ["noon", "ten"]
    assert in_range_ids(dated, start_time="2026-11-24T10:00:01", end_time="2026-11-24T11:59:59") == []
    assert in_range_ids(dated, start_time="2026-11-24T12:00:00", end_time="2026-11-24T12:00:00") == ["noon"]


def test_a_date_without_a_time_covers_the_whole_day(dated):
    # Newest activity first: "evening" was last updated on the 26th although its message is on the 24th.
    expected = ["evening", "day_end", "noon", "ten", "day_start"]
    assert in_range_ids(dated, start_time="2026-11-24", end_time="2026-11-24") == expected
    assert in_range_ids(dated, start_time="2026-11-25", end_time="2026-11-25") == ["next_day"]


def test_naive_times_are_read_in_the_given_zone(dated):
    shanghai = {"tz": "Asia/Shanghai"}
    # In Shanghai the 25th runs from 16:00 UTC on the 24th to 15:59:59 UTC on the 25th.
    assert in_range_ids(dated, start_time="2026-11-25", end_time="2026-11-25", **shanghai) == [
        "evening",
        "next_day",
        "day_end",
    ]
    assert "evening" not in in_range_ids(dated, start_time="2026-11-24", end_time="2026-11-24", **shanghai)
    assert in_range_ids(dated, start_time="2026-11-25T00:30:00", end_time="2026-11-25T00:30:00", **shanghai) == [
        "evening"
    ]
    # Without tz (or with UTC) the same values are UTC.
    assert "evening" in in_range_ids(dated, start_time="2026-11-24", end_time="2026-11-24")
    assert "evening" in in_range_ids(dated, start_time="2026-11-24", end_time="2026-11-24", tz="UTC")
    assert in_range_ids(dated, start_time="2026-11-25", end_time="2026-11-25", tz=None) == ["next_day"]


def test_values_with_an_offset_keep_their_offset_whatever_the_zone(dated):
    for tz in ("UTC", "Asia/Shanghai", "America/New_York"):
        found = in_range_ids(dated, start_time="2026-11-25T00:30:00+08:00", end_time="2026-11-24T16:30:00Z", tz=tz)
        assert found == ["evening"]
    # Mixed: a naive start read in Shanghai, an end with its own offset.
    assert in_range_ids(
        dated, start_time="2026-11-25T00:00:00", end_time="2026-11-24T11:30:00-05:00", tz="Asia/Shanghai"
    ) == ["evening"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"start_time": "2026-11-25", "end_time": "2026-11-24"}, "invalid_range"),
        ({"start_time": "2026-11-24T12:00:01", "end_time": "2026-11-24T12:00:00"}, "invalid_range"),
        ({"start_time": "yesterday", "end_time": "2026-11-24"}, "invalid_time"),
        ({"start_time": "2026-11-24", "end_time": "2026-11-31"}, "invalid_time"),
        ({"start_time": "2026-11-24", "end_time": 1764000000}, "invalid_time"),
        ({"start_time": "0001-01-01T00:00:00", "end_time": "2026-11-24", "tz": "Asia/Shanghai"}, "invalid_time"),
        # Metlakatla's offset was once +15:13: beyond the first day a datetime holds.
        ({"start_time": "0001-01-01T14:30", "end_time": "2026-11-24", "tz": "America/Metlakatla"}, "invalid_time"),
        ({"end_time": "2026-11-24"}, "missing_field"),
        ({"start_time": "2026-11-24", "end_time": ""}, "missing_field"),
        ({"start_time": "2026-11-24", "end_time": "2026-11-24", "tz": "Mars/Olympus_Mons"}, "invalid_timezone"),
        ({"start_time": "2026-11-24", "end_time": "2026-11-24", "tz": "../../etc/passwd"}, "invalid_timezone"),
        ({"start_time": "2026-11-24", "end_time": "2026-11-24", "tz": 8}, "invalid_timezone"),
    ],
)
def test_an_unreadable_or_reversed_range_is_refused_with_a_reason(app, body, code):
    ann, _ = user(app, "ann")
    response = in_range(ann, body)
    assert (response.status_code, response.json["code"]) == (400, code)
    assert response.json["error"]


def test_a_time_range_needs_a_json_object(app):
    ann, _ = user(app, "ann")
    assert ann.post("/api/chat/history/time-range", json=["2026-11-24"]).json["code"] == "invalid_json"


def test_the_date_range_path_is_the_same_endpoint(dated):
    for body in (
        {"start_time": "2026-11-25", "end_time": "2026-11-25", "tz": "Asia/Shanghai"},
        {"start_time": "2026-11-25", "end_time": "2026-11-24"},
    ):
        time_range = in_range(dated, body)
        date_range = in_range(dated, body, path="/api/chat/history/date-range")
        assert (date_range.status_code, date_range.json) == (time_range.status_code, time_range.json)


def test_time_range_sessions_are_the_list_objects(dated):
    [found] = in_range(dated, {"start_time": "2026-11-24T10:00:00", "end_time": "2026-11-24T10:00:00"}).json["sessions"]
    [listed_ten] = [s for s in dated.get("/api/chat/history").json["sessions"] if s["session_id"] == "ten"]
    assert found == listed_ten and found["preview"] == "b"


# --- deleting ----------------------------------------------------------------------------------


def test_deleting_a_session_removes_its_messages_and_then_it_is_gone(app):
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "doomed", "2026-11-24T00:00:00", [("user", "q", "2026-11-24T00:00:00")] * 3)
    add_session(app, ann_id, "kept", "2026-11-24T00:00:00", [("user", "q", "2026-11-24T00:00:00")])

    response = ann.delete("/api/chat/session/doomed")

    assert response.status_code == 200 and response.json["message"]
    assert message_count(app, "doomed") == 0
    assert message_count(app, "kept") == 1
    assert listed(ann) == ["kept"]
    assert ann.get("/api/chat/history?session_id=doomed").status_code == 404
    assert ann.delete("/api/chat/session/doomed").status_code == 404


def test_conversations_longer_than_a_slice_are_deleted_whole_with_their_search_entries(app, monkeypatch):
    monkeypatch.setattr(history, "ERASE_SLICE", 3)
    ann, ann_id = user(app, "ann")
    for name in ("first", "second", "kept"):
        add_session(app, ann_id, name, "2026-11-24T00:00:00", [("user", f"{name} 独特词", "2026-11-24T00:00:00")] * 7)
    with app.app_context():
        search.index_messages(
            db.session.connection(), db.session.execute(select(ChatMessage.id, ChatMessage.content)).all()
        )
        db.session.commit()

    assert ann.post("/api/chat/sessions/delete", json={"session_ids": ["first", "second"]}).status_code == 200

    assert (message_count(app, "first"), message_count(app, "second"), message_count(app, "kept")) == (0, 0, 7)
    found = ann.get("/api/chat/search?q=独特词").json["results"]
    assert {r["session_id"] for r in found} == {"kept"}
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM message_search")) == 7


# --- ownership ---------------------------------------------------------------------------------


def test_another_users_session_answers_exactly_like_a_missing_one(app):
    ann, ann_id = user(app, "ann")
    bob, _bob_id = user(app, "bob")
    add_session(
        app,
        ann_id,
        "anns-secret",
        "2026-11-24T10:00:00",
        [("user", "private question", "2026-11-24T10:00:00"), ("assistant", "private answer", "2026-11-24T10:00:01")],
    )
    before = ann.get("/api/chat/history?session_id=anns-secret").json

    for path in ("/api/chat/history?session_id={}", "/api/chat/session/{}"):
        method = bob.get if path.startswith("/api/chat/history") else bob.delete
        theirs = method(path.format("anns-secret"))
        missing = method(path.format("no-such-session"))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json == missing.json
        assert theirs.json["code"] == "not_found"
        assert "private" not in theirs.get_data(as_text=True)

    assert listed(bob) == []
    assert in_range_ids(bob, start_time="2026-01-01", end_time="2026-12-31") == []
    assert listed(bob, "?limit=200") == []
    # Ann's conversation is untouched by Bob's attempts.
    assert ann.get("/api/chat/history?session_id=anns-secret").json == before
    assert message_count(app, "anns-secret") == 2
    assert in_range_ids(ann, start_time="2026-01-01", end_time="2026-12-31") == ["anns-secret"]


@pytest.mark.parametrize(
    "odd_id",
    ["x" * 65, "ANNS-SECRET", "anns-secret ", "anns-secret/..", "%00", "anns-secret%25", "' OR '1'='1"],
)
def test_an_odd_session_id_is_simply_not_found(app, odd_id):
    ann, ann_id = user(app, "ann")
    add_session(app, ann_id, "anns-secret", "2026-11-24T10:00:00")
    expected = ann.get("/api/chat/history?session_id=no-such-session").json
    for response in (
        ann.get("/api/chat/history", query_string={"session_id": odd_id}),
        ann.delete(f"/api/chat/session/{odd_id}"),
    ):
        assert (response.status_code, response.json) == (404, expected)
    assert listed(ann) == ["anns-secret"]


def test_owned_session_is_the_one_ownership_check(app):
    _ann, ann_id = user(app, "ann")
    _bob, bob_id = user(app, "bob")
    add_session(app, ann_id, "s1", "2026-11-24T10:00:00")

    with app.app_context():
        assert owned_session(ann_id, "s1").session_id == "s1"
        refusals = []
        for user_id, session_id in ((bob_id, "s1"), (ann_id, "nope"), (ann_id, "s" * 65), (ann_id, "")):
            with pytest.raises(Failure) as refused:
                owned_session(user_id, session_id)
            refusals.append((status_of(refused.value), refused.value.code, message_of(refused.value)))
    assert len(set(refusals)) == 1 and refusals[0][:2] == (404, "not_found")


def test_an_answer_whose_generation_died_shows_as_an_error(app, client):
    from datetime import timedelta

    from aihelper.models.chat import STALE_STREAMING
    from aihelper.times import utcnow

    user_id = register(client, "crashed").json["user"]["id"]
    with app.app_context():
        db.session.add(ChatSession(session_id="died", user_id=user_id, title="t"))
        long_ago = utcnow() - STALE_STREAMING - timedelta(minutes=1)
        db.session.add(
            ChatMessage(
                session_id="died",
                user_id=user_id,
                role="assistant",
                content="half",
                status="streaming",
                timestamp=long_ago,
            )
        )
        db.session.add(ChatSession(session_id="alive", user_id=user_id, title="t"))
        db.session.add(
            ChatMessage(session_id="alive", user_id=user_id, role="assistant", content="", status="streaming")
        )
        db.session.commit()
    assert client.get("/api/chat/history?session_id=died").json["conversation"][0]["status"] == "error"
    assert client.get("/api/chat/history?session_id=alive").json["conversation"][0]["status"] == "streaming"


def test_a_conversation_can_be_renamed_and_pinned_by_its_owner_only(app, client):
    user_id = register(client, "renamer").json["user"]["id"]
    with app.app_context():
        db.session.add(ChatSession(session_id="mine", user_id=user_id, title="old"))
        db.session.commit()
    renamed = client.put("/api/chat/session/mine", json={"title": "  新的   标题 ", "pinned": True})
    assert renamed.status_code == 200
    assert (renamed.json["title"], renamed.json["pinned"]) == ("新的 标题", True)
    assert client.put("/api/chat/session/mine", json={"title": ""}).json["code"] == "missing_field"
    assert client.put("/api/chat/session/mine", json={"title": "x" * 201}).json["code"] == "too_long"
    other = app.test_client()
    register(other, "other_one")
    assert other.put("/api/chat/session/mine", json={"title": "hijacked"}).status_code == 404
    assert client.get("/api/chat/history?session_id=mine").json["title"] == "新的 标题"


def test_a_delete_that_lost_a_deadlock_runs_again(app, monkeypatch):
    """On MariaDB deleting a conversation can lose a deadlock to its answer being checkpointed or
    stored at that moment: the delete is rolled back by the server, and runs again."""
    _client, user_id = user(app, "deadlocked")
    add_session(app, user_id, "s1", "2026-11-24T14:15:11", [("user", "q", "2026-11-24T14:15:11")])
    lost = OperationalError("DELETE", {}, Exception(1213, "Deadlock found when trying to get lock"))
    execute = db.session.execute
    refused = []

    def losing_once(statement, *args, **kwargs):
        if str(statement).startswith("DELETE FROM ai_chat_messages") and not refused:
            refused.append(statement)
            raise lost
        return execute(statement, *args, **kwargs)

    with app.app_context():
        monkeypatch.setattr(db.session, "execute", losing_once)
        history.delete_session(user_id, "s1")
        monkeypatch.undo()
        assert refused and db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0
        assert db.session.scalar(select(func.count()).select_from(ChatSession)) == 0
