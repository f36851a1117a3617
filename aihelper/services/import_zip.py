"""An export zip brought back in (services/exports.py writes it): its `conversations.json`, read
as any export document, and the files beside it that the document names.

A zip is checked before anything is read from it: its entries' count, their sizes once
uncompressed and their ratio (a zip bomb is refused); a file is only ever looked up by the name
the document gives, and read at most to the attachment size limit. What the files are is decided
again by the file reader, as for an upload.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from typing import IO

from flask import current_app

from aihelper.failures import Invalid
from aihelper.i18n import N_
from aihelper.services.exports import DOCUMENT_NAME, FILES_FOLDER

ZIP_SIGNATURE = b"PK\x03\x04"
ENTRIES_MAX = 100_000
RATIO_MAX = 200  # a JSON document compresses well; a bomb far better
UNPACKED_PER_PACKED = 4  # what a zip of the import size limit may hold in all, unpacked
PIECE = 64 * 1024


def opened(stored: IO[bytes]) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(stored)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Invalid("import_invalid_zip", N_("import_invalid_zip")) from None
    packed = sum(entry.compress_size for entry in entries) or 1
    unpacked = sum(entry.file_size for entry in entries)
    limit = current_app.config["AIHELPER_IMPORT_MAX_MB"] * 1024 * 1024
    if len(entries) > ENTRIES_MAX or unpacked / packed > RATIO_MAX or unpacked > limit * UNPACKED_PER_PACKED:
        raise Invalid("import_invalid_zip", N_("import_invalid_zip"))
    return archive


def document(archive: zipfile.ZipFile) -> Iterator[bytes]:
    """The export document's bytes, in pieces, within the import's size limit (as sent alone)."""
    try:
        member = archive.open(DOCUMENT_NAME)
    except KeyError:
        raise Invalid("import_invalid_zip", N_("import_invalid_zip")) from None
    limit = current_app.config["AIHELPER_IMPORT_MAX_MB"] * 1024 * 1024  # as for a document sent alone
    read = 0
    with member:
        while piece := member.read(PIECE):
            read += len(piece)
            if read > limit:
                raise Invalid("import_invalid_zip", N_("import_invalid_zip"))
            yield piece


def reader(archive: zipfile.ZipFile) -> Callable[[str], bytes | None]:
    """Reads a file the document names (`files/<id>`), or None: not in the zip, or too large."""
    names = {entry.filename: entry for entry in archive.infolist() if entry.filename.startswith(FILES_FOLDER)}
    limit = current_app.config["AIHELPER_ATTACHMENT_MAX_MB"] * 1024 * 1024

    def read(name: str) -> bytes | None:
        entry = names.get(name)
        if entry is None or entry.file_size > limit:
            return None
        with archive.open(entry) as member:
            data = member.read(limit + 1)
        return data if len(data) <= limit else None

    return read
