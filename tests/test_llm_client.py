"""ProviderClient against the fake provider over real sockets (tests/fake_provider.py).

Only DNS is substituted, and only where a test needs a host name to resolve to an address that
cannot be served locally (the metadata address, a rebinding answer): url_safety.getaddrinfo.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aihelper.llm import Delta, Done, ModelListing, ProviderClient, ProviderError, Timeouts, check_base_url, url_safety
from aihelper.llm.client import parse_retry_after
from aihelper.llm.errors import redact
from aihelper.llm.url_safety import address_problem
from tests.fixtures.fake_provider import KEY_ECHOING_ANSWERS, FakeProvider

KEY = "sk-test-0123456789abcdef"
PAYLOAD = {"model": "fake-model", "messages": [{"role": "user", "content": "Say hello to the test suite"}]}


@pytest.fixture
def client() -> Iterator[ProviderClient]:
    with ProviderClient() as c:
        yield c


def collect(stream) -> tuple[list[Delta | Done], ProviderError | None]:
    """Everything a stream yielded, and the error that ended it (if any)."""
    events: list[Delta | Done] = []
    try:
        for event in stream:
            events.append(event)
    except ProviderError as error:
        return events, error
    return events, None


def text_of(events) -> str:
    return "".join(e.content for e in events if isinstance(e, Delta))


def assert_not_leaked(error: ProviderError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in error.detail


# --- list_models -----------------------------------------------------------------------------------


def test_list_models_returns_ids_status_and_latency(client, fake_provider):
    fake_provider.models = ["glm-4", "qwen-max", "glm-4", "deepseek-reasoner"]
    listing = client.list_models(fake_provider.base_url + "/ ", None)  # trailing slash and space tolerated
    assert isinstance(listing, ModelListing)
    assert listing.model_ids == ["glm-4", "qwen-max", "deepseek-reasoner"]
    assert listing.status == 200
    assert 0 < listing.latency_ms < 10_000
    assert fake_provider.requests[0]["path"] == "/v1/models"
    assert "Authorization" not in fake_provider.requests[0]["headers"]


def test_the_key_reaches_the_provider_in_the_authorization_header(client, fake_provider):
    fake_provider.expected_key = KEY
    assert client.list_models(fake_provider.base_url, KEY).model_ids == ["fake-model", "fake-reasoner"]
    assert fake_provider.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_wrong_key_is_unauthorized_and_never_quoted(client, fake_provider):
    fake_provider.expected_key = KEY
    wrong = "sk-wrong-key-9876543210"
    with pytest.raises(ProviderError) as caught:
        client.list_models(fake_provider.base_url, wrong)
    assert caught.value.code == "unauthorized"
    assert caught.value.status == 401
    assert "Incorrect API key" in caught.value.detail  # the provider's words, for the log
    assert_not_leaked(caught.value, wrong, KEY)


def test_a_key_quoted_back_by_the_provider_is_redacted_from_the_detail(client, fake_provider):
    fake_provider.expected_key = KEY
    fake_provider.echo_key_in_errors = True
    wrong = "sk-echoed-back-5555555555"
    with pytest.raises(ProviderError) as caught:
        client.list_models(fake_provider.base_url, wrong)
    assert caught.value.code == "unauthorized"
    assert "Incorrect API key provided" in caught.value.detail
    assert_not_leaked(caught.value, wrong)
    events, error = collect(client.stream(fake_provider.base_url, wrong, PAYLOAD))
    assert events == [] and error.code == "unauthorized"
    assert_not_leaked(error, wrong)


# Those the client reports as an error: events it can't read and then [DONE] end a stream quietly.
FAILING_ANSWERS = {name: answer for name, answer in KEY_ECHOING_ANSWERS.items() if "[DONE]" not in answer[2]}


@pytest.mark.parametrize("answer", FAILING_ANSWERS.values(), ids=FAILING_ANSWERS.keys())
def test_whatever_the_provider_answers_its_error_never_quotes_the_key(client, fake_provider, answer):
    fake_provider.script(answer_with=answer)
    url = fake_provider.base_url
    for call in (
        lambda: client.list_models(url, KEY),
        lambda: client.complete(url, KEY, PAYLOAD),
        lambda: list(client.stream(url, KEY, PAYLOAD)),
    ):
        with pytest.raises(ProviderError) as caught:
            call()
        assert_not_leaked(caught.value, KEY, KEY[-12:])
    assert {r["headers"]["Authorization"] for r in fake_provider.requests} == {f"Bearer {KEY}"}


def test_a_model_list_that_is_not_json_is_quoted_for_the_log_without_the_key(client, fake_provider):
    for body in ("no JSON, key {key}", '{"data": "key {key}"}'):
        fake_provider.script(answer_with=(200, "application/json", body))
        with pytest.raises(ProviderError) as caught:
            client.list_models(fake_provider.base_url, KEY)
        assert caught.value.code == "bad_response"
        assert "key [redacted]" in caught.value.detail
        assert_not_leaked(caught.value, KEY)


def test_a_quote_made_without_the_key_still_leaves_the_client_without_it(client, fake_provider, monkeypatch):
    from aihelper.llm import client as client_module
    from aihelper.llm.errors import excerpt

    monkeypatch.setattr(client_module, "excerpt", lambda body, secret: excerpt(body, None))
    fake_provider.script(answer_with=(200, "application/json", '{"data": "key {key}"}'))
    with pytest.raises(ProviderError) as caught:
        client.list_models(fake_provider.base_url, KEY)
    assert "key [redacted]" in caught.value.detail


def test_the_key_is_cut_out_as_sent_and_as_a_json_body_quotes_it():
    key = 'sk-ab/cd"ef\\gh'
    for quoted in (key, json.dumps({"k": key}), json.dumps({"k": key}).replace("/", "\\/")):
        redacted = redact(quoted, key)
        assert "[redacted]" in redacted and "ab/cd" not in redacted and "ab\\/cd" not in redacted, quoted
    assert redact(json.dumps({"k": key}), key) == '{"k": "[redacted]"}'


def test_a_key_cut_short_by_the_details_length_limit_is_cut_out_too():
    error = ProviderError("bad_response", detail="x" * 990 + KEY)
    assert error.detail.endswith(KEY[:10]), "the limit cut the key short"
    assert redact(error.detail, KEY) == "x" * 990 + "[redacted]"


def test_a_key_that_is_not_a_header_value_is_refused_before_sending(client, fake_provider):
    bad = "sk-abc\r\nX-Injected: 1"
    with pytest.raises(ProviderError) as caught:
        client.list_models(fake_provider.base_url, bad)
    assert caught.value.code == "unauthorized"
    assert_not_leaked(caught.value, bad, "sk-abc")
    assert fake_provider.requests == []


def test_list_models_of_a_hanging_provider_times_out(client, fake_provider):
    fake_provider.script(hang_before_headers=True)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        client.list_models(fake_provider.base_url, KEY, timeout=0.5)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 3
    assert_not_leaked(caught.value, KEY)


def test_list_models_of_a_silent_server_times_out(client):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            client.list_models(f"http://127.0.0.1:{port}/v1", KEY, timeout=0.5)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 5
    assert_not_leaked(caught.value, KEY)


def test_connection_refused_is_provider_down(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connecting is refused
        with pytest.raises(ProviderError) as caught:
            client.list_models(f"http://127.0.0.1:{port}/v1", KEY)
    assert caught.value.code == "provider_down"
    assert_not_leaked(caught.value, KEY)


def test_unknown_host_is_a_network_error(client):
    with pytest.raises(ProviderError) as caught:
        client.list_models("http://no-such-host.invalid/v1", KEY, timeout=5)
    assert caught.value.code == "network"


# --- redirects and HTTP errors ----------------------------------------------------------------------


def test_redirect_is_not_followed_and_the_target_receives_nothing(client, fake_provider):
    with FakeProvider() as target:
        fake_provider.script(redirect_to=target.base_url + "/models")
        with pytest.raises(ProviderError) as caught:
            client.list_models(fake_provider.base_url, KEY)
        assert (caught.value.code, caught.value.status) == ("redirect", 302)
        events, error = collect(client.stream(fake_provider.base_url, KEY, PAYLOAD))
        assert events == []
        assert (error.code, error.status) == ("redirect", 302)
        with pytest.raises(ProviderError) as caught:
            client.complete(fake_provider.base_url, KEY, PAYLOAD)
        assert caught.value.code == "redirect"
        assert target.requests == []  # each call returned: a followed redirect would be recorded by now
    assert len(fake_provider.requests) == 3


def test_rate_limited_carries_retry_after(client, fake_provider):
    fake_provider.script(status=429, retry_after=17)
    events, error = collect(client.stream(fake_provider.base_url, KEY, PAYLOAD))
    assert events == []
    assert (error.code, error.status, error.retry_after) == ("rate_limited", 429, 17)
    assert_not_leaked(error, KEY)


def test_500_html_is_provider_down_without_the_body_or_the_key_in_the_message(client, fake_provider):
    fake_provider.script(status=500)
    events, error = collect(client.stream(fake_provider.base_url, KEY, PAYLOAD))
    assert events == []
    assert (error.code, error.status) == ("provider_down", 500)
    assert "<html" not in str(error) and "Internal Server Error" not in str(error)
    assert "Internal Server Error" in error.detail and len(error.detail) <= 600
    assert_not_leaked(error, KEY)
    with pytest.raises(ProviderError) as caught:
        client.complete(fake_provider.base_url, KEY, PAYLOAD)
    assert caught.value.code == "provider_down"


def test_unknown_model_is_model_not_found(client, fake_provider):
    fake_provider.script(status=404)
    with pytest.raises(ProviderError) as caught:
        client.complete(fake_provider.base_url, KEY, PAYLOAD)
    assert (caught.value.code, caught.value.status) == ("model_not_found", 404)


def test_retry_after_as_seconds_or_http_date():
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("99999999999") == 24 * 3600


# --- URL and address safety -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://[fe80::1]/v1",
        "http://[fd00:ec2::254]/v1",
        "http://0.0.0.0/v1",
        "ftp://x/v1",
        "file:///etc/passwd",
        "http://user:pw@host/v1",
        "http://host/v1?x=1",
        "http://host/v1#frag",
        "http://evil.example\\@good.example/v1",
        "http:///v1",
        "",
    ],
)
def test_blocked_urls(client, url):
    with pytest.raises(ProviderError) as caught:
        check_base_url(url)
    assert caught.value.code == "blocked_url"
    with pytest.raises(ProviderError) as caught:
        client.list_models(url, KEY)
    assert caught.value.code == "blocked_url"
    events, error = collect(client.stream(url, KEY, PAYLOAD))
    assert events == [] and error.code == "blocked_url"


def test_check_base_url_normalises():
    assert check_base_url("  HTTPS://API.Example.COM/v1/  ") == "https://api.example.com/v1"
    assert check_base_url("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"
    assert check_base_url("http://[::1]:8000/v1/") == "http://[::1]:8000/v1"


@pytest.mark.parametrize(
    ("address", "always", "private"),
    [
        ("169.254.169.254", True, True),
        ("169.254.0.1", True, True),
        ("100.100.100.200", True, True),  # Alibaba Cloud metadata
        ("fd00:ec2::254", True, True),
        ("fe80::1", True, True),
        ("fe80::1%eth0", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("64:ff9b::a9fe:a9fe", True, True),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", True, True),  # 6to4 of 169.254.169.254
        ("0.0.0.0", True, True),
        ("::", True, True),
        ("224.0.0.1", True, True),
        ("ff02::1", True, True),
        ("255.255.255.255", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.1", False, True),
        ("192.168.1.10", False, True),
        ("fc00::1", False, True),
        ("fd12:3456::1", False, True),
        ("8.8.8.8", False, False),
        ("2606:4700::1111", False, False),
        ("64:ff9b::808:808", False, False),
    ],
)
def test_address_rules(address, always, private):
    assert (address_problem(address, refuse_private=False) is not None) is always
    assert (address_problem(address, refuse_private=True) is not None) is private


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Make url_safety resolve the given names to the given addresses (in turn); returns the log
    of lookups. Other names resolve normally."""
    real = url_safety.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, family, type_):
        lookups.append(host)
        if host not in answers:
            return real(host, port, family, type_)
        address = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(url_safety, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"])
def test_a_name_resolving_to_the_metadata_address_is_refused_at_connect(client, monkeypatch, address):
    lookups = fake_dns(monkeypatch, {"metadata.attacker.test": [address]})
    url = "http://metadata.attacker.test/v1"
    assert check_base_url(url) == url  # nothing wrong with the URL itself
    with pytest.raises(ProviderError) as caught:
        client.list_models(url, KEY)
    assert caught.value.code == "blocked_url"
    assert_not_leaked(caught.value, KEY)
    events, error = collect(client.stream(url, KEY, PAYLOAD))
    assert events == [] and error.code == "blocked_url"
    assert lookups == ["metadata.attacker.test", "metadata.attacker.test"]


def test_dns_rebinding_cannot_reach_the_metadata_address(monkeypatch, fake_provider):
    # First answer: the (local) provider; every later answer: the metadata address. The address
    # checked is the address connected to, so the second connection is refused.
    lookups = fake_dns(monkeypatch, {"rebind.test": ["127.0.0.1", "169.254.169.254"]})
    url = f"http://rebind.test:{fake_provider.port}/v1"
    with ProviderClient() as first:
        assert first.list_models(url, None).status == 200
    with ProviderClient() as second, pytest.raises(ProviderError) as caught:
        second.list_models(url, None)
    assert caught.value.code == "blocked_url"
    assert lookups == ["rebind.test", "rebind.test"]
    assert len(fake_provider.requests) == 1


def test_a_name_with_one_bad_address_among_good_ones_is_refused(client, monkeypatch, fake_provider):
    def getaddrinfo(host, port, family, type_):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    monkeypatch.setattr(url_safety, "getaddrinfo", getaddrinfo)
    with pytest.raises(ProviderError) as caught:
        client.list_models(f"http://mixed.test:{fake_provider.port}/v1", None)
    assert caught.value.code == "blocked_url"
    assert fake_provider.requests == []


def test_loopback_is_allowed_by_default_and_refused_when_private_networks_are(fake_provider):
    with ProviderClient() as default:
        assert default.list_models(fake_provider.base_url, None).status == 200
    with ProviderClient(refuse_private_networks=True) as strict:
        with pytest.raises(ProviderError) as caught:
            strict.list_models(fake_provider.base_url, KEY)
        assert caught.value.code == "blocked_url"
        events, error = collect(strict.stream(fake_provider.base_url, KEY, PAYLOAD))
        assert events == [] and error.code == "blocked_url"
    assert len(fake_provider.requests) == 1  # only the default client's


def test_environment_proxies_and_netrc_are_ignored(monkeypatch, tmp_path, fake_provider):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with ProviderClient() as client:
        assert client.list_models(fake_provider.base_url, None).status == 200
    assert "Authorization" not in fake_provider.requests[0]["headers"]


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None) -> Iterator[int]:
    """A one-off HTTP(S) server on 127.0.0.1 for behaviour the fake provider does not have; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


class _CookieSetter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"data": [{"id": "m"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=provider-a-secret; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


def test_a_cookie_from_one_provider_never_reaches_another(client, fake_provider):
    # Same host, other port: a browser-like cookie jar would send the cookie along.
    with serve(_CookieSetter) as port:
        client.list_models(f"http://127.0.0.1:{port}/v1", None)
    client.list_models(fake_provider.base_url, None)
    _events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    for request in fake_provider.requests:
        assert "Cookie" not in request["headers"]


# --- TLS ---------------------------------------------------------------------------------------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for "localhost" signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aihelper test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def test_tls_verifies_the_certificate_against_the_host_name(tmp_path):
    ca_path, cert_path, key_path = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    with serve(_CookieSetter, context) as port:
        with ProviderClient(ca_bundle=str(ca_path)) as trusting:
            # The address checks connect the socket, TLS still checks "localhost" against the certificate.
            assert trusting.list_models(f"https://localhost:{port}/v1", None).model_ids == ["m"]
            with pytest.raises(ProviderError) as caught:
                trusting.list_models(f"https://127.0.0.1:{port}/v1", None)  # not a name in the certificate
            assert caught.value.code == "network"
        with ProviderClient() as default, pytest.raises(ProviderError) as caught:
            default.list_models(f"https://localhost:{port}/v1", None)  # unknown CA
        assert caught.value.code == "network"


# --- streaming ---------------------------------------------------------------------------------------


def test_stream_yields_the_exact_text_then_done_with_usage(client, fake_provider):
    fake_provider.expected_key = KEY
    fake_provider.script(reply="Hello there, general Kenobi.")
    events, error = collect(client.stream(fake_provider.base_url, KEY, PAYLOAD))
    assert error is None
    assert text_of(events) == "Hello there, general Kenobi."
    assert all(isinstance(e, Delta) for e in events[:-1])
    prompt_tokens = len(PAYLOAD["messages"][0]["content"]) // 4 + 1
    assert events[-1] == Done("stop", {"prompt_tokens": prompt_tokens, "completion_tokens": 4})
    request = fake_provider.requests[0]
    assert request["json"] == {**PAYLOAD, "stream": True}
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["headers"]["Accept"] == "text/event-stream"


def test_deltas_are_yielded_before_the_provider_has_sent_the_rest(client, fake_provider):
    # The provider stalls after one piece: that piece must already be out.
    fake_provider.script(tokens=["first ", "second ", "third"], stall_after=1)
    stream = client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(first_token=5, idle=5))
    assert next(stream) == Delta(content="first ")
    fake_provider.release()
    events, error = collect(stream)
    assert error is None
    assert text_of(events) == "second third"
    assert isinstance(events[-1], Done)


def test_first_delta_arrives_long_before_a_slow_answer_ends(client, fake_provider):
    fake_provider.script(tokens=[f"t{i} " for i in range(10)], token_delay=0.1)
    started = time.monotonic()
    arrivals = [time.monotonic() - started for _ in client.stream(fake_provider.base_url, None, PAYLOAD)]
    assert arrivals[-1] >= 0.9  # nine pauses of 0.1 s
    assert arrivals[0] < arrivals[-1] / 2


def test_reasoning_arrives_as_reasoning_deltas(client, fake_provider):
    fake_provider.script(reasoning="Let me think step by step.", reply="42")
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    reasoning = [e for e in events if isinstance(e, Delta) and e.reasoning]
    assert "".join(e.reasoning for e in reasoning) == "Let me think step by step."
    assert text_of(events) == "42"
    assert events[-1].usage["completion_tokens"] == 7  # six reasoning pieces and one content piece


def test_utf8_split_across_reads_is_exact(client, fake_provider):
    reply = "😀 𝕏 👨‍👩‍👧 中文"
    fake_provider.script(reply=reply, split_utf8=True)
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    assert text_of(events) == reply
    assert events[-1].finish_reason == "stop"


def test_keepalive_comments_and_data_without_space(client, fake_provider):
    fake_provider.script(reply="kept alive and well", keepalive_comments=True, no_space_after_data=True)
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    assert text_of(events) == "kept alive and well"
    assert isinstance(events[-1], Done) and events[-1].usage is not None


def test_a_cut_connection_raises_after_yielding_what_arrived(client, fake_provider):
    fake_provider.script(tokens=["one ", "two ", "three ", "four"], cut_after=2)
    events, error = collect(client.stream(fake_provider.base_url, KEY, PAYLOAD))
    assert text_of(events) == "one two " and all(isinstance(e, Delta) for e in events)
    assert error is not None and error.code == "provider_down"
    assert_not_leaked(error, KEY)


def test_a_clean_end_without_done_still_gives_done(client, fake_provider):
    fake_provider.script(reply="no done marker", no_done=True)
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    assert text_of(events) == "no done marker"
    assert events[-1] == Done("stop", events[-1].usage) and events[-1].usage is not None


def test_finish_reason_length(client, fake_provider):
    fake_provider.script(reply="truncated answer", finish_reason="length", usage=False)
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD))
    assert error is None
    assert events[-1] == Done("length", None)


def test_stream_silent_before_headers_times_out(client, fake_provider):
    fake_provider.script(hang_before_headers=True)
    started = time.monotonic()
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(first_token=0.5)))
    assert events == [] and error.code == "timeout"
    assert time.monotonic() - started < 3


def test_a_stall_mid_stream_times_out_after_the_idle_limit(client, fake_provider):
    fake_provider.script(tokens=["a ", "b ", "c"], stall_after=2)
    started = time.monotonic()
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(idle=0.5)))
    assert time.monotonic() - started >= 0.5, "not before the idle limit"
    assert text_of(events) == "a b " and all(isinstance(e, Delta) for e in events)
    assert error is not None and error.code == "timeout"
    assert fake_provider.wait_for_disconnect()  # the client hung up on the stalled provider


def test_the_total_limit_ends_a_trickling_stream(client, fake_provider):
    fake_provider.script(tokens=[f"{i} " for i in range(40)], token_delay=0.1)
    started = time.monotonic()
    events, error = collect(client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(idle=5, total=1.0)))
    assert time.monotonic() - started >= 1.0, "not before the total limit"
    assert error is not None and error.code == "timeout"
    assert 3 <= len(events) < 40 and not any(isinstance(e, Done) for e in events)


def test_close_from_another_thread_ends_a_blocked_read_at_once(client, fake_provider):
    fake_provider.script(tokens=["one ", "two ", "three ", "four"], stall_after=2)
    # Short limits only so that a broken close() fails the test instead of hanging it.
    stream = client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(first_token=5, idle=5))
    arrived = ""
    while arrived != "one two ":  # in one piece or two, as the reads found them
        arrived += next(stream).content
    closer = threading.Timer(0.3, stream.close)
    closer.start()
    events, error = collect(stream)  # blocks in a read until close()
    closer.join()
    # A stopped stream just ends: StopIteration, no Done, and no timeout (the idle limit's 5 s).
    assert events == [] and error is None
    assert fake_provider.wait_for_disconnect(timeout=2)
    assert stream.closed
    assert list(stream) == []  # stays ended


def test_close_while_waiting_for_headers(client, fake_provider):
    fake_provider.script(hang_before_headers=True)
    stream = client.stream(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(first_token=5))
    threading.Timer(0.3, stream.close).start()
    events, error = collect(stream)
    assert events == [] and error is None  # not the first-token limit's timeout
    assert fake_provider.wait_for_disconnect(timeout=2)


def test_close_before_iterating_sends_nothing(client, fake_provider):
    stream = client.stream(fake_provider.base_url, KEY, PAYLOAD)
    stream.close()
    assert list(stream) == []
    assert fake_provider.requests == []


def test_breaking_out_and_dropping_the_stream_hangs_up(client, fake_provider):
    fake_provider.script(tokens=[f"{i} " for i in range(50)], token_delay=0.05)
    for event in client.stream(fake_provider.base_url, None, PAYLOAD):
        assert event == Delta(content="0 ")
        break
    assert fake_provider.wait_for_disconnect(timeout=2)


def test_close_in_the_consumer_thread_hangs_up(client, fake_provider):
    fake_provider.script(tokens=[f"{i} " for i in range(50)], token_delay=0.05)
    with client.stream(fake_provider.base_url, None, PAYLOAD) as stream:
        assert next(stream) == Delta(content="0 ")
    assert fake_provider.wait_for_disconnect(timeout=2)


def test_connections_are_reused_across_calls(client, fake_provider, monkeypatch):
    lookups = fake_dns(monkeypatch, {})  # one lookup per new connection
    for _ in range(3):
        assert collect(client.stream(fake_provider.base_url, None, PAYLOAD))[1] is None
        client.complete(fake_provider.base_url, None, PAYLOAD)
        client.list_models(fake_provider.base_url, None)
    assert len(fake_provider.requests) == 9
    assert lookups == ["127.0.0.1"]


def test_a_provider_that_ignores_stream_true_is_still_understood(client):
    class JsonOnly(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(
                {
                    "choices": [{"index": 0, "message": {"content": "whole answer"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:
            pass

    with serve(JsonOnly) as port:
        events, error = collect(client.stream(f"http://127.0.0.1:{port}/v1", None, PAYLOAD))
    assert error is None
    assert events == [Delta(content="whole answer"), Done("stop", {"prompt_tokens": 3, "completion_tokens": 2})]


# --- complete ----------------------------------------------------------------------------------------


def test_complete_returns_the_message_content(client, fake_provider):
    fake_provider.expected_key = KEY
    fake_provider.script(reply="A short title", reasoning="hmm")
    assert client.complete(fake_provider.base_url, KEY, {**PAYLOAD, "stream": True}).text == "A short title"
    assert fake_provider.requests[0]["json"]["stream"] is False


def test_complete_with_a_wrong_key(client, fake_provider):
    fake_provider.expected_key = KEY
    with pytest.raises(ProviderError) as caught:
        client.complete(fake_provider.base_url, "sk-not-the-right-one", PAYLOAD)
    assert caught.value.code == "unauthorized"
    assert_not_leaked(caught.value, "sk-not-the-right-one")


def test_complete_times_out_when_the_provider_hangs(client, fake_provider):
    fake_provider.script(hang_before_headers=True)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        client.complete(fake_provider.base_url, None, PAYLOAD, timeouts=Timeouts(first_token=0.5))
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 3


def test_provider_error_message_is_generic():
    error = ProviderError("bad_response", status=200, detail="body: secret stuff")
    assert str(error) == "The AI provider sent an answer that could not be understood."
    assert "secret" not in repr(error)
    with pytest.raises(ValueError):
        ProviderError("nonsense")  # type: ignore[arg-type]
