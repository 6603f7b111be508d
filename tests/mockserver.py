"""A misbehaving HTTP test server for crawler tests, in the spirit of Scrapy's tests/mockserver.

Run it as a subprocess (stdlib only, so it starts fast and needs nothing installed)::

    python tests/mockserver.py [--hosts N] [--robots MODE | --robots INDEX=MODE]... [--ignore-stdin]

It binds N loopback addresses (127.0.0.2, 127.0.0.3, ...; each on a port the OS picks), prints
exactly one JSON line ``{"hosts": ["http://127.0.0.2:PORT", ...], "pid": PID}`` and serves until
SIGTERM/SIGINT, until its stdin reaches EOF (the parent died or closed the pipe; disabled by
``--ignore-stdin``) or until ``--max-lifetime`` seconds have passed, whichever comes first.

Every host serves every route. Faults are real, at the socket level: partial bodies, resets (RST
through ``SO_LINGER 0``), malformed chunked framing, connections held open without an answer.

Routes (``GET``; other methods are served the same after their body is discarded):

- ``/page/<name>[?links=a,b&to=/x,/y]``: a small HTML page titled ``name`` linking ``/page/a``,
  ``/page/b``, ``/x``, ``/y``. ``/private/<name>``: the same kind of page (for robots tests).
- ``/status/<code>``: that status (200-599) with a small body.
- ``/flaky/<code>/<n>/<key>``: ``code`` for the first ``n`` requests with that key, then a page.
- ``/retry-after/<code>/<value>/<key>``: the first request with that key answers ``code``
  (400-599) with ``Retry-After: <value URL-decoded>``; later ones a page.
- ``/slow/<seconds>[?links=...&to=...]``: a page after that delay, with ``/page``'s links.
  ``/hang[?seconds=S]``: reads the request and never answers; the connection is closed after S
  seconds (default and cap 120) or when the client hangs up. ``/trickle/<seconds>``: 2 bytes
  per second of declared Content-Length, one every 0.5 s. ``/trickle-headers/<seconds>``: the
  status line, then one header line every 0.5 s for that long (each read is quick, the headers
  never end in time), then a small page; the trickle stops when the client hangs up.
- ``/reset-mid-body``: Content-Length 10000, 3000 bytes, then RST. ``/reset-before-response``:
  RST instead of an answer. ``/short-content-length``: Content-Length 10000, 4000 bytes, then a
  clean close (FIN). ``/broken-chunked``: chunked framing with a malformed chunk-size line.
  ``/bad-status-line``: a status line that is not HTTP. ``/bad-header-line``: a valid status
  line, then a header line without a colon.
- ``/gzip-bomb``, ``/deflate-bomb``, ``/br-bomb``, ``/zstd-bomb`` ``[?size=N]``: a body whose
  Content-Encoding decodes to N zero bytes (default 1 GiB, cap 16 GiB). The server never holds
  the decoded data: see :func:`_bomb`. ``br`` needs ``brotli``, ``zstd`` needs ``zstandard``;
  without them these routes answer 404.
- ``/truncated-encoding/<gzip|deflate|br|zstd>``: a page compressed, then cut to half its
  compressed bytes, with a Content-Length that matches the cut: the framing is intact, only the
  compressed stream does not end.
- ``/redirect/<n>``: 302 chain ``/redirect/n -> /redirect/n-1 -> ... -> /page/redirected`` (n
  redirects; n <= 1 means one). ``/redirect-loop/<key>``: a key ending in ``a`` redirects to the
  same key ending in ``b`` and back (``/redirect-loop/a -> /redirect-loop/b -> /redirect-loop/a``);
  any other key redirects to itself. ``/redirect-to?url=U&status=301``: a redirect to U, verbatim
  (other hosts, ``ftp:``, ``javascript:`` ...); status 300-399, default 302.
- ``/echo-headers``: JSON object of the request headers (names lower-cased).
- ``/cacheable/<name>[?links=a,b&cc=VALUE]``: the ``/page/`` page ``name`` linking
  ``/cacheable/a`` ... (with the same ``cc``), with an ``ETag``, a ``Last-Modified`` and, given
  ``cc``, ``Cache-Control: VALUE``; a request whose ``If-None-Match`` is that ETag, or whose
  ``If-Modified-Since`` is that date, is answered ``304 Not Modified``.
- ``/encoding/<kind>``: decoding test pages, see :data:`ENCODING_PAGES` and
  :data:`ENCODING_EXPECTED`.
- ``/robots.txt``: per host, one of :data:`ROBOTS_MODES` (default ``allow``).
  ``/robots-real.txt`` always serves ``disallow-private``. ``redirect-5`` / ``redirect-6``: a
  chain of exactly that many 301s (through ``/robots-chain/<n>``) ending at ``/robots-real.txt``.
  ``500-then-allow``: 500 for the first robots.txt request in this mode, ``allow`` after.
  ``redirect-off-host``: a 301 to the next host's ``/echo-headers`` (which has no rules).
  ``redirect-invalid``: a 301 to a Location that is not a URL (``http://[::1/robots.txt``).

Control routes, never logged: ``/__log`` (JSON list of every request on every host so far),
``/__clear`` (forget the log), ``/__robots?host=<index|all>&mode=<mode>`` (what ``/robots.txt``
answers from then on; without ``mode``, the current modes).

A log record is ``{"host", "method", "path", "status", "start", "end", "headers"}``. ``path``
includes the query string; ``headers`` has lower-cased names. ``start`` and ``end`` are
``time.monotonic()`` of the server process (CLOCK_MONOTONIC, the same clock as in the test
process on Linux). Records are added when a request arrives: ``end`` is ``None`` until it is
finished and ``status`` is ``None`` until the route has decided it. ``status`` is the HTTP status
the route answered, or ``"reset"`` / ``"hang"`` / ``"malformed"`` for connection-level faults
(``reset-mid-body`` counts as ``"reset"`` even though it sent a 200 status line first).

:class:`MockServer` runs the server as a subprocess for tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import html
import json
import os
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

try:  # Optional encoders: their routes answer 404 when the module is missing.
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

FIRST_OCTET = 2
MAX_HOSTS = 254 - FIRST_OCTET + 1
# Longest any single response is held back (hang, slow, trickle, robots timeout): handler
# threads must never outlive a test session by much.
MAX_HOLD = 120.0
# Idle keep-alive connections are dropped after this; it also bounds a blocked write.
IDLE_TIMEOUT = 30.0
# An orphaned server (parent killed, --ignore-stdin) still goes away eventually.
DEFAULT_MAX_LIFETIME = 3600.0
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# The log is for tests, not for soak runs: keep memory bounded.
MAX_LOG_RECORDS = 100_000
# Request bodies (non-GET) are discarded up to this size; bigger ones close the connection.
MAX_DISCARD = 1 << 20

DEFAULT_BOMB_SIZE = 1 << 30
MAX_BOMB_SIZE = 16 << 30
BOMB_CHUNK = 1 << 20
_ZEROS = bytes(BOMB_CHUNK)

ROBOTS_TEXT = {
    "allow": "User-agent: *\nAllow: /\n",
    "disallow-private": "User-agent: *\nDisallow: /private/\n",
    "crawl-delay-2": "User-agent: *\nCrawl-delay: 2\nAllow: /\n",
    "agent-specific": ("User-agent: scraper\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"),
    "agent-custom": ("User-agent: custombot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"),
    "crawl-delay-30": "User-agent: *\nCrawl-delay: 30\nAllow: /\n",
}
ROBOTS_MODES = (
    "allow",
    "disallow-private",
    "crawl-delay-2",
    "404",
    "500",
    "timeout",
    "reset",
    "redirect",
    "redirect-loop",
    "huge",
    "agent-specific",
    "agent-custom",
    "crawl-delay-30",
    "redirect-5",
    "redirect-6",
    "500-then-allow",
    "redirect-off-host",
    "redirect-invalid",
)
# The loop /robots.txt -> /robots-loop/1 -> ... -> /robots-loop/N -> /robots.txt has N + 1 hops,
# more than the 5 redirects RFC 9309 asks crawlers to follow.
ROBOTS_LOOP_HOPS = 6
ROBOTS_INVALID_LOCATION = "http://[::1/robots.txt"  # an IPv6 bracket never closed
ROBOTS_HUGE_SIZE = 1 << 20
ROBOTS_HUGE_RULE_AT = 600 * 1024


def _huge_robots() -> bytes:
    """1 MiB: a group header, 600 KiB of comments, the rule, then comments up to 1 MiB.

    A parser that stops at 500 KiB (RFC 9309 allows that) sees the group but not the rule.
    """
    head = b"User-agent: *\n"
    comment = b"# " + b"x" * 77 + b"\n"  # 80-byte lines
    padding = comment * ((ROBOTS_HUGE_RULE_AT - len(head)) // len(comment) + 1)
    body = head + padding[: ROBOTS_HUGE_RULE_AT - len(head)]
    body = body[:-1] + b"\n"  # the rule must start a line
    body += b"Disallow: /private/\n"
    tail = comment * ((ROBOTS_HUGE_SIZE - len(body)) // len(comment) + 1)
    body += tail[: ROBOTS_HUGE_SIZE - len(body) - 1] + b"\n"
    return body


ROBOTS_HUGE = _huge_robots()

_DETECT_TEXT = (
    "Les élèves étaient très intéressés par le café à Noël ; garçon, où est la crème brûlée ? "
)
# kind -> (Content-Type header, body bytes)
ENCODING_PAGES: dict[str, tuple[str, bytes]] = {
    "latin1-header": (
        "text/html; charset=iso-8859-1",
        "<html><head><title>café</title></head><body><p>café</p></body></html>".encode("latin-1"),
    ),
    "meta": (
        "text/html",
        (
            '<html><head><meta charset="windows-1252"><title>prix</title></head>'
            "<body><p>Prix : 5 € — café</p></body></html>"
        ).encode("cp1252"),
    ),
    "bom": (
        "text/html",
        b"\xef\xbb\xbf"
        + "<html><head><title>bom</title></head><body><p>naïve café ✓</p></body></html>".encode(),
    ),
    "invalid-utf8": (
        "text/html; charset=utf-8",
        # "café" in valid UTF-8, then two bytes that can never occur in UTF-8.
        b"<html><head><title>invalid</title></head>"
        b"<body><p>caf\xc3\xa9 \xff\xfe ok</p></body></html>",
    ),
    "detect": (
        "text/html",
        (
            "<html><head><title>detect</title></head><body><p>"
            + _DETECT_TEXT * 4
            + "</p></body></html>"
        ).encode("cp1252"),
    ),
}
# kind -> text a correct decoder produces somewhere in the page.
ENCODING_EXPECTED = {
    "latin1-header": "café",
    "meta": "5 € — café",
    "bom": "naïve café ✓",
    "invalid-utf8": "café",
    "detect": "élèves étaient très intéressés",
}


# --- the server --------------------------------------------------------------------------------


class _State:
    """What all hosts share: the request log, per-key counters, robots modes, the stop flag."""

    def __init__(self, hosts: int, robots: dict[int, str]) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG_RECORDS)
        self.counters: dict[tuple[str, str], int] = {}
        self.robots = [robots.get(index, "allow") for index in range(hosts)]
        self.hosts: list[str] = []  # base URLs, set once every host is bound

    def begin(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.log.append(record)

    def update(self, record: dict[str, Any], **fields: Any) -> None:
        # Under the lock, so /__log never serialises a half-updated record.
        with self.lock:
            record.update(fields)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(record, headers=dict(record["headers"])) for record in self.log]

    def clear(self) -> int:
        with self.lock:
            count = len(self.log)
            self.log.clear()
            return count

    def count(self, route: str, key: str) -> int:
        """How many earlier requests had this key (then counts this one)."""
        with self.lock:
            seen = self.counters.get((route, key), 0)
            self.counters[(route, key)] = seen + 1
            return seen


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Crawler tests open many connections at once; the default backlog of 5 would stall them.
    request_queue_size = 1024

    def __init__(self, index: int, state: _State) -> None:
        self.index = index
        self.ip = f"127.0.0.{FIRST_OCTET + index}"
        self.state = state
        super().__init__((self.ip, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the name with getfqdn(), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.ip
        self.server_port = int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.ip}:{self.server_port}"

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up mid-response are the point of this server; real bugs still print.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "MockServer/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: _HostServer
    _arrival = 0.0
    _record: dict[str, Any] | None = None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def version_string(self) -> str:
        # The default appends the Python version: a Server header should not change with it.
        return self.server_version

    def parse_request(self) -> bool:
        # Called once the request line is read: the closest we get to "the request arrived".
        self._arrival = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._discard_body()
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # --- bookkeeping ---

    @property
    def _state(self) -> _State:
        return self.server.state

    def _handle(self) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        if split.path.startswith("/__"):
            self._control(split.path, query)
            return
        record: dict[str, Any] = {
            "host": self.server.ip,
            "method": self.command,
            "path": self.path,
            "status": None,
            "start": self._arrival,
            "end": None,
            "headers": self._header_dict(),
        }
        self._record = record
        self._state.begin(record)
        try:
            self._route(split.path, query)
        except OSError:
            # The client went away (or we reset it): nothing more to say on this connection.
            self.close_connection = True
        finally:
            self._state.update(record, end=time.monotonic())
            self._record = None

    def _header_dict(self) -> dict[str, str]:
        """Request headers with lower-cased names; repeated ones joined as RFC 9110 allows."""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _set_status(self, status: int | str) -> None:
        if self._record is not None:
            self._state.update(self._record, status=status)

    def _discard_body(self) -> None:
        """Read a request body away so keep-alive stays in sync, or give up the connection."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_DISCARD:
            self.close_connection = True
            return
        with contextlib.suppress(OSError):
            self.rfile.read(length)

    # --- writing ---

    def _send(
        self,
        status: int,
        body: bytes | None = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """A complete, well-formed response; ``body=None`` for statuses that must have none."""
        self._set_status(status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_page(self, name: str, hrefs: Iterable[str] = ()) -> None:
        self._send(200, _page(name, hrefs))

    def _send_status(self, status: int, headers: Iterable[tuple[str, str]] = ()) -> None:
        if status in (204, 304):
            self._send(status, None, headers=headers)
            return
        phrase = self.responses.get(status, ("Unknown",))[0]
        body = f"<html><body><h1>{status} {html.escape(phrase)}</h1></body></html>\n".encode()
        self._send(status, body, headers=headers)

    def _cacheable(self, name: str, query: dict[str, list[str]]) -> None:
        etag, modified = f'"v1-{name}"', "Tue, 01 Dec 2026 10:00:00 GMT"
        control = _first(query, "cc")
        headers = [("ETag", etag), ("Last-Modified", modified)]
        if control:
            headers.append(("Cache-Control", control))
        if etag == self.headers.get("If-None-Match") or modified == self.headers.get(
            "If-Modified-Since"
        ):
            self._send_status(304, headers)
            return
        same = f"?cc={quote(control)}" if control else ""
        names = [link for link in (_first(query, "links") or "").split(",") if link]
        self._send(200, _page(name, [f"/cacheable/{n}{same}" for n in names]), headers=headers)

    def _redirect(self, location: str, status: int = 302) -> None:
        # Non-ASCII targets go out as raw UTF-8 bytes, as many real servers send them
        # (http.server would otherwise fail to encode them as Latin-1).
        wire = location.encode("utf-8", "surrogateescape").decode("latin-1")
        self._send(status, b"", headers=[("Location", wire)])

    def _reset(self) -> None:
        """Abort the connection with RST: SO_LINGER 0, then close the descriptor itself.

        ``socket.close()`` would be deferred while ``rfile`` holds a reference; detaching first
        keeps later closes by the stdlib from touching a descriptor number reused meanwhile.
        """
        self._set_status("reset")
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            os.close(sock.detach())

    def _hold(self, seconds: float) -> None:
        """Keep the connection open without answering until the deadline, the client hangs up
        or the server stops; then close it cleanly."""
        self._set_status("hang")
        self.close_connection = True
        deadline = time.monotonic() + min(max(seconds, 0.0), MAX_HOLD)
        sock = self.connection
        # poll, not select: a busy test session can have descriptors above FD_SETSIZE.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        # Bounded by the deadline; the count bound only matters for a client flooding us.
        for _ in range(1_000_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._state.stop.is_set():
                return
            if poller.poll(min(remaining, 0.25) * 1000):
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:  # the client hung up: stop holding a dead connection
                    return

    def _sleep(self, seconds: float) -> bool:
        """Wait, but wake up for shutdown; True if the full delay passed."""
        return not self._state.stop.wait(min(max(seconds, 0.0), MAX_HOLD))

    # --- routes ---

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        parts = [unquote(part) for part in path.split("/")[1:]]
        match parts:
            case ["page", *rest] | ["private", *rest] if rest:
                self._send_page("/".join(rest), _query_hrefs(query))
            case ["cacheable", name]:
                self._cacheable(name, query)
            case ["status", code]:
                status = _int(code)
                if status is None or not 200 <= status <= 599:
                    self._send_status(400)
                else:
                    self._send_status(status)
            case ["flaky", code, count, key]:
                self._flaky(_int(code), _int(count), key)
            case ["retry-after", code, value, key]:
                self._retry_after(_int(code), value, key)
            case ["slow", seconds]:
                delay = _float(seconds)
                if delay is None:
                    self._send_status(400)
                elif self._sleep(delay):
                    self._send_page(f"slow {delay:g}", _query_hrefs(query))
                else:
                    self.close_connection = True
            case ["hang"]:
                self._hold(_float(_first(query, "seconds")) or MAX_HOLD)
            case ["trickle", seconds]:
                self._trickle(_float(seconds))
            case ["trickle-headers", seconds]:
                self._trickle_headers(_float(seconds))
            case ["reset-mid-body"]:
                self._partial(10_000, 3_000)
                self._reset()
            case ["short-content-length"]:
                self._partial(10_000, 4_000)
                self.close_connection = True
            case ["broken-chunked"]:
                self._broken_chunked()
            case ["bad-status-line"]:
                self._raw_head(b"HTTP/1.1 OK-ish no status\r\n\r\n")
            case ["bad-header-line"]:
                self._raw_head(b"HTTP/1.1 200 OK\r\nthis line is not a header\r\n\r\nbody")
            case ["reset-before-response"]:
                self._reset()
            case [("gzip-bomb" | "deflate-bomb" | "br-bomb" | "zstd-bomb") as route]:
                self._bomb(route.removesuffix("-bomb"), _first(query, "size"))
            case ["truncated-encoding", encoding]:
                self._truncated_encoding(encoding)
            case ["redirect", count]:
                n = _int(count)
                if n is None:
                    self._send_status(400)
                else:
                    self._redirect(f"/redirect/{n - 1}" if n > 1 else "/page/redirected")
            case ["redirect-loop", key] if key:
                partner = {"a": "b", "b": "a"}.get(key[-1])
                self._redirect("/redirect-loop/" + quote(key[:-1] + partner if partner else key))
            case ["redirect-to"]:
                self._redirect_to(query)
            case ["echo-headers"]:
                self._send(200, json.dumps(self._header_dict()).encode(), "application/json")
            case ["encoding", kind] if kind in ENCODING_PAGES:
                content_type, body = ENCODING_PAGES[kind]
                self._send(200, body, content_type)
            case ["robots.txt"]:
                self._robots(self._state.robots[self.server.index])
            case ["robots-real.txt"]:
                self._robots("disallow-private")
            case ["robots-loop", hop]:
                n = _int(hop) or 0
                target = f"/robots-loop/{n + 1}" if n < ROBOTS_LOOP_HOPS else "/robots.txt"
                self._redirect(target, 301)
            case ["robots-chain", left]:
                n = _int(left) or 0
                self._redirect(f"/robots-chain/{n - 1}" if n > 1 else "/robots-real.txt", 301)
            case _:
                self._send_status(404)

    def _flaky(self, code: int | None, count: int | None, key: str) -> None:
        if code is None or count is None or not 200 <= code <= 599:
            self._send_status(400)
        elif self._state.count("flaky", key) < count:
            self._send_status(code)
        else:
            self._send_page(key)

    def _retry_after(self, code: int | None, value: str, key: str) -> None:
        if code is None or not 400 <= code <= 599:
            self._send_status(400)
        elif self._state.count("retry-after", key) == 0:
            self._send_status(code, headers=[("Retry-After", value)])
        else:
            self._send_page(key)

    def _redirect_to(self, query: dict[str, list[str]]) -> None:
        url = _first(query, "url")
        status = _int(_first(query, "status") or "302")
        if url is None or status is None or not 300 <= status <= 399:
            self._send_status(400)
        else:
            self._redirect(url, status)

    def _trickle(self, seconds: float | None) -> None:
        if seconds is None:
            self._send_status(400)
            return
        count = max(1, round(min(max(seconds, 0.0), MAX_HOLD) * 2))
        self._set_status(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        for _ in range(count):
            if not self._sleep(0.5):
                self.close_connection = True
                return
            self.wfile.write(b".")

    def _trickle_headers(self, seconds: float | None) -> None:
        if seconds is None:
            self._send_status(400)
            return
        self._set_status(200)
        self.close_connection = True
        self.send_response_only(200)
        self.flush_headers()
        for index in range(max(1, round(min(max(seconds, 0.0), MAX_HOLD) * 2))):
            if not self._sleep(0.5):
                return
            # A write to a connection the client closed fails (at the latest the second one
            # after its RST), which ends the trickle: the log's "end" says when.
            self.wfile.write(b"X-Trickle-%d: .\r\n" % index)
        body = _page("trickled headers")
        self.wfile.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def _truncated_encoding(self, encoding: str) -> None:
        body = _page("cut", [f"/page/{i}" for i in range(200)])
        match encoding:
            case "gzip":
                packed = gzip.compress(body)
            case "deflate":
                packed = zlib.compress(body)
            case "br" if brotli is not None:
                packed = brotli.compress(body)
            case "zstd" if zstandard is not None:
                packed = zstandard.ZstdCompressor().compress(body)
            case _:
                self._send_status(404)
                return
        cut = packed[: len(packed) // 2]
        self._send(200, cut, headers=[("Content-Encoding", encoding)])

    def _partial(self, declared: int, sent: int) -> None:
        """Headers promising ``declared`` body bytes, then only ``sent`` of them."""
        self._set_status(200)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(b"x" * sent)

    def _raw_head(self, data: bytes) -> None:
        """Bytes on the wire in place of a response head (malformed on purpose)."""
        self._set_status("malformed")
        self.close_connection = True
        self.wfile.write(data)

    def _broken_chunked(self) -> None:
        self._set_status(200)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        good = b"<html><body>" + b"y" * 500
        # Two valid chunks, then a size line that is not hex: framing is lost from there on.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(good), good))
        self.wfile.write(b"5\r\nhello\r\n")
        self.wfile.write(b"zz-not-hex\r\n" + b"garbage" * 20 + b"\r\n")

    def _bomb(self, encoding: str, size_text: str | None) -> None:
        size = DEFAULT_BOMB_SIZE if size_text is None else _int(size_text)
        if size is None or not 0 <= size <= MAX_BOMB_SIZE:
            self._send_status(400)
            return
        if (encoding == "br" and brotli is None) or (encoding == "zstd" and zstandard is None):
            self._send_status(404)
            return
        bomb = _bomb(encoding, size)
        self._set_status(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(bomb.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        # Stream the repeated piece in ~64 KiB writes: no buffer ever holds the whole body.
        self.wfile.write(bomb.head + bomb.first)
        per_write = max(1, 65536 // max(1, len(bomb.middle)))
        batch = bomb.middle * per_write
        full, rest = divmod(bomb.repeats, per_write)
        for _ in range(full):
            self.wfile.write(batch)
        self.wfile.write(bomb.middle * rest + bomb.tail)

    def _robots(self, mode: str) -> None:
        match mode:
            case "404" | "500":
                self._send_status(int(mode))
            case "timeout":
                self._hold(MAX_HOLD)
            case "reset":
                self._reset()
            case "redirect":
                self._redirect("/robots-real.txt", 301)
            case "redirect-loop":
                self._redirect("/robots-loop/1", 301)
            case "redirect-5" | "redirect-6":
                self._redirect(f"/robots-chain/{int(mode[-1]) - 1}", 301)
            case "500-then-allow":
                if self._state.count("robots", str(self.server.index)) == 0:
                    self._send_status(500)
                else:
                    self._robots("allow")
            case "redirect-invalid":
                self._redirect(ROBOTS_INVALID_LOCATION, 301)
            case "redirect-off-host":
                hosts = self._state.hosts
                self._redirect(hosts[(self.server.index + 1) % len(hosts)] + "/echo-headers", 301)
            case "huge":
                self._send(200, ROBOTS_HUGE, "text/plain")
            case _:
                self._send(200, ROBOTS_TEXT[mode].encode(), "text/plain")

    # --- control routes (not logged) ---

    def _control(self, path: str, query: dict[str, list[str]]) -> None:
        state = self._state
        match path:
            case "/__log":
                self._send(200, json.dumps(state.snapshot()).encode(), "application/json")
            case "/__clear":
                self._send(200, json.dumps({"cleared": state.clear()}).encode(), "application/json")
            case "/__robots":
                self._control_robots(query)
            case _:
                self._send(404, b"unknown control route\n", "text/plain")

    def _control_robots(self, query: dict[str, list[str]]) -> None:
        state = self._state
        mode = _first(query, "mode")
        target = _first(query, "host")
        if target in (None, "all"):
            indexes = range(len(state.robots)) if target == "all" else [self.server.index]
        else:
            index = _int(target)
            indexes = [index] if index is not None and 0 <= index < len(state.robots) else []
        if not indexes or (mode is not None and mode not in ROBOTS_MODES):
            self._send(400, f"bad host or mode; modes: {', '.join(ROBOTS_MODES)}\n".encode())
            return
        if mode is not None:
            with state.lock:
                for index in indexes:
                    state.robots[index] = mode
        with state.lock:
            current = list(state.robots)
        self._send(200, json.dumps({"robots": current}).encode(), "application/json")


def _page(name: str, hrefs: Iterable[str] = ()) -> bytes:
    text = html.escape(name)
    links = "".join(
        f'<a href="{html.escape(href, quote=True)}">{html.escape(href)}</a>\n' for href in hrefs
    )
    return (
        f"<html><head><title>{text}</title></head><body><h1>{text}</h1>\n{links}</body></html>\n"
    ).encode()


def _query_hrefs(query: dict[str, list[str]]) -> list[str]:
    hrefs = [
        "/page/" + quote(name)
        for value in query.get("links", [])
        for name in value.split(",")
        if name
    ]
    hrefs += [path for value in query.get("to", []) for path in value.split(",") if path]
    return hrefs


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value else None  # NaN is not a delay


# --- compression bombs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bomb:
    """An encoded body of N zeros as ``head + first + middle * repeats + tail``."""

    head: bytes
    first: bytes
    middle: bytes
    repeats: int
    tail: bytes

    @property
    def length(self) -> int:
        return len(self.head) + len(self.first) + len(self.middle) * self.repeats + len(self.tail)

    def __bytes__(self) -> bytes:
        return self.head + self.first + self.middle * self.repeats + self.tail


def _repeat_zeros(
    step: Callable[[bytes], bytes], finish: Callable[[bytes], bytes], size: int
) -> tuple[bytes, bytes, int, bytes]:
    """Encode ``size`` zeros by flushing after each 1 MiB chunk.

    Once the compressor's state is steady (its window is all zeros), every further chunk encodes
    to the same bytes, so 1 GiB costs three chunk compressions instead of 1024 (streaming zlib
    over 1 GiB takes seconds). If a compressor never settles, fall back to encoding every chunk.
    """
    full, rest = divmod(size, BOMB_CHUNK)
    if full <= 2:
        parts = [step(_ZEROS) for _ in range(full)]
        return b"".join(parts), b"", 0, finish(_ZEROS[:rest])
    first, second, third = step(_ZEROS), step(_ZEROS), step(_ZEROS)
    if third == second:
        return first, second, full - 1, finish(_ZEROS[:rest])
    parts = [first, second, third] + [step(_ZEROS) for _ in range(full - 3)]
    return b"".join(parts), b"", 0, finish(_ZEROS[:rest])


def _crc32_of_zeros(size: int) -> int:
    """``zlib.crc32(bytes(size))`` without touching ``size`` bytes (as zlib's crc32_combine).

    A zero byte changes the CRC register linearly over GF(2); the operator for 2**k bytes is the
    one for 2**(k-1) squared. Matrices are 32 column vectors as ints.
    """

    def times(matrix: list[int], vector: int) -> int:
        result, column = 0, 0
        while vector:
            if vector & 1:
                result ^= matrix[column]
            vector >>= 1
            column += 1
        return result

    def square(matrix: list[int]) -> list[int]:
        return [times(matrix, column) for column in matrix]

    operator = [0xEDB88320] + [1 << bit for bit in range(31)]  # one zero bit
    for _ in range(3):  # -> one zero byte
        operator = square(operator)
    register = 0xFFFFFFFF
    while size:
        if size & 1:
            register = times(operator, register)
        size >>= 1
        if size:
            operator = square(operator)
    return register ^ 0xFFFFFFFF


@functools.lru_cache(maxsize=8)
def _bomb(encoding: str, size: int) -> Bomb:
    """The encoded body for ``size`` zeros; about size/1000 bytes for gzip/deflate, far less for
    br and zstd. Cached: a few entries of at most ~16 MiB each."""
    if encoding in ("gzip", "deflate"):
        # Raw deflate with a full flush per chunk (the state resets, so chunks encode alike);
        # the gzip/zlib wrapper is written here because its checksum covers all ``size`` bytes.
        deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        first, middle, repeats, tail = _repeat_zeros(
            lambda data: deflate.compress(data) + deflate.flush(zlib.Z_FULL_FLUSH),
            lambda data: deflate.compress(data) + deflate.flush(zlib.Z_FINISH),
            size,
        )
        if encoding == "gzip":
            head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, best, unknown OS
            trailer = struct.pack("<II", _crc32_of_zeros(size), size & 0xFFFFFFFF)
        else:
            head = b"\x78\xda"  # zlib, 32 KiB window, best compression
            trailer = struct.pack(">I", ((size % 65521) << 16) | 1)  # Adler-32 of zeros
        return Bomb(head, first, middle, repeats, tail + trailer)
    if encoding == "br":
        compressor = brotli.Compressor(quality=5)
        first, middle, repeats, tail = _repeat_zeros(
            lambda data: compressor.process(data) + compressor.flush(),
            lambda data: compressor.process(data) + compressor.finish(),
            size,
        )
        return Bomb(b"", first, middle, repeats, tail)
    if encoding == "zstd":
        stream = zstandard.ZstdCompressor(level=3).compressobj()
        first, middle, repeats, tail = _repeat_zeros(
            lambda data: stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK),
            lambda data: stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH),
            size,
        )
        return Bomb(b"", first, middle, repeats, tail)
    raise ValueError(f"unknown encoding {encoding!r}")


# --- process entry point -----------------------------------------------------------------------


def _parse_robots(specs: list[str], hosts: int) -> dict[int, str]:
    robots: dict[int, str] = {}
    for spec in specs:
        index_text, _, mode = spec.rpartition("=")
        if mode not in ROBOTS_MODES:
            raise SystemExit(f"mockserver: unknown robots mode {mode!r}")
        if not index_text:
            robots.update(dict.fromkeys(range(hosts), mode))
            continue
        index = _int(index_text)
        if index is None or not 0 <= index < hosts:
            raise SystemExit(f"mockserver: bad robots host index {index_text!r}")
        robots[index] = mode
    return robots


def _watch_stdin(stop: threading.Event) -> None:
    """Stop when stdin reaches EOF: the parent closed the pipe or died."""
    fd = sys.stdin.fileno()
    # Each read returns data or EOF; the count bound only matters for a parent that keeps
    # writing, and the lifetime limit covers that too.
    for _ in range(10_000_000):
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
    stop.set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A misbehaving HTTP test server.")
    parser.add_argument("--hosts", type=int, default=2, help="loopback hosts, from 127.0.0.2")
    parser.add_argument(
        "--robots",
        action="append",
        default=[],
        metavar="[INDEX=]MODE",
        help=f"robots.txt mode for one host or all; one of: {', '.join(ROBOTS_MODES)}",
    )
    parser.add_argument("--ignore-stdin", action="store_true", help="do not exit on stdin EOF")
    parser.add_argument(
        "--max-lifetime", type=float, default=DEFAULT_MAX_LIFETIME, help="exit after SECONDS"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts must be between 1 and {MAX_HOSTS}")

    state = _State(args.hosts, _parse_robots(args.robots, args.hosts))
    servers = [_HostServer(index, state) for index in range(args.hosts)]
    state.hosts = [server.base_url for server in servers]
    for server in servers:
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def on_signal(signum: int, frame: object) -> None:
        state.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not args.ignore_stdin:
        threading.Thread(target=_watch_stdin, args=(state.stop,), daemon=True).start()

    sys.stdout.write(json.dumps({"hosts": state.hosts, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()

    state.stop.wait(max(args.max_lifetime, 0.0))
    state.stop.set()  # wakes held and sleeping handlers
    for server in servers:
        server.shutdown()
        server.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Handler threads may still sit in a write; exiting here avoids interpreter-finalisation
    # races with daemon threads, and there is nothing else left to clean up.
    os._exit(0)


# --- test helper -------------------------------------------------------------------------------


class MockServer:
    """Run this module as a subprocess for the duration of a ``with`` block.

    >>> with MockServer(hosts=2) as server:
    ...     url = server.url("/page/a?links=b", host=1)
    """

    def __init__(
        self,
        hosts: int = 2,
        *,
        robots: str | dict[int, str] | None = None,
        ignore_stdin: bool = False,
    ) -> None:
        self._args = ["--hosts", str(hosts)]
        if isinstance(robots, str):
            self._args += ["--robots", robots]
        elif robots:
            for index, mode in robots.items():
                self._args += ["--robots", f"{index}={mode}"]
        if ignore_stdin:
            self._args.append("--ignore-stdin")
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._hosts: list[str] = []
        self._stderr_text = ""

    def __enter__(self) -> MockServer:
        # stderr goes to a file, not a pipe nobody reads (a full pipe would block the server).
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            info = json.loads(self._read_line(STARTUP_TIMEOUT))
            self._hosts = list(info["hosts"])
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _read_line(self, timeout: float) -> bytes:
        """The JSON line, or an error with the server's stderr; never blocks past ``timeout``."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        data = b""
        # poll, not select: the test process may hold descriptors above FD_SETSIZE.
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        for _ in range(10_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if b"\n" in data:
                return data.split(b"\n", 1)[0]
        raise RuntimeError(f"mock server did not start: stdout={data!r} stderr={self.stderr()!r}")

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()  # SIGTERM to this pid only
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_TIMEOUT)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._stderr is not None:
            self._stderr_text = self.stderr()
            self._stderr.close()
            self._stderr = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("MockServer is not running")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def hosts(self) -> list[str]:
        """Base URLs, ``["http://127.0.0.2:PORT", ...]``, in host-index order."""
        return list(self._hosts)

    def url(self, path: str, host: int = 0) -> str:
        return self._hosts[host] + (path if path.startswith("/") else "/" + path)

    def stderr(self) -> str:
        """What the server wrote to stderr so far (tracebacks of unexpected errors)."""
        if self._stderr is None:
            return self._stderr_text
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _control(self, path: str) -> Any:
        # http.client, not urllib: urllib would honour *_proxy variables, even for loopback.
        split = urlsplit(self._hosts[0])
        connection = HTTPConnection(split.hostname or "", split.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body!r}")
            return json.loads(body)
        finally:
            connection.close()

    def log(self) -> list[dict[str, Any]]:
        """Every request on every host so far, in arrival order (see the module docstring)."""
        return self._control("/__log")

    def clear_log(self) -> None:
        self._control("/__clear")

    def set_robots(self, mode: str, host: int | str = "all") -> list[str]:
        """What ``/robots.txt`` answers on host index ``host`` (or ``"all"``); returns all modes."""
        return self._control(f"/__robots?host={host}&mode={quote(mode)}")["robots"]


if __name__ == "__main__":
    main()
