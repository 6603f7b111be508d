"""The connection pool under the fetch threads: a stack of idle keep-alive connections per host.

Flow position: fetch threads -> ``Fetcher`` -> **HostPoolTransport** -> the network.

An httpx transport (so the one ``httpx.Client`` and the test seams stay as they are) built on
httpcore's own HTTP/1.1 connections. httpcore's ``ConnectionPool`` is written for requests that
queue for connections: on every request and every response it walks all its requests and all
its connections, and polls the socket of each idle one. A crawler never queues there (the
frontier already caps each host's concurrency), so here a request takes the newest idle
connection of its host, or opens one, and gives it back when its body is read: constant work,
and one poll (of the connection about to be reused) per request.

At most as many connections to a host exist as it ever had requests in flight at once, which
the frontier bounds by ``CONCURRENT_REQUESTS_PER_DOMAIN``. Idle connections past their
keep-alive expiry are closed when next looked at, and swept every ``SWEEP_EVERY`` seconds.

A per-read timeout never ends a server that sends one byte just before each read times out,
headers included. So every socket operation (connect, TLS handshake, write, read) is bounded
by what is left of the request's total deadline, set by the calling thread with ``bounded_by``.

With an ``AddressGuard`` (``guard.py``, DENY_PRIVATE_ADDRESSES), a new connection goes only to
an address the guard allows, and the address it is connected to is checked again.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from .guard import AddressGuard
from .tls import TlsContext

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)
SWEEP_EVERY = 5.0

# httpcore's errors as httpx's (what httpx's own transport does), most specific first; the two
# libraries give them the same names.
_ERRORS = tuple(
    (getattr(httpcore, name), getattr(httpx, name))
    for name in (
        "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
        "ConnectError", "ReadError", "WriteError", "NetworkError", "UnsupportedProtocol",
        "RemoteProtocolError", "LocalProtocolError", "ProtocolError",
    )
)  # fmt: skip


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


Key = tuple[bytes, bytes, int]

# The deadline (a time.monotonic() time) of the request this thread is sending, or None.
_local = threading.local()


@contextlib.contextmanager
def bounded_by(when: float) -> Iterator[None]:
    """Inside the block, every socket operation of this thread's requests ends by ``when``
    (a ``time.monotonic()`` time), or raises the matching httpcore timeout."""
    _local.deadline = when
    try:
        yield
    finally:
        _local.deadline = None


def _clamp(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline; ``error`` once past it."""
    when = getattr(_local, "deadline", None)
    if when is None:
        return timeout
    left = when - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline (DOWNLOAD_TIMEOUT) has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the current request's deadline."""

    WRITE_SLICE = 64 * 1024  # a large body is written in slices, each under the time left

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), self.WRITE_SLICE):
            piece = buffer[start : start + self.WRITE_SLICE]
            self._stream.write(piece, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The TLS stream is a new stream over the same socket: it needs the bound too.
        return _DeadlineStream(
            self._stream.start_tls(
                ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, its connections bounded by the request's deadline, and
    with a ``guard``, made only to the addresses it allows (see ``guard.py``)."""

    def __init__(self, guard: AddressGuard | None = None) -> None:
        self._backend = httpcore.SyncBackend()
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        guard = self.guard
        if guard is None or not guard.enabled:
            # Name resolution inside is not interruptible; the socket connect is.
            return _DeadlineStream(
                self._backend.connect_tcp(
                    host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address,
                    socket_options,
                )
            )  # fmt: skip
        try:
            addresses = guard.addresses(host, port)
        except OSError as exc:  # the name does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:  # by number: no second lookup can answer differently
            try:
                stream = self._backend.connect_tcp(
                    address, port, _clamp(timeout, httpcore.ConnectTimeout), local_address,
                    socket_options,
                )  # fmt: skip
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            try:
                guard.check_peer(host, stream.get_extra_info("socket").getpeername()[0])
            except BaseException:
                stream.close()
                raise
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._backend.connect_unix_socket(
                path, _clamp(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _Body(httpx.SyncByteStream):
    """The response body; closing it hands the connection back to its host's stack."""

    def __init__(self, pool: HostPoolTransport, key: Key, conn: httpcore.HTTPConnection,
                 stream: httpcore.Response) -> None:  # fmt: skip
        self._pool = pool
        self._key = key
        self._conn = conn
        self._response = stream
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._response.close()
            finally:
                self._pool._give_back(self._key, self._conn)


class HostPoolTransport(httpx.BaseTransport):
    """Keep-alive HTTP/1.1 connections, a stack of idle ones per (scheme, host, port)."""

    def __init__(self, tls: TlsContext | None = None, guard: AddressGuard | None = None) -> None:
        # One context for every connection, made by the first HTTPS one (tls.py).
        self._tls = tls or TlsContext()
        self._idle: dict[Key, list[httpcore.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_EVERY
        self._closed = False
        self._backend = _DeadlineBackend(guard)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.raw_scheme == b"https" else 80)
        response, body = self.send(
            request.method.encode("ascii"),
            (url.raw_scheme, url.raw_host, port),
            url.raw_path,
            request.headers.raw,
            request.stream,
            request.extensions,
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=body,
            extensions=response.extensions,
        )

    def send(
        self,
        method: bytes,
        key: Key,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        content: Iterable[bytes] | bytes | None,
        extensions: dict[str, Any],
    ) -> tuple[httpcore.Response, _Body]:
        """Send one request to ``key`` = (scheme, host, port): its response (status, raw
        headers) and its body, which gives the connection back when closed. The fetcher's way
        in for requests it can describe without an ``httpx.Request`` (httpx's URL parsing and
        header models cost more than the HTTP exchange itself); errors are httpx's."""
        conn = self._take(key)
        scheme, host, port = key
        core = httpcore.Request(
            method=method,
            url=httpcore.URL(scheme=scheme, host=host, port=port, target=target),
            headers=headers,
            content=content,
            extensions=extensions,
        )
        try:
            with _httpx_errors():
                response = conn.handle_request(core)
        except BaseException:
            conn.close()
            raise
        return response, _Body(self, key, conn, response)

    def _take(self, key: Key) -> httpcore.HTTPConnection:
        """The newest reusable idle connection to ``key``, or a new one."""
        while True:
            with self._lock:
                stack = self._idle.get(key)
                conn = stack.pop() if stack else None
            if conn is None:
                scheme, host, port = key
                return httpcore.HTTPConnection(
                    origin=httpcore.Origin(scheme, host, port),
                    ssl_context=self._tls.get() if scheme == b"https" else None,
                    keepalive_expiry=KEEPALIVE_EXPIRY,
                    network_backend=self._backend,
                )
            # Polls the socket: an idle connection the server closed reads as ready.
            if conn.is_idle() and not conn.has_expired():
                return conn
            conn.close()

    def _give_back(self, key: Key, conn: httpcore.HTTPConnection) -> None:
        closing = []
        with self._lock:
            if conn.is_idle() and not self._closed:
                self._idle.setdefault(key, []).append(conn)
            else:  # closed, or its body was not read to the end
                closing.append(conn)
            now = time.monotonic()
            if now >= self._next_sweep:
                # Idle connections past their keep-alive: mostly hosts the crawl is done with.
                self._next_sweep = now + SWEEP_EVERY
                for stack in self._idle.values():
                    fresh = []
                    for idle in stack:
                        (closing if idle.has_expired() else fresh).append(idle)
                    stack[:] = fresh
        for conn in closing:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for stack in self._idle.values() for conn in stack]
            self._idle.clear()
        for conn in idle:
            conn.close()
