"""Tests of the fake OpenAI-compatible provider itself, using plain requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

try:
    from tests.fixtures.fake_provider import FakeProvider
except ImportError:  # tests/ not importable as a package: run from inside it
    from fake_provider import FakeProvider  # type: ignore[no-redef]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def chat(provider: FakeProvider, stream: bool = True, **kwargs: Any) -> requests.Response:
    body = {
        "model": "fake-model",
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello please"}],  # 16 chars
    }
    kwargs.setdefault("timeout", 5)
    return requests.post(f"{provider.base_url}/chat/completions", json=body, stream=stream, **kwargs)


def sse_data(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE byte stream, comments skipped."""
    payloads = []
    for line in raw.decode("utf-8").split("\n"):
        if line.startswith("data:"):
            payload = line[len("data:") :]
            payloads.append(payload[1:] if payload.startswith(" ") else payload)
    return payloads


def content_of(payloads: list[str]) -> str:
    text = ""
    for payload in payloads:
        if payload == "[DONE]":
            continue
        for choice in json.loads(payload)["choices"]:
            text += choice["delta"].get("content") or ""
    return text


def test_models_listing(provider: FakeProvider) -> None:
    resp = requests.get(f"{provider.base_url}/models", timeout=5)
    assert resp.status_code == 200
    assert resp.json() == {
        "object": "list",
        "data": [
            {"id": "fake-model", "object": "model", "owned_by": "fake"},
            {"id": "fake-reasoner", "object": "model", "owned_by": "fake"},
        ],
    }
    assert provider.base_url.startswith("http://127.0.0.1:") and provider.base_url.endswith("/v1")


def test_stream_yields_reply_usage_and_done(provider: FakeProvider) -> None:
    with chat(provider) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = b"".join(resp.iter_content(chunk_size=None))
    payloads = sse_data(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    content_chunks, usage_chunk = chunks[:-1], chunks[-1]

    assert content_of(payloads) == "Hello from the fake provider."
    assert content_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert content_chunks[0]["object"] == "chat.completion.chunk"
    assert content_chunks[0]["model"] == "fake-model"
    assert [c["choices"][0]["finish_reason"] for c in content_chunks] == [None] * (len(content_chunks) - 1) + ["stop"]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 16 // 4 + 1
    assert usage_chunk["usage"]["completion_tokens"] == len(content_chunks)

    (recorded,) = provider.requests
    assert recorded["method"] == "POST"
    assert recorded["path"] == "/v1/chat/completions"
    assert recorded["json"]["messages"][0]["content"] == "Say hello please"
    assert recorded["headers"]["Content-Type"] == "application/json"
    assert recorded["client_disconnected"] is False


def test_scripted_tokens_reasoning_and_sse_variants(provider: FakeProvider) -> None:
    provider.script(
        tokens=["A", "b", "c"],
        reasoning="Thinking hard",
        usage={"prompt_tokens": 3, "completion_tokens": 9},
        finish_reason="length",
        keepalive_comments=True,
        no_space_after_data=True,
    )
    with chat(provider) as resp:
        raw = b"".join(resp.iter_content(chunk_size=None))
    assert b": keep-alive\n\n" in raw
    assert b"data: " not in raw and b"data:{" in raw
    payloads = sse_data(raw)
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Thinking hard"
    assert deltas[0]["role"] == "assistant" and "reasoning_content" in deltas[0]
    assert [d["content"] for d in deltas if "content" in d] == ["A", "b", "c"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["prompt_tokens"] == 3
    assert chunks[-1]["usage"]["completion_tokens"] == 9


def test_non_stream_json(provider: FakeProvider) -> None:
    provider.script(reply="Plain answer.")
    resp = chat(provider, stream=False)
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Plain answer."}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 2


def test_expected_key_401(provider: FakeProvider) -> None:
    provider.expected_key = "sk-good"
    resp = chat(provider, stream=False)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    resp = chat(provider, stream=False, headers={"Authorization": "Bearer sk-bad"})
    assert resp.status_code == 401
    resp = requests.get(f"{provider.base_url}/models", timeout=5)
    assert resp.status_code == 401

    resp = chat(provider, stream=False, headers={"Authorization": "Bearer sk-good"})
    assert resp.status_code == 200
    assert provider.requests[-1]["headers"]["Authorization"] == "Bearer sk-good"


def test_429_with_retry_after(provider: FakeProvider) -> None:
    provider.script(status=429, retry_after=3)
    resp = chat(provider)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "3"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"

    provider.script(status=429)
    assert chat(provider).headers["Retry-After"] == "7"


def test_500_html(provider: FakeProvider) -> None:
    provider.script(status=500)
    resp = chat(provider)
    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<h1>Internal Server Error</h1>" in resp.text


def test_404_model_not_found(provider: FakeProvider) -> None:
    provider.script(status=404)
    resp = chat(provider)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "model_not_found"


def test_redirect_not_followed(provider: FakeProvider) -> None:
    provider.script(redirect_to="http://example.invalid/v1")
    resp = chat(provider, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "http://example.invalid/v1"
    resp = requests.get(f"{provider.base_url}/models", allow_redirects=False, timeout=5)
    assert resp.status_code == 302


def test_answer_with_echoes_the_key_on_every_path(provider: FakeProvider) -> None:
    provider.script(answer_with=(200, "text/plain", "not JSON, and your key is {key}"))
    headers = {"Authorization": "Bearer sk-echo-me"}
    models = requests.get(f"{provider.base_url}/models", headers=headers, timeout=5)
    assert (models.status_code, models.headers["Content-Type"]) == (200, "text/plain")
    assert models.text == "not JSON, and your key is sk-echo-me"
    assert chat(provider, stream=False, headers=headers).text == models.text


def test_split_utf8_reassembles(provider: FakeProvider) -> None:
    text = "😀 𝕏 👨‍👩‍👧 中文"
    provider.script(reply=text, split_utf8=True)
    with chat(provider) as resp:
        pieces = list(resp.iter_content(chunk_size=None))
    raw = b"".join(pieces)
    assert content_of(sse_data(raw)) == text
    assert sse_data(raw)[-1] == "[DONE]"

    def decodable(piece: bytes) -> bool:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    # The split really reached the client: some reads end mid-character.
    assert not all(decodable(p) for p in pieces)


def test_cut_after_closes_without_done(provider: FakeProvider) -> None:
    provider.script(reply="one two three four", cut_after=2)
    received = b""
    with chat(provider) as resp, pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in resp.iter_content(chunk_size=None):
            received += piece
    assert b"[DONE]" not in received
    assert content_of(sse_data(received)) == "one two "


def test_no_done(provider: FakeProvider) -> None:
    provider.script(no_done=True)
    with chat(provider) as resp:
        raw = b"".join(resp.iter_content(chunk_size=None))
    payloads = sse_data(raw)
    assert "[DONE]" not in payloads
    assert "usage" in json.loads(payloads[-1])
    assert content_of(payloads) == "Hello from the fake provider."


def test_stall_then_release_finishes(provider: FakeProvider) -> None:
    provider.script(reply="a b c", stall_after=1)
    with chat(provider) as resp:
        it = resp.iter_content(chunk_size=None)
        assert content_of(sse_data(next(it))) == "a "
        provider.release()
        raw = b"".join(it)
    assert content_of(sse_data(raw)) == "b c"
    assert sse_data(raw)[-1] == "[DONE]"


def test_stall_and_client_hangup_is_recorded(provider: FakeProvider) -> None:
    provider.script(reply="a b c d", stall_after=2)
    resp = chat(provider, timeout=(2, 0.3))
    received = b""
    with pytest.raises(requests.exceptions.ConnectionError):  # read timeout mid-body
        for piece in resp.iter_content(chunk_size=None):
            received += piece
    resp.close()
    assert content_of(sse_data(received)) == "a b "
    assert provider.wait_for_disconnect(timeout=3)
    assert provider.requests[-1]["client_disconnected"] is True


def test_stall_and_response_closed_is_recorded(provider: FakeProvider) -> None:
    provider.script(reply="a b c d", stall_after=1)
    resp = chat(provider)
    first = next(resp.iter_content(chunk_size=None))
    assert content_of(sse_data(first)) == "a "
    resp.close()  # hang up while the server is stalled (it writes nothing)
    assert provider.wait_for_disconnect(timeout=3)


def test_hang_before_headers_times_out_and_stop_closes_the_port() -> None:
    fake = FakeProvider().start()
    url = fake.base_url
    try:
        fake.script(hang_before_headers=True)
        with pytest.raises(requests.exceptions.Timeout):
            chat(fake, timeout=(2, 0.3))
        assert fake.wait_for_requests(1, timeout=1)
    finally:
        fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/models", timeout=5)


def test_stop_ends_a_stalled_answer_instead_of_waiting_for_it() -> None:
    fake = FakeProvider().start()
    fake.script(stall_after=0)
    resp = chat(fake, timeout=(2, 30))
    assert resp.status_code == 200
    assert fake.wait_for_requests(1)
    fake.stop()
    # The handler was woken and its connection closed: the client sees the answer end, not its
    # 30 s read timeout.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        b"".join(resp.iter_content(None))
    resp.close()
