"""``Selector`` at Scrapy's import path: parsel's, also built from a response.

Flow position: used inside callbacks (parse workers), as ``response.css()`` is.
"""

from __future__ import annotations

from typing import Any

import parsel
from parsel import SelectorList


class Selector(parsel.Selector):
    """``Selector(response=response)`` or ``Selector(text=...)``, as in Scrapy."""

    __slots__ = ("response",)

    def __init__(
        self, response: Any = None, text: str | None = None, type: str | None = None, **kw: Any
    ) -> None:
        self.response = response
        if response is not None and text is None:
            text = response.text
            kw.setdefault("base_url", response.url)
            if type is None:
                type = response.selector.type
        super().__init__(text=text, type=type, **kw)


__all__ = ["Selector", "SelectorList"]
