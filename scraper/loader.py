"""ItemLoader with Scrapy's signature: ``ItemLoader(item, response=response)``.

Flow position: used inside callbacks (parse workers). The work is done by ``itemloaders``,
Scrapy's own loader library; this adds the response (its selector) and our ``Item`` default.
Processors import from ``itemloaders.processors`` as in Scrapy's documentation.
"""

from __future__ import annotations

from typing import Any

import itemloaders

from .item import Item, item_adapter

item_adapter()  # the loader's items go through itemadapter, which must know ours


class ItemLoader(itemloaders.ItemLoader):
    default_item_class = Item

    def __init__(
        self,
        item: Any = None,
        selector: Any = None,
        response: Any = None,
        parent: itemloaders.ItemLoader | None = None,
        **context: Any,
    ) -> None:
        if selector is None and response is not None:
            selector = response.selector
        context.update(response=response)
        super().__init__(item=item, selector=selector, parent=parent, **context)


__all__ = ["ItemLoader"]
