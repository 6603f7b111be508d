"""robots.txt: fetched once per host, cached, and asked before every request.

Flow position: consulted by the fetch threads between ``frontier.next()`` and the fetch, so the
robots.txt request itself goes through the host's politeness slot like any other request.
``verdict`` answers with an outcome the fetch threads act on: ``Allow`` (fetch now), ``Defer``
(wait until a time), ``HostDown`` (the host backs off as a whole) or ``Drop`` (fail it).

Verdicts follow RFC 9309: a 2xx file is parsed (protego; the first 500 KiB); a 4xx means
"no rules", allow all; a 5xx or a network failure means the site is unreachable, so the whole
host is treated as disallowed for now and its requests wait, to be asked again later. Up to
five redirects are followed; a sixth, or a redirect to a URL that cannot be fetched, makes the
file "unavailable" as RFC 9309 (2.3.1.2) allows: no rules, allow all, said once in the log.
Why a host is unreachable (HTTP 503, a read error) is kept with its entry, logged, and given
as the detail of the requests that fail for it. When no connection can be made at all
(refused, DNS, TLS), the host is down rather than its robots.txt unreachable: ``HostDown``
carries the cause, and the fetch threads back the whole host off (``outages``) and ask again
on its next turn.

A robots.txt request carries none of the page's headers and no cookies: only the client's
defaults (User-Agent, ...), so no credential reaches the host or any host it redirects to.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from protego import Protego

from .errors import FetchError, PrivateAddress
from .models import Request, Response, url_problem
from .outages import HostOutages, host_is_down
from .store import Clock

if TYPE_CHECKING:
    from .stats import Stats

log = logging.getLogger("scraper.robots")

MAX_ROBOTS_BYTES = 500 * 1024
MAX_REDIRECTS = 5  # RFC 9309: follow at least five redirects


class PageSource(Protocol):
    """What robots.txt is fetched with: the crawl's fetcher, or its HTTP cache in front of it."""

    def fetch(self, request: Request) -> Response: ...


@dataclass(frozen=True, slots=True)
class Allow:
    """Fetch the request now."""


@dataclass(frozen=True, slots=True)
class Defer:
    """The request waits until ``until`` (a clock time): robots.txt was just fetched with the
    host's turn, or it is unreachable and will be asked again then. ``crawl_delay`` is its
    Crawl-delay for us (capped by ROBOTSTXT_CRAWL_DELAY_MAX) when it was just fetched: the
    host's delay from now on."""

    until: float
    crawl_delay: float | None = None


@dataclass(frozen=True, slots=True)
class HostDown:
    """No connection could be made to the host at all: it backs off as a whole (``outages``)."""

    cause: str


@dataclass(frozen=True, slots=True)
class Drop:
    """The request is not fetched: ``reason`` is the failure kind (robots_forbidden,
    robots_unavailable), ``detail`` what robots.txt said or why it could not be read.
    ``crawl_delay`` as for ``Defer``."""

    reason: str
    detail: str
    crawl_delay: float | None = None


RobotsOutcome = Allow | Defer | HostDown | Drop


@dataclass(slots=True)
class RobotsEntry:
    rules: Protego | None  # None: allow all (4xx) or unreachable (see below)
    unreachable_until: float | None = None
    cause: str = ""  # why it is unreachable: "HTTP 503", "ReadError: ...", ...
    down: str = ""  # no connection could be made: the cause (stale at once, see outages)

    @property
    def unreachable(self) -> bool:
        return self.unreachable_until is not None


def user_agent_token(user_agent: str) -> str:
    """The product token robots.txt groups match on: 'scraper/0.1 (...)' -> 'scraper'."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


class RobotsCache:
    def __init__(
        self,
        source: PageSource,
        user_agent: str,
        clock: Clock,
        *,
        retry_delay: float = 30.0,
        retry_times: int = 3,
        crawl_delay_max: float = float("inf"),
        outages: HostOutages | None = None,
        stats: Stats | None = None,
    ) -> None:
        self._source = source
        self._outages = outages  # told when a robots.txt answer shows its host is reachable
        self._stats = stats  # counts robots.txt requests per host, as the server sees them
        self._retry_delay = retry_delay
        self._retry_times = retry_times
        self._crawl_delay_max = crawl_delay_max
        self._agent = user_agent_token(user_agent)
        self._clock = clock
        self._entries: dict[str, RobotsEntry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, origin: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(origin, threading.Lock())

    def verdict(self, request: Request) -> RobotsOutcome:
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        entry = self._entries.get(origin)
        if entry is not None and not self._stale(entry):
            return self._judge(request, entry, fetched_now=False)
        # One thread fetches; the others for the same host wait for its answer. Either way the
        # robots.txt request took a turn of this host after this request was handed out, so
        # the request goes back to wait for the host's next turn.
        with self._lock_for(origin):
            entry = self._entries.get(origin)
            if entry is None or self._stale(entry):
                started = self._clock()
                entry = self._entries[origin] = self._fetch(origin)
                if self._outages is not None and not entry.down:
                    self._outages.reached(request.host, started, self._clock())
        return self._judge(request, entry, fetched_now=True)

    def _judge(self, request: Request, entry: RobotsEntry, fetched_now: bool) -> RobotsOutcome:
        if entry.down:
            return HostDown(entry.down)
        if entry.unreachable:
            assert entry.unreachable_until is not None
            waits = int(request.meta.get("robots_waits", 0))
            if waits >= self._retry_times:
                return Drop("robots_unavailable", f"robots.txt unreachable: {entry.cause}")
            request.meta["robots_waits"] = waits + 1
            return Defer(entry.unreachable_until)
        crawl_delay = self._crawl_delay(entry) if fetched_now else None
        if entry.rules is not None and not entry.rules.can_fetch(request.url, self._agent):
            return Drop("robots_forbidden", "robots.txt", crawl_delay)
        return Defer(self._clock(), crawl_delay) if fetched_now else Allow()

    def _crawl_delay(self, entry: RobotsEntry) -> float | None:
        delay = entry.rules.crawl_delay(self._agent) if entry.rules is not None else None
        return min(float(delay), self._crawl_delay_max) if delay else None

    def _stale(self, entry: RobotsEntry) -> bool:
        return entry.unreachable_until is not None and self._clock() >= entry.unreachable_until

    def _fetch(self, origin: str) -> RobotsEntry:
        url = f"{origin}/robots.txt"
        for _ in range(MAX_REDIRECTS + 1):
            robots_request = Request(url, meta={"dont_merge_cookies": True}, dont_filter=True)
            if self._stats is not None:
                self._stats.robots_requested(robots_request.host)
            try:
                response = self._source.fetch(robots_request)
            except PrivateAddress:
                # Never reachable, so no rules: the page itself then fails as private_address.
                return RobotsEntry(None)
            except FetchError as exc:
                if host_is_down(exc):
                    return RobotsEntry(None, self._clock(), down=f"robots.txt: {exc}")
                return self._unreachable(origin, f"{exc.kind}: {exc}")
            location = response.headers.get("location")
            if response.status in (301, 302, 303, 307, 308) and location:
                try:
                    url = response.urljoin(location)
                    problem = url_problem(url)
                except ValueError as exc:  # not even joinable (an unclosed IPv6 bracket)
                    problem = str(exc)
                if problem is not None:
                    return self._unavailable(origin, f"redirects to an invalid URL ({problem})")
                continue
            if 200 <= response.status < 300:
                text = response.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
                return RobotsEntry(Protego.parse(text))
            if 400 <= response.status < 500:
                return RobotsEntry(None)  # RFC 9309: "unavailable", so no rules
            return self._unreachable(origin, f"HTTP {response.status}")
        return self._unavailable(origin, f"more than {MAX_REDIRECTS} redirects")

    def _unreachable(self, origin: str, cause: str) -> RobotsEntry:
        """5xx or no answer: RFC 9309's "unreachable", so the host is disallowed for now.
        Logged when the host becomes unreachable or the cause changes, not at every retry."""
        previous = self._entries.get(origin)
        if previous is None or previous.cause != cause:
            log.warning(
                "robots.txt of %s unreachable (%s): its requests wait %.0fs, then ask again",
                origin,
                cause,
                self._retry_delay,
            )
        return RobotsEntry(None, self._clock() + self._retry_delay, cause)

    @staticmethod
    def _unavailable(origin: str, why: str) -> RobotsEntry:
        """A redirect chain that cannot be followed to the end: RFC 9309 lets a crawler treat
        the file as unavailable, like a 4xx. A site that redirects its robots.txt too far has
        no rules a crawler could read, and a host lost to a bad Location helps no one."""
        log.warning("robots.txt of %s %s: treated as unavailable, all allowed", origin, why)
        return RobotsEntry(None)
