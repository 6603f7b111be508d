"""News spider: finds the articles of news sites and extracts them.

    crawl spiders/news.py                                   # the bundled offline demo site
    crawl spiders/news.py -a start_urls=https://example.org/,https://example.com/news/

Discovery: robots.txt sitemaps, sitemap indexes, RSS/Atom feeds linked from pages, and same-site
section and pagination links up to DEPTH_LIMIT. A page is an article on evidence in the page
(JSON-LD Article types, og:type=article), never on URL patterns. The crawl stays on the start
sites (allowed_domains is derived from the start URLs unless given).

With no start URLs the spider serves the demo site (scraper.demo) on loopback for the length of
the crawl, in the main process only: ``start_requests`` and ``closed`` never run in workers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scraper import Request, Response, Spider

ARTICLE_TYPES = {
    "Article",
    "NewsArticle",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BlogPosting",
    "ReviewNewsArticle",
    "Report",
}
FEED_TYPES = ("application/rss+xml", "application/atom+xml")
SKIP_EXTENSIONS = re.compile(r"\.(jpe?g|png|gif|webp|svg|pdf|zip|mp[34]|css|js|ico)(\?|$)", re.I)


class NewsSpider(Spider):
    name = "news"
    custom_settings = {
        "DOWNLOAD_DELAY": 0.15,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DEPTH_LIMIT": 5,
    }

    def start_requests(self) -> Iterator[Request]:
        if not self.start_urls:
            from scraper.demo import DemoSite

            self.demo = DemoSite(log_path=getattr(self, "demo_log", None)).start()
            self.start_urls = self.demo.base_urls
            self.logger.info("serving the demo site on %s", ", ".join(self.start_urls))
        if not self.allowed_domains:
            self.allowed_domains = sorted({urlsplit(u).hostname or "" for u in self.start_urls})
        for url in self.start_urls:
            parts = urlsplit(url)
            yield Request(
                f"{parts.scheme}://{parts.netloc}/robots.txt",
                callback=self.parse_robots,
                meta={"handle_httpstatus_all": True},
            )
            yield Request(url, callback=self.parse, dont_filter=True)

    def closed(self, reason: str) -> None:
        demo = getattr(self, "demo", None)
        if demo is not None:
            demo.stop()

    # -- discovery -----------------------------------------------------------------------------
    def parse_robots(self, response: Response) -> Iterator[Request]:
        if response.status != 200:
            return
        for line in response.text.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "sitemap" and value.strip():
                yield Request(value.strip(), callback=self.parse_sitemap)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        response.selector.remove_namespaces()
        for loc in response.xpath("//sitemap/loc/text()").getall():
            yield Request(response.urljoin(loc.strip()), callback=self.parse_sitemap)
        for loc in response.xpath("//url/loc/text()").getall():
            yield Request(response.urljoin(loc.strip()), callback=self.parse)

    def parse_feed(self, response: Response) -> Iterator[Request]:
        response.selector.remove_namespaces()
        links = response.xpath("//item/link/text()").getall()
        links += response.xpath("//entry/link[not(@rel) or @rel='alternate']/@href").getall()
        for link in links:
            yield Request(response.urljoin(link.strip()), callback=self.parse)

    def parse(self, response: Response) -> Iterator[Any]:
        """Any HTML page: an article yields an item; every page yields its on-site links."""
        if "html" not in response.headers.get("content-type", "text/html"):
            return
        metadata = json_ld(response)
        if is_article(response, metadata):
            yield extract_article(response, metadata)
        for href in response.css("link[rel=alternate]").xpath("@type").getall():
            if href in FEED_TYPES:
                for feed in response.css(f'link[rel=alternate][type="{href}"]::attr(href)'):
                    yield response.follow(feed.get(), callback=self.parse_feed)
        for href in response.css("a::attr(href)").getall():
            if href.startswith(("mailto:", "javascript:", "tel:", "#")):
                continue
            url = response.urljoin(href)
            if urlsplit(url).scheme in ("http", "https") and not SKIP_EXTENSIONS.search(url):
                if url.endswith((".rss", "rss.xml", "atom.xml", "/feed", "/feed/")):
                    yield Request(url, callback=self.parse_feed)
                else:
                    yield Request(url, callback=self.parse)


# -- extraction (runs in the parse workers) ---------------------------------------------------
def json_ld(response: Response) -> dict[str, Any]:
    """The first JSON-LD object of an article type, looking inside @graph and lists."""
    for raw in response.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        for node in _nodes(data):
            types = node.get("@type")
            types = types if isinstance(types, list) else [types]
            if ARTICLE_TYPES.intersection(t for t in types if isinstance(t, str)):
                return node
    return {}


def _nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for entry in data:
            yield from _nodes(entry)
    elif isinstance(data, dict):
        yield data
        yield from _nodes(data.get("@graph", []))


def is_article(response: Response, metadata: dict[str, Any]) -> bool:
    if metadata:
        return True
    og_type = response.css('meta[property="og:type"]::attr(content)').get("")
    return og_type.strip().lower() == "article"


def _meta(response: Response, *names: str) -> str | None:
    for name in names:
        value = response.css(
            f'meta[property="{name}"]::attr(content), meta[name="{name}"]::attr(content)'
        ).get()
        if value and value.strip():
            return value.strip()
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        return [name for entry in value for name in _names(entry)]
    return []


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def article_body(response: Response, metadata: dict[str, Any]) -> str:
    """Paragraphs of the story, blank-line separated: JSON-LD articleBody, else <article> <p>s,
    else the page's densest block of paragraphs."""
    body = metadata.get("articleBody")
    if isinstance(body, str) and body.strip():
        return "\n\n".join(_clean(p) for p in re.split(r"\n\s*\n", body) if p.strip())
    containers = response.css("article") or response.css("main") or response.css("body")
    best: list[str] = []
    for container in containers:
        paragraphs = [_clean(" ".join(p.css("::text").getall())) for p in container.css("p")]
        paragraphs = [p for p in paragraphs if p]
        if sum(map(len, paragraphs)) > sum(map(len, best)):
            best = paragraphs
    return "\n\n".join(best)


def extract_article(response: Response, metadata: dict[str, Any]) -> dict[str, Any]:
    title = (
        metadata.get("headline")
        or _meta(response, "og:title")
        or response.css("h1 ::text").get()
        or response.css("title::text").get()
        or ""
    )
    authors = _names(metadata.get("author"))
    if not authors:
        authors = [_clean(a) for a in response.css('[rel="author"] ::text').getall() if a.strip()]
    if not authors and (meta_author := _meta(response, "author", "article:author")):
        authors = [meta_author]
    published = (
        metadata.get("datePublished")
        or _meta(response, "article:published_time")
        or response.css("time::attr(datetime)").get()
    )
    modified = metadata.get("dateModified") or _meta(response, "article:modified_time")
    section = metadata.get("articleSection") or _meta(response, "article:section")
    canonical = response.css('link[rel="canonical"]::attr(href)').get()
    body = article_body(response, metadata)
    return {
        "url": response.url,
        "canonical_url": response.urljoin(canonical) if canonical else response.url,
        "title": _clean(title),
        "authors": authors,
        "published": published,
        "modified": modified,
        "section": section,
        "language": response.xpath("/html/@lang").get(),
        "body": body,
        "word_count": len(re.findall(r"\w+", body)),
    }
