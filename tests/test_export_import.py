"""Taking conversations out and back in: export one as Markdown or JSON, everything as one JSON file,
import it (into the same or another account) idempotently; hostile files change nothing. Also
deleting several conversations at once."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from sqlalchemy import func, select

from aihelper.errors import message_of, status_of
from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.models import ChatMessage, ChatSession
from aihelper.services import exports, imports, search
from aihelper.services import import_file as file_reading
from tests.fixtures.records import add_session, user

MESSAGES = [
    {"role": "user", "content": "第一个问题 😀", "timestamp": "2026-04-01T08:00:00", "status": "done"},
    {
        "role": "assistant",
        "content": "# 回答\n\n```python\nprint('hi')\n```",
        "timestamp": "2026-04-01T08:00:03",
        "status": "done",
        "model_id": "gpt-test",
        "reasoning": "想一想",
        "finish_reason": "stop",
        "prompt_tokens": 12,
        "completion_tokens": 7,
    },
    {"role": "user", "content": "Second question", "timestamp": "2026-04-01T08:01:00", "status": "done"},
    {"role": "assistant", "content": "Partial", "timestamp": "2026-04-01T08:01:02", "status": "stopped"},
    {"role": "user", "content": "Third", "timestamp": "2026-04-01T08:02:00", "status": "done"},
    {"role": "assistant", "content": "Cut", "timestamp": "2026-04-01T08:02:01", "status": "error"},
]


@pytest.fixture
def owner(app):
    client, user_id = user(app, "exporter")
    add_session(
        app,
        user_id,
        "conv-a",
        "2026-04-01T08:02:01",
        MESSAGES,
        title="导出测试",
        pinned=True,
        created="2026-04-01T08:00:00",
    )
    add_session(
        app,
        user_id,
        "conv-b",
        "2026-04-02T10:00:00",
        [("user", "Only a question", "2026-04-02T10:00:00")],
        title="Second",
        created="2026-04-02T10:00:00",
    )
    return client


def conversations_of(app, user_id_or_name) -> list[dict]:
    """Every conversation of a user as comparable data: no ids, messages in order."""
    client_view = []
    with app.app_context():
        from aihelper.models import User

        user_id = db.session.scalar(select(User.id).where(User.username == user_id_or_name))
        sessions = db.session.scalars(
            select(ChatSession).where(ChatSession.user_id == user_id).order_by(ChatSession.create_time)
        ).all()
        for session in sessions:
            messages = db.session.scalars(
                select(ChatMessage).where(ChatMessage.session_id == session.session_id).order_by(ChatMessage.id)
            ).all()
            client_view.append(
                {
                    "title": session.title,
                    "pinned": session.pinned,
                    "model_id": session.model_id,
                    "create_time": session.create_time,
                    "update_time": session.update_time,
                    "messages": [
                        (
                            m.role,
                            m.content,
                            m.reasoning,
                            m.timestamp,
                            m.status,
                            m.model_id,
                            m.finish_reason,
                            m.prompt_tokens,
                            m.completion_tokens,
                        )
                        for m in messages
                    ],
                }
            )
        db.session.remove()
    return client_view


def export_all(client) -> bytes:
    response = client.get("/api/chat/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="aihelper-export-')
    assert response.headers["X-Conversation-Count"] == "2"
    return response.get_data()


def import_file(client, body: bytes, *, multipart: bool = False):
    if multipart:
        from io import BytesIO

        return client.post(
            "/api/chat/import", data={"file": (BytesIO(body), "export.json")}, content_type="multipart/form-data"
        )
    return client.post("/api/chat/import", data=body, content_type="application/json")


def test_export_then_import_into_another_account_gives_the_same_conversations(app, owner):
    exported = export_all(owner)
    document = json.loads(exported)
    assert document["format"] == "aihelper-conversations" and len(document["conversations"]) == 2

    other, _ = user(app, "importer")
    response = import_file(other, exported, multipart=True)
    assert response.status_code == 200, response.json
    assert (response.json["added"], response.json["skipped"]) == (2, 0)
    assert conversations_of(app, "importer") == conversations_of(app, "exporter")
    assert other.get("/api/user/info").json["message_count"] == 4  # the imported questions count


def test_importing_twice_adds_nothing_and_the_owner_reimporting_adds_nothing(app, owner):
    exported = export_all(owner)
    other, _ = user(app, "twice")
    assert import_file(other, exported).json["added"] == 2
    again = import_file(other, exported)
    assert (again.json["added"], again.json["skipped"]) == (0, 2)
    # The importer's own export carries the origin, so going back home adds nothing either.
    home = import_file(owner, other.get("/api/chat/export").get_data())
    assert (home.json["added"], home.json["skipped"]) == (0, 2)
    assert len(conversations_of(app, "twice")) == 2 and len(conversations_of(app, "exporter")) == 2


def test_one_conversation_as_json_imports_too(app, owner):
    response = owner.get("/api/chat/session/conv-a/export?format=json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"aihelper-conv-a.json\"; filename*=UTF-8''%E5%AF%BC%E5%87%BA%E6%B5%8B%E8%AF%95.json"
    )
    other, _ = user(app, "single")
    assert import_file(other, response.get_data()).json["added"] == 1
    assert conversations_of(app, "single") == conversations_of(app, "exporter")[:1]


def test_one_conversation_as_markdown(owner):
    response = owner.get("/api/chat/session/conv-a/export?format=md", headers={"Cookie": "lang=zh"})
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    text = response.get_data(as_text=True)
    assert text.startswith("# 导出测试\n")
    assert "2026-04-01 08:00:00 (UTC+0000)" in text
    assert "第一个问题 😀" in text and "```python\nprint('hi')\n```" in text
    assert "（已停止生成）" in text and text.index("Second question") < text.index("Partial")


def test_export_of_an_unknown_or_foreign_conversation_is_404(app, owner):
    other, _ = user(app, "stranger")
    assert other.get("/api/chat/session/conv-a/export?format=md").status_code == 404
    assert owner.get("/api/chat/session/nope/export").status_code == 404
    assert owner.get("/api/chat/session/conv-a/export?format=pdf").json["code"] == "invalid_export_format"


def valid_document() -> dict:
    return {
        "format": "aihelper-conversations",
        "version": 1,
        "conversations": [
            {
                "session_id": "s1",
                "title": "t",
                "messages": [{"role": "user", "content": "hi", "timestamp": "2026-01-01T00:00:00"}],
            }
        ],
    }


def breaking(change) -> bytes:
    document = valid_document()
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "body, code, where",
    [
        (b"not json", "import_not_json", None),
        (b"[" * 100_000 + b"]" * 100_000, "import_not_json", None),
        (b"[1]", "import_invalid", "[0]"),  # a list is ChatGPT's export, of conversations
        (breaking(lambda d: d.update(format="other")), "import_invalid", "format"),
        (breaking(lambda d: d.update(conversations={"a": 1})), "import_invalid", "conversations"),
        (breaking(lambda d: d["conversations"][0].update(title=7)), "import_invalid", "conversations[0].title"),
        (breaking(lambda d: d["conversations"][0].update(user_id=1)), "import_invalid", "user_id"),
        (breaking(lambda d: d["conversations"][0]["messages"][0].update(colour="red")), "import_invalid", "“colour”"),
        (breaking(lambda d: d["conversations"][0]["messages"][0].update(role="system")), "import_invalid", "role"),
        (
            breaking(lambda d: d["conversations"][0]["messages"][0].update(timestamp="yesterday")),
            "import_invalid",
            "timestamp",
        ),
        (
            breaking(lambda d: d["conversations"][0]["messages"][0].update(content={"$gt": ""})),
            "import_invalid",
            "content",
        ),
        (breaking(lambda d: d["conversations"].append("x")), "import_invalid", "conversations[1]"),
        # Longer than a message typed here may be: it would go to the provider again as context.
        (
            breaking(lambda d: d["conversations"][0]["messages"][0].update(content="x" * 32001)),
            "import_invalid",
            "content",
        ),
        (
            breaking(lambda d: d["conversations"][0]["messages"][0].update(timestamp="0099-01-01")),
            "import_invalid",
            "1970",
        ),
        (
            breaking(lambda d: d["conversations"][0]["messages"][0].update(timestamp="9999-12-31T23:00:00-05:00")),
            "import_invalid",
            "timestamp",
        ),
        (
            breaking(lambda d: d["conversations"][0].update(messages=[d["conversations"][0]["messages"][0]] * 100_001)),
            "import_invalid",
            "100000",
        ),
    ],
)
def test_hostile_or_malformed_files_are_refused_and_change_nothing(app, owner, body, code, where):
    before = conversations_of(app, "exporter")
    response = import_file(owner, body)
    assert response.status_code == 400 and response.json["code"] == code
    if where:
        assert where in response.json["error"]
    assert conversations_of(app, "exporter") == before


def test_times_in_the_future_become_now(app, owner):
    future = breaking(lambda d: d["conversations"][0]["messages"][0].update(timestamp="2099-01-01T00:00:00"))
    other, _ = user(app, "time_traveller")
    assert import_file(other, future).json["added"] == 1
    [session] = other.get("/api/chat/history").json["sessions"]
    assert session["update_time"] < "2099" and session["create_time"] < "2099"


def test_a_markdown_export_writes_times_in_the_readers_time_zone(owner):
    text = owner.get("/api/chat/session/conv-a/export?format=md&tz=Asia/Shanghai").get_data(as_text=True)
    assert "2026-04-01 16:00:00 (UTC+0800)" in text and "08:00:00" not in text
    assert owner.get("/api/chat/session/conv-a/export?format=md&tz=Mars/Base").json["code"] == "invalid_timezone"


def test_export_files_are_named_after_the_conversation(app, owner):
    response = owner.get("/api/chat/session/conv-b/export?format=md")
    assert response.headers["Content-Disposition"] == ("attachment; filename=\"Second.md\"; filename*=UTF-8''Second.md")


@pytest.mark.parametrize(
    ("title", "named"),
    [
        ('legacy"; x=1', 'filename="legacy; x=1.md"'),
        ("a/b\\c:d*e?f<g>h|i\x07", 'filename="abcdefghi.md"'),
        ("", 'filename="aihelper-legacy; x=1.md"'),
    ],
)
def test_export_file_names_hold_no_quote_separator_or_control_character(app, title, named):
    client, user_id = user(app, "odd_ids")
    add_session(
        app, user_id, 'legacy"; x=1', "2026-01-01T00:00:00", [("user", "hi", "2026-01-01T00:00:00")], title=title
    )
    response = client.get("/api/chat/session/legacy%22%3B%20x%3D1/export?format=md")
    assert response.headers["Content-Disposition"].startswith("attachment; " + named + "; filename*=UTF-8''")


def test_the_place_and_the_problem_are_told_in_the_users_language(owner):
    body = breaking(lambda d: d["conversations"][0]["messages"][0].update(role="system"))
    owner.set_cookie("lang", "en")
    english = import_file(owner, body).json["error"]
    assert english == (
        "The file to import is not an aihelper export: conversations[0].messages[0].role must be user or assistant"
    )
    owner.set_cookie("lang", "zh")
    assert (
        import_file(owner, body).json["error"]
        == "导入文件格式不对：conversations[0].messages[0].role 应为 user 或 assistant"
    )


def test_a_file_over_the_limit_is_refused_before_it_is_read(app, owner):
    response = import_file(owner, b" " * (app.config["AIHELPER_IMPORT_MAX_MB"] * 1024 * 1024 + 1))
    assert response.status_code == 413 and response.json["code"] == "too_large"
    huge = import_file(owner, b"{" + b" " * (50 * 1024 * 1024) + b"}", multipart=True)
    assert huge.status_code == 413


def test_another_users_session_ids_in_a_file_only_make_copies(app, owner):
    """Ids in a file are only where it came from: the copy gets a new id, the other user's
    conversation is neither read nor changed."""
    intruder, _ = user(app, "intruder")
    forged = breaking(lambda d: d["conversations"][0].update(session_id="conv-a", title="forged"))
    before = conversations_of(app, "exporter")
    assert import_file(intruder, forged).json["added"] == 1
    assert conversations_of(app, "exporter") == before
    mine = intruder.get("/api/chat/history").json["sessions"]
    assert [s["title"] for s in mine] == ["forged"] and mine[0]["session_id"] != "conv-a"
    assert "第一个问题" not in json.dumps(intruder.get("/api/chat/history?session_id=" + mine[0]["session_id"]).json)


def test_import_needs_json_or_a_file(owner):
    assert (
        owner.post("/api/chat/import", data="x=1", content_type="application/x-www-form-urlencoded").status_code == 415
    )


# --- large files and long conversations ------------------------------------------------------------


TRICKY = {
    "format": "aihelper-conversations",
    "conversations": [
        {
            "session_id": 'a"[{\\',
            "title": '\\"]]]}}}' + "[" * 40,
            "messages": [
                {"role": "user", "content": 'x\\"' * 30 + "{" * 50 + "\\", "timestamp": "2026-01-01T00:00:00"},
                {"role": "assistant", "content": "😀 é \u2028", "timestamp": "2026-01-01T00:00:01"},
            ],
        }
    ],
}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_a_file_reads_the_same_whatever_pieces_it_arrives_in(size):
    raw = json.dumps(TRICKY, indent=1).encode()
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
    assert file_reading.read_file(pieces) == TRICKY


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 25 + b"]" * 25,  # ChatGPT's export (a list) nests deeper than ours, up to 24
        b'{"a": "\\\\", "b": ' + b"[" * 17 + b"]" * 17 + b"}",
        b"[" * 1_000_000,  # would take ijson minutes and gigabytes
    ],
)
def test_a_file_nested_deeper_than_an_export_is_refused_at_its_first_piece(body):
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    offered = iter(pieces)
    with pytest.raises(Failure) as refused:
        file_reading.read_file(offered)
    assert refused.value.code == "import_not_json"
    assert len(list(offered)) == len(pieces) - 1, "nothing read after the piece that nests too deep"


def test_strings_of_escaped_quotes_across_every_piece_are_read_in_linear_time():
    """Each piece closes the string the previous one left open and opens one running to its end,
    made of escaped quotes: a scan that retried every quote as an opening one took seconds a piece."""

    def filled(prefix: bytes) -> bytes:
        room = file_reading.PARSE_PIECE - len(prefix)
        return prefix + b"a" * (room % 2) + b'\\"' * (room // 2)

    body = filled(b'{"format": "aihelper-conversations", "exported_at": ["') + filled(b'","') * 7 + b'"]}'
    started = time.process_time()
    document = file_reading.read_file([body])
    assert len(document["exported_at"]) == 8 and time.process_time() - started < 1


@pytest.mark.parametrize("item", [b"{},", b"[],", b'"ab",', b"0,"])
def test_a_file_of_more_values_than_any_export_is_refused_before_it_is_built(item, app_context):
    body = b'{"format": "aihelper-conversations", "conversations": [' + item * 3_000_000 + b"0]}"
    tracemalloc.start()
    try:
        with pytest.raises(Failure) as refused:
            file_reading.read_file([body])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.code == "import_invalid" and "100000" in message_of(refused.value)
    assert peak < 200 * 1024 * 1024, f"{peak / 2**20:.0f} MB"


def test_brackets_inside_text_are_only_text():
    document = {"format": "aihelper-conversations", "conversations": [], "exported_at": "[" * 100 + '\\"' + "{" * 100}
    assert file_reading.read_file([json.dumps(document).encode()]) == document


def test_a_byte_order_mark_at_the_start_is_allowed(owner):
    assert import_file(owner, b"\xef\xbb\xbf" + json.dumps(valid_document()).encode()).json["added"] == 1


def test_a_form_whose_part_headers_run_for_megabytes_is_refused_before_they_are_parsed(owner):
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.json"\r\n'.encode()
        + b"a: b\r\n" * 500_000
        + b"\r\n"
        + json.dumps(valid_document()).encode()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    started = time.process_time()
    response = owner.post("/api/chat/import", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413 and response.json["code"] == "too_large"
    assert time.process_time() - started < 0.5


def test_an_object_with_a_million_fields_is_refused_before_it_is_built(owner):
    fields = ", ".join(f'"f{n}": 0' for n in range(1_000_000))
    body = ('{"format": "aihelper-conversations", "conversations": [], ' + fields + "}").encode()
    started = time.process_time()
    response = import_file(owner, body)
    assert response.status_code == 400 and response.json["code"] == "import_invalid"
    assert time.process_time() - started < 0.5


def test_the_first_unknown_field_in_the_files_order_is_named(owner):
    document = breaking(lambda d: d["conversations"][0]["messages"][0].update(zeta=1, alpha=2))
    assert "“zeta”" in import_file(owner, document).json["error"]


def test_one_conversation_holds_at_most_the_limit(owner, monkeypatch):
    monkeypatch.setattr(file_reading, "MESSAGES_PER_CONVERSATION_MAX", 3)
    document = breaking(lambda d: d["conversations"][0].update(messages=d["conversations"][0]["messages"] * 4))
    response = import_file(owner, document)
    assert response.status_code == 400 and "conversations[0].messages" in response.json["error"]
    assert "3" in response.json["error"]


@pytest.mark.parametrize(
    "messages, characters, conversations",
    [(4, 200_000, 2), (100, 40, 50), (100, 1, 50), (1, 200_000, 1)],
    ids=["by messages", "by characters", "a message a slice", "a conversation a slice"],
)
def test_long_and_short_conversations_written_in_slices_arrive_whole(
    app, owner, monkeypatch, messages, characters, conversations
):
    monkeypatch.setattr(imports, "SLICE_MESSAGES", messages)
    monkeypatch.setattr(imports, "SLICE_CHARS", characters)
    monkeypatch.setattr(imports, "SLICE_CONVERSATIONS", conversations)
    client, _ = user(app, "sliced")
    exported = export_all(owner)
    assert import_file(client, exported).json["added"] == 2
    assert conversations_of(app, "sliced") == conversations_of(app, "exporter")
    assert client.get("/api/user/info").json["message_count"] == 4
    found = client.get("/api/chat/search?q=Third").json["results"]
    assert [r["title"] for r in found] == ["导出测试"], "every slice is indexed for search"


def test_an_import_that_fails_half_way_takes_back_all_it_wrote(app, owner, monkeypatch):
    monkeypatch.setattr(imports, "SLICE_MESSAGES", 2)
    client, user_id = user(app, "unlucky")
    add_session(app, user_id, "mine", "2026-04-03T00:00:00", [("user", "keep me", "2026-04-03T00:00:00")])
    before = conversations_of(app, "unlucky")
    calls = []
    index = search.write_index

    def failing_index(connection, entries):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        index(connection, entries)

    monkeypatch.setattr(search, "write_index", failing_index)
    with app.test_request_context(), pytest.raises(RuntimeError):
        imports.import_conversations(user_id, file_reading.parse_import([export_all(owner)], 32000))
    assert conversations_of(app, "unlucky") == before
    assert client.get("/api/user/info").json["message_count"] == 0


def test_a_conversation_cut_short_by_a_crash_is_replaced_by_the_next_import(app, owner, monkeypatch):
    monkeypatch.setattr(imports, "SLICE_MESSAGES", 2)
    client, user_id = user(app, "crashed")
    exported = export_all(owner)
    calls = []
    index = search.write_index

    def dying_index(connection, entries):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit  # the process ends: nothing is taken back
        index(connection, entries)

    monkeypatch.setattr(search, "write_index", dying_index)
    with app.test_request_context(), pytest.raises(SystemExit):
        imports.import_conversations(user_id, file_reading.parse_import([exported], 32000))
    assert [len(c["messages"]) for c in conversations_of(app, "crashed")] == [2], "cut short after one slice"

    monkeypatch.setattr(search, "write_index", index)
    assert import_file(client, exported).json["added"] == 2
    assert conversations_of(app, "crashed") == conversations_of(app, "exporter")
    assert client.get("/api/user/info").json["message_count"] == 4


def test_the_same_conversations_imported_twice_at_once_are_added_once(app, owner, monkeypatch):
    monkeypatch.setattr(imports, "SLICE_MESSAGES", 2)
    client, user_id = user(app, "double_click")
    exported = export_all(owner)
    with app.test_request_context():
        checked = file_reading.parse_import([exported], 32000)
        # Both imports looked before either wrote: neither saw the other's conversations.
        first, _ = imports._new(user_id, checked)
        imports.import_conversations(user_id, checked)
        monkeypatch.setattr(imports, "_new", lambda _user_id, _conversations: (first, 0))
        with pytest.raises(Failure) as conflict:
            imports.import_conversations(user_id, checked)
    assert status_of(conflict.value) == 409 and conflict.value.code == "import_conflict"
    assert conversations_of(app, "double_click") == conversations_of(app, "exporter")
    assert client.get("/api/user/info").json["message_count"] == 4


def test_exports_of_a_conversation_longer_than_a_page_hold_every_message(app, monkeypatch):
    monkeypatch.setattr(exports, "MESSAGES_PAGE", 3)
    client, user_id = user(app, "paged")
    many = [("user" if n % 2 == 0 else "assistant", f"line {n}", "2026-04-01T08:00:00") for n in range(10)]
    add_session(app, user_id, "long", "2026-04-01T08:00:00", many)
    for n in range(4):
        add_session(app, user_id, f"short-{n}", "2026-04-02T08:00:00", [("user", f"short {n}", "2026-04-02T08:00:00")])
    add_session(app, user_id, "empty", "2026-04-03T08:00:00")

    document = json.loads(client.get("/api/chat/export").get_data())
    by_id = {c["session_id"]: [m["content"] for m in c["messages"]] for c in document["conversations"]}
    assert by_id["long"] == [f"line {n}" for n in range(10)]
    assert by_id["empty"] == [] and all(by_id[f"short-{n}"] == [f"short {n}"] for n in range(4))
    one = json.loads(client.get("/api/chat/session/long/export?format=json").get_data())
    assert [m["content"] for m in one["conversations"][0]["messages"]] == by_id["long"]
    markdown = client.get("/api/chat/session/long/export?format=md").get_data(as_text=True)
    assert [line for line in markdown.splitlines() if line.startswith("line ")] == by_id["long"]


# --- deleting several at once ----------------------------------------------------------------------


def test_deleting_several_conversations_at_once(app, owner):
    response = owner.post("/api/chat/sessions/delete", json={"session_ids": ["conv-a", "conv-b"]})
    assert response.status_code == 200 and sorted(response.json["deleted"]) == ["conv-a", "conv-b"]
    assert owner.get("/api/chat/history").json["sessions"] == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChatMessage)) == 0


def test_deleting_several_refuses_all_when_one_is_not_yours(app, owner):
    other, other_id = user(app, "bystander")
    add_session(app, other_id, "theirs", "2026-04-03T00:00:00", [("user", "keep me", "2026-04-03T00:00:00")])
    response = owner.post("/api/chat/sessions/delete", json={"session_ids": ["conv-a", "theirs"]})
    assert response.status_code == 404
    assert len(owner.get("/api/chat/history").json["sessions"]) == 2
    assert len(other.get("/api/chat/history").json["sessions"]) == 1


@pytest.mark.parametrize("ids", [[], "conv-a", [1], ["x"] * 201, None])
def test_deleting_several_checks_the_list(owner, ids):
    response = owner.post("/api/chat/sessions/delete", json={"session_ids": ids})
    assert response.status_code == 400 and response.json["code"] == "invalid_session_ids"
