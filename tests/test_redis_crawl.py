"""Many ``crawl`` processes, one Redis: every page exactly once in the merged output, each
host's rate and concurrency held across all workers (server-side log), and no loss when a worker
is killed mid-request, a worker is frozen past its lease, or Redis restarts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from conftest import (
    TEST_SPIDERS,
    assert_written_before_acked,
    popen_cli,
    read_jsonl,
    run_cli,
    run_recording_order,
)

pytest_plugins = ["redis_server"]  # fixtures: redis_server, own_redis, crawl_name

DELAY = 0.1  # seconds between two requests to one host, over all workers
# The site refuses (429) requests closer than DELAY - TOLERANCE: the tolerance is only for the
# site's own timestamps. One request per host at a time, so the delay also separates each
# response from the next request and holds however late a worker's request leaves.
TOLERANCE = 0.01
CONCURRENCY = 1  # CONCURRENT_REQUESTS_PER_DOMAIN
PAGES_PER_HOST = 20
SETTLE = 0.05  # after a SIGSTOP: what the worker sent just before lands meanwhile
SENT_AFTER = 0.03  # a request leased this long ago has been sent (no robots.txt in between)


def start_site(demo_site, latency: float = 0.02, pages: int = PAGES_PER_HOST, **options):
    options = {"hosts": 3, "rate": 1 / (DELAY - TOLERANCE), **options}
    return demo_site(latency=latency, fanout=4, fanout_total=pages, **options)


def worker_args(site, tmp_path: Path, url: str, name: str, *settings: str) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    options = [arg for setting in settings for arg in ("-s", setting)]
    return [
        str(TEST_SPIDERS / "fanout.py"),
        "-O",
        str(tmp_path / "out.jsonl"),
        "-a",
        f"start_urls={starts}",
        "--frontier",
        url,
        "--crawl-name",
        name,
        "-s",
        f"DOWNLOAD_DELAY={DELAY}",
        "-s",
        "PARSE_WORKERS=0",
        "-s",
        "CONCURRENT_REQUESTS=4",
        "-s",
        f"CONCURRENT_REQUESTS_PER_DOMAIN={CONCURRENCY}",
        *options,
    ]


def start_workers(count: int, args: list[str], cwd: Path) -> list[subprocess.Popen[str]]:
    return [popen_cli(*args, cwd=cwd) for _ in range(count)]


def finish(workers: list[subprocess.Popen[str]], timeout: float = 90) -> list[str]:
    errors = []
    for worker in workers:
        _, stderr = worker.communicate(timeout=timeout)
        errors.append(stderr)
        assert worker.returncode in (0, -signal.SIGKILL), stderr
    return errors


def assert_every_page_once(tmp_path: Path, site, extra: frozenset[str] = frozenset()) -> None:
    """The merged output: one item per page of the site, once each (and ``extra`` items)."""
    urls = [item["url"] for item in read_jsonl(tmp_path / "out.jsonl")]
    assert len(urls) == len(set(urls)), "duplicate items"
    expected = {f"{base}/fanout/{i}" for base in site.base_urls for i in range(site.fanout_total)}
    assert set(urls) == expected | extra


def most_at_once(records) -> int:
    """The most requests the site was answering at one time."""
    events = sorted([(r.start, 1) for r in records] + [(r.end, -1) for r in records])
    running = most = 0
    for _, change in events:  # at a tie an end comes first: back to back is not at once
        running += change
        most = max(most, running)
    return most


def by_host(site) -> dict[str, list]:
    hosts: dict[str, list] = defaultdict(list)
    for record in site.requests():
        hosts[record.host].append(record)
    return {host: sorted(records, key=lambda r: r.start) for host, records in hosts.items()}


def assert_polite(site) -> None:
    """Server side, per host over all workers: starts at least the delay apart (less the
    tolerance), never more requests at once than CONCURRENT_REQUESTS_PER_DOMAIN, no 429."""
    hosts = by_host(site)
    gaps = {h: min(b.start - a.start for a, b in pairwise(rs)) for h, rs in hosts.items()}
    at_once = {host: most_at_once(records) for host, records in hosts.items()}
    refused = [r for r in site.requests() if r.status == 429]
    assert not refused and min(gaps.values()) >= DELAY - TOLERANCE, (gaps, refused)
    assert max(at_once.values()) <= CONCURRENCY, at_once


def state(url: str, name: str) -> dict[str, int]:
    raw = redis.Redis.from_url(url).hgetall(f"{{{name}}}:state")
    return {k.decode(): int(v) for k, v in raw.items()}


def wait_for_items(tmp_path: Path, count: int, timeout: float = 30) -> None:
    parts = tmp_path / "out.parts"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if parts.is_dir() and sum(p.read_text().count("\n") for p in parts.iterdir()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} items within {timeout}s")


def freeze_in_flight(
    url: str, name: str, workers: list[subprocess.Popen[str]], site, lease_timeout: float
) -> tuple[int, bytes, str]:
    """SIGSTOP one of ``workers`` at a moment one of its requests is on its way: leased long
    enough ago to have been sent, still holding its host slot (no response handled), and not
    yet answered by the site. Returns the worker's index, and that request's id and URL. A
    worker with no such request runs on; the others are tried in turn."""
    client = redis.Redis.from_url(url)
    prefix = f"{{{name}}}:"
    for attempt in range(300):  # bounded: about 30 s
        index = attempt % len(workers)
        worker, marker = workers[index], f"-{workers[index].pid}-"
        if any(marker in json.loads(v)["w"] for v in client.hvals(prefix + "lease")):
            worker.send_signal(signal.SIGSTOP)
            time.sleep(SETTLE)
            found = in_flight(client, prefix, marker, site, lease_timeout)
            if found:
                return index, *found
            worker.send_signal(signal.SIGCONT)
        time.sleep(0.1 / len(workers))
    raise AssertionError("no worker had a request in flight")


def in_flight(
    client: redis.Redis, prefix: str, marker: str, site, lease_timeout: float
) -> tuple[bytes, str] | None:
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    answered = {(r.host, r.path) for r in site.requests()}
    for request_id, raw in client.hgetall(prefix + "lease").items():
        lease = json.loads(raw)
        expiry = client.zscore(prefix + "leases", request_id)
        if marker not in lease["w"] or lease["slot"] != 1 or expiry is None:
            continue
        held = now - (expiry - lease_timeout)  # since the lease or its latest extension
        request_url = json.loads(client.hget(prefix + "meta", request_id))["u"]
        parts = urlsplit(request_url)
        if held > SETTLE + SENT_AFTER and (parts.hostname, parts.path) not in answered:
            return request_id, request_url
    return None


def wait_until_leased_elsewhere(url: str, name: str, request_id: bytes, marker: str) -> None:
    """Until another worker holds the lease on ``request_id`` (reclaimed and leased again)."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lease = client.hget(f"{{{name}}}:lease", request_id)
        if lease is not None and marker not in json.loads(lease)["w"]:
            return
        time.sleep(0.01)
    raise AssertionError("the frozen worker's request was never leased again")


def test_three_workers_crawl_every_page_once_with_global_politeness(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = start_site(demo_site)
    args = worker_args(site, tmp_path, redis_server.url, crawl_name)
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 5)
    status = ["--status", "--frontier", redis_server.url, "--crawl-name", crawl_name]
    running = run_cli(*status, cwd=tmp_path, timeout=30)  # the real command, mid-crawl
    assert running.returncode == 0, running.stderr
    assert f"crawl {crawl_name}: running" in running.stdout
    assert "workers alive: 3" in running.stdout
    done, seen = map(int, re.search(r"(\d+) done, (\d+) URLs seen", running.stdout).groups())
    assert 1 <= done < seen, running.stdout
    finish(workers)
    finished = run_cli(*status, cwd=tmp_path, timeout=30)
    assert finished.returncode == 0, finished.stderr
    assert f"crawl {crawl_name}: finished" in finished.stdout
    assert f"pages: {3 * PAGES_PER_HOST}, items: {3 * PAGES_PER_HOST}" in finished.stdout
    assert_every_page_once(tmp_path, site)
    assert_polite(site)
    pages = [p.read_text().count("\n") for p in (tmp_path / "out.parts").iterdir()]
    assert len(pages) == 3 and all(pages), pages  # every worker did its share
    counts = state(redis_server.url, crawl_name)
    assert counts["queued"] == counts["leased"] == 0
    assert counts["done"] == counts["seen"] == 3 * PAGES_PER_HOST


@pytest.mark.longest
def test_a_worker_killed_mid_request_loses_nothing_and_its_host_stays_polite(
    tmp_path, demo_site, redis_server, crawl_name
):
    lease_timeout = 1.0
    # Each request takes most of a lease: the kill lands while the site is answering, and the
    # reclaim comes soon after the site has answered. Without robots.txt every lease is a page.
    site = start_site(demo_site, latency=0.6, pages=8)
    args = worker_args(
        site, tmp_path, redis_server.url, crawl_name,
        f"REDIS_LEASE_TIMEOUT={lease_timeout}", "ROBOTSTXT_OBEY=0",
    )  # fmt: skip
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 3)
    victim, _, url = freeze_in_flight(redis_server.url, crawl_name, workers, site, lease_timeout)
    killed = time.monotonic()
    workers[victim].send_signal(signal.SIGKILL)
    finish(workers)
    parts = urlsplit(url)
    first, *redone = [r for r in by_host(site)[parts.hostname] if r.path == parts.path]
    assert first.start < killed < first.end  # the site was answering the killed worker
    assert redone and redone[0].start > first.end  # redone after the reclaim, not beside it
    assert state(redis_server.url, crawl_name)["reclaimed"] >= 1
    assert_every_page_once(tmp_path, site)
    assert_polite(site)  # the reclaim freed the host's slot once, and kept its delay


@pytest.mark.longest
def test_a_worker_frozen_past_its_lease_cannot_ack_late(
    tmp_path, demo_site, redis_server, crawl_name
):
    lease_timeout = 1.0
    site = start_site(demo_site, latency=0.3, pages=15)  # still running when it wakes up
    # Without robots.txt every lease ends in an ack (robots.txt would send a page back instead).
    args = worker_args(
        site, tmp_path, redis_server.url, crawl_name,
        f"REDIS_LEASE_TIMEOUT={lease_timeout}", "ROBOTSTXT_OBEY=0",
    )  # fmt: skip
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 10)
    # Frozen with its request sent: what comes late is its ack, not a send.
    late, request_id, url = freeze_in_flight(
        redis_server.url, crawl_name, workers, site, lease_timeout
    )
    # Woken once its lease is another worker's (expired, reclaimed, leased again), while that
    # one fetches the page: its late ack meets a lease that is current, only not its own.
    wait_until_leased_elsewhere(redis_server.url, crawl_name, request_id, f"-{workers[late].pid}-")
    workers[late].send_signal(signal.SIGCONT)
    errors = finish(workers)
    assert f"late ack of {url} refused" in errors[late], errors[late][-3000:]
    counts = state(redis_server.url, crawl_name)
    assert counts["reclaimed"] >= 1 and counts["acks_rejected"] >= 1, counts
    # Merging again now that the late worker has written everything: still once each.
    merged = run_cli("--merge", "-O", str(tmp_path / "out.jsonl"), cwd=tmp_path, timeout=30)
    assert merged.returncode == 0, merged.stderr
    assert_every_page_once(tmp_path, site)
    assert_polite(site)  # the late worker sent nothing on a lease it had lost


def test_a_pages_items_are_in_its_part_before_the_page_is_acknowledged(
    tmp_path, demo_site, redis_server, crawl_name
):
    """The order itself, recorded by the store (a worker killed between the two would
    otherwise lose the page's items: its ack already counted the page done)."""
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=20)
    settings = {"PARSE_WORKERS": 0, "ROBOTSTXT_OBEY": False, "FRONTIER_URL": redis_server.url}
    result, events = run_recording_order(
        "fanout",
        tmp_path / "out.jsonl",
        {**settings, "CRAWL_NAME": crawl_name},
        start_urls=",".join(f"{base}/fanout/0" for base in site.base_urls),
    )
    assert result.reason == "finished"
    assert_written_before_acked(events, pages=40)


def test_a_redis_restart_mid_crawl_is_ridden_out(tmp_path, demo_site, own_redis, crawl_name):
    site = start_site(demo_site)
    workers = start_workers(3, worker_args(site, tmp_path, own_redis.url, crawl_name), tmp_path)
    wait_for_items(tmp_path, 15)
    own_redis.restart(down_for=1.0)  # append-only file on: the state survives
    errors = finish(workers)
    assert any("is back after" in stderr for stderr in errors), errors[0][-2000:]
    assert_every_page_once(tmp_path, site)
    assert_polite(site)


def test_retry_after_holds_a_host_back_for_every_worker(
    tmp_path, demo_site, redis_server, crawl_name
):
    # The site allows one request per 0.25 s, none early, the workers send one per DELAY: the
    # site answers 429 with Retry-After: 1, and then no worker may contact that host for a second.
    site = start_site(demo_site, hosts=2, pages=4, rate=4.0, burst=0)
    args = worker_args(
        site, tmp_path, redis_server.url, crawl_name, "RETRY_TIMES=10", "ROBOTSTXT_OBEY=0"
    )
    finish(start_workers(2, args, tmp_path))
    assert_every_page_once(tmp_path, site)
    refused = 0
    for records in by_host(site).values():
        for before, after in pairwise(records):
            if before.status == 429:
                refused += 1
                assert after.start >= before.end + 1.0 - TOLERANCE, (before, after)
    assert refused, "the site never asked to wait: nothing was tested"


def test_frontier_url_in_the_config_file_selects_redis(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = start_site(demo_site, hosts=1, pages=3)
    config = tmp_path / "crawl.cfg"
    config.write_text(
        f"[settings]\nFRONTIER_URL = {redis_server.url}\nCRAWL_NAME = {crawl_name}\n"
        "ROBOTSTXT_OBEY = false\n"
    )
    starts = f"start_urls={site.base_urls[0]}/fanout/0"
    result = run_cli(str(TEST_SPIDERS / "fanout.py"), "-O", str(tmp_path / "out.jsonl"),
                     "-a", starts, "--config", str(config), cwd=tmp_path, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_every_page_once(tmp_path, site)
    assert (tmp_path / "out.parts").is_dir()
    assert state(redis_server.url, crawl_name)["done"] == 3


def test_the_merge_waits_for_every_workers_part(tmp_path, demo_site, redis_server, crawl_name):
    site = start_site(demo_site, hosts=1, pages=3)
    client = redis_server.client()
    # A worker on another machine, whose part file has not reached this folder (yet).
    part = json.dumps({"file": "elsewhere.jsonl", "items": 2})
    client.hset(f"{{{crawl_name}}}:parts", "elsewhere", part)
    args = worker_args(site, tmp_path, redis_server.url, crawl_name, "ROBOTSTXT_OBEY=0")
    ghost = tmp_path / "out.parts" / "elsewhere.jsonl"

    def worker_error() -> str:
        result = run_cli(*args, cwd=tmp_path, timeout=60)
        assert result.returncode == 1, result.stderr
        assert not (tmp_path / "out.jsonl").exists()
        assert not client.exists(f"{{{crawl_name}}}:merged")  # a later worker tries again
        return result.stderr.strip().splitlines()[-1]

    prefix = f"crawl: error: cannot merge: part file {ghost} of worker elsewhere"
    assert worker_error() == f"{prefix} is missing or unreadable"
    lines = [json.dumps({"key": f"k{i}", "item": {"url": f"elsewhere/{i}"}}) for i in range(2)]
    ghost.write_text(lines[0] + "\n")  # one of its two items so far
    assert worker_error() == f"{prefix} holds 1 of the 2 items written to it"
    ghost.write_text("\n".join(lines) + "\n")
    result = run_cli(*args, cwd=tmp_path, timeout=60)  # one more worker, which finds it whole
    assert result.returncode == 0, result.stderr
    assert_every_page_once(tmp_path, site, extra=frozenset({"elsewhere/0", "elsewhere/1"}))
    assert client.exists(f"{{{crawl_name}}}:merged")


def test_a_worker_takes_over_seeding_from_one_that_died_half_way(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = start_site(demo_site, hosts=1, pages=3)
    # A worker claimed the seeding and died before it finished; its claim runs out only once
    # the new worker has found it taken (however long that worker took to start).
    claim = f"{{{crawl_name}}}:seeding"
    redis_server.client().set(claim, "dead-worker")
    args = worker_args(site, tmp_path, redis_server.url, crawl_name, "ROBOTSTXT_OBEY=0")
    worker = popen_cli(*args, cwd=tmp_path)
    assert worker.stderr is not None
    waiting = ""
    for _ in range(1000):  # bounded; the worker logs a line or two before this one
        waiting += worker.stderr.readline()
        if "another worker is adding the start requests" in waiting or worker.poll() is not None:
            break
    redis_server.client().delete(claim)
    _, rest = worker.communicate(timeout=30)
    assert worker.returncode == 0, waiting + rest
    assert "seeding worker stopped half-way; seeding again" in rest, waiting + rest
    assert_every_page_once(tmp_path, site)
