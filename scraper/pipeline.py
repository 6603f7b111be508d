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

from .errors import SettingsError
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


class Pipelines:
    def __init__(self, settings: Settings, spider: Spider) -> None:
        ordered = sorted(settings.ITEM_PIPELINES.items(), key=lambda kv: kv[1])
        self._spider = spider
        self._stages: list[Any] = []
        for ref, _order in ordered:
            cls = _load(ref)
            factory = getattr(cls, "from_settings", None)
            self._stages.append(factory(settings) if callable(factory) else cls())
            if not callable(getattr(self._stages[-1], "process_item", None)):
                raise SettingsError(f"ITEM_PIPELINES: {ref!r} has no process_item method")

    def open(self) -> None:
        for stage in self._stages:
            if hasattr(stage, "open_spider"):
                stage.open_spider(self._spider)

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item after every pipeline; DropItem propagates to the caller."""
        for stage in self._stages:
            item = stage.process_item(item, self._spider)
        return item

    def close(self) -> None:
        for stage in self._stages:
            if hasattr(stage, "close_spider"):
                stage.close_spider(self._spider)
