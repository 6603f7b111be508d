"""The fetch stage: threads that turn leased requests into responses.

Flow position: frontier -> **fetch threads** -> response queue.

Fetching is waiting on the network, so it runs in ``CONCURRENT_REQUESTS`` threads of the main
process sharing one ``httpx.Client`` (one connection pool). The client is built in one place,
``make_client``, which takes an optional transport: the seam unit tests use (respx, or
``httpx.MockTransport``). Nothing here sleeps to be polite or to back off: a retry goes back to
the frontier with a not-before time, and ``Retry-After`` pushes back the whole host there.

Threads: ``FetchPool`` owns its threads. Each loops ``frontier.next()`` -> fetch -> hand on, and
blocks only on the network, on ``frontier.wait`` when nothing is ready, and on the response
queue's ``put`` when parsing falls behind (backpressure). ``stop()`` ends the loops.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import tenacity

from .errors import ConnectFailed, FetchError, FetchTimeout, QueueClosed, ResponseTooLarge
from .frontier import Clock, Frontier
from .models import Request, Response
from .queues import BoundedQueue
from .robots import RobotsCache
from .settings import Settings
from .stats import Stats, WorkCounts

log = logging.getLogger("scraper.fetch")

IDLE_WAIT = 1.0  # seconds a thread waits for news when nothing is queued at all


def make_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The one place an httpx.Client is built. Shared read-only by every fetch thread."""
    headers = {"User-Agent": settings.USER_AGENT, **settings.DEFAULT_REQUEST_HEADERS}
    return httpx.Client(
        transport=transport,
        headers=headers,
        timeout=httpx.Timeout(settings.DOWNLOAD_TIMEOUT),
        limits=httpx.Limits(
            max_connections=settings.CONCURRENT_REQUESTS,
            max_keepalive_connections=settings.CONCURRENT_REQUESTS,
        ),
        follow_redirects=settings.REDIRECT_ENABLED,
        max_redirects=settings.REDIRECT_MAX_TIMES,
    )


class Fetcher:
    """One request, one complete response: streams the body under the size cap, maps errors."""

    def __init__(self, client: httpx.Client, max_size: int) -> None:
        self.client = client
        self.max_size = max_size

    def fetch(self, request: Request) -> Response:
        try:
            with self.client.stream(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body or None,
            ) as reply:
                declared = reply.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_size:
                    raise ResponseTooLarge(f"Content-Length {declared} over DOWNLOAD_MAXSIZE")
                chunks, total = [], 0
                # iter_bytes() yields decoded bytes, so the cap also stops compression bombs.
                for chunk in reply.iter_bytes():
                    total += len(chunk)
                    if total > self.max_size:
                        raise ResponseTooLarge(f"body over DOWNLOAD_MAXSIZE ({self.max_size} B)")
                    chunks.append(chunk)
                return Response(
                    str(reply.url), reply.status_code, reply.headers, b"".join(chunks), request
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.ConnectError, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TooManyRedirects as exc:
            error = FetchError(str(exc))
            error.kind = "too_many_redirects"
            raise error from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def parse_retry_after(value: str | None, now_wall: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now_wall = time.time() if now_wall is None else now_wall
    return max(0.0, when.timestamp() - now_wall)


@dataclass(slots=True)
class RetryPolicy:
    """When and how long to wait before fetching again (tenacity's stop and wait strategies)."""

    stop: tenacity.stop.stop_base
    wait: tenacity.wait.wait_base
    retry_codes: frozenset[int]
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            stop=tenacity.stop_after_attempt(settings.RETRY_TIMES + 1),
            # Exponential backoff plus up to one base of jitter, so retries do not align.
            wait=tenacity.wait_exponential(
                multiplier=settings.RETRY_BACKOFF_BASE, max=settings.RETRY_BACKOFF_MAX
            )
            + tenacity.wait_random(0, settings.RETRY_BACKOFF_BASE),
            retry_codes=frozenset(settings.RETRY_HTTP_CODES),
            enabled=settings.RETRY_ENABLED,
        )

    def retryable(self, response: Response | None, error: FetchError | None) -> bool:
        if error is not None:
            return not isinstance(error, ResponseTooLarge)
        return response is not None and response.status in self.retry_codes

    def backoff(self, attempts: int) -> float | None:
        """Seconds until the next attempt after ``attempts`` tries, or None to give up."""
        if not self.enabled:
            return None
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempts
        if self.stop(state):
            return None
        return float(self.wait(state))


class FetchPool:
    """The fetch threads. Owned by the engine; they stop when ``stop()`` is called."""

    def __init__(
        self,
        *,
        settings: Settings,
        frontier: Frontier,
        fetcher: Fetcher,
        responses: BoundedQueue[Response],
        work: WorkCounts,
        stats: Stats,
        accept_status: Callable[[Request, int], bool],
        on_failed: Callable[[Request, str], None],
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.frontier = frontier
        self.fetcher = fetcher
        self.responses = responses
        self.work = work
        self.stats = stats
        self.accept_status = accept_status
        self.on_failed = on_failed
        self.clock = clock
        self.policy = RetryPolicy.from_settings(settings)
        self.robots = (
            RobotsCache(fetcher, settings.USER_AGENT, clock) if (settings.ROBOTSTXT_OBEY) else None
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.settings.CONCURRENT_REQUESTS):
            thread = threading.Thread(target=self._run, name=f"fetch-{i}", daemon=True)
            thread.start()
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
        while not self._stop.is_set():
            got = self.frontier.next()
            if isinstance(got, Request):
                try:
                    self.process(got)
                except QueueClosed:
                    return
                except Exception:  # a bug here must not silently lose the request
                    log.exception("fetch thread error on %s", got.url)
                    self.frontier.release(got)
                    self.on_failed(got, "internal_error")
            else:
                self.frontier.wait(IDLE_WAIT if got is None else got)

    def process(self, request: Request) -> None:
        """Fetch one leased request and settle it: hand on, retry later, or fail."""
        if self.robots is not None and not self._robots_allow(request):
            return
        request.attempts += 1
        started = self.clock()
        response: Response | None = None
        error: FetchError | None = None
        try:
            response = self.fetcher.fetch(request)
        except FetchError as exc:
            error = exc
        now = self.clock()
        if response is not None:
            self.stats.fetched(request.host, response.status, now - started)
        else:
            self.stats.fetch_failed(request.host, now - started)

        retry_after = self._host_pushback(request, response, now)
        if self.policy.retryable(response, error):
            backoff = self.policy.backoff(request.attempts)
            if backoff is not None:
                self.stats.inc("retries")
                self.frontier.release(request, retry_at=now + max(backoff, retry_after or 0.0))
                return
            self.stats.inc("retries_exhausted")
        if error is not None:
            log.warning("failed %s after %d attempt(s): %s", request.url, request.attempts, error)
            self._fail(request, error.kind)
        elif response is not None and not self.accept_status(request, response.status):
            log.info("ignoring response %s: HTTP status not handled", response)
            self._fail(request, f"http_{response.status}")
        elif response is not None:
            # Open the parse work before releasing the request: the work count never dips to 0.
            self.work.change(parsing=1)
            self.frontier.release(request)
            try:
                self.responses.put(response, size=max(len(response.body), 1024))
            except QueueClosed:
                self.work.change(requests=-1, parsing=-1)
                raise

    def _host_pushback(self, request: Request, response: Response | None, now: float) -> float:
        """Honour Retry-After on 429/503 for the whole host; returns the seconds (0 if none)."""
        if response is None or response.status not in (429, 503):
            return 0.0
        if response.status == 429:
            self.stats.inc("http_429")
        seconds = parse_retry_after(response.headers.get("retry-after"))
        if seconds is None:
            return 0.0
        seconds = min(seconds, self.settings.RETRY_AFTER_MAX)
        self.frontier.defer_host(request.host, now + seconds)
        return seconds

    def _fail(self, request: Request, kind: str) -> None:
        self.stats.error(kind)
        self.frontier.release(request)
        self.on_failed(request, kind)

    def _robots_allow(self, request: Request) -> bool:
        """False when robots.txt settles the request (dropped, or deferred until reachable)."""
        assert self.robots is not None
        verdict = self.robots.verdict(request)
        if verdict.fetched_now and verdict.crawl_delay:
            delay = min(verdict.crawl_delay, self.settings.ROBOTSTXT_CRAWL_DELAY_MAX)
            self.frontier.set_host_delay(request.host, delay)
        if verdict.allowed and not verdict.fetched_now:
            return True
        if verdict.allowed or verdict.retry_at is not None:
            # robots.txt used this host's turn (or the host is unreachable): the page waits.
            self.frontier.release(request, retry_at=verdict.retry_at or self.clock())
            return False
        self.stats.inc(verdict.reason)
        log.debug("%s: %s", verdict.reason, request.url)
        self.frontier.release(request)
        self.on_failed(request, verdict.reason)
        return False
