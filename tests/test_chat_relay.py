"""How answers reach the sockets: what arrives at once goes on as one frame, a client that reads
nothing holds up nobody, and a page may stop an answer from another instance of the app (two
gunicorn processes sharing the database and Redis; resuming there is in test_chat_stream)."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time

from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatMessage
from tests.fixtures.actions import stored, wait_for
from tests.fixtures.chat_client import ChatUser, send_text_frame, text_of
from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.worker_watch import FrameWatch, rss_mb


def answer_row(app, answer_id: int) -> ChatMessage | None:
    rows = stored(app, id=answer_id)
    return rows[0] if rows else None


def test_500_tokens_written_at_once_arrive_as_few_frames_with_the_exact_text(chat, app, fake_provider):
    tokens = [f"tok{i} " for i in range(500)]
    fake_provider.script(tokens=tokens, all_at_once=True)
    socket_ = chat["user"].socket()
    frames = socket_.chat("all at once please", chat["model_id"])
    deltas = [f for f in frames if f["type"] == "delta"]
    assert text_of(deltas) == "".join(tokens)
    assert len(deltas) <= 3, f"{len(deltas)} frames for what arrived in one piece"
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert frames[-1]["seq"] == len(deltas) + 1 and frames[-1]["status"] == "done"
    assert answer_row(app, frames[0]["message_id"]).content == "".join(tokens)
    socket_.close()


def test_start_and_error_frames_carry_the_turns_client_id(chat):
    socket_ = chat["user"].socket()
    started = socket_.chat("hello", chat["model_id"], client_id="turn-1")
    assert started[0]["type"] == "start" and started[0]["client_id"] == "turn-1"
    refused = socket_.chat("hello", "no-such-model", client_id="turn-2")
    assert refused == [
        {"type": "error", "error": refused[0]["error"], "code": "model_unavailable", "client_id": "turn-2"}
    ]
    socket_.send(type="regenerate", session_id=started[0]["session_id"], client_id="turn-3")
    assert socket_.receive()["client_id"] == "turn-3"
    socket_.receive_until_end()
    socket_.close()


def test_a_client_that_reads_nothing_holds_up_nobody_and_is_cut(chat, app, fake_provider, second_instance):
    """Both sockets in the one worker of the second instance: the first reads nothing while a 5 MB
    answer (more than the kernel buffers hold) is generated for it; the other streams meanwhile."""
    big = [f"{i:05d} " + "lorem ipsum dolor sit amet " * 37 + "\n" for i in range(5000)]  # 5 MB
    fake_provider.script(tokens=big)
    admin, url = chat["admin"], second_instance.url
    with FakeProvider() as steady:
        steady.script(tokens=[f"t{i} " for i in range(60)], token_delay=0.02)
        provider = admin.http.post(
            url + "/api/admin/providers", json={"name": "Steady", "base_url": steady.base_url, "api_key": "sk-steady-1"}
        ).json()
        admin.http.post(url + "/api/admin/models", json={"provider_id": provider["id"], "model_id": "steady-model"})
        (worker,) = second_instance.worker_pids()
        memory_before = rss_mb(worker)

        stuck = ChatUser(url, chat["user"].http).raw_socket(receive_buffer=4096)
        send_text_frame(stuck, json.dumps({"type": "chat", "message": "a lot", "model_id": "fake-model"}))
        reader = ChatUser.register(url, "reader").socket()
        reader.send(type="chat", message="hello", model_id="steady-model", session_id=None)
        watch = FrameWatch(reader, worker)
        watch.run()
        reader.close()

    frames = [arrival.frame for arrival in watch.arrivals]
    assert text_of(frames) == "".join(f"t{i} " for i in range(60)) and frames[-1]["status"] == "done"
    deltas = watch.deltas()
    # A write that waited for the stuck client would hold the worker for good. What the worker does
    # compute at once is the 5 MB answer's checkpoints and its final store, each one statement with
    # the whole text (50-120 ms on SQLite here): nothing to do with the stuck socket.
    hold = watch.longest_hold(deltas[0].at, deltas[-1].at)
    assert hold < 0.25, f"relaying to the stuck client held the worker for {hold * 1000:.0f} ms"

    with app.app_context():
        answer_id = db.session.scalar(
            select(ChatMessage.id).where(ChatMessage.role == "assistant", ChatMessage.model_id == "fake-model")
        )
    stored = wait_for(lambda: (row := answer_row(app, answer_id)) and row.status == "done" and row)
    assert stored.content == "".join(big), "generated at the provider's pace and stored whole"
    assert rss_mb(worker) - memory_before < 100, "the worker holds the answer, not copies per frame"

    # Nothing taken for 3 s (the test server's AIHELPER_STALLED_SOCKET_SECONDS): the server cuts it,
    # and the client gets what the kernel buffers held, not the rest.
    wait_for(lambda: "stalled; closed" in second_instance.log(), timeout=20)
    stuck.settimeout(10)
    received, deadline = 0, time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            data = stuck.recv(1 << 20)
            if not data:
                break
            received += len(data)
    except (ConnectionResetError, TimeoutError):
        pass
    stuck.close()
    assert received < len("".join(big)), "the connection ended before the whole answer was sent"


def test_a_stop_from_another_instance_ends_the_generation(chat, app, fake_provider, second_instance):
    fake_provider.script(tokens=[f"s{i} " for i in range(200)], token_delay=0.05)
    here = chat["user"].socket()
    here.send(type="chat", message="count to 200", model_id=chat["model_id"], session_id=None)
    start = here.receive()
    here.receive()
    there = ChatUser(second_instance.url, chat["user"].http).socket()
    there.send(type="stop", session_id=start["session_id"])
    end = here.receive_until_end()[-1]
    assert (end["type"], end["status"]) == ("done", "stopped")
    assert fake_provider.wait_for_disconnect(), "the provider call was cut"
    stored = wait_for(lambda: (row := answer_row(app, start["message_id"])) and row.status == "stopped" and row)
    assert 0 < len(stored.content) < len("".join(f"s{i} " for i in range(200)))
    here.close()
    there.close()


def test_a_tab_that_vanishes_mid_answer_leaves_the_answer_to_finish(chat, app, fake_provider):
    """The socket is reset (no close handshake) while frames are being written to it: whoever was
    writing them must not take the failure for the answer's."""
    tokens = [f"piece{i} " for i in range(3000)]
    fake_provider.script(tokens=tokens)
    conn = chat["user"].raw_socket(receive_buffer=1 << 16)
    send_text_frame(conn, json.dumps({"type": "chat", "message": "a long one", "model_id": "fake-model"}))
    assert conn.recv(4096)  # the answer is streaming
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST
    with app.app_context():
        answer_id = wait_for(lambda: db.session.scalar(select(ChatMessage.id).where(ChatMessage.role == "assistant")))
    answer = wait_for(lambda: (row := answer_row(app, answer_id)) and row.status != "streaming" and row, timeout=30)
    assert (answer.status, answer.content) == ("done", "".join(tokens))


def test_a_client_that_sends_without_reading_the_replies_is_closed(chat, live_server):
    """Every bad frame gets an error frame back; a client that never reads them cannot make the
    server queue them without end."""
    conn = chat["user"].raw_socket(receive_buffer=4096)
    conn.settimeout(5)
    with contextlib.suppress(OSError):  # the server may cut it while it is still sending
        for _ in range(100_000):
            send_text_frame(conn, "x")
    assert wait_for(lambda: "reads no replies; closed" in live_server.log(), timeout=20)
    conn.close()
