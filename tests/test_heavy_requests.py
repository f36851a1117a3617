"""No single request holds the worker: while one user imports the largest file allowed and reads
and exports its longest conversation, another user's answer on the same gevent worker (the second
instance's only one) keeps streaming, the worker never computing more than 100 ms between two of
its frames (SECURITY.md rule 9; CPU time, not the wall clock: see fixtures/worker_watch.py)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image
from urllib3 import encode_multipart_formdata

from aihelper.services.import_file import MESSAGES_MAX, MESSAGES_PER_CONVERSATION_MAX
from tests.fixtures.actions import wait_for
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.worker_watch import FrameWatch
from tests.test_attachments import png_claiming

HOLD_MAX = 0.1  # CPU seconds of the worker between two frames of the other answer


def largest_import(limit_mb: int) -> bytes:
    """As many messages as a file may hold, in conversations as long as allowed, filling the size
    limit: Chinese and English text of about 300 bytes a message."""
    conversations = MESSAGES_MAX // MESSAGES_PER_CONVERSATION_MAX
    room = limit_mb * 1024 * 1024 * 0.97 / MESSAGES_MAX  # bytes per message
    piece = "数据库索引 index "
    filler = piece * int((room - 95) / len(piece.encode()))
    document = {
        "format": "aihelper-conversations",
        "version": 1,
        "conversations": [
            {
                "session_id": f"big-{c}",
                "title": f"长对话 {c}",
                "messages": [
                    {
                        "role": "user" if n % 2 == 0 else "assistant",
                        "content": f"{n} {filler}",
                        "timestamp": "2026-06-01T08:00:00+00:00",
                    }
                    for n in range(MESSAGES_PER_CONVERSATION_MAX)
                ],
            }
            for c in range(conversations)
        ],
    }
    body = json.dumps(document, ensure_ascii=False).encode()
    assert limit_mb * 1024 * 1024 * 0.9 < len(body) <= limit_mb * 1024 * 1024 - 1024  # and the form's fields
    return body


@contextmanager
def another_users_answer(chat, fake_provider, server) -> Iterator[FrameWatch]:
    """An answer streaming to another user from the server's one worker, at 200 tokens a second."""
    fake_provider.script(tokens=[f"t{i} " for i in range(20_000)], token_delay=0.005)
    socket = ChatUser(server.url, chat["user"].http).socket()
    socket.send(type="chat", message="talk for a while", model_id=chat["model_id"], session_id=None)
    (worker,) = server.worker_pids()
    listener = FrameWatch(socket, worker)
    listener.start()
    wait_for(listener.deltas, step=0.01)
    yield listener
    assert listener.is_alive(), "the answer outlasted the work it was measured against"
    done = time.monotonic()
    # A frame after the work, for its last interval.
    wait_for(lambda: listener.deltas()[-1].at > done, step=0.01)
    socket.send(type="stop", session_id=listener.arrivals[0].frame["session_id"])
    listener.join(timeout=30)
    socket.close()


def test_the_largest_import_and_reading_it_back_never_stall_another_users_stream(
    chat, second_instance, app, fake_provider
):
    # A form as the page sends it, encoded before the clock starts (it would hold this process).
    form, form_type = encode_multipart_formdata(
        {"file": ("export.json", largest_import(app.config["AIHELPER_IMPORT_MAX_MB"]), "application/json")}
    )
    server = second_instance
    importer = ChatUser.register(server.url, "importer")
    with another_users_answer(chat, fake_provider, server) as listener:
        started = time.monotonic()
        imported = importer.http.post(
            server.url + "/api/chat/import", data=form, headers={"Content-Type": form_type}, timeout=300
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["added"] == MESSAGES_MAX // MESSAGES_PER_CONVERSATION_MAX
        imported_at = time.monotonic()

        # What is read back is checked once the measurement is over: parsing 30 MB here would hold
        # this process (and the listener's clock) instead of the server.
        longest = importer.get("/api/chat/history?limit=1").json()["sessions"][0]["session_id"]
        newest = importer.get(f"/api/chat/history?session_id={longest}")
        exports = [
            importer.http.get(server.url + path, timeout=300)
            for path in (
                f"/api/chat/session/{longest}/export?format=json",
                f"/api/chat/session/{longest}/export?format=md",
                "/api/chat/export",
            )
        ]
        finished = time.monotonic()

    import_hold = listener.longest_hold(started, imported_at)
    reading_hold = listener.longest_hold(imported_at, finished)
    assert import_hold < HOLD_MAX, f"the import held the worker for {import_hold * 1000:.0f} ms"
    assert reading_hold < HOLD_MAX, f"reading it back held the worker for {reading_hold * 1000:.0f} ms"

    assert newest.json()["has_more"] is True and newest.json()["conversation"][-1]["content"].startswith("9999 ")
    one_json, one_markdown, everything = exports
    assert len(json.loads(one_json.content)["conversations"][0]["messages"]) == MESSAGES_PER_CONVERSATION_MAX
    assert one_markdown.text.count("\n### ") == MESSAGES_PER_CONVERSATION_MAX
    assert len(json.loads(everything.content)["conversations"]) == MESSAGES_MAX // MESSAGES_PER_CONVERSATION_MAX


def test_uploads_refused_at_their_first_bytes_never_stall_another_users_stream(
    chat, second_instance, app, fake_provider
):
    """The rest of such a body is read away between the worker's other work, and the connection
    serves the next request."""
    limit = app.config["AIHELPER_IMPORT_MAX_MB"] * 1024 * 1024
    bodies = [
        (b'{"format": "aihelper-conversations", "conversations": [' + b"{}," * (limit // 3 - 100) + b"{}]}", 400),
        (b"[" + b" " * (limit + 1024) + b"]", 413),
        (b"nonsense" * (limit // 8 - 8), 400),
    ]
    server = second_instance
    uploader = ChatUser.register(server.url, "uploader")
    with another_users_answer(chat, fake_provider, server) as listener:
        started = time.monotonic()
        for body, status in bodies:
            refused = uploader.http.post(
                server.url + "/api/chat/import",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            assert refused.status_code == status, refused.text
            assert uploader.get("/api/user/info").status_code == 200
        finished = time.monotonic()
    hold = listener.longest_hold(started, finished)
    assert hold < HOLD_MAX, f"a refused upload held the worker for {hold * 1000:.0f} ms"


def test_reading_uploaded_files_never_stalls_another_users_stream(chat, second_instance, app, fake_provider):
    """Decoding a 20-megapixel photo, a long PDF and a bomb happens in the file reader's child
    process; the worker only passes the bytes on and stores the result."""
    photo = io.BytesIO()
    Image.effect_noise((5000, 4000), 64).convert("RGB").save(photo, "JPEG", quality=95)  # ~20 MP
    forms = [
        encode_multipart_formdata({"file": ("photo.jpg", photo.getvalue(), "image/jpeg")}),
        encode_multipart_formdata({"file": ("long.txt", ("数据库索引 index " * 600_000).encode(), "text/plain")}),
        encode_multipart_formdata({"file": ("bomb.png", png_claiming(30_000, 30_000), "image/png")}),
    ]
    server = second_instance
    uploader = ChatUser.register(server.url, "file_uploader")
    with another_users_answer(chat, fake_provider, server) as listener:
        started = time.monotonic()
        statuses = [
            uploader.http.post(
                server.url + "/api/attachments", data=form, headers={"Content-Type": form_type}, timeout=120
            ).status_code
            for form, form_type in forms
        ]
        finished = time.monotonic()
    assert statuses == [201, 201, 413]
    hold = listener.longest_hold(started, finished)
    assert hold < HOLD_MAX, f"an upload held the worker for {hold * 1000:.0f} ms"
