"""The engine: wires the stages together, owns every thread and process, and ends the crawl.

    spider.start_requests -> admission -> store -> fetch threads -> response queue
          ^                                                              |
          |                                               parse stage -> parse workers
          |                                                              |  page output
          +---- new requests, queued by the page's ack <-- export stage <-- item queue

The stages are their own modules: ``admission`` (what may be queued), the store (``store.py``,
built by ``build.open_store``), ``fetch`` (threads and their policies), ``parse_stage``,
``export_stage``, ``failurelog`` and ``lifecycle`` (how the crawl stops). What remains here is
start, run, stop and shutdown, and settling requests that end without a page to parse.

Who runs what (all started by ``Crawl.run`` and stopped by it):
- the calling (main) thread seeds the start requests, then waits for the end, ticking the
  CLI's progress line and killing parse workers stuck past the hard timeout;
- ``fetch-N`` threads (``FetchPool``): lease from the store, fetch, put on the response queue
  (blocks when full: backpressure), or settle the request (retry, redirect, failure). A page
  whose callback runs in the main process never enters the queue: its fetch thread hands it on
  (``ParseStage.run_here``);
- ``parse-feed`` and ``parse-results`` (``ParseStage``): submit responses to the parse pool,
  never more than its capacity at once, and hand each callback's output to the item queue;
- ``export`` (``ExportStage``): runs pipelines, writes items, then acknowledges each page to the
  store with its new requests (write before ack: a crash never loses an item);
- ``PARSE_WORKERS`` processes: run callbacks.

The crawl ends when the store says it is finished (nothing queued, nothing open anywhere), this
process holds no page and no ``spider_idle`` handler scheduled a request or raised
``DontCloseSpider`` (handlers run in the main thread, one at a time with other spider code), or
when all that is left belongs to hosts down past HOST_DOWN_TIMEOUT (or the shorter
HOST_UNREACHED_TIMEOUT, if never reached), which are then given up for this run (``outages``).
Shutdown flows downstream: fetch threads stop and are joined, the response queue closes,
parse-feed ends, the pool drains, parse-results ends, the item queue closes, the exporter
flushes, the output is finalised. A graceful ``stop()`` (first Ctrl-C, CLOSESPIDER_*) stops
leasing and lets in-flight work reach the end of the flow, for at most SHUTDOWN_TIMEOUT seconds.
A job folder that cannot be written (``StoreError``) stops the crawl without waiting; a stage
thread that dies of a bug stops it with an error naming the thread (``Lifecycle.guard``).

Why one module of this length: starting, stopping and the end condition touch every stage, and
the order of those steps is the point; reading them in one place is how shutdown stays right.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import signals
from .admission import Admission
from .crawler import spider_signals
from .downloadermw import DownloaderMiddlewares
from .errors import CloseSpider, OutputError, SpiderLoadError
from .exceptions import DontCloseSpider
from .export_stage import ExportStage, ItemKeys, PageOutput
from .failure import run_errback
from .failurelog import FailureLog
from .feed_spec import FeedSpec
from .feeds import FeedSet, URIParams, job_start_time
from .fetch import FetchOutcomes, FetchPool, fetch_policies
from .fetcher import Fetcher
from .guard import AddressGuard
from .httpcache import open_cache
from .lifecycle import Lifecycle
from .memory import process_tree, tree_memory
from .models import Request, Response
from .outages import OutageReport
from .parse import ParsePool
from .parse_stage import ParseStage
from .pipeline import Pipelines
from .queues import BoundedQueue, QueueStats
from .settings import Settings
from .spider import Spider, iterate_start
from .spidermw import SpiderMiddlewares
from .stats import Stats, WorkCounts
from .store import Clock, CrawlState, CrawlStore

log = logging.getLogger("scraper.engine")

TICK = 0.5  # seconds between the main thread's checks (and progress lines) at most


@dataclass(slots=True)
class CrawlResult:
    reason: str  # "finished", "shutdown", "closespider_itemcount", ...
    stats: Stats
    output: Path
    failures: Path
    queued_left: int  # requests still in the frontier (non-zero after a graceful stop)
    response_queue: QueueStats
    item_queue: QueueStats
    fatal: str | None = None  # an error that ended the crawl early (e.g. output not writable)
    outages: list[OutageReport] = field(default_factory=list)  # hosts found unreachable

    @property
    def hosts_given_up(self) -> list[OutageReport]:
        """Hosts this run gave up on, their requests left unfetched."""
        return [outage for outage in self.outages if outage.given_up]


class Crawl:
    def __init__(
        self,
        spider: Spider,
        *,
        spider_path: str,
        spider_args: dict[str, Any],
        settings: Settings,
        store: CrawlStore,
        stats: Stats | None = None,
        output: Path | None = None,
        append: bool = False,
        feeds: list[FeedSpec] | None = None,
        jobdir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.monotonic,
        on_tick: Callable[[Crawl], None] | None = None,
    ) -> None:
        self.spider = spider
        self.settings = settings
        self.jobdir = jobdir
        # -o/-O and FEEDS (build.build_crawl), else ``output`` alone; the first feed's file is
        # the one the summary names and the failures file sits beside.
        specs = feeds or [
            FeedSpec.from_cli(str(output or f"output/{spider.name}.jsonl"), overwrite=not append)
        ]
        feed_params = URIParams(spider, job_start_time(jobdir))
        self.output = output = feed_params.render(specs[0].uri)
        self.stats = stats or Stats()
        self.work = WorkCounts()
        self._on_tick = on_tick  # the CLI's progress line
        self.lifecycle = Lifecycle(on_stop=lambda: self.fetch_pool.stop())
        self._clock = clock
        spider.settings = settings

        # The store the settings ask for (build.open_store: memory, job folder or Redis): the
        # engine never asks which one it has.
        self.store = store
        # A store that outlasts the run keeps the items too, written before each ack.
        self.journal = self.store.item_journal(output)
        self.feeds = FeedSet.open(specs, feed_params, journaled=self.journal is not None)
        spider.crawl_state = CrawlState(self.store)
        if self.journal is not None:
            # -o with a journal: the output is rewritten from the journal at the end, after
            # what it held before the job began (kept once, so a resume does not keep it twice).
            self.feeds.keep_existing(spider.crawl_state, self.journal.path.parent)
        self.failures = FailureLog(
            output, append=self.journal is not None, stats=self.stats, on_fatal=self.lifecycle.fail
        )
        self.admission = Admission(spider, settings, self.stats, self.failures)
        self.item_keys = ItemKeys(spider)
        self.pipelines = Pipelines(settings, spider)
        self.responses: BoundedQueue[Response] = BoundedQueue(
            settings.RESPONSE_QUEUE_SIZE, settings.RESPONSE_QUEUE_BYTES
        )
        self.items: BoundedQueue[PageOutput] = BoundedQueue(settings.ITEM_QUEUE_SIZE)
        self.guard = AddressGuard.from_settings(settings)
        self.fetcher = Fetcher.from_settings(
            settings,
            transport,
            guard=self.guard,
            on_send=self.store.mark_sent,
            on_sent=self.store.sent,
        )
        self.cache = open_cache(settings, spider.name, self.stats)
        self.spider_middlewares = SpiderMiddlewares.from_settings(settings, spider)
        self.parse_pool = ParsePool(
            spider=spider,
            spider_path=spider_path,
            spider_args=spider_args,
            settings=settings,
            middlewares=self.spider_middlewares,
        )
        # Downloader middlewares take the lock of the main process's spider code (see
        # downloadermw.py): the fetch threads call them one at a time.
        middlewares = DownloaderMiddlewares.from_settings(settings, spider, self.parse_pool.serial)
        self.fetch_pool = FetchPool(
            threads=settings.CONCURRENT_REQUESTS,
            frontier=self.store,
            fetcher=self.fetcher,
            policies=fetch_policies(
                settings, self.fetcher, self.cache, self.stats, clock, middlewares=middlewares
            ),
            outcomes=FetchOutcomes(
                accept_status=self._accept_status,
                failed=self.request_failed,
                redirected=self._redirected,
                rescheduled=self._rescheduled,
                parse_here=lambda response: self.parse_stage.run_here(response),
                fatal=self.lifecycle.store_failed,
            ),
            responses=self.responses,
            work=self.work,
            stats=self.stats,
            clock=clock,
        )
        self.parse_stage = ParseStage(
            pool=self.parse_pool,
            responses=self.responses,
            items=self.items,
            store=self.store,
            spider=spider,
            settings=settings,
            stats=self.stats,
            work=self.work,
            admission=self.admission,
            item_keys=self.item_keys,
            failures=self.failures,
            lifecycle=self.lifecycle,
            request_failed=self.request_failed,
        )
        self.export = ExportStage(
            items=self.items,
            pipelines=self.pipelines,
            journal=self.journal,
            feeds=self.feeds,
            store=self.store,
            settings=settings,
            stats=self.stats,
            work=self.work,
            lifecycle=self.lifecycle,
        )

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> CrawlResult:
        stages = {
            "parse-feed": self.parse_stage.feed,
            "parse-results": self.parse_stage.collect,
            "export": self.export.run,
        }
        threads = [
            threading.Thread(target=self.lifecycle.guard(run, name), name=name, daemon=True)
            for name, run in stages.items()
        ]
        try:
            self.parse_pool.start()
            self.pipelines.open()
            for thread in threads:
                thread.start()
            self._seed()
            self.fetch_pool.start()
            self.parse_pool.wait_started()  # the workers started while the first pages came
            self._wait_until_done()
        finally:
            self._shutdown(threads)
        return CrawlResult(
            reason=self.lifecycle.reason or "finished",
            stats=self.stats,
            output=self.output,
            failures=self.failures.path,
            queued_left=self.store.queued,
            response_queue=self.responses.stats,
            item_queue=self.items.stats,
            fatal=self.lifecycle.fatal,
            outages=self.fetch_pool.outages.reports(self._clock()),
        )

    def _seed(self) -> None:
        # On resume (or when another worker of a shared crawl seeds) the start requests are
        # in the store already (or done); the spider's start_requests still runs, for
        # whatever it sets up.
        seeding = self.store.claim_seeding()
        if not seeding and self.store.durable:
            log.info("resuming from %s: %d requests to do", self.jobdir, self.store.resumed)
        start_hosts = set()
        for request in self._start_requests():
            start_hosts.add(request.host)
            if seeding:
                request.meta.setdefault("depth", 0)  # a start page's depth, as Scrapy's
                self.store.add_many(self.admission.admit([request], None, start=True))
        self.guard.settle(start_hosts)
        if seeding:
            self.store.finish_seeding()

    def _start_requests(self) -> Iterator[Request]:
        """The spider's start requests (through the spider middlewares' ``process_start``).
        Whatever the spider's code raises (a bad URL, a missing argument, a bug) is one
        SpiderLoadError: one line for the user, the traceback at DEBUG. Errors of the
        scheduling in between are not the spider's, and pass through as they are.
        """
        middlewares = self.spider_middlewares
        try:
            start: Iterable[Any] = iterate_start(self.spider)
            if middlewares is not None and middlewares.changes_start:
                start = middlewares.start(start)
            for request in start:
                if not isinstance(request, Request):
                    raise TypeError(f"yielded {request!r}, not a Request")
                yield request
        except Exception as exc:
            log.debug("start_requests of spider %r failed", self.spider.name, exc_info=True)
            raise SpiderLoadError(f"start_requests failed: {type(exc).__name__}: {exc}") from exc

    def stop(self, reason: str) -> None:
        """Graceful stop: no new fetches; what is in flight runs to the end of the flow."""
        self.lifecycle.stop(reason)

    def schedule(self, request: Request) -> None:
        """``crawler.engine.crawl(request)``: queue a request from outside a callback (a
        ``spider_idle`` handler), through admission and the duplicate check."""
        self.store.add_many(self.admission.admit([request], None))

    def _kept_open(self) -> bool:
        """Nothing is left to do: send ``spider_idle``. True if a handler keeps the crawl
        open, by scheduling requests (``crawler.engine.crawl``) or raising DontCloseSpider;
        a handler's CloseSpider stops it with its reason."""
        crawl_signals = spider_signals(self.spider)
        if crawl_signals is None or self.lifecycle.stopped.is_set():
            return False
        with self.parse_pool.serial:  # spider code: one at a time (see ParsePool.run_inline)
            answers = crawl_signals.send_catch_log(
                signals.spider_idle, dont_log=(DontCloseSpider, CloseSpider), spider=self.spider
            )
        for answer in answers:
            if isinstance(answer, CloseSpider):
                self.stop(answer.reason)
                return False
        return any(isinstance(a, DontCloseSpider) for a in answers) or not self.store.finished()

    def _drained(self) -> bool:
        if self.lifecycle.store_broken.is_set():
            return True
        if not self.lifecycle.stopped.is_set():
            if self.store.seeding_lapsed():  # the worker adding them died: take over
                self._seed()
            # Our own work first: in a shared crawl, a lease that expired while we held it is
            # no longer in the crawl's counts, but we still finish it (its ack is refused).
            return self._local_work_done() and self.store.finished()
        # Leasing has stopped, so the local counts only fall.
        return self._local_work_done()

    def _local_work_done(self) -> bool:
        # Read in flow order: a page enters a stage before it leaves the one before.
        return self.store.leased == 0 and self.work.idle()

    def _wait_until_done(self) -> None:
        stop_deadline: float | None = None
        while not self._drained() or self._kept_open():
            self.work.wait(TICK)
            if self.lifecycle.stopped.is_set():
                stop_deadline = stop_deadline or time.monotonic() + self.settings.SHUTDOWN_TIMEOUT
                if time.monotonic() > stop_deadline:
                    log.warning("in-flight work did not finish within SHUTDOWN_TIMEOUT")
                    break
            else:
                self._give_up_on_down_hosts()
            if self.parse_pool.kill_overdue(2 * self.settings.PARSE_TIMEOUT):
                self.stats.inc("parse_workers_killed")
            self._sample_memory()
            if self._on_tick is not None:
                self._on_tick(self)
        self._sample_memory()  # at least once, however short the crawl

    def _sample_memory(self) -> None:
        # The whole tree: the fork server and the resource tracker are the pool's cost too.
        pids = set(process_tree(os.getpid())) | set(self.parse_pool.pids())
        self.stats.observe_memory(tree_memory(pids))

    def _give_up_on_down_hosts(self) -> None:
        """With nothing left but hosts that cannot be reached, give up on those down past
        HOST_DOWN_TIMEOUT (HOST_UNREACHED_TIMEOUT if never reached) for this run. A worker of
        a shared crawl stops, leaving them queued for the workers that come later."""
        outages = self.fetch_pool.outages
        if not outages.any_down or not self._local_work_done():
            return
        now = self._clock()
        hosts_left = self.store.queued_hosts()
        if hosts_left is None:  # the queues are shared: only other workers could say
            if outages.give_up_all(now):
                self.stop("hosts_unreachable")
            return
        for host in outages.give_up(hosts_left, now):
            requests = self.store.park_host(host)
            cause = outages.given_up(host, len(requests), now)
            if not self.store.durable:  # a job folder keeps them for the next run
                for request in requests:
                    self.failures.record(request, "host_unreachable", f"not fetched: {cause}")

    def _shutdown(self, threads: list[threading.Thread]) -> None:
        # After a graceful drain every join returns at once; after a timed-out one they are
        # bounded, and work still in flight stays unacknowledged (a job folder redoes it).
        stopped = self.lifecycle.stopped.is_set()
        timeout = 2.0 if stopped else self.settings.SHUTDOWN_TIMEOUT
        feed, results, export = (t if t.ident is not None else None for t in threads)
        self.fetch_pool.stop()
        self.fetch_pool.join(timeout)
        self.responses.close()
        if feed:
            feed.join(timeout)
        self.parse_pool.shutdown(wait=not stopped or self.work.parsing == 0)
        self.parse_stage.end()
        if results:
            results.join(timeout)
        self.items.close()
        if export:
            export.join(timeout)
        self.fetcher.close()
        if self.cache is not None:
            self.cache.close()
        try:
            self._finalise()
        finally:
            self.stats.finished = time.monotonic()
            reason = self.lifecycle.reason or "finished"
            try:
                self.pipelines.close(reason)
            finally:
                self.spider.closed(reason)

    def _finalise(self) -> None:
        self.failures.close()
        if self.journal is None:
            try:
                self.feeds.close()
            except OutputError as exc:
                self.lifecycle.fail(str(exc))
        self.store.shutdown()  # hands back leases this process will not ack
        if self.journal is not None:
            self.journal.close()
            # Of many workers, the first to see the crawl finished merges every part.
            if self.store.claim_output():
                try:
                    self.stats.counters["items_in_output"] = self.journal.finalise(self.feeds)
                except OutputError as exc:
                    self.lifecycle.fail(str(exc))

    # -- settling requests that end without a page to parse ------------------------------------
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

    def request_failed(self, request: Request, kind: str, detail: str) -> None:
        """A request ended without a page to parse: record it, then acknowledge it."""
        if kind == "shutdown":  # not a failure: a store that outlasts the run redoes it
            return
        if kind == "ignored_request":  # a middleware's IgnoreRequest: on purpose, no failure
            self.stats.inc(kind)
        else:
            self.failures.record(request, kind, detail)
        if request.errback and self._errback(request, kind, detail):
            return  # its items go to the export stage, which acknowledges the request
        self.store.ack(request)
        self.work.change()  # settled: maybe the last one

    def _errback(self, request: Request, kind: str, detail: str) -> bool:
        """Run the request's errback (main process, one at a time with inline callbacks) and
        settle the request: acknowledged with its new requests, or, with items, handed on to
        the export stage, which acknowledges it."""
        with self.parse_pool.serial:
            output = run_errback(self.spider, request, kind, detail)
        if output.error:
            log.error("errback %s failed on %s:\n%s", request.errback, request.url, output.error)
        children = self.admission.admit(output.requests, None)
        if not output.items:
            self.store.ack(request, children)
            self.work.change()
            return True
        self.work.change(exporting=1)
        self.items.put(PageOutput(request, self.item_keys.keyed(request, output.items), children))
        return True

    def _redirected(self, request: Request, target: Request) -> None:
        self.stats.inc("redirects")
        self._rescheduled(request, target)

    def _rescheduled(self, request: Request, target: Request) -> None:
        """``target`` replaces ``request``: a redirect's, or a downloader middleware's."""
        self.store.ack(request, self.admission.admit([target], None))  # one step: never lost
        self.work.change()
