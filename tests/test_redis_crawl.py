"""Many ``crawl`` processes, one Redis: every page exactly once in the merged output, each
host's rate held across all workers (server-side log), and no loss when a worker is killed,
a worker is frozen past its lease, or Redis restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import redis
from conftest import TEST_SPIDERS, popen_cli, read_jsonl, run_cli

from scraper.distributed.status import read_status

pytest_plugins = ["redis_server"]  # fixtures: redis_server, own_redis, crawl_name

DELAY = 0.1  # seconds between two requests to one host, over all workers
# The site refuses (429) requests closer than DELAY - TOLERANCE: the tolerance is only for the
# site's own timestamps. One request per host at a time, so the delay also separates each
# response from the next request and holds however late a worker's request leaves.
TOLERANCE = 0.01
PAGES_PER_HOST = 20


def start_site(demo_site, latency: float = 0.02, pages: int = PAGES_PER_HOST):
    return demo_site(
        hosts=3, rate=1 / (DELAY - TOLERANCE), latency=latency, fanout=4, fanout_total=pages
    )


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
        "CONCURRENT_REQUESTS_PER_DOMAIN=1",
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


def assert_every_page_once(tmp_path: Path, site) -> None:
    items = read_jsonl(tmp_path / "out.jsonl")
    urls = [item["url"] for item in items]
    assert len(urls) == len(set(urls)), "duplicate items"
    expected = {f"{base}/fanout/{i}" for base in site.base_urls for i in range(site.fanout_total)}
    assert set(urls) == expected


def assert_polite(site) -> None:
    """Server side: no two requests to one host closer than the delay, less the tolerance."""
    starts: dict[str, list[float]] = defaultdict(list)
    for record in site.requests():
        starts[record.host].append(record.start)
    gaps = {
        host: min(b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False))
        for host, times in starts.items()
    }
    refused = [r for r in site.requests() if r.status == 429]
    assert not refused and min(gaps.values()) >= DELAY - TOLERANCE, (gaps, refused)


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


def hold_a_lease(url: str, name: str, worker: subprocess.Popen[str], signum: int) -> None:
    """Send ``signum`` (SIGSTOP or SIGKILL) to ``worker`` at a moment it holds a lease: freeze
    it, check the lease is still its own once whatever it sent has landed, then (for SIGKILL)
    kill it while frozen; if the lease went meanwhile, let it run and try again."""
    client = redis.Redis.from_url(url)
    marker = f"-{worker.pid}-"

    def holds() -> bool:
        return any(marker in json.loads(v)["w"] for v in client.hvals(f"{{{name}}}:lease"))

    for _ in range(200):  # bounded: about 20 s
        if holds():
            worker.send_signal(signal.SIGSTOP)
            time.sleep(0.5)  # a command sent just before the stop may still be on its way
            if holds():
                if signum != signal.SIGSTOP:
                    worker.send_signal(signum)
                return
            worker.send_signal(signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("the worker never held a lease")


def test_three_workers_crawl_every_page_once_with_global_politeness(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = start_site(demo_site)
    args = worker_args(site, tmp_path, redis_server.url, crawl_name)
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 10)
    running = read_status(redis_server.client(), crawl_name)
    assert not running["finished"] and len(running["workers"]) == 3, running
    finish(workers)
    status = run_cli("--status", "--frontier", redis_server.url, "--crawl-name", crawl_name,
                     cwd=tmp_path, timeout=30)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"crawl {crawl_name}: finished" in status.stdout
    assert f"pages: {3 * PAGES_PER_HOST}, items: {3 * PAGES_PER_HOST}" in status.stdout
    assert_every_page_once(tmp_path, site)
    assert_polite(site)
    pages = [p.read_text().count("\n") for p in (tmp_path / "out.parts").iterdir()]
    assert len(pages) == 3 and all(pages), pages  # every worker did its share
    counts = state(redis_server.url, crawl_name)
    assert counts["queued"] == counts["leased"] == 0
    assert counts["done"] == counts["seen"] == 3 * PAGES_PER_HOST


def test_a_killed_worker_loses_nothing(tmp_path, demo_site, redis_server, crawl_name):
    site = start_site(demo_site, latency=0.15)  # pages in flight most of the time
    args = worker_args(site, tmp_path, redis_server.url, crawl_name, "REDIS_LEASE_TIMEOUT=2")
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 10)
    hold_a_lease(redis_server.url, crawl_name, workers[0], signal.SIGKILL)
    finish(workers)
    assert state(redis_server.url, crawl_name)["reclaimed"] >= 1
    assert_every_page_once(tmp_path, site)
    assert_polite(site)  # the reclaimed requests too


def test_a_worker_frozen_past_its_lease_cannot_ack_late(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = start_site(demo_site, latency=0.15, pages=30)  # still running when it wakes up
    # Without robots.txt every lease ends in an ack (robots.txt would send a page back instead).
    args = worker_args(
        site, tmp_path, redis_server.url, crawl_name, "REDIS_LEASE_TIMEOUT=1", "ROBOTSTXT_OBEY=0"
    )
    workers = start_workers(3, args, tmp_path)
    wait_for_items(tmp_path, 15)
    hold_a_lease(redis_server.url, crawl_name, workers[0], signal.SIGSTOP)
    time.sleep(1.8)  # past the lease: the others reclaim and redo its requests
    workers[0].send_signal(signal.SIGCONT)
    finish(workers)
    counts = state(redis_server.url, crawl_name)
    # Frozen before sending, its send is refused; after, its ack. Either way it is fenced out.
    fenced = counts.get("sends_refused", 0) + counts.get("acks_rejected", 0)
    assert counts["reclaimed"] >= 1 and fenced >= 1, counts
    # Merging again now that the late worker has written everything: still once each.
    merged = run_cli("--merge", "-O", str(tmp_path / "out.jsonl"), cwd=tmp_path, timeout=30)
    assert merged.returncode == 0, merged.stderr
    assert_every_page_once(tmp_path, site)
    assert_polite(site)  # the late worker sent nothing on a lease it had lost


def test_a_redis_restart_mid_crawl_is_ridden_out(tmp_path, demo_site, own_redis, crawl_name):
    site = start_site(demo_site)
    workers = start_workers(3, worker_args(site, tmp_path, own_redis.url, crawl_name), tmp_path)
    wait_for_items(tmp_path, 15)
    own_redis.restart(down_for=1.0)  # append-only file on: the state survives
    errors = finish(workers)
    assert any("is back after" in stderr for stderr in errors), errors[0][-2000:]
    assert_every_page_once(tmp_path, site)
    assert_polite(site)
