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
from conftest import (
    TEST_SPIDERS,
    assert_written_before_acked,
    popen_cli,
    read_jsonl,
    run_cli,
    run_in_process,
    run_recording_order,
)
from mockserver import MockServer

from scraper.build import build_crawl
from scraper.export import encode_line
from scraper.feeds import FeedSet
from scraper.jobdir import ItemJournal

SPIDER = str(TEST_SPIDERS / "fanout.py")


def crawl_args(site, tmp_path: Path, *extra: str, jobdir: bool = True) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    return [
        SPIDER,
        "-O",
        str(tmp_path / "out.jsonl"),
        *(["--jobdir", str(tmp_path / "job")] if jobdir else []),
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


def _journal_keys(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "job" / "items.jsonl").read_text().splitlines()
    return [json.loads(line)["key"] for line in lines]


@pytest.mark.longest
def test_sigkill_at_random_moments_then_resume_gives_exactly_once(tmp_path, demo_site):
    total = 120
    # 50 ms an answer: slow enough that every kill lands before the crawl could finish (the
    # demo site's 40 ms Nagle delay, gone since, used to provide most of it).
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=4, fanout_total=total)
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
    items = assert_exactly_once(tmp_path, site, total)
    keys = set(_journal_keys(tmp_path))
    assert len(keys) == len(items)  # a page done again wrote the same keys
    undisturbed = tmp_path / "undisturbed"
    clean = run_cli(*crawl_args(site, undisturbed), cwd=tmp_path, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert keys == set(_journal_keys(undisturbed))


def _stop_with_signal(
    tmp_path: Path, site, twice: bool, signum: int = signal.SIGINT
) -> tuple[int, str]:
    process = popen_cli(*crawl_args(site, tmp_path), cwd=tmp_path)
    journal = tmp_path / "job" / "items.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        journal.exists() and journal.read_text().count("\n") >= 5
    ):
        time.sleep(0.05)
    process.send_signal(signum)
    head = ""
    if twice:
        # The second signal once the first is handled (two pending signals would be one).
        assert process.stderr is not None
        while "press Ctrl-C again" not in head and (line := process.stderr.readline()):
            head += line
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    stderr = head + stderr
    assert "resume" in stderr or twice, stderr
    return process.returncode, stderr


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume(tmp_path, demo_site, signum, status):
    total = 80
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=4, fanout_total=total)
    assert _stop_with_signal(tmp_path, site, twice=False, signum=signum)[0] == status
    partial = read_jsonl(tmp_path / "out.jsonl")  # the output so far is already usable
    assert 0 < len(partial) < 2 * total
    result = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    assert_exactly_once(tmp_path, site, total)


def test_double_sigint_then_resume(tmp_path, demo_site):
    total = 80
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=4, fanout_total=total)
    status, stderr = _stop_with_signal(tmp_path, site, twice=True)
    assert status == 130
    assert "crawl: second interrupt, exiting now" in stderr, stderr
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
    # The batch the disk cut short was cut back: whole lines only, in the journal and output.
    written = (tmp_path / "job" / "items.jsonl").read_text()
    assert written.endswith("\n")
    assert 0 < written.count("\n") < 2 * total  # some items made it before the disk filled
    assert len(read_jsonl(tmp_path / "out.jsonl")) == written.count("\n")
    again = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path)  # space is back
    assert again.returncode == 0, again.stderr
    assert_exactly_once(tmp_path, site, total)


def test_a_pages_items_are_in_the_journal_before_the_page_is_acknowledged(tmp_path, demo_site):
    """The order itself, recorded by the store: a crash between the two then never loses an
    item (the full-disk and kill tests catch a wrong order only when the crash falls there)."""
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=20)
    result, events = run_recording_order(
        "fanout",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 0, "ROBOTSTXT_OBEY": False},
        jobdir=tmp_path / "job",
        start_urls=",".join(f"{base}/fanout/0" for base in site.base_urls),
    )
    assert result.reason == "finished"
    assert_written_before_acked(events, pages=40)


@pytest.mark.parametrize("source", ["-s", "--config"])
def test_the_jobdir_setting_resumes_like_the_option(tmp_path, demo_site, source):
    total = 40
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=total)
    jobdir = tmp_path / "job"
    if source == "--config":
        config = tmp_path / "crawl.cfg"  # not the default name: only --config finds it
        config.write_text(f"[settings]\nJOBDIR = {jobdir}\n")
        args = crawl_args(site, tmp_path, "--config", str(config), jobdir=False)
    else:
        args = crawl_args(site, tmp_path, "-s", f"JOBDIR={jobdir}", jobdir=False)
    first = run_cli(*args, "-s", "CLOSESPIDER_PAGECOUNT=10", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert 0 < len(read_jsonl(tmp_path / "out.jsonl")) < 2 * total
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert re.search(r"resuming from .*: [1-9]\d* requests to do", again.stderr), again.stderr
    assert_exactly_once(tmp_path, site, total)


STORY_SPIDER = '''
from scraper import Spider


class StorySpider(Spider):
    """One item per page, keyed by its story: node ``same_story`` retells node 0's story."""

    name = "stories"
    item_key = "story"
    same_story = ""

    def parse(self, response):
        node = response.css("h1::text").get().split()[-1]
        yield {"story": "0" if node == self.same_story else node, "url": response.url}
        yield from response.follow_all(css="a")
'''


def test_a_natural_item_key_dedups_across_a_resume(tmp_path, demo_site):
    total = 40
    site = demo_site(hosts=1, rate=0, fanout=4, fanout_total=total)
    spider = tmp_path / "stories.py"
    spider.write_text(STORY_SPIDER)
    last = total - 1  # a great-grandchild of node 0 (0 -> 2 -> 9 -> 39)
    args = [
        str(spider),
        "-O",
        str(tmp_path / "out.jsonl"),
        "--jobdir",
        str(tmp_path / "job"),
        "-a",
        f"start_urls={site.base_urls[0]}/fanout/0",
        "-a",
        f"same_story={last}",
    ]
    # Stopped after the first page: node 0 is exported, and leasing stops before the last
    # node can be reached, so its page (the same story) comes in the resumed run.
    first = run_cli(*args, "-s", "CLOSESPIDER_PAGECOUNT=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "resuming" in again.stderr, again.stderr
    assert _journal_keys(tmp_path).count("story:0") == 2  # both pages were journaled
    items = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(int(item["story"]) for item in items) == list(range(last))
    first_told = next(item for item in items if item["story"] == "0")
    assert first_told["url"] == f"{site.base_urls[0]}/fanout/0"  # the first line of a key wins


def test_a_torn_journal_line_is_cut_on_open_and_skipped_when_read(tmp_path):
    path = tmp_path / "items.jsonl"
    whole = [encode_line({"key": f"k{n}", "item": {"n": n}}) for n in range(2)]
    path.write_bytes(b"".join(whole) + whole[0][:7])  # a crash tore the third line
    journal = ItemJournal(path)
    assert path.read_bytes() == b"".join(whole)
    journal.write([("k2", {"n": 2})])
    journal.close()
    torn = encode_line({"key": "k3", "item": {"text": "café"}})
    with open(path, "ab") as fh:  # torn again, and read before any open repairs it
        fh.write(torn[: torn.index("é".encode()) + 1])  # inside a UTF-8 sequence
    output = tmp_path / "out.jsonl"
    assert journal.finalise(FeedSet.to_file(output)) == 3
    assert read_jsonl(output) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_shutdown_timeout_bounds_the_wait_for_in_flight_work(tmp_path):
    slow = "/slow/20"  # far longer than SHUTDOWN_TIMEOUT, shorter than DOWNLOAD_TIMEOUT
    with MockServer(hosts=1) as server:
        process = popen_cli(
            str(TEST_SPIDERS / "follow.py"),
            "-O",
            str(tmp_path / "out.jsonl"),
            "--jobdir",
            str(tmp_path / "job"),
            "-a",
            f"start_urls={server.url('/page/a?to=' + slow)}",
            "-s",
            "SHUTDOWN_TIMEOUT=1",
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(r["path"] == slow for r in server.log()):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)  # the slow request is in flight
        _, stderr = process.communicate(timeout=60)
        (record,) = [r for r in server.log() if r["path"] == slow]
    assert process.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    assert record["end"] is None  # the crawl was gone before the slow response was sent
    with sqlite3.connect(tmp_path / "job" / "frontier.sqlite") as db:  # left for the resume
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1


STALLED_SPIDER = """from pathlib import Path

from scraper import Spider


class Stalled(Spider):
    name = "stalled"

    def parse(self, response):
        Path("parsing").touch()
        while Path("stall").exists():  # parsing slower than SHUTDOWN_TIMEOUT, until the test ends
            pass
        yield {"url": response.url}
"""


def test_pages_whose_parse_a_timed_out_shutdown_cut_short_are_parsed_on_resume(tmp_path):
    pages = [f"/page/p{i}" for i in range(10)]
    (tmp_path / "stalled.py").write_text(STALLED_SPIDER)
    (tmp_path / "stall").touch()
    with MockServer(hosts=1) as server:
        args = [
            "stalled.py",
            "-O",
            "out.jsonl",
            "--jobdir",
            "job",
            "-a",
            "start_urls=" + ",".join(server.url(page) for page in pages),
            "-s",
            "PARSE_WORKERS=2",
            "-s",
            "SHUTDOWN_TIMEOUT=1",
            "-s",
            "ROBOTSTXT_OBEY=False",
        ]
        process = popen_cli(*args, cwd=tmp_path)
        deadline = time.monotonic() + 30
        # Pages in the workers' callbacks, the others fetched and waiting for them.
        while not (tmp_path / "parsing").exists() or len(server.log()) < len(pages):
            assert time.monotonic() < deadline, "the crawl never fetched every page"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert not (tmp_path / "out.jsonl").exists() or read_jsonl(tmp_path / "out.jsonl") == []
        (tmp_path / "stall").unlink()
        resumed = run_cli(*args, cwd=tmp_path, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    urls = sorted(item["url"] for item in read_jsonl(tmp_path / "out.jsonl"))
    assert urls == sorted(server.url(page) for page in pages)


def test_a_bug_that_kills_a_stage_thread_ends_the_crawl_and_resume_loses_nothing(
    tmp_path, demo_site
):
    """A stage thread that dies of a bug (here parse-feed, on its third batch) must not leave
    the others waiting for it forever: the crawl ends with an error naming the thread, and the
    pages it held are fetched again on resume."""
    total = 40
    site = demo_site(hosts=2, rate=0, fanout=4, fanout_total=total)
    crawl = build_crawl(
        SPIDER,
        settings={
            "CONCURRENT_REQUESTS_PER_DOMAIN": "4",
            "PARSE_WORKERS": "2",
            "SHUTDOWN_TIMEOUT": "2",
        },
        spider_args={"start_urls": ",".join(f"{base}/fanout/0" for base in site.base_urls)},
        output=tmp_path / "out.jsonl",
        jobdir=tmp_path / "job",
    )
    next_batch, calls = crawl.parse_stage._next_batch, []

    def buggy() -> tuple[int, int, float]:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("a bug")
        return next_batch()

    crawl.parse_stage._next_batch = buggy  # type: ignore[method-assign]
    result = crawl.run()
    assert result.reason == "internal_error"
    assert result.fatal == "internal error in the parse-feed thread: RuntimeError: a bug"
    assert len(read_jsonl(tmp_path / "out.jsonl")) < 2 * total
    again = run_cli(*crawl_args(site, tmp_path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert_exactly_once(tmp_path, site, total)
