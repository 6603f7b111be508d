"""One page in, one article item out (or nothing): the entry point the news spider calls.

Flow position: parse worker (spider callback) -> **article** -> jsonld, metadata, body, text,
simhash -> item -> item queue.

A page is an article on evidence, never on its URL: a JSON-LD article node that describes the
page, ``og:type=article``, or, for pages that declare nothing, the prose shape of an article
(``body.has_prose_shape``). An article also needs a body: a page that says it is an article but
holds no text (a video page, a paywall stub) yields no item. Item values are plain JSON data, as
items cross from the workers to the main process.
"""

from __future__ import annotations

from typing import Any

from scraper.models import Response

from . import jsonld
from .body import article_paragraphs, has_prose_shape
from .metadata import canonical_url, extract_metadata, headlines, meta_tags
from .simhash import simhash, to_hex
from .text import keywords, summary, tokens


def extract_article(response: Response) -> dict[str, Any] | None:
    """The article item of ``response``, or None when the page is not an article.

    Fields: url, canonical_url, title, authors, published and modified (ISO 8601 or None),
    section, language (BCP 47 or None), body (paragraphs separated by blank lines), summary,
    keywords, word_count, simhash (16 hex digits) and near_duplicate_of (None here; set by
    ``near_duplicates.NearDuplicatePipeline`` in the main process).
    """
    root = response.selector.root
    tags = meta_tags(root)
    canonical = canonical_url(root, tags, response.url)
    titles = headlines(root, tags)
    node = jsonld.article_node(jsonld.nodes(root), {response.url, canonical}, titles)
    declared = bool(node) or tags.get("og:type", "").casefold() == "article"
    if not declared and not has_prose_shape(root):
        return None
    declared_body = node.get("articleBody")
    paragraphs = article_paragraphs(
        root, response.url, titles, declared_body if isinstance(declared_body, str) else None
    )
    if not paragraphs:
        return None
    metadata = extract_metadata(root, tags, node, canonical)
    body = "\n\n".join(paragraphs)
    return {
        "url": response.url,
        "canonical_url": metadata.canonical_url,
        "title": metadata.title,
        "authors": metadata.authors,
        "published": metadata.published,
        "modified": metadata.modified,
        "section": metadata.section,
        "language": metadata.language,
        "body": body,
        "summary": summary(paragraphs),
        "keywords": keywords(body, metadata.title),
        "word_count": len(tokens(body)),
        "simhash": to_hex(simhash(body)),
        "near_duplicate_of": None,
    }
