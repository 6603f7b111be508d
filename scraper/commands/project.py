"""``crawl startproject NAME`` and ``crawl genspider NAME DOMAIN``: a project and spiders that
crawl at once.

Flow position: outside the crawl; files for the developer to edit. The project keeps Scrapy's
layout (``scrapy.cfg`` naming the package; ``items.py``, ``pipelines.py``, ``middlewares.py``,
``settings.py`` and ``spiders/`` in it)
plus ``scrapy-like.cfg``, where this framework reads the project's settings. ``genspider``
writes into the project's ``spiders/`` when run inside one, else into the current folder; its
spiders carry contracts, so ``crawl check`` has something to check from the start.
"""

from __future__ import annotations

import argparse
import configparser
import keyword
import re
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ScraperError

# Templates of Scrapy's that need a spider class this framework does not have yet.

CONFIG = """\
# Settings of this project's crawls (Scrapy-style precedence):
#   defaults < [settings] < [spider:NAME] < the spider's custom_settings < -s NAME=VALUE
[settings]
ROBOTSTXT_OBEY = true
# DOWNLOAD_DELAY = 0.5
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# While writing a spider: keep every page, so reruns do not fetch the site again.
HTTPCACHE_ENABLED = true
"""

SCRAPY_CFG = """\
# Scrapy's project marker: names the project package.
[settings]
default = {name}.settings

[deploy]
project = {name}
"""

ITEMS = '''\
"""The items this project's spiders yield: dicts or dataclasses both work."""

from dataclasses import dataclass


@dataclass
class {cls}Item:
    url: str
    title: str | None = None
'''

PIPELINES = '''\
"""Item pipelines: enable one in scrapy-like.cfg with
ITEM_PIPELINES = {{"{name}.pipelines.{cls}Pipeline": 300}}
(run the crawl from this folder with ``python -m scraper`` so the package imports)."""


class {cls}Pipeline:
    def process_item(self, item, spider):
        return item
'''

SETTINGS = '''\
"""Scrapy's settings module, read by both: below ../scrapy-like.cfg, a spider's
custom_settings and -s. Python values go here (middlewares, pipelines); plain ones may go in
either file."""

BOT_NAME = "{name}"
SPIDER_MODULES = ["{name}.spiders"]

# Middlewares of this project (middlewares.py), by dotted path and order number.
# SPIDER_MIDDLEWARES = {{
#     "{name}.middlewares.{cls}SpiderMiddleware": 543,
# }}
# DOWNLOADER_MIDDLEWARES = {{
#     "{name}.middlewares.{cls}DownloaderMiddleware": 543,
# }}
'''

MIDDLEWARES = '''\
"""This project's middlewares: enable them in settings.py (SPIDER_MIDDLEWARES,
DOWNLOADER_MIDDLEWARES). Every method is optional; these pass everything through."""

from scraper import signals


class {cls}SpiderMiddleware:
    """Runs beside the spider's callbacks (in each parse worker) and on its start requests
    (in the main process)."""

    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls()
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def process_spider_input(self, response, spider):
        # Before the callback gets the response: return None, or raise to skip the callback.
        return None

    async def process_spider_output(self, response, result, spider):
        # The callback's items and requests: yield those to keep (changed, or new ones).
        async for item_or_request in result:
            yield item_or_request

    def process_spider_exception(self, response, exception, spider):
        # The callback raised: return None to pass it on, or an iterable to yield instead.
        return None

    async def process_start(self, start):
        # The spider's start requests, before any is queued.
        async for request in start:
            yield request

    def spider_opened(self, spider):
        spider.logger.info("{cls}SpiderMiddleware: spider %s opened", spider.name)


class {cls}DownloaderMiddleware:
    """Runs in the fetch threads around each download, one call at a time."""

    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls()
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def process_request(self, request, spider):
        # None: download it; a Response: use that instead; a Request: queue that instead;
        # raise IgnoreRequest (scraper.exceptions) to drop it.
        return None

    def process_response(self, request, response, spider):
        # Return the response (or another one), or a Request to queue instead.
        return response

    def process_exception(self, request, exception, spider):
        # The download failed: None passes it on; a Response or a Request replaces it.
        return None

    def spider_opened(self, spider):
        spider.logger.info("{cls}DownloaderMiddleware: spider %s opened", spider.name)
'''

BASIC = '''\
from scraper import Spider


class {cls}Spider(Spider):
    name = "{name}"
    allowed_domains = ["{host}"]
    start_urls = ["{url}"]

    def parse(self, response):
        """Each page's URL and title, then every link on it.

        @url {url}
        @returns items 1 1
        @scrapes url title
        """
        yield {{"url": response.url, "title": response.css("title::text").get()}}
        yield from response.follow_all(css="a[href]")
'''


CRAWL = '''\
from scraper.linkextractors import LinkExtractor
from scraper.spiders import CrawlSpider, Rule


class {cls}Spider(CrawlSpider):
    name = "{name}"
    allowed_domains = ["{host}"]
    start_urls = ["{url}"]

    # Follow every link on the site; each page it reaches gives one item.
    rules = (Rule(LinkExtractor(), callback="parse_item", follow=True),)

    def parse_item(self, response):
        """The page's URL and title.

        @url {url}
        @returns items 1 1
        @scrapes url title
        """
        yield {{"url": response.url, "title": response.css("title::text").get()}}
'''

SITEMAP = '''\
from scraper.spiders import SitemapSpider


class {cls}Spider(SitemapSpider):
    name = "{name}"
    allowed_domains = ["{host}"]
    # The sitemaps robots.txt names; sitemap_rules sends each page to its callback.
    sitemap_urls = ["{root}robots.txt"]
    sitemap_rules = [("", "parse_page")]

    def parse_page(self, response):
        """The page's URL and title.

        @url {url}
        @returns items 1 1
        @scrapes url title
        """
        yield {{"url": response.url, "title": response.css("title::text").get()}}
'''

TEMPLATES = {"basic": BASIC, "crawl": CRAWL, "sitemap": SITEMAP}


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", name) if part)


def _check_identifier(name: str, what: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ScraperError(f"{what} name {name!r} must be a Python identifier")


def startproject(name: str, folder: Path | None = None) -> Path:
    """Create the project ``name`` in ``folder`` (default: ``./name``); returns the folder."""
    _check_identifier(name, "project")
    root = folder or Path(name)
    if (root / "scrapy.cfg").exists() or (root / name).exists():
        raise ScraperError(f"{root} already holds a project")
    cls = _class_name(name)
    package = root / name
    (package / "spiders").mkdir(parents=True)
    files = {
        root / "scrapy.cfg": SCRAPY_CFG.format(name=name),
        root / "scrapy-like.cfg": CONFIG,
        package / "__init__.py": "",
        package / "items.py": ITEMS.format(cls=cls),
        package / "pipelines.py": PIPELINES.format(name=name, cls=cls),
        package / "settings.py": SETTINGS.format(name=name, cls=cls),
        package / "middlewares.py": MIDDLEWARES.format(cls=cls),
        package / "spiders" / "__init__.py": "",
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return root


def spiders_folder(start: Path | None = None) -> Path | None:
    """The ``spiders/`` folder of the project around ``start`` (its ``scrapy.cfg``), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        marker = folder / "scrapy.cfg"
        if marker.is_file():
            config = configparser.ConfigParser()
            config.read(marker)
            module = config.get("settings", "default", fallback="")
            package = module.rsplit(".", 1)[0] if module else ""
            if package and (folder / package / "spiders").is_dir():
                return folder / package / "spiders"
    return None


def genspider(name: str, domain: str, template: str = "basic", force: bool = False) -> Path:
    """Write spider ``name`` for ``domain`` (a host, or a start URL); returns its file."""
    _check_identifier(name, "spider")
    if template not in TEMPLATES:
        raise ScraperError(f"unknown template {template!r}: use one of {', '.join(TEMPLATES)}")
    url = domain if "://" in domain else f"https://{domain}/"
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ScraperError(f"not a domain or URL: {domain!r}")
    target = (spiders_folder() or Path.cwd()) / f"{name}.py"
    if target.exists() and not force:
        raise ScraperError(f"{target} already exists (--force to replace it)")
    target.write_text(
        TEMPLATES[template].format(
            cls=_class_name(name),
            name=name,
            host=host,
            url=url,
            root=f"{parts.scheme}://{parts.netloc}/",
        ),
        encoding="utf-8",
    )
    return target


def startproject_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crawl startproject", description="Create a project.")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("folder", metavar="FOLDER", nargs="?", type=Path)
    args = parser.parse_args(argv)
    root = startproject(args.name, args.folder)
    print(f"created project {args.name} in {root}; next: cd {root} && crawl genspider NAME DOMAIN")
    return 0


def genspider_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crawl genspider", description="Create a spider.")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("domain", metavar="DOMAIN", help="example.com, or a start URL")
    parser.add_argument("-t", dest="template", default="basic", help="basic, crawl or sitemap")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    path = genspider(args.name, args.domain, args.template, args.force)
    print(f"created spider {args.name} in {path}")
    return 0
