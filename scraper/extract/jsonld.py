"""JSON-LD: the schema.org metadata a page declares, and the article node that describes it.

Flow position: parse worker -> article -> **jsonld** -> metadata, body.

Pages carry JSON-LD for many things (the site, breadcrumbs, related stories, a previous article
left by infinite scroll), so an article node is used only when it describes *this* page: its
url, ``@id`` or ``mainEntityOfPage`` is the page's URL or canonical URL, or its headline is the
page's visible headline. A node that says nothing either way is trusted when it is the only one.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from lxml.html import HtmlElement

ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "LiveBlogPosting",
        "BlogPosting",
        "SatiricalArticle",
        "Report",
    }
)


def nodes(root: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD scripts, ``@graph`` members and lists flattened."""
    found: list[dict[str, Any]] = []
    for script in root.iterfind('.//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue  # broken JSON-LD is common; the rest of the page still counts
        found.extend(_flatten(data))
    return found


def _flatten(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for entry in data:
            yield from _flatten(entry)
    elif isinstance(data, dict):
        yield data
        yield from _flatten(data.get("@graph", []))


def types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    return {v.rsplit("/", 1)[-1] for v in values if isinstance(v, str)}


# Share of words two headlines must have in common to be the same headline: an SEO headline
# and the visible one often differ by a word or a site name, another story's differs entirely.
HEADLINE_OVERLAP = 0.6


def article_node(
    candidates: list[dict[str, Any]], page_urls: Iterable[str], headlines: list[str]
) -> dict[str, Any]:
    """The article node describing this page (see the module docstring), or ``{}``."""
    urls = {url_key(url) for url in page_urls}
    articles = [node for node in candidates if types(node) & ARTICLE_TYPES]
    for node in articles:
        if _node_urls(node) & urls or _same_headline(node.get("headline"), headlines):
            return node
    if len(articles) == 1 and not _node_urls(articles[0]) and not articles[0].get("headline"):
        return articles[0]
    return {}


def _node_urls(node: dict[str, Any]) -> set[str]:
    found = set()
    for key in ("url", "@id", "mainEntityOfPage"):
        value = node.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        if isinstance(value, str) and value.strip():
            found.add(url_key(value))
    return found


def url_key(url: str) -> str:
    """What identifies a page in a URL: http or https, a fragment or a trailing slash do not
    make another page."""
    parts = urlsplit(url.strip())
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}?{parts.query}"


def _same_headline(value: Any, headlines: list[str]) -> bool:
    if not isinstance(value, str):
        return False
    words = set(re.findall(r"\w+", value.casefold()))
    for headline in headlines:
        other = set(re.findall(r"\w+", headline.casefold()))
        shared = len(words & other)
        if shared and shared >= HEADLINE_OVERLAP * max(len(words), len(other)):
            return True
    return False


def names(value: Any) -> list[str]:
    """Person or organisation names from a string, a node, or a list of either."""
    if isinstance(value, str):
        return [text] if (text := _unescape(value)) else []
    if isinstance(value, dict):
        return names(value.get("name"))
    if isinstance(value, list):
        return [name for entry in value for name in names(entry)]
    return []


def first_text(value: Any) -> str | None:
    """A schema.org text property that may be a string or a list of strings."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return (_unescape(value) or None) if isinstance(value, str) else None


def _unescape(text: str) -> str:
    # JSON needs no HTML escapes, but CMSs often put their HTML-escaped titles in JSON-LD.
    return html.unescape(text).strip()
