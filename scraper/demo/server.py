"""HTTP side of the demo news site: one threaded server per loopback host, per-host rate limiting,
simulated latency and the request log, all owned by :class:`DemoSite`.

The rate limit judges each request by when it arrived, as a site would, and so sees what no
crawler controls: a crawler that starts its requests to a host ``1 / rate`` apart can have them
arrive bunched, one held up on the way (here, by a busy machine's scheduler) more than the next.
So the limit is nginx's ``limit_req`` with a ``burst`` (the benchmarks' servers use the same
rule), the generic cell rate algorithm: each admitted request sets the next one's turn ``1 / rate``
after its own turn or its arrival, whichever is later; a request may arrive up to
``burst / rate`` seconds before its turn; one refused leaves the turn where it was. Jitter is
forgiven, a faster pace is not: over any S seconds the site admits at most ``rate * S + burst +
1`` requests, and a client that does not pace at all is refused from its ``burst + 2``-th on.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

from scraper.demo.content import Article, HostContent, generate_site
from scraper.demo.pages import HostPages, Page, method_not_allowed, too_many_requests

FIRST_HOST_OCTET = 2
MAX_HOSTS = 254 - FIRST_HOST_OCTET + 1
# Long enough for any crawler's keep-alive pool, short enough that idle threads do not linger.
IDLE_TIMEOUT = 30.0
PROBE_TIMEOUT = 2.0
JOIN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it; times are ``time.monotonic()`` of the serving process."""

    host: str
    path: str
    status: int
    start: float
    end: float
    active: int


@dataclass(slots=True)
class RateLimit:
    """One host's limit: ``rate`` requests a second (0 = none), ``burst`` requests early."""

    rate: float
    burst: float = 1.0
    _turn: float = -math.inf  # when the next request is due, if the pace is kept

    def admit(self, arrival: float) -> bool:
        """Whether a request arriving at ``arrival`` (seconds, any clock) is served."""
        if self.rate <= 0:
            return True
        interval = 1.0 / self.rate
        if arrival < self._turn - self.burst * interval:
            return False
        # max: handler threads may report arrivals a little out of order
        self._turn = max(self._turn, arrival) + interval
        return True


class _RequestLog:
    """Thread-safe in-memory log, optionally mirrored to a JSON-lines file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._file: IO[str] | None = None

    def open_file(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close_file

    def close_file(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if self._file is not None:
                # Flushed per line so a crawl that is killed still leaves a usable log.
                self._file.write(json.dumps(asdict(record)) + "\n")
                self._file.flush()

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class _HostServer(ThreadingHTTPServer):
    """The server of one host; it also keeps that host's rate-limit and concurrency state."""

    daemon_threads = True
    allow_reuse_address = True
    # Stress tests open many connections at once; the default backlog of 5 would stall them.
    request_queue_size = 1024

    def __init__(
        self, address: str, port: int, limit: RateLimit, latency: float, log: _RequestLog
    ) -> None:
        super().__init__((address, port), _Handler)
        self.address = address
        self.limit = limit
        self.latency = latency
        self.log = log
        self.pages: HostPages | None = None
        self._lock = threading.Lock()
        self._limit_lock = threading.Lock()
        self._active = 0
        self._connections: set[socket.socket] = set()

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.server_port}"

    def admit(self, arrival: float) -> bool:
        """Whether the rate limit admits a request that arrived at ``arrival``."""
        with self._limit_lock:
            return self.limit.admit(arrival)

    def arrive(self) -> int:
        """Count a request in: how many this host is now serving."""
        with self._lock:
            self._active += 1
            return self._active

    def leave(self) -> None:
        with self._lock:
            self._active -= 1

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Cut keep-alive connections so no handler keeps serving after stop()."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-response are normal for a crawler test site; bugs are not.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: on a kept-alive connection, Nagle's algorithm held
    # the body back until the client's delayed ACK of the headers, 40 ms on every response.
    disable_nagle_algorithm = True
    server_version = "DemoNews/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: _HostServer
    _arrival: float = 0.0
    _admitted: bool = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def parse_request(self) -> bool:
        # Called right after the request line is read, before the headers: the arrival. Judged
        # at once, so in the order of arrival: judged later, a request whose thread was held up
        # in between would be judged after the next one, against a turn that one moved on.
        self._arrival = time.monotonic()
        self._admitted = self.server.admit(self._arrival)
        return super().parse_request()

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def _refuse(self) -> None:
        self._serve(head=False, allowed=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self, head: bool, allowed: bool = True) -> None:
        server = self.server
        active = server.arrive()
        status = 500
        try:
            if not self._admitted:
                page = too_many_requests()
            elif not allowed:
                # We never read request bodies, so the connection cannot be reused.
                self.close_connection = True
                page = method_not_allowed()
            else:
                assert server.pages is not None
                page = server.pages.resolve(urlsplit(self.path).path)
            status = page.status
            if server.latency > 0:
                time.sleep(server.latency)
            self._write(page, head)
        except OSError:
            self.close_connection = True
        finally:
            end = time.monotonic()
            server.leave()
            record = RequestRecord(server.address, self.path, status, self._arrival, end, active)
            server.log.add(record)

    def _write(self, page: Page, head: bool) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        for name, value in page.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(page.body)
        self.wfile.flush()


class DemoSite:
    """The offline demo news site: ``hosts`` servers on 127.0.0.2, 127.0.0.3, ...

    Content depends only on ``seed`` and ``articles_per_host``; ports are chosen by the OS at
    :meth:`start` unless ``ports`` names them (one per host: a resumed crawl serves the site
    where its queued URLs point; ``OSError`` if one is taken), so :attr:`base_urls` and
    :meth:`articles` (whose URLs contain the ports) need the site to have been started at least
    once. They keep answering after :meth:`stop` so a finished crawl can still be checked
    against the ground truth.
    """

    def __init__(
        self,
        hosts: int = 3,
        articles_per_host: int = 20,
        rate: float = 10.0,
        burst: float = 1.0,
        latency: float = 0.0,
        seed: int = 7,
        fanout: int = 50,
        fanout_total: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        ports: Sequence[int] | None = None,
    ) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be between 1 and {MAX_HOSTS}, got {hosts}")
        if ports is not None and len(ports) != hosts:
            raise ValueError(f"ports must name one port per host ({hosts}), got {list(ports)}")
        self._ports = list(ports) if ports is not None else [0] * hosts
        for name, value in (
            ("articles_per_host", articles_per_host),
            ("rate", rate),
            ("burst", burst),
            ("latency", latency),
            ("fanout", fanout),
            ("fanout_total", fanout_total),
        ):
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.fanout = fanout
        self.fanout_total = fanout_total
        self.log_path = log_path
        self._content: tuple[HostContent, ...] = generate_site(hosts, articles_per_host, seed)
        self._log = _RequestLog()
        self._lifecycle = threading.Lock()
        self._servers: list[_HostServer] = []
        self._threads: list[threading.Thread] = []
        self._base_urls: list[str] | None = None

    def start(self) -> DemoSite:
        """Bind every host and serve in background threads; a no-op if already running."""
        with self._lifecycle:
            if self._servers:
                return self
            servers: list[_HostServer] = []
            try:
                for index in range(len(self._content)):
                    address = f"127.0.0.{FIRST_HOST_OCTET + index}"
                    limit = RateLimit(self.rate, self.burst)
                    port = self._ports[index]
                    servers.append(_HostServer(address, port, limit, self.latency, self._log))
                base_urls = [server.base_url for server in servers]
                for index, server in enumerate(servers):
                    server.pages = HostPages(
                        self._content, index, base_urls, self.fanout, self.fanout_total
                    )
                if self.log_path is not None:
                    self._log.open_file(self.log_path)
            except BaseException:
                for server in servers:
                    server.server_close()
                raise
            self._servers = servers
            self._base_urls = base_urls
            for server in servers:
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"demo-site-{server.address}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
            return self

    def stop(self) -> None:
        """Shut every server down and join its thread; safe to call more than once."""
        with self._lifecycle:
            servers, self._servers = self._servers, []
            threads, self._threads = self._threads, []
            for server in servers:
                server.shutdown()
            for server in servers:
                server.close_connections()
                server.server_close()
            for thread in threads:
                thread.join(JOIN_TIMEOUT)
            self._log.close_file()

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_urls(self) -> list[str]:
        """``["http://127.0.0.2:PORT", ...]`` in host order; needs a prior :meth:`start`."""
        if self._base_urls is None:
            raise RuntimeError("DemoSite has no ports yet: call start() first")
        return list(self._base_urls)

    def articles(self) -> list[Article]:
        """Ground truth for every article page, wire copies included; needs a prior start()."""
        base_urls = self.base_urls
        return [story.to_article(base_urls) for host in self._content for story in host.stories]

    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    def clear_log(self) -> None:
        """Forget the in-memory log (the log file, if any, is append-only and kept)."""
        self._log.clear()


def serves_demo_site(base_url: str) -> bool:
    """Whether a demo site (this one's server, whoever started it) answers at ``base_url``."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=PROBE_TIMEOUT)
    try:
        connection.request("HEAD", "/robots.txt")
        server = connection.getresponse().getheader("Server") or ""
    except OSError:
        return False
    finally:
        connection.close()
    return server.startswith(_Handler.server_version)
