"""A request's uploaded file read as it arrives, a piece at a time.

Reading `request.files` would parse the whole multipart body first, in one go (tens of
milliseconds for a 32 MB import, on the loop every stream of the worker shares), and spool it to a
temporary file. Here werkzeug's own multipart decoder is fed a piece at a time instead, and the
file's bytes are handed on as they are decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import request
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

PIECE = 64 * 1024
_PARTS_MAX = 10  # the page sends one; a form of thousands of parts is refused early
_BUFFER_MAX = 4 * PIECE


class BadUpload(Exception):
    """The body is not the multipart form it says it is."""


def uploaded_file(field: str, named: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """The bytes of the form's file `field` (nothing if there is none) of a multipart request, or the
    body of any other request, in pieces. Reading past the request's max_content_length, or a
    form of too many parts or headers too long, raises werkzeug's RequestEntityTooLarge; a
    malformed form raises BadUpload. `named` is told the file's name as the client gave it."""
    stream = request.stream
    if request.mimetype != "multipart/form-data":
        while piece := stream.read(PIECE):
            yield piece
        return
    boundary = request.mimetype_params.get("boundary", "").encode("latin-1", "replace")
    if not boundary:
        raise BadUpload
    # Its buffer never holds more than a piece and a boundary: anything longer (a part's headers
    # running for megabytes) is refused before werkzeug parses it in one go.
    decoder = MultipartDecoder(boundary, _BUFFER_MAX, max_parts=_PARTS_MAX)
    in_field = False
    while True:
        piece = stream.read(PIECE)
        decoder.receive_data(piece or None)
        try:
            event = decoder.next_event()
            while not isinstance(event, NeedData | Epilogue):
                if isinstance(event, File | Field):
                    in_field = isinstance(event, File) and event.name == field
                    if in_field and named is not None:
                        named(event.filename or "")
                elif isinstance(event, Data) and in_field and event.data:
                    yield event.data
                event = decoder.next_event()
        except ValueError:
            raise BadUpload from None
        if isinstance(event, Epilogue):
            return
        if not piece:  # the body ended before the form did
            raise BadUpload
