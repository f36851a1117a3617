"""What a client sent and the app never read is read here, taking turns with the worker's streams.

An answer given before its request's body was read (an import refused at its first bytes, a body
over the size limit, a refused host) leaves the rest of the body on the connection. gunicorn reads
it away before the connection's next request, 1 KB at a time and without yielding while more has
arrived: a refused 32 MB upload held every stream of the worker for half a second. Here it is read
64 KB at a time between the worker's other work instead, once the answer is sent; past
DRAIN_MAX the connection is given up, so a client that never stops sending is not read for ever.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from aihelper.fair_db import Turns

PIECE = 64 * 1024
DRAIN_MAX = 64 * 1024 * 1024  # twice the largest body any route takes


def _has_body(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH") or ""
    return (length.isdigit() and int(length) > 0) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


class DrainUnreadBody:
    """WSGI middleware: a request with a body gets what is left of it read after its answer."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response):
        response = self.app(environ, start_response)
        # Only a request with a body is wrapped: a wrapped answer can't be sent with sendfile().
        return _Drained(response, environ["wsgi.input"]) if _has_body(environ) else response


class _Drained:
    def __init__(self, response: Iterable[bytes], body: Any) -> None:
        self.response = response
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()
        finally:
            self._drain()

    def _drain(self) -> None:
        turns = Turns()
        drained = 0
        try:
            while piece := self.body.read(PIECE):
                drained += len(piece)
                if drained > DRAIN_MAX:
                    # gunicorn's mark of a body it could not read: the connection closes instead
                    # of being read further.
                    self.body.failed = True
                    return
                turns.take()
        except Exception:  # the client went away, or sent a broken chunk: the connection is done
            self.body.failed = True
