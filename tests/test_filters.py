"""Requests refused before the frontier, end to end against the misbehaving server: offsite
hosts (ALLOWED_DOMAINS and the spider's allowed_domains), the URL length cap, and non-http
schemes. A refused request is never sent (the server's log says so) and is counted."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import read_jsonl, run_in_process
from mockserver import MockServer

from scraper.build import open_store
from scraper.engine import Crawl, CrawlResult
from scraper.settings import Settings
from scraper.spider import load_spider_class

# Follows every href as it is (mailto:, ftp: ... included: the engine must refuse them, not
# follow_all), and the paths in ``extra_links`` from every page.
LINKS_SPIDER = """
from scraper import Spider

class Links(Spider):
    name = "links"
    extra_links = ""

    def parse(self, response):
        yield {"url": response.url}
        hrefs = response.css("a::attr(href)").getall() + self.extra_links.split(",")
        for href in filter(None, hrefs):
            yield response.follow(href)
"""


def crawl(
    tmp_path: Path, start: str, settings: dict[str, object], **spider_args: str
) -> tuple[CrawlResult, list[str]]:
    """Run the links spider from ``start``; returns the result and the exported URLs' paths."""
    spider = tmp_path / "links.py"
    spider.write_text(LINKS_SPIDER)
    output = tmp_path / "out.jsonl"
    result = run_in_process(
        spider, output, {"PARSE_WORKERS": 0, **settings}, start_urls=start, **spider_args
    )
    return result, [_path(item["url"]) for item in read_jsonl(output)]


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _start(server: MockServer, links: list[str]) -> str:
    return server.url("/page/start?to=" + quote(",".join(links), safe="/"))


@pytest.mark.parametrize(
    "how",
    [
        {"spider_args": {"allowed_domains": "example.test,127.0.0.3"}},  # -a, a comma list
        {"settings": {"ALLOWED_DOMAINS": "127.0.0.3"}},
    ],
    ids=["allowed_domains", "ALLOWED_DOMAINS"],
)
def test_offsite_links_are_not_fetched_and_are_counted(tmp_path, how):
    """The crawl starts on 127.0.0.3 and links to 127.0.0.2 (an allowed_domains string read
    letter by letter would hold "2" and so let 127.0.0.2 through as a "subdomain")."""
    with MockServer(hosts=2) as server:
        start = server.url(
            "/page/start?to=" + quote(f"/page/here,{server.url('/page/there')}", safe="/"),
            host=1,
        )
        result, exported = crawl(
            tmp_path, start, how.get("settings", {}), **how.get("spider_args", {})
        )
        served = server.log()
    assert sorted(exported) == ["/page/here", _path(start)]
    assert {r["host"] for r in served} == {"127.0.0.3"}  # not even 127.0.0.2's robots.txt
    assert result.stats.counters["offsite_filtered"] == 1


ON_SITE = ["http://sub.example.test/a", "http://a.b.example.test/b", "http://Example.TEST/c"]
OFF_SITE = ["http://evilexample.test/d", "http://example.test.evil/e", "http://test/f"]


@pytest.mark.parametrize("where", ["allowed_domains", "ALLOWED_DOMAINS"])
def test_allowed_domains_match_whole_labels(tmp_path, where):
    """example.test allows itself and its subdomains, never a name that only ends in the same
    letters (evilexample.test) or contains it (example.test.evil). These names do not resolve,
    so the client's transport seam answers for every host, and logs what reached it."""
    served: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        served.append(str(request.url))
        links = "".join(f'<a href="{url}">x</a>' for url in ON_SITE + OFF_SITE)
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text=links)

    spider_file = tmp_path / "links.py"
    spider_file.write_text(LINKS_SPIDER)
    settings = Settings()
    overrides = {"PARSE_WORKERS": 0, "ROBOTSTXT_OBEY": False, "RETRY_TIMES": 0}
    if where == "ALLOWED_DOMAINS":
        overrides["ALLOWED_DOMAINS"] = ["example.test"]
    settings.update(overrides, "test")
    spider_args = {"start_urls": "http://example.test/"}
    if where == "allowed_domains":
        spider_args["allowed_domains"] = "example.test"
    spider = load_spider_class(spider_file)(**spider_args)
    result = Crawl(
        spider,
        spider_path=str(spider_file),
        spider_args=spider_args,
        settings=settings,
        store=open_store(settings, spider.name),
        output=tmp_path / "out.jsonl",
        transport=httpx.MockTransport(answer),
    ).run()
    assert sorted(served) == sorted(["http://example.test/", *(u.lower() for u in ON_SITE)])
    assert result.stats.counters["offsite_filtered"] == len(OFF_SITE) * (1 + len(ON_SITE))


@pytest.mark.parametrize("limit", [100, 0])
def test_urls_over_the_length_cap_are_not_fetched_and_are_counted(tmp_path, limit):
    """URLLENGTH_LIMIT=100: a 120-character link is skipped; 0 means no limit."""
    long_path = "/page/" + "x" * 100
    with MockServer(hosts=1) as server:
        start = server.url("/page/start?links=short")
        assert len(start) < 100 < len(server.url(long_path))
        result, exported = crawl(tmp_path, start, {"URLLENGTH_LIMIT": limit}, extra_links=long_path)
        served = {r["path"] for r in server.log()}
    assert {"/page/start?links=short", "/page/short"} <= served
    if limit:
        assert long_path not in served
        # Refused where it is found: from the start page and from /page/short.
        assert result.stats.counters["url_too_long"] == 2
    else:
        assert long_path in served and long_path in exported
        assert result.stats.counters["url_too_long"] == 0


def test_non_http_links_are_not_followed_and_are_counted(tmp_path):
    with MockServer(hosts=1) as server:
        start = _start(
            server, ["mailto:someone@example.test", "ftp://127.0.0.2/file", "/page/good"]
        )
        result, exported = crawl(tmp_path, start, {"ROBOTSTXT_OBEY": False, "RETRY_TIMES": 0})
    assert sorted(exported) == ["/page/good", _path(start)]
    assert result.stats.counters["scheme_filtered"] == 2
    assert read_jsonl(result.failures) == []  # never tried, so never failed
