"""The store conformance suite: one contract (``store.CrawlStore``), three stores.

Every test runs against the memory frontier, the job folder's (memory + SQLite journal) and the
Redis frontier (a private redis-server), all on a clock the test moves: the Redis scripts read
the crawl's ``clock`` key as their time. No test here sleeps. Dedup, depth, priority and order,
per-host spacing and concurrency, Retry-After, retries, closing, seeding and resume, and the
ack that queues a page's children are the same promise whichever store keeps them.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_clock import BEFORE, START, FakeClock, leased, nothing_ready, ready_at, redis_clock

from scraper.distributed import RedisFrontier
from scraper.frontier import MemoryFrontier
from scraper.jobdir import SQLiteJournal
from scraper.models import Request
from scraper.politeness import Politeness
from scraper.store import IDLE, CrawlStore, Lease, Wait

pytest_plugins = ["redis_server"]  # fixtures: redis_server

STORES = ["memory", "sqlite", "redis"]


Make = Callable[..., CrawlStore]


class Stores:
    """Builds stores of one kind on one fake clock; reopening a durable one is a resume."""

    def __init__(self, kind: str, folder: Path, redis_url: str | None) -> None:
        self.kind = kind
        self.folder = folder
        self.redis_url = redis_url
        self.name = f"conformance-{uuid.uuid4().hex[:8]}"
        self.clock = redis_clock(redis_url, self.name) if redis_url else FakeClock()
        self.opened: list[CrawlStore] = []

    def __call__(self, rng: random.Random | None = None, **politeness: object) -> CrawlStore:
        rules = Politeness(**politeness)  # type: ignore[arg-type]
        store: CrawlStore
        if self.kind == "redis":
            assert self.redis_url is not None
            store = RedisFrontier(self.redis_url, self.name, rules, clock=self.clock, rng=rng)
        elif self.kind == "sqlite":
            store = MemoryFrontier(
                rules, clock=self.clock, rng=rng, journal=SQLiteJournal(self.folder)
            )
        else:
            store = MemoryFrontier(rules, clock=self.clock, rng=rng)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.shutdown()


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    made = Stores(request.param, tmp_path, url)
    yield made
    made.close_all()


@pytest.fixture
def clock(stores: Stores) -> FakeClock:
    return stores.clock


def one_host(make: Make, count: int, **politeness: object) -> CrawlStore:
    """A store holding ``count`` requests to a.test."""
    store = make(**politeness)
    for i in range(count):
        store.add(Request(f"http://a.test/{i}"))
    return store


def test_per_host_delay_is_a_ready_time_not_a_sleep(stores, clock):
    store = one_host(stores, 3, delay=2.0, concurrency_per_host=5)
    first = leased(store)
    store.mark_sent(first)
    ready_at(store, clock, START + 2.0)


def test_hosts_are_independent(stores, clock):
    store = stores(delay=10.0)
    for host in "abc":
        store.add(Request(f"http://{host}.test/1"))
        store.add(Request(f"http://{host}.test/2"))
    hosts = {leased(store).host for _ in range(3)}
    assert hosts == {"a.test", "b.test", "c.test"}
    ready_at(store, clock, START + 10.0)


def test_concurrency_per_host_caps_leases_until_release(stores):
    store = stores(concurrency_per_host=2)
    for i in range(4):
        store.add(Request(f"http://a.test/{i}"))
    first, _ = leased(store), leased(store)
    nothing_ready(store)  # slots used up: nothing can be handed out
    store.release(first)
    leased(store)
    assert store.leased == 2 and store.queued == 1


@pytest.mark.parametrize("limit", [1, 3])
def test_per_host_concurrency_is_capped_with_no_delay_set(stores, limit):
    """No delay at all, so only the cap holds leases back: exactly ``limit`` at once."""
    store = stores(concurrency_per_host=limit)
    for i in range(limit + 2):
        store.add(Request(f"http://a.test/{i}"))
    store.add(Request("http://b.test/0"))
    out = [leased(store) for _ in range(limit + 1)]  # the cap on a.test, and b.test
    assert sorted(r.host for r in out).count("a.test") == limit
    nothing_ready(store)
    store.release(out[0] if out[0].host == "a.test" else out[1])
    assert leased(store).host == "a.test"


@pytest.mark.parametrize(
    ("lifo", "expected"), [(True, ["high", "low2", "low1"]), (False, ["high", "low1", "low2"])]
)
def test_priority_then_order_within_a_host(stores, lifo, expected):
    store = stores(lifo=lifo)
    store.add(Request("http://a.test/low1"))
    store.add(Request("http://a.test/high", priority=5))
    store.add(Request("http://a.test/low2"))
    order = []
    while isinstance(got := store.next(), Lease):
        order.append(got.request.url.rsplit("/", 1)[1])
        store.release(got.request)
        store.ack(got.request)
    assert order == expected


def test_dedup_by_canonical_fingerprint_and_dont_filter(stores):
    store = stores()
    assert store.add(Request("http://a.test/p?b=2&a=1"))
    assert not store.add(Request("http://a.test/p?a=1&b=2"))  # same canonical URL
    assert not store.add(Request("http://a.test/p?a=1&b=2#frag"))
    assert store.add(Request("http://a.test/p?a=1&b=2", method="POST"))
    assert store.add(Request("http://a.test/p?a=1&b=2", dont_filter=True))
    # A dont_filter start URL still marks its URL seen for later links.
    assert store.add(Request("http://a.test/start", dont_filter=True))
    assert not store.add(Request("http://a.test/start"))


def test_urls_that_differ_only_in_their_query_are_all_kept(stores):
    store = stores()
    urls = ["http://a.test/p", "http://a.test/p?page=2", "http://a.test/p?page=3"]
    urls += ["http://a.test/p?page=2&sort=new", "http://a.test/p?sort=new"]
    assert store.add_many([Request(url) for url in urls]) == len(urls)
    assert not store.add(Request("http://a.test/p?page=2"))
    assert store.queued == len(urls)


def test_depth_limit(stores):
    store = stores(depth_limit=2)
    assert store.add(Request("http://a.test/2", meta={"depth": 2}))
    assert not store.add(Request("http://a.test/3", meta={"depth": 3}))
    assert store.queued == 1


def test_retry_waits_without_holding_up_the_host(stores, clock):
    store = stores(concurrency_per_host=1)
    store.add(Request("http://a.test/other"))
    store.add(Request("http://a.test/flaky"))  # newest: leased first
    flaky = leased(store)
    flaky.attempts = 1
    store.release(flaky, retry_at=clock.now + 30)
    other = leased(store)
    assert other.url.endswith("/other")
    store.release(other)
    store.ack(other)
    again = ready_at(store, clock, START + 30)  # only the retry is left, not due before
    assert again.url == flaky.url and again.attempts == 1
    assert store.queued == 0


def test_defer_host_pushes_back_every_request_of_that_host_only(stores, clock):
    store = stores()
    store.add(Request("http://a.test/1"))
    store.add(Request("http://b.test/1"))
    store.defer_host("a.test", clock.now + 60)
    other = leased(store)
    assert other.host == "b.test"
    store.release(other)
    store.ack(other)
    store.defer_host("a.test", clock.now + 5)  # never pulls an earlier deferral forward
    assert ready_at(store, clock, START + 60).host == "a.test"


def test_host_delay_from_robots_is_per_host(stores, clock):
    store = stores(delay=0.5, concurrency_per_host=4)
    store.set_host_delay("a.test", 3.0)
    for host in ("a.test", "b.test"):
        store.add(Request(f"http://{host}/1"))
        store.add(Request(f"http://{host}/2"))
    leased(store)
    leased(store)
    assert ready_at(store, clock, START + 0.5).host == "b.test"
    assert ready_at(store, clock, START + 3.0).host == "a.test"


def test_randomized_delay_never_shortens(stores, clock):
    store = one_host(stores, 20, delay=1.0, randomize_delay=True, concurrency_per_host=9)
    request = leased(store)
    for _ in range(19):
        store.release(request)
        store.ack(request)
        started = clock.now
        clock.set(started + 1.0 - BEFORE)
        nothing_ready(store)  # never before the delay
        clock.set(started + 1.5)  # and stretched by at most half of it
        request = leased(store)


def test_a_randomised_delay_at_send_is_drawn_once(stores, clock):
    """The stretch compared with the host's ready time is the one kept (one draw, not two)."""

    class Draws(random.Random):
        def __init__(self) -> None:
            super().__init__()
            # The lease's, the send's, then what a redraw would see (and later leases).
            self.values = itertools.chain([1.0, 1.4], itertools.repeat(1.0))

        def uniform(self, a: float, b: float) -> float:
            return next(self.values)

    store = one_host(stores, 2, rng=Draws(), delay=1.0, randomize_delay=True)
    first = leased(store)
    clock.set(START + 0.5)
    store.mark_sent(first)  # draws 1.4: ready at 0.5 + 1.4, not at a redrawn 0.5 + 1.0
    ready_at(store, clock, START + 0.5 + 1.4)


def test_delay_counts_from_the_send_not_the_lease(stores, clock):
    """A request handed out, then 5 s on its way (a slow connect): the next request to its host
    waits the full delay after the send, not after the lease."""
    store = one_host(stores, 2, delay=2.0, concurrency_per_host=2)
    slow = leased(store)
    clock.advance(5.0)
    store.mark_sent(slow)
    ready_at(store, clock, START + 5.0 + 2.0)  # not at once, 3 s past the lease's delay


def test_delay_counts_from_the_write_with_the_gap_drawn_at_the_send(stores, clock):
    """The request's headers took 0.3 s to write (a busy machine held its thread between the
    two hooks): the next request waits the drawn gap after the write, so the site never sees
    two closer than the delay. Redis keeps the send's time: a second round trip per request
    is not worth the write's usual microseconds."""

    class Draws(random.Random):
        def __init__(self) -> None:
            super().__init__()
            self.values = itertools.chain([1.0, 1.4], itertools.repeat(1.0))  # lease, send

        def uniform(self, a: float, b: float) -> float:
            return next(self.values)

    store = one_host(stores, 2, rng=Draws(), delay=1.0, randomize_delay=True)
    first = leased(store)
    store.mark_sent(first)
    clock.advance(0.3)
    store.sent(first)
    written = 0.0 if stores.kind == "redis" else 0.3
    ready_at(store, clock, START + written + 1.4)


def test_a_stricter_delay_learnt_in_flight_spaces_the_next_request(stores, clock):
    """robots.txt says Crawl-delay: 3 while a request to the host is out (it was fetched with
    that request's turn): the host's next request waits 3 s from that request's start."""
    store = one_host(stores, 2, delay=0.5, concurrency_per_host=2)
    store.mark_sent(leased(store))
    clock.advance(0.5)
    store.set_host_delay("a.test", 3.0)
    ready_at(store, clock, START + 3.0)


def test_closed_store_hands_out_nothing(stores):
    store = stores()
    store.add(Request("http://a.test/1"))
    store.close()
    assert store.next() == IDLE
    assert store.queued == 1


def test_ack_queues_the_pages_children_in_the_same_step(stores):
    store = stores()
    assert store.claim_seeding()
    store.add(Request("http://a.test/page"))
    store.finish_seeding()
    page = leased(store)
    store.release(page)
    assert not store.finished()  # released, not acknowledged: still open
    children = [
        Request("http://a.test/1"),
        Request("http://a.test/2"),
        Request("http://a.test/page"),
    ]
    assert store.ack(page, children)
    assert store.queued == 2  # the page itself is seen already
    assert not store.finished()
    for _ in range(2):
        child = leased(store)
        store.release(child)
        store.ack(child)
    assert store.finished()


def test_seeding_is_claimed_once(stores):
    store = stores()
    assert store.claim_seeding()
    store.add(Request("http://a.test/start"))
    store.finish_seeding()
    assert not store.seeding_lapsed()
    if stores.kind != "memory":  # a store that outlasts the process: its next one is resumed
        again = stores()
        assert not again.claim_seeding()


def test_crawl_state_is_first_writer_wins(stores):
    store = stores()
    assert store.recall("demo") is None
    assert store.remember("demo", "one") == "one"
    assert store.remember("demo", "two") == "one"
    assert store.recall("demo") == "one"


@pytest.mark.parametrize("stores", ["sqlite", "redis"], indirect=True)
def test_work_open_at_a_crash_is_done_again_by_the_next_store(stores, clock):
    """Durable stores: a request leased and never acknowledged (the process died) is handed
    out again by the store that comes next (a resume; another worker after the lease runs
    out); acknowledged ones are not, and nothing is seen twice."""
    first = stores(concurrency_per_host=9)
    assert first.claim_seeding()
    first.add_many([Request(f"http://a.test/{i}") for i in range(3)])
    first.finish_seeding()
    done = leased(first)
    first.release(done)
    first.ack(done)
    lost = leased(first)  # in flight at the crash
    if stores.kind == "redis":
        first.stop_heartbeat()  # type: ignore[attr-defined]  # the process froze
        clock.advance(31)  # past the lease
    second = stores(concurrency_per_host=9)
    urls = set()
    while isinstance(got := second.next(), Lease):
        urls.add(got.request.url)
        second.release(got.request)
        second.ack(got.request)
    assert lost.url in urls and done.url not in urls and len(urls) == 2
    assert not second.add(Request(done.url))  # still seen
    assert second.finished()


def test_memory_cache_hit_gives_its_hosts_turn_back():
    """Memory only: a lease answered from the HTTP cache did not contact its host."""
    now = [0.0]
    store = MemoryFrontier(Politeness(delay=60.0, concurrency_per_host=1), clock=lambda: now[0])
    for name in ("a", "b", "c"):
        store.add(Request(f"http://h.test/{name}"))
    first = leased(store)
    store.give_back_turn(first)  # answered from the cache
    store.release(first)
    second = leased(store)  # at once: the cache hit cost the host nothing
    store.mark_sent(second)  # a real request: its delay stands
    store.release(second)
    assert store.next() == Wait(60.0)
