"""End to end: real demo site on loopback, real fetch threads, real worker processes, real
files. Each test asserts on counts, pids, queue high-water marks or the server's own log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, TEST_SPIDERS, read_jsonl, run_cli, run_in_process

from scraper.parse import InlinePolicy


def fanout_starts(site, hosts: int | None = None) -> str:
    return ",".join(f"{base}/fanout/0" for base in site.base_urls[:hosts])


@pytest.mark.longest
def test_news_demo_crawl_exports_every_article_exactly_once(tmp_path):
    """The README's main command, with no arguments: it serves the demo site itself."""
    log = tmp_path / "site.log"
    result = run_cli(str(ROOT / "spiders" / "news.py"), "-a", f"demo_log={log}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    items = read_jsonl(tmp_path / "output" / "news.jsonl")

    from scraper.demo import DemoSite

    with DemoSite() as reference:  # same seed: same articles, other ports
        expected = {_key(a.url): a for a in reference.articles()}
    got = Counter(_key(item["url"]) for item in items)
    assert set(got) == set(expected)
    assert all(n == 1 for n in got.values()), [k for k, n in got.items() if n > 1]
    for item in items:
        article = expected[_key(item["url"])]
        assert item["title"] == article.title
        assert item["authors"] == list(article.authors)
        assert item["published"] == article.published
        assert item["body"] == article.body
        assert "pid" not in item
    records = [line for line in log.read_text().splitlines() if line]
    assert records and not [r for r in records if '"status": 429' in r]
    assert not [r for r in records if "/private/" in r]  # robots.txt obeyed
    assert "Crawl finished" in result.stderr and "429s seen: 0" in result.stderr
    # The flagship's extraction is what the parse workers are for: none of it in the main
    # process (a spider read as keeping state on self would run it all there).
    assert re.search(r"parse workers: [1-9]\d* processes", result.stderr)
    assert "parsed in the main process" not in result.stderr
    assert "keeps state on self" not in result.stderr


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.path


def test_parsing_runs_in_other_processes(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=8, fanout_total=41)
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 2, "ROBOTSTXT_OBEY": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8},
        start_urls=fanout_starts(site),
        work_ms="20",
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    pids = {item["pid"] for item in items}
    assert len(items) == 41
    assert len(pids) >= 2 and os.getpid() not in pids
    assert pids == result.stats.worker_pids


def test_parse_workers_zero_runs_callbacks_in_the_main_process(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)
    run_in_process(
        "fanout", tmp_path / "out.jsonl", {"PARSE_WORKERS": 0}, start_urls=fanout_starts(site)
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    assert len(items) == 13 and {item["pid"] for item in items} == {os.getpid()}


@pytest.mark.parametrize("workers", [0, 2])
def test_callbacks_in_the_main_process_never_run_at_once(tmp_path, demo_site, workers):
    """Fetch threads run cheap callbacks themselves, one at a time, as Scrapy's single thread
    does: spider code need not be thread-safe. (With workers, the callbacks that moved to the
    main process after their warm-up.)"""
    # Enough pages that most come after the warm-up, however fast the site answers: the pages
    # fetched while the first 20 are in the workers (a full response queue) go there too.
    site = demo_site(hosts=1, rate=0, fanout=8, fanout_total=201)
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": workers, "PARSE_INLINE_BELOW": 0.05, "CONCURRENT_REQUESTS": 8,
         "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "ROBOTSTXT_OBEY": False},
        start_urls=fanout_starts(site),
        sleep_ms="5",
    )  # fmt: skip
    items = read_jsonl(tmp_path / "out.jsonl")
    main = [item for item in items if item["pid"] == os.getpid()]
    assert len(items) == 201 and len(main) == result.stats.counters["parsed_inline"] >= 100
    assert [item["overlap"] for item in main] == [0] * len(main)


def crawl_pids(tmp_path, site, settings, **spider_args):
    """Run the fanout spider with two workers; returns (pids of the items, result)."""
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 2, "ROBOTSTXT_OBEY": False, **settings},
        start_urls=fanout_starts(site),
        **spider_args,
    )
    return [item["pid"] for item in read_jsonl(tmp_path / "out.jsonl")], result


def test_a_cheap_callback_moves_to_the_main_process_after_its_warm_up(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=101)
    pids, result = crawl_pids(tmp_path, site, {"PARSE_INLINE_BELOW": 0.05})
    inline = pids.count(os.getpid())
    assert len(pids) == 101
    assert len(pids) - inline >= InlinePolicy.WARMUP  # measured in the workers first
    assert inline > 0 and result.stats.counters["parsed_inline"] == inline


@pytest.mark.parametrize(
    ("settings", "spider_args"),
    [
        ({}, {}),  # the default: off, however cheap the callback
        ({"PARSE_INLINE_BELOW": 0.005}, {"work_ms": "10"}),  # too dear
    ],
)
def test_callbacks_stay_in_the_workers(tmp_path, demo_site, settings, spider_args):
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=101)
    pids, result = crawl_pids(tmp_path, site, settings, **spider_args)
    assert len(pids) == 101
    assert os.getpid() not in pids and result.stats.counters["parsed_inline"] == 0


def test_a_cheap_callback_that_crashed_a_worker_during_its_warm_up_stays_in_the_workers(
    tmp_path, demo_site, monkeypatch
):
    # Node 10 (a leaf of the first level) kills its worker. The crash must come before the
    # warm-up ends: 10 ms a callback (wall clock, not CPU: still cheap) and a warm-up of 50 keep
    # the other worker from measuring that many pages first, whatever the order of the first
    # level's pages (with 20, the second level's pages sometimes got there first).
    monkeypatch.setattr(InlinePolicy, "WARMUP", 50)
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=101)
    settings = {"PARSE_INLINE_BELOW": 0.05, "PARSE_RETRY_TIMES": 0}
    pids, result = crawl_pids(tmp_path, site, settings, exit_on="10", sleep_ms="10")
    assert len(pids) == 100
    assert os.getpid() not in pids and result.stats.counters["parsed_inline"] == 0


def test_a_raising_callback_is_counted_and_the_crawl_goes_on(tmp_path, demo_site, caplog):
    """Each failing page is a failure line; the log shows the traceback of a distinct error
    once, then only its count at the 10th, 100th... (issue 11, item 12: a callback raising on
    every page printed a traceback for every page)."""
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=40)  # nodes 13..39 are leaves
    failing = range(13, 40)
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 1},
        start_urls=fanout_starts(site),
        fail_on=",".join(map(str, failing)),
    )
    nodes = sorted(int(item["node"].split()[-1]) for item in read_jsonl(tmp_path / "out.jsonl"))
    assert nodes == list(range(13))
    assert result.stats.errors["callback_error"] == len(failing)
    assert len(read_jsonl(result.failures)) == len(failing)
    assert result.reason == "finished"
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    (traceback,) = [m for m in logged if "Traceback (most recent call last)" in m]
    assert "ValueError: boom on Node" in traceback and "logged once" in traceback
    counts = [m for m in logged if "failed again" in m]
    assert len(counts) == 1 and counts[0].endswith("(10 pages)")
    ((what, count),) = result.stats.repeats["callback_errors"].items()
    assert count == len(failing) and what.startswith("ValueError in parse, File ")
    assert "fanout.py" in what


@pytest.mark.parametrize("bounded", [True, False])
def test_backpressure_bounds_the_response_queue_and_paces_fetching(tmp_path, demo_site, bounded):
    """One slow parse worker; the start page links 60 pages. With the bound, fetching can only
    run a fixed number of pages ahead of parsing (server log vs parse times); without it (the
    negative control) it races ahead and the queue grows."""
    site = demo_site(hosts=1, rate=0, fanout=60, fanout_total=61)
    queue_size = 2 if bounded else 1000
    threads = 4
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {
            "PARSE_WORKERS": 1,
            "RESPONSE_QUEUE_SIZE": queue_size,
            "CONCURRENT_REQUESTS": threads,
            "CONCURRENT_REQUESTS_PER_DOMAIN": threads,
            "ROBOTSTXT_OBEY": False,
        },
        start_urls=fanout_starts(site),
        work_ms="40",
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    assert len(items) == 61
    fetched = sorted(r.start for r in site.requests() if r.path.startswith("/fanout/"))
    parsed = sorted(item["parsed_at"] for item in items)
    # How far fetching ran ahead of parsing at each fetch: fetched so far minus parsed so far.
    lead = max(i + 1 - sum(p <= t for p in parsed) for i, t in enumerate(fetched))
    # ParsePool.capacity for one worker (2 batches), each of at most the pages waiting in the
    # bounded run's queue (2).
    parse_pages = 2 * 2
    limit = 2 + threads + parse_pages + 1  # what the bounded run may lead by, at most
    high_water = result.response_queue.high_water_items
    if bounded:
        assert high_water <= queue_size
        assert lead <= limit
    else:
        assert high_water > 2 * limit and lead > 2 * limit


def politeness_report(site) -> tuple[float, int]:
    """Smallest gap between request starts on one host, and most requests active at once."""
    by_host = defaultdict(list)
    for record in site.requests():
        by_host[record.host].append(record)
    gaps = [
        b.start - a.start
        for rs in by_host.values()
        for a, b in zip(
            sorted(rs, key=lambda r: r.start), sorted(rs, key=lambda r: r.start)[1:], strict=False
        )
    ]
    return min(gaps), max(r.active for rs in by_host.values() for r in rs)


def crawl_fanout_cli(site, tmp_path, **settings: object) -> list[dict]:
    """Run the fanout spider over ``site`` with the real command; returns the items."""
    options = [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]
    result = run_cli(
        str(TEST_SPIDERS / "fanout.py"),
        "-O",
        str(tmp_path / "out.jsonl"),
        "-a",
        f"start_urls={fanout_starts(site)}",
        *options,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return read_jsonl(tmp_path / "out.jsonl")


def test_per_host_delay_holds_server_side(tmp_path, demo_site):
    site = demo_site(hosts=3, rate=0, latency=0.01, fanout=11, fanout_total=12)
    delay = 0.25
    items = crawl_fanout_cli(site, tmp_path, DOWNLOAD_DELAY=delay, CONCURRENT_REQUESTS_PER_DOMAIN=1)
    assert len(items) == 36
    min_gap, max_active = politeness_report(site)
    # The demo server stamps a request when its handler thread runs, which a loaded machine
    # can delay by tens of milliseconds (measured: 26 ms at load 6): these stamps show the delay
    # is applied, not to the millisecond. test_pacing.py judges the gaps to the millisecond from
    # the kernel's stamps; here, no request came a whole delay early (two at once).
    assert min_gap >= delay / 2, min_gap
    assert max_active == 1
    assert len(site.requests()) == 3 * 13  # 12 pages and robots.txt per host, nothing twice


def test_per_host_concurrency_holds_server_side(tmp_path, demo_site):
    site = demo_site(hosts=2, rate=0, latency=0.15, fanout=12, fanout_total=13)
    assert len(crawl_fanout_cli(site, tmp_path, CONCURRENT_REQUESTS_PER_DOMAIN=2)) == 26
    _, max_active = politeness_report(site)
    assert max_active == 2  # used, never exceeded


@pytest.mark.parametrize("enabled", [True, False])
def test_autothrottle_spaces_a_slow_host_server_side(tmp_path, demo_site, enabled):
    """AutoThrottle with target concurrency 1 on a host answering in 0.2 s: the delay climbs
    towards latency / 1 (Scrapy's algorithm), so the last requests are spaced by most of it.
    Off (the negative control), four requests at a time start together."""
    site = demo_site(hosts=1, rate=0, latency=0.2, fanout=10, fanout_total=31)
    items = crawl_fanout_cli(
        site, tmp_path, AUTOTHROTTLE_ENABLED=enabled, AUTOTHROTTLE_START_DELAY=0,
        AUTOTHROTTLE_TARGET_CONCURRENCY=1, CONCURRENT_REQUESTS_PER_DOMAIN=4, ROBOTSTXT_OBEY=False,
    )  # fmt: skip
    assert len(items) == 31
    starts = sorted(record.start for record in site.requests())
    last_gaps = [b - a for a, b in zip(starts[-11:-1], starts[-10:], strict=True)]
    if enabled:
        assert min(last_gaps) >= 0.15, last_gaps
    else:
        assert min(last_gaps) < 0.05, last_gaps


def test_negative_control_without_limits_the_checks_fail(tmp_path, demo_site):
    """The same checks against an impolite configuration must report violations."""
    site = demo_site(hosts=1, rate=0, latency=0.15, fanout=12, fanout_total=13)
    crawl_fanout_cli(site, tmp_path, CONCURRENT_REQUESTS_PER_DOMAIN=16, DOWNLOAD_DELAY=0)
    min_gap, max_active = politeness_report(site)
    assert min_gap < 0.1 and max_active > 2


def test_no_deadlock_with_wide_pages_and_tiny_queues(tmp_path, demo_site):
    """Every page yields 50 links (most of them already seen); queues hold one entry; every
    callback runs in a worker. The upward edge never blocks."""
    site = demo_site(hosts=1, rate=0, fanout=50, fanout_total=500)
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {
            "PARSE_WORKERS": 2,
            "RESPONSE_QUEUE_SIZE": 1,
            "RESPONSE_QUEUE_BYTES": 1,
            "ITEM_QUEUE_SIZE": 1,
            "CONCURRENT_REQUESTS": 8,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        },
        start_urls=fanout_starts(site),
        mesh="500",
        fanout="50",
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    assert len(items) == 500 and len({item["url"] for item in items}) == 500
    pids = {item["pid"] for item in items}
    assert len(pids) == 2 and os.getpid() not in pids
    assert result.stats.counters["parsed_inline"] == 0
    assert result.reason == "finished" and result.queued_left == 0
    assert result.response_queue.high_water_items == 1
    assert result.item_queue.high_water_items == 1
    assert result.stats.counters["pages"] == 500


SCRAPY_IMPORT = "from scrapy import Request, Spider"


@pytest.mark.longest
def test_scrapy_style_spider_runs_with_only_its_import_changed(tmp_path, demo_site):
    """The same spider file under ours and under Scrapy (import line changed back): the same
    items, each article of the site once; ours met no 429 (Scrapy's randomised delay may)."""
    site = demo_site(hosts=2, rate=10)
    ours = (TEST_SPIDERS / "scrapy_style.py").read_text()
    assert "from scraper import Request, Spider" in ours
    (tmp_path / "for_scrapy.py").write_text(
        ours.replace("from scraper import Request, Spider", SCRAPY_IMPORT)
    )
    sites = f"sites={','.join(site.base_urls)}"
    result = run_cli(
        str(TEST_SPIDERS / "scrapy_style.py"), "-O", str(tmp_path / "ours.jsonl"), "-a", sites,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not [r for r in site.requests() if r.status == 429]
    scrapy = subprocess.run(
        [sys.executable, "-m", "scrapy", "runspider", "for_scrapy.py", "-O", "scrapy.jsonl",
         "-a", sites, "-s", "LOG_LEVEL=WARNING", "-s", "ROBOTSTXT_OBEY=True"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert scrapy.returncode == 0, scrapy.stderr
    items = read_jsonl(tmp_path / "ours.jsonl")
    originals = {a.url: a for a in site.articles() if a.near_duplicate_of is None}
    assert sorted(item["url"] for item in items) == sorted(originals)
    for item in items:
        article = originals[item["url"]]
        assert (item["title"], item["authors"], item["section"]) == (
            article.title,
            list(article.authors),
            article.section,
        )
    by_url = {item["url"]: item for item in read_jsonl(tmp_path / "scrapy.jsonl")}
    assert by_url == {item["url"]: item for item in items}


def test_closespider_itemcount_stops_gracefully(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=200)
    result = run_in_process(
        "fanout",
        tmp_path / "out.jsonl",
        {"CLOSESPIDER_ITEMCOUNT": 20, "CONCURRENT_REQUESTS_PER_DOMAIN": 2},
        start_urls=fanout_starts(site),
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    assert result.reason == "closespider_itemcount"
    assert 20 <= len(items) < 200
    assert result.queued_left > 0


def test_depth_limit(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=40)  # depths 0,1,2,3 = 1,3,9,27
    run_in_process(
        "fanout", tmp_path / "out.jsonl", {"DEPTH_LIMIT": 2}, start_urls=fanout_starts(site)
    )
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 13


def test_pipelines_run_in_order_in_the_main_process(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)
    result = run_in_process(
        "with_pipeline",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 2},
        start_urls=fanout_starts(site),
    )
    items = read_jsonl(tmp_path / "out.jsonl")
    nodes = sorted(int(item["node"].split()[-1]) for item in items)
    assert nodes == [n for n in range(13) if n % 2 == 0]  # DropOddPipeline ran first
    assert sorted(item["order"] for item in items) == list(range(1, 8))  # only kept items tagged
    assert {item["pipeline_pid"] for item in items} == {os.getpid()}
    assert os.getpid() not in {item["pid"] for item in items}
    assert result.stats.counters["items_dropped"] == 6


def test_a_pipeline_error_loses_the_item_not_a_request(tmp_path, demo_site):
    """Counted apart: the summary's errors are exactly the failures file's lines."""
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)
    result = run_in_process(
        "with_pipeline",
        tmp_path / "out.jsonl",
        {"PARSE_WORKERS": 1},
        start_urls=fanout_starts(site),
        pipeline_fails_on="4",
    )
    nodes = sorted(int(item["node"].split()[-1]) for item in read_jsonl(tmp_path / "out.jsonl"))
    assert nodes == [0, 2, 6, 8, 10, 12]
    assert result.stats.counters["pipeline_errors"] == 1
    assert result.stats.errors == {} and read_jsonl(result.failures) == []
