"""The engine: builds every stage, owns every thread and process, and ends the crawl.

    spider.start_requests -> frontier -> fetch threads -> response queue -> parse workers
          ^                                                                  |   |
          +-------------------- new requests (never blocks) ----------------+   v page output
                                          item queue -> pipelines -> exporter, then ack

Who runs what (all started by ``Crawl.run`` and stopped by it):
- the calling (main) thread seeds the start requests, then waits for the end, printing progress
  and killing parse workers stuck past the hard timeout;
- ``fetch-N`` threads (``FetchPool``): lease from the frontier, fetch, put on the response queue
  (blocks when full: backpressure), or settle the request (retry, redirect, failure). A page
  whose callback runs in the main process (``ParsePool.runs_inline``) never enters the queue:
  its fetch thread runs the callback (one at a time, see ``ParsePool.run_inline``) and hands
  it on;
- ``parse-feed``: takes responses off the queue and submits them to the parse pool, never more
  than ``ParsePool.capacity`` at once;
- ``parse-results``: hands each callback's output on: requests to the frontier (never blocks),
  the page's items to the item queue (blocks when full);
- ``export``: runs pipelines, writes items, then acknowledges their pages to the frontier
  (write before ack: with a job folder, a crash never loses an item);
- ``PARSE_WORKERS`` processes: run callbacks.

The crawl ends when ``WorkCounts`` says no request is open, or when all that is open belongs to
hosts down past HOST_DOWN_TIMEOUT, which are then given up for this run (``outages``).
Shutdown flows downstream: fetch threads stop and are joined, the response queue closes,
parse-feed ends, the pool drains, parse-results ends, the item queue closes, the exporter
flushes, the output is finalised. A graceful ``stop()`` (first Ctrl-C, CLOSESPIDER_*) stops
leasing and lets in-flight work reach the end of the flow, for at most SHUTDOWN_TIMEOUT
seconds. A job folder that cannot be written (``StoreError``) stops the crawl without waiting.
"""

from __future__ import annotations

import logging
import math
import queue
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import signals
from .auth import spider_auth
from .crawler import SignalManager
from .errors import (
    DropItem,
    OutputError,
    QueueClosed,
    SettingsError,
    SpiderLoadError,
    StoreError,
)
from .export import JsonLinesExporter
from .failure import run_errback
from .feeds import FeedSet, FeedSpec, URIParams, job_start_time
from .fetch import FetchOutcomes, FetchPool, fetch_policies
from .fetcher import Fetcher
from .frontier import Clock, CrawlState, Frontier, MemoryFrontier
from .guard import AddressGuard
from .httpcache import open_cache
from .item import as_dict, item_adapter
from .jobdir import ItemJournal, SQLiteFrontier
from .models import Request, Response, url_problem
from .outages import OutageReport
from .parse import ParsePool, ParseResult
from .pipeline import Pipelines
from .queues import BoundedQueue, QueueStats
from .redact import redact_text, redact_url
from .settings import Settings
from .spider import Spider, iterate_start
from .stats import Stats, WorkCounts

if TYPE_CHECKING:
    from .distributed import RedisFrontier

log = logging.getLogger("scraper.engine")

PARSE_FAILURES = frozenset({"worker_died", "worker_memory", "parse_timeout", "parse_error"})
EXPORT_BATCH = 200  # pages written per batch at most
PROGRESS_INTERVAL = 0.5


@dataclass(slots=True)
class PageOutput:
    """What one parsed page hands to the export stage: its items, keyed, and its request."""

    request: Request
    items: list[tuple[str, dict[str, Any]]]
    children: list[Request] = field(default_factory=list)  # queued with the ack (shared frontier)


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


def _attempts(request: Request, kind: str) -> int:
    """How often the step that failed was tried: parse runs, robots.txt checks, or fetches."""
    if kind in PARSE_FAILURES:
        return int(request.meta.get("parse_attempts", 1))
    if kind.startswith("robots_"):  # never fetched: asked robots.txt, waited, asked again
        return int(request.meta.get("robots_waits", 0)) + 1
    return request.attempts


def failures_path(output: Path) -> Path:
    """``output/news.jsonl`` -> ``output/news.failures.jsonl``."""
    return output.with_name(f"{output.stem}.failures.jsonl")


class Crawl:
    def __init__(
        self,
        spider: Spider,
        *,
        spider_path: str,
        spider_args: dict[str, Any],
        settings: Settings,
        output: Path | None = None,
        append: bool = False,
        feeds: list[FeedSpec] | None = None,
        jobdir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.monotonic,
        progress: bool = False,
    ) -> None:
        self.spider = spider
        self.settings = settings
        self.jobdir = jobdir
        # -o/-O and FEEDS (cli.build_crawl), else ``output`` alone; the first feed's file is
        # the one the summary names and the failures file sits beside.
        specs = feeds or [
            FeedSpec.from_cli(str(output or f"output/{spider.name}.jsonl"), overwrite=not append)
        ]
        feed_params = URIParams(spider, job_start_time(jobdir))
        self.output = output = feed_params.render(specs[0].uri)
        self.stats = Stats()
        self.work = WorkCounts()
        self._progress = progress
        self._reason: str | None = None
        self._fatal: str | None = None
        self._stopped = threading.Event()
        self._store_broken = threading.Event()
        self._clock = clock
        spider.settings = settings

        frontier_options: dict[str, Any] = {
            "concurrency_per_host": settings.CONCURRENT_REQUESTS_PER_DOMAIN,
            "delay": settings.host_delay,
            "randomize_delay": settings.RANDOMIZE_DOWNLOAD_DELAY,
            "depth_limit": settings.DEPTH_LIMIT,
            "lifo": settings.FRONTIER_ORDER == "lifo",
            "throttle_start": (
                max(settings.AUTOTHROTTLE_START_DELAY, settings.host_delay)
                if settings.AUTOTHROTTLE_ENABLED
                else 0.0
            ),
            "clock": clock,
        }
        self.journal: ItemJournal | None = None
        self.frontier: Frontier
        self.exporter: FeedSet | None = None
        self.shared: RedisFrontier | None = None  # the frontier, when many processes share it
        if settings.FRONTIER_URL:
            if jobdir is not None:
                raise SettingsError(
                    "--jobdir and FRONTIER_URL exclude each other: with a shared "
                    "frontier the crawl's state lives in Redis"
                )
            # Many processes, one crawl: Redis holds the frontier, each writes its own part.
            # Imported here: the Redis client alone adds 8 MB to every crawl's memory.
            from .distributed import PartJournal, RedisFrontier

            self.frontier = self.shared = RedisFrontier(
                settings.FRONTIER_URL,
                settings.CRAWL_NAME or spider.name,
                lease_timeout=settings.REDIS_LEASE_TIMEOUT,
                max_lease_expiries=settings.REDIS_MAX_LEASE_EXPIRIES,
                retry_timeout=settings.REDIS_RETRY_TIMEOUT,
                ca_certs=settings.REDIS_SSL_CA_CERTS,
                stats=self.stats,
                **frontier_options,
            )
            self.journal = PartJournal(output, self.shared)
        elif jobdir is not None:
            jobdir.mkdir(parents=True, exist_ok=True)
            self.frontier = SQLiteFrontier(jobdir / "frontier.sqlite", **frontier_options)
            self.journal = ItemJournal(jobdir / "items.jsonl")
        else:
            self.frontier = MemoryFrontier(**frontier_options)
        self.feeds = FeedSet.open(specs, feed_params, journaled=self.journal is not None)
        spider.crawl_state = CrawlState(self.frontier)
        if self.journal is None:
            self.exporter = self.feeds
        else:
            # -o with a journal: the output is rewritten from the journal at the end, after
            # what it held before the job began (kept once, so a resume does not keep it twice).
            self.feeds.keep_existing(spider.crawl_state, self.journal.path.parent)
        self.failures = JsonLinesExporter(failures_path(output), append=self.journal is not None)
        self._failures_lock = threading.Lock()
        self.pipelines = Pipelines(settings, spider)
        self.responses: BoundedQueue[Response] = BoundedQueue(
            settings.RESPONSE_QUEUE_SIZE, settings.RESPONSE_QUEUE_BYTES
        )
        self.items: BoundedQueue[PageOutput] = BoundedQueue(settings.ITEM_QUEUE_SIZE)
        self.guard = AddressGuard.from_settings(settings)
        self.fetcher = Fetcher.from_settings(
            settings, transport, guard=self.guard, on_send=self.frontier.mark_sent
        )
        self.cache = open_cache(settings, spider.name, self.stats)
        self.fetch_pool = FetchPool(
            threads=settings.CONCURRENT_REQUESTS,
            frontier=self.frontier,
            fetcher=self.fetcher,
            policies=fetch_policies(settings, self.fetcher, self.cache, self.stats, clock),
            outcomes=FetchOutcomes(
                accept_status=self._accept_status,
                failed=self._request_failed,
                redirected=self._redirected,
                parse_here=self._parse_here,
                fatal=self._store_failed,
            ),
            responses=self.responses,
            work=self.work,
            stats=self.stats,
            clock=clock,
        )
        self.parse_pool = ParsePool(
            spider=spider, spider_path=spider_path, spider_args=spider_args, settings=settings
        )
        self._results: queue.SimpleQueue[tuple[Response, Future[ParseResult], int, object] | None]
        self._results = queue.SimpleQueue()
        self._parse_slots = threading.Semaphore(self.parse_pool.capacity)
        self._allowed = tuple(
            d.lower().lstrip(".") for d in (*spider.allowed_domains, *settings.ALLOWED_DOMAINS)
        )
        self._item_key = getattr(spider, "item_key", None)
        self._auth = spider_auth(spider)
        self._state_warned = False
        crawler = getattr(spider, "crawler", None)
        self._signals: SignalManager | None = crawler.signals if crawler is not None else None

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
            self._seed()
            self.fetch_pool.start()
            self.parse_pool.wait_started()  # the workers started while the first pages came
            self._wait_until_done()
        finally:
            self._shutdown(threads)
        return CrawlResult(
            reason=self._reason or "finished",
            stats=self.stats,
            output=self.output,
            failures=failures_path(self.output),
            queued_left=self.frontier.queued,
            response_queue=self.responses.stats,
            item_queue=self.items.stats,
            fatal=self._fatal,
            outages=self.fetch_pool.outages.reports(self._clock()),
        )

    def _seed(self) -> None:
        resumed = False
        if isinstance(self.frontier, SQLiteFrontier):
            # Requests saved by an earlier run are open work from the start.
            self.work.change(requests=self.frontier.resumed)
            resumed = bool(self.frontier.get_meta("seeded"))
            if resumed:
                log.info("resuming from %s: %d requests to do", self.jobdir, self.frontier.resumed)
        elif self.shared is not None:
            resumed = not self.shared.claim_seeding()  # the first worker of the crawl seeds
        start_hosts = set()
        for request in self._start_requests():
            start_hosts.add(request.host)
            # On resume the start requests are already in the saved frontier (or done);
            # the spider's start_requests still runs, for whatever it sets up.
            if not resumed:
                request.meta.setdefault("depth", 0)  # a start page's depth, as Scrapy's
                self.schedule(request, start=True)
        self.guard.settle(start_hosts)
        if isinstance(self.frontier, SQLiteFrontier):
            self.frontier.set_meta("seeded", "1")
        elif self.shared is not None and not resumed:
            self.shared.finish_seeding()

    def _start_requests(self) -> Iterator[Request]:
        """The spider's start requests. Whatever the spider's code raises (a bad URL, a missing
        argument, a bug) is one SpiderLoadError: one line for the user, the traceback at DEBUG.
        Errors of the scheduling in between are not the spider's, and pass through as they are.
        """
        try:
            for request in iterate_start(self.spider):
                if not isinstance(request, Request):
                    raise TypeError(f"yielded {request!r}, not a Request")
                yield request
        except Exception as exc:
            log.debug("start_requests of spider %r failed", self.spider.name, exc_info=True)
            raise SpiderLoadError(f"start_requests failed: {type(exc).__name__}: {exc}") from exc

    def stop(self, reason: str) -> None:
        """Graceful stop: no new fetches; what is in flight runs to the end of the flow."""
        if self._reason is None:
            self._reason = reason
            log.info("stopping (%s): finishing in-flight work", reason)
        self._stopped.set()
        self.fetch_pool.stop()

    def _store_failed(self, error: StoreError) -> None:
        """The job folder cannot be written: stop at once. Nothing more can be acknowledged,
        so waiting for in-flight work would only wait; a resume redoes it."""
        self._fatal = self._fatal or str(error)
        self._store_broken.set()
        self.stop("store_error")

    def _drained(self) -> bool:
        if self._store_broken.is_set():
            return True
        if not self._stopped.is_set():
            if self.shared is not None:
                if self.shared.seeding_lapsed():  # the worker adding them died: take over
                    self._seed()
                # Done when the whole crawl is: other workers' leases may yet add work here.
                # Our own work first: a lease that expired while we held it is no longer in
                # the crawl's counts, but we still finish it (its ack will be refused).
                return self._local_work_done() and self.shared.finished()
            return self.work.finished()
        # Leasing has stopped, so the local counts only fall.
        return self._local_work_done()

    def _local_work_done(self) -> bool:
        # Read in flow order: a page enters a stage before it leaves the one before.
        return self.frontier.leased == 0 and self.work.parsing == 0 and self.work.exporting == 0

    def _wait_until_done(self) -> None:
        last = 0.0
        stop_deadline: float | None = None
        while not self._drained():
            self.work.wait(PROGRESS_INTERVAL)
            if self._stopped.is_set():
                stop_deadline = stop_deadline or time.monotonic() + self.settings.SHUTDOWN_TIMEOUT
                if time.monotonic() > stop_deadline:
                    log.warning("in-flight work did not finish within SHUTDOWN_TIMEOUT")
                    break
            else:
                self._give_up_on_down_hosts()
            if self.parse_pool.kill_overdue(2 * self.settings.PARSE_TIMEOUT):
                self.stats.inc("parse_workers_killed")
            if self._progress and time.monotonic() - last >= PROGRESS_INTERVAL:
                last = time.monotonic()
                self._print_progress()
        if self._progress:
            sys.stderr.write("\r\x1b[K")

    def _give_up_on_down_hosts(self) -> None:
        """With nothing left but hosts that cannot be reached, give up on those down past
        HOST_DOWN_TIMEOUT for this run. A worker of a shared crawl stops, leaving them queued
        in Redis for the workers that come later."""
        frontier = self.frontier
        outages = self.fetch_pool.outages
        if not outages.any_down or not self._local_work_done():
            return
        now = self._clock()
        if not isinstance(frontier, MemoryFrontier):
            if outages.give_up_all(now):
                self.stop("hosts_unreachable")
            return
        for host in outages.give_up(frontier.queued_hosts(), now):
            requests = frontier.park_host(host)
            cause = outages.given_up(host, len(requests), now)
            for request in requests:
                # Kept by a job folder for the next run (not acknowledged); else a failure.
                if self.jobdir is None:
                    self._record_failure(request, "host_unreachable", f"not fetched: {cause}")
                self.work.change(requests=-1)

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
        # After a graceful drain every join returns at once; after a timed-out one they are
        # bounded, and work still in flight stays unacknowledged (a job folder redoes it).
        timeout = 2.0 if self._stopped.is_set() else self.settings.SHUTDOWN_TIMEOUT
        feed, results, export = (t if t.ident is not None else None for t in threads)
        self.fetch_pool.stop()
        self.fetch_pool.join(timeout)
        self.responses.close()
        if feed:
            feed.join(timeout)
        self.parse_pool.shutdown(wait=not self._stopped.is_set() or self.work.parsing == 0)
        self._results.put(None)
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
            try:
                self.pipelines.close(self._reason or "finished")
            finally:
                self.spider.closed(self._reason or "finished")

    def _finalise(self) -> None:
        self.failures.close()
        if self.exporter is not None:
            try:
                self.exporter.close()
            except OutputError as exc:
                self._fatal = self._fatal or str(exc)
        if self.shared is not None:
            self.shared.shutdown()  # hands back leases this worker will not ack
        if self.journal is not None:
            self.journal.close()
            # Of many workers, the first to see the crawl finished merges every part.
            if self.shared is None or self.shared.claim_merge():
                try:
                    self.stats.counters["items_in_output"] = self.journal.finalise(self.feeds)
                except OutputError as exc:
                    self._fatal = self._fatal or str(exc)
        if isinstance(self.frontier, SQLiteFrontier):
            self.frontier.shutdown()

    # -- scheduling (the upward edge: never blocks) -------------------------------------------
    def schedule(
        self, request: Request, parent: Response | None = None, *, start: bool = False
    ) -> bool:
        return self.schedule_all([request], parent, start=start) == 1

    def schedule_all(
        self, requests: list[Request], parent: Response | None = None, *, start: bool = False
    ) -> int:
        """Queue ``requests`` (``parent``'s links, if given); returns how many were new."""
        # Open the work first so a fast failure elsewhere cannot make the count touch zero;
        # once for all of a page's links, then settle what the frontier did not take.
        self.work.change(requests=len(requests))
        admitted = self._admit(requests, parent, start=start)
        if self._signals is not None:  # as Scrapy: sent before the duplicate check
            for request in admitted:
                self._signals.send(signals.request_scheduled, request=request, spider=self.spider)
        taken = sum(self.frontier.add(request) for request in admitted)
        if taken != len(requests):
            self.work.change(requests=taken - len(requests))
        return taken

    def _admit(
        self, requests: list[Request], parent: Response | None, *, start: bool = False
    ) -> list[Request]:
        """``requests`` (``parent``'s links, if given) less those never to crawl: counted as
        filtered, or, for a URL no request can go to and for a start request, failures."""
        admitted = []
        for request in requests:
            if self._auth is not None:
                self._auth.apply(request)
            if parent is not None:
                request.meta["depth"] = parent.request.depth + 1
                request.meta.setdefault("referer", parent.url)
                request.headers.setdefault("Referer", parent.url)
            refused = self._refuse(request)
            if refused is None:
                admitted.append(request)
            elif refused[0] == "invalid_url" or start:
                # A start URL the user asked for is never silently dropped.
                kind, detail = refused
                kind = "unsupported_scheme" if kind == "scheme_filtered" else kind
                log.log(
                    logging.WARNING if start else logging.DEBUG,
                    "not crawling %s: %s (%s)",
                    request.url[:200],
                    kind,
                    detail,
                )
                self._record_failure(request, kind, detail)
            else:
                self.stats.inc(refused[0])
        return admitted

    def _refuse(self, request: Request) -> tuple[str, str] | None:
        """Why a request is not crawled at all (reason, detail), or None."""
        if not request.url.startswith(("http://", "https://")):
            return "scheme_filtered", f"scheme {request.url.split(':', 1)[0]!r} is not http(s)"
        limit = self.settings.URLLENGTH_LIMIT
        if limit and len(request.url) > limit:
            return "url_too_long", f"{len(request.url)} characters, over URLLENGTH_LIMIT"
        problem = url_problem(request.url)
        if problem is not None:
            return "invalid_url", problem
        # As Scrapy's offsite check: dont_filter (every start URL) and allow_offsite exempt.
        exempt = request.dont_filter or request.meta.get("allow_offsite")
        if self._allowed and not exempt and not self._on_site(request.host):
            return "offsite_filtered", f"{request.host} is not in the allowed domains"
        return None

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

    def _request_failed(self, request: Request, kind: str, detail: str) -> None:
        """A request ended without a page to parse: record it, then acknowledge it."""
        if kind != "shutdown":  # not a failure: a job folder will redo it
            self._record_failure(request, kind, detail)
            if request.errback and self._errback(request, kind, detail):
                return  # its items go to the export stage, which acknowledges the request
            self.frontier.ack(request)
        self.work.change(requests=-1)

    def _errback(self, request: Request, kind: str, detail: str) -> bool:
        """Run the request's errback (main process, one at a time with inline callbacks);
        True if it yielded items, handed on with the request to the export stage."""
        with self.parse_pool.serial:
            output = run_errback(self.spider, request, kind, detail)
        if output.error:
            log.error("errback %s failed on %s:\n%s", request.errback, request.url, output.error)
        self.schedule_all(output.requests)
        if not output.items:
            return False
        prefix = request.fingerprint().hex()[:20]
        keyed = [(self._key(prefix, i, item), item) for i, item in enumerate(output.items)]
        self.work.change(exporting=1)
        self.items.put(PageOutput(request, keyed, []))
        return True

    def _record_failure(self, request: Request, kind: str, detail: str) -> None:
        """One line in the failures file, and the summary's count of its kind: every failure
        passes here, so the two always agree. A failures file that cannot be written is fatal."""
        self.stats.error(kind)
        referer = request.meta.get("referer")
        record = {  # passwords in URLs (and any credential a detail quotes) masked
            "url": redact_url(request.url),
            "reason": kind,
            "detail": redact_text(detail[:500]),
            "attempts": _attempts(request, kind),
            "referer": redact_url(referer) if isinstance(referer, str) else referer,
        }
        if "redirect_urls" in request.meta:  # where the chain began
            record["redirected_from"] = [redact_url(u) for u in request.meta["redirect_urls"]]
        if "retry_after" in request.meta:  # the server's last Retry-After, as it sent it
            record["retry_after"] = request.meta["retry_after"]
        with self._failures_lock:
            try:
                self.failures.write([record])
            except OutputError as exc:
                self._fatal = self._fatal or str(exc)
                self.stop("output_error")

    def _redirected(self, request: Request, target: Request) -> None:
        self.stats.inc("redirects")
        if self.shared is not None:  # queued by the ack itself, in one step
            self.shared.ack(request, self._admit([target], None))
        else:
            self.schedule(target)  # before the ack: the redirect must not be lost in between
            self.frontier.ack(request)
        self.work.change(requests=-1)

    # -- parse stage ----------------------------------------------------------------------------
    def _parse_here(self, response: Response) -> bool:
        """In a fetch thread: run a cheap callback right here, with no hand-off to another
        thread (a hand-off costs more than such a callback). False: the page goes to a worker.
        """
        if not self.parse_pool.runs_inline(response):
            return False
        result = self.parse_pool.run_inline(response)
        # At a hard shutdown the item queue is gone: QueueClosed ends this fetch thread, and the
        # page stays unacknowledged (a job folder fetches it again).
        self._hand_on(response, result)
        return True

    def _feed_parse(self) -> None:
        while True:
            try:
                response = self.responses.get()
            except QueueClosed:
                return
            self._parse_slots.acquire()
            try:
                self._submit(response)
            except SpiderLoadError:
                return  # the workers could not start: the main thread reports it and stops

    def _submit(self, response: Response) -> None:
        future, job, generation = self.parse_pool.submit(response)
        future.add_done_callback(lambda f: self._results.put((response, f, job, generation)))

    def _collect_results(self) -> None:
        while (entry := self._results.get()) is not None:
            response, future, job, generation = entry
            try:
                if self._parse_failed(response, future, job, generation):
                    continue  # resubmitted, still holding its slot, or recorded as failed
                self._hand_on(response, future.result())
            except QueueClosed:
                pass  # hard shutdown: the item queue is gone; the page stays unacknowledged
            except StoreError as exc:
                self._store_failed(exc)
            except Exception:  # a bug here must not leave the crawl waiting forever
                log.exception("error handling the output of %s", response.url)
                self.work.change(requests=-1, parsing=-1)
            self._parse_slots.release()

    def _parse_failed(
        self, response: Response, future: Future[ParseResult], job: int, generation: object
    ) -> bool:
        """Deal with a worker that died or a callback that timed out. True if handled here."""
        error = future.exception()
        timed_out = error is None and future.result().timed_out
        if error is None and not timed_out:
            return False
        if isinstance(error, BrokenProcessPool):
            dead = self.parse_pool.recover(generation)
            if job not in dead:  # an innocent bystander of another page's crash: run again
                self._submit(response)
                return True
            # Killed past twice PARSE_TIMEOUT (stuck where the alarm cannot reach): a timeout.
            if self.parse_pool.killed_overdue(job):
                kind = "parse_timeout"
            elif self.parse_pool.died_of_memory(job):
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
        if meta["parse_attempts"] <= self.settings.PARSE_RETRY_TIMES and kind != "parse_error":
            self.stats.inc("parse_retries")
            self._submit(response)
            return True
        log.error(
            "giving up on %s after %d parse attempts: %s",
            response.url,
            meta["parse_attempts"],
            kind,
        )
        self.work.change(parsing=-1)
        self._request_failed(response.request, kind, f"{kind} in a parse worker")
        self._parse_slots.release()
        return True

    def _hand_on(self, response: Response, result: ParseResult) -> None:
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
                spider=self.spider,
            )
        self.stats.parsed(result.pid, result.wall)
        if result.replaced_chars:
            self.stats.inc("decode_replacements", result.replaced_chars)
        if result.error:
            self._callback_failed(response, result.error)
        for kind in result.ignored:
            what = f"{kind} from {response.request.callback or 'parse'}"
            if self.stats.count("ignored_values", what) == 1:
                log.warning(
                    "callback yielded a %s on %s: neither an item nor a Request, ignored (the "
                    "items after it are kept; said once, counted in the summary)",
                    what,
                    response.url,
                )
        children: list[Request] = []
        if self.shared is not None:  # queued by the page's ack: a worker fenced out adds none
            children = self._admit(result.requests, response)
        else:
            self.schedule_all(result.requests, parent=response)
        prefix = response.request.fingerprint().hex()[:20]
        keyed = [(self._key(prefix, i, item), item) for i, item in enumerate(result.items)]
        self.work.change(parsing=-1, exporting=1)
        self.items.put(PageOutput(response.request, keyed, children))
        if result.close_reason:
            self.stop(result.close_reason)
        limit = self.settings.CLOSESPIDER_PAGECOUNT
        if limit and self.stats.counters["pages"] >= limit:
            self.stop("closespider_pagecount")

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
        seen = self.stats.count("callback_errors", key)
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
        self._record_failure(response.request, "callback_error", lines[-1])

    def _key(self, prefix: str, position: int, item: dict[str, Any]) -> str:
        """A stable item key: the spider's natural key field, else request and position."""
        fields = item if isinstance(item, dict) else item_adapter()(item)
        if self._item_key and (value := fields.get(self._item_key)) is not None:
            return f"{self._item_key}:{value}"
        return f"{prefix}:{position}"

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
            written = False
            try:
                written = self._write(batch)
            finally:
                for page in batch:
                    try:
                        if written and self.shared is not None:
                            self.shared.ack(page.request, page.children)
                        elif written:
                            self.frontier.ack(page.request)
                    except StoreError as exc:
                        self._store_failed(exc)
                        written = False  # not acknowledged: a resume redoes the rest
                    self.work.change(requests=-1, exporting=-1)

    def _write(self, batch: list[PageOutput]) -> bool:
        """Pipelines, then the exporter. False if the output could not be written."""
        kept: list[tuple[str, dict[str, Any]]] = []
        for page in batch:
            for key, item in page.items:
                try:
                    kept.append((key, as_dict(self.pipelines.process(item))))
                except DropItem as exc:
                    self.stats.inc("items_dropped")
                    log.debug("dropped item: %s", exc)
                except Exception:
                    self.stats.inc("pipeline_errors")  # an item, not a request: no failure line
                    log.exception("pipeline failed on an item; item dropped")
        if self._fatal:
            return False
        try:
            if self.journal is not None:
                self.journal.write(kept)
            elif self.exporter is not None and kept:
                self.exporter.write([item for _, item in kept])
        except OutputError as exc:
            self._fatal = str(exc)
            self.stop("output_error")
            return False
        self.stats.inc("items", len(kept))
        limit = self.settings.CLOSESPIDER_ITEMCOUNT
        if limit and self.stats.counters["items"] >= limit:
            self.stop("closespider_itemcount")
        return True
