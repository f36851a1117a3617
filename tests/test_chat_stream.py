"""Streaming chat over /ws/chat and POST /api/chat/stream, against the gunicorn live server and
the fake provider: answers arrive token by token and are stored whatever happens."""

from __future__ import annotations

import json

import pytest
import requests
from simple_websocket import ConnectionClosed
from sqlalchemy import delete, func, select

from aihelper.extensions import db
from aihelper.models import ChatSession, LoginSession, User
from tests.fixtures.actions import PASSWORD, stored, wait_for
from tests.fixtures.chat_client import ChatUser, text_of
from tests.fixtures.fake_provider import FakeProvider


def chat_requests(fake_provider):
    """The streaming chat requests the provider received (titles are asked for without streaming)."""
    return [
        r for r in fake_provider.requests if r["path"].endswith("/chat/completions") and (r["json"] or {}).get("stream")
    ]


def test_an_answer_streams_in_order_and_is_stored_with_its_usage(chat, app, fake_provider):
    fake_provider.script(
        tokens=["你好", "，", "世界", "！"], token_delay=0.01, usage={"prompt_tokens": 11, "completion_tokens": 4}
    )
    socket = chat["user"].socket()
    frames = socket.chat("Say hello", chat["model_id"])
    start, deltas, done = frames[0], frames[1:-1], frames[-1]
    assert start["type"] == "start" and start["model_id"] == "fake-model"
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert text_of(deltas) == "你好，世界！"
    assert all(d["message_id"] == start["message_id"] and d["session_id"] == start["session_id"] for d in deltas)
    assert done["type"] == "done" and done["status"] == "done"
    assert done["usage"] == {"prompt_tokens": 11, "completion_tokens": 4}
    assert done["title"] == "Say hello"

    question, answer = stored(app, session_id=start["session_id"])
    assert (question.id, question.role, question.content) == (start["user_message_id"], "user", "Say hello")
    assert (answer.id, answer.content, answer.status) == (start["message_id"], "你好，世界！", "done")
    assert (answer.prompt_tokens, answer.completion_tokens, answer.model_id) == (11, 4, "fake-model")

    sent = chat_requests(fake_provider)[0]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("fake-model", 512, 0.2)
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello"},
    ]
    with app.app_context():
        assert db.session.scalar(select(User.message_count).where(User.username == "streamer")) == 1
    socket.close()


def test_the_conversation_continues_with_earlier_messages_as_context(chat, fake_provider):
    socket = chat["user"].socket()
    first = socket.chat("one", chat["model_id"])
    fake_provider.script(reply="second answer")
    second = socket.chat("two", chat["model_id"], session_id=first[0]["session_id"])
    assert second[0]["session_id"] == first[0]["session_id"]
    sent = chat_requests(fake_provider)[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "Hello from the fake provider." and sent[3]["content"] == "two"
    socket.close()


def test_a_new_conversation_gets_a_generated_title(chat, app, fake_provider):
    fake_provider.script(reply="Greetings and weather")
    socket = chat["user"].socket()
    session_id = socket.chat("hello, how is the weather today in Shanghai?", chat["model_id"])[0]["session_id"]
    history = lambda: chat["user"].get("/api/chat/history").json()["sessions"]  # noqa: E731
    assert socket.title_of(session_id) == "Greetings and weather"  # the page is told, no need to ask
    assert history()[0]["title"] == "Greetings and weather"
    assert history()[0]["session_id"] == session_id
    socket.close()


def test_the_sse_endpoint_streams_in_the_original_format(chat, app, fake_provider):
    fake_provider.script(tokens=["A", "B", "C"])
    response = chat["user"].http.post(
        chat["user"].base_url + "/api/chat/stream",
        json={"message": "sse please", "model_id": chat["model_id"]},
        stream=True,
        timeout=15,
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    pieces, end = events[:-1], events[-1]
    assert all(set(piece) == {"content"} for piece in pieces)
    assert "".join(piece["content"] for piece in pieces) == "ABC"
    assert (end["done"], end["status"], end["finish_reason"]) == (True, "done", "stop")
    answer = stored(app, id=end["message_id"])[0]
    assert (answer.content, answer.session_id) == ("ABC", end["session_id"])


def test_sse_failures_before_the_stream_are_json_errors(chat):
    user = chat["user"]
    unknown = user.http.post(user.base_url + "/api/chat/stream", json={"message": "x", "model_id": "nope"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "model_unavailable")
    foreign = user.http.post(
        user.base_url + "/api/chat/stream",
        json={"message": "x", "model_id": chat["model_id"], "session_id": "not-mine"},
    )
    assert foreign.status_code == 404


def test_stop_keeps_the_partial_answer_marked_stopped(chat, app, fake_provider):
    fake_provider.script(tokens=["one ", "two ", "three ", "four"], stall_after=2)
    socket = chat["user"].socket()
    socket.send(type="chat", message="count", model_id=chat["model_id"], session_id=None)
    start = socket.receive()
    socket.receive_text("one two ")
    socket.send(type="stop", session_id=start["session_id"])
    done = socket.receive()
    assert (done["type"], done["status"]) == ("done", "stopped")
    assert fake_provider.wait_for_disconnect(), "the upstream request was closed"
    answer = stored(app, id=start["message_id"])[0]
    assert (answer.status, answer.content) == ("stopped", "one two ")
    socket.close()


def test_a_client_gone_mid_answer_still_gets_the_whole_answer_stored(chat, app, fake_provider):
    fake_provider.script(tokens=[f"t{i} " for i in range(12)], token_delay=0.05)
    socket = chat["user"].socket()
    socket.send(type="chat", message="long one", model_id=chat["model_id"], session_id=None)
    start = socket.receive()
    socket.receive()
    socket.close()
    answer = wait_for(lambda: [a for a in stored(app, id=start["message_id"]) if a.status == "done"])[0]
    assert answer.content == "".join(f"t{i} " for i in range(12))


@pytest.mark.parametrize("where", ["the same server", "another instance"])
def test_resume_after_a_reload_continues_without_gap_or_duplicate(chat, fake_provider, request, where):
    """After a reload the page may land on another worker, or (behind a balancer) on another
    instance of the app sharing the database and Redis."""
    # Started before the turn: the answer must still be running when the reload lands there.
    url = chat["user"].base_url if where == "the same server" else request.getfixturevalue("second_instance").url
    tokens = [f"w{i} " for i in range(15)]
    fake_provider.script(tokens=tokens, token_delay=0.06)
    first = chat["user"].socket()
    first.send(type="chat", message="stream a lot", model_id=chat["model_id"], session_id=None)
    start = first.receive()
    seen = [first.receive(), first.receive(), first.receive()]
    first.close()  # the tab reloads

    second = ChatUser(url, chat["user"].http).socket()
    second.send(type="resume", session_id=start["session_id"], after=seen[-1]["seq"])
    rest = second.receive_until_end()
    deltas = seen + rest[:-1]
    seqs = [d["seq"] for d in deltas]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1, "in order, none twice"
    assert text_of(deltas) == "".join(tokens), "nothing missing"
    assert rest[-1]["type"] == "done" and rest[-1]["message_id"] == start["message_id"]
    second.close()


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ({"status": 401}, "unauthorized", "请联系管理员"),
        ({"status": 429, "retry_after": 17}, "rate_limited", "17"),
        ({"status": 500}, "provider_down", "不可用"),
        ({"status": 404}, "model_not_found", "请联系管理员"),
        ({"hang_before_headers": True}, "timeout", "超时"),
        ({"tokens": ["partial ", "answer ", "never ", "ends"], "stall_after": 2}, "timeout", "超时"),
        ({"tokens": ["cut ", "off ", "here ", "x"], "cut_after": 2}, "provider_down", "不可用"),
    ],
)
def test_provider_failures_give_one_clear_error_and_keep_the_partial_text(
    chat, app, fake_provider, behaviour, code, words
):
    fake_provider.script(**behaviour)
    socket = chat["user"].socket()
    frames = socket.chat("trouble", chat["model_id"])
    error = frames[-1]
    assert [f["type"] for f in frames].count("error") == 1
    assert error["code"] == code and words in error["error"]
    assert "<html" not in error["error"] and "sk-fake-test-key-0001" not in json.dumps(frames)
    answer = stored(app, id=frames[0]["message_id"])[0]
    assert answer.status == "error"
    assert answer.content == text_of(frames)
    if "stall_after" in behaviour or "cut_after" in behaviour:
        assert answer.content in ("partial answer ", "cut off ")
    socket.close()


ASK_ADMIN = "这个模型现在无法使用（供应商的设置有问题）。请联系管理员检查这个模型的供应商。"


@pytest.mark.parametrize(
    ("who", "live_words", "stored_words"),
    [
        ("user", ASK_ADMIN, ASK_ADMIN),
        ("admin", "供应商拒绝了 API Key（密钥错误或已失效） (HTTP 401)", "供应商拒绝了 API Key（密钥错误或已失效）"),
    ],
)
def test_a_failed_answer_says_why_when_reopened_to_each_reader_in_their_terms(
    chat, app, fake_provider, who, live_words, stored_words
):
    fake_provider.script(status=401)
    reader = chat[who]
    socket = reader.socket()
    frames = socket.chat("trouble", chat["model_id"])
    socket.close()
    assert frames[-1]["error"] == live_words
    reopened = reader.http.get(f"{reader.base_url}/api/chat/history?session_id={frames[0]['session_id']}").json()
    answer = reopened["conversation"][-1]
    assert (answer["status"], answer["error"], answer["model_id"]) == ("error", stored_words, chat["model_id"])
    assert stored(app, id=frames[0]["message_id"])[0].error_code == "unauthorized"


def test_an_answer_keeps_how_long_it_took(chat, app, fake_provider):
    fake_provider.script(tokens=["a ", "b ", "c"], token_delay=0.1)
    socket = chat["user"].socket()
    frames = socket.chat("timed", chat["model_id"])
    socket.close()
    reopened = (
        chat["user"].http.get(f"{chat['user'].base_url}/api/chat/history?session_id={frames[0]['session_id']}").json()
    )
    answer = reopened["conversation"][-1]
    assert 200 <= answer["generation_ms"] < 10_000
    assert answer["usage"]["completion_tokens"] > 0
    assert "error" not in answer


def test_emoji_and_split_utf8_round_trip(chat, app, fake_provider):
    reply = "😀 𝕏 👨‍👩‍👧 中文 ünïcode"
    fake_provider.script(reply=reply, split_utf8=True)
    socket = chat["user"].socket()
    frames = socket.chat("emoji please 😀", chat["model_id"])
    assert text_of(frames) == reply
    assert stored(app, id=frames[0]["message_id"])[0].content == reply
    assert stored(app, id=frames[0]["user_message_id"])[0].content == "emoji please 😀"
    socket.close()


def test_a_70_kb_answer_is_stored_whole(chat, app, fake_provider):
    tokens = ["段落" * 50 + f"{i}\n" for i in range(240)]  # about 72 KB of UTF-8
    fake_provider.script(tokens=tokens)
    socket = chat["user"].socket()
    frames = socket.chat("write a lot", chat["model_id"])
    expected = "".join(tokens)
    assert len(expected.encode()) > 70_000
    assert text_of(frames) == expected
    assert stored(app, id=frames[0]["message_id"])[0].content == expected
    socket.close()


def test_finish_reason_length_is_stored_and_reported(chat, app, fake_provider):
    fake_provider.script(reply="cut at the limit", finish_reason="length")
    socket = chat["user"].socket()
    frames = socket.chat("long", chat["model_id"])
    assert frames[-1]["finish_reason"] == "length"
    assert stored(app, id=frames[0]["message_id"])[0].finish_reason == "length"
    socket.close()


def test_reasoning_is_relayed_and_stored_apart(chat, app, fake_provider):
    fake_provider.script(reasoning="Let me think.", reply="42")
    socket = chat["user"].socket()
    frames = socket.chat("meaning?", chat["model_id"])
    assert "".join(f.get("reasoning", "") for f in frames if f["type"] == "delta") == "Let me think."
    answer = stored(app, id=frames[0]["message_id"])[0]
    assert (answer.content, answer.reasoning) == ("42", "Let me think.")
    socket.close()


def test_a_second_chat_in_a_busy_conversation_is_refused(chat, app, fake_provider):
    socket = chat["user"].socket()
    session_id = socket.chat("first", chat["model_id"])[0]["session_id"]
    fake_provider.script(tokens=["slow ", "answer ", "takes ", "time"], token_delay=0.5)
    socket.send(type="chat", message="second", model_id=chat["model_id"], session_id=session_id)
    socket.send(type="chat", message="third", model_id=chat["model_id"], session_id=session_id)
    frames = socket.receive_until_end()  # the busy error and the second answer, in either order
    if frames[-1]["type"] == "error":
        frames += socket.receive_until_end()
    assert [f["code"] for f in frames if f["type"] == "error"] == ["busy"]
    assert [m.content for m in stored(app, session_id=session_id, role="user")] == ["first", "second"]
    assert len(stored(app, session_id=session_id, role="assistant")) == 2
    socket.close()


def test_different_conversations_stream_at_the_same_time(chat, fake_provider):
    fake_provider.script(tokens=["a", "b", "c"], token_delay=0.1)
    socket = chat["user"].socket()
    socket.send(type="chat", message="one", model_id=chat["model_id"], session_id=None)
    socket.send(type="chat", message="two", model_id=chat["model_id"], session_id=None)
    frames, ends = [], 0
    while ends < 2:
        frame = socket.receive()
        frames.append(frame)
        ends += frame["type"] == "done"
    sessions = {f["session_id"] for f in frames if f["type"] == "start"}
    assert len(sessions) == 2
    for session_id in sessions:
        assert text_of([f for f in frames if f.get("session_id") == session_id]) == "abc"
    socket.close()


def test_a_repeated_client_id_is_answered_as_the_first_and_stored_once(chat, app):
    socket = chat["user"].socket()
    first = socket.chat("only once", chat["model_id"], client_id="c-123")
    again = socket.chat("only once", chat["model_id"], client_id="c-123")
    assert again[0]["message_id"] == first[0]["message_id"]
    assert again[0]["user_message_id"] == first[0]["user_message_id"]
    assert text_of(again) == text_of(first)
    assert len(stored(app, client_id="c-123")) == 1
    assert len(stored(app, session_id=first[0]["session_id"])) == 2
    socket.close()


def test_regenerate_adds_an_answer_beside_the_last_one_and_shows_it(chat, fake_provider):
    socket = chat["user"].socket()
    first = socket.chat("question", chat["model_id"])
    session_id = first[0]["session_id"]
    fake_provider.script(reply="a better answer")
    socket.send(type="regenerate", session_id=session_id)
    again = socket.receive_until_end()
    assert text_of(again) == "a better answer"
    shown = chat["user"].get(f"/api/chat/history?session_id={session_id}").json()
    assert [(m["role"], m["content"]) for m in shown["conversation"]] == [
        ("user", "question"),
        ("assistant", "a better answer"),
    ]
    question = shown["tree"][0]
    assert question["children"] == [first[0]["message_id"], again[0]["message_id"]], "the first answer is kept"
    socket.close()


def test_edit_and_resend_adds_a_question_beside_the_last_one(chat, fake_provider):
    socket = chat["user"].socket()
    session_id = socket.chat("first question", chat["model_id"])[0]["session_id"]
    typo = socket.chat("typo qeustion", chat["model_id"], session_id=session_id)[0]
    fake_provider.script(reply="fixed answer")
    socket.chat("typo question", chat["model_id"], session_id=session_id, edit=True)
    shown = chat["user"].get(f"/api/chat/history?session_id={session_id}").json()
    assert [m["content"] for m in shown["conversation"]] == [
        "first question",
        "Hello from the fake provider.",
        "typo question",
        "fixed answer",
    ]
    first_answer = shown["conversation"][1]["id"]
    siblings = next(node["children"] for node in shown["tree"] if node["id"] == first_answer)
    assert siblings == [typo["user_message_id"], shown["conversation"][2]["id"]]
    socket.close()


def test_bad_frames_get_an_error_and_no_provider_call(chat, fake_provider):
    socket = chat["user"].socket()
    socket.client.send("not json")
    assert socket.receive()["code"] == "bad_frame"
    socket.send(type="chat", message=42, model_id=chat["model_id"], session_id=None)
    assert socket.receive()["code"] == "bad_frame"
    socket.send(type="chat", message="hi", model_id="no-such-model", session_id=None)
    assert socket.receive()["code"] == "model_unavailable"
    socket.send(type="chat", message="x" * 32_001, model_id=chat["model_id"], session_id=None)
    assert socket.receive()["code"] == "too_long"
    socket.send(type="dance")
    assert socket.receive()["code"] == "bad_frame"
    socket.send(type="ping")
    assert socket.receive() == {"type": "pong"}
    assert chat_requests(fake_provider) == []
    socket.close()


def test_a_model_whose_provider_moved_host_without_its_key_says_so_and_calls_nobody(chat, app, fake_provider):
    admin, user, model_id = chat["admin"], chat["user"], chat["model_id"]
    provider_url = f"{admin.base_url}/api/admin/providers/{chat['model']['provider_id']}"
    with FakeProvider() as new_host:
        moved = admin.http.put(provider_url, json={"base_url": new_host.base_url}).json()
        assert moved["key_status"] == "needs_reentry"

        socket = user.socket()
        refused = socket.chat("Still there?", model_id, client_id="after-the-move")
        assert [(f["type"], f["code"], f["client_id"]) for f in refused] == [
            ("error", "key_needs_reentry", "after-the-move")
        ]
        sse = user.http.post(f"{user.base_url}/api/chat/stream", json={"message": "And here?", "model_id": model_id})
        assert (sse.status_code, sse.json()["code"]) == (409, "key_needs_reentry")
        assert new_host.requests == [] and fake_provider.requests == [], "no call, with or without a key"
        assert stored(app) == [], "a turn refused before it began stores nothing"

        # Once the new host's key is entered, the model answers again, with that key only.
        admin.http.put(provider_url, json={"api_key": "sk-the-new-hosts-own-key-0000000001"})
        assert socket.chat("Now?", model_id)[-1]["type"] == "done"
        socket.close()
        assert {r["headers"].get("Authorization") for r in new_host.requests} == {
            "Bearer sk-the-new-hosts-own-key-0000000001"
        }


def test_a_frame_over_64_kb_closes_the_socket_with_1009(chat):
    from simple_websocket import ConnectionClosed

    socket = chat["user"].socket()
    socket.send(type="chat", message="x" * 70_000, model_id=chat["model_id"], session_id=None)
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive(timeout=5)
    assert closed.value.reason == 1009


def test_another_users_session_is_404_everywhere_and_the_provider_hears_nothing(chat, app, fake_provider, live_server):
    owner_socket = chat["user"].socket()
    owned = owner_socket.chat("private", chat["model_id"])[0]["session_id"]
    calls_before = len(chat_requests(fake_provider))
    intruder = ChatUser.register(live_server.url, "intruder")
    socket = intruder.socket()
    for frame in (
        {"type": "chat", "message": "hi", "model_id": chat["model_id"], "session_id": owned},
        {"type": "regenerate", "session_id": owned},
        {"type": "resume", "session_id": owned, "after": 0},
    ):
        socket.send(**frame)
        assert socket.receive()["code"] == "not_found", frame
    assert intruder.get(f"/api/chat/history?session_id={owned}").status_code == 404
    assert intruder.http.delete(f"{live_server.url}/api/chat/session/{owned}").status_code == 404
    assert len(chat_requests(fake_provider)) == calls_before
    assert len(stored(app, session_id=owned)) == 2
    socket.close()
    owner_socket.close()


def test_the_handshake_refuses_no_session_and_foreign_origins(chat, live_server):
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    anonymous = requests.get(live_server.url + "/ws/chat", headers={**upgrade, "Origin": live_server.url}, timeout=5)
    assert anonymous.status_code == 401
    foreign = requests.get(
        live_server.url + "/ws/chat",
        headers={**upgrade, "Origin": "https://evil.example", "Cookie": f"aihelper_session={chat['user'].cookie}"},
        timeout=5,
    )
    assert foreign.status_code == 403


def assert_closed_for_the_login(socket) -> None:
    assert socket.receive()["code"] == "unauthorized"
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive(timeout=5)
    assert closed.value.reason == 1008


def test_a_disabled_users_open_socket_ends_at_once(chat, app):
    socket = chat["user"].socket()
    socket.send(type="ping")
    assert socket.receive()["type"] == "pong"
    users = chat["admin"].get("/api/admin/users").json()["users"]
    streamer = next(u for u in users if u["username"] == "streamer")
    chat["admin"].http.put(f"{chat['admin'].base_url}/api/admin/users/{streamer['id']}", json={"status": "disabled"})
    assert_closed_for_the_login(socket)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChatSession)) == 0


def test_history_lists_the_new_conversation(chat):
    socket = chat["user"].socket()
    frames = socket.chat("list me", chat["model_id"])
    listed = chat["user"].get("/api/chat/history").json()["sessions"]
    assert listed[0]["session_id"] == frames[0]["session_id"]
    assert listed[0]["model_id"] == "fake-model"
    one = chat["user"].get(f"/api/chat/history?session_id={frames[0]['session_id']}").json()
    assert [m["role"] for m in one["conversation"]] == ["user", "assistant"]
    assert one["conversation"][1]["status"] == "done"
    socket.close()


def test_a_rename_before_the_generated_title_arrives_is_kept(chat, fake_provider, live_server):
    fake_provider.script(reply="generated title", hold_completions=True)  # the title request waits
    socket = chat["user"].socket()
    session_id = socket.chat("what is the weather", chat["model_id"])[0]["session_id"]
    assert fake_provider.wait_for_requests(2), "the title was asked for"
    renamed = chat["user"].http.put(
        f"{chat['user'].base_url}/api/chat/session/{session_id}", json={"title": "my own name"}
    )
    assert renamed.status_code == 200
    fake_provider.release()  # now the generated title arrives
    wait_for(lambda: f"title for {session_id} not used" in live_server.log())
    assert chat["user"].get(f"/api/chat/history?session_id={session_id}").json()["title"] == "my own name"
    socket.close()


def test_a_failed_regenerate_keeps_the_previous_answer(chat, app, fake_provider):
    socket = chat["user"].socket()
    first = socket.chat("question", chat["model_id"])
    session_id = first[0]["session_id"]
    fake_provider.script(status=500)
    socket.send(type="regenerate", session_id=session_id)
    assert socket.receive_until_end()[-1]["code"] == "provider_down"
    contents = [(m.role, m.content, m.status) for m in stored(app, session_id=session_id)]
    assert ("assistant", "Hello from the fake provider.", "done") in contents, "the good answer survives"
    socket.close()


def test_client_ids_are_compared_exactly(chat, app):
    socket = chat["user"].socket()
    first = socket.chat("first message", chat["model_id"], client_id="Msg-1")
    second = socket.chat("second message", chat["model_id"], client_id="msg-1 ")
    assert second[0]["message_id"] != first[0]["message_id"]
    assert [m.content for m in stored(app, role="user")] == ["first message", "second message"]
    socket.close()


def test_a_user_may_run_only_a_few_answers_at_once(chat, app, fake_provider):
    fake_provider.script(tokens=["slow"] * 3, token_delay=0.5)
    socket = chat["user"].socket()
    for index in range(4):
        socket.send(type="chat", message=f"parallel {index}", model_id=chat["model_id"], session_id=None)
    frames = []
    while sum(f["type"] in ("done", "error") for f in frames) < 4:
        frames.append(socket.receive())
    assert [f["code"] for f in frames if f["type"] == "error"] == ["too_many_turns"]
    assert len(stored(app, role="assistant")) == 3
    socket.close()


def test_frames_no_database_can_store_get_an_error_and_the_socket_lives_on(chat):
    socket = chat["user"].socket()
    socket.client.send('{"type": "chat", "message": "\\ud800 lone surrogate", "model_id": "fake-model"}')
    assert socket.receive()["code"] == "bad_frame"
    socket.client.send("[" * 30000 + "]" * 30000)
    assert socket.receive()["code"] == "bad_frame"
    socket.send(type="resume", session_id="x", after=2**70)
    assert socket.receive()["code"] == "bad_frame"
    socket.send(type="ping")
    assert socket.receive() == {"type": "pong"}
    socket.close()


def log_out(chat, live_server) -> None:
    chat["user"].http.post(live_server.url + "/api/logout")


def change_password(chat, live_server) -> None:
    """From another login (the owner, on another device, locking out whoever holds the first)."""
    elsewhere = requests.Session()
    assert (
        elsewhere.post(live_server.url + "/api/login", json={"username": "streamer", "password": PASSWORD}).status_code
        == 200
    )
    response = elsewhere.post(
        live_server.url + "/api/user/password", json={"old_password": PASSWORD, "new_password": "another-horse-43"}
    )
    assert response.status_code == 200, response.text


def disable_account(chat, live_server) -> None:
    users = chat["admin"].get("/api/admin/users").json()["users"]
    streamer = next(u for u in users if u["username"] == "streamer")
    chat["admin"].http.put(f"{live_server.url}/api/admin/users/{streamer['id']}", json={"status": "disabled"})


@pytest.mark.parametrize("end_login", [log_out, change_password, disable_account])
def test_an_ended_login_ends_the_open_socket_and_its_answer_at_once(chat, app, live_server, fake_provider, end_login):
    fake_provider.script(tokens=[f"t{i} " for i in range(200)], token_delay=0.05)
    socket = chat["user"].socket()
    socket.send(type="chat", message="a long answer", model_id=chat["model_id"], session_id=None)
    start = socket.receive()
    assert socket.receive()["type"] == "delta"
    end_login(chat, live_server)
    frame = socket.receive()
    while frame["type"] == "delta" or (frame["type"] == "done" and frame["status"] == "stopped"):
        frame = socket.receive()  # those written before the end of the login was known
    assert frame.get("code") == "unauthorized", f"nothing of the answer after the login ended, not {frame}"
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive(timeout=5)
    assert closed.value.reason == 1008
    stopped = wait_for(lambda: [a for a in stored(app, id=start["message_id"]) if a.status == "stopped"])[0]
    assert 0 < len(stopped.content) < len("".join(f"t{i} " for i in range(200)))
    assert fake_provider.wait_for_disconnect(), "no more paid for on the admin's key"


def test_a_logout_ends_an_sse_stream_and_its_answer(chat, app, live_server, fake_provider):
    fake_provider.script(tokens=[f"t{i} " for i in range(200)], token_delay=0.05)
    browser = chat["user"].http
    response = browser.post(
        live_server.url + "/api/chat/stream", json={"message": "long", "model_id": chat["model_id"]}, stream=True
    )
    lines = response.iter_lines(decode_unicode=True)
    assert next(line for line in lines if line.startswith("data: "))
    ChatUser(live_server.url, browser).http.post(live_server.url + "/api/logout")
    rest = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]  # ends: the stream closes
    assert not any(event.get("done") for event in rest)
    assert fake_provider.wait_for_disconnect()
    assert wait_for(lambda: [a for a in stored(app, role="assistant") if a.status == "stopped"])


def test_a_login_ended_behind_the_apps_back_ends_the_socket_at_the_next_check(chat, app):
    """Without the notice (a login row removed by hand, Redis away), the periodic check ends it;
    the test server checks every second instead of every 30."""
    socket = chat["user"].socket()
    socket.send(type="ping")
    assert socket.receive()["type"] == "pong"
    with app.app_context():
        db.session.execute(delete(LoginSession))
        db.session.commit()
    assert_closed_for_the_login(socket)
