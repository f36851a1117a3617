"""Refusing requests for host names the operator did not configure, before the app does anything
with them (SECURITY.md rule 6: DNS rebinding).

A page on a domain whose owner points it at this server's address runs in the browser with that
domain as its origin. The Origin check compares Origin with the request's own Host, which is that
same domain, so the page could drive a local instance (register the first account of a fresh
install and become its admin). A browser always sends the name it used as Host, and a page can't
make it send another: refusing names nobody configured stops it.

Allowed: the names of AIHELPER_ALLOWED_HOSTS (`*.example.com`: any name under example.com),
localhost and the loopback addresses, and the address the server listens on, written as an IP
(any IP when it listens on all of them: 0.0.0.0 or ::). Ports don't count. An IP is never a
rebinding page's Host, so reaching the server by its address keeps working.

Behind a proxy the name checked is the one the browser used: X-Forwarded-Host with
AIHELPER_PROXY_FIX (ProxyFix runs first), else the Host the proxy passes on. The listening address
is taken from before ProxyFix, which rewrites SERVER_NAME to the forwarded name.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from functools import lru_cache

from flask import Flask
from flask_babel import gettext
from werkzeug.wrappers import Request, Response

from aihelper.errors import JSON_PATHS
from aihelper.i18n import request_language, speaking

log = logging.getLogger(__name__)

LISTENING_ON_ALL = frozenset({ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")})  # noqa: S104 - not a bind


def host_name(host: str) -> str:
    """A Host header or a configured name without its port, brackets and final dot, in lower case.
    Only one final dot goes: "localhost.." keeps an empty label, and is no name (`_well_formed`)."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.removesuffix(".")


def _well_formed(name: str) -> bool:
    """No empty label: DNS has none, and Werkzeug can't build URLs for such a Host (it would reach
    the app only to fail there)."""
    return "" not in name.split(".")


@lru_cache(maxsize=16)
def allowed_hosts(setting: str) -> frozenset[str]:
    """The names of AIHELPER_ALLOWED_HOSTS (comma-separated), normalised like a Host header."""
    return frozenset(host_name(name) for name in setting.split(",") if name.strip())


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _named(name: str, allowed: Iterable[str]) -> bool:
    return any(name == entry or (entry.startswith("*.") and name.endswith(entry[1:])) for entry in allowed)


def host_allowed(environ: dict, allowed: frozenset[str]) -> bool:
    given = environ.get("HTTP_HOST")
    if not given:
        return True  # an HTTP/1.0 client without Host is no browser, so no rebinding page
    name = host_name(given)
    if not _well_formed(name):
        return False
    if name == "localhost" or _named(name, allowed):
        return True
    address = _address(name)
    if address is None:
        return False
    listening = _address(host_name(environ.get("werkzeug.proxy_fix.orig", environ).get("SERVER_NAME") or ""))
    return address.is_loopback or address == listening or listening in LISTENING_ON_ALL


class HostCheck:
    """WSGI middleware in front of the app (after ProxyFix): refused requests never reach Flask, so
    no session, login, rate limit or database work is done for them."""

    def __init__(self, wsgi_app, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.config = app.config

    def __call__(self, environ, start_response):
        if host_allowed(environ, allowed_hosts(self.config["AIHELPER_ALLOWED_HOSTS"])):
            return self.wsgi_app(environ, start_response)
        log.warning(
            "refused a request for host %r: add it to AIHELPER_ALLOWED_HOSTS if it is this server's",
            environ["HTTP_HOST"][:100],
        )
        request = Request(environ)
        # An app context for the catalogs only: no request context, so nothing of Flask's runs.
        with self.app.app_context(), speaking(request_language(request)):
            message = gettext("bad_host")
        return _refusal(request, message)(environ, start_response)


def _refusal(request: Request, message: str) -> Response:
    if request.path.startswith(JSON_PATHS):
        response = Response(
            json.dumps({"error": message, "code": "bad_host"}, ensure_ascii=False), 400, mimetype="application/json"
        )
    else:
        response = Response(message, 400, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
