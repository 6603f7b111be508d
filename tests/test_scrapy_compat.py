"""Differential tests: each spider of tests/compat/ runs under Scrapy (its ``scraper`` imports
turned into ``scrapy``) and under ``crawl``, each against its own copy of the same local site
(tests/compat_site.py); the items and the sets of requests the site received must be equal.

One Scrapy process runs every spider at once (Scrapy's start-up is the dear part), while our
crawls run a few at a time as real ``crawl`` commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from compat_site import CompatSite
from conftest import read_jsonl, run_cli

COMPAT = Path(__file__).resolve().parent / "compat"
SPIDERS = sorted(p.stem for p in COMPAT.glob("*.py"))

RUN_SCRAPY = """
import importlib.util, json, sys
from scrapy.crawler import CrawlerProcess
from scrapy.utils.spider import iter_spider_classes

process = CrawlerProcess({"ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR",
                          "TELNETCONSOLE_ENABLED": False})
for entry in json.load(open(sys.argv[1])):
    spec = importlib.util.spec_from_file_location(entry["name"] + "_scrapy", entry["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (cls,) = [c for c in iter_spider_classes(module) if c.name == entry["name"]]
    feeds = {"FEEDS": {entry["out"]: {"format": "jsonlines"}}}
    cls.custom_settings = {**(cls.custom_settings or {}), **feeds}
    process.crawl(cls)
process.start()
"""


def flavour(source: str, site: CompatSite, scrapy: bool) -> str:
    source = source.replace("__SITE__", site.base.removeprefix("http://"))
    return re.sub(r"\bscraper\b", "scrapy", source) if scrapy else source


def canonical(items: list[dict], site: CompatSite) -> list[str]:
    """The items as sorted JSON lines, the site's own address written as SITE."""
    return sorted(json.dumps(item, sort_keys=True).replace(site.base, "SITE") for item in items)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per spider: (our items, our requests, Scrapy's items, Scrapy's requests, our stderr)."""
    root = tmp_path_factory.mktemp("compat")
    sites = {name: (CompatSite().__enter__(), CompatSite().__enter__()) for name in SPIDERS}
    try:
        spec = []
        for name in SPIDERS:
            source = (COMPAT / f"{name}.py").read_text()
            (root / f"{name}_scrapy.py").write_text(flavour(source, sites[name][1], True))
            (root / f"{name}.py").write_text(flavour(source, sites[name][0], False))
            spec.append({"name": name, "file": str(root / f"{name}_scrapy.py"),
                         "out": str(root / f"{name}_scrapy.jsonl")})  # fmt: skip
        (root / "spec.json").write_text(json.dumps(spec))
        (root / "run_scrapy.py").write_text(RUN_SCRAPY)
        scrapy = subprocess.Popen(
            [sys.executable, "run_scrapy.py", "spec.json"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def ours(name: str) -> subprocess.CompletedProcess[str]:
            return run_cli(
                f"{name}.py", "-O", f"{name}.jsonl", "-s", "PARSE_WORKERS=1",
                "-s", "LOG_LEVEL=WARNING", cwd=root, timeout=300,
            )  # fmt: skip

        with ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(zip(SPIDERS, pool.map(ours, SPIDERS), strict=True))
        _, scrapy_err = scrapy.communicate(timeout=600)
        assert scrapy.returncode == 0, scrapy_err
        out = {}
        for name in SPIDERS:
            ours_items = read_jsonl(root / f"{name}.jsonl") if results[name].returncode == 0 else []
            out[name] = (
                canonical(ours_items, sites[name][0]),
                sites[name][0].requests(),
                canonical(read_jsonl(root / f"{name}_scrapy.jsonl"), sites[name][1]),
                sites[name][1].requests(),
                results[name].stderr,
            )
        return out
    finally:
        for pair in sites.values():
            for site in pair:
                site.__exit__()


@pytest.mark.timeout(900)  # a bound for loaded machines: ~1 minute on a quiet one
@pytest.mark.longest
def test_every_spider_gives_scrapys_items_and_requests(runs):
    differing = {}
    for name, (items, requests, scrapy_items, scrapy_requests, stderr) in runs.items():
        if items != scrapy_items or requests != scrapy_requests:
            differing[name] = {
                "ours_only_items": sorted(set(items) - set(scrapy_items)),
                "scrapy_only_items": sorted(set(scrapy_items) - set(items)),
                "ours_only_requests": sorted(requests - scrapy_requests),
                "scrapy_only_requests": sorted(scrapy_requests - requests),
                "stderr": stderr[-2000:],
            }
    assert not differing, json.dumps(differing, indent=1)
    assert len(runs) >= 40
    assert [name for name, (items, *_) in runs.items() if not items] == []  # all produced


PROJECT = Path(__file__).resolve().parent / "compat_project"


def _copy_project(target: Path, site: CompatSite, scrapy: bool) -> Path:
    for path in PROJECT.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            out = target / path.relative_to(PROJECT)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(flavour(path.read_text(), site, scrapy))
    return target


def test_a_scrapy_project_runs_with_crawl_name_from_its_root(tmp_path):
    """tests/compat_project is a Scrapy project (scrapy.cfg, settings.py, items.py,
    pipelines.py, middlewares.py, spiders/ with relative imports and two spiders in one file)
    with its ``scrapy`` imports changed: ``crawl products`` gives ``scrapy crawl products``'s
    items and requests; settings.py applies below the spider's custom_settings, and the
    downloader middleware it enables runs (it withdraws product 12)."""
    with CompatSite() as ours_site, CompatSite() as scrapy_site:
        ours = _copy_project(tmp_path / "ours", ours_site, scrapy=False)
        theirs = _copy_project(tmp_path / "theirs", scrapy_site, scrapy=True)
        result = run_cli("products", "-O", "out.jsonl", "-s", "PARSE_WORKERS=2", cwd=ours)
        assert result.returncode == 0, result.stderr
        scrapy = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "products", "-O", "out.jsonl",
             "-s", "LOG_LEVEL=ERROR"],
            cwd=theirs, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert scrapy.returncode == 0, scrapy.stderr
        items = read_jsonl(ours / "out.jsonl")
        assert canonical(items, ours_site) == canonical(
            read_jsonl(theirs / "out.jsonl"), scrapy_site
        )
        assert ours_site.requests() == scrapy_site.requests()
        other = run_cli("about", "-O", "about.jsonl", cwd=ours)  # the file's second spider
        assert other.returncode == 0, other.stderr
    # PRICE_FACTOR: 2 from custom_settings over settings.py's 3; CURRENCY: the project's own.
    assert len(items) == 5 and {item["currency"] for item in items} == {"EUR"}
    assert {item["name"]: item["price"] for item in items}["Product 2"] == 13.0
    assert "Product 12" not in {item["name"] for item in items}  # the project's middleware
    assert read_jsonl(ours / "about.jsonl") == [{"about": "We sell things."}]
    missing = run_cli("nope", cwd=ours)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "crawl: error: no spider named 'nope' in shop.spiders"


SIGNALS_SPIDER = """
from scraper import Spider, signals
from scraper.exceptions import DropItem


class DropFirst:
    def process_item(self, item, spider):
        if item["url"].endswith("/cat/1"):
            raise DropItem("first")
        return item


class Signalled(Spider):
    name = "signalled"
    custom_settings = {"ITEM_PIPELINES": {DropFirst: 1}}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        for name in ("spider_opened", "spider_closed", "item_scraped", "item_dropped",
                     "request_scheduled", "response_received"):
            crawler.signals.connect(spider.recorder(name), signal=getattr(signals, name))
        return spider

    def recorder(self, name):
        def record(**kwargs):
            detail = kwargs.get("reason") or getattr(kwargs.get("request"), "url", "")
            with open(self.record_to, "a") as out:
                out.write(f"{name} {detail}\\n")
        return record

    def parse(self, response):
        yield {"url": response.url}
        yield from response.follow_all(css="a.next")
"""


def test_signal_handlers_connected_in_from_crawler_are_called(tmp_path):
    record = tmp_path / "signals.txt"
    (tmp_path / "signalled.py").write_text(SIGNALS_SPIDER)
    with CompatSite() as site:
        result = run_cli(
            "signalled.py", "-O", "out.jsonl", "-a", f"start_urls={site.url('/cat/1')}",
            "-a", f"record_to={record}", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    lines = sorted(record.read_text().splitlines())
    pages = [site.url("/cat/1"), site.url("/cat/1?page=2")]
    assert lines == sorted(
        ["spider_opened ", "spider_closed finished", "item_dropped "]
        + ["item_scraped "]
        + [f"request_scheduled {url}" for url in pages]
        + [f"response_received {url}" for url in pages]
    )
    assert read_jsonl(tmp_path / "out.jsonl") == [{"url": pages[1]}]
