"""The parse pool's processes, seen from outside the crawl: workers are forked from a fork
server that imported the spider's modules before them, and none of the pool's processes (fork
server, workers, resource tracker) outlives a crawl killed with SIGKILL, even a worker stuck
in C code that holds the GIL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import popen_cli, read_jsonl

PROBE = '''"""Remembers which process imported it."""
import os

IMPORTED_IN = os.getpid()
'''

PROBE_SPIDER = """import os

import preload_probe

from scraper import Spider


class Probe(Spider):
    name = "probe"

    def parse(self, response):
        yield {
            "url": response.url,
            "imported_in": preload_probe.IMPORTED_IN,
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
