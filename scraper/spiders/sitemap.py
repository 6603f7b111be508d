"""``SitemapSpider``: pages found through sitemaps (robots.txt ``Sitemap:`` lines, sitemap
indexes, gzip sitemaps, alternate-language links), as Scrapy's.

Flow position: callbacks in the parse workers; ``start_requests`` in the main process.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urljoin

from ..models import Request, Response
from ..spider import Spider

_MAX_SITEMAP = 50 * 1024 * 1024  # decompressed: a gzip bomb stops here


def _regex(value: str | re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(value) if isinstance(value, str) else value


def sitemap_urls_from_robots(text: str, base_url: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.lstrip().lower().startswith("sitemap:"):
            yield urljoin(base_url, line.split(":", 1)[1].strip())


class Sitemap:
    """The entries of a sitemap or sitemap index: dicts of their child elements' text
    (``loc``, ``lastmod``...), ``alternate`` holding the hreflang links."""

    def __init__(self, body: bytes) -> None:
        from lxml import etree

        parser = etree.XMLParser(recover=True, remove_comments=True, resolve_entities=False)
        self._root = etree.fromstring(body, parser=parser)
        tag = self._root.tag if self._root is not None else ""
        self.type = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._root is None:
            return
        for element in self._root.getchildren():
            entry: dict[str, Any] = {}
            for child in element.getchildren():
                name = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
                if name == "link":
                    if "href" in child.attrib:
                        entry.setdefault("alternate", []).append(child.get("href"))
                else:
                    entry[name] = (child.text or "").strip()
            if "loc" in entry:
                yield entry


def _locations(entries: Iterable[dict[str, Any]], alternates: bool) -> Iterator[str]:
    for entry in entries:
        yield entry["loc"]
        if alternates:
            yield from entry.get("alternate", ())


class SitemapSpider(Spider):
    sitemap_urls: Iterable[str] = ()
    sitemap_rules: Iterable[tuple[Any, Any]] = [("", "parse")]
    sitemap_follow: Iterable[Any] = [""]
    sitemap_alternate_links = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rules = [
            (_regex(rule), getattr(self, cb) if isinstance(cb, str) else cb)
            for rule, cb in self.sitemap_rules
        ]
        self._follow = [_regex(rule) for rule in self.sitemap_follow]

    def start_requests(self) -> Iterator[Request]:
        for url in self.sitemap_urls:
            yield Request(url, callback=self._parse_sitemap)

    def sitemap_filter(self, entries: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        """Override to drop or change sitemap entries (by ``lastmod``, say)."""
        yield from entries

    def _parse_sitemap(self, response: Response) -> Iterator[Request]:
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.text, response.url):
                yield Request(url, callback=self._parse_sitemap)
            return
        body = self._get_sitemap_body(response)
        if body is None:
            self.logger.warning("ignoring invalid sitemap: %s", response.url)
            return
        sitemap = Sitemap(body)
        entries = self.sitemap_filter(sitemap)
        if sitemap.type == "sitemapindex":
            for loc in _locations(entries, self.sitemap_alternate_links):
                if any(rule.search(loc) for rule in self._follow):
                    yield Request(loc, callback=self._parse_sitemap)
        elif sitemap.type == "urlset":
            for loc in _locations(entries, self.sitemap_alternate_links):
                for rule, callback in self._rules:
                    if rule.search(loc):
                        yield Request(loc, callback=callback)
                        break

    def _get_sitemap_body(self, response: Response) -> bytes | None:
        content_type = response.headers.get("content-type", "").lower()
        if "xml" in content_type and "html" not in content_type:
            return response.body
        if response.body[:2] == b"\x1f\x8b":
            try:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = inflater.decompress(response.body, _MAX_SITEMAP)
            except (zlib.error, gzip.BadGzipFile):
                return None
            return None if inflater.unconsumed_tail else body
        if response.url.endswith((".xml", ".xml.gz")):
            return response.body
        return None
