"""Item pipelines: ordered item processors, run in the main process before export.

Flow position: item queue -> **pipelines** -> exporters.

As in Scrapy, ``ITEM_PIPELINES`` maps a pipeline class (dotted path, or the class itself in a
spider's ``custom_settings``) to an order number, lowest first. A pipeline is any object with
``process_item(item, spider)`` returning the item (possibly changed) or raising ``DropItem``;
``open_spider(spider)`` and ``close_spider(spider)`` are optional. Pipelines run in one thread,
so they may keep cheap global state (dedup sets, counters) without locks.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import signals
from .errors import DropItem, SettingsError
from .exceptions import NotConfigured
from .item import item_adapter
from .settings import Settings
from .spider import Spider


def _load(ref: str | type) -> type:
    if isinstance(ref, type):
        return ref
    module_name, _, attr = ref.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SettingsError(f"ITEM_PIPELINES: cannot import {ref!r}: {exc}") from exc
    if not isinstance(cls, type):
        raise SettingsError(f"ITEM_PIPELINES: {ref!r} is not a class")
    return cls


def _build(cls: type, settings: Settings, crawler: Any) -> Any:
    """As Scrapy: ``from_crawler(crawler)`` if the class has it, else ``from_settings``."""
    if crawler is not None and callable(getattr(cls, "from_crawler", None)):
        return cls.from_crawler(crawler)
    factory = getattr(cls, "from_settings", None)
    return factory(crawler.settings if crawler else settings) if callable(factory) else cls()


class Pipelines:
    def __init__(self, settings: Settings, spider: Spider) -> None:
        ordered = sorted(settings.ITEM_PIPELINES.items(), key=lambda kv: kv[1])
        self._spider = spider
        self._crawler = getattr(spider, "crawler", None)
        self._stages: list[Any] = []
        if ordered:
            item_adapter()  # pipelines may wrap any item in ItemAdapter: it must know ours
        for ref, _order in ordered:
            cls = _load(ref)
            try:
                self._stages.append(_build(cls, settings, self._crawler))
            except NotConfigured:  # the pipeline turned itself off, as Scrapy allows
                continue
            if not callable(getattr(self._stages[-1], "process_item", None)):
                raise SettingsError(f"ITEM_PIPELINES: {ref!r} has no process_item method")

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
