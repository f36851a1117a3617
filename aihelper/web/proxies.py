"""X-Forwarded-* believed from the reverse proxy only (AIHELPER_PROXY_FIX, FORWARDED_ALLOW_IPS).

With AIHELPER_PROXY_FIX=N the app takes the client's address, scheme, host and port from the
headers of the N proxies in front of it (Werkzeug's ProxyFix reads the last N entries, those the
proxies added). Someone reaching gunicorn without going through the proxy could write those headers
himself and choose the address that rate limits count and the audit log shows, so they are read
only on connections from FORWARDED_ALLOW_IPS: gunicorn's setting of the same name, with which
gunicorn decides whether to believe X-Forwarded-Proto (gunicorn.conf.py reads the same variable).
Comma-separated addresses or networks, `*` for any; a Unix socket's peer, which has no address, is
the proxy, as for gunicorn.
"""

from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(setting: str) -> tuple[Network, ...] | None:
    """The networks of FORWARDED_ALLOW_IPS, or None for `*` (every peer)."""
    entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
    if "*" in entries:
        return None
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for requests from the proxies, the request as it came otherwise."""

    def __init__(self, wsgi_app, hops: int, trusted: str) -> None:
        self.direct = wsgi_app
        self.fixed = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        self.networks = trusted_networks(trusted)

    def from_proxy(self, peer: str) -> bool:
        if self.networks is None:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return True  # a Unix socket: only this machine's processes (the proxy) connect to it
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        chosen = self.fixed if self.from_proxy(environ.get("REMOTE_ADDR", "")) else self.direct
        return chosen(environ, start_response)
