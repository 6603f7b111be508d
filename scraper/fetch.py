"""The fetch stage: threads that turn leased requests into responses.

Flow position: frontier -> **fetch threads** -> response queue.

Fetching is waiting on the network, so it runs in ``CONCURRENT_REQUESTS`` threads of the main
process sharing one ``Fetcher`` (one connection pool, ``fetcher.py``). Each request goes
through the policies in turn, each answering with an outcome the thread acts on: the HTTP
cache, robots.txt (``robots.py``), the project's downloader middlewares (``downloadermw.py``:
``process_request``), the fetch, the retry policy (``retry.py``), then the redirect policy
(``redirect.py``), the middlewares again (``process_response`` or ``process_exception``) and
the spider's statuses. The engine builds the policies
(``fetch_policies``) and says where settled requests go (``FetchOutcomes``).

Nothing here sleeps to be polite or to back off: a retry goes back to the frontier with a
not-before time, and ``Retry-After`` pushes back the whole host there.

Threads: ``FetchPool`` owns its threads. Each loops ``frontier.next()`` -> fetch -> hand on, and
blocks only on the network, on ``frontier.wait`` when nothing is ready, and on the response
queue's ``put`` when parsing falls behind (backpressure). ``stop()`` ends the loops.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .downloadermw import DownloaderMiddlewares, Fail, Fetch, Outcome, Reschedule, Use
from .errors import FetchError, LeaseLost, QueueClosed, SettingsError, StoreError
from .fetcher import Fetcher
from .httpcache import CachedFetcher, HttpCache
from .models import Request, Response
from .outages import HostOutages, host_is_down
from .queues import BoundedQueue
from .redirect import Follow, RedirectPolicy, Refuse
from .retry import Final, GiveUp, Retry, RetryPolicy
from .robots import Allow, Defer, Drop, HostDown, RobotsCache
from .settings import Settings
from .stats import Stats, WorkCounts
from .store import Clock, CrawlStore, Lease, Wait
from .throttle import AutoThrottle

log = logging.getLogger("scraper.fetch")

IDLE_WAIT = 1.0  # seconds a thread waits for news when nothing is queued at all
# Seconds a thread may hold the GIL while another waits for it (Python's default: 0.005). A
# fetch thread holds it only between two waits on its socket, which hand it over anyway; the
# forced hand-offs on top, among sixteen and more threads, cost the main process CPU. On the
# light-page benchmark, limited by the main process, 1,170 -> 1,420 pages/s (0.01, 0.02 and
# 0.05 alike; 0.001 slower still); crawls limited by the network or by the workers unchanged.
GIL_SWITCH_INTERVAL = 0.01


def hand_the_gil_over_less_often() -> None:
    """Set the crawl process's GIL switch interval (GIL_SWITCH_INTERVAL). Called by the CLI:
    an application that embeds a crawl keeps its own."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


@dataclass(frozen=True, slots=True)
class FetchPolicies:
    """What decides a request's fate around its fetch; built by ``fetch_policies``."""

    retry: RetryPolicy
    redirect: RedirectPolicy
    outages: HostOutages  # hosts that cannot be reached; the engine reads it for the summary
    robots: RobotsCache | None = None  # None: ROBOTSTXT_OBEY off
    throttle: AutoThrottle | None = None  # None: AUTOTHROTTLE_ENABLED off
    cache: HttpCache | None = None  # None: HTTPCACHE_ENABLED off
    middlewares: DownloaderMiddlewares | None = None  # None: no DOWNLOADER_MIDDLEWARES


def fetch_policies(
    settings: Settings,
    fetcher: Fetcher,
    cache: HttpCache | None,
    stats: Stats,
    clock: Clock = time.monotonic,
    wall_clock: Clock = time.time,  # for Retry-After's HTTP-date form only
    middlewares: DownloaderMiddlewares | None = None,
) -> FetchPolicies:
    """The crawl's fetch policies, from its settings."""
    outages = HostOutages(
        settings.RETRY_BACKOFF_BASE,
        settings.HOST_DOWN_BACKOFF_MAX,
        settings.HOST_DOWN_TIMEOUT,
        settings.HOST_UNREACHED_TIMEOUT,
    )
    robots = None
    if settings.ROBOTSTXT_OBEY:
        robots = RobotsCache(
            fetcher if cache is None else CachedFetcher(fetcher.fetch, cache),
            settings.USER_AGENT,
            clock,
            retry_delay=settings.ROBOTSTXT_RETRY_DELAY,
            retry_times=settings.ROBOTSTXT_RETRY_TIMES,
            crawl_delay_max=settings.ROBOTSTXT_CRAWL_DELAY_MAX,
            outages=outages,
            stats=stats,
        )
    return FetchPolicies(
        retry=RetryPolicy.from_settings(settings, wall_clock),
        redirect=RedirectPolicy.from_settings(settings),
        outages=outages,
        robots=robots,
        throttle=AutoThrottle(settings) if settings.AUTOTHROTTLE_ENABLED else None,
        cache=cache,
        middlewares=middlewares,
    )


@dataclass(frozen=True, slots=True)
class FetchOutcomes:
    """Where the fetch stage hands what it settles (the engine's side).

    ``accept_status`` says whether the spider takes a status; ``failed`` records a request
    given up (its failure kind and detail); ``redirected`` queues a redirect's target and
    ``rescheduled`` a request a downloader middleware returned in place of the one in hand;
    ``parse_here`` may parse a response in this thread instead of queueing it (True if it
    did); ``fatal`` hears of a store that failed (without it, the error ends the thread).
    """

    accept_status: Callable[[Request, int], bool]
    failed: Callable[[Request, str, str], None]
    redirected: Callable[[Request, Request], None]
    rescheduled: Callable[[Request, Request], None]
    parse_here: Callable[[Response], bool] | None = None
    fatal: Callable[[StoreError], None] | None = None


class FetchPool:
    """The fetch threads. Owned by the engine; they stop when ``stop()`` is called."""

    def __init__(
        self,
        *,
        threads: int,
        frontier: CrawlStore,
        fetcher: Fetcher,
        policies: FetchPolicies,
        outcomes: FetchOutcomes,
        responses: BoundedQueue[Response],
        work: WorkCounts,
        stats: Stats,
        clock: Clock = time.monotonic,
    ) -> None:
        self.threads = threads
        self.frontier = frontier
        self.fetcher = fetcher
        self.policies = policies
        self.outcomes = outcomes
        self.responses = responses
        self.work = work
        self.stats = stats
        self.clock = clock
        self.outages = policies.outages
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"fetch-{i}", daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # the system's thread or memory limit
                self.stop()
                raise SettingsError(
                    f"cannot start {self.threads} fetch threads "
                    f"(CONCURRENT_REQUESTS): the system refused thread {i + 1}: {exc}"
                ) from None
            self._threads.append(thread)

    def stop(self) -> None:
        """Ask the threads to finish the request in hand and exit; does not wait."""
        self._stop.set()
        self.frontier.close()  # wakes threads waiting for work

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                match self.frontier.next():
                    case Lease(request):
                        self._settle(request)
                    case Wait(seconds):
                        # Requests are queued but no host can take one more yet (its delay or
                        # its concurrency cap): for the summary's verdict, politeness sets
                        # the pace.
                        began = self.clock()
                        self.frontier.wait(seconds)
                        self.stats.held_by_politeness(self.clock() - began)
                    case _:
                        # Requests queued now wait for a host below its concurrency limit:
                        # politeness too. Asked before the wait: a thread that waited for the
                        # first pages to be parsed was idle, whatever is queued when it wakes.
                        held = self.frontier.queued > 0
                        began = self.clock()
                        self.frontier.wait(IDLE_WAIT)
                        if held:
                            self.stats.held_by_politeness(self.clock() - began)
        except QueueClosed:
            return
        except StoreError as exc:  # the job folder failed: nothing more can be kept track of
            if self.outcomes.fatal is None:
                raise
            self.outcomes.fatal(exc)

    def _settle(self, request: Request) -> None:
        try:
            self.process(request)
        except (QueueClosed, StoreError):
            raise
        except Exception:  # a bug here must not silently lose the request
            log.exception("fetch thread error on %s", request.url)
            self._fail(request, "internal_error", "see the log")

    def process(self, request: Request) -> None:
        """Fetch one leased request and settle it: hand on, retry later, or fail."""
        cache = self.policies.cache
        if cache is not None:  # a hit: no robots.txt, no network, no politeness delay
            cached = cache.lookup(request)
            if cached is not None:
                self.frontier.give_back_turn(request)
                if not self._middlewares_settled(request):
                    self._settle_response(request, cached)
                return
        if self.policies.robots is not None and not self._robots_allow(request):
            return
        if self._middlewares_settled(request):
            return
        request.attempts += 1
        started = self.clock()
        response: Response | None = None
        error: FetchError | None = None
        try:
            if cache is not None:
                response = cache.fetch(self.fetcher.fetch, request)
            else:
                response = self.fetcher.fetch(request)
        except FetchError as exc:
            error = exc
        except LeaseLost as exc:
            # Another worker fetches it now; it owns the request's outcome.
            log.warning("%s", exc)
            self.stats.inc("leases_lost")
            self.work.change()  # settled by whoever holds it now
            return
        now = self.clock()
        self._observe(request, response, started, now)
        if error is not None and host_is_down(error):
            request.attempts -= 1  # the host's fault, not the URL's: no retry used up
            self._wait_for_host(request, str(error), now)
            return
        retry_after = self._host_pushback(request, response, now)
        match self.policies.retry.outcome(request.attempts, response, error, now, retry_after):
            case Retry(at):
                self.stats.inc("retries")
                self.frontier.release(request, retry_at=at)
                return
            case GiveUp():
                self.stats.inc("retries_exhausted")
            case Final():
                pass
        if error is not None:
            middlewares = self.policies.middlewares
            outcome = (
                Fail(error.kind, str(error))
                if middlewares is None
                else middlewares.on_exception(request, error)
            )
            if outcome == Fail(error.kind, str(error)):  # no middleware handled it
                log.warning(
                    "failed %s after %d attempt(s): %s", request.url, request.attempts, error
                )
            self._act_on(request, outcome)
        elif response is not None:
            self._settle_response(request, response)

    def _middlewares_settled(self, request: Request) -> bool:
        """Run ``process_request``; True if a middleware settled the request (a response of
        its own, a request in its place, or IgnoreRequest): nothing is downloaded."""
        middlewares = self.policies.middlewares
        if middlewares is None:
            return False
        outcome = middlewares.before_download(request)
        if isinstance(outcome, Fetch):
            return False
        self._act_on(request, outcome)
        return True

    def _act_on(self, request: Request, outcome: Outcome) -> None:
        """Act on a downloader middleware's answer."""
        match outcome:
            case Use(response):
                self._settle_response(request, response, middlewares_done=True)
            case Reschedule(target):
                self.frontier.release(request)
                self.outcomes.rescheduled(request, target)
            case Fail(kind, detail):
                self._fail(request, kind, detail)

    def _observe(
        self, request: Request, response: Response | None, started: float, now: float
    ) -> None:
        """Count the fetch, and let the host's outage and throttle delay follow it."""
        if response is not None:
            self.stats.fetched(request.host, response.status, now - started)
            self.outages.reached(request.host, started, now)
        else:
            self.stats.fetch_failed(request.host, now - started)
        throttle = self.policies.throttle
        if throttle is not None:
            status = response.status if response is not None else None
            delay = throttle.observe(request.host, now - started, status)
            self.frontier.set_host_delay(request.host, delay, throttle=True)

    def _settle_response(
        self, request: Request, response: Response, middlewares_done: bool = False
    ) -> None:
        """Settle a response: follow its redirect, or pass it through the middlewares'
        ``process_response`` (unless ``middlewares_done``), then refuse its status or queue it
        to parse."""
        accepted = self.outcomes.accept_status(request, response.status)
        redirect = self.policies.redirect
        if not accepted and redirect.applies(request, response):
            match redirect.outcome(request, response):
                case Follow(target):
                    self.frontier.release(request)
                    self.outcomes.redirected(request, target)
                case Refuse(kind, detail):
                    self._fail(request, kind, detail)
            return
        middlewares = self.policies.middlewares
        if middlewares is not None and not middlewares_done:
            outcome = middlewares.after_download(request, response)
            if not isinstance(outcome, Use):
                self._act_on(request, outcome)
                return
            response = outcome.response
            accepted = self.outcomes.accept_status(request, response.status)
        if not accepted:
            log.info("ignoring response %s: HTTP status not handled", response)
            self._fail(request, f"http_{response.status}", f"HTTP {response.status}")
        else:
            # Open the parse work before releasing the request: the work count never dips to 0.
            self.work.change(parsing=1)
            self.frontier.release(request)
            parse_here = self.outcomes.parse_here
            if parse_here is not None and parse_here(response):
                return
            try:
                self.responses.put(response, size=max(len(response.body), 1024))
            except QueueClosed:
                self.work.change(parsing=-1)
                self.outcomes.failed(request, "shutdown", "stopped before parsing")
                raise

    def _host_pushback(self, request: Request, response: Response | None, now: float) -> float:
        """Honour Retry-After on 429/503 for the whole host; returns the seconds (0 if none)."""
        if response is None:
            return 0.0
        request.meta.pop("retry_after", None)  # only the last answer's goes in a failure record
        if response.status not in (429, 503):
            return 0.0
        if response.status == 429:
            self.stats.inc("http_429")
        asked = self.policies.retry.retry_after(response)
        if asked is None:
            return 0.0
        request.meta["retry_after"] = asked.value
        self._log_held_back(request.host, response.status, asked.asked, asked.seconds)
        self.frontier.defer_host(request.host, now + asked.seconds)
        return asked.seconds

    def _log_held_back(self, host: str, status: int, asked: float, seconds: float) -> None:
        """Say once per host that it holds the crawl back, and for how long: a long wait with
        nothing in the log looks like a hang. The summary counts them all."""
        if self.stats.count("retry_after", host) > 1:
            return
        capped = " (capped by RETRY_AFTER_MAX)" if seconds < asked else ""
        log.log(
            logging.WARNING if capped else logging.INFO,
            "%s answered %d with Retry-After %.0fs: holding the host back %.0fs%s; "
            "said once per host",
            host,
            status,
            asked,
            seconds,
            capped,
        )

    def _wait_for_host(self, request: Request, cause: str, now: float) -> None:
        """``request``'s host cannot be reached: the whole host backs off, the request waits."""
        retry_at = self.outages.failed(request.host, cause, now)
        self.stats.inc("host_down_waits")
        self.frontier.defer_host(request.host, retry_at)
        self.frontier.release(request, retry_at=retry_at)

    def _fail(self, request: Request, kind: str, detail: str) -> None:
        self.frontier.release(request)
        self.outcomes.failed(request, kind, detail)

    def _robots_allow(self, request: Request) -> bool:
        """False when robots.txt settles the request (dropped, or deferred until later)."""
        assert self.policies.robots is not None
        match self.policies.robots.verdict(request):
            case Allow():
                return True
            case Defer(until, crawl_delay):
                self._set_crawl_delay(request.host, crawl_delay)
                self.frontier.release(request, retry_at=until)
            case HostDown(cause):
                self._wait_for_host(request, cause, self.clock())
            case Drop(reason, detail, crawl_delay):
                self._set_crawl_delay(request.host, crawl_delay)
                log.debug("%s: %s", reason, request.url)
                self._fail(request, reason, detail)
        return False

    def _set_crawl_delay(self, host: str, crawl_delay: float | None) -> None:
        if crawl_delay is not None:
            self.frontier.set_host_delay(host, crawl_delay)
