"""One page in, one article item out (or nothing): the entry point the news spider calls.

Flow position: parse worker (spider callback) -> **article** -> jsonld, body, metadata, text,
simhash -> item -> item queue.

A page is an article on evidence, never on its URL: a JSON-LD article node that describes the
page or ``og:type=article``; or, for pages that declare nothing, the shape of an article: a run
of prose paragraphs in the page (``body.has_prose_shape``), or a main text of prose under a
headline with a date or a byline (``is_article``). An article also needs a body: a page that
says it is an article but holds no text (a video page, a paywall stub) yields no item. Item
values are plain JSON data, as items cross from the workers to the main process.
"""

from __future__ import annotations

from typing import Any

from lxml.html import HtmlElement

from scraper.models import Response

from . import jsonld
from .body import article_paragraphs, has_prose_shape, main_blocks, prose_block, with_lead
from .metadata import Metadata, canonical_url, extract_metadata, headlines, meta_tags
from .simhash import simhash, to_hex
from .text import folded_tokens, keywords, summary

# A block of prose of at least this many characters under a headline, with a date or a byline,
# is an article's text. Shorter texts are section fronts' introductions, video and gallery
# captions, search result notes. The k-fold check cannot choose it (every dev page is an
# article); it is the prose-shape minimum above, and benchmarks/extraction.py prints what other
# values would lose on trafilatura's pages.
ARTICLE_MIN_CHARS = 400


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
    paragraphs = with_lead(root, tags, article_paragraphs(main_blocks(response.text), titles))
    if not paragraphs:
        return None
    metadata = extract_metadata(root, tags, node, canonical)
    declared = bool(node) or tags.get("og:type", "").casefold() == "article"
    if not declared and not is_article(root, metadata, paragraphs):
        return None
    body = "\n\n".join(paragraphs)
    words = folded_tokens(body)  # once, for the keywords, the word count and the simhash
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
        "keywords": keywords(body, metadata.title, words=words),
        "word_count": len(words),
        "simhash": to_hex(simhash(body, words)),
        "near_duplicate_of": None,
    }


def is_article(
    root: HtmlElement, metadata: Metadata, paragraphs: list[str], min_chars: int = ARTICLE_MIN_CHARS
) -> bool:
    """Whether a page that declares nothing has an article's shape (see the module docstring)."""
    if has_prose_shape(root):
        return True
    if not metadata.title or not (metadata.published or metadata.authors):
        return False
    return prose_block(root, paragraphs)[1] >= min_chars
