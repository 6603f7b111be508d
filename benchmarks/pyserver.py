"""A Python site server: the fault server of the faults scenario, and the fallback when nginx
is missing (the smoke test). Same log format as the nginx config in ``servers.py``:

    $msec $server_addr $status $request_uri $request_time [fault]

Serves ``root/<addr>/<path>`` on every address, with optional per-response latency, per-host
rate limiting (nginx's limit_req leaky bucket: ``rate`` r/s with ``burst``, excess -> 429), and
per-URL faults from a JSON plan (``{"addr/uri": kind}``), each tripped on the URL's first request:

    500       answer 500 once
    503       answer 503 with ``Retry-After: 1`` for one second from the first request
    reset     reset the connection (RST) without an answer, once
    hang      say nothing for ``--hang`` seconds, then close, once
    truncate  declare the full Content-Length, send half the body and close, once

    python -m benchmarks.pyserver --root DIR --addrs 127.0.77.1,127.0.77.2 --port 8080 --log L

With ``--cert`` and ``--key`` (PEM files) it speaks HTTPS only.

Prints ``READY <port>`` once listening; stops on SIGTERM/SIGINT or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.root = Path(args.root)
        self.delay = args.delay
        self.rate = args.rate
        self.burst = args.burst
        self.hang = args.hang
        plan = json.loads(Path(args.faults).read_text()) if args.faults else {}
        self.faults: dict[str, str] = plan
        self.first_seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[float, float]] = {}  # addr -> (excess, last ms)
        self.log_lines: list[str] = []
        self.log_path = args.log
        self.cache: dict[Path, bytes] = {}

    def allow(self, addr: str) -> bool:
        """nginx limit_req: excess = max(excess - rate*elapsed + 1, 0); reject above burst."""
        if not self.rate:
            return True
        now_ms = time.monotonic() * 1000.0
        with self.lock:
            excess, last = self.buckets.get(addr, (0.0, now_ms))
            excess = max(excess - self.rate * (now_ms - last) / 1000.0 + 1.0, 0.0)
            if addr in self.buckets and excess > self.burst:
                return False
            self.buckets[addr] = (excess if addr in self.buckets else 0.0, now_ms)
            return True

    def fault(self, key: str) -> str | None:
        kind = self.faults.get(key)
        if kind is None:
            return None
        now = time.monotonic()
        with self.lock:
            first = self.first_seen.setdefault(key, now)
        if kind == "503":
            return kind if now - first < 1.0 else None
        return kind if first == now else None

    def log(self, addr: str, status: int, uri: str, started: float, fault: str | None) -> None:
        line = f"{time.time():.3f} {addr} {status} {uri} {time.monotonic() - started:.3f}"
        if fault:
            line += f" {fault}"
        with self.lock:
            self.log_lines.append(line)

    def flush(self) -> None:
        with self.lock:
            lines, self.log_lines = self.log_lines, []
        if lines:
            with open(self.log_path, "a") as f:
                f.write("\n".join(lines) + "\n")

    def read(self, addr: str, path: str) -> bytes | None:
        file = (self.root / addr / path.lstrip("/")).resolve()
        if self.root.resolve() not in file.parents or not file.is_file():
            return None
        return file.read_bytes()


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without it, Nagle's algorithm waits for
        # the client's delayed ACK, 40 ms on every kept-alive response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            started = time.monotonic()
            addr = self.connection.getsockname()[0]
            uri = self.path
            path = uri.split("?", 1)[0]
            if path == "/":
                path = "/index.html"
            if state.delay:
                time.sleep(state.delay)
            if not state.allow(addr):
                self._send(429, b"rate limited\n")
                state.log(addr, 429, uri, started, None)
                return
            kind = state.fault(f"{addr}{path}")
            if kind == "500":
                self._send(500, b"oops\n")
            elif kind == "503":
                self._send(503, b"busy\n", {"Retry-After": "1"})
            elif kind == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                state.log(addr, 0, uri, started, kind)
                return
            elif kind == "hang":
                state.log(addr, 0, uri, started, kind)  # now: the server may stop meanwhile
                time.sleep(state.hang)
                self.close_connection = True
                return
            body = state.read(addr, path) if kind not in ("500", "503") else None
            if kind in ("500", "503"):
                state.log(addr, int(kind), uri, started, None)
                return
            if body is None:
                self._send(404, b"not found\n")
                state.log(addr, 404, uri, started, None)
                return
            if kind == "truncate":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                state.log(addr, 200, uri, started, kind)
                return
            self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
            state.log(addr, 200, uri, started, None)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--addrs", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--burst", type=float, default=0.0)
    parser.add_argument("--faults", default=None)
    parser.add_argument("--hang", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--cert", default=None, help="HTTPS only, with this certificate")
    parser.add_argument("--key", default=None)
    args = parser.parse_args(argv)
    state = State(args)
    handler = make_handler(state)
    servers = [Server((addr, args.port), handler) for addr in args.addrs.split(",")]
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        for server in servers:
            # The handshake happens on the handler's first read, in its own thread: done on
            # accept, one slow client would hold up every other.
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sys.stdout.write(f"READY {args.port} {os.getpid()}\n")
    sys.stdout.flush()
    deadline = time.monotonic() + args.max_seconds
    while not done.wait(0.5) and time.monotonic() < deadline:
        state.flush()
    for s in servers:
        s.shutdown()
        s.server_close()
    state.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
