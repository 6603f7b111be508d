"""``LinkExtractor``: the links of a page that match a rule, as Scrapy's (same arguments, same
filters, same order and de-duplication), for ``CrawlSpider`` rules and callbacks.

Flow position: inside callbacks (parse workers). Links come from the chosen tags and
attributes (``<a href>`` and ``<area href>`` by default) of the whole page or of the parts
``restrict_xpaths``/``restrict_css`` select, resolved against ``<base href>``, then filtered:
http(s)/file/ftp only, ``allow``/``deny`` regexes on the URL, ``allow_domains``/
``deny_domains``, file extensions that are not pages (``deny_extensions``, by default
``IGNORED_EXTENSIONS``), ``restrict_text`` on the link text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

# File extensions of links that are not web pages (Scrapy's list).
IGNORED_EXTENSIONS = [
    "7z", "7zip", "bz2", "rar", "tar", "tar.gz", "xz", "zip", "mng", "pct", "bmp", "gif",
    "jpg", "jpeg", "png", "pst", "psp", "tif", "tiff", "ai", "drw", "dxf", "eps", "ps", "svg",
    "cdr", "ico", "webp", "mp3", "wma", "ogg", "wav", "ra", "aac", "mid", "au", "aiff", "3gp",
    "asf", "asx", "avi", "mov", "mp4", "mpg", "qt", "rm", "swf", "wmv", "m4a", "m4v", "flv",
    "webm", "xls", "xlsm", "xlsx", "xltm", "xltx", "potm", "potx", "ppt", "pptm", "pptx",
    "pps", "doc", "docb", "docm", "docx", "dotm", "dotx", "odt", "ods", "odg", "odp", "css",
    "pdf", "exe", "bin", "rss", "dmg", "iso", "apk", "jar", "sh", "rb", "js", "hta", "bat",
    "cpl", "msi", "msp", "py",
]  # fmt: skip

_SCHEMES = {"http", "https", "file", "ftp"}
_HTML_SPACE = " \t\n\r\x0c"


@dataclass(slots=True)
class Link:
    """One extracted link: what ``Rule.process_links`` receives."""

    url: str
    text: str = ""
    fragment: str = ""
    nofollow: bool = False

    def __hash__(self) -> int:
        return hash((self.url, self.text, self.fragment, self.nofollow))


def _patterns(value: Any) -> list[re.Pattern[str]]:
    items = [value] if isinstance(value, str | re.Pattern) else list(value or ())
    return [re.compile(p) if isinstance(p, str) else p for p in items]


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or ())


def _from_domains(host: str, domains: list[str]) -> bool:
    host = host.lower()
    return bool(host) and any(host == d or host.endswith(f".{d}") for d in domains)


class LinkExtractor:
    def __init__(
        self,
        allow: Any = (),
        deny: Any = (),
        allow_domains: Any = (),
        deny_domains: Any = (),
        restrict_xpaths: Any = (),
        tags: Any = ("a", "area"),
        attrs: Any = ("href",),
        canonicalize: bool = False,
        unique: bool = True,
        process_value: Callable[[str], str | None] | None = None,
        deny_extensions: Any = None,
        restrict_css: Any = (),
        strip: bool = True,
        restrict_text: Any = None,
    ) -> None:
        self.allow = _patterns(allow)
        self.deny = _patterns(deny)
        self.allow_domains = [d.lower() for d in _strings(allow_domains)]
        self.deny_domains = [d.lower() for d in _strings(deny_domains)]
        self.restrict_xpaths = _strings(restrict_xpaths)
        if restrict_css:
            from cssselect import HTMLTranslator

            translate = HTMLTranslator().css_to_xpath
            self.restrict_xpaths += [translate(css) for css in _strings(restrict_css)]
        self.tags = set(_strings(tags))
        self.attrs = set(_strings(attrs))
        self.canonicalize = canonicalize
        self.unique = unique
        self.process_value = process_value or (lambda value: value)
        extensions = IGNORED_EXTENSIONS if deny_extensions is None else deny_extensions
        self.deny_extensions = {f".{e.lower()}" for e in _strings(extensions)}
        self.strip = strip
        self.restrict_text = _patterns(restrict_text)

    def extract_links(self, response: Any) -> list[Link]:
        base = _base_url(response)
        documents = (
            [node for xpath in self.restrict_xpaths for node in response.xpath(xpath)]
            if self.restrict_xpaths
            else [response.selector]
        )
        links: list[Link] = []
        for document in documents:
            found = [link for link in self._links(document.root, base, response.url)]
            found = self._dedup([link for link in found if self._allowed(link)])
            if self.canonicalize:
                from w3lib.url import canonicalize_url

                for link in found:
                    link.url = canonicalize_url(link.url)
            links += found
        return self._dedup(links)

    def _links(self, root: Any, base: str, page_url: str) -> Iterable[Link]:
        from lxml import etree
        from w3lib.url import safe_url_string

        for element in root.iter(etree.Element):
            tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
            if tag not in self.tags:
                continue
            for name, value in element.attrib.items():
                if name not in self.attrs:
                    continue
                if self.strip:
                    value = value.strip(_HTML_SPACE)
                try:
                    url = self.process_value(urljoin(base, value))
                    if url is None:
                        continue
                    url = urljoin(page_url, safe_url_string(url))
                except ValueError:
                    continue  # not a URL
                rel = (element.get("rel") or "").lower().split()
                text = element.xpath("string()")
                yield Link(url, text or "", nofollow="nofollow" in rel)

    def _dedup(self, links: list[Link]) -> list[Link]:
        if not self.unique:
            return links
        from w3lib.url import canonicalize_url

        seen: set[str] = set()
        kept = []
        for link in links:
            key = link.url if self.canonicalize else canonicalize_url(link.url, keep_fragments=True)
            if key not in seen:
                seen.add(key)
                kept.append(link)
        return kept

    def _allowed(self, link: Link) -> bool:
        if link.url.split("://", 1)[0] not in _SCHEMES:
            return False
        if self.allow and not any(p.search(link.url) for p in self.allow):
            return False
        if any(p.search(link.url) for p in self.deny):
            return False
        parts = urlsplit(link.url)
        host = parts.netloc  # with its port, if any, as Scrapy compares
        if self.allow_domains and not _from_domains(host, self.allow_domains):
            return False
        if self.deny_domains and _from_domains(host, self.deny_domains):
            return False
        path = parts.path.lower()
        if any(path.endswith(extension) for extension in self.deny_extensions):
            return False
        return not self.restrict_text or any(p.search(link.text) for p in self.restrict_text)


def _base_url(response: Any) -> str:
    """The page's ``<base href>`` (near its top) resolved against its URL, else its URL."""
    from w3lib.html import get_base_url

    return get_base_url(response.text[:4096], response.url, response.encoding)


__all__ = ["IGNORED_EXTENSIONS", "Link", "LinkExtractor"]
