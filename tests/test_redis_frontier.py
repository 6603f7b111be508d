"""The Redis frontier store on a real (private) redis-server: atomic dedup+enqueue, leases with
fencing tokens, reclaim and dead letters, global per-host politeness, compact dedup."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest
from conftest import run_cli

from scraper.distributed import RedisFrontier
from scraper.distributed.status import dedup_bytes
from scraper.errors import LeaseLost
from scraper.models import Request

pytest_plugins = ["redis_server"]  # fixtures: redis_server, crawl_name, dead_redis_url


def store(server, name: str, **options: object) -> RedisFrontier:
    return RedisFrontier(server.url, name, **options)  # type: ignore[arg-type]


def lease(frontier: RedisFrontier) -> Request:
    got = frontier.next()
    assert isinstance(got, Request), got
    return got


def lease_when_ready(frontier: RedisFrontier) -> Request:
    for _ in range(50):  # bounded: a few host delays
        got = frontier.next()
        if isinstance(got, Request):
            return got
        frontier.wait(got or 0.05)
    raise AssertionError("nothing to lease")


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
    one = store(redis_server, crawl_name, delay=0.3, concurrency_per_host=1)
    two = store(redis_server, crawl_name, delay=0.3, concurrency_per_host=1)
    for i in range(3):
        one.add(Request(f"http://a.test/{i}"))
    first = lease(one)
    leased_at = time.monotonic()
    busy = two.next()  # the host's only slot is taken, by the other worker
    assert isinstance(busy, float) and 0 < busy <= 0.2
    one.release(first)  # the slot is free again, but the host's time has not come
    got = lease_when_ready(two)
    assert got.url != first.url
    assert time.monotonic() - leased_at >= 0.3 - 0.01
    for frontier in (one, two):
        frontier.shutdown()


def test_expired_lease_comes_back_and_late_ack_is_refused(redis_server, crawl_name):
    slow = store(redis_server, crawl_name, lease_timeout=0.3)
    slow._stop_keeper.set()  # a stopped process: its leases are not extended
    other = store(redis_server, crawl_name, lease_timeout=5)
    slow.add(Request("http://a.test/page"))
    held = lease(slow)
    time.sleep(0.35)
    again = lease(other)  # reclaimed by the lease call itself
    assert again.url == held.url and again.store_id != held.store_id  # a new fencing token
    slow.release(held)
    slow.ack(held)  # late: refused
    other.release(again)
    other.ack(again)
    state = redis_server.client().hgetall(f"{{{crawl_name}}}:state")
    assert (state[b"reclaimed"], state[b"acks_rejected"], state[b"done"]) == (b"1", b"1", b"1")
    assert (state[b"queued"], state[b"leased"]) == (b"0", b"0")
    for frontier in (slow, other):
        frontier.shutdown()


def test_a_request_whose_lease_expired_before_it_was_sent_is_not_sent(redis_server, crawl_name):
    slow = store(redis_server, crawl_name, lease_timeout=0.3, delay=0.5)
    slow._stop_keeper.set()
    other = store(redis_server, crawl_name, lease_timeout=5, delay=0.5)
    slow.add(Request("http://a.test/page"))
    held = lease(slow)
    time.sleep(0.35)
    # The first call reclaims; the host then waits its delay, since the lost lease may have sent.
    again = lease_when_ready(other)
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
    frontier = store(redis_server, crawl_name, lease_timeout=0.1, max_lease_expiries=2)
    frontier._stop_keeper.set()
    frontier.add(Request("http://a.test/poison"))
    lease(frontier)
    time.sleep(0.15)
    lease(frontier)  # the first expiry put it back
    time.sleep(0.15)
    assert isinstance(frontier.next(), float)  # the second sent it to the dead letters
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


def test_retry_waits_then_comes_back_with_its_attempts(redis_server, crawl_name):
    frontier = store(redis_server, crawl_name)
    frontier.add(Request("http://a.test/flaky"))
    first = lease(frontier)
    first.attempts = 1
    frontier.release(first, retry_at=time.monotonic() + 0.2)
    assert isinstance(frontier.next(), float)
    time.sleep(0.25)
    again = lease(frontier)
    assert again.url == first.url and again.attempts == 1
    frontier.shutdown()


def test_shutdown_hands_unacknowledged_leases_back(redis_server, crawl_name):
    leaving = store(redis_server, crawl_name)
    leaving.add(Request("http://a.test/1"))
    lease(leaving)
    leaving.shutdown()
    staying = store(redis_server, crawl_name)
    assert lease(staying).url == "http://a.test/1"  # at once, not after the lease timeout
    staying.shutdown()


def _add_all(url: str, name: str, count: int, accepted: multiprocessing.Queue) -> None:
    frontier = RedisFrontier(url, name)
    requests = [Request(f"http://h{i % 7}.test/p/{i}") for i in range(count)]
    # Batches the size of a page's links, in pipelines; each add is still one atomic script.
    batches = [requests[i : i + 50] for i in range(0, count, 50)]
    accepted.put(sum(sum(frontier.add_many(batch)) for batch in batches))
    frontier.shutdown()


def test_three_processes_adding_the_same_10000_urls_queue_each_once(redis_server, crawl_name):
    count = 10_000
    context = multiprocessing.get_context("spawn")
    accepted = context.Queue()
    workers = [
        context.Process(target=_add_all, args=(redis_server.url, crawl_name, count, accepted))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    totals = [accepted.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    assert sum(totals) == count, totals
    client = redis_server.client()
    state = client.hgetall(f"{{{crawl_name}}}:state")
    assert int(state[b"seen"]) == int(state[b"queued"]) == count
    assert int(state[b"duplicates"]) == 2 * count
    per_url = dedup_bytes(client, crawl_name) / count
    print(f"dedup: {per_url:.1f} bytes per URL at {count} URLs")
    assert per_url < 80  # 6 bytes of fingerprint tail plus the bucket keys' share


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
