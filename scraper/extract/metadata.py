"""Article metadata: title, authors, dates, section, language and canonical URL.

Flow position: parse worker -> article -> **metadata** (after jsonld) -> item fields.

Each field takes the strongest evidence the page offers, in this order: the JSON-LD article node
that describes this page (``jsonld.article_node`` checks that), then OpenGraph and other meta
tags, then what a reader sees (``<h1>``, ``<time>``, bylines), and for dates htmldate's search of
the whole page as a last resort. Dates come out as ISO 8601; a value that cannot be read as a
date is dropped rather than passed on as free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from lxml.etree import XPath
from lxml.html import HtmlElement

from . import jsonld

PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "pubdate",
    "publishdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.created",
    "date",
)
MODIFIED_META = ("article:modified_time", "og:updated_time", "dateModified", "dcterms.modified")
AUTHOR_META = ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator")
# Bylines, best first: rel="author", the names in itemprop="author", itemprop="author", class
# "byline". One search of the tree finds them all (``_byline_elements``), not one per kind, and
# tells the class apart from its look-alikes ("bylines") outside XPath, where it costs less.
_BYLINE_CANDIDATES = XPath('//*[@rel="author" or @itemprop="author" or contains(@class, "byline")]')
_XML_SPACE = re.compile(r"[ \t\r\n]+")  # what XPath's normalize-space() collapses
_DATE_PUBLISHED = XPath('//*[@itemprop="datePublished"]/@datetime')
_TIME_DATETIME = XPath("//time/@datetime")
# "By Jane Doe", "Von Jana Muster", "Par Jean Dupont": the byline word is not part of the name.
BYLINE_WORD = re.compile(r"^\s*(?:by|von|par|por|di|door|av|af)\s+", re.IGNORECASE)
NAME_SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|\bund\b|\bet\b|\by\b|&)\s*")
MAX_NAME_WORDS = 6  # a longer "name" is a sentence that happens to sit in a byline element
# Lower-case words that belong in names ("Ludwig van Beethoven", "Ana de la Cruz").
NAME_PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "der", "den", "di", "du", "la", "le", "bin", "ibn", "al"}
)
# The web has no news from before it; a page dated 0001-01-01 means "no date".
EARLIEST_YEAR = 1990


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str
    authors: list[str]
    published: str | None
    modified: str | None
    section: str | None
    language: str | None
    canonical_url: str


def extract_metadata(
    root: HtmlElement, tags: dict[str, str], node: dict[str, Any], canonical: str
) -> Metadata:
    """The page's metadata; ``node`` is the JSON-LD article node describing it (or ``{}``),
    ``tags`` its ``meta_tags`` and ``canonical`` its ``canonical_url``."""
    return Metadata(
        title=_title(root, tags, node),
        authors=_authors(root, tags, node),
        published=_published(root, tags, node),
        modified=iso_date(jsonld.first_text(node.get("dateModified")))
        or iso_date(_first(tags, MODIFIED_META)),
        section=jsonld.first_text(node.get("articleSection")) or tags.get("article:section"),
        language=_language(root, tags, node),
        canonical_url=canonical,
    )


def meta_tags(root: HtmlElement) -> dict[str, str]:
    """``<meta>`` contents by lower-cased property, name, itemprop or http-equiv; first wins."""
    tags: dict[str, str] = {}
    for element in root.iter("meta"):
        content = " ".join((element.get("content") or "").split())
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = element.get(attribute)
            if key and content:
                tags.setdefault(key.strip().lower(), content)
    return tags


def _first(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((tags[name.lower()] for name in names if name.lower() in tags), None)


def headlines(root: HtmlElement, tags: dict[str, str]) -> list[str]:
    """What the page calls itself: OpenGraph and Twitter titles, ``<h1>``s and ``<title>``."""
    found = [
        tags.get("og:title"),
        tags.get("twitter:title"),
        *(_text(h1) for h1 in root.iter("h1")),
        *(_text(title) for title in root.iter("title")),
    ]
    return [headline for headline in found if headline]


def canonical_url(root: HtmlElement, tags: dict[str, str], url: str) -> str:
    """The page's declared canonical URL; ``url`` itself when it declares none, or one that
    differs only in scheme, fragment or trailing slash (so "canonical is elsewhere" means it)."""
    # Walking the <link> elements alone is faster than an XPath search of every element.
    hrefs = [link.get("href") or "" for link in root.iter("link") if link.get("rel") == "canonical"]
    href = next((h.strip() for h in hrefs if h.strip()), None) or tags.get("og:url")
    canonical = urljoin(url, href) if href else url
    return url if jsonld.url_key(canonical) == jsonld.url_key(url) else canonical


def _text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _title(root: HtmlElement, tags: dict[str, str], node: dict[str, Any]) -> str:
    headline = jsonld.first_text(node.get("headline")) or jsonld.first_text(node.get("name"))
    if headline:
        return " ".join(headline.split())
    found = headlines(root, tags)
    return found[0] if found else ""


def _authors(root: HtmlElement, tags: dict[str, str], node: dict[str, Any]) -> list[str]:
    """JSON-LD names as declared (a declared "By A and B, Agency" is a byline, read as one);
    else names from meta tags or bylines, which also hold dates, roles and sentences, so only
    what looks like a name is kept."""
    declared = [" ".join(name.split()) for name in jsonld.names(node.get("author"))]
    if declared:
        names = (_byline_names([name]) if BYLINE_WORD.match(name) else [name] for name in declared)
        return list(dict.fromkeys(name for found in names for name in found))
    value = _first(tags, AUTHOR_META)
    # article:author is often a profile URL, which names nobody.
    texts = [value] if value and not value.startswith(("http://", "https://", "/")) else []
    if not texts:
        found = next((kind for kind in _byline_elements(root) if kind), [])
        texts = [_text(element) for element in found]
    return list(dict.fromkeys(_byline_names(texts)))


def _byline_elements(root: HtmlElement) -> Iterator[list[HtmlElement]]:
    """The byline elements of each kind, best kind first, each in document order."""
    found = _BYLINE_CANDIDATES(root)
    yield [element for element in found if element.get("rel") == "author"]
    authors = [element for element in found if element.get("itemprop") == "author"]
    names = (n for a in authors for n in a.iterdescendants() if n.get("itemprop") == "name")
    yield list(dict.fromkeys(names))  # a name inside nested authors once
    yield authors
    yield [
        element
        for element in found
        if " byline " in f" {_XML_SPACE.sub(' ', element.get('class') or '').strip()} "
    ]


def _byline_names(texts: list[str]) -> list[str]:
    """The names in byline texts: the byline word dropped, split at separators, and only
    what looks like a name."""
    names = (
        " ".join(name.split())
        for text in texts
        for name in NAME_SEPARATORS.split(BYLINE_WORD.sub("", text))
    )
    return [name for name in names if _is_name(name)]


def _is_name(text: str) -> bool:
    """Capitalised words (or words of a script without case), no digits: what a byline's
    names look like, unlike the dates and sentences that share byline elements."""
    words = text.split()
    return (
        0 < len(words) <= MAX_NAME_WORDS
        and not any(ch.isdigit() for ch in text)
        and all(
            w[0].isupper() or w[0].lower() == w[0].upper() or w in NAME_PARTICLES for w in words
        )
    )


def _published(root: HtmlElement, tags: dict[str, str], node: dict[str, Any]) -> str | None:
    for value in _published_values(root, tags, node):
        if (found := iso_date(value)) is not None:
            return found
    from htmldate import find_date  # last resort: slow, so imported only when needed

    # htmldate prunes a copy of the tree it is given: the caller's stays whole.
    return iso_date(find_date(root, extensive_search=False, original_date=True))


def _published_values(
    root: HtmlElement, tags: dict[str, str], node: dict[str, Any]
) -> Iterator[str | None]:
    """Where a publication date may be, best first. Lazily: each search of the markup walks
    the whole tree (0.2-0.4 ms), and most pages declare a date before."""
    yield jsonld.first_text(node.get("datePublished"))
    yield _first(tags, PUBLISHED_META)
    yield from _DATE_PUBLISHED(root)
    yield from _TIME_DATETIME(root)[:1]


def _language(root: HtmlElement, tags: dict[str, str], node: dict[str, Any]) -> str | None:
    value = (
        root.get("lang")
        or root.get("xml:lang")
        or tags.get("content-language")
        or tags.get("og:locale")
        or jsonld.first_text(node.get("inLanguage"))
    )
    if not value or not value.strip():
        return None
    # BCP 47 spelling: "en_US" and "EN-us" are both "en-US".
    primary, *rest = value.strip().replace("_", "-").split("-")
    return "-".join([primary.lower(), *(part.upper() if len(part) == 2 else part for part in rest)])


def iso_date(value: str | None) -> str | None:
    """``value`` as ISO 8601 (a date, or a date and time with its offset when given)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    moment: date | None = None
    try:
        moment = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        try:  # RFC 2822, as in RSS and HTTP headers
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment.isoformat() if moment.year >= EARLIEST_YEAR else None
