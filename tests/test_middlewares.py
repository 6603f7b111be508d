"""Downloader and spider middlewares, spider_idle and the crawler in parse workers: what the
differential spiders (tests/compat/dmw_*, spmw_*, mw_order, spider_idle_crawl) cannot show
against Scrapy: where each runs, the lock around downloader middlewares, failures and stats,
settings from -s, DontCloseSpider, and a new project's middlewares on the demo site."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

from compat_site import CompatSite
from conftest import read_jsonl, run_cli, run_in_process
from mockserver import MockServer


def _spider(tmp_path: Path, source: str, **values: str) -> Path:
    text = textwrap.dedent(source)
    for name, value in values.items():
        text = text.replace(f"__{name}__", value)
    path = tmp_path / "spider.py"
    path.write_text(text)
    return path


SERIAL = """
import time
from scraper import Request, Spider


class Overlap:
    # Counts calls in progress: more than one at once means two fetch threads were inside.
    def __init__(self):
        self.active = self.peak = 0

    def process_request(self, request, spider):
        self.active += 1
        self.peak = max(self.peak, self.active)
        time.sleep(0.02)  # slow user code: the window where another thread could come in
        self.active -= 1
        request.meta["peak"] = self.peak


class Many(Spider):
    name = "many"
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {Overlap: 500}}

    def start_requests(self):
        for i in range(12):
            yield Request(f"__URL__/page/p{i}", dont_filter=True)

    def parse(self, response):
        yield {"peak": response.meta["peak"]}
"""


def test_downloader_middleware_calls_run_one_at_a_time_across_fetch_threads(tmp_path):
    """Twelve requests on eight fetch threads at once: no two middleware calls overlap."""
    with MockServer(hosts=1) as server:
        spider = _spider(tmp_path, SERIAL, URL=server.url("").rstrip("/"))
        result = run_cli(
            str(spider), "-O", "out.jsonl", "-s", "CONCURRENT_REQUESTS=8",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "PARSE_WORKERS=0", cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    peaks = [item["peak"] for item in read_jsonl(tmp_path / "out.jsonl")]
    assert len(peaks) == 12 and max(peaks) == 1


EXCEPTIONS = """
from scraper import Request, Spider
from scraper.exceptions import IgnoreRequest
from scraper.http import HtmlResponse


class Fallback:
    def process_request(self, request, spider):
        if "/page/skip" in request.url:
            raise IgnoreRequest("skipped on purpose")

    def process_exception(self, request, exception, spider):
        if isinstance(exception, IgnoreRequest):  # process_request's, passed on as Scrapy does
            return None
        request.meta["asked"] = [*request.meta.get("asked", []), "fallback"]
        body = f"<h1>fallback for {type(exception).__name__}</h1>"
        return HtmlResponse(request.url, body=body, encoding="utf-8")

    def process_response(self, request, response, spider):
        if "/page/broken" in request.url:
            raise RuntimeError("a bug in the middleware")
        request.meta["checked"] = True
        return response


class Observer:
    # Numbered above Fallback: asked first about an exception, and passes it on.
    def process_exception(self, request, exception, spider):
        request.meta["asked"] = [*request.meta.get("asked", []), "observer"]


class Failing(Spider):
    name = "failing"
    custom_settings = {
        "DOWNLOADER_MIDDLEWARES": {"spider.Fallback": 10, Observer: 20},
        "RETRY_TIMES": 0,
    }

    def start_requests(self):
        for path in ("/reset-mid-body", "/page/skip", "/page/broken", "/page/fine"):
            yield Request(f"__URL__{path}")

    def parse(self, response):
        yield {"url": response.url, "h1": response.css("h1::text").get(),
               "checked": response.meta.get("checked"), "asked": response.meta.get("asked")}
"""


def test_process_exception_ignore_request_and_a_broken_middleware(tmp_path):
    """A download that fails for good goes to process_exception (highest order first), whose
    response goes through process_response too; IgnoreRequest is counted, not a failure, and
    nothing is sent; a middleware that raises fails its request as middleware_error, with a
    failure line."""
    with MockServer(hosts=1) as server:
        base = server.url("").rstrip("/")
        spider = _spider(tmp_path, EXCEPTIONS, URL=base)
        result = run_cli(str(spider), "-O", "out.jsonl", "-s", "PARSE_WORKERS=1", cwd=tmp_path)
        sent = {record["path"] for record in server.log()}
    assert result.returncode == 0, result.stderr
    items = {item["url"].removeprefix(base): item for item in read_jsonl(tmp_path / "out.jsonl")}
    assert items == {
        "/reset-mid-body": {
            "url": f"{base}/reset-mid-body", "h1": "fallback for Truncated", "checked": True,
            "asked": ["observer", "fallback"],
        },
        "/page/fine": {"url": f"{base}/page/fine", "h1": "fine", "checked": True, "asked": None},
    }  # fmt: skip
    assert "/page/skip" not in sent and "/page/broken" in sent
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert [(f["url"].removeprefix(base), f["reason"]) for f in failures] == [
        ("/page/broken", "middleware_error")
    ]
    assert "RuntimeError in process_response: a bug in the middleware" in failures[0]["detail"]
    assert "filtered before fetching: ignored_request 1" in result.stderr


ECHO = """
import json
from scraper import Spider


class Echo(Spider):
    name = "echo"
    start_urls = ["__URL__/echo-headers"]

    def parse(self, response):
        yield {"tag": json.loads(response.text).get("x-tag")}
"""

TAGGER = """
class Tagger:
    def process_request(self, request, spider):
        request.headers["X-Tag"] = "from -s"
"""


def test_a_middleware_enabled_with_s_by_dotted_path(tmp_path):
    """``-s DOWNLOADER_MIDDLEWARES=<JSON>`` names a middleware in a module of the folder the
    crawl runs from; the header it adds reaches the server."""
    (tmp_path / "tagging.py").write_text(TAGGER)
    with MockServer(hosts=1) as server:
        spider = _spider(tmp_path, ECHO, URL=server.url("").rstrip("/"))
        result = run_cli(
            str(spider), "-O", "out.jsonl",
            "-s", 'DOWNLOADER_MIDDLEWARES={"tagging.Tagger": 100}', cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_jsonl(tmp_path / "out.jsonl") == [{"tag": "from -s"}]


IDLE = """
from scraper import Request, Spider, signals
from scraper.exceptions import DontCloseSpider


class Idle(Spider):
    name = "idle"
    start_urls = ["__SITE__/about"]

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.calls = 0
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    def idle(self):
        self.calls += 1
        with open(self.record_to, "a") as out:
            out.write(f"idle {self.calls}\\n")
        if self.calls <= 2:
            raise DontCloseSpider
        if self.calls == 3:
            self.crawler.engine.crawl(Request("__SITE__/cat/1", callback=self.parse))

    def parse(self, response):
        yield {"title": response.css("h1::text").get()}
"""


def test_spider_idle_keeps_the_crawl_open_and_adds_requests(tmp_path):
    """Idle, the crawl asks its spider_idle handlers: DontCloseSpider keeps it open (asked
    again), a request scheduled with crawler.engine.crawl is crawled, and when a handler does
    neither, the crawl ends."""
    record = tmp_path / "idle.txt"
    with CompatSite() as site:
        spider = _spider(tmp_path, IDLE, SITE=site.base)
        result = run_cli(str(spider), "-O", "out.jsonl", "-a", f"record_to={record}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert record.read_text().splitlines() == ["idle 1", "idle 2", "idle 3", "idle 4"]
    titles = sorted(item["title"] for item in read_jsonl(tmp_path / "out.jsonl"))
    assert titles == ["About", "Category 1 page 1"]


WORKER = """
import os
from scraper import Spider


class Beside:
    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("MARK"))

    def __init__(self, mark):
        self.mark = mark

    def process_spider_output(self, response, result, spider):
        for item in result:
            item["middleware_pid"] = os.getpid()
            item["mark"] = self.mark
            yield item


class InWorker(Spider):
    name = "in_worker"
    start_urls = ["__SITE__/about", "__SITE__/map"]
    custom_settings = {"SPIDER_MIDDLEWARES": {Beside: 100}, "MARK": "m1", "PRICE_FACTOR": 3}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.factor = crawler.settings.getint("PRICE_FACTOR")
        return spider

    def parse(self, response):
        self.crawler.stats.inc_value("pages")
        yield {
            "callback_pid": os.getpid(),
            "factor": self.factor,
            "setting": self.crawler.settings.getint("PRICE_FACTOR"),
            "workers": self.crawler.settings.PARSE_WORKERS,
        }
"""


def test_callbacks_in_a_worker_see_their_crawler_and_their_spider_middlewares(tmp_path):
    """In a parse worker the spider is made by from_crawler (so what it reads there is set),
    self.crawler has the settings, and the spider middlewares run in the same process as the
    callback, not in the main process."""
    with CompatSite() as site:
        spider = _spider(tmp_path, WORKER, SITE=site.base)
        result = run_in_process(
            spider, tmp_path / "out.jsonl", {"PARSE_WORKERS": 1, "PARSE_INLINE_BELOW": 0}
        )
    assert result.reason == "finished"
    items = read_jsonl(tmp_path / "out.jsonl")
    assert len(items) == 2
    for item in items:
        assert item["callback_pid"] == item["middleware_pid"] != os.getpid()
        assert (item["factor"], item["setting"], item["workers"], item["mark"]) == (3, 3, 1, "m1")


CLOSING = """
from scraper import Spider


class Closing(Spider):
    name = "closing"
    start_urls = ["__SITE__/cat/1"]

    def parse(self, response):
        self.crawler.engine.close_spider(self, "seen_enough")
        yield {"url": response.url}
"""


def test_close_spider_from_a_callback_in_a_worker_stops_the_crawl(tmp_path):
    with CompatSite() as site:
        spider = _spider(tmp_path, CLOSING, SITE=site.base)
        result = run_in_process(
            spider, tmp_path / "out.jsonl", {"PARSE_WORKERS": 1, "PARSE_INLINE_BELOW": 0}
        )
    assert result.reason == "seen_enough"


def test_a_new_projects_middlewares_crawl_the_demo_site(tmp_path, demo_site):
    """startproject writes middlewares.py and, commented out, their settings: enabled as
    they are, a generated spider crawls the demo site through both, and each says so when the
    spider opens."""
    site = demo_site(hosts=1, rate=0)
    assert run_cli("startproject", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    settings = project / "shop" / "settings.py"
    enabled = re.sub(
        r'^# ((?:\w+_MIDDLEWARES =|    "|\}).*)$', r"\1", settings.read_text(), flags=re.M
    )
    settings.write_text(enabled)
    made = run_cli("genspider", "news", site.base_urls[0] + "/", cwd=project)
    assert made.returncode == 0, made.stderr
    result = run_cli(
        "news", "-O", "out.jsonl", "-s", "CLOSESPIDER_ITEMCOUNT=5", "-s", "PARSE_WORKERS=1",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(project / "out.jsonl")) >= 5
    assert "ShopDownloaderMiddleware: spider news opened" in result.stderr
    assert "ShopSpiderMiddleware: spider news opened" in result.stderr
