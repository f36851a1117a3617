"""Attachments (SECURITY.md rules 2, 8 and 11): uploaded, checked and read in a child process
(file_reader.py), stored under random names in the attachments folder, readable by their owner
only, linked to the question they are sent with, and deleted with it.

A file someone else owns answers exactly like one that does not exist (NotFound). Nothing of a
file's name is ever used as a path; it is kept as text, cut and without control characters.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import current_app
from sqlalchemy import delete, func, select, update

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, NotFound, TooLarge, UnsupportedType
from aihelper.i18n import N_
from aihelper.models import Attachment, ChatMessage

log = logging.getLogger(__name__)

READER = Path(__file__).with_name("file_reader.py")
NAME_MAX = 255
URL_PREFIX = "/api/attachments/"
IMAGE, DOCUMENT = "image", "document"
TEXT_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".csv": "text/csv"}
IMPORT_FILES_MAX = 1000  # files one import brings in
# Readers at once per worker: each may take AIHELPER_EXTRACT_MEMORY_MB; more uploads wait their turn.
READERS = threading.BoundedSemaphore(2)
# All a reader needs of the environment: nothing of the worker's (its database URL, its secrets).
READER_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
# What the reader says of a file it refuses, as the API answers it.
_REFUSALS = {
    "image_too_large": (TooLarge, "too_large", N_("attachment_too_complex")),
    "archive_too_large": (TooLarge, "too_large", N_("attachment_too_complex")),
    "file_too_complex": (TooLarge, "too_large", N_("attachment_too_complex")),
    "unsupported_file": (UnsupportedType, "unsupported_file", N_("attachment_unsupported")),
    "unreadable_file": (UnsupportedType, "unsupported_file", N_("attachment_unreadable")),
}


def folder() -> Path:
    configured = current_app.config["AIHELPER_ATTACHMENTS_DIR"]
    path = Path(configured) if configured else Path(current_app.instance_path) / "attachments"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def shown_name(name: str) -> str:
    """The file's name as the person gave it, for showing only: no folders, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    return (cleaned or "file")[:NAME_MAX]


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "kind": attachment.kind,
        "name": attachment.name,
        "size": attachment.size,
        "media_type": attachment.media_type,
        "url": URL_PREFIX + attachment.id,
        "text_chars": len(attachment.text),
        "sent_chars": attachment.sent_chars,
    }


def _limit_child(memory_mb: int, seconds: float) -> None:
    """Runs in the child before it becomes the reader: its memory and CPU time are capped."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024,) * 2)
    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def _read_in_child(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The reader's verdict on the file, from a child process with a time and a memory limit
    (waiting for it yields to the worker's other greenlets: gevent's subprocess)."""
    config = current_app.config
    seconds = config["AIHELPER_EXTRACT_SECONDS"]
    try:
        with READERS:
            # A fixed command (this interpreter, isolated, and the reader); the file goes on stdin.
            finished = subprocess.run(  # noqa: S603
                [sys.executable, "-I", str(READER)],
                input=data,
                capture_output=True,
                timeout=seconds,
                preexec_fn=partial(_limit_child, config["AIHELPER_EXTRACT_MEMORY_MB"], seconds),
                env=READER_ENVIRONMENT,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise TooLarge("too_large", N_("attachment_too_complex")) from None
    header, _, rest = finished.stdout.partition(b"\n")
    try:
        described = json.loads(header)
    except ValueError:  # killed by a limit, or crashed: a file too much for it
        log.warning("the file reader ended with %s and no answer", finished.returncode)
        raise TooLarge("too_large", N_("attachment_too_complex")) from None
    if "refused" in described:
        kind, code, message = _REFUSALS.get(described["refused"], _REFUSALS["unreadable_file"])
        raise kind(code, message)
    text_bytes = described.pop("text_bytes")
    described["text"] = rest[:text_bytes].decode("utf-8")
    return described, rest[text_bytes:]


def upload(user_id: int, pieces: Iterable[bytes], names: list[str]) -> Attachment:
    """Store an uploaded file of the user's, or refuse it (413 too large, 415 a type not taken)
    with nothing written to disk or to the database. `names` gets the file's name as the pieces
    are read (a multipart form says it before the file)."""
    config = current_app.config
    limit = config["AIHELPER_ATTACHMENT_MAX_MB"] * 1024 * 1024
    received = bytearray()
    for piece in pieces:
        received += piece
        if len(received) > limit:
            raise TooLarge("too_large", N_("attachment_too_large"), limit=str(config["AIHELPER_ATTACHMENT_MAX_MB"]))
    if not received:
        raise Invalid("missing_file", N_("attachment_missing"))
    attachment = _stored(user_id, bytes(received), shown_name(names[0] if names else ""), None)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        remove_files([attachment.storage_name])
        raise
    return attachment


def _used_by(user_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.user_id == user_id))


def _stored(user_id: int, data: bytes, name: str, message_id: int | None) -> Attachment:
    """A file read by the child and written under a new random name, its row added to the
    session (the caller commits; on failure it removes the file)."""
    quota_mb = current_app.config["AIHELPER_ATTACHMENT_QUOTA_MB"]
    if _used_by(user_id) + len(data) > quota_mb * 1024 * 1024:  # before the reader's work, as after it
        raise TooLarge("storage_full", N_("attachment_storage_full"), limit=str(quota_mb))
    described, image = _read_in_child(data)
    if described["media_type"] == "text/plain":  # the name only tells which kind of text
        described["media_type"] = TEXT_TYPES.get(Path(name).suffix.lower(), "text/plain")
    stored = image if described["kind"] == IMAGE else data
    if _used_by(user_id) + len(stored) > quota_mb * 1024 * 1024:
        raise TooLarge("storage_full", N_("attachment_storage_full"), limit=str(quota_mb))
    storage_name = secrets.token_hex(16)
    (folder() / storage_name).write_bytes(stored)
    attachment = Attachment(
        id=secrets.token_urlsafe(16),
        user_id=user_id,
        message_id=message_id,
        kind=described["kind"],
        name=name,
        media_type=described["media_type"],
        size=len(stored),
        sha256=described["sha256"],
        storage_name=storage_name,
        text=described.get("text", ""),
    )
    db.session.add(attachment)
    return attachment


def copies(user_id: int, originals: list[Attachment]) -> list[Attachment]:
    """Unsent copies of a question's files, for an edit of it that keeps them: the edited question
    keeps its own in its branch. A copy shares the bytes through a hard link (a plain copy where
    the folder takes none)."""
    base, made = folder(), []
    for original in originals:
        storage_name = secrets.token_hex(16)
        try:
            os.link(base / original.storage_name, base / storage_name)
        except OSError:
            shutil.copyfile(base / original.storage_name, base / storage_name)
        made.append(
            Attachment(
                id=secrets.token_urlsafe(16),
                user_id=user_id,
                kind=original.kind,
                name=original.name,
                media_type=original.media_type,
                size=original.size,
                sha256=original.sha256,
                storage_name=storage_name,
                text=original.text,
            )
        )
    db.session.add_all(made)
    try:
        db.session.commit()
    except Exception:
        remove_files(a.storage_name for a in made)
        raise
    return made


def bring_imported(user_id: int, named: list[tuple[int, list[dict[str, Any]]]], member: Callable[[str], bytes | None]):
    """The files an imported export names for its new messages, read from the zip (`member`)
    and checked like any upload; one missing, too large or refused is left out. Returns how
    many were attached."""
    config = current_app.config
    limit, per_message = config["AIHELPER_ATTACHMENT_MAX_MB"] * 1024 * 1024, config["AIHELPER_ATTACHMENTS_PER_MESSAGE"]
    brought, seen = 0, set()
    for message_id, refs in named:
        attached = []
        for ref in refs[:per_message]:
            if ref["file"] in seen or len(seen) >= IMPORT_FILES_MAX:  # a file is brought in once
                continue
            seen.add(ref["file"])
            data = member(ref["file"])
            if not data or len(data) > limit:
                continue
            try:
                attachment = _stored(user_id, data, shown_name(ref["name"]), message_id)
            except (TooLarge, UnsupportedType):
                continue
            attachment.position = len(attached)
            attached.append(attachment)
        if attached:
            db.session.execute(
                update(ChatMessage).where(ChatMessage.id == message_id).values(attachment_count=len(attached))
            )
            try:
                db.session.commit()
            except Exception:
                db.session.rollback()
                remove_files(a.storage_name for a in attached)
                raise
            brought += len(attached)
    return brought


def quoted_name(attachment: Attachment) -> str:
    """The name for a Content-Disposition header (RFC 5987: percent-encoded UTF-8)."""
    return quote(attachment.name, safe="")


def owned(user_id: int, attachment_id: str) -> Attachment:
    """The user's attachment; anyone else's, or none, is NotFound (the same answer)."""
    attachment = db.session.get(Attachment, attachment_id) if 0 < len(attachment_id) <= 32 else None
    if attachment is None or attachment.user_id != user_id:
        raise NotFound("not_found", N_("attachment_not_found"))
    return attachment


def file_of(attachment: Attachment) -> Path:
    path = folder() / attachment.storage_name
    if not path.is_file():
        raise NotFound("not_found", N_("attachment_not_found"))
    return path


def delete_unsent(user_id: int, attachment_id: str) -> None:
    """Remove an upload from the composer; one sent with a message goes only with that message."""
    attachment = owned(user_id, attachment_id)
    if attachment.message_id is not None:
        raise Conflict("attachment_sent", N_("attachment_sent"))
    storage_name = attachment.storage_name
    db.session.delete(attachment)
    db.session.commit()
    remove_files([storage_name])


def unsent(user_id: int, attachment_ids: Sequence[str]) -> list[Attachment]:
    """The user's uploads not yet sent, in the order given: for the question a turn stores."""
    if not attachment_ids:
        return []
    if len(attachment_ids) > current_app.config["AIHELPER_ATTACHMENTS_PER_MESSAGE"]:
        limit = current_app.config["AIHELPER_ATTACHMENTS_PER_MESSAGE"]
        raise Invalid("too_many_attachments", N_("too_many_attachments"), limit=str(limit))
    found = {
        a.id: a
        for a in db.session.scalars(
            select(Attachment).where(Attachment.id.in_(attachment_ids), Attachment.user_id == user_id)
        )
    }
    if len(found) != len(set(attachment_ids)) or any(a.message_id is not None for a in found.values()):
        raise NotFound("not_found", N_("attachment_not_found"))
    return [found[i] for i in dict.fromkeys(attachment_ids)]


def of_messages(message_ids: Iterable[int]) -> dict[int, list[Attachment]]:
    """The attachments of these messages, each message's in the order they were sent."""
    ids = list(message_ids)
    if not ids:
        return {}
    found: dict[int, list[Attachment]] = {}
    statement = select(Attachment).where(Attachment.message_id.in_(ids)).order_by(Attachment.position, Attachment.id)
    for attachment in db.session.scalars(statement):
        found.setdefault(attachment.message_id, []).append(attachment)
    return found


def storage_names_of_messages(message_ids: Sequence[int]) -> list[str]:
    if not message_ids:
        return []
    return list(db.session.scalars(select(Attachment.storage_name).where(Attachment.message_id.in_(message_ids))))


def remove_files(storage_names: Iterable[str]) -> None:
    """Delete these files from the folder (after their rows are gone)."""
    base = folder()
    for name in storage_names:
        (base / name).unlink(missing_ok=True)


def delete_user_files(user_id: int) -> None:
    """Every file of an account about to be deleted (its rows go with it by the foreign key)."""
    names = db.session.scalars(select(Attachment.storage_name).where(Attachment.user_id == user_id)).all()
    db.session.execute(delete(Attachment).where(Attachment.user_id == user_id))
    db.session.commit()
    remove_files(names)


UNSENT_FOR = timedelta(days=1)


def sweep(now: datetime) -> int:
    """The daily clean-up: uploads never sent within a day, and files no row names (a worker that
    died between writing a file and storing its row); returns how many files went."""
    old_unsent = select(Attachment.id, Attachment.storage_name).where(
        Attachment.message_id.is_(None), Attachment.create_time < now - UNSENT_FOR
    )
    doomed = db.session.execute(old_unsent).all()
    if doomed:
        db.session.execute(delete(Attachment).where(Attachment.id.in_([row.id for row in doomed])))
        db.session.commit()
    remove_files(row.storage_name for row in doomed)
    known = set(db.session.scalars(select(Attachment.storage_name)))
    cutoff = (now - UNSENT_FOR).replace(tzinfo=UTC).timestamp()
    strays = [path for path in folder().iterdir() if path.name not in known and path.stat().st_mtime < cutoff]
    for path in strays:
        path.unlink(missing_ok=True)
    return len(doomed) + len(strays)
