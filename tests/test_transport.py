"""The per-host connection pool against a real HTTP/1.1 server on 127.0.0.1 that records which
connection (client port) carried each request."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from scraper.errors import FetchTimeout
from scraper.fetcher import Fetcher
from scraper.models import Request
from scraper.settings import Settings
from scraper.tls import TlsContext
from scraper.transport import HostPoolTransport


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else 40 ms a kept-alive response (scraper/demo/server.py)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server: RecordingServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.ports.append(self.client_address[1])
            server.changed.notify_all()
        if self.path.startswith("/wait"):
            server.release.wait(5)
        body = b"ok " + self.path.encode()
        if self.path.startswith("/echo"):  # the request's headers, as sent, in order, as JSON
            body = json.dumps(list(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Multi", "one")
        self.send_header("X-Multi", "two")
        self.end_headers()
        self.wfile.write(body)
        if self.path.startswith("/hangup"):
            # Close after answering, without a "Connection: close": the client finds out only
            # when it looks at the idle connection again.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.ports: list[int] = []
        self.release = threading.Event()
        self.open = 0  # connections the server has not closed yet
        self.changed = threading.Condition(self.lock)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client closing a connection with a body unread resets it: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def finish_request(self, request: object, client_address: object) -> None:
        with self.lock:
            self.open += 1
        super().finish_request(request, client_address)  # type: ignore[arg-type]

    def shutdown_request(self, request: object) -> None:
        super().shutdown_request(request)  # type: ignore[arg-type]
        with self.lock:  # counted once the socket is closed, so the client can see it
            self.open -= 1
            self.changed.notify_all()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def url(srv: RecordingServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_sequential_requests_reuse_one_connection(server):
    with httpx.Client(transport=HostPoolTransport()) as client:
        bodies = [client.get(url(server, f"/p{i}")).text for i in range(10)]
    assert bodies == [f"ok /p{i}" for i in range(10)]
    assert len(server.ports) == 10 and len(set(server.ports)) == 1


def test_concurrent_requests_open_one_connection_each_and_no_more(server):
    transport = HostPoolTransport()
    with httpx.Client(transport=transport) as client:
        threads = [
            threading.Thread(target=client.get, args=(url(server, f"/wait{i}"),)) for i in range(4)
        ]
        for thread in threads:
            thread.start()
        with server.lock:  # all four in flight at once: four connections
            assert server.changed.wait_for(lambda: len(server.ports) == 4, timeout=5)
        server.release.set()
        for thread in threads:
            thread.join(5)
        # Afterwards every request finds an idle connection: no new one is opened.
        for i in range(12):
            assert client.get(url(server, f"/again{i}")).status_code == 200
    assert len(set(server.ports[:4])) == 4
    assert set(server.ports[4:]) <= set(server.ports[:4])


def test_an_idle_connection_the_server_closed_is_replaced_not_used(server):
    with httpx.Client(transport=HostPoolTransport()) as client:
        assert client.get(url(server, "/hangup")).text == "ok /hangup"
        with server.lock:  # the server has closed its end
            assert server.changed.wait_for(lambda: server.open == 0, timeout=5)
        assert client.get(url(server, "/next")).text == "ok /next"
    assert len(server.ports) == 2 and server.ports[0] != server.ports[1]


def test_a_body_not_read_to_the_end_does_not_go_back_to_the_pool(server):
    with httpx.Client(transport=HostPoolTransport()) as client:
        with client.stream("GET", url(server, "/first")) as reply:
            assert reply.status_code == 200  # body left unread
        assert client.get(url(server, "/second")).text == "ok /second"
    assert len(set(server.ports)) == 2


def test_transport_errors_are_httpx_errors():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with httpx.Client(transport=HostPoolTransport()) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def test_close_closes_the_idle_connections(server):
    client = httpx.Client(transport=HostPoolTransport())
    for i in range(3):
        client.get(url(server, f"/{i}"))
    assert server.open == 1  # kept alive, idle
    client.close()
    with server.lock:
        assert server.changed.wait_for(lambda: server.open == 0, timeout=5)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Referer": "http://x.test/", "accept-language": "de", "User-Agent": "mine/2"}],
)
def test_the_direct_path_sends_and_returns_what_httpx_does(server, headers):
    """A plain GET skips httpx's models when the transport is ours; the server must not be able
    to tell, and neither may the spider."""
    settings = Settings()
    settings.update({"USER_AGENT": "testbot/1.0"}, "test")
    direct = Fetcher.from_settings(settings)
    generic = Fetcher.from_settings(settings, httpx.HTTPTransport())
    assert direct._pool is not None and generic._pool is None
    got = [f.fetch(Request(url(server, "/echo"), headers=headers)) for f in (direct, generic)]
    assert json.loads(got[0].body) == json.loads(got[1].body)
    sent = dict(json.loads(got[0].body))
    assert sent["Host"] == f"127.0.0.1:{server.server_address[1]}"
    assert sent["User-Agent"] == headers.get("User-Agent", "testbot/1.0")  # the client's case
    seen = [(r.url, r.status, [h for h in r.headers.items() if h[0] != "date"]) for r in got]
    assert seen[0] == seen[1]
    assert got[0].headers.getlist("x-multi") == ["one", "two"]


def test_idle_connections_past_their_keep_alive_are_swept(server, monkeypatch):
    """A host the crawl is done with does not keep its connections open until the end."""
    import scraper.transport as transport_module

    monkeypatch.setattr(transport_module, "KEEPALIVE_EXPIRY", 0.2)
    monkeypatch.setattr(transport_module, "SWEEP_EVERY", 0.0)
    port = server.server_address[1]
    with httpx.Client(transport=HostPoolTransport()) as client:
        client.get(f"http://127.0.0.1:{port}/done-with-this-host")
        with server.lock:
            assert server.open == 1  # kept alive, idle
        threading.Event().wait(0.4)  # past its keep-alive
        client.get(f"http://localhost:{port}/another-host")  # its give-back sweeps
        with server.lock:
            assert server.changed.wait_for(lambda: server.open == 1, timeout=5)
        assert len(set(server.ports)) == 2


# --- the total deadline --------------------------------------------------------------------------
TRICKLE_LINES = 100  # header lines, one every TRICKLE_TICK: 5 s of headers
TRICKLE_TICK = 0.05


class TrickleHandler(BaseHTTPRequestHandler):
    """Sends the status line, then header lines slowly: every read is quick, the headers take
    5 s. Records whether the client hung up before the trickle was over."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server: TrickleServer = self.server  # type: ignore[assignment]
        self.send_response_only(200)
        self.flush_headers()
        try:
            for index in range(TRICKLE_LINES):
                time.sleep(TRICKLE_TICK)
                self.wfile.write(b"X-Trickle-%d: .\r\n" % index)
            self.wfile.write(b"Content-Length: 2\r\n\r\nok")
        except OSError:  # the write after the client's close fails
            server.hung_up.set()
        finally:
            server.done.set()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class TrickleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), TrickleHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.hung_up = threading.Event()
        self.done = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are the point
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate for 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_total_deadline_ends_headers_that_trickle_in(tmp_path, scheme):
    """Each header line comes well within the per-read timeout; the request's total deadline
    still ends it, over TLS too (the TLS stream replaces the socket's), and the connection is
    closed there and then, not once the headers are over."""
    server_tls, client_tls = _self_signed(tmp_path) if scheme == "https" else (None, None)
    srv = TrickleServer(server_tls)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        transport = HostPoolTransport(TlsContext(lambda: client_tls) if client_tls else None)
        fetcher = Fetcher(transport, max_size=1 << 20, timeout=0.5)
        try:
            with pytest.raises(FetchTimeout):
                fetcher.fetch(Request(f"{scheme}://127.0.0.1:{srv.server_address[1]}/"))
        finally:
            fetcher.close()
        assert srv.done.wait(10)
        assert srv.hung_up.is_set(), "the headers were sent to the end: the deadline did not hold"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
