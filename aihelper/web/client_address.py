"""Who a client is, for counting its requests against per-address limits (SECURITY.md rule 9).

One IPv6 host is given a whole /64 (SLAAC, privacy addresses), so it could try each guess from
another of its 2^64 addresses: IPv6 clients are counted by their /64. An IPv4 address is counted
alone, and an IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 client) as that
IPv4 address.
"""

from __future__ import annotations

import ipaddress

from flask import request

IPV6_PREFIX = 64


def address_key(address: str) -> str:
    """The name `address` is counted under: itself for IPv4, its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket's peer, a test client): counted as itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def client_key() -> str:
    """The requesting client's key (after ProxyFix, the address the proxy was told)."""
    return address_key(request.remote_addr or "")
