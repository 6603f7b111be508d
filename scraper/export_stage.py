"""The export stage: pipelines, then the output, then the acknowledgement.

Flow position: parse stage -> item queue -> **export** (one thread) -> the store's ack.

Each parsed page arrives as a ``PageOutput``: its items, each under a stable key, and its new
requests. A batch of pages goes through the item pipelines, is written (to the store's item
journal when it has one, else straight to the feeds), and only then is each page acknowledged
with its new requests: with a job folder or Redis, a crash never loses an item, and a page done
twice writes its items under the same keys (``ItemKeys``), which the output keeps once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .errors import DropItem, OutputError, QueueClosed, StoreError
from .feeds import FeedSet
from .item import item_adapter
from .lifecycle import Lifecycle
from .models import Request
from .pipeline import Pipelines
from .queues import BoundedQueue
from .settings import Settings
from .spider import Spider
from .stats import Stats, WorkCounts
from .store import CrawlStore, ItemJournal

log = logging.getLogger("scraper.engine")

EXPORT_BATCH = 200  # pages written per batch at most


@dataclass(slots=True)
class PageOutput:
    """What one parsed page hands to the export stage: its items, keyed, and its request."""

    request: Request
    items: list[tuple[str, dict[str, Any]]]
    children: list[Request] = field(default_factory=list)  # its new requests: queued by the ack


class ItemKeys:
    """Stable item keys: the spider's natural key field (``item_key``), else the request's
    fingerprint and the item's position on its page."""

    def __init__(self, spider: Spider) -> None:
        self._field = getattr(spider, "item_key", None)

    def keyed(self, request: Request, items: list[Any]) -> list[tuple[str, Any]]:
        prefix = request.fingerprint().hex()[:20]
        return [(self._key(prefix, i, item), item) for i, item in enumerate(items)]

    def _key(self, prefix: str, position: int, item: Any) -> str:
        fields = item if isinstance(item, dict) else item_adapter()(item)
        if self._field and (value := fields.get(self._field)) is not None:
            return f"{self._field}:{value}"
        return f"{prefix}:{position}"


class ExportStage:
    """The ``export`` thread's loop (``run``); ends when the item queue closes."""

    def __init__(
        self,
        *,
        items: BoundedQueue[PageOutput],
        pipelines: Pipelines,
        journal: ItemJournal | None,
        feeds: FeedSet,
        store: CrawlStore,
        settings: Settings,
        stats: Stats,
        work: WorkCounts,
        lifecycle: Lifecycle,
    ) -> None:
        self._items = items
        self._pipelines = pipelines
        self._journal = journal
        self._feeds = feeds
        self._store = store
        self._item_limit = settings.CLOSESPIDER_ITEMCOUNT
        self._stats = stats
        self._work = work
        self._lifecycle = lifecycle

    def run(self) -> None:
        while True:
            try:
                batch = [self._items.get()]
            except QueueClosed:
                return
            while len(batch) < EXPORT_BATCH:
                try:
                    batch.append(self._items.get(timeout=0))
                except (TimeoutError, QueueClosed):
                    break
            written = False
            try:
                written = self._write(batch)
            finally:
                for page in batch:
                    try:
                        if written:
                            self._store.ack(page.request, page.children)
                    except StoreError as exc:
                        self._lifecycle.store_failed(exc)
                        written = False  # not acknowledged: a resume redoes the rest
                    self._work.change(exporting=-1)

    def _write(self, batch: list[PageOutput]) -> bool:
        """Pipelines, then the output. False if the output could not be written."""
        kept: list[tuple[str, dict[str, Any]]] = []
        for page in batch:
            for key, item in page.items:
                try:
                    kept.append((key, self._feeds.row(self._pipelines.process(item))))
                except DropItem as exc:
                    self._stats.inc("items_dropped")
                    log.debug("dropped item: %s", exc)
                except Exception:
                    self._stats.inc("pipeline_errors")  # an item, not a request: no failure line
                    log.exception("pipeline failed on an item; item dropped")
        if self._lifecycle.fatal:
            return False
        try:
            if self._journal is not None:
                self._journal.write(kept)
            elif kept:
                self._feeds.write([item for _, item in kept])
        except OutputError as exc:
            self._lifecycle.fail(str(exc))
            return False
        self._stats.inc("items", len(kept))
        if self._item_limit and self._stats.counters["items"] >= self._item_limit:
            self._lifecycle.stop("closespider_itemcount")
        return True
