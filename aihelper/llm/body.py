"""A provider's response body, read as it arrives.

http.client's chunked reader returns at most one chunk per read, and an OpenAI-compatible provider
sends one chunk per token: read through it, every token would cost a read, a parse and a frame of
its own. Here one read takes whatever the connection has buffered or receives next (up to 64 KB)
and removes the chunked framing from all of it, so that everything that arrived goes on at once.

Only a body sent as it is (no Content-Encoding) is read this way, straight from the connection's
buffer under urllib3; a compressed one, which the streaming request never asks for, is read
through urllib3, which decompresses it. Once a body was read to its end the connection goes back
to urllib3's pool for the next request.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from typing import Final

import urllib3
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from aihelper.llm.errors import ProviderError

READ_SIZE: Final = 64 * 1024
# A chunk-size line or a trailer is a few bytes; anything longer is not HTTP.
_MAX_LINE: Final = 4096
_MAX_TRAILERS: Final = 8192

_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_SIZE, _DATA, _DATA_END, _TRAILERS, _END = range(5)


class ChunkedDecoder:
    """The chunked transfer coding (RFC 9112 §7.1) removed from bytes given in pieces of any size."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._state = _SIZE
        self._left = 0  # data bytes still to come in the current chunk
        self._trailers = 0  # bytes of trailer lines so far

    @property
    def complete(self) -> bool:
        """The last chunk and the trailer section arrived: the body is over."""
        return self._state == _END

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data` (and in what earlier pieces left incomplete)."""
        buffer = self._pending
        buffer += data
        out: list[bytes] = []
        pos, end = 0, len(buffer)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._left, end - pos)
                out.append(bytes(buffer[pos : pos + take]))
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    raise _framing("a chunk is longer than its size")
                pos += 2
                self._state = _SIZE
            elif state == _END:
                break
            else:
                line_end = buffer.find(b"\r\n", pos)
                if (line_end if line_end >= 0 else end) - pos > _MAX_LINE:
                    raise _framing("a chunk-size line is too long")
                if line_end < 0:
                    break
                line = bytes(buffer[pos:line_end])
                pos = line_end + 2
                if state == _TRAILERS:
                    self._trailers += len(line) + 2
                    if self._trailers > _MAX_TRAILERS:
                        raise _framing("the trailers go on and on")
                    if not line:
                        self._state = _END
                    continue
                size = _chunk_size(line)
                if size:
                    self._state, self._left = _DATA, size
                else:
                    self._state = _TRAILERS
        del buffer[:pos]
        return b"".join(out)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
    if not _HEX.fullmatch(digits):  # int() alone would also take "0x1a", "-1" or "1_0"
        # Not quoted: this reader has no key to cut out of what the provider put there.
        raise _framing(f"a chunk-size line of {len(digits)} bytes that is not a hex number")
    return int(digits, 16)


def _framing(detail: str) -> ProviderError:
    return ProviderError("bad_response", detail=f"broken chunked body: {detail}")


class Body:
    """The body of a urllib3 response opened with preload_content=False."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._raw = response
        self._message: http.client.HTTPResponse = response._fp
        connection = getattr(response, "connection", None)
        self._sock: socket.socket | None = getattr(connection, "sock", None)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        # Straight from the connection's buffer when nothing is to be decompressed.
        self._direct = encoding in ("", "identity") and self._message.fp is not None
        self._chunks = ChunkedDecoder() if self._direct and self._message.chunked else None
        self._length = self._message.length if self._direct else None  # None: until the connection ends
        self.complete = False

    def read(self, timeout: float | None) -> bytes:
        """What arrives next (waiting at most `timeout` seconds; None: until the connection is cut,
        for a caller that keeps the time limits itself); b"" once the body ended cleanly.

        Raises ProviderError: "timeout", "provider_down" for a body cut short, "network"."""
        if self.complete:
            return b""
        if timeout is not None:
            timeout = max(timeout, 0.001)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wait_at_most(timeout)
        if not self._direct:
            return self._read_decoded()
        while True:
            data = self._read_direct()
            if self._chunks is None:
                if self._length is not None:
                    self._length -= len(data)
                if not data or self._length == 0:
                    self._finish()
                return data
            if not data:
                raise ProviderError("provider_down", detail="the connection broke mid-answer (no last chunk)")
            body = self._chunks.feed(data)
            if self._chunks.complete:
                self._finish()
            if body or self.complete:
                return body
            # Framing alone (chunk sizes, trailers): the wait for the body's text is not longer for it.
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProviderError("timeout", detail="read timed out")
                self._wait_at_most(remaining)

    def _wait_at_most(self, timeout: float | None) -> None:
        if self._sock is not None and self._sock.gettimeout() != timeout:  # the same silence limit read after read
            self._sock.settimeout(timeout)

    def _read_direct(self) -> bytes:
        try:
            data = self._message.fp.read1(READ_SIZE)
        except TimeoutError as error:
            raise ProviderError("timeout", detail="read timed out") from error
        except (ConnectionError, http.client.IncompleteRead) as error:
            raise ProviderError("provider_down", detail=f"the connection broke mid-answer: {error}") from error
        except (OSError, ValueError) as error:  # e.g. a socket shut down by a stop
            raise ProviderError("network", detail=f"{type(error).__name__} while reading: {error}") from error
        if self._length is not None and len(data) > self._length:
            raise ProviderError("bad_response", detail="the body is longer than its Content-Length")
        if not data and self._length:
            raise ProviderError("provider_down", detail="the connection broke mid-answer (body shorter than announced)")
        return data

    def _read_decoded(self) -> bytes:
        try:
            data = self._raw.read1(READ_SIZE, decode_content=True)
        except ReadTimeoutError as error:
            raise ProviderError("timeout", detail="read timed out") from error
        except ProtocolError as error:
            raise ProviderError("provider_down", detail=f"the connection broke mid-answer: {error}") from error
        except Urllib3SSLError as error:
            raise ProviderError("network", detail=f"TLS error mid-answer: {error}") from error
        except DecodeError as error:
            raise ProviderError("bad_response", detail=f"undecodable content encoding: {error}") from error
        except (OSError, ValueError, http.client.HTTPException) as error:  # e.g. a socket shut down by a stop
            raise ProviderError("network", detail=f"{type(error).__name__} while reading: {error}") from error
        if not data:
            self.complete = True
        return data or b""

    def _finish(self) -> None:
        """The whole body was read: the connection can serve the next request."""
        self.complete = True
        self._message.close()  # http.client's side of it; the socket stays open
        if self._message.will_close:
            return  # the provider closes the connection: nothing to reuse
        self._raw.release_conn()
