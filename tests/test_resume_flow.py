"""The README's resume flow through the real command: the news spider's own demo site served
again where the queued URLs point (job folder, shared Redis crawl), ``-o`` appending with a
job folder, and a job folder whose SQLite store fills up."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import sqlite3
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, TEST_SPIDERS, popen_cli, read_jsonl, run_cli

from scraper.demo import DemoSite

pytest_plugins = ["redis_server"]  # fixtures: redis_server, crawl_name

NEWS = str(ROOT / "spiders" / "news.py")
FANOUT = str(TEST_SPIDERS / "fanout.py")
# The README's command; a short response queue keeps fetching close behind parsing, so a
# graceful stop has little in flight to finish and each interruption lands near its moment;
# one parse worker: eleven runs need not start two each.
README_FLOW = [NEWS, "--jobdir", "job", "-s", "RESPONSE_QUEUE_SIZE=2", "-s", "PARSE_WORKERS=1"]
SERVING = re.compile(r"serving the demo site (?:again )?on (\S+),")


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.path


def assert_every_article_once(items: list[dict]) -> None:
    """What an undisturbed run of the news crawl writes (test_crawl pins that run against the
    same ground truth): every article of the demo site, once, whole."""
    with DemoSite() as reference:  # same seed: same articles, other ports
        expected = {_key(a.url): a for a in reference.articles()}
    got = Counter(_key(item["url"]) for item in items)
    assert [k for k, n in got.items() if n > 1] == []
    assert set(got) == set(expected)
    for item in items:
        assert item["body"] == expected[_key(item["url"])].body


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _lines(path) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.longest
def test_the_readme_flow_interrupted_at_seeded_moments_resumes_to_every_article_once(tmp_path):
    """``crawl spiders/news.py --jobdir job``, stopped by SIGKILL or SIGINT at seeded moments
    (once a seeded number of item lines more is written), then the same command until it
    finishes. A graceful stop finishes what is in flight, so a run may reach the end before
    its moment: then the rounds stop there, and at least five interruptions must have landed.
    """
    rng = random.Random(1104)
    journal = tmp_path / "job" / "items.jsonl"
    served: list[str] = []
    stops = [rng.choice((signal.SIGKILL, signal.SIGINT)) for _ in range(10)]
    interrupted = 0
    for signum in stops:
        process = popen_cli(*README_FLOW, cwd=tmp_path)
        _wait_for_lines(journal, _lines(journal) + rng.randint(1, 3))
        if process.poll() is not None:  # done before its moment came
            served += SERVING.findall(process.communicate(timeout=60)[1])
            break
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode in (-signal.SIGKILL, 130, 0), stderr
        interrupted += process.returncode != 0
        served += SERVING.findall(stderr)
    assert interrupted >= 5
    final = run_cli(*README_FLOW, cwd=tmp_path, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "resuming from job: " in final.stderr
    served += SERVING.findall(final.stderr)
    assert len(set(served)) == 1 and len(served) >= interrupted + 1  # one address, every run
    assert_every_article_once(read_jsonl(tmp_path / "output" / "news.jsonl"))
    # As in an undisturbed run: only the pages robots.txt forbids, each once; nothing failed
    # for want of the site.
    failures = read_jsonl(tmp_path / "output" / "news.failures.jsonl")
    assert {f["reason"] for f in failures} == {"robots_forbidden"}
    keys = [_key(f["url"]) for f in failures]
    assert len(keys) == len(set(keys)) and all(p.startswith("/private/") for _, p in keys)
    with sqlite3.connect(tmp_path / "job" / "frontier.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 0


@pytest.mark.longest
def test_a_worker_joining_a_shared_crawl_serves_the_demo_where_the_first_one_did(
    tmp_path, redis_server, crawl_name
):
    """The first worker of a shared news crawl serves the demo site and is killed mid-crawl;
    a worker that joins later serves the site again at the recorded addresses and finishes."""
    args = [NEWS, "-O", "out.jsonl", "--frontier", redis_server.url, "--crawl-name", crawl_name]
    args += ["-s", "REDIS_LEASE_TIMEOUT=1", "-s", "PARSE_WORKERS=1"]
    first = popen_cli(*args, cwd=tmp_path)
    parts = tmp_path / "out.parts"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(map(_lines, parts.glob("*.jsonl"))) < 5:
        time.sleep(0.01)
    assert first.poll() is None, "the first worker ended before it could be killed"
    first.kill()
    _, first_err = first.communicate(timeout=30)
    second = run_cli(*args, cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr
    assert SERVING.findall(first_err) == SERVING.findall(second.stderr) != []
    assert "serving the demo site again on" in second.stderr
    assert_every_article_once(read_jsonl(tmp_path / "out.jsonl"))


@pytest.mark.longest
def test_workers_starting_together_crawl_one_demo_site(tmp_path, redis_server, crawl_name):
    args = [NEWS, "-O", "out.jsonl", "--frontier", redis_server.url, "--crawl-name", crawl_name]
    workers = [popen_cli(*args, "-s", "PARSE_WORKERS=1", cwd=tmp_path) for _ in range(2)]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors
    sites = [SERVING.findall(stderr) for stderr in errors]
    # One worker serves the site; the other crawls it there (or serves it at the same place).
    assert len({url for found in sites for url in found}) == 1
    assert any("crawling the demo site another worker serves" in e for e in errors), errors
    assert_every_article_once(read_jsonl(tmp_path / "out.jsonl"))


def _fanout_args(site, *extra: str) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    return [FANOUT, "-a", f"start_urls={starts}", "-s", "PARSE_WORKERS=1", *extra]


def test_lowercase_o_appends_with_a_job_folder_and_a_resume_keeps_each_item_once(
    tmp_path, demo_site
):
    total = 40
    site = demo_site(hosts=2, rate=0, latency=0.02, fanout=4, fanout_total=total)
    output = tmp_path / "out" / "a.jsonl"
    output.parent.mkdir()
    output.write_text('{"precious": 1}\n{"precious": 2}')  # no newline after the last line
    args = _fanout_args(site, "-o", str(output), "--jobdir", "job")
    process = popen_cli(*args, cwd=tmp_path)
    _wait_for_lines(tmp_path / "job" / "items.jsonl", 10)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert read_jsonl(output)[:2] == [{"precious": 1}, {"precious": 2}]
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    items = read_jsonl(output)
    assert items[:2] == [{"precious": 1}, {"precious": 2}]
    urls = [item["url"] for item in items[2:]]
    assert sorted(urls) == sorted(f"{b}/fanout/{i}" for b in site.base_urls for i in range(total))
    # A new job appending to the same file keeps everything before it.
    again = run_cli(*_fanout_args(site, "-o", str(output), "--jobdir", "job2"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert read_jsonl(output)[: len(items)] == items
    assert len(read_jsonl(output)) == len(items) + 2 * total


def test_a_full_disk_under_the_job_state_is_one_clear_error_and_resume_loses_nothing(
    tmp_path, demo_site
):
    total = 120
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=total)
    args = _fanout_args(site, "-O", "out.jsonl", "--jobdir", "job")
    env = {
        "PYTHONPATH": str(Path(__file__).parent / "faults"),
        "SCRAPER_TEST_SQLITE_FULL": "frontier.sqlite",
        # The tables take 5 pages: one more holds a few pages' links and seen URLs, never the
        # 240 URLs of the site, however fast the pages are done (rows go with their acks).
        "SCRAPER_TEST_SQLITE_PAGES": "6",
    }
    full = run_cli(*args, cwd=tmp_path, env=env, timeout=60)
    assert full.returncode == 1, full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("crawl: error:")]
    assert errors == [
        "crawl: error: cannot write job state job/frontier.sqlite: database or disk is full"
    ]
    assert "Traceback" not in full.stderr
    written = read_jsonl(tmp_path / "out.jsonl")  # whole lines, what was done before
    assert len(written) < 2 * total
    again = run_cli(*args, cwd=tmp_path)  # space is back
    assert again.returncode == 0, again.stderr
    urls = [item["url"] for item in read_jsonl(tmp_path / "out.jsonl")]
    assert sorted(urls) == sorted(f"{b}/fanout/{i}" for b in site.base_urls for i in range(total))


def test_a_recorded_demo_port_taken_by_something_else_is_one_clear_error(tmp_path):
    from scraper.frontier import MemoryFrontier
    from scraper.jobdir import SQLiteJournal

    with socket.socket() as taken:  # listening, but no demo site: a port taken meanwhile
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        urls = [f"http://127.0.0.2:{port}", "http://127.0.0.3:1", "http://127.0.0.4:1"]
        (tmp_path / "job").mkdir()
        store = MemoryFrontier(journal=SQLiteJournal(tmp_path / "job"))
        store.remember("demo_base_urls", json.dumps(urls))
        store.shutdown()
        result = run_cli(NEWS, "--jobdir", "job", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("crawl: error:")]
    assert f"cannot serve the demo site again on http://127.0.0.2:{port}, " in line
    assert "free the port, or start afresh with another job folder" in line
