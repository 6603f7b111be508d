"""Hosts that cannot be reached: the host backs off as a whole, its requests stay queued (never
written off one by one), and a crawl left with nothing but such hosts ends with exit status 3,
their requests kept in the job folder (or recorded as host_unreachable without one)."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import TEST_SPIDERS, popen_cli, read_jsonl, run_cli

from scraper.demo import DemoSite
from scraper.outages import HostOutages

pytest_plugins = ["redis_server"]  # fixtures: redis_server, crawl_name

SPIDER = str(TEST_SPIDERS / "fanout.py")
TOTAL = 60  # pages per host
QUICK_BACKOFF = ["-s", "RETRY_BACKOFF_BASE=0.05", "-s", "HOST_DOWN_BACKOFF_MAX=0.3"]


def dead_address(ip: str = "127.0.0.2") -> str:
    """An address where nothing listens: a port the OS just handed out, closed again."""
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return f"http://{ip}:{sock.getsockname()[1]}"


@pytest.fixture
def dead_site() -> str:
    return dead_address()


def crawl_args(site: DemoSite, *extra: str) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    return [SPIDER, "-O", "out.jsonl", "-a", f"start_urls={starts}", *QUICK_BACKOFF, *extra]


def start_site(demo_site, ports: list[int] | None = None) -> DemoSite:
    return demo_site(hosts=2, rate=0, latency=0.02, fanout=4, fanout_total=TOTAL, ports=ports)


def ports_of(site: DemoSite) -> list[int]:
    return [int(base.rsplit(":", 1)[1]) for base in site.base_urls]


class StderrLines:
    """Reads a child's stderr as it comes, so a test can wait for a line."""

    def __init__(self, process) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in x for x in self.lines), timeout)

    def text(self) -> str:
        self._thread.join(30)
        return "".join(self.lines)


def _journal_lines(tmp_path: Path) -> int:
    journal = tmp_path / "job" / "items.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def _stop_mid_crawl(tmp_path: Path, site: DemoSite) -> None:
    deadline = time.monotonic() + 30
    while _journal_lines(tmp_path) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    site.stop()


def assert_every_page_once(tmp_path: Path, site: DemoSite) -> None:
    urls = Counter(item["url"] for item in read_jsonl(tmp_path / "out.jsonl"))
    assert [url for url, n in urls.items() if n > 1] == []
    assert set(urls) == {f"{base}/fanout/{i}" for base in site.base_urls for i in range(TOTAL)}


def test_a_site_down_mid_crawl_waits_for_it_and_the_crawl_completes_when_it_is_back(
    tmp_path, demo_site
):
    site = start_site(demo_site)
    process = popen_cli(*crawl_args(site, "--jobdir", "job"), cwd=tmp_path)
    stderr = StderrLines(process)
    _stop_mid_crawl(tmp_path, site)
    # Refused for a while: each host is logged once, with the cause, and nothing fails.
    assert stderr.wait_for("host 127.0.0.2 cannot be reached (")
    assert stderr.wait_for("host 127.0.0.3 cannot be reached (")
    assert read_jsonl(tmp_path / "out.failures.jsonl") == []
    back = start_site(demo_site, ports=ports_of(site))  # the same addresses, up again
    process.wait(timeout=90)
    text = stderr.text()
    assert process.returncode == 0, text
    assert text.count("cannot be reached") == 2, text
    assert "host 127.0.0.2 answers again after" in text
    assert "host unreachable: 127.0.0.2 for " in text and ", back (" in text
    assert "ConnectError: [Errno 111] Connection refused" in text
    assert "errors: none" in text
    assert read_jsonl(tmp_path / "out.failures.jsonl") == []
    assert_every_page_once(tmp_path, back)
    assert any(r.path == "/fanout/0" for r in site.requests())  # the first site did serve


def test_a_site_still_down_when_nothing_else_is_left_stays_in_the_job_folder(tmp_path, demo_site):
    site = start_site(demo_site)
    args = crawl_args(site, "--jobdir", "job", "-s", "HOST_DOWN_TIMEOUT=0.5")
    process = popen_cli(*args, cwd=tmp_path)
    stderr = StderrLines(process)
    _stop_mid_crawl(tmp_path, site)
    process.wait(timeout=60)
    text = stderr.text()
    assert process.returncode == 3, text
    with sqlite3.connect(tmp_path / "job" / "frontier.sqlite") as db:
        left = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    assert left > 0
    assert (
        f"crawl: {left} requests of unreachable hosts (127.0.0.2, 127.0.0.3) are still in "
        "job: run the same command again to fetch them"
    ) in text
    given_up = [line for line in text.splitlines() if "given up," in line]
    assert len(given_up) == 2 and all("host unreachable: 127.0.0." in x for x in given_up)
    assert "errors: none" in text
    assert read_jsonl(tmp_path / "out.failures.jsonl") == []
    back = start_site(demo_site, ports=ports_of(site))
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from job: {left} requests to do" in resumed.stderr
    assert_every_page_once(tmp_path, back)


def test_without_a_job_folder_a_host_given_up_is_in_the_failures_file(tmp_path, dead_site):
    dead = dead_site
    args = [SPIDER, "-O", "out.jsonl", "-a", f"start_urls={dead}/a,{dead}/b", *QUICK_BACKOFF]
    result = run_cli(*args, "-s", "HOST_DOWN_TIMEOUT=0.3", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert sorted(f["url"] for f in failures) == [f"{dead}/a", f"{dead}/b"]
    assert {f["reason"] for f in failures} == {"host_unreachable"}
    assert all("robots.txt: ConnectError" in f["detail"] for f in failures)
    assert "errors: host_unreachable 2" in result.stderr  # the summary counts the file's lines
    assert result.stderr.count("cannot be reached") == 1
    assert (
        "crawl: 2 requests of unreachable hosts (127.0.0.2) were not fetched "
        "(in out.failures.jsonl as host_unreachable)"
    ) in result.stderr


def test_a_mistyped_host_beside_a_live_one_is_given_up_soon_and_the_live_one_crawled_whole(
    tmp_path, demo_site
):
    # HOST_DOWN_TIMEOUT stays at its default (300 s): only the never-reached limit can end this.
    site = demo_site(hosts=1, rate=0, latency=0, fanout=4, fanout_total=TOTAL)  # on 127.0.0.2
    dead = dead_address("127.0.0.9")
    starts = f"{site.base_urls[0]}/fanout/0,{dead}/a"
    args = [SPIDER, "-O", "out.jsonl", "-a", f"start_urls={starts}", *QUICK_BACKOFF]
    result = run_cli(*args, "-s", "HOST_UNREACHED_TIMEOUT=1", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert_every_page_once(tmp_path, site)
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert [(f["url"], f["reason"]) for f in failures] == [(f"{dead}/a", "host_unreachable")]
    assert "giving up on host 127.0.0.9 for this run: unreachable for " in result.stderr


def test_a_host_that_answered_is_waited_for_longer_than_one_that_never_did() -> None:
    outages = HostOutages(base=0.5, cap=60, timeout=300, unreached=10)
    outages.reached("up-then-down", started=0, now=1)
    for host in ("up-then-down", "never-up"):
        outages.failed(host, "ConnectError", now=2)
    both = ["never-up", "up-then-down"]
    assert outages.give_up(both, now=11.9) == []
    assert outages.give_up(both, now=12) == ["never-up"]
    assert outages.give_up(both, now=301.9) == ["never-up"]
    assert outages.give_up(both, now=302) == both
    # A worker of a shared crawl: the host it reached holds it for HOST_DOWN_TIMEOUT too.
    assert outages.give_up_all(now=301.9) == [] and outages.give_up_all(now=302) == both
    alone = HostOutages(base=0.5, cap=60, timeout=300, unreached=10)
    alone.failed("never-up", "ConnectError", now=2)
    assert alone.give_up_all(now=11.9) == [] and alone.give_up_all(now=12) == ["never-up"]
    # HOST_UNREACHED_TIMEOUT above HOST_DOWN_TIMEOUT is capped by it.
    short = HostOutages(base=0.5, cap=60, timeout=3, unreached=10)
    short.failed("never-up", "ConnectError", now=2)
    assert short.give_up(["never-up"], now=5) == ["never-up"]


def test_a_worker_of_a_shared_crawl_gives_up_leaving_the_requests_queued_in_redis(
    tmp_path, redis_server, crawl_name, dead_site
):
    dead = dead_site
    args = [SPIDER, "-O", "out.jsonl", "-a", f"start_urls={dead}/a,{dead}/b", *QUICK_BACKOFF]
    args += ["--frontier", redis_server.url, "--crawl-name", crawl_name]
    result = run_cli(*args, "-s", "HOST_DOWN_TIMEOUT=0.3", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert (
        "crawl: 2 requests of unreachable hosts (127.0.0.2) are still queued in the shared "
        "crawl: run a worker again to fetch them"
    ) in result.stderr
    assert "host unreachable: 127.0.0.2 for " in result.stderr and "given up (robots.txt" in (
        result.stderr
    )
    queued = redis_server.client().hget(f"{{{crawl_name}}}:state", "queued")
    assert int(queued) == 2
    assert read_jsonl(tmp_path / "out.failures.jsonl") == []
