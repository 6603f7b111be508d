"""The Redis frontier store on a real (private) redis-server: atomic dedup+enqueue, leases with
fencing tokens, acks that queue a page's children, reclaim and dead letters, global per-host
politeness, compact dedup."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli
from store_clock import START, FakeClock, leased, nothing_ready, ready_at, redis_clock

from scraper.distributed import RedisFrontier
from scraper.distributed.connection import CrawlRedis, Retrying
from scraper.distributed.frontier import LONGEST_WAIT, key_prefix
from scraper.distributed.seeding import SeedingClaim
from scraper.distributed.status import dedup_bytes
from scraper.errors import LeaseLost
from scraper.models import Request
from scraper.politeness import Politeness
from scraper.store import Lease, Wait

pytest_plugins = ["redis_server"]  # fixtures: redis_server, crawl_name, dead_redis_url


POLITENESS = set(Politeness.__dataclass_fields__)


def store(server, name: str, clock: FakeClock | None = None, **options: object) -> RedisFrontier:
    """A worker of crawl ``name``; ``options`` are Politeness fields and RedisFrontier's own."""
    rules = Politeness(**{k: v for k, v in options.items() if k in POLITENESS})  # type: ignore[arg-type]
    own = {k: v for k, v in options.items() if k not in POLITENESS}
    clock = clock or redis_clock(server.url, name)
    return RedisFrontier(server.url, name, rules, clock=clock, **own)  # type: ignore[arg-type]


def state(server, name: str) -> dict[str, int]:
    raw = server.client().hgetall(f"{{{name}}}:state")
    return {k.decode(): int(v) for k, v in raw.items()}


def test_add_dedups_and_enqueues_in_one_step(redis_server, crawl_name):
    frontier = store(redis_server, crawl_name)
    assert frontier.add(Request("http://a.test/1"))
    assert not frontier.add(Request("http://a.test/1"))
    assert not frontier.add(Request("http://a.test/1#fragment"))  # same canonical URL
    assert frontier.add(Request("http://a.test/1", dont_filter=True))
    state = redis_server.client().hgetall(f"{{{crawl_name}}}:state")
    assert (state[b"seen"], state[b"queued"], state[b"duplicates"]) == (b"1", b"2", b"2")
    frontier.shutdown()


def test_per_host_delay_and_concurrency_hold_across_workers(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    one = store(redis_server, crawl_name, clock, delay=0.3, concurrency_per_host=1)
    two = store(redis_server, crawl_name, clock, delay=0.3, concurrency_per_host=1)
    for i in range(3):
        one.add(Request(f"http://a.test/{i}"))
    first = leased(one)
    nothing_ready(two)  # the host's only slot is taken, by the other worker
    one.release(first)  # the slot is free again, but the host's time has not come
    assert ready_at(two, clock, START + 0.3).url != first.url
    for frontier in (one, two):
        frontier.shutdown()


def test_per_host_concurrency_is_capped_across_workers(redis_server, crawl_name):
    """No delay to hide behind: the cap alone stops a host's third lease, whichever worker
    asks, until one of the two in flight ends."""
    clock = redis_clock(redis_server.url, crawl_name)
    one, two, late = (
        store(redis_server, crawl_name, clock, concurrency_per_host=2) for _ in range(3)
    )
    for i in range(4):
        one.add(Request(f"http://a.test/{i}"))
    one.add(Request("http://b.test/0"))
    held = [leased(one), leased(two), leased(one)]
    assert Counter(request.host for request in held) == {"a.test": 2, "b.test": 1}
    nothing_ready(late)  # a.test's two slots are taken
    client = redis_server.client()
    assert client.hget(f"{{{crawl_name}}}:h:a.test", "active") == b"2"
    assert client.zscore(f"{{{crawl_name}}}:ready", "a.test") is None
    done = next(request for request in held if request.host == "a.test")
    owner = one if done is held[0] else two
    owner.release(done)
    owner.ack(done)
    clock.advance(LONGEST_WAIT)  # how soon a worker notices another worker's release
    assert leased(late).host == "a.test"
    assert client.hget(f"{{{crawl_name}}}:h:a.test", "active") == b"2"
    for frontier in (one, two, late):
        frontier.shutdown()


def test_expired_lease_comes_back_and_late_ack_is_refused(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    slow = store(redis_server, crawl_name, clock, lease_timeout=0.3)
    slow.stop_heartbeat()  # a stopped process: its leases are not extended
    other = store(redis_server, crawl_name, clock, lease_timeout=5)
    slow.add(Request("http://a.test/page"))
    held = leased(slow)
    clock.advance(0.3)
    again = leased(other)  # reclaimed by the lease call itself
    assert again.url == held.url and again.store_id != held.store_id  # a new fencing token
    slow.release(held)
    child = Request("http://a.test/child")
    assert slow.ack(held, [child]) is False  # late: refused, and its child is not queued
    assert state(redis_server, crawl_name)["queued"] == 0
    other.release(again)
    assert other.ack(again, [child]) is True  # the current holder's ack counts
    counts = state(redis_server, crawl_name)
    assert (counts["reclaimed"], counts["acks_rejected"], counts["done"]) == (1, 1, 1)
    assert (counts["queued"], counts["leased"]) == (1, 0)
    for frontier in (slow, other):
        frontier.shutdown()


def test_ack_queues_the_pages_children_and_ends_its_fetch_in_one_step(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    frontier = store(redis_server, crawl_name, clock, delay=0.3, concurrency_per_host=1)
    frontier.add(Request("http://a.test/page"))
    frontier.add(Request("http://a.test/seen"))
    page = leased(frontier)
    clock.advance(0.2)  # the fetch ends at the ack, not at the lease
    children = [Request(f"http://a.test/{name}") for name in ("new", "seen", "new", "other")]
    assert frontier.ack(page, children) is True  # no release first: the ack ends the fetch
    counts = state(redis_server, crawl_name)
    assert (counts["done"], counts["leased"], counts["queued"]) == (1, 0, 3)
    assert (counts["seen"], counts["duplicates"]) == (4, 2)  # "seen" and the second "new"
    ready_at(frontier, clock, START + 0.2 + 0.3)  # the slot is free; the delay counts from the ack
    frontier.shutdown()


def test_a_reclaimed_lease_frees_its_host_once_and_keeps_its_delay(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    options = {"delay": 0.3, "concurrency_per_host": 1}
    slow = store(redis_server, crawl_name, clock, lease_timeout=0.2, **options)
    slow.stop_heartbeat()  # a dead worker: its lease is not extended
    other = store(redis_server, crawl_name, clock, lease_timeout=5, **options)
    for i in range(3):
        slow.add(Request(f"http://a.test/{i}"))
    leased(slow)
    clock.advance(0.35)  # past the lease, and past the host's delay from that lease
    # The lost request may have reached the site as late as the reclaim: the delay counts
    # from there, so this first call reclaims and hands out nothing yet.
    ready_at(other, clock, START + 0.35 + 0.3)
    nothing_ready(other)  # one slot per host, and it is taken
    assert redis_server.client().hget(f"{{{crawl_name}}}:h:a.test", "active") == b"1"
    for frontier in (slow, other):
        frontier.shutdown()


@pytest.mark.parametrize("throttle", [False, True], ids=["crawl_delay", "autothrottle"])
def test_a_delay_one_worker_learns_spaces_every_workers_requests(
    redis_server, crawl_name, throttle
):
    clock = redis_clock(redis_server.url, crawl_name)
    learner = store(redis_server, crawl_name, clock, concurrency_per_host=1)
    fetcher = store(redis_server, crawl_name, clock, concurrency_per_host=1)
    for i in range(2):
        learner.add(Request(f"http://a.test/{i}"))
    # robots.txt's Crawl-delay, or AutoThrottle's delay, as the learner's fetch threads set it
    learner.set_host_delay("a.test", 0.3, throttle=throttle)
    first = leased(fetcher)
    fetcher.release(first)
    fetcher.ack(first)
    ready_at(fetcher, clock, START + 0.3)
    for frontier in (learner, fetcher):
        frontier.shutdown()


def test_a_request_whose_lease_expired_before_it_was_sent_is_not_sent(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    slow = store(redis_server, crawl_name, clock, lease_timeout=0.3, delay=0.5)
    slow.stop_heartbeat()
    other = store(redis_server, crawl_name, clock, lease_timeout=5, delay=0.5)
    slow.add(Request("http://a.test/page"))
    held = leased(slow)
    clock.advance(0.35)
    # The first call reclaims; the host then waits its delay, since the lost lease may have sent.
    again = ready_at(other, clock, START + 0.35 + 0.5)
    other.mark_sent(again)
    host = f"{{{crawl_name}}}:h:a.test"
    sent = redis_server.client().hmget(host, "last", "next")
    with pytest.raises(LeaseLost):
        slow.mark_sent(held)  # would be a second request to the host inside its delay
    assert slow.leased == 0  # nothing left to release or ack here
    assert redis_server.client().hmget(host, "last", "next") == sent  # the host's clock unmoved
    state = redis_server.client().hgetall(f"{{{crawl_name}}}:state")
    assert state[b"sends_refused"] == b"1"
    for frontier in (slow, other):
        frontier.shutdown()


def test_a_request_whose_lease_keeps_expiring_becomes_a_dead_letter(redis_server, crawl_name):
    clock = redis_clock(redis_server.url, crawl_name)
    frontier = store(redis_server, crawl_name, clock, lease_timeout=0.1, max_lease_expiries=2)
    frontier.stop_heartbeat()
    frontier.add(Request("http://a.test/poison"))
    leased(frontier)
    clock.advance(0.1)
    leased(frontier)  # the first expiry put it back
    clock.advance(0.1)
    nothing_ready(frontier)  # the second sent it to the dead letters
    client = redis_server.client()
    [letter] = client.lrange(f"{{{crawl_name}}}:dead", 0, -1)
    assert json.loads(letter) == {
        "url": "http://a.test/poison",
        "reason": "lease_expired",
        "expiries": 2,
        "worker": frontier.worker_id,
    }
    assert client.hget(f"{{{crawl_name}}}:state", "leased") == b"0"
    frontier.shutdown()


def test_shutdown_hands_unacknowledged_leases_back(redis_server, crawl_name):
    leaving = store(redis_server, crawl_name)
    leaving.add(Request("http://a.test/1"))
    leased(leaving)
    leaving.shutdown()
    staying = store(redis_server, crawl_name)
    assert leased(staying).url == "http://a.test/1"  # at once, not after the lease timeout
    staying.shutdown()


def _add_then_lease(
    url: str, name: str, count: int, seed: int, start: object, results: multiprocessing.Queue
) -> None:
    """One worker: add all ``count`` URLs (in its own shuffled order), then lease and ack until
    nothing is queued; reports how many adds it saw accepted and the URLs it was handed."""
    frontier = RedisFrontier(url, name, Politeness(concurrency_per_host=4))
    requests = [Request(f"http://h{i % 50}.test/p/{i}") for i in range(count)]
    random.Random(seed).shuffle(requests)
    start.wait(30)  # type: ignore[attr-defined]  # all three begin at once
    # Batches the size of a page's links, in pipelines; each add is still one atomic script.
    accepted = sum(frontier.add_many(requests[i : i + 50]) for i in range(0, count, 50))
    handed: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # also bounded by the count: each URL is handed once
        match frontier.next():
            case Lease(request):
                assert frontier.ack(request)
                handed.append(request.url)
            case Wait(seconds) if frontier.queued:
                frontier.wait(seconds)
            case _:
                break
    frontier.shutdown()
    results.put((accepted, handed))


def test_three_processes_adding_the_same_10000_urls_fetch_each_once(redis_server, crawl_name):
    count = 10_000
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = context.Event()
    workers = [
        context.Process(
            target=_add_then_lease, args=(redis_server.url, crawl_name, count, seed, start, results)
        )
        for seed in range(3)
    ]
    for worker in workers:
        worker.start()
    start.set()
    reports = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    assert sum(accepted for accepted, _ in reports) == count
    handed = Counter(url for _, urls in reports for url in urls)
    assert set(handed) == {f"http://h{i % 50}.test/p/{i}" for i in range(count)}
    assert set(handed.values()) == {1}, handed.most_common(3)  # each URL handed out once
    assert all(urls for _, urls in reports)  # leased concurrently, by every worker
    counts = state(redis_server, crawl_name)
    assert counts["seen"] == counts["done"] == count
    assert counts["duplicates"] == 2 * count
    assert counts["queued"] == counts["leased"] == 0
    per_url = dedup_bytes(redis_server.client(), crawl_name) / count
    print(f"dedup: {per_url:.1f} bytes per URL at {count} URLs")
    assert per_url < 80  # 7 bytes of fingerprint tail plus the bucket keys' share


def test_redis_down_at_start_is_one_clear_error(tmp_path, dead_redis_url):
    url = dead_redis_url
    spider = tmp_path / "one.py"
    spider.write_text("from scraper import Spider\nclass One(Spider):\n    name = 'one'\n")
    result = run_cli(str(spider), "--frontier", url, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"crawl: error: cannot reach Redis at {url}: "), lines


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "127.0.0.1:6379"])
def test_frontier_url_must_be_redis(tmp_path, url):
    spider = tmp_path / "one.py"
    spider.write_text("from scraper import Spider\nclass One(Spider):\n    name = 'one'\n")
    result = run_cli(str(spider), "--frontier", url, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "FRONTIER_URL must be a redis://" in result.stderr


def test_a_missing_redis_server_is_one_clear_line(tmp_path):
    from redis_server import MISSING, RedisServer, RedisServerMissing  # loaded as a plugin first

    with pytest.raises(RedisServerMissing, match=r"^redis-server not found: install it"):
        RedisServer(tmp_path, executable=None).start()
    # The fixtures, in a pytest of their own that finds no redis-server on its PATH.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         f"{Path(__file__).name}::test_add_dedups_and_enqueues_in_one_step"],
        cwd=Path(__file__).parent, env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "1 error in" in result.stdout, result.stdout
    report = result.stdout.split(" ERRORS ", 1)[1].split(" short test summary info ")[0]
    lines = [line for line in report.splitlines() if line.strip("=_ ")]
    assert lines[1:] == [MISSING], report  # under the test's title: no traceback, no chain


def test_the_seeders_heartbeat_keeps_its_claim_until_seeding_is_done(redis_server, crawl_name):
    """The seeding claim runs out after the lease timeout unless its holder's heartbeat
    extends it (so a seeder that dies frees it); once seeding is done it is left to run out."""
    client = redis_server.client()
    prefix = key_prefix(crawl_name)
    crawl = CrawlRedis(client, Retrying(redis_server.url, 5.0), crawl_name, prefix, "seeder")
    claim = SeedingClaim(crawl, lease_timeout=30.0)
    assert claim.claim()
    key = prefix + "seeding"
    client.pexpire(key, 50)  # about to run out
    claim.keep()
    assert client.pttl(key) > 20_000
    claim.finish()
    client.pexpire(key, 1000)
    claim.keep()
    assert client.pttl(key) <= 1000  # not extended
