"""The HTTP cache: a second crawl sends nothing with the dummy policy, and only conditional
requests with the RFC 9111 policy; hits cost no robots.txt fetch and no politeness delay."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from mockserver import MockServer

from scraper.httpcache import CacheStore, Entry

SPIDER = str(TEST_SPIDERS / "follow.py")
LEAVES = ["a", "b", "c", "d"]


def crawl(server: MockServer, tmp_path: Path, *settings: str, start: str = "") -> str:
    start = start or server.url("/cacheable/root?links=" + ",".join(LEAVES))
    args = [SPIDER, "-a", f"start_urls={start}", "-O", str(tmp_path / "out.jsonl")]
    args += ["-s", "HTTPCACHE_ENABLED=true", "-s", f"HTTPCACHE_DIR={tmp_path / 'cache'}"]
    for setting in settings:
        args += ["-s", setting]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stderr


def page_requests(server: MockServer) -> list[dict]:
    return [r for r in server.log() if r["path"].startswith("/cacheable/")]


def urls(tmp_path: Path) -> set[str]:
    return {item["url"] for item in read_jsonl(tmp_path / "out.jsonl")}


def test_dummy_policy_second_crawl_sends_no_request_at_all(tmp_path):
    with MockServer(hosts=1) as server:
        first = crawl(server, tmp_path, "DOWNLOAD_DELAY=0.2")
        assert len(page_requests(server)) == 5
        assert "HTTP cache: 0 hits, 0 revalidated (304), 6 misses" in first  # and robots.txt
        crawled = urls(tmp_path)
        server.clear_log()
        second = crawl(server, tmp_path, "DOWNLOAD_DELAY=0.2")
        assert server.log() == []  # not a page, not robots.txt
        assert urls(tmp_path) == crawled and len(crawled) == 5
        assert "HTTP cache: 5 hits, 0 revalidated (304), 0 misses" in second


def test_rfc_policy_revalidates_with_conditional_requests_only(tmp_path):
    with MockServer(hosts=1) as server:
        start = server.url("/cacheable/root?cc=no-cache&links=" + ",".join(LEAVES))
        rfc = ("HTTPCACHE_POLICY=rfc2616", "ROBOTSTXT_OBEY=false")
        crawl(server, tmp_path, *rfc, start=start)
        assert len(page_requests(server)) == 5
        server.clear_log()
        second = crawl(server, tmp_path, *rfc, start=start)
        sent = page_requests(server)
        assert len(sent) == 5
        for record in sent:  # each asked "has it changed?" and was told no
            assert record["headers"]["if-none-match"].startswith('"v1-')
            assert record["headers"]["if-modified-since"] == "Tue, 01 Dec 2026 10:00:00 GMT"
            assert record["status"] == 304
        assert len(urls(tmp_path)) == 5  # the 304s were answered from the copies
        assert "HTTP cache: 0 hits, 5 revalidated (304), 0 misses" in second


def test_rfc_policy_serves_a_fresh_copy_and_never_stores_no_store(tmp_path):
    with MockServer(hosts=1) as server:
        fresh = server.url("/cacheable/root?links=a&cc=max-age%3D3600")
        crawl(server, tmp_path, "HTTPCACHE_POLICY=rfc2616", "ROBOTSTXT_OBEY=false", start=fresh)
        server.clear_log()
        crawl(server, tmp_path, "HTTPCACHE_POLICY=rfc2616", "ROBOTSTXT_OBEY=false", start=fresh)
        # Both pages were fresh (max-age): not asked at all.
        assert page_requests(server) == []
        never = server.url("/cacheable/other?cc=no-store")
        crawl(server, tmp_path, "HTTPCACHE_POLICY=rfc2616", "ROBOTSTXT_OBEY=false", start=never)
        server.clear_log()
        crawl(server, tmp_path, "HTTPCACHE_POLICY=rfc2616", "ROBOTSTXT_OBEY=false", start=never)
        [again] = page_requests(server)
        assert "if-none-match" not in again["headers"] and again["status"] == 200


def test_ignored_codes_and_expired_copies_are_fetched_again(tmp_path):
    with MockServer(hosts=1) as server:
        start = server.url("/status/404")
        for _ in range(2):
            crawl(server, tmp_path, "HTTPCACHE_IGNORE_HTTP_CODES=404", start=start)
        assert len([r for r in server.log() if r["path"] == "/status/404"]) == 2
        server.clear_log()
        crawl(server, tmp_path, "HTTPCACHE_EXPIRATION_SECS=0.001", "ROBOTSTXT_OBEY=false")
        assert len(page_requests(server)) == 5  # every copy had expired


def test_cache_hits_cost_no_politeness_delay_end_to_end(tmp_path):
    with MockServer(hosts=1) as server:
        crawl(server, tmp_path, "DOWNLOAD_DELAY=0", "ROBOTSTXT_OBEY=false")
        server.clear_log()
        # Five pages one DOWNLOAD_DELAY apart would take four minutes: far past run_cli's
        # timeout, so the crawl can only finish if the hits skip the delay.
        stderr = crawl(server, tmp_path, "DOWNLOAD_DELAY=120", "ROBOTSTXT_OBEY=false")
        assert "5 hits" in stderr and server.log() == []


def test_the_store_is_safe_under_many_threads(tmp_path):
    store = CacheStore(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                key = f"{n}-{i}".encode()
                store.put(key, Entry(f"u{n}/{i}", 200, [("a", "b")], b"x" * i, 1.0))
                assert store.get(key) == Entry(f"u{n}/{i}", 200, [("a", "b")], b"x" * i, 1.0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    other = CacheStore(tmp_path / "c.sqlite")  # another process's view: a second connection
    assert other.get(b"7-49") is not None
    store.close()
    other.close()


def test_a_bad_policy_is_one_clear_line(tmp_path):
    result = run_cli(SPIDER, "-s", "HTTPCACHE_ENABLED=1", "-s", "HTTPCACHE_POLICY=x", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawl: error: HTTPCACHE_POLICY must be one of dummy, rfc2616, got 'x'"
    ]


@pytest.fixture(autouse=True)
def _no_stray_json(tmp_path):
    yield
    assert not list(tmp_path.glob("*.tmp")), json.dumps([str(p) for p in tmp_path.iterdir()])
