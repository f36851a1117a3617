"""Backing up and restoring an installation (`flask --app app backup DIR` / `restore DIR`).

A backup folder holds the database, the instance folder's keys and the uploaded files, with a
`manifest.json` written last (a folder without one is no backup):

- SQLite: `aihelper.db`, a copy made by SQLite's online backup API in one step: one read
  transaction, so a consistent snapshot; in WAL mode the app's writers go on meanwhile.
- MySQL / MariaDB: `tables/<table>.jsonl.gz`, read in one REPEATABLE READ transaction started WITH
  CONSISTENT SNAPSHOT (InnoDB's consistent reads take no locks: writers go on), in primary-key order
  in pages. Each file is a header line (table, columns) and one JSON array per row; values JSON has
  no type for are tagged ({"datetime": …}, {"date": …}, {"decimal": …}, {"bytes": base64}).
- `keys/`: `secret_key` (sessions) and `encryption_keys` (the provider keys' Fernet keys).
- `attachments/` and `avatars/`: the files the database's snapshot names. A file is written before
  its row is committed, so those are complete; files no row of the snapshot names (one being written
  now, a stray) are left out.

The folder is 0700 and every file in it 0600: it holds every chat and the keys that decrypt the
provider keys. The manifest is no signature: whoever can write a backup can replace its keys, so a
backup is trusted like the keys it holds. A restore still reads only the files a backup of this
kind is made of, each listed with its checksum, none through a symbolic link.

A restore goes into a database of the same kind, at the schema revision the backup was made at (the
code's newest; an older backup is refused with how to bring it forward), that holds nothing — or,
with `force`, whose contents it replaces. The database is all or nothing: one transaction on MySQL,
on SQLite a new file checked and then renamed over the old one. The files come first (the rows that
name them find them), the keys last (until the database is restored, the old keys still read the old
provider keys). Running it again gives the same result. The logins do not come back (everyone logs in
again): with the old secret key, cookies logged out or revoked since the backup would work again.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from alembic.util.exc import CommandError
from flask import current_app
from sqlalchemy import (
    Column,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    func,
    inspect,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from aihelper.config import SECRET_FILES
from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, Term
from aihelper.i18n import N_
from aihelper.models import Attachment, LoginSession, User
from aihelper.schema import current_revision, head_revision, migration_scripts
from aihelper.services import attachments, avatars
from aihelper.times import iso_utc, utcnow

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "aihelper.db"
TABLES = "tables"
# Rows read or written at a time: messages may be long, so a page stays a few MB.
PAGE_ROWS = 500
# The only file names a backup copies and a restore writes into the instance folder (the
# manifest is not trusted to name paths).
_FILE_NAMES = {"attachments": re.compile(r"[0-9a-f]{32}"), "avatars": avatars.AVATAR_NAME}
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")

Progress = Callable[[str, int], None]


def _quiet(_table: str, _rows: int) -> None:
    pass


@dataclass
class Outcome:
    """What a backup or a restore did: the manifest, and what the operator should know."""

    manifest: dict[str, Any]
    warnings: list[Term] = field(default_factory=list)


@dataclass
class _Snapshot:
    revision: str | None
    rows: dict[str, int]
    attachment_names: list[str]
    avatar_names: list[str]


def database_kind() -> str:
    name = db.engine.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def back_up(folder: Path, progress: Progress = _quiet) -> Outcome:
    """Write a backup of the installation into `folder` (new or empty)."""
    _make_backup_folder(folder)
    kind = database_kind()
    snapshot = _copy_sqlite(folder / SQLITE_FILE) if kind == "sqlite" else _dump_mysql(folder / TABLES, progress)
    warnings = []
    missing, refused = _copy_named(attachments.folder(), folder / "attachments", snapshot.attachment_names)
    more_missing, more_refused = _copy_named(avatars.avatar_folder(), folder / "avatars", snapshot.avatar_names)
    if missing + more_missing:
        warnings.append(Term(N_("backup_files_missing"), count=missing + more_missing))
    if refused + more_refused:
        warnings.append(Term(N_("backup_file_names_refused"), count=refused + more_refused))
    warnings += _copy_keys(Path(current_app.instance_path), folder / "keys")
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "revision": snapshot.revision,
        "created_at": iso_utc(utcnow()),
        "tables": snapshot.rows,
        "files": {
            path.relative_to(folder).as_posix(): _sha256(path) for path in sorted(folder.rglob("*")) if path.is_file()
        },
    }
    with _private_file(folder / MANIFEST) as handle:
        handle.write(json.dumps(manifest, indent=1).encode())
    return Outcome(manifest, warnings)


def _make_backup_folder(folder: Path) -> None:
    """Make the leaf folder, or take an existing one only if it is an empty folder of this user's
    (not a link to one: the keys would go wherever it points)."""
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        try:
            handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            raise Conflict("backup_folder_unusable", N_("backup_folder_unusable"), folder=str(folder)) from None
        try:
            if os.fstat(handle).st_uid != os.getuid():
                raise Conflict("backup_folder_unusable", N_("backup_folder_unusable"), folder=str(folder))
            if os.listdir(handle):
                raise Conflict("backup_folder_not_empty", N_("backup_folder_not_empty"), folder=str(folder))
            os.fchmod(handle, 0o700)
        finally:
            os.close(handle)
    else:
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask


def restore(folder: Path, *, force: bool = False, progress: Progress = _quiet) -> Outcome:
    """Restore the backup in `folder` into the configured database and instance folder. The login
    sessions are emptied: everyone logs in again."""
    manifest = _checked_manifest(folder)
    kind = database_kind()
    if manifest["kind"] != kind:
        raise Conflict("backup_other_database", N_("backup_other_database"), kind=manifest["kind"], configured=kind)
    _check_revision(manifest["revision"])
    if not force and any(_row_counts(db.session.connection(), _tables_here()).values()):
        raise Conflict("restore_not_empty", N_("restore_not_empty"))
    db.session.remove()
    for kind_of_file in _FILE_NAMES:
        names = [path.split("/", 1)[1] for path in manifest["files"] if path.startswith(kind_of_file + "/")]
        target = attachments.folder() if kind_of_file == "attachments" else avatars.avatar_folder()
        for name in names:
            _put_in_place(folder / kind_of_file / name, target / name)
    if kind == "sqlite":
        _restore_sqlite(folder / SQLITE_FILE, manifest)
    else:
        _restore_mysql(folder / TABLES, manifest, force, progress)
    return Outcome(manifest, _restore_keys(folder, manifest))


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_path() -> Path:
    return Path(db.engine.url.database)


def _copy_sqlite(copy: Path) -> _Snapshot:
    with _private_file(copy):
        pass  # created 0600 before SQLite writes into it
    source, target = sqlite3.connect(_sqlite_path()), sqlite3.connect(copy)
    try:
        source.backup(target)  # one step (all pages): one read transaction, a consistent snapshot
        # A backup is one self-contained file (the app switches it back to WAL when it opens it).
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        source.close()
        target.close()
    return _sqlite_snapshot(copy)


def _sqlite_snapshot(path: Path) -> _Snapshot:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            users, files = User.__table__, Attachment.__table__
            return _Snapshot(
                revision=connection.scalar(select(_alembic_version().c.version_num)),
                rows=_row_counts(connection, _models()),
                attachment_names=list(connection.scalars(select(files.c.storage_name))),
                avatar_names=[
                    avatar.removeprefix(avatars.URL_PREFIX)
                    for avatar in connection.scalars(select(users.c.avatar).where(users.c.avatar.is_not(None)))
                ],
            )
    finally:
        engine.dispose()


def _restore_sqlite(copy: Path, manifest: dict[str, Any]) -> None:
    target = _sqlite_path()
    fresh = target.with_name(f".{target.name}.restoring")
    _put_in_place(copy, fresh)
    connection = sqlite3.connect(fresh)
    try:
        intact = connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        snapshot = _sqlite_snapshot(fresh) if intact else None
    except (sqlite3.DatabaseError, SQLAlchemyError):  # not an SQLite file, or not aihelper's
        snapshot = None
    finally:
        connection.close()
    if snapshot is None or snapshot.rows != manifest["tables"] or snapshot.revision != manifest["revision"]:
        fresh.unlink()
        raise Invalid("backup_damaged", N_("backup_damaged"), file=SQLITE_FILE)
    connection = sqlite3.connect(fresh)
    try:
        with connection:
            connection.execute("DELETE FROM login_sessions")
    finally:
        connection.close()
    for engine in db.engines.values():
        engine.dispose()
    # The old file's write-ahead log must not outlive it: SQLite would replay it into the new one.
    old = sqlite3.connect(target)
    old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    old.close()
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(fresh, target)


# --- MySQL / MariaDB ------------------------------------------------------------------------


def _models() -> list[Table]:
    return list(db.metadata.sorted_tables)


def _tables_here(connection: Connection | None = None) -> list[Table]:
    """The tables of aihelper's data: the models', and on MySQL the search index (a table there,
    filled from the messages; on SQLite an FTS5 table inside the file)."""
    tables = _models()
    if database_kind() == "mysql":
        connection = connection or db.session.connection()
        if inspect(connection).has_table("message_search"):
            tables.append(Table("message_search", MetaData(), autoload_with=connection))
    return tables


def _alembic_version() -> Table:
    return Table("alembic_version", MetaData(), Column("version_num", String(32), primary_key=True))


def _row_counts(connection: Connection, tables: Iterable[Table]) -> dict[str, int]:
    return {table.name: connection.scalar(select(func.count()).select_from(table)) for table in tables}


def _dump_mysql(folder: Path, progress: Progress) -> _Snapshot:
    folder.mkdir(mode=0o700)
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        tables = [*_tables_here(connection), _alembic_version()]
        connection.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            rows, names = {}, {"attachments": [], "users": []}
            for table in tables:
                with _private_file(folder / f"{table.name}.jsonl.gz") as raw, _jsonl_writer(raw) as out:
                    out.write(_line({"table": table.name, "columns": [c.name for c in table.columns]}))
                    rows[table.name] = 0
                    for row in _pages(connection, table):
                        out.write(_line([_encoded(value) for value in row]))
                        rows[table.name] += 1
                        if table.name == "attachments":
                            names["attachments"].append(row.storage_name)
                        elif table.name == "users" and row.avatar:
                            names["users"].append(row.avatar.removeprefix(avatars.URL_PREFIX))
                progress(table.name, rows[table.name])
            revision = connection.scalar(select(_alembic_version().c.version_num))
        finally:
            connection.rollback()
    del rows["alembic_version"]
    return _Snapshot(revision, rows, names["attachments"], names["users"])


def _pages(connection: Connection, table: Table) -> Iterator[Any]:
    """Every row of `table` in primary-key order, PAGE_ROWS at a time (keyset paging: each page
    starts after the last key, so a page costs the same wherever it is)."""
    key = list(table.primary_key.columns)
    # Money columns read as floats in the app; here as exact decimals.
    shown = [
        type_coerce(c, Numeric(c.type.precision, c.type.scale)).label(c.name) if isinstance(c.type, Numeric) else c
        for c in table.columns
    ]
    query = select(*shown).order_by(*key).limit(PAGE_ROWS)
    after = None
    while True:
        page = connection.execute(query if after is None else query.where(tuple_(*key) > tuple_(*after))).all()
        yield from page
        if len(page) < PAGE_ROWS:
            return
        after = [getattr(page[-1], c.name) for c in key]


def _restore_mysql(folder: Path, manifest: dict[str, Any], replace: bool, progress: Progress) -> None:
    with db.engine.connect() as connection:
        tables = _tables_here(connection)
        if sorted(t.name for t in tables) != sorted(manifest["tables"]):
            raise Invalid("backup_damaged", N_("backup_damaged"), file=TABLES)
        # The rows are one consistent snapshot: their references hold once all are in, whatever
        # order they go in (a message before its parent). The setting is the connection's only.
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        try:
            if replace:
                for table in reversed(tables):
                    connection.execute(table.delete())
            for table in tables:
                progress(table.name, _load(connection, table, folder / f"{table.name}.jsonl.gz"))
            if _row_counts(connection, tables) != manifest["tables"]:
                raise Invalid("backup_damaged", N_("backup_damaged"), file=TABLES)
            connection.execute(LoginSession.__table__.delete())
            connection.commit()
        finally:
            # Not part of the transaction: back on before the connection returns to the pool (which
            # rolls back whatever was not committed).
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")


def _load(connection: Connection, table: Table, path: Path) -> int:
    columns = [c.name for c in table.columns]
    try:
        with _read_backup_file(path) as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            if json.loads(next(lines)) != {"table": table.name, "columns": columns}:
                raise ValueError("another table's header")
            loaded, batch = 0, []
            for line in lines:
                batch.append(dict(zip(columns, (_decoded(value) for value in json.loads(line)), strict=True)))
                if len(batch) == PAGE_ROWS:
                    connection.execute(table.insert(), batch)
                    loaded, batch = loaded + len(batch), []
            if batch:
                connection.execute(table.insert(), batch)
            return loaded + len(batch)
    except (OSError, EOFError, StopIteration, ValueError, TypeError, KeyError, AttributeError):
        # Not what a backup writes (a checksum listed for it proves nothing of its author).
        raise Invalid("backup_damaged", N_("backup_damaged"), file=path.name) from None


def _encoded(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    return value


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "decimal": Decimal,
    "bytes": base64.b64decode,
}


def _decoded(value: Any) -> Any:
    """A column holds scalars: a JSON object in a row is always one of _encoded's tags."""
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _DECODERS[tag](text)
    return value


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


@contextmanager
def _jsonl_writer(raw: IO[bytes]) -> Iterator[IO[str]]:
    with gzip.GzipFile(fileobj=raw, mode="wb") as packed, io.TextIOWrapper(packed, encoding="utf-8") as text:
        yield text


# --- files and keys -------------------------------------------------------------------------


@contextmanager
def _private_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file readable by its owner only (0600 from the start, whatever the umask)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        yield handle


def _copy_named(source: Path, target: Path, names: list[str]) -> tuple[int, int]:
    """Copy the files `names` from `source`; returns how many were gone (deleted since the
    snapshot was taken: their rows are gone too by now) and how many were left out for a name a
    restore would refuse (a row naming `../secret_key` must not copy it)."""
    missing = refused = 0
    for name in names:
        if not _FILE_NAMES[target.name].fullmatch(name):
            refused += 1
            continue
        try:
            with open(source / name, "rb") as original, _private_file(target / name) as copy:
                shutil.copyfileobj(original, copy)
        except FileNotFoundError:
            missing += 1
    return missing, refused


def _copy_keys(instance: Path, target: Path) -> list[Term]:
    """The key files of the instance folder; a key set elsewhere (the environment,
    instance/config.py) is the operator's to keep."""
    warnings = []
    for setting, (filename, _generate) in SECRET_FILES.items():
        if setting in current_app.config["AIHELPER_SECRETS_FROM_FILES"]:
            with _private_file(target / filename) as copy:
                copy.write((instance / filename).read_bytes())
        else:
            warnings.append(Term(N_("backup_key_elsewhere"), setting=setting))
    return warnings


def _restore_keys(folder: Path, manifest: dict[str, Any]) -> list[Term]:
    warnings = []
    for setting, (filename, _generate) in SECRET_FILES.items():
        if f"keys/{filename}" in manifest["files"]:  # checked against its checksum
            _put_in_place(folder / "keys" / filename, Path(current_app.instance_path) / filename)
            if setting not in current_app.config["AIHELPER_SECRETS_FROM_FILES"]:
                warnings.append(Term(N_("restore_key_overridden"), setting=setting))
    return warnings


def _put_in_place(source: Path, target: Path) -> None:
    """Copy `source` to `target` (0600) through a temporary name: `target` is never half written."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with _read_backup_file(source) as original, _private_file(partial) as copy:
        shutil.copyfileobj(original, copy)
    os.replace(partial, target)


def _read_backup_file(path: Path) -> IO[bytes]:
    """A file of the backup, opened only if it is no symbolic link (the folders on the way were
    checked in _checked_manifest)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _read_backup_file(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- checks ---------------------------------------------------------------------------------


def _checked_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, if the folder holds exactly the files a backup of its kind is made of, each
    a regular file with the listed checksum (a symbolic link anywhere is refused)."""
    present, odd = _regular_files(folder)
    if odd:
        raise Invalid("backup_damaged", N_("backup_damaged"), file=odd)
    try:
        with _read_backup_file(folder / MANIFEST) as handle:
            manifest = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        raise Invalid("backup_incomplete", N_("backup_incomplete"), folder=str(folder)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Invalid("backup_incomplete", N_("backup_incomplete"), folder=str(folder))
    if not _well_formed(manifest):
        raise Invalid("backup_damaged", N_("backup_damaged"), file=MANIFEST)
    listed = manifest["files"]
    unexpected = _unexpected_files(manifest["kind"], manifest["tables"], listed)
    if unexpected:
        raise Invalid("backup_damaged", N_("backup_damaged"), file=unexpected)
    if present != {*listed, MANIFEST}:
        raise Invalid("backup_damaged", N_("backup_damaged"), file=min(present ^ {*listed, MANIFEST}))
    for relative, digest in listed.items():
        try:
            intact = _sha256(folder / relative) == digest
        except OSError:  # replaced by a link since the walk
            intact = False
        if not intact:
            raise Invalid("backup_damaged", N_("backup_damaged"), file=relative)
    return manifest


def _well_formed(manifest: dict[str, Any]) -> bool:
    tables, files = manifest.get("tables"), manifest.get("files")
    return (
        manifest.get("kind") in ("sqlite", "mysql")
        and isinstance(manifest.get("revision"), str)
        and isinstance(manifest.get("created_at"), str)
        and isinstance(tables, dict)
        and all(
            isinstance(name, str) and _TABLE_NAME.fullmatch(name) and type(rows) is int and rows >= 0
            for name, rows in tables.items()
        )
        and isinstance(files, dict)
        and all(isinstance(digest, str) and _SHA256.fullmatch(digest) for digest in files.values())
    )


def _unexpected_files(kind: str, tables: dict[str, int], listed: dict[str, str]) -> str | None:
    """The first file the manifest lists that no backup of `kind` holds, or that a backup of it
    must hold and it does not list; None if it lists exactly a backup's files."""
    if kind == "sqlite":
        required = {SQLITE_FILE}
    else:
        required = {f"{TABLES}/{name}.jsonl.gz" for name in [*tables, "alembic_version"]}
    if required - listed.keys():
        return min(required - listed.keys())
    keys = {f"keys/{filename}" for filename, _generate in SECRET_FILES.values()}
    for relative in sorted(listed.keys() - required - keys):
        kind_of_file, _, name = relative.partition("/")
        if kind_of_file not in _FILE_NAMES or not _FILE_NAMES[kind_of_file].fullmatch(name):
            return relative
    return None


def _regular_files(folder: Path) -> tuple[set[str], str | None]:
    """The relative paths of the regular files under `folder`, and the first entry that is
    neither a regular file nor a folder (a symbolic link, a device), if any."""
    files = set()
    for parent, folders, names in os.walk(folder):
        for name in sorted([*folders, *names]):
            path = Path(parent, name)
            mode = path.lstat().st_mode
            relative = path.relative_to(folder).as_posix()
            if stat.S_ISREG(mode):
                files.add(relative)
            elif not stat.S_ISDIR(mode):
                return files, relative
    return files, None


def _check_revision(revision: str) -> None:
    """The backup's rows fit this code's schema only at the same revision. An older backup is
    refused rather than migrated here: its rows would need the old schema first, and the
    migrations' DDL cannot be undone with a failed restore on MySQL."""
    head = head_revision()
    if revision != head:
        try:
            known = migration_scripts().get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            raise Conflict("backup_newer", N_("backup_newer"), revision=revision)
        raise Conflict("backup_older", N_("backup_older"), revision=revision, head=head)
    if current_revision() != head:
        raise Conflict("restore_schema_older", N_("restore_schema_older"))
