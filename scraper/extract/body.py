"""The article's main text, as paragraphs, and the prose shape that marks an article page.

Flow position: parse worker -> article -> metadata -> **body** -> text statistics, simhash.

Main content comes from trafilatura (the leader of the open extraction benchmarks), run for
precision and without comments, with links kept so each block's link density is known. Its
blocks are then cleaned of what the dev-set measurements showed it keeps too often: the
headline repeated as the first block, and blocks that are nothing but a link ("Also read: ...").
The publisher's JSON-LD ``articleBody`` arbitrates when the page carries one and its text is on
the page: when the extracted blocks say the same, they win (they keep the page's paragraphs);
when they do not, the declared body does. See benchmarks/extraction.py for the figures.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Iterator

from lxml import etree
from lxml.etree import _Element
from lxml.html import HtmlElement

from .text import containment, shingles, tokens

# A block whose text is at least this share link text is navigation, not prose.
LINK_BLOCK_SHARE = 0.9
# Two texts "say the same" when this share of each one's shingles is in the other.
AGREEMENT = 0.9
# Prose shape: a run of sibling paragraphs at least this long, outside links, makes an article
# of a page that declares nothing. Demo and real section pages have teasers one per container.
PROSE_MIN_CHARS = 400
PROSE_MIN_PARAGRAPHS = 3
BLOCK_TAGS = {"p", "head", "item", "row", "code", "quote"}
CONTAINER_TAGS = {"list", "table", "quote"}
SPACED_TAGS = {"cell", "item", "list", "p", "head", "quote"}
LINE_BREAK = re.compile(r"\s*\n\s*")  # a line of a declared articleBody is a paragraph


def article_paragraphs(
    root: HtmlElement, url: str, headlines: list[str], declared: str | None
) -> list[str]:
    """The body's paragraphs: extracted from the page, or declared in JSON-LD (see above)."""
    extracted = extracted_paragraphs(root, url, headlines)
    if not declared or not declared.strip():
        return extracted
    declared_paragraphs = [_clean(p) for p in LINE_BREAK.split(declared) if p.strip()]
    declared_shingles = shingles(declared)
    extracted_shingles = shingles(" ".join(extracted))
    if (
        containment(declared_shingles, extracted_shingles) >= AGREEMENT
        and containment(extracted_shingles, declared_shingles) >= AGREEMENT
    ):
        return extracted
    page_shingles = shingles(" ".join(root.xpath("//body//text()[not(ancestor::script)]")))
    if containment(declared_shingles, page_shingles) >= AGREEMENT:
        return declared_paragraphs
    return extracted


def extracted_paragraphs(root: HtmlElement, url: str, headlines: list[str]) -> list[str]:
    import trafilatura  # heavy: imported in the workers, on the first article

    # Comments split text nodes ("no one <!-- -->ran"), and trafilatura keeps only the part
    # before one; its own parser drops them, so the caller's tree is copied without them.
    tree = copy.deepcopy(root)
    etree.strip_tags(tree, etree.Comment)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_links=True,
        include_tables=True,
    )
    if document is None or document.body is None:
        return []
    blocks = _blocks(document.body)
    titles = [[t.casefold() for t in tokens(headline)] for headline in headlines]
    while blocks and _is_headline(blocks[0][0], titles):
        blocks.pop(0)
    return [text for text, link_chars in blocks if link_chars < LINK_BLOCK_SHARE * len(text)]


def _blocks(element: _Element) -> list[tuple[str, int]]:
    """(text, characters inside links) per block of trafilatura's output, in order. A line
    break inside a block starts a new paragraph: sites build paragraphs from ``<br>`` too."""
    found: list[tuple[str, int]] = []
    for child in element:
        if child.tag in CONTAINER_TAGS and any(c.tag in BLOCK_TAGS | {"list"} for c in child):
            found.extend(_blocks(child))
            continue
        lines = _lines(child)
        for line in lines:
            found.append((line, _link_chars(child) if len(lines) == 1 else 0))
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
