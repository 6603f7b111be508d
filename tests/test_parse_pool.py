"""The parse pool's processes, seen from outside the crawl: workers are forked from a fork
server that imported the spider's modules and those its callbacks import before them, and none
of the pool's processes (fork server, workers, resource tracker) outlives a crawl killed with
SIGKILL, even a worker stuck in C code that holds the GIL."""

from __future__ import annotations

import gc
import os
import signal
import time
import weakref
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from conftest import popen_cli, read_jsonl

from scraper.models import Request, Response
from scraper.parse import ParsePool
from scraper.settings import Settings
from scraper.spider import load_spider_class

PROBE = '''"""Remembers which process imported it."""
import os

IMPORTED_IN = os.getpid()
'''

PROBE_SPIDER = """import os

import preload_probe

from scraper import Spider


def imported_lazily():
    import lazy_probe  # only when a page is parsed: still preloaded, from the compiled code

    return lazy_probe.IMPORTED_IN


class Probe(Spider):
    name = "probe"

    def parse(self, response):
        yield {
            "url": response.url,
            "imported_in": preload_probe.IMPORTED_IN,
            "lazily_imported_in": imported_lazily(),
            "pid": os.getpid(),
            "parent": os.getppid(),
        }
"""

STUCK_SPIDER = """import os
import re
from pathlib import Path

from scraper import Spider


class Stuck(Spider):
    name = "stuck"

    def parse(self, response):
        Path(f"stuck-{os.getpid()}").touch()
        re.match(r"(a+)+$", "a" * 64 + "b")  # backtracks for ages without releasing the GIL
"""


def test_workers_are_forked_from_a_server_that_preloaded_the_spiders_imports(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    (tmp_path / "preload_probe.py").write_text(PROBE)
    (tmp_path / "lazy_probe.py").write_text(PROBE)
    (tmp_path / "probe.py").write_text(PROBE_SPIDER)
    process = popen_cli(
        "probe.py",
        "-O",
        "out.jsonl",
        "-a",
        f"start_urls={site.base_urls[0]}/",
        "-s",
        "ROBOTSTXT_OBEY=False",
        cwd=tmp_path,
    )
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    [item] = read_jsonl(tmp_path / "out.jsonl")
    # Imported by the worker's parent, before the worker existed: the fork server, not the crawl.
    assert item["imported_in"] == item["parent"] != process.pid
    assert item["lazily_imported_in"] == item["parent"]
    assert item["pid"] != item["parent"]


def test_no_pool_process_outlives_a_sigkilled_crawl(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    (tmp_path / "stuck.py").write_text(STUCK_SPIDER)
    process = popen_cli(
        "stuck.py",
        "-a",
        f"start_urls={site.base_urls[0]}/",
        "-s",
        "ROBOTSTXT_OBEY=False",
        "-s",
        "PARSE_WORKERS=2",
        cwd=tmp_path,
    )
    try:
        _wait_for(lambda: any(tmp_path.glob("stuck-*")), "a worker to run the callback")
        pool = _descendants(process.pid)
        stuck = {int(path.name.split("-")[1]) for path in tmp_path.glob("stuck-*")}
        assert stuck < pool and len(pool) >= 4  # fork server, two workers, resource tracker
    finally:
        process.kill()
        process.wait()  # not communicate(): a surviving worker would hold the output pipes open
        process.stdout.close()
        process.stderr.close()
    try:
        _wait_for(lambda: not any(_alive(pid) for pid in pool), "the pool to end with the crawl")
    finally:  # when it failed, not left burning a core
        for pid in filter(_alive, pool):
            os.kill(pid, signal.SIGKILL)


def _wait_for(condition, what: str, deadline: float = 30) -> None:
    ends = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < ends, f"waited {deadline}s for {what}"
        time.sleep(0.05)


def _descendants(root: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    """Running, or stopped: not gone and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state not in ("Z", "X")


BATCH_SPIDER = """import os
import time
from scraper import Spider


class BatchSpider(Spider):
    name = "batch"

    def parse(self, response):
        if response.url.endswith("/crash"):
            os._exit(3)  # as a segfault would: no exception, no result
        if response.url.endswith("/slow"):
            time.sleep(60)  # interrupted by PARSE_TIMEOUT's alarm
        if response.url.endswith("/unsendable"):
            yield {"value": lambda: None}  # an item that cannot be pickled back
        if response.url.endswith("/links"):
            yield from response.follow_all(["/plain", "/query?b=2&a=1", "/plain#frag"])
        yield {"url": response.url, "pid": os.getpid()}
"""


@pytest.fixture
def batch_pool(tmp_path):
    path = tmp_path / "batch_spider.py"
    path.write_text(BATCH_SPIDER)
    spider = load_spider_class(path, "batch")()
    settings = Settings()
    settings.update({"PARSE_WORKERS": 1, "PARSE_START_METHOD": "spawn", "PARSE_TIMEOUT": 1}, "test")
    pool = ParsePool(spider=spider, spider_path=str(path), spider_args={}, settings=settings)
    pool.start()
    yield pool
    pool.shutdown()


def _responses(*names: str) -> list[Response]:
    urls = [f"http://127.0.0.1:9/{name}" for name in names]
    return [Response(url, 200, {}, b"<html></html>", Request(url)) for url in urls]


def test_a_crash_in_a_batch_charges_only_the_page_its_worker_was_running(batch_pool):
    """One trip, four pages, the third kills its worker: the board names that page alone;
    the two done before it and the one after are bystanders, and run again in the new pool."""
    batch = batch_pool.submit(_responses("a", "b", "crash", "d"))
    assert isinstance(batch.future.exception(timeout=60), BrokenProcessPool)
    dead = batch_pool.recover(batch)
    assert dead == {batch.jobs[2].id}
    assert not batch_pool.died_of_memory(batch.jobs[2])
    again = batch_pool.submit([job.response for job in batch.jobs if job.id not in dead])
    urls = [result.url.rsplit("/", 1)[1] for result in again.results()]
    assert urls == ["a", "b", "d"] and batch_pool.restarts == 1


def test_a_result_that_cannot_be_sent_costs_its_own_page_only(batch_pool):
    batch = batch_pool.submit(_responses("a", "unsendable", "c"))
    results = batch.results()
    assert [r.send_error is None for r in results] == [True, False, True]
    assert "pickle" in results[1].send_error.lower()
    assert [r.items[0]["url"].rsplit("/", 1)[1] for r in (results[0], results[2])] == ["a", "c"]


def test_a_batchs_pages_are_freed_once_dropped_without_a_garbage_collection(batch_pool):
    """The batch holds its future; a done callback that held the batch made a cycle, and the
    pages' bodies stayed in memory until a full collection (150 pages at once in a crawl)."""
    response = _responses("a")[0]
    freed = weakref.ref(response)
    batch = batch_pool.submit([response])
    assert batch.results()[0].items
    gc.disable()  # only reference counting may free it
    try:
        del batch, response
        deadline = time.monotonic() + 10  # the executor's thread drops its own reference
        while freed() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert freed() is None
    finally:
        gc.enable()


def test_the_fingerprints_of_new_requests_are_made_in_the_worker(batch_pool):
    """The main process de-duplicates every link on its fingerprint: the workers make them,
    on their own cores, and they cross with the requests, the same as made here."""
    (result,) = batch_pool.submit(_responses("links")).results()
    assert [r.url.rsplit("/", 1)[1] for r in result.requests] == [
        "plain", "query?b=2&a=1", "plain#frag"
    ]  # fmt: skip
    made_there = [r._fingerprint for r in result.requests]
    assert None not in made_there
    assert made_there == [Request(r.url).fingerprint() for r in result.requests]
    assert made_there[0] == made_there[2]  # a fragment is the same page


def test_a_callback_past_parse_timeout_in_a_batch_times_out_alone(batch_pool):
    results = batch_pool.submit(_responses("a", "slow", "c")).results()
    assert [r.timed_out for r in results] == [False, True, False]
    assert [len(r.items) for r in results] == [1, 0, 1]
