"""Item pipelines: ordered item processors, run in the main process before export.

Flow position: item queue -> **pipelines** -> exporters.

As in Scrapy, ``ITEM_PIPELINES`` maps a pipeline class (dotted path, or the class itself in a
spider's ``custom_settings``) to an order number, lowest first. A pipeline is any object with
``process_item(item, spider)`` returning the item (possibly changed) or raising ``DropItem``;
``open_spider(spider)`` and ``close_spider(spider)`` are optional. Pipelines run in one thread,
so they may keep cheap global state (dedup sets, counters) without locks.
"""

from __future__ import annotations

from typing import Any

from . import signals
from .components import build_components
from .errors import DropItem, SettingsError
from .item import item_adapter
from .settings import Settings
from .spider import Spider


class Pipelines:
    def __init__(self, settings: Settings, spider: Spider) -> None:
        self._spider = spider
        self._crawler = getattr(spider, "crawler", None)
        if settings.ITEM_PIPELINES:
            item_adapter()  # pipelines may wrap any item in ItemAdapter: it must know ours
        self._stages = build_components(
            settings.ITEM_PIPELINES, "ITEM_PIPELINES", settings, self._crawler
        )
        for stage in self._stages:
            if not callable(getattr(stage, "process_item", None)):
                raise SettingsError(
                    f"ITEM_PIPELINES: {type(stage).__qualname__} has no process_item method"
                )

    def open(self) -> None:
        for stage in self._stages:
            if hasattr(stage, "open_spider"):
                stage.open_spider(self._spider)
        self._send(signals.spider_opened)

    def process(self, item: Any) -> Any:
        """The item after every pipeline; DropItem propagates to the caller. Sends Scrapy's
        item_scraped or item_dropped signal."""
        original = item
        try:
            for stage in self._stages:
                item = stage.process_item(item, self._spider)
        except DropItem as exc:
            self._send(signals.item_dropped, item=original, exception=exc)
            raise
        self._send(signals.item_scraped, item=item, response=None)
        return item

    def close(self, reason: str = "finished") -> None:
        for stage in self._stages:
            if hasattr(stage, "close_spider"):
                stage.close_spider(self._spider)
        self._send(signals.spider_closed, reason=reason)

    def _send(self, signal: object, **kwargs: Any) -> None:
        if self._crawler is not None:
            self._crawler.signals.send_catch_log(signal, spider=self._spider, **kwargs)
