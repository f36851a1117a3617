"""Attachments (issue #16): uploads are read in a child process, decided by their content, stored
under random names and readable by their owner only; hostile files are refused with nothing left
on disk or in the database; a question's images reach a vision model as content parts and its
documents' text reaches any model, cut to its context; files go with their conversation."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from pathlib import Path

import docx
import openpyxl
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from aihelper.extensions import db
from aihelper.models import Attachment, ChatSession
from aihelper.services import retention
from tests.fixtures.actions import make_admin_and_user
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.records import at


def png(width: int = 64, height: int = 48, colour=(200, 30, 30)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(output, "PNG")
    return output.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def docx_file(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def xlsx_file(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def pdf_with_script(text: str) -> bytes:
    """A one-page PDF with `text` and an OpenAction JavaScript (which nothing here may run)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /S /JavaScript /JS (app.alert('pwned')) >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body, offsets = b"%PDF-1.4\n", []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return body


def zip_bomb_docx() -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "0" * (30 * 1024 * 1024))  # 30 MB of one byte: ~1000:1
    return output.getvalue()


def upload(client, data: bytes, name: str):
    return client.post("/api/attachments", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def stored(app) -> tuple[int, list[str]]:
    """How many attachment rows there are, and the files in the attachments folder."""
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(Attachment))
        db.session.remove()
    folder = Path(app.instance_path) / "attachments"
    return rows, sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- upload and serving -------------------------------------------------------------------------


def test_an_image_is_re_encoded_and_served_to_its_owner_only(app):
    admin, user = make_admin_and_user(app)
    photo = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    Image.new("RGB", (4000, 1000), (10, 200, 10)).save(photo, "JPEG", exif=exif)
    response = upload(user, photo.getvalue(), "holiday.jpg")
    assert response.status_code == 201, response.json
    described = response.json
    assert (described["kind"], described["name"], described["media_type"]) == ("image", "holiday.jpg", "image/jpeg")
    assert described["url"] == f"/api/attachments/{described['id']}"

    served = user.get(described["url"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(served.data))
    assert image.size == (2048, 512), "at most 2048 px on the long side"
    assert "SecretCam" not in str(image.getexif()) and b"SecretCam" not in served.data, "EXIF is dropped"

    assert admin.get(described["url"]).status_code == 404, "someone else's is like one that does not exist"
    assert admin.delete(described["url"]).status_code == 404
    assert app.test_client().get(described["url"]).status_code == 401
    assert user.get("/api/attachments/not-a-real-id").status_code == 404


def test_an_animated_gif_becomes_its_first_frame(app):
    _admin, user = make_admin_and_user(app)
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    described = upload(user, gif.getvalue(), "moving.gif").json
    image = Image.open(io.BytesIO(user.get(described["url"]).data))
    assert described["media_type"] == "image/png" and getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("name", "make", "media_type", "says"),
    [
        ("report.docx", lambda: docx_file("季度报告：收入增长 12%"), "wordprocessingml", "季度报告"),
        ("sheet.xlsx", lambda: xlsx_file([["城市", "人口"], ["杭州", 1200]]), "spreadsheetml", "杭州\t1200"),
        ("notes.md", lambda: "# 标题\n\n一些笔记".encode(), "text/markdown", "一些笔记"),
        ("data.csv", lambda: b"a,b\n1,2\n", "text/csv", "1,2"),
        ("main.py", lambda: b"print('hello')\n", "text/plain", "print('hello')"),
        ("gbk.txt", lambda: "中文编码".encode("gb18030"), "text/plain", "中文编码"),
        ("script.pdf", lambda: pdf_with_script("Quarterly numbers"), "application/pdf", "Quarterly numbers"),
    ],
)
def test_documents_are_read_once_at_upload_and_downloaded_never_opened(app, name, make, media_type, says):
    _admin, user = make_admin_and_user(app)
    response = upload(user, make(), name)
    assert response.status_code == 201, response.json
    assert response.json["kind"] == "document" and media_type in response.json["media_type"]
    assert response.json["text_chars"] > 0
    with app.app_context():
        assert says in db.session.get(Attachment, response.json["id"]).text
    served = user.get(response.json["url"])
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]


def test_the_type_is_decided_by_the_content_and_the_name_is_only_shown(app):
    _admin, user = make_admin_and_user(app)
    image = upload(user, png(), "not-really.txt").json
    assert (image["kind"], image["media_type"]) == ("image", "image/png")
    text = upload(user, b"just words", "../../etc/passwd\x00\x1b.png").json
    assert (text["kind"], text["media_type"], text["name"]) == ("document", "text/plain", "passwd.png")
    _rows, files = stored(app)
    assert all(len(name) == 32 and all(c in "0123456789abcdef" for c in name) for name in files)


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("bomb.png", lambda: png_claiming(30_000, 30_000), 413, "too_large"),
        ("bomb.docx", zip_bomb_docx, 413, "too_large"),
        (
            "image.svg",
            lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
            "unsupported_file",
        ),
        ("page.html", lambda: b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415, "unsupported_file"),
        ("page.txt", lambda: b"  <html><body onload=alert(1)>", 415, "unsupported_file"),
        ("binary.bin", lambda: bytes(range(256)) * 4, 415, "unsupported_file"),
        ("broken.pdf", lambda: b"%PDF-1.7 this is not a pdf at all", 415, "unsupported_file"),
        ("other.zip", lambda: zip_of({"a.txt": "x"}), 415, "unsupported_file"),
        ("empty.txt", lambda: b"", 400, "missing_file"),
    ],
)
def test_hostile_or_unsupported_files_are_refused_with_nothing_stored(app, name, make, status, code):
    _admin, user = make_admin_and_user(app)
    before = stored(app)
    response = upload(user, make(), name)
    assert (response.status_code, response.json["code"]) == (status, code), response.json
    assert stored(app) == before


def zip_of(entries: dict[str, str]) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for entry, text in entries.items():
            archive.writestr(entry, text)
    return output.getvalue()


def test_a_file_over_the_limit_or_the_users_storage_is_refused(app, monkeypatch):
    _admin, user = make_admin_and_user(app)
    monkeypatch.setitem(app.config, "AIHELPER_ATTACHMENT_MAX_MB", 1)
    too_big = upload(user, b"x" * (1024 * 1024 + 1), "big.txt")
    assert (too_big.status_code, too_big.json["code"]) == (413, "too_large")
    monkeypatch.setitem(app.config, "AIHELPER_ATTACHMENT_QUOTA_MB", 1)
    assert upload(user, b"y" * (700 * 1024), "first.txt").status_code == 201
    full = upload(user, b"z" * (700 * 1024), "second.txt")
    assert (full.status_code, full.json["code"]) == (413, "storage_full")
    assert stored(app)[0] == 1


def test_a_file_that_takes_too_long_to_read_is_refused(app, monkeypatch):
    _admin, user = make_admin_and_user(app)
    monkeypatch.setitem(app.config, "AIHELPER_EXTRACT_SECONDS", 0.05)
    response = upload(user, docx_file("slow enough"), "slow.docx")
    assert (response.status_code, response.json["code"]) == (413, "too_large")
    assert stored(app)[0] == 0


def test_an_upload_not_yet_sent_can_be_removed(app):
    _admin, user = make_admin_and_user(app)
    described = upload(user, b"draft text", "draft.txt").json
    assert user.delete(described["url"]).status_code == 200
    assert user.get(described["url"]).status_code == 404
    assert stored(app) == (0, [])


# --- to the model -------------------------------------------------------------------------------


def uploaded(user, data: bytes, name: str) -> dict:
    response = user.http.post(f"{user.base_url}/api/attachments", files={"file": (name, data)}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def sent_messages(fake_provider) -> list[dict]:
    return [r["json"] for r in fake_provider.requests if r["json"].get("stream")][-1]["messages"]


def test_a_vision_model_gets_the_image_as_a_content_part(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"vision": True})
    image = uploaded(user, png(), "screenshot.png")
    socket = user.socket()
    frames = socket.chat("What is in this picture?", model["model_id"], attachments=[image["id"]])
    assert frames[-1]["type"] == "done"
    question = sent_messages(fake_provider)[-1]
    assert question["role"] == "user"
    text_part, image_part = question["content"]
    assert text_part == {"type": "text", "text": "What is in this picture?"}
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")

    history = user.get(f"/api/chat/history?session_id={frames[0]['session_id']}").json()["conversation"]
    assert [a["id"] for a in history[0]["attachments"]] == [image["id"]] and history[1]["attachments"] == []
    again = socket.chat(
        "and once more", model["model_id"], session_id=frames[0]["session_id"], attachments=[image["id"]]
    )
    assert again[-1]["code"] == "not_found", "a file already sent is not sent with another message"
    socket.close()


def test_an_image_for_a_model_without_vision_is_refused_before_any_provider_call(chat, fake_provider):
    user, model = chat["user"], chat["model"]
    image = uploaded(user, png(), "photo.png")
    asked = len(fake_provider.requests)
    socket = user.socket()
    refused = socket.chat("describe it", model["model_id"], attachments=[image["id"]])[-1]
    assert (refused["type"], refused["code"]) == ("error", "model_no_vision")
    assert "图片" in refused["error"]
    assert len(fake_provider.requests) == asked
    assert user.get("/api/chat/history").json()["sessions"] == [], "nothing was stored"
    socket.close()


def test_a_documents_text_goes_into_the_prompt_with_its_name_and_is_cut_to_the_context(chat, app, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    document = uploaded(user, docx_file("The launch date is 12 March."), "plan.docx")
    socket = user.socket()
    frames = socket.chat("When is the launch?", model["model_id"], attachments=[document["id"]])
    question = sent_messages(fake_provider)[-1]["content"]
    assert question.startswith("When is the launch?")
    assert "Attached file: plan.docx" in question and "The launch date is 12 March." in question

    admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"context_window": 1024, "max_tokens": 256})
    long = uploaded(user, ("word " * 5000).encode(), "long.txt")
    socket.chat("Summarise", model["model_id"], session_id=frames[0]["session_id"], attachments=[long["id"]])
    question = sent_messages(fake_provider)[-1]["content"]
    assert "Attached file: long.txt (cut to fit)" in question
    assert len(question) < 5000
    history = user.get(f"/api/chat/history?session_id={frames[0]['session_id']}").json()["conversation"]
    shown = history[-2]["attachments"][0]
    assert shown["sent_chars"] < shown["text_chars"], "the page can say that it was cut"
    socket.close()


def test_regenerate_keeps_the_questions_files(chat, fake_provider):
    user, model = chat["user"], chat["model"]
    document = uploaded(user, b"the secret number is 42", "facts.txt")
    socket = user.socket()
    session_id = socket.chat("What is the number?", model["model_id"], attachments=[document["id"]])[0]["session_id"]
    socket.send(type="regenerate", session_id=session_id)
    assert socket.receive_until_end()[-1]["type"] == "done"
    assert "the secret number is 42" in sent_messages(fake_provider)[-1]["content"]
    history = user.get(f"/api/chat/history?session_id={session_id}").json()["conversation"]
    assert [a["name"] for a in history[0]["attachments"]] == ["facts.txt"]
    socket.close()


def test_files_go_with_their_conversation_and_with_retention(chat, app, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    socket = user.socket()
    kept = uploaded(user, b"first file", "one.txt")
    first = socket.chat("one", model["model_id"], attachments=[kept["id"]])[0]["session_id"]
    other = uploaded(user, b"second file", "two.txt")
    second = socket.chat("two", model["model_id"], attachments=[other["id"]])[0]["session_id"]
    socket.close()
    assert len(stored(app)[1]) == 2
    assert user.http.delete(f"{user.base_url}/api/chat/session/{first}").status_code == 200
    assert stored(app)[0] == 1 and len(stored(app)[1]) == 1

    admin.http.put(f"{admin.base_url}/api/admin/settings", json={"retention_days": 1})
    with app.app_context():
        db.session.execute(
            update(ChatSession).where(ChatSession.session_id == second).values(update_time=at("2020-01-01T00:00:00"))
        )
        db.session.commit()
        assert retention.purge_expired() == 1
        db.session.remove()
    assert stored(app) == (0, [])


def test_an_upload_never_sent_is_cleaned_up_after_a_day(app):
    _admin, user = make_admin_and_user(app)
    upload(user, b"forgotten draft", "draft.txt")
    with app.app_context():
        db.session.execute(update(Attachment).values(create_time=at("2020-01-01T00:00:00")))
        db.session.commit()
        assert retention.attachments.sweep(at("2026-12-02T00:00:00")) == 1
        db.session.remove()
    assert stored(app) == (0, [])


def test_an_account_deleted_takes_its_files_with_it(app):
    admin, user = make_admin_and_user(app)
    upload(user, b"mine", "mine.txt")
    bob = next(u["id"] for u in admin.get("/api/admin/users").json["users"] if u["username"] == "user_bob")
    assert admin.delete(f"/api/admin/users/{bob}").status_code == 200
    assert stored(app) == (0, [])


def test_a_chat_frame_with_attachments_of_another_user_is_refused(chat, app, fake_provider):
    user, model = chat["user"], chat["model"]
    admins = uploaded(chat["admin"], b"admin's notes", "notes.txt")
    socket = user.socket()
    refused = socket.chat("read that", model["model_id"], attachments=[admins["id"]])[-1]
    assert refused["code"] == "not_found"
    socket.close()
    assert "admin's notes" not in json.dumps(fake_provider.requests)


# --- export and import --------------------------------------------------------------------------


def test_everything_exports_as_a_zip_with_the_files_and_imports_back_once(chat, app, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"vision": True})
    picture, notes = uploaded(user, png(), "chart.png"), uploaded(user, b"meeting notes", "notes.md")
    socket = user.socket()
    socket.chat("look at these", model["model_id"], attachments=[picture["id"], notes["id"]])
    socket.close()

    exported = user.http.get(f"{user.base_url}/api/chat/export", timeout=30)
    assert exported.headers["Content-Type"] == "application/zip"
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="aihelper-export-')
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    document = json.loads(archive.read("conversations.json"))
    refs = document["conversations"][0]["messages"][0]["attachments"]
    assert [(r["name"], r["kind"]) for r in refs] == [("chart.png", "image"), ("notes.md", "document")]
    assert archive.read(refs[1]["file"]) == b"meeting notes"
    plain = user.http.get(f"{user.base_url}/api/chat/export?format=json", timeout=30)
    assert plain.headers["Content-Type"].startswith("application/json")

    other = ChatUser.register(user.base_url, "importer")
    sent = other.http.post(
        f"{other.base_url}/api/chat/import", files={"file": ("export.zip", exported.content)}, timeout=60
    ).json()
    assert (sent["added"], sent["files"]) == (1, 2)
    again = other.http.post(
        f"{other.base_url}/api/chat/import", files={"file": ("export.zip", exported.content)}, timeout=60
    ).json()
    assert (again["added"], again["skipped"], again["files"]) == (0, 1, 0), "idempotent, files too"
    session_id = other.get("/api/chat/history").json()["sessions"][0]["session_id"]
    question = other.get(f"/api/chat/history?session_id={session_id}").json()["conversation"][0]
    assert [a["name"] for a in question["attachments"]] == ["chart.png", "notes.md"]
    copy = other.get(question["attachments"][1]["url"])
    assert copy.content == b"meeting notes"
    assert user.get(question["attachments"][1]["url"]).status_code == 404, "the copy is the importer's"

    third = ChatUser.register(user.base_url, "json_only")
    document_only = third.http.post(f"{third.base_url}/api/chat/import", json=plain.json(), timeout=30).json()
    assert (document_only["added"], document_only["files"]) == (1, 0), "the JSON part imports by itself"


def test_a_zip_that_is_no_export_or_a_bomb_is_refused(app):
    _admin, user = make_admin_and_user(app)
    for body in (zip_of({"readme.txt": "hello"}), zip_bomb_docx()):
        response = user.post(
            "/api/chat/import", data={"file": (io.BytesIO(body), "x.zip")}, content_type="multipart/form-data"
        )
        assert (response.status_code, response.json["code"]) == (400, "import_invalid_zip")


def test_a_message_of_files_alone_stays_in_the_context_of_later_turns(chat, fake_provider):
    user, model = chat["user"], chat["model"]
    document = uploaded(user, b"the password hint is blue", "hint.txt")
    socket = user.socket()
    first = socket.chat("", model["model_id"], attachments=[document["id"]])
    assert first[-1]["type"] == "done"
    socket.chat("what colour was it?", model["model_id"], session_id=first[0]["session_id"])
    context = sent_messages(fake_provider)
    assert any("the password hint is blue" in str(m["content"]) for m in context[:-1])
    socket.close()


def test_a_message_with_files_sent_again_after_a_reconnect_is_answered_as_the_first_time(chat, fake_provider):
    user, model = chat["user"], chat["model"]
    document = uploaded(user, b"resent notes", "notes.txt")
    socket = user.socket()
    first = socket.chat("read it", model["model_id"], client_id="with-files-1", attachments=[document["id"]])
    again = socket.chat("read it", model["model_id"], client_id="with-files-1", attachments=[document["id"]])
    assert again[-1]["type"] == "done" and again[0]["message_id"] == first[0]["message_id"]
    socket.close()


def export_document(*messages: dict) -> str:
    conversation = {"session_id": "s", "title": "t", "messages": list(messages)}
    return json.dumps({"format": "aihelper-conversations", "conversations": [conversation]})


def imported_zip(client, entries: dict[str, str]):
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, text in entries.items():
            archive.writestr(entry, text)
    form = {"file": (io.BytesIO(output.getvalue()), "export.zip")}
    return client.post("/api/chat/import", data=form, content_type="multipart/form-data")


def test_an_export_zip_whose_document_is_over_the_import_limit_or_names_a_file_twice(app, monkeypatch):
    _admin, user = make_admin_and_user(app)
    monkeypatch.setitem(app.config, "AIHELPER_IMPORT_MAX_MB", 1)
    question = {"role": "user", "content": "x", "timestamp": "2026-01-01T00:00:00"}
    words = random.Random(5).choices(["数据", "index", "模型", "token", "检索", "cache"], k=300_000)
    long_answer = {"role": "assistant", "content": " ".join(words), "timestamp": "2026-01-01T00:00:01"}
    refused = imported_zip(user, {"conversations.json": export_document(question, long_answer)})
    assert (refused.status_code, refused.json["code"]) == (400, "import_invalid_zip"), "over 1 MB once unpacked"

    twice = {**question, "attachments": [{"file": "files/a", "name": "a.txt"}] * 2}
    result = imported_zip(user, {"conversations.json": export_document(twice), "files/a": "once"})
    assert (result.status_code, result.json["files"]) == (200, 1)
    assert stored(app)[0] == 1


def test_an_edit_without_new_files_sends_the_questions_files_and_both_branches_keep_them(chat, app, fake_provider):
    user, model = chat["user"], chat["model"]
    document = uploaded(user, b"the budget is 300", "budget.txt")
    socket = user.socket()
    session_id = socket.chat("What is the budget?", model["model_id"], attachments=[document["id"]])[0]["session_id"]
    fake_provider.script(reply="It is 300.")
    edited = socket.chat("What is the budget, exactly?", model["model_id"], session_id=session_id, edit=True)
    assert edited[-1]["type"] == "done"
    assert "the budget is 300" in sent_messages(fake_provider)[-1]["content"]
    history = user.get(f"/api/chat/history?session_id={session_id}").json()["conversation"]
    assert [(m["content"], [a["name"] for a in m["attachments"]]) for m in history] == [
        ("What is the budget, exactly?", ["budget.txt"]),
        ("It is 300.", []),
    ]
    original = user.get(f"/api/chat/history?session_id={session_id}").json()["tree"][0]["id"]
    user.http.put(
        f"{user.base_url}/api/chat/session/{session_id}/branch", json={"message_id": original}, timeout=10
    ).raise_for_status()
    before = user.get(f"/api/chat/history?session_id={session_id}").json()["conversation"]
    assert [a["name"] for a in before[0]["attachments"]] == ["budget.txt"], "the question edited keeps its file"
    rows, files = stored(app)
    assert rows == 2 and len(files) == 2, "each question has its own copy"
    socket.close()
