"""Proxies: HTTP_PROXY / NO_PROXY from the environment and ``request.meta["proxy"]`` with
credentials, seen by a local forward proxy that relays to the mock server."""

from __future__ import annotations

import base64
import urllib.request

import pytest
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from mockserver import MockServer
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
