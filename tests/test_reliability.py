"""Crash safety: job folder resume with exactly-once output, signals, parse worker faults."""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import TEST_SPIDERS, popen_cli, read_jsonl, run_cli, run_in_process

from scraper.cli import build_crawl

SPIDER = str(TEST_SPIDERS / "fanout.py")


def crawl_args(site, tmp_path: Path, *extra: str) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    return [
        SPIDER,
        "-O",
        str(tmp_path / "out.jsonl"),
        "--jobdir",
        str(tmp_path / "job"),
        "-a",
        f"start_urls={starts}",
        "-s",
        "CONCURRENT_REQUESTS_PER_DOMAIN=4",
        "-s",
        "PARSE_WORKERS=2",
        *extra,
    ]


def expected_urls(site, total: int) -> set[str]:
    return {f"{base}/fanout/{i}" for base in site.base_urls for i in range(total)}


def assert_exactly_once(tmp_path: Path, site, total: int) -> list[dict]:
    items = read_jsonl(tmp_path / "out.jsonl")  # also checks for a torn last line
    urls = [item["url"] for item in items]
    assert len(urls) == len(set(urls)), "duplicate items"
    assert set(urls) == expected_urls(site, total)
    with sqlite3.connect(tmp_path / "job" / "frontier.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 0  # none leased
    return items


def _journal_lines(tmp_path: Path) -> int:
    journal = tmp_path / "job" / "items.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def test_sigkill_at_random_moments_then_resume_gives_exactly_once(tmp_path, demo_site):
    total = 120
    site = demo_site(hosts=2, rate=0, latency=0.01, fanout=4, fanout_total=total)
    rng = random.Random(20261125)
    for _ in range(10):
        # A seeded random moment: during start-up (a random time) or mid-crawl (after a
        # random number of items more), so every kill lands before the crawl could finish.
        process = popen_cli(*crawl_args(site, tmp_path), cwd=tmp_path)
        before = _journal_lines(tmp_path)
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.1, 1.0))
        else:
            wanted = before + rng.randint(1, 15)
            deadline = time.monotonic() + 30
            while _journal_lines(tmp_path) < wanted and time.monotonic() < deadline:
                time.sleep(0.01)
        assert process.poll() is None, "the crawl ended before it could be killed"
        process.kill()  # SIGKILL: no handler runs, nothing is flushed on purpose
        process.communicate(timeout=30)
    final = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path, timeout=120)
    assert final.returncode == 0, final.stderr
    left = re.search(r"resuming from .*: (\d+) requests to do", final.stderr)
    assert left and int(left.group(1)) > 0  # the last kill still interrupted the crawl
    assert_exactly_once(tmp_path, site, total)
    journal = (tmp_path / "job" / "items.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in journal]
    assert len(set(keys)) == 2 * total  # a page done again wrote the same keys


def _stop_with_signal(tmp_path: Path, site, twice: bool, signum: int = signal.SIGINT) -> int:
    process = popen_cli(*crawl_args(site, tmp_path), cwd=tmp_path)
    journal = tmp_path / "job" / "items.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        journal.exists() and journal.read_text().count("\n") >= 5
    ):
        time.sleep(0.05)
    process.send_signal(signum)
    if twice:
        time.sleep(0.1)
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert "resume" in stderr or twice, stderr
    return process.returncode


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume(tmp_path, demo_site, signum, status):
    total = 80
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=4, fanout_total=total)
    assert _stop_with_signal(tmp_path, site, twice=False, signum=signum) == status
    partial = read_jsonl(tmp_path / "out.jsonl")  # the output so far is already usable
    assert 0 < len(partial) < 2 * total
    result = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    assert_exactly_once(tmp_path, site, total)


def test_double_sigint_then_resume(tmp_path, demo_site):
    total = 80
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=4, fanout_total=total)
    assert _stop_with_signal(tmp_path, site, twice=True) == 130
    result = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_exactly_once(tmp_path, site, total)


def test_a_page_that_kills_its_worker_ends_in_the_failures_file(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)  # 4..12 are leaves
    output = tmp_path / "out.jsonl"
    result = run_in_process(
        "fanout",
        output,
        {"PARSE_WORKERS": 2, "PARSE_RETRY_TIMES": 2},
        start_urls=f"{site.base_urls[0]}/fanout/0",
        exit_on="5",
        work_ms="150",  # the other worker is mid-callback when page 5 kills its own: not blamed
    )
    nodes = sorted(int(item["node"].split()[-1]) for item in read_jsonl(output))
    assert nodes == [n for n in range(13) if n != 5]
    failures = read_jsonl(result.failures)
    assert [(f["url"].rsplit("/", 1)[1], f["reason"]) for f in failures] == [("5", "worker_died")]
    assert result.stats.errors["worker_died"] == 1
    assert result.stats.counters["parse_retries"] == 2


def test_a_callback_past_parse_timeout_is_interrupted_and_recorded(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)
    output = tmp_path / "out.jsonl"
    result = run_in_process(
        "fanout",
        output,
        {"PARSE_WORKERS": 1, "PARSE_TIMEOUT": 0.3, "PARSE_RETRY_TIMES": 1},
        start_urls=f"{site.base_urls[0]}/fanout/0",
        stall_on="7",
    )
    assert len(read_jsonl(output)) == 12
    failures = read_jsonl(result.failures)
    assert [(f["url"].rsplit("/", 1)[1], f["reason"]) for f in failures] == [("7", "parse_timeout")]


def test_killing_a_worker_mid_crawl_loses_nothing(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=61)
    output = tmp_path / "out.jsonl"
    crawl = build_crawl(
        SPIDER,
        settings={"PARSE_WORKERS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "4"},
        spider_args={"start_urls": f"{site.base_urls[0]}/fanout/0", "work_ms": "40"},
        output=output,
    )
    results = []
    runner = threading.Thread(target=lambda: results.append(crawl.run()))
    runner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and crawl.stats.counters["pages"] < 10:
        time.sleep(0.02)
    victim = crawl.parse_pool.pids()[0]
    import os

    os.kill(victim, signal.SIGKILL)
    runner.join(60)
    assert results and results[0].reason == "finished"
    items = read_jsonl(output)
    assert sorted(item["url"] for item in items) == sorted(
        f"{site.base_urls[0]}/fanout/{i}" for i in range(61)
    )
    assert victim not in crawl.parse_pool.pids()
    assert crawl.parse_pool.restarts == 1
    assert read_jsonl(results[0].failures) == []


def test_full_disk_is_one_clear_error_and_resume_loses_nothing(tmp_path, demo_site):
    total = 60
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=total)
    env = {
        "PYTHONPATH": str(Path(__file__).parent / "faults"),
        "SCRAPER_TEST_ENOSPC": "items.jsonl",
        "SCRAPER_TEST_ENOSPC_AFTER": "4000",
    }
    full = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path, env=env)
    assert full.returncode == 1
    errors = [line for line in full.stderr.splitlines() if line.startswith("crawl: error:")]
    assert errors == [
        f"crawl: error: cannot write output file {tmp_path / 'job' / 'items.jsonl'}"
        ": No space left on device"
    ]
    assert "Traceback" not in full.stderr
    written = (tmp_path / "job" / "items.jsonl").read_text()
    assert 0 < written.count("\n") < 2 * total  # some items made it before the disk filled
    again = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path)  # space is back
    assert again.returncode == 0, again.stderr
    assert_exactly_once(tmp_path, site, total)
