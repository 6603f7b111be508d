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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import tenacity

from .decode import make_decoder
from .errors import (
    ConnectFailed,
    DecodeError,
    FetchError,
    FetchTimeout,
    InvalidURL,
    LeaseLost,
    PrivateAddress,
    ProtocolError,
    QueueClosed,
    ResponseTooLarge,
    SettingsError,
    StoreError,
    Truncated,
)
from .guard import AddressGuard
from .httpcache import CachedFetcher, HttpCache
from .models import Headers, Request, Response, canonical_url, split_plain, url_problem
from .outages import HostOutages, host_is_down
from .proxy import Proxies
from .queues import BoundedQueue
from .robots import RobotsCache
from .settings import Settings
from .stats import Stats, WorkCounts
from .store import Clock, CrawlStore, Lease, Wait
from .throttle import AutoThrottle
from .tls import tls_context
from .transport import HostPoolTransport, bounded_by

log = logging.getLogger("scraper.fetch")

IDLE_WAIT = 1.0  # seconds a thread waits for news when nothing is queued at all


def make_client(
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    guard: AddressGuard | None = None,
) -> httpx.Client:
    """The one place an httpx.Client is built. Shared read-only by every fetch thread;
    ``transport`` is the test seam (respx, httpx.MockTransport); ``guard`` decides which
    addresses our own transport may connect to."""
    headers = {"User-Agent": settings.USER_AGENT, **settings.DEFAULT_REQUEST_HEADERS}
    return httpx.Client(
        transport=transport or HostPoolTransport(tls_context(settings), guard=guard),
        headers=headers,
        timeout=httpx.Timeout(settings.DOWNLOAD_TIMEOUT),
        # Redirects go back through the frontier, so the target's politeness applies.
        follow_redirects=False,
    )


def _own_pool(client: httpx.Client) -> HostPoolTransport | None:
    """The client's transport, if it is ours and no proxy is mounted beside it (httpx keeps
    both private): then a request may go to it without an ``httpx.Request``."""
    transport = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if not isinstance(transport, HostPoolTransport) or mounts is None:
        return None
    # NO_PROXY hosts are mounted as None, meaning "the client's own transport".
    return transport if all(mounted is None for mounted in mounts.values()) else None


def _text_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Raw response headers as text, names lower-cased, decoded as httpx does: ASCII, else
    UTF-8, else Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return Headers([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw])
        except UnicodeDecodeError:
            continue
    return Headers([(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw])


Opened = tuple[int, Headers, Iterable[bytes], Callable[[], None], str]


class Fetcher:
    """One request, one complete response: streams and decodes the body under the size cap and
    the total deadline, and maps httpx errors to ours. Redirects are not followed here: they go
    back through the frontier (see ``FetchPool``).

    ``Client.send`` adds auth, redirect and event-hook layers this fetcher never uses, and on
    fast sites they cost a third of the main process's time per page, so requests go straight
    to the transport the client would pick, with the client's headers, timeout and cookie jar
    applied here. When that transport is ours (``HostPoolTransport``), a request without a body
    to a plain URL (``models.split_plain``) skips httpx's request and response models too.
    """

    def __init__(
        self,
        client: httpx.Client,
        max_size: int,
        timeout: float,
        proxies: Proxies | None = None,
    ) -> None:
        self.client = client
        self.proxies = proxies  # requests through a forward proxy leave the per-host pool
        self.max_size = max_size
        self.timeout = timeout
        self._pool = _own_pool(client)
        # As the client sends them, names in their own case (some servers care).
        self._default_headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in client.headers.raw
        ]
        self._timeout = client.timeout.as_dict()
        # The jar is only touched once a site has set a cookie: parsing Set-Cookie-less
        # responses through http.cookiejar costs as much as the rest of the request.
        self._cookies = client.cookies
        self._cookies_lock = threading.Lock()
        self._cookies_seen = bool(client.cookies)
        # Called the moment the request's headers go on the wire (httpcore's trace hook), after
        # any connecting, so a per-host delay counts from what the server sees.
        self.on_send: Callable[[Request], None] | None = None

    def _headers(self, request: Request) -> list[tuple[str, str]]:
        """The client's headers, each replaced by the request's own of the same name."""
        if not request.headers:
            return self._default_headers
        own = {name.lower() for name in request.headers}
        kept = [h for h in self._default_headers if h[0].lower() not in own]
        return kept + list(request.headers.items())

    def _extensions(self, request: Request) -> dict[str, object]:
        extensions: dict[str, object] = {"timeout": self._timeout}
        if self.on_send is not None:
            on_send = self.on_send

            def trace(event: str, info: object) -> None:
                if event.endswith("send_request_headers.started"):
                    on_send(request)

            extensions["trace"] = trace
        return extensions

    def _open_direct(self, request: Request) -> Opened | None:
        """Send a body-less request for a plain URL straight to our pool; None if the request
        is not one (or a cookie may be due: the jar speaks httpx's models)."""
        assert self._pool is not None
        parts = split_plain(request.url)
        if parts is None or request.body or self._jar_applies(request):
            return None
        scheme, host, port, path = parts
        default = 443 if scheme == "https" else 80
        headers = []
        if not any(name.lower() == "host" for name in request.headers):
            headers.append(
                (b"Host", (host if port in (None, default) else f"{host}:{port}").encode())
            )
        try:
            headers.extend(
                (k.encode("ascii"), v.encode("ascii")) for k, v in self._headers(request)
            )
        except UnicodeEncodeError:  # httpx knows what to do with those
            return None
        response, body = self._pool.send(
            request.method.encode("ascii"),
            (scheme.encode(), host.encode(), port or default),
            path.encode(),
            headers,
            None,
            self._extensions(request),
        )
        text_headers = _text_headers(response.headers)
        if "set-cookie" in text_headers and not request.meta.get("dont_merge_cookies"):
            reply = httpx.Response(response.status, headers=response.headers)
            reply.request = httpx.Request(request.method, request.url)
            self._keep_cookies(reply)
        return response.status, text_headers, body, body.close, request.url

    def _open(self, request: Request, proxy: str | None = None) -> Opened:
        """Send any request through the transport the client would choose, or ``proxy``."""
        built = httpx.Request(
            request.method,
            request.url,
            headers=self._headers(request),
            content=request.body or None,
            extensions=self._extensions(request),
        )
        if self._jar_applies(request):
            with self._cookies_lock:
                self._cookies.set_cookie_header(built)
        if proxy is not None and self.proxies is not None:
            transport: httpx.BaseTransport = self.proxies.transport(proxy)
        else:
            transport = self.client._transport_for_url(built.url)
        reply = transport.handle_request(built)
        reply.request = built
        if not request.meta.get("dont_merge_cookies"):
            self._keep_cookies(reply)
        headers = Headers(reply.headers.multi_items())
        return reply.status_code, headers, reply.stream, reply.close, str(built.url)

    def _jar_applies(self, request: Request) -> bool:
        """Whether the cookie jar may add to this request (Scrapy's ``dont_merge_cookies``
        meta key keeps a request, and what it is answered, out of the jar)."""
        return self._cookies_seen and not request.meta.get("dont_merge_cookies")

    def _keep_cookies(self, reply: httpx.Response) -> None:
        if "set-cookie" in reply.headers:
            with self._cookies_lock:
                self._cookies.extract_cookies(reply)
                self._cookies_seen = True

    def fetch(self, request: Request) -> Response:
        deadline = time.monotonic() + self.timeout
        in_body = False
        try:
            # Our transport ends every socket operation by the deadline (connect, TLS, the
            # request, the headers, the body); other transports only see per-read timeouts.
            with bounded_by(deadline):
                proxy = self.proxies.proxy_for(request) if self.proxies is not None else None
                direct = self._pool is not None and proxy is None
                opened = self._open_direct(request) if direct else None
                status, headers, stream, close, url = opened or self._open(request, proxy)
                try:
                    in_body = True
                    body = self._read_body(headers, stream, deadline)
                finally:
                    close()
            return Response(url, status, headers, body, request)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__}: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            # The server hung up (a short body, or no answer at all), or sent what is not HTTP
            # (a bad status or header line, a chunk-size line that is not hex): the first is
            # a connection fault, the second the server's protocol.
            if not _hung_up(exc):
                raise ProtocolError(f"{type(exc).__name__}: {exc}") from exc
            if in_body:
                raise Truncated(f"body cut short: {type(exc).__name__}: {exc}") from exc
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except httpx.ReadError as exc:
            if in_body:
                raise Truncated(f"body cut short: {type(exc).__name__}: {exc}") from exc
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.ConnectError, httpx.NetworkError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise InvalidURL(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc

    def _read_body(self, headers: Headers, stream: Iterable[bytes], deadline: float) -> bytes:
        """The decoded body, under the size cap and the deadline."""
        declared = headers.get("content-length", "")
        encoding = headers.get("content-encoding")
        if not encoding and declared.isdigit() and int(declared) > self.max_size:
            raise ResponseTooLarge(f"Content-Length {declared} over DOWNLOAD_MAXSIZE")
        decoder = make_decoder(encoding)
        chunks: list[bytes] = []
        total = 0
        for raw in stream:
            # A per-read timeout never ends a body that trickles in; this does (the only
            # bound on transports other than ours).
            if time.monotonic() > deadline:
                raise FetchTimeout(f"no complete response within {self.timeout}s")
            for chunk in decoder.feed(raw):
                total += len(chunk)
                if total > self.max_size:
                    raise ResponseTooLarge(
                        f"body over DOWNLOAD_MAXSIZE ({self.max_size} B) once decoded"
                    )
                chunks.append(chunk)
        chunks.extend(decoder.flush())
        return b"".join(chunks)


def _hung_up(exc: httpx.RemoteProtocolError) -> bool:
    """Whether the protocol error is the server closing the connection (h11's and httpcore's
    words for it), rather than bytes that are not HTTP."""
    text = str(exc)
    return "peer closed connection" in text or "Server disconnected" in text


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
            # A body too large, an unknown encoding, a bad URL or a private address: the same
            # next time.
            return not isinstance(
                error, ResponseTooLarge | DecodeError | InvalidURL | PrivateAddress
            )
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


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_PRIORITY_ADJUST = 2  # as Scrapy: finish a redirect chain before starting new pages
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
DEFAULT_PORTS = {"http": 80, "https": 443}


class RedirectRefused(FetchError):
    """A redirect that is not followed; ``kind`` says why."""


def _credentials_may_follow(source: str, target: str) -> bool:
    """Whether credentials sent to ``source`` may go on to ``target`` (as requests decides):
    the same host and port, and never from https down to http; an http -> https upgrade on
    the default ports counts as the same place."""
    old, new = urlsplit(source), urlsplit(target)
    try:
        old_port = old.port or DEFAULT_PORTS.get(old.scheme)
        new_port = new.port or DEFAULT_PORTS.get(new.scheme)
    except ValueError:  # a port out of range: not the same place
        return False
    if old.hostname != new.hostname:
        return False
    if old.scheme == new.scheme:
        return old_port == new_port
    return (old.scheme, old_port, new.scheme, new_port) == ("http", 80, "https", 443)


def redirect_request(request: Request, response: Response, max_times: int) -> Request:
    """The request for a 3xx response's Location, or RedirectRefused."""
    location = response.headers["location"].strip()
    try:
        target = response.urljoin(location)
        problem = url_problem(target)
    except ValueError as exc:  # an unclosed IPv6 bracket: not even joinable
        target, problem = location, str(exc)
    if problem is not None:
        invalid = RedirectRefused(f"{response.status} to {target[:200]}: {problem}")
        invalid.kind = "invalid_url"
        raise invalid
    refused = RedirectRefused(f"{response.status} to {target[:200]}")
    if urlsplit(target).scheme not in ("http", "https"):
        refused.kind = "redirect_scheme"
        raise refused
    times = int(request.meta.get("redirect_times", 0)) + 1
    chain = [*request.meta.get("redirect_urls", []), request.url]
    if times > max_times:
        refused.kind = "too_many_redirects"
        raise refused
    if canonical_url(target) in {canonical_url(u) for u in chain}:
        refused.kind = "redirect_loop"
        raise refused
    method, body = request.method, request.body
    headers = dict(request.headers)
    if (
        response.status == 303
        and method != "HEAD"
        or (response.status in (301, 302) and method == "POST")
    ):
        method, body = "GET", b""
        headers = {
            k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
        }
    if not _credentials_may_follow(request.url, target):
        headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    meta = {**request.meta, "redirect_times": times, "redirect_urls": chain}
    new = request.replace(
        url=target,
        method=method,
        body=body,
        headers=headers,
        meta=meta,
        priority=request.priority + REDIRECT_PRIORITY_ADJUST,
    )
    new.attempts = 0
    return new


class FetchPool:
    """The fetch threads. Owned by the engine; they stop when ``stop()`` is called."""

    def __init__(
        self,
        *,
        settings: Settings,
        frontier: CrawlStore,
        fetcher: Fetcher,
        responses: BoundedQueue[Response],
        work: WorkCounts,
        stats: Stats,
        accept_status: Callable[[Request, int], bool],
        on_failed: Callable[[Request, str, str], None],
        on_redirect: Callable[[Request, Request], None],
        parse_here: Callable[[Response], bool] | None = None,
        cache: HttpCache | None = None,
        on_fatal: Callable[[StoreError], None] | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,  # for Retry-After's HTTP-date form only
    ) -> None:
        self.settings = settings
        self.frontier = frontier
        self.fetcher = fetcher
        self.responses = responses
        self.work = work
        self.stats = stats
        self.accept_status = accept_status
        self.on_failed = on_failed
        self.on_redirect = on_redirect
        self.parse_here = parse_here
        self.cache = cache
        self.on_fatal = on_fatal
        self.clock = clock
        self.wall_clock = wall_clock
        fetcher.on_send = frontier.mark_sent
        self.policy = RetryPolicy.from_settings(settings)
        self.robots = (
            RobotsCache(
                fetcher if cache is None else CachedFetcher(fetcher, cache),  # type: ignore[arg-type]
                settings.USER_AGENT,
                clock,
                retry_delay=settings.ROBOTSTXT_RETRY_DELAY,
                retry_times=settings.ROBOTSTXT_RETRY_TIMES,
                stats=stats,
            )
            if settings.ROBOTSTXT_OBEY
            else None
        )
        self.throttle = AutoThrottle(settings) if settings.AUTOTHROTTLE_ENABLED else None
        self.outages = HostOutages(
            settings.RETRY_BACKOFF_BASE, settings.HOST_DOWN_BACKOFF_MAX, settings.HOST_DOWN_TIMEOUT
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.settings.CONCURRENT_REQUESTS):
            thread = threading.Thread(target=self._run, name=f"fetch-{i}", daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # the system's thread or memory limit
                self.stop()
                raise SettingsError(
                    f"cannot start {self.settings.CONCURRENT_REQUESTS} fetch threads "
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
                        began = self.clock()
                        self.frontier.wait(IDLE_WAIT)
                        if self.frontier.queued:
                            self.stats.held_by_politeness(self.clock() - began)
        except QueueClosed:
            return
        except StoreError as exc:  # the job folder failed: nothing more can be kept track of
            if self.on_fatal is None:
                raise
            self.on_fatal(exc)

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
        if self.cache is not None:  # a hit: no robots.txt, no network, no politeness delay
            cached = self.cache.lookup(request)
            if cached is not None:
                self.frontier.give_back_turn(request)
                self._hand_on(request, cached)
                return
        if self.robots is not None and not self._robots_allow(request):
            return
        request.attempts += 1
        started = self.clock()
        response: Response | None = None
        error: FetchError | None = None
        try:
            if self.cache is not None:
                response = self.cache.fetch(self.fetcher.fetch, request)
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
        if response is not None:
            self.stats.fetched(request.host, response.status, now - started)
            self.outages.reached(request.host, started, now)
        else:
            self.stats.fetch_failed(request.host, now - started)
        if self.throttle is not None:
            delay = self.throttle.observe(
                request.host, now - started, response.status if response is not None else None
            )
            self.frontier.set_host_delay(request.host, delay, throttle=True)

        if error is not None and host_is_down(error):
            request.attempts -= 1  # the host's fault, not the URL's: no retry used up
            self._wait_for_host(request, str(error), now)
            return
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
            self._fail(request, error.kind, str(error))
        elif response is not None:
            self._hand_on(request, response)

    def _hand_on(self, request: Request, response: Response) -> None:
        """Settle a response: follow its redirect, refuse its status, or queue it to parse."""
        if self._should_redirect(request, response):
            try:
                target = redirect_request(request, response, self.settings.REDIRECT_MAX_TIMES)
            except RedirectRefused as refused:
                self._fail(request, refused.kind, str(refused))
            else:
                self.frontier.release(request)
                self.on_redirect(request, target)
        elif not self.accept_status(request, response.status):
            log.info("ignoring response %s: HTTP status not handled", response)
            self._fail(request, f"http_{response.status}", f"HTTP {response.status}")
        else:
            # Open the parse work before releasing the request: the work count never dips to 0.
            self.work.change(parsing=1)
            self.frontier.release(request)
            if self.parse_here is not None and self.parse_here(response):
                return
            try:
                self.responses.put(response, size=max(len(response.body), 1024))
            except QueueClosed:
                self.work.change(parsing=-1)
                self.on_failed(request, "shutdown", "stopped before parsing")
                raise

    def _should_redirect(self, request: Request, response: Response) -> bool:
        return (
            self.settings.REDIRECT_ENABLED
            and response.status in REDIRECT_STATUSES
            and "location" in response.headers
            and not request.meta.get("dont_redirect")
            and not self.accept_status(request, response.status)
        )

    def _host_pushback(self, request: Request, response: Response | None, now: float) -> float:
        """Honour Retry-After on 429/503 for the whole host; returns the seconds (0 if none)."""
        if response is None:
            return 0.0
        request.meta.pop("retry_after", None)  # only the last answer's goes in a failure record
        if response.status not in (429, 503):
            return 0.0
        if response.status == 429:
            self.stats.inc("http_429")
        value = response.headers.get("retry-after")
        asked = parse_retry_after(value, self.wall_clock())
        if asked is None:
            return 0.0
        request.meta["retry_after"] = value
        seconds = min(asked, self.settings.RETRY_AFTER_MAX)
        self._log_held_back(request.host, response.status, asked, seconds)
        self.frontier.defer_host(request.host, now + seconds)
        return seconds

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
        self.on_failed(request, kind, detail)

    def _robots_allow(self, request: Request) -> bool:
        """False when robots.txt settles the request (dropped, or deferred until reachable)."""
        assert self.robots is not None
        asked = self.clock()
        verdict = self.robots.verdict(request)
        if verdict.down:
            self._wait_for_host(request, verdict.down, self.clock())
            return False
        if verdict.fetched_now:
            self.outages.reached(request.host, asked, self.clock())
        if verdict.fetched_now and verdict.crawl_delay:
            delay = min(verdict.crawl_delay, self.settings.ROBOTSTXT_CRAWL_DELAY_MAX)
            self.frontier.set_host_delay(request.host, delay)
        if verdict.allowed and not verdict.fetched_now:
            return True
        if verdict.allowed or verdict.retry_at is not None:
            # robots.txt used this host's turn (or the host is unreachable): the page waits.
            self.frontier.release(request, retry_at=verdict.retry_at or self.clock())
            return False
        log.debug("%s: %s", verdict.reason, request.url)
        self.frontier.release(request)
        self.on_failed(request, verdict.reason, verdict.detail or "robots.txt")
        return False
