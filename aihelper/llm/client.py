"""ProviderClient: the one way this application talks to an AI provider.

Everything SECURITY.md rule 5 asks of outbound calls is enforced here rather than by callers:
http(s) only, no redirects followed, addresses checked when connecting (transport.py /
url_safety.py), the key sent only to the provider's own URL and never echoed into an error,
limits on time and on size for everything the provider sends back.

Plain blocking code on purpose: under gunicorn's gevent workers the socket calls are
monkey-patched and cooperate; elsewhere they are ordinary threads' blocking calls.

Long, and one module on purpose: the three calls (stream, complete, list models) share the
request, the limits and the error mapping; what can stand alone (body, SSE, URL safety, transport)
already does.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final

import urllib3
from urllib3.exceptions import NameResolutionError, ProtocolError

from aihelper.llm.body import READ_SIZE, Body
from aihelper.llm.errors import ErrorCode, ProviderError, code_for_error_object, error_from_body, excerpt, redact
from aihelper.llm.events import Completion, Delta, Done
from aihelper.llm.sse import ChatStreamDecoder, first_choice, loads_untrusted, normalise_usage
from aihelper.llm.transport import Attempt, Cancelled, GuardedPoolManager, current_attempt
from aihelper.llm.url_safety import check_base_url
from aihelper.times import aware

log = logging.getLogger(__name__)

# Size limits for what a provider may send back.
_ERROR_BODY_LIMIT: Final = 4 * 1024  # only ever quoted in ProviderError.detail
_JSON_BODY_LIMIT: Final = 16 * 1024 * 1024  # a model list (hundreds of models) or a long non-streamed answer
_MAX_MODEL_IDS: Final = 10_000
_MAX_MODEL_ID_CHARS: Final = 256
_MAX_RETRY_AFTER: Final = 24 * 3600
# After [DONE], how long to wait for the end of the HTTP body (so the connection can be reused).
_DRAIN_SECONDS: Final = 0.5
# An error body is only for the log: not worth waiting long for.
_ERROR_BODY_SECONDS: Final = 5.0
_USER_AGENT: Final = "aihelper"


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one call, in seconds; each one exceeded raises ProviderError("timeout").

    connect: the TCP (and TLS) connection. first_token: waiting for the response headers and then
    for the first piece of the answer (a reasoning model may think for a long time before it).
    idle: the longest silence between two reads once the answer has started. total: the whole call.
    """

    connect: float = 10.0
    first_token: float = 120.0
    idle: float = 60.0
    total: float = 900.0

    def __post_init__(self) -> None:
        for name in ("connect", "first_token", "idle", "total"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0 or math.isinf(value):
                raise ValueError(f"Timeouts.{name} must be a positive number of seconds, not {value!r}")


@dataclass(frozen=True)
class ModelListing:
    """The answer of ``GET {base_url}/models``: model ids (in the provider's order, without
    duplicates), the HTTP status and the time the call took."""

    model_ids: list[str]
    status: int
    latency_ms: float


class _Clock:
    def __init__(self, total: float) -> None:
        self.deadline = time.monotonic() + total

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class ProviderClient:
    """The outbound client for OpenAI-compatible providers; one per process, shared by all threads.

    refuse_private_networks: also refuse loopback and private addresses (default: allowed, for a
    local Ollama/vLLM). Link-local, cloud metadata, unspecified, multicast and broadcast addresses
    are always refused. pool_maxsize: kept-alive connections per provider host. ca_bundle: a PEM
    file of CAs to trust instead of certifi's (a provider behind a private CA); certificates and
    host names are always verified.
    """

    def __init__(
        self, *, refuse_private_networks: bool = False, pool_maxsize: int = 100, ca_bundle: str | None = None
    ) -> None:
        self.refuse_private_networks = refuse_private_networks
        # No proxies, .netrc credentials or cookies: urllib3 has none of them (a proxy would resolve
        # and connect out of reach of the address checks; a cookie set by one provider must never
        # reach another one).
        self._pools = GuardedPoolManager(
            refuse_private_networks=refuse_private_networks, pool_maxsize=pool_maxsize, ca_bundle=ca_bundle
        )

    def close(self) -> None:
        """Close pooled connections (the client stays usable and reconnects when needed)."""
        self._pools.clear()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- public calls -----------------------------------------------------------------------------

    def list_models(self, base_url: str, api_key: str | None, *, timeout: float = 10.0) -> ModelListing:
        """``GET {base_url}/models``; *timeout* bounds the whole call. Raises ProviderError."""
        with _key_kept_out(api_key):
            url = check_base_url(base_url) + "/models"
            timeouts = Timeouts(connect=timeout, first_token=timeout, idle=timeout, total=timeout)
            started = time.monotonic()
            clock = _Clock(timeout)
            response = self._send("GET", url, api_key, None, timeouts, clock, accept="application/json")
            try:
                _raise_for_status(response, api_key, clock)
                body = _read_body(response, _JSON_BODY_LIMIT, timeouts, clock)
            finally:
                _dispose(response)
            latency_ms = (time.monotonic() - started) * 1000
            model_ids = _parse_model_ids(body, api_key)
        return ModelListing(model_ids=model_ids, status=response.status, latency_ms=latency_ms)

    def complete(
        self,
        base_url: str,
        api_key: str | None,
        payload: dict[str, Any],
        *,
        timeouts: Timeouts = Timeouts(),
        body_limit: int = _JSON_BODY_LIMIT,
    ) -> Completion:
        """Non-streaming ``POST {base_url}/chat/completions``; the text of ``choices[0].message.content``
        ("" when the provider sent none) and the usage. Raises ProviderError, `bad_response` for a body over
        *body_limit* bytes (read and parsed in one go, so a short answer's call says how short)."""
        with _key_kept_out(api_key):
            url = check_base_url(base_url) + "/chat/completions"
            body = _json_bytes({**payload, "stream": False})
            clock = _Clock(timeouts.total)
            response = self._send("POST", url, api_key, body, timeouts, clock, accept="application/json")
            try:
                _raise_for_status(response, api_key, clock)
                raw = _read_body(response, body_limit, timeouts, clock)
                streamed = _media_type(response) == "text/event-stream"
            finally:
                _dispose(response)
            if streamed:  # the provider streamed although asked not to: put the pieces together
                decoder = ChatStreamDecoder(secret=api_key)
                pieces = [delta.content for delta in decoder.feed(raw)]
                return Completion("".join(pieces), decoder.end().usage)
            message, _finish, usage = _parse_completion(raw, api_key)
            return Completion(message.content, usage)

    def stream(
        self, base_url: str, api_key: str | None, payload: dict[str, Any], *, timeouts: Timeouts = Timeouts()
    ) -> ChatStream:
        """Streaming ``POST {base_url}/chat/completions`` (*payload* + ``"stream": true``).

        Returns a ChatStream: nothing is sent until the first ``next()``, and every failure,
        including a 401 or a blocked URL, is raised as ProviderError from the iteration. It yields
        a Delta as soon as a read from the provider brings answer text (one Delta with all of it,
        however many events that read carried), then exactly one Done. Mid-stream failures raise too:
        a connection cut inside the HTTP body -> "provider_down", silence longer than
        ``timeouts.idle`` (or ``first_token`` before the first piece) or a call longer than
        ``timeouts.total`` -> "timeout". Stopping: see ChatStream.close().
        """
        body = _json_bytes({**payload, "stream": True})
        attempt = Attempt()
        # The generator gets the attempt, not the ChatStream: no reference cycle, so dropping the
        # ChatStream finalises the generator at once, which closes the HTTP response.
        events = _stream_events(self, base_url, api_key, body, timeouts, attempt)
        return ChatStream(events, attempt)

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        api_key: str | None,
        body: bytes | None,
        timeouts: Timeouts,
        clock: _Clock,
        *,
        accept: str,
        attempt: Attempt | None = None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"User-Agent": _USER_AGENT, "Accept": accept, **_auth_header(api_key)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        # Compressed SSE would be buffered by the decompressor; ask for plain bytes.
        headers["Accept-Encoding"] = "identity" if accept == "text/event-stream" else "gzip, deflate"
        remaining = max(clock.remaining(), 0.001)
        timeout = urllib3.Timeout(connect=min(timeouts.connect, remaining), read=min(timeouts.first_token, remaining))
        token = current_attempt.set(attempt)
        try:
            return self._pools.urlopen(
                method, url, body=body, headers=headers, timeout=timeout, redirect=False, preload_content=False
            )
        except (ProviderError, Cancelled):
            raise
        except urllib3.exceptions.HTTPError as error:
            raise _request_error(error, api_key) from error
        finally:
            current_attempt.reset(token)


class ChatStream(Iterator[Delta | Done]):
    """The pieces of one streamed answer: ``Delta``..., then one ``Done``; raises ProviderError.

    Stopping. ``close()`` may be called from any thread or greenlet, also while the consumer is
    blocked reading: it shuts the socket down, so the provider sees the hang-up at once and the
    blocked read returns promptly. The consumer then gets ``StopIteration`` (never a
    ProviderError, and no Done): a stopped stream simply ends, and the caller, who asked for the
    stop, knows why. ``close()`` before the first ``next()`` means nothing is ever sent; calling it
    after the end or twice is harmless. Dropping the ChatStream (e.g. breaking out of a for loop)
    closes the response too, and it is also a context manager.
    """

    def __init__(self, events: Generator[Delta | Done, None, None], attempt: Attempt) -> None:
        self._events = events
        self._attempt = attempt
        # Held while the consumer is inside next(): close() from another thread must then only
        # cut the socket (a running generator cannot be closed from outside).
        self._busy = threading.Lock()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> Delta | Done:
        with self._busy:
            if self._attempt.cancelled:
                self._events.close()
                raise StopIteration
            return next(self._events)

    def close(self) -> None:
        self._attempt.cancel()
        if self._busy.acquire(blocking=False):
            try:
                self._events.close()
            finally:
                self._busy.release()

    @property
    def closed(self) -> bool:
        return self._attempt.cancelled

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _stream_events(
    client: ProviderClient,
    base_url: str,
    api_key: str | None,
    body: bytes,
    timeouts: Timeouts,
    attempt: Attempt,
) -> Generator[Delta | Done, None, None]:
    clock = _Clock(timeouts.total)
    with _key_kept_out(api_key):
        try:
            url = check_base_url(base_url) + "/chat/completions"
            response = client._send(
                "POST", url, api_key, body, timeouts, clock, accept="text/event-stream", attempt=attempt
            )
        except Cancelled:
            return
        except ProviderError:
            if attempt.cancelled:
                return
            raise
        try:
            yield from _events_from_response(response, api_key, timeouts, clock, attempt)
        except ProviderError:
            if attempt.cancelled:  # whatever the cut socket made the read say: a stopped stream just ends
                return
            raise
        finally:
            _dispose(response)


def _events_from_response(
    response: urllib3.BaseHTTPResponse,
    api_key: str | None,
    timeouts: Timeouts,
    clock: _Clock,
    attempt: Attempt,
) -> Generator[Delta | Done, None, None]:
    _raise_for_status(response, api_key, clock)
    media_type = _media_type(response)
    if media_type == "application/json" or media_type.endswith("+json"):
        # Some servers ignore "stream": true and answer in one piece: accept that answer.
        message, finish_reason, usage = _parse_completion(
            _read_body(response, _JSON_BODY_LIMIT, timeouts, clock), api_key
        )
        if message.content or message.reasoning:
            yield message
        yield Done(finish_reason, usage)
        return
    if media_type in ("text/html", "application/xhtml+xml"):
        raise ProviderError("bad_response", status=response.status, detail=f"expected SSE, got {media_type}")

    body = Body(response)
    decoder = ChatStreamDecoder(secret=api_key)
    # The time limits are kept by the silence watch, not by a timer on every read.
    watched = _silence_watch.watch(attempt, timeouts, clock)
    try:
        while True:
            if attempt.cancelled:
                return
            try:
                data = body.read(None)
            except ProviderError as error:
                if attempt.cancelled:
                    return
                if attempt.expired:
                    raise ProviderError("timeout", detail=attempt.expired) from error
                raise
            if attempt.cancelled:
                return
            if attempt.expired:  # the cut socket read as the end of the body
                raise ProviderError("timeout", detail=attempt.expired)
            if not data:  # the body ended cleanly, without [DONE]
                done = decoder.end()
                _log_skipped(decoder, api_key)
                yield done
                return
            watched.heard()
            deltas = decoder.feed(data)
            if deltas:
                watched.started()
                # Whatever this read brought goes on as one piece: no per-token work downstream.
                yield deltas[0] if len(deltas) == 1 else Delta.joined(deltas)
            if decoder.finished:
                _log_skipped(decoder, api_key)
                yield decoder.done()
                _drain(body, timeouts, attempt)
                return
    finally:
        _silence_watch.unwatch(watched)


class _Watched:
    """One streamed answer under the silence watch."""

    __slots__ = ("attempt", "clock", "heard_at", "silence", "timeouts")

    def __init__(self, attempt: Attempt, timeouts: Timeouts, clock: _Clock) -> None:
        self.attempt = attempt
        self.timeouts = timeouts
        self.clock = clock
        self.silence = timeouts.first_token  # until the first piece of the answer, then `idle`
        self.heard_at = time.monotonic()

    def heard(self) -> None:
        self.heard_at = time.monotonic()

    def started(self) -> None:
        self.silence = self.timeouts.idle

    def overdue(self, now: float) -> str | None:
        if now >= self.clock.deadline:
            return f"the answer took longer than {self.timeouts.total:g}s in total"
        if now - self.heard_at > self.silence:
            return f"no data from the provider for {self.silence:g}s"
        return None


class _SilenceWatch:
    """Ends the streamed answers that went silent too long, or took too long in all, by cutting
    their connection. Under gevent a socket timeout costs a timer for every read, more than
    parsing what the read brought; one watch per process looks at every stream a few times a
    second instead (a limit is kept to within a quarter of itself, at most 0.25 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[_Watched] = set()
        self._tick = 0.25
        self._pid: int | None = None  # the process whose thread runs (a fork has none)

    def watch(self, attempt: Attempt, timeouts: Timeouts, clock: _Clock) -> _Watched:
        watched = _Watched(attempt, timeouts, clock)
        with self._lock:
            self._streams.add(watched)
            self._tick = max(0.01, min(self._tick, timeouts.idle / 4, timeouts.first_token / 4))
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="aihelper-llm-silence-watch", daemon=True).start()
        return watched

    def unwatch(self, watched: _Watched) -> None:
        with self._lock:
            self._streams.discard(watched)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                streams = list(self._streams)
            for watched in streams:
                reason = watched.overdue(now)
                if reason is not None:
                    watched.attempt.expire(reason)


_silence_watch = _SilenceWatch()


def _read_body(response: urllib3.BaseHTTPResponse, limit: int, timeouts: Timeouts, clock: _Clock) -> bytes:
    """The whole body, or ProviderError("bad_response") beyond *limit* bytes."""
    body = Body(response)
    parts: list[bytes] = []
    size = 0
    silence = timeouts.first_token
    while True:
        remaining = clock.remaining()
        if remaining <= 0:
            raise ProviderError("timeout", detail="the answer took too long in total")
        data = body.read(min(silence, remaining))
        if not data:
            return b"".join(parts)
        silence = timeouts.idle
        size += len(data)
        if size > limit:
            raise ProviderError("bad_response", status=response.status, detail=f"body larger than {limit} bytes")
        parts.append(data)


def _read_error_body(response: urllib3.BaseHTTPResponse, clock: _Clock) -> bytes:
    """At most ~4 KB of an error body, for the log; failures to read it are not errors of their own."""
    body = Body(response)
    parts: list[bytes] = []
    size = 0
    deadline = time.monotonic() + min(_ERROR_BODY_SECONDS, max(clock.remaining(), 0))
    try:
        while size < _ERROR_BODY_LIMIT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            data = body.read(remaining)
            if not data:
                break
            parts.append(data)
            size += len(data)
    except ProviderError:
        pass
    return b"".join(parts)[:_ERROR_BODY_LIMIT]


def _drain(body: Body, timeouts: Timeouts, attempt: Attempt) -> None:
    """Read what follows [DONE] (normally just the end of the chunked body) so that the connection
    goes back to the pool; anything unexpected just leaves it to be closed."""
    deadline = time.monotonic() + min(_DRAIN_SECONDS, timeouts.idle)
    budget = READ_SIZE
    while budget > 0 and not attempt.cancelled:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            data = body.read(remaining)
        except ProviderError:
            return
        if not data:
            return
        budget -= len(data)


def _raise_for_status(response: urllib3.BaseHTTPResponse, api_key: str | None, clock: _Clock) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    try:
        if 300 <= status < 400:
            location = excerpt(response.headers.get("Location", ""), api_key)
            raise ProviderError("redirect", status=status, detail=f"HTTP {status} to {location!r}, not followed")
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        raise error_from_body(_read_error_body(response, clock), status=status, secret=api_key, retry_after=retry_after)
    finally:
        _dispose(response)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> int | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (aware(when) - (now or datetime.now(UTC))).total_seconds()  # a date without a zone is GMT
    if math.isnan(seconds):
        return None
    return int(min(max(math.ceil(seconds), 0), _MAX_RETRY_AFTER))


def _request_error(error: urllib3.exceptions.HTTPError, api_key: str | None) -> ProviderError:
    """The ProviderError for a failure before the response headers arrived."""
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, ProviderError):
            return cause
    code: ErrorCode
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # (a subclass of the timeout below)
        code = _connection_error_code(causes)
    elif isinstance(error, urllib3.exceptions.TimeoutError):  # connecting or waiting for the headers
        code = "timeout"
    elif isinstance(error, urllib3.exceptions.SSLError):
        code = "network"
    elif isinstance(error, urllib3.exceptions.LocationValueError):  # includes an unknown scheme
        code = "blocked_url"
    elif isinstance(error, urllib3.exceptions.DecodeError):
        code = "bad_response"
    else:
        code = _connection_error_code(causes)
    return ProviderError(code, detail=redact(f"{type(error).__name__}: {error}", api_key))


@contextmanager
def _key_kept_out(api_key: str | None) -> Iterator[None]:
    """Every ProviderError leaving the client passes here, with the key that call sent cut out of
    its detail, the one field that quotes the provider and goes to the logs. Behind the quotes
    made with the key, so that a quote made without it cannot carry the key any further."""
    try:
        yield
    except ProviderError as error:
        error.detail = redact(error.detail, api_key)
        raise


def _dispose(response: urllib3.BaseHTTPResponse) -> None:
    """Done with the response: a body read to its end left its connection in the pool already; any
    other is closed (a stream stopped halfway cannot be reused) and its pool slot given back."""
    response.close()
    response.release_conn()


def _connection_error_code(causes: list[BaseException]) -> ErrorCode:
    if any(isinstance(c, socket.gaierror | NameResolutionError) for c in causes):
        return "network"  # DNS failure: the name is wrong or the resolver is unreachable
    if any(isinstance(c, TimeoutError) for c in causes):
        return "timeout"
    if any(
        isinstance(
            c,
            ConnectionRefusedError
            | ConnectionResetError
            | ConnectionAbortedError
            | BrokenPipeError
            | http.client.RemoteDisconnected
            | ProtocolError,
        )
        for c in causes
    ):
        return "provider_down"
    return "network"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """*error* and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, args)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack.extend(item for item in linked if isinstance(item, BaseException))


def _auth_header(api_key: str | None) -> dict[str, str]:
    if not api_key:
        return {}
    key = api_key.strip()
    # Checked here because http.client would reject it with an exception message that quotes the key.
    if not key or any(not 33 <= ord(ch) <= 126 for ch in key):
        raise ProviderError("unauthorized", detail="the API key contains characters not allowed in an HTTP header")
    return {"Authorization": f"Bearer {key}"}


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _media_type(response: urllib3.BaseHTTPResponse) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _parse_json(body: bytes, what: str, api_key: str | None) -> Any:
    try:
        return loads_untrusted(body)
    except (ValueError, RecursionError):
        raise ProviderError("bad_response", detail=f"{what} is not JSON: {excerpt(body, api_key)}") from None


def _parse_completion(body: bytes, api_key: str | None) -> tuple[Delta, str | None, dict[str, int] | None]:
    """A non-streamed chat completion -> (its message as a Delta, finish_reason, usage)."""
    obj = _parse_json(body, "the completion", api_key)
    if not isinstance(obj, dict):
        raise ProviderError("bad_response", detail=f"the completion is not an object: {excerpt(body, api_key)}")
    if obj.get("error"):
        raise ProviderError(
            code_for_error_object(obj["error"]) or "bad_response",
            detail=f"error in the completion: {excerpt(body, api_key)}",
        )
    choices = obj.get("choices")
    choice = first_choice(choices) if isinstance(choices, list) else None
    message = choice.get("message") if choice is not None else None
    if not isinstance(message, dict):
        raise ProviderError("bad_response", detail=f"the completion has no message: {excerpt(body, api_key)}")
    content = _text_of(message.get("content"))
    reasoning = _text_of(message.get("reasoning_content")) or _text_of(message.get("reasoning"))
    finish = choice.get("finish_reason") if choice is not None else None
    usage = normalise_usage(obj.get("usage")) or normalise_usage(choice.get("usage") if choice else None)
    return Delta(content=content, reasoning=reasoning), finish if isinstance(finish, str) and finish else None, usage


def _text_of(value: Any) -> str:
    """A message content: a string, or the text parts of a list of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part["text"] for part in value if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _parse_model_ids(body: bytes, api_key: str | None) -> list[str]:
    obj = _parse_json(body, "the model list", api_key)
    if isinstance(obj, dict):
        items = obj.get("data")
        if not isinstance(items, list):
            items = obj.get("models")  # Ollama's native shape, seen behind some proxies
    else:
        items = obj
    if not isinstance(items, list):
        raise ProviderError("bad_response", detail=f"the model list has no data array: {excerpt(body, api_key)}")
    ids: dict[str, None] = {}
    for item in items[:_MAX_MODEL_IDS]:
        model_id = (item.get("id") or item.get("model") or item.get("name")) if isinstance(item, dict) else item
        if (
            isinstance(model_id, str)
            and model_id.strip()
            and len(model_id) <= _MAX_MODEL_ID_CHARS
            and model_id.isprintable()
        ):
            ids[model_id] = None
    return list(ids)


def _log_skipped(decoder: ChatStreamDecoder, api_key: str | None) -> None:
    if decoder.skipped:
        log.warning(
            "provider stream: %d unusable event(s) skipped; last: %s",
            decoder.skipped,
            redact(decoder.last_skipped, api_key),
        )
