"""The memory frontier: the crawl's to-do list, and the place where politeness lives.

Flow position: spider start requests and callback output -> **frontier** -> fetch threads.

Mercator's design (as Heritrix, StormCrawler's URL Frontier and Scrapy's download slots): one
priority queue per host and a heap of hosts ordered by the time each may next be contacted.
``next()`` hands out a request from a host whose time has come and whose concurrency is not used
up, or says how long until one will be ready; it never sleeps, so a politeness delay never parks
a fetch thread. Retries wait in a not-before heap and do not hold up their host's other URLs.
The rules themselves (delays, stretch, concurrency, dedup key) are ``politeness.py``'s.

The edge from the parse workers back into the frontier must never block (DESIGN.md section 2),
so adding never waits; the frontier is unbounded and in-flight work is bounded instead.

``MemoryFrontier`` implements ``store.CrawlStore``. With a ``Journal`` hooked onto its
transitions (jobdir.SQLiteJournal) it is the job folder's store too: same rules, same code.

Why one module of this length: the memory store's transitions and the Journal protocol they
report to; the rules they apply live in ``politeness.py``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .alarm import Alarm
from .models import Request
from .politeness import Politeness, fingerprint_key
from .store import IDLE, Clock, ItemJournal, Lease, Next, Wait

log = logging.getLogger("scraper.frontier")

SEEDED = "seeded"  # the journal's key saying the start requests are in


class Journal(Protocol):
    """What a store that survives crashes records of the memory frontier's transitions
    (jobdir.SQLiteJournal). Every call is made under the frontier's lock, inside ``step()``:
    one step is one transaction, and a step that cannot be recorded raises StoreError."""

    durable: bool

    def step(self) -> AbstractContextManager[None]: ...

    def restore(self) -> tuple[set[int], list[Request]]:
        """The fingerprint keys seen and the requests queued (leased ones included) by
        earlier runs."""

    def added(self, request: Request, key: int) -> None:
        """``request`` (fingerprint ``key``) was queued; sets its ``store_id``. Raises
        ValueError if it cannot be recorded (a meta value that is not data)."""

    def leased(self, request: Request) -> None: ...

    def requeued(self, request: Request) -> None:
        """Queued again for a retry, with its attempts so far."""

    def acked(self, request: Request) -> None: ...

    def get(self, key: str) -> str | None: ...

    def setdefault(self, key: str, value: str) -> str: ...

    def item_journal(self) -> ItemJournal | None:
        """The items file kept beside the journal, if any."""

    def close(self) -> None: ...


class NoJournal:
    """Nothing outlasts the process: the plain in-memory crawl."""

    durable = False

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def step(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def restore(self) -> tuple[set[int], list[Request]]:
        return set(), []

    def added(self, request: Request, key: int) -> None:
        pass

    def leased(self, request: Request) -> None:
        pass

    def requeued(self, request: Request) -> None:
        pass

    def acked(self, request: Request) -> None:
        pass

    def get(self, key: str) -> str | None:
        return self._memo.get(key)

    def setdefault(self, key: str, value: str) -> str:
        return self._memo.setdefault(key, value)

    def item_journal(self) -> ItemJournal | None:
        return None

    def close(self) -> None:
        pass


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
    last_start: float | None = None  # when the latest request to this host was sent (or leased)
    drawn: float = 0.0  # the gap drawn for the latest send: its write counts it again
    # (next_time before, after) the latest lease: what give_back_turn restores
    turn: tuple[float, float] | None = None


class MemoryFrontier:
    """The in-memory store (``store.CrawlStore``); with a ``journal``, each transition is
    also recorded in the same lock, which makes it the job folder's store. Thread-safe: every
    method takes one short lock."""

    def __init__(
        self,
        politeness: Politeness | None = None,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.politeness = politeness = politeness or Politeness()
        self._order = -1 if politeness.lifo else 1
        self._clock = clock
        self._rng = rng or random.Random()
        self._journal: Journal = journal or NoJournal()
        self.durable = self._journal.durable
        self._hosts: dict[str, HostState] = {}
        self._ready: list[tuple[float, int, str]] = []  # (ready time, seq, host)
        self._delayed: list[tuple[float, int, Request]] = []  # retries: (not before, seq, req)
        self._seq = itertools.count()
        self._queued = 0
        self._leased = 0  # handed out, not yet released: being fetched
        self._open = 0  # handed out, not yet acknowledged (or queued again)
        self._closed = False
        self._changed = threading.Condition(threading.RLock())
        self._alarm = Alarm(self._changed)
        with self._changed, self._journal.step():
            self._seen, restored = self._journal.restore()
            for request in restored:
                self._enqueue(request)
        self.resumed = len(restored)

    # -- adding ------------------------------------------------------------------------------
    def add(self, request: Request) -> bool:
        with self._changed, self._journal.step():
            return self._add(request)

    def add_many(self, requests: Sequence[Request]) -> int:
        with self._changed, self._journal.step():
            return sum(self._add(request) for request in requests)

    def _add(self, request: Request) -> bool:
        if self.politeness.too_deep(request):
            return False
        # dont_filter skips the check, but the URL still counts as seen, so a start URL
        # linked from its own pages is not fetched twice.
        key = fingerprint_key(request)
        if key in self._seen and not request.dont_filter:
            return False
        try:
            self._journal.added(request, key)
        except ValueError as exc:  # a meta value changed after the Request was made
            log.error("dropped %s: %s", request.url, exc)
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
            host = self._hosts[name] = HostState(throttle=self.politeness.throttle_start)
        return host

    def _schedule(self, name: str, host: HostState) -> None:
        """Put the host in the ready heap if it has work and a free slot (lazy deletion)."""
        if (
            host.queue
            and host.active < self.politeness.concurrency_per_host
            and host.scheduled != host.next_time
        ):
            host.scheduled = host.next_time
            heapq.heappush(self._ready, (host.next_time, next(self._seq), name))

    # -- leasing -----------------------------------------------------------------------------
    def next(self) -> Next:
        with self._changed, self._journal.step():
            if self._closed:
                return IDLE
            now = self._clock()
            first = self._first_ready(now)
            if first is None or first[0] > now:
                due = self._due(first)
                return IDLE if due is None else Wait(due - now)
            _, name = first
            heapq.heappop(self._ready)
            host = self._hosts[name]
            host.scheduled = None
            _, _, request = heapq.heappop(host.queue)
            self._journal.leased(request)
            host.active += 1
            host.last_start = now
            host.turn = (host.next_time, now + self._host_delay(host))
            host.next_time = host.turn[1]
            self._queued -= 1
            self._leased += 1
            self._open += 1
            self._schedule(name, host)
            self._alarm.taken()
            return Lease(request)

    def _first_ready(self, now: float) -> tuple[float, str] | None:
        """The host next in turn and its ready time, once retries due by ``now`` are queued
        again and stale heap entries dropped; None if no host can take a request."""
        while self._delayed and self._delayed[0][0] <= now:
            _, _, request = heapq.heappop(self._delayed)
            self._queued -= 1  # _enqueue counts it again
            self._enqueue(request)
        while self._ready:
            ready_at, _, name = self._ready[0]
            host = self._hosts[name]
            if (
                host.scheduled == ready_at
                and host.queue
                and host.active < self.politeness.concurrency_per_host
            ):
                return ready_at, name
            heapq.heappop(self._ready)  # stale entry
            if host.scheduled == ready_at:
                host.scheduled = None
        return None

    def _due(self, first: tuple[float, str] | None) -> float | None:
        """When something can be handed out next: the ``first`` host's turn or the first
        retry, whichever comes sooner; None if nothing is queued."""
        times = [first[0]] if first is not None else []
        if self._delayed:
            times.append(self._delayed[0][0])
        return min(times, default=None)

    def _host_delay(self, host: HostState) -> float:
        delay = self.politeness.host_delay(host.delay, host.throttle)
        return delay * self.politeness.stretch(self._rng) if delay else 0.0

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
        with self._changed, self._journal.step():
            host = self._hosts[request.host]
            host.active -= 1
            self._leased -= 1
            if retry_at is not None:
                self._journal.requeued(request)
                heapq.heappush(self._delayed, (retry_at, next(self._seq), request))
                self._queued += 1
                self._open -= 1
            self._schedule(request.host, host)
            # One slot came free: one waiting thread is enough to take it (waking all of them
            # costs the main process more than the fetching does, on fast sites).
            self._changed.notify()

    def give_back_turn(self, request: Request) -> None:
        """The delay the lease charged is taken back, unless another request of the host is
        out or the host's time has moved since."""
        with self._changed:
            host = self._hosts[request.host]
            if host.active == 1 and host.turn is not None and host.next_time == host.turn[1]:
                host.next_time = host.turn[0]
                host.turn = None
                self._schedule(request.host, host)
                self._changed.notify()  # the host may be ready sooner than anyone waits for

    def mark_sent(self, request: Request) -> None:
        with self._changed:
            host = self._host(request.host)
            host.drawn = self._host_delay(host)  # one draw of the random stretch per send
            self._sent_at(request.host, host, self._clock())

    def sent(self, request: Request) -> None:
        with self._changed:
            host = self._hosts.get(request.host)
            if host is not None:
                self._sent_at(request.host, host, self._clock())

    def _sent_at(self, name: str, host: HostState, now: float) -> None:
        host.last_start = now
        ready_at = now + host.drawn
        if ready_at > host.next_time:
            host.next_time = ready_at
            self._schedule(name, host)

    def ack(self, request: Request, children: Sequence[Request] = ()) -> bool:
        with self._changed, self._journal.step():
            for child in children:
                self._add(child)
            self._journal.acked(request)
            self._open -= 1
            if not self._open:
                self._changed.notify_all()
            return True

    def defer_host(self, host_name: str, until: float) -> None:
        with self._changed:
            host = self._host(host_name)
            if until > host.next_time:  # only ever later: no waiting thread needs waking
                host.next_time = until
                self._schedule(host_name, host)

    def wait(self, timeout: float) -> None:
        """Sleep until the earliest ready time (at most ``timeout``), or until something
        changes; a few of the waiting threads keep that time, the others are woken as work
        is taken (``alarm.py``)."""
        with self._changed:
            if self._closed:
                return
            now = self._clock()
            # Asked again under the lock: what became ready since the caller's next() woke
            # no one, since the caller was not waiting yet.
            due = self._due(self._first_ready(now))
            until = now + timeout if due is None else min(due, now + timeout)
            if until > now:
                self._alarm.wait(now, until)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- the crawl as a whole ----------------------------------------------------------------
    def claim_seeding(self) -> bool:
        """Seeded once per store: a job folder's resume does not add the start requests."""
        with self._changed, self._journal.step():
            return self._journal.get(SEEDED) is None

    def finish_seeding(self) -> None:
        with self._changed, self._journal.step():
            self._journal.setdefault(SEEDED, "1")

    def seeding_lapsed(self) -> bool:
        return False  # seeding runs in this process, before any fetch

    def finished(self) -> bool:
        with self._changed:
            return self._queued == 0 and self._open == 0

    def remember(self, key: str, value: str) -> str:
        with self._changed, self._journal.step():
            return self._journal.setdefault(f"state:{key}", value)

    def recall(self, key: str) -> str | None:
        with self._changed, self._journal.step():
            return self._journal.get(f"state:{key}")

    def item_journal(self, output: Path) -> ItemJournal | None:
        return self._journal.item_journal()

    def claim_output(self) -> bool:
        return True  # the only process of its crawl

    def shutdown(self) -> None:
        with self._changed:
            self._journal.close()

    # -- hosts given up for this run -------------------------------------------------------
    def queued_hosts(self) -> set[str]:
        """The hosts with requests queued (or waiting to be retried)."""
        with self._changed:
            hosts = {name for name, host in self._hosts.items() if host.queue}
            hosts.update(request.host for _, _, request in self._delayed)
            return hosts

    def park_host(self, name: str) -> list[Request]:
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
