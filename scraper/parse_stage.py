"""The parse stage: hands responses to the parse workers and their output on.

Flow position: response queue -> **parse stage** -> parse workers -> item queue (and, with the
page's ack, new requests to the store).

Threads (started and stopped by the engine): ``parse-feed`` (``feed``) takes responses off the
response queue in batches and submits them to the pool, never more than ``ParsePool.capacity``
batches at once (a semaphore: one slot per batch, held until its pages are all handed on); a
batch is what is waiting when a slot frees, spread over the workers, at most BATCH_PAGES and
BATCH_BYTES; while the workers keep up, what comes within BATCH_LINGER. ``parse-results``
(``collect``) hands each callback's output on: its new requests through admission, its items
under stable keys, together to the item queue (blocks when full). A page whose callback runs
in the main process (``ParsePool.runs_inline``) is handed on by its fetch thread
(``run_here``). A worker that died or a callback past PARSE_TIMEOUT is retried up to
PARSE_RETRY_TIMES, then recorded as a failure; the other pages of a dead worker's batch run
again without being charged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

from . import signals
from .admission import Admission
from .crawler import spider_signals
from .errors import QueueClosed, SpiderLoadError, StoreError
from .export_stage import ItemKeys, PageOutput
from .failurelog import FailureLog
from .lifecycle import Lifecycle
from .models import Request, Response
from .parse import (
    BATCH_BYTES,
    BATCH_LINGER,
    BATCH_PAGES,
    ParseBatch,
    ParseJob,
    ParsePool,
    ParseResult,
)
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
        self._results: queue.SimpleQueue[ParseBatch | None] = queue.SimpleQueue()
        self._in_flight: dict[Future[list[bytes]], ParseBatch] = {}  # submitted, not ended
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
            self._slots.acquire()  # released when the batch's pages are all handed on
            try:
                responses = self._responses.get_batch(*self._next_batch())
            except QueueClosed:
                return
            to_workers = []
            for response in responses:
                # A callback that became cheap enough to run here since its page was queued.
                if self._pool.runs_inline(response):
                    with self._page_errors(response):
                        self._deliver(response, self._pool.run_inline(response))
                else:
                    to_workers.append(response)
            if not to_workers:
                self._slots.release()
                continue
            try:
                self._submit(to_workers)
            except SpiderLoadError:
                return  # the workers could not start: the main thread reports it and stops
            except QueueClosed:
                return  # a hard stop shut the pool down; the pages stay unacknowledged

    def _next_batch(self) -> tuple[int, int, float]:
        """The next trip's most pages, most body bytes and linger (``BoundedQueue.get_batch``):
        with pages waiting, those spread over the workers (so one worker is not handed all of
        them while another idles), at most BATCH_PAGES, sent at once. With fewer waiting than
        workers (the workers keep up), what comes within BATCH_LINGER, at most BATCH_PAGES."""
        waiting = len(self._responses)
        workers = max(1, self._pool.workers)
        if waiting < workers:
            return BATCH_PAGES, BATCH_BYTES, BATCH_LINGER
        return min(BATCH_PAGES, math.ceil(waiting / workers)), BATCH_BYTES, 0.0

    def _submit(self, responses: list[Response]) -> None:
        batch = self._pool.submit(responses)
        # Held here until it ends, not by its future's callback: see ParseBatch.
        self._in_flight[batch.future] = batch
        batch.future.add_done_callback(
            lambda future: self._results.put(self._in_flight.pop(future))
        )

    def collect(self) -> None:
        while (batch := self._results.get()) is not None:
            again: list[Response] = []
            try:
                if batch.future.cancelled():
                    raise QueueClosed("the parse pool is shut down")
                again = self._settle(batch)
                if again:  # pages to run again, under the batch's slot
                    self._submit(again)
                    continue
            except QueueClosed:
                # A hard stop shut the pool down: the pages not handed on stay unacknowledged,
                # and a job folder parses them again on resume.
                self._work.change(parsing=-len(again or batch.jobs))
            self._slots.release()

    def _settle(self, batch: ParseBatch) -> list[Response]:
        """Hand on the batch's results; returns its pages to run again (a worker died or a
        callback timed out, attempts left; a bystander of another page's crash)."""
        error = batch.future.exception()
        dead = self._pool.recover(batch) if isinstance(error, BrokenProcessPool) else set()
        if error is not None and not dead:
            log.error("parse batch of %d pages failed: %r", len(batch.jobs), error)
        results = batch.results() if error is None else [None] * len(batch.jobs)
        again = []
        for job, result in zip(batch.jobs, results, strict=True):
            with self._page_errors(job.response):
                if self._settle_page(job, result, error, dead):
                    again.append(job.response)
        return again

    def _settle_page(
        self,
        job: ParseJob,
        result: ParseResult | None,
        error: BaseException | None,
        dead: set[int],
    ) -> bool:
        """One page of a batch: True if it runs again."""
        response = job.response
        if isinstance(error, BrokenProcessPool):
            # Charged only for the page its worker was running: the rest of the batch (not
            # started, or done with but its result lost with the worker) runs again for free.
            return job.id not in dead or self._retry(response, self._crash_kind(job))
        if result is None or result.send_error:  # the batch or this result could not be sent
            if result is not None:
                log.error("the result of %s could not be sent: %s", response.url,
                          result.send_error)  # fmt: skip
            self._fail(response, "parse_error")
            return False
        if result.timed_out:
            return self._retry(response, "parse_timeout")
        self._deliver(response, result)
        return False

    def _crash_kind(self, job: ParseJob) -> str:
        # Killed past twice PARSE_TIMEOUT (stuck where the alarm cannot reach): a timeout.
        if self._pool.killed_overdue(job):
            kind = "parse_timeout"
        elif self._pool.died_of_memory(job):
            kind = "worker_memory"
        else:
            kind = "worker_died"
        return kind

    def _retry(self, response: Response, kind: str) -> bool:
        """Count a failed attempt at the page's callback. True: run it again; False: attempts
        used up, recorded as failed."""
        meta = response.request.meta
        meta["parse_attempts"] = int(meta.get("parse_attempts", 0)) + 1
        if meta["parse_attempts"] <= self._retry_times:
            self._stats.inc("parse_retries")
            return True
        log.error(
            "giving up on %s after %d parse attempts: %s",
            response.url,
            meta["parse_attempts"],
            kind,
        )
        self._fail(response, kind)
        return False

    def _fail(self, response: Response, kind: str) -> None:
        self._work.change(parsing=-1)
        self._request_failed(response.request, kind, f"{kind} in a parse worker")

    @contextlib.contextmanager
    def _page_errors(self, response: Response) -> Iterator[None]:
        """Errors handing a page on end here, not in the parse stage's thread."""
        try:
            yield
        except QueueClosed:
            pass  # hard shutdown: the item queue is gone; the page stays unacknowledged
        except StoreError as exc:
            self._lifecycle.store_failed(exc)
        except Exception:  # a bug here must not leave the crawl waiting forever
            log.exception("error handling the output of %s", response.url)
            self._store.ack(response.request)
            self._work.change(parsing=-1)

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
