"""Hosts that cannot be reached: backed off as a whole, never written off one URL at a time.

Flow position: beside the fetch threads. When a connection to a host cannot be made at all
(refused, DNS, TLS handshake, connect timeout, or the same for its robots.txt), the fault is
the host's, not the URL's: the request goes back to the frontier without using up its
retries, and the whole host waits ``RETRY_BACKOFF_BASE`` seconds, then twice as long after
each later failure, up to ``HOST_DOWN_BACKOFF_MAX``. The first failure is logged once per
outage with its cause, and the end of the outage once. The engine asks ``give_up`` when
nothing but unreachable hosts is left: a host down for ``HOST_DOWN_TIMEOUT`` is then given
up for this run, with its requests left unfetched (kept in a job folder for the next run).
A host that has not answered once in this run is given up after ``HOST_UNREACHED_TIMEOUT``
instead: a mistyped address or a server not started is far likelier than an outage that
began just before the crawl (Scrapy gives up on such a host after its retries).
A worker of a shared crawl cannot see what else is queued, so it asks ``give_up_all``: it
gives up once no host has answered it for that long, its requests left queued in Redis.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from .errors import FetchError

log = logging.getLogger("scraper.outages")


def host_is_down(error: FetchError) -> bool:
    """Whether ``error`` means no connection could be made at all (what its cause says)."""
    return isinstance(error.__cause__, httpx.ConnectError | httpx.ConnectTimeout)


@dataclass(slots=True)
class Outage:
    since: float  # clock time of the first failure
    cause: str  # the latest failure, as the transport said it
    backoff: float  # seconds between the latest two attempts
    retry_at: float  # the host is tried again no earlier than this
    left: int = 0  # given up for this run: its requests not fetched
    given_up: bool = False


@dataclass(frozen=True, slots=True)
class OutageReport:
    """One host's outage, for the summary: ``left`` requests not fetched if it was given up."""

    host: str
    cause: str
    seconds: float  # down for this long (until it answered again, or until the crawl ended)
    recovered: bool
    given_up: bool = False  # this run gave up on it
    left: int = 0  # its requests this run took out, not fetched (none with a shared frontier)


class HostOutages:
    """Per-host outage state, shared by the fetch threads. Thread-safe."""

    def __init__(self, base: float, cap: float, timeout: float, unreached: float) -> None:
        self._base = max(base, 0.01)
        self._cap = max(cap, self._base)
        self._timeout = timeout
        self._unreached_timeout = min(unreached, timeout)
        self._answered: set[str] = set()  # hosts that answered in this run
        self._down: dict[str, Outage] = {}
        self._ended: list[OutageReport] = []
        self._last_reached = -math.inf  # when any host last answered
        self._lock = threading.Lock()

    def failed(self, host: str, cause: str, now: float) -> float:
        """A connection to ``host`` failed: the clock time to try it again."""
        with self._lock:
            outage = self._down.get(host)
            if outage is None:
                outage = self._down[host] = Outage(now, cause, self._base, now + self._base)
                log.warning(
                    "host %s cannot be reached (%s); its requests wait, tried again after "
                    "%gs, then up to every %gs",
                    host,
                    cause,
                    self._base,
                    self._cap,
                )
            elif now >= outage.retry_at:  # a new attempt failed, not one begun with another
                outage.backoff = min(outage.backoff * 2, self._cap)
                outage.retry_at = now + outage.backoff
                outage.cause = cause
            return outage.retry_at

    def reached(self, host: str, started: float, now: float) -> None:
        """A response came from ``host`` to a request begun at ``started``: its outage, if
        any, is over, unless the request began before it (an answer already on its way)."""
        self._last_reached = now
        self._answered.add(host)
        if host not in self._down:  # unlocked peek: the common case, no outage at all
            return
        with self._lock:
            outage = self._down.get(host)
            if outage is not None and started >= outage.since:
                del self._down[host]
                log.warning("host %s answers again after %.1fs down", host, now - outage.since)
                self._ended.append(
                    OutageReport(
                        host, outage.cause, now - outage.since, True, outage.given_up, outage.left
                    )
                )

    @property
    def any_down(self) -> bool:
        return bool(self._down)

    def give_up(self, hosts_left: Iterable[str], now: float) -> list[str]:
        """Of ``hosts_left`` (the hosts with queued requests, when nothing else is open), those
        to give up on for this run: down past their limit (``_limit``), or given up already (a
        request that was on its way back when the rest were taken out). None unless every one
        is down.
        """
        with self._lock:
            left = set(hosts_left)
            if not left or not left <= self._down.keys():
                return []
            return sorted(
                host
                for host in left
                if self._down[host].given_up or now - self._down[host].since >= self._limit(host)
            )

    def give_up_all(self, now: float) -> list[str]:
        """For a worker of a shared crawl, whose frontier cannot say what is left: give up on
        every host found down if none has answered for the longest of their limits and each has
        been down past its own (all this worker was handed in that time was theirs). Returns
        them."""
        with self._lock:
            hosts = sorted(self._down)
            if not hosts or now - self._last_reached < max(map(self._limit, hosts)):
                return []
            if any(now - self._down[host].since < self._limit(host) for host in hosts):
                return []
        for host in hosts:
            self.given_up(host, 0, now)
        return hosts

    def _limit(self, host: str) -> float:
        """How long ``host`` may stay down before this run gives up on it."""
        return self._timeout if host in self._answered else self._unreached_timeout

    def given_up(self, host: str, left: int, now: float) -> str:
        """``left`` more requests of ``host`` are not fetched in this run; returns the cause."""
        with self._lock:
            outage = self._down[host]
            if not outage.given_up:
                log.error(
                    "giving up on host %s for this run: unreachable for %.0fs (%s)",
                    host,
                    now - outage.since,
                    outage.cause,
                )
            outage.given_up = True
            outage.left += left
            return outage.cause

    def reports(self, now: float) -> list[OutageReport]:
        """Every outage of the crawl: those over first, then those still going on at ``now``."""
        with self._lock:
            going_on = [
                OutageReport(host, o.cause, now - o.since, False, o.given_up, o.left)
                for host, o in sorted(self._down.items())
            ]
            return self._ended + going_on
