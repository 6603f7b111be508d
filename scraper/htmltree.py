"""The HTML tree behind ``Response.css()`` and ``xpath()``, whatever the nesting depth.

Flow position: inside the parse workers, on a callback's first selector call.

libxml2 (lxml's parser, and so parsel's) stops at a nesting depth of 2,048 even with its
"huge" option: elements deeper than that, and everything after them, are silently dropped, so
the text of a page of 200,000 nested ``<div>``s was lost. The parser says so in its error log;
when it does, the page is parsed again here, with the standard library's tokenizer and an
lxml tree builder that nests at most ``MAX_DEPTH`` levels. Deeper elements become siblings
inside the deepest one, as browsers do (Chromium caps the tree at 512 levels the same way):
every element and every piece of text is kept, only the excess nesting is flattened.
"""

from __future__ import annotations

import logging
from html.parser import HTMLParser

from lxml import etree, html

log = logging.getLogger("scraper.htmltree")

MAX_DEPTH = 512
_TOO_DEEP = "Excessive depth"  # libxml2's message when it gives up on the nesting
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


def parse_html(text: str, base_url: str | None) -> etree._Element:
    """The root element of ``text``, as parsel builds it; flattened past MAX_DEPTH when
    libxml2 could not go that deep."""
    # As parsel's create_root_node: NULs stripped, an empty document is an empty <html>.
    body = text.strip().replace("\x00", "").encode("utf-8") or b"<html/>"
    parser = html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    root = etree.fromstring(body, parser=parser, base_url=base_url)
    if not any(_TOO_DEEP in error.message for error in parser.error_log):
        return root if root is not None else etree.fromstring(b"<html/>", parser=parser)
    log.warning(
        "%s nests elements deeper than lxml parses: parsed again with nesting past %d levels "
        "flattened",
        base_url,
        MAX_DEPTH,
    )
    builder = _FlatBuilder()
    builder.feed(text)
    return builder.finish()


class _FlatBuilder(HTMLParser):
    """Tokens to an lxml tree of at most MAX_DEPTH levels (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._tree = etree.TreeBuilder()
        self._tree.start("html", {})
        # Open elements, outermost first: (tag, whether it is still open in the tree). An
        # element deeper than MAX_DEPTH closes the deepest one in the tree to become its
        # sibling, but stays open here so its end tag still finds it.
        self._open: list[tuple[str, bool]] = []
        self._depth = 0  # elements open in the tree

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            return
        attributes = {name: value or "" for name, value in attrs}
        if tag in _VOID:
            self._tree.start(tag, attributes)
            self._tree.end(tag)
            return
        if self._depth >= MAX_DEPTH:
            self._close_deepest()
        self._tree.start(tag, attributes)
        self._open.append((tag, True))
        self._depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and tag != "html":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                while len(self._open) > index:
                    name, in_tree = self._open.pop()
                    if in_tree:
                        self._tree.end(name)
                        self._depth -= 1
                return

    def handle_data(self, data: str) -> None:
        self._tree.data(data)

    def _close_deepest(self) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            name, in_tree = self._open[index]
            if in_tree:
                self._tree.end(name)
                self._open[index] = (name, False)
                self._depth -= 1
                return

    def finish(self) -> etree._Element:
        self.close()
        while self._open:
            name, in_tree = self._open.pop()
            if in_tree:
                self._tree.end(name)
        self._tree.end("html")
        return self._tree.close()
