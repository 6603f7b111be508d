"""The frontier: the crawl's to-do list, and the place where politeness lives.

Flow position: spider start requests and callback output -> **frontier** -> fetch threads.

Mercator's design (as Heritrix, StormCrawler's URL Frontier and Scrapy's download slots): one
priority queue per host and a heap of hosts ordered by the time each may next be contacted.
``next()`` hands out a request from a host whose time has come and whose concurrency is not used
up, or says how long until one will be ready; it never sleeps, so a politeness delay never parks
a fetch thread. Retries wait in a not-before heap and do not hold up their host's other URLs.

The edge from the parse workers back into the frontier must never block (DESIGN.md section 2),
so ``add()`` never waits; the frontier is unbounded and in-flight work is bounded instead.

``Frontier`` is the small interface the SQLite and Redis stores implement; ``MemoryFrontier``
is the reference implementation and the test fake.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .models import Request

Clock = Callable[[], float]


class Frontier(Protocol):
    """What the engine needs from a frontier store."""

    def add(self, request: Request) -> bool:
        """Queue ``request`` unless it was seen before or is too deep. Never blocks."""

    def next(self) -> Request | float | None:
        """A request to fetch now (leased until ``release``), or seconds until one is ready,
        or None when nothing is queued at all (more may arrive while requests are leased)."""

    def ack(self, request: Request) -> None:
        """The request is finished for good: its output (items, new requests) is safe, or it
        failed. A store that survives crashes forgets it only now."""

    def release(self, request: Request, retry_at: float | None = None) -> None:
        """The fetch of a leased request ended. With ``retry_at`` (a clock time) it is queued
        again, not before then, without counting as a new URL."""

    def mark_sent(self, request: Request) -> None:
        """``request`` is being sent now. Its host's delay counts from here, not from the
        lease, so a request held up on its way out cannot bring the next one closer to it.
        Raises LeaseLost if the request is no longer this worker's to send."""

    def defer_host(self, host: str, until: float) -> None:
        """Contact ``host`` again no earlier than ``until`` (Retry-After, robots Crawl-delay)."""

    def set_host_delay(self, host: str, delay: float, throttle: bool = False) -> None:
        """Space requests to ``host`` at least ``delay`` seconds apart: its robots.txt
        Crawl-delay, or (``throttle``) the adaptive throttle's current delay."""

    def wait(self, timeout: float) -> None:
        """Block until the frontier changes or ``timeout`` seconds pass."""

    def close(self) -> None:
        """Stop handing out requests; ``next()`` returns None from now on."""

    def remember(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` for the whole crawl unless a value is there already
        (kept as long as the store: across resumes, across workers); returns the stored one."""

    def recall(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""

    @property
    def queued(self) -> int: ...

    @property
    def leased(self) -> int: ...


@dataclass(slots=True)
class HostState:
    """Per-host politeness state (Scrapy's download Slot, without a timer)."""

    # (-priority, ±seq, request): -seq when newest first (FRONTIER_ORDER=lifo)
    queue: list[tuple[int, int, Request]] = field(default_factory=list)
    active: int = 0
    next_time: float = 0.0
    scheduled: float | None = None  # time of this host's live entry in the ready heap
    delay: float | None = None  # host's own delay (robots.txt Crawl-delay), if stricter
    throttle: float = 0.0  # the adaptive throttle's current delay for this host
    last_start: float | None = None  # when the latest request to this host was handed out
    # (next_time before, after) the latest lease: what give_back_turn restores
    turn: tuple[float, float] | None = None


class MemoryFrontier:
    """In-memory frontier. Thread-safe; every method takes one short lock."""

    def __init__(
        self,
        *,
        concurrency_per_host: int = 2,
        delay: float = 0.0,
        randomize_delay: bool = False,
        depth_limit: int = 0,
        lifo: bool = True,
        throttle_start: float = 0.0,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._concurrency = concurrency_per_host
        self._order = -1 if lifo else 1
        self._delay = delay
        self._randomize = randomize_delay
        self._depth_limit = depth_limit
        self._throttle_start = throttle_start
        self._clock = clock
        self._rng = rng or random.Random()
        self._hosts: dict[str, HostState] = {}
        self._ready: list[tuple[float, int, str]] = []  # (ready time, seq, host)
        self._delayed: list[tuple[float, int, Request]] = []  # retries: (not before, seq, req)
        self._seen: set[int] = set()
        self._seq = itertools.count()
        self._queued = 0
        self._leased = 0
        self._closed = False
        self._changed = threading.Condition(threading.RLock())
        self.filtered = {"duplicate": 0, "depth": 0}
        self._memo: dict[str, str] = {}

    # -- adding ------------------------------------------------------------------------------
    def add(self, request: Request) -> bool:
        with self._changed:
            if self._depth_limit and request.depth > self._depth_limit:
                self.filtered["depth"] += 1
                return False
            # dont_filter skips the check, but the URL still counts as seen, so a start URL
            # linked from its own pages is not fetched twice.
            key = int.from_bytes(request.fingerprint()[:8], "big")
            if key in self._seen and not request.dont_filter:
                self.filtered["duplicate"] += 1
                return False
            self._seen.add(key)
            self._enqueue(request)
            self._changed.notify()
            return True

    def _enqueue(self, request: Request) -> None:
        host = self._host(request.host)
        heapq.heappush(host.queue, (-request.priority, self._order * next(self._seq), request))
        self._queued += 1
        self._schedule(request.host, host)

    def _host(self, name: str) -> HostState:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = HostState(throttle=self._throttle_start)
        return host

    def _schedule(self, name: str, host: HostState) -> None:
        """Put the host in the ready heap if it has work and a free slot (lazy deletion)."""
        if host.queue and host.active < self._concurrency and host.scheduled != host.next_time:
            host.scheduled = host.next_time
            heapq.heappush(self._ready, (host.next_time, next(self._seq), name))

    # -- leasing -----------------------------------------------------------------------------
    def next(self) -> Request | float | None:
        with self._changed:
            if self._closed:
                return None
            now = self._clock()
            while self._delayed and self._delayed[0][0] <= now:
                _, _, request = heapq.heappop(self._delayed)
                self._queued -= 1  # _enqueue counts it again
                self._enqueue(request)
            while self._ready:
                ready_at, _, name = self._ready[0]
                host = self._hosts[name]
                if host.scheduled != ready_at or not host.queue or host.active >= self._concurrency:
                    heapq.heappop(self._ready)  # stale entry
                    if host.scheduled == ready_at:
                        host.scheduled = None
                    continue
                if ready_at > now:
                    return self._earliest(ready_at) - now
                heapq.heappop(self._ready)
                host.scheduled = None
                _, _, request = heapq.heappop(host.queue)
                host.active += 1
                host.last_start = now
                host.turn = (host.next_time, now + self._host_delay(host))
                host.next_time = host.turn[1]
                self._queued -= 1
                self._leased += 1
                self._schedule(name, host)
                return request
            if self._delayed:
                return self._delayed[0][0] - now
            return None

    def _earliest(self, ready_at: float) -> float:
        return min(ready_at, self._delayed[0][0]) if self._delayed else ready_at

    def _host_delay(self, host: HostState) -> float:
        delay = max(self._delay, host.delay or 0.0, host.throttle)
        if self._randomize and delay:
            # Stretch, never shorten: the configured delay is a promise to the site.
            return delay * self._rng.uniform(1.0, 1.5)
        return delay

    def set_host_delay(self, host_name: str, delay: float, throttle: bool = False) -> None:
        with self._changed:
            host = self._host(host_name)
            if throttle:
                host.throttle = delay
            else:
                host.delay = delay
            # A stricter delay learnt mid-flight (robots.txt fetched with this host's turn)
            # applies to the request that comes next, too.
            if host.last_start is not None and host.last_start + delay > host.next_time:
                host.next_time = host.last_start + delay
                self._schedule(host_name, host)

    def release(self, request: Request, retry_at: float | None = None) -> None:
        with self._changed:
            host = self._hosts[request.host]
            host.active -= 1
            self._leased -= 1
            if retry_at is not None:
                heapq.heappush(self._delayed, (retry_at, next(self._seq), request))
                self._queued += 1
            self._schedule(request.host, host)
            # One slot came free: one waiting thread is enough to take it (waking all of them
            # costs the main process more than the fetching does, on fast sites).
            self._changed.notify()

    def give_back_turn(self, request: Request) -> None:
        """``request`` (leased) was answered without contacting its host (an HTTP cache hit):
        the delay its lease charged is taken back, unless another request of the host is out
        or the host's time has moved since."""
        with self._changed:
            host = self._hosts[request.host]
            if host.active == 1 and host.turn is not None and host.next_time == host.turn[1]:
                host.next_time = host.turn[0]
                host.turn = None
                self._schedule(request.host, host)

    def mark_sent(self, request: Request) -> None:
        with self._changed:
            host_name = request.host
            host = self._host(host_name)
            sent_at = self._clock()
            host.last_start = sent_at
            # One draw of the random stretch: compared and kept, the same value.
            ready_at = sent_at + self._host_delay(host)
            if ready_at > host.next_time:
                host.next_time = ready_at
                self._schedule(host_name, host)

    def ack(self, request: Request) -> None:
        """Nothing to forget in memory: a released request is already gone."""

    def defer_host(self, host_name: str, until: float) -> None:
        with self._changed:
            host = self._host(host_name)
            if until > host.next_time:  # only ever later: no waiting thread needs waking
                host.next_time = until
                self._schedule(host_name, host)

    def wait(self, timeout: float) -> None:
        with self._changed:
            if not self._closed:
                self._changed.wait(timeout)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def remember(self, key: str, value: str) -> str:
        with self._changed:
            return self._memo.setdefault(key, value)

    def recall(self, key: str) -> str | None:
        return self._memo.get(key)

    # -- hosts given up for this run -------------------------------------------------------
    def queued_hosts(self) -> set[str]:
        """The hosts with requests queued (or waiting to be retried)."""
        with self._changed:
            hosts = {name for name, host in self._hosts.items() if host.queue}
            hosts.update(request.host for _, _, request in self._delayed)
            return hosts

    def park_host(self, name: str) -> list[Request]:
        """Take every queued request of host ``name`` out of this run and return them. Not
        acknowledged: a store that survives crashes keeps them for the next run."""
        with self._changed:
            host = self._hosts.get(name)
            parked = [request for _, _, request in host.queue] if host is not None else []
            if host is not None:
                host.queue.clear()
            kept = [entry for entry in self._delayed if entry[2].host != name]
            parked += [entry[2] for entry in self._delayed if entry[2].host == name]
            heapq.heapify(kept)
            self._delayed = kept
            self._queued -= len(parked)
            return parked

    # -- introspection ---------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return self._queued

    @property
    def leased(self) -> int:
        return self._leased


class CrawlState:
    """What a spider keeps for the whole crawl (``spider.crawl_state``): JSON values that last
    as long as the frontier's store, so across resumes with a job folder and across workers
    with Redis. The first value stored under a key wins, so workers starting together agree.
    """

    def __init__(self, frontier: Frontier) -> None:
        self._frontier = frontier

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._frontier.recall(key)
        return default if raw is None else json.loads(raw)

    def setdefault(self, key: str, value: Any) -> Any:
        """Store ``value`` unless ``key`` has one; returns the value stored (as dict.setdefault)."""
        return json.loads(self._frontier.remember(key, json.dumps(value)))
