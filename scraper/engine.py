"""The engine: builds every stage, owns every thread and process, and ends the crawl.

    spider.start_requests -> frontier -> fetch threads -> response queue -> parse workers
          ^                                                                  |   |
          +-------------------- new requests (never blocks) ----------------+   v items
                                                        item queue -> pipelines -> exporter

Who runs what (all started by ``Crawl.run`` and stopped by it):
- the calling (main) thread seeds the start requests, then waits for the end, printing progress;
- ``fetch-N`` threads (``FetchPool``): lease from the frontier, fetch, put on the response queue
  (blocks when full: backpressure);
- ``parse-feed``: takes responses off the queue and submits them to the parse pool, never more
  than ``ParsePool.capacity`` at once;
- ``parse-results``: hands each callback's output on: requests to the frontier (never blocks),
  items to the item queue (blocks when full);
- ``export``: runs pipelines and writes items;
- ``PARSE_WORKERS`` processes: run callbacks.

The crawl ends when ``WorkCounts`` says nothing is open. Shutdown flows downstream: fetch
threads stop and are joined, the response queue closes, parse-feed ends, the pool drains,
parse-results ends, the item queue closes, the exporter flushes and closes. A graceful ``stop()``
(first Ctrl-C, CLOSESPIDER_*) stops leasing and lets in-flight work run to the end of the flow.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import DropItem, OutputError, QueueClosed
from .export import Exporter, open_exporter
from .fetch import Fetcher, FetchPool, make_client
from .frontier import Clock, MemoryFrontier
from .models import Request, Response
from .parse import ParsePool, ParseResult
from .pipeline import Pipelines
from .queues import BoundedQueue
from .settings import Settings
from .spider import Spider
from .stats import Stats, WorkCounts

log = logging.getLogger("scraper.engine")

EXPORT_BATCH = 500  # items written per os.write at most
PROGRESS_INTERVAL = 0.5


@dataclass(slots=True)
class CrawlResult:
    reason: str  # "finished", "shutdown", "closespider_itemcount", ...
    stats: Stats
    output: Path
    queued_left: int  # requests still in the frontier (non-zero after a graceful stop)
    response_queue: Any
    item_queue: Any
    fatal: str | None = None  # an error that ended the crawl early (e.g. output not writable)


class Crawl:
    def __init__(
        self,
        spider: Spider,
        *,
        spider_path: str,
        spider_args: dict[str, Any],
        settings: Settings,
        output: Path,
        append: bool = False,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.monotonic,
        progress: bool = False,
    ) -> None:
        self.spider = spider
        self.settings = settings
        self.output = output
        self.stats = Stats()
        self.work = WorkCounts()
        self.clock = clock
        self._progress = progress
        self._reason: str | None = None
        self._fatal: str | None = None
        self._stopped = threading.Event()
        spider.settings = settings

        self.exporter: Exporter = open_exporter(output, append=append)
        self.pipelines = Pipelines(settings, spider)
        self.frontier = MemoryFrontier(
            concurrency_per_host=settings.CONCURRENT_REQUESTS_PER_DOMAIN,
            delay=settings.host_delay,
            randomize_delay=settings.RANDOMIZE_DOWNLOAD_DELAY,
            depth_limit=settings.DEPTH_LIMIT,
            clock=clock,
        )
        self.responses: BoundedQueue[Response] = BoundedQueue(
            settings.RESPONSE_QUEUE_SIZE, settings.RESPONSE_QUEUE_BYTES
        )
        self.items: BoundedQueue[dict[str, Any]] = BoundedQueue(settings.ITEM_QUEUE_SIZE)
        self.client = make_client(settings, transport)
        self.fetch_pool = FetchPool(
            settings=settings,
            frontier=self.frontier,
            fetcher=Fetcher(self.client, settings.DOWNLOAD_MAXSIZE),
            responses=self.responses,
            work=self.work,
            stats=self.stats,
            accept_status=self._accept_status,
            on_failed=self._request_failed,
            clock=clock,
        )
        self.parse_pool = ParsePool(
            spider=spider, spider_path=spider_path, spider_args=spider_args, settings=settings
        )
        self._results: queue.SimpleQueue[tuple[Response, Future[ParseResult]] | None] = (
            queue.SimpleQueue()
        )
        self._parse_slots = threading.Semaphore(self.parse_pool.capacity)
        self._allowed = tuple(d.lower().lstrip(".") for d in spider.allowed_domains)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> CrawlResult:
        threads = [
            threading.Thread(target=self._feed_parse, name="parse-feed", daemon=True),
            threading.Thread(target=self._collect_results, name="parse-results", daemon=True),
            threading.Thread(target=self._export, name="export", daemon=True),
        ]
        try:
            self.parse_pool.start()
            self.pipelines.open()
            for thread in threads:
                thread.start()
            for request in self.spider.start_requests():
                self.schedule(request)
            self.fetch_pool.start()
            self._wait_until_done()
        finally:
            self._shutdown(threads)
        return CrawlResult(
            reason=self._reason or "finished",
            stats=self.stats,
            output=self.output,
            queued_left=self.frontier.queued,
            response_queue=self.responses.stats,
            item_queue=self.items.stats,
            fatal=self._fatal,
        )

    def stop(self, reason: str) -> None:
        """Graceful stop: no new fetches; what is in flight runs to the end of the flow."""
        if self._reason is None:
            self._reason = reason
            log.info("stopping (%s): finishing in-flight work", reason)
        self._stopped.set()
        self.fetch_pool.stop()

    def _drained(self) -> bool:
        if not self._stopped.is_set():
            return self.work.finished()
        # Leasing has stopped, so these only fall; read them in flow order.
        return self.frontier.leased == 0 and self.work.parsing == 0 and self.work.open_items == 0

    def _wait_until_done(self) -> None:
        last = 0.0
        while not self._drained():
            self.work.wait(PROGRESS_INTERVAL)
            if self._progress and time.monotonic() - last >= PROGRESS_INTERVAL:
                last = time.monotonic()
                self._print_progress()
        if self._progress:
            sys.stderr.write("\r\x1b[K")

    def _print_progress(self) -> None:
        s = self.stats
        rate = s.counters["pages"] / max(s.elapsed, 1e-9)
        sys.stderr.write(
            f"\r\x1b[K{s.counters['pages']} pages, {s.counters['items']} items, "
            f"{sum(s.errors.values())} errors | queued {self.frontier.queued}, "
            f"fetching {self.frontier.leased}, parsing {self.work.parsing} | "
            f"{rate:.1f} pages/s"
        )
        sys.stderr.flush()

    def _shutdown(self, threads: list[threading.Thread]) -> None:
        timeout = self.settings.SHUTDOWN_TIMEOUT
        feed, results, export = (t if t.ident is not None else None for t in threads)
        self.fetch_pool.stop()
        self.fetch_pool.join(timeout)
        self.responses.close()
        if feed:
            feed.join(timeout)  # submitted everything it took
        self.parse_pool.shutdown(wait=True)
        self._results.put(None)
        if results:
            results.join(timeout)  # handed everything on
        self.items.close()
        if export:
            export.join(timeout)  # wrote everything
        self.exporter.close()
        self.client.close()
        self.stats.finished = time.monotonic()
        try:
            self.pipelines.close()
        finally:
            self.spider.closed(self._reason or "finished")

    # -- scheduling (the upward edge: never blocks) -------------------------------------------
    def schedule(self, request: Request, parent: Response | None = None) -> bool:
        if parent is not None:
            request.meta["depth"] = parent.request.depth + 1
        if self._allowed and not self._on_site(request.host):
            self.stats.inc("offsite_filtered")
            return False
        # Open the work first so a fast failure elsewhere cannot make the count touch zero.
        self.work.change(requests=1)
        if self.frontier.add(request):
            return True
        self.work.change(requests=-1)
        return False

    def _on_site(self, host: str) -> bool:
        host = host.lower()
        return any(host == d or host.endswith("." + d) for d in self._allowed)

    def _accept_status(self, request: Request, status: int) -> bool:
        if 200 <= status < 300 or request.meta.get("handle_httpstatus_all"):
            return True
        allowed = request.meta.get("handle_httpstatus_list")
        if allowed is not None:
            return status in allowed
        return (
            status in self.spider.handle_httpstatus_list
            or status in self.settings.HTTPERROR_ALLOWED_CODES
        )

    def _request_failed(self, request: Request, kind: str) -> None:
        self.work.change(requests=-1)

    # -- parse stage ----------------------------------------------------------------------------
    def _feed_parse(self) -> None:
        while True:
            try:
                response = self.responses.get()
            except QueueClosed:
                return
            self._parse_slots.acquire()
            future = self.parse_pool.submit(response)
            future.add_done_callback(lambda f, r=response: self._results.put((r, f)))

    def _collect_results(self) -> None:
        while (entry := self._results.get()) is not None:
            response, future = entry
            try:
                self._hand_on(response, future)
            except QueueClosed:
                pass  # hard shutdown: the item queue is gone
            finally:
                self._parse_slots.release()
                self.work.change(requests=-1, parsing=-1)

    def _hand_on(self, response: Response, future: Future[ParseResult]) -> None:
        try:
            result = future.result()
        except Exception as exc:  # the worker died; the pool is unusable for this job
            self.stats.error("worker_died")
            log.error("parse worker failed on %s: %s: %s", response.url, type(exc).__name__, exc)
            return
        self.stats.parsed(result.pid, result.seconds)
        if result.error:
            self.stats.error("callback_error")
            log.error(
                "callback %s failed on %s:\n%s",
                response.request.callback or "parse",
                response.url,
                result.error.rstrip(),
            )
        for request in result.requests:
            self.schedule(request, parent=response)
        if result.items:
            self.work.change(items=len(result.items))
            for item in result.items:
                self.items.put(item)
        if result.close_reason:
            self.stop(result.close_reason)
        limit = self.settings.CLOSESPIDER_PAGECOUNT
        if limit and self.stats.counters["pages"] >= limit:
            self.stop("closespider_pagecount")

    # -- export stage ---------------------------------------------------------------------------
    def _export(self) -> None:
        while True:
            try:
                batch = [self.items.get()]
            except QueueClosed:
                return
            while len(batch) < EXPORT_BATCH:
                try:
                    batch.append(self.items.get(timeout=0))
                except (TimeoutError, QueueClosed):
                    break
            try:
                self._write(batch)
            finally:
                self.work.change(items=-len(batch))

    def _write(self, batch: list[dict[str, Any]]) -> None:
        kept = []
        for item in batch:
            try:
                kept.append(self.pipelines.process(item))
            except DropItem as exc:
                self.stats.inc("items_dropped")
                log.debug("dropped item: %s", exc)
            except Exception:
                self.stats.error("pipeline_error")
                log.exception("pipeline failed on an item; item dropped")
        if not kept or self._fatal:
            return
        try:
            self.exporter.write(kept)
        except OutputError as exc:
            self._fatal = str(exc)
            self.stop("output_error")
            return
        self.stats.inc("items", len(kept))
        limit = self.settings.CLOSESPIDER_ITEMCOUNT
        if limit and self.stats.counters["items"] >= limit:
            self.stop("closespider_itemcount")
