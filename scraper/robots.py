"""robots.txt: fetched once per host, cached, and asked before every request.

Flow position: consulted by the fetch threads between ``frontier.next()`` and the fetch, so the
robots.txt request itself goes through the host's politeness slot like any other request.

Verdicts follow RFC 9309: a 2xx file is parsed (protego; the first 500 KiB); a 4xx means
"no rules", allow all; a 5xx or a network failure means the site is unreachable, so the whole
host is treated as disallowed for now and its requests wait, to be asked again later. Up to
five redirects are followed; a sixth, or a redirect to a URL that cannot be fetched, makes the
file "unavailable" as RFC 9309 (2.3.1.2) allows: no rules, allow all, said once in the log.
Why a host is unreachable (HTTP 503, a read error) is kept with its entry, logged, and given
as the detail of the requests that fail for it. When no connection can be made at all
(refused, DNS, TLS), the host is down rather than its robots.txt unreachable: the verdict
carries the cause, and the fetch threads back the whole host off (``outages``) and ask again
on its next turn.

A robots.txt request carries none of the page's headers and no cookies: only the client's
defaults (User-Agent, ...), so no credential reaches the host or any host it redirects to.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from protego import Protego

from .errors import FetchError, PrivateAddress
from .models import Request, url_problem
from .outages import host_is_down
from .store import Clock

if TYPE_CHECKING:
    from .fetch import Fetcher
    from .stats import Stats

log = logging.getLogger("scraper.robots")

MAX_ROBOTS_BYTES = 500 * 1024
MAX_REDIRECTS = 5  # RFC 9309: follow at least five redirects


@dataclass(slots=True)
class RobotsEntry:
    rules: Protego | None  # None: allow all (4xx) or unreachable (see below)
    unreachable_until: float | None = None
    cause: str = ""  # why it is unreachable: "HTTP 503", "ReadError: ...", ...
    down: str = ""  # no connection could be made: the cause (stale at once, see outages)

    @property
    def unreachable(self) -> bool:
        return self.unreachable_until is not None


@dataclass(slots=True)
class Verdict:
    allowed: bool
    fetched_now: bool = False  # robots.txt was just fetched (here or by another thread)
    retry_at: float | None = None  # unreachable: ask again at this clock time
    reason: str = ""
    detail: str = ""  # for a failure record: what robots.txt said, or why it was unreachable
    crawl_delay: float | None = None
    down: str = ""  # the host could not be reached at all: the cause


def user_agent_token(user_agent: str) -> str:
    """The product token robots.txt groups match on: 'scraper/0.1 (...)' -> 'scraper'."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


class RobotsCache:
    def __init__(
        self,
        fetcher: Fetcher,
        user_agent: str,
        clock: Clock,
        *,
        retry_delay: float = 30.0,
        retry_times: int = 3,
        stats: Stats | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._stats = stats  # counts robots.txt requests per host, as the server sees them
        self._retry_delay = retry_delay
        self._retry_times = retry_times
        self._agent = user_agent_token(user_agent)
        self._clock = clock
        self._entries: dict[str, RobotsEntry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, origin: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(origin, threading.Lock())

    def verdict(self, request: Request) -> Verdict:
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        fetched_now = False
        entry = self._entries.get(origin)
        if entry is None or self._stale(entry):
            # One thread fetches; the others for the same host wait for its answer. Either way
            # the robots.txt request took a turn of this host after this request was handed
            # out, so the request goes back to wait for the host's next turn ("fetched_now").
            with self._lock_for(origin):
                entry = self._entries.get(origin)
                if entry is None or self._stale(entry):
                    entry = self._entries[origin] = self._fetch(origin)
            fetched_now = True
        if entry.down:
            return Verdict(False, fetched_now, retry_at=entry.unreachable_until, down=entry.down)
        if entry.unreachable:
            waits = int(request.meta.get("robots_waits", 0))
            if waits >= self._retry_times:
                detail = f"robots.txt unreachable: {entry.cause}"
                return Verdict(False, fetched_now, reason="robots_unavailable", detail=detail)
            request.meta["robots_waits"] = waits + 1
            return Verdict(False, fetched_now, retry_at=entry.unreachable_until)
        if entry.rules is None:
            return Verdict(True, fetched_now)
        allowed = entry.rules.can_fetch(request.url, self._agent)
        delay = entry.rules.crawl_delay(self._agent)
        return Verdict(
            bool(allowed),
            fetched_now,
            reason="" if allowed else "robots_forbidden",
            crawl_delay=float(delay) if delay is not None else None,
        )

    def _stale(self, entry: RobotsEntry) -> bool:
        return entry.unreachable_until is not None and self._clock() >= entry.unreachable_until

    def _fetch(self, origin: str) -> RobotsEntry:
        url = f"{origin}/robots.txt"
        for _ in range(MAX_REDIRECTS + 1):
            robots_request = Request(url, meta={"dont_merge_cookies": True}, dont_filter=True)
            if self._stats is not None:
                self._stats.robots_requested(robots_request.host)
            try:
                response = self._fetcher.fetch(robots_request)
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
