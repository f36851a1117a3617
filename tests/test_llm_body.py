"""Reading a provider's body as it arrives (aihelper.llm.body): the chunked coding removed from
pieces of any size, and everything that arrived at once handed on at once."""

from __future__ import annotations

import gzip
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest

from aihelper.llm import Delta, Done, ProviderClient, ProviderError, Timeouts
from aihelper.llm.body import ChunkedDecoder

PAYLOAD = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n" + trailers + b"\r\n"


def test_a_body_split_at_every_byte_comes_out_whole():
    wire = chunked(b"hello ", "wörld 😀".encode(), b"x" * 300, trailers=b"X-Checksum: 1\r\n")
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(wire[i : i + 1]) for i in range(len(wire)))
    assert out == "hello wörld 😀".encode() + b"x" * 300
    assert decoder.complete


def test_many_chunks_in_one_piece_come_out_in_one_go_and_nothing_after_the_end():
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked(*[b"t%d " % i for i in range(500)]) + b"HTTP/1.1 next response") == b"".join(
        b"t%d " % i for i in range(500)
    )
    assert decoder.complete
    assert decoder.feed(b"more") == b""


def test_chunk_extensions_are_ignored():
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5;name=value\r\nhello\r\n0\r\n\r\n") == b"hello"
    assert decoder.complete


@pytest.mark.parametrize(
    "wire",
    [b"0x5\r\nhello\r\n", b"-5\r\nhello\r\n", b"5_0\r\n", b"zz\r\n", b"\r\n", b"5\r\nhello!!\r\n", b"1" * 5000],
)
def test_broken_framing_is_a_bad_response(wire):
    with pytest.raises(ProviderError) as raised:
        ChunkedDecoder().feed(wire)
    assert raised.value.code == "bad_response"


def test_a_broken_chunk_size_line_is_not_quoted():
    """The body reader has no key to cut out of it, and the line could be one."""
    with pytest.raises(ProviderError) as raised:
        ChunkedDecoder().feed(b"sk-live-abcdefghijklmnopqrstuvwxyz\r\n")
    assert "abcdefgh" not in raised.value.detail and "sk-live" not in raised.value.detail


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(body: bytes, headers: dict[str, str]) -> Iterator[str]:
    """A provider that answers every POST with `body` written in one go."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = headers.get("Connection") == "close"

        def log_message(self, format, *args) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def events_of(tokens: list[str]) -> bytes:
    lines = [
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}) + "\n\n"
        for token in tokens
    ]
    lines.append('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')
    return "".join(lines).encode()


def test_500_tokens_written_at_once_arrive_as_one_piece():
    tokens = [f"tok{i} " for i in range(500)]
    sse = events_of(tokens)
    wire = chunked(*[sse[i : i + 200] for i in range(0, len(sse), 200)])
    with serve(wire, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}) as url:
        events = list(ProviderClient().stream(url, None, PAYLOAD))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert "".join(d.content for d in deltas) == "".join(tokens)
    assert len(deltas) <= 3, "whatever a read brought is one piece"
    assert events[-1] == Done("stop", None)


def test_a_compressed_stream_the_client_did_not_ask_for_is_still_read():
    sse = events_of(["zipped ", "answer"])
    headers = {"Content-Type": "text/event-stream", "Content-Encoding": "gzip", "Connection": "close"}
    with serve(gzip.compress(sse), headers) as url:
        events = list(ProviderClient().stream(url, None, PAYLOAD))
    assert "".join(e.content for e in events if isinstance(e, Delta)) == "zipped answer"
    assert events[-1] == Done("stop", None)


def test_a_body_shorter_than_its_length_is_a_broken_connection():
    sse = events_of(["cut"])
    headers = {"Content-Type": "text/event-stream", "Content-Length": str(len(sse) + 100), "Connection": "close"}
    with serve(sse[:-10], headers) as url, pytest.raises(ProviderError) as raised:
        list(ProviderClient().stream(url, None, PAYLOAD))
    assert raised.value.code in ("provider_down", "timeout")


def test_trailers_without_end_are_a_bad_response_not_an_endless_read():
    decoder = ChunkedDecoder()
    decoder.feed(b"5\r\nhello\r\n0\r\n")
    with pytest.raises(ProviderError) as raised:
        for _ in range(1000):
            decoder.feed(b"X-Pad: " + b"a" * 90 + b"\r\n")
    assert raised.value.code == "bad_response"


def test_a_provider_trickling_trailers_times_out_on_time():
    """After its last chunk the provider sends a trailer line every 0.1 s, forever: framing with no
    text in it must not keep the read going past the silence limit."""

    class Trickle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            event = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
            try:
                self.wfile.write(b"%x\r\n%s\r\n0\r\n" % (len(event), event))
                for _ in range(200):
                    self.wfile.write(b"X-A: b\r\n")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, format, *args) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    events = []
    try:
        with pytest.raises(ProviderError) as raised:
            stream = ProviderClient().stream(
                f"http://127.0.0.1:{server.server_address[1]}/v1",
                None,
                PAYLOAD,
                timeouts=Timeouts(first_token=1, idle=1, total=30),
            )
            events.extend(stream)
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.code == "timeout"
    assert events == [Delta(content="hi")]
    assert time.monotonic() - started < 4
