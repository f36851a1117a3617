"""The urllib3 plumbing under ProviderClient: address checks at connect time and a handle that lets
another thread cut a request that is waiting on the network.

urllib3 opens sockets lazily inside ``HTTPConnection._new_conn``; overriding it is the only place
where the address actually connected to is known, so that is where ``url_safety`` is applied (and
where TLS still verifies the certificate against the original host name, which urllib3 keeps).
"""

from __future__ import annotations

import socket
import sys
import threading
from contextlib import suppress
from contextvars import ContextVar
from typing import Any

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from aihelper.llm.url_safety import connect_checked


class Cancelled(Exception):
    """Internal: the request was cancelled from another thread before its socket existed.

    Not an OSError on purpose, so urllib3 neither retries nor wraps it."""


class Attempt:
    """Links one request to the socket it uses, so that ``cancel()`` from another thread (or
    greenlet) can shut that socket down and wake a read blocked on it.

    The socket is attached when the request starts using it and detached when urllib3 puts the
    connection back in the pool, both under a lock: a late cancel() can never hit a socket that
    another request has taken from the pool meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.cancelled = False
        self.expired: str | None = None  # why a time limit ended it (set by the silence watch)

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if self.cancelled:
                raise Cancelled
            self._sock = sock

    def detach(self) -> None:
        with self._lock:
            self._sock = None

    def cancel(self) -> None:
        """Stopped by the caller: the stream just ends."""
        with self._lock:
            self.cancelled = True
            sock, self._sock = self._sock, None
        _cut(sock)

    def expire(self, reason: str) -> None:
        """A time limit ran out: the stream ends with a timeout error."""
        with self._lock:
            if self.cancelled or self.expired:
                return
            self.expired = reason
            sock, self._sock = self._sock, None
        _cut(sock)


def _cut(sock: socket.socket | None) -> None:
    if sock is not None:
        # shutdown, not close: it wakes a recv() blocked in another thread (close does not on
        # Linux) and sends the FIN at once, so the provider sees the hang-up and stops generating.
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# The attempt of the request being sent by this thread/greenlet (set around session.request()).
current_attempt: ContextVar[Attempt | None] = ContextVar("aihelper_llm_attempt", default=None)


class _GuardedConnectionMixin:
    """Connects only to addresses url_safety allows; reports its socket to the current Attempt."""

    # Safe default for a connection made outside a _GuardedPool (should not happen).
    refuse_private_networks: bool = True
    attempt: Attempt | None = None

    # Provided by urllib3's HTTPConnection.
    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if self.timeout is None or isinstance(self.timeout, int | float) else None
        try:
            sock = connect_checked(
                self._dns_host,
                self.port,
                refuse_private=self.refuse_private_networks,
                timeout=timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        # The same exception types as urllib3's own _new_conn, so that they are mapped as usual.
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[arg-type]
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]
        sys.audit("http.client.connect", self, self.host, self.port)
        attempt = current_attempt.get()
        if attempt is not None:
            try:
                attempt.attach(sock)
            except Cancelled:
                sock.close()
                raise
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        attempt = current_attempt.get()
        self.attempt = attempt
        if attempt is not None and self.sock is not None:
            attempt.attach(self.sock)  # a pooled connection being reused, or TLS wrapped by now
        super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedPoolMixin:
    refuse_private_networks: bool = True

    def _new_conn(self) -> Any:
        conn = super()._new_conn()  # type: ignore[misc]
        conn.refuse_private_networks = self.refuse_private_networks
        return conn

    def _put_conn(self, conn: Any) -> None:
        # Back in the pool, the socket belongs to no request: stop the old one from cancelling it.
        attempt = getattr(conn, "attempt", None)
        if attempt is not None:
            attempt.detach()
            conn.attempt = None
        super()._put_conn(conn)  # type: ignore[misc]


class GuardedHTTPConnectionPool(_GuardedPoolMixin, HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(_GuardedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """urllib3's pool manager with connections that pass url_safety, verified TLS, no retries.

    Used directly rather than through requests: requests' Session adds about 160 µs of work to
    every call (preparing, merging settings, hooks) and nothing this client needs. Proxies,
    .netrc credentials and cookies, which requests would bring, are exactly what the client must
    not have (a proxy would resolve and connect out of reach of the address checks)."""

    def __init__(self, *, refuse_private_networks: bool, pool_maxsize: int, ca_bundle: str | None) -> None:
        super().__init__(
            num_pools=32,
            maxsize=pool_maxsize,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle or certifi.where(),
            # A POST to a model is not idempotent (it costs money and may run twice).
            retries=False,
        )
        self.refuse_private_networks = refuse_private_networks
        self.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}

    def _new_pool(self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None) -> Any:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.refuse_private_networks = self.refuse_private_networks  # type: ignore[attr-defined]
        return pool
