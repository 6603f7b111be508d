"""The article's main text, as paragraphs, and the prose shapes that mark an article page.

Flow position: parse worker -> article -> **body** -> metadata -> text statistics, simhash.

Main content comes from trafilatura (the leader of the open extraction benchmarks), run once
with its default balance of precision and recall, without comments, with links kept so each
block's link density is known (``main_blocks``, the costly step). ``article_paragraphs`` then
drops what it keeps too often on every benchmark we measured: the headline repeated as the
first block, and blocks that are mostly a link ("Also read: ..."). Its precision mode and the
publisher's JSON-LD ``articleBody`` were tried as candidates and rejected: the first kept a
tenth of long features and round-ups, the second is often a teaser, and neither raised the
scores on pages not tuned on (benchmarks/extraction.py prints the figures and the k-fold check
of every threshold here).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from lxml import etree
from lxml.etree import _Element
from lxml.html import HtmlElement

from .text import tokens

# A block whose text is at least this share link text is navigation, not prose. Chosen by
# 5-fold cross-validation on the dev pages (0.5-0.95 score alike there) and the value that also
# scores best on trafilatura's evaluation pages.
LINK_BLOCK_SHARE = 0.7
# Prose shape: a run of sibling paragraphs at least this long, outside links, makes an article
# of a page that declares nothing. Demo and real section pages have teasers one per container.
PROSE_MIN_CHARS = 400
PROSE_MIN_PARAGRAPHS = 3
# Inline elements a paragraph's text may sit in; its block is the first ancestor of another kind.
INLINE_TAGS = frozenset({"a", "b", "i", "em", "strong", "span", "font", "u", "small", "mark", "q"})
PREFIX_CHARS = 40  # a paragraph is found in the page by its first characters
BLOCK_TAGS = {"p", "head", "item", "row", "code", "quote"}
CONTAINER_TAGS = {"list", "table", "quote"}
SPACED_TAGS = {"cell", "item", "list", "p", "head", "quote"}


class Block(NamedTuple):
    """One block of the main content: its text and how many of its characters are links."""

    text: str
    link_chars: int


def main_blocks(root: HtmlElement, url: str) -> list[Block]:
    """The blocks of the page's main content, in order (trafilatura, see above)."""
    import trafilatura  # heavy: imported in the workers, on the first page

    # Comments split text nodes ("no one <!-- -->ran"), and trafilatura keeps only the part
    # before one; its own parser drops them, so the caller's tree is copied without them.
    tree = copy.deepcopy(root)
    etree.strip_tags(tree, etree.Comment)
    document = trafilatura.bare_extraction(
        tree, url=url, include_comments=False, include_links=True, include_tables=True
    )
    if document is None or document.body is None:
        return []
    return _blocks(document.body)


def article_paragraphs(
    blocks: list[Block], headlines: list[str], link_share: float = LINK_BLOCK_SHARE
) -> list[str]:
    """The body's paragraphs: ``blocks`` without a leading repeated headline and without
    blocks that are at least ``link_share`` link text."""
    titles = [[t.casefold() for t in tokens(headline)] for headline in headlines]
    start = 0
    while start < len(blocks) and _is_headline(blocks[start].text, titles):
        start += 1
    return [b.text for b in blocks[start:] if b.link_chars < link_share * len(b.text)]


def _blocks(element: _Element) -> list[Block]:
    """(text, characters inside links) per block of trafilatura's output, in order. A line
    break inside a block starts a new paragraph: sites build paragraphs from ``<br>`` too."""
    found: list[Block] = []
    for child in element:
        if child.tag in CONTAINER_TAGS and any(c.tag in BLOCK_TAGS | {"list"} for c in child):
            found.extend(_blocks(child))
            continue
        lines = _lines(child)
        for line in lines:
            found.append(Block(line, _link_chars(child) if len(lines) == 1 else 0))
    return found


def _lines(element: _Element) -> list[str]:
    text = "".join(_pieces(element))
    return [cleaned for line in text.split("\n") if (cleaned := _clean(line))]


def _pieces(element: _Element) -> Iterator[str]:
    yield element.text or ""
    for child in element:
        if child.tag == "lb":
            yield "\n"
        else:
            # Table cells and nested blocks are words apart, not glued together.
            spacer = " " if child.tag in SPACED_TAGS else ""
            yield spacer
            yield from _pieces(child)
            yield spacer
        yield child.tail or ""


def _link_chars(element: _Element) -> int:
    return sum(len(_clean("".join(ref.itertext()))) for ref in element.iter("ref"))


def _is_headline(text: str, titles: list[list[str]]) -> bool:
    """The block repeats a headline: it is one, or the start of one (a <title> with the site
    name after it) covering at least half of it."""
    words = [t.casefold() for t in tokens(text)]
    return bool(words) and any(
        words == title[: len(words)] and 2 * len(words) >= len(title) for title in titles
    )


def _clean(text: str) -> str:
    return " ".join(text.split())


def has_prose_shape(root: HtmlElement) -> bool:
    """Whether some element holds a run of paragraphs of prose, not interleaved with linked
    headings (teasers): the content shape of an article, for pages that declare nothing."""
    chars: dict[HtmlElement, int] = defaultdict(int)
    count: dict[HtmlElement, int] = defaultdict(int)
    for paragraph in root.iter("p"):
        text = _clean(" ".join(paragraph.xpath(".//text()[not(ancestor::a)]")))
        if text:
            parent = paragraph.getparent()
            chars[parent] += len(text)
            count[parent] += 1
    for br in root.iter("br"):
        parent = br.getparent()
        text = _clean(br.tail or "")
        if text and parent is not None and parent.tag != "p":
            chars[parent] += len(text)
            count[parent] += 1
    for parent, total in chars.items():
        if total >= PROSE_MIN_CHARS and count[parent] >= PROSE_MIN_PARAGRAPHS:
            teasers = parent.xpath("./*[self::h2 or self::h3 or self::h4][.//a]")
            if 2 * len(teasers) < count[parent]:
                return True
    return False


def longest_prose_run(root: HtmlElement, paragraphs: list[str]) -> tuple[int, int]:
    """(paragraphs, characters) of the largest group of ``paragraphs`` that sit side by side in
    one element of the page: an article's text is one run of paragraphs, where a section
    front's teaser summaries each sit in their own item next to their link."""
    wanted: dict[str, int] = {}
    for paragraph in paragraphs:
        wanted.setdefault(paragraph[:PREFIX_CHARS], len(paragraph))
    found: dict[str, HtmlElement] = {}
    for text in root.xpath("//body//text()[not(ancestor::script)]"):
        prefix = _clean(text)[:PREFIX_CHARS]
        if prefix not in wanted or prefix in found:
            continue
        element = text.getparent()
        if text.is_tail:  # text after a <br> or an inline element: in that element's parent
            element = element.getparent()
        while element is not None and element.tag in INLINE_TAGS:
            element = element.getparent()
        container = element.getparent() if element is not None else None
        if container is not None:
            found[prefix] = container
    count: dict[HtmlElement, int] = defaultdict(int)
    chars: dict[HtmlElement, int] = defaultdict(int)
    for prefix, container in found.items():
        count[container] += 1
        chars[container] += wanted[prefix]
    return max(((count[c], chars[c]) for c in count), default=(0, 0), key=lambda run: run[1])
