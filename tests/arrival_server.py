"""A site that records when each request reached it, as stamped by the kernel: for tests that
judge a crawler's pacing from the server's side (tests/test_pacing.py).

A server thread stamps a request when it gets to run, which on a loaded machine can be
milliseconds after the request came in, and a pacing test reading those stamps judges the
server's scheduling as much as the crawler. Here the kernel stamps each segment as it reaches
the socket (``SO_TIMESTAMPNS``); on loopback that is inside the client's own ``send``, so the
stamps show when the crawler sent, whatever the server's thread was doing. Linux only.

The site: ``hosts`` hosts on 127.0.0.2, 127.0.0.3, ... (one port each), each with ``/`` linking
to ``/p/1`` ... ``/p/{pages - 1}`` and those pages linking nowhere; ``/robots.txt`` is a 404.
One thread serves every host (a selector loop), so it never takes part in the pacing.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SO_TIMESTAMPNS = 35  # Linux's value (also the control message's type); not in Python's socket
TIMESPEC = struct.Struct("@qq")
CONTROL_SIZE = socket.CMSG_SPACE(TIMESPEC.size)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request: its host (address), path and when its first byte reached the socket
    (CLOCK_REALTIME, seconds: only differences mean anything)."""

    host: str
    path: str
    at: float


class _Connection:
    """One client connection and the request it is part-way through."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.host = host
        self.buffer = b""
        self.first_at = 0.0  # the stamp of the segment that began the request in the buffer


class ArrivalSite:
    """The site, served by one thread from construction until ``close()``; ``arrivals()``
    lists every request received so far."""

    def __init__(self, hosts: int, pages: int) -> None:
        self.pages = pages
        self._selector = selectors.DefaultSelector()
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self.base_urls: list[str] = []
        for index in range(hosts):
            listener = socket.create_server((f"127.0.0.{2 + index}", 0), backlog=64)
            # Set before any connection comes: accepted sockets inherit it, and the kernel
            # stamps only what arrives once some socket asked for stamps.
            listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            listener.setblocking(False)
            self._selector.register(listener, selectors.EVENT_READ, "accept")
            address, port = listener.getsockname()
            self.base_urls.append(f"http://{address}:{port}")
        self._thread = threading.Thread(target=self._serve, name="arrival-site", daemon=True)
        self._thread.start()

    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def _serve(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.fileobj is self._waker_r:
                    return
                if key.data == "accept":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                else:
                    self._read(key.data)

    def _accept(self, listener: socket.socket) -> None:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection = _Connection(sock, listener.getsockname()[0])
        self._selector.register(sock, selectors.EVENT_READ, connection)

    def _read(self, connection: _Connection) -> None:
        try:
            data, control, _, _ = connection.sock.recvmsg(65536, CONTROL_SIZE)
        except (BlockingIOError, ConnectionError):
            data, control = b"", []
        if not data:
            self._selector.unregister(connection.sock)
            connection.sock.close()
            return
        stamp = next(
            (TIMESPEC.unpack(raw[: TIMESPEC.size]) for level, kind, raw in control
             if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS),
            None,
        )  # fmt: skip
        assert stamp is not None, "the kernel gave no receive timestamp"
        if not connection.buffer:  # the segment that begins a request stamps it
            connection.first_at = stamp[0] + stamp[1] / 1e9
        connection.buffer += data
        # GETs only, one at a time per connection (a crawler does not pipeline): a request
        # ends with its headers.
        if b"\r\n\r\n" in connection.buffer:
            head, _ = connection.buffer.split(b"\r\n\r\n", 1)
            connection.buffer = b""
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            with self._lock:
                self._arrivals.append(Arrival(connection.host, path, connection.first_at))
            connection.sock.sendall(self._answer(path))

    def _answer(self, path: str) -> bytes:
        if path == "/":
            links = "".join(f'<a href="/p/{n}">{n}</a>' for n in range(1, self.pages))
            status, body = "200 OK", f"<h1>node 0</h1>{links}".encode()
        elif path.startswith("/p/"):
            status, body = "200 OK", f"<h1>node {path[3:]}</h1>".encode()
        else:
            status, body = "404 Not Found", b"not here"
        head = f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    def close(self) -> None:
        self._waker_w.send(b"x")
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self._waker_w.close()


@contextmanager
def arrival_site(hosts: int, pages: int) -> Iterator[ArrivalSite]:
    site = ArrivalSite(hosts, pages)
    try:
        yield site
    finally:
        site.close()
