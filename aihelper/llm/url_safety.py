"""Which provider URLs and which addresses the outbound client may talk to.

Two layers, because either alone is not enough:

* ``check_base_url`` refuses what is wrong in the URL itself (scheme, credentials, query, odd
  characters that parsers disagree about, and IP literals that are never acceptable). It runs when
  an admin saves a provider and again before every call.
* ``connect_checked`` runs when a TCP connection is actually opened: it resolves the host once,
  checks every address it got, and connects only to those. Checking earlier and letting the HTTP
  library resolve again later would let a DNS answer that changes in between (rebinding) reach
  the cloud metadata service.

Loopback and private networks are allowed unless the client was built with
``refuse_private_networks=True``: a local Ollama or vLLM is a normal provider here.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from urllib3.util.connection import allowed_gai_family

from aihelper.llm.errors import ProviderError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_net = ipaddress.ip_network

# Never reachable from here, whatever the settings: link-local (where every cloud puts its
# metadata service), the metadata addresses that are not link-local, and addresses that are not
# a single remote host at all.
_ALWAYS_REFUSED_V4: Final = (
    (_net("169.254.0.0/16"), "link-local / cloud metadata"),
    (_net("100.100.100.200/32"), "cloud metadata (Alibaba Cloud)"),
    (_net("192.0.0.192/32"), "cloud metadata (Oracle Cloud)"),
    (_net("0.0.0.0/8"), "unspecified"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("240.0.0.0/4"), "reserved / broadcast"),
)
_ALWAYS_REFUSED_V6: Final = (
    (_net("fd00:ec2::254/128"), "cloud metadata (AWS)"),
    (_net("fe80::/10"), "link-local"),
    (_net("::/128"), "unspecified"),
    (_net("ff00::/8"), "multicast"),
)
# Refused only with refuse_private_networks=True.
_PRIVATE_V4: Final = (
    _net("127.0.0.0/8"),
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT: someone else's private network
)
_PRIVATE_V6: Final = (
    _net("::1/128"),
    _net("fc00::/7"),
    _net("fec0::/10"),  # deprecated site-local, still routed by some stacks
    _net("64:ff9b:1::/48"),  # local-use NAT64: translates to addresses we cannot see
)
_NAT64_WELL_KNOWN: Final = _net("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = _net("::/96")  # deprecated ::a.b.c.d form


def address_problem(address: str | IPAddress, *, refuse_private: bool) -> str | None:
    """Why *address* must not be connected to, or None when it may be."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge that host.
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded, refuse_private=refuse_private)
            return f"{problem} (embedded in {ip})" if problem else None
        always, private = _ALWAYS_REFUSED_V6, _PRIVATE_V6
    else:
        always, private = _ALWAYS_REFUSED_V4, _PRIVATE_V4
    for network, reason in always:
        if ip in network:
            return reason
    if refuse_private and any(ip in network for network in private):
        return "loopback / private network"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


# Characters that URL parsers treat differently (backslash, whitespace, controls): refusing them
# means Python's urlsplit and urllib3 cannot disagree about which host is meant.
_FORBIDDEN_URL_CHARS: Final = frozenset("\\<>\"'`{}|^") | frozenset(chr(c) for c in range(33)) | {"\x7f"}


@functools.lru_cache(maxsize=256)  # the same few URLs, checked on every call; no setting changes the answer
def check_base_url(url: str) -> str:
    """The normalised base URL (trimmed, no trailing slash, lower-case scheme and host).

    Raises ProviderError("blocked_url") unless it is http(s) with a host, without credentials,
    query or fragment, and not an IP literal that is never allowed (link-local, metadata, ...).
    Addresses a host name resolves to are checked later, when connecting.
    """
    if not isinstance(url, str):
        raise ProviderError("blocked_url", detail="base URL is not a string")
    text = url.strip().rstrip("/")
    if any(ch in _FORBIDDEN_URL_CHARS for ch in text):
        raise ProviderError("blocked_url", detail="base URL contains whitespace, controls or ambiguous characters")
    if "?" in text or "#" in text:
        raise ProviderError("blocked_url", detail="base URL has a query or a fragment")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ProviderError("blocked_url", detail=f"base URL does not parse: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ProviderError("blocked_url", detail=f"scheme {scheme!r} is not http or https")
    if "@" in parts.netloc:
        raise ProviderError("blocked_url", detail="base URL carries credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ProviderError("blocked_url", detail="base URL has no host")
    if port == 0:
        raise ProviderError("blocked_url", detail="base URL has port 0")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        problem = address_problem(literal, refuse_private=False)
        if problem:
            raise ProviderError("blocked_url", detail=f"{host} is refused: {problem}")
    return f"{scheme}://{parts.netloc.lower()}{parts.path}"


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """Where a base URL's requests go: (scheme, host, port), the same however the URL spells them
    (the host in lower case and without a final dot, the default port filled in); the path is not
    part of it. Raises ProviderError("blocked_url") for a URL check_base_url refuses."""
    parts = urlsplit(check_base_url(url))
    return parts.scheme, (parts.hostname or "").rstrip("."), parts.port or _DEFAULT_PORTS[parts.scheme]


AddrInfo = tuple[Any, Any, int, str, tuple[Any, ...]]


def getaddrinfo(host: str, port: int, family: int, type_: int) -> Sequence[AddrInfo]:
    """The one DNS lookup of the outbound client (looked up at call time, so gevent's patch applies
    and tests can substitute it)."""
    return socket.getaddrinfo(host, port, family, type_)


def resolve_checked(host: str, port: int, *, refuse_private: bool) -> list[AddrInfo]:
    """Resolve *host* once and check every address; raises ProviderError("blocked_url") if any is
    refused, so a name that also points at a metadata address is not used at all."""
    infos = list(getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM))
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    for info in infos:
        address = str(info[4][0])
        problem = address_problem(address, refuse_private=refuse_private)
        if problem:
            raise ProviderError("blocked_url", detail=f"{host} resolves to {address}: {problem}")
    return infos


def connect_checked(
    host: str,
    port: int,
    *,
    refuse_private: bool,
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
    socket_options: Sequence[tuple[int, int, int | bytes]] | None = None,
) -> socket.socket:
    """A TCP connection to one of the checked addresses of *host* (tried in resolver order).

    Raises ProviderError("blocked_url") before any packet goes to a refused address, otherwise the
    OSError of the last failed attempt, like ``socket.create_connection``.
    """
    last_error: OSError | None = None
    for family, type_, proto, _canonname, sockaddr in resolve_checked(host, port, refuse_private=refuse_private):
        sock = socket.socket(family, type_, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            continue
        return sock
    assert last_error is not None  # resolve_checked never returns an empty list
    raise last_error
