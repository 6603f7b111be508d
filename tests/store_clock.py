"""Driving a store on a clock the test sets: no test of a store sleeps (tests/test_frontier.py,
tests/test_redis_frontier.py)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from scraper.models import Request
from scraper.store import IDLE, CrawlStore, Lease, Wait

START = 1000.0
BEFORE = 1e-6  # "just before" a ready time


class FakeClock:
    """A clock the test sets; ``on_set`` tells a store that keeps its own time (Redis)."""

    def __init__(self, on_set: Callable[[float], None] = lambda now: None) -> None:
        self.now = START
        self._on_set = on_set
        on_set(self.now)

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now
        self._on_set(now)

    def advance(self, seconds: float) -> None:
        self.set(self.now + seconds)


def redis_clock(url: str, crawl_name: str) -> FakeClock:
    """A clock for a Redis crawl: every script of the crawl takes the time it shows."""
    client = redis.Redis.from_url(url)
    return FakeClock(lambda now: client.set(f"{{{crawl_name}}}:clock", repr(now)))


def leased(store: CrawlStore) -> Request:
    got = store.next()
    assert isinstance(got, Lease), f"expected a lease, got {got}"
    return got.request


def nothing_ready(store: CrawlStore) -> None:
    got = store.next()
    assert isinstance(got, Wait) or got == IDLE, f"expected nothing to be handed out, got {got}"


def ready_at(store: CrawlStore, clock: FakeClock, at: float) -> Request:
    """Nothing is handed out until clock time ``at``; at ``at`` a request is."""
    got = store.next()
    # A store may wake its threads early (Redis: to see other workers' releases), never late.
    assert isinstance(got, Wait) and 0 < got.seconds <= at - clock.now + 1e-9, got
    clock.set(at - BEFORE)
    nothing_ready(store)
    clock.set(at)
    return leased(store)
