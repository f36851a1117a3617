"""Answers that outlive the worker generating them: checkpoints write the text as it grows, and an
answer whose worker died is finished as interrupted once its lease lapses, its text kept."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import pymysql
import pytest
import requests
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from aihelper.chat.checkpoints import Checkpoints
from aihelper.config import AUTOCOMMIT_BIND
from aihelper.extensions import db
from aihelper.live import MemoryHub
from aihelper.models import ChatMessage, ChatSession
from aihelper.times import utcnow
from tests.fixtures.actions import PASSWORD, register, wait_for
from tests.fixtures.chat_client import ChatUser, text_of
from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.own_servers import (
    install_mariadb,
    mariadb_answers,
    mariadb_command,
    own_server,
    redis_answers,
    redis_command,
)
from tests.fixtures.servers import (
    FAST_PASSWORD_HASH,
    connect_fake_provider,
    free_port,
    fresh_redis,
    on_mysql,
    running_gunicorn,
)

CHECKPOINT_SECONDS = 0.5
LEASE_SECONDS = 3.0
# The servers these tests kill or stop share no Redis with the suite's live server: a killed
# worker's claims (a user's running turns) would otherwise outlive the test into the next ones.
FAULT_REDIS_URL = os.environ.get("AIHELPER_TEST_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")


@contextmanager
def fault_server(database_url, instance_dir, log_dir, **options) -> Iterator:
    """A gunicorn of the test's own (2 workers) on a Redis database emptied before and after."""
    fresh_redis(FAULT_REDIS_URL)
    try:
        with running_gunicorn(
            database_url, instance_dir, log_dir, workers=2, redis_url=FAULT_REDIS_URL, **options
        ) as server:
            yield server
    finally:
        fresh_redis(FAULT_REDIS_URL)


def stored_answer(app, answer_id: int) -> ChatMessage:
    with app.app_context():
        answer = db.session.get(ChatMessage, answer_id)
        db.session.expunge_all()
        return answer


@pytest.fixture
def crashable_server(database_url, instance_dir, tmp_path, monkeypatch, app):
    """A gunicorn of its own (2 workers, Redis) with short checkpoint and lease intervals."""
    monkeypatch.setenv("AIHELPER_CHECKPOINT_SECONDS", str(CHECKPOINT_SECONDS))
    monkeypatch.setenv("AIHELPER_ANSWER_LEASE_SECONDS", str(LEASE_SECONDS))
    with fault_server(database_url, instance_dir, tmp_path) as server:
        yield server


def long_answer_started(base: str, fake_provider, name: str):
    """An admin who connected the fake provider, a user, and a 20 s answer of theirs under way:
    (user, model, socket, its start frame)."""
    _admin, _provider, model = connect_fake_provider(base, fake_provider, f"{name}_admin")
    user = ChatUser.register(base, f"{name}_user")
    fake_provider.script(tokens=[f"w{i} " for i in range(400)], token_delay=0.05)  # 20 s
    socket = user.socket()
    socket.send(type="chat", message="a long answer", model_id=model["model_id"], session_id=None)
    return user, model, socket, socket.receive()


def short_answer_started(base: str, fake_provider, name: str):
    """An admin who connected the fake provider, a user, and a 3 s answer of theirs under way with
    its first piece received: (user, model, socket, start frame, frames so far, all its tokens)."""
    _admin, _provider, model = connect_fake_provider(base, fake_provider, f"{name}_admin")
    user = ChatUser.register(base, f"{name}_user")
    tokens = [f"t{i} " for i in range(30)]
    fake_provider.script(tokens=tokens, token_delay=0.1)  # 3 s
    socket = user.socket()
    socket.send(type="chat", message="a short answer", model_id=model["model_id"], session_id=None)
    return user, model, socket, socket.receive(), [socket.receive()], tokens


def quiet_instance(tmp_path: Path) -> Path:
    """An instance folder of the test's own: fast password hashes, no rate limits, no retention job."""
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        f"PASSWORD_HASH_METHOD = {FAST_PASSWORD_HASH!r}\nRATELIMIT_ENABLED = False\nAIHELPER_RETENTION_JOB = False\n"
    )
    return instance


def test_a_killed_worker_loses_at_most_the_last_checkpoint_and_the_answer_ends_interrupted(
    crashable_server, app, fake_provider
):
    base = crashable_server.url
    user, model, socket, start = long_answer_started(base, fake_provider, "crash")
    frames = []
    while "w40 " not in text_of(frames):
        frames.append(socket.receive())
    received_before_kill = text_of(frames)
    wait_for(lambda: stored_answer(app, start["message_id"]).content.startswith(received_before_kill))  # checkpointed
    for pid in crashable_server.worker_pids():
        os.kill(pid, signal.SIGKILL)  # the generating worker among them
    with suppress(OSError):
        socket.close()

    # The user goes on at once: a new turn in a new conversation, on the restarted workers.
    fake_provider.script(reply="back again")
    again = wait_for(lambda: _chat_or_none(user, model["model_id"]), timeout=20)
    assert text_of(again) == "back again" and again[-1]["type"] == "done"

    answer = wait_for(
        lambda: (row := stored_answer(app, start["message_id"])) and row.status == "error" and row, timeout=40
    )
    assert (answer.finish_reason, answer.error_code, answer.lease_until) == ("interrupted", "interrupted", None)
    assert answer.content.startswith(received_before_kill), "at most the last checkpoint's text is lost"
    history = user.http.get(f"{base}/api/chat/history?session_id={start['session_id']}").json()
    shown = history["conversation"][-1]
    assert (shown["status"], shown["finish_reason"]) == ("error", "interrupted")
    assert "服务器重启" in shown["error"]


def test_a_follower_in_another_worker_gets_the_final_frame_when_the_generating_worker_dies(
    crashable_server, app, fake_provider
):
    user, _model, owner, start = long_answer_started(crashable_server.url, fake_provider, "orphan")
    generating = crashable_server.worker_serving(owner.client.sock.getsockname()[1])
    follower = wait_for(lambda: socket_in_another_worker(crashable_server, user, generating), timeout=20)
    follower.send(type="resume", session_id=start["session_id"], after=0)
    assert follower.receive()["type"] == "delta"  # following from the other worker

    os.kill(generating, signal.SIGKILL)

    end = follower.receive_until_end(timeout=40)[-1]
    assert (end["type"], end["code"], end["message_id"], end["stored"]) == (
        "error",
        "interrupted",
        start["message_id"],
        True,
    )
    assert "服务器重启" in end["error"]
    answer = stored_answer(app, start["message_id"])
    assert (answer.status, answer.finish_reason) == ("error", "interrupted"), "stored so before the frame was sent"
    follower.close()


def socket_in_another_worker(server, user: ChatUser, worker: int):
    """A socket of the user that another worker than `worker` serves, or None (this one did not)."""
    socket = user.socket()
    serving = server.worker_serving(socket.client.sock.getsockname()[1])
    if serving not in (None, worker):
        return socket
    socket.close()
    return None


def _chat_or_none(user: ChatUser, model_id: str):
    """A whole turn, or None while the restarted workers are not serving yet."""
    try:
        socket = user.socket()
    except Exception:
        return None
    try:
        return socket.chat("still there?", model_id)
    finally:
        socket.close()


def test_checkpoints_write_the_text_so_far_in_one_statement_and_renew_the_lease(app):
    client, _ = register_user(app, "checkpointed")
    first, second = answer_rows(app, client, 2)
    checkpoints = Checkpoints(app)
    pieces = {first: ["Hello, ", "wor"], second: []}
    for answer_id, content in pieces.items():
        checkpoints.track(answer_id, content, [])
    statements = []
    with app.app_context():
        engine = db.engines[AUTOCOMMIT_BIND]
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert checkpoints.write() == 1
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    # PRAGMA (SQLite) and SET (MySQL) only say how long the statement may wait for a lock.
    writes = [statement for statement in statements if not statement.lstrip().upper().startswith(("PRAGMA", "SET"))]
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("UPDATE")
    written = stored_answer(app, first)
    assert written.content == "Hello, wor" and written.status == "streaming"
    assert written.lease_until > utcnow() + timedelta(seconds=app.config["AIHELPER_ANSWER_LEASE_SECONDS"] - 5)
    pieces[first].append("ld")
    with app.app_context():
        checkpoints.write()
    assert stored_answer(app, first).content == "Hello, world"


def test_an_answer_whose_lease_lapsed_reads_as_interrupted_and_the_sweep_stores_it_so(app):
    client, _ = register_user(app, "orphaned")
    (answer_id,) = answer_rows(app, client, 1, content="half a", lease_until=utcnow() - timedelta(seconds=1))
    with app.app_context():
        session_id = db.session.get(ChatMessage, answer_id).session_id
    shown = client.get(f"/api/chat/history?session_id={session_id}").json["conversation"][-1]
    assert (shown["status"], shown["finish_reason"], shown["content"]) == ("error", "interrupted", "half a")
    with app.app_context():
        swept = Checkpoints(app).sweep()
    stored = stored_answer(app, answer_id)
    # The suite's running servers sweep the same database: one of them may have stored it first.
    assert swept == 1 or stored.lease_until is None
    assert (stored.status, stored.finish_reason, stored.content, stored.lease_until) == (
        "error",
        "interrupted",
        "half a",
        None,
    )


def register_user(app, name: str):
    client = app.test_client()
    user_id = register(client, name).json["user"]["id"]
    return client, user_id


def streaming_exchange(app, name: str) -> tuple[int, str, int, int]:
    """A user's question "q?" and its answer still streaming ("so far"): user, session, question and
    answer ids."""
    client, user_id = register_user(app, name)
    (answer_id,) = answer_rows(app, client, 1, content="so far")
    with app.app_context():
        session_id = db.session.get(ChatMessage, answer_id).session_id
        question = ChatMessage(session_id=session_id, user_id=user_id, role="user", content="q?")
        db.session.add(question)
        db.session.commit()
        question_id = question.id
        db.session.remove()
    return user_id, session_id, question_id, answer_id


def answer_rows(app, client, count: int, *, content: str = "", lease_until=None) -> list[int]:
    """Streaming answers of the client's user, in a conversation of their own."""
    user_id = client.get("/api/user/info").json["id"]
    with app.app_context():
        session = ChatSession(session_id=f"c-{user_id}", user_id=user_id, title="t")
        db.session.add(session)
        rows = [
            ChatMessage(
                session_id=session.session_id,
                user_id=user_id,
                role="assistant",
                content=content,
                status="streaming",
                lease_until=lease_until or utcnow() + timedelta(seconds=30),
            )
            for _ in range(count)
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
        assert db.session.scalar(select(ChatMessage.id).where(ChatMessage.id == ids[0]))
        return ids


def own_redis(port: int):
    return own_server(redis_command(port), lambda: redis_answers(port), timeout=10)


def test_while_redis_is_away_rate_limits_count_in_memory_instead_of_failing(database_url, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        f"PASSWORD_HASH_METHOD = {FAST_PASSWORD_HASH!r}\n"
        "RATELIMIT_LOGIN = '3 per minute'\n"
        "AIHELPER_RETENTION_JOB = False\n"
    )
    port = free_port()
    with (
        own_redis(port) as redis_process,
        running_gunicorn(
            database_url, instance, tmp_path, workers=1, redis_url=f"redis://127.0.0.1:{port}/0"
        ) as server,
    ):
        http = requests.Session()
        assert http.post(server.url + "/api/register", json={"username": "limited", "password": PASSWORD}).ok
        redis_process.kill()
        redis_process.wait()
        assert http.get(server.url + "/readyz").json()["redis"] == "unreachable"
        wrong = {"username": "limited", "password": "not-the-password"}
        answers = [http.post(server.url + "/api/login", json=wrong).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429], "counted in memory while Redis is away, never a 500"
        with own_redis(port):
            assert wait_for(lambda: http.get(server.url + "/readyz").status_code == 200, timeout=10)


def test_redis_stopped_mid_answer_loses_nothing_and_the_next_turn_works(database_url, app, tmp_path, fake_provider):
    instance = quiet_instance(tmp_path)
    port = free_port()
    with own_redis(port) as redis_process:
        redis_url = f"redis://127.0.0.1:{port}/0"
        with running_gunicorn(database_url, instance, tmp_path, workers=2, redis_url=redis_url) as server:
            base = server.url
            user, model, socket, start, frames, tokens = short_answer_started(base, fake_provider, "redis_outage")
            redis_process.kill()  # Redis goes away mid-answer
            redis_process.wait()
            assert wait_for(lambda: user.http.get(f"{base}/readyz").json().get("redis") == "unreachable", timeout=40)
            frames += socket.receive_until_end(timeout=20)
            assert text_of(frames) == "".join(tokens) and frames[-1]["type"] == "done"

            with own_redis(port):  # back, empty, as after a restart
                assert wait_for(lambda: user.http.get(f"{base}/readyz").status_code == 200, timeout=10)
                fake_provider.script(reply="the next turn")
                again = socket.chat("and now?", model["model_id"], start["session_id"])
                assert text_of(again) == "the next turn" and again[-1]["type"] == "done"
            history = user.http.get(f"{base}/api/chat/history?session_id={start['session_id']}").json()
            answers = [m for m in history["conversation"] if m["role"] == "assistant"]
            stored = [(m["status"], m["content"]) for m in answers]
            assert stored == [("done", "".join(tokens)), ("done", "the next turn")]


@pytest.fixture
def stoppable_server(database_url, instance_dir, tmp_path, monkeypatch, app, request):
    """A gunicorn of its own (2 workers, Redis) whose stopping workers drain for `drain` seconds,
    with the graceful timeout gunicorn.conf.py gives that."""
    monkeypatch.setenv("AIHELPER_DRAIN_SECONDS", str(request.param))
    with fault_server(database_url, instance_dir, tmp_path, graceful_timeout=None) as server:
        yield server


@pytest.mark.parametrize("stoppable_server", [45], indirect=True)
def test_a_deploy_lets_a_short_and_a_long_answer_finish_and_stores_both_whole(stoppable_server, app, fake_provider):
    base = stoppable_server.url
    admin, _provider, long_model = connect_fake_provider(base, fake_provider, "deploy_admin")
    user = ChatUser.register(base, "deploy_user")
    long_tokens, short_tokens = [f"L{i} " for i in range(300)], [f"s{i} " for i in range(30)]
    fake_provider.script(tokens=long_tokens, token_delay=0.1)  # 30 s
    with FakeProvider() as quick:
        quick.script(tokens=short_tokens, token_delay=0.1)  # 3 s
        provider = admin.http.post(
            base + "/api/admin/providers", json={"name": "Quick", "base_url": quick.base_url, "api_key": "sk-quick-1"}
        ).json()
        admin.http.post(base + "/api/admin/models", json={"provider_id": provider["id"], "model_id": "quick-model"})
        sockets = {}
        for name, model_id in (("long", long_model["model_id"]), ("short", "quick-model")):
            sockets[name] = user.socket()
            sockets[name].send(type="chat", message=f"a {name} answer", model_id=model_id, session_id=None)
        starts = {name: socket.receive() for name, socket in sockets.items()}
        for socket in sockets.values():
            assert socket.receive()["type"] == "delta"  # both are streaming

        os.kill(stoppable_server.pid, signal.SIGHUP)  # a deploy: new workers, the old ones stop

        ends = {name: socket.receive_until_end(timeout=60) for name, socket in sockets.items()}
    for name, tokens in (("long", long_tokens), ("short", short_tokens)):
        assert ends[name][-1]["type"] == "done", ends[name][-1]
        answer = wait_for(
            lambda n=name: (row := stored_answer(app, starts[n]["message_id"])) and row.status == "done" and row,
            timeout=40,
        )
        assert answer.content == "".join(tokens), f"the {name} answer is stored whole"
    fake_provider.script(reply="after the deploy")
    again = wait_for(lambda: _chat_or_none(user, long_model["model_id"]), timeout=20)
    assert text_of(again) == "after the deploy"


@pytest.mark.parametrize("stoppable_server", [1], indirect=True)
def test_a_shutdown_stores_the_running_answer_interrupted_and_a_new_start_shows_it(
    stoppable_server, app, fake_provider, database_url, instance_dir, tmp_path
):
    user, model, socket, start = long_answer_started(stoppable_server.url, fake_provider, "shutdown")
    assert socket.receive()["type"] == "delta"

    os.kill(stoppable_server.pid, signal.SIGTERM)  # a shutdown: the drain lasts 1 s

    frames = socket.receive_until_end(timeout=20)
    assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "server_restarting")
    answer = wait_for(
        lambda: (row := stored_answer(app, start["message_id"])) and row.status == "error" and row, timeout=40
    )
    assert (answer.finish_reason, answer.error_code) == ("interrupted", "interrupted")
    assert answer.content and "w0 " in answer.content, "the text streamed so far is kept"

    restart_logs = tmp_path / "restart"
    restart_logs.mkdir()
    with fault_server(database_url, instance_dir, restart_logs) as restarted:
        user.base_url = restarted.url  # the same cookie: the instance folder keeps the secrets
        history = user.get(f"/api/chat/history?session_id={start['session_id']}").json()
        shown = history["conversation"][-1]
        assert (shown["status"], shown["finish_reason"], shown["content"]) == ("error", "interrupted", answer.content)
        fake_provider.script(reply="continued after the restart")
        again = user.socket().chat("continue", model_id=model["model_id"], session_id=start["session_id"])
        assert text_of(again) == "continued after the restart"


def own_mariadb(datadir: Path, port: int):
    return own_server(mariadb_command(datadir, port), lambda: mariadb_answers(port), timeout=60)


@pytest.mark.skipif(on_mysql(), reason="runs once per CI: its MariaDB is its own, whatever the suite's database")
def test_a_database_outage_mid_answer_delays_done_until_the_answer_is_stored(tmp_path, fake_provider):
    datadir, port = tmp_path / "mariadb", free_port()
    install_mariadb(datadir)
    instance = quiet_instance(tmp_path)
    database_url = f"mysql+pymysql://root@127.0.0.1:{port}/aihelper?charset=utf8mb4"
    with own_mariadb(datadir, port) as database:
        connection = pymysql.connect(host="127.0.0.1", port=port, user="root")
        connection.cursor().execute("CREATE DATABASE aihelper CHARACTER SET utf8mb4")
        connection.close()
        with running_gunicorn(database_url, instance, tmp_path, workers=1, redis_url="") as server:
            base = server.url
            user, _model, socket, start, frames, tokens = short_answer_started(base, fake_provider, "outage")
            database.kill()  # the database goes away mid-answer
            database.wait()
            while text_of(frames) != "".join(tokens):
                frames.append(socket.receive())
            assert all(frame["type"] == "delta" for frame in frames)

            outage = user.http.get(f"{base}/api/chat/history")
            assert (outage.status_code, outage.json()["code"]) == (503, "database_unavailable")
            assert user.http.get(f"{base}/readyz").json()["database"] == "unreachable"
            page = user.http.get(f"{base}/")
            assert page.status_code == 503 and "数据库暂时不可用" in page.text and "Traceback" not in page.text
            assert socket.receive()["type"] == "saving"  # the page says "saving…"
            with pytest.raises(AssertionError, match="no frame"):
                socket.receive(timeout=1.5)  # and no `done` while the answer is not stored

            with own_mariadb(datadir, port):
                end = socket.receive_until_end(timeout=30)
                assert end[-1]["type"] == "done"
                history = user.http.get(f"{base}/api/chat/history?session_id={start['session_id']}").json()
                answer = history["conversation"][-1]
                assert (answer["status"], answer["content"]) == ("done", "".join(tokens))
                assert user.http.get(f"{base}/readyz").status_code == 200


def test_an_answer_the_database_never_took_is_spooled_and_stored_by_a_later_round(app, monkeypatch):
    from aihelper.chat import spool, turns
    from aihelper.services import answers
    from aihelper.services.conversations import PreparedTurn
    from aihelper.services.usage import Price, Spent

    user_id, session_id, question_id, answer_id = streaming_exchange(app, "spooled")
    with app.app_context():
        turn = PreparedTurn(
            session_id=session_id,
            title="t",
            is_new_session=False,
            kind="regenerate",
            user_message_id=question_id,
            answer_id=answer_id,
            model_id="m",
            model_config_id=None,
            base_url="http://provider.invalid/v1",
            api_key="sk-never-on-disk-0001",
            payload={"messages": ["never on disk either"]},
            price=Price(1.5, 6, "CNY"),
            question_text="q?",
        )
    away = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2003, "Can't connect"))
    monkeypatch.setitem(app.config, "AIHELPER_STORE_RETRY_SECONDS", 0)
    with monkeypatch.context() as outage:
        outage.setattr(answers, "finish_answer", lambda *a, **k: (_ for _ in ()).throw(away))
        with app.app_context():
            fields = {"content": "the whole answer", "reasoning": "", "status": "done", "finish_reason": "stop"}
            generation = MemoryHub().begin(turn.session_id, user_id, client_id=None, max_running=3)
            spent = Spent(10, 1000, estimated=True, cost=0.006015, currency="CNY")
            stored = turns._store_despite_outages(app, turn, generation, user_id, {**fields, "spent": spent})
            assert stored is False
    [kept] = spool.folder(app).glob("answer-*.json")
    assert "sk-never-on-disk" not in kept.read_text() and "never on disk either" not in kept.read_text()
    assert stored_answer(app, answer_id).content == "so far"
    with app.app_context():
        assert spool.replay(app) == 1
    answer = stored_answer(app, answer_id)
    assert (answer.status, answer.content) == ("done", "the whole answer")
    assert (answer.completion_tokens, answer.usage_estimated, answer.cost, answer.currency) == (
        1000,
        True,
        0.006015,
        "CNY",
    )
    assert list(spool.folder(app).glob("answer-*.json")) == []


def test_an_answer_spooled_before_answers_had_a_cost_is_stored_with_its_usage(app):
    """A spool file written by the previous release (no price, the provider's usage as it came)
    is stored after an upgrade; one that cannot be read is set aside, not retried for ever."""
    from aihelper.chat import spool

    user_id, session_id, question_id, answer_id = streaming_exchange(app, "upgraded")
    old_turn = {
        "session_id": session_id,
        "title": "t",
        "is_new_session": False,
        "kind": "chat",
        "user_message_id": question_id,
        "answer_id": answer_id,
        "model_id": "m",
        "model_config_id": None,
        "question_text": "q?",
        "superseded_ids": [],
    }
    fields = {"content": "kept", "reasoning": "", "status": "done", "finish_reason": "stop", "error_code": None}
    fields["usage"] = {"prompt_tokens": 12, "completion_tokens": 3}
    directory = spool.folder(app)
    directory.mkdir(exist_ok=True)
    (directory / f"answer-{answer_id}.json").write_text(
        json.dumps({"turn": old_turn, "user_id": user_id, "fields": fields}), encoding="utf-8"
    )
    (directory / "answer-999999.json").write_text("{not json", encoding="utf-8")
    with app.app_context():
        assert spool.replay(app) == 1
    stored = stored_answer(app, answer_id)
    assert (stored.content, stored.prompt_tokens, stored.completion_tokens, stored.cost) == ("kept", 12, 3, 0)
    assert [path.name for path in directory.iterdir()] == ["answer-999999.json.unreadable"]
