"""The article's main text, as paragraphs, and the prose shapes that mark an article page.

Flow position: parse worker -> article -> **body** -> metadata -> text statistics, simhash.

Main content comes from trafilatura (the leader of the open extraction benchmarks), run once
with its default balance of precision and recall, without comments, with links kept so each
block's link density is known (``main_blocks``, the costly step). ``article_paragraphs`` then
drops what it keeps too often on every set we measured: the headline repeated as the first
block, blocks that are mostly link text ("Also read: ..."), and the labels around them
(``_is_boilerplate``: the title of a link list, copyright credit lines; body F1 0.9410 -> 0.9422
on the tuning half of trafilatura's pages, 0.9314 -> 0.9344 held out, dev 0.9828 -> 0.9826,
see benchmarks/README.md for what was measured and not kept). Link text that is not navigation
is kept (``_is_link_text``): a paragraph-long block of link text (trafilatura files the text
after an image-only link inside that link, and some sites link a whole paragraph) and an address
shown as its own link text; and a label line ending the body ("Source: ...", "Photo credits:
...", ``_is_label_line``) is dropped. Together: body F1 0.9422 -> 0.9446 on the tuning half
(4 snippets of text gained, 1 lost; 4 of boilerplate fewer), 0.9344 -> 0.9364 held out (2
gained, 4 fewer), 0.9383 -> 0.9406 on all of trafilatura's pages (precision 0.9272 -> 0.9299,
recall 0.9498 -> 0.9516), dev 0.9826 -> 0.9832. ``with_lead`` puts back the lead
paragraph trafilatura prunes (set apart as a teaser or an introduction) where the page's own
description shows which block it is: the largest class of text missed on the tuning half of
trafilatura's pages (a quarter of the snippets missed there), it takes the body's F1 from 0.937
to 0.941 on that half and from 0.922 to 0.931 on the held-out half, 0.981 to 0.983 on the dev
pages. Keeping only the blocks that two of the default, recall and precision modes agree on
scores lower (0.934 / 0.919 on the two halves, against 0.937 / 0.922) for three times the CPU.
Candidates measured with the same cleaning (dev shingle F1 / trafilatura-eval snippet F1; the
default mode scores 0.981 / 0.927 there): the precision mode 0.985 / 0.920 (recall 0.912 on the
second set against 0.935: it cuts long texts short), the recall mode 0.975 / 0.921, and the JSON-LD
``articleBody`` preferred where the page shows it (often a teaser) 0.981 / 0.925; with the
link share below, the fast mode (no fallback extractors, 30% less CPU) 0.981 / 0.922 against
0.981 / 0.929. Running two modes and choosing by agreement would double the CPU, and cannot
reach 0.94 there: choosing per page, with hindsight, the best of the default, precision and
recall modes gains 0.009 F1 (to about 0.939). Rules measured on the tuning half of
trafilatura's pages (``extraction_quality.halves``) and dropped as a wash (as much recall lost
as precision won, on both halves): trailing headings or lines ending in a colon, trailing or
leading short blocks, the recall mode where the default output is short, the text without
links (trafilatura loses text after a link in a few ``<br>`` paragraphs, but no more often
than it gains elsewhere), comments appended.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, NamedTuple

from lxml.etree import XPath, _Element
from lxml.html import HtmlElement

from ..warm import warm_up
from .text import tokens

# A block whose text is at least this share link text is navigation, not prose ("Also read:
# <headline>"). The dev pages score 0.6-0.9 alike (the 5-fold check picks 0.5-0.7); 0.7 breaks
# the tie on trafilatura's pages, where 0.5-0.8 are within 0.001 F1 of each other and keeping
# every block costs 0.004.
LINK_BLOCK_SHARE = 0.7
# ... unless it is prose set in a link: a block of link text at least this long (a paragraph
# inside an ``<a>``, or text trafilatura files inside an image-only link before it: +2 snippets of
# text on the tuning half of trafilatura's pages, +1 held out, no boilerplate kept; 200-400 tie
# on the tuning half, 500 and more gain less; the longest of the tie, as 300 also gives a body to
# a 317-character linked teaser that the article decision then refuses, a loss above 2%), or a
# web or mail address shown as its own link text (+2 / +1 snippets of text, no boilerplate).
LINKED_PROSE_CHARS = 400
ADDRESS = re.compile(r"\S*(?:://|@|www\.)\S*")
# Prose shape: a run of sibling paragraphs at least this long, outside links, makes an article
# of a page that declares nothing. Demo and real section pages have teasers one per container.
PROSE_MIN_CHARS = 400
PROSE_MIN_PARAGRAPHS = 3
# Inline elements a paragraph's text may sit in; its block is the first ancestor of another kind.
INLINE_TAGS = frozenset({"a", "b", "i", "em", "strong", "span", "font", "u", "small", "mark", "q"})
# Shorter paragraphs are labels, headings and navigation ("Business", "Advertisement"), which
# count neither for nor against an article.
PROSE_PARAGRAPH_CHARS = 50
# Boilerplate labels (``_is_boilerplate``), chosen on the tuning half of trafilatura's pages
# and checked on the held-out half and the dev pages' k-fold: the title of a link list is at
# most this long (30-50 tie on the tuning half; longer ones drop real subheadings) ...
LINK_LIST_TITLE_CHARS = 30
# ... and a credit line (the copyright sign) at most this long (100-400 tie on the tuning half;
# 400 removes most on the held-out half).
CREDIT_CHARS = 400
# ... and the body's last block when it is a label line ("Source: ...", "Photo credits: ...",
# "Phone: ..."): at most this long, opening with a label (up to LABEL_WORD_CHARS letters,
# digits or spaces and a colon) and not ending as a sentence does (100-150 tie on the tuning
# half: 4 snippets of boilerplate fewer, 1 of text lost; 50-80 drop less). Only the last block:
# anywhere in the body, or in the last 2-5 blocks, such lines are as often text (a recipe's or
# a product's "Name: value" lines) as boilerplate.
LABEL_LINE_CHARS = 100
LABEL_WORD_CHARS = 25
LABEL = re.compile(rf"[\w ]{{1,{LABEL_WORD_CHARS}}}: ")
PREFIX_CHARS = 40  # a paragraph is found in the page by its first characters
TEASER_LINK_CHARS = 20  # a link this long outside the paragraphs is a headline: a teaser's
# The lead paragraph (see ``with_lead``): the page's description, shown as a paragraph of at
# least this many characters, in a block at most DESCRIPTION_SLACK times (plus
# DESCRIPTION_MARGIN characters) as long as the description. Chosen on the tuning half of
# trafilatura's pages (100-150 tie there; the dev pages, whose truth leaves out one-line
# subtitles, break the tie), where the lead is the largest class of text missed.
LEAD_MIN_CHARS = 150
DESCRIPTION_SLACK = 1.2
DESCRIPTION_MARGIN = 40
DESCRIPTION_TAGS = ("og:description", "description", "twitter:description")
DESCRIPTION_KEY_CHARS = 30  # a description is found in the page by its first characters
# Compiled once: ``element.xpath(text)`` compiles its expression on every call, which cost more
# than the search on a paragraph.
_SHOWN_TEXT = XPath("//body//text()[not(ancestor::script) and not(ancestor::style)]")
_SHOWN_TEXT_WITH = XPath(
    "//body//text()[contains(normalize-space(.), $key)]"
    "[not(ancestor::script) and not(ancestor::style)]"
)
_TEXT_OUTSIDE_LINKS = XPath(".//text()[not(ancestor::a)]")
_LINKED_HEADINGS = XPath("./*[self::h2 or self::h3 or self::h4][.//a]")
BLOCK_TAGS = {"p", "head", "item", "row", "code", "quote"}
CONTAINER_TAGS = {"list", "table", "quote"}
SPACED_TAGS = {"cell", "item", "list", "p", "head", "quote"}


class Block(NamedTuple):
    """One block of the main content: its text and how many of its characters are links."""

    text: str
    link_chars: int


@warm_up
def _trafilatura() -> None:
    """In the fork server: trafilatura and what it imports (htmldate, courlan, babel, dateutil,
    charset-normalizer, urllib3: 8 MB), and the stop words of every jusText language that it
    builds on its first page whose language it does not know (33 MB), one copy for every worker
    instead of one each."""
    import trafilatura  # noqa: F401
    from justext.core import define_stoplist
    from trafilatura.external import JT_STOPLIST, jt_stoplist_init

    define_stoplist(JT_STOPLIST or jt_stoplist_init())  # the lower-cased set jusText looks in


def main_blocks(html: str) -> list[Block]:
    """The blocks of the main content of the page ``html``, in order (trafilatura, see above)."""
    import trafilatura  # heavy: the fork server imports it (_first_extraction), not the crawl

    # trafilatura parses the text itself, as fast as it walks a copy of the caller's tree, and
    # its parser drops comments, which split text nodes ("no one <!-- -->ran"). No URL: it
    # would only resolve the links' targets, and only their text is counted here (a tenth of
    # the CPU on link-heavy pages). The XML format returns the tree without also rendering it
    # as text, which nothing here reads.
    document = trafilatura.bare_extraction(
        html,
        include_comments=False,
        include_links=True,
        include_tables=True,
        output_format="xml",
    )
    if document is None or document.body is None:
        return []
    return _blocks(document.body)


def article_paragraphs(
    blocks: list[Block], headlines: list[str], link_share: float = LINK_BLOCK_SHARE
) -> list[str]:
    """The body's paragraphs: ``blocks`` without a leading repeated headline, without blocks
    that are link text (``_is_link_text``), without the labels of what is not the article
    (``_is_boilerplate``), and without a label line last (``_is_label_line``)."""
    titles = [[t.casefold() for t in tokens(headline)] for headline in headlines]
    start = 0
    while start < len(blocks) and _is_headline(blocks[start].text, titles):
        start += 1
    kept = [
        index
        for index in range(start, len(blocks))
        if not _is_link_text(blocks[index], link_share)
        and not _is_boilerplate(blocks, index, link_share)
    ]
    if kept and _is_label_line(blocks[kept[-1]].text):
        kept.pop()
    return [blocks[index].text for index in kept]


def _is_link_text(block: Block, share: float) -> bool:
    """Whether ``block`` is navigation: at least ``share`` link text, and neither prose set in
    a link (LINKED_PROSE_CHARS) nor an address shown as its own link text."""
    return (
        block.link_chars >= share * len(block.text)
        and len(block.text) < LINKED_PROSE_CHARS
        and ADDRESS.fullmatch(block.text) is None
    )


def _is_boilerplate(blocks: list[Block], index: int, share: float) -> bool:
    """Whether ``blocks[index]`` (not itself link text) labels something that is not the
    article:

    - the title of a list of links ("Related", "More on this"): a short block without links
      right before a block dropped as link text;
    - a credit or copyright line: a short block with the copyright sign.
    """
    block = blocks[index]
    if len(block.text) <= LINK_LIST_TITLE_CHARS and not block.link_chars:
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is not None and _is_link_text(following, share):
            return True
    return len(block.text) <= CREDIT_CHARS and "\u00a9" in block.text


def _is_label_line(text: str) -> bool:
    """Whether ``text``, the body's last block, is a label line (a source, a credit, a contact,
    a category: "Label: value"), not the end of the article: short, opening with a label and a
    colon, not ending with a full stop."""
    return (
        len(text) <= LABEL_LINE_CHARS and LABEL.match(text) is not None and not text.endswith(".")
    )


def with_lead(root: HtmlElement, tags: dict[str, str], paragraphs: list[str]) -> list[str]:
    """``paragraphs`` with the article's lead paragraph first, where trafilatura left it out.

    Sites set the lead (standfirst) apart from the body's container, often in a block marked
    as a teaser or an introduction, which trafilatura's pruning drops; it was the largest class
    of text missed on the tuning half of trafilatura's pages. The page's own description
    (``<meta>`` ``og:description``, ``description``) says which block it is: a block of the page
    showing the description, no longer than it (plus a little slack: descriptions are cut
    short), and long enough to be a paragraph rather than a one-line subtitle.
    """
    if not paragraphs:
        return paragraphs
    found = dict.fromkeys(tags.get(t) for t in DESCRIPTION_TAGS)
    descriptions = [d.rstrip(" .\u2026") for d in found if d and len(d) >= PROSE_PARAGRAPH_CHARS]
    keys = [d[:DESCRIPTION_KEY_CHARS] for d in descriptions]
    body = "".join("".join(paragraphs).split())
    if any("".join(key.split()) in body for key in keys):
        return paragraphs  # the lead is in the body already
    for description, key in zip(descriptions, keys, strict=True):
        shown = _SHOWN_TEXT_WITH(root, key=key)
        for text in shown:
            lead = _clean(_block_of(text).text_content())
            longest = DESCRIPTION_SLACK * len(description) + DESCRIPTION_MARGIN
            if LEAD_MIN_CHARS <= len(lead) <= longest:
                return [lead, *paragraphs]
    return paragraphs


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
    return [cleaned for line in text.split("\n") if (cleaned := _printable(_clean(line)))]


def _printable(line: str) -> str:
    """``line`` (spaces collapsed) in composed Unicode (NFC) without invisible format
    characters (soft hyphens, zero-width spaces and joiners): the page shows neither, and a
    search for its words, like trafilatura's own output, expects neither."""
    if not line.isprintable():  # rare once whitespace is collapsed: the cheap test first
        line = "".join(c for c in line if c.isprintable()).strip()
    return unicodedata.normalize("NFC", line)


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
        text = _clean(" ".join(_TEXT_OUTSIDE_LINKS(paragraph)))
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
            teasers = _LINKED_HEADINGS(parent)
            if 2 * len(teasers) < count[parent]:
                return True
    return False


def prose_block(root: HtmlElement, paragraphs: list[str]) -> tuple[int, int]:
    """(paragraphs, characters) of the largest element of the page that holds extracted
    ``paragraphs`` and is not a list of teasers (at least twice as many paragraphs as linked
    lines of headline length outside them): an article's text is one such block, where a
    section front's summaries each sit beside the link to their story."""
    blocks = _located(root, paragraphs)
    teasers = _teaser_links(root, blocks)
    held: dict[HtmlElement, int] = defaultdict(int)
    for block in blocks:
        for ancestor in block.iterancestors():
            held[ancestor] += 1
    count: dict[HtmlElement, int] = defaultdict(int)
    chars: dict[HtmlElement, int] = defaultdict(int)
    for block, (lines, length) in blocks.items():
        ancestors = [block, *block.iterancestors()]
        linked = next((a for a in ancestors if teasers.get(a)), None)
        if linked is not None and held[linked] <= 1 and lines == 1 and length < PROSE_MIN_CHARS:
            continue  # a teaser: one short paragraph beside the link to its story
        for ancestor in ancestors:
            count[ancestor] += lines
            chars[ancestor] += length
    return max(
        ((count[e], chars[e]) for e in chars if count[e] >= 2 * teasers.get(e, 0)),
        default=(0, 0),
        key=lambda run: run[1],
    )


def _located(root: HtmlElement, paragraphs: list[str]) -> dict[HtmlElement, tuple[int, int]]:
    """The page elements holding the prose ``paragraphs``: (lines, characters) per element.
    A paragraph is found by its first characters, whitespace ignored (the extractor spaces
    inline markup its own way), searching on from the previous paragraph's place."""
    starts: list[int] = []
    owners: list[HtmlElement] = []
    pieces: list[str] = []
    offset = 0
    for text in _SHOWN_TEXT(root):
        squeezed = "".join(text.split())
        if squeezed:
            starts.append(offset)
            owners.append(_block_of(text))
            pieces.append(squeezed)
            offset += len(squeezed)
    page = "".join(pieces)
    found: dict[HtmlElement, tuple[int, int]] = {}
    position = 0
    for paragraph in paragraphs:
        if len(paragraph) < PROSE_PARAGRAPH_CHARS:
            continue
        key = "".join(paragraph.split())[:PREFIX_CHARS]
        at = page.find(key, position)
        if at < 0:
            at = page.find(key)
        if at < 0:
            continue
        position = at + len(key)
        block = owners[bisect_right(starts, at) - 1]
        lines, length = found.get(block, (0, 0))
        found[block] = (lines + 1, length + len(paragraph))
    return found


def _block_of(text: Any) -> HtmlElement:
    """The block element a text node of the page belongs to (not the inline one it sits in)."""
    element = text.getparent()
    if text.is_tail:  # text after a <br> or an inline element: in that element's parent
        element = element.getparent()
    while element.tag in INLINE_TAGS and element.getparent() is not None:
        element = element.getparent()
    return element


def _teaser_links(root: HtmlElement, paragraphs: dict[HtmlElement, int]) -> dict[HtmlElement, int]:
    """Per element, its links of headline length outside the extracted paragraphs."""
    found: dict[HtmlElement, int] = defaultdict(int)
    for link in root.iter("a"):
        if len(_clean(link.text_content())) < TEASER_LINK_CHARS:
            continue
        ancestors = list(link.iterancestors())
        if not any(ancestor in paragraphs for ancestor in ancestors):
            for ancestor in ancestors:
                found[ancestor] += 1
    return found
