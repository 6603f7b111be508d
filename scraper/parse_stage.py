"""The parse stage: hands responses to the parse workers and their output on.

Flow position: response queue -> **parse stage** -> parse workers -> item queue (and, with the
page's ack, new requests to the store).

Threads (started and stopped by the engine): ``parse-feed`` (``feed``) takes responses off the
response queue and submits them to the pool, never more than ``ParsePool.capacity`` at once;
``parse-results`` (``collect``) hands each callback's output on: its new requests through
admission, its items under stable keys, together to the item queue (blocks when full). A page
whose callback runs in the main process (``ParsePool.runs_inline``) is handed on by its fetch
thread (``run_here``). A worker that died or a callback past PARSE_TIMEOUT is retried up to
PARSE_RETRY_TIMES, then recorded as a failure.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool

from . import signals
from .admission import Admission
from .crawler import spider_signals
from .errors import QueueClosed, SpiderLoadError, StoreError
from .export_stage import ItemKeys, PageOutput
from .failurelog import FailureLog
from .lifecycle import Lifecycle
from .models import Request, Response
from .parse import ParseJob, ParsePool, ParseResult
from .queues import BoundedQueue
from .settings import Settings
from .spider import Spider
from .stats import Stats, WorkCounts
from .store import CrawlStore

log = logging.getLogger("scraper.engine")


class ParseStage:
    def __init__(
        self,
        *,
        pool: ParsePool,
        responses: BoundedQueue[Response],
        items: BoundedQueue[PageOutput],
        store: CrawlStore,
        spider: Spider,
        settings: Settings,
        stats: Stats,
        work: WorkCounts,
        admission: Admission,
        item_keys: ItemKeys,
        failures: FailureLog,
        lifecycle: Lifecycle,
        request_failed: Callable[[Request, str, str], None],
    ) -> None:
        self._pool = pool
        self._responses = responses
        self._items = items
        self._store = store
        self._spider = spider
        self._retry_times = settings.PARSE_RETRY_TIMES
        self._page_limit = settings.CLOSESPIDER_PAGECOUNT
        self._stats = stats
        self._work = work
        self._admission = admission
        self._item_keys = item_keys
        self._failures = failures
        self._lifecycle = lifecycle
        self._request_failed = request_failed
        self._results: queue.SimpleQueue[ParseJob | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(pool.capacity)
        self._state_warned = False
        self._signals = spider_signals(spider)

    def end(self) -> None:
        """No more results will come (the pool is shut down): ``collect`` returns."""
        self._results.put(None)

    def run_here(self, response: Response) -> bool:
        """In a fetch thread: run a cheap callback right here, with no hand-off to another
        thread (a hand-off costs more than such a callback). False: the page goes to a worker.
        """
        if not self._pool.runs_inline(response):
            return False
        result = self._pool.run_inline(response)
        # At a hard shutdown the item queue is gone: QueueClosed ends this fetch thread, and the
        # page stays unacknowledged (a job folder fetches it again).
        self._deliver(response, result)
        return True

    def feed(self) -> None:
        while True:
            try:
                response = self._responses.get()
            except QueueClosed:
                return
            self._slots.acquire()
            try:
                self._submit(response)
            except SpiderLoadError:
                return  # the workers could not start: the main thread reports it and stops
            except QueueClosed:
                return  # a hard stop shut the pool down; the page stays unacknowledged

    def _submit(self, response: Response) -> None:
        job = self._pool.submit(response)
        job.future.add_done_callback(lambda _: self._results.put(job))

    def collect(self) -> None:
        while (job := self._results.get()) is not None:
            response = job.response
            try:
                if self._parse_failed(job):
                    continue  # resubmitted, still holding its slot, or recorded as failed
                self._deliver(response, job.future.result())
            except QueueClosed:
                # A hard stop: the pool or the item queue is gone. The page stays
                # unacknowledged, and a job folder parses it again on resume.
                pass
            except StoreError as exc:
                self._lifecycle.store_failed(exc)
            except Exception:  # a bug here must not leave the crawl waiting forever
                log.exception("error handling the output of %s", response.url)
                self._store.ack(response.request)
                self._work.change(parsing=-1)
            self._slots.release()

    def _parse_failed(self, job: ParseJob) -> bool:
        """Deal with a worker that died or a callback that timed out. True if handled here."""
        response, future = job.response, job.future
        if future.cancelled():  # a hard stop shut the pool down before the job ran
            raise QueueClosed("the parse pool is shut down")
        error = future.exception()
        timed_out = error is None and future.result().timed_out
        if error is None and not timed_out:
            return False
        if isinstance(error, BrokenProcessPool):
            if not self._pool.recover(job):  # a bystander of another page's crash: rerun
                self._submit(response)
                return True
            # Killed past twice PARSE_TIMEOUT (stuck where the alarm cannot reach): a timeout.
            if self._pool.killed_overdue(job):
                kind = "parse_timeout"
            elif self._pool.died_of_memory(job):
                kind = "worker_memory"
            else:
                kind = "worker_died"
        elif timed_out:
            kind = "parse_timeout"
        else:
            kind = "parse_error"
            log.error("parse job for %s failed: %r", response.url, error)
        meta = response.request.meta
        meta["parse_attempts"] = int(meta.get("parse_attempts", 0)) + 1
        if meta["parse_attempts"] <= self._retry_times and kind != "parse_error":
            self._stats.inc("parse_retries")
            self._submit(response)
            return True
        log.error(
            "giving up on %s after %d parse attempts: %s",
            response.url,
            meta["parse_attempts"],
            kind,
        )
        self._work.change(parsing=-1)
        self._request_failed(response.request, kind, f"{kind} in a parse worker")
        self._slots.release()
        return True

    def _deliver(self, response: Response, result: ParseResult) -> None:
        if result.state_changed and not self._state_warned:
            self._state_warned = True  # once: the safety net behind state.py's reading
            log.warning(
                "callback %s set %s on the spider in a parse worker: each worker keeps its own "
                "copy, so the output may differ from Scrapy's; set stateless = False on the "
                "spider to run its callbacks in the main process",
                response.request.callback or "parse",
                ", ".join(f"self.{name}" for name in result.state_changed),
            )
        if self._signals is not None:  # after the callback here, before it in Scrapy
            self._signals.send(
                signals.response_received,
                response=response,
                request=response.request,
                spider=self._spider,
            )
        self._stats.parsed(result.pid, result.wall)
        if result.replaced_chars:
            self._stats.inc("decode_replacements", result.replaced_chars)
        if result.error:
            self._callback_failed(response, result.error)
        for kind in result.ignored:
            what = f"{kind} from {response.request.callback or 'parse'}"
            if self._stats.count("ignored_values", what) == 1:
                log.warning(
                    "callback yielded a %s on %s: neither an item nor a Request, ignored (the "
                    "items after it are kept; said once, counted in the summary)",
                    what,
                    response.url,
                )
        # Queued by the page's ack, with its items safe: a worker fenced out adds none.
        children = self._admission.admit(result.requests, response)
        keyed = self._item_keys.keyed(response.request, result.items)
        self._work.change(parsing=-1, exporting=1)
        self._items.put(PageOutput(response.request, keyed, children))
        if result.close_reason:
            self._lifecycle.stop(result.close_reason)
        limit = self._page_limit
        if limit and self._stats.counters["pages"] >= limit:
            self._lifecycle.stop("closespider_pagecount")

    def _callback_failed(self, response: Response, error: str) -> None:
        """Record the page; log the traceback of each distinct error once (the same exception
        raised from the same line), then only a count as it repeats: one broken callback on a
        large site must not bury the log in identical tracebacks."""
        lines = error.strip().splitlines()
        where = next(
            (line.strip() for line in reversed(lines) if line.lstrip().startswith("File ")), ""
        )
        callback = response.request.callback or "parse"
        key = f"{lines[-1].split(':', 1)[0]} in {callback}, {where}"
        seen = self._stats.count("callback_errors", key)
        if seen == 1:
            log.error(
                "callback %s failed on %s:\n%s\n(this error's traceback is logged once; "
                "repeats are counted)",
                callback,
                response.url,
                error.rstrip(),
            )
        elif math.log10(seen).is_integer():  # 10, 100, 1000 ...: the count, not the traceback
            log.error(
                "callback %s failed again on %s: %s (%d pages)",
                callback,
                response.url,
                lines[-1],
                seen,
            )
        else:
            log.debug("callback %s failed on %s: %s", callback, response.url, lines[-1])
        self._failures.record(response.request, "callback_error", lines[-1])
