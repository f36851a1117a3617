"""Incremental parsing of an OpenAI-compatible chat completion stream (Server-Sent Events).

Pure code, no network: bytes go in as they come off the socket (in pieces of any size), events
and answer pieces come out. The provider is untrusted, so:

* UTF-8 is decoded with an incremental decoder (a character split across reads is completed by
  the next read, nothing is decoded twice) and invalid bytes become U+FFFD instead of an error.
* Each read costs time proportional to that read only: line ends are searched in the new text,
  an unfinished line is kept as a list of pieces and joined once when it ends.
* A line or an event larger than ``max_line_chars`` / ``max_event_chars`` raises
  ProviderError("bad_response") instead of growing without bound.

Decisions about what the provider sends:

* ``data: [DONE]`` ends the answer; anything after it is ignored.
* An event whose data is not JSON (or not a JSON object with ``choices`` or ``usage``) is skipped
  and counted in ``ChatStreamDecoder.skipped``: one odd line from a proxy or a provider extension
  should not throw away an answer. A stream in which *no* event could be used is an error
  (``end()`` raises bad_response), so an HTML page or garbage is never taken for an empty answer.
* An event carrying ``{"error": ...}`` (or an SSE ``event: error``) raises ProviderError, with the
  code derived from the error's code/type (e.g. rate limit, unknown model), else bad_response.
* When the connection ends cleanly without ``[DONE]``, ``end()`` still returns Done with the
  finish_reason and usage seen so far (finish_reason None if there was none), provided at least
  one usable event arrived. A connection *cut* in the middle of the HTTP body is not seen here:
  the client reports that as ProviderError("provider_down").
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from aihelper.llm.errors import ProviderError, code_for_error_object, excerpt
from aihelper.llm.events import Delta, Done

MAX_LINE_CHARS: Final = 1024 * 1024
MAX_EVENT_CHARS: Final = 1024 * 1024
# Token counts go into INT columns; a hostile provider must not be able to overflow them.
_MAX_TOKENS_COUNT: Final = 2**31 - 1

_LINE_END: Final = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its data lines joined by "\\n", and its ``event:`` type ("" if none)."""

    data: str
    event: str = ""


class SSEParser:
    """Bytes in arbitrary pieces -> SSEEvents, following the WHATWG event-stream rules.

    ``id:`` and ``retry:`` are ignored (there is no reconnection here). ``close()`` is lenient with
    a provider that omits the final newline: an unterminated last line and a pending event still count.
    """

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS, max_event_chars: int = MAX_EVENT_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line_chars
        self._max_event = max_event_chars
        self._line_parts: list[str] = []
        self._line_len = 0
        self._after_cr = False  # a "\r" ended the last piece: a "\n" starting the next one belongs to it
        self._at_start = True
        self._data: list[str] = []
        self._data_len = 0
        self._event_type = ""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[SSEEvent]:
        events = self._feed_text(self._decoder.decode(b"", final=True))
        if self._line_parts:
            line = "".join(self._line_parts)
            self._line_parts, self._line_len = [], 0
            event = self._line(line)
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text.startswith("\ufeff"):  # a byte order mark is allowed before the first line
                text = text[1:]
        pos = 0
        if self._after_cr and text.startswith("\n"):
            pos = 1
        self._after_cr = False
        if "\r" in text:  # CR or CRLF line ends, which providers rarely use
            pieces = []
            for match in _LINE_END.finditer(text, pos):
                pieces.append(text[pos : match.start()])
                pos = match.end()
                if match.group() == "\r" and pos == len(text):
                    self._after_cr = True
            rest = text[pos:]
        else:
            pieces = text[pos:].split("\n")
            rest = pieces.pop()
        events: list[SSEEvent] = []
        for piece in pieces:
            if self._line_parts:
                if self._line_len + len(piece) > self._max_line:
                    raise _too_long("line")
                self._line_parts.append(piece)
                line = "".join(self._line_parts)
                self._line_parts, self._line_len = [], 0
            else:
                if len(piece) > self._max_line:
                    raise _too_long("line")
                line = piece
            event = self._line(line)
            if event is not None:
                events.append(event)
        if rest:
            self._line_len += len(rest)
            if self._line_len > self._max_line:
                raise _too_long("line")
            self._line_parts.append(rest)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_len += len(value) + 1
            if self._data_len > self._max_event:
                raise _too_long("event")
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event_type = ""
            return None
        event = SSEEvent("\n".join(self._data), self._event_type)
        self._data, self._data_len, self._event_type = [], 0, ""
        return event


def _too_long(what: str) -> ProviderError:
    return ProviderError("bad_response", detail=f"stream {what} longer than the allowed maximum")


class ChatStreamDecoder:
    """Stream bytes -> Delta pieces, remembering finish_reason and usage for the final Done.

    feed() returns the Deltas found in a piece of bytes; ``finished`` turns True at ``[DONE]``.
    done() is the Done after ``[DONE]``; end() is the Done when the connection ended cleanly
    without it (raises bad_response if nothing usable ever arrived).
    """

    def __init__(
        self,
        *,
        secret: str | None,
        max_line_chars: int = MAX_LINE_CHARS,
        max_event_chars: int = MAX_EVENT_CHARS,
    ) -> None:
        # The API key (None for a provider without one), never quoted in an error even if a provider
        # echoes it; required, so that no decoder can be made that quotes without knowing it.
        self._secret = secret
        self._sse = SSEParser(max_line_chars=max_line_chars, max_event_chars=max_event_chars)
        self.finished = False
        self.finish_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self.chunks = 0  # events that were usable chunks
        self.skipped = 0  # events that were not (bad JSON, unknown shape)
        self.last_skipped = ""  # an excerpt of the last one, for the log

    def feed(self, data: bytes) -> list[Delta]:
        if self.finished:
            return []
        return self._handle_all(self._sse.feed(data))

    def end(self) -> Done:
        if not self.finished:
            self._handle_all(self._sse.close())
        if not self.finished and self.chunks == 0:
            detail = "the stream ended without any usable event"
            if self.skipped:
                detail += f" ({self.skipped} skipped; last: {self.last_skipped})"
            raise ProviderError("bad_response", detail=detail)
        return self.done()

    def done(self) -> Done:
        return Done(self.finish_reason, self.usage)

    def _handle_all(self, events: list[SSEEvent]) -> list[Delta]:
        deltas: list[Delta] = []
        for event in events:
            if self.finished:
                break
            delta = self.handle(event)
            if delta is not None:
                deltas.append(delta)
        return deltas

    def handle(self, event: SSEEvent) -> Delta | None:
        """One SSE event -> the Delta it carries (None for bookkeeping-only or skipped events)."""
        data = event.data.strip()
        if data == "[DONE]":
            self.finished = True
            return None
        if not data:
            return None
        try:
            obj: Any = loads_untrusted(data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than the stack
            return self._skip(data)
        if not isinstance(obj, dict):
            return self._skip(data)
        if obj.get("error") or event.event == "error":
            error = obj.get("error", obj)
            raise ProviderError(
                code_for_error_object(error) or "bad_response",
                detail=f"error event in the stream: {excerpt(data, self._secret)}",
            )
        choices = obj.get("choices")
        usage = obj.get("usage")
        if not isinstance(choices, list) and not isinstance(usage, dict):
            return self._skip(data)
        self.chunks += 1
        if usage is not None:
            self._take_usage(usage)
        choice = first_choice(choices) if isinstance(choices, list) else None
        if choice is None:
            return None
        # Some providers (Kimi) put the final usage inside the choice.
        choice_usage = choice.get("usage")
        if choice_usage is not None:
            self._take_usage(choice_usage)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self.finish_reason = finish
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return None
        content = delta.get("content")
        content = content if isinstance(content, str) else ""
        # DeepSeek, Qwen, GLM and Kimi say reasoning_content; OpenRouter, Ollama and vLLM say reasoning.
        reasoning = delta.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning:
            reasoning = delta.get("reasoning")
        reasoning = reasoning if isinstance(reasoning, str) else ""
        if not content and not reasoning:
            return None
        return Delta(content=content, reasoning=reasoning)

    def _skip(self, data: str) -> None:
        self.skipped += 1
        # Cut long enough that a key starting in the first 1000 characters is cut out whole.
        self.last_skipped = excerpt(data[: 1000 + len(self._secret or "")], self._secret)
        return None

    def _take_usage(self, usage: Any) -> None:
        normalised = normalise_usage(usage)
        if normalised is not None:
            self.usage = normalised


def loads_untrusted(data: str | bytes) -> Any:
    """JSON from a provider. orjson on the per-event path (a third of json's cost); what it refuses
    but JSON readers accept (NaN, integers beyond 64 bits, lone surrogates) is read by json, so
    both read exactly the same documents, and a lone surrogate becomes U+FFFD (no database can
    store it, and no frame could be encoded with it)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _without_surrogates(json.loads(data))


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


def first_choice(choices: list[Any]) -> dict[str, Any] | None:
    """The choice with index 0 (the only one we ask for), else the first one."""
    first = None
    for choice in choices:
        if isinstance(choice, dict):
            if choice.get("index", 0) == 0:
                return choice
            first = first or choice
    return first


def normalise_usage(usage: Any) -> dict[str, int] | None:
    """``{"prompt_tokens", "completion_tokens"}`` as bounded non-negative ints, or None. A count a
    provider left out is what its `total_tokens` leaves; a completion count below that is raised to
    it (some providers leave reasoning tokens out of `completion_tokens` but not out of the total)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion, total = (_token_count(usage.get(name)) for name in _USAGE_FIELDS)
    if total is not None and prompt is not None:
        completion = max(completion or 0, total - prompt)
    elif total is not None and completion is not None:
        prompt = max(total - completion, 0)
    if prompt is None or completion is None:
        return None
    return {"prompt_tokens": prompt, "completion_tokens": min(completion, _MAX_TOKENS_COUNT)}


_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _token_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return min(max(int(value), 0), _MAX_TOKENS_COUNT)
