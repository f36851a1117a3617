"""The SSE parser and the chat stream decoder alone, fed byte pieces by hand (no network)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from aihelper.llm import Delta, Done, ProviderError
from aihelper.llm.sse import ChatStreamDecoder, SSEEvent, SSEParser


def chunk(content: str | None = None, *, reasoning: str | None = None, finish: str | None = None) -> dict:
    delta: dict = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def data(obj: dict, *, space: bool = True, eol: str = "\n") -> str:
    return ("data: " if space else "data:") + json.dumps(obj, ensure_ascii=False) + eol + eol


# A stream with everything a provider may do: CRLF and LF line ends, comments, "data:" without a
# space, event/id/retry fields, a role-only chunk, reasoning, multi-byte characters, a usage chunk
# with empty choices, [DONE], and garbage after [DONE] that must be ignored.
SAMPLE = (
    ": keep-alive\n\n"
    + data({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
    + "event: message\nid: 1\nretry: 100\n"
    + data(chunk(reasoning="想一想 🤔"), eol="\r\n")
    + data(chunk("Hello, "), space=False)
    + ":ping\r\n\r\n"
    + data(chunk("😀 𝕏 👨‍👩‍👧 中文"))
    + data(chunk("!", finish="stop"), eol="\r\n")
    + data({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}})
    + "data: [DONE]\n\n"
    + data(chunk("after done"))
).encode()

EXPECTED = [
    Delta(reasoning="想一想 🤔"),
    Delta(content="Hello, "),
    Delta(content="😀 𝕏 👨‍👩‍👧 中文"),
    Delta(content="!"),
    Done("stop", {"prompt_tokens": 11, "completion_tokens": 4}),
]


def decode(pieces: list[bytes]) -> list[Delta | Done]:
    decoder = ChatStreamDecoder(secret=None)
    events: list[Delta | Done] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    assert decoder.finished
    events.append(decoder.done())
    return events


def test_sample_stream_in_one_piece():
    assert decode([SAMPLE]) == EXPECTED


def test_every_split_point_gives_the_same_events():
    for cut in range(len(SAMPLE) + 1):
        assert decode([SAMPLE[:cut], SAMPLE[cut:]]) == EXPECTED, f"split at byte {cut}"


def test_byte_by_byte_and_random_pieces_give_the_same_events():
    assert decode([SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == EXPECTED
    rng = random.Random(1234)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(SAMPLE)), rng.randint(2, 12)))
        bounds = [0, *cuts, len(SAMPLE)]
        assert decode([SAMPLE[a:b] for a, b in itertools.pairwise(bounds)]) == EXPECTED


def test_sse_fields_comments_and_multiline_data():
    parser = SSEParser()
    events = parser.feed(b"\xef\xbb\xbfdata: first\ndata:second\ndata\n\n: comment\n\n")
    # BOM skipped; lines joined by "\n"; a bare "data" line is an empty data line.
    assert events == [SSEEvent("first\nsecond\n")]
    assert parser.feed(b"event: error\rdata: x\r\r") == [SSEEvent("x", "error")]  # CR-only line ends
    assert parser.feed(b"id: 7\nretry: 5\n\n") == []  # no data, no event
    assert parser.feed(b"data:  two spaces\n\n") == [SSEEvent(" two spaces")]  # only one space is removed


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent("a")]
    assert parser.feed(b"\n") == []  # the LF completing the blank line's CRLF, not another blank line
    assert parser.feed(b"data: b\n\n") == [SSEEvent("b")]


def test_close_is_lenient_with_a_missing_final_newline():
    parser = SSEParser()
    assert parser.feed(b"data: last") == []
    assert parser.close() == [SSEEvent("last")]


def test_invalid_utf8_becomes_replacement_characters():
    decoder = ChatStreamDecoder(secret=None)
    raw = b'data: {"choices":[{"delta":{"content":"ok \xff\xfe end"}}]}\n\n'
    assert decoder.feed(raw) == [Delta(content="ok \ufffd\ufffd end")]


def test_a_line_longer_than_the_limit_is_refused_even_without_a_newline():
    parser = SSEParser(max_line_chars=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(ProviderError) as caught:
        for _ in range(10):
            parser.feed(b"y" * 50)  # never a newline: must not grow without bound
    assert caught.value.code == "bad_response"
    with pytest.raises(ProviderError):
        SSEParser(max_line_chars=1000).feed(b"data: " + b"x" * 2000 + b"\n")


def test_an_event_larger_than_the_limit_is_refused():
    parser = SSEParser(max_line_chars=100, max_event_chars=1000)
    with pytest.raises(ProviderError) as caught:
        for _ in range(20):
            parser.feed(b"data: " + b"z" * 80 + b"\n")  # many short data lines, no blank line
    assert caught.value.code == "bad_response"


def test_malformed_events_are_skipped_and_counted():
    decoder = ChatStreamDecoder(secret=None)
    stream = (
        b"data: {not json\n\n"
        + b"data: [1, 2]\n\n"
        + b'data: {"object": "something else"}\n\n'
        + b"data: "
        + b"[" * 100_000
        + b"\n\n"  # nested deeper than the recursion limit
        + data(chunk("fine", finish="stop")).encode()
    )
    assert decoder.feed(stream) == [Delta(content="fine")]
    assert decoder.skipped == 4
    assert decoder.end() == Done("stop", None)


def test_a_stream_with_nothing_usable_is_a_bad_response():
    decoder = ChatStreamDecoder(secret=None)
    assert decoder.feed(b"<html><body>Gateway says hello</body></html>\n") == []
    with pytest.raises(ProviderError) as caught:
        decoder.end()
    assert caught.value.code == "bad_response"
    assert "<html>" not in str(caught.value)


def test_end_without_done_keeps_what_arrived():
    decoder = ChatStreamDecoder(secret=None)
    assert decoder.feed(data(chunk("partial ", finish=None)).encode()) == [Delta(content="partial ")]
    assert decoder.end() == Done(None, None)
    decoder = ChatStreamDecoder(secret=None)
    decoder.feed(data(chunk("cut short", finish="length")).encode())
    assert decoder.end() == Done("length", None)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}, "rate_limited"),
        ({"message": "The model `x` does not exist", "code": "model_not_found"}, "model_not_found"),
        ({"message": "Incorrect API key", "code": "invalid_api_key"}, "unauthorized"),
        ({"message": "busy", "code": 503}, "provider_down"),
        ({"message": "something odd", "type": "invalid_request_error"}, "bad_response"),
        ("plain string error", "bad_response"),
    ],
)
def test_error_event_raises_a_mapped_provider_error(error, code):
    decoder = ChatStreamDecoder(secret=None)
    decoder.feed(data(chunk("before ")).encode())
    with pytest.raises(ProviderError) as caught:
        decoder.feed(data({"error": error}).encode())
    assert caught.value.code == code
    message = error["message"] if isinstance(error, dict) else error
    assert message not in str(caught.value)  # the provider's words go to the log only
    assert message in caught.value.detail


def test_event_type_error_raises_too():
    with pytest.raises(ProviderError) as caught:
        ChatStreamDecoder(secret=None).feed(b'event: error\ndata: {"message": "overloaded"}\n\n')
    assert caught.value.code == "provider_down"


def test_usage_from_the_last_chunk_that_had_it_including_inside_the_choice():
    decoder = ChatStreamDecoder(secret=None)
    decoder.feed(data({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode())
    # Kimi's shape: usage inside the final choice.
    kimi = chunk("x", finish="stop")
    kimi["choices"][0]["usage"] = {"prompt_tokens": 20, "completion_tokens": 3}
    decoder.feed(data(kimi).encode())
    decoder.feed(data({"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": 3}}).encode())
    assert decoder.feed(b"data: [DONE]\n\n") == []
    assert decoder.done() == Done("stop", {"prompt_tokens": 20, "completion_tokens": 3})


def test_usage_counts_are_clamped_to_what_an_int_column_holds():
    decoder = ChatStreamDecoder(secret=None)
    decoder.feed(data({"choices": [], "usage": {"prompt_tokens": 10**30, "completion_tokens": -5}}).encode())
    assert decoder.end().usage == {"prompt_tokens": 2**31 - 1, "completion_tokens": 0}


def test_reasoning_field_variants_and_non_string_content():
    decoder = ChatStreamDecoder(secret=None)
    stream = (
        data({"choices": [{"delta": {"reasoning": "via reasoning"}}]})
        + data({"choices": [{"delta": {"reasoning_content": "via reasoning_content", "reasoning": "ignored"}}]})
        + data({"choices": [{"delta": {"content": None, "reasoning_content": None}}]})
        + data({"choices": [{"delta": {"content": ["not", "a", "string"]}}]})
        + data(
            {"choices": [{"index": 1, "delta": {"content": "second choice"}}, {"index": 0, "delta": {"content": "c0"}}]}
        )
    ).encode()
    assert decoder.feed(stream) == [
        Delta(reasoning="via reasoning"),
        Delta(reasoning="via reasoning_content"),
        Delta(content="c0"),
    ]


def test_nothing_is_read_after_done():
    decoder = ChatStreamDecoder(secret=None)
    assert decoder.feed(b"data: [DONE]\n\n" + data(chunk("late")).encode()) == []
    assert decoder.finished
    assert decoder.feed(data({"error": {"code": "rate_limit_exceeded"}}).encode()) == []
    assert decoder.done() == Done(None, None)


def test_a_lone_surrogate_from_the_provider_becomes_a_replacement_character():
    decoder = ChatStreamDecoder(secret=None)
    deltas = decoder.feed(b'data: {"choices": [{"index": 0, "delta": {"content": "ok \\ud800 end"}}]}\n\n')
    assert [d.content for d in deltas] == ["ok \ufffd end"]
    assert deltas[0].content.encode("utf-8")  # storable and encodable


def test_an_error_event_that_echoes_the_key_does_not_quote_it():
    key = "sk-secret-key-123456"
    decoder = ChatStreamDecoder(secret=key)
    with pytest.raises(ProviderError) as raised:
        decoder.feed(f'data: {{"error": {{"message": "bad key {key}"}}}}\n\n'.encode())
    assert key not in raised.value.detail
