"""Backup and restore (API.md "Operations"): `flask --app app backup DIR` while the app runs and
writes, `restore DIR` into a fresh database and instance folder, and the app started on that has
everything: logins, conversations with their branches, files, working provider keys, settings and
usage — except their logins: everyone logs in again. A MariaDB dump holds no writer back. A restore
reads only what a backup is made of, and a backup writes only into a folder of its own."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased

from aihelper import create_app
from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid
from aihelper.models import ChatMessage
from aihelper.services import backup
from tests.fixtures.actions import PASSWORD, register
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.servers import FAST_PASSWORD_HASH, PROJECT_ROOT, running_gunicorn

FAKE_KEY = "sk-fake-test-key-0001"  # what connect_fake_provider stores


def flask_command(database_url: str, instance: Path, *args: str, answer: str | None = None):
    """`flask --app app ARGS` as an operator runs it, against this database and instance folder."""
    env = {**os.environ, "AIHELPER_INSTANCE_PATH": str(instance), "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=180,
    )


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A new database `name` on the MariaDB server of `server_url`, dropped afterwards."""
    url = make_url(server_url)
    server = create_engine(url.set(database=None), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


@pytest.fixture
def empty_database(database_url, tmp_path) -> Iterator[str]:
    """A database of the suite's kind that nothing uses yet: a new SQLite file in the restored
    instance folder, or on MariaDB a scratch database next to the suite's."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'aihelper.db'}"
        return
    with scratch_database(database_url, f"{make_url(database_url).database}_restored") as url:
        yield url


class Writer(threading.Thread):
    """Another user chatting on and on in one conversation until told to stop."""

    def __init__(self, user: ChatUser, model_id) -> None:
        super().__init__(daemon=True)
        self.user, self.model_id = user, model_id
        self.turns = 0
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        socket = self.user.socket()
        session_id = None
        try:
            while not self.stopping.is_set():
                frames = socket.chat(f"question {self.turns}", self.model_id, session_id)
                assert frames[-1]["type"] == "done", frames[-1]
                session_id = frames[0]["session_id"]
                self.turns += 1
        except BaseException as error:  # reported by the test
            self.failure = error
        finally:
            socket.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert self.failure is None, self.failure


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def what_they_see(user: ChatUser, admin: ChatUser, session_id: str, attachment_url: str) -> dict:
    """Everything the round trip must keep, as the API shows it."""
    info = user.get("/api/user/info").json()
    del info["last_login"]  # logging in on the restored server moves it
    usage = admin.get("/api/admin/usage", params={"by": "user"}).json()["rows"]
    return {
        "info": info,
        "history": user.get("/api/chat/history").json()["sessions"],
        "conversation": user.get("/api/chat/history", params={"session_id": session_id}).json(),
        "attachment": user.get(attachment_url).content,
        "avatar": user.get(info["avatar"]).content,
        "settings": admin.get("/api/admin/settings").json(),
        "providers": admin.get("/api/admin/providers").json(),
        "models": user.get("/api/models").json(),
        "usage": [row for row in usage if row["label"] == "streamer"],
    }


def test_a_backup_taken_while_the_app_writes_restores_into_a_fresh_installation(
    chat, live_server, fake_provider, database_url, instance_dir, empty_database, tmp_path
):
    user, admin, model_id = chat["user"], chat["admin"], chat["model_id"]
    fake_provider.expected_key = FAKE_KEY  # a provider call with any other key fails
    fake_provider.script(reply="a steady answer of several words streamed one by one", token_delay=0.01)
    writer = Writer(ChatUser.register(live_server.url, "writer"), model_id)
    # What the user keeps: a conversation with a regenerated answer (two branches), a document
    # attached to a question, an avatar; the admin changed a setting; answers were counted.
    socket = user.socket()
    first = socket.chat("Hello", model_id)
    session_id = first[0]["session_id"]
    socket.send(type="regenerate", session_id=session_id, message_id=first[0]["message_id"])
    assert socket.receive_until_end()[-1]["type"] == "done"
    document = user.http.post(
        live_server.url + "/api/attachments", files={"file": ("notes.md", b"# Notes\nkeep these")}
    ).json()
    attached = socket.chat("Read my notes", model_id, session_id, attachments=[document["id"]])
    assert attached[-1]["type"] == "done", attached[-1]
    socket.close()
    assert user.http.post(live_server.url + "/api/user/avatar", files={"file": ("me.png", png())}).ok
    assert admin.http.put(live_server.url + "/api/admin/settings", json={"retention_days": 30}).ok
    before = what_they_see(user, admin, session_id, document["url"])
    assert len(before["conversation"]["tree"]) == 5 and before["usage"][0]["messages"] == 3

    writer.start()
    while writer.turns < 2:
        assert writer.is_alive(), writer.failure
        time.sleep(0.05)
    turns_before = writer.turns
    folder = tmp_path / "backup"
    made = flask_command(database_url, instance_dir, "backup", str(folder))
    turns_during = writer.turns - turns_before
    writer.stop()
    assert made.returncode == 0, made.stderr
    assert turns_during > 0, "the writer finished no turn while the backup ran"

    # The backup folder holds secrets: its owner's only.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()} == {0o600}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == ("sqlite" if database_url.startswith("sqlite") else "mysql")
    assert {"keys/secret_key", "keys/encryption_keys"} <= set(manifest["files"])

    restored = tmp_path / "restored"
    restored.mkdir(exist_ok=True)
    shutil.copy(instance_dir / "config.py", restored / "config.py")
    done = flask_command(empty_database, restored, "restore", str(folder))
    assert done.returncode == 0, done.stderr
    assert "everyone logs in again" in done.stdout
    # Once it holds data, a restore asks for --force, and with it (and a yes) gives the same again.
    refused = flask_command(empty_database, restored, "restore", str(folder))
    assert refused.returncode != 0 and "already holds data" in refused.stderr
    again = flask_command(empty_database, restored, "restore", "--force", str(folder), answer="y\n")
    assert again.returncode == 0, again.stderr

    with running_gunicorn(empty_database, restored, tmp_path, workers=1, redis_url="") as server:
        # The logins were not restored (one revoked after the backup would work again): the cookie
        # from before is refused, and logging in again works.
        old_session = ChatUser(server.url)
        old_session.http.cookies.set("aihelper_session", user.cookie)
        assert old_session.get("/api/user/info").status_code == 401
        returning, returning_admin = ChatUser(server.url), ChatUser(server.url)
        assert returning.http.post(server.url + "/api/login", json={"username": "streamer", "password": PASSWORD}).ok
        assert returning_admin.http.post(
            server.url + "/api/login", json={"username": "stream_admin", "password": PASSWORD}
        ).ok
        after = what_they_see(returning, returning_admin, session_id, document["url"])
        assert after == before
        # The provider key decrypts: a turn reaches the fake provider with it.
        frames = returning.socket().chat("Still there?", model_id, session_id)
        assert frames[-1]["type"] == "done", frames[-1]
        assert fake_provider.requests[-1]["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"

    # The writer's conversation is whole as of one moment: every answer has its question.
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        answers, question = ChatMessage.__table__, aliased(ChatMessage.__table__)
        orphans = connection.execute(
            select(answers.c.id)
            .outerjoin(question, question.c.id == answers.c.parent_id)
            .where(answers.c.role == "assistant", (question.c.id.is_(None)) | (question.c.role != "user"))
        ).all()
        writers = connection.scalar(
            text("SELECT count(*) FROM ai_chat_messages m JOIN users u ON u.id = m.user_id WHERE u.username = 'writer'")
        )
    engine.dispose()
    assert orphans == []
    assert writers >= 2 * turns_before


@contextmanager
def app_on(database_url: str, instance: Path) -> Iterator[Flask]:
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH},
        instance_path=str(instance),
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def scratch_mysql(mysql_server_url, tmp_path) -> Iterator[tuple]:
    """An app of its own on a scratch MariaDB database (whichever database the suite runs on)."""
    name = f"aihelper_backup_dump_{os.getpid()}"
    with scratch_database(mysql_server_url, name) as url, app_on(url, tmp_path / "instance") as app:
        yield app, url


@pytest.fixture
def own_app(database_url, tmp_path) -> Iterator[Flask]:
    """An app on a database and an instance folder of its own, of the suite's kind: a restore
    replaces a SQLite file by renaming and the instance folder's keys, which the suite's running
    servers must never see."""
    if database_url.startswith("sqlite"):
        with app_on(f"sqlite:///{tmp_path / 'own.db'}", tmp_path / "own-instance") as app:
            yield app
        return
    name = f"aihelper_backup_own_{os.getpid()}"
    with scratch_database(database_url, name) as url, app_on(url, tmp_path / "own-instance") as app:
        yield app


def test_a_mariadb_dump_holds_no_writer_back_and_is_of_the_moment_it_began(scratch_mysql, tmp_path):
    app, url = scratch_mysql
    assert register(app.test_client(), "ann").status_code == 201
    other = create_engine(url, isolation_level="AUTOCOMMIT")
    waited = []

    def meanwhile(table: str, _rows: int) -> None:
        if table != "api_providers":  # the first table: the dump's transaction is open from here on
            return
        started = time.monotonic()
        with other.connect() as connection:
            # A write that had to wait for the dump would fail after 5 s instead of hanging.
            connection.execute(text("SET SESSION lock_wait_timeout = 5, innodb_lock_wait_timeout = 5"))
            connection.execute(text("UPDATE users SET message_count = 42"))
            connection.execute(text("INSERT INTO app_settings (`key`, value) VALUES ('written_meanwhile', '1')"))
        waited.append(time.monotonic() - started)

    with app.app_context():
        settings_before = db.session.scalar(text("SELECT count(*) FROM app_settings"))
        db.session.remove()
        outcome = backup.back_up(tmp_path / "backup", progress=meanwhile)
        assert db.session.scalar(text("SELECT count(*) FROM app_settings")) == settings_before + 1
    other.dispose()
    assert waited and waited[0] < 5
    # Both writes came after the moment the dump shows, though its tables were read after them.
    assert outcome.manifest["tables"]["app_settings"] == settings_before
    with gzip.open(tmp_path / "backup" / "tables" / "users.jsonl.gz", "rt") as lines:
        columns = json.loads(next(lines))["columns"]
        (ann,) = (dict(zip(columns, json.loads(line), strict=True)) for line in lines)
    assert ann["username"] == "ann" and ann["message_count"] == 0
    assert ann["create_time"].keys() == {"datetime"}


def test_a_restore_refuses_a_damaged_backup_or_one_from_a_newer_version_and_changes_nothing(own_app, tmp_path):
    app = own_app
    assert register(app.test_client(), "ann").status_code == 201
    with app.app_context():
        backup.back_up(tmp_path / "backup")
        manifest_path = tmp_path / "backup" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        key_file = tmp_path / "backup" / "keys" / "secret_key"
        key_file.write_text("not the key that was backed up\n")
        with pytest.raises(Invalid) as damaged:
            backup.restore(tmp_path / "backup", force=True)
        assert damaged.value.code == "backup_damaged"
        manifest["files"].pop("keys/secret_key")
        key_file.unlink()
        manifest_path.write_text(json.dumps({**manifest, "revision": "f00dfeedbeef"}))
        with pytest.raises(Conflict) as newer:
            backup.restore(tmp_path / "backup", force=True)
        assert newer.value.code == "backup_newer"
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(Conflict) as not_empty:
            backup.restore(tmp_path / "backup")
        assert not_empty.value.code == "restore_not_empty"
        assert db.session.scalar(text("SELECT username FROM users")) == "ann"
    assert (Path(app.instance_path) / "secret_key").read_text() != "not the key that was backed up\n"


def test_a_restore_reads_only_what_a_backup_is_made_of_each_file_listed_and_no_link(own_app, tmp_path):
    app = own_app
    assert register(app.test_client(), "ann").status_code == 201
    pristine = tmp_path / "pristine"
    with app.app_context():
        backup.back_up(pristine)
    key = "keys/secret_key"
    database = "aihelper.db" if (pristine / "aihelper.db").exists() else "tables/users.jsonl.gz"

    def manifest_with(folder: Path, change) -> None:
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))

    def link_in_place(folder: Path, relative: str) -> None:
        # The link leads to the same bytes: only that it is a link gives it away.
        moved = tmp_path / f"outside-{relative.replace('/', '-')}"
        if moved.exists():
            shutil.rmtree(moved) if moved.is_dir() else moved.unlink()
        (folder / relative).rename(moved)
        (folder / relative).symlink_to(moved)

    damages = {
        "files is no dict": lambda f: manifest_with(f, lambda m: m.update(files=list(m["files"]))),
        "a checksum is no hex": lambda f: manifest_with(f, lambda m: m["files"].update({key: 42})),
        "a row count is text": lambda f: manifest_with(f, lambda m: m["tables"].update(users="1")),
        "the revision is no text": lambda f: manifest_with(f, lambda m: m.update(revision=["x"])),
        "an absolute path": lambda f: manifest_with(f, lambda m: m["files"].update({"/etc/hostname": "0" * 64})),
        "a path up and out": lambda f: manifest_with(f, lambda m: m["files"].update({"keys/../../x": "0" * 64})),
        "a file a backup has not": lambda f: manifest_with(f, lambda m: m["files"].update({"config.py": "0" * 64})),
        "the database unlisted": lambda f: manifest_with(f, lambda m: m["files"].pop(database)),
        "a file on disk unlisted": lambda f: (f / "attachments").mkdir() or (f / "attachments" / ("a" * 32)).touch(),
        "a key is a link": lambda f: link_in_place(f, key),
        "the keys folder is a link": lambda f: link_in_place(f, "keys"),
        "the manifest is a link": lambda f: link_in_place(f, "manifest.json"),
    }
    instance_key = (Path(app.instance_path) / "secret_key").read_bytes()
    for damage, apply in damages.items():
        folder = tmp_path / "backup"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(pristine, folder)
        apply(folder)
        with app.app_context(), pytest.raises(Invalid) as refused:
            backup.restore(folder, force=True)
        assert refused.value.code == "backup_damaged", damage
    with app.app_context():
        assert db.session.scalar(text("SELECT username FROM users")) == "ann"
        backup.restore(pristine, force=True)  # the untouched backup restores
    assert (Path(app.instance_path) / "secret_key").read_bytes() == instance_key


def test_a_backup_makes_its_own_folder_and_copies_only_files_a_restore_accepts(own_app, tmp_path):
    app = own_app
    client = app.test_client()
    assert register(client, "ann").status_code == 201
    uploaded = client.post("/api/attachments", data={"file": (io.BytesIO(b"# notes"), "notes.md")})
    assert uploaded.status_code == 201, uploaded.json
    with app.app_context():
        empty = tmp_path / "empty"
        empty.mkdir(mode=0o755)
        backup.back_up(empty)  # an empty folder of this user's will do, made private
        assert stat.S_IMODE(empty.stat().st_mode) == 0o700
        with pytest.raises(Conflict) as not_empty:
            backup.back_up(empty)
        assert not_empty.value.code == "backup_folder_not_empty"
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
        (tmp_path / "file").touch()
        for unusable in ("link", "file"):
            with pytest.raises(Conflict) as refused:
                backup.back_up(tmp_path / unusable)
            assert refused.value.code == "backup_folder_unusable", unusable
        assert list((tmp_path / "elsewhere").iterdir()) == []

        # Rows naming files outside their folders (a restore would refuse such names) copy nothing.
        db.session.execute(text("UPDATE attachments SET storage_name = '../secret_key'"))
        db.session.execute(text("UPDATE users SET avatar = '/avatars/../encryption_keys'"))
        db.session.commit()
        outcome = backup.back_up(tmp_path / "new" / "backup")
    assert [(w.key, w.values) for w in outcome.warnings] == [("backup_file_names_refused", {"count": 2})]
    assert [name for name in outcome.manifest["files"] if name.startswith(("attachments/", "avatars/"))] == []
