"""A fake OpenAI-compatible HTTP provider for the test suite.

``FakeProvider`` is a real HTTP/1.1 server bound to 127.0.0.1 on a free port.
It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` and streams real
Server-Sent-Events bytes over the socket, so client code is exercised end to
end (chunked transfer, partial reads, timeouts, hang-ups) instead of through
mocks.  Behaviour of the chat endpoint is scripted per test with
:meth:`FakeProvider.script`; every request is recorded in
:attr:`FakeProvider.requests`.

Only the standard library is used.

Example::

    with FakeProvider() as provider:
        provider.script(reply="Hi there", token_delay=0.01)
        requests.post(provider.base_url + "/chat/completions", json={...})
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import re
import select
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

__all__ = ["DEFAULT_MODELS", "DEFAULT_REPLY", "Behaviour", "FakeProvider"]

DEFAULT_MODELS: tuple[str, ...] = ("fake-model", "fake-reasoner")
DEFAULT_REPLY = "Hello from the fake provider."

# How often a waiting handler checks for stop/release/client hang-up.
_POLL_INTERVAL = 0.05
# Pause between tiny writes in ``split_utf8`` mode, so that the pieces reach
# the client as separate reads rather than being coalesced.
_SPLIT_WRITE_PAUSE = 0.002

# Exceptions meaning "the peer went away" when writing to / peeking the socket.
_CLIENT_GONE_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

WaitOutcome = Literal["timeout", "released", "stopped", "disconnected"]


# What a provider (or a proxy in front of it) may answer, each time quoting the key it was sent
# ({key}); for `answer_with`.
KEY_ECHOING_ANSWERS = {
    "200 that is not JSON": (200, "text/plain", "gateway: key {key} accepted, no JSON today"),
    "200 said to be JSON but is not": (200, "application/json", "{key}"),
    "200 JSON of the wrong shape": (200, "application/json", '{"data": "{key}", "choices": "{key}"}'),
    "401 quoting the key": (401, "application/json", '{"error": {"message": "Incorrect API key: {key}"}}'),
    "429 quoting the key": (429, "application/json", '{"error": {"message": "{key} is over its quota"}}'),
    "500 page quoting the key": (500, "text/html", "<html><body>upstream failed for {key}</body></html>"),
    "SSE error event quoting the key": (
        200,
        "text/event-stream",
        'data: {"error": {"message": "key {key} refused", "code": "invalid_api_key"}}\n\n',
    ),
    "SSE events that are not JSON, then [DONE]": (200, "text/event-stream", "data: key {key}\n\ndata: [DONE]\n\n"),
    "SSE without one usable event": (200, "text/event-stream", 'data: {"echo": "{key}"}\n\n'),
}


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """What the chat completion endpoint does; see :meth:`FakeProvider.script`.

    reply / tokens: answer text, split into word pieces, or the exact pieces.
    token_delay / first_token_delay: seconds between chunks / before the first.
    reasoning: streamed first as ``delta.reasoning_content`` pieces.
    usage: True = auto (prompt_tokens = input chars // 4 + 1, completion_tokens
        = number of reasoning + content pieces); a dict is sent as given
        (total_tokens added if missing); False/None = no usage chunk.
    finish_reason: on the last delta chunk.
    status: >= 400 fails before streaming (401/404 JSON, 429 JSON +
        ``Retry-After: retry_after``, 500 HTML, others generic JSON).
    hang_before_headers: never answer until release()/stop()/client hang-up.
    stall_after / cut_after: after N content chunks, stall (until release())
        or drop the connection without the chunked terminator or [DONE].
    no_done: omit ``data: [DONE]`` and close the connection after the body.
    split_utf8: tiny writes splitting UTF-8 characters and SSE lines.
    keepalive_comments: ``: keep-alive`` comment before every event.
    no_space_after_data: ``data:{...}`` instead of ``data: {...}``.
    all_at_once: every event in one write (a single HTTP chunk), as a fast server may send them.
    redirect_to: answer every request (any path) with 302 to this URL.
    answer_with: (status, content type, body) for every request, the model list included, once the
        key was accepted; ``{key}`` in the body becomes the key the request carried (a provider or
        a proxy that echoes it back).
    """

    reply: str = DEFAULT_REPLY
    tokens: list[str] | None = None
    token_delay: float = 0.0
    first_token_delay: float = 0.0
    reasoning: str | None = None
    # True = computed automatically; False/None = no usage; dict = sent as is.
    usage: dict[str, int] | bool | None = True
    finish_reason: str = "stop"
    status: int | None = None
    retry_after: int = 7
    hang_before_headers: bool = False
    stall_after: int | None = None
    cut_after: int | None = None
    no_done: bool = False
    split_utf8: bool = False
    keepalive_comments: bool = False
    no_space_after_data: bool = False
    all_at_once: bool = False
    redirect_to: str | None = None
    answer_with: tuple[int, str, str] | None = None

    def content_pieces(self) -> list[str]:
        if self.tokens is not None:
            return list(self.tokens)
        return split_into_tokens(self.reply)

    def reasoning_pieces(self) -> list[str]:
        return split_into_tokens(self.reasoning) if self.reasoning else []


def split_into_tokens(text: str) -> list[str]:
    """Split *text* into word-ish pieces whose concatenation is exactly *text*."""
    return re.findall(r"\S+\s*|\s+", text)


def _utf8_fragments(data: bytes) -> list[bytes]:
    """Cut *data* so that every multi-byte UTF-8 character and the SSE line
    itself straddle a write boundary (used by ``split_utf8``)."""
    cuts = {len(data) // 2, len(data) - 1}
    for i, byte in enumerate(data):
        if byte >= 0xC0:  # lead byte of a multi-byte sequence: cut inside it
            cuts.add(i + 1)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _openai_error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _prompt_chars(payload: Any) -> int:
    """Total characters of the textual content of all input messages."""
    if not isinstance(payload, dict):
        return 0
    total = 0
    for message in payload.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):  # multi-part content
            total += sum(
                len(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return total


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never let a stuck handler keep the process alive
    # Room for many clients connecting at once (streaming load tests); the default is 5.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), which may do a slow
        # reverse DNS lookup; we know the name already.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Hang-ups and sockets torn down by stop() are expected; stay quiet.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _StreamAborted(Exception):
    """Internal: stop producing the current response (hang-up or stop())."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing -----------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._held_events: list[bytes] = []  # all_at_once: the events, until they go out together
        # Small SSE writes must leave immediately, not wait for Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.provider._register_connection(self.connection)

    def finish(self) -> None:
        self.provider._unregister_connection(self.connection)
        super().finish()

    @property
    def provider(self) -> FakeProvider:
        return self.server.provider

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- routing ------------------------------------------------------------

    def _dispatch(self) -> None:
        body = self._read_body()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self._entry, self._release_seen = self.provider._record(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "json": parsed,
                "client_disconnected": False,
            }
        )
        behaviour = self.provider.behaviour
        path = self.path.split("?", 1)[0].rstrip("/")

        try:
            if behaviour.redirect_to:
                self._send_bytes(302, b"", "text/plain", {"Location": behaviour.redirect_to})
                return
            if not self._authorised():
                return
            if behaviour.answer_with:
                status, content_type, body_text = behaviour.answer_with
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                self._send_bytes(status, body_text.replace("{key}", key).encode(), content_type)
                return
            if path == "/v1/models" and self.command == "GET":
                # A provider that accepts the connection and never answers hangs its model list too.
                if behaviour.hang_before_headers and self._wait(None) in ("stopped", "disconnected"):
                    raise _StreamAborted
                data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.provider.models]
                self._send_json(200, {"object": "list", "data": data})
            elif path == "/v1/chat/completions" and self.command == "POST":
                self._chat(behaviour, parsed)
            else:
                self._send_json(
                    404,
                    _openai_error(
                        f"Unknown request URL: {self.command} {self.path}",
                        "invalid_request_error",
                        "unknown_url",
                    ),
                )
        except _StreamAborted:
            self.close_connection = True
        except _CLIENT_GONE_ERRORS:
            self._client_gone()
            self.close_connection = True

    def _authorised(self) -> bool:
        key = self.provider.expected_key
        if key is None:
            return True
        header = self.headers.get("Authorization")
        if header == f"Bearer {key}":
            return True
        message = "You didn't provide an API key." if not header else "Incorrect API key provided."
        if header and self.provider.echo_key_in_errors:
            # Some providers quote the key they refused; the client must keep it out of its logs.
            message = f"Incorrect API key provided: {header.removeprefix('Bearer ')}"
        self._send_json(401, _openai_error(message, "invalid_request_error", "invalid_api_key"))
        return False

    # -- chat completions ---------------------------------------------------

    def _chat(self, b: Behaviour, payload: Any) -> None:
        if b.hang_before_headers:
            outcome = self._wait(None)
            if outcome in ("stopped", "disconnected"):
                raise _StreamAborted
            # Released: answer normally.

        if b.status is not None and b.status >= 400:
            self._send_error_status(b, payload)
            return

        model = self.provider.models[0] if self.provider.models else "fake-model"
        stream = False
        if isinstance(payload, dict):
            model = str(payload.get("model") or model)
            stream = bool(payload.get("stream"))

        content = b.content_pieces()
        reasoning = b.reasoning_pieces()
        usage = self._usage(b, payload, len(content) + len(reasoning))

        if stream:
            self._stream(b, model, content, reasoning, usage)
        else:
            if b.first_token_delay:
                self._pause(b.first_token_delay)
            message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
            if reasoning:
                message["reasoning_content"] = "".join(reasoning)
            completion: dict[str, Any] = {
                "id": self._completion_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": b.finish_reason}],
            }
            if usage is not None:
                completion["usage"] = usage
            self._send_json(200, completion)

    def _send_error_status(self, b: Behaviour, payload: Any) -> None:
        status = b.status or 500
        if status == 500:
            html = (
                "<html><head><title>500 Internal Server Error</title></head>"
                "<body><h1>Internal Server Error</h1>"
                "<p>The server encountered an internal error.</p></body></html>"
            )
            self._send_bytes(500, html.encode(), "text/html; charset=utf-8")
        elif status == 401:
            self._send_json(
                401,
                _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
            )
        elif status == 404:
            model = payload.get("model") if isinstance(payload, dict) else None
            self._send_json(
                404,
                _openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        elif status == 429:
            self._send_json(
                429,
                _openai_error("Rate limit reached. Please try again later.", "requests", "rate_limit_exceeded"),
                {"Retry-After": str(b.retry_after)},
            )
        else:
            self._send_json(status, _openai_error(f"Fake error {status}.", "server_error", None))

    def _usage(self, b: Behaviour, payload: Any, pieces: int) -> dict[str, int] | None:
        if b.usage is None or b.usage is False:
            return None
        if isinstance(b.usage, dict):
            usage = dict(b.usage)
        else:
            usage = {"prompt_tokens": _prompt_chars(payload) // 4 + 1, "completion_tokens": pieces}
        usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
        return usage

    def _completion_id(self) -> str:
        return f"chatcmpl-fake{self.provider._next_completion_number()}"

    def _stream(
        self,
        b: Behaviour,
        model: str,
        content: list[str],
        reasoning: list[str],
        usage: dict[str, int] | None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        if b.no_done:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

        created = int(time.time())
        completion_id = self._completion_id()

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        deltas: list[dict[str, Any]] = [{"reasoning_content": p} for p in reasoning]
        # An empty reply still needs one content chunk to carry finish_reason.
        deltas += [{"content": p} for p in content] or [{"content": ""}]
        deltas[0] = {"role": "assistant", **deltas[0]}

        stalled = False
        sent_content = 0

        def checkpoint(final: bool = False) -> None:
            # Runs before the first content chunk, after each one, and once
            # more at the end (so N >= number of pieces cuts/stalls before
            # the usage chunk).
            nonlocal stalled
            if b.cut_after is not None and (final or sent_content >= b.cut_after):
                # Abrupt close: no terminating zero-length chunk, no [DONE].
                raise _StreamAborted
            if b.stall_after is not None and not stalled and (final or sent_content >= b.stall_after):
                stalled = True
                if self._wait(None) != "released":
                    raise _StreamAborted

        if b.first_token_delay:
            self._pause(b.first_token_delay)
        # Chunks go out on a fixed schedule (the first + index × token_delay), not after relative
        # sleeps, whose overshoot would add up and depend on how busy the machine is.
        first_chunk_at = time.monotonic()
        for index, delta in enumerate(deltas):
            is_content = "content" in delta
            if is_content and sent_content == 0:
                checkpoint()
            if index and b.token_delay:
                self._pause(max(0.0, first_chunk_at + index * b.token_delay - time.monotonic()))
            finish = b.finish_reason if index == len(deltas) - 1 else None
            self._send_event(b, chunk(delta, finish))
            if is_content:
                sent_content += 1
                checkpoint()
        checkpoint(final=True)

        if usage is not None:
            usage_chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            self._send_event(b, usage_chunk)
        if not b.no_done:
            self._send_sse_line(b, "[DONE]")
        if self._held_events:
            events, self._held_events = b"".join(self._held_events), []
            self._write_raw(b"%x\r\n%s\r\n" % (len(events), events))
        self._write_raw(b"0\r\n\r\n")  # end of the chunked body

    # -- low-level output ----------------------------------------------------

    def _send_event(self, b: Behaviour, obj: dict[str, Any]) -> None:
        self._send_sse_line(b, json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def _send_sse_line(self, b: Behaviour, data: str) -> None:
        if b.all_at_once:
            self._held_events.append(f"data: {data}\n\n".encode())
            return
        if b.keepalive_comments:
            self._write_chunk(b, b": keep-alive\n\n")
        prefix = "data:" if b.no_space_after_data else "data: "
        self._write_chunk(b, f"{prefix}{data}\n\n".encode())

    def _write_chunk(self, b: Behaviour, data: bytes) -> None:
        """Write *data* as HTTP chunk(s); tiny, delayed ones if ``split_utf8``."""
        if not b.split_utf8:
            self._write_raw(b"%x\r\n%s\r\n" % (len(data), data))
            return
        for piece in _utf8_fragments(data):
            self._write_raw(b"%x\r\n%s\r\n" % (len(piece), piece))
            self._pause(_SPLIT_WRITE_PAUSE)

    def _write_raw(self, data: bytes) -> None:
        if self.provider._stopping.is_set():
            raise _StreamAborted
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except _CLIENT_GONE_ERRORS:
            self._client_gone()
            raise _StreamAborted from None
        except OSError:  # socket torn down by stop()
            raise _StreamAborted from None

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write_raw(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    # -- waiting -------------------------------------------------------------

    def _client_gone(self) -> None:
        if not self.provider._stopping.is_set():
            self.provider._mark_disconnected(self._entry)

    def _pause(self, seconds: float) -> None:
        """Sleep, but abort promptly on stop() or client hang-up."""
        if self._wait(seconds) in ("stopped", "disconnected"):
            raise _StreamAborted

    def _wait(self, timeout: float | None) -> WaitOutcome:
        """Block until *timeout* elapses (None = forever), release(), stop(),
        or the client hangs up.

        A stalled server writes nothing, so a hang-up would otherwise go
        unnoticed; we poll the socket instead: readable + zero-byte peek means
        the client sent FIN.
        """
        provider = self.provider
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if provider._stopping.is_set():
                return "stopped"
            if timeout is None and provider._release_generation != self._release_seen:
                # Compare with the generation seen when the request arrived (or
                # at its previous release), not when the stall began: a test may
                # call release() as soon as it has the pre-stall chunks, which
                # can be before this thread reaches the stall.
                self._release_seen = provider._release_generation
                return "released"
            remaining = _POLL_INTERVAL if deadline is None else min(_POLL_INTERVAL, deadline - time.monotonic())
            if remaining <= 0:
                return "timeout"
            try:
                # poll, not select: select() fails for descriptors of 1024 and above (load tests).
                poller = select.poll()
                poller.register(self.connection, select.POLLIN | select.POLLHUP)
                if poller.poll(remaining * 1000):
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        self._client_gone()
                        return "disconnected"
                    # Unexpected data from the client; avoid a busy loop.
                    provider._stopping.wait(remaining)
            except _CLIENT_GONE_ERRORS:
                self._client_gone()
                return "disconnected"
            except (OSError, ValueError):  # socket closed by stop()
                return "stopped"


class FakeProvider:
    """Fake OpenAI-compatible provider over real HTTP on 127.0.0.1.

    Attributes you may set directly:
        models: model ids listed by ``GET /v1/models``.
        expected_key: if not None, every request must carry
            ``Authorization: Bearer <expected_key>`` or gets a 401.
    """

    def __init__(self, models: list[str] | None = None, expected_key: str | None = None) -> None:
        self.models: list[str] = list(models) if models is not None else list(DEFAULT_MODELS)
        self.expected_key: str | None = expected_key
        self.echo_key_in_errors = False
        self._behaviour = Behaviour()
        # One lock/condition for all state shared with handler threads.
        self._cond = threading.Condition()
        self._requests: list[dict[str, Any]] = []
        self._release_generation = 0
        self._completion_counter = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"FakeProvider:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even with stalled/hung handlers."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes every waiting handler
        server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            # Unblock handlers stuck in a socket call (e.g. a full send buffer).
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeProvider is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------

    def script(self, **behaviour: Any) -> None:
        """Set the behaviour of subsequent chat completion requests.

        Each call starts from the defaults (it does not merge with the previous
        script); the behaviour persists until the next ``script()``/``reset()``.
        See :class:`Behaviour` for the keywords; unknown ones raise TypeError.
        """
        new = Behaviour(**behaviour)
        with self._cond:
            self._behaviour = new

    @property
    def behaviour(self) -> Behaviour:
        with self._cond:
            return self._behaviour

    def reset(self) -> None:
        """Restore default behaviour, clear recorded requests, release stalls."""
        with self._cond:
            self._behaviour = Behaviour()
            self._requests.clear()
        self.release()

    def release(self) -> None:
        """Let every request received so far get past its hang/stall
        (hang_before_headers then answers normally, stall_after streams the
        rest), even if it has not reached the stall yet. Requests arriving
        later still hang/stall as scripted."""
        with self._cond:
            self._release_generation += 1
            self._cond.notify_all()

    # -- recording ---------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of recorded requests (oldest first)."""
        with self._cond:
            return [dict(r) for r in self._requests]

    def wait_for_requests(self, n: int, timeout: float = 5) -> bool:
        """Wait until at least *n* requests have been received."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= n, timeout)

    def wait_for_disconnect(self, timeout: float = 5) -> bool:
        """Wait until some recorded request saw its client hang up mid-response."""
        with self._cond:
            return self._cond.wait_for(lambda: any(r["client_disconnected"] for r in self._requests), timeout)

    # -- internals used by the handler -------------------------------------------

    def _record(self, entry: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Log a request; returns the entry and the current release generation."""
        with self._cond:
            self._requests.append(entry)
            self._cond.notify_all()
            return entry, self._release_generation

    def _mark_disconnected(self, entry: dict[str, Any]) -> None:
        with self._cond:
            entry["client_disconnected"] = True
            self._cond.notify_all()

    def _next_completion_number(self) -> int:
        with self._cond:
            self._completion_counter += 1
            return self._completion_counter

    def _register_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.add(conn)

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)
