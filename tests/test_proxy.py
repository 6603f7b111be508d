"""Proxies: HTTP_PROXY / NO_PROXY from the environment and ``request.meta["proxy"]`` with
credentials, seen by a local forward proxy that relays to the mock server; HTTPS through a
local CONNECT tunnel to a TLS site with its own certificate."""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
import urllib.request

import pytest
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from mockserver import MockServer
from test_transport import _self_signed
from threaded_server import threaded_server

META_PROXY_SPIDER = """
from scraper import Request, Spider


class ViaProxy(Spider):
    name = "via_proxy"
    page = ""
    proxy = ""

    def start_requests(self):
        yield Request(self.page, meta={"proxy": self.proxy})

    def parse(self, response):
        yield {"url": response.url, "title": response.css("title::text").get()}
"""


@pytest.fixture
def forward_proxy():
    """A forward proxy on 127.0.0.1: relays absolute-form GETs; yields (proxy URL, log of
    (URL, Proxy-Authorization))."""
    seen: list[tuple[str, str | None]] = []
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def relay(handler) -> tuple[int, str, bytes]:
        seen.append((handler.path, handler.headers.get("Proxy-Authorization")))
        try:
            reply = direct.open(handler.path, timeout=10)
            return reply.status, reply.headers["Content-Type"] or "text/html", reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, "text/plain", exc.read()

    with threaded_server(relay) as url:
        yield url, seen


def crawl(tmp_path, spider: str, *args: str, env: dict[str, str] | None = None):
    out = tmp_path / "out.jsonl"
    result = run_cli(spider, "-O", str(out), *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return read_jsonl(out)


def crawl_site(tmp_path, start: str, env: dict[str, str]) -> list[dict]:
    return crawl(tmp_path, str(TEST_SPIDERS / "follow.py"), "-a", f"start_urls={start}", env=env)


def test_http_proxy_from_the_environment_carries_every_request(tmp_path, forward_proxy):
    proxy, seen = forward_proxy
    with MockServer(hosts=1) as server:
        start = server.url("/page/root?links=a,b")
        items = crawl_site(tmp_path, start, {"HTTP_PROXY": proxy, "NO_PROXY": ""})
        assert len(items) == 3
        paths = sorted(url.split("/", 3)[3] for url, _ in seen)
        assert paths == ["page/a", "page/b", "page/root?links=a,b", "robots.txt"]
        assert sorted(r["path"] for r in server.log()) == ["/" + p for p in paths]


def test_no_proxy_hosts_go_direct(tmp_path, forward_proxy):
    proxy, seen = forward_proxy
    with MockServer(hosts=1) as server:
        start = server.url("/page/root?links=a")
        items = crawl_site(
            tmp_path, start, {"HTTP_PROXY": proxy, "NO_PROXY": "localhost,127.0.0.2"}
        )
        assert len(items) == 2 and seen == []


def test_meta_proxy_with_credentials_is_used_for_that_request(tmp_path, forward_proxy):
    proxy, seen = forward_proxy
    spider = tmp_path / "via_proxy.py"
    spider.write_text(META_PROXY_SPIDER)
    with MockServer(hosts=1) as server:
        page = server.url("/page/only")
        with_credentials = proxy.replace("http://", "http://user:s3cret@")
        items = crawl(
            tmp_path, str(spider), "-a", f"page={page}", "-a", f"proxy={with_credentials}",
            "-s", "ROBOTSTXT_OBEY=false", env={"NO_PROXY": ""},
        )  # fmt: skip
        assert [item["title"] for item in items] == ["only"]
        expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
        assert seen == [(page, expected)]


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:port``: answers 200 and relays bytes both ways until either side closes.
    The proxy never sees inside the TLS it carries."""

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:])
        self.server.seen.append((method, target, headers.get("Proxy-Authorization")))
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            while True:
                readable, _, _ = select.select(ends, [], [], 10)
                if not readable:
                    return  # idle for 10 s: the client is gone
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


@pytest.fixture
def tunnel_proxy():
    """A CONNECT proxy on 127.0.0.1: yields (proxy URL, log of (method, target,
    Proxy-Authorization))."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tunnel)
    server.daemon_threads = True
    server.seen = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def private_tls_site(tmp_path):
    """An HTTPS site on 127.0.0.1 whose certificate only ``cert.pem`` vouches for: (base URL,
    certificate file)."""
    server_tls, _ = _self_signed(tmp_path)

    def page(handler) -> tuple[int, str, bytes]:
        if handler.path == "/robots.txt":
            return 404, "text/plain", b""
        return 200, "text/html", b'<html><title>tls</title><a href="/second">2</a></html>'

    with threaded_server(page, tls=server_tls) as url:
        yield url, tmp_path / "cert.pem"


def test_https_goes_through_a_connect_tunnel_from_the_environment(
    tmp_path, tunnel_proxy, private_tls_site
):
    proxy, seen = tunnel_proxy
    base, cert = private_tls_site
    target = base.removeprefix("https://")
    env = {"HTTPS_PROXY": proxy, "NO_PROXY": ""}
    items = crawl(
        tmp_path, str(TEST_SPIDERS / "follow.py"), "-a", f"start_urls={base}/",
        "-s", f"DOWNLOAD_CA_BUNDLE={cert}", env=env,
    )  # fmt: skip
    assert sorted(item["url"] for item in items) == [f"{base}/", f"{base}/second"]
    # robots.txt and both pages went through the tunnel: none went direct.
    assert seen and all(entry == ("CONNECT", target, None) for entry in seen)


def test_meta_proxy_credentials_reach_the_connect_request(tmp_path, tunnel_proxy, private_tls_site):
    proxy, seen = tunnel_proxy
    base, cert = private_tls_site
    spider = tmp_path / "via_proxy.py"
    spider.write_text(META_PROXY_SPIDER)
    items = crawl(
        tmp_path, str(spider), "-a", f"page={base}/only",
        "-a", "proxy=" + proxy.replace("http://", "http://user:s3cret@"),
        "-s", "ROBOTSTXT_OBEY=false", "-s", f"DOWNLOAD_CA_BUNDLE={cert}", env={"NO_PROXY": ""},
    )  # fmt: skip
    assert [item["title"] for item in items] == ["tls"]
    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert seen == [("CONNECT", base.removeprefix("https://"), expected)]
