"""News spider: finds the articles of news sites and extracts them.

    crawl spiders/news.py                                   # the bundled offline demo site
    crawl spiders/news.py -a start_urls=https://example.org/,https://example.com/news/

Discovery: robots.txt ``Sitemap:`` lines (or /sitemap.xml when robots.txt names none), sitemap
indexes, news and gzipped sitemaps, RSS/Atom feeds linked from pages, and same-site section and
pagination links up to DEPTH_LIMIT. The crawl stays on the start sites: ``allowed_domains`` is
derived from the start URLs unless given (``-a allowed_domains=a.example,b.example``).

Extraction runs in the parse workers (``scraper.extract.article``): a page is an article on
evidence in the page (a JSON-LD article node describing it, ``og:type=article``, or the prose
shape of an article), never on URL patterns. Items carry url, canonical_url, title, authors,
published, modified, section, language, body, summary, keywords, word_count, simhash (16 hex
digits) and near_duplicate_of, which the NearDuplicatePipeline sets in the main process.

With no start URLs the spider serves the demo site (scraper.demo) on loopback for the length of
the crawl, in the main process only: ``start_requests`` and ``closed`` never run in workers.
Its addresses are kept in the crawl's state (the job folder, or Redis), so a resumed crawl
serves it where its queued URLs point, and every worker of a shared crawl crawls one site.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from scraper import Request, Response, Spider
from scraper.extract.article import extract_article

FEED_TYPES = ("application/rss+xml", "application/atom+xml")
FEED_PATHS = (".rss", "rss.xml", "atom.xml", "/feed", "/feed/")
SKIP_EXTENSIONS = re.compile(r"\.(jpe?g|png|gif|webp|svg|pdf|zip|mp[34]|css|js|ico)(\?|$)", re.I)
# The sitemaps protocol caps a sitemap at 50 MB uncompressed; more is a gzip bomb or a mistake.
SITEMAP_MAX_BYTES = 50 * 1024 * 1024
# Pages found in sitemaps and feeds are likelier articles than section pages: fetch them first.
ARTICLE_CANDIDATE_PRIORITY = 1
DEMO_STATE_KEY = "demo_base_urls"


class NewsSpider(Spider):
    name = "news"
    custom_settings = {
        "DOWNLOAD_DELAY": 0.15,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DEPTH_LIMIT": 5,
        "ITEM_PIPELINES": {"scraper.extract.near_duplicates.NearDuplicatePipeline": 300},
    }

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        # Here rather than in start_requests so the workers know the crawl's domains too.
        if isinstance(self.allowed_domains, str):  # from -a or scrapy-like.cfg
            self.allowed_domains = [d.strip() for d in self.allowed_domains.split(",") if d.strip()]
        if not self.allowed_domains:
            self.allowed_domains = _hosts(self.start_urls)

    def start_requests(self) -> Iterator[Request]:
        if not self.start_urls:
            self.start_urls = self._serve_demo()
            self.allowed_domains = _hosts(self.start_urls)
        roots = dict.fromkeys(_root(url) for url in self.start_urls)
        for root in roots:
            yield Request(
                f"{root}/robots.txt",
                callback=self.parse_robots,
                meta={"handle_httpstatus_all": True},
            )
        for url in self.start_urls:
            yield Request(url, callback=self.parse, dont_filter=True)

    def _serve_demo(self) -> list[str]:
        """Serve the demo site where this crawl served it before (a resume; another worker of
        a shared crawl), else on ports the OS picks, recorded for the next time."""
        from scraper.demo import DemoSite

        state = self.crawl_state
        recorded = state.get(DEMO_STATE_KEY) if state is not None else None
        if recorded is None:
            self.demo = DemoSite(log_path=getattr(self, "demo_log", None)).start()
            urls = self.demo.base_urls
            recorded = state.setdefault(DEMO_STATE_KEY, urls) if state is not None else urls
            if recorded == urls:
                self.logger.info("serving the demo site on %s", ", ".join(urls))
                return urls
            self.demo.stop()  # another worker recorded its addresses first: serve those
        return self._serve_demo_at(recorded)

    def _serve_demo_at(self, urls: list[str]) -> list[str]:
        from scraper.demo import DemoSite, serves_demo_site

        ports = [urlsplit(url).port or 80 for url in urls]
        demo = DemoSite(log_path=getattr(self, "demo_log", None), ports=ports)
        try:
            self.demo = demo.start()
        except OSError as exc:
            if serves_demo_site(urls[0]):  # another worker of this crawl serves it here
                self.logger.info("crawling the demo site another worker serves on %s", urls[0])
                return urls
            raise RuntimeError(
                f"cannot serve the demo site again on {', '.join(urls)}, where this crawl's "
                f"queued requests point: {exc.strerror or exc}; free the port, or start afresh "
                "with another job folder"
            ) from exc
        self.logger.info("serving the demo site again on %s", ", ".join(urls))
        return urls

    def closed(self, reason: str) -> None:
        demo = getattr(self, "demo", None)
        if demo is not None:
            demo.stop()

    # -- discovery -----------------------------------------------------------------------------
    def parse_robots(self, response: Response) -> Iterator[Request]:
        sitemaps = []
        if response.status == 200:
            for line in response.text.splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "sitemap" and value.strip():
                    sitemaps.append(response.urljoin(value.strip()))
        if not sitemaps:  # the conventional place, for sites whose robots.txt names none
            sitemaps.append(f"{_root(response.url)}/sitemap.xml")
        for url in sitemaps:
            yield Request(url, callback=self.parse_sitemap)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        """A sitemap index (more sitemaps), a urlset (pages, news sitemaps included), gzipped
        or not."""
        root = _xml(response.body)
        if root is None:
            return
        kind = etree.QName(root).localname
        for loc in root.iterfind(".//{*}loc"):
            url = response.urljoin((loc.text or "").strip())
            # <loc> also appears inside image:image and video:video entries; only the
            # entry's own <loc> names a page.
            entry = etree.QName(loc.getparent()).localname
            if kind == "sitemapindex" and entry == "sitemap":
                yield Request(url, callback=self.parse_sitemap)
            elif kind == "urlset" and entry == "url":
                yield Request(url, callback=self.parse, priority=ARTICLE_CANDIDATE_PRIORITY)

    def parse_feed(self, response: Response) -> Iterator[Request]:
        root = _xml(response.body)
        if root is None:
            return
        links = [link.text or "" for link in root.iterfind(".//{*}item/{*}link")]
        links += [
            link.get("href", "")
            for link in root.iterfind(".//{*}entry/{*}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        for link in links:
            if link.strip():
                yield Request(
                    response.urljoin(link.strip()),
                    callback=self.parse,
                    priority=ARTICLE_CANDIDATE_PRIORITY,
                )

    def parse(self, response: Response) -> Iterator[Any]:
        """Any HTML page: an article yields an item; every page yields its on-site links."""
        if "html" not in response.headers.get("content-type", "text/html"):
            return
        item = extract_article(response)
        if item is not None:
            yield item
        if not self._follows_links(response):
            return
        for feed in response.xpath("//link[@rel='alternate']"):
            if feed.attrib.get("type") in FEED_TYPES and feed.attrib.get("href"):
                yield response.follow(feed.attrib["href"], callback=self.parse_feed)
        for href in response.xpath("//a/@href").getall():
            if href.startswith(("mailto:", "javascript:", "tel:", "#")):
                continue
            url = response.urljoin(href.strip())
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and self._on_site(parts.hostname or ""):
                if SKIP_EXTENSIONS.search(url):
                    continue
                if url.endswith(FEED_PATHS):
                    yield Request(url, callback=self.parse_feed)
                else:
                    yield Request(url, callback=self.parse)

    # The engine drops off-site and too-deep requests anyway; not sending them back from the
    # worker saves pickling, a fingerprint and a lookup each in the main process, which a
    # news page with hundreds of links turns into the crawl's bottleneck.
    def _follows_links(self, response: Response) -> bool:
        limit = getattr(self.settings, "DEPTH_LIMIT", 0)
        return not limit or response.request.depth < limit

    def _on_site(self, host: str) -> bool:
        return not self.allowed_domains or any(
            host == domain or host.endswith(f".{domain}") for domain in self.allowed_domains
        )


def _hosts(urls: list[str] | tuple[str, ...]) -> list[str]:
    return sorted({urlsplit(url).hostname or "" for url in urls})


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _xml(body: bytes) -> etree._Element | None:
    """The root of an XML document (sitemap or feed), gunzipped if needed; None if broken."""
    if body[:2] == b"\x1f\x8b":  # served as a .gz file rather than with Content-Encoding
        try:
            body = _gunzip(body)
        except (OSError, EOFError, zlib.error):
            return None
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(body, parser=parser)  # None when nothing could be recovered
    except etree.XMLSyntaxError:
        return None


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(SITEMAP_MAX_BYTES + 1)
    if len(out) > SITEMAP_MAX_BYTES:
        raise OSError("sitemap larger than the sitemaps protocol allows")
    return out
